/* attention_backward (core/backend.h) on NVIDIA tensor cores (sm_80+), the
 * FlashAttention-2 backward without atomics: two kernels after the shared
 * preprocess (attention_backward.cuh: dO_eff over dout, delta in the LSE work
 * half). f16/bf16 in, mma.sync.m16n8k16 with f32 accumulation, operands by
 * ldmatrix from XOR-swizzled tiles (mma_sync.cuh); block volume V >= 64 (tiles
 * of 64 slots never span two blocks), head_dim <= DP (64 or 128; columns past
 * D are zero-filled and never stored). A CTA has 4 warps.
 *   dq:   64 slots of one query block (warp w: rows 16w..16w+15); Q and dQ in
 *         registers, the row's key blocks stream in 64-key tiles (K, V
 *         double-buffered by cp.async); S = Q K^T, dP = dO V^T,
 *         dS = P (dP - delta), dQ += dS K.
 *   dkdv: 64 keys of one KV block (warp w: keys 16w..16w+15), K and V resident
 *         in shared memory, dK and dV in registers across the query blocks of
 *         the transposed mask, whose rows stream in 64-slot tiles (Q, dO
 *         double-buffered); S^T = K Q^T, dP^T = V dO^T, dS^T = P^T (dP^T -
 *         delta), dV += P^T dO, dK += dS^T Q.
 * Rows that are not live (padding, pruned, lse = -inf) and padding keys are
 * zero-filled in shared memory; a not-live row gets lse = +inf, so P = 0. P
 * and dS are rounded to f16/bf16 for the second products (as FA2 does). */
#if VOX_HAVE_MMA_SYNC

#include "mma_sync.cuh"

#define VOX_LOG2E_F 1.4426950408889634f

/* Slot, lse*log2(e) (+inf when not live) and delta of local row r of a 64-slot
 * tile starting at local row r0 of query block i (sl = -1 when not live). */
__device__ __forceinline__ void bwd_row_info(const float *lse, const int *fill, const int *valid, i64 BH, i64 S,
                                             i64 hb, i64 i, int V, int r0, int r, int &sl, float &l2, float &dl)
{
    const i64 slot = i * V + r0 + r;
    sl = -1, l2 = VOX_INF, dl = 0.f;
    if (r0 + r < valid[i] && bwd_live(fill, lse, hb, slot)) {
        sl = (int)slot;
        l2 = lse[hb + slot] * VOX_LOG2E_F;
        dl = lse[BH * S + hb + slot];
    }
}

/* 64 rows of a [64][DP] tile by cp.async from rows base[r] of x (zero-fill
 * where base[r] < 0 and past column D). */
template <int DP>
__device__ __forceinline__ void bwd_load_rows(u16 *dst, const u16 *x, const int *slot, i64 hb, int D, int tid)
{
    constexpr int CH = DP / 8;
    for (int e = tid; e < 64 * CH; e += 128) {
        int r = e / CH, ch = e - r * CH, sl = slot[r];
        bool ok = sl >= 0 && ch * 8 < D;
        vox_cp_async16(dst + vox_swz<DP>(r, ch), ok ? x + (hb + sl) * D + ch * 8 : x, ok ? 16 : 0);
    }
}

/* The 64 rows of a tile (0 ... 63 from slot `first`, `n` of them present) by
 * cp.async, zero-filled past n and past column D. */
template <int DP>
__device__ __forceinline__ void bwd_load_run(u16 *dst, const u16 *x, i64 first, int n, int D, int tid)
{
    constexpr int CH = DP / 8;
    for (int e = tid; e < 64 * CH; e += 128) {
        int r = e / CH, ch = e - r * CH;
        bool ok = r < n && ch * 8 < D;
        vox_cp_async16(dst + vox_swz<DP>(r, ch), ok ? x + (first + r) * D + ch * 8 : x, ok ? 16 : 0);
    }
}

/* The swizzled offsets (vox_swz) a thread's ldmatrix addresses take, split
 * so that only four stay in registers: for a row r with r % 8 == lane % 8
 * (every fragment row here) and chunk 2*kk + c (c: 0 or 1, fixed per thread),
 * vox_swz<DP>(base + r, 2*kk + c) = o[kk % 4] + 64*(kk / 4) + base*DP for any
 * base that is a multiple of 8, with o[j] = r*DP + ((2j ^ c ^ r%8) << 3).
 * Without it ptxas keeps every unrolled offset live across the tile loop. */
