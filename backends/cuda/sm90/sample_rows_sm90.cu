/* sample_rows' sm_90a wgmma kernels (sample_rows_sm90.cuh): their own fatbin (sm_90a code
 * only, backends/cuda/meson.build), loaded by cuda_sm90.c into g->srw and launched by the
 * shared launcher (backends/gpu/kernels/sample_rows.cuh). The shared op file gives the
 * argument structs and the softmax helpers (VOX_SRM_HELPERS_ONLY: none of its kernels). */
#include "common.cuh"

#include "gpu_kernels.h"

#define VOX_GPU_DEVICE
#define VOX_SRM_HELPERS_ONLY
#include "kernels/sample_rows.cuh"

#include "sample_rows_sm90.cuh"
