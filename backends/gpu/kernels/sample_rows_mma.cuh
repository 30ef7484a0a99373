/* sample_rows (core/backend.h) for f16/bf16 on NVIDIA tensor cores (sm_80+,
 * mma.sync.m16n8k16, f32 accumulation). Same work split and output as
 * vox_sample_rows_<dtype> (sample_rows.cuh): per (bh, key split, group of 64
 * sampled rows) one CTA streams its split's key blocks once, in tiles of up
 * to 64 keys of one block, for its rows and the three patterns together, and
 * writes per (bh, row, split, pattern) {max, sum, acc[D]} (f32) to b.work;
 * vox_sample_rows_merge merges the splits unchanged.
 *
 * CTA: 4 row groups of WG warps (WG = 2: 8 warps, vox_sample_rows_mma_*;
 * WG = 4: 16 warps at most 128 registers each, vox_sample_rows_mma16{,l,a,la}_*);
 * warp w owns rows 16*(w/WG).. +15 of the group (its row group) and, with
 * kw = w%WG, keys KW*kw.. +KW-1 (KW = 64/WG) of each tile for the scores and
 * head dims kw*DH .. +DH-1 (DH = DP/WG) for P V. With WG = 2, row groups 2
 * and 3 merge a tile at the start of the next one, so that the two warps of
 * a multiprocessor quarter (w, w+4) overlap one's merge with the other's
 * mma. With WG = 4 the LATE kernels (vox_sample_rows_mma16l*, the default
 * mma16la) do the same: each multiprocessor quarter holds one warp of each
 * row group (warps q, q+4, q+8, q+12), all in the same phase after the
 * tile's barrier, so that without it a quarter's tensor cores idle while its
 * four warps take exponentials and merges together; session 9's mma16 merges
 * at the end of the tile in every row group. ATAB kernels (mma16a*,
 * mma16la): the pattern allowances of the unit's rows for a key block are
 * computed once, by 64 threads when the block's tile is loaded, into a byte
 * per row and stage (sAl), instead of by every warp from the block's
 * coordinates at every tile; the loader's k/v pointers, slot map and row
 * stride are kept in shared memory (fewer registers held across the tile
 * loop). All variants compute the same sums bit for bit (the same operations
 * in the same order; a late merge only happens later). K and V tiles stream through a
 * VOX_SRM_STAGES-deep cp.async ring in shared memory (rows past the block's
 * valid count and dims past D zero-filled: padding is never read). Per tile:
 *  - S = Q K^T over all D for the warp's 16 rows x KW keys, one fresh
 *    accumulator per 16 dims added in f32 (the tensor core's internal
 *    truncation then acts on 16-product partials, not on the running sum);
 *    every score is computed once;
 *  - per row, as the f32 kernel: s *= scale, tile max m (NaN wins; the
 *    warps of a row group share their keys' maxima through shared memory and
 *    each takes their max), weights w = expf(s - m) (masked keys: expf(-inf)
 *    = 0), sum z = the warps' sums added in warp order: every warp of the row
 *    group holds bitwise the same m and z;
 *  - P split exactly into three 16-bit pieces hi + mid + lo (each the
 *    round-to-nearest of the remainder left by the previous ones), so
 *    |w - (hi+mid+lo)| <= 2^-27 |w| for bf16 (8-bit significands), 2^-33 |w|
 *    for f16; f16 pieces are of w * 2^14 (weights >= 2^-28 stay normal; the
 *    accumulators carry the factor, removed on write). Each warp stores its
 *    keys' pieces as mma A fragments in shared memory; after a barrier of the
 *    row group each reads all 64 keys';
 *  - T = P V over the warp's DH dims: per 16 keys the three products go into
 *    a fresh accumulator, lo first (each piece for all the warp's dims before
 *    the next: independent mma in flight), added to T in f32: the tensor
 *    core's internal truncation acts on one 16-key partial, not on T;
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

/* VOX_NMAX (NaN if either is NaN, else the max) in one instruction (sm_80+). */
__device__ __forceinline__ float vox_srm_nmax(float a, float b)
{
    float r;
    asm("max.NaN.f32 %0, %1, %2;\n" : "=f"(r) : "f"(a), "f"(b));
    return r;
}

