#!/bin/sh
# session 43, sitting b: nv2e and query_select row forms, A/B and stats
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
echo "p43b $(date +%T) $(cat .gpu/pack.txt) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)" >"$S"
el() { echo "$(( $(date +%s) - T0 ))s"; }
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
"$B/cli/voxattn" devices >"$L/devices.txt" 2>&1
ocl=$(awk '/^  opencl:[0-9]+ .*NVIDIA/ {print $1; exit}' "$L/devices.txt"); ocl=${ocl:-opencl:0}
ops() { # tag env op
  tag=$1; shift; e=$1; shift
  timeout 150 env $e "$B/tests/test_ops" --device vulkan:0 --op "$1" >"$L/ops_$tag.txt" 2>&1
  echo "ops $tag [$e] rc=$? $(grep -E '^vulkan +[0-9]' "$L/ops_$tag.txt" | head -1) $(grep -E 'bf16 [0-9.e+-]+' "$L/ops_$tag.txt" | grep -E "$1" | head -1) $(el)" >>"$S"
  grep -E "FAIL" "$L/ops_$tag.txt" | head -4 >>"$S"
}
bench() { # tag dev preset modeargs env
  tag=$1; dev=$2; p=$3; m=$4; e=$5
  timeout 120 env $e "$B/cli/voxattn" bench --device "$dev" --preset "$p" $m --build-only --warmup 2 --runs 10 >"$L/b_$tag.txt" 2>&1
  echo "bench $tag $dev $p [$e] rc=$?: $(grep -E '^bench: .* build [0-9.]+ ms' "$L/b_$tag.txt" | sed -E 's/ svg +density/ svg SVG density/; s/.*(bsa|svg) +([^ ]*) .* build ([0-9.]+) ms/\2 \3/' | tr '\n' ' ') $(el)" >>"$S"
}
ops nv2e VOXATTN_VULKAN_SR_NV2=2 sample_rows
ops nv2 VOXATTN_VULKAN_SR_NV2=1 sample_rows
grep -E "cooperative_matrix2" "$L/ops_nv2e.txt" | head -2 >>"$S"
ops qs1 VOXATTN_VULKAN_QS_ROWS=1 query_select
ops qs2 VOXATTN_VULKAN_QS_ROWS=2 query_select
SVG="--mode svg"
H=hunyuan-720p
for i in 1 2; do
  bench nv2_$i vulkan:0 $H "$SVG" VOXATTN_VULKAN_SR_NV2=1
  bench nv2e_$i vulkan:0 $H "$SVG" VOXATTN_VULKAN_SR_NV2=2
done
bench nv2_wan vulkan:0 wan-1.3b-480p "$SVG" VOXATTN_VULKAN_SR_NV2=1
bench nv2e_wan vulkan:0 wan-1.3b-480p "$SVG" VOXATTN_VULKAN_SR_NV2=2
bench nv2e_s132 vulkan:0 $H "$SVG" "VOXATTN_VULKAN_SR_NV2=2 VOXATTN_VULKAN_SR_SLOTS=132"
bench nv2e_s528 vulkan:0 $H "$SVG" "VOXATTN_VULKAN_SR_NV2=2 VOXATTN_VULKAN_SR_SLOTS=528"
KEEP="--mode bsa --tau 0.9 --density 0.1 --keep 0.5"
bench qs0 vulkan:0 $H "$KEEP" VOXATTN_VULKAN_QS_ROWS=0
bench qs1 vulkan:0 $H "$KEEP" VOXATTN_VULKAN_QS_ROWS=1
bench qs2 vulkan:0 $H "$KEEP" VOXATTN_VULKAN_QS_ROWS=2
bench qs0b vulkan:0 $H "$KEEP" VOXATTN_VULKAN_QS_ROWS=0
bench stats1 vulkan:0 $H "--mode bsa,svg --density 0.1 --keep 0.5 --runs 2 -v" "VOXATTN_VULKAN_PIPELINE_STATS=1 VOXATTN_VULKAN_QS_ROWS=1"
bench stats2 vulkan:0 $H "--mode bsa,svg --density 0.1 --keep 0.5 --runs 2 -v" "VOXATTN_VULKAN_PIPELINE_STATS=1 VOXATTN_VULKAN_QS_ROWS=2 VOXATTN_VULKAN_SR_NV2=2"
grep -hE "pipeline (sample_rows_nv2|query_select)" "$L/b_stats1.txt" "$L/b_stats2.txt" | sed 's/Binary Size=[0-9]*; //; s/Local Memory Size=[0-9]*; //' >>"$S"
bench prof_qs vulkan:0 $H "$KEEP -v" "VOXATTN_VULKAN_PROFILE=2 VOXATTN_VULKAN_QS_ROWS=2"
grep -E "query_select" "$L/b_prof_qs.txt" | head -3 >>"$S"
echo "end $(date +%T) $(el)" >>"$S"
tar cJf "$OUT/logs.tar.xz" -C "$OUT" logs && rm -rf "$L"
