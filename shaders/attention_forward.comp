/* attention_forward: block-sparse attention (vox_op_attention_forward), a tiled streaming
 * kernel with an online softmax. One workgroup of 128 invocations per
 * (bh, query block i, tile of BQ rows): the rows are the block's valid rows,
 * or its kept rows (kept_rows) when query selection is on, so the work scales
 * with kept rows. Only the KV blocks listed for row m = bh*NB + i are visited,
 * BK keys at a time through shared memory; no N x N buffer exists.
 * Build-time defines: DMAX (head_dim bound), BQ (query rows per workgroup),
 * BK (keys per tile). Each invocation owns one row, BK/TPR of the tile's
 * scores and DMAX/TPR of the output dims (TPR = 128/BQ invocations per row).
 * tiles: workgroups per query block (ceil(V / BQ)); scale_log2 is not used.
 *
 * One file per op: the GLSL compute shader (compiled by glslc with
 * -DVOX_GLSL and -std=450, so no #version line here), and in a section
 * glslc skips the host side, compiled into vk_ops.c through the generated
 * vk_op_files.h: the op's shader variants VK_VARIANTS_attention_forward (one
 * X(name, source, defines) per line; backends/vulkan/meson.build reads these
 * lines to build the SPIR-V, the launcher reads the defines), the
 * launcher vk_attention_forward() and VK_SUPPORTS_attention_forward.
 * The matrix-unit variants compile attention_forward_cm.comp (same bindings
 * and push constants).
 */
