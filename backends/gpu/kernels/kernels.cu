/* The device code of the CUDA and HIP backends: one translation unit, built
 * by nvcc into the CUDA fatbin and by hipcc into one code object per AMD
 * target (backends/cuda/meson.build, backends/hip/meson.build). One file per
 * op; every kernel is `vox_<name>(vox_<op>_bufs b, vox_<op>_args a)`, both
 * structs by value (core/kernel_args.h); the list of kernel names is
 * ../gpu_kernels.h, the host side ../gpu_ops.c. Indices that can exceed 2^31
 * (rows * head_dim) are 64-bit. */
#include "common.cuh"

#include "permute.cuh"
#include "block_means.cuh"
#include "kv_select.cuh"
#include "kv_select_fast.cuh"
#include "sample_rows.cuh"
#include "sample_rows_mma.cuh"
#include "query_select.cuh"
#include "query_select_fast.cuh"
#include "svg_classify.cuh"
#include "attention_forward.cuh"
#include "attention_forward_mma.cuh"
#include "attention_backward.cuh"
#include "attention_backward_mma.cuh"
#include "attention_merge.cuh"
#include "mask_transpose.cuh"

/* Every kernel the host looks up exists under its listed name. */
#include "../gpu_kernels.h"
#define VOX_DEFINED(name) static_assert(sizeof(&vox_##name) != 0, "kernel vox_" #name " not defined");
VOX_GPU_KERNELS_REQUIRED(VOX_DEFINED)
VOX_GPU_KERNELS_BACKWARD(VOX_DEFINED)
#if VOX_HAVE_MMA_SYNC
VOX_GPU_KERNELS_OPTIONAL(VOX_DEFINED)
VOX_GPU_KERNELS_BACKWARD_MMA(VOX_DEFINED)
#endif
