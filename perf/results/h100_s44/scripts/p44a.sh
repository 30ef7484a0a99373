#!/bin/sh
# session 44, sitting a: sample_rows_nv2p / _nv2q (VOXATTN_VULKAN_SR_NV2=2 / 3) on a GPU at last:
# test_ops sample_rows and conformance (vulkan) with each, then the hunyuan SVG build A/B.
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
echo "p44a $(date +%T) $(cat .gpu/pack.txt) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)" >"$S"
el() { echo "$(( $(date +%s) - T0 ))s"; }
for v in 2 3; do
  timeout 60 env VOXATTN_VULKAN_SR_NV2=$v "$B/tests/test_ops" --device vulkan:0 --op sample_rows >"$L/ops_nv2_$v.txt" 2>&1
  echo "ops SR_NV2=$v rc=$? $(grep -E '^vulkan +[0-9]' "$L/ops_nv2_$v.txt" | head -1) $(el)" >>"$S"
  grep -E 'FAIL' "$L/ops_nv2_$v.txt" | head -3 >>"$S"
done
bench() { # tag dev preset modeargs env
  tag=$1; dev=$2; p=$3; m=$4; e=$5
  timeout 100 env $e "$B/cli/voxattn" bench --device "$dev" --preset "$p" $m --build-only --warmup 2 --runs 10 >"$L/b_$tag.txt" 2>&1
  echo "bench $tag $dev $p [$e] rc=$?: $(grep -E '^bench: .* build [0-9.]+ ms' "$L/b_$tag.txt" | sed -E 's/ svg +density/ svg SVG density/; s/.*(bsa|svg) +([^ ]*) .* build ([0-9.]+) ms/\2 \3/' | tr '\n' ' ') $(el)" >>"$S"
}
bench d1 vulkan:0 hunyuan-720p "--mode svg -v" "VOXATTN_VULKAN_SR_NV2=1"
grep -oE "sample_rows_nv2[a-z0-9_]*" "$L/b_d1.txt" | sort -u | head -2 | tr '\n' ' ' >>"$S"; echo >>"$S"
bench p1 vulkan:0 hunyuan-720p "--mode svg -v" "VOXATTN_VULKAN_SR_NV2=2"
grep -oE "sample_rows_nv2[a-z0-9_]*" "$L/b_p1.txt" | sort -u | head -2 | tr '\n' ' ' >>"$S"; echo >>"$S"
bench q1 vulkan:0 hunyuan-720p "--mode svg -v" "VOXATTN_VULKAN_SR_NV2=3"
grep -oE "sample_rows_nv2[a-z0-9_]*" "$L/b_q1.txt" | sort -u | head -2 | tr '\n' ' ' >>"$S"; echo >>"$S"
bench d2 vulkan:0 hunyuan-720p "--mode svg" ""
bench q2 vulkan:0 hunyuan-720p "--mode svg" "VOXATTN_VULKAN_SR_NV2=3"
bench p2 vulkan:0 hunyuan-720p "--mode svg" "VOXATTN_VULKAN_SR_NV2=2"
for v in 2 3; do
  timeout 60 env VOXATTN_VULKAN_SR_NV2=$v "$B/tests/conformance" --device vulkan:0 >"$L/conf_nv2_$v.txt" 2>&1
  echo "conformance vulkan SR_NV2=$v rc=$? $(grep -E '^vulkan +[0-9]+' "$L/conf_nv2_$v.txt") $(el)" >>"$S"
done
echo "end $(date +%T) $(el)" >>"$S"
tar cJf "$OUT/logs.tar.xz" -C "$OUT" logs && rm -rf "$L"
