/* mask_transpose: attention_backward's packed mask from the forward's CSR
 * (vox_op_mask_transpose). One workgroup of 128 invocations per (head, tile
 * of 128 KV blocks). The group walks the head's rows in chunks of 128:
 * invocation r binary-searches row i0 + r for the tile's first column,
 * walks its columns inside the tile and sets bit r of each column's word in
 * shared memory (atomicOr: one bit per row, order-independent); then
 * invocation t reads column j0 + t's words. Pass 0 counts them and copies the
 * header and the columns; pass 1 computes the column's start (the head's
 * counts before the tile, reduced, plus a scan over the tile) and writes its
 * rows in bit order, i.e. ascending. No global atomics: deterministic.
 *
 * One file per op: the GLSL compute shader (compiled by glslc with
 * -DVOX_GLSL and -std=450, so no #version line here), and in a section
 * glslc skips the host side, compiled into vk_ops.c through the generated
 * vk_op_files.h: the op's shader variants VK_VARIANTS_mask_transpose (one
 * X(name, source, defines) per line; backends/vulkan/meson.build reads these
 * lines to build the SPIR-V, the launcher reads the defines), the
 * launcher vk_mask_transpose() and VK_SUPPORTS_mask_transpose.
 */
#ifdef VOX_GLSL
#include "common.glsl"
#define WG 128u
#define NW (WG / 32u) /* words per column */
layout(local_size_x = 128) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_MASK_TRANSPOSE_BUFS) VOX_GLSL_FIELDS(VOX_MASK_TRANSPOSE_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer KvStart { int kv_start[]; };
layout(std430, set = 0, binding = 1) readonly buffer KvCount { int kv_count[]; };
layout(std430, set = 0, binding = 2) readonly buffer KvCols { int kv_cols[]; };
layout(std430, set = 0, binding = 3) buffer Mask { int mask[]; };

shared uint bits[NW * WG]; /* word w of column t at bits[w*WG + t] */
shared int sum[WG];

void main()
{
    uint wg = group_linear_id();
    if (wg >= pc.wg_count)
        return;
    uint t = gl_LocalInvocationID.x;
    uint NB = vox_u64lo(pc.NB), R = vox_u64lo(pc.BH) * NB, tiles = (NB + WG - 1u) / WG;
    uint bh = wg / tiles, j0 = (wg % tiles) * WG, j = j0 + t;
    uint om = pc.off[3], ostart = pc.off[0], ocount = pc.off[1], ocols = pc.off[2];
    int at = 0; /* pass 1: where column j's list goes */
    if (pc.pass == 1) {
        int s = 0;
        for (uint c = t; c < j0; c += WG)
            s += mask[om + 3u * R + bh * NB + c];
        sum[t] = s;
        barrier();
        for (uint w = WG / 2u; w > 0u; w >>= 1u) {
            if (t < w)
                sum[t] += sum[t + w];
            barrier();
        }
        int before = sum[0];
        barrier();
        int own = j < NB ? mask[om + 3u * R + bh * NB + j] : 0;
        sum[t] = own;
        barrier();
        for (uint off = 1u; off < WG; off <<= 1u) { /* inclusive scan */
            int v = t >= off ? sum[t - off] : 0;
            barrier();
            sum[t] += v;
            barrier();
        }
        at = int(vox_u64lo(pc.t0) + bh * vox_u64lo(pc.head_room)) + before + sum[t] - own;
        if (j < NB)
            mask[om + 2u * R + bh * NB + j] = at;
    }
    for (uint w = 0u; w < NW; w++)
        bits[w * WG + t] = 0u;
    barrier();
    int n = 0;
    for (uint i0 = 0u; i0 < NB; i0 += WG) {
        uint i = i0 + t;
        if (i < NB) {
            uint m = bh * NB + i;
            int s = kv_start[ostart + m], cnt = kv_count[ocount + m];
            if (pc.pass == 0 && j0 == 0u) {
                mask[om + m] = int(4u * R) + s;
                mask[om + R + m] = cnt;
            }
            int lo = 0, hi = cnt; /* the first column >= j0 */
            while (lo < hi) {
                int mid = (lo + hi) >> 1;
                if (kv_cols[ocols + uint(s + mid)] < int(j0))
                    lo = mid + 1;
                else
                    hi = mid;
            }
            for (int c = lo; c < cnt; c++) {
                int col = kv_cols[ocols + uint(s + c)];
                if (col >= int(j0 + WG))
                    break;
                atomicOr(bits[(t >> 5u) * WG + uint(col) - j0], 1u << (t & 31u));
                if (pc.pass == 0)
                    mask[om + 4u * R + uint(s + c)] = col;
            }
        }
        barrier();
        for (uint w = 0u; w < NW; w++) {
            uint b = bits[w * WG + t];
            bits[w * WG + t] = 0u;
            if (pc.pass == 0)
                n += bitCount(b);
            else
                for (; b != 0u; b &= b - 1u) /* lowest set bit first: ascending rows */
                    mask[om + uint(at + n++)] = int(i0 + w * 32u) + findLSB(b);
        }
        barrier();
    }
    if (pc.pass == 0 && j < NB)
        mask[om + 3u * R + bh * NB + j] = n;
}
#endif /* VOX_GLSL */
#ifndef VOX_GLSL
#define VK_VARIANTS_mask_transpose(X) \
    X("mask_transpose", "mask_transpose.comp", "-DDT_F32=1")
/* X(op) where this file has vk_<op>_supports() (vk_supports) */
#define VK_SUPPORTS_mask_transpose(X)

/* Two passes of shaders/mask_transpose.comp, one workgroup of 128 per (head,
 * tile of 128 KV blocks): counts, then starts and lists. */
vox_status vk_mask_transpose(void *dev, const vox_op_dims *d, const vox_op_mask_transpose *p)
{
    vk_dev *v = dev;
    vox_mask_transpose_args a;
    vox_mask_transpose_args_init(&a, d, p);
    int64_t R = a.BH * a.NB, total = a.t0 + a.BH * a.head_room, groups = a.BH * ((a.NB + 127) / 128);
    vox_status st = check_u32(v, "mask_transpose", total, groups);
    if (st)
        return st;
    vk_mask_transpose_binds b = {.kv_start = bind(p->kv_start, (size_t)R * 4, 4),
                                 .kv_count = bind(p->kv_count, (size_t)R * 4, 4),
                                 .kv_cols = bind(p->kv_cols, 0, 4),
                                 .mask = bind(p->mask, (size_t)total * 4, 4)};
    st = VK_DISPATCH(v, mask_transpose, "mask_transpose", b, a, (uint64_t)groups);
    a.pass = 1;
    return st ? st : VK_DISPATCH(v, mask_transpose, "mask_transpose", b, a, (uint64_t)groups);
}
#endif /* !VOX_GLSL */
