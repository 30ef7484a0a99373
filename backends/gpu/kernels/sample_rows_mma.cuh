/* sample_rows (core/backend.h) for f16/bf16 on NVIDIA tensor cores (sm_80+,
 * mma.sync.m16n8k16, f32 accumulation). Same work split and output as
 * vox_sample_rows_<dtype> (sample_rows.cuh): per (bh, key split, group of 64
 * sampled rows) one CTA streams its split's key blocks once, in tiles of up
 * to 64 keys of one block, for its rows and the three patterns together, and
 * writes per (bh, row, split, pattern) {max, sum, acc[D]} (f32) to a.part;
 * vox_sample_rows_merge merges the splits unchanged.
 *
 * CTA: 8 warps; warp w owns rows 16*(w&3).. +15 of the group and head dims
 * hf*DH .. +DH-1, hf = w>>2, DH = DP/2. K and V tiles are double-buffered in
 * shared memory by cp.async (rows past the block's valid count and dims past
 * D zero-filled: padding is never read). Per tile:
 *  - S = Q K^T: each warp multiplies over its own DH dims, one fresh
 *    accumulator per 16 dims added in f32 (the tensor core's internal
 *    truncation then acts on 16-product partials, not on the running sum),
 *    the two warps of a row group swap partials through shared memory (a
 *    named barrier per pair) and both form own + other: IEEE addition
 *    commutes, so both hold bitwise the same scores, maxima, weights and sums;
 *  - per row, as the f32 kernel: s *= scale, tile max m (NaN wins), weights
 *    w = expf(s - m), sum z in f32;
 *  - T = P V: P split exactly into three 16-bit pieces hi + mid + lo (each
 *    the round-to-nearest of the remainder left by the previous ones), so
 *    |w - (hi+mid+lo)| <= 2^-27 |w| for bf16 (8-bit significands), 2^-33 |w|
 *    for f16; f16 pieces are of w * 2^14 (weights >= 2^-28 stay normal; the
 *    accumulators carry the factor, removed on write). Per 16 keys the three
 *    products go into a fresh accumulator, lo first, added to T in f32: the
 *    tensor core's internal truncation then acts on one 16-key partial, not
 *    on the running T;
 *  - the tile's (m, z, T) merged online into every pattern that allows its
 *    block, exactly as the f32 kernel (NaN, +-inf and all -inf tiles alike).
 * A tile whose V holds an Inf or NaN (any valid key, one __syncthreads_or over
 * the chunks each thread copied) uses P = hi alone: a zero piece times Inf
 * would make NaN where the reference has Inf.
 *
 * Error against the f64 reference, next to the f32 kernel (docs/numerics.md):
 * products of f16/bf16 values are exact in both; the score sums differ only in
 * order and rounding (D/16 16-product partials, each possibly truncated, added
 * in f32, vs 8-FMA chunks added in f32): |s~ - s| <= about (3D/16 + 1) u
 * sum_e |q_e k_e| vs (8 + D/8) u sum_e |q_e k_e| (u = 2^-24); weights: the
 * same expf of the same f32 argument; P V: the split error (2^-27 |w|) is
 * below f32 rounding, and a truncation acts on one 16-key partial where the
 * f32 kernel rounds 64 sequential FMAs. Emulated with every mma result
 * truncated: normalized error of the sums 0.7-1.3x the f32 kernel's at
 * ordinary logits; at logits x100 both 1e-13..4e-12, neither consistently
 * larger (docs/numerics.md). */
#if VOX_HAVE_MMA_SYNC

#include "mma_sync.cuh"

#define VOX_SRM_THREADS 256
#define VOX_SRM_ROWS 64 /* sampled rows per CTA: 4 row groups x 16 */
#define VOX_SRM_KT 64   /* keys per tile */

/* The two 16-bit halves of a packed pair back to f32 (lo = first). */
template <bool BF> __device__ __forceinline__ void vox_unpack2(unsigned d, float &lo, float &hi)
{
    if (BF) {
        lo = __uint_as_float(d << 16), hi = __uint_as_float(d & 0xffff0000u);
    } else {
        unsigned short a = (unsigned short)(d & 0xffffu), b = (unsigned short)(d >> 16);
        asm("cvt.f32.f16 %0, %1;\n" : "=f"(lo) : "h"(a));
        asm("cvt.f32.f16 %0, %1;\n" : "=f"(hi) : "h"(b));
    }
}

