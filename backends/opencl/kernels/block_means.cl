/* voxattn OpenCL: block_means, the mean row of every block (valid rows, or
 * kept rows after query selection) read in the caller's layout through
 * slot_token, accumulated in `real` in the reference's order
 * (core/backend.h; backends/cpu/ has the reference).
 * (One file per op: device and host sections, cl_internal.h.) */
#ifdef __OPENCL_VERSION__

#pragma OPENCL FP_CONTRACT OFF

/* -DBM_UNROLL=n (VOXATTN_OPENCL_BM_UNROLL; 1: one row at a time, as session 12) */
#ifndef BM_UNROLL
#define BM_UNROLL 8
#endif

/* out[m][:] = mean of the valid (or kept) rows of block j = m % NB, one
 * work-group per m = bh*NB + j (grid-stride) */
__kernel void vox_block_means(VOX_CL_BUF_PARAMS(VOX_BLOCK_MEANS_BUFS) VOX_CL_ARG_PARAMS(VOX_BLOCK_MEANS_ARGS))
{
    VOX_CL_APPLY_OFFSETS(VOX_BLOCK_MEANS_BUFS)
    VOX_CL_ARGS(block_means, VOX_BLOCK_MEANS_ARGS)
    const long NB = args.NB, nrows = args.BH * NB;
    const int V = args.V, D = args.D, has_kept = args.has_kept;
    for (long m = get_group_id(0); m < nrows; m += get_num_groups(0)) {
        long bh = m / NB, j = m - bh * NB;
        const long base = (bh / args.heads) * args.sb + (bh % args.heads) * args.sh;
        int n = has_kept ? kept_count[m] : valid[j];
        for (int e = LID; e < D; e += LSZ) {
            real acc = 0;
            int r = 0;
#if BM_UNROLL > 1
            /* BM_UNROLL rows' loads issued before their adds (the same sums in row order) */
            for (; r + BM_UNROLL <= n; r += BM_UNROLL) {
                float xv[BM_UNROLL];
#pragma unroll
                for (int u = 0; u < BM_UNROLL; u++) {
                    long slot = j * V + (has_kept ? kept_rows[m * V + r + u] : r + u);
                    xv[u] = LOADF(x, base + (long)slot_token[slot] * args.st + e);
                }
#pragma unroll
                for (int u = 0; u < BM_UNROLL; u++)
                    acc += (real)xv[u];
            }
#endif
            for (; r < n; r++) {
                long slot = j * V + (has_kept ? kept_rows[m * V + r] : r);
                acc += (real)LOADF(x, base + (long)slot_token[slot] * args.st + e);
            }
            out[m * D + e] = n ? (float)(acc / (real)n) : 0.0f;
        }
    }
}

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
#define CL_OP_block_means(P, K, S, SUP) K(PROG_OPS, K_BLOCK_MEANS, "vox_block_means") S(PROG_OPS, "block_means.cl")
#ifdef CL_OP_LAUNCHERS
/* a work-group per (bh, block) */
CL_SIMPLE_LAUNCHER(block_means, K_BLOCK_MEANS, groups_for(a.BH * a.NB), row_ls(dm->head_dim), .x = p->x.ref,
                   .slot_token = p->slot_token, .kept_count = a.has_kept ? p->kept_count : none,
                   .kept_rows = a.has_kept ? p->kept_rows : none, .valid = dm->block_valid, .out = p->out)
#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
