#!/usr/bin/env bash
# Validates the sharded-audit recipes of docs/scale.md with the tools of
# their ecosystems, each where it is installed (a missing tool is reported
# and skipped, never a failure):
#   Slurm and shell scripts: bash -n, shellcheck (Debian: shellcheck)
#   GitHub Actions: actionlint (go install github.com/rhysd/actionlint/cmd/actionlint@latest)
#   Kubernetes: kubeconform -strict (go install github.com/yannh/kubeconform/cmd/kubeconform@latest;
#     it downloads its schemas from GitHub unless KUBECONFORM_SCHEMAS names a
#     local schema location), and the strict decoding into the k8s.io/api types
#     of validate/ (go run; needs the Go module proxy once)
# Usage: docs/examples/scale/validate.sh        (exit 1 when a check fails)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here" || exit 2
fail=0
gobin="$(go env GOPATH 2>/dev/null)/bin"
repobin="$(cd "$here/../../.." && pwd)/bin" # make actionlint installs there
tool() { command -v "$1" 2>/dev/null || { [ -x "$gobin/$1" ] && echo "$gobin/$1"; } || { [ -x "$repobin/$1" ] && echo "$repobin/$1"; }; }
ok() { echo "ok    $*"; }
bad() { echo "FAIL  $*"; fail=1; }
skip() { echo "skip  $*"; }

scripts=(slurm/*.sbatch slurm/submit.sh kubernetes/run.sh validate.sh)
for f in "${scripts[@]}"; do
  if bash -n "$f"; then ok "bash -n $f"; else bad "bash -n $f"; fi
done
if sc="$(tool shellcheck)"; then
  if "$sc" "${scripts[@]}"; then ok "shellcheck ${scripts[*]}"; else bad "shellcheck"; fi
else
  skip "shellcheck not installed (apt-get install shellcheck)"
fi

if al="$(tool actionlint)"; then
  if "$al" github-actions/*.yml; then ok "actionlint github-actions/*.yml"; else bad "actionlint"; fi
else
  skip "actionlint not installed (go install github.com/rhysd/actionlint/cmd/actionlint@latest)"
fi

if kc="$(tool kubeconform)"; then
  args=(-strict -summary)
  [ -n "${KUBECONFORM_SCHEMAS:-}" ] && args+=(-schema-location "$KUBECONFORM_SCHEMAS")
  if out="$("$kc" "${args[@]}" kubernetes/*.yaml 2>&1)"; then
    ok "kubeconform ${args[*]} kubernetes/*.yaml"
  elif grep -q "failed downloading schema" <<<"$out"; then
    skip "kubeconform: its schemas cannot be downloaded here (set KUBECONFORM_SCHEMAS to a local copy)"
  else
    echo "$out"; bad "kubeconform"
  fi
else
  skip "kubeconform not installed (go install github.com/yannh/kubeconform/cmd/kubeconform@latest)"
fi

if command -v go >/dev/null; then
  if out="$(cd validate && go run . ../kubernetes/*.yaml 2>&1)"; then
    ok "k8s.io/api strict decoding (validate/): $(tail -1 <<<"$out")"
  elif grep -qi "dial tcp\|proxy\|download" <<<"$out"; then
    skip "k8s.io/api check: modules not downloadable ($(tail -1 <<<"$out"))"
  else
    echo "$out"; bad "k8s.io/api strict decoding"
  fi
else
  skip "go not installed: k8s.io/api check"
fi
exit $fail