/* Exact three-piece split of the pair (x, y): p[0] = hi, p[1] = mid,
 * p[2] = lo, each packed (first element low). */
template <bool BF> __device__ __forceinline__ void vox_split3(float x, float y, unsigned *p)
{
    float a, b;
    p[0] = vox_pack2<BF>(x, y);
    vox_unpack2<BF>(p[0], a, b);
    x -= a, y -= b; /* exact: the remainder of a rounding to nearest */
    p[1] = vox_pack2<BF>(x, y);
    vox_unpack2<BF>(p[1], a, b);
    p[2] = vox_pack2<BF>(x - a, y - b);
}

/* NaN-wins max over the 4 lanes of a quad (the lanes holding one row). */
__device__ __forceinline__ float vox_quad_nmax(float v)
{
    for (int o = 1; o <= 2; o <<= 1) {
        float w = __shfl_xor_sync(0xffffffffu, v, o);
        v = VOX_NMAX(v, w);
    }
    return v;
}

/* Online-softmax merge of a tile (mb, zb, T) into one row's pattern state
 * (M, Z, A): A and T hold the row's 2*NT elements at [n][2h + c]. */
template <int NT>
__device__ __forceinline__ void vox_srm_merge(float &M, float &Z, float (*A)[4], float mb, float zb,
                                              const float (*T)[4], int h)
{
    if (mb > M) {
        float f = VOX_EXPF(M - mb);
        Z = Z * f + zb;
#pragma unroll
        for (int n = 0; n < NT; n++)
            A[n][2 * h] = A[n][2 * h] * f + T[n][2 * h], A[n][2 * h + 1] = A[n][2 * h + 1] * f + T[n][2 * h + 1];
        M = mb;
    } else { /* also a NaN mb: f is NaN and poisons the sums */
        float f = VOX_EXPF(mb - M);
        Z += zb * f;
#pragma unroll
        for (int n = 0; n < NT; n++)
            A[n][2 * h] += T[n][2 * h] * f, A[n][2 * h + 1] += T[n][2 * h + 1] * f;
    }
}

__device__ __forceinline__ void vox_pair_barrier(int id)
{
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(64) : "memory");
}

