#!/bin/sh
# Session 49, call d: compute-sanitizer on main's code (build-gpu = main): memcheck and racecheck of the kv_select
# fast kernels (test_ops, D 128 cases: the wgmma path of sessions 45-46) and of conformance on cuda:0.
. tools/gpu_call.sh
san() {
  _t=$1 _to=$2 _tool=$3
  shift 3
  timeout $_to compute-sanitizer --tool $_tool "$@" >"$L/san_$_t.txt" 2>&1
  echo "san $_t $_tool rc=$?: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|Race reported' "$L/san_$_t.txt" | tail -1) | $(grep -E '^[a-z]+ +[0-9]+ +[0-9]+ +[0-9]+' "$L/san_$_t.txt" | head -1) $(el)" >>"$S"
}
san mc_kv 110 memcheck $B/tests/test_ops --device cuda:0 --op kv_select --case d128
san rc_kv 130 racecheck $B/tests/test_ops --device cuda:0 --op kv_select --case topk_mma_short_tiles
san mc_conf 150 memcheck $B/tests/conformance --device cuda:0
san rc_conf 100 racecheck $B/tests/conformance --device cuda:0 --case bsa_edge
gpu_call_end
