#!/usr/bin/env bash
# Per-sample gradients of the zoo's alexnet-cifar (batch 128, 3×32×32,
# float32, 2.6 M parameters) on the CPU: gnaudit (pure-Go build and
# -tags openblas build) against PyTorch 1.13 in the same run, with the same
# number of threads.
#
#   gnaudit: BenchmarkPerSampleAlexNet128 in auditor/persample
#     lossgrad  the executor's batched forward + backward alone
#     full      every per-sample gradient materialised (128 × 2.6 M floats)
#     collect   |g_i|², Σ g_i and 1000 coordinates per parameter (what the
#               noise collector asks for)
#     batch1    the fallback: 128 batch-1 passes
#   PyTorch: scripts/bench/persample_torch.py
#     batched   (a) one batched forward + backward, no per-sample gradients
#     loop      (b) 128 batch-1 forward + backward passes
#     vmap      (c) functorch vmap(grad)
#
# Usage: scripts/bench_persample.sh        (THREADS=2 REPS=3 by default)
# The ratios at the end are gnaudit's time over PyTorch's.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-2}
REPS=${REPS:-3}
PY=/usr/bin/python3
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores), threads: $THREADS, reps: $REPS"
echo "Go: $(go version | cut -d' ' -f3)"

run_go() { # $1 = label, rest = extra go test flags
	local label=$1
	shift
	echo "== gnaudit ($label)"
	GOMAXPROCS=$THREADS OPENBLAS_NUM_THREADS=$THREADS go test "$@" -count=1 -run '^$' \
		-bench '^BenchmarkPerSampleAlexNet128$' -benchtime "${REPS}x" ./auditor/persample/ |
		tee /dev/stderr | awk -v l="$label" '/^BenchmarkPerSampleAlexNet128\// {
			split($1, a, "/"); sub(/-[0-9]+$/, "", a[2]); printf "go-%s %s %.6f\n", l, a[2], $3 / 1e9 }' >>"$out"
}

run_go gonum
if [ "${NO_OPENBLAS:-0}" != 1 ]; then
	run_go openblas -tags openblas
fi

echo "== PyTorch"
if [ -x "$PY" ] && "$PY" -c 'import torch, functorch' 2>/dev/null; then
	OMP_NUM_THREADS=$THREADS "$PY" scripts/bench/persample_torch.py --threads "$THREADS" --reps "$REPS" |
		tee /dev/stderr | awk '$1 == "torch" && NF == 3 { print "torch", $2, $3 }' >>"$out"
else
	echo "no $PY with torch and functorch: PyTorch side skipped"
fi

echo
echo "== seconds per batch of 128"
awk '{ printf "  %-14s %-9s %8.3f s\n", $1, $2, $3 }' "$out"
echo
echo "== ratios (gnaudit / PyTorch)"
awk '
	$1 == "torch" { t[$2] = $3; next }
	{ g[$1 " " $2] = $3; keys[$1] = 1 }
	END {
		if (!("batched" in t)) exit
		for (k in keys) {
			printf "  %s: lossgrad/(a) %.2f  full/(a) %.2f  collect/(a) %.2f  full/(b) %.3f  full/(c) %.2f  collect/(c) %.2f  batch1/(b) %.2f\n", k,
				g[k " lossgrad"] / t["batched"], g[k " full"] / t["batched"], g[k " collect"] / t["batched"],
				g[k " full"] / t["loop"], g[k " full"] / t["vmap"], g[k " collect"] / t["vmap"], g[k " batch1"] / t["loop"]
		}
	}' "$out"
