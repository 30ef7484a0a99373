#!/bin/sh
# session 32 call a: kv_max_blocks on the H200. test_ops kv_select (cuda:0 default / exact-all / cumulative f32,
# the NVIDIA Vulkan and OpenCL devices); conformance on the three; test_api, graph, async, hostile on cuda:0;
# tau builds and device memory with and without the cap (hunyuan-720p, wan-1.3b-480p)
. .gpu/env.sh
T=$B/tests
ocl=$("$B/cli/voxattn" devices | awk '/^  opencl:[0-9]+ .*NVIDIA/ {print $1}' | head -1)
vk=$("$B/cli/voxattn" devices | awk '/^  vulkan:[0-9]+ .*NVIDIA/ {print $1}' | head -1)
echo "vk=$vk ocl=$ocl"
sm() { grep -E "^(cuda|vulkan|opencl)[^ ]* +[0-9]+ +[0-9]+ +[0-9]+" "$1" | tail -1; grep -E "FAIL" "$1" | head -3; }
for e in X=1 VOXATTN_KV_SELECT_EXACT_ALL=1 VOXATTN_KV_SELECT_CUMULATIVE_F32=1; do
  env $e timeout 150 $T/test_ops --device cuda:0 --op kv_select >$OUT/ops_cuda_$e.txt 2>&1; echo "ops kv_select cuda $e rc=$?"; sm $OUT/ops_cuda_$e.txt
done
for d in $vk $ocl; do
  timeout 150 $T/test_ops --device $d --op kv_select >$OUT/ops_$d.txt 2>&1; echo "ops kv_select $d rc=$?"; sm $OUT/ops_$d.txt
done
for d in cuda:0 $vk $ocl; do
  timeout 200 $T/conformance --device $d >$OUT/conf_$d.txt 2>&1; echo "conformance $d rc=$?"; sm $OUT/conf_$d.txt
done
timeout 60 $T/test_api >$OUT/api.txt 2>&1; echo "test_api rc=$?"; tail -1 $OUT/api.txt
timeout 60 $T/test_cuda_graph >$OUT/graph.txt 2>&1; echo "graph rc=$?"; tail -1 $OUT/graph.txt
timeout 60 $T/test_async >$OUT/async.txt 2>&1; echo "async rc=$?"; grep -iE "wait" $OUT/async.txt | tail -2
timeout 120 $T/robust/test_hostile >$OUT/hostile.txt 2>&1; echo "hostile rc=$?"; tail -1 $OUT/hostile.txt
for dev in cuda:0 $vk $ocl; do for pr in hunyuan-720p wan-1.3b-480p; do
  nbv=$([ $pr = hunyuan-720p ] && echo 216 || echo 62)
  for cap in 0 $nbv; do
    j=$OUT/b_$(echo $dev | tr : _)_${pr}_$cap.json
    timeout 100 $B/cli/voxattn bench --device $dev --preset $pr --dtype bf16 --sets 1 --quick --runs 1 --warmup 1 --build-only --mode bsa --tau 0.9 --kv-max $cap --json $j 2>/dev/null | grep -E "^(cuda|vulkan|opencl)" | awk -v c=$cap '{printf "%s %s %s cap %s density %s build %s ", $1, $2, $5, c, $6, $(NF-1)}'
    grep -o '"plan_bytes": *[0-9-]*' $j | head -1
  done
done; done 2>&1 | tee $OUT/build.txt
timeout 120 $B/cli/voxattn bench --device cuda:0 --preset hunyuan-720p --dtype bf16 --mode bsa --tau 0.9 --kv-max 0 --runs 3 --warmup 1 --sets 1 --quick 2>/dev/null | grep -E "^cuda" | tee $OUT/fwd.txt
timeout 120 $B/cli/voxattn bench --device cuda:0 --preset hunyuan-720p --dtype bf16 --mode bsa --tau 0.9 --kv-max 216 --runs 3 --warmup 1 --sets 1 --quick 2>/dev/null | grep -E "^cuda" | tee -a $OUT/fwd.txt
