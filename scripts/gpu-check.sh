#!/usr/bin/env bash
# The prepared GPU device check (the GPU-path issue). Two halves:
#
#   scripts/gpu-check.sh build   # here, on the CPU machine with nvidia-cuda-toolkit:
#                                # builds the cuda test binary and bin/gnaudit-cuda
#                                # (stripped, gzipped) into .devdata/, with the
#                                # Fashion-MNIST test images as the audit's data
#   scripts/gpu-check.sh run     # on the GPU machine, in one command: doctor, the
#                                # cuda tests (kernels, PyTorch fixtures, CPU == GPU
#                                # engine), the benchmarks, the PyTorch peer on the
#                                # same GPU, and a paper-scale audit; the log goes to
#                                # $OUT/gpu-check.log (or ${TMPDIR:-/tmp}/gpu-check.log,
#                                # never into the tree). Exit status 1 when any
#                                # section failed (each is named in the log's last lines).
#
# .devdata/ is git-ignored (.git/info/exclude) and carried to the GPU machine.
# Only the driver's libcuda.so.1 is needed there.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
dd=.devdata
case "$mode" in
build)
  make ptx
  mkdir -p bin "$dd/bin" "$dd/fashion"
  grep -qx '/.devdata/' .git/info/exclude 2>/dev/null || echo '/.devdata/' >> .git/info/exclude
  # stripped (-s -w) and gzipped: the binaries travel to the GPU machine (64 MiB in all)
  go test -tags gnaudit_cuda -ldflags='-s -w' -c -o bin/cuda.test ./cuda
  go build -tags gnaudit_cuda -ldflags='-s -w' -o bin/gnaudit-cuda ./cmd/gnaudit
  gzip -c bin/cuda.test > "$dd/bin/cuda.test.gz"
  gzip -c bin/gnaudit-cuda > "$dd/bin/gnaudit-cuda.gz"
  # The 10,000 test images stand in as the audit's data (the train file is too
  # large to carry); the audit reads the MNIST layout's train-* names.
  src=/usr/share/datasets/fashion-mnist
  cp "$src/t10k-images-idx3-ubyte.gz" "$dd/fashion/train-images-idx3-ubyte.gz"
  cp "$src/t10k-labels-idx1-ubyte.gz" "$dd/fashion/train-labels-idx1-ubyte.gz"
  du -sh "$dd"
  ;;
run)
  log=${OUT:-${TMPDIR:-/tmp}}/gpu-check.log
  failed=$(mktemp)
  trap 'rm -f "$failed"' EXIT
  export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib:${LD_LIBRARY_PATH:-}
  mkdir -p bin
  for f in cuda.test gnaudit-cuda; do gunzip -c "$dd/bin/$f.gz" > "bin/$f"; chmod +x "bin/$f"; done
  # fail NAME: record a failed section (the exit status of the script is 1).
  fail() { echo "SECTION FAILED: $1"; echo "$1" >> "$failed"; }
  {
    echo "== device"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || fail "nvidia-smi"
    echo "== gnaudit doctor"; bin/gnaudit-cuda doctor || fail "doctor"
    echo "== cuda tests"
    (cd cuda && ../bin/cuda.test -test.v -test.count=1 -test.run . ) 2>&1 || fail "cuda tests"
    echo "== cuda benchmarks"
    (cd cuda && ../bin/cuda.test -test.run '^$' -test.bench . -test.benchtime 5x) 2>&1 || fail "cuda benchmarks"
    echo "== PyTorch peer (same GPU)"
    python3 scripts/bench/persample_gpu_torch.py 2>&1 || fail "PyTorch peer"
    echo "== paper-scale audit (alexnet-cifar, B = 64…1024, n = 200, pool 10000, GPU engine)"
    SECONDS=0
    set +o pipefail
    bin/gnaudit-cuda audit --device cuda --model alexnet-cifar --data "$dd/fashion" \
      --batch-sizes 64,128,256,512,1024 --batches 200 --pool 10000 --finetune-steps 0 --audit-at 0 \
      --coords-per-layer 2000 --eval-samples 0 --out /tmp/gpu-audit 2>&1 | { grep -v 'ETA' || true; }
    [ "${PIPESTATUS[0]}" -eq 0 ] || fail "paper-scale audit"
    set -o pipefail
    echo "audit wall time: ${SECONDS} s"
    if [ -n "${OUT:-}" ] && [ -d /tmp/gpu-audit ]; then
      mkdir -p "$OUT/audit/plots"
      cp /tmp/gpu-audit/report.md /tmp/gpu-audit/report.json "$OUT/audit/" || true
      cp /tmp/gpu-audit/plots/*gaussianity* /tmp/gpu-audit/plots/*rho* "$OUT/audit/plots/" 2>/dev/null || true
    fi
    if [ -s "$failed" ]; then
      echo "== FAILED sections: $(paste -sd, "$failed")"
    else
      echo "== every section passed"
    fi
  } 2>&1 | tee "$log"
  echo "log: $log"
  [ ! -s "$failed" ] || exit 1
  ;;
*)
  echo "usage: $0 build|run" >&2; exit 2;;
esac
