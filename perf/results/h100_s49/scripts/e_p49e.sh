#!/bin/sh
# Session 49, call e: on an H200 first main's builds (hunyuan-720p, wan-1.3b-480p); then compute-sanitizer on
# main's code (build-gpu = main): memcheck and racecheck of the kv_select fast kernels (test_ops, D 128 cases: the
# wgmma path of sessions 45-46), memcheck of conformance and racecheck of its BSA edge cases on cuda:0.
. tools/gpu_call.sh
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
if nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200; then
  bench hy cuda:0 $H "$A" ""
  bench wan cuda:0 wan-1.3b-480p "$A" ""
fi
san() {
  _t=$1 _to=$2 _tool=$3
  shift 3
  timeout $_to compute-sanitizer --tool $_tool "$@" >"$L/san_$_t.txt" 2>&1
  echo "san $_t $_tool rc=$?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$L/san_$_t.txt" | tail -1) | $(grep -E '^[a-z]+ +[0-9]+ +[0-9]+ +[0-9]+' "$L/san_$_t.txt" | head -1) $(el)" >>"$S"
}
san mc_kv 60 memcheck $B/tests/test_ops --device cuda:0 --op kv_select --case d128
san rc_kv 70 racecheck $B/tests/test_ops --device cuda:0 --op kv_select --case topk_mma_short_tiles
san mc_conf 90 memcheck $B/tests/conformance --device cuda:0
san rc_conf 50 racecheck $B/tests/conformance --device cuda:0 --case bsa_edge_d128
gpu_call_end
