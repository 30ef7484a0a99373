/* voxattn OpenCL: mask_transpose (core/backend.h), attention_backward's
 * packed mask from the forward's CSR. One work-group of MT_LS items per
 * (head, tile of MT_LS KV blocks), grid-stride. The group walks the head's
 * rows in chunks of MT_LS: item r binary-searches row i0 + r for the tile's
 * first column, walks its columns inside the tile and sets bit r of each
 * column's word in local memory (atomic_or: one bit per row, so the words
 * do not depend on the order); then item t reads column j0 + t's words.
 * Pass 0 counts them (popcount) and copies the header and the columns;
 * pass 1 computes the column's start (the head's counts before the tile,
 * reduced, plus a scan over the tile) and writes its rows in bit order, i.e.
 * ascending. No global atomics: each column is one item's; deterministic.
 * Every barrier is outside any branch (pass 0 runs pass 1's reduce and scan
 * on zeros): with the scan inside `if (pass == 1)` and the divergent
 * `if (j < NB) col_start = at` at its end, LLVM merged the two branches'
 * join blocks and PoCL 3.1 (LLVM 15, Debian 12; loopvec and workitemrepl)
 * then took the divergent branch for a barrier branch, i.e. uniform: it
 * evaluated it for work-item 0 only (llvm.assume for the rest), so items
 * with j >= NB also stored col_start, over the next head's counts, and the
 * groups reading those wrote lists past the buffer (host heap corruption).
 * Keep barriers unconditional here. (One file per op: device and host sections,
 * cl_internal.h.) */
#ifdef __OPENCL_VERSION__
/* no contraction (explicit: the op programs concatenate files) */
#pragma OPENCL FP_CONTRACT OFF


#define MT_LS 128
#define MT_W (MT_LS / 32) /* words per column (one bit per row of a chunk) */

__kernel __attribute__((reqd_work_group_size(MT_LS, 1, 1))) void
vox_mask_transpose(VOX_CL_BUF_PARAMS(VOX_MASK_TRANSPOSE_BUFS) VOX_CL_ARG_PARAMS(VOX_MASK_TRANSPOSE_ARGS))
{
    __local uint bits[MT_W * MT_LS]; /* word w of column t at bits[w*MT_LS + t] */
    __local int sum[MT_LS];
    VOX_CL_APPLY_OFFSETS(VOX_MASK_TRANSPOSE_BUFS)
    VOX_CL_ARGS(mask_transpose, VOX_MASK_TRANSPOSE_ARGS)
    const long NB = args.NB, R = args.BH * NB, tiles = (NB + MT_LS - 1) / MT_LS;
    const int t = LID;
    for (long wg = get_group_id(0); wg < args.BH * tiles; wg += get_num_groups(0)) {
        const long bh = wg / tiles, j0 = (wg % tiles) * MT_LS, j = j0 + t;
        /* Pass 1: where column j's list goes, the head's counts before the
         * tile (reduced) plus a scan over the tile. Pass 0 runs the same
         * barriers on zeros: no barrier sits inside a branch (see above). */
        const int valid = j < NB, lists = args.pass == 1;
        int prior = 0;
        if (lists)
            for (long c = t; c < j0; c += MT_LS)
                prior += mask[3 * R + bh * NB + c];
        sum[t] = prior;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int w = MT_LS / 2; w > 0; w >>= 1) {
            if (t < w)
                sum[t] += sum[t + w];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        const int before = sum[0];
        barrier(CLK_LOCAL_MEM_FENCE);
        const int own = lists && valid ? mask[3 * R + bh * NB + j] : 0;
        sum[t] = own;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int off = 1; off < MT_LS; off <<= 1) { /* inclusive scan */
            const int v = t >= off ? sum[t - off] : 0;
            barrier(CLK_LOCAL_MEM_FENCE);
            sum[t] += v;
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        const int at = (int)(args.t0 + bh * args.head_room) + before + sum[t] - own;
        for (int w = 0; w < MT_W; w++)
            bits[w * MT_LS + t] = 0;
        barrier(CLK_LOCAL_MEM_FENCE);
        int n = 0;
        for (long i0 = 0; i0 < NB; i0 += MT_LS) {
            const long i = i0 + t;
            if (i < NB) {
                const long m = bh * NB + i;
                const int s = kv_start[m], cnt = kv_count[m];
                if (args.pass == 0 && j0 == 0) {
                    mask[m] = (int)(4 * R) + s;
                    mask[R + m] = cnt;
                }
                int lo = 0, hi = cnt; /* the first column >= j0 */
                while (lo < hi) {
                    const int mid = (lo + hi) >> 1;
                    if (kv_cols[s + mid] < j0)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                for (int c = lo; c < cnt; c++) {
                    const int col = kv_cols[s + c];
                    if (col >= j0 + MT_LS)
                        break;
                    atomic_or(&bits[(t >> 5) * MT_LS + (col - j0)], 1u << (t & 31));
                    if (args.pass == 0)
                        mask[4 * R + s + c] = col;
                }
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int w = 0; w < MT_W; w++) {
                uint b = bits[w * MT_LS + t];
                bits[w * MT_LS + t] = 0;
                if (args.pass == 0)
                    n += (int)popcount(b);
                else
                    for (; b; b &= b - 1) /* lowest set bit first: ascending rows */
                        mask[at + n++] = (int)(i0 + w * 32 + 31 - (int)clz(b & (~b + 1)));
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        if (valid) /* the column's count (pass 0) or start (pass 1) */
            mask[(lists ? 2 : 3) * R + bh * NB + j] = lists ? at : n;
    }
}

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
#define CL_OP_mask_transpose(P, K, S, SUP) \
    K(PROG_OPS, K_MASK_TRANSPOSE, "vox_mask_transpose") \
    S(PROG_OPS, "mask_transpose.cl") \
    SUP(mask_transpose)
#ifdef CL_OP_LAUNCHERS

/* Two passes of one kernel (kernels/mask_transpose.cl), one work-group of 128
 * items per (head, tile of 128 KV blocks): counts, then starts and lists. */
vox_status cl_mask_transpose(void *devp, const vox_op_dims *dm, const vox_op_mask_transpose *p)
{
    vox_mask_transpose_args a;
    vox_mask_transpose_args_init(&a, dm, p);
    const cl_mask_transpose_bufs b = {.kv_start = p->kv_start, .kv_count = p->kv_count, .kv_cols = p->kv_cols,
                                      .mask = p->mask};
    cl_grid g = {.k = K_MASK_TRANSPOSE, .groups = groups_for(a.BH * ((a.NB + 127) / 128)), .ls = 128,
                 .name = "mask_transpose (counts)"};
    vox_status st = cl_mask_transpose_launch(devp, dm->dtype, &b, &a, &g);
    if (st)
        return st;
    a.pass = 1;
    g.name = "mask_transpose (lists)";
    return cl_mask_transpose_launch(devp, dm->dtype, &b, &a, &g);
}

/* Work-groups of 128 items (cl_supports). */
static vox_status cl_mask_transpose_supports(const cl_dev *d, const vox_op_dims *dm, char *reason, size_t n)
{
    if (d->max_wg < 128) {
        snprintf(reason, n, "work-groups of 128 items needed, the device has %zu", d->max_wg);
        return VOX_ERR_UNSUPPORTED;
    }
    return VOX_OK;
}

#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
