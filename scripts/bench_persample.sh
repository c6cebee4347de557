#!/usr/bin/env bash
# Per-sample gradients of the zoo's alexnet-cifar (batch 128, 3×32×32,
# float32, 2.6 M parameters) on the CPU: gnaudit (pure-Go build and
# -tags openblas build) against PyTorch 1.13 in the same run, with the same
# number of threads (GOMAXPROCS; the executor runs OpenBLAS single-threaded
# under its own goroutines, whatever OPENBLAS_NUM_THREADS says).
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
# The three contenders run in turn, ROUNDS times, and each time is the
# minimum over the rounds: on a shared machine the minimum is the figure
# least disturbed by other jobs, and interleaving exposes all contenders to
# the same conditions.
#
# Usage: scripts/bench_persample.sh   (THREADS=2 ROUNDS=3; NO_OPENBLAS=1 skips
# the OpenBLAS build). The ratios at the end are gnaudit's time over PyTorch's.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/times

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores), threads: $THREADS, rounds: $ROUNDS"
echo "Go: $(go version | cut -d' ' -f3)"

builds=(gonum)
go test -c -o "$tmp/gonum.test" ./auditor/persample/
if [ "${NO_OPENBLAS:-0}" != 1 ]; then
	go test -c -tags openblas -o "$tmp/openblas.test" ./auditor/persample/
	builds+=(openblas)
fi
torch=0
if [ -x "$PY" ] && "$PY" -c 'import torch, functorch' 2>/dev/null; then
	torch=1
else
	echo "no $PY with torch and functorch: PyTorch side skipped"
fi

for round in $(seq "$ROUNDS"); do
	echo "== round $round ($(uptime | sed 's/.*load/load/'))"
	for b in "${builds[@]}"; do
		(cd auditor/persample && GOMAXPROCS=$THREADS OPENBLAS_NUM_THREADS=$THREADS "$tmp/$b.test" \
			-test.run '^$' -test.bench '^BenchmarkPerSampleAlexNet128$' -test.benchtime 1x) |
			awk -v l="$b" '/^BenchmarkPerSampleAlexNet128\// {
				split($1, a, "/"); sub(/-[0-9]+$/, "", a[2]); cpu = 0
				for (i = 4; i < NF; i++) if ($(i + 1) == "cpu-s/op") cpu = $i
				printf "go-%s %s %.6f %.6f\n", l, a[2], $3 / 1e9, cpu }' |
			tee -a "$out"
	done
	if [ "$torch" = 1 ]; then
		OMP_NUM_THREADS=$THREADS "$PY" scripts/bench/persample_torch.py --threads "$THREADS" --reps 1 |
			awk '$1 == "torch" && NF == 4 { print "torch", $2, $3, $4; next } { print > "/dev/stderr" }' | tee -a "$out"
	fi
done

for col in 3 4; do
	what=wall
	[ "$col" = 4 ] && what="CPU (all threads)"
	echo
	echo "== $what seconds per batch of 128 (minimum over $ROUNDS rounds)"
	awk -v c="$col" '{ k = $1 " " $2; if (!(k in m) || $c < m[k]) m[k] = $c } END { for (k in m) print k, m[k] }' "$out" | sort >"$tmp/min"
	awk '{ printf "  %-14s %-9s %8.3f s\n", $1, $2, $3 }' "$tmp/min"
	echo "  ratios (gnaudit / PyTorch):"
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
		}' "$tmp/min"
done
