/* permute_from: for every (b,h) and caller token t: s = token_slot[t],
 * f = has_fill ? fill_src[bh*S + s] : s; dst[b,h,t,:] = src[bh][f][:],
 * lse_dst[b,h,t] = lse_src[bh*S + f] when has_lse.
 * One invocation per element (BH*N*D); row = D, strides in elements.
 *
 * One file per op: the GLSL compute shader (compiled by glslc with
 * -DVOX_GLSL and -std=450, so no #version line here), and in a section
 * glslc skips the host side, compiled into vk_ops.c through the generated
 * vk_op_files.h: the op's shader variants VK_VARIANTS_permute_from (one
 * X(name, source, defines) per line; backends/vulkan/meson.build reads these
 * lines to build the SPIR-V, the launcher reads the defines), the
 * launcher vk_permute_from() and VK_SUPPORTS_permute_from.
 */
#ifdef VOX_GLSL
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_PERMUTE_FROM_BUFS) VOX_GLSL_FIELDS(VOX_PERMUTE_FROM_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer Src { WORD src[]; };
layout(std430, set = 0, binding = 1) readonly buffer LseSrc { float lse_src[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Dst { WORD dst[]; };
layout(std430, set = 0, binding = 3) writeonly buffer LseDst { float lse_dst[]; };
layout(std430, set = 0, binding = 4) readonly buffer TokenSlot { int token_slot[]; };
layout(std430, set = 0, binding = 5) readonly buffer FillSrc { int fill_src[]; };

void main()
{
    uint g = group_linear_id();
    if (g >= pc.wg_count)
        return;
    uint D = vox_u64lo(pc.row), S = vox_u64lo(pc.slots), N = vox_u64lo(pc.N), H = vox_u64lo(pc.heads);
    uint idx = g * 256u + gl_LocalInvocationID.x;
    uint rest = idx / D, e = idx - rest * D;
    uint bh = rest / N, t = rest - bh * N;
    if (bh >= vox_u64lo(pc.BH))
        return;
    uint b = bh / H, h = bh - b * H;
    uint s = uint(token_slot[pc.off[4] + t]);
    uint f = pc.has_fill != 0 ? uint(fill_src[pc.off[5] + bh * S + s]) : s;
    dst[pc.off[2] + b * vox_u64lo(pc.sb) + h * vox_u64lo(pc.sh) + t * vox_u64lo(pc.st) + e] =
        src[pc.off[0] + (bh * S + f) * D + e];
    if (e == 0u && pc.has_lse != 0)
        lse_dst[pc.off[3] + b * vox_u64lo(pc.lsb) + h * vox_u64lo(pc.lsh) + t * vox_u64lo(pc.lst)] =
            lse_src[pc.off[1] + bh * S + f];
}
#endif /* VOX_GLSL */
#ifndef VOX_GLSL
#define VK_VARIANTS_permute_from(X) \
    X("permute_from_w128", "permute_from.comp", "-DW128=1") \
    X("permute_from_w32", "permute_from.comp", "-DW32=1") \
    X("permute_from_w16", "permute_from.comp", "-DW16=1")
/* X(op) where this file has vk_<op>_supports() (vk_supports) */
#define VK_SUPPORTS_permute_from(X)

vox_status vk_permute_from(void *dev, const vox_op_dims *d, const vox_op_permute_from *p)
{
    VK_OP_ARGS(permute_from); /* copy word = 16 bytes (W128) or the element, as permute_to */
    const size_t src_bytes = (size_t)(a.BH * a.slots * a.row) * es, dst_bytes = strided_bytes(d, &p->dst, a.row, es);
    const size_t ws = vk_permute_words(v, es, &a.row, &a.sb, &a.sh, &a.st, p->src.offset, p->dst.ref.offset);
    int64_t blocks = a.BH * a.slots * a.row, total = a.BH * a.N * a.row;
    vox_status st = check_dtype(v, d->dtype, "permute_from");
    /* without LSE buffers the LSE strides are 0 (vox_permute_from_args_init) */
    if (!st) st = check_u32(v, "permute_from", total + 256, blocks, a.sb, a.sh, a.st, a.lsb, a.lsh, a.lst);
    if (st)
        return st;
    vk_permute_from_binds b = {
        .src = bind(p->src, src_bytes, ws),
        .lse_src = bind(a.has_lse ? p->lse_src : none, (size_t)(a.BH * a.slots) * 4, 4),
        .dst = bind(p->dst.ref, dst_bytes, ws),
        .lse_dst = bind(a.has_lse ? p->lse_dst.ref : none, a.has_lse ? strided_bytes(d, &p->lse_dst, 1, 4) : 4, 4),
        .token_slot = bind(p->token_slot, (size_t)a.N * 4, 4),
        .fill_src = bind(p->fill_src, (size_t)(a.BH * a.slots) * 4, 4)};
    return VK_DISPATCH(v, permute_from,
                       ws == 16 ? "permute_from_w128" : ws == 4 ? "permute_from_w32" : "permute_from_w16", b, a,
                       (uint64_t)(total + 255) / 256);
}
#endif /* !VOX_GLSL */
