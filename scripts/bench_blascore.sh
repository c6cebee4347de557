#!/usr/bin/env bash
# BenchmarkAlexNetStep (auditor/graph, OpenBLAS build: one forward + backward
# of the CIFAR AlexNet at batch 128) under each OpenBLAS core, interleaved,
# ROUNDS times; prints the minimum per core. "detected" is OpenBLAS's own
# choice (OPENBLAS_CORETYPE unset), which gnaudit's start-up detection
# (auditor/blascore) replaces when it is older than the CPU supports.
#
# Then BenchmarkGemmShapes: one single-threaded OpenBLAS product per shape
# the executor runs most (resnet20's few-row convolution products,
# alexnet-cifar's conv3, a square one), in GFLOP/s of the thread's CPU
# time (robust to other jobs on a shared machine), best of ROUNDS per core.
#
#   scripts/bench_blascore.sh        (ROUNDS=3 CORES="detected SkylakeX Cooperlake Zen Haswell" BENCHTIME=10x;
#                                     STEP=0 skips the AlexNet step, GEMM=0 the products)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
CORES=${CORES:-detected SkylakeX Cooperlake Zen Haswell}
BENCHTIME=${BENCHTIME:-10x}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -tags openblas -o "$tmp/graph.test" ./auditor/graph/
go build -tags openblas -o "$tmp/gnaudit" ./cmd/gnaudit
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p'); $(nproc) cores)"
echo "gnaudit would run: $(env -u OPENBLAS_CORETYPE "$tmp/gnaudit" doctor 2>/dev/null | sed -n 's/^CPU BLAS: *//p')"
for r in $(seq "$ROUNDS"); do
	[ "${STEP:-1}" = 0 ] && break
	for c in $CORES; do
		if [ "$c" = detected ]; then unset OPENBLAS_CORETYPE; else export OPENBLAS_CORETYPE=$c; fi
		ms=$(cd auditor/graph && GOMAXPROCS=2 GNAUDIT_BLAS_DETECT=0 "$tmp/graph.test" -test.run '^$' \
			-test.bench '^BenchmarkAlexNetStep$' -test.benchtime "$BENCHTIME" | awk '/^BenchmarkAlexNetStep/ { print $3 / 1e6 }')
		echo "round $r $c $ms ms/step (load $(cut -d' ' -f1 /proc/loadavg))"
		echo "$c $ms" >>"$tmp/all"
	done
done
if [ "${STEP:-1}" != 0 ]; then
	echo "== minimum ms/step over $ROUNDS rounds"
	awk '{ if (!($1 in m) || $2 < m[$1]) m[$1] = $2 } END { for (c in m) printf "  %-12s %7.1f\n", c, m[c] }' "$tmp/all" | sort -k2 -n
fi
[ "${GEMM:-1}" = 0 ] && exit 0
for r in $(seq "$ROUNDS"); do
	for c in $CORES; do
		if [ "$c" = detected ]; then unset OPENBLAS_CORETYPE; else export OPENBLAS_CORETYPE=$c; fi
		(cd auditor/graph && GOMAXPROCS=2 GNAUDIT_BLAS_DETECT=0 "$tmp/graph.test" -test.run '^$' \
			-test.bench '^BenchmarkGemmShapes$' -test.benchtime 0.2s) |
			awk -v c="$c" '/^BenchmarkGemmShapes\// { split($1, a, "/"); sub(/-[0-9]+$/, "", a[2])
				for (i = 4; i < NF; i++) if ($(i + 1) == "cpu-GFLOP/s") print c, a[2], $i }' >>"$tmp/gemm"
	done
	echo "round $r of the products done (load $(cut -d' ' -f1 /proc/loadavg))"
done
echo "== single-threaded OpenBLAS products, best cpu-GFLOP/s over $ROUNDS rounds (shape: M×N×K)"
awk '{ k = $1 SUBSEP $2; if (!(k in m) || $3 > m[k]) m[k] = $3; cs[$1] = 1; if (!($2 in seen)) { seen[$2] = 1; sh[++n] = $2 } }
	END { printf "  %-18s", "shape"; for (c in cs) printf " %11s", c; print ""
		for (i = 1; i <= n; i++) { printf "  %-18s", sh[i]; for (c in cs) printf " %11.0f", m[c SUBSEP sh[i]]; print "" } }' "$tmp/gemm"
