#!/bin/sh
# session 44, call g: OpenCL's SVG tile pass with its walk ahead (VOXATTN_OPENCL_SRM_PREFETCH=2) on NVIDIA OpenCL
. tools/gpu_call.sh
check ops_walk test_ops opencl:1 "VOXATTN_OPENCL_SRM_PREFETCH=2" --op sample_rows
H=hunyuan-720p
bench w1 opencl:1 $H "--mode svg" "VOXATTN_OPENCL_SRM_PREFETCH=2"
bench p1 opencl:1 $H "--mode svg" ""
bench w2 opencl:1 $H "--mode svg" "VOXATTN_OPENCL_SRM_PREFETCH=2"
check conf_walk conformance opencl:1 "VOXATTN_OPENCL_SRM_PREFETCH=2" --case svg
gpu_call_end
