/* voxattn OpenCL: permute_to, from the caller's layout
 * and the block layout (core/backend.h has the exact semantics). Rows are
 * copied as raw elements (args.row per row, strides in elements), one
 * work-group per row, grid-stride.
 *
 * One file per op: the OpenCL C kernels (device section, compiled by the
 * OpenCL compiler, which defines __OPENCL_VERSION__) and the host launcher
 * cl_permute_to() (host section, included into cl_ops.c through cl_op_files.h),
 * with the op's programs, kernels and program sources as X-macro lists. */
#ifdef __OPENCL_VERSION__
/* contraction as the OpenCL default (explicit: the op programs concatenate files) */
#pragma OPENCL FP_CONTRACT ON


/* dst[bh][s][:] = slot_token[s] >= 0 ? src[b,h,slot_token[s],:] : 0 */
__kernel void vox_permute_to(VOX_CL_BUF_PARAMS(VOX_PERMUTE_TO_BUFS) VOX_CL_ARG_PARAMS(VOX_PERMUTE_TO_ARGS))
{
    VOX_CL_APPLY_OFFSETS(VOX_PERMUTE_TO_BUFS)
    VOX_CL_ARGS(permute_to, VOX_PERMUTE_TO_ARGS)
    __global const rawel *in = (__global const rawel *)src;
    __global rawel *out = (__global rawel *)dst;
    const long S = args.slots, H = args.heads, nrows = args.BH * S;
    const int D = (int)args.row;
    for (long row = get_group_id(0); row < nrows; row += get_num_groups(0)) {
        long bh = row / S, s = row - bh * S;
        long b = bh / H, h = bh - b * H;
        int t = slot_token[s];
        __global rawel *o = out + row * D;
        if (t < 0) {
            for (int e = LID; e < D; e += LSZ)
                o[e] = 0;
        } else {
            __global const rawel *x = in + b * args.sb + h * args.sh + (long)t * args.st;
            for (int e = LID; e < D; e += LSZ)
                o[e] = x[e];
        }
    }
}

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
/* The op's own programs {PROG_*, what, extra build options}, kernels
 * {program, K_*, name}, program sources {program, file or text} and whether
 * it has a cl_<op>_supports() {op} (cl_internal.h, cl_program.c, cl_ops.c). */
#define CL_PROGRAMS_permute_to(X)
#define CL_KERNELS_permute_to(X) \
    X(PROG_OPS, K_PERMUTE_TO, "vox_permute_to")
#define CL_PARTS_permute_to(X) \
    X(PROG_OPS, "permute_to.cl")
#define CL_SUPPORTS_permute_to(X)
#ifdef CL_OP_LAUNCHERS

vox_status cl_permute_to(void *devp, const vox_op_dims *dm, const vox_op_permute_to *p)
{
    vox_permute_to_args a;
    vox_permute_to_args_init(&a, dm, p);
    const cl_permute_to_bufs b = {.src = p->src.ref, .dst = p->dst, .slot_token = p->slot_token};
    const cl_grid g = {.k = K_PERMUTE_TO, .groups = groups_for(a.BH * a.slots), .ls = row_ls(dm->head_dim)};
    return cl_permute_to_launch(devp, dm->dtype, &b, &a, &g);
}

#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
