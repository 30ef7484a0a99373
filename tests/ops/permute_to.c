/* Cases of permute_to (core/backend.h): caller layouts [B,H,N,D],
 * [B,N,H,D] and a packed [B,N,3,H,D] qkv view (gaps between rows), odd byte
 * offsets, ragged and padding-only blocks, text before/after, NaN/Inf
 * payloads. A copy: every output byte must equal the reference's. */
#include <string.h>

#include "harness.h"

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
    oh_fill_specials(c, 11, in->buf[PT_SRC].f32, n);
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
    permute_to_inputs, permute_to_run, oh_compare_bytes,
};

