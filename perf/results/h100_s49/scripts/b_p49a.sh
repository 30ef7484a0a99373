#!/bin/sh
# Session 49, call a (H200 wanted): main's builds (build-old = main's code) at hunyuan-720p (two processes) and
# wan-1.3b-480p, then NVIDIA Vulkan and OpenCL builds at hunyuan-720p on the same GPU.
. tools/gpu_call.sh
B=build-old
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
bench hy1 cuda:0 $H "$A" ""
bench wan cuda:0 wan-1.3b-480p "$A" ""
bench hy2 cuda:0 $H "$A" ""
BENCH_TIMEOUT=90 bench vk vulkan:0 $H "$A" ""
BENCH_TIMEOUT=70 bench ocl opencl:1 $H "$A" ""
bench hy3 cuda:0 $H "$A" ""
gpu_call_end