#ifdef VOX_GLSL
#include "common.glsl"
#define WG 128u
#define TPR (WG / BQ)
#define DPT (DMAX / TPR)
#define NSC (BK / TPR) /* scores per invocation */
#define KSTR (DMAX + 1) /* padded shared row strides: no bank conflicts */
#define QSTR (DMAX + 1)
layout(local_size_x = 128) in;
layout(push_constant) uniform PC {
    VOX_GLSL_PC_HEAD(VOX_ATTENTION_FORWARD_BUFS) VOX_GLSL_FIELDS(VOX_ATTENTION_FORWARD_ARGS)
} pc;
layout(std430, set = 0, binding = 0) readonly buffer Q { ELEM q[]; };
layout(std430, set = 0, binding = 1) readonly buffer K { ELEM k[]; };
layout(std430, set = 0, binding = 2) readonly buffer Vv { ELEM v[]; };
layout(std430, set = 0, binding = 3) writeonly buffer O { ELEM o[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Lse { float lse[]; };
layout(std430, set = 0, binding = 5) readonly buffer KvStart { int kv_start[]; };
layout(std430, set = 0, binding = 6) readonly buffer KvCount { int kv_count[]; };
layout(std430, set = 0, binding = 7) readonly buffer KvCols { int kv_cols[]; };
layout(std430, set = 0, binding = 8) readonly buffer KeptCount { int kept_count[]; };
layout(std430, set = 0, binding = 9) readonly buffer KeptRows { int kept_rows[]; };
layout(std430, set = 0, binding = 10) readonly buffer BlockValid { int block_valid[]; };

shared float sq[BQ * QSTR];  /* query rows */
shared float skv[BK * KSTR]; /* K tile, then V tile */
/* Scores are kept unscaled (q.k) and the scale enters only through
 * exp((s - max) * scale) and the LSE, so huge scales cannot overflow. */
shared float ss[BQ * BK];
shared int srow[BQ];

void main()
{
    uint g = group_linear_id();
    if (g >= pc.wg_count)
        return;
    uint tid = gl_LocalInvocationID.x;
    uint D = uint(pc.D), NB = vox_u64lo(pc.NB), V = uint(pc.V);
    bool has_kept = pc.has_kept != 0;
    float scale = pc.scale;
    uint tiles = uint(pc.tiles);
    uint m = g / tiles, tile = g - m * tiles;
    uint bh = m / NB, i = m - bh * NB;
    uint S = NB * V;
    int nrows = has_kept ? kept_count[pc.off[8] + m] : block_valid[pc.off[10] + i];
    uint r0 = tile * BQ;
    if (int(r0) >= nrows)
        return; /* uniform across the workgroup */

    if (tid < BQ) {
        uint r = r0 + tid;
        srow[tid] = int(r) < nrows ? (has_kept ? kept_rows[pc.off[9] + m * V + r] : int(r)) : -1;
    }
    barrier();
    uint qbase = pc.off[0] + (bh * S + i * V) * D;
    for (uint idx = tid; idx < BQ * D; idx += WG) {
        uint rr = idx / D, e = idx - rr * D;
        int slot = srow[rr];
        sq[rr * QSTR + e] = slot >= 0 ? LD(q[qbase + uint(slot) * D + e]) : 0.0;
    }

    /* invocation (row, lane): scores of keys lane + TPR*t, output dims lane + TPR*j;
     * the row's running max and sum are kept (identically) by each of its lanes */
    uint row = tid / TPR, lane = tid - row * TPR;
    float acc[DPT];
    for (int j = 0; j < DPT; j++)
        acc[j] = 0.0;
    float mrow = NEG_INF, lrow = 0.0;

    int start = kv_start[pc.off[5] + m], count = kv_count[pc.off[6] + m];
    for (int c = 0; c < count; c++) {
        uint jb = uint(kv_cols[pc.off[7] + uint(start + c)]);
        uint nk = uint(block_valid[pc.off[10] + jb]);
        uint kbase = (bh * S + jb * V) * D;
        for (uint k0 = 0u; k0 < nk; k0 += BK) {
            barrier(); /* the previous tile's V and scores are consumed */
            for (uint idx = tid; idx < BK * D; idx += WG) {
                uint kk = idx / D, e = idx - kk * D;
                skv[kk * KSTR + e] = k0 + kk < nk ? LD(k[pc.off[1] + kbase + (k0 + kk) * D + e]) : 0.0;
            }
            barrier();
            float dots[NSC]; /* register-blocked: one q load serves NSC keys */
            for (int t = 0; t < NSC; t++)
                dots[t] = 0.0;
            for (uint e = 0u; e < D; e++) {
                float qe = sq[row * QSTR + e];
                for (int t = 0; t < NSC; t++)
                    dots[t] += qe * skv[(lane + uint(t) * TPR) * KSTR + e];
            }
            for (int t = 0; t < NSC; t++) {
                uint kk = lane + uint(t) * TPR;
                ss[row * BK + kk] = k0 + kk < nk ? dots[t] : NEG_INF;
            }
            barrier(); /* scores complete, K consumed */
            for (uint idx = tid; idx < BK * D; idx += WG) {
                uint kk = idx / D, e = idx - kk * D;
                skv[kk * KSTR + e] = k0 + kk < nk ? LD(v[pc.off[2] + kbase + (k0 + kk) * D + e]) : 0.0;
            }
            barrier();
            /* online softmax (in units of q.k) fused with P V */
            float mnew = mrow;
            for (uint kk = 0u; kk < BK; kk++)
                mnew = max(mnew, ss[row * BK + kk]);
            float alpha = mrow == NEG_INF ? 0.0 : exp((mrow - mnew) * scale);
            if (mnew == NEG_INF)
                alpha = 1.0;
            float a[DPT];
            for (int j = 0; j < DPT; j++)
                a[j] = acc[j] * alpha;
            float sum = 0.0;
            for (uint kk = 0u; kk < BK; kk++) {
                float s = ss[row * BK + kk];
                float pk = s == NEG_INF ? 0.0 : exp((s - mnew) * scale);
                sum += pk;
                for (int j = 0; j < DPT; j++)
                    a[j] += pk * skv[kk * KSTR + lane + uint(j) * TPR];
            }
            for (int j = 0; j < DPT; j++)
                acc[j] = a[j];
            lrow = lrow * alpha + sum;
            mrow = mnew;
        }
    }
    int slot = srow[row];
    if (slot >= 0) {
        /* no keys: o = 0, lse = -inf; a NaN sum (NaN inputs) propagates */
        float inv = lrow == 0.0 ? 0.0 : 1.0 / lrow;
        uint obase = pc.off[3] + (bh * S + i * V + uint(slot)) * D;
        for (int j = 0; j < DPT; j++) {
            uint e = lane + uint(j) * TPR;
            if (e < D)
                o[obase + e] = ST(acc[j] * inv);
        }
        if (lane == 0u)
            lse[pc.off[4] + bh * S + i * V + uint(slot)] = lrow == 0.0 ? NEG_INF : mrow * scale + log(lrow);
    }
}
#endif /* VOX_GLSL */
#ifndef VOX_GLSL
#define VK_VARIANTS_attention_forward(X) \
    X("attention_forward_f32_d64", "attention_forward.comp", "-DDT_F32=1 -DDMAX=64 -DBQ=32 -DBK=32") \
    X("attention_forward_f32_d128", "attention_forward.comp", "-DDT_F32=1 -DDMAX=128 -DBQ=16 -DBK=32") \
    X("attention_forward_f32_d256", "attention_forward.comp", "-DDT_F32=1 -DDMAX=256 -DBQ=8 -DBK=16") \
    X("attention_forward_f16_d64", "attention_forward.comp", "-DDT_F16=1 -DDMAX=64 -DBQ=32 -DBK=32") \
    X("attention_forward_f16_d128", "attention_forward.comp", "-DDT_F16=1 -DDMAX=128 -DBQ=16 -DBK=32") \
    X("attention_forward_f16_d256", "attention_forward.comp", "-DDT_F16=1 -DDMAX=256 -DBQ=8 -DBK=16") \
    X("attention_forward_cm_f16_d64", "attention_forward_cm.comp", "-DDT_F16=1 -DDMAX=64 -DBK=64") \
    X("attention_forward_cm_f16_d128", "attention_forward_cm.comp", "-DDT_F16=1 -DDMAX=128 -DBK=32") \
    X("attention_forward_bf16_d64", "attention_forward.comp", "-DDT_BF16=1 -DDMAX=64 -DBQ=32 -DBK=32") \
    X("attention_forward_bf16_d128", "attention_forward.comp", "-DDT_BF16=1 -DDMAX=128 -DBQ=16 -DBK=32") \
    X("attention_forward_bf16_d256", "attention_forward.comp", "-DDT_BF16=1 -DDMAX=256 -DBQ=8 -DBK=16") \
    X("attention_forward_cm_bf16_d64", "attention_forward_cm.comp", "-DDT_BF16=1 -DDMAX=64 -DBK=64") \
    X("attention_forward_cm_bf16_d128", "attention_forward_cm.comp", "-DDT_BF16=1 -DDMAX=128 -DBK=32")
/* X(op) where this file has vk_<op>_supports() (vk_supports) */
#define VK_SUPPORTS_attention_forward(X)

vox_status vk_attention_forward(void *dev, const vox_op_dims *d, const vox_op_attention_forward *p)
{
    VK_OP_ARGS(attention_forward);
    vox_status st = check_blocks(v, d, "attention_forward");
    if (st)
        return st;
    int64_t BH = a.BH, NB = a.NB, V = a.V, S = NB * V, D = a.D;
    /* matrix units (attention_forward_cm.comp, 64 query rows per workgroup)
     * for f16/bf16 with D <= 128 where the device has them; else the scalar
     * shader, whose query rows per workgroup (BQ) depend on the head_dim
     * bound (VK_VARIANTS_attention_forward) */
    int cm = v->coopmat && d->dtype != VOX_F32 && D <= 128;
    int dmax = D <= 64 ? 64 : D <= 128 ? 128 : 256;
    char name[64];
    snprintf(name, sizeof name, "attention_forward%s_%s_d%d", cm ? "_cm" : "", dtname(d->dtype), dmax);
    int bq = cm ? 64 : variant_define(name, "BQ");
    if (bq <= 0)
        return vox_fail(v->log, VOX_ERR_BACKEND, "vulkan: attention_forward: no tile for %s", name);
    a.tiles = (int32_t)((V + bq - 1) / bq);
    a.total = BH * NB * a.tiles;
    size_t qkv = (size_t)(BH * S * D) * es;
    vk_attention_forward_binds b = {.q = bind(p->q, qkv, es),
                                    .k = bind(p->k, qkv, es),
                                    .v = bind(p->v, qkv, es),
                                    .o = bind(p->o, qkv, es),
                                    .lse = bind(p->lse, (size_t)(BH * S) * 4, 4),
                                    .kv_start = bind(p->kv_start, (size_t)(BH * NB) * 4, 4),
                                    .kv_count = bind(p->kv_count, (size_t)(BH * NB) * 4, 4),
                                    .kv_cols = bind(p->kv_cols, 0, 4),
                                    .kept_count = bind(a.has_kept ? p->kept_count : none, (size_t)(BH * NB) * 4, 4),
                                    .kept_rows = bind(a.has_kept ? p->kept_rows : none, (size_t)(BH * NB * V) * 4, 4),
                                    .valid = bind(d->block_valid, (size_t)NB * 4, 4)};
    return VK_DISPATCH(v, attention_forward, name, b, a, (uint64_t)a.total);
}
#endif /* !VOX_GLSL */
