/* kv_select's fast path (CUMULATIVE and TOPK) on NVIDIA tensor cores
 * (sm_80+, mma.sync.m16n8k16 f16, f32 accumulation): vox_kv_select_fast_mma,
 * phase 1 of vox_kv_select_fast (kv_select_fast.cuh) over tiles of
 * VOX_KM_ROWS = 64 video query rows, so that each key block's mean is read
 * once per 64 rows (the f32 kernel's 8-row tiles read every key 8 times as
 * often), then that kernel's phase 2 (vox_kf_row) unchanged. The launcher
 * takes it when head_dim is a multiple of 16 and <= 128, qbar and kbar are
 * 16-byte aligned and the shared memory fits (gpu_kv_select).
 *
 * CTA: 8 warps, one tile of 64 rows at a time, grid-stride over (bh, tile);
 * each head's rows past its full tiles come last, as tiles of 16 rows where
 * they all fit in the grid's last wave (vox_km_select).
 * Phase 1: warp w holds, as f16 hi/lo pairs in registers, the A fragments of
 * rows 16 (w & 3) .. +15 over every dim; the head's keys stream through
 * shared memory in chunks of VOX_KM_KEYS = 64 (cp.async, double-buffered,
 * keys past NBv zero-filled; the first chunk's copy overlaps the A
 * fragments' loads), and warp w multiplies the chunk's key tiles
 * 8 ((w >> 2) + 2h), h < 4 (8 keys each). The keys come as B fragments
 * already scaled and split (vox_kv_select_fast_kb: vox_kv_select_kb
 * prepares them once per build, where every CTA of the head's tiles and 4
 * warps of each would redo it), or as f32 key rows that each warp scales and
 * splits itself (vox_kv_select_fast_mma, VOXATTN_KV_SELECT_MMA_INLINE): the
 * same arithmetic, the same scores bitwise. The dims of each 16-dim step are mapped to
 * the k slots so that a lane loads 4 consecutive dims (one float4) of its row
 * or key: dim 16s + 4t + {0,1,2,3} -> k slot {2t, 2t+1, 2t+8, 2t+9} for A and
 * B alike (any bijection gives the same dot product). The scores (64 x S f32)
 * go to the CTA's slice of the scratch (vox_ks_slices, a.per_block bytes):
 * 64 rows do not fit in shared memory; phase 1 also keeps each row's
 * largest and smallest score (vox_km_ext). Phase 2: the tile's rows go to
 * the warps as they come free; each warp copies its row from the slice into
 * its shared-memory row buffer (cp.async, the
 * warp's next row prefetched to L2 meanwhile) and runs vox_kf_row there with
 * phase 1's extremes (the union: the key chunks in phase 1, the warps' row
 * buffers in phase 2; then the warps' vox_kf_work).
 *
 * Scaling: each query row is multiplied by 2^eq and each key tile (8 keys)
 * by 2^ek, powers of two that bring its largest magnitude M into [2^13,
 * 2^14) (exact; a row or key tile with M outside [2^-60, 2^60], or a value
 * not finite, sends the tile to the exact path), so that f16 holds every
 * scaled value (< 2^14) and the scores are unscaled exactly on output (but
 * below f32's normal range).
 *
 * The bound (vox_km_bound; u = 2^-24). Each scaled value x is split x = h +
 * l + e, h = f16(x), l = f16(x - h) (x - h exact in f32), |x - h| <= 2^-11
 * |x|, |e| <= 2^-22 |x| (plus, for values below f16's normal range 2^-14,
 * which the tensor core may also flush, an absolute 2^-14); the three
 * products hq hk + hq lk + lq hk (each exact in f32) then differ from q k by
 * at most 3.01 2^-22 |q k| (taken as 16 u |q k|), and their magnitudes add up
 * to at most 1.02 |q k|. The absolute errors, at most 2^-14 (|q_e| + |k_e|)
 * per dim in scaled units, sum to at most 2^-14 sqrt(D) (|q| + |k|) <= 2^-26
 * sqrt(D) A (each scaled vector's norm is >= 2^13), <= 4 u A for D <= 128.
 * Per 16-dim step the three mma go into a fresh accumulator, the small
 * products first; the tensor core's summation (order and rounding
 * unspecified: products exact, aligned and truncated on NVIDIA parts as
 * measured so far) is assumed to err by at most kappa u (|c| + sum |products|)
 * per mma, kappa = 64 (about twice the error of 16 products and c truncated
 * at the largest's f32 ulp), so a step errs by at most 1.04 kappa u (its c's
 * hold only the small products) times its sum of |products|; the D/16 step
 * results are added in f32 (gamma_{D/16}). So
 *   |a_j - dot_j| <= (16 u + 1.04 kappa u 1.02 + gamma_{D/16} 1.1 + 4 u) A
 * (+ the absolute term of kv_select_fast.cuh for results below f32's normal
 * range, taken as 16 D 2^-125 (1 + |q| + |k|)), about 96 u A at D = 128
 * against the f32 kernel's 24 u A: the cumulative certificate's window is
 * about three times as wide (on the bench workload ~3.5% of rows go to the
 * exact path instead of ~1.2%). Only where VOX_HAVE_MMA_SYNC. */
#if VOX_HAVE_MMA_SYNC

#include "mma_sync.cuh"

#define VOX_KM_THREADS 256
#define VOX_KM_KAPPA 64.0
#define VOX_KM_P1_SERIAL 0 /* phase 1's key-tile loop (vox_km_scores_kb): one tile at a time (the default) */
/* (1: session 13's two key tiles at a time, measured slower and removed in session 30) */
#define VOX_KM_P1_WG 2     /* session 14: at D 128 on sm_90a, each warpgroup's 32 keys of a chunk by wgmma (vox_km_scores_wg) */
#define VOX_KM_P1_WGS 3    /* session 16: VOX_KM_P1_WG with the A fragments in shared memory (VOX_KM_AM_SMEM) */
#define VOX_KM_P1_WGS2 4   /* session 16: the same, two wgmma steps in flight (VOX_KM_AM_SMEM2) */
#define VOX_KM_AM_REG 0    /* vox_km_scores_wg's A fragments: registers (VOX_KM_P1_WG) */
#define VOX_KM_AM_SMEM 1   /* shared memory (VOX_KM_P1_WGS) */
#define VOX_KM_AM_SMEM2 2  /* shared memory, next step's wgmma in flight (VOX_KM_P1_WGS2) */
#define VOX_KM_P1_SS 5     /* session 45: VOX_KM_P1_WGS2 with A read by wgmma from shared memory, L2 hints (VOX_KM_AM_SS) */
#define VOX_KM_AM_SS 3     /* A as wgmma's shared-memory operand (the keys' layout), steps as VOX_KM_AM_SMEM2; the keys'
                            * copies L2 evict_last, the score stores evict_first */
/* Session 50, timing only (VOXATTN_KV_SELECT_WGS_P1; backends/cuda/NOTES.md, session 49's three-pass study):
 * VOX_KM_P1_SS's sweep over the keys (vox_km_sweep, through vox_km_scores_np) computing every score and the
 * rows' extremes but storing none (NS); that with the keys staged once (chunk 0), not per chunk: what a sweep
 * costs without its 32 KB a chunk from L2 (NK); with three wgmma steps in flight (ND); with each product's
 * descriptors one add from bases built once per sweep (NU, vox_km_step_lo) */
#define VOX_KM_P1_NS 6
#define VOX_KM_P1_NK 7
#define VOX_KM_P1_ND 8
#define VOX_KM_P1_NU 9

/* Session 14 (branch kvsel8): phase 1 by sm_90a wgmma. Only in the sm_90a
 * code (VOX_HAVE_WGMMA); elsewhere the WG kernels are the mma.sync ones
 * (their prepared keys too), so a module without sm_90a code stays correct.
 * The prepared keys of a chunk (64 keys) are then laid out as wgmma's B
 * operand wants them (vox_km_wg_off): hi parts then lo parts, 16 KB each,
 * each as two 64-dim halves of 64 key rows of 128 bytes (f16), 128-byte
 * swizzled (the 16-byte unit u of row n at u ^ (n & 7)), the sm90 forward's
 * K layout; a key's k slots in each 16-dim step as the mma.sync fragments
 * map them (dim 16s + 4t + {0,1,2,3} -> slots {2t, 2t+1, 2t+8, 2t+9}).
 * Warpgroup w of the CTA multiplies keys 32 w .. 32 w + 31 of each chunk by
 * the tile's 64 rows (A from the same registers as the mma.sync loop: a
 * warp's A fragment of m64nNk16 is that of m16n8k16); per 16-dim step the
 * three products go into a fresh accumulator (scale-d 0), the small ones
 * first, then onto the running sums in f32: the arithmetic of vox_km_step,
 * so the bound (vox_km_bound) is unchanged: it assumes of wgmma's
 * summation what it assumes of mma.sync's. */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define VOX_HAVE_WGMMA 1
#else
#define VOX_HAVE_WGMMA 0
#endif

/* Byte offset in a prepared chunk (wgmma layout) of the 4 bytes holding k
 * slots 2t, 2t + 1 (u = 0) or 2t + 8, 2t + 9 (u = 1) of 16-dim step s of
 * key n (< 64), hi parts (lo: + 16384). */
__device__ __forceinline__ int vox_km_wg_off(int n, int s, int t, int u)
{
    return (s >> 2) * 8192 + n * 128 + ((((s & 3) * 2 + u) ^ (n & 7)) << 4) + 4 * t;
}

