#version 450
/* dst[bh][s][e] = slot_token[s] >= 0 ? src[b,h,slot_token[s],e] : 0
 * One invocation per element of dst (BH*S*D). p: D, S, heads, sb, sh, st. */
#include "common.glsl"
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer Src { WORD src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { WORD dst[]; };
layout(std430, set = 0, binding = 2) readonly buffer SlotToken { int slot_token[]; };

void main()
{
    uint g = group_linear_id();
    if (g >= pc.total)
        return;
    uint D = pc.p[0], S = pc.p[1], H = pc.p[2];
    uint idx = g * 256u + gl_LocalInvocationID.x;
    uint rest = idx / D, e = idx - rest * D;
    uint bh = rest / S, s = rest - bh * S;
    if (bh >= pc.p[6])
        return;
    uint b = bh / H, h = bh - b * H;
    int t = slot_token[pc.off[2] + s];
    if (t >= 0)
        dst[pc.off[1] + idx] = src[pc.off[0] + b * pc.p[3] + h * pc.p[4] + uint(t) * pc.p[5] + e];
    else
        dst[pc.off[1] + idx] = WORD_ZERO;
}