template <int DP, bool BF>
__device__ __forceinline__ void sample_rows_mma(const u16 *q, const u16 *k, const u16 *v, const int *rows, i64 R,
                                                const int *coord, const int *valid, i64 NB, int V, int D, int fb,
                                                int sb, int sink, float scale, float *part, int nsplit, i64 BH)
{
    constexpr int CH = DP / 8, DH = DP / 2, KS = DH / 16, NT = DH / 8;
    constexpr float WSCALE = BF ? 1.f : 16384.f; /* f16: pieces of w * 2^14 */
    u16 *sQ = (u16 *)vox_dyn_smem;
    u16 *sK = sQ + VOX_SRM_ROWS * DP;                  /* [2][KT][DP] */
    u16 *sV = sK + 2 * VOX_SRM_KT * DP;                /* [2][KT][DP] */
    float4 *sX = (float4 *)(sV + 2 * VOX_SRM_KT * DP); /* [8 warps][8 n-blocks][32 lanes] score partials */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, rg = warp & 3, hf = warp >> 2;
    const int mat = lane >> 3, g = lane >> 2, t4 = lane & 3;
    const i64 S = NB * (i64)V, groups = (R + VOX_SRM_ROWS - 1) / VOX_SRM_ROWS;
    const unsigned vmask = BF ? 0x7f807f80u : 0x7c007c00u; /* exponent all ones: Inf or NaN */
    for (i64 x = blockIdx.x; x < BH * nsplit * groups; x += gridDim.x) {
        const i64 gi = x % groups, tt = x / groups, sp = tt % nsplit, bh = tt / nsplit, r0 = gi * VOX_SRM_ROWS;
        const int jb0 = (int)(NB * sp / nsplit), jb1 = (int)(NB * (sp + 1) / nsplit); /* blocks are int32-indexed */
        const i64 hb = bh * S;
        const bool live = r0 + 16 * rg < R; /* the warp's rows hold a sampled row */
        __syncthreads(); /* the previous unit is done with sQ, sK, sV */
        for (int y = tid; y < VOX_SRM_ROWS * CH; y += VOX_SRM_THREADS) {
            int r = y / CH, ch = y - r * CH;
            bool ok = r0 + r < R && ch * 8 < D;
            vox_cp_async16(sQ + vox_swz<DP>(r, ch), ok ? q + (hb + rows[r0 + r]) * D + ch * 8 : q, ok ? 16 : 0);
        }
        /* key tiles: (jb, c0) over the split's blocks, 64 valid keys at a time */
        auto load_kv = [&](int jb, int c0, int st) {
            const int nk = min(valid[jb] - c0, VOX_SRM_KT);
            const i64 row0 = hb + (i64)jb * V + c0;
            u16 *dk = sK + st * VOX_SRM_KT * DP, *dv = sV + st * VOX_SRM_KT * DP;
            for (int y = tid; y < VOX_SRM_KT * CH; y += VOX_SRM_THREADS) {
                int u = y / CH, ch = y - u * CH;
                bool ok = u < nk && ch * 8 < D;
                i64 gofs = (row0 + u) * D + ch * 8;
                vox_cp_async16(dk + vox_swz<DP>(u, ch), ok ? k + gofs : k, ok ? 16 : 0);
                vox_cp_async16(dv + vox_swz<DP>(u, ch), ok ? v + gofs : v, ok ? 16 : 0);
            }
        };
        /* whether a V chunk this thread copied into stage st holds an Inf or NaN */
        auto v_bad = [&](int st) -> int {
            const u16 *dv = sV + st * VOX_SRM_KT * DP;
            unsigned bad = 0;
            for (int y = tid; y < VOX_SRM_KT * CH; y += VOX_SRM_THREADS) {
                uint4 c = *(const uint4 *)(dv + vox_swz<DP>(y / CH, y % CH));
                bad |= __vcmpeq2(c.x & vmask, vmask) | __vcmpeq2(c.y & vmask, vmask) |
                       __vcmpeq2(c.z & vmask, vmask) | __vcmpeq2(c.w & vmask, vmask);
            }
            return bad != 0;
        };
        auto next_tile = [&](int &jb, int &c0) {
            c0 += VOX_SRM_KT;
            while (jb < jb1 && c0 >= valid[jb])
                jb++, c0 = 0;
        };
        int jb = jb0, c0 = -VOX_SRM_KT;
        next_tile(jb, c0);
        if (jb < jb1)
            load_kv(jb, c0, 0);
        vox_cp_commit();

        /* per thread: rows g and g+8 of the warp's 16 (h = 0, 1) */
        int ib[2];
        float M[3][2], Z[3][2], A[3][NT][4];
        unsigned ninf = 0; /* bit 2p+h: pattern p of row h saw an all -inf tile */
#pragma unroll
        for (int h = 0; h < 2; h++) {
            i64 r = r0 + 16 * rg + g + 8 * h;
            ib[h] = r < R ? rows[r] / V : 0; /* block of the row (slots are int32) */
#pragma unroll
            for (int p = 0; p < 3; p++)
                M[p][h] = -VOX_INF, Z[p][h] = 0.f;
        }
#pragma unroll
        for (int p = 0; p < 3; p++)
#pragma unroll
            for (int n = 0; n < NT; n++)
                A[p][n][0] = A[p][n][1] = A[p][n][2] = A[p][n][3] = 0.f;

        for (int st = 0; jb < jb1; st ^= 1) {
            int njb = jb, nc0 = c0;
            next_tile(njb, nc0);
            const int nk = min(valid[jb] - c0, VOX_SRM_KT);
            vox_cp_wait<0>();
            /* every copy of this tile has landed; the other stage is free */
            const bool bad = __syncthreads_or(v_bad(st)) != 0;
            if (njb < jb1)
                load_kv(njb, nc0, st ^ 1);
            vox_cp_commit();
            if (live) {
                const u16 *cK = sK + st * VOX_SRM_KT * DP, *cV = sV + st * VOX_SRM_KT * DP;
                /* S over this warp's DH dims */
                float s[8][4];
#pragma unroll
                for (int n = 0; n < 8; n++)
                    s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
                for (int kk = 0; kk < KS; kk++) {
                    const int ch = hf * (DH / 8) + 2 * kk;
                    unsigned a[4];
                    vox_ldsm_x4(a, sQ + vox_swz<DP>(16 * rg + (lane & 7) + ((mat & 1) << 3), ch + (mat >> 1)));
#pragma unroll
                    for (int np = 0; np < 4; np++) {
                        unsigned b[4];
                        vox_ldsm_x4(b, cK + vox_swz<DP>(np * 16 + (lane & 7) + ((mat >> 1) << 3), ch + (mat & 1)));
#pragma unroll
                        for (int j = 0; j < 2; j++) {
                            float *sj = s[2 * np + j];
                            if (kk == 0) { /* s is 0: the same as a fresh accumulator */
                                vox_mma16816<BF>(sj, a, b[2 * j], b[2 * j + 1]);
                                continue;
                            }
                            float c[4] = {0.f, 0.f, 0.f, 0.f};
                            vox_mma16816<BF>(c, a, b[2 * j], b[2 * j + 1]);
                            sj[0] += c[0], sj[1] += c[1], sj[2] += c[2], sj[3] += c[3];
                        }
                    }
                }
                /* swap partials with the other half of the row group: own + other */
#pragma unroll
                for (int n = 0; n < 8; n++)
                    sX[(warp * 8 + n) * 32 + lane] = make_float4(s[n][0], s[n][1], s[n][2], s[n][3]);
                vox_pair_barrier(1 + rg);
#pragma unroll
                for (int n = 0; n < 8; n++) {
                    float4 o = sX[((warp ^ 4) * 8 + n) * 32 + lane];
                    s[n][0] += o.x, s[n][1] += o.y, s[n][2] += o.z, s[n][3] += o.w;
                }
                /* per row: the tile's max (NaN wins), weights, sum */
                float mb[2], zb[2];
                bool allninf[2];
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    float m = -VOX_INF;
#pragma unroll
                    for (int n = 0; n < 8; n++)
#pragma unroll
                        for (int c = 0; c < 2; c++) {
                            s[n][2 * h + c] *= scale;
                            if (n * 8 + 2 * t4 + c < nk)
                                m = VOX_NMAX(m, s[n][2 * h + c]);
                        }
                    m = vox_quad_nmax(m);
                    allninf[h] = m == -VOX_INF;
                    float z = 0.f;
#pragma unroll
                    for (int n = 0; n < 8; n++)
#pragma unroll
                        for (int c = 0; c < 2; c++) {
                            float w = n * 8 + 2 * t4 + c < nk && !allninf[h] ? VOX_EXPF(s[n][2 * h + c] - m) : 0.f;
                            z += w;
                            s[n][2 * h + c] = w * WSCALE;
                        }
                    z += __shfl_xor_sync(0xffffffffu, z, 1);
                    z += __shfl_xor_sync(0xffffffffu, z, 2);
                    mb[h] = m, zb[h] = z;
                }
                /* T = P V over the warp's DH dims */
                float T[NT][4];
#pragma unroll
                for (int n = 0; n < NT; n++)
                    T[n][0] = T[n][1] = T[n][2] = T[n][3] = 0.f;
#pragma unroll
                for (int kk = 0; kk < 4; kk++) {
                    unsigned p0[3], p1[3], p2[3], p3[3];
                    vox_split3<BF>(s[2 * kk][0], s[2 * kk][1], p0);
                    vox_split3<BF>(s[2 * kk][2], s[2 * kk][3], p1);
                    vox_split3<BF>(s[2 * kk + 1][0], s[2 * kk + 1][1], p2);
                    vox_split3<BF>(s[2 * kk + 1][2], s[2 * kk + 1][3], p3);
#pragma unroll
                    for (int dp = 0; dp < DH / 16; dp++) {
                        unsigned b[4];
                        vox_ldsm_x4_t(b, cV + vox_swz<DP>(kk * 16 + (lane & 7) + ((mat & 1) << 3),
                                                          hf * (DH / 8) + 2 * dp + (mat >> 1)));
#pragma unroll
                        for (int j = 0; j < 2; j++) {
                            float *tj = T[2 * dp + j];
                            if (bad) { /* hi alone: no 0 * Inf */
                                const unsigned ahi[4] = {p0[0], p1[0], p2[0], p3[0]};
                                vox_mma16816<BF>(tj, ahi, b[2 * j], b[2 * j + 1]);
                                continue;
                            }
                            float c[4] = {0.f, 0.f, 0.f, 0.f};
                            float *acc = kk == 0 ? tj : c; /* T is 0 on the first 16 keys */
#pragma unroll
                            for (int pc = 2; pc >= 0; pc--) { /* lo, mid, hi */
                                const unsigned ap[4] = {p0[pc], p1[pc], p2[pc], p3[pc]};
                                vox_mma16816<BF>(acc, ap, b[2 * j], b[2 * j + 1]);
                            }
                            if (kk)
                                tj[0] += c[0], tj[1] += c[1], tj[2] += c[2], tj[3] += c[3];
                        }
                    }
                }
                /* merge into every pattern that allows the block */
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    const bool al[3] = {true, vox_allows(coord, ib[h], jb, 0, fb, sb, sink) != 0,
                                        vox_allows(coord, ib[h], jb, 1, fb, sb, sink) != 0};
#pragma unroll
                    for (int p = 0; p < 3; p++) {
                        if (!al[p])
                            continue;
                        if (allninf[h])
                            ninf |= 1u << (2 * p + h);
                        else
                            vox_srm_merge<NT>(M[p][h], Z[p][h], A[p], mb[h], zb[h], T, h);
                    }
                }
            }
            jb = njb, c0 = nc0;
        }
        vox_cp_wait<0>();
        if (!live)
            continue;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const i64 r = r0 + 16 * rg + g + 8 * h;
            if (r >= R)
                continue;
