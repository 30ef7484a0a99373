/* The device code of the CUDA and HIP backends: one translation unit, built
 * by nvcc into the CUDA fatbin and by hipcc into one code object per AMD
 * target (backends/cuda/meson.build, backends/hip/meson.build). One file per
 * op of the op table, kernels/<op>.cuh (its kernel names, kernels and host
 * launcher: ../gpu_kernels.h), included in table order by the generated
 * gpu_op_files.h; every kernel is `vox_<name>(vox_<op>_bufs b,
 * vox_<op>_args a)`, both structs by value (core/kernel_args.h). Indices that
 * can exceed 2^31 (rows * head_dim) are 64-bit. */
#include "common.cuh"

#include "gpu_kernels.h" /* the op files' kernel names */

/* The op files again, their device sections this time. */
#define VOX_GPU_DEVICE
#include "gpu_op_files.h"

/* Every kernel the host looks up exists under its listed name. */
#define VOX_DEFINED(name) static_assert(sizeof(&vox_##name) != 0, "kernel vox_" #name " not defined");
VOX_GPU_KERNELS_REQUIRED(VOX_DEFINED)
VOX_GPU_KERNELS_OPTIONAL(VOX_DEFINED)
#if VOX_HAVE_MMA_SYNC
VOX_GPU_KERNELS_MMA(VOX_DEFINED)
#endif
