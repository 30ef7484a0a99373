#!/bin/sh
# session 32 call c: Vulkan's capped CUMULATIVE rows decided first (kv_select_sgw): kv_select ops and conformance on
# the NVIDIA Vulkan device, tau builds with and without caps
. .gpu/env.sh
T=$B/tests
vk=$("$B/cli/voxattn" devices | awk '/^  vulkan:[0-9]+ .*NVIDIA/ {print $1}' | head -1)
sm() { grep -E "^(cuda|vulkan|opencl)[^ ]* +[0-9]+ +[0-9]+ +[0-9]+" "$1" | tail -1; grep -E "FAIL" "$1" | head -3; }
timeout 150 $T/test_ops --device $vk --op kv_select >$OUT/ops.txt 2>&1; echo "ops kv_select $vk rc=$?"; sm $OUT/ops.txt
timeout 200 $T/conformance --device $vk >$OUT/conf.txt 2>&1; echo "conformance $vk rc=$?"; sm $OUT/conf.txt
for pr in hunyuan-720p wan-1.3b-480p; do
  c1=$([ $pr = hunyuan-720p ] && echo 216 || echo 62)
  for cap in 0 $c1; do
    timeout 100 $B/cli/voxattn bench --device $vk --preset $pr --dtype bf16 --sets 1 --quick --runs 5 --warmup 2 --build-only --mode bsa --tau 0.9 --kv-max $cap --json $OUT/b_${pr}_$cap.json 2>/dev/null | grep -E "^vulkan" | awk -v c=$cap '{printf "%s %s %s cap %s density %s build %s\n", $1, $2, $5, c, $6, $(NF-1)}'
  done
done 2>&1 | tee $OUT/build.txt
