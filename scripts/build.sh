#!/usr/bin/env bash
# Builds gnaudit, the fast build where it can: with OpenBLAS (-tags openblas,
# cgo) when Debian's libopenblas-dev and a C compiler are installed, else the
# pure-Go build (gnaudit's own SIMD SGEMM under gonum's BLAS: about as fast
# on AVX2 CPUs, several times slower without AVX2), saying which and why.
#
#   scripts/build.sh [OUT]        (default bin/gnaudit; what `make build` runs)
#   BLAS=gonum scripts/build.sh   pure Go, even where OpenBLAS is installed
#   BLAS=openblas scripts/build.sh  OpenBLAS or fail
#
# GO (default go) and GOFLAGS are passed on as in the Makefile.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-bin/gnaudit}"
GO="${GO:-go}"
BLAS="${BLAS:-auto}"
mkdir -p "$(dirname "$OUT")"

# Why OpenBLAS cannot be used here ("" when it can).
why_not=""
if [ "$BLAS" = gonum ]; then
	why_not="BLAS=gonum"
elif [ "$($GO env CGO_ENABLED)" != 1 ]; then
	why_not="cgo is off (CGO_ENABLED=0)"
elif ! command -v "$($GO env CC)" >/dev/null 2>&1; then
	why_not="no C compiler ($($GO env CC)): apt-get install gcc"
elif [ ! -e /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ] && [ ! -e /usr/include/cblas.h ] \
	&& ! ls /usr/lib/*/libopenblas.so /usr/lib/libopenblas.so >/dev/null 2>&1; then
	why_not="libopenblas-dev is not installed: apt-get install libopenblas-dev"
fi

if [ -z "$why_not" ]; then
	# shellcheck disable=SC2086
	if $GO build ${GOFLAGS:-} -tags openblas -o "$OUT" ./cmd/gnaudit; then
		echo "built $OUT with OpenBLAS (the fast CPU build; 'bin/gnaudit doctor' shows the kernels it uses)"
		exit 0
	fi
	why_not="the OpenBLAS build failed (messages above)"
fi
if [ "$BLAS" = openblas ]; then
	echo "build: OpenBLAS build requested but not possible: $why_not" >&2
	exit 1
fi
# shellcheck disable=SC2086
$GO build ${GOFLAGS:-} -o "$OUT" ./cmd/gnaudit
if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
	speed="this CPU has AVX2, so gnaudit's own SIMD kernels make it about as fast as OpenBLAS (docs/performance.md)"
else
	speed="without AVX2 its CPU steps are several times slower than with OpenBLAS"
fi
echo "built $OUT with the pure-Go BLAS ($why_not); $speed" >&2
