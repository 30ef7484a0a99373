#!/bin/sh
# Session 51, fourth call (library 740a6af, as call c): racecheck of the exact rows kernel's new grouping (the
# NaN-row and cumulative cases: rows listed from several heads), the CUDA graph capture and async tests, and ncu
# of the new vox_kv_select_rows in a hunyuan-720p tau 0.9 build (where its 0.235 ms now go).
. tools/gpu_call.sh
sanitize rc_nan 150 racecheck test_ops --device cuda:0 --op kv_select --case nan_rows
sanitize rc_cum 150 racecheck test_ops --device cuda:0 --op kv_select --case cumulative
check_misc
timeout 150 ncu --clock-control none -k regex:kv_select_rows$ --launch-skip 2 --launch-count 1 \
  --section SpeedOfLight --section SourceCounters --section WarpStateStats --section MemoryWorkloadAnalysis \
  --section Occupancy --section LaunchStats -o "$L/ncu_rows" build-gpu/cli/voxattn bench --device cuda:0 --preset $H \
  --mode bsa --tau 0.9 --keep 1 --build-only --warmup 1 --runs 2 >"$L/ncu_rows.log" 2>&1
ncu -i "$L/ncu_rows.ncu-rep" --page details >"$L/ncu_rows_details.txt" 2>&1
ncu -i "$L/ncu_rows.ncu-rep" --page source --csv --print-source sass >"$L/ncu_rows_sass.csv" 2>&1
rm -f "$L/ncu_rows.ncu-rep"
echo "ncu rows: $(grep -E 'Duration|Issue Slots Busy|L2 Cache Throughput' "$L/ncu_rows_details.txt" | tr -s ' ' | tr '\n' ';') $(el)" >>"$S"
gpu_call_end