#if VOX_HAVE_WGMMA
__device__ __forceinline__ void vox_km_wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void vox_km_wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void vox_km_wg_wait()
{
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/* Shared-memory matrix descriptor, 128-byte swizzle (the sm90 forward's desc_sw128). */
__device__ __forceinline__ unsigned long long vox_km_desc(unsigned addr)
{
    return (unsigned long long)((addr & 0x3FFFF) >> 4) | ((unsigned long long)(16 >> 4) << 16) |
           ((unsigned long long)(1024 >> 4) << 32) | (1ull << 62);
}
/* Pins registers in place between wgmma's issue and wait (the sm90 forward's fence_regs): the
 * compiler may not move their reads or writes across it. */
template <int N> __device__ __forceinline__ void vox_km_wg_pin(float *r)
{
#pragma unroll
    for (int i = 0; i < N; i++)
        asm volatile("" : "+f"(r[i])::"memory");
}
/* d (+)= a b: wgmma m64n32k16 f16 x f16 -> f32, A from registers, B (K-major) from desc;
 * scale_d 0: d = a b. */
__device__ __forceinline__ void vox_km_wgmma(float *d, const unsigned *a, unsigned long long desc, int scale_d)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %21, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, "
                 "{%16,%17,%18,%19}, %20, p, 1, 1, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scale_d));
}
/* The same with A (K-major, the keys' layout) from shared memory too (VOX_KM_AM_SS). */
__device__ __forceinline__ void vox_km_wgmma_ss(float *d, unsigned long long adesc, unsigned long long bdesc,
                                                int scale_d)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, "
                 "%16, %17, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "l"(adesc), "l"(bdesc), "r"(scale_d));
}
/* The same from the descriptors' low words (vox_km_desc's high word is the constant 0x40000040; session 50:
 * the low word of desc(a + o) is that of desc(a) plus o >> 4 for the 16-byte multiples o below 256 KB, so a
 * sweep builds its bases once and adds a constant a product instead of rebuilding both descriptors) */
__device__ __forceinline__ unsigned vox_km_desc_lo(unsigned addr) { return (unsigned)vox_km_desc(addr); }
__device__ __forceinline__ void vox_km_wgmma_lo(float *d, unsigned alo, unsigned blo, int scale_d)
{
    asm volatile("{\n.reg .pred p;\n.reg .b64 da, db;\nsetp.ne.b32 p, %18, 0;\n"
                 "mov.b64 da, {%16, %19};\nmov.b64 db, {%17, %19};\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, "
                 "da, db, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "r"(alo), "r"(blo), "r"(scale_d), "r"(0x40000040u));
}
#endif

__device__ __forceinline__ vox_kf_bound vox_km_bound(double D)
{
    const double n = D / 16, gn = n * 0x1p-24 / (1.0 - n * 0x1p-24);
    return {(20.0 * 0x1p-24 + 1.04 * 1.02 * VOX_KM_KAPPA * 0x1p-24 + 1.1 * gn) * (1.0 + 0x1p-40), 16.0};
}

/* Staged key rows' stride (floats): D + 16, so that the lanes (g, t) of a
 * quarter warp reading float4 (key g, dims 16s + 4t) hit distinct banks for
 * D a multiple of 32. */
__device__ __forceinline__ int vox_km_kstride(int D)
{
    return D + 16;
}

/* Bytes of the union (2 staged key chunks in phase 1: 64 keys of
 * vox_km_kstride floats, or with kb the prepared fragments of 8 key tiles;
 * the 8 warps' row buffers of S floats in phase 2) before the warps'
 * vox_kf_work (gpu_kv_select computes the same). */
__device__ __forceinline__ i64 vox_km_union(int D, i64 S, bool kb)
{
    /* with kb 1 KB more: the wgmma kernels align the staged chunks to 1024 bytes (128-byte swizzle) */
    const i64 k = kb ? 2 * 8 * (i64)(D / 16) * VOX_WARP_SIZE * 16 + 1024 : 2 * VOX_KM_KEYS * (i64)vox_km_kstride(D) * 4;
    const i64 r = 8 * S * 4;
    return ((k > r ? k : r) + 15) / 16 * 16;
}

/* Whether a value of x is not finite or |x| > 2^60 (NaN included): the
 * scaling below takes magnitudes in [2^-60, 2^60]. */
__device__ __forceinline__ int vox_km_big(float4 x)
{
    return !(fabsf(x.x) <= 0x1p60f) | !(fabsf(x.y) <= 0x1p60f) | !(fabsf(x.z) <= 0x1p60f) | !(fabsf(x.w) <= 0x1p60f);
}
__device__ __forceinline__ float vox_km_amax(float4 x)
{
    return fmaxf(fmaxf(fabsf(x.x), fabsf(x.y)), fmaxf(fabsf(x.z), fabsf(x.w)));
}

/* 2^e as a float, e in [-126, 127]. */
__device__ __forceinline__ float vox_km_pow2(int e)
{
    return __uint_as_float((unsigned)(e + 127) << 23);
}

/* The scale exponent e of values whose largest magnitude is M (0, or in
 * [2^-60, 2^60]): M 2^e in [2^13, 2^14), e in [-47, 73]; 0 for M = 0. */
__device__ __forceinline__ int vox_km_exp(float M)
{
    return M > 0.f ? 13 - ((int)((__float_as_uint(M) >> 23) & 255u) - 127) : 0;
}

/* Whether a largest magnitude M is below what the scaling takes (M > 0). */
__device__ __forceinline__ int vox_km_tiny(float M)
{
    return M > 0.f && M < 0x1p-60f;
}

/* x (two scaled floats, |x| < 2^14) as f16x2 hi and lo parts: x = hi + lo +
 * e (top of this file). */
__device__ __forceinline__ float vox_km_h2f(unsigned short h)
{
    float f;
    asm("cvt.f32.f16 %0, %1;\n" : "=f"(f) : "h"(h));
    return f;
}
__device__ __forceinline__ void vox_km_split(float x0, float x1, unsigned *hi, unsigned *lo)
{
    const unsigned h = vox_pack2<false>(x0, x1);
    *hi = h;
    *lo = vox_pack2<false>(x0 - vox_km_h2f((unsigned short)(h & 0xffffu)), x1 - vox_km_h2f((unsigned short)(h >> 16)));
}

/* Copies keys j0 .. j0 + VOX_KM_KEYS - 1 of head bh (zeros past NBv) into
 * ks (VOX_KM_KEYS rows of vox_km_kstride floats). */
__device__ __forceinline__ void vox_km_stage(const float *kbar, i64 bh, int NB, int NBv, int D, int j0, float *ks)
{
    const int per = D / 4, DS = vox_km_kstride(D);
    for (int p = threadIdx.x; p < VOX_KM_KEYS * per; p += VOX_KM_THREADS) {
        const int key = p / per, d4 = p - key * per;
        const bool ok = j0 + key < NBv;
        const float *src = ok ? kbar + ((bh * NB + j0 + key) * D + 4 * d4) : kbar;
        vox_cp_async16(ks + key * DS + 4 * d4, src, ok ? 16 : 0);
    }
    vox_cp_commit();
}

/* The largest of v over the 4 lanes t of a group g (xor 1, 2) or over the
 * warp (xor 1 .. 16). */
template <int LANES> __device__ __forceinline__ float vox_km_lanes_max(float v)
{
#pragma unroll
    for (int o = 1; o < LANES; o <<= 1)
        v = fmaxf(v, VOX_SHFL_XOR(v, o));
    return v;
}

/* Row groups of 16 a tile's phase 1 spreads over the 8 warps (warp % MT;
 * the warps of a group split the key tiles, warp / MT): 4, or with the
 * prepared keys 1 for a tile of at most 16 rows, so that all 8 warps
 * multiply it (vox_km_scores_kb). */
__device__ __forceinline__ int vox_km_groups(bool kb, int nrows)
{
    return kb && nrows <= 16 ? 1 : 4;
}

/* A warp's A fragments (top of this file): rows r0 = 16 mt + g
 * (a0, a2) and r0 + 8 (a1, a3) of the tile, each scaled by its 2^eq, as f16
 * hi/lo pairs over every 16-dim step; *iq0, *iq1: the rows' 2^-eq; ORs into
 * *nonfinite a value not finite or past 2^60, or a row's largest magnitude
 * below 2^-60. CL (the wgmma path, D 128): every load done (rows past nrows
 * read row nrows - 1), then the rows past nrows zeroed by selects: no
 * divergent loads before the wgmma that read these registers. */
template <bool CL = false>
__device__ __forceinline__ void vox_km_load_a(const float *qbar, i64 bh, i64 i0, int nrows, int NB, int D, int mt,
                                              unsigned (*ah)[4], unsigned (*al)[4], float *iq0, float *iq1,
                                              int *nonfinite)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE, g = lane >> 2, t = lane & 3, KS = D / 16;
    const int r0 = 16 * mt + g;
    const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
    const float *q0 = qbar + (bh * NB + i0 + (CL ? min(r0, nrows - 1) : r0)) * D + 4 * t;
    const float *q1 = CL ? qbar + (bh * NB + i0 + min(r0 + 8, nrows - 1)) * D + 4 * t : q0 + 8 * (i64)D;
    float m0 = 0.f, m1 = 0.f;
#pragma unroll
    for (int s = 0; s < 8; s++) {
        float4 x, y;
        if (CL) {
            x = *(const float4 *)(q0 + 16 * s), y = *(const float4 *)(q1 + 16 * s);
            x = r0 < nrows ? x : zero, y = r0 + 8 < nrows ? y : zero;
        } else {
            x = s < KS && r0 < nrows ? *(const float4 *)(q0 + 16 * s) : zero;
            y = s < KS && r0 + 8 < nrows ? *(const float4 *)(q1 + 16 * s) : zero;
        }
        *nonfinite |= vox_km_big(x) | vox_km_big(y);
        m0 = fmaxf(m0, vox_km_amax(x)), m1 = fmaxf(m1, vox_km_amax(y));
    }
    m0 = vox_km_lanes_max<4>(m0), m1 = vox_km_lanes_max<4>(m1);
    *nonfinite |= vox_km_tiny(m0) | vox_km_tiny(m1);
    const int e0 = vox_km_exp(m0), e1 = vox_km_exp(m1);
    const float f0 = vox_km_pow2(e0), f1 = vox_km_pow2(e1);
    *iq0 = vox_km_pow2(-e0), *iq1 = vox_km_pow2(-e1);
#pragma unroll
    for (int s = 0; s < 8; s++) {
        float4 x, y;
        if (CL) {
            x = *(const float4 *)(q0 + 16 * s), y = *(const float4 *)(q1 + 16 * s);
            x = r0 < nrows ? x : zero, y = r0 + 8 < nrows ? y : zero;
        } else {
            x = s < KS && r0 < nrows ? *(const float4 *)(q0 + 16 * s) : zero;
            y = s < KS && r0 + 8 < nrows ? *(const float4 *)(q1 + 16 * s) : zero;
        }
        vox_km_split(x.x * f0, x.y * f0, &ah[s][0], &al[s][0]);
        vox_km_split(y.x * f1, y.y * f1, &ah[s][1], &al[s][1]);
        vox_km_split(x.z * f0, x.w * f0, &ah[s][2], &al[s][2]);
        vox_km_split(y.z * f1, y.w * f1, &ah[s][3], &al[s][3]);
    }
}