/* NaN-wins max over the 4 lanes of a quad (the lanes holding one row). */
__device__ __forceinline__ float vox_quad_nmax(float v)
{
    for (int o = 1; o <= 2; o <<= 1)
        v = vox_srm_nmax(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* The warp's keys of a tile, s[n][2h + c] (row g + 8h, key 8n + 2*t4 + c of
 * the warp's NN n-tiles): s *= scale and m[h] = the row's max over them, NaN
 * winning; MASK: only keys with 8n + c < lim count. */
template <bool MASK, int NN>
__device__ __forceinline__ void vox_srm_scale_max(float (*s)[4], float scale, int lim, float *m)
{
#pragma unroll
    for (int h = 0; h < 2; h++) {
        float mx = -VOX_INF;
#pragma unroll
        for (int n = 0; n < NN; n++)
#pragma unroll
            for (int c = 0; c < 2; c++) {
                const float x = s[n][2 * h + c] * scale;
                s[n][2 * h + c] = x;
                mx = vox_srm_nmax(mx, !MASK || 8 * n + c < lim ? x : -VOX_INF);
            }
        m[h] = vox_quad_nmax(mx);
    }
}

/* Then, with the tile's max m[h]: s = w * wscale, w = expf(s - m) (0 for
 * masked keys; a row whose scores are all -inf subtracts +inf instead: -inf,
 * no -inf - -inf), and z[h] = the sum of the warp's w. */
template <bool MASK, int NN>
__device__ __forceinline__ void vox_srm_weights(float (*s)[4], int lim, const float *m, float wscale, float *z)
{
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const float mu = m[h] == -VOX_INF ? VOX_INF : m[h];
        float zz = 0.f;
#pragma unroll
        for (int n = 0; n < NN; n++)
#pragma unroll
            for (int c = 0; c < 2; c++) {
                const float w = VOX_EXPF(!MASK || 8 * n + c < lim ? s[n][2 * h + c] - mu : -VOX_INF);
                zz += w;
                s[n][2 * h + c] = w * wscale;
            }
        zz += __shfl_xor_sync(0xffffffffu, zz, 1);
        z[h] = zz + __shfl_xor_sync(0xffffffffu, zz, 2);
    }
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

/* Barrier `id` of the WG warps of a row group. */
template <int WG> __device__ __forceinline__ void vox_group_barrier(int id)
{
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "n"(32 * WG) : "memory");
}

/* vox_swz<DP>(r, ch) for a row r with r & 7 == x7: x7 is lane & 7 made opaque
 * to the compiler once per tile, so that it recomputes these addresses (a few
 * integer operations) instead of keeping dozens of them in registers across
 * the tile loop. */
template <int DP> __device__ __forceinline__ int vox_srm_swz(int r, int ch, int x7)
{
    return r * DP + ((ch ^ x7) << 3);
}

/* T = P V of one tile over the warp's DH = DP / WG dims (kw: which of the
 * row group's WG slices), T zero on entry. fr: the row group's P fragments [4 k-steps of 16 keys][3 pieces (hi,
 * mid, lo)][32 lanes]. NP = 3: per 16 keys lo, mid, hi into a fresh
 * accumulator (into T itself for the first 16 keys, T being 0), added to T;
 * NP = 1: hi alone (a tile whose V holds an Inf or NaN). Dims go up to 32 at
 * a time (NC independent mma per piece, few live registers). */
template <int NP, int DP, bool BF, int WG>
__device__ __forceinline__ void vox_srm_pv(float (*T)[4], const uint4 *fr, const u16 *cV, int kw, int lane, int x7)
{
    constexpr int DH = DP / WG, NT = DH / 8, NC = NT < 4 ? NT : 4;
    const int mat = lane >> 3;
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        unsigned a[NP][4];
#pragma unroll
        for (int pc = 0; pc < NP; pc++) {
            const uint4 f = fr[(kk * 3 + pc) * 32 + lane];
            a[pc][0] = f.x, a[pc][1] = f.y, a[pc][2] = f.z, a[pc][3] = f.w;
        }
#pragma unroll
        for (int n0 = 0; n0 < NT; n0 += NC) {
            unsigned b[NC][2];
#pragma unroll
            for (int dp = 0; dp < NC / 2; dp++) {
                unsigned r[4];
                vox_ldsm_x4_t(r, cV + vox_srm_swz<DP>(kk * 16 + (lane & 7) + ((mat & 1) << 3),
                                                      kw * NT + n0 + 2 * dp + (mat >> 1), x7));
                b[2 * dp][0] = r[0], b[2 * dp][1] = r[1], b[2 * dp + 1][0] = r[2], b[2 * dp + 1][1] = r[3];
            }
            float c[NC][4];
#pragma unroll
            for (int n = 0; n < NC; n++)
                c[n][0] = c[n][1] = c[n][2] = c[n][3] = 0.f;
#pragma unroll
            for (int pc = NP - 1; pc >= 0; pc--) /* lo, mid, hi */
#pragma unroll
                for (int n = 0; n < NC; n++)
                    vox_mma16816<BF>(kk == 0 ? T[n0 + n] : c[n], a[pc], b[n][0], b[n][1]);
            if (kk)
#pragma unroll
                for (int n = 0; n < NC; n++)
                    T[n0 + n][0] += c[n][0], T[n0 + n][1] += c[n][1], T[n0 + n][2] += c[n][2],
                        T[n0 + n][3] += c[n][3];
        }
    }
}

