/* Cases of attention_forward (core/backend.h): dense rows over shared
 * columns, random per-row masks in the BSA layout (kv_start = m*NB) with
 * empty rows, SVG-like shared patterns, kept rows, ragged and padding-only
 * blocks (a row whose only key block is padding: o = 0, LSE = -inf), equal
 * scores (o = mean of v), huge logits and huge scale, NaN in a query row
 * (that row NaN) and in a key (every row attending it NaN), +Inf in a value,
 * NaN in padding (must reach nothing), head_dim 8..256.
 * Written rows: o by normalized error, LSE by max |a - r| / max(1, |r|);
 * rows not written must keep their poison bytes.
 * Caller cases (c->caller): q, k, v, out and (with_lse) lse also in the
 * caller's layouts (the op's caller layout fields, core/backend.h), pruned
 * rows' sources with kept rows. A device that lists attention_forward in
 * caller_layout_ops gets the op with them (its block buffers as scratch);
 * the reference (and any other device) runs the block op and permute_from,
 * the sequence the contract names. out and lse compared whole (the gaps of a
 * strided layout keep their poison on both sides). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The buffers after block_valid, in the order make_inputs adds them, each
 * with the vox_op_attention_forward field it fills (harness.h). */
#define ATTENTION_FORWARD_BUFS(B) B(AF_Q, q) B(AF_K, k) B(AF_V, v) B(AF_O, o) B(AF_LSE, lse) B(AF_START, kv_start) \
    B(AF_COUNT, kv_count) B(AF_COLS, kv_cols) B(AF_KEPT_COUNT, kept_count) B(AF_KEPT_ROWS, kept_rows)
/* then, for c->caller: the caller's q, k, v, slot_token, token_slot, fill_src (kept rows), out, lse */
enum { AF_BLOCK_VALID, ATTENTION_FORWARD_BUFS(OH_BUF_INDEX) AF_CQ, AF_CK, AF_CV, AF_SLOT_TOKEN, AF_TOKEN_SLOT,
       AF_FILL, AF_CO, AF_CLSE };

/* The mask as a CSR with per-row starts into one column array. */
static void make_mask(const op_case *c, const vox_layout *L, int64_t BH, int32_t *start, int32_t *count,
                      int32_t **cols_out, size_t *ncols)
{
    int64_t NB = L->n_blocks, NBv = L->n_video_blocks;
    int32_t *cols = malloc(sizeof(int32_t) * (size_t)(BH * NB * NB + 2 * NB * NB + NB));
    size_t n = 0;
    if (c->mask == MASK_RANDOM) { /* BSA's ELL: row m owns [m*NB, m*NB+NB) */
        oh_rng r = {71};
        for (int64_t m = 0; m < BH * NB; m++) {
            int64_t i = m % NB, k = 0;
            start[m] = (int32_t)(m * NB);
            for (int64_t j = 0; j < NB; j++)
                if (i != 1 && (oh_u64(&r) % 10 < 4 || j == i))
                    cols[m * NB + k++] = (int32_t)j;
            if (i == 0 && c->drop_block >= 0) /* only a padding-only block: no keys */
                cols[m * NB] = c->drop_block, k = 1;
            count[m] = (int32_t)k;
        }
        n = (size_t)(BH * NB * NB);
    } else if (c->mask == MASK_PATTERN) { /* SVG: spatial heads even, temporal odd */
        int32_t pstart[2][256], pcount[2][256];
        for (int temporal = 0; temporal < 2; temporal++)
            for (int64_t i = 0; i < NB; i++) {
                pstart[temporal][i] = (int32_t)n;
                for (int64_t j = 0; j < NB; j++) {
                    const int32_t *ci = L->block_coord + 3 * i, *cj = L->block_coord + 3 * j;
                    int ok = i >= NBv || j >= NBv || (c->sink && cj[0] == 0) ||
                             (temporal ? abs(ci[1] - cj[1]) <= 1 && abs(ci[2] - cj[2]) <= 1 : ci[0] == cj[0]);
                    if (ok)
                        cols[n++] = (int32_t)j;
                }
                pcount[temporal][i] = (int32_t)(n - (size_t)pstart[temporal][i]);
            }
        for (int64_t m = 0; m < BH * NB; m++)
            start[m] = pstart[(m / NB) % 2][m % NB], count[m] = pcount[(m / NB) % 2][m % NB];
    } else { /* dense: one shared row */
        for (int64_t j = 0; j < NB; j++)
            cols[n++] = (int32_t)j;
        for (int64_t m = 0; m < BH * NB; m++)
            start[m] = 0, count[m] = (int32_t)NB;
    }
    *cols_out = cols;
    *ncols = n;
}

