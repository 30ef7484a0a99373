/* Cases of permute_to and permute_from (core/backend.h): caller layouts
 * [B,H,N,D], [B,N,H,D] and a packed [B,N,3,H,D] qkv view (gaps between rows),
 * odd byte offsets, ragged and padding-only blocks, text before/after, pruned
 * rows' fill, NaN/Inf payloads. Both ops are copies: every output byte must
 * equal the reference's (gaps of a strided output keep their poison). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* Random values; with FILL_NAN a sprinkle of NaN, +-Inf and -0. */
static void fill_values(const op_case *c, uint64_t seed, float *x, size_t n)
{
    oh_rng r = {seed};
    static const float specials[] = {NAN, INFINITY, -INFINITY, -0.0f};
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)oh_normal(&r);
        if ((c->fill & FILL_NAN) && oh_u64(&r) % 7 == 0)
            x[i] = specials[oh_u64(&r) % 4];
    }
}

/* ---- permute_to ---------------------------------------------------------- */

enum { PT_SRC = 1, PT_SLOT, PT_DST };

static int permute_to_inputs(const op_case *c, op_inputs *in)
{
    if (oh_layout(c, 1.0, in))
        return -1;
    const vox_layout *L = &in->L;
    int64_t *s = in->strides, N = L->n_tokens;
    int64_t off = oh_caller_strides(c, N, &s[0], &s[1], &s[2], &s[3], &s[4], &s[5]);
    size_t n = oh_caller_span(c, N, s[0], s[1], s[2], c->D);
    oh_add(in, "src", OB_ELEM, n, 0);
    in->buf[PT_SRC].offset = (size_t)off * vox_dtype_size(c->dtype);
    fill_values(c, 11, in->buf[PT_SRC].f32, n);
    oh_add(in, "slot_token", OB_I32, (size_t)L->n_slots, 0);
    memcpy(in->buf[PT_SLOT].i32, L->slot_token, sizeof(int32_t) * (size_t)L->n_slots);
    oh_add(in, "dst", OB_ELEM, (size_t)(c->B * c->H * L->n_slots * c->D), 1);
    return 0;
}

static vox_status permute_to_run(const op_inputs *in, const op_side *s)
{
    vox_op_permute_to op = {
        .src = {oh_ref(s, in, PT_SRC), in->c->dtype, in->strides[0], in->strides[1], in->strides[2]},
        .dst = oh_ref(s, in, PT_DST),
        .slot_token = oh_ref(s, in, PT_SLOT),
    };
    return s->ctx->be->permute_to(s->ctx->dev, &in->dims, &op);
}

/* Every byte of each output buffer equal to the reference's. */
static int same_bytes(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, char *why, size_t n)
{
    for (int i = 0; i < in->n_buf; i++) {
        if (!in->buf[i].output || !in->buf[i].count)
            continue;
        size_t b = dev->bytes[i];
        for (size_t k = 0; k < b; k++)
            if (dev->raw[i][k] != ref->raw[i][k]) {
                size_t es = oh_elem_size(in, i), el = (k - (k >= in->buf[i].offset ? in->buf[i].offset : 0)) / es;
                snprintf(why, n, "%s: byte %zu (element %zu) differs from the reference", in->buf[i].name, k, el);
                return 0;
            }
    }
    return 1;
}

static int permute_compare(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, op_errors *e,
                           char *why, size_t n)
{
    (void)e;
    return same_bytes(in, dev, ref, why, n);
}

