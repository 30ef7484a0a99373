#!/bin/sh
# Session 52, second call (library 8227126 + docs): vox_kv_select_rows_w (VOXATTN_KV_SELECT_ROWS_W: the exact rows
# at 256 threads a CTA, 2 CTAs an SM, scores in shared memory) checked (test_ops kv_select, conformance, its
# mutation in build-mut: the score loop skipping every other pass of keys in _rows_w only, which must FAIL;
# memcheck, racecheck of the cumulative and NaN-row cases), the three launch forms per launch in one process
# (VOXATTN_KV_SELECT_ROWS_ABL) in tau builds, builds against the default in alternating processes, ncu of it.
. tools/gpu_call.sh
check ops_w test_ops cuda:0 "VOXATTN_KV_SELECT_ROWS_W=1" --op kv_select
check conf_w conformance cuda:0 "VOXATTN_KV_SELECT_ROWS_W=1"
B=build-mut; check ops_wmut test_ops cuda:0 "VOXATTN_KV_SELECT_ROWS_W=1" --op kv_select; B=build-gpu
prof tau_abl build-gpu "VOXATTN_KV_SELECT_ROWS_ABL=1" "--mode bsa --tau 0.9 --keep 1"
xz -dc "$L/p_tau_abl.txt.xz" | grep -oE 'vox_kv_select_rows[a-z_]* grid [0-9]+ x [0-9]+: [0-9.]+' |
  awk '{k=$1" "$3; n[k]++; if (n[k] <= 16) v[k]=v[k]" "$NF} END {for (k in n) print "  rows", k, n[k], "launches, first 16:" v[k]}' >>"$S"
A="--mode bsa --density 0.1 --tau 0.9 --keep 1,0.5"
bench_env 2 w "$A" "VOXATTN_KV_SELECT_ROWS_W=1"
bench ww cuda:0 wan-1.3b-480p "$A" "VOXATTN_KV_SELECT_ROWS_W=1"
bench wss cuda:0 wan-1.3b-480p "$A" ""
export VOXATTN_KV_SELECT_ROWS_W=1
sanitize mc_w 120 memcheck test_ops --device cuda:0 --op kv_select
sanitize rc_w_cum 150 racecheck test_ops --device cuda:0 --op kv_select --case cumulative
sanitize rc_w_nan 100 racecheck test_ops --device cuda:0 --op kv_select --case nan_rows
NCU_ARGS="--mode bsa --tau 0.9 --keep 1" NCU_K='kv_select_rows_w$' ncu_src rows_w build-gpu "VOXATTN_KV_SELECT_ROWS_W=1" 2
gpu_call_end
