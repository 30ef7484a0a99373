/* voxattn OpenCL: attention_forward, block-sparse, tiled and streaming
 * (online softmax), no N x N buffer.
 *
 * Build defines: HD (head dim), BM (query rows per tile), BN (keys per tile),
 * LS (work-group size). TPR = LS/BM work-items share a query row: each owns
 * BN/TPR scores of a key tile and HD/TPR output dims. One work-group per
 * (bh, query block, row tile) (grid-stride); tiles past the block's row
 * count (valid rows, or kept rows when query selection is on) skip all key
 * work, so work scales with kept rows. Keys stream over the row's listed KV blocks
 * only, BN at a time (Q, K/V and P tiles in local memory, f32), padding keys
 * masked. Scores stay unscaled (running max of q.k); the scale (> 0) is
 * applied inside exp, so huge scales do not overflow q*scale.
 * (One file per op: device and host sections, cl_internal.h.) */
#ifdef __OPENCL_VERSION__

#define TPR (LS / BM)
#define NC (BN / TPR)
#define ND (HD / TPR)
#define QP (HD + 1)
#define PP (BN + 1)
/* tile loads: LS work-items copy BM or BN rows of HD floats, QL or KL
 * rounds each (BM * HD = LS * ND is a multiple of LS; BN * HD may leave a
 * tail of KT elements) */
#define QL (BM * HD / LS)
#define KL (BN * HD / LS)
#define KT (BN * HD - KL * LS)

/* fmax drops NaN; NaN scores must propagate to the row's output and LSE.
 * `|`, not `||`: a select, no branch (see PoCL below). */
#define NAN_MAX(a, b) ((isnan(a) | isnan(b)) ? NAN : fmax((a), (b)))

/* PoCL: every barrier sits at the top level of the tile loops, and the code
 * between two barriers is kept flat: the tile loads run a fixed number of
 * rounds (no trip-count guard branching around a loop right after a
 * barrier), the slot fills are one `if` each around straight-line code (no
 * nested conditionals ending at a barrier), and the per-score loops before
 * the barriers are selects only (no branches inside a loop that exits into
 * a barrier block). PoCL 5.0 built against LLVM 16+ (the new pass manager)
 * aborted in its work-group formation on the BM = 32 build, where those
 * NC = 8 loops were left as loops with branches (backends/opencl/NOTES.md). */

/* one round of a tile load: element idx of a BM- or BN-row tile, row slots
 * sl; padding rows (slot -1) read row 0 of the head and store 0 (a select,
 * no branch) */
#define VOX_TILE_LOAD(dst, src, sl, idx)                                                                          \
    do {                                                                                                           \
        int r_ = (idx) / HD, e_ = (idx) - r_ * HD;                                                                 \
        int s_ = (sl)[r_];                                                                                         \
        float x_ = LOADF(src, (base + max(s_, 0)) * HD + e_);                                                      \
        (dst)[r_ * QP + e_] = s_ >= 0 ? x_ : 0.0f;                                                                 \
    } while (0)

/* the whole BN-row K or V tile into KV (rows kslot): KL rounds of the work-group, then the KT
 * elements left over (none when KT is 0) */
#if KT
#define VOX_KV_TILE_REST(src) if (lid < KT) VOX_TILE_LOAD(KV, src, kslot, lid + KL * LS)
#else
#define VOX_KV_TILE_REST(src)
#endif
#define VOX_KV_TILE_LOAD(src)                                                                                     \
    {                                                                                                              \
        for (int u_ = 0; u_ < KL; u_++)                                                                            \
            VOX_TILE_LOAD(KV, src, kslot, lid + u_ * LS);                                                          \
        VOX_KV_TILE_REST(src);                                                                                     \
    }