static int attention_inputs(const op_case *c, op_inputs *in)
{
    if (oh_layout(c, 1.0, in))
        return -1;
    const vox_layout *L = &in->L;
    int64_t BH = c->B * c->H, S = L->n_slots, NB = L->n_blocks, V = L->V, D = c->D, n = BH * S * D;
    oh_add_qkv(in, 81);
    float *q = in->buf[AF_Q].f32, *k = in->buf[AF_K].f32, *v = in->buf[AF_V].f32;
    /* the contract (core/backend.h): padding slots of k and v hold zeros
     * (permute_to writes them) and kernels may read them whole tiles at a
     * time; NaN padding stays in q, whose padding rows must not be read */
    if (c->fill & FILL_PAD_NAN)
        for (int64_t i = 0; i < n; i++)
            if (isnan(k[i]))
                k[i] = v[i] = 0.0f;
    if (c->fill & FILL_HUGE) /* logits of hundreds (x30 each: |q.k| up to ~1e4 before the scale) */
        for (int64_t i = 0; i < n; i++)
            q[i] *= 30.0f, k[i] *= 3.0f;
    if (c->fill & FILL_TIES) /* every valid key of a head the same: uniform softmax */
        for (int64_t bh = 0; bh < BH; bh++)
            for (int64_t s = 0; s < S; s++)
                if (oh_valid_slot(L, s))
                    memcpy(k + (bh * S + s) * D, k + bh * S * D, sizeof(float) * (size_t)D);
    if (c->fill & FILL_NAN) {
        q[3] = NAN;                            /* head 0, block 0, row 0 */
        k[((1 * S) + 2 * V) * D + 1] = NAN;    /* head 1, block 2, row 0 */
    }
    if (c->fill & FILL_INF)
        v[(1 * V) * D + 2] = INFINITY;         /* head 0, block 1, row 0 */
    oh_add(in, "o", OB_ELEM, (size_t)n, 1);
    oh_add(in, "lse", OB_F32, (size_t)(BH * S), 1);
    int32_t *cols;
    size_t ncols;
    int is = oh_add(in, "kv_start", OB_I32, (size_t)(BH * NB), 0);
    int ic = oh_add(in, "kv_count", OB_I32, (size_t)(BH * NB), 0);
    make_mask(c, L, BH, in->buf[is].i32, in->buf[ic].i32, &cols, &ncols);
    int il = oh_add(in, "kv_cols", OB_I32, ncols, 0);
    memcpy(in->buf[il].i32, cols, sizeof(int32_t) * ncols);
    free(cols);
    in->aux = 0;
    for (int64_t m = 0; m < BH * NB; m++)
        in->aux = in->buf[ic].i32[m] > in->aux ? in->buf[ic].i32[m] : in->aux;
    oh_add(in, "kept_count", OB_I32, c->kept ? (size_t)(BH * NB) : 0, 0);
    oh_add(in, "kept_rows", OB_I32, c->kept ? (size_t)(BH * NB * V) : 0, 0);
    if (c->kept)
        oh_random_kept(in, 82, in->buf[AF_KEPT_COUNT].i32, in->buf[AF_KEPT_ROWS].i32);
    if (c->caller) {
        oh_add_caller_copy(in, "cq", AF_Q), oh_add_caller_copy(in, "ck", AF_K), oh_add_caller_copy(in, "cv", AF_V);
        const int64_t *st = in->strides, N = L->n_tokens;
        int i = oh_add(in, "slot_token", OB_I32, (size_t)S, 0);
        memcpy(in->buf[i].i32, L->slot_token, sizeof(int32_t) * (size_t)S);
        i = oh_add(in, "token_slot", OB_I32, (size_t)N, 0);
        memcpy(in->buf[i].i32, L->token_slot, sizeof(int32_t) * (size_t)N);
        /* a pruned row's source: the first kept row of its block (oh_random_kept keeps at least one) */
        i = oh_add(in, "fill_src", OB_I32, c->kept ? (size_t)(BH * S) : 0, 0);
        for (int64_t m = 0; c->kept && m < BH * NB; m++) {
            int64_t bh = m / NB, j = m % NB, kc = in->buf[AF_KEPT_COUNT].i32[m];
            const int32_t *kr = in->buf[AF_KEPT_ROWS].i32 + m * V;
            for (int64_t r = 0; r < V; r++)
                in->buf[i].i32[bh * S + j * V + r] = (int32_t)(j * V + (kc > 0 ? kr[0] : r));
            for (int64_t r = 0; r < kc; r++)
                in->buf[i].i32[bh * S + j * V + kr[r]] = (int32_t)(j * V + kr[r]);
        }
        i = oh_add(in, "co", OB_ELEM, oh_caller_span(c, N, st[0], st[1], st[2], D), 1);
        in->buf[i].offset = in->buf[AF_CQ].offset;
        i = oh_add(in, "clse", OB_F32, c->with_lse ? oh_caller_span(c, N, st[3], st[4], st[5], 1) : 0, 1);
        in->buf[i].offset = (size_t)c->layout_offset * 4;
    }
    return 0;
}

