#!/usr/bin/env bash
# Per-sample gradients of the transformer fixtures of testdata/modern (ViT
# with torchvision's nn.MultiheadAttention, and a text classifier with
# torch's nn.TransformerEncoderLayer; opset 17, batch 64, float32, CPU):
# gnaudit (BenchmarkPerSampleModern: "full" = every per-sample gradient by
# the per-layer expansion, "batch1" = 64 batch-1 passes) against PyTorch
# 1.13 in the same run with the same threads (scripts/bench/modern_torch.py:
# a batched forward + backward, and functorch vmap(grad)). Times are the
# minimum over ROUNDS interleaved rounds.
#
# Usage: scripts/bench_modern.sh   (THREADS=2 ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/times
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores), threads: $THREADS, rounds: $ROUNDS, BLAS: gonum (pure Go)"
go test -c -o "$tmp/p.test" ./auditor/persample/
for round in $(seq "$ROUNDS"); do
	(cd auditor/persample && GOMAXPROCS=$THREADS "$tmp/p.test" -test.run '^$' \
		-test.bench '^BenchmarkPerSampleModern$' -test.benchtime 3x) |
		awk '/^BenchmarkPerSampleModern\// { split($1, a, "/"); sub(/-[0-9]+$/, "", a[3]); printf "go %s %s %.6f\n", a[2], a[3], $3 / 1e9 }' | tee -a "$out"
	if "$PY" -c 'import torch, functorch' 2>/dev/null; then
		OMP_NUM_THREADS=$THREADS "$PY" scripts/bench/modern_torch.py --threads "$THREADS" --reps 3 2>/dev/null |
			awk '$1 == "torch" { print "torch", $2, $3, $4 }' | tee -a "$out"
	fi
done
echo
echo "== wall seconds per batch of 64 (minimum over $ROUNDS rounds)"
awk '{ k = $1 " " $2 " " $3; if (!(k in m) || $4 < m[k]) m[k] = $4 } END { for (k in m) print k, m[k] }' "$out" | sort | tee "$tmp/min" |
	awk '{ printf "  %-6s %-12s %-8s %8.4f s\n", $1, $2, $3, $4 }'
echo "  ratios:"
awk '{ t[$1 " " $2 " " $3] = $4; ms[$2] = 1 }
	END { for (m in ms) if (("torch " m " vmap") in t)
		printf "  %s: gnaudit full / vmap %.2f, gnaudit full / batched backward %.2f, batch-1 fallback / vmap %.2f\n", m,
			t["go " m " full"] / t["torch " m " vmap"], t["go " m " full"] / t["torch " m " batched"], t["go " m " batch1"] / t["torch " m " vmap"] }' "$tmp/min"
