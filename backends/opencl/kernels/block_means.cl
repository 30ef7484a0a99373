/* voxattn OpenCL: block_means, the mean row of every block (valid rows, or
 * kept rows after query selection) read in the caller's layout through
 * slot_token, accumulated in `real` in the reference's order
 * (core/backend.h; backends/cpu/ has the reference). */
#pragma OPENCL FP_CONTRACT OFF

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
            for (int r = 0; r < n; r++) {
                long slot = j * V + (has_kept ? kept_rows[m * V + r] : r);
                acc += (real)LOADF(x, base + (long)slot_token[slot] * args.st + e);
            }
            out[m * D + e] = n ? (float)(acc / (real)n) : 0.0f;
        }
    }
}
