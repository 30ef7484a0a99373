/* voxattn OpenCL: permute_to and permute_from, between the caller's layout
 * and the block layout (core/backend.h has the exact semantics). Rows are
 * copied as raw elements (args.row per row, strides in elements), one
 * work-group per row, grid-stride. */

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