template <int DP> struct bwd_swz4 {
    int o[4];
    __device__ __forceinline__ bwd_swz4(int r, int c)
    {
#pragma unroll
        for (int j = 0; j < 4; j++)
            o[j] = r * DP + (((2 * j) ^ c ^ (r & 7)) << 3);
    }
    __device__ __forceinline__ int at(int base, int kk) const { return o[kk & 3] + ((kk >> 2) << 6) + base * DP; }
};

template <int DP, bool BF>
__device__ __forceinline__ void attention_backward_dq_mma(const u16 *q, const u16 *k, const u16 *v,
                                                          const u16 *dout, const float *lse, u16 *dq,
                                                          const int *mask, const int *fill, const int *valid, i64 BH,
                                                          i64 NB, int V, int logV, int D, float scale,
                                                          float scale_log2, int tiles)
{
    constexpr int NT = DP / 8;
    u16 *sQ = (u16 *)vox_dyn_smem;
    u16 *sG = sQ + 64 * DP;         /* dO_eff */
    u16 *sK = sG + 64 * DP;         /* [2][64][DP] */
    u16 *sV = sK + 2 * 64 * DP;     /* [2][64][DP] */
    int *rslot = (int *)(sV + 2 * 64 * DP); /* [64] slot of each row, -1 when not live */
    float *rL = (float *)(rslot + 64);      /* [64] lse*log2(e), +inf when not live */
    float *rD = rL + 64;                    /* [64] delta */
    int *kfirst = (int *)(rD + 64);         /* [3] first key slot of a key tile (ring) */
    int *kn = kfirst + 3;                   /* [3] valid keys of the tile */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, mat = lane >> 3;
    const i64 m = blockIdx.x / tiles, bh = m / NB, i = m - bh * NB, S = NB * (i64)V, hb = bh * S, R = BH * NB;
    const int tile = (int)(blockIdx.x - m * tiles);
    const int start = mask[m], lt = logV - 6, ntiles = mask[R + m] << lt; /* 2^lt key tiles per block */
    /* key tile t: part (t mod 2^lt) of block mask[start + t / 2^lt] */
    auto key_tile = [&](int t, int &first, int &n) {
        first = 0, n = 0;
        if (t < ntiles) {
            int jb = mask[start + (t >> lt)], part = (t & ((1 << lt) - 1)) * 64;
            first = jb * V + part;
            n = min(max(valid[jb] - part, 0), 64);
        }
    };
    bool live = false;
    if (tid < 64) {
        int sl;
        float l2, dl;
        bwd_row_info(lse, fill, valid, BH, S, hb, i, V, tile * 64, tid, sl, l2, dl);
        rslot[tid] = sl, rL[tid] = l2, rD[tid] = dl;
        live = sl >= 0;
    } else if (tid < 66) {
        int first, n;
        key_tile(tid - 64, first, n);
        kfirst[tid - 64] = first, kn[tid - 64] = n;
    }
    if (!__syncthreads_or(live)) { /* no live row: dq = 0 */
        u16 *base = dq + (hb + i * V + tile * 64) * D;
        for (int e = tid; e < 64 * D / 2; e += 128)
            ((unsigned *)base)[e] = 0u;
        return;
    }
    bwd_load_rows<DP>(sQ, q, rslot, hb, D, tid);
    bwd_load_rows<DP>(sG, dout, rslot, hb, D, tid);
    auto load_kv = [&](int t, int st) {
        i64 first = hb + kfirst[t % 3];
        bwd_load_run<DP>(sK + st * 64 * DP, k, first, kn[t % 3], D, tid);
        bwd_load_run<DP>(sV + st * 64 * DP, v, first, kn[t % 3], D, tid);
    };
    if (ntiles > 0)
        load_kv(0, 0);
    vox_cp_commit();

    float acc[NT][4];
#pragma unroll
    for (int n = 0; n < NT; n++)
        acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
    unsigned qf[DP / 16][4];
    const int r0 = warp * 16 + (lane >> 2), r1 = r0 + 8; /* this thread's rows (C fragment) */
    const bwd_swz4<DP> za(warp * 16 + (lane & 7) + ((mat & 1) << 3), mat >> 1); /* A: this warp's rows */
    const bwd_swz4<DP> zb((lane & 7) + ((mat >> 1) << 3), mat & 1);             /* B: keys x d */
    const bwd_swz4<DP> zt((lane & 7) + ((mat & 1) << 3), mat >> 1);             /* B transposed: keys x d */
    for (int t = 0; t < ntiles; t++) {
        if (t + 1 < ntiles)
            load_kv(t + 1, (t + 1) & 1);
        vox_cp_commit();
        int nfirst = 0, nn = 0;
        if (tid == 0)
            key_tile(t + 2, nfirst, nn);
        vox_cp_wait<1>();
        __syncthreads();
        if (t == 0) {
#pragma unroll
            for (int kk = 0; kk < DP / 16; kk++)
                vox_ldsm_x4(qf[kk], sQ + za.at(0, kk));
        }
        const u16 *cK = sK + (t & 1) * 64 * DP, *cV = sV + (t & 1) * 64 * DP;
        float s[8][4], dp[8][4];
#pragma unroll
        for (int n = 0; n < 8; n++)
            s[n][0] = s[n][1] = s[n][2] = s[n][3] = dp[n][0] = dp[n][1] = dp[n][2] = dp[n][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < DP / 16; kk++) {
            unsigned g[4];
            vox_ldsm_x4(g, sG + za.at(0, kk));
#pragma unroll
            for (int np = 0; np < 4; np++) {
                unsigned b[4];
                const int off = zb.at(np * 16, kk);
                vox_ldsm_x4(b, cK + off);
                vox_mma16816<BF>(s[2 * np], qf[kk], b[0], b[1]);
                vox_mma16816<BF>(s[2 * np + 1], qf[kk], b[2], b[3]);
                vox_ldsm_x4(b, cV + off);
                vox_mma16816<BF>(dp[2 * np], g, b[0], b[1]);
                vox_mma16816<BF>(dp[2 * np + 1], g, b[2], b[3]);
            }
        }
        /* dS = P (dP - delta) in s; P = 0 past the tile's valid keys */
        const int n = kn[t % 3];
        const float L0 = rL[r0], L1 = rL[r1], D0 = rD[r0], D1 = rD[r1];
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            const int c0 = nt * 8 + (lane & 3) * 2;
            const bool v0 = c0 < n, v1 = c0 + 1 < n;
            s[nt][0] = v0 ? exp2f(fmaf(s[nt][0], scale_log2, -L0)) * (dp[nt][0] - D0) : 0.f;
            s[nt][1] = v1 ? exp2f(fmaf(s[nt][1], scale_log2, -L0)) * (dp[nt][1] - D0) : 0.f;
            s[nt][2] = v0 ? exp2f(fmaf(s[nt][2], scale_log2, -L1)) * (dp[nt][2] - D1) : 0.f;
            s[nt][3] = v1 ? exp2f(fmaf(s[nt][3], scale_log2, -L1)) * (dp[nt][3] - D1) : 0.f;
        }
        /* dQ += dS K (k = keys: K transposed by ldmatrix) */
#pragma unroll
        for (int kc = 0; kc < 4; kc++) {
            unsigned a[4];
            a[0] = vox_pack2<BF>(s[2 * kc][0], s[2 * kc][1]);
            a[1] = vox_pack2<BF>(s[2 * kc][2], s[2 * kc][3]);
            a[2] = vox_pack2<BF>(s[2 * kc + 1][0], s[2 * kc + 1][1]);
            a[3] = vox_pack2<BF>(s[2 * kc + 1][2], s[2 * kc + 1][3]);
#pragma unroll
            for (int dc = 0; dc < DP / 16; dc++) {
                unsigned b[4];
                vox_ldsm_x4_t(b, cK + zt.at(kc * 16, dc));
                vox_mma16816<BF>(acc[2 * dc], a, b[0], b[1]);
                vox_mma16816<BF>(acc[2 * dc + 1], a, b[2], b[3]);
            }
        }
        if (tid == 0)
            kfirst[(t + 2) % 3] = nfirst, kn[(t + 2) % 3] = nn;
        __syncthreads();
    }
    vox_cp_wait<0>();
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int r = h ? r1 : r0;
        const bool on = rslot[r] >= 0;
        u16 *row = dq + (hb + i * V + tile * 64 + r) * D;
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            int col = nt * 8 + (lane & 3) * 2;
            if (col < D)
                *(unsigned *)(row + col) =
                    on ? vox_pack2<BF>(acc[nt][2 * h] * scale, acc[nt][2 * h + 1] * scale) : 0u;
        }
    }
}

