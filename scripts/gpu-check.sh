#!/usr/bin/env bash
# The prepared GPU device check (issue: GPU path). Two halves:
#
#   scripts/gpu-check.sh build   # here, on the CPU machine with nvidia-cuda-toolkit:
#                                # builds bin/cuda.test and bin/gnaudit-cuda (linked
#                                # against the toolkit's libcuda stub)
#   scripts/gpu-check.sh run     # on the GPU machine, in one command: the cuda tests,
#                                # the benchmarks, and the PyTorch peer on the same GPU;
#                                # writes $OUT/gpu-check.log (or ./gpu-check.log)
#
# Only the driver's libcuda.so.1 is needed on the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in
build)
  make ptx
  go test -tags gnaudit_cuda -c -o bin/cuda.test ./cuda
  go build -tags gnaudit_cuda -o bin/gnaudit-cuda ./cmd/gnaudit
  ls -la bin/cuda.test bin/gnaudit-cuda
  ;;
run)
  log=${OUT:-.}/gpu-check.log
  export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib:${LD_LIBRARY_PATH:-}
  {
    echo "== device"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
    echo "== gnaudit doctor"; bin/gnaudit-cuda doctor || true
    echo "== cuda tests"
    (cd cuda && ../bin/cuda.test -test.v -test.count=1 -test.run . ) 2>&1
    echo "== cuda benchmarks"
    (cd cuda && ../bin/cuda.test -test.run '^$' -test.bench . -test.benchtime 5x) 2>&1
    echo "== PyTorch peer (same GPU)"
    python3 scripts/bench/persample_gpu_torch.py 2>&1 || echo "torch peer failed"
  } | tee "$log"
  ;;
*)
  echo "usage: $0 build|run" >&2; exit 2;;
esac
