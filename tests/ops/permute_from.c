/* Cases of permute_from (core/backend.h): the caller layouts of
 * permute_to.c, pruned rows' fill, the LSE, NaN/Inf payloads. A copy: every
 * output byte must equal the reference's (gaps of a strided output keep their
 * poison). */
#include <string.h>

#include "harness.h"

enum { PF_SRC = 1, PF_LSE_SRC, PF_DST, PF_LSE_DST, PF_TOKEN_SLOT, PF_FILL };

static int permute_from_inputs(const op_case *c, op_inputs *in)
{
    if (oh_layout(c, 1.0, in))
        return -1;
    const vox_layout *L = &in->L;
    int64_t BH = c->B * c->H, S = L->n_slots, V = L->V, N = L->n_tokens, *s = in->strides;
    int64_t off = oh_caller_strides(c, N, &s[0], &s[1], &s[2], &s[3], &s[4], &s[5]);
    oh_add(in, "src", OB_ELEM, (size_t)(BH * S * c->D), 0);
    oh_fill_specials(c, 21, in->buf[PF_SRC].f32, in->buf[PF_SRC].count);
    oh_add(in, "lse_src", OB_F32, c->with_lse ? (size_t)(BH * S) : 0, 0);
    if (c->with_lse)
        oh_fill_specials(c, 22, in->buf[PF_LSE_SRC].f32, in->buf[PF_LSE_SRC].count);
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
    {{0}}, 0, permute_from_inputs, permute_from_run, oh_compare_bytes,
};