/* A key tile's scale exponent ek (its 8 keys, every dim; lane (g, t) reads
 * key g's dims 16 s + 4 t from kp, zeros where !ok: a key past NBv); ORs
 * into *nonfinite a value not finite or past 2^60, or the tile's largest
 * magnitude below 2^-60. */
__device__ __forceinline__ int vox_km_key_exp(const float *kp, int KS, bool ok, int *nonfinite)
{
    float mk = 0.f;
#pragma unroll
    for (int s = 0; s < 8; s++)
        if (s < KS) {
            const float4 x = ok ? *(const float4 *)(kp + 16 * s) : make_float4(0.f, 0.f, 0.f, 0.f);
            *nonfinite |= vox_km_big(x);
            mk = fmaxf(mk, vox_km_amax(x));
        }
    mk = vox_km_lanes_max<VOX_WARP_SIZE>(mk);
    *nonfinite |= vox_km_tiny(mk);
    return vox_km_exp(mk);
}

/* A lane's 4 dims x of a key, scaled by fk, as B fragments {hi b0, hi b1,
 * lo b0, lo b1}. */
__device__ __forceinline__ uint4 vox_km_key_frag(float4 x, float fk)
{
    uint4 f;
    vox_km_split(x.x * fk, x.y * fk, &f.x, &f.z);
    vox_km_split(x.z * fk, x.w * fk, &f.y, &f.w);
    return f;
}

/* One 16-dim step of a key tile: the three products into a fresh
 * accumulator, the small ones first, then onto the running sums. */
__device__ __forceinline__ void vox_km_step(float *run, int s, const unsigned *ah, const unsigned *al, uint4 f)
{
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    vox_mma16816<false>(acc, al, f.x, f.y);
    vox_mma16816<false>(acc, ah, f.z, f.w);
    vox_mma16816<false>(acc, ah, f.x, f.y);
#pragma unroll
    for (int e = 0; e < 4; e++)
        run[e] = s ? run[e] + acc[e] : acc[e];
}

/* A lane's largest and smallest stored score of rows r0 (x0, n0) and r0 + 8
 * (x1, n1), video keys only: phase 2's row extremes (vox_km_ext_put). */
struct vox_km_ext {
    float x0, n0, x1, n1;
};

/* Session 45 (VOX_KM_AM_SS): L2 eviction policies (createpolicy), a 16-byte copy and an 8-byte
 * store under one; H false: the plain forms. */
__device__ __forceinline__ unsigned long long vox_km_policy(bool last)
{
    unsigned long long p;
    if (last)
        asm volatile("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;\n" : "=l"(p));
    else
        asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(p));
    return p;
}
template <bool H> __device__ __forceinline__ void vox_km_st2(float *p, float2 v, unsigned long long pol)
{
    if (H)
        asm volatile("st.global.L2::cache_hint.v2.f32 [%0], {%1, %2}, %3;\n" ::"l"(p), "f"(v.x), "f"(v.y), "l"(pol)
                     : "memory");
    else
        *(float2 *)p = v;
}
template <bool H> __device__ __forceinline__ void vox_km_cp16(void *dst, const void *src, unsigned long long pol)
{
    if (H)
        asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2;\n" ::"r"(vox_smem_addr(dst)),
                     "l"(src), "l"(pol));
    else
        vox_cp_async16(dst, src, 16);
}

/* C of key tile n0 (its first key; keys n0 + 2t, +1), rows r0 and r0 + 8,
 * unscaled (powers of two: exact but for results below the normal range)
 * into the slice; the video keys' values into *e. */
template <bool H = false, bool ST = true> /* ST false: the extremes only (vox_km_scores_np) */
__device__ __forceinline__ void vox_km_store(float *sc, i64 S, int NBv, int nrows, int r0, i64 n0, const float *run,
                                             float iq0, float iq1, float ik, vox_km_ext *e, unsigned long long pol = 0)
{
    const i64 j = n0 + 2 * (threadIdx.x & 3);
    if (j < S) { /* S is a multiple of 4 and j even: j + 1 < S too */
        const float2 v0 = make_float2(run[0] * iq0 * ik, run[1] * iq0 * ik);
        const float2 v1 = make_float2(run[2] * iq1 * ik, run[3] * iq1 * ik);
        if (ST && r0 < nrows)
            vox_km_st2<H>(sc + r0 * S + j, v0, pol);
        if (ST && r0 + 8 < nrows)
            vox_km_st2<H>(sc + (r0 + 8) * S + j, v1, pol);
        if (j < NBv)
            e->x0 = fmaxf(e->x0, v0.x), e->n0 = fminf(e->n0, v0.x), e->x1 = fmaxf(e->x1, v1.x),
            e->n1 = fminf(e->n1, v1.x);
        if (j + 1 < NBv)
            e->x0 = fmaxf(e->x0, v0.y), e->n0 = fminf(e->n0, v0.y), e->x1 = fmaxf(e->x1, v1.y),
            e->n1 = fminf(e->n1, v1.y);
    }
}

/* The warp's extremes of its rows over its key tiles (the 4 lanes t of a
 * row joined) into rext[(warp / MT) 16 MT + row] (MT: vox_km_groups): the
 * 8 / MT warps of a row group each hold some of the key tiles (vox_km_select
 * joins them). */
__device__ __forceinline__ void vox_km_ext_put(vox_km_ext e, float2 *rext, int MT)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE, warp = threadIdx.x / VOX_WARP_SIZE;
    const int r0 = 16 * (warp % MT) + (lane >> 2), at = warp / MT * 16 * MT;
#pragma unroll
    for (int o = 1; o < 4; o <<= 1) {
        e.x0 = fmaxf(e.x0, VOX_SHFL_XOR(e.x0, o)), e.n0 = fminf(e.n0, VOX_SHFL_XOR(e.n0, o));
        e.x1 = fmaxf(e.x1, VOX_SHFL_XOR(e.x1, o)), e.n1 = fminf(e.n1, VOX_SHFL_XOR(e.n1, o));
    }
    if ((lane & 3) == 0) {
        rext[at + r0] = make_float2(e.x0, e.n0);
        rext[at + r0 + 8] = make_float2(e.x1, e.n1);
    }
}

/* Phase 1 of a tile: sc[r*S + j] = a_j of row i0 + r (r < nrows), j < S,
 * each key tile scaled and split here (VOXATTN_KV_SELECT_MMA_INLINE_SPLIT;
 * vox_km_scores_kb takes them from vox_kv_select_kb). ks: 2 chunks of staged
 * keys. Returns the largest f32 sum of squares of the head's video keys
 * (every thread); *bad when a key or a query value of the tile is not finite,
 * or a row's or a key tile's largest magnitude is outside [2^-60, 2^60]
 * (zero rows and keys aside). */
