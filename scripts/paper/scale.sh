#!/usr/bin/env bash
# The paper at its own scale (docs/paper.md, "At the paper's scale"): stages
# that train the models until their held-out accuracy plateaus, audit them
# with the whole training set as pool, keep the small results and aggregate
# them. Configs: experiments/paper/scale/*.yaml (their "# ..." header lines
# give the seeds, n values and plateau rule this script reads).
#
#   scripts/paper/scale.sh plan                         # cost of every stage on this machine
#   scripts/paper/scale.sh train train-alexnet-cifar    # stage 1: epochs until the plateau
#   scripts/paper/scale.sh full full-alexnet-cifar      # stage 2: full-pool audits
#   scripts/paper/scale.sh dynamics dynamics-alexnet-cifar  # stage 2b: SGD dynamics at the trained model
#   scripts/paper/scale.sh keep                         # stage 3: small results -> experiments/paper/scale/results
#   scripts/paper/scale.sh aggregate                    # stage 4: docs/paper.md blocks + docs/paper/scale/
#
# Options (before the stage):
#   -b BIN    gnaudit binary (default bin/gnaudit, built by make build when missing)
#   -r DIR    work directory (default out/paper-scale): checkpoints, noise sets, logs
#   -s SEEDS  seeds, overriding the configs' "# seeds:" lines
#   -n LIST   n values for full, overriding "# batches:" (e.g. "200")
#   -B LIST   batch sizes for full, comma-separated, overriding the config (a subset run;
#             written to DIR/full-.../n-N-B-LIST so it is never mistaken for the whole)
#   -C N      full: tested coordinates per parameter, overriding the config (a reduced run,
#             in DIR/full-.../n-N-C-N: e.g. to fit the per-sample values in memory)
#   -M SIZE   full: --max-memory, overriding the config (e.g. 7GiB: one pass, in memory)
#   -E ENGINE full: noise engine, overriding the config (per-sample, mini-batch, both; a
#             reduced run, in DIR/full-.../n-N-E-ENGINE)
#   -u        full: audit the last epoch of a training run that has not plateaued
#             (recorded as such in source.json and in the scale table)
#   -p N      threads per run: GOMAXPROCS = OPENBLAS_NUM_THREADS = N (default 1)
#   -D TIME   train: start no epoch that would end after TIME (a date(1) string, e.g. 17:50),
#             judged by the last epoch's duration; the run resumes later from where it stopped
#   -k DIR    keep/aggregate: committed results directory (default experiments/paper/scale/results)
# Every stage skips what is done (an epoch or audit whose audit.json says
# "complete", in the work directory or in the committed results) and
# refuses, before writing anything, to run on missing inputs: full without
# a trained model, aggregate without results (see scalectl). On a fresh
# machine, train, full and dynamics restore a training run from the results
# (its epochs and its last model, which keep commits when it has at most
# 5 MB: ResNet-20 and ResNet-56, not AlexNet's 10 MB).
set -euo pipefail
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
cd "$(dirname "$0")/../.."

BIN="" WORK=out/paper-scale SEEDS="" NS="" BS="" COORDS="" MAXMEM="" ENGINE="" UNFINISHED=0 THREADS=1 KEEP=experiments/paper/scale/results DEADLINE=""
while getopts "b:r:s:n:B:C:M:E:up:k:D:h" o; do
  case $o in
    b) BIN=$OPTARG ;; r) WORK=$OPTARG ;; s) SEEDS=$OPTARG ;; n) NS=$OPTARG ;; B) BS=$OPTARG ;; C) COORDS=$OPTARG ;; M) MAXMEM=$OPTARG ;; E) ENGINE=$OPTARG ;;
    u) UNFINISHED=1 ;; p) THREADS=$OPTARG ;; k) KEEP=$OPTARG ;; D) DEADLINE=$(date -d "$OPTARG" +%s) ;;
    *) usage; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
stage=${1:-}; [ -n "$stage" ] || { usage; exit 2; }
shift
CFGDIR=experiments/paper/scale

if [ -z "$BIN" ]; then
  [ -x bin/gnaudit ] || make -s build
  BIN=bin/gnaudit
fi
# scalectl (the bookkeeping): rebuilt from this checkout at every call (a
# cached build takes a second), so that a stale binary never renders the docs;
# CTL=path uses that one instead.
if [ -z "${CTL:-}" ]; then
	CTL=bin/paper-scalectl
	go build -o "$CTL" ./scripts/paper/scalectl
fi
export GOMAXPROCS=$THREADS OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS

