#!/bin/sh
# Session 52, fifth call (library c5ee520): a hunyuan-720p top-k 10% keep 0.5 build per launch (issue 17's
# keep-0.5 line, for the closing note's breakdown).
. tools/gpu_call.sh
prof keep05 build-gpu "" "--mode bsa --density 0.1 --keep 0.5"
gpu_call_end
