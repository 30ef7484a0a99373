#version 450
/* attention_backward, pass 1 (prep): one workgroup of 128 invocations per
 * (bh, query block i). For every computed row r of the block:
 *   dO_eff[r] = dout[r] + the dout of the block's pruned rows whose source is
 *               r (in ascending slot order), written back into dout[r] in
 *               the storage type (rows without pruned rows are not rewritten);
 *   delta[r]  = dO_eff[r] . o[r] (f32, the stored dO_eff) into the LSE's
 *               work half.
 * Rows that are not computed and padding rows get delta = 0. The sum of a row
 * is reduced in a fixed order, so results are deterministic.
 * Build-time defines: the dtype (common.glsl). */
#define DOUT_WRITABLE
#include "attention_backward.glsl"
#define WG 128u
#define LPR 32u          /* invocations per row */
#define RPP (WG / LPR)   /* rows per pass */
#define VMAX 256         /* block volume bound (core/layout.c) */
layout(local_size_x = 128) in;

/* per local slot: the first pruned slot whose source it is, and the next
 * pruned slot with the same source (-1 ends a list) */
shared int shead[VMAX];
shared int snext[VMAX];
shared bool scomp[VMAX];
shared float sred[WG];

void main()
{
    uint g = group_linear_id();
    if (g >= pc.wg_count)
        return;
    uint tid = gl_LocalInvocationID.x;
    uint D = uint(pc.D), V = uint(pc.V), S = bwd_slots();
    uint bh = g / bwd_nb(), i = g - bh * bwd_nb();
    uint nvalid = uint(block_rows(i));
    uint base = bh * S + i * V; /* row index of the block's first slot */

    for (uint s = tid; s < V; s += WG) {
        scomp[s] = s < nvalid && row_computed(bh, i, s);
        shead[s] = -1;
    }
    barrier();
    if (tid == 0u && pc.has_fill != 0) {
        for (int s = int(nvalid) - 1; s >= 0; s--) {
            int src = fill_src[OFF_FILL + base + uint(s)] - int(i * V);
            if (!scomp[s] && src >= 0 && src < int(nvalid)) {
                snext[s] = shead[src];
                shead[src] = s;
            }
        }
    }
    barrier();

    uint row = tid / LPR, lane = tid - row * LPR;
    for (uint r0 = 0u; r0 < nvalid; r0 += RPP) { /* uniform trip count: barriers inside */
        uint r = r0 + row;
        bool comp = r < nvalid && scomp[r];
        float part = 0.0;
        if (comp) {
            uint at = OFF_DOUT + (base + r) * D;
            int first = shead[r];
            for (uint e = lane; e < D; e += LPR) {
                if (first >= 0) {
                    float x = LD(dout[at + e]);
                    for (int s = first; s >= 0; s = snext[s])
                        x += LD(dout[OFF_DOUT + (base + uint(s)) * D + e]);
                    dout[at + e] = ST(x);
                }
                part += LD(dout[at + e]) * LD(o[OFF_O + (base + r) * D + e]);
            }
        }
        sred[tid] = part;
        barrier();
        if (lane == 0u && comp) {
            float delta = 0.0;
            for (uint l = 0u; l < LPR; l++)
                delta += sred[row * LPR + l];
            lse[OFF_LSE + vox_u64lo(pc.BH) * S + base + r] = delta;
        }
        barrier();
    }
    for (uint s = tid; s < V; s += WG)
        if (!scomp[s])
            lse[OFF_LSE + vox_u64lo(pc.BH) * S + base + s] = 0.0;
}
