#!/bin/sh
# session 43, sitting a: HEAD checks on every NVIDIA device, _nv2w/_nv2s correctness and timing,
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
PART=${1:-a}
echo "p43a$PART $(date +%T) $(cat .gpu/pack.txt) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)" >"$S"
el() { echo "$(( $(date +%s) - T0 ))s"; }
"$B/cli/voxattn" devices >"$L/devices.txt" 2>&1
ocl=$(awk '/^  opencl:[0-9]+ .*NVIDIA/ {print $1; exit}' "$L/devices.txt"); ocl=${ocl:-opencl:0}
grep -E "^  [a-z]+:[0-9]" "$L/devices.txt" >>"$S"
.gpu/vk_probe cooperative bfloat16 >"$L/vk_probe.txt" 2>&1; echo "vk_probe rc=$?" >>"$S"
grep -iE "reserved|wg_max|flex|invoc" "$L/vk_probe.txt" | head -12 >>"$S"
ops() { # tag env op
  tag=$1; shift; e=$1; shift
  timeout 150 env $e "$B/tests/test_ops" --device vulkan:0 --op "$1" >"$L/ops_$tag.txt" 2>&1
  echo "ops $tag [$e] rc=$? $(grep -E '^vulkan +[0-9]' "$L/ops_$tag.txt" | head -1) $(grep -E 'bf16 [0-9.e+-]+' "$L/ops_$tag.txt" | grep -E "$1" | head -1) $(el)" >>"$S"
  grep -E "FAIL|fail" "$L/ops_$tag.txt" | head -4 >>"$S"
}
if [ "$PART" = a ]; then
ops nv2w VOXATTN_VULKAN_SR_NV2=3 sample_rows
ops nv2s VOXATTN_VULKAN_SR_NV2=2 sample_rows
ops nv2 VOXATTN_VULKAN_SR_NV2=1 sample_rows
grep -E "cooperative_matrix2|nv2" "$L/ops_nv2w.txt" | head -3 >>"$S"
fi
bench() { # tag dev preset modeargs env
  tag=$1; dev=$2; p=$3; m=$4; e=$5
  timeout 120 env $e "$B/cli/voxattn" bench --device "$dev" --preset "$p" $m --build-only --warmup 2 --runs 10 >"$L/b_$tag.txt" 2>&1
  echo "bench $tag $dev $p [$e] rc=$?: $(grep -E '^bench: .* build [0-9.]+ ms' "$L/b_$tag.txt" | sed -E 's/ svg +density/ svg SVG density/; s/.*(bsa|svg) +([^ ]*) .* build ([0-9.]+) ms/\2 \3/' | tr '\n' ' ') $(el)" >>"$S"
}
SVG="--mode svg"
if [ "$PART" = a ]; then
for p in hunyuan-720p wan-1.3b-480p; do
  bench nv2_$p vulkan:0 $p "$SVG" VOXATTN_VULKAN_SR_NV2=1
  bench nv2w_$p vulkan:0 $p "$SVG" VOXATTN_VULKAN_SR_NV2=3
  bench nv2_$p.2 vulkan:0 $p "$SVG" VOXATTN_VULKAN_SR_NV2=1
  bench nv2w_$p.2 vulkan:0 $p "$SVG" VOXATTN_VULKAN_SR_NV2=3
done
bench cm9_wan vulkan:0 wan-1.3b-480p "$SVG" VOXATTN_VULKAN_SR_NV2=0
bench prof_svg vulkan:0 hunyuan-720p "$SVG -v" "VOXATTN_VULKAN_PROFILE=2"
bench prof_svgw vulkan:0 hunyuan-720p "$SVG -v" "VOXATTN_VULKAN_PROFILE=2 VOXATTN_VULKAN_SR_NV2=3"
grep -iE "ms|dispatch" "$L/b_prof_svg.txt" | grep -E "^\[|  " | head -14 >>"$S"
grep -iE "sample_rows" "$L/b_prof_svgw.txt" | head -4 >>"$S"
bench stats vulkan:0 hunyuan-720p "--mode bsa,svg --density 0.1 --keep 0.5 -v" "VOXATTN_VULKAN_PIPELINE_STATS=1 VOXATTN_VULKAN_SR_NV2=3"
grep -E "sample_rows_nv2|query_select" "$L/b_stats.txt" | head -12 >>"$S"
fi
if [ "$PART" = b ]; then
KEEP="--mode bsa --tau 0.9 --density 0.1 --keep 0.5"
bench ocl_keep $ocl hunyuan-720p "$KEEP" ""
bench ocl_keep_rsq $ocl hunyuan-720p "$KEEP" VOXATTN_OPENCL_QS_RSQ=1
fi
if [ "$PART" = a ]; then
for dev in cuda:0 vulkan:0 $ocl; do
  tag=$(echo "$dev" | tr : _)
  timeout 120 "$B/tests/conformance" --device "$dev" >"$L/conf_$tag.txt" 2>&1
  echo "conformance $dev rc=$? $(grep -E '^[a-z]+ +[0-9]+ +[0-9]+ +[0-9]+' "$L/conf_$tag.txt" | tr '\n' ' ') $(el)" >>"$S"
  grep FAIL "$L/conf_$tag.txt" | head -4 >>"$S"
done
timeout 120 env VOXATTN_VULKAN_SR_NV2=3 "$B/tests/conformance" --device vulkan:0 >"$L/conf_vk_nv2w.txt" 2>&1
echo "conformance vulkan nv2w rc=$? $(grep -E '^vulkan +[0-9]+' "$L/conf_vk_nv2w.txt") $(el)" >>"$S"
fi
if [ "$PART" = b ]; then
for dev in cuda:0 vulkan:0 $ocl; do
  tag=$(echo "$dev" | tr : _)
  timeout 120 "$B/tests/robust/test_hostile" --device "$dev" >"$L/hostile_$tag.txt" 2>&1
  echo "hostile $dev rc=$? lines-ok $(grep -c ': ok' "$L/hostile_$tag.txt") fail $(grep -ciE 'fail|mismatch' "$L/hostile_$tag.txt") $(el)" >>"$S"
  grep -iE 'fail|mismatch' "$L/hostile_$tag.txt" | head -3 | cut -c1-300 >>"$S"
done
ALL="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
for p in hunyuan-720p wan-1.3b-480p; do
  for dev in cuda:0 vulkan:0 $ocl; do
    bench all_${p}_$(echo "$dev" | tr : _) "$dev" $p "$ALL" ""
  done
done
fi
echo "end $(date +%T) $(el)" >>"$S"
tar cJf "$OUT/logs.tar.xz" -C "$OUT" logs && rm -rf "$L"
