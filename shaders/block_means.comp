/* block_means: out[bh][j][:] = mean of the valid rows (or kept rows) of
 * block j, read in the caller's layout through slot_token, f32. One
 * workgroup per (bh, j).
 *
 * One file per op: the GLSL compute shader (compiled by glslc with
 * -DVOX_GLSL and -std=450, so no #version line here), and in a section
 * glslc skips the host side, compiled into vk_ops.c through the generated
 * vk_op_files.h: the op's shader variants VK_VARIANTS_block_means (one
 * X(name, source, defines) per line; backends/vulkan/meson.build reads these
 * lines to build the SPIR-V, the launcher reads the defines), the
 * launcher vk_block_means() and VK_SUPPORTS_block_means.
 */
#ifdef VOX_GLSL
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : enable
layout(local_size_x = 128) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_BLOCK_MEANS_BUFS) VOX_GLSL_FIELDS(VOX_BLOCK_MEANS_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer X { ELEM x[]; };
layout(std430, set = 0, binding = 1) readonly buffer SlotToken { int slot_token[]; };
layout(std430, set = 0, binding = 2) readonly buffer KeptCount { int kept_count[]; };
layout(std430, set = 0, binding = 3) readonly buffer KeptRows { int kept_rows[]; };
layout(std430, set = 0, binding = 4) readonly buffer BlockValid { int block_valid[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Out { float outv[]; };

#if BM_SERIAL /* before session 12 (VOXATTN_VULKAN_BM_SERIAL=1): one row's load at a time */
void main()
{
    uint m = group_linear_id();
    if (m >= pc.wg_count)
        return;
    uint D = uint(pc.D), NB = vox_u64lo(pc.NB), V = uint(pc.V), H = vox_u64lo(pc.heads);
    bool kept = pc.has_kept != 0;
    uint j = m % NB, bh = m / NB;
    uint base = (bh / H) * vox_u64lo(pc.sb) + (bh % H) * vox_u64lo(pc.sh), st = vox_u64lo(pc.st);
    uint n = uint(kept ? kept_count[pc.off[2] + m] : block_valid[pc.off[4] + j]);
    for (uint e = gl_LocalInvocationID.x; e < D; e += 128u) {
        float acc = 0.0;
        for (uint r = 0u; r < n; r++) {
            uint slot = j * V + (kept ? uint(kept_rows[pc.off[3] + m * V + r]) : r);
            acc += LD(x[pc.off[0] + base + uint(slot_token[pc.off[1] + slot]) * st + e]);
        }
        outv[pc.off[5] + m * D + e] = n > 0u ? acc / float(n) : 0.0;
    }
}
#else
/* the block's rows' token offsets (times st), BM_CHUNK at a time */
#define BM_CHUNK 128u
#define BM_UNROLL 8u
shared uint rowat[BM_CHUNK];

void main()
{
    uint m = group_linear_id();
    if (m >= pc.wg_count)
        return;
    uint tid = gl_LocalInvocationID.x;
    uint D = uint(pc.D), NB = vox_u64lo(pc.NB), V = uint(pc.V), H = vox_u64lo(pc.heads);
    bool kept = pc.has_kept != 0;
    uint j = m % NB, bh = m / NB;
    uint base = pc.off[0] + (bh / H) * vox_u64lo(pc.sb) + (bh % H) * vox_u64lo(pc.sh), st = vox_u64lo(pc.st);
    uint n = uint(kept ? kept_count[pc.off[2] + m] : block_valid[pc.off[4] + j]);
    /* Each invocation sums its elements over the rows in order r = 0..n-1
     * (as before); the row offsets come from shared memory and BM_UNROLL
     * rows' loads are issued before their additions. */
    uint ne = (D + 127u) / 128u; /* elements per invocation (uniform loop) */
    for (uint q = 0u; q < ne; q++) {
        uint e = q * 128u + tid;
        float acc = 0.0;
        for (uint r0 = 0u; r0 < n; r0 += BM_CHUNK) {
            uint cn = min(BM_CHUNK, n - r0);
            barrier();
            if (tid < cn) {
                uint slot = j * V + (kept ? uint(kept_rows[pc.off[3] + m * V + r0 + tid]) : r0 + tid);
                rowat[tid] = uint(slot_token[pc.off[1] + slot]) * st;
            }
            barrier();
            if (e < D) {
                uint r = 0u;
                for (; r + BM_UNROLL <= cn; r += BM_UNROLL) {
                    float x8[BM_UNROLL];
                    [[unroll]] for (uint k = 0u; k < BM_UNROLL; k++)
                        x8[k] = LD(x[base + rowat[r + k] + e]);
                    [[unroll]] for (uint k = 0u; k < BM_UNROLL; k++)
                        acc += x8[k];
                }
                for (; r < cn; r++)
                    acc += LD(x[base + rowat[r] + e]);
            }
        }
        if (e < D)
            outv[pc.off[5] + m * D + e] = n > 0u ? acc / float(n) : 0.0;
    }
}
#endif /* BM_SERIAL */
#endif /* VOX_GLSL */
#ifndef VOX_GLSL
#define VK_VARIANTS_block_means(X) \
    X("block_means_f32", "block_means.comp", "-DDT_F32=1") \
    X("block_means_f16", "block_means.comp", "-DDT_F16=1") \
    X("block_means_bf16", "block_means.comp", "-DDT_BF16=1") \
    X("block_means_serial_f32", "block_means.comp", "-DDT_F32=1 -DBM_SERIAL=1") \
    X("block_means_serial_f16", "block_means.comp", "-DDT_F16=1 -DBM_SERIAL=1") \
    X("block_means_serial_bf16", "block_means.comp", "-DDT_BF16=1 -DBM_SERIAL=1")
/* X(op) where this file has vk_<op>_supports() (vk_supports) */
#define VK_SUPPORTS_block_means(X)

vox_status vk_block_means(void *dev, const vox_op_dims *d, const vox_op_block_means *p)
{
    VK_OP_ARGS(block_means);
    int64_t BH = a.BH, NB = a.NB, V = a.V, D = a.D;
    size_t x_bytes = strided_bytes(d, &p->x, D, es); /* the caller's tensor, read through slot_token */
    vox_status st = check_dtype(v, d->dtype, "block_means");
    if (!st) st = check_u32(v, "block_means", (int64_t)(x_bytes / es), BH * NB * D, a.sb, a.sh, a.st);
    if (st)
        return st;
    vk_block_means_binds b = {.x = bind(p->x.ref, x_bytes, es),
                              .slot_token = bind(p->slot_token, (size_t)(NB * V) * 4, 4),
                              .kept_count = bind(a.has_kept ? p->kept_count : none, (size_t)(BH * NB) * 4, 4),
                              .kept_rows = bind(a.has_kept ? p->kept_rows : none, (size_t)(BH * NB * V) * 4, 4),
                              .valid = bind(d->block_valid, (size_t)NB * 4, 4),
                              .out = bind(p->out, (size_t)(BH * NB * D) * 4, 4)};
    char name[48];
    return VK_DISPATCH(v, block_means, pipe_name(name, sizeof name, v->bm_serial ? "block_means_serial" : "block_means", d->dtype), b, a,
                       (uint64_t)(BH * NB));
}
#endif /* !VOX_GLSL */
