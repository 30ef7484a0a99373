/* permute_to (core/backend.h): caller layout -> block layout,
 * dst[bh][s] = src[b,h,slot_token[s]], zero rows for padding slots. Rows are
 * copied in units of the widest copy word (2, 4 or 16 bytes) that divides
 * every address and stride; the launcher picks the variant (b2/b4/b16) and
 * gives row and strides in those units. Launch: blockDim (32, 8),
 * grid-stride over rows (vox_copy_rows, common.cuh).
 * (One file per op: kernel names, device and host sections; ../gpu_kernels.h.) */

#define VOX_GPU_KERNELS_permute_to(R, O, M) R(permute_to_b2) R(permute_to_b4) R(permute_to_b16)

#ifdef VOX_GPU_DEVICE

template <typename U>
__device__ void permute_to(const U *src, U *dst, const int *slot_token, i64 heads, i64 BH, i64 S, i64 ru,
                           i64 sb, i64 sh, i64 st)
{
    vox_copy_rows<U>(BH * S, ru, [&](i64 row, int, const U *&in, U *&o) {
        i64 bh, s, b, h;
        vox_divmod(row, S, bh, s);
        vox_divmod(bh, heads, b, h);
        const int t = slot_token[s];
        o = dst + row * ru;
        in = t < 0 ? 0 : src + b * sb + h * sh + (i64)t * st;
    });
}

#define VOX_PERMUTE_TO_KERNEL(NAME, U)                                                                      \
    VOX_KERNEL void vox_permute_to_##NAME(VOX_PARAM vox_permute_to_bufs b, VOX_PARAM vox_permute_to_args a) \
    {                                                                                                       \
        permute_to<U>(vox_ptr<const U>(b.src), vox_ptr<U>(b.dst), vox_ptr<const int>(b.slot_token),         \
                      a.heads, a.BH, a.slots, a.row, a.sb, a.sh, a.st);                                     \
    }
VOX_EACH_COPY_UNIT(VOX_PERMUTE_TO_KERNEL)

#endif

#ifdef VOX_GPU_HOST

/* Blocks of (32, 8) threads (vox_copy_rows), in the widest copy unit. */
vox_status gpu_permute_to(void *dev, const vox_op_dims *d, const vox_op_permute_to *p)
{
    gpu_dev *g = dev;
    vox_permute_to_bufs b = {.src = gpu_dptr(p->src.ref), .dst = gpu_dptr(p->dst),
                             .slot_token = gpu_dptr(p->slot_token)};
    GPU_OP_ARGS(permute_to);
    int u = to_copy_units(d, b.src, b.dst, &a.row, &a.sb, &a.sh, &a.st);
    int fn = BY_COPY_UNIT(permute_to, u);
    return gpu_launch_op(g, VOX_OP_permute_to, fn, gpu_cap_grid(g, (a.BH * a.slots + 7) / 8, 64), 32, 8, 0, &b,
                         &a);
}

#endif
