#!/usr/bin/env bash
# Re-creates third_party/gorgonia: gorgonia.org/gorgonia v0.9.18 from the Go
# module proxy (or the module cache), checked against its go.sum hash, cut
# down to what a build needs, with gorgonia.patch applied and gofmt'd (see README.md).
#   third_party/gorgonia.sh          re-create the copy (make third-party)
#   third_party/gorgonia.sh --check  fail unless the committed copy is exactly
#                                    upstream + patch, gofmt'd (make third-party-check)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
GO=${GO:-go}
mod=gorgonia.org/gorgonia
ver=v0.9.18
sum='h1:LlEhqMjPwyKlLdy3iuWHI2k1znxormNedKayQaLgbm0='

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Outside any module, so that gnaudit's replace directive does not apply.
json=$(cd "$tmp" && GOFLAGS='' "$GO" mod download -json "$mod@$ver")
dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
got=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p')
if [ -z "$dir" ] || [ "$got" != "$sum" ]; then
  echo "gorgonia.sh: $mod@$ver: want sum $sum, got '$got' (dir '$dir')" >&2
  exit 1
fi

# The packages a build or `go mod tidy` of gnaudit reads (the root package,
# the internal one it imports, and cuda and ops/nn, which only the cuda build
# tag and onnx-go's tests import), without tests, examples, commands or
# media. go.mod is upstream's (its requirements still apply), LICENSE too.
out=$tmp/gorgonia
for pkg in . internal/encoding cuda ops/nn; do
  mkdir -p "$out/$pkg"
  for f in "$dir/$pkg"/*.go "$dir/$pkg"/*.s; do
    case $f in *_test.go | *'/*.s') continue ;; esac
    cp "$f" "$out/$pkg/"
  done
done
cp "$dir/go.mod" "$dir/LICENSE" "$out/"
chmod -R u+w "$out"
# git apply outside any repository works like patch(1) (not always installed).
(cd "$out" && GIT_CEILING_DIRECTORIES="$tmp" git apply -p1 "$here/gorgonia.patch")
# gofmt'd with this Go (upstream predates //go:build lines), so that the
# tree's gofmt check holds for the copy too; formatting changes no code.
# (twice: one old doc comment needs a second pass to settle.)
for _ in 1 2; do "$("$GO" env GOROOT)/bin/gofmt" -w "$out"; done

if [ "${1:-}" = "--check" ]; then
  if ! diff -r "$out" "$here/gorgonia"; then
    echo "gorgonia.sh: third_party/gorgonia differs from $mod@$ver + gorgonia.patch; run make third-party" >&2
    exit 1
  fi
  echo "third_party/gorgonia is $mod@$ver + gorgonia.patch"
  exit 0
fi
rm -rf "$here/gorgonia"
mv "$out" "$here/gorgonia"
echo "re-created third_party/gorgonia ($mod@$ver + gorgonia.patch)"
