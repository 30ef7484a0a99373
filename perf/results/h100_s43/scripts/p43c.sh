#!/bin/sh
# session 43, sitting c (part 1: A/B nv2m, query_select forms, conformance; part 2: hostile, OpenCL RSQ, build columns)
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
PART=${1:-1}
echo "p43c$PART $(date +%T) $(cat .gpu/pack.txt) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)" >"$S"
el() { echo "$(( $(date +%s) - T0 ))s"; }
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
conf() { # tag dev env
  timeout 150 env $3 "$B/tests/conformance" --device "$2" >"$L/conf_$1.txt" 2>&1
  echo "conformance $1 $2 [$3] rc=$? $(grep -E '^[a-z]+ +[0-9]+ +[0-9]+ +[0-9]+' "$L/conf_$1.txt" | tr '\n' ' ') $(el)" >>"$S"
  grep FAIL "$L/conf_$1.txt" | head -4 >>"$S"
}
H=hunyuan-720p
if [ "$PART" = 1 ]; then
  ops nv2m VOXATTN_VULKAN_SR_NV2=2 sample_rows
  ops qs_u64 VOXATTN_VULKAN_QS_ROWS=2 query_select
  ops qs_def "" query_select
  for i in 1 2; do
    bench nv2_$i vulkan:0 $H "--mode svg" VOXATTN_VULKAN_SR_NV2=1
    bench nv2m_$i vulkan:0 $H "--mode svg" VOXATTN_VULKAN_SR_NV2=2
  done
  bench nv2m_wan vulkan:0 wan-1.3b-480p "--mode svg" VOXATTN_VULKAN_SR_NV2=2
  KEEP="--mode bsa --tau 0.9 --density 0.1 --keep 0.5"
  bench qs1 vulkan:0 $H "$KEEP" VOXATTN_VULKAN_QS_ROWS=1
  bench qs2 vulkan:0 $H "$KEEP" VOXATTN_VULKAN_QS_ROWS=2
  bench qs1b vulkan:0 $H "$KEEP" VOXATTN_VULKAN_QS_ROWS=1
  bench qs2b vulkan:0 $H "$KEEP" VOXATTN_VULKAN_QS_ROWS=2
  bench stats vulkan:0 $H "--mode bsa,svg --density 0.1 --keep 0.5 --runs 2 -v" "VOXATTN_VULKAN_PIPELINE_STATS=1 VOXATTN_VULKAN_QS_ROWS=2 VOXATTN_VULKAN_SR_NV2=2"
  grep -hE "pipeline (sample_rows_nv2|query_select)" "$L/b_stats.txt" | sed 's/Binary Size=[0-9]*; //; s/Local Memory Size=[0-9]*; //' >>"$S"
  conf cuda cuda:0 ""
  conf vulkan vulkan:0 ""
  conf opencl $ocl ""
  conf vk_alt vulkan:0 "VOXATTN_VULKAN_SR_NV2=2 VOXATTN_VULKAN_QS_ROWS=2"
else
  for dev in cuda:0 vulkan:0 $ocl; do
    tag=$(echo "$dev" | tr : _)
    timeout 120 "$B/tests/robust/test_hostile" --device "$dev" >"$L/hostile_$tag.txt" 2>&1
    echo "hostile $dev rc=$? lines-ok $(grep -c ': ok' "$L/hostile_$tag.txt") fail $(grep -ciE 'fail|mismatch' "$L/hostile_$tag.txt") $(el)" >>"$S"
    grep -iE 'fail|mismatch' "$L/hostile_$tag.txt" | head -3 | cut -c1-300 >>"$S"
  done
  KEEP="--mode bsa --tau 0.9 --density 0.1 --keep 0.5"
  bench ocl_rsq $ocl $H "$KEEP" VOXATTN_OPENCL_QS_RSQ=1
  ALL="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
  for p in hunyuan-720p wan-1.3b-480p; do
    for dev in cuda:0 vulkan:0 $ocl; do
      bench all_${p}_$(echo "$dev" | tr : _) "$dev" $p "$ALL" ""
    done
  done
fi
echo "end $(date +%T) $(el)" >>"$S"
tar cJf "$OUT/logs.tar.xz" -C "$OUT" logs && rm -rf "$L"
