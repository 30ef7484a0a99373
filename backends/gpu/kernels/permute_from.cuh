/* permute_from (core/backend.h): block layout -> caller layout,
 * dst[b,h,t] = src[bh][fill_src ? fill_src[bh*S+s] : s] with s =
 * token_slot[t], and the LSE likewise when both LSE buffers are present.
 * Rows are copied in units of the widest copy word (2, 4 or 16 bytes) that
 * divides every address and stride, as in permute_to.cuh. Launch: blockDim
 * (32, 8), grid-stride over rows (vox_copy_rows, common.cuh).
 * (One file per op: kernel names, device and host sections; ../gpu_kernels.h.) */

#define VOX_GPU_KERNELS_permute_from(R, O, M) R(permute_from_b2) R(permute_from_b4) R(permute_from_b16)

#ifdef VOX_GPU_DEVICE

template <typename U>
__device__ void permute_from(const U *src, const float *lse_src, U *dst, float *lse_dst, const int *token_slot,
                             const int *fill, i64 heads, i64 BH, i64 S, i64 N, i64 ru, i64 sb, i64 sh, i64 st,
                             i64 lsb, i64 lsh, i64 lst)
{
    vox_copy_rows<U>(BH * N, ru, [&](i64 row, int u, const U *&in, U *&o) {
        i64 bh, t, b, h;
        vox_divmod(row, N, bh, t);
        vox_divmod(bh, heads, b, h);
        const i64 s = token_slot[t];
        const i64 f = fill ? (i64)fill[bh * S + s] : s;
        in = src + (bh * S + f) * ru;
        o = dst + b * sb + h * sh + t * st;
        if (lse_dst && lse_src && u == 0)
            lse_dst[b * lsb + h * lsh + t * lst] = lse_src[bh * S + f];
    });
}

/* Absent buffers (fill_src, the LSE pair) arrive as 0: NULL pointers. */
#define VOX_PERMUTE_FROM_KERNEL(NAME, U)                                                                    \
    VOX_KERNEL void vox_permute_from_##NAME(VOX_PARAM vox_permute_from_bufs b,                              \
                                            VOX_PARAM vox_permute_from_args a)                              \
    {                                                                                                       \
        permute_from<U>(vox_ptr<const U>(b.src), vox_ptr<const float>(b.lse_src), vox_ptr<U>(b.dst),        \
                        vox_ptr<float>(b.lse_dst), vox_ptr<const int>(b.token_slot),                        \
                        vox_ptr<const int>(b.fill_src), a.heads, a.BH, a.slots, a.N, a.row, a.sb, a.sh,     \
                        a.st, a.lsb, a.lsh, a.lst);                                                         \
    }
VOX_EACH_COPY_UNIT(VOX_PERMUTE_FROM_KERNEL)

#endif

#ifdef VOX_GPU_HOST

/* Blocks of (32, 8) threads (vox_copy_rows, common.cuh), in the widest copy unit. */
vox_status gpu_permute_from(void *dev, const vox_op_dims *d, const vox_op_permute_from *p)
{
    gpu_dev *g = dev;
    vox_permute_from_bufs b = {.src = gpu_dptr(p->src), .lse_src = gpu_dptr(p->lse_src), .dst = gpu_dptr(p->dst.ref),
                               .lse_dst = gpu_dptr(p->lse_dst.ref), .token_slot = gpu_dptr(p->token_slot),
                               .fill_src = gpu_dptr(p->fill_src)};
    if (!b.lse_src || !b.lse_dst)
        b.lse_src = b.lse_dst = 0;
    GPU_OP_ARGS(permute_from);
    int u = to_copy_units(d, b.src, b.dst, &a.row, &a.sb, &a.sh, &a.st);
    int fn = BY_COPY_UNIT(permute_from, u);
    return gpu_launch_op(g, VOX_OP_permute_from, fn, gpu_cap_grid(g, (a.BH * a.N + 7) / 8, 64), 32, 8, 0, &b,
                         &a);
}

#endif