__kernel __attribute__((reqd_work_group_size(LS, 1, 1))) void
vox_attention_forward(VOX_CL_BUF_PARAMS(VOX_ATTENTION_FORWARD_BUFS) VOX_CL_ARG_PARAMS(VOX_ATTENTION_FORWARD_ARGS))
{
    __local float Qs[BM * QP];
    __local float KV[BN * QP];
    __local float Ps[BM * PP];
    __local float red[LS];
    __local int rslot[BM];
    __local int kslot[BN];
    VOX_CL_APPLY_OFFSETS(VOX_ATTENTION_FORWARD_BUFS)
    VOX_CL_ARGS(attention_forward, VOX_ATTENTION_FORWARD_ARGS)
    const long NB = args.NB, total = args.total;
    const int V = args.V, tiles = args.tiles, has_kept = args.has_kept;
    const float scale = args.scale;
    const int lid = (int)get_local_id(0);
    const int row = lid / TPR, sub = lid - row * TPR;
    const long S = NB * V;
    const int logV = 31 - clz(V);
    for (long g = get_group_id(0); g < total; g += get_num_groups(0)) {
        long m = g / tiles;
        int tile = (int)(g - m * tiles);
        long bh = m / NB;
        int i = (int)(m - bh * NB);
        int nrows = has_kept ? kept_count[m] : valid[i];
        int r0 = tile * BM;
        /* tiles past the row count do no key work; they still pass every
         * barrier (no early exit: PoCL needs barriers reached uniformly) */
        const int active = r0 < nrows;
        const long base = bh * S;
        /* this item's row slot (items lid < BM): the kept row's token, or
         * -1 past the row count */
        const int rr = r0 + lid;
        const int rok = (lid < BM) & (rr < nrows);
        int rsrc = rr;
        if (rok & has_kept)
            rsrc = kept_rows[m * V + rr];
        const int myrow = rok ? i * V + rsrc : -1;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < BM)
            rslot[lid] = myrow;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int u = 0; u < QL; u++)
            VOX_TILE_LOAD(Qs, q, rslot, lid + u * LS);
        float mrow = -INFINITY, lrow = 0.0f;
        float acc[ND];
        for (int x = 0; x < ND; x++)
            acc[x] = 0.0f;
        const int start = active ? kv_start[m] : 0;
        const long nkeys = active ? (long)kv_count[m] * V : 0;
        for (long kt = 0; kt < nkeys; kt += BN) {
            /* this item's key slot (items lid < BN): vox_key_slot flattened */
            const long kp = kt + lid;
            const int kin = (lid < BN) & (kp < nkeys);
            const int koff = (int)kp & (V - 1);
            int kblk = 0, kval = 0;
            if (kin) {
                kblk = kv_cols[start + (int)(kp >> logV)];
                kval = valid[kblk];
            }
            const int mykey = (kin & (koff < kval)) ? kblk * V + koff : -1;
            barrier(CLK_LOCAL_MEM_FENCE);
            if (lid < BN)
                kslot[lid] = mykey;
            barrier(CLK_LOCAL_MEM_FENCE);
            VOX_KV_TILE_LOAD(k);
            barrier(CLK_LOCAL_MEM_FENCE);
            float sreg[NC];
            for (int x = 0; x < NC; x++)
                sreg[x] = 0.0f;
            for (int e = 0; e < HD; e++) {
                float qe = Qs[row * QP + e];
                for (int x = 0; x < NC; x++)
                    sreg[x] = mad(qe, KV[(sub + TPR * x) * QP + e], sreg[x]);
            }
            float pm = -INFINITY;
            for (int x = 0; x < NC; x++) {
                float sv = kslot[sub + TPR * x] < 0 ? -INFINITY : sreg[x];
                sreg[x] = sv;
                pm = NAN_MAX(pm, sv);
            }
            red[lid] = pm;
            barrier(CLK_LOCAL_MEM_FENCE);
            float tmax = -INFINITY;
            for (int u = 0; u < TPR; u++)
                tmax = NAN_MAX(tmax, red[row * TPR + u]);
            float mnew = NAN_MAX(mrow, tmax);
            /* exp first, then the select (no branch around the call) */
            const int none_yet = mnew == -INFINITY;
            float alpha = exp((mrow - mnew) * scale);
            alpha = none_yet ? 1.0f : alpha;
            float ps = 0.0f;
            for (int x = 0; x < NC; x++) {
                float pv = exp((sreg[x] - mnew) * scale);
                pv = none_yet ? 0.0f : pv;
                Ps[row * PP + sub + TPR * x] = pv;
                ps += pv;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            red[lid] = ps;
            VOX_KV_TILE_LOAD(v);
            barrier(CLK_LOCAL_MEM_FENCE);
            float tsum = 0.0f;
            for (int u = 0; u < TPR; u++)
                tsum += red[row * TPR + u];
            lrow = lrow * alpha + tsum;
            mrow = mnew;
            for (int x = 0; x < ND; x++) {
                int e = sub + TPR * x;
                float a = acc[x] * alpha;
                for (int c = 0; c < BN; c++)
                    a = mad(Ps[row * PP + c], KV[c * QP + e], a);
                acc[x] = a;
            }
        }
        const int s = rslot[row];
        const int has_l = (lrow > 0.0f) | isnan(lrow);
        const float inv = has_l ? 1.0f / lrow : 0.0f;
        if (s >= 0)
            for (int x = 0; x < ND; x++)
                STOREF(o, (base + s) * HD + sub + TPR * x, acc[x] * inv);
        if ((s >= 0) & (sub == 0))
            lse[base + s] = has_l ? mrow * scale + log(lrow) : -INFINITY;
    }
}

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
#define CL_OP_attention_forward(P, K, S, SUP) \
    P(PROG_ATTN, "attention", " -cl-mad-enable") \
    P(PROG_ATTN_MMA, "tensor-core attention", "") \
    K(PROG_ATTN, K_ATTENTION_FORWARD, "vox_attention_forward") \
    K(PROG_ATTN_MMA, K_ATTENTION_FORWARD_MMA, "vox_attention_forward_mma") \
    S(PROG_ATTN, "attention_forward.cl") \
    S(PROG_ATTN_MMA, "mma_common.cl") \
    S(PROG_ATTN_MMA, "attention_forward_mma.cl")
#ifdef CL_OP_LAUNCHERS

