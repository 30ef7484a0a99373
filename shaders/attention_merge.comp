/* attention_merge (core/backend.h): acc = the merge of acc and part through
 * their LSEs, in place, f32 arithmetic. One workgroup of 64 invocations per
 * row (head, token) of one batch entry; every invocation reads the row's LSEs
 * before invocation 0 overwrites acc_lse (a barrier between). Strides in
 * elements (the host keeps every index within 32 bits).
 *
 * One file per op: the GLSL compute shader (compiled by glslc with
 * -DVOX_GLSL and -std=450, so no #version line here), and in a section
 * glslc skips the host side, compiled into vk_ops.c through the generated
 * vk_op_files.h: the op's shader variants VK_VARIANTS_attention_merge (one
 * X(name, source, defines) per line; backends/vulkan/meson.build reads these
 * lines to build the SPIR-V, the launcher reads the defines), the
 * launcher vk_attention_merge() and VK_SUPPORTS_attention_merge.
 */
#ifdef VOX_GLSL
#include "common.glsl"
layout(local_size_x = 64) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_ATTENTION_MERGE_BUFS) VOX_GLSL_FIELDS(VOX_ATTENTION_MERGE_ARGS) } pc;
layout(std430, set = 0, binding = 0) buffer Acc { ELEM acc[]; };
layout(std430, set = 0, binding = 1) buffer AccLse { float acc_lse[]; };
layout(std430, set = 0, binding = 2) readonly buffer Part { ELEM part[]; };
layout(std430, set = 0, binding = 3) readonly buffer PartLse { float part_lse[]; };

void main()
{
    uint r = group_linear_id();
    if (r >= pc.wg_count)
        return;
    uint N = vox_u64lo(pc.N), h = r / N, t = r - h * N, D = uint(pc.D), lid = gl_LocalInvocationID.x;
    uint a0 = pc.off[0] + h * vox_u64lo(pc.ah) + t * vox_u64lo(pc.at);
    uint b0 = pc.off[2] + h * vox_u64lo(pc.ph) + t * vox_u64lo(pc.pt);
    uint al = pc.off[1] + h * vox_u64lo(pc.alh) + t * vox_u64lo(pc.alt);
    float la = pc.accumulate != 0 ? acc_lse[al] : NEG_INF;
    float lb = part_lse[pc.off[3] + h * vox_u64lo(pc.plh) + t * vox_u64lo(pc.plt)];
    barrier();
    float m = max(la, lb), lse;
    bool nan_in = isnan(la) || isnan(lb);
    if (nan_in || isinf(m)) {
        float v = nan_in || m > 0.0 ? uintBitsToFloat(0x7fc00000u) : 0.0;
        for (uint e = lid; e < D; e += 64u)
            acc[a0 + e] = ST(v);
        lse = nan_in ? uintBitsToFloat(0x7fc00000u) : m;
    } else {
        float wa = la > NEG_INF ? exp(la - m) : 0.0, wb = lb > NEG_INF ? exp(lb - m) : 0.0;
        float s = wa + wb, ca = wa / s, cb = wb / s;
        for (uint e = lid; e < D; e += 64u) {
            float x = 0.0;
            if (la > NEG_INF)
                x = ca * LD(acc[a0 + e]);
            if (lb > NEG_INF)
                x += cb * LD(part[b0 + e]);
            acc[a0 + e] = ST(x);
        }
        lse = m + log(s);
    }
    if (lid == 0u)
        acc_lse[al] = lse;
}
#endif /* VOX_GLSL */
#ifndef VOX_GLSL
#define VK_VARIANTS_attention_merge(X) \
    X("attention_merge_f32", "attention_merge.comp", "-DDT_F32=1") \
    X("attention_merge_f16", "attention_merge.comp", "-DDT_F16=1") \
    X("attention_merge_bf16", "attention_merge.comp", "-DDT_BF16=1")
/* X(op) where this file has vk_<op>_supports() (vk_supports) */
#define VK_SUPPORTS_attention_merge(X)

/* One workgroup per row (head, token) of the batch entry
 * (shaders/attention_merge.comp). */
vox_status vk_attention_merge(void *dev, const vox_op_dims *d, const vox_op_attention_merge *p)
{
    VK_OP_ARGS(attention_merge);
    vox_status st = check_dtype(v, d->dtype, "attention_merge");
    if (!st) st = check_u32(v, "attention_merge", a.rows, a.ah, a.at, a.alh, a.alt, a.ph, a.pt, a.plh, a.plt);
    size_t out_bytes = strided_bytes(d, &p->acc, d->head_dim, es), part_bytes = strided_bytes(d, &p->part, d->head_dim, es);
    size_t acc_lse = strided_bytes(d, &p->acc_lse, 1, 4), part_lse = strided_bytes(d, &p->part_lse, 1, 4);
    if (!st) st = check_u32(v, "attention_merge", (int64_t)(out_bytes / es), (int64_t)(part_bytes / es),
                            (int64_t)(acc_lse / 4), (int64_t)(part_lse / 4));
    if (st)
        return st;
    vk_attention_merge_binds b = {.acc = bind(p->acc.ref, out_bytes, es),
                                  .acc_lse = bind(p->acc_lse.ref, acc_lse, 4),
                                  .part = bind(p->part.ref, part_bytes, es),
                                  .part_lse = bind(p->part_lse.ref, part_lse, 4)};
    char name[48];
    return VK_DISPATCH(v, attention_merge, pipe_name(name, sizeof name, "attention_merge", d->dtype), b, a,
                       (uint64_t)a.rows);
}
#endif /* !VOX_GLSL */