template <int DP, bool BF, int WG, bool LATE, bool ATAB>
__device__ __forceinline__ void sample_rows_mma(const u16 *q, const u16 *k, const u16 *v, const int *rows, i64 R,
                                                const int *coord, const int *valid, i64 NB, int V, int D, int fb,
                                                int sb, int sink, float scale, float *part, int nsplit, i64 BH,
                                                const vox_sample_rows_args &args)
{
    constexpr int NW = 4 * WG, CH = DP / 8, DH = DP / WG, KS = DP / 16, NT = DH / 8, NS = VOX_SRM_STAGES;
    constexpr int KW = VOX_SRM_KT / WG, NN = KW / 8, KL = KW / 16; /* a warp's keys, n-tiles, k-steps */
    constexpr float WSCALE = BF ? 1.f : 16384.f; /* f16: pieces of w * 2^14 */
    __shared__ int sC[VOX_SRM_ROWS][3]; /* block coordinates of the unit's rows */
    __shared__ unsigned char sAl[NS][VOX_SRM_ROWS]; /* ATAB: per stage, bit p-1: pattern p allows the row */
    __shared__ const u16 *sKV[2];                  /* ATAB: the unit's k and v rows (kv.x, v's) */
    __shared__ const int *sTok;                    /* ATAB: kv.tok */
    __shared__ i64 sSt;                            /* ATAB: kv.st */
    u16 *sQ = (u16 *)vox_dyn_smem;
    u16 *sK = sQ + VOX_SRM_ROWS * DP;                 /* [NS][KT][DP] */
    u16 *sV = sK + NS * VOX_SRM_KT * DP;              /* [NS][KT][DP] */
    uint4 *sP = (uint4 *)(sV + NS * VOX_SRM_KT * DP); /* [4 row groups][4 k-steps][3 pieces][32 lanes] */
    float *sM = (float *)(sP + 4 * 4 * 3 * 32);       /* [NW warps][16 rows]: the warps' maxima */
    float *sZ = sM + NW * 16;                         /* [NW warps][16 rows]: the warps' sums */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, rg = warp / WG, kw = warp % WG;
    const bool late = (WG == 2 || LATE) && rg >= 2; /* merges each tile at the start of the next */
    const int mat = lane >> 3, g = lane >> 2, t4 = lane & 3;
    const i64 groups = (R + VOX_SRM_ROWS - 1) / VOX_SRM_ROWS;
    /* Inf or NaN halves: (h & EXP) + EXP_LSB carries into bit 15 only when the
     * exponent is all ones (no carry crosses into the upper half) */
    const unsigned vexp = BF ? 0x7f807f80u : 0x7c007c00u, vlsb = BF ? 0x00800080u : 0x04000400u;
    constexpr int RPP = 32 * NW / CH;         /* tile rows per pass of the CTA's copies */
    const int cu = tid / CH, cc = tid % CH;   /* this thread's first row and its chunk */
    uint4 *fr = sP + rg * (4 * 3 * 32);       /* the row group's P fragments */
    for (i64 x = blockIdx.x; x < BH * nsplit * groups; x += gridDim.x) {
        const i64 gi = x % groups, tt = x / groups, sp = tt % nsplit, bh = tt / nsplit, r0 = gi * VOX_SRM_ROWS;
        const int jb0 = (int)(NB * sp / nsplit), jb1 = (int)(NB * (sp + 1) / nsplit); /* blocks are int32-indexed */
        const vox_rows_view<u16> qv = vox_rows_of(q, bh, args), kv = vox_rows_of(k, bh, args);
        const u16 *const kh = kv.x, *const vh = vox_rows_of(v, bh, args).x; /* k's and v's rows: kv.slot * st */
        const bool live = r0 + 16 * rg < R; /* the row group holds a sampled row (both warps alike) */
        __syncthreads(); /* the previous unit is done with sQ, sK, sV */
        if (ATAB) { /* the loader's pointers in shared memory, read per tile (not held in registers) */
            if (tid == 0)
                sKV[0] = kh, sKV[1] = vh, sTok = kv.tok, sSt = kv.st;
            __syncthreads();
        }
#pragma unroll
        for (int i = 0; i < VOX_SRM_ROWS / RPP; i++) {
            const int r = cu + i * RPP;
            bool ok = r0 + r < R && cc * 8 < D;
            vox_cp_async16(sQ + vox_swz<DP>(r, cc), ok ? qv.row(rows[r0 + r]) + cc * 8 : q, ok ? 16 : 0);
        }
        /* key tiles: (jb, c0) over the split's blocks, 64 valid keys at a time.
         * tk: the rows (kv.slot: caller tokens, or slots) this thread copies of
         * the next tile to load, -1 past the block's valid keys; fetched a
         * tile ahead of load_kv, so that no copy waits for its token */
        int tk[VOX_SRM_KT / RPP];
        auto fetch_rows = [&](int jb, int c0) {
            const int nv = min(valid[jb] - c0, VOX_SRM_KT) - cu; /* row cu + i*RPP is valid iff i*RPP < nv */
            const i64 s0 = (i64)jb * V + c0 + cu;                /* the slot of row cu */
#pragma unroll
            for (int i = 0; i < VOX_SRM_KT / RPP; i++)
                tk[i] = i * RPP < nv ? (int)(ATAB ? (sTok ? (i64)sTok[s0 + i * RPP] : s0 + i * RPP) : kv.slot(s0 + i * RPP)) : -1;
        };
        auto load_kv = [&](int st) {
            u16 *dk = sK + st * VOX_SRM_KT * DP, *dv = sV + st * VOX_SRM_KT * DP;
#pragma unroll
            for (int i = 0; i < VOX_SRM_KT / RPP; i++) {
                const bool ok = tk[i] >= 0 && cc * 8 < D;
                const i64 go = ok ? tk[i] * (ATAB ? sSt : kv.st) + cc * 8 : 0;
                vox_cp_async16(dk + vox_swz<DP>(cu + i * RPP, cc), (ATAB ? sKV[0] : kh) + go, ok ? 16 : 0);
                vox_cp_async16(dv + vox_swz<DP>(cu + i * RPP, cc), (ATAB ? sKV[1] : vh) + go, ok ? 16 : 0);
            }
        };
        /* whether a V chunk this thread copied into stage st holds an Inf or NaN */
        auto v_bad = [&](int st) -> int {
            const u16 *dv = sV + st * VOX_SRM_KT * DP;
            unsigned bad = 0;
#pragma unroll
            for (int i = 0; i < VOX_SRM_KT / RPP; i++) {
                uint4 c = *(const uint4 *)(dv + vox_swz<DP>(cu + i * RPP, cc));
                bad |= ((c.x & vexp) + vlsb) | ((c.y & vexp) + vlsb) | ((c.z & vexp) + vlsb) | ((c.w & vexp) + vlsb);
            }
            return (bad & 0x80008000u) != 0;
        };
        auto next_tile = [&](int &jb, int &c0) {
            c0 += VOX_SRM_KT;
            while (jb < jb1 && c0 >= valid[jb])
                jb++, c0 = 0;
        };
        /* the block coordinates of the unit's rows (read by others after the
         * first tile's barrier; ATAB: by the same thread in load_note) */
        if (tid < VOX_SRM_ROWS) {
            const int ib = r0 + tid < R ? rows[r0 + tid] / V : 0; /* block of the row (slots are int32) */
            sC[tid][0] = coord[3 * ib], sC[tid][1] = coord[3 * ib + 1], sC[tid][2] = coord[3 * ib + 2];
        }
        /* load_kv(st) of the tile of block jb; ATAB: with which patterns allow
         * the block for each row of the unit, into sAl[st] (read after the
         * barrier of the tile, NS - 1 tiles later; the block's coordinates
         * are loaded before the copies are issued) */
        auto load_note = [&](int st, int jb) {
            int cb[3] = {0, 0, 0};
            if (ATAB && tid < VOX_SRM_ROWS)
                cb[0] = coord[3 * jb], cb[1] = coord[3 * jb + 1], cb[2] = coord[3 * jb + 2];
            load_kv(st);
            if (ATAB && tid < VOX_SRM_ROWS)
                sAl[st][tid] = (unsigned char)((vox_allows_tyx(sC[tid], cb, 0, fb, sb, sink) != 0) |
                                               (vox_allows_tyx(sC[tid], cb, 1, fb, sb, sink) != 0) << 1);
        };
        /* (jb, c0): the tile computed; (ljb, lc0): the next tile to load, NS - 1
         * ahead; the first group also carries Q. One group per tile slot, empty
         * past the split's end, so that wait_group<NS - 2> means "this tile is in" */
        int jb = jb0, c0 = -VOX_SRM_KT;
        next_tile(jb, c0);
        int ljb = jb, lc0 = c0;
#pragma unroll
        for (int st = 0; st < NS - 1; st++) {
            if (ljb < jb1)
                fetch_rows(ljb, lc0), load_note(st, ljb), next_tile(ljb, lc0);
            vox_cp_commit();
        }
        if (ljb < jb1)
            fetch_rows(ljb, lc0);
        /* per thread: rows g and g+8 of the warp's 16 (h = 0, 1) */
        float M[3][2], Z[3][2], A[3][NT][4];
        unsigned ninf = 0; /* bit 2p+h: pattern p of row h saw an all -inf tile */
#pragma unroll
        for (int h = 0; h < 2; h++)
#pragma unroll
            for (int p = 0; p < 3; p++)
                M[p][h] = -VOX_INF, Z[p][h] = 0.f;
#pragma unroll
        for (int p = 0; p < 3; p++)
#pragma unroll
            for (int n = 0; n < NT; n++)
                A[p][n][0] = A[p][n][1] = A[p][n][2] = A[p][n][3] = 0.f;

        /* merge a tile (m, z, T) of key block with coordinates cj into every
         * pattern that allows it */
        float T[NT][4], m[2], z[2];
        int cj[3]; /* !ATAB: the tile's block coordinates */
        unsigned alw = 0; /* ATAB: the tile's sAl bits of rows g (bits 0-1) and g + 8 (bits 2-3) */
        bool pending = false; /* late warps: a tile waits in (m, z, T, cj) */
        auto merge_tile = [&]() {
#pragma unroll
            for (int h = 0; h < 2; h++) {
                bool al[3];
                if (ATAB) {
                    al[0] = true, al[1] = (alw >> (2 * h) & 1) != 0, al[2] = (alw >> (2 * h + 1) & 1) != 0;
                } else {
                    const int *ci = sC[16 * rg + g + 8 * h];
                    al[0] = true, al[1] = vox_allows_tyx(ci, cj, 0, fb, sb, sink) != 0,
                    al[2] = vox_allows_tyx(ci, cj, 1, fb, sb, sink) != 0;
                }
#pragma unroll
                for (int p = 0; p < 3; p++) {
                    if (!al[p])
                        continue;
                    if (m[h] == -VOX_INF)
                        ninf |= 1u << (2 * p + h);
                    else
                        vox_srm_merge<NT>(M[p][h], Z[p][h], A[p], m[h], z[h], T, h);
                }
            }
        };
        for (int st = 0; jb < jb1; st = st + 1 == NS ? 0 : st + 1) {
            const int nk = min(valid[jb] - c0, VOX_SRM_KT);
            vox_cp_wait<NS - 2>();
            /* every copy of this tile has landed; the stage loaded next is free */
            const bool bad = __syncthreads_or(v_bad(st)) != 0;
            if (ljb < jb1) {
                load_note(st == 0 ? NS - 1 : st - 1, ljb), next_tile(ljb, lc0);
                if (ljb < jb1)
                    fetch_rows(ljb, lc0); /* used at the next tile */
            }
            vox_cp_commit();
            if (live) {
                if (pending)
                    merge_tile();
                if (ATAB)
                    alw = sAl[st][16 * rg + g] | (unsigned)sAl[st][16 * rg + g + 8] << 2;
                else
                    cj[0] = coord[3 * jb], cj[1] = coord[3 * jb + 1], cj[2] = coord[3 * jb + 2];
                const u16 *cK = sK + st * VOX_SRM_KT * DP, *cV = sV + st * VOX_SRM_KT * DP;
                int x7 = lane & 7; /* vox_srm_swz */
                asm volatile("" : "+r"(x7));
                /* S for the warp's 16 rows x KW keys over all dims */
                float s[NN][4];
#pragma unroll
                for (int n = 0; n < NN; n++)
                    s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
                for (int kk = 0; kk < KS; kk++) {
                    unsigned a[4];
                    vox_ldsm_x4(a, sQ + vox_srm_swz<DP>(16 * rg + (lane & 7) + ((mat & 1) << 3), 2 * kk + (mat >> 1), x7));
#pragma unroll
                    for (int np = 0; np < KL; np++) {
                        unsigned b[4];
                        vox_ldsm_x4(b, cK + vox_srm_swz<DP>(KW * kw + 16 * np + (lane & 7) + ((mat >> 1) << 3),
                                                            2 * kk + (mat & 1), x7));
#pragma unroll
                        for (int j = 0; j < 2; j++) {
                            float *sj = s[2 * np + j];
                            float c[4] = {0.f, 0.f, 0.f, 0.f};
                            vox_mma16816<BF>(kk == 0 ? sj : c, a, b[2 * j], b[2 * j + 1]); /* s is 0 at kk 0 */
                            if (kk)
                                sj[0] += c[0], sj[1] += c[1], sj[2] += c[2], sj[3] += c[3];
                        }
                    }
                }
                /* per row: the warp's max (NaN wins), shared with the row group's
                 * other warps; keys 8n + 2*t4 + c of the warp's count where 8n + c < lim */
                const int lim = nk - KW * kw - 2 * t4;
                const bool full = nk >= KW * kw + KW; /* all the warp's keys are valid (warp-uniform) */
                if (full)
                    vox_srm_scale_max<false, NN>(s, scale, lim, m);
                else
                    vox_srm_scale_max<true, NN>(s, scale, lim, m);
                if (t4 == 0)
                    sM[warp * 16 + g] = m[0], sM[warp * 16 + g + 8] = m[1];
                vox_group_barrier<WG>(1 + rg);
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    m[h] = sM[WG * rg * 16 + g + 8 * h];
#pragma unroll
                    for (int w = 1; w < WG; w++)
                        m[h] = vox_srm_nmax(m[h], sM[(WG * rg + w) * 16 + g + 8 * h]);
                }
                /* weights, the warp's sum */
                if (full)
                    vox_srm_weights<false, NN>(s, lim, m, WSCALE, z);
                else
                    vox_srm_weights<true, NN>(s, lim, m, WSCALE, z);
                /* the warp's P pieces as A fragments of k-steps KL*kw .. KL*kw + KL-1 */
#pragma unroll
                for (int kl = 0; kl < KL; kl++) {
                    unsigned p[4][3];
                    vox_split3<BF>(s[2 * kl][0], s[2 * kl][1], p[0]);
                    vox_split3<BF>(s[2 * kl][2], s[2 * kl][3], p[1]);
                    vox_split3<BF>(s[2 * kl + 1][0], s[2 * kl + 1][1], p[2]);
                    vox_split3<BF>(s[2 * kl + 1][2], s[2 * kl + 1][3], p[3]);
#pragma unroll
                    for (int pc = 0; pc < 3; pc++)
                        fr[((KL * kw + kl) * 3 + pc) * 32 + lane] = make_uint4(p[0][pc], p[1][pc], p[2][pc], p[3][pc]);
                }
                if (t4 == 0)
                    sZ[warp * 16 + g] = z[0], sZ[warp * 16 + g + 8] = z[1];
                vox_group_barrier<WG>(1 + rg);
#pragma unroll
                for (int h = 0; h < 2; h++) { /* the warps' sums in warp order */
                    z[h] = sZ[WG * rg * 16 + g + 8 * h];
#pragma unroll
                    for (int w = 1; w < WG; w++)
                        z[h] += sZ[(WG * rg + w) * 16 + g + 8 * h];
                }
                /* T = P V over the warp's DH dims, all 64 keys */
#pragma unroll
                for (int n = 0; n < NT; n++)
                    T[n][0] = T[n][1] = T[n][2] = T[n][3] = 0.f;
                if (bad)
                    vox_srm_pv<1, DP, BF, WG>(T, fr, cV, kw, lane, x7);
                else
                    vox_srm_pv<3, DP, BF, WG>(T, fr, cV, kw, lane, x7);
                if (late)
                    pending = true;
                else
                    merge_tile();
            }
            next_tile(jb, c0);
        }
        vox_cp_wait<0>();
        if (!live)
            continue;
        if (pending)
            merge_tile();
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const i64 r = r0 + 16 * rg + g + 8 * h;
            if (r >= R)
                continue;
#pragma unroll
            for (int p = 0; p < 3; p++) {
                float *o = part + (((bh * R + r) * nsplit + sp) * 3 + p) * (D + 2);
                if (kw == 0 && t4 == 0)
                    o[0] = M[p][h], o[1] = M[p][h] == -VOX_INF && Z[p][h] == 0.f && (ninf >> (2 * p + h) & 1) ? -1.f : Z[p][h];
#pragma unroll
                for (int n = 0; n < NT; n++)
#pragma unroll
                    for (int c = 0; c < 2; c++) {
                        int e = kw * DH + n * 8 + 2 * t4 + c;
                        if (e < D)
                            o[2 + e] = A[p][n][2 * h + c] * (1.f / WSCALE);
                    }
            }
        }
    }
}

