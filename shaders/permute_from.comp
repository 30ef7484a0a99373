#version 450
/* For every (b,h) and caller token t: s = token_slot[t],
 * f = has_fill ? fill_src[bh*S + s] : s; dst[b,h,t,:] = src[bh][f][:],
 * lse_dst[b,h,t] = lse_src[bh*S + f] when has_lse.
 * One invocation per element (BH*N*D).
 * p: D, S, N, heads, sb, sh, st, lsb, lsh, lst, has_fill, has_lse, BH */
#include "common.glsl"
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer Src { WORD src[]; };
layout(std430, set = 0, binding = 1) readonly buffer LseSrc { float lse_src[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Dst { WORD dst[]; };
layout(std430, set = 0, binding = 3) writeonly buffer LseDst { float lse_dst[]; };
layout(std430, set = 0, binding = 4) readonly buffer TokenSlot { int token_slot[]; };
layout(std430, set = 0, binding = 5) readonly buffer FillSrc { int fill_src[]; };

void main()
{
    uint g = group_linear_id();
    if (g >= pc.total)
        return;
    uint D = pc.p[0], S = pc.p[1], N = pc.p[2], H = pc.p[3];
    uint idx = g * 256u + gl_LocalInvocationID.x;
    uint rest = idx / D, e = idx - rest * D;
    uint bh = rest / N, t = rest - bh * N;
    if (bh >= pc.p[12])
        return;
    uint b = bh / H, h = bh - b * H;
    uint s = uint(token_slot[pc.off[4] + t]);
    uint f = pc.p[10] != 0u ? uint(fill_src[pc.off[5] + bh * S + s]) : s;
    dst[pc.off[2] + b * pc.p[4] + h * pc.p[5] + t * pc.p[6] + e] = src[pc.off[0] + (bh * S + f) * D + e];
    if (e == 0u && pc.p[11] != 0u)
        lse_dst[pc.off[3] + b * pc.p[7] + h * pc.p[8] + t * pc.p[9]] = lse_src[pc.off[1] + bh * S + f];
}
