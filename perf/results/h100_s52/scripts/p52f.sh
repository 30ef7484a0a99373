#!/bin/sh
# Session 52, sixth call (library: main + the exact rows kernel's key ring, uncommitted; build-old = main
# c5ee520's library; 247 s of device time left): the ring checked (test_ops kv_select, conformance, memcheck
# and racecheck of the wide cases) and timed per launch in tau builds, new then old.
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
check conf conformance cuda:0 ""
sanitize mc_wide 60 memcheck test_ops --device cuda:0 --op kv_select --case wide
sanitize rc_wide 60 racecheck test_ops --device cuda:0 --op kv_select --case wide
prof tau_new build-gpu "" "--mode bsa --tau 0.9 --keep 1"
prof tau_old build-old "" "--mode bsa --tau 0.9 --keep 1"
gpu_call_end