header() { sed -n "s/^# $2: *\([^ ]\([^ ]\| [^ ]\)*\).*/\1/p" "$1" | head -1; }
complete() { [ -f "$1/audit.json" ] && grep -q '"status": *"complete"' "$1/audit.json"; }
prune() { find "$1" \( -name arrays.bin -o -name segments.bin -o -path '*/checkpoints/*/model.onnx' \) -delete 2>/dev/null || true; }
names_or_all() { # NAME... or every config of the prefix
  if [ $# -gt 1 ]; then shift; printf '%s\n' "$@"; return; fi
  for f in "$CFGDIR/$1"-*.yaml; do basename "$f" .yaml; done
}

# restore_run NAME SEED: a work directory without the training run takes
# the run's committed epochs and last model from the results (keep commits
# the last model of a run when it has at most 5 MB), so that training
# resumes and the audits find their model on a fresh machine. Fails for a
# committed run whose model was not committed: retraining would mix two
# runs in the results.
restore_run() {
  local src=$KEEP/$1/seed-$2 dst=$WORK/$1/seed-$2
  complete "$src/epoch-001" || return 0
  complete "$dst/epoch-001" && return 0
  local m; m=$(find "$src" -maxdepth 1 -name 'epoch-*.onnx' | sort | tail -n 1)
  if [ -z "$m" ]; then
    echo "scale.sh: $1 seed $2 is committed in $src without its model (keep commits models of at most 5 MB), and $dst does not hold it: delete $src to train it anew here" >&2
    return 1
  fi
  mkdir -p "$dst"
  cp -R "$src/." "$dst/"
  echo "restored $1 seed $2 from $src (model $(basename "$m"))"
}

train_one() { # NAME SEED
  local name=$1 seed=$2 cfg=$CFGDIR/$1.yaml run=$WORK/$1/seed-$2
  restore_run "$name" "$seed" || return 1
  mkdir -p "$run"
  while :; do
    local next; next=$("$CTL" next -config "$cfg" -run "$run" -seed "$seed")
    local EPOCH="" LR="" MODEL="" RUNSEED="" DONE=""
    eval "$next"
    if [ -n "$DONE" ]; then echo "train $name seed $seed: done ($DONE)"; return 0; fi
    local e; e=$(printf '%03d' "$EPOCH")
    local out=$run/epoch-$e
    if [ -n "$DEADLINE" ]; then
      local last=0 p; p=$(printf '%s/epoch-%03d.seconds' "$run" $((EPOCH - 1)))
      [ ! -f "$p" ] || last=$(cat "$p")
      if [ $(( $(date +%s) + last )) -gt "$DEADLINE" ]; then
        echo "train $name seed $seed: stopping before epoch $EPOCH (the last took ${last}s; deadline $(date -d "@$DEADLINE" +%H:%M))"; return 0
      fi
    fi
    local cmd=("$BIN" audit --config "$cfg" --seed "$RUNSEED" --lr "$LR" --out "$out" --save "$run/epoch-$e.onnx")
    [ "$EPOCH" != 1 ] || cmd+=(--audit-at "0,last") # epoch 1 also audits the untrained model
    [ -z "$MODEL" ] || cmd+=(--model "$MODEL")
    echo "train $name seed $seed epoch $EPOCH lr $LR: ${cmd[*]}"
    local t0=$SECONDS
    if ! nice -n 19 "${cmd[@]}" >"$out.log" 2>&1; then
      echo "FAILED train $name seed $seed epoch $EPOCH; the end of $out.log:" >&2; tail -n 5 "$out.log" >&2; return 1
    fi
    echo "$((SECONDS - t0))" >"$out.seconds"
    prune "$out"
  done
}

full_one() { # NAME SEED N
  local name=$1 seed=$2 n=$3 cfg=$CFGDIR/$1.yaml
  local train; train=$(header "$cfg" train)
  [ -n "$train" ] || { echo "scale.sh: $cfg has no '# train:' line" >&2; return 2; }
  local sub=n-$n
  [ -z "$BS" ] || sub=$sub-B-${BS//,/-}
  [ -z "$COORDS" ] || sub=$sub-C-$COORDS
  [ -z "$ENGINE" ] || sub=$sub-E-$ENGINE
  local out=$WORK/$name/$sub/seed-$seed
  if complete "$out"; then echo "skip $name n $n seed $seed (complete)"; return 0; fi
  if complete "$KEEP/$name/$sub/seed-$seed"; then echo "skip $name n $n seed $seed (complete in $KEEP)"; return 0; fi
  restore_run "$train" "$seed" || return 1
  local fin=(final -config "$CFGDIR/$train.yaml" -run "$WORK/$train/seed-$seed" -seed "$seed")
  [ "$UNFINISHED" = 0 ] || fin+=(-unfinished)
  local src; src=$("$CTL" "${fin[@]}")
  local MODEL="" EPOCH="" PLATEAU=""; eval "$src"
  mkdir -p "$(dirname "$out")"
  local cmd=("$BIN" audit --config "$cfg" --seed "$seed" --batches "$n" --model "$MODEL" --out "$out")
  [ -z "$BS" ] || cmd+=(--batch-sizes "$BS")
  [ -z "$COORDS" ] || cmd+=(--coords-per-layer "$COORDS")
  [ -z "$MAXMEM" ] || cmd+=(--max-memory "$MAXMEM")
  [ -z "$ENGINE" ] || cmd+=(--engine "$ENGINE")
  echo "full $name n $n seed $seed (model of $train epoch $EPOCH, plateau $PLATEAU): ${cmd[*]}"
  local t0=$SECONDS
  if ! nice -n 19 "${cmd[@]}" >"$out.log" 2>&1; then
    echo "FAILED full $name n $n seed $seed; the end of $out.log:" >&2; tail -n 5 "$out.log" >&2; return 1
  fi
  mkdir -p "$out"
  printf '{"train": "%s", "seed": %d, "epoch": %d, "plateau": %s, "seconds": %d}\n' \
    "$train" "$seed" "$EPOCH" "$PLATEAU" "$((SECONDS - t0))" >"$out/source.json"
  prune "$out"
}

dyn_one() { # NAME SEED: the dynamics stage at the trained model of SEED
  local name=$1 seed=$2 cfg=$CFGDIR/$1.yaml
  local train; train=$(header "$cfg" train)
  [ -n "$train" ] || { echo "scale.sh: $cfg has no '# train:' line" >&2; return 2; }
  local out=$WORK/$name/seed-$seed
  if complete "$out"; then echo "skip $name seed $seed (complete)"; return 0; fi
  if complete "$KEEP/$name/seed-$seed"; then echo "skip $name seed $seed (complete in $KEEP)"; return 0; fi
  restore_run "$train" "$seed" || return 1
  local fin=(final -config "$CFGDIR/$train.yaml" -run "$WORK/$train/seed-$seed" -seed "$seed")
  [ "$UNFINISHED" = 0 ] || fin+=(-unfinished)
  local src; src=$("$CTL" "${fin[@]}")
  local MODEL="" EPOCH="" PLATEAU=""; eval "$src"
  mkdir -p "$(dirname "$out")"
  local cmd=("$BIN" audit --config "$cfg" --dynamics --seed "$seed" --model "$MODEL" --out "$out")
  echo "dynamics $name seed $seed (model of $train epoch $EPOCH, plateau $PLATEAU): ${cmd[*]}"
  local t0=$SECONDS
  if ! nice -n 19 "${cmd[@]}" >"$out.log" 2>&1; then
    echo "FAILED dynamics $name seed $seed; the end of $out.log:" >&2; tail -n 5 "$out.log" >&2; return 1
  fi
  printf '{"train": "%s", "seed": %d, "epoch": %d, "plateau": %s, "seconds": %d}\n' \
    "$train" "$seed" "$EPOCH" "$PLATEAU" "$((SECONDS - t0))" >"$out/source.json"
  prune "$out"
}

case $stage in
plan) # NAME... plans those configs only and replaces their entries in plan.txt
  mkdir -p "$WORK/plan"
  files=("$CFGDIR"/*.yaml); [ $# -eq 0 ] || files=()
  for n in "$@"; do files+=("$CFGDIR/$n.yaml"); done
  for f in "${files[@]}"; do
    n=$(basename "$f" .yaml)
    args=(--config "$f" --plan --out "$WORK/plan/$n")
    case $n in full-*) args+=(--batches "$(header "$f" batches | awk '{print $NF}')") ;; dynamics-*) args+=(--dynamics) ;; esac
    echo "== $n"
    nice -n 19 "$BIN" audit "${args[@]}" 2>&1 | grep -E '^(machine|collection plan|  memory about|  work|time estimate)|plan refused' || true
  done | tee "$WORK/plan.txt.new"
  if [ $# -gt 0 ] && [ -f "$WORK/plan.txt" ]; then # keep the other configs' entries
    awk -v names=" $* " 'FNR==1{keep=1} /^== /{keep = index(names, " " $2 " ") == 0} keep' "$WORK/plan.txt" >"$WORK/plan.txt.tmp"
    cat "$WORK/plan.txt.new" >>"$WORK/plan.txt.tmp"
  else
    mv "$WORK/plan.txt.new" "$WORK/plan.txt.tmp"
  fi
  rm -f "$WORK/plan.txt.new"; mv "$WORK/plan.txt.tmp" "$WORK/plan.txt" ;;
train)
  for n in $(names_or_all train "$@"); do
    s=${SEEDS:-$(header "$CFGDIR/$n.yaml" seeds)}
    for seed in $s; do train_one "$n" "$seed"; done
  done ;;
full)
  for n in $(names_or_all full "$@"); do
    s=${SEEDS:-$(header "$CFGDIR/$n.yaml" seeds)}
    ns=${NS:-$(header "$CFGDIR/$n.yaml" batches)}
    for nb in $ns; do for seed in $s; do full_one "$n" "$seed" "$nb"; done; done
  done ;;
dynamics)
  for n in $(names_or_all dynamics "$@"); do
    s=${SEEDS:-$(header "$CFGDIR/$n.yaml" seeds)}
    for seed in $s; do dyn_one "$n" "$seed"; done
  done ;;
keep)
  "$CTL" keep -work "$WORK" -configs "$CFGDIR" -out "$KEEP" ;;
aggregate)
  "$CTL" aggregate -results "$KEEP" -configs "$CFGDIR" -out docs/paper/scale -doc docs/paper.md ;;
*) echo "scale.sh: unknown stage $stage (plan, train, full, dynamics, keep, aggregate)" >&2; exit 2 ;;
esac
