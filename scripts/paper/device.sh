#!/usr/bin/env bash
# Runs the paper experiments on a many-core machine without Go or the data
# installed: the bundle made by `scripts/paper/device.sh bundle` (an OpenBLAS
# gnaudit with its shared libraries, and a copy of Fashion-MNIST) travels with
# the checkout under out/paper-dev/. Small results (report.json, audit.json,
# analyses.json, plots, logs) are copied to $OUT (default out/paper-device) every
# 15 s, so that a run stopped by a time limit still leaves what finished.
#   scripts/paper/device.sh bundle                       # here
#   OUT=/some/dir scripts/paper/device.sh run [-t SECS] [NAME...]   # there
set -euo pipefail
cd "$(dirname "$0")/../.."
D=out/paper-dev
case "${1:-}" in
bundle)
  mkdir -p "$D/lib" "$D/fashion-mnist"
  go build -tags openblas -ldflags="-s -w" -o "$D/gnaudit-openblas" ./cmd/gnaudit
  cp -L /lib/x86_64-linux-gnu/libopenblas.so.0 /lib/x86_64-linux-gnu/libgfortran.so.5 \
    /lib/x86_64-linux-gnu/libquadmath.so.0 "$D/lib/"
  (cd "$D" && tar cJf bundle.tar.xz gnaudit-openblas lib && rm -rf gnaudit-openblas lib)
  cp /usr/share/datasets/fashion-mnist/*.gz "$D/fashion-mnist/"
  du -sh "$D" ;;
run)
  shift
  T=420
  if [ "${1:-}" = -t ]; then T=$2; shift 2; fi
  OUT=${OUT:-out/paper-device}
  W=/tmp/paper-dev; mkdir -p "$W" "$OUT"
  tar xJf "$D/bundle.tar.xz" -C "$W"
  export LD_LIBRARY_PATH=$W/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  "$W/gnaudit-openblas" version || true
  R=/tmp/paper-results
  sync_out() {
    (cd "$R" && find . \( -name report.json -o -name audit.json -o -name analyses.json \
      -o -name '*.log' -o -name '*.svg' -o -name report.md \) -print0 |
      tar cf - --null -T - 2>/dev/null) | tar xf - -C "$OUT" 2>/dev/null || true
  }
  mkdir -p "$R"
  ( while sleep 15; do sync_out; done ) & syncer=$!
  N=$(nproc)
  [ $# -gt 0 ] || set -- exp1-resnet20 exp2-training-alexnet-cifar exp2-training-alexnet-cifar-bn \
    exp1-alexnet-cifar exp1-alexnet-cifar-bn
  scripts/paper/run.sh -b "$W/gnaudit-openblas" -r "$R" -j "$((N + 4))" -p 1 -t "$T" \
    -d "$D/fashion-mnist" ${EXTRA:+-x "$EXTRA"} -P -A "$@" 2>&1 | tee "$OUT/run.log" || true
  kill "$syncer" 2>/dev/null || true
  sync_out
  nproc > "$OUT/nproc"; uptime >> "$OUT/nproc" ;;
*) sed -n '2,11p' "$0"; exit 2 ;;
esac
