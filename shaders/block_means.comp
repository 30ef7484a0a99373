#version 450
/* block_means: out[bh][j][:] = mean of the valid rows (or kept rows) of
 * block j, read in the caller's layout through slot_token, f32. One
 * workgroup per (bh, j). */
#include "common.glsl"
layout(local_size_x = 128) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_BLOCK_MEANS_BUFS) VOX_GLSL_FIELDS(VOX_BLOCK_MEANS_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer X { ELEM x[]; };
layout(std430, set = 0, binding = 1) readonly buffer SlotToken { int slot_token[]; };
layout(std430, set = 0, binding = 2) readonly buffer KeptCount { int kept_count[]; };
layout(std430, set = 0, binding = 3) readonly buffer KeptRows { int kept_rows[]; };
layout(std430, set = 0, binding = 4) readonly buffer BlockValid { int block_valid[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Out { float outv[]; };

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
