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
#if BM_W2
layout(local_size_x = 64) in;
#else
layout(local_size_x = 128) in;
#endif
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_BLOCK_MEANS_BUFS) VOX_GLSL_FIELDS(VOX_BLOCK_MEANS_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer X { ELEM x[]; };
layout(std430, set = 0, binding = 1) readonly buffer SlotToken { int slot_token[]; };
layout(std430, set = 0, binding = 2) readonly buffer KeptCount { int kept_count[]; };
layout(std430, set = 0, binding = 3) readonly buffer KeptRows { int kept_rows[]; };
layout(std430, set = 0, binding = 4) readonly buffer BlockValid { int block_valid[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Out { float outv[]; };

#if BM_W2 /* the _w2 variants (16-bit types; VOXATTN_VULKAN_BM_W2=0: without): an invocation sums two
            * adjacent elements, read as one 32-bit word per row, where the block's rows start at even
            * elements (else one element per load); each element's sum in row order as before */
layout(std430, set = 0, binding = 0) readonly buffer X32 { uint x32[]; };
#define BM_CHUNK 128u
#define BM_UNROLL 8u
#define BM_WG 64u
shared uint rowat[BM_CHUNK];
#if defined(DT_BF16)
vec2 ld2(uint w) { return vec2(uintBitsToFloat(w << 16), uintBitsToFloat(w & 0xffff0000u)); }
#else
vec2 ld2(uint w) { return unpackHalf2x16(w); }
#endif

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
    bool w2 = base % 2u == 0u && st % 2u == 0u && D % 2u == 0u; /* uniform: every row's pairs aligned */
    uint per = w2 ? 2u : 1u, ne = (D + per * BM_WG - 1u) / (per * BM_WG); /* passes (uniform loop) */
    for (uint q = 0u; q < ne; q++) {
        uint e = (q * BM_WG + tid) * per;
        vec2 acc = vec2(0.0);
        for (uint r0 = 0u; r0 < n; r0 += BM_CHUNK) {
            uint cn = min(BM_CHUNK, n - r0);
            barrier();
            for (uint k = tid; k < cn; k += BM_WG) {
                uint slot = j * V + (kept ? uint(kept_rows[pc.off[3] + m * V + r0 + k]) : r0 + k);
                rowat[k] = uint(slot_token[pc.off[1] + slot]) * st;
            }
            barrier();
            if (e < D && w2) {
                uint r = 0u;
                for (; r + BM_UNROLL <= cn; r += BM_UNROLL) {
                    uint w8[BM_UNROLL];
                    [[unroll]] for (uint k = 0u; k < BM_UNROLL; k++)
                        w8[k] = x32[(base + rowat[r + k] + e) / 2u];
                    [[unroll]] for (uint k = 0u; k < BM_UNROLL; k++) {
                        vec2 x = ld2(w8[k]);
                        acc.x += x.x;
                        acc.y += x.y;
                    }
                }
                for (; r < cn; r++) {
                    vec2 x = ld2(x32[(base + rowat[r] + e) / 2u]);
                    acc.x += x.x;
                    acc.y += x.y;
                }
            } else if (e < D) {
                for (uint r = 0u; r < cn; r++)
                    acc.x += LD(x[base + rowat[r] + e]);
            }
        }
        if (e < D)
            outv[pc.off[5] + m * D + e] = n > 0u ? acc.x / float(n) : 0.0;
        if (w2 && e + 1u < D)
            outv[pc.off[5] + m * D + e + 1u] = n > 0u ? acc.y / float(n) : 0.0;
    }
}
#elif BM_SERIAL /* before session 12 (VOXATTN_VULKAN_BM_SERIAL=1): one row's load at a time */
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
    X("block_means_w2_f16", "block_means.comp", "-DDT_F16=1 -DBM_W2=1") \
    X("block_means_w2_bf16", "block_means.comp", "-DDT_BF16=1 -DBM_W2=1") \
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
    /* _w2 (16-bit types): two elements per 32-bit load (VOXATTN_VULKAN_BM_W2=0: one per 16-bit load) */
    const char *base = v->bm_serial ? "block_means_serial"
                       : v->bm_w2 && (d->dtype == VOX_F16 || d->dtype == VOX_BF16) ? "block_means_w2" : "block_means";
    return VK_DISPATCH(v, block_means, pipe_name(name, sizeof name, base, d->dtype), b, a,
                       (uint64_t)(BH * NB));
}
#endif /* !VOX_GLSL */