__device__ float vox_km_scores(const float *qbar, const float *kbar, i64 bh, i64 i0, int nrows, int NB, int NBv, int D,
                               float *ks, float *sc, float2 *rext, double *red, int *bad)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE, warp = threadIdx.x / VOX_WARP_SIZE, g = lane >> 2, t = lane & 3;
    const int mt = warp & 3, half = warp >> 2, KS = D / 16, DS = vox_km_kstride(D), r0 = 16 * mt + g;
    const i64 S = vox_ks_stride(NBv);
    int nonfinite = 0;
    vox_km_stage(kbar, bh, NB, NBv, D, 0, ks); /* the first key chunk, while A loads */
    unsigned ah[8][4], al[8][4];
    float iq0, iq1;
    vox_km_load_a(qbar, bh, i0, nrows, NB, D, mt, ah, al, &iq0, &iq1, &nonfinite);
    float nkmax = 0.f;
    vox_km_ext ext = {-INFINITY, INFINITY, -INFINITY, INFINITY};
    const int nch = (NBv + VOX_KM_KEYS - 1) / VOX_KM_KEYS;
    for (int c = 0; c < nch; c++) {
        if (c + 1 < nch) {
            vox_km_stage(kbar, bh, NB, NBv, D, (c + 1) * VOX_KM_KEYS, ks + ((c + 1) & 1) * VOX_KM_KEYS * DS);
            vox_cp_wait<1>();
        } else {
            vox_cp_wait<0>();
        }
        __syncthreads(); /* chunk c staged */
        const float *kc = ks + (c & 1) * VOX_KM_KEYS * DS;
#pragma unroll 1
        for (int h = 0; h < VOX_KM_KEYS / 16; h++) {
            const int n0 = 8 * (half + 2 * h); /* the key tile's first key in the chunk */
            const float *kp = kc + (n0 + g) * DS + 4 * t;
            /* the key tile's scale 2^ek (its 8 keys, every dim) */
            const int ek = vox_km_key_exp(kp, KS, true, &nonfinite);
            const float fk = vox_km_pow2(ek);
            float run[4] = {0.f, 0.f, 0.f, 0.f}, nk = 0.f;
#pragma unroll
            for (int s = 0; s < 8; s++) {
                if (s < KS) {
                    const float4 x = *(const float4 *)(kp + 16 * s);
                    if (mt == 0) { /* the keys' sums of squares: the warps of rows 0 .. 15 (a uniform branch) */
                        nk = fmaf(x.x, x.x, nk), nk = fmaf(x.y, x.y, nk);
                        nk = fmaf(x.z, x.z, nk), nk = fmaf(x.w, x.w, nk);
                    }
                    vox_km_step(run, s, ah[s], al[s], vox_km_key_frag(x, fk));
                }
            }
            /* key g of the tile: its sum of squares from the 4 lanes t */
            if (mt == 0) {
                nk += VOX_SHFL_XOR(nk, 1);
                nk += VOX_SHFL_XOR(nk, 2);
                if (t == 0 && c * VOX_KM_KEYS + n0 + g < NBv) {
                    nonfinite |= !(nk <= 3.4e38f);
                    nkmax = nk > nkmax ? nk : nkmax;
                }
            }
            vox_km_store(sc, S, NBv, nrows, r0, (i64)c * VOX_KM_KEYS + n0, run, iq0, iq1, vox_km_pow2(-ek), &ext);
        }
        __syncthreads(); /* chunk c read before chunk c + 2 overwrites it */
    }
    vox_km_ext_put(ext, rext, 4);
    *bad = __syncthreads_or(nonfinite);
    return (float)block_reduce<true>((double)nkmax, red);
}

/* The prepared keys (vox_kv_select_kb) after the list (vox_ks_slices'
 * address), before the phase's slices: per head, ceil(NBv / 64) chunks of 8
 * key tiles of 8 keys (keys past NBv zero), each tile's B fragments (D / 16
 * steps x 32 lanes, uint4 {hi b0, hi b1, lo b0, lo b1} of its keys scaled by
 * 2^ek), then per key tile a float4 {2^-ek, the largest f32 sum of squares of
 * its video keys, 1 when a value is not finite or a magnitude is out of
 * range (as vox_km_scores flags them), 0}. */
__device__ __forceinline__ i64 vox_km_ktiles(const vox_kv_select_args &a)
{
    return a.BH * ((a.NBv + VOX_KM_KEYS - 1) / VOX_KM_KEYS) * (VOX_KM_KEYS / 8);
}
__device__ __forceinline__ uint4 *vox_km_frags(const vox_kv_select_bufs &b, const vox_kv_select_args &a)
{
    return (uint4 *)vox_ks_slices(b, a);
}
__device__ __forceinline__ float4 *vox_km_meta(const vox_kv_select_bufs &b, const vox_kv_select_args &a)
{
    return (float4 *)(vox_km_frags(b, a) + vox_km_ktiles(a) * (a.D / 16) * VOX_WARP_SIZE);
}
/* Bytes of the prepared keys (gpu_kv_select computes the same). */
__device__ __forceinline__ i64 vox_km_kb_bytes(const vox_kv_select_args &a)
{
    return (vox_km_ktiles(a) * ((a.D / 16) * VOX_WARP_SIZE + 1) * 16 + 255) / 256 * 256;
}

/* The prepared keys: one warp per key tile (lanes as in vox_km_scores: key
 * g, dims 16 s + 4 t), grid-stride; the same scaling, split and sums of
 * squares as vox_km_scores, so that vox_km_scores_kb's scores are bitwise
 * that function's. */
template <bool WG> __device__ __forceinline__ void vox_km_prep(const vox_kv_select_bufs &b, const vox_kv_select_args &a)
{
    const float *kbar = vox_ptr<const float>(b.kbar);
    uint4 *frags = vox_km_frags(b, a);
    float4 *meta = vox_km_meta(b, a);
    const int lane = threadIdx.x % VOX_WARP_SIZE, g = lane >> 2, t = lane & 3, D = (int)a.D, KS = D / 16;
    const int nw = VOX_KM_THREADS / VOX_WARP_SIZE;
    const i64 per = vox_km_ktiles(a) / a.BH, n = vox_km_ktiles(a);
    const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
    for (i64 kt = (i64)blockIdx.x * nw + threadIdx.x / VOX_WARP_SIZE; kt < n; kt += (i64)gridDim.x * nw) {
        const i64 bh = kt / per, key = (kt - bh * per) * 8 + g;
        const bool ok = key < a.NBv;
        const float *kp = kbar + (bh * a.NB + key) * D + 4 * t;
        int nonfinite = 0;
        const int ek = vox_km_key_exp(kp, KS, ok, &nonfinite);
        const float fk = vox_km_pow2(ek);
        float nk = 0.f;
#pragma unroll
        for (int s = 0; s < 8; s++)
            if (s < KS) {
                const float4 x = ok ? *(const float4 *)(kp + 16 * s) : zero;
                nk = fmaf(x.x, x.x, nk), nk = fmaf(x.y, x.y, nk);
                nk = fmaf(x.z, x.z, nk), nk = fmaf(x.w, x.w, nk);
                const uint4 f = vox_km_key_frag(x, fk);
                if (VOX_HAVE_WGMMA && WG && KS == 8) { /* the wgmma layout (vox_km_wg_off) */
                    unsigned char *c = (unsigned char *)(frags + kt / 8 * 8 * KS * VOX_WARP_SIZE);
                    const int n = (int)(kt % 8) * 8 + g;
                    *(unsigned *)(c + vox_km_wg_off(n, s, t, 0)) = f.x;
                    *(unsigned *)(c + vox_km_wg_off(n, s, t, 1)) = f.y;
                    *(unsigned *)(c + 16384 + vox_km_wg_off(n, s, t, 0)) = f.z;
                    *(unsigned *)(c + 16384 + vox_km_wg_off(n, s, t, 1)) = f.w;
                } else {
                    frags[(kt * KS + s) * VOX_WARP_SIZE + lane] = f;
                }
            }
        nk += VOX_SHFL_XOR(nk, 1);
        nk += VOX_SHFL_XOR(nk, 2);
        float nkm = 0.f;
        if (t == 0 && ok) {
            nonfinite |= !(nk <= 3.4e38f);
            nkm = nk > 0.f ? nk : 0.f; /* a NaN flags the tile */
        }
        nkm = vox_km_lanes_max<VOX_WARP_SIZE>(nkm);
        nonfinite = __any_sync(0xffffffffu, nonfinite);
        if (lane == 0)
            meta[kt] = make_float4(vox_km_pow2(-ek), nkm, nonfinite ? 1.f : 0.f, 0.f);
    }
}

VOX_KERNEL void __launch_bounds__(VOX_KM_THREADS)
    vox_kv_select_kb(VOX_PARAM vox_kv_select_bufs b, VOX_PARAM vox_kv_select_args a)
{
    vox_km_prep<false>(b, a);
}
/* The keys prepared for vox_kv_select_fast_kb_wg: the wgmma layout at D 128 where VOX_HAVE_WGMMA, else
 * vox_kv_select_kb's */
VOX_KERNEL void __launch_bounds__(VOX_KM_THREADS)
    vox_kv_select_kb_wg(VOX_PARAM vox_kv_select_bufs b, VOX_PARAM vox_kv_select_args a)
{
    vox_km_prep<true>(b, a);
}

/* Copies the prepared chunk c (8 key tiles) of head bh into ks. */
template <bool H = false>
__device__ __forceinline__ void vox_km_stage_kb(const uint4 *frags, i64 bh, i64 nch, int c, int KS, uint4 *ks,
                                                unsigned long long pol = 0)
{
    const int n = 8 * KS * VOX_WARP_SIZE;
    const uint4 *src = frags + (bh * nch + c) * n;
    for (int p = threadIdx.x; p < n; p += VOX_KM_THREADS)
        vox_km_cp16<H>(ks + p, src + p, pol);
    vox_cp_commit();
}

