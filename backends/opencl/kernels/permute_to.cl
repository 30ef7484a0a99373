/* voxattn OpenCL: permute_to, from the caller's layout
 * and the block layout (core/backend.h has the exact semantics). Rows are
 * copied as raw elements (args.row per row, strides in elements), one
 * work-group per row, grid-stride.
 * (One file per op: device and host sections, cl_internal.h.) */
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
#define CL_OP_permute_to(P, K, S, SUP) K(PROG_OPS, K_PERMUTE_TO, "vox_permute_to") S(PROG_OPS, "permute_to.cl")
#ifdef CL_OP_LAUNCHERS
/* a work-group per block-layout row */
CL_SIMPLE_LAUNCHER(permute_to, K_PERMUTE_TO, groups_for(a.BH * a.slots), row_ls(dm->head_dim), .src = p->src.ref,
                   .dst = p->dst, .slot_token = p->slot_token)
#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
