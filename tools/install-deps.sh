#!/bin/sh
# Install the Debian 12 packages vggpipe needs to build, test and benchmark.
# Idempotent; uses sudo when not run as root.
set -eu

packages="
build-essential pkg-config
libvips-dev libmsgpack-dev libgsl-dev libopenblas-dev libhdf5-dev
libjansson-dev nettle-dev
clang libclang-rt-14-dev valgrind
python3-torch python3-torchvision python3-h5py python3-numpy python3-sklearn
python3-pil python3-msgpack python3-scipy
jq parallel gnuplot-nox fonts-dejavu-core libimage-exiftool-perl webp libtiff-tools
perl time curl ca-certificates man-db groff-base passwd util-linux python3
"

if [ "$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $packages >/dev/null
echo "install-deps: all packages present"
