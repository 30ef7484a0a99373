/* voxattn OpenCL: attention_backward (core/backend.h), the gradients of
 * attention_forward over the packed mask (forward CSR and its transpose),
 * deterministic (no atomics), no N x N buffer. Three kernels:
 *   vox_attention_backward_prep  per (bh, query block): dO_eff of each
 *       computed row (its dO plus the dO of the pruned rows it fills, in
 *       ascending slot order) written back into dout, and delta = dO_eff . o
 *       into the LSE's work half (0 for every other slot);
 *   vox_attention_backward_dq    per (bh, query block, tile of BM computed
 *       rows): dQ kept in registers over the row's key blocks, BN keys at a
 *       time;
 *   vox_attention_backward_dkdv  per (bh, key block, tile of BN keys): dK and
 *       dV kept in registers over the query blocks attending to it (the
 *       transpose), BM computed rows at a time.
 * Build defines: HD (head dim), BM (query rows per tile), BN (keys per
 * tile), LS (work-group size), VOX_BWD_KV (0: the program of prep and dq,
 * 1: the program of dkdv; each has its own tile shape). Tiles of q, dO, k,
 * v sit in local memory in the storage type (exact copies: f16 read with
 * vload_half, bf16 widened as in common.cl); every product and sum is f32
 * (f32 scores compensated, vox_bwd_score_add). Rows pruned by query
 * selection are skipped by compacting each block's computed rows, so work
 * scales with kept rows.
 * (One file per op: device and host sections, cl_internal.h.) */
#ifdef __OPENCL_VERSION__

#define VMAX 256 /* largest block volume (core/layout.c) */

#if VOX_DTYPE == 0
typedef float lel; /* a tile element in local memory */
#define TP (HD + 1) /* tile row pitch: an odd number of 32-bit words */
#define LDT(t, i) ((t)[i])
#else
typedef ushort lel;
#define TP (HD + 2)
#if VOX_DTYPE == 1
#define LDT(t, i) vload_half((i), (__local const half *)(t))
#else
#define LDT(t, i) as_float(((uint)(t)[i]) << 16)
#endif
#endif

/* Adds a*b to the score sum s. f32: compensated (Ogita-Rump-Oishi Dot2: the
 * product's and the sum's rounding errors gathered in c, the score is s + c):
 * with large logits the f32 rounding of q.k, times the scale, is the error
 * of the exponent against an exact LSE, far above the f32 limit otherwise;
 * f16/bf16 (f32 sums of exact products, looser limits) do not need it. */
void vox_bwd_score_add(float *s, float *c, float a, float b)
{
#if VOX_DTYPE == 0
    const float p = a * b, pe = fma(a, b, -p);
    const float t = *s + p, z = t - *s;
    *c += ((*s - (t - z)) + (p - z)) + pe;
    *s = t;
#else
    *s = mad(a, b, *s);
#endif
}

/* P of a score s (unscaled) of a row with LSE l: one rounding for s*scale - l */
#define PROB(s, c, l) exp(fma((s), scale, -(l)) + (c) * scale)

/* Rows r < n of tile t: the rows of x at slots sl[r] (bh base added), zeros
 * where sl[r] < 0. Raw copies, no conversion. */
void vox_bwd_load_tile(__local lel *t, __global const stor *x, long base, __local const int *sl, int n)
{
    __global const lel *raw = (__global const lel *)x;
    for (int idx = LID; idx < n * HD; idx += LS) {
        int r = idx / HD, e = idx - r * HD;
        int s = sl[r];
        t[r * TP + e] = s >= 0 ? raw[(base + s) * HD + e] : (lel)0;
    }
}

/* The computed rows of query block i: cf[s] = 1 for its valid slots that
 * are their own source (every valid slot without fill), rows[0, *count) those
 * slots ascending (local to the block). Called by every item; barriers on
 * entry and exit. */
