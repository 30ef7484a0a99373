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

/* The same copy in 16-byte words, one work-item per word of dst (grid-stride):
 * args.row, sb, sh, st are in words (the host rescales them and takes this
 * kernel only when rows, strides and both tensors' offsets are 16-byte
 * aligned and dst has fewer than 2^31 words), so a warp moves 512
 * contiguous bytes per access and a row costs no work-group of its own. */
__kernel void vox_permute_to16(VOX_CL_BUF_PARAMS(VOX_PERMUTE_TO_BUFS) VOX_CL_ARG_PARAMS(VOX_PERMUTE_TO_ARGS))
{
    VOX_CL_APPLY_OFFSETS(VOX_PERMUTE_TO_BUFS)
    VOX_CL_ARGS(permute_to, VOX_PERMUTE_TO_ARGS)
    __global const uint4 *in = (__global const uint4 *)src;
    __global uint4 *out = (__global uint4 *)dst;
    const uint W = (uint)args.row, S = (uint)args.slots, H = (uint)args.heads;
    const uint total = (uint)(args.BH * S) * W;
    for (uint idx = (uint)get_global_id(0); idx < total; idx += (uint)get_global_size(0)) {
        uint rest = idx / W, e = idx - rest * W;
        uint bh = rest / S, s = rest - bh * S;
        uint b = bh / H, h = bh - b * H;
        int t = slot_token[s];
        out[idx] = t >= 0 ? in[b * args.sb + h * args.sh + (long)t * args.st + e] : (uint4)(0u);
    }
}

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
#define CL_OP_permute_to(P, K, S, SUP)                        \
    K(PROG_OPS, K_PERMUTE_TO, "vox_permute_to")               \
    K(PROG_OPS, K_PERMUTE_TO16, "vox_permute_to16")           \
    S(PROG_OPS, "permute_to.cl")
#ifdef CL_OP_LAUNCHERS
/* Whether a permute can copy 16-byte words: rows, the caller's strides and
 * both tensors' offsets 16-byte aligned, fewer than 2^31 words of the block
 * layout, and VOXATTN_OPENCL_PERMUTE_NARROW unset. Rescales the row and
 * the strides to words when so. */
static int cl_permute_wide(const cl_dev *d, int64_t rows, size_t es, int64_t *row, int64_t *sb, int64_t *sh,
                           int64_t *st, size_t off_a, size_t off_b)
{
    const int64_t w = 16 / (int64_t)es;
    if (d->permute_narrow || *row % w || *sb % w || *sh % w || *st % w || off_a % 16 || off_b % 16 ||
        rows * (*row / w) >= ((int64_t)1 << 31))
        return 0;
    *row /= w, *sb /= w, *sh /= w, *st /= w;
    return 1;
}

/* 16-byte words, a work-item per word of dst (cl_permute_wide); else a
 * work-group per block-layout row */
vox_status cl_permute_to(void *devp, const vox_op_dims *dm, const vox_op_permute_to *p)
{
    cl_dev *d = devp;
    vox_permute_to_args a;
    vox_permute_to_args_init(&a, dm, p);
    const cl_permute_to_bufs b = {.src = p->src.ref, .dst = p->dst, .slot_token = p->slot_token};
    const int64_t rows = a.BH * a.slots;
    if (cl_permute_wide(d, rows, vox_dtype_size(dm->dtype), &a.row, &a.sb, &a.sh, &a.st, p->src.ref.offset,
                        p->dst.offset)) {
        const cl_grid g = {.k = K_PERMUTE_TO16, .groups = groups_for((rows * a.row + 255) / 256), .ls = 256};
        return cl_permute_to_launch(d, dm->dtype, &b, &a, &g);
    }
    const cl_grid g = {.k = K_PERMUTE_TO, .groups = groups_for(rows), .ls = row_ls(dm->head_dim)};
    return cl_permute_to_launch(d, dm->dtype, &b, &a, &g);
}
#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
