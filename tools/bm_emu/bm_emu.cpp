/* bm_emu: runs block_means' CUDA kernels (backends/gpu/kernels/block_means.cuh: _pipe, _lean, _lean_brk,
 * _ring for f16/bf16) on the host, one std::thread per GPU thread of a CTA (CTAs one after the other,
 * __syncthreads a barrier), cp.async as an immediate copy (zero fill at size 0), and compares the means
 * bitwise with the f64 sequential mean of the rows (the CPU reference's order; NaN where it is NaN) on
 * random f16/bf16 values in the [B,H,N,D] layout through a shuffled slot map: valid rows (ragged counts,
 * empty blocks) or kept rows; a sprinkle of Inf/NaN elements with SPECIALS=1. The Inf/NaN test runs the
 * HIP form of zfma (the PTX packed FMA has no host equivalent): the GPU tests stay the reference.
 * usage: bm_emu KERNEL(pipe|lean|ring; bf16 only: lean_brk|ring_s4|ring_r4|lean_v4|ring_wc|ring_brk) DTYPE(1 f16, 2 bf16) D V KEPT(0|1) [SPECIALS]
 * exit 0 when every mean matches. Build: sh tools/bm_emu/run.sh */
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>
#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(x)
#define VOX_KERNEL extern "C"
#define VOX_GPU_HIP 1 /* zfma's integer form */
#define VOX_BM_THREADS_EMU 128
#define VOX_HAVE_MMA_SYNC 1
struct dim3e { unsigned x, y, z; };
thread_local dim3e threadIdx;
dim3e blockIdx, gridDim;
struct uint4 { unsigned x, y, z, w; };
static inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }
struct float4 { float x, y, z, w; };
static inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
typedef long long i64;
typedef unsigned short u16;
static inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
static inline float __int_as_float(int u) { float f; memcpy(&f, &u, 4); return f; }
static inline double __longlong_as_double(long long u) { double d; memcpy(&d, &u, 8); return d; }
#define VOX_INF __int_as_float(0x7f800000)
#define VOX_NAN_F64 NAN
struct vox_t_f32 { typedef float T; };
struct vox_t_f16 { typedef u16 T; };
struct vox_t_bf16 { typedef u16 T; };
template <typename T> T *vox_ptr(unsigned long long a) { return (T *)(uintptr_t)a; }
static std::barrier<> *g_cta, *g_warp[VOX_BM_THREADS_EMU / 32];
#define __syncthreads() g_cta->arrive_and_wait()
#define VOX_SYNCWARP() g_warp[threadIdx.x / 32]->arrive_and_wait()
alignas(16) static unsigned char vox_dyn_smem[232 * 1024];
/* cp.async as an immediate copy (mma_sync.cuh's names; the stub below stands in for that file) */
static inline void vox_cp_async16(void *dst, const void *src, int bytes)
{
    if (bytes) memcpy(dst, src, 16); else memset(dst, 0, 16);
}
static inline void vox_cp_commit() {}
template <int N> static inline void vox_cp_wait() {}
#include "kernel_args.h"
#define VOX_GPU_DEVICE
#include "block_means.cuh"
/* the deliberate breaks (LEAN 2: no Inf/NaN test), not in the library */
VOX_BLOCK_MEANS_KERNEL(lean_brk_bf16, vox_t_bf16, true, VOX_BM_PIPE_CTAS, false, false, 2, 0)
VOX_BLOCK_MEANS_RING_KERNEL(ring_brk_bf16, vox_t_bf16, 2, 8, 3, 4, 2)