void vox_bwd_computed_rows(__global const int *fill_src, int has_fill, long fill_base, int i, int nvalid, int V,
                           __local int *cf, __local int *rows, __local int *count)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = LID; s < V; s += LS)
        cf[s] = s < nvalid && (!has_fill || fill_src[fill_base + s] == i * V + s);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = LID; s < V; s += LS) {
        int rank = s;
        if (has_fill) {
            rank = 0;
            for (int u = 0; u < s; u++)
                rank += cf[u];
        }
        if (cf[s])
            rows[rank] = s;
        if (s == V - 1)
            *count = has_fill ? rank + cf[s] : nvalid;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* The tile of computed rows r0 .. r0+BM-1 of query block i (rows[0, n),
 * from vox_bwd_computed_rows): each row's slot (-1 past n), LSE and delta
 * (the LSE's work half, written by prep) in rslot, rlse, rdelta, then its q
 * and dO in Qs and Gs. Called by every item; the caller puts a barrier
 * before (rslot, rlse, rdelta free) and after (Qs, Gs complete). */
void vox_bwd_row_tile(__global const stor *q, __global const stor *dout, __global const float *lse, long base,
                      long work, int i, int V, __local const int *rows, int n, int r0, __local int *rslot,
                      __local float *rlse, __local float *rdelta, __local lel *Qs, __local lel *Gs)
{
    if (LID < BM) {
        int rr = r0 + LID;
        int s = rr < n ? i * V + rows[rr] : -1;
        rslot[LID] = s;
        rlse[LID] = s >= 0 ? lse[base + s] : -INFINITY;
        rdelta[LID] = s >= 0 ? lse[work + base + s] : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    vox_bwd_load_tile(Qs, q, base, rslot, BM);
    vox_bwd_load_tile(Gs, dout, base, rslot, BM);
}

/* Scores and dP of one row `a` against n rows of the other side, row
 * first + step * x for x < n: s[x] + c[x] (compensated, see
 * vox_bwd_score_add) = A[a] . B[row], d[x] = C[a] . D[row]. dQ takes a
 * query row (A, C: q, dO; B, D: k, v), dK/dV a key (A, C: k, v; B, D: q, dO). */
void vox_bwd_dots(__local const lel *A, __local const lel *C, int a, __local const lel *B, __local const lel *D,
                  int first, int step, int n, float *s, float *c, float *d)
{
    for (int x = 0; x < n; x++)
        s[x] = 0.0f, c[x] = 0.0f, d[x] = 0.0f;
    for (int e = 0; e < HD; e++) {
        const float ae = LDT(A, a * TP + e), ce = LDT(C, a * TP + e);
        for (int x = 0; x < n; x++) {
            const int o = first + step * x;
            vox_bwd_score_add(&s[x], &c[x], ae, LDT(B, o * TP + e));
            d[x] = mad(ce, LDT(D, o * TP + e), d[x]);
        }
    }
}

/* What the dq and dkdv kernels share at their start: the row/key tile's scalars in local memory,
 * the buffers' offsets and the arguments, unpacked. */
#define VOX_BWD_TILE_PRELUDE                                                                              \
    __local float rlse[BM], rdelta[BM];                                                                   \
    __local int rslot[BM], kslot[BN];                                                                     \
    __local int cf[VMAX], rows[VMAX], nrows;                                                              \
    VOX_CL_APPLY_OFFSETS(VOX_ATTENTION_BACKWARD_BUFS)                                                     \
    VOX_CL_ARGS(attention_backward, VOX_ATTENTION_BACKWARD_ARGS)                                          \
    const long NB = args.NB, total = args.total, R = args.BH * NB, S = NB * args.V, work = args.BH * S;  \
    const int V = args.V, tiles = args.tiles, has_fill = args.has_fill;                                   \
    const float scale = args.scale;

#if !VOX_BWD_KV
/* ------------------------------------------------------------------ prep */

#define PT 8 /* items per row (HD is a multiple of 8) */

__kernel __attribute__((reqd_work_group_size(LS, 1, 1))) void
vox_attention_backward_prep(VOX_CL_BUF_PARAMS(VOX_ATTENTION_BACKWARD_BUFS)
                                VOX_CL_ARG_PARAMS(VOX_ATTENTION_BACKWARD_ARGS))
{
    __local int head[VMAX], next[VMAX]; /* per computed row, the pruned rows it fills */
    __local float red[LS];
    VOX_CL_APPLY_OFFSETS(VOX_ATTENTION_BACKWARD_BUFS)
    VOX_CL_ARGS(attention_backward, VOX_ATTENTION_BACKWARD_ARGS)
    const long NB = args.NB, total = args.total, S = NB * args.V, work = args.BH * S;
    const int V = args.V, has_fill = args.has_fill;
    const int lid = LID, sub = lid % PT;
    for (long m = get_group_id(0); m < total; m += get_num_groups(0)) {
        const long bh = m / NB;
        const int i = (int)(m - bh * NB), nvalid = valid[i];
        const long blk = bh * S + (long)i * V; /* row of slot 0 of the block */
        barrier(CLK_LOCAL_MEM_FENCE);
        if (has_fill && lid == 0) { /* lists in ascending slot order */
            for (int s = 0; s < V; s++)
                head[s] = -1;
            for (int s = nvalid - 1; s >= 0; s--) {
                int u = fill_src[blk + s] - i * V;
                if (u != s && u >= 0 && u < V)
                    next[s] = head[u], head[u] = s;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int r0 = 0; r0 < nvalid; r0 += LS / PT) {
            const int r = r0 + lid / PT;
            const int comp = r < nvalid && (!has_fill || fill_src[blk + r] == i * V + r);
            float part = 0.0f;
            if (comp) {
                const int first = has_fill ? head[r] : -1;
                for (int e = sub; e < HD; e += PT) {
                    const long at = (blk + r) * HD + e;
                    float g = LOADF(dout, at);
                    if (first >= 0) {
                        for (int s = first; s >= 0; s = next[s])
                            g += LOADF(dout, (blk + s) * HD + e);
                        STOREF(dout, at, g);
                        g = LOADF(dout, at); /* as stored: delta matches the dO the others read */
                    }
                    part = mad(g, LOADF(o, at), part);
                }
            }
            red[lid] = part;
            barrier(CLK_LOCAL_MEM_FENCE);
            if (sub == 0 && r < nvalid) {
                float dl = 0.0f;
                for (int u = 0; u < PT; u++)
                    dl += red[lid + u];
                lse[work + blk + r] = comp ? dl : 0.0f;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        for (int s = nvalid + lid; s < V; s += LS)
            lse[work + blk + s] = 0.0f;
    }
}

/* -------------------------------------------------------------------- dQ */

#define TPR (LS / BM) /* items per query row */
#define NC (BN / TPR) /* keys per item per key tile */
#define ND (HD / TPR) /* dQ dims per item */

__kernel __attribute__((reqd_work_group_size(LS, 1, 1))) void
vox_attention_backward_dq(VOX_CL_BUF_PARAMS(VOX_ATTENTION_BACKWARD_BUFS)
                              VOX_CL_ARG_PARAMS(VOX_ATTENTION_BACKWARD_ARGS))
{
    __local lel Qs[BM * TP], Gs[BM * TP], Ks[BN * TP], Vs[BN * TP];
    __local float dS[BM * (BN + 1)];
    VOX_BWD_TILE_PRELUDE
    const int lid = LID, row = lid / TPR, sub = lid - row * TPR, logV = 31 - clz(V);
    for (long g = get_group_id(0); g < total; g += get_num_groups(0)) {
        const long m = g / tiles, bh = m / NB;
        const int tile = (int)(g - m * tiles), i = (int)(m - bh * NB);
        const long base = bh * S;
        vox_bwd_computed_rows(fill_src, has_fill, base + (long)i * V, i, valid[i], V, cf, rows, &nrows);
        const int n = nrows, r0 = tile * BM; /* vox_bwd_computed_rows ended with a barrier */
        vox_bwd_row_tile(q, dout, lse, base, work, i, V, rows, n, r0, rslot, rlse, rdelta, Qs, Gs);
        float acc[ND];
        for (int x = 0; x < ND; x++)
            acc[x] = 0.0f;
        /* tiles past the computed rows do no key work (barriers still uniform) */
        const int active = r0 < n;
        const int start = active ? mask[m] : 0;
        const long nkeys = active ? (long)mask[R + m] * V : 0;
        for (long kt = 0; kt < nkeys; kt += BN) {
            barrier(CLK_LOCAL_MEM_FENCE);
            if (lid < BN)
                kslot[lid] = vox_key_slot(kt + lid, nkeys, logV, V, start, mask, valid);
            barrier(CLK_LOCAL_MEM_FENCE);
            vox_bwd_load_tile(Ks, k, base, kslot, BN);
            vox_bwd_load_tile(Vs, v, base, kslot, BN);
            barrier(CLK_LOCAL_MEM_FENCE);
            float sreg[NC], scomp[NC], dreg[NC];
            vox_bwd_dots(Qs, Gs, row, Ks, Vs, sub, TPR, NC, sreg, scomp, dreg);
            const float l = rlse[row], dl = rdelta[row];
            const int rok = rslot[row] >= 0 && l != -INFINITY;
            for (int x = 0; x < NC; x++) {
                const int c = sub + TPR * x;
                const float p = rok && kslot[c] >= 0 ? PROB(sreg[x], scomp[x], l) : 0.0f;
                dS[row * (BN + 1) + c] = p * (dreg[x] - dl);
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int x = 0; x < ND; x++) {
                const int e = sub + TPR * x;
                float a = acc[x];
                for (int c = 0; c < BN; c++)
                    a = mad(dS[row * (BN + 1) + c], LDT(Ks, c * TP + e), a);
                acc[x] = a;
            }
        }
        const int s = rslot[row];
        if (s >= 0)
            for (int x = 0; x < ND; x++)
                STOREF(dq, (base + s) * HD + sub + TPR * x, scale * acc[x]);
        /* zeros for the slots of this tile's range that are not computed rows */
        for (int idx = lid; idx < BM * HD; idx += LS) {
            int u = r0 + idx / HD, e = idx % HD;
            if (u < V && !cf[u])
                STOREF(dq, (base + (long)i * V + u) * HD + e, 0.0f);
        }
    }
}

#else
/* ----------------------------------------------------------------- dK, dV */

#define TPK (LS / BN) /* items per key */
#define NR (BM / TPK) /* query rows per item per row tile */
#define NDK (HD / TPK) /* dK and dV dims per item */

__kernel __attribute__((reqd_work_group_size(LS, 1, 1))) void
vox_attention_backward_dkdv(VOX_CL_BUF_PARAMS(VOX_ATTENTION_BACKWARD_BUFS)
                                VOX_CL_ARG_PARAMS(VOX_ATTENTION_BACKWARD_ARGS))
{
    __local lel Qs[BM * TP], Gs[BM * TP], Ks[BN * TP], Vs[BN * TP];
    __local float Ps[BN * (BM + 1)], dSs[BN * (BM + 1)];
    VOX_BWD_TILE_PRELUDE
    const int lid = LID, key = lid / TPK, sub = lid - key * TPK;
    for (long g = get_group_id(0); g < total; g += get_num_groups(0)) {
        const long mt = g / tiles, bh = mt / NB;
        const int kt = (int)(g - mt * tiles), j = (int)(mt - bh * NB);
        const long base = bh * S;
        const int nkeys = valid[j] - kt * BN; /* valid keys of this tile (<= 0: none) */
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < BN)
            kslot[lid] = lid < nkeys ? j * V + kt * BN + lid : -1;
        barrier(CLK_LOCAL_MEM_FENCE);
        vox_bwd_load_tile(Ks, k, base, kslot, BN);
        vox_bwd_load_tile(Vs, v, base, kslot, BN);
        float acck[NDK], accv[NDK];
        for (int x = 0; x < NDK; x++)
            acck[x] = 0.0f, accv[x] = 0.0f;
        const int nq = nkeys > 0 ? mask[3 * R + mt] : 0, qstart = mask[2 * R + mt];
        for (int c = 0; c < nq; c++) {
            const int i = mask[qstart + c];
            vox_bwd_computed_rows(fill_src, has_fill, base + (long)i * V, i, valid[i], V, cf, rows, &nrows);
            const int n = nrows;
            for (int r0 = 0; r0 < n; r0 += BM) {
                barrier(CLK_LOCAL_MEM_FENCE);
                vox_bwd_row_tile(q, dout, lse, base, work, i, V, rows, n, r0, rslot, rlse, rdelta, Qs, Gs);
                barrier(CLK_LOCAL_MEM_FENCE);
                float sreg[NR], scomp[NR], dreg[NR];
                vox_bwd_dots(Ks, Vs, key, Qs, Gs, sub, TPK, NR, sreg, scomp, dreg);
                const int kok = kslot[key] >= 0;
                for (int y = 0; y < NR; y++) {
                    const int r = sub + TPK * y;
                    const float l = rlse[r];
                    const float p = kok && rslot[r] >= 0 && l != -INFINITY ? PROB(sreg[y], scomp[y], l) : 0.0f;
                    Ps[key * (BM + 1) + r] = p;
                    dSs[key * (BM + 1) + r] = p * (dreg[y] - rdelta[r]);
                }
                barrier(CLK_LOCAL_MEM_FENCE);
                for (int x = 0; x < NDK; x++) {
                    const int e = sub + TPK * x;
                    float a = acck[x], b = accv[x];
                    for (int r = 0; r < BM; r++) {
                        a = mad(dSs[key * (BM + 1) + r], LDT(Qs, r * TP + e), a);
                        b = mad(Ps[key * (BM + 1) + r], LDT(Gs, r * TP + e), b);
                    }
                    acck[x] = a, accv[x] = b;
                }
            }
        }
        /* every slot of the tile: padding keys and keys nobody attends get 0 */
        const long at = (base + (long)j * V + kt * BN + key) * HD;
        const int kok = kslot[key] >= 0;
        for (int x = 0; x < NDK; x++) {
            const int e = sub + TPK * x;
            STOREF(dk, at + e, kok ? scale * acck[x] : 0.0f);
            STOREF(dv, at + e, kok ? accv[x] : 0.0f);
        }
    }
}
#endif

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
#define CL_OP_attention_backward(P, K, S, SUP) \
    P(PROG_BWD_Q, "attention backward (dQ)", "") \
    P(PROG_BWD_KV, "attention backward (dK, dV)", "") \
    K(PROG_BWD_Q, K_ATTENTION_BACKWARD_PREP, "vox_attention_backward_prep") \
    K(PROG_BWD_Q, K_ATTENTION_BACKWARD_DQ, "vox_attention_backward_dq") \
    K(PROG_BWD_KV, K_ATTENTION_BACKWARD_DKDV, "vox_attention_backward_dkdv") \
    S(PROG_BWD_Q, "\n#define VOX_BWD_KV 0\n") \
    S(PROG_BWD_Q, "attention_backward.cl") \
    S(PROG_BWD_KV, "\n#define VOX_BWD_KV 1\n") \
    S(PROG_BWD_KV, "attention_backward.cl") \
    SUP(attention_backward)
#ifdef CL_OP_LAUNCHERS

/* ------------------------------------------------------------ backward */

/* attention_backward's tiles (kernels/attention_backward.cl): prep and dQ
 * (BM query rows per work-group, BN keys per step), dK/dV (BN keys per
 * work-group, BM query rows per step). Chosen for at most 48 KiB of local
 * memory even where the device has more (NVIDIA's limit per work-group), so
 * the shapes tested on PoCL are the shapes NVIDIA runs. */
#define BWD_LOCAL_CAP 49152
#define BWD_VMAX 256 /* the kernels' VMAX */

typedef struct bwd_tiles {
    int qm, qn, ql; /* dQ: BM, BN, LS */
    int km, kn, kl; /* dK/dV: BM, BN, LS */
} bwd_tiles;

/* Local memory of a dQ (kv = 0) or dK/dV (kv = 1) work-group as the kernel
 * declares it: four tiles in the storage type, dS (and P) in f32, the row
 * and key tables, the compaction arrays, and a margin. */
static size_t bwd_local(vox_dtype dt, int hd, int bm, int bn, int kv)
{
    size_t es = dt == VOX_F32 ? 4 : 2, tp = (size_t)hd + (dt == VOX_F32 ? 1 : 2);
    size_t probs = kv ? 2 * (size_t)bn * (size_t)(bm + 1) : (size_t)bm * (size_t)(bn + 1);
    return es * 2 * (size_t)(bm + bn) * tp + 4 * probs + 4 * (3 * (size_t)bm + (size_t)bn) +
           4 * (2 * BWD_VMAX + 1) + 512;
}

/* The largest tiles that fit; 0 when none does. dQ keeps HD*BM/LS
 * accumulators per item, dK/dV 2*HD*BN/LS (at most 64: registers). */
static int bwd_pick(const cl_dev *d, vox_dtype dt, int hd, int V, bwd_tiles *t)
{
    static const int q_cand[][3] = {{32, 32, 128}, {16, 32, 128}, {16, 16, 128}, {8, 16, 128},
                                    {8, 16, 64},   {8, 8, 64}};
    static const int kv_cand[][3] = {{16, 64, 256}, {8, 64, 256}, {16, 32, 128}, {8, 32, 128},
                                     {16, 16, 128}, {8, 16, 128}, {8, 16, 64},   {8, 8, 64}};
    size_t cap = d->local_mem < BWD_LOCAL_CAP ? (size_t)d->local_mem : BWD_LOCAL_CAP;
    int q = 0, kv = 0;
    for (size_t c = 0; !q && c < sizeof q_cand / sizeof q_cand[0]; c++) {
        int bm = q_cand[c][0] < V ? q_cand[c][0] : V, bn = q_cand[c][1], ls = q_cand[c][2], tpr = ls / bm;
        if ((size_t)ls > d->max_wg || ls % bm || bn % tpr || hd % tpr || bwd_local(dt, hd, bm, bn, 0) > cap)
            continue;
        t->qm = bm, t->qn = bn, t->ql = ls, q = 1;
    }
    for (size_t c = 0; !kv && c < sizeof kv_cand / sizeof kv_cand[0]; c++) {
        int bm = kv_cand[c][0], bn = kv_cand[c][1], ls = kv_cand[c][2], tpk = ls / bn;
        if (bn > V || (size_t)ls > d->max_wg || bm % tpk || hd % tpk || 2 * hd / tpk > 64 ||
            bwd_local(dt, hd, bm, bn, 1) > cap)
            continue;
        t->km = bm, t->kn = bn, t->kl = ls, kv = 1;
    }
    return q && kv;
}

/* Block volume, head_dim and a tile that fits (cl_supports). */
static vox_status cl_attention_backward_supports(const cl_dev *d, const vox_op_dims *dm, char *reason, size_t n)
{
    bwd_tiles t;
    if (dm->block_volume > BWD_VMAX || dm->head_dim % 8) {
        snprintf(reason, n, "block volume %lld or head_dim %lld out of range (<= %d, a multiple of 8)",
                 (long long)dm->block_volume, (long long)dm->head_dim, BWD_VMAX);
        return VOX_ERR_UNSUPPORTED;
    }
    if (!bwd_pick(d, dm->dtype, (int)dm->head_dim, (int)dm->block_volume, &t)) {
        snprintf(reason, n, "head_dim %lld: no backward tile fits %llu bytes of local memory (or %zu work-items)",
                 (long long)dm->head_dim, (unsigned long long)d->local_mem, d->max_wg);
        return VOX_ERR_UNSUPPORTED;
    }
    return VOX_OK;
}

static size_t bwd_groups(int64_t total)
{
    const int64_t cap = (int64_t)1 << 22;
    return (size_t)(total < cap ? total : cap);
}

/* prep, dQ (PROG_BWD_Q), then dK/dV (PROG_BWD_KV); the programs are fetched
 * one at a time (a fetch may move the cached ones). */
vox_status cl_attention_backward(void *devp, const vox_op_dims *dm, const vox_op_attention_backward *p)
{
    cl_dev *d = devp;
    const int hd = (int)dm->head_dim, V = (int)dm->block_volume;
    bwd_tiles t;
    if (V > BWD_VMAX || hd % 8 || !bwd_pick(d, dm->dtype, hd, V, &t))
        return vox_fail(d->log, VOX_ERR_UNSUPPORTED,
                        "opencl: attention_backward: head_dim %d, block volume %d do not fit local memory (%llu bytes)",
                        hd, V, (unsigned long long)d->local_mem);
    vox_attention_backward_args a;
    vox_attention_backward_args_init(&a, dm, p);
    const cl_attention_backward_bufs b = {.q = p->q,
                                          .k = p->k,
                                          .v = p->v,
                                          .o = p->o,
                                          .dout = p->dout,
                                          .lse = p->lse,
                                          .dq = p->dq,
                                          .dk = p->dk,
                                          .dv = p->dv,
                                          .mask = p->mask,
                                          .fill_src = a.has_fill ? p->fill_src : none,
                                          .valid = dm->block_valid};
    cl_prog *pr = NULL;
    vox_status st = cl_get_prog(d, PROG_BWD_Q, (int)dm->dtype, hd, t.qm, t.qn, t.ql, &pr);
    if (st)
        return st;
    a.tiles = 1, a.total = a.BH * a.NB;
    cl_grid g = {.prog = pr, .k = K_ATTENTION_BACKWARD_PREP, .groups = bwd_groups(a.total), .ls = (size_t)t.ql,
                 .name = "attention_backward (prep)"};
    st = cl_attention_backward_launch(d, dm->dtype, &b, &a, &g);
    if (st)
        return st;
    a.tiles = (V + t.qm - 1) / t.qm, a.total = a.BH * a.NB * a.tiles;
    g.k = K_ATTENTION_BACKWARD_DQ, g.groups = bwd_groups(a.total), g.name = "attention_backward (dQ)";
    st = cl_attention_backward_launch(d, dm->dtype, &b, &a, &g);
    if (!st)
        st = cl_get_prog(d, PROG_BWD_KV, (int)dm->dtype, hd, t.km, t.kn, t.kl, &pr);
    if (st)
        return st;
    a.tiles = V / t.kn, a.total = a.BH * a.NB * a.tiles;
    g = (cl_grid){.prog = pr, .k = K_ATTENTION_BACKWARD_DKDV, .groups = bwd_groups(a.total), .ls = (size_t)t.kl,
                  .name = "attention_backward (dK, dV)"};
    st = cl_attention_backward_launch(d, dm->dtype, &b, &a, &g);
    if (!st) /* the path, not its last kernel */
        d->last_kernel[VOX_OP_attention_backward] = "vox_attention_backward (portable: prep, dq, dkdv)";
    return st;
}

#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
