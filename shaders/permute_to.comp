#version 450
/* permute_to: dst[bh][s][e] = slot_token[s] >= 0 ? src[b,h,slot_token[s],e] : 0
 * One invocation per element of dst (BH*S*D); the copy word is the element
 * (W32 / W16), so row = D and the strides are in elements. */
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
