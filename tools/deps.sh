#!/bin/sh
# Installs the Debian/Ubuntu packages voxattn needs that are missing.
# usage: tools/deps.sh [demo|test]   (demo needs fewer packages)
set -eu
base="build-essential meson ninja-build pkg-config python3"
gpu_apis="ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd libvulkan-dev mesa-vulkan-drivers glslc spirv-tools"
case "${1:-test}" in
  demo) want="$base $gpu_apis" ;;
  *) want="$base $gpu_apis libcmocka-dev vulkan-validationlayers hipcc libamdhip64-dev rocm-device-libs valgrind clang" ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "voxattn: installing:$missing" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