/* Before chunk c of a head's chunk loop (vox_km_scores_kb, vox_km_scores_wg; ks: two staged chunks
 * of 8 KS x 32 uint4s): chunk c + 1 staged into the other one, and chunk c waited for. */
template <bool H = false>
__device__ __forceinline__ void vox_km_stage_next(const uint4 *frags, i64 bh, i64 nch, int c, int KS, uint4 *ks,
                                                  unsigned long long pol = 0)
{
    if (c + 1 < nch) {
        vox_km_stage_kb<H>(frags, bh, nch, c + 1, KS, ks + ((c + 1) & 1) * (8 * KS * VOX_WARP_SIZE), pol);
        vox_cp_wait<1>();
    } else {
        vox_cp_wait<0>();
    }
}

#if VOX_HAVE_WGMMA
/* Phase 1 of vox_km_scores_kb by wgmma (VOX_KM_P1_WG, D 128, the keys prepared by
 * vox_kv_select_kb_wg; top of this file): warp w holds the A fragments of rows 16 (w & 3) ..
 * +15 (vox_km_load_a), warpgroup w >> 2 multiplies keys 32 (w >> 2) .. +31 of each staged
 * chunk by the tile's 64 rows, per step into a fresh accumulator, then onto run in f32; the
 * scores, extremes and flags as the mma.sync loop stores them (rows past nrows: zero A, not
 * stored). ks: the union, the two chunks at its first 1024-byte boundary. */
/* One wgmma step of vox_km_scores_wg: the 16-key step's A fragments (hi, lo words) times the chunk's
 * two kbar halves at shared-memory address hi, as one committed group (lo x hi half, hi x lo half,
 * hi x hi half: the order every AM keeps, so the sums are bitwise the same). */
__device__ __forceinline__ void vox_km_step_issue(float *acc, const unsigned *fl, const unsigned *fh, unsigned hi)
{
    vox_km_wg_pin<16>(acc);
    vox_km_wg_fence();
    vox_km_wgmma(acc, fl, vox_km_desc(hi), 0);
    vox_km_wgmma(acc, fh, vox_km_desc(hi + 16384), 1);
    vox_km_wgmma(acc, fh, vox_km_desc(hi), 1);
    vox_km_wg_commit();
}
/* vox_km_step_issue with A from shared memory at address a (the step's hi parts; lo: + 16384): the
 * same three products in the same order into a fresh accumulator, one committed group (VOX_KM_AM_SS). */
__device__ __forceinline__ void vox_km_step_ss(float *acc, unsigned a, unsigned hi)
{
    vox_km_wg_pin<16>(acc);
    vox_km_wg_fence();
    vox_km_wgmma_ss(acc, vox_km_desc(a + 16384), vox_km_desc(hi), 0);
    vox_km_wgmma_ss(acc, vox_km_desc(a), vox_km_desc(hi + 16384), 1);
    vox_km_wgmma_ss(acc, vox_km_desc(a), vox_km_desc(hi), 1);
    vox_km_wg_commit();
}
/* vox_km_step_ss from the descriptors' low words of A and of the keys at the step's offset (vox_km_wgmma_lo) */
__device__ __forceinline__ void vox_km_step_lo(float *acc, unsigned alo, unsigned klo)
{
    vox_km_wg_pin<16>(acc);
    vox_km_wg_fence();
    vox_km_wgmma_lo(acc, alo + (16384 >> 4), klo, 0);
    vox_km_wgmma_lo(acc, alo, klo + (16384 >> 4), 1);
    vox_km_wgmma_lo(acc, alo, klo, 1);
    vox_km_wg_commit();
}
/* The 4 A words of rows r0, r0 + 8 of step s (vox_km_load_a's fragments) into the keys' layout
 * (vox_km_wg_off with the row for the key: hi parts, then lo at + 16384), A of a wgmma read from
 * shared memory (VOX_KM_AM_SS). */
__device__ __forceinline__ void vox_km_a_put(unsigned char *as, int r0, int s, int t, const unsigned *h,
                                             const unsigned *l)
{
    *(unsigned *)(as + vox_km_wg_off(r0, s, t, 0)) = h[0];
    *(unsigned *)(as + vox_km_wg_off(r0 + 8, s, t, 0)) = h[1];
    *(unsigned *)(as + vox_km_wg_off(r0, s, t, 1)) = h[2];
    *(unsigned *)(as + vox_km_wg_off(r0 + 8, s, t, 1)) = h[3];
    *(unsigned *)(as + 16384 + vox_km_wg_off(r0, s, t, 0)) = l[0];
    *(unsigned *)(as + 16384 + vox_km_wg_off(r0 + 8, s, t, 0)) = l[1];
    *(unsigned *)(as + 16384 + vox_km_wg_off(r0, s, t, 1)) = l[2];
    *(unsigned *)(as + 16384 + vox_km_wg_off(r0 + 8, s, t, 1)) = l[3];
}

/* Step s's A fragments: from registers (VOX_KM_AM_REG) or from the shared-memory copy warpgroup 0
 * wrote (as: [step][row tile][hi, lo][lane] uint4s). */
__device__ __forceinline__ void vox_km_a_regs(const unsigned *h, const unsigned *l, unsigned *fh, unsigned *fl)
{
#pragma unroll
    for (int i = 0; i < 4; i++)
        fh[i] = h[i], fl[i] = l[i];
}
__device__ __forceinline__ void vox_km_a_smem(const uint4 *as, int s, int mt, int lane, unsigned *fh, unsigned *fl)
{
    const uint4 h4 = as[((s * 4 + mt) * 2 + 0) * VOX_WARP_SIZE + lane];
    const uint4 l4 = as[((s * 4 + mt) * 2 + 1) * VOX_WARP_SIZE + lane];
    fh[0] = h4.x, fh[1] = h4.y, fh[2] = h4.z, fh[3] = h4.w;
    fl[0] = l4.x, fl[1] = l4.y, fl[2] = l4.z, fl[3] = l4.w;
}

/* A tile's start in the wgmma sweeps (vox_km_scores_wg, vox_km_scores_np, vox_kt_select): chunk 0 staged into ks
 * (the aligned base), the head's key-tile flags and largest sum of squares read from meta (*nonfinite, *nkmax:
 * this thread's share), the tile's A fragments loaded (vox_km_load_a: ah, al, its rows' scales iq0, iq1). */
template <bool H>
__device__ __forceinline__ void vox_km_tile_start(const uint4 *frags, const float4 *meta, const float *qbar, i64 bh,
                                                  i64 i0, int nrows, int NB, i64 nch, int mt, uint4 *ks,
                                                  unsigned long long pk, unsigned (&ah)[8][4], unsigned (&al)[8][4],
                                                  float *iq0, float *iq1, int *nonfinite, float *nkmax)
{
    vox_km_stage_kb<H>(frags, bh, nch, 0, 8, ks, pk); /* the first chunk, while A loads */
    int nf = 0;
    float nk = 0.f;
    for (i64 x = threadIdx.x; x < nch * 8; x += VOX_KM_THREADS) {
        const float4 m = meta[x];
        nf |= m.z != 0.f;
        nk = fmaxf(nk, m.y);
    }
    vox_km_load_a<true>(qbar, bh, i0, nrows, NB, 128, mt, ah, al, iq0, iq1, &nf);
    *nonfinite = nf, *nkmax = nk;
}

/* AM (session 16): where the A fragments live during the chunk loop. VOX_KM_AM_REG: in registers
 * (64 per thread: with run and acc the kernel spilled ~200 B at its 128-register cap, and the chunk
 * loop waited on those spill reloads from L2: e16's ncu). VOX_KM_AM_SMEM: warps 0-3 (warpgroup 0)
 * store them once per tile into 32 KB of shared memory after the two staged chunks (the warps'
 * phase-2 work spaces, free in phase 1; the launcher sizes the union for it: vox_km_wgs_bytes),
 * [s][row group][hi, lo][lane] uint4 (conflict-free), and every warp loads step s's 8 words just
 * before its wgmma. VOX_KM_AM_SMEM2: the same, and step s + 1's wgmma issued (into a second
 * accumulator) before step s's result is added: one wgmma in flight while the adds run. The same
 * wgmma instructions on the same values, the same adds in the same order: the scores are bitwise
 * those of VOX_KM_AM_REG. VOX_KM_AM_SS (session 45, the default): warpgroup 0 stores A once per tile
 * in the keys' swizzled layout (vox_km_a_put) and each wgmma reads it from there (vox_km_step_ss: no
 * fragment loads, 16 fewer live registers), the steps as VOX_KM_AM_SMEM2; the prepared keys' copies
 * go with an L2 evict_last policy (every tile of the head stages them again) and the score slices'
 * stores with evict_first (streamed out, read once by phase 2). The same three products per step in
 * the same order, added in the same order: the same bound. H100, hunyuan-720p top-k 10%, one process
 * alternating per build (VOXATTN_KV_SELECT_SS_ABL), per launch: 0.860 ms against _wgs2's 0.896 (A
 * from shared memory alone: 0.872). Tried and not kept (branch kvsel45): a chunk's 24 wgmma as one
 * accumulator chain (one wait per chunk): its phase 1 alone 0.416 ms against 0.423, but the bound
 * ~17x wider (each mma's kappa u |c|) puts ~2.5 blocks a row in the band, whose exact re-scoring
 * made the kernel 1.126 ms. */
