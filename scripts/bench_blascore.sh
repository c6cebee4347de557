#!/usr/bin/env bash
# BenchmarkAlexNetStep (auditor/graph, OpenBLAS build: one forward + backward
# of the CIFAR AlexNet at batch 128) under each OpenBLAS core, interleaved,
# ROUNDS times; prints the minimum per core. "detected" is OpenBLAS's own
# choice (OPENBLAS_CORETYPE unset), which gnaudit's start-up detection
# (auditor/blascore) replaces when it is older than the CPU supports.
#
#   scripts/bench_blascore.sh        (ROUNDS=3 CORES="detected SkylakeX Cooperlake Zen Haswell" BENCHTIME=10x)
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
	for c in $CORES; do
		if [ "$c" = detected ]; then unset OPENBLAS_CORETYPE; else export OPENBLAS_CORETYPE=$c; fi
		ms=$(cd auditor/graph && GOMAXPROCS=2 GNAUDIT_BLAS_DETECT=0 "$tmp/graph.test" -test.run '^$' \
			-test.bench '^BenchmarkAlexNetStep$' -test.benchtime "$BENCHTIME" | awk '/^BenchmarkAlexNetStep/ { print $3 / 1e6 }')
		echo "round $r $c $ms ms/step (load $(cut -d' ' -f1 /proc/loadavg))"
		echo "$c $ms" >>"$tmp/all"
	done
done
echo "== minimum ms/step over $ROUNDS rounds"
awk '{ if (!($1 in m) || $2 < m[$1]) m[$1] = $2 } END { for (c in m) printf "  %-12s %7.1f\n", c, m[c] }' "$tmp/all" | sort -k2 -n
