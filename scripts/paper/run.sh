#!/usr/bin/env bash
# Runs the paper experiments of docs/paper.md (configs in experiments/paper/),
# then aggregates their report.json files into docs/paper/.
#
#   scripts/paper/run.sh                      # every experiment, every seed
#   scripts/paper/run.sh exp1-resnet20        # one experiment (its seeds)
#   scripts/paper/run.sh -s "1 2" exp1-alexnet-cifar
#
# Options:
#   -b BIN      gnaudit binary (default: bin/gnaudit-openblas if present, else bin/gnaudit;
#               built with make build-openblas / make build when missing)
#   -r DIR      results directory (default out/paper); one audit per DIR/NAME/seed-S
#   -s SEEDS    seeds, overriding each config's "# seeds:" line
#   -j JOBS     audits run at once (default 1); each gets OMP/OPENBLAS/GOMAXPROCS = -p
#   -p THREADS  threads per audit (default: all cores / JOBS, at least 1)
#   -t SECS     stop an audit after SECS (SIGINT: gnaudit keeps what it collected
#               and writes a partial report)
#   -d DIR      data directory passed as --data (default: the configs' data.dir,
#               i.e. Debian's Fashion-MNIST); a CIFAR-10 binary directory works too
#   -x ARGS     extra gnaudit audit flags for every run (e.g. "--data-format cifar10")
#   -P          prune each finished run: delete its noise arrays and checkpoint
#               models (report.json, analyses.json, audit.json and plots stay)
#   -A          do not aggregate at the end
#   -o DIR      aggregation output (default docs/paper)
# A run whose DIR/NAME/seed-S/audit.json says "complete" is skipped (resume).
# Exit status: 0 when every audit finished (or was stopped by -t) and the
# aggregation succeeded; 1 when an audit failed (nothing is aggregated then)
# or the aggregator refused (an experiment without results: it never
# rewrites docs/paper.md from missing data); 2 bad usage.
# The default set is every config whose "# seeds:" line does not say "not run".
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN="" RESULTS=out/paper SEEDS="" JOBS=1 THREADS="" TIMEOUT="" DATA="" EXTRA="" PRUNE=0 AGG=1 AGGOUT=docs/paper
while getopts "b:r:s:j:p:t:d:x:PAo:h" o; do
  case $o in
    b) BIN=$OPTARG ;; r) RESULTS=$OPTARG ;; s) SEEDS=$OPTARG ;; j) JOBS=$OPTARG ;;
    p) THREADS=$OPTARG ;; t) TIMEOUT=$OPTARG ;; d) DATA=$OPTARG ;; x) EXTRA=$OPTARG ;;
    P) PRUNE=1 ;; A) AGG=0 ;; o) AGGOUT=$OPTARG ;;
    *) sed -n '2,30p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

if [ -z "$BIN" ]; then
  if [ -x bin/gnaudit-openblas ] || make -s build-openblas >/dev/null 2>&1; then BIN=bin/gnaudit-openblas
  else make -s build; BIN=bin/gnaudit; fi
fi
[ -x "$BIN" ] || { echo "run.sh: $BIN is not an executable" >&2; exit 2; }
if [ -z "$THREADS" ]; then
  THREADS=$(( $(nproc) / JOBS )); [ "$THREADS" -ge 1 ] || THREADS=1
fi

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in experiments/paper/*.yaml; do
    grep -q '^# seeds:.*not run' "$f" || names+=("$(basename "$f" .yaml)")
  done
fi

jobs=()
for n in "${names[@]}"; do
  cfg=experiments/paper/$n.yaml
  [ -f "$cfg" ] || { echo "run.sh: no config $cfg" >&2; exit 2; }
  s=$SEEDS
  [ -n "$s" ] || s=$(sed -n 's/^# seeds: *\([0-9 ]*\).*/\1/p' "$cfg")
  [ -n "$s" ] || s=1
  for seed in $s; do jobs+=("$n $seed"); done
done

export BIN RESULTS THREADS TIMEOUT DATA EXTRA PRUNE
one() {
  local n=$1 seed=$2 out=$RESULTS/$1/seed-$2 rc=0
  if [ -f "$out/audit.json" ] && grep -q '"status": *"complete"' "$out/audit.json"; then
    echo "skip $n seed $seed (complete)"; return 0
  fi
  mkdir -p "$RESULTS/$n"
  local cmd=("$BIN" audit --config "experiments/paper/$n.yaml" --seed "$seed" --out "$out")
  [ -z "$DATA" ] || cmd+=(--data "$DATA")
  # shellcheck disable=SC2206
  [ -z "$EXTRA" ] || cmd+=($EXTRA)
  [ -z "$TIMEOUT" ] || cmd=(timeout -s INT -k 60 "$TIMEOUT" "${cmd[@]}")
  local t0=$SECONDS
  echo "start $n seed $seed: ${cmd[*]}"
  GOMAXPROCS=$THREADS OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS \
    nice "${cmd[@]}" >"$out.log" 2>&1 || rc=$?
  echo "end   $n seed $seed: exit $rc after $((SECONDS - t0))s (log $out.log)"
  if [ "$PRUNE" = 1 ] && [ -d "$out" ]; then
    find "$out" \( -name arrays.bin -o -path '*/checkpoints/*/model.onnx' \) -delete
  fi
  # Stopped by -t (SIGINT, exit 130): a partial report, as asked. Else a
  # failed audit fails the script (xargs then exits 123).
  if [ "$rc" -ne 0 ] && ! { [ -n "$TIMEOUT" ] && [ "$rc" -eq 130 ]; }; then
    echo "FAILED $n seed $seed: exit $rc; the end of $out.log:" >&2
    tail -n 5 "$out.log" >&2 || true
    return 1
  fi
}
export -f one
status=0
printf '%s\n' "${jobs[@]}" | xargs -P "$JOBS" -L 1 bash -c 'one $0 $1' || status=$?
if [ "$status" -ne 0 ]; then
  echo "run.sh: some audits failed (exit $status; see FAILED above); not aggregating" >&2
  exit 1
fi

if [ "$AGG" = 1 ]; then
  doc=(); [ "$AGGOUT" != docs/paper ] || doc=(-doc docs/paper.md)
  go run ./scripts/paper/aggregate -results "$RESULTS" -out "$AGGOUT" "${doc[@]}"
fi
