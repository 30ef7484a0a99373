#version 450
/* query_select: query selection (vox_op_query_select). One workgroup per
 * (bh, block j). */
#include "common.glsl"
#define WG 128u
layout(local_size_x = 128) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_QUERY_SELECT_BUFS) VOX_GLSL_FIELDS(VOX_QUERY_SELECT_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer Q { ELEM q[]; };
layout(std430, set = 0, binding = 1) readonly buffer WinPtr { int win_ptr[]; };
layout(std430, set = 0, binding = 2) readonly buffer Windows { int windows[]; };
layout(std430, set = 0, binding = 3) readonly buffer BlockValid { int block_valid[]; };
layout(std430, set = 0, binding = 4) writeonly buffer KeptCount { int kept_count[]; };
layout(std430, set = 0, binding = 5) writeonly buffer KeptRows { int kept_rows[]; };
layout(std430, set = 0, binding = 6) writeonly buffer FillSrc { int fill_src[]; };

shared int swin[256];   /* local slot -> window, -1 outside every window */
shared float scos[256]; /* cosine to the window centre */
shared uint skept[256];

uint D, base;

/* cos(q_a, q_b) for absolute slots a, b of this (b,h); 0 where a norm is 0 */
float cosine(uint a, uint b)
{
    float dot = 0.0, na = 0.0, nb = 0.0;
    for (uint e = 0u; e < D; e++) {
        float u = LD(q[pc.off[0] + (base + a) * D + e]);
        float w = LD(q[pc.off[0] + (base + b) * D + e]);
        dot += u * w;
        na += u * u;
        nb += w * w;
    }
    return na > 0.0 && nb > 0.0 ? dot / sqrt(na * nb) : 0.0;
}

void main()
{
    uint m = group_linear_id();
    if (m >= pc.wg_count)
        return;
    uint tid = gl_LocalInvocationID.x;
    D = uint(pc.D);
    uint NB = vox_u64lo(pc.NB), NBv = vox_u64lo(pc.NBv), V = uint(pc.V);
    uint S = NB * V;
    uint bh = m / NB, j = m - bh * NB;
    base = bh * S;
    uint j0 = j * V;
    bool video = j < NBv;
    for (uint l = tid; l < V; l += WG) {
        swin[l] = -1;
        skept[l] = (!video && l < uint(block_valid[pc.off[3] + j])) ? 1u : 0u;
    }
    barrier();
    if (video) {
        int w1 = win_ptr[pc.off[1] + j + 1u];
        for (int w = win_ptr[pc.off[1] + j] + int(tid); w < w1; w += int(WG)) {
            int first = windows[pc.off[2] + 4u * uint(w)], len = windows[pc.off[2] + 4u * uint(w) + 1u];
            for (int t = first; t < first + len; t++)
                swin[uint(t) - j0] = w;
        }
    }
    barrier();
    if (video) {
        for (uint l = tid; l < V; l += WG) {
            int w = swin[l];
            if (w < 0)
                continue;
            uint centre = uint(windows[pc.off[2] + 4u * uint(w) + 2u]);
            scos[l] = (j0 + l == centre) ? 0.0 : cosine(j0 + l, centre);
        }
    }
    barrier();
    if (video) {
        for (uint l = tid; l < V; l += WG) {
            int w = swin[l];
            if (w < 0)
                continue;
            uint wb = pc.off[2] + 4u * uint(w);
            uint first = uint(windows[wb]), len = uint(windows[wb + 1u]);
            uint centre = uint(windows[wb + 2u]);
            int keep = windows[wb + 3u];
            uint t = j0 + l;
            if (t == centre) {
                skept[l] = 1u;
                continue;
            }
            int rank = 0;
            for (uint u = first; u < first + len; u++) {
                if (u == centre || u == t)
                    continue;
                float cu = scos[u - j0];
                if (cu < scos[l] || (cu == scos[l] && u < t))
                    rank++;
            }
            skept[l] = rank < keep - 1 ? 1u : 0u;
        }
    }
    barrier();
    for (uint l = tid; l < V; l += WG) {
        int w = video ? swin[l] : -1;
        int src = int(j0 + l);
        if (w >= 0 && skept[l] == 0u) {
            uint wb = pc.off[2] + 4u * uint(w);
            uint first = uint(windows[wb]), len = uint(windows[wb + 1u]);
            float best = NEG_INF;
            src = -1;
            for (uint u = first; u < first + len; u++) {
                if (skept[u - j0] == 0u)
                    continue;
                float c = cosine(j0 + l, u);
                if (c > best) { /* strict: ties keep the lower slot */
                    best = c;
                    src = int(u);
                }
            }
        }
        fill_src[pc.off[6] + base + j0 + l] = src;
    }
    if (tid == 0u) {
        int c = 0;
        for (uint l = 0u; l < V; l++)
            if (skept[l] != 0u)
                kept_rows[pc.off[5] + m * V + uint(c++)] = int(l);
        kept_count[pc.off[4] + m] = c;
    }
}
