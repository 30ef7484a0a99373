/* voxattn OpenCL: permute_from, from the block layout back to
 * the caller's layout (core/backend.h has the exact semantics). Rows are
 * copied as raw elements (args.row per row, strides in elements), one
 * work-group per row, grid-stride.
 * (One file per op: device and host sections, cl_internal.h.) */
#ifdef __OPENCL_VERSION__
/* contraction as the OpenCL default (explicit: the op programs concatenate files) */
#pragma OPENCL FP_CONTRACT ON


/* dst[b,h,t,:] = src[bh][f][:], f = has_fill ? fill_src[bh*S + token_slot[t]] : token_slot[t];
 * likewise lse_dst[b,h,t] = lse_src[bh*S + f] when has_lse */
__kernel void vox_permute_from(VOX_CL_BUF_PARAMS(VOX_PERMUTE_FROM_BUFS) VOX_CL_ARG_PARAMS(VOX_PERMUTE_FROM_ARGS))
{
    VOX_CL_APPLY_OFFSETS(VOX_PERMUTE_FROM_BUFS)
    VOX_CL_ARGS(permute_from, VOX_PERMUTE_FROM_ARGS)
    __global const rawel *in = (__global const rawel *)src;
    __global rawel *out = (__global rawel *)dst;
    const long S = args.slots, H = args.heads, N = args.N, nrows = args.BH * N;
    const int D = (int)args.row;
    for (long row = get_group_id(0); row < nrows; row += get_num_groups(0)) {
        long bh = row / N, t = row - bh * N;
        long b = bh / H, h = bh - b * H;
        long s = token_slot[t];
        long f = args.has_fill ? (long)fill_src[bh * S + s] : s;
        __global const rawel *x = in + (bh * S + f) * D;
        __global rawel *o = out + b * args.sb + h * args.sh + t * args.st;
        for (int e = LID; e < D; e += LSZ)
            o[e] = x[e];
        if (args.has_lse && LID == 0)
            lse_dst[b * args.lsb + h * args.lsh + t * args.lst] = lse_src[bh * S + f];
    }
}

/* The same copy in 16-byte words, one work-item per word of dst (grid-stride;
 * args.row, sb, sh, st in words: see vox_permute_to16). */
__kernel void vox_permute_from16(VOX_CL_BUF_PARAMS(VOX_PERMUTE_FROM_BUFS) VOX_CL_ARG_PARAMS(VOX_PERMUTE_FROM_ARGS))
{
    VOX_CL_APPLY_OFFSETS(VOX_PERMUTE_FROM_BUFS)
    VOX_CL_ARGS(permute_from, VOX_PERMUTE_FROM_ARGS)
    __global const uint4 *in = (__global const uint4 *)src;
    __global uint4 *out = (__global uint4 *)dst;
    const uint W = (uint)args.row, S = (uint)args.slots, N = (uint)args.N, H = (uint)args.heads;
    const uint total = (uint)(args.BH * N) * W;
    for (uint idx = (uint)get_global_id(0); idx < total; idx += (uint)get_global_size(0)) {
        uint rest = idx / W, e = idx - rest * W;
        uint bh = rest / N, t = rest - bh * N;
        uint b = bh / H, h = bh - b * H;
        long s = token_slot[t];
        long f = args.has_fill ? (long)fill_src[bh * (long)S + s] : s;
        out[b * args.sb + h * args.sh + t * args.st + e] = in[(bh * (long)S + f) * W + e];
        if (args.has_lse && e == 0)
            lse_dst[b * args.lsb + h * args.lsh + t * args.lst] = lse_src[bh * (long)S + f];
    }
}

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
#define CL_OP_permute_from(P, K, S, SUP)                  \
    K(PROG_OPS, K_PERMUTE_FROM, "vox_permute_from")       \
    K(PROG_OPS, K_PERMUTE_FROM16, "vox_permute_from16")   \
    S(PROG_OPS, "permute_from.cl")
#ifdef CL_OP_LAUNCHERS
/* 16-byte words, a work-item per word of dst (cl_permute_wide, permute_to.cl);
 * else a work-group per caller row */
vox_status cl_permute_from(void *devp, const vox_op_dims *dm, const vox_op_permute_from *p)
{
    cl_dev *d = devp;
    vox_permute_from_args a;
    vox_permute_from_args_init(&a, dm, p);
    const cl_permute_from_bufs b = {.src = p->src, .lse_src = a.has_lse ? p->lse_src : none, .dst = p->dst.ref,
                                    .lse_dst = a.has_lse ? p->lse_dst.ref : none, .token_slot = p->token_slot,
                                    .fill_src = p->fill_src};
    const int64_t rows = a.BH * a.N;
    if (cl_permute_wide(d, rows, vox_dtype_size(dm->dtype), &a.row, &a.sb, &a.sh, &a.st, p->src.offset,
                        p->dst.ref.offset)) {
        const cl_grid g = {.k = K_PERMUTE_FROM16, .groups = groups_for((rows * a.row + 255) / 256), .ls = 256};
        return cl_permute_from_launch(d, dm->dtype, &b, &a, &g);
    }
    const cl_grid g = {.k = K_PERMUTE_FROM, .groups = groups_for(rows), .ls = row_ls(dm->head_dim)};
    return cl_permute_from_launch(d, dm->dtype, &b, &a, &g);
}
#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