static vox_status attention_run(const op_inputs *in, const op_side *s)
{
    const op_case *c = in->c;
    const vox_backend *be = s->ctx->be;
    void *dev = s->ctx->dev;
    vox_op_attention_forward op = {
        ATTENTION_FORWARD_BUFS(OH_BUF_REF)
        .scale = in->scale,
        .max_kv_count = in->aux,
        .query_keep = c->param,
    };
    if (!c->caller)
        return be->attention_forward(dev, &in->dims, &op);
    const int64_t *st = in->strides;
    const vox_strided co = {oh_ref(s, in, AF_CO), c->dtype, st[0], st[1], st[2]};
    const vox_strided clse = {oh_ref(s, in, AF_CLSE), VOX_F32, st[3], st[4], st[5]};
    if (be->caller_layout_ops && (be->caller_layout_ops(dev) >> VOX_OP_attention_forward & 1u)) {
        op.cq = (vox_strided){oh_ref(s, in, AF_CQ), c->dtype, st[0], st[1], st[2]};
        op.ck = (vox_strided){oh_ref(s, in, AF_CK), c->dtype, st[0], st[1], st[2]};
        op.cv = (vox_strided){oh_ref(s, in, AF_CV), c->dtype, st[0], st[1], st[2]};
        op.co = co, op.clse = clse;
        op.slot_token = oh_ref(s, in, AF_SLOT_TOKEN), op.token_slot = oh_ref(s, in, AF_TOKEN_SLOT);
        op.fill_src = oh_ref(s, in, AF_FILL);
        return be->attention_forward(dev, &in->dims, &op);
    }
    vox_status r = be->attention_forward(dev, &in->dims, &op);
    vox_op_permute_from pf = {.src = op.o, .lse_src = c->with_lse ? op.lse : (vox_bref){NULL, 0}, .dst = co,
                              .lse_dst = clse, .token_slot = oh_ref(s, in, AF_TOKEN_SLOT),
                              .fill_src = oh_ref(s, in, AF_FILL)};
    return r ? r : be->permute_from(dev, &in->dims, &pf);
}

