#!/bin/sh
# session 43, sitting d: sample_rows_nv2 stops
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
echo "p43d $(date +%T) $(cat .gpu/pack.txt) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)" >"$S"
el() { echo "$(( $(date +%s) - T0 ))s"; }
bench() { # tag dev preset modeargs env
  tag=$1; dev=$2; p=$3; m=$4; e=$5
  timeout 100 env $e "$B/cli/voxattn" bench --device "$dev" --preset "$p" $m --build-only --warmup 2 --runs 10 >"$L/b_$tag.txt" 2>&1
  echo "bench $tag $dev $p [$e] rc=$?: $(grep -E '^bench: .* build [0-9.]+ ms' "$L/b_$tag.txt" | sed -E 's/ svg +density/ svg SVG density/; s/.*(bsa|svg) +([^ ]*) .* build ([0-9.]+) ms/\2 \3/' | tr '\n' ' ') $(el)" >>"$S"
}
for st in 0 1 2 3 4; do
  bench stop$st vulkan:0 hunyuan-720p "--mode svg -v" "VOXATTN_VULKAN_SR_STOP=$st"
  grep -oE "sample_rows_nv2[a-z0-9_]*" "$L/b_stop$st.txt" | sort -u | head -2 | tr '\n' ' ' >>"$S"; echo >>"$S"
done
bench stop0b vulkan:0 hunyuan-720p "--mode svg" ""
echo "end $(date +%T) $(el)" >>"$S"
tar cJf "$OUT/logs.tar.xz" -C "$OUT" logs && rm -rf "$L"
