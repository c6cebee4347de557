#!/usr/bin/env bash
# Runs the sharded audit on a Kubernetes cluster: prepare, the Indexed Job
# of shards, then the merge, each after the previous one completed.
# Usage: docs/examples/scale/kubernetes/run.sh [namespace]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ns="${1:-default}"
k() { kubectl --namespace "$ns" "$@"; }

k apply -f "$here/storage.yaml"
k delete job gnaudit-prepare gnaudit-shards gnaudit-merge --ignore-not-found
k apply -f "$here/prepare-job.yaml"
k wait --for=condition=complete --timeout=24h job/gnaudit-prepare
k apply -f "$here/shards-job.yaml"
if ! k wait --for=condition=complete --timeout=24h job/gnaudit-shards; then
  echo "some shards failed: see kubectl logs -l job-name=gnaudit-shards; rerun one with rerun-shard-job.yaml, then the merge" >&2
  exit 1
fi
k apply -f "$here/merge-job.yaml"
k wait --for=condition=complete --timeout=2h job/gnaudit-merge
k logs job/gnaudit-merge
