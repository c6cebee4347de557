#!/usr/bin/env bash
# gnaudit demo. For now (until the full audit exists) it shows "gnaudit stats"
# on a generated example matrix: 600 rows × 8 columns of known distributions
# (normal, Student t3, uniform, Laplace, exponential, α-stable 1.5, Cauchy,
# constant). Needs only Go; no Python.
#
#   make demo            # or: ./scripts/demo.sh [OUTDIR]   (default out/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-out/demo}"
BIN="${BIN:-bin/gnaudit}"
export PATH="$PATH:/usr/local/go/bin"

mkdir -p "$OUT" "$(dirname "$BIN")"
echo "== building $BIN"
go build -o "$BIN" ./cmd/gnaudit

echo "== generating the example matrix"
"$BIN" stats -example "$OUT/example.npy" -example-rows 600 -seed 1
"$BIN" stats -example "$OUT/example.csv" -example-rows 600 -seed 1

echo "== gnaudit stats (Markdown; the CSV header gives the column names)"
"$BIN" stats -format md -out "$OUT/stats.md" "$OUT/example.csv"
echo "== gnaudit stats (JSON, schema gnaudit.stats/v1)"
"$BIN" stats -out "$OUT/stats.json" "$OUT/example.npy"

echo
sed -n '1,5p' "$OUT/stats.md"
echo
echo "Outputs:"
echo "  $OUT/example.npy  $OUT/example.csv   input matrix (rows = observations)"
echo "  $OUT/stats.md                       readable table (open it in a Markdown viewer)"
echo "  $OUT/stats.json                     machine-readable results (schema gnaudit.stats/v1)"
