#!/usr/bin/env bash
# gnaudit demo: the default audit — the zoo's CIFAR AlexNet built for Debian's
# Fashion-MNIST (1×28×28 padded to 1×32×32), fine-tuned for 100 SGD-momentum
# steps, its gradient noise collected at steps 0 and 100 (pool 6400, batch
# sizes 16–128, 200 mini-batches each) and analysed; writes OUTDIR/report.md.
#
#   make demo                 # or: ./scripts/demo.sh [OUTDIR]   (default out/audit)
#
# On a fresh Debian 12 machine it installs what it needs with apt-get
# (dataset-fashion-mnist; libopenblas-dev and gcc for the faster OpenBLAS
# build), using sudo only when not root, and builds bin/gnaudit as `make
# build` does (scripts/build.sh). Go (≥ 1.26) must be installed.
# OUTDIR defaults to out/audit, where `bin/gnaudit audit` writes, so that the
# README's next commands find it; a previous demo there is replaced.
# Extra arguments after OUTDIR go to gnaudit audit (e.g. --png).
set -euo pipefail
cd "$(dirname "$0")/.."
GIVEN_OUT="${1:-}"
OUT="${1:-out/audit}"
shift || true
export PATH="$PATH:/usr/local/go/bin"

command -v go >/dev/null || { echo "demo: Go is not installed (https://go.dev/dl/, into /usr/local/go)" >&2; exit 1; }

# --- Debian packages -------------------------------------------------------
missing=""
for p in dataset-fashion-mnist libopenblas-dev gcc; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "== installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  if ! { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends $missing; }; then
    echo "demo: apt-get install failed" >&2
  fi
fi
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "demo: Fashion-MNIST is missing (apt-get install dataset-fashion-mnist)" >&2
  exit 1
fi

# --- build: OpenBLAS when the library and a C compiler are there ------------
BIN=bin/gnaudit
echo "== building $BIN"
./scripts/build.sh "$BIN"
if [ -z "$GIVEN_OUT" ] && [ -f "$OUT/audit.json" ]; then
  echo "== replacing the previous audit in $OUT"
  rm -rf "$OUT"
fi

# --- the default audit -----------------------------------------------------
echo "== $BIN audit --out $OUT $*"
start=$(date +%s)
status=0
"$BIN" audit --force --out "$OUT" "$@" || status=$?  # --force: make demo reruns replace the last demo
secs=$(( $(date +%s) - start ))
echo
if [ -f "$OUT/report.md" ]; then
  echo "Report: $OUT/report.md   (machine-readable: $OUT/report.json, plots in $OUT/plots/)"
  echo "Audit took $((secs / 60))m$((secs % 60))s. Re-render it from the saved noise sets: $BIN report $OUT"
fi
exit $status