typedef void (*kern)(vox_block_means_bufs, vox_block_means_args);
static void launch(kern k, int grid, vox_block_means_bufs b, vox_block_means_args a)
{
    gridDim = {(unsigned)grid, 1, 1};
    for (int c = 0; c < grid; c++) {
        blockIdx = {(unsigned)c, 0, 0};
        std::barrier<> cta(VOX_BM_THREADS), w0(32), w1(32), w2(32), w3(32);
        g_cta = &cta, g_warp[0] = &w0, g_warp[1] = &w1, g_warp[2] = &w2, g_warp[3] = &w3;
        std::vector<std::thread> th;
        for (int t = 0; t < VOX_BM_THREADS; t++)
            th.emplace_back([=] { threadIdx = {(unsigned)t, 0, 0}; k(b, a); });
        for (auto &t : th) t.join();
    }
}
static float h2f(u16 h, int dt)
{
    if (dt == 2) return __uint_as_float((unsigned)h << 16);
    unsigned s = (h & 0x8000u) << 16, e = (h >> 10) & 31, m = h & 0x3ff;
    if (e == 31) return __uint_as_float(s | 0x7f800000u | (m << 13));
    if (e == 0) { float v = ldexpf((float)m, -24); return s ? -v : v; }
    return __uint_as_float(s | ((e + 112) << 23) | (m << 13));
}
int main(int argc, char **argv)
{
    if (argc < 6) { fprintf(stderr, "usage: bm_emu pipe|lean|lean_brk|ring DTYPE D V KEPT [SPECIALS]\n"); return 2; }
    const char *kn = argv[1];
    const int dt = atoi(argv[2]), D = atoi(argv[3]), V = atoi(argv[4]), kept = atoi(argv[5]);
    const int specials = argc > 6 ? atoi(argv[6]) : 0;
    kern k = nullptr;
#define PICK(name) if (!strcmp(kn, #name)) k = dt == 2 ? vox_block_means_##name##_bf16 : vox_block_means_##name##_f16;
    PICK(pipe) PICK(lean) PICK(ring)
    if (!strcmp(kn, "lean_brk")) k = vox_block_means_lean_brk_bf16;
    if (!strcmp(kn, "ring_s4")) k = vox_block_means_ring_s4_bf16;
    if (!strcmp(kn, "ring_r4")) k = vox_block_means_ring_r4_bf16;
    if (!strcmp(kn, "lean_v4")) k = vox_block_means_lean_v4_bf16;
    if (!strcmp(kn, "ring_wc")) k = vox_block_means_ring_wc_bf16;
    if (!strcmp(kn, "ring_brk")) k = vox_block_means_ring_brk_bf16;
    if (!k) return 2;
    if (dt != 2 && strncmp(kn, "pipe", 4) && strcmp(kn, "lean") && strcmp(kn, "ring")) {
        printf("bm_emu %s: bf16 only, skipped\n", kn);
        return 0;
    }
    const int B = 1, H = 3, NB = 37, BH = B * H, N = NB * V + 5; /* tokens beyond the slots: never read */
    std::mt19937_64 r(1234 + D * 7 + V + kept + specials * 3);
    std::vector<int> slot(NB * V), valid(NB), perm(N);
    for (int i = 0; i < N; i++) perm[i] = i;
    std::shuffle(perm.begin(), perm.end(), r);
    for (int j = 0; j < NB; j++) {
        valid[j] = j == 3 ? 0 : j % 5 == 1 ? 1 + (int)(r() % V) : V;
        for (int s = 0; s < V; s++) slot[j * V + s] = s < valid[j] ? perm[j * V + s] : -1;
    }
    std::vector<int> kc(kept ? BH * NB : 0), kr(kept ? BH * NB * V : 0);
    for (int m = 0; kept && m < BH * NB; m++) {
        int n = 0, j = m % NB;
        for (int s = 0; s < valid[j]; s++) if (r() % 3) kr[m * V + n++] = s;
        kc[m] = n;
    }
    std::vector<u16> x((size_t)BH * N * D);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (auto &h : x) {
        float v = nd(r) * (r() % 4 ? 1.f : 1e-3f);
        unsigned u = __float_as_uint(v);
        if (dt == 2) h = (u16)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
        else { float a = fabsf(v); int e; frexpf(a, &e); /* round to f16 through scaling (normals/subnormals) */
            float q = a < 6.1e-5f ? rintf(a * 16777216.f) / 16777216.f : ldexpf(rintf(ldexpf(a, 11 - e)), e - 11);
            unsigned qb = __float_as_uint(q), ex = (qb >> 23) & 255, mt = (qb >> 13) & 0x3ff;
            u16 hb = q == 0 ? 0 : ex < 113 ? (u16)rintf(q * 16777216.f) : (u16)(((ex - 112) << 10) | mt);
            h = (u16)(hb | (u >> 31 << 15)); }
        if (specials && r() % 613 == 0) {
            const u16 sp[3][2] = {{0x7c00, 0x7f80}, {0xfc00, 0xff80}, {0x7e00, 0x7fc0}};
            h = sp[r() % 3][dt == 2];
        }
    }
    std::vector<float> out((size_t)BH * NB * D, -12345.f);
    vox_block_means_bufs b = {};
    b.x = (uintptr_t)x.data(), b.slot_token = (uintptr_t)slot.data(), b.valid = (uintptr_t)valid.data();
    b.kept_count = kept ? (uintptr_t)kc.data() : 0, b.kept_rows = kept ? (uintptr_t)kr.data() : 0;
    b.out = (uintptr_t)out.data();
    vox_block_means_args a = {};
    a.BH = BH, a.NB = NB, a.V = V, a.D = D, a.heads = H, a.sb = (i64)H * N * D, a.sh = (i64)N * D, a.st = D;
    a.has_kept = kept;
    const int G = VOX_BM_GROUP((D + 7) / 8), per_cta = VOX_BM_THREADS / G;
    const int grid = (BH * NB + per_cta - 1) / per_cta > 7 ? 7 : (BH * NB + per_cta - 1) / per_cta; /* grid-stride */
    launch(k, grid, b, a);
    long bad = 0, nan = 0, inf = 0;
    for (int m = 0; m < BH * NB; m++) {
        const int bh = m / NB, j = m % NB, n = kept ? kc[m] : valid[j];
        for (int e = 0; e < D; e++) {
            double s = 0;
            for (int i = 0; i < n; i++) {
                const int tok = slot[j * V + (kept ? kr[m * V + i] : i)];
                s += (double)h2f(x[((size_t)bh * N + tok) * D + e], dt);
            }
            const float ref = (float)(n ? s / n : 0.0), got = out[(size_t)m * D + e];
            nan += ref != ref, inf += std::isinf(ref);
            if (!(memcmp(&ref, &got, 4) == 0 || (ref != ref && got != got))) {
                if (bad++ < 3) printf("mismatch item %d elem %d: %a ref %a\n", m, e, got, ref);
            }
        }
    }
    printf("bm_emu %s dt %d D %d V %d kept %d specials %d: %ld mismatches (%ld NaN, %ld Inf means)\n", kn, dt, D, V, kept,
           specials, bad, nan, inf);
    return bad != 0;
}
