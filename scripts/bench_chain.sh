#!/usr/bin/env bash
# Model loading time against graph length: graph.Build (forward, loss,
# backward, both tape machines) of a Gemm followed by N Relu nodes
# (BenchmarkBuildChain in auditor/graph), with the patched gorgonia of
# third_party/gorgonia (go.mod's replace) and with upstream gorgonia v0.9.18
# (the same go.mod without the replace, through -modfile), in turn in one
# run. cpu-ns/node is the process's CPU time per ONNX node (steadier than
# wall time on a shared machine): flat when loading is linear.
#
# Usage: scripts/bench_chain.sh   (SIZES="2000 5000 10000"; UPSTREAM=0 skips
# upstream gorgonia, which needs the module proxy or cache; 20000 is a size
# of the benchmark too, about 2 minutes with upstream gorgonia)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-2000 5000 10000}
UPSTREAM=${UPSTREAM:-1}
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "BLAS: none involved (pure-Go build; loading does no arithmetic)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go mod edit -dropreplace=gorgonia.org/gorgonia -print > "$tmp/go.mod"
cp go.sum "$tmp/go.sum"
go test -c -o "$tmp/patched.test" ./auditor/graph
if [ "$UPSTREAM" = 1 ]; then
  GOFLAGS=-mod=mod go test -modfile="$tmp/go.mod" -c -o "$tmp/upstream.test" ./auditor/graph
fi
for n in $SIZES; do
  for side in patched upstream; do
    [ -x "$tmp/$side.test" ] || continue
    printf '%-8s ' "$side"
    (cd auditor/graph && "$tmp/$side.test" -test.run XXX -test.bench "BuildChain/nodes=$n\$" -test.benchtime 1x) | grep '^Benchmark'
  done
done