/* Attention tile shape for head dim hd that fits the device's local memory. */
static int attn_tiles(const cl_dev *d, int hd, int V, int *bm, int *bn, int *ls)
{
    static const int cand[][2] = {{32, 32}, {32, 16}, {16, 16}};
    int L = 128;
    if (d->max_wg < (size_t)L)
        L = 64;
    for (size_t c = 0; c < sizeof cand / sizeof cand[0]; c++) {
        int m = cand[c][0] < V ? cand[c][0] : V, n = cand[c][1];
        int tpr = L / m;
        if (tpr < 1 || n % tpr || hd % tpr)
            continue;
        size_t bytes = 4 * ((size_t)(m + n) * (size_t)(hd + 1) + (size_t)m * (size_t)(n + 1) + (size_t)L) +
                       4 * (size_t)(m + n) + 512;
        if (bytes > d->local_mem)
            continue;
        *bm = m, *bn = n, *ls = L;
        return 1;
    }
    return 0;
}

/* The attention arguments (both kernels take the same) for work-groups of
 * `rows` query rows each, and the launch. */
static vox_status attn_launch(cl_dev *d, const cl_prog *pr, int k, const vox_op_dims *dm,
                              const vox_op_attention_forward *p, int rows, const char *name, size_t ls,
                              vox_log_level level)
{
    vox_attention_forward_args a;
    vox_attention_forward_args_init(&a, dm, p);
    a.tiles = (a.V + rows - 1) / rows;
    a.total = a.BH * a.NB * a.tiles;
    const cl_attention_forward_bufs b = {.q = p->q,
                                         .k = p->k,
                                         .v = p->v,
                                         .o = p->o,
                                         .lse = p->lse,
                                         .kv_start = p->kv_start,
                                         .kv_count = p->kv_count,
                                         .kv_cols = p->kv_cols,
                                         .kept_count = a.has_kept ? p->kept_count : none,
                                         .kept_rows = a.has_kept ? p->kept_rows : none,
                                         .valid = dm->block_valid};
    const int64_t cap = (int64_t)1 << 22;
    const cl_grid g = {.prog = pr, .k = k, .groups = (size_t)(a.total < cap ? a.total : cap), .ls = ls, .name = name,
                       .level = level};
    return cl_attention_forward_launch(d, dm->dtype, &b, &a, &g);
}

/* Tensor-core attention (kernels/attention_forward_mma.cl): f16/bf16, head
 * dim <= 128, q/k/v/o rows 16-byte aligned (the kernel copies 16 bytes at a
 * time). Returns VOX_ERR_UNSUPPORTED where the portable kernel has to run:
 * not applicable, or the fast path failed (then it stays off for this
 * device). */
static vox_status attn_mma(cl_dev *d, const vox_op_dims *dm, const vox_op_attention_forward *p)
{
    int hd = (int)dm->head_dim;
    if (!d->mma || dm->dtype == VOX_F32 || hd > 128 || hd % 8)
        return VOX_ERR_UNSUPPORTED;
    const vox_bref *rows[] = {&p->q, &p->k, &p->v, &p->o};
    for (int i = 0; i < 4; i++)
        if (rows[i]->offset % 16)
            return VOX_ERR_UNSUPPORTED;
    /* local memory as declared by the kernel: Q/K tile, V^T tile, slots */
    size_t dp = hd <= 16 ? 16 : hd <= 32 ? 32 : hd <= 64 ? 64 : 128;
    size_t bytes = 2 * (64 * (dp + 8) + (size_t)hd * 72) + 4 * 64 + 8 * 64 + (d->mma == MMA_EMULATED ? 3072 : 0);
    if (bytes > d->local_mem)
        return VOX_ERR_UNSUPPORTED;
    cl_prog *pr = NULL;
    vox_status st = cl_get_prog(d, PROG_ATTN_MMA, (int)dm->dtype, hd, 64, 64, 128, &pr);
    if (!st) {
        st = attn_launch(d, pr, K_ATTENTION_FORWARD_MMA, dm, p, 64, "attention_forward (tensor cores)", 128, VOX_LOG_WARN);
        if (!st)
            return VOX_OK;
    }
    return cl_mma_give_up(d, &d->mma, "attention", st);
}

vox_status cl_attention_forward(void *devp, const vox_op_dims *dm, const vox_op_attention_forward *p)
{
    cl_dev *d = devp;
    if (attn_mma(d, dm, p) == VOX_OK)
        return VOX_OK;
    int bm, bn, ls, hd = (int)dm->head_dim, V = (int)dm->block_volume;
    if (!attn_tiles(d, hd, V, &bm, &bn, &ls))
        return vox_fail(d->log, VOX_ERR_UNSUPPORTED, "opencl: head_dim %d does not fit local memory (%llu bytes)", hd,
                        (unsigned long long)d->local_mem);
    cl_prog *pr = NULL;
    vox_status st = cl_get_prog(d, PROG_ATTN, (int)dm->dtype, hd, bm, bn, ls, &pr);
    if (st)
        return st;
    return attn_launch(d, pr, K_ATTENTION_FORWARD, dm, p, bm, "attention_forward", (size_t)ls, VOX_LOG_ERROR);
}

#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
