#!/bin/sh
# session 46, call d (short: the device time left): build-gpu = d698427 (phase 2's query norm and list start
# ahead of the copy wait) against build-ik = a20032f; checks of d698427, one build process each, per launch.
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
check ops_kv_fbrk test_ops cuda:0 "VOXATTN_KV_SELECT_FAST_BREAK=1" --op kv_select --case d128
check conf_cu conformance cuda:0 ""
check hostile_cu robust/test_hostile cuda:0 ""
for t in test_cuda_graph "test_async --backend cuda"; do
  timeout 60 $B/tests/$t >"$L/$(echo $t | cut -d' ' -f1).txt" 2>&1
  echo "$t rc=$?: $(tail -2 "$L/$(echo $t | cut -d' ' -f1).txt" | tr '\n' ' ') $(el)" >>"$S"
done
H=hunyuan-720p
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
B=build-ik bench ik1 cuda:0 $H "$A" ""
bench new1 cuda:0 $H "$A" ""
prof() { # TAG BUILD ENV ARGS: per launch medians of one process
  timeout 100 env VOXATTN_GPU_PROFILE=1 $3 "$2/cli/voxattn" bench --device cuda:0 --preset $H $4 --build-only \
    --warmup 2 --runs 10 -v >"$L/p_$1.txt" 2>&1
  echo "prof $1 [$3] rc=$?: $(grep -oE 'vox_[a-z0-9_]+ grid [0-9]+ x [0-9]+: [0-9.]+' "$L/p_$1.txt" |
    awk '{print $1, $NF}' | sort -k1,1 -k2,2n | awk '{k[NR]=$1; v[NR]=$2} END {i=1; while (i<=NR) {j=i;
      while (j<NR && k[j+1]==k[i]) j++; printf "%s x%d med %s; ", k[i], j-i+1, v[int((i+j)/2)]; i=j+1}}') $(el)" >>"$S"
  xz -9 "$L/p_$1.txt"
}
prof new_topk build-gpu "" "--mode bsa --density 0.1 --keep 1"
prof ik_topk build-ik "" "--mode bsa --density 0.1 --keep 1"
gpu_call_end
