/* Portability layer for the device code shared by the CUDA and HIP backends
 * (every kernel in this folder). The same kernels compile with nvcc (NVIDIA,
 * warp 32) and hipcc (AMD, wave 64 on CDNA, 32 on RDNA). Everything that
 * differs is behind these macros: the sub-group width, shuffles, math
 * intrinsics and the matrix instructions (VOX_HAVE_MMA_SYNC: NVIDIA
 * mma.sync/ldmatrix/cp.async, sm_80+). Also the element types (vox_t_*). */
#ifndef VOX_GPU_PORT_H
#define VOX_GPU_PORT_H

#if defined(__HIPCC__) || defined(__HIP_PLATFORM_AMD__)
#include <hip/hip_runtime.h>
#define VOX_GPU_HIP 1
#ifdef __AMDGCN_WAVEFRONT_SIZE
#define VOX_WARP_SIZE __AMDGCN_WAVEFRONT_SIZE
#else
#define VOX_WARP_SIZE 64
#endif
#define VOX_SHFL_XOR(v, m) __shfl_xor((v), (m))
#define VOX_SHFL_UP(v, d) __shfl_up((v), (d))
#define VOX_SHFL(v, l) __shfl((v), (l))
#define VOX_SYNCWARP() __builtin_amdgcn_wave_barrier()
#define VOX_BALLOT(p) ((unsigned long long)__ballot(p))
#define VOX_ANY(p) __any(p)
#define VOX_HAVE_MMA_SYNC 0
#else
#define VOX_GPU_CUDA 1
#define VOX_WARP_SIZE 32
#define VOX_SHFL_XOR(v, m) __shfl_xor_sync(0xffffffffu, (v), (m))
#define VOX_SHFL_UP(v, d) __shfl_up_sync(0xffffffffu, (v), (d))
#define VOX_SHFL(v, l) __shfl_sync(0xffffffffu, (v), (l))
#define VOX_SYNCWARP() __syncwarp()
#define VOX_BALLOT(p) ((unsigned long long)__ballot_sync(0xffffffffu, (p)))
#define VOX_ANY(p) __any_sync(0xffffffffu, (p))
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define VOX_HAVE_MMA_SYNC 1
#else
#define VOX_HAVE_MMA_SYNC 0
#endif
#endif

#define VOX_KERNEL extern "C" __global__
/* Optional qualifier of a kernel's by-value parameters (vox_<op>_bufs b,
 * vox_<op>_args a): on NVIDIA (sm_70+) they then stay in the parameter space
 * and are read where used instead of copied up front. Each kernel uses it or
 * not, whichever keeps the code ptxas makes as it was when the kernels took
 * one scalar parameter per field (registers, spills: compare -Xptxas -v). */
#if VOX_GPU_CUDA && (!defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 700)
#define VOX_PARAM const __grid_constant__
#else
#define VOX_PARAM const
#endif
#define VOX_INF __int_as_float(0x7f800000)
/* max that propagates NaN (fmaxf drops it): NaN scores must reach the output */
#define VOX_NMAX(a, b) (((a) != (a) || (b) != (b)) ? __int_as_float(0x7fc00000) : fmaxf((a), (b)))

typedef long long i64;
typedef unsigned short u16;

/* Exact math (no fast-math): the f32 path must stay true fp32. */
#define VOX_EXPF(x) expf(x)
#define VOX_LOGF(x) logf(x)
#define VOX_EXP2F(x) exp2f(x)
#define VOX_LOG2F(x) log2f(x)

/* f16 / bf16 <-> f32, round to nearest even: core/half_bits.h (the host
 * conversions, bit-exact). */
#include "half_bits.h"

/* Storage types: T is the element type, ld/st convert through f32. */
struct vox_t_f32 {
    typedef float T;
    static __device__ __forceinline__ float ld(const T *p, i64 i) { return p[i]; }
    static __device__ __forceinline__ void st(T *p, i64 i, float v) { p[i] = v; }
};
struct vox_t_f16 {
    typedef u16 T;
    static __device__ __forceinline__ float ld(const T *p, i64 i) { return vox_f16_to_f32(p[i]); }
    static __device__ __forceinline__ void st(T *p, i64 i, float v) { p[i] = vox_f32_to_f16(v); }
};
struct vox_t_bf16 {
    typedef u16 T;
    static __device__ __forceinline__ float ld(const T *p, i64 i) { return vox_bf16_to_f32(p[i]); }
    static __device__ __forceinline__ void st(T *p, i64 i, float v) { p[i] = vox_f32_to_bf16(v); }
};

/* Sub-group reductions over the whole warp / wavefront. */
template <typename F> __device__ __forceinline__ F vox_warp_sum(F v)
{
    for (int o = VOX_WARP_SIZE / 2; o > 0; o >>= 1)
        v += VOX_SHFL_XOR(v, o);
    return v;
}
/* The inclusive prefix sum over the lanes up to this one. */
template <typename F> __device__ __forceinline__ F vox_warp_incl(F v)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    for (int o = 1; o < VOX_WARP_SIZE; o <<= 1) {
        const F t = VOX_SHFL_UP(v, o);
        if (lane >= o)
            v += t;
    }
    return v;
}
template <typename F> __device__ __forceinline__ F vox_warp_max(F v)
{
    for (int o = VOX_WARP_SIZE / 2; o > 0; o >>= 1) {
        F w = VOX_SHFL_XOR(v, o);
        v = (v != v) ? v : (w != w || w > v) ? w : v; /* NaN wins */
    }
    return v;
}

#endif