/* RH: query rows per pass of a 64-row tile (16 at DP = 128 keeps S^T and dP^T
 * small next to the dK and dV accumulators: ptxas spills 4 B on sm_80, 60 B
 * with 32). */
template <int DP, bool BF, int RH>
__device__ __forceinline__ void attention_backward_dkdv_mma(const u16 *q, const u16 *k, const u16 *v,
                                                            const u16 *dout, const float *lse, u16 *dk, u16 *dv,
                                                            const int *mask, const int *fill, const int *valid,
                                                            i64 BH, i64 NB, int V, int logV, int D, float scale,
                                                            float scale_log2, int tiles)
{
    constexpr int NT = DP / 8;
    u16 *sK = (u16 *)vox_dyn_smem;
    u16 *sV = sK + 64 * DP;
    u16 *sQ = sV + 64 * DP;                 /* [2][64][DP] */
    u16 *sG = sQ + 2 * 64 * DP;             /* [2][64][DP] dO_eff */
    int *rslot = (int *)(sG + 2 * 64 * DP); /* [3][64] ring: slot of each row of a tile, -1 when not live */
    float *rL = (float *)(rslot + 192);     /* [3][64] lse*log2(e), +inf when not live */
    float *rD = rL + 192;                   /* [3][64] delta */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, mat = lane >> 3;
    const i64 mt = blockIdx.x / tiles, bh = mt / NB, j = mt - bh * NB, S = NB * (i64)V, hb = bh * S, R = BH * NB;
    const int tile = (int)(blockIdx.x - mt * tiles);
    const int nk = min(max(valid[j] - tile * 64, 0), 64); /* valid keys of this CTA */
    const int start = mask[2 * R + mt], lt = logV - 6, ntiles = mask[3 * R + mt] << lt;
    /* row tile t: rows (t mod 2^lt)*64 ... of query block mask[start + t / 2^lt] */
    auto row_tile = [&](int t, int r, int &sl, float &l2, float &dl) {
        sl = -1, l2 = VOX_INF, dl = 0.f;
        if (t < ntiles)
            bwd_row_info(lse, fill, valid, BH, S, hb, mask[start + (t >> lt)], V, (t & ((1 << lt) - 1)) * 64, r,
                         sl, l2, dl);
    };
    if (tid < 64)
        for (int t0 = 0; t0 < 2; t0++)
            row_tile(t0, tid, rslot[t0 * 64 + tid], rL[t0 * 64 + tid], rD[t0 * 64 + tid]);
    bwd_load_run<DP>(sK, k, hb + j * V + tile * 64, nk, D, tid);
    bwd_load_run<DP>(sV, v, hb + j * V + tile * 64, nk, D, tid);
    __syncthreads();
    auto load_qg = [&](int t, int st) {
        bwd_load_rows<DP>(sQ + st * 64 * DP, q, rslot + (t % 3) * 64, hb, D, tid);
        bwd_load_rows<DP>(sG + st * 64 * DP, dout, rslot + (t % 3) * 64, hb, D, tid);
    };
    if (ntiles > 0)
        load_qg(0, 0);
    vox_cp_commit();

    float gk[NT][4], gv[NT][4];
#pragma unroll
    for (int n = 0; n < NT; n++)
        gk[n][0] = gk[n][1] = gk[n][2] = gk[n][3] = gv[n][0] = gv[n][1] = gv[n][2] = gv[n][3] = 0.f;
    const bwd_swz4<DP> za(warp * 16 + (lane & 7) + ((mat & 1) << 3), mat >> 1); /* A: this warp's 16 keys */
    const bwd_swz4<DP> zb((lane & 7) + ((mat >> 1) << 3), mat & 1);             /* B: rows x d */
    const bwd_swz4<DP> zt((lane & 7) + ((mat & 1) << 3), mat >> 1);             /* B transposed: rows x d */
    for (int t = 0; t < ntiles; t++) {
        if (t + 1 < ntiles)
            load_qg(t + 1, (t + 1) & 1);
        vox_cp_commit();
        int nsl = -1;
        float nl2 = VOX_INF, ndl = 0.f;
        if (tid < 64)
            row_tile(t + 2, tid, nsl, nl2, ndl);
        vox_cp_wait<1>();
        __syncthreads();
        const u16 *cQ = sQ + (t & 1) * 64 * DP, *cG = sG + (t & 1) * 64 * DP;
        const float *L = rL + (t % 3) * 64, *Dl = rD + (t % 3) * 64;
#pragma unroll
        for (int h = 0; h < 64 / RH; h++) {
            float st[RH / 8][4], dt[RH / 8][4]; /* S^T, dP^T: keys x rows h*RH ... */
#pragma unroll
            for (int n = 0; n < RH / 8; n++)
                st[n][0] = st[n][1] = st[n][2] = st[n][3] = dt[n][0] = dt[n][1] = dt[n][2] = dt[n][3] = 0.f;
#pragma unroll
            for (int kk = 0; kk < DP / 16; kk++) {
                unsigned a[4], av[4];
                vox_ldsm_x4(a, sK + za.at(0, kk));
                vox_ldsm_x4(av, sV + za.at(0, kk));
#pragma unroll
                for (int np = 0; np < RH / 16; np++) {
                    unsigned b[4];
                    const int off = zb.at(h * RH + np * 16, kk);
                    vox_ldsm_x4(b, cQ + off);
                    vox_mma16816<BF>(st[2 * np], a, b[0], b[1]);
                    vox_mma16816<BF>(st[2 * np + 1], a, b[2], b[3]);
                    vox_ldsm_x4(b, cG + off);
                    vox_mma16816<BF>(dt[2 * np], av, b[0], b[1]);
                    vox_mma16816<BF>(dt[2 * np + 1], av, b[2], b[3]);
                }
            }
            /* P^T in st, dS^T in dt; columns are rows c, c+1 of the tile */
#pragma unroll
            for (int n = 0; n < RH / 8; n++) {
                const int c = h * RH + n * 8 + (lane & 3) * 2;
                const float L0 = L[c], L1 = L[c + 1], D0 = Dl[c], D1 = Dl[c + 1];
                st[n][0] = exp2f(fmaf(st[n][0], scale_log2, -L0));
                st[n][1] = exp2f(fmaf(st[n][1], scale_log2, -L1));
                st[n][2] = exp2f(fmaf(st[n][2], scale_log2, -L0));
                st[n][3] = exp2f(fmaf(st[n][3], scale_log2, -L1));
                dt[n][0] = st[n][0] * (dt[n][0] - D0);
                dt[n][1] = st[n][1] * (dt[n][1] - D1);
                dt[n][2] = st[n][2] * (dt[n][2] - D0);
                dt[n][3] = st[n][3] * (dt[n][3] - D1);
            }
            /* dV += P^T dO, dK += dS^T Q (k = rows: dO, Q transposed by ldmatrix) */
#pragma unroll
            for (int kc = 0; kc < RH / 16; kc++) {
                unsigned ap[4], as[4];
                ap[0] = vox_pack2<BF>(st[2 * kc][0], st[2 * kc][1]);
                ap[1] = vox_pack2<BF>(st[2 * kc][2], st[2 * kc][3]);
                ap[2] = vox_pack2<BF>(st[2 * kc + 1][0], st[2 * kc + 1][1]);
                ap[3] = vox_pack2<BF>(st[2 * kc + 1][2], st[2 * kc + 1][3]);
                as[0] = vox_pack2<BF>(dt[2 * kc][0], dt[2 * kc][1]);
                as[1] = vox_pack2<BF>(dt[2 * kc][2], dt[2 * kc][3]);
                as[2] = vox_pack2<BF>(dt[2 * kc + 1][0], dt[2 * kc + 1][1]);
                as[3] = vox_pack2<BF>(dt[2 * kc + 1][2], dt[2 * kc + 1][3]);
#pragma unroll
                for (int dc = 0; dc < DP / 16; dc++) {
                    unsigned b[4];
                    const int off = zt.at(h * RH + kc * 16, dc);
                    vox_ldsm_x4_t(b, cG + off);
                    vox_mma16816<BF>(gv[2 * dc], ap, b[0], b[1]);
                    vox_mma16816<BF>(gv[2 * dc + 1], ap, b[2], b[3]);
                    vox_ldsm_x4_t(b, cQ + off);
                    vox_mma16816<BF>(gk[2 * dc], as, b[0], b[1]);
                    vox_mma16816<BF>(gk[2 * dc + 1], as, b[2], b[3]);
                }
            }
        }
        if (tid < 64) {
            const int x = ((t + 2) % 3) * 64 + tid;
            rslot[x] = nsl, rL[x] = nl2, rD[x] = ndl;
        }
        __syncthreads();
    }
    vox_cp_wait<0>();
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int kr = warp * 16 + (lane >> 2) + h * 8;
        const bool on = kr < nk;
        const i64 at = (hb + j * V + tile * 64 + kr) * D;
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            int col = nt * 8 + (lane & 3) * 2;
            if (col < D) {
                *(unsigned *)(dk + at + col) =
                    on ? vox_pack2<BF>(gk[nt][2 * h] * scale, gk[nt][2 * h + 1] * scale) : 0u;
                *(unsigned *)(dv + at + col) = on ? vox_pack2<BF>(gv[nt][2 * h], gv[nt][2 * h + 1]) : 0u;
            }
        }
    }
}

