#version 450
/* attention_backward, pass 2 (dQ): one workgroup of 128 invocations per
 * (bh, query block i, tile of BQ rows), after the prep pass. It walks the
 * key blocks of row m = bh*NB + i in the forward CSR of the packed mask, BK
 * keys at a time through shared memory, and for its computed rows
 *   S = q.k (unscaled), P = exp(S*scale - lse), dP = dO_eff.v,
 *   dS = P (dP - delta), dQ += dS k
 * keeping dQ in registers across the walk; dq = scale * dQ, 0 for padding,
 * rows not computed and rows with lse = -inf.
 * Build-time defines: the dtype, DMAX (head_dim bound), BQ (rows per
 * workgroup), BK (keys per tile). Scores: invocation (row, lane) of TPR =
 * 128/BQ per row computes those of keys lane + TPR*t. Accumulation,
 * register-blocked: invocation (rg, dg) owns rows rg + RG*a and dims
 * dg + DG*b of dQ (RPT rows x DPT dims, so one shared load of a k element
 * serves RPT rows). tiles: workgroups per query block (ceil(V / BQ)). */
#include "attention_backward.glsl"
#define WG 128u
#define TPR (WG / BQ)
#define NSC ((BK + TPR - 1) / TPR) /* scores per invocation */
#if BQ >= 32
#define RG 8u /* row groups of the accumulation */
#else
#define RG 4u
#endif
#define RPT (BQ / RG) /* rows per invocation there */
#define DG (WG / RG)  /* dim groups */
#define DPT (DMAX / DG)
#define STR (DMAX + 1)             /* padded shared row stride: no bank conflicts */
#define DSTR (BK + 1)
layout(local_size_x = 128) in;

shared float sq[BQ * STR];  /* the rows' q */
shared float sdo[BQ * STR]; /* the rows' dO_eff */
shared float sk[BK * STR];  /* key tile */
shared float sv[BK * STR];  /* value tile */
shared float sds[BQ * DSTR];
shared float slse[BQ]; /* -inf: the row gives and gets nothing */
shared float sdelta[BQ];
shared int slive;

void main()
{
    uint g = group_linear_id();
    if (g >= pc.wg_count)
        return;
    uint tid = gl_LocalInvocationID.x;
    uint D = uint(pc.D), V = uint(pc.V), S = bwd_slots();
    uint tiles = uint(pc.tiles);
    uint m = g / tiles, tile = g - m * tiles;
    uint bh = m / bwd_nb(), i = m - bh * bwd_nb();
    uint nvalid = uint(block_rows(i));
    uint r0 = tile * BQ;
    uint base = bh * S + i * V;

    if (tid == 0u)
        slive = 0;
    barrier();
    if (tid < BQ) {
        uint r = r0 + tid;
        bool comp = r < nvalid && row_computed(bh, i, r);
        float l = comp ? row_lse(base + r) : NEG_INF;
        slse[tid] = l;
        sdelta[tid] = comp ? row_delta(base + r) : 0.0;
        if (l != NEG_INF)
            atomicOr(slive, 1);
    }
    barrier();
    for (uint idx = tid; idx < BQ * D; idx += WG) {
        uint rr = idx / D, e = idx - rr * D;
        bool live = slse[rr] != NEG_INF;
        uint at = (base + r0 + rr) * D + e;
        sq[rr * STR + e] = live ? LD(q[OFF_Q + at]) : 0.0;
        sdo[rr * STR + e] = live ? LD(dout[OFF_DOUT + at]) : 0.0;
    }

    uint row = tid / TPR, lane = tid - row * TPR; /* scores */
    float l = slse[row], delta = sdelta[row];
    bool live = l != NEG_INF;
    uint rg = tid / DG, dg = tid - rg * DG; /* accumulation */
    float acc[RPT * DPT];
    for (int x = 0; x < RPT * DPT; x++)
        acc[x] = 0.0;

    int start = mask[OFF_MASK + m];
    int count = slive != 0 ? mask[OFF_MASK + bwd_rows() + m] : 0;
    for (int c = 0; c < count; c++) {
        uint jb = uint(mask[OFF_MASK + uint(start + c)]);
        uint nk = uint(block_rows(jb));
        uint kbase = (bh * S + jb * V) * D;
        for (uint k0 = 0u; k0 < nk; k0 += BK) {
            barrier(); /* the previous tile's K and dS are consumed */
            for (uint idx = tid; idx < BK * D; idx += WG) {
                uint kk = idx / D, e = idx - kk * D;
                bool key_ok = k0 + kk < nk;
                uint at = kbase + (k0 + kk) * D + e;
                sk[kk * STR + e] = key_ok ? LD(k[OFF_K + at]) : 0.0;
                sv[kk * STR + e] = key_ok ? LD(v[OFF_V + at]) : 0.0;
            }
            barrier();
            float s[NSC], sc[NSC], dp[NSC];
            for (int t = 0; t < NSC; t++)
                s[t] = 0.0, sc[t] = 0.0, dp[t] = 0.0;
            for (uint e = 0u; e < D; e++) {
                float qe = sq[row * STR + e], de = sdo[row * STR + e];
                for (int t = 0; t < NSC; t++) {
                    uint kk = min(lane + uint(t) * TPR, BK - 1u);
                    add_score(s[t], sc[t], qe * sk[kk * STR + e]);
                    dp[t] += de * sv[kk * STR + e];
                }
            }
            for (int t = 0; t < NSC; t++) {
                uint kk = lane + uint(t) * TPR;
                if (kk < BK) {
                    bool use = live && k0 + kk < nk;
                    sds[row * DSTR + kk] = use ? prob(s[t], sc[t], l) * (dp[t] - delta) : 0.0;
                }
            }
            barrier();
            for (uint kk = 0u; kk < BK; kk++) {
                float ds[RPT];
                for (int a = 0; a < RPT; a++)
                    ds[a] = sds[(rg + RG * uint(a)) * DSTR + kk];
                for (int b = 0; b < DPT; b++) {
                    float xk = sk[kk * STR + dg + uint(b) * DG];
                    for (int a = 0; a < RPT; a++)
                        acc[a * DPT + b] += ds[a] * xk;
                }
            }
        }
    }
    for (int a = 0; a < RPT; a++) {
        uint rr = rg + RG * uint(a);
        bool live_row = slse[rr] != NEG_INF;
        uint at = OFF_DQ + (base + r0 + rr) * D;
        for (int b = 0; b < DPT; b++) {
            uint e = dg + uint(b) * DG;
            if (r0 + rr < V && e < D)
                dq[at + e] = ST(live_row ? acc[a * DPT + b] * pc.scale : 0.0);
        }
    }
}