static const op_case permute_cases[] = {
    {"bhnd_f32_444", SHAPE(1, 2, 32, 4, 8, 8, 0, 0, 4, 4, 4), VOX_F32, .drop_block = -1},
    {"bnhd_ragged_text_after_f32", SHAPE(2, 2, 16, 3, 5, 7, 5, 0, 2, 2, 2), VOX_F32, .drop_block = -1,
     .layout = LAYOUT_BNHD},
    {"packed_qkv_text_before_bf16", SHAPE(1, 3, 64, 2, 6, 6, 20, 1, 2, 4, 4), VOX_BF16, .drop_block = -1,
     .layout = LAYOUT_PACKED_QKV},
    {"packed_qkv_f16_d128", SHAPE(1, 2, 128, 5, 9, 11, 13, 1, 4, 4, 4), VOX_F16, .drop_block = -1,
     .layout = LAYOUT_PACKED_QKV},
    {"odd_offset_d8_f16", SHAPE(1, 1, 8, 1, 4, 4, 3, 0, 1, 4, 4), VOX_F16, .drop_block = -1, .layout_offset = 3},
    {"odd_offset_bnhd_f32", SHAPE(2, 3, 8, 2, 3, 5, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1,
     .layout = LAYOUT_BNHD, .layout_offset = 1},
    {"padding_only_block_bf16", SHAPE(1, 2, 32, 2, 4, 8, 9, 0, 1, 4, 4), VOX_BF16, .drop_block = 2},
    {"padding_only_global_f32", SHAPE(1, 2, 16, 2, 4, 4, 40, 1, 1, 4, 4), VOX_F32, .drop_block = 3,
     .layout = LAYOUT_BNHD},
    {"nan_inf_payload_f32", SHAPE(1, 2, 32, 3, 5, 7, 5, 0, 2, 2, 2), VOX_F32, FILL_NAN, .drop_block = -1},
    {"nan_inf_payload_bf16", SHAPE(1, 2, 32, 3, 5, 7, 5, 0, 2, 2, 2), VOX_BF16, FILL_NAN, .drop_block = -1,
     .layout = LAYOUT_PACKED_QKV},
    {"workload_v256_f16", SHAPE(1, 2, 64, 4, 8, 16, 8, 0, 2, 8, 8), VOX_F16, FILL_WORKLOAD, .drop_block = -1},
    {"perf_wan_like_bf16", SHAPE(1, 12, 128, 8, 30, 52, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .layout = LAYOUT_BNHD, .perf_only = 1},
};

const op_entry op_permute_to = {
    VOX_OP_permute_to, permute_cases, (int)(sizeof permute_cases / sizeof permute_cases[0]), {{0}}, 0,
    permute_to_inputs, permute_to_run, permute_compare,
};

/* ---- permute_from -------------------------------------------------------- */

enum { PF_SRC = 1, PF_LSE_SRC, PF_DST, PF_LSE_DST, PF_TOKEN_SLOT, PF_FILL };

static int permute_from_inputs(const op_case *c, op_inputs *in)
{
    if (oh_layout(c, 1.0, in))
        return -1;
    const vox_layout *L = &in->L;
    int64_t BH = c->B * c->H, S = L->n_slots, V = L->V, N = L->n_tokens, *s = in->strides;
    int64_t off = oh_caller_strides(c, N, &s[0], &s[1], &s[2], &s[3], &s[4], &s[5]);
    oh_add(in, "src", OB_ELEM, (size_t)(BH * S * c->D), 0);
    fill_values(c, 21, in->buf[PF_SRC].f32, in->buf[PF_SRC].count);
    oh_add(in, "lse_src", OB_F32, c->with_lse ? (size_t)(BH * S) : 0, 0);
    if (c->with_lse)
        fill_values(c, 22, in->buf[PF_LSE_SRC].f32, in->buf[PF_LSE_SRC].count);
    oh_add(in, "dst", OB_ELEM, oh_caller_span(c, N, s[0], s[1], s[2], c->D), 1);
    in->buf[PF_DST].offset = (size_t)off * vox_dtype_size(c->dtype);
    oh_add(in, "lse_dst", OB_F32, c->with_lse ? oh_caller_span(c, N, s[3], s[4], s[5], 1) : 0, 1);
    in->buf[PF_LSE_DST].offset = (size_t)c->layout_offset * 4;
    oh_add(in, "token_slot", OB_I32, (size_t)N, 0);
    memcpy(in->buf[PF_TOKEN_SLOT].i32, L->token_slot, sizeof(int32_t) * (size_t)N);
    oh_add(in, "fill_src", OB_I32, c->with_fill ? (size_t)(BH * S) : 0, 0);
    if (c->with_fill) {
        /* a pruned row's source: a random valid slot of its block */
        oh_rng r = {23};
        int32_t *f = in->buf[PF_FILL].i32;
        for (int64_t bh = 0; bh < BH; bh++)
            for (int64_t sl = 0; sl < S; sl++) {
                int32_t nv = L->block_valid[sl / V];
                f[bh * S + sl] = (int32_t)sl;
                if (nv > 0 && oh_valid_slot(L, sl) && oh_u64(&r) % 2)
                    f[bh * S + sl] = (int32_t)((sl / V) * V + (int64_t)(oh_u64(&r) % (uint64_t)nv));
            }
    }
    return 0;
}

static vox_status permute_from_run(const op_inputs *in, const op_side *s)
{
    const int64_t *st = in->strides;
    vox_op_permute_from op = {
        .src = oh_ref(s, in, PF_SRC),
        .lse_src = oh_ref(s, in, PF_LSE_SRC),
        .dst = {oh_ref(s, in, PF_DST), in->c->dtype, st[0], st[1], st[2]},
        .lse_dst = {oh_ref(s, in, PF_LSE_DST), VOX_F32, st[3], st[4], st[5]},
        .token_slot = oh_ref(s, in, PF_TOKEN_SLOT),
        .fill_src = oh_ref(s, in, PF_FILL),
    };
    return s->ctx->be->permute_from(s->ctx->dev, &in->dims, &op);
}

static const op_case permute_from_cases[] = {
    {"bhnd_f32_lse_fill", SHAPE(1, 2, 32, 4, 8, 8, 0, 0, 4, 4, 4), VOX_F32, .drop_block = -1, .with_lse = 1,
     .with_fill = 1},
    {"bnhd_ragged_no_lse", SHAPE(2, 2, 16, 3, 5, 7, 5, 0, 2, 2, 2), VOX_F32, .drop_block = -1,
     .layout = LAYOUT_BNHD},
    {"bnhd_lse_no_fill_f16", SHAPE(1, 3, 64, 2, 6, 6, 20, 1, 2, 4, 4), VOX_F16, .drop_block = -1,
     .layout = LAYOUT_BNHD, .with_lse = 1},
    {"packed_gaps_fill_bf16", SHAPE(1, 2, 64, 3, 9, 10, 12, 1, 2, 4, 4), VOX_BF16, .drop_block = -1,
     .layout = LAYOUT_PACKED_QKV, .with_lse = 1, .with_fill = 1},
    {"odd_offset_d8_f16", SHAPE(1, 1, 8, 1, 4, 4, 3, 0, 1, 4, 4), VOX_F16, .drop_block = -1, .layout_offset = 3,
     .with_lse = 1, .with_fill = 1},
    {"padding_only_block_f32", SHAPE(1, 2, 32, 2, 4, 8, 9, 0, 1, 4, 4), VOX_F32, .drop_block = 1,
     .layout = LAYOUT_BNHD, .with_lse = 1, .with_fill = 1},
    {"nan_inf_payload_bf16", SHAPE(1, 2, 32, 3, 5, 7, 5, 0, 2, 2, 2), VOX_BF16, FILL_NAN, .drop_block = -1,
     .with_lse = 1, .with_fill = 1},
    {"d128_v128_f16", SHAPE(1, 2, 128, 4, 8, 16, 0, 0, 2, 8, 8), VOX_F16, .drop_block = -1,
     .layout = LAYOUT_BNHD, .with_lse = 1},
    {"perf_wan_like_bf16", SHAPE(1, 12, 128, 8, 30, 52, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .layout = LAYOUT_BNHD, .with_lse = 1, .perf_only = 1},
};

const op_entry op_permute_from = {
    VOX_OP_permute_from, permute_from_cases, (int)(sizeof permute_from_cases / sizeof permute_from_cases[0]),
    {{0}}, 0, permute_from_inputs, permute_from_run, permute_compare,
};
