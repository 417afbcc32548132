#!/bin/sh
# Install the Debian 12 packages vggpipe needs.
#
#   tools/install-deps.sh           to build the tools and run the demo
#   tools/install-deps.sh --tests   and to run the tests and benchmarks:
#                                   the references (PyTorch, scikit-learn,
#                                   numpy), sanitizers, valgrind, fuzzers
#   ... --print                     list the packages, install nothing
#
# Idempotent; uses sudo when not run as root.
set -eu

packages="
build-essential pkg-config
libvips-dev libmsgpack-dev libgsl-dev libopenblas-dev libhdf5-dev
libjansson-dev nettle-dev
python3 python3-pil python3-msgpack gnuplot-nox fonts-dejavu-core
curl ca-certificates
"
test_packages="
clang libclang-rt-14-dev valgrind
python3-torch python3-torchvision python3-h5py python3-numpy python3-sklearn
python3-scipy
jq parallel libimage-exiftool-perl webp libtiff-tools
perl time man-db groff-base passwd util-linux
"

print=
for arg in "$@"; do
	case "$arg" in
	--tests) packages="$packages $test_packages" ;;
	--print) print=1 ;;
	*)
		echo "usage: tools/install-deps.sh [--tests] [--print]" >&2
		exit 2
		;;
	esac
done
if [ -n "$print" ]; then
	# shellcheck disable=SC2086
	printf '%s\n' $packages
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $packages >/dev/null
echo "install-deps: all packages present"
