/* permute_to: dst[bh][s][e] = slot_token[s] >= 0 ? src[b,h,slot_token[s],e] : 0
 * One invocation per word of dst: 16 bytes (W128: row, strides and both
 * offsets 16-byte aligned, row and strides rescaled to words by the host;
 * VOXATTN_VULKAN_PERMUTE_NARROW=1 never) or the element (W32 / W16, row = D,
 * strides in elements).
 *
 * One file per op: the GLSL compute shader (compiled by glslc with
 * -DVOX_GLSL and -std=450, so no #version line here), and in a section
 * glslc skips the host side, compiled into vk_ops.c through the generated
 * vk_op_files.h: the op's shader variants VK_VARIANTS_permute_to (one
 * X(name, source, defines) per line; backends/vulkan/meson.build reads these
 * lines to build the SPIR-V, the launcher reads the defines), the
 * launcher vk_permute_to() and VK_SUPPORTS_permute_to.
 */
#ifdef VOX_GLSL
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_PERMUTE_TO_BUFS) VOX_GLSL_FIELDS(VOX_PERMUTE_TO_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer Src { WORD src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { WORD dst[]; };
layout(std430, set = 0, binding = 2) readonly buffer SlotToken { int slot_token[]; };

void main()
{
    uint g = group_linear_id();
    if (g >= pc.wg_count)
        return;
    uint D = vox_u64lo(pc.row), S = vox_u64lo(pc.slots), H = vox_u64lo(pc.heads);
    uint idx = g * 256u + gl_LocalInvocationID.x;
    uint rest = idx / D, e = idx - rest * D;
    uint bh = rest / S, s = rest - bh * S;
    if (bh >= vox_u64lo(pc.BH))
        return;
    uint b = bh / H, h = bh - b * H;
    int t = slot_token[pc.off[2] + s];
    if (t >= 0)
        dst[pc.off[1] + idx] =
            src[pc.off[0] + b * vox_u64lo(pc.sb) + h * vox_u64lo(pc.sh) + uint(t) * vox_u64lo(pc.st) + e];
    else
        dst[pc.off[1] + idx] = WORD_ZERO;
}
#endif /* VOX_GLSL */
#ifndef VOX_GLSL
#define VK_VARIANTS_permute_to(X) \
    X("permute_to_w128", "permute_to.comp", "-DW128=1") \
    X("permute_to_w32", "permute_to.comp", "-DW32=1") \
    X("permute_to_w16", "permute_to.comp", "-DW16=1")
/* X(op) where this file has vk_<op>_supports() (vk_supports) */
#define VK_SUPPORTS_permute_to(X)

vox_status vk_permute_to(void *dev, const vox_op_dims *d, const vox_op_permute_to *p)
{
    VK_OP_ARGS(permute_to); /* copy word = 16 bytes (W128) or the element (W32 / W16) */
    const size_t src_bytes = strided_bytes(d, &p->src, a.row, es), dst_bytes = (size_t)(a.BH * a.slots * a.row) * es;
    const size_t ws = vk_permute_words(v, es, &a.row, &a.sb, &a.sh, &a.st, p->src.ref.offset, p->dst.offset);
    int64_t total = a.BH * a.slots * a.row;
    vox_status st = check_dtype(v, d->dtype, "permute_to");
    if (!st) st = check_u32(v, "permute_to", total + 256, a.sb, a.sh, a.st);
    if (st)
        return st;
    vk_permute_to_binds b = {.src = bind(p->src.ref, src_bytes, ws),
                             .dst = bind(p->dst, dst_bytes, ws),
                             .slot_token = bind(p->slot_token, (size_t)a.slots * 4, 4)};
    return VK_DISPATCH(v, permute_to, ws == 16 ? "permute_to_w128" : ws == 4 ? "permute_to_w32" : "permute_to_w16", b,
                       a, (uint64_t)(total + 255) / 256);
}
#endif /* !VOX_GLSL */