template <int AM>
__device__ float vox_km_scores_wg(const vox_kv_select_bufs &b, const vox_kv_select_args &a, i64 bh, i64 i0,
                                  int nrows, uint4 *ks, float *sc, float2 *rext, double *red, int *bad)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE, warp = threadIdx.x / VOX_WARP_SIZE, g = lane >> 2;
    const int mt = warp & 3, wg = warp >> 2, r0 = 16 * mt + g, CH = 8 * 8 * VOX_WARP_SIZE;
    const i64 S = vox_ks_stride(a.NBv), nch = (a.NBv + VOX_KM_KEYS - 1) / VOX_KM_KEYS;
    const uint4 *frags = vox_km_frags(b, a);
    const float4 *meta = vox_km_meta(b, a) + bh * nch * 8;
    const unsigned s0 = vox_smem_addr(ks), sa = (s0 + 1023u) & ~1023u;
    ks = (uint4 *)((unsigned char *)ks + (sa - s0));
    constexpr bool H = AM >= VOX_KM_AM_SS; /* A read by wgmma, L2 hints */
    const unsigned long long pk = H ? vox_km_policy(true) : 0, ps = H ? vox_km_policy(false) : 0;
    int nonfinite;
    float nkmax;
    vox_km_ext ext = {-INFINITY, INFINITY, -INFINITY, INFINITY};
    unsigned ah[8][4], al[8][4];
    float iq0, iq1;
    vox_km_tile_start<H>(frags, meta, vox_ptr<const float>(b.qbar), bh, i0, nrows, (int)a.NB, nch, mt, ks, pk, ah, al,
                         &iq0, &iq1, &nonfinite, &nkmax);
    uint4 *as = ks + 2 * CH; /* AM != VOX_KM_AM_REG: the A fragments (32 KB) after the two chunks */
    const unsigned aa = sa + 2u * CH * 16u; /* their shared-memory address (1024-aligned) */
    if (H && wg == 0) { /* A as wgmma's operand, published by the loop's first barrier */
#pragma unroll
        for (int s = 0; s < 8; s++)
            vox_km_a_put((unsigned char *)as, r0, s, lane & 3, ah[s], al[s]);
    } else if (AM != VOX_KM_AM_REG && wg == 0) { /* published by the loop's first barrier */
#pragma unroll
        for (int s = 0; s < 8; s++) {
            as[((s * 4 + mt) * 2 + 0) * VOX_WARP_SIZE + lane] = make_uint4(ah[s][0], ah[s][1], ah[s][2], ah[s][3]);
            as[((s * 4 + mt) * 2 + 1) * VOX_WARP_SIZE + lane] = make_uint4(al[s][0], al[s][1], al[s][2], al[s][3]);
        }
    }
    for (int c = 0; c < nch; c++) {
        /* the chunk's key-tile scales, lane t of each quad holding tile 4 wg + t's: loaded here, ahead of the
         * steps (whose asm keeps later loads after them), so that the stores below do not wait on L2
         * (session 46: ncu put ~23% of phase 1's stall samples on the scaling that waited for them) */
        const float ikl = meta[c * 8 + 4 * wg + (lane & 3)].x;
        vox_km_stage_next<H>(frags, bh, nch, c, 8, ks, pk);
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); /* the copies, seen by wgmma */
        __syncthreads(); /* chunk c staged */
        const unsigned kc = sa + (unsigned)((c & 1) * CH * 16) + wg * 32 * 128;
        float run[16];
        if (AM != VOX_KM_AM_SMEM2 && !H) { /* one step at a time */
#pragma unroll
            for (int s = 0; s < 8; s++) {
                float acc[16];
                unsigned fh[4], fl[4];
                if (AM == VOX_KM_AM_REG)
                    vox_km_a_regs(ah[s], al[s], fh, fl);
                else
                    vox_km_a_smem(as, s, mt, lane, fh, fl);
                vox_km_step_issue(acc, fl, fh, kc + (s >> 2) * 8192 + (s & 3) * 32);
                vox_km_wg_wait<0>();
                vox_km_wg_pin<16>(acc);
#pragma unroll
                for (int e = 0; e < 16; e++)
                    run[e] = s ? run[e] + acc[e] : acc[e];
            }
        } else { /* VOX_KM_AM_SMEM2, _SS: step s + 1 in flight while step s is added */
            float acc[2][16];
#pragma unroll
            for (int s = 0; s < 9; s++) {
                if (s < 8 && H) { /* the same, A read by wgmma */
                    const unsigned o = (unsigned)((s >> 2) * 8192 + (s & 3) * 32);
                    vox_km_step_ss(acc[s & 1], aa + o, kc + o);
                } else if (s < 8) { /* issue step s into acc[s & 1] (its last reader, step s - 2's add, is done) */
                    unsigned fh[4], fl[4];
                    vox_km_a_smem(as, s, mt, lane, fh, fl);
                    vox_km_step_issue(acc[s & 1], fl, fh, kc + (s >> 2) * 8192 + (s & 3) * 32);
                }
                if (s > 0) { /* step s - 1 done (step s may still run), then onto run */
                    if (s < 8)
                        vox_km_wg_wait<1>();
                    else
                        vox_km_wg_wait<0>();
                    vox_km_wg_pin<16>(acc[(s - 1) & 1]);
#pragma unroll
                    for (int e = 0; e < 16; e++)
                        run[e] = s > 1 ? run[e] + acc[(s - 1) & 1][e] : acc[(s - 1) & 1][e];
                }
            }
        }
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int n = 4 * wg + j; /* the key tile in the chunk */
            vox_km_store<H>(sc, S, (int)a.NBv, nrows, r0, (i64)c * VOX_KM_KEYS + 8 * n, run + 4 * j, iq0, iq1,
                            VOX_SHFL(ikl, j), &ext, ps);
        }
        __syncthreads(); /* chunk c read before chunk c + 2 overwrites it */
    }
    vox_km_ext_put(ext, rext, 4);
    *bad = __syncthreads_or(nonfinite);
    return (float)block_reduce<true>((double)nkmax, red);
}

/* One sweep of a head's keys for a 64-row tile, as vox_km_scores_wg's VOX_KM_AM_SS loop computes it (the same
 * wgmma steps, the same adds in the same order: bitwise its run values): chunk 0 already staged into ks (the
 * aligned base, address sa), A at shared address aa; f(n0, run4, ik, jt) for each of the thread's 4 key tiles of
 * a chunk in turn (n0: the tile's first key, run4: vox_km_store's run, ik: the tile's scale, jt: 0-3, a constant).
 * Every thread calls it. The timing variants (VOX_KM_P1_NK, _ND, _NU): LOAD false, no key staged after chunk 0;
 * DEPTH 3, three steps in flight while one is added (the same steps, the same adds in the same order); LO, the
 * products' descriptors advanced by adds (vox_km_step_lo). */
template <bool LOAD = true, int DEPTH = 2, bool LO = false, class F>
__device__ __forceinline__ void vox_km_sweep(const uint4 *frags, const float4 *meta, i64 bh, i64 nch, uint4 *ks,
                                             unsigned sa, unsigned aa, unsigned long long pk, F &&f)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE, wg = threadIdx.x / VOX_WARP_SIZE >> 2, CH = 8 * 8 * VOX_WARP_SIZE;
    const unsigned alo = vox_km_desc_lo(aa), klo0 = vox_km_desc_lo(sa + wg * 32 * 128);
    for (int c = 0; c < nch; c++) {
        const float ikl = meta[c * 8 + 4 * wg + (lane & 3)].x;
        if (LOAD)
            vox_km_stage_next<true>(frags, bh, nch, c, 8, ks, pk);
        else if (c == 0)
            vox_cp_wait<0>();
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); /* the copies, seen by wgmma */
        __syncthreads(); /* chunk c staged */
        const unsigned kc = sa + (unsigned)((LOAD ? c & 1 : 0) * CH * 16) + wg * 32 * 128;
        float run[16], acc[DEPTH][16];
#pragma unroll
        for (int s = 0; s < 8 + DEPTH - 1; s++) {
            if (s < 8) {
                const unsigned o = (unsigned)((s >> 2) * 8192 + (s & 3) * 32);
                if (LO)
                    vox_km_step_lo(acc[s % DEPTH], alo + (o >> 4),
                                   klo0 + (LOAD ? c & 1 : 0) * (unsigned)(CH * 16 >> 4) + (o >> 4));
                else
                    vox_km_step_ss(acc[s % DEPTH], aa + o, kc + o);
            }
            if (s >= DEPTH - 1) { /* step t done (later ones may still run), then onto run */
                const int t = s - (DEPTH - 1), left = (s < 8 ? s : 7) - t; /* groups that may stay pending */
                if (left >= 2)
                    vox_km_wg_wait<2>();
                else if (left == 1)
                    vox_km_wg_wait<1>();
                else
                    vox_km_wg_wait<0>();
                vox_km_wg_pin<16>(acc[t % DEPTH]);
#pragma unroll
                for (int e = 0; e < 16; e++)
                    run[e] = t > 0 ? run[e] + acc[t % DEPTH][e] : acc[t % DEPTH][e];
            }
        }
#pragma unroll
        for (int j = 0; j < 4; j++)
            f((i64)c * VOX_KM_KEYS + 8 * (4 * wg + j), run + 4 * j, VOX_SHFL(ikl, j), j);
        __syncthreads(); /* chunk c read before chunk c + 2 overwrites it */
    }
}

/* Timing only (VOX_KM_P1_NS, _NK, _ND, _NU; top of this file): vox_km_scores_wg<VOX_KM_AM_SS> without the score
 * stores, its sweep as vox_km_sweep<LOAD, DEPTH, LO>. */
