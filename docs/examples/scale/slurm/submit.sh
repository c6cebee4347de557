#!/usr/bin/env bash
# Submits the sharded audit as three dependent Slurm jobs: prepare, an
# array of K shards after it, the merge after every shard succeeded.
# Usage: PREP=/shared/gnaudit/prep CONFIG=audit.yaml submit.sh [K]
# A failed shard k of K is rerun alone (GNAUDIT_SHARD takes precedence
# over the array variables), then the merge:
#   PREP=... sbatch --export=ALL,GNAUDIT_SHARD=k/K shard.sbatch
#   PREP=... sbatch --dependency=afterok:<that job> merge.sbatch
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
K="${1:-3}"
: "${PREP:?set PREP to the prepared audit directory on shared storage}"
: "${CONFIG:?set CONFIG to the audit configuration (audit.yaml)}"
export PREP CONFIG
prep=$(sbatch --parsable --export=ALL "$here/prepare.sbatch")
shards=$(sbatch --parsable --export=ALL --dependency="afterok:$prep" --array="0-$((K - 1))" "$here/shard.sbatch")
merge=$(sbatch --parsable --export=ALL --dependency="afterok:$shards" "$here/merge.sbatch")
echo "submitted: prepare $prep, shards $shards (array 0-$((K - 1))), merge $merge"
echo "report when done: $PREP/report.md"
