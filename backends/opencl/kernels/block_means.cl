/* voxattn OpenCL: block_means, the mean row of every block (valid rows, or
 * kept rows after query selection) read in the caller's layout through
 * slot_token, accumulated in `real` in the reference's order
 * (core/backend.h; backends/cpu/ has the reference).
 *
 * One file per op: the OpenCL C kernels (device section, compiled by the
 * OpenCL compiler, which defines __OPENCL_VERSION__) and the host launcher
 * cl_block_means() (host section, included into cl_ops.c through cl_op_files.h),
 * with the op's programs, kernels and program sources as X-macro lists. */
#ifdef __OPENCL_VERSION__

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

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
/* The op's own programs {PROG_*, what, extra build options}, kernels
 * {program, K_*, name}, program sources {program, file or text} and whether
 * it has a cl_<op>_supports() {op} (cl_internal.h, cl_program.c, cl_ops.c). */
#define CL_PROGRAMS_block_means(X)
#define CL_KERNELS_block_means(X) \
    X(PROG_OPS, K_BLOCK_MEANS, "vox_block_means")
#define CL_PARTS_block_means(X) \
    X(PROG_OPS, "block_means.cl")
#define CL_SUPPORTS_block_means(X)
#ifdef CL_OP_LAUNCHERS

vox_status cl_block_means(void *devp, const vox_op_dims *dm, const vox_op_block_means *p)
{
    vox_block_means_args a;
    vox_block_means_args_init(&a, dm, p);
    const cl_block_means_bufs b = {.x = p->x.ref,
                                   .slot_token = p->slot_token,
                                   .kept_count = a.has_kept ? p->kept_count : none,
                                   .kept_rows = a.has_kept ? p->kept_rows : none,
                                   .valid = dm->block_valid,
                                   .out = p->out};
    const cl_grid g = {.k = K_BLOCK_MEANS, .groups = groups_for(a.BH * a.NB), .ls = row_ls(dm->head_dim)};
    return cl_block_means_launch(devp, dm->dtype, &b, &a, &g);
}

#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
