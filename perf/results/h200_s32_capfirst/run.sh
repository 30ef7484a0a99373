#!/bin/sh
# session 32 call b: the capped CUMULATIVE row decided first (vox_kf_cum by count): kv_select ops on cuda:0
# (default, cumulative f32 kernel, mma.sync phase 1), conformance, graph; builds with and without caps
. .gpu/env.sh
T=$B/tests
sm() { grep -E "^(cuda|vulkan|opencl)[^ ]* +[0-9]+ +[0-9]+ +[0-9]+" "$1" | tail -1; grep -E "FAIL" "$1" | head -3; }
for e in X=1 VOXATTN_KV_SELECT_CUMULATIVE_F32=1 VOXATTN_KV_SELECT_P1_OLD=1; do
  env $e timeout 150 $T/test_ops --device cuda:0 --op kv_select >$OUT/ops_$e.txt 2>&1; echo "ops kv_select cuda $e rc=$?"; sm $OUT/ops_$e.txt
done
timeout 200 $T/conformance --device cuda:0 >$OUT/conf.txt 2>&1; echo "conformance cuda:0 rc=$?"; sm $OUT/conf.txt
timeout 60 $T/test_cuda_graph >$OUT/graph.txt 2>&1; echo "graph rc=$?"; tail -1 $OUT/graph.txt
for pr in hunyuan-720p wan-1.3b-480p; do
  c1=$([ $pr = hunyuan-720p ] && echo 216 || echo 62); c2=$([ $pr = hunyuan-720p ] && echo 432 || echo 125)
  for cap in 0 $c1 $c2; do
    j=$OUT/b_${pr}_$cap.json
    timeout 100 $B/cli/voxattn bench --device cuda:0 --preset $pr --dtype bf16 --sets 1 --quick --runs 5 --warmup 2 --build-only --mode bsa --tau 0.9 --kv-max $cap --json $j 2>/dev/null | grep -E "^cuda" | awk -v c=$cap '{printf "%s %s %s cap %s density %s build %s ", $1, $2, $5, c, $6, $(NF-1)}'
    grep -o '"plan_bytes": *[0-9-]*' $j | head -1
  done
  timeout 100 $B/cli/voxattn bench --device cuda:0 --preset $pr --dtype bf16 --sets 1 --quick --runs 5 --warmup 2 --build-only --mode bsa --density 0.1 2>/dev/null | grep -E "^cuda" | awk '{printf "%s %s %s density %s build %s\n", $1, $2, $5, $6, $(NF-1)}'
done 2>&1 | tee $OUT/build.txt
