#version 450
/* out[bh][j][:] = mean of the valid rows (or kept rows) of block j, f32.
 * One workgroup per (bh, j). p: D, NB, V, has_kept */
#include "common.glsl"
layout(local_size_x = 128) in;
layout(std430, set = 0, binding = 0) readonly buffer X { ELEM x[]; };
layout(std430, set = 0, binding = 1) readonly buffer KeptCount { int kept_count[]; };
layout(std430, set = 0, binding = 2) readonly buffer KeptRows { int kept_rows[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Out { float outv[]; };
layout(std430, set = 0, binding = 4) readonly buffer BlockValid { int block_valid[]; };

void main()
{
    uint m = group_linear_id();
    if (m >= pc.total)
        return;
    uint D = pc.p[0], NB = pc.p[1], V = pc.p[2];
    bool kept = pc.p[3] != 0u;
    uint j = m % NB, bh = m / NB;
    uint S = NB * V;
    uint n = uint(kept ? kept_count[pc.off[1] + m] : block_valid[pc.off[4] + j]);
    for (uint e = gl_LocalInvocationID.x; e < D; e += 128u) {
        float acc = 0.0;
        for (uint r = 0u; r < n; r++) {
            uint slot = j * V + (kept ? uint(kept_rows[pc.off[2] + m * V + r]) : r);
            acc += LD(x[pc.off[0] + (bh * S + slot) * D + e]);
        }
        outv[pc.off[3] + m * D + e] = n > 0u ? acc / float(n) : 0.0;
    }
}