template <bool LOAD, int DEPTH, bool LO>
__device__ float vox_km_scores_np(const vox_kv_select_bufs &b, const vox_kv_select_args &a, i64 bh, i64 i0,
                                  int nrows, uint4 *ks, float *sc, float2 *rext, double *red, int *bad)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE, warp = threadIdx.x / VOX_WARP_SIZE, g = lane >> 2;
    const int mt = warp & 3, wg = warp >> 2, r0 = 16 * mt + g, CH = 8 * 8 * VOX_WARP_SIZE, NBv = (int)a.NBv;
    const i64 S = vox_ks_stride(a.NBv), nch = (a.NBv + VOX_KM_KEYS - 1) / VOX_KM_KEYS;
    const uint4 *frags = vox_km_frags(b, a);
    const float4 *meta = vox_km_meta(b, a) + bh * nch * 8;
    const unsigned s0 = vox_smem_addr(ks), sa = (s0 + 1023u) & ~1023u, aa = sa + 2u * CH * 16u;
    ks = (uint4 *)((unsigned char *)ks + (sa - s0));
    const unsigned long long pk = vox_km_policy(true);
    int nonfinite;
    float nkmax;
    unsigned ah[8][4], al[8][4];
    float iq0, iq1;
    vox_km_tile_start<true>(frags, meta, vox_ptr<const float>(b.qbar), bh, i0, nrows, (int)a.NB, nch, mt, ks, pk, ah,
                            al, &iq0, &iq1, &nonfinite, &nkmax);
    unsigned char *as = (unsigned char *)(ks + 2 * CH);
    if (wg == 0) { /* A as wgmma's operand, published by the sweep's first barrier */
#pragma unroll
        for (int s = 0; s < 8; s++)
            vox_km_a_put(as, r0, s, lane & 3, ah[s], al[s]);
    }
    vox_km_ext ext = {-INFINITY, INFINITY, -INFINITY, INFINITY};
    vox_km_sweep<LOAD, DEPTH, LO>(frags, meta, bh, nch, ks, sa, aa, pk, [&](i64 n0, const float *run, float ik, int) {
        vox_km_store<true, false>(nullptr, S, NBv, nrows, r0, n0, run, iq0, iq1, ik, &ext);
    });
    vox_km_ext_put(ext, rext, 4);
    if (ext.x0 == -0x1.5p-126f) /* never in practice: keeps the extremes (and so every score) alive in the
                                 * timing kernels, whose phase 2 reads nothing of phase 1 */
        sc[threadIdx.x] = ext.n0 + ext.x1 + ext.n1;
    *bad = __syncthreads_or(nonfinite);
    return (float)block_reduce<true>((double)nkmax, red);
}
#endif

/* vox_km_scores with the keys prepared by vox_kv_select_kb: the same scores
 * bitwise, the same flags, the same largest sum of squares; ks: 2 staged
 * chunks of B fragments. */
template <int P1>
__device__ float vox_km_scores_kb(const vox_kv_select_bufs &b, const vox_kv_select_args &a, i64 bh, i64 i0,
                                  int nrows, uint4 *ks, float *sc, float2 *rext, double *red, int *bad)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE, warp = threadIdx.x / VOX_WARP_SIZE, g = lane >> 2;
    const int MT = vox_km_groups(true, nrows), mt = warp % MT, kg = warp / MT, KG = 8 / MT;
    const int D = (int)a.D, KS = D / 16, r0 = 16 * mt + g, CH = 8 * KS * VOX_WARP_SIZE;
    const i64 S = vox_ks_stride(a.NBv), nch = (a.NBv + VOX_KM_KEYS - 1) / VOX_KM_KEYS;
#if VOX_HAVE_WGMMA
    if (P1 >= VOX_KM_P1_NS && KS == 8)
        return vox_km_scores_np<P1 != VOX_KM_P1_NK, P1 == VOX_KM_P1_ND ? 3 : 2, P1 == VOX_KM_P1_NU>(
            b, a, bh, i0, nrows, ks, sc, rext, red, bad);
    if (P1 >= VOX_KM_P1_WG && KS == 8)
        return vox_km_scores_wg<P1 - VOX_KM_P1_WG>(b, a, bh, i0, nrows, ks, sc, rext, red, bad);
#endif
    const uint4 *frags = vox_km_frags(b, a);
    const float4 *meta = vox_km_meta(b, a) + bh * nch * 8;
    vox_km_stage_kb(frags, bh, nch, 0, KS, ks); /* the first chunk, while A loads */
    int nonfinite = 0;
    float nkmax = 0.f;
    vox_km_ext ext = {-INFINITY, INFINITY, -INFINITY, INFINITY};
    for (i64 x = threadIdx.x; x < nch * 8; x += VOX_KM_THREADS) {
        const float4 m = meta[x];
        nonfinite |= m.z != 0.f;
        nkmax = fmaxf(nkmax, m.y);
    }
    unsigned ah[8][4], al[8][4];
    float iq0, iq1;
    vox_km_load_a(vox_ptr<const float>(b.qbar), bh, i0, nrows, (int)a.NB, D, mt, ah, al, &iq0, &iq1, &nonfinite);
    for (int c = 0; c < nch; c++) {
        vox_km_stage_next(frags, bh, nch, c, KS, ks);
        __syncthreads(); /* chunk c staged */
        const uint4 *kc = ks + (c & 1) * CH;
#pragma unroll 1
        for (int h = 0; 16 * mt < nrows && h < MT; h++) { /* rows in the warp's group: its MT key tiles */
            const int n = kg + KG * h; /* the key tile in the chunk */
            const float ik = meta[c * 8 + n].x;
            const uint4 *kp = kc + n * KS * VOX_WARP_SIZE + lane;
            float run[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
            for (int s = 0; s < 8; s++)
                if (s < KS)
                    vox_km_step(run, s, ah[s], al[s], kp[s * VOX_WARP_SIZE]);
            vox_km_store(sc, S, (int)a.NBv, nrows, r0, (i64)c * VOX_KM_KEYS + 8 * n, run, iq0, iq1, ik, &ext);
        }
        __syncthreads(); /* chunk c read before chunk c + 2 overwrites it */
    }
    vox_km_ext_put(ext, rext, MT);
    *bad = __syncthreads_or(nonfinite);
    return (float)block_reduce<true>((double)nkmax, red);
}

/* Asks L2 for a row of S floats of the slice (one 128-byte line per lane
 * and step): the slices of all resident CTAs (~1 MB per multiprocessor)
 * outgrow L2 between a tile's phase 1 and the rows' turns in phase 2. */
__device__ __forceinline__ void vox_km_prefetch_row(const float *row, i64 S)
{
    for (i64 o = 32 * (threadIdx.x % VOX_WARP_SIZE); o < S; o += 32 * VOX_WARP_SIZE)
        asm volatile("prefetch.L2 [%0];\n" ::"l"(row + o));
}

/* The 64-row tiles' order, which vox_km_select's comment below explains: T.F + BH T.per tiles in all; tile t's head,
 * first row and row cap with vox_km_tile. Every CTA derives the same tiling. */
struct vox_km_tiling {
    i64 full, F, per;
    int h;
};
__device__ __forceinline__ vox_km_tiling vox_km_tiles(const vox_kv_select_args &a, int NBv)
{
    vox_km_tiling T;
    T.full = NBv / VOX_KM_ROWS, T.F = a.BH * T.full;
    const int rest = NBv - (int)T.full * VOX_KM_ROWS, split = (rest + 15) / 16;
    T.h = rest > 0 && T.F % gridDim.x + a.BH * split <= gridDim.x ? 16 : VOX_KM_ROWS;
    T.per = rest > 0 ? (rest + T.h - 1) / T.h : T.full == 0; /* short tiles per head (NBv = 0: one empty) */
    return T;
}
__device__ __forceinline__ void vox_km_tile(const vox_km_tiling &T, i64 t, i64 *bh, i64 *i0, int *cap)
{
    *bh = t < T.F ? t / T.full : (t - T.F) / T.per;
    *i0 = t < T.F ? (t - *bh * T.full) * VOX_KM_ROWS : T.full * VOX_KM_ROWS + (t - T.F - *bh * T.per) * T.h;
    *cap = t < T.F ? VOX_KM_ROWS : T.h;
}

/* The kernel (top of this file); KB: phase 1 from the prepared keys
 * (vox_kv_select_fast_kb, after vox_kv_select_kb), else from kbar
 * (vox_kv_select_fast_mma); P1: phase 1's key-tile loop (VOX_KM_P1_SERIAL,
 * or by wgmma: VOX_KM_P1_WG, _WGS, _WGS2). */