#define VOX_ATTENTION_BACKWARD_MMA_KERNELS(NAME, DP, BF, RH)                                                     \
    VOX_KERNEL void __launch_bounds__(128)                                                                       \
        vox_attention_backward_dq_mma_##NAME##_d##DP(vox_attention_backward_bufs b, vox_attention_backward_args a) \
    {                                                                                                            \
        attention_backward_dq_mma<DP, BF>(                                                                       \
            vox_ptr<const u16>(b.q), vox_ptr<const u16>(b.k), vox_ptr<const u16>(b.v),                           \
            vox_ptr<const u16>(b.dout), vox_ptr<const float>(b.lse), vox_ptr<u16>(b.dq),                         \
            vox_ptr<const int>(b.mask), vox_ptr<const int>(b.fill_src), vox_ptr<const int>(b.valid), a.BH,       \
            a.NB, a.V, a.log_v, a.D, a.scale, a.scale_log2, a.tiles);                                            \
    }                                                                                                            \
    VOX_KERNEL void __launch_bounds__(128) vox_attention_backward_dkdv_mma_##NAME##_d##DP(                       \
        vox_attention_backward_bufs b, vox_attention_backward_args a)                                            \
    {                                                                                                            \
        attention_backward_dkdv_mma<DP, BF, RH>(                                                                 \
            vox_ptr<const u16>(b.q), vox_ptr<const u16>(b.k), vox_ptr<const u16>(b.v),                           \
            vox_ptr<const u16>(b.dout), vox_ptr<const float>(b.lse), vox_ptr<u16>(b.dk), vox_ptr<u16>(b.dv),     \
            vox_ptr<const int>(b.mask), vox_ptr<const int>(b.fill_src), vox_ptr<const int>(b.valid), a.BH,       \
            a.NB, a.V, a.log_v, a.D, a.scale, a.scale_log2, a.tiles);                                            \
    }
VOX_ATTENTION_BACKWARD_MMA_KERNELS(f16, 64, false, 64)
VOX_ATTENTION_BACKWARD_MMA_KERNELS(f16, 128, false, 16)
VOX_ATTENTION_BACKWARD_MMA_KERNELS(bf16, 64, true, 64)
VOX_ATTENTION_BACKWARD_MMA_KERNELS(bf16, 128, true, 16)

#endif