static int attention_compare(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, op_errors *e,
                             char *why, size_t n)
{
    const op_case *c = in->c;
    const vox_layout *L = &in->L;
    int64_t BH = c->B * c->H, S = L->n_slots, NB = L->n_blocks, V = L->V, D = c->D;
    const int32_t *kc = in->buf[AF_KEPT_COUNT].i32, *kr = in->buf[AF_KEPT_ROWS].i32;
    if (c->caller) { /* out and lse whole, gaps included (poison on both sides) */
        if (!oh_compare_norm(in, dev, ref, AF_CO, &e->err[0], why, n))
            return 0;
        if (!c->with_lse)
            return 1;
        double *la = oh_floats(in, dev, AF_CLSE), *lr = oh_floats(in, ref, AF_CLSE);
        e->err[1] = oh_lse_err(la, lr, NULL, in->buf[AF_CLSE].count);
        free(la), free(lr);
        if (!isfinite(e->err[1]))
            snprintf(why, n, "clse: NaN/Inf (or -inf) where the reference has none, or the reverse");
        return isfinite(e->err[1]);
    }
    unsigned char *written = calloc((size_t)(BH * S), 1);
    for (int64_t m = 0; m < BH * NB; m++) {
        int64_t i = m % NB, rows = kc ? kc[m] : L->block_valid[i];
        for (int64_t r = 0; r < rows; r++)
            written[(m / NB) * S + i * V + (kc ? kr[m * V + r] : r)] = 1;
    }
    size_t *orows = malloc(sizeof(size_t) * (size_t)(BH * S * D)), *lrows = malloc(sizeof(size_t) * (size_t)(BH * S));
    size_t no = 0, nl = 0;
    size_t es = vox_dtype_size(c->dtype);
    int ok = 1;
    for (int64_t row = 0; row < BH * S; row++) {
        if (written[row]) {
            lrows[nl++] = (size_t)row;
            for (int64_t d = 0; d < D; d++)
                orows[no++] = (size_t)(row * D + d);
            continue;
        }
        /* not written: poison bytes untouched */
        const unsigned char *ob = dev->raw[AF_O] + (size_t)(row * D) * es, *lb = dev->raw[AF_LSE] + (size_t)row * 4;
        for (size_t b = 0; ok && b < (size_t)D * es; b++)
            ok = ob[b] == 0xff;
        for (size_t b = 0; ok && b < 4; b++)
            ok = lb[b] == 0xff;
        if (!ok) {
            snprintf(why, n, "row %lld (bh %lld, slot %lld) is not listed but was written", (long long)row,
                     (long long)(row / S), (long long)(row % S));
            break;
        }
    }
    if (ok) {
        double *a = oh_floats(in, dev, AF_O), *r = oh_floats(in, ref, AF_O);
        double *la = oh_floats(in, dev, AF_LSE), *lr = oh_floats(in, ref, AF_LSE);
        /* contract, on the device's own output: a row without keys gives 0 and -inf */
        const int32_t *st = in->buf[AF_START].i32, *cnt = in->buf[AF_COUNT].i32, *cols = in->buf[AF_COLS].i32;
        for (int64_t m = 0; ok && m < BH * NB; m++) {
            int64_t keys = 0, i = m % NB, rows = kc ? kc[m] : L->block_valid[i];
            for (int32_t k = 0; k < cnt[m]; k++)
                keys += L->block_valid[cols[st[m] + k]];
            for (int64_t r0 = 0; ok && !keys && r0 < rows; r0++) {
                int64_t row = (m / NB) * S + i * V + (kc ? kr[m * V + r0] : r0);
                ok = la[row] == -INFINITY;
                for (int64_t d = 0; d < D; d++)
                    ok &= a[row * D + d] == 0.0;
                if (!ok)
                    snprintf(why, n, "row %lld has no keys but o != 0 or lse != -inf", (long long)row);
            }
        }
        e->err[0] = oh_norm_err(a, r, orows, no);
        /* LSE: max |a - r| / max(1, |r|), -inf / NaN exactly where the reference has them */
        e->err[1] = oh_lse_err(la, lr, lrows, nl);
        if (ok && (!isfinite(e->err[0]) || !isfinite(e->err[1]))) {
            snprintf(why, n, "%s: NaN/Inf (or -inf LSE) where the reference has none, or the reverse",
                     isfinite(e->err[0]) ? "lse" : "o");
            ok = 0;
        }
        free(a), free(r), free(la), free(lr);
    }
    free(written), free(orows), free(lrows);
    return ok;
}

