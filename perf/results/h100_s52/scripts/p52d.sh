#!/bin/sh
# Session 52, fourth call (library c5ee520, as call c): compute-sanitizer on the two wide CUMULATIVE cases (the
# exact rows kernel's grid taking several groups a CTA, three score passes a row).
. tools/gpu_call.sh
sanitize mc_wide 120 memcheck test_ops --device cuda:0 --op kv_select --case wide
sanitize rc_wide 200 racecheck test_ops --device cuda:0 --op kv_select --case wide
gpu_call_end
