#version 450
/* permute_from: for every (b,h) and caller token t: s = token_slot[t],
 * f = has_fill ? fill_src[bh*S + s] : s; dst[b,h,t,:] = src[bh][f][:],
 * lse_dst[b,h,t] = lse_src[bh*S + f] when has_lse.
 * One invocation per element (BH*N*D); row = D, strides in elements. */
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