static const op_case cases[] = {
    {"dense_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 4, 4, 4), VOX_F32, .drop_block = -1},
    {"dense_ragged_b2_f32", SHAPE(2, 2, 16, 3, 5, 7, 5, 1, 2, 2, 2), VOX_F32, .drop_block = -1},
    {"dense_f16_d64", SHAPE(1, 2, 64, 4, 8, 8, 8, 0, 4, 4, 4), VOX_F16, .drop_block = -1},
    {"dense_bf16_d128_v128", SHAPE(1, 2, 128, 4, 8, 16, 0, 0, 2, 8, 8), VOX_BF16, .drop_block = -1},
    {"dense_d8_f32", SHAPE(1, 1, 8, 1, 4, 4, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1},
    {"dense_d256_v16_f16", SHAPE(1, 1, 256, 2, 4, 8, 0, 0, 1, 4, 4), VOX_F16, .drop_block = -1},
    {"random_empty_rows_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, .drop_block = -1,
     .mask = MASK_RANDOM},
    {"random_kept_bf16", SHAPE(1, 2, 64, 4, 8, 8, 8, 0, 2, 4, 4), VOX_BF16, .drop_block = -1, .mask = MASK_RANDOM,
     .kept = 1},
    {"random_kept_ragged_f16", SHAPE(1, 2, 32, 3, 9, 10, 12, 1, 2, 4, 4), VOX_F16, .drop_block = -1,
     .mask = MASK_RANDOM, .kept = 1},
    {"dense_kept_f32", SHAPE(1, 2, 32, 4, 8, 8, 0, 0, 2, 4, 4), VOX_F32, .drop_block = -1, .kept = 1},
    /* kept rows at D = 128 (random counts 1..V): with the hint 0.5 the Hopper path packs them for
     * 3 consumer warpgroups (192 rows), without a hint for 2 */
    {"random_kept_d128_keep50_bf16", SHAPE(1, 2, 128, 4, 12, 12, 8, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .mask = MASK_RANDOM, .kept = 1, .param = 0.5},
    {"random_kept_d128_nohint_f16", SHAPE(1, 2, 128, 4, 12, 12, 8, 0, 4, 4, 4), VOX_F16, .drop_block = -1,
     .mask = MASK_RANDOM, .kept = 1},
    /* ~4 kept rows per block: more than 8 blocks would fit one warpgroup's 64 rows; the planner
     * keeps each warpgroup's blocks within 8 positions (its 8-bit chunk masks) */
    {"random_fewkept_d128_keep50_bf16", SHAPE(1, 2, 128, 8, 16, 16, 8, 0, 4, 4, 4), VOX_BF16, FILL_FEW_KEPT,
     .drop_block = -1, .mask = MASK_RANDOM, .kept = 1, .param = 0.5},
    {"pattern_sink_f32", SHAPE(1, 4, 64, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .mask = MASK_PATTERN,
     .sink = 1},
    {"pattern_bf16", SHAPE(1, 2, 64, 4, 8, 8, 8, 0, 1, 4, 4), VOX_BF16, .drop_block = -1, .mask = MASK_PATTERN},
    {"padding_only_key_block_f32", SHAPE(1, 2, 32, 2, 4, 8, 9, 0, 1, 4, 4), VOX_F32, .drop_block = 2,
     .mask = MASK_RANDOM},
    {"padding_only_block_dense_bf16", SHAPE(1, 2, 32, 2, 4, 8, 9, 0, 1, 4, 4), VOX_BF16, .drop_block = 1},
    {"equal_scores_f32", SHAPE(1, 2, 32, 3, 5, 7, 5, 0, 2, 2, 2), VOX_F32, FILL_TIES, .drop_block = -1},
    {"equal_scores_bf16", SHAPE(1, 2, 32, 3, 5, 7, 5, 0, 2, 2, 2), VOX_BF16, FILL_TIES, .drop_block = -1},
    {"huge_logits_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_HUGE, .drop_block = -1,
     .mask = MASK_RANDOM},
    {"huge_logits_f16", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F16, FILL_HUGE, .drop_block = -1},
    {"huge_scale_f32", SHAPE(1, 2, 32, 4, 8, 8, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .scale = 40.0},
    /* the Hopper D = 128 kernels (V = 128: split items; V = 64: 3 warpgroups; the D = 32 cases above never
     * reach them): a row's max moves by far more than 2^8 after its first tile, so the O rescale runs (a
     * rescale threshold of 8, session 17's lazy max, fails here when the max is never moved) */
    {"huge_logits_d128_v128_bf16", SHAPE(1, 2, 128, 4, 8, 16, 0, 0, 2, 8, 8), VOX_BF16, FILL_HUGE, .drop_block = -1},
    {"huge_scale_d128_v64_bf16", SHAPE(1, 2, 128, 4, 8, 8, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1, .scale = 40.0},
    {"huge_scale_bf16", SHAPE(1, 2, 32, 4, 8, 8, 0, 0, 1, 4, 4), VOX_BF16, .drop_block = -1, .scale = 40.0,
     .kept = 1},
    {"nan_q_row_and_key_f32", SHAPE(1, 2, 32, 3, 5, 7, 5, 0, 2, 2, 2), VOX_F32, FILL_NAN, .drop_block = -1,
     .mask = MASK_RANDOM},
    {"nan_q_row_and_key_bf16", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 2, 4, 4), VOX_BF16, FILL_NAN, .drop_block = -1},
    {"inf_value_f32", SHAPE(1, 2, 32, 3, 5, 7, 5, 0, 2, 2, 2), VOX_F32, FILL_INF, .drop_block = -1},
    {"nan_padding_f32", SHAPE(1, 2, 32, 3, 5, 7, 5, 0, 2, 2, 2), VOX_F32, FILL_PAD_NAN, .drop_block = -1},
    {"nan_padding_kept_bf16", SHAPE(1, 2, 64, 3, 9, 10, 12, 1, 2, 4, 4), VOX_BF16, FILL_PAD_NAN, .drop_block = -1,
     .mask = MASK_RANDOM, .kept = 1},
    {"workload_dense_f16", SHAPE(1, 2, 64, 4, 8, 8, 8, 0, 4, 4, 4), VOX_F16, FILL_WORKLOAD, .drop_block = -1},
    /* the caller's layouts: the Hopper path's direct q / o / lse (16-byte aligned rows, D 128 and 64,
     * V 64 and 128, ragged blocks and text), its fallbacks (pruned rows: o through permute_from;
     * rows off 16 bytes: block copies; f32: the core's sequence in the backend), an Inf in V
     * (the fused V permute's flags, the safe kernel) */
    {"caller_bnhd_random_d128_lse_bf16", SHAPE(1, 2, 128, 4, 8, 8, 8, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .mask = MASK_RANDOM, .layout = LAYOUT_BNHD, .with_lse = 1, .caller = 1},
    {"caller_bhnd_pattern_b2_text_d64_f16", SHAPE(2, 2, 64, 4, 8, 8, 8, 1, 4, 4, 4), VOX_F16, .drop_block = -1,
     .mask = MASK_PATTERN, .layout = LAYOUT_BHND, .caller = 1},
    {"caller_packed_kept_ragged_lse_bf16", SHAPE(1, 2, 64, 3, 9, 10, 12, 1, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .mask = MASK_RANDOM, .kept = 1, .layout = LAYOUT_PACKED_QKV, .with_lse = 1, .caller = 1},
    {"caller_kept_d128_keep50_ragged_lse_bf16", SHAPE(1, 2, 128, 3, 9, 10, 12, 1, 4, 4, 4), VOX_BF16,
     .drop_block = -1, .mask = MASK_RANDOM, .kept = 1, .param = 0.5, .layout = LAYOUT_BNHD, .with_lse = 1,
     .caller = 1},
    {"caller_bnhd_offset_unaligned_lse_bf16", SHAPE(1, 2, 64, 4, 8, 8, 8, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .layout = LAYOUT_BNHD, .layout_offset = 3, .with_lse = 1, .caller = 1},
    {"caller_inf_value_d128_v128_lse_bf16", SHAPE(1, 2, 128, 4, 8, 16, 0, 0, 2, 8, 8), VOX_BF16, FILL_INF,
     .drop_block = -1, .layout = LAYOUT_BNHD, .with_lse = 1, .caller = 1},
    /* V = 128 with ragged t- and h-edge blocks (64 and 32 valid rows) and a partial text block: the
     * Hopper planner's edge order packs the partial blocks together (2 consumer warpgroups, one full
     * block per item) and claims the items holding them first */
    {"random_ragged_d128_v128_text_bf16", SHAPE(1, 2, 128, 3, 12, 16, 8, 0, 2, 8, 8), VOX_BF16, .drop_block = -1,
     .mask = MASK_RANDOM},
    {"caller_random_ragged_d128_v128_lse_bf16", SHAPE(1, 2, 128, 5, 20, 16, 8, 0, 2, 8, 8), VOX_BF16,
     .drop_block = -1, .mask = MASK_RANDOM, .layout = LAYOUT_BNHD, .with_lse = 1, .caller = 1},
    {"caller_dense_lse_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 4, 4, 4), VOX_F32, .drop_block = -1,
     .layout = LAYOUT_BNHD, .with_lse = 1, .caller = 1},
    /* bf16 D = 128 in the caller's layout without an LSE (V = 64: 3 warpgroups; V = 128: split items): the
     * Hopper path's direct o with no LSE written (where an LSE-free kernel variant could run, e.g. session
     * 17's row sums by the tensor core); huge logits move a row's max after its first tile */
    {"caller_nolse_random_d128_v64_bf16", SHAPE(1, 2, 128, 4, 8, 8, 8, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .mask = MASK_RANDOM, .layout = LAYOUT_BNHD, .caller = 1},
    {"caller_nolse_ragged_d128_v128_bf16", SHAPE(1, 2, 128, 5, 20, 16, 8, 0, 2, 8, 8), VOX_BF16, .drop_block = -1,
     .mask = MASK_RANDOM, .layout = LAYOUT_BNHD, .caller = 1},
    {"caller_nolse_huge_logits_d128_v128_bf16", SHAPE(1, 2, 128, 4, 8, 16, 0, 0, 2, 8, 8), VOX_BF16, FILL_HUGE,
     .drop_block = -1, .layout = LAYOUT_BNHD, .caller = 1},
    {"perf_wan_like_dense_bf16", SHAPE(1, 12, 128, 4, 30, 52, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .perf_only = 1},
};

const op_entry op_attention_forward = {
    VOX_OP_attention_forward, cases, (int)(sizeof cases / sizeof cases[0]),
    /* o: the end-to-end tolerances of tests/testutil.c; largest observed on
     * PoCL (scalar and emulated-MMA kernels) / lavapipe: f32 9.0e-12, f16
     * 8.5e-8, bf16 5.6e-6 (MMA path, P rounded to bf16). lse: 4.1e-7. */
    {{"o", 0, {1e-10, 1e-5, 3e-5}}, {"lse", 1, {1e-5, 1e-5, 1e-5}}}, 2,
    attention_inputs, attention_run, attention_compare,
};
