#!/usr/bin/env bash
# Per-sample gradients on the CPU at batch 128, float32, 3×32×32 inputs, for
# the zoo's alexnet-cifar (2.6 M parameters) and resnet20 (0.27 M, eval-mode
# BatchNorm): gnaudit (pure-Go build and -tags openblas build) against
# PyTorch 1.13 in the same run, with the same number of threads (GOMAXPROCS;
# the executor runs OpenBLAS single-threaded under its own goroutines,
# whatever OPENBLAS_NUM_THREADS says).
#
#   gnaudit: BenchmarkPerSampleAlexNet128 / BenchmarkPerSampleResNet20_128
#   in auditor/persample
#     lossgrad  the executor's batched forward + backward alone
#     full      every per-sample gradient materialised (128 × P floats)
#     collect   |g_i|², Σ g_i and 1000 coordinates per parameter (what the
#               noise collector asks for)
#     batch1    the fallback: 128 batch-1 passes
#   PyTorch: scripts/bench/persample_torch.py --model M
#     batched   (a) one batched forward + backward, no per-sample gradients
#     loop      (b) 128 batch-1 forward + backward passes
#     vmap      (c) functorch vmap(grad)
#
# OpenBLAS kernels: the core gnaudit's start-up detection picks on this CPU
# (auditor/blascore: `gnaudit doctor --json`, with any OPENBLAS_CORETYPE of
# the calling shell ignored), used by both sides (PyTorch's Linear layers run
# on the same OpenBLAS). CORETYPE=Name forces one for both.
#
# The contenders run in turn, ROUNDS times, and each time is the minimum
# over the rounds: on a shared machine the minimum is the figure least
# disturbed by other jobs, and interleaving exposes all contenders to the
# same conditions.
#
# Usage: scripts/bench_persample.sh   (THREADS=2 ROUNDS=3; MODELS="alexnet-cifar
# resnet20"; NO_OPENBLAS=1 skips the OpenBLAS build, NO_GONUM=1 the pure-Go
# one, NO_BATCH1=1 gnaudit's batch-1 fallback and PyTorch's batch-1 loop (b),
# the slow ones). The ratios at the end are gnaudit's time over PyTorch's.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/times

MODELS=${MODELS:-alexnet-cifar resnet20}
subs='.'
[ "${NO_BATCH1:-0}" = 1 ] && subs='^(lossgrad|full|collect)$'
declare -A BENCH=([alexnet-cifar]=BenchmarkPerSampleAlexNet128 [resnet20]=BenchmarkPerSampleResNet20_128)

builds=()
if [ "${NO_GONUM:-0}" != 1 ]; then
	go test -c -o "$tmp/gonum.test" ./auditor/persample/
	builds+=(gonum)
fi
core=""
if [ "${NO_OPENBLAS:-0}" != 1 ]; then
	go test -c -tags openblas -o "$tmp/openblas.test" ./auditor/persample/
	builds+=(openblas)
	if [ -n "${CORETYPE:-}" ]; then
		core=$CORETYPE how="CORETYPE=$CORETYPE"
	else
		go build -tags openblas -o "$tmp/gnaudit" ./cmd/gnaudit
		core=$(env -u OPENBLAS_CORETYPE "$tmp/gnaudit" doctor --json 2>/dev/null |
			sed -n '/"blas_core"/,/}/s/^ *"core": "\([^"]*\)".*/\1/p')
		how="gnaudit's detection"
		[ -n "${OPENBLAS_CORETYPE:-}" ] && how="$how; the shell's OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE ignored"
	fi
	[ -n "$core" ] || { echo "could not read the OpenBLAS core from gnaudit doctor" >&2; exit 1; }
	export OPENBLAS_CORETYPE=$core
fi
torch=0
if [ -x "$PY" ] && "$PY" -c 'import torch, functorch' 2>/dev/null; then
	torch=1
else
	echo "no $PY with torch and functorch: PyTorch side skipped"
fi

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p'); $(nproc) cores), threads: $THREADS, rounds: $ROUNDS"
echo "Go: $(go version | cut -d' ' -f3); OpenBLAS core: ${core:-none} (${how:-no OpenBLAS build})"

for round in $(seq "$ROUNDS"); do
	for model in $MODELS; do
		echo "== round $round, $model ($(uptime | sed 's/.*load/load/'))"
		for b in "${builds[@]}"; do
			(cd auditor/persample && GOMAXPROCS=$THREADS OPENBLAS_NUM_THREADS=$THREADS "$tmp/$b.test" \
				-test.run '^$' -test.bench "^${BENCH[$model]}\$/$subs" -test.benchtime 1x) |
				awk -v l="$b" -v m="$model" '/^Benchmark/ && /\// {
					split($1, a, "/"); sub(/-[0-9]+$/, "", a[2]); cpu = 0
					for (i = 4; i < NF; i++) if ($(i + 1) == "cpu-s/op") cpu = $i
					printf "%s go-%s %s %.6f %.6f\n", m, l, a[2], $3 / 1e9, cpu }' |
				tee -a "$out"
		done
		if [ "$torch" = 1 ]; then
			skip=""
			[ "${NO_BATCH1:-0}" = 1 ] && skip=loop
			OMP_NUM_THREADS=$THREADS "$PY" scripts/bench/persample_torch.py --model "$model" --threads "$THREADS" --reps 1 --skip "$skip" |
				awk -v m="$model" '$1 == "torch" && NF == 4 { print m, "torch", $2, $3, $4; next } { print > "/dev/stderr" }' | tee -a "$out"
		fi
	done
done

for col in 4 5; do
	what=wall
	[ "$col" = 5 ] && what="CPU (all threads)"
	echo
	echo "== $what seconds per batch of 128 (minimum over $ROUNDS rounds)"
	awk -v c="$col" '{ k = $1 " " $2 " " $3; if (!(k in m) || $c < m[k]) m[k] = $c } END { for (k in m) print k, m[k] }' "$out" | sort >"$tmp/min"
	awk '{ printf "  %-14s %-12s %-9s %8.3f s\n", $1, $2, $3, $4 }' "$tmp/min"
	echo "  ratios (gnaudit / PyTorch):"
	awk '
		function r(a, b) { return (a == "" || b == "" || b == 0) ? "  -" : sprintf("%.3g", a / b) }
		$2 == "torch" { t[$1 " " $3] = $4; next }
		{ g[$1 " " $2 " " $3] = $4; keys[$1 " " $2] = 1 }
		END {
			for (k in keys) {
				split(k, a, " "); m = a[1]
				if (!((m " batched") in t)) continue
				printf "  %-14s %-12s lossgrad/(a) %s  collect/(a) %s  full/(a) %s  full/(b) %s  full/(c) %s  collect/(c) %s  batch1/(b) %s\n", m, a[2],
					r(g[k " lossgrad"], t[m " batched"]), r(g[k " collect"], t[m " batched"]), r(g[k " full"], t[m " batched"]),
					r(g[k " full"], t[m " loop"]), r(g[k " full"], t[m " vmap"]), r(g[k " collect"], t[m " vmap"]), r(g[k " batch1"], t[m " loop"])
			}
		}' "$tmp/min" | sort
done
