/* qs_emu (tools/qs_emu/qs_emu.cpp): the CUDA device environment on the host. */
/* Host emulation of the CUDA device environment for query_select_warp.cuh: 128 threads (one CTA), lockstep
 * warp primitives through per-warp barriers. */
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <atomic>
#define VOX_GPU_PORT_H 1
#define __device__
#define __global__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(x)
#define VOX_KERNEL extern "C"
#define VOX_WARP_SIZE 32
#define VOX_HAVE_MMA_SYNC 0
struct dim3e { unsigned x, y, z; };
extern thread_local dim3e threadIdx;
extern dim3e blockIdx_g, gridDim_g, blockDim_g;
#define blockIdx blockIdx_g
#define gridDim gridDim_g
#define blockDim blockDim_g
struct uint4 { unsigned x, y, z, w; };
typedef long long i64;
typedef unsigned short u16;
static inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
static inline float __int_as_float(int u) { float f; memcpy(&f, &u, 4); return f; }
static inline int __ffs(unsigned x) { return __builtin_ffs((int)x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __ffsll(long long x) { return __builtin_ffsll(x); }
static inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
static inline double __longlong_as_double(long long u) { double d; memcpy(&d, &u, 8); return d; }
#define VOX_INF __int_as_float(0x7f800000)
#define VOX_NAN_F64 NAN
/* lockstep exchange */
struct warp_x { std::barrier<> *b; uint64_t slot[32]; };
extern warp_x g_warps[4];
template <class T> static T emu_shfl(T v, int src) {
    int lane = threadIdx.x % 32; warp_x &w = g_warps[threadIdx.x / 32];
    uint64_t u = 0; memcpy(&u, &v, sizeof(T)); w.slot[lane] = u; w.b->arrive_and_wait();
    uint64_t r = w.slot[src & 31]; w.b->arrive_and_wait(); T o; memcpy(&o, &r, sizeof(T)); return o; }
template <class T> static T emu_shfl_xor(T v, int m) { return emu_shfl(v, (threadIdx.x % 32) ^ m); }
static unsigned long long emu_ballot(bool p) {
    int lane = threadIdx.x % 32; warp_x &w = g_warps[threadIdx.x / 32];
    w.slot[lane] = p; w.b->arrive_and_wait(); unsigned long long r = 0;
    for (int i = 0; i < 32; i++) r |= (w.slot[i] ? 1ull : 0ull) << i; w.b->arrive_and_wait(); return r; }
#define VOX_SHFL_XOR(v, m) emu_shfl_xor((v), (m))
#define VOX_SHFL(v, l) emu_shfl((v), (l))
#define VOX_SHFL_UP(v, d) emu_shfl((v), (int)(threadIdx.x % 32) - (d) < 0 ? (threadIdx.x % 32) : (threadIdx.x % 32) - (d))
#define VOX_SYNCWARP() g_warps[threadIdx.x / 32].b->arrive_and_wait()
#define VOX_BALLOT(p) emu_ballot(p)
#define VOX_ANY(p) (emu_ballot(p) != 0)
/* vox_gpu_port.h's inclusive prefix sum over the lanes */
template <typename F> F vox_warp_incl(F v)
{
    for (int o = 1; o < VOX_WARP_SIZE; o <<= 1) { const F t = VOX_SHFL_UP(v, o); if ((int)(threadIdx.x % 32) >= o) v += t; }
    return v;
}
#include "half_bits.h"
struct vox_t_f32 { typedef float T; static float ld(const T *p, i64 i) { return p[i]; } };
struct vox_t_f16 { typedef u16 T; static float ld(const T *p, i64 i) { return vox_f16_to_f32(p[i]); } };
struct vox_t_bf16 { typedef u16 T; static float ld(const T *p, i64 i) { return vox_bf16_to_f32(p[i]); } };
#define VOX_EACH_DTYPE(K) K(f32, vox_t_f32) K(f16, vox_t_f16) K(bf16, vox_t_bf16)
template <typename T> T *vox_ptr(unsigned long long a) { return (T *)(uintptr_t)a; }
static inline i64 vox_i64(int x) { return x; }
