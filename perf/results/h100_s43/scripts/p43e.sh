#!/bin/sh
# session 43, sitting e: sample_rows_nv2p
# pipeline statistics, OpenCL QS_RSQ timing, the build columns of both presets.
set -u
T0=$(date +%s)
OUT=${OUT:-/tmp/out}; L=$OUT/logs; mkdir -p "$L"; S=$OUT/summary.txt
B=build-gpu
xz -dc .gpu/pack.tar.xz | tar xf - || echo "unpack failed" >>"$S"
sh .gpu/prepare.sh >"$L/prepare.txt" 2>&1
for f in .gl/libglvnd0_* .gl/libglx0_* .gl/libegl1_* .gl/libopengl0_* .gl/libgl1_* .gl/libgles2_*; do dpkg -x "$f" /; done
mkdir -p /tmp/glx && for f in .gl/libx* .gl/libbsd0_* .gl/libmd0_*; do dpkg -x "$f" /tmp/glx; done
ldconfig
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/tmp/glx/usr/lib/x86_64-linux-gnu"
[ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
echo "p43e $(date +%T) $(cat .gpu/pack.txt) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)" >"$S"
el() { echo "$(( $(date +%s) - T0 ))s"; }
timeout 40 env VOXATTN_VULKAN_SR_NV2=2 "$B/tests/test_ops" --device vulkan:0 --op sample_rows >"$L/ops_nv2p.txt" 2>&1
echo "ops nv2p rc=$? $(grep -E '^vulkan +[0-9]' "$L/ops_nv2p.txt" | head -1) $(grep -E 'bf16 [0-9.e+-]+' "$L/ops_nv2p.txt" | grep sample_rows | head -1) $(el)" >>"$S"
grep FAIL "$L/ops_nv2p.txt" | head -3 >>"$S"
bench() { # tag env
  timeout 45 env $2 "$B/cli/voxattn" bench --device vulkan:0 --preset hunyuan-720p --mode svg --build-only --warmup 2 --runs 10 >"$L/b_$1.txt" 2>&1
  echo "bench $1 [$2] rc=$?: $(grep -E '^bench: .* build [0-9.]+ ms' "$L/b_$1.txt" | sed -E 's/.* build ([0-9.]+) ms/\1/' | tr '\n' ' ') $(el)" >>"$S"
}
bench nv2p VOXATTN_VULKAN_SR_NV2=2
bench nv2 VOXATTN_VULKAN_SR_NV2=1
timeout 40 env VOXATTN_VULKAN_SR_NV2=2 "$B/tests/conformance" --device vulkan:0 >"$L/conf_nv2p.txt" 2>&1
echo "conformance vulkan nv2p rc=$? $(grep -E '^vulkan +[0-9]+' "$L/conf_nv2p.txt") $(el)" >>"$S"
echo "end $(date +%T) $(el)" >>"$S"
tar cJf "$OUT/logs.tar.xz" -C "$OUT" logs && rm -rf "$L"
