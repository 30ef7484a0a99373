#!/bin/sh
# session 44, sitting d: the final state (15a7d3a): issue 17's build columns on cuda, vulkan and opencl
# (tools/gpu_session.sh builds), conformance and hostile inputs on each, test_ops sample_rows on Vulkan,
# the stop 4 of the new default.
set -u
T0=$(date +%s)
OUT=${OUT:-/tmp/out}; L=$OUT/logs; mkdir -p "$L"; S=$OUT/summary.txt
B=build-gpu
xz -dc .gpu/pack.tar.xz | tar xf - || echo "unpack failed" >>"$S"
el() { echo "$(( $(date +%s) - T0 ))s"; }
echo "p44d $(date +%T) $(cat .gpu/pack.txt)" >"$S"
OUT=$L sh tools/gpu_session.sh builds >>"$S" 2>&1
echo "builds done $(el)" >>"$S"
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/tmp/glx/usr/lib/x86_64-linux-gnu"
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
ocl=$("$B/cli/voxattn" devices | awk '/^  opencl:[0-9]+ .*NVIDIA/ {print $1}' | head -1)
for dev in cuda:0 vulkan:0 ${ocl:-opencl:0}; do
  tag=$(echo "$dev" | tr : _)
  timeout 120 "$B/tests/conformance" --device "$dev" >"$L/conf_$tag.txt" 2>&1
  echo "conformance $dev rc=$? $(grep -E '^[a-z]+ +[0-9]+ +[0-9]+ +[0-9]+' "$L/conf_$tag.txt") $(el)" >>"$S"
  timeout 60 "$B/tests/robust/test_hostile" --device "$dev" >"$L/hostile_$tag.txt" 2>&1
  echo "hostile $dev rc=$?: $(grep -c ': ok' "$L/hostile_$tag.txt") cases ok, $(grep -ciE 'fail|mismatch' "$L/hostile_$tag.txt") failing lines $(el)" >>"$S"
done
timeout 60 "$B/tests/test_ops" --device vulkan:0 --op sample_rows >"$L/ops_sr.txt" 2>&1
echo "test_ops sample_rows vulkan:0 rc=$? $(grep -E '^vulkan +[0-9]' "$L/ops_sr.txt" | head -1) $(el)" >>"$S"
timeout 100 env VOXATTN_VULKAN_SR_STOP=4 "$B/cli/voxattn" bench --device vulkan:0 --preset hunyuan-720p --mode svg --build-only --warmup 2 --runs 10 >"$L/b_stop4.txt" 2>&1
echo "stop4 (nv2k) rc=$? $(grep -E '^bench: .* build [0-9.]+ ms' "$L/b_stop4.txt" | sed -E 's/.* build ([0-9.]+) ms/\1/') $(el)" >>"$S"
echo "end $(date +%T) $(el)" >>"$S"
tar cJf "$OUT/logs.tar.xz" -C "$OUT" logs && rm -rf "$L"