template <bool KB, int MODE, int P1 = VOX_KM_P1_SERIAL>
__device__ __forceinline__ void vox_km_select(const vox_kv_select_bufs &b, const vox_kv_select_args &a)
{
    __shared__ double red[VOX_MAX_WARPS];
    __shared__ float2 rext[2 * VOX_KM_ROWS]; /* the rows' extremes from phase 1's warps: vox_km_ext_put */
    __shared__ int rowctr;                   /* phase 2's next row to hand out */
    const float *qbar = vox_ptr<const float>(b.qbar), *kbar = vox_ptr<const float>(b.kbar);
    int *list = vox_ks_list(b, a);
    const int *start = vox_ptr<const int>(b.kv_start);
    int *count = vox_ptr<int>(b.kv_count), *cols = vox_ptr<int>(b.kv_cols);
    const int NB = (int)a.NB, NBv = (int)a.NBv, D = (int)a.D, lane = threadIdx.x % VOX_WARP_SIZE;
    const int warp = threadIdx.x / VOX_WARP_SIZE, nw = VOX_KM_THREADS / VOX_WARP_SIZE;
    const i64 S = vox_ks_stride(NBv);
    float *sc = (float *)(vox_ks_slices(b, a) + (KB ? vox_km_kb_bytes(a) : 0) + (i64)blockIdx.x * a.per_block);
    float *un = (float *)vox_dyn_smem, *rowbuf = un + warp * S;
    vox_kf_work *work = (vox_kf_work *)(vox_dyn_smem + vox_km_union(D, S, KB));
    const vox_kf_bound eb = vox_km_bound((double)D);
    /* The heads' full tiles first, then the rows past them (NBv not a multiple of 64): those make
     * the grid's last, partial wave where there is one. When they all fit in that wave as tiles
     * of 16 rows (beside the full tiles it holds), they go as such, so that the wave is short
     * (hunyuan: 24 x 33 full tiles fill 3 waves of 264 CTA slots, then 72 tiles of 16 rows
     * instead of 24 of 48); else one short tile per head. Every CTA derives the same tiling. */
    const vox_km_tiling T = vox_km_tiles(a, NBv);
    for (i64 t = blockIdx.x; t < T.F + a.BH * T.per; t += gridDim.x) {
        i64 bh, i0;
        int cap;
        vox_km_tile(T, t, &bh, &i0, &cap);
        if (i0 == 0)
            vox_ks_dense_globals(start, count, cols, bh, NB, NBv, VOX_KM_THREADS);
        const int nrows = NBv - i0 < cap ? (int)(NBv - i0) : cap;
        if (threadIdx.x == 0)
            rowctr = nw; /* rows 0 .. nw - 1: the warps' first (phase 1's barriers publish it) */
        if (nrows > 0) {
            int bad = 0;
            float nk2 = 0.f;
            if (MODE != VOX_KF_P2)
                nk2 = KB ? vox_km_scores_kb<P1>(b, a, bh, i0, nrows, (uint4 *)un, sc, rext, red, &bad)
                         : vox_km_scores(qbar, kbar, bh, i0, nrows, NB, NBv, D, un, sc, rext, red, &bad);
            else
                __syncthreads(); /* timing ablation: the slice's stale scores of an earlier launch */
            /* the slice written (block_reduce's barriers), the union free for the row buffers */
            /* the rows go to the warps as they come free (rows differ in cost: the band's exact
             * scores, radix passes), each warp taking its next one while it starts the current */
            int nx = lane == 0 ? atomicAdd(&rowctr, 1) : 0;
            for (int r = warp; MODE != VOX_KF_P1 && r < nrows;) {
                nx = VOX_SHFL(nx, 0);
                const i64 m = bh * NB + i0 + r;
                /* the row into the buffer (cp.async: every load of the lane in flight at once); its
                 * largest and smallest value from phase 1 (vox_kf_row's first sweep otherwise) */
                const float *src = sc + r * S;
                if (nx < nrows) /* the warp's next row toward L2 while this one is selected */
                    vox_km_prefetch_row(sc + nx * S, S);
                for (i64 x = lane; x < S / 4; x += VOX_WARP_SIZE)
                    vox_cp_async16(rowbuf + 4 * x, src + 4 * x, 16);
                vox_cp_commit();
                float2 ext = rext[r];
                for (int k = 1, MT = P1 >= VOX_KM_P1_WG && VOX_HAVE_WGMMA && D == 128 ? 4 : vox_km_groups(KB, nrows);
                     k < 8 / MT; k++)
                    ext = make_float2(fmaxf(ext.x, rext[16 * MT * k + r].x), fminf(ext.y, rext[16 * MT * k + r].y));
                /* the row's query norm and list start, their loads in flight with the copy (session 46:
                 * after the wait they stalled ~4% of the kernel's samples) */
                const double nq2 = vox_kf_nq2(qbar + m * D, D);
                int *crow = cols + start[m];
                vox_cp_wait<0>();
                VOX_SYNCWARP();
                if ((bad || !vox_kf_row<MODE>(rowbuf, qbar + m * D, kbar + bh * NB * D, NB, NBv, (int)(i0 + r), crow,
                                        count + m, a, nk2, nq2, eb, MODE == VOX_KF_P2 ? nullptr : &ext,
                                        work + warp)) &&
                    lane == 0)
                    vox_ks_list_add(list, a, bh, m); /* for vox_kv_select_rows */
                VOX_SYNCWARP(); /* the row buffer read before the next row overwrites it */
                r = nx;
                nx = lane == 0 && r < nrows ? atomicAdd(&rowctr, 1) : 0;
            }
        }
        __syncthreads(); /* before the next tile rewrites the union, the slice and the row counter */
    }
}

/* One kernel per instantiation of vox_km_select: NAME, then the template arguments */
#define VOX_KM_KERNEL(name, ...)                                                                            \
    VOX_KERNEL void __launch_bounds__(VOX_KM_THREADS, 2)                                                   \
        name(VOX_PARAM vox_kv_select_bufs b, VOX_PARAM vox_kv_select_args a)                                \
    {                                                                                                      \
        vox_km_select<__VA_ARGS__>(b, a);                                                                  \
    }

VOX_KM_KERNEL(vox_kv_select_fast_mma, false, VOX_KF_NEW)
VOX_KM_KERNEL(vox_kv_select_fast_kb, true, VOX_KF_NEW)
/* vox_kv_select_fast_kb with the old TOPK phase 2 (VOXATTN_KV_SELECT_FAST_OLD) and with vox_kf_topk's
 * deliberate break (VOXATTN_KV_SELECT_FAST_BREAK, tests only): the launcher's switches */
VOX_KM_KERNEL(vox_kv_select_fast_kb_old, true, VOX_KF_OLD)
/* Timing ablations (VOXATTN_KV_SELECT_FAST_ABL, tests only: wrong lists): phase 1 alone, and phase 2
 * alone on the slice's stale scores (an earlier launch's), its own extremes, nk2 = 0. */
VOX_KM_KERNEL(vox_kv_select_fast_kb_p1, true, VOX_KF_P1)
VOX_KM_KERNEL(vox_kv_select_fast_kb_p2, true, VOX_KF_P2)
VOX_KM_KERNEL(vox_kv_select_fast_kb_brk, true, VOX_KF_BRK)
/* Session 14: phase 1 by wgmma at D 128 on sm_90a (after vox_kv_select_kb_wg; the default there,
 * VOXATTN_KV_SELECT_P1_OLD for vox_kv_select_fast_kb), and its phase 1 alone (timing only) */
VOX_KM_KERNEL(vox_kv_select_fast_kb_wg, true, VOX_KF_NEW, VOX_KM_P1_WG)
VOX_KM_KERNEL(vox_kv_select_fast_kb_wg_p1, true, VOX_KF_P1, VOX_KM_P1_WG)
/* Session 16: the A fragments in shared memory during phase 1 (vox_km_scores_wg's AM; sessions 16-44's default
 * at D 128 on sm_90a: vox_kv_select_fast_kb_wgs2, now VOXATTN_KV_SELECT_WG_LDA; VOXATTN_KV_SELECT_WG_AREG for
 * vox_kv_select_fast_kb_wg, VOXATTN_KV_SELECT_WG_SERIAL for _wgs) */
VOX_KM_KERNEL(vox_kv_select_fast_kb_wgs, true, VOX_KF_NEW, VOX_KM_P1_WGS)
VOX_KM_KERNEL(vox_kv_select_fast_kb_wgs2, true, VOX_KF_NEW, VOX_KM_P1_WGS2)
/* Session 45: A read by wgmma from shared memory, the keys' copies L2 evict_last, the score stores evict_first
 * (the default at D 128 on sm_90a; VOXATTN_KV_SELECT_WG_LDA for _wgs2), and its phase 1 alone (timing only) */
VOX_KM_KERNEL(vox_kv_select_fast_kb_ss, true, VOX_KF_NEW, VOX_KM_P1_SS)
/* Session 53: _ss with CUMULATIVE on vox_kf_topk's bins (VOXATTN_KV_SELECT_CUM_BINS; measured slower, opt-in) */
VOX_KM_KERNEL(vox_kv_select_fast_kb_ss_cb, true, VOX_KF_CB, VOX_KM_P1_SS)
VOX_KM_KERNEL(vox_kv_select_fast_kb_ss_p1, true, VOX_KF_P1, VOX_KM_P1_SS)
/* Session 50, timing only: the sweeps of the three-pass study (VOX_KM_P1_NS, _NK, _ND, _NU) */
VOX_KM_KERNEL(vox_kv_select_fast_kb_ss_p1ns, true, VOX_KF_P1, VOX_KM_P1_NS)
VOX_KM_KERNEL(vox_kv_select_fast_kb_ss_p1nk, true, VOX_KF_P1, VOX_KM_P1_NK)
VOX_KM_KERNEL(vox_kv_select_fast_kb_ss_p1nd, true, VOX_KF_P1, VOX_KM_P1_ND)
VOX_KM_KERNEL(vox_kv_select_fast_kb_ss_p1nu, true, VOX_KF_P1, VOX_KM_P1_NU)

#endif
