#version 450
/* attention_backward, pass 3 (dK, dV): one workgroup of 128 invocations per
 * (bh, key block j, tile of BKV keys), after the prep pass. The tile's k and
 * v stay in shared memory while the workgroup walks the query blocks that
 * attend to j (the transposed CSR of the packed mask, ascending), BQ rows at
 * a time, and for the computed rows recomputes
 *   S = q.k (unscaled), P = exp(S*scale - lse), dP = dO_eff.v,
 *   dS = P (dP - delta), dV += P^T dO_eff, dK += dS^T q
 * keeping dK and dV in registers across the walk; dk = scale * dK, dv; 0 for
 * padding keys and keys no computed row attends.
 * Build-time defines: the dtype, DMAX (head_dim bound), BKV (keys per
 * workgroup), BQ (rows per step). Scores: invocation (key, lane) of TPK =
 * 128/BKV per key computes those of rows lane + TPK*t. Accumulation,
 * register-blocked: invocation (kg, dg) owns keys kg + KG*a and dims
 * dg + DG*b of dK and dV (KPT keys x DPT dims, so one shared load of a dO or
 * q element serves KPT keys). tiles: workgroups per key block
 * (ceil(V / BKV)). */
#include "attention_backward.glsl"
#define WG 128u
#define TPK (WG / BKV)
#define NRT ((BQ + TPK - 1) / TPK) /* scores per invocation */
#if BKV >= 64
#define KG 16u /* key groups of the accumulation */
#else
#define KG 8u
#endif
#define KPT (BKV / KG) /* keys per invocation there */
#define DG (WG / KG)   /* dim groups */
#define DPT (DMAX / DG)
#define STR (DMAX + 1)             /* padded shared row stride: no bank conflicts */
#define PSTR (BQ + 1)
layout(local_size_x = 128) in;

shared float sk[BKV * STR]; /* the tile's k */
shared float sv[BKV * STR]; /* the tile's v */
shared float sq[BQ * STR];  /* the step's q rows */
shared float sdo[BQ * STR]; /* the step's dO_eff rows */
shared float sp[BKV * PSTR];
shared float sds[BKV * PSTR];
shared float slse[BQ]; /* -inf: the row gives nothing */
shared float sdelta[BQ];

void main()
{
    uint g = group_linear_id();
    if (g >= pc.wg_count)
        return;
    uint tid = gl_LocalInvocationID.x;
    uint D = uint(pc.D), V = uint(pc.V), S = bwd_slots(), R = bwd_rows();
    uint tiles = uint(pc.tiles);
    uint m = g / tiles, tile = g - m * tiles;
    uint bh = m / bwd_nb(), j = m - bh * bwd_nb();
    uint nk = uint(block_rows(j));
    uint k0 = tile * BKV;
    uint kbase = bh * S + j * V + k0; /* row index of the tile's first key */

    for (uint idx = tid; idx < BKV * D; idx += WG) {
        uint kk = idx / D, e = idx - kk * D;
        bool key_ok = k0 + kk < nk;
        uint at = (kbase + kk) * D + e;
        sk[kk * STR + e] = key_ok ? LD(k[OFF_K + at]) : 0.0;
        sv[kk * STR + e] = key_ok ? LD(v[OFF_V + at]) : 0.0;
    }

    uint key = tid / TPK, lane = tid - key * TPK; /* scores */
    bool key_in = k0 + key < nk;
    uint kg = tid / DG, dg = tid - kg * DG; /* accumulation */
    float accv[KPT * DPT], acck[KPT * DPT];
    for (int x = 0; x < KPT * DPT; x++)
        accv[x] = 0.0, acck[x] = 0.0;

    int start = mask[OFF_MASK + 2u * R + m];
    int count = k0 < nk ? mask[OFF_MASK + 3u * R + m] : 0;
    for (int c = 0; c < count; c++) {
        uint ib = uint(mask[OFF_MASK + uint(start + c)]);
        uint nq = uint(block_rows(ib));
        uint qbase = bh * S + ib * V;
        for (uint r0 = 0u; r0 < nq; r0 += BQ) {
            barrier(); /* the previous step's rows and P, dS are consumed */
            if (tid < BQ) {
                uint r = r0 + tid;
                bool comp = r < nq && row_computed(bh, ib, r);
                slse[tid] = comp ? row_lse(qbase + r) : NEG_INF;
                sdelta[tid] = comp ? row_delta(qbase + r) : 0.0;
            }
            barrier();
            for (uint idx = tid; idx < BQ * D; idx += WG) {
                uint rr = idx / D, e = idx - rr * D;
                bool live = slse[rr] != NEG_INF;
                uint at = (qbase + r0 + rr) * D + e;
                sq[rr * STR + e] = live ? LD(q[OFF_Q + at]) : 0.0;
                sdo[rr * STR + e] = live ? LD(dout[OFF_DOUT + at]) : 0.0;
            }
            barrier();
            float s[NRT], sc[NRT], dp[NRT];
            for (int t = 0; t < NRT; t++)
                s[t] = 0.0, sc[t] = 0.0, dp[t] = 0.0;
            for (uint e = 0u; e < D; e++) {
                float ke = sk[key * STR + e], ve = sv[key * STR + e];
                for (int t = 0; t < NRT; t++) {
                    uint rr = min(lane + uint(t) * TPK, BQ - 1u);
                    add_score(s[t], sc[t], ke * sq[rr * STR + e]);
                    dp[t] += ve * sdo[rr * STR + e];
                }
            }
            for (int t = 0; t < NRT; t++) {
                uint rr = lane + uint(t) * TPK;
                if (rr < BQ) {
                    float l = slse[rr];
                    bool use = key_in && l != NEG_INF;
                    float p = use ? prob(s[t], sc[t], l) : 0.0;
                    sp[key * PSTR + rr] = p;
                    sds[key * PSTR + rr] = use ? p * (dp[t] - sdelta[rr]) : 0.0;
                }
            }
            barrier();
            for (uint rr = 0u; rr < BQ; rr++) {
                float p[KPT], ds[KPT];
                for (int a = 0; a < KPT; a++) {
                    p[a] = sp[(kg + KG * uint(a)) * PSTR + rr];
                    ds[a] = sds[(kg + KG * uint(a)) * PSTR + rr];
                }
                for (int b = 0; b < DPT; b++) {
                    uint e = dg + uint(b) * DG;
                    float xo = sdo[rr * STR + e], xq = sq[rr * STR + e];
                    for (int a = 0; a < KPT; a++) {
                        accv[a * DPT + b] += p[a] * xo;
                        acck[a * DPT + b] += ds[a] * xq;
                    }
                }
            }
        }
    }
    for (int a = 0; a < KPT; a++) {
        uint kk = kg + KG * uint(a);
        bool in_block = k0 + kk < V, valid = k0 + kk < nk;
        uint at = (kbase + kk) * D;
        for (int b = 0; b < DPT; b++) {
            uint e = dg + uint(b) * DG;
            if (in_block && e < D) {
                dk[OFF_DK + at + e] = ST(valid ? acck[a * DPT + b] * pc.scale : 0.0);
                dv[OFF_DV + at + e] = ST(valid ? accv[a * DPT + b] : 0.0);
            }
        }
    }
}