#pragma unroll
            for (int p = 0; p < 3; p++) {
                float *o = part + (((bh * R + r) * nsplit + sp) * 3 + p) * (D + 2);
                if (hf == 0 && t4 == 0)
                    o[0] = M[p][h], o[1] = M[p][h] == -VOX_INF && Z[p][h] == 0.f && (ninf >> (2 * p + h) & 1) ? -1.f : Z[p][h];
#pragma unroll
                for (int n = 0; n < NT; n++)
#pragma unroll
                    for (int c = 0; c < 2; c++) {
                        int e = hf * DH + n * 8 + 2 * t4 + c;
                        if (e < D)
                            o[2 + e] = A[p][n][2 * h + c] * (1.f / WSCALE);
                    }
            }
        }
    }
}

#define VOX_SAMPLE_ROWS_MMA_KERNEL(NAME, DP, BF)                                                             \
    VOX_KERNEL void __launch_bounds__(VOX_SRM_THREADS, 1)                                                    \
        vox_sample_rows_mma_##NAME##_d##DP(vox_sample_rows_bufs b, vox_sample_rows_args a)                   \
    {                                                                                                        \
        sample_rows_mma<DP, BF>(vox_ptr<const u16>(b.q), vox_ptr<const u16>(b.k), vox_ptr<const u16>(b.v),  \
                                vox_ptr<const int>(b.rows), a.R, vox_ptr<const int>(b.block_coord),          \
                                vox_ptr<const int>(b.valid), a.NB, a.V, a.D, a.frame_blocks, a.space_blocks, \
                                a.sink, a.scale, vox_ptr<float>((unsigned long long)a.part), a.nsplit, a.BH); \
    }
VOX_SAMPLE_ROWS_MMA_KERNEL(f16, 64, false)
VOX_SAMPLE_ROWS_MMA_KERNEL(f16, 128, false)
VOX_SAMPLE_ROWS_MMA_KERNEL(bf16, 64, true)
VOX_SAMPLE_ROWS_MMA_KERNEL(bf16, 128, true)

#endif
