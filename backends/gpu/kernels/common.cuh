/* Helpers every kernel file may use: the dynamic shared memory symbol, the
 * cast of a kernel's buffer address (vox_<op>_bufs field) to a typed
 * pointer, and block-wide reductions. Included once, by kernels.cu. */
#ifndef VOX_GPU_COMMON_CUH
#define VOX_GPU_COMMON_CUH

#include "kernel_args.h" /* core/: vox_<op>_bufs, vox_<op>_args */
#include "vox_gpu_port.h"

/* K(NAME, DT) once per element type: an op's f32, f16 and bf16 kernels from
 * its kernel-defining macro K (kernels vox_<op>_f32, _f16, _bf16). */
#define VOX_EACH_DTYPE(K) K(f32, vox_t_f32) K(f16, vox_t_f16) K(bf16, vox_t_bf16)
/* K(NAME, U) once per copy word of the permutes (kernels _b2, _b4, _b16). */
#define VOX_EACH_COPY_UNIT(K) K(b2, u16) K(b4, unsigned) K(b16, uint4)

/* Dynamic shared memory of every kernel that sizes it at launch. */
extern __shared__ __align__(16) unsigned char vox_dyn_smem[];

/* A buffer field of vox_<op>_bufs (device address, offset applied; 0 when
 * absent) as a typed pointer (NULL when absent). */
template <typename T> __device__ __forceinline__ T *vox_ptr(unsigned long long a)
{
    return (T *)(uintptr_t)a;
}

/* An i32 field of vox_<op>_args widened to the kernel's 64-bit index type
 * without telling the compiler its range: the kernels were tuned with 64-bit
 * V and D parameters, and a known 32-bit range changes their unrolling and
 * register allocation (with a plain cast the scalar attention kernel spills
 * 0.6-3 KB per thread). */
__device__ __forceinline__ i64 vox_i64(int x)
{
#if VOX_GPU_CUDA
    i64 r;
    asm("cvt.s64.s32 %0, %1;" : "=l"(r) : "r"(x));
    return r;
#else
    return (i64)x;
#endif
}

#define VOX_NAN_F64 __longlong_as_double(0x7ff8000000000000ll)

/* Block-wide sum (MAX = false) or max of v; red: VOX_MAX_WARPS doubles of
 * shared memory. Every thread calls it and gets the result. */
#define VOX_MAX_WARPS 32
template <bool MAX> __device__ double block_reduce(double v, double *red)
{
    int lane = threadIdx.x % VOX_WARP_SIZE, w = threadIdx.x / VOX_WARP_SIZE;
    int nw = (blockDim.x + VOX_WARP_SIZE - 1) / VOX_WARP_SIZE;
    v = MAX ? vox_warp_max(v) : vox_warp_sum(v);
    __syncthreads();
    if (lane == 0)
        red[w] = v;
    __syncthreads();
    double r = red[0];
    for (int i = 1; i < nw; i++)
        r = MAX ? (red[i] > r ? red[i] : r) : r + red[i];
    return r;
}

#endif
