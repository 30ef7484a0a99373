#!/bin/sh
# Next session's first call where an H200 comes (prepared in session 51 as its fifth call, not run): issue 17's build column at main (740a6af's
# library; later commits are records and tools): hunyuan-720p and wan-1.3b-480p, every mask, two processes.
. tools/gpu_call.sh
A="--mode bsa,svg --density 0.1 --tau 0.9 --keep 1,0.5"
bench hy1 cuda:0 $H "$A" ""
bench hy2 cuda:0 $H "$A" ""
bench wan cuda:0 wan-1.3b-480p "$A" ""
gpu_call_end