#ifndef VOX_SRM_HELPERS_ONLY /* backends/cuda/sm90/sample_rows_sm90.cu takes the helpers only */
#define VOX_SAMPLE_ROWS_MMA_KERNEL(NAME, DP, BF, WG, LATE, ATAB)                                             \
    VOX_KERNEL void __launch_bounds__(VOX_SRM_THREADS(WG), 1)                                                \
        vox_sample_rows_##NAME##_d##DP(vox_sample_rows_bufs b, vox_sample_rows_args a)                       \
    {                                                                                                        \
        sample_rows_mma<DP, BF, WG, LATE, ATAB>(vox_ptr<const u16>(b.q), vox_ptr<const u16>(b.k), vox_ptr<const u16>(b.v),  \
                                vox_ptr<const int>(b.rows), a.R, vox_ptr<const int>(b.block_coord),          \
                                vox_ptr<const int>(b.valid), a.NB, a.V, a.D, a.frame_blocks, a.space_blocks, \
                                a.sink, a.scale, vox_ptr<float>(b.work), a.nsplit, a.BH, a);                  \
    }
VOX_SAMPLE_ROWS_MMA_KERNEL(mma_f16, 64, false, 2, false, false)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma_f16, 128, false, 2, false, false)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma_bf16, 64, true, 2, false, false)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma_bf16, 128, true, 2, false, false)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16_f16, 64, false, 4, false, false)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16l_f16, 64, false, 4, true, false)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16a_f16, 64, false, 4, false, true)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16la_f16, 64, false, 4, true, true)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16_f16, 128, false, 4, false, false)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16l_f16, 128, false, 4, true, false)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16a_f16, 128, false, 4, false, true)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16la_f16, 128, false, 4, true, true)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16_bf16, 64, true, 4, false, false)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16l_bf16, 64, true, 4, true, false)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16a_bf16, 64, true, 4, false, true)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16la_bf16, 64, true, 4, true, true)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16_bf16, 128, true, 4, false, false)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16l_bf16, 128, true, 4, true, false)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16a_bf16, 128, true, 4, false, true)
VOX_SAMPLE_ROWS_MMA_KERNEL(mma16la_bf16, 128, true, 4, true, true)
#endif

#endif
