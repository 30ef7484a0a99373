/* Cases of sample_rows (core/backend.h): sampled rows including a block's
 * first and last valid slot, spatial/temporal widths 0 and 1, the first-frame
 * sink, text blocks, ragged and padding-only blocks (D 128 with blocks of 64
 * slots: tiles of every fill), NaN in padding (must not reach anything), NaN
 * in one key (reaches every row), Inf in one value, huge logits; q, k, v
 * also given in the caller's layouts [B,H,N,D], [B,N,H,D] and a packed qkv
 * view (16-byte aligned or not) with slot_token, NaN between rows (a backend
 * listing sample_rows in caller_layout_ops reads those, the others the block
 * copies). The output f32 [BH*R*3] is compared by normalized error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The buffers after block_valid, in the order make_inputs adds them, each
 * with the vox_op_sample_rows field it fills (harness.h). */
#define SAMPLE_ROWS_BUFS(B) B(SR_Q, q) B(SR_K, k) B(SR_V, v) B(SR_ROWS, rows) B(SR_COORD, block_coord) \
    B(SR_OUT, out)
/* then, for c->caller, the caller's q, k, v and slot_token */
enum { SR_BLOCK_VALID, SAMPLE_ROWS_BUFS(OH_BUF_INDEX) SR_CQ, SR_CK, SR_CV, SR_SLOT_TOKEN };

static int sample_rows_inputs(const op_case *c, op_inputs *in)
{
    if (oh_layout(c, 1.0, in))
        return -1;
    const vox_layout *L = &in->L;
    int64_t BH = c->B * c->H, S = L->n_slots, D = c->D, V = L->V, n = BH * S * D;
    oh_add_qkv(in, 51);
    if (c->fill & FILL_HUGE) /* huge logits: q and k x10 */
        for (int64_t k = 0; k < n; k++)
            in->buf[SR_Q].f32[k] *= 10.0f, in->buf[SR_K].f32[k] *= 10.0f;
    if (c->fill & FILL_NAN) /* one valid key of block 1, head 0 */
        in->buf[SR_K].f32[(size_t)(V * D + 1)] = NAN;
    if (c->fill & FILL_INF) /* one value of block 1's first key, head 0: o holds Inf, the sums Inf or NaN */
        in->buf[SR_V].f32[(size_t)(V * D + 2)] = INFINITY;
    /* rows: first slot of block 0, last valid slot of the last video block,
     * then random distinct valid video slots; up to 40 (the tensor-core kernel
     * takes 16 rows per warp pair: 40 fill two groups and part of a third) */
    int64_t cap = 40, R = 0, NBv = L->n_video_blocks;
    int32_t *rows = malloc(sizeof(int32_t) * (size_t)cap);
    unsigned char *used = calloc((size_t)S, 1);
    oh_rng r = {52};
    for (int64_t tries = 0; R < cap && tries < 64 * cap; tries++) {
        int64_t s = tries == 0 ? 0 : tries == 1 ? (NBv - 1) * V + L->block_valid[NBv - 1] - 1
                                                 : (int64_t)(oh_u64(&r) % (uint64_t)(NBv * V));
        if (s < 0 || !oh_valid_slot(L, s) || used[s])
            continue;
        used[s] = 1;
        rows[R++] = (int32_t)s;
    }
    free(used);
    int i = oh_add(in, "rows", OB_I32, (size_t)R, 0);
    for (int64_t k = 0; k < R; k++)
        in->buf[i].i32[k] = rows[k];
    free(rows);
    in->aux = R;
    i = oh_add(in, "block_coord", OB_I32, (size_t)(3 * L->n_blocks), 0);
    for (int64_t k = 0; k < 3 * L->n_blocks; k++)
        in->buf[i].i32[k] = L->block_coord[k];
    oh_add(in, "out", OB_F32, (size_t)(BH * R * 3), 1);
    if (c->caller) {
        oh_add_caller_copy(in, "cq", SR_Q), oh_add_caller_copy(in, "ck", SR_K), oh_add_caller_copy(in, "cv", SR_V);
        i = oh_add(in, "slot_token", OB_I32, (size_t)S, 0);
        memcpy(in->buf[i].i32, L->slot_token, sizeof(int32_t) * (size_t)S);
    }
    return 0;
}

static vox_status sample_rows_run(const op_inputs *in, const op_side *s)
{
    const op_case *c = in->c;
    vox_op_sample_rows op = {
        SAMPLE_ROWS_BUFS(OH_BUF_REF)
        .n_rows = in->aux,
        .frame_blocks = c->frame_blocks,
        .space_blocks = c->space_blocks,
        .sink = c->sink,
        .scale = in->scale,
    };
    if (c->caller) {
        const int64_t *st = in->strides;
        op.cq = (vox_strided){oh_ref(s, in, SR_CQ), c->dtype, st[0], st[1], st[2]};
        op.ck = (vox_strided){oh_ref(s, in, SR_CK), c->dtype, st[0], st[1], st[2]};
        op.cv = (vox_strided){oh_ref(s, in, SR_CV), c->dtype, st[0], st[1], st[2]};
        op.slot_token = oh_ref(s, in, SR_SLOT_TOKEN);
    }
    return s->ctx->be->sample_rows(s->ctx->dev, &in->dims, &op);
}

static const op_case cases[] = {
    {"spatial0_temporal0_f32", SHAPE(1, 4, 64, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, .drop_block = -1},
    {"widths1_sink_bf16", SHAPE(1, 4, 64, 4, 8, 8, 8, 0, 1, 4, 4), VOX_BF16, .drop_block = -1, .frame_blocks = 1,
     .space_blocks = 1, .sink = 1},
    {"ragged_f16", SHAPE(1, 2, 32, 5, 7, 9, 0, 0, 1, 4, 4), VOX_F16, .drop_block = -1, .space_blocks = 1},
    {"text_before_b2_f32", SHAPE(2, 2, 32, 3, 8, 8, 20, 1, 1, 4, 4), VOX_F32, .drop_block = -1, .sink = 1},
    {"padding_only_block_f32", SHAPE(1, 2, 32, 2, 4, 8, 9, 0, 1, 4, 4), VOX_F32, .drop_block = 2},
    {"nan_padding_bf16", SHAPE(1, 2, 32, 5, 7, 9, 3, 0, 1, 4, 4), VOX_BF16, FILL_PAD_NAN, .drop_block = -1},
    {"nan_key_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_NAN, .drop_block = -1},
    {"huge_logits_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_HUGE, .drop_block = -1},
    {"huge_logits_bf16", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_BF16, FILL_HUGE, .drop_block = -1},
    {"workload_f32", SHAPE(1, 4, 64, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_WORKLOAD, .drop_block = -1},
    {"workload_f16_d128_v128", SHAPE(1, 2, 128, 4, 8, 16, 0, 0, 2, 8, 8), VOX_F16, FILL_WORKLOAD,
     .drop_block = -1, .space_blocks = 1},
    /* blocks of 64 slots holding 64, 48, 36, 32, 16 ... valid keys (the
     * tensor-core kernel's whole, part-masked and empty 32-key halves), D 128 */
    {"ragged_d128_v64_bf16", SHAPE(1, 2, 128, 6, 7, 9, 5, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .space_blocks = 1, .sink = 1},
    /* the same at D 32, small enough to run with the OpenCL tensor-core kernel
     * emulated on PoCL: tiles whose valid keys reach every warp's 16 keys */
    {"ragged_v64_d32_bf16", SHAPE(1, 1, 32, 7, 7, 5, 3, 0, 4, 4, 4), VOX_BF16, FILL_WORKLOAD, .drop_block = -1,
     .space_blocks = 1},
    {"inf_value_bf16", SHAPE(1, 2, 128, 6, 7, 9, 5, 0, 4, 4, 4), VOX_BF16, FILL_INF, .drop_block = -1,
     .space_blocks = 1, .sink = 1},
    {"d256_widths1_bf16", SHAPE(1, 2, 256, 4, 8, 8, 4, 0, 1, 4, 4), VOX_BF16, .drop_block = -1, .frame_blocks = 1,
     .space_blocks = 1},
    /* 128 blocks of 64 slots: more blocks than key splits (at most 64), so
     * that a split merges several tiles per pattern online (the cases above
     * have as many splits as blocks: one tile each, but for v128) */
    {"many_tiles_per_split_d128_bf16", SHAPE(1, 2, 128, 8, 32, 32, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .space_blocks = 1},
    {"many_tiles_per_split_d64_f16", SHAPE(1, 2, 64, 8, 32, 32, 0, 0, 4, 4, 4), VOX_F16, FILL_WORKLOAD,
     .drop_block = -1, .frame_blocks = 1, .space_blocks = 1, .sink = 1},
    /* D 128 f16/bf16 edge cases for the sm_90a wgmma kernel (backends/cuda/sm90/sample_rows_sm90.cuh,
     * D 128 only): a NaN key, huge logits, an empty (padding-only) block, widths 1 with the sink, and
     * f16 with several tiles per split merged into spatial/temporal (its accumulators in the work rows) */
    {"nan_key_d128_bf16", SHAPE(1, 2, 128, 4, 8, 8, 8, 0, 1, 4, 4), VOX_BF16, FILL_NAN, .drop_block = -1},
    {"huge_logits_d128_f16", SHAPE(1, 2, 128, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F16, FILL_HUGE, .drop_block = -1},
    {"padding_only_block_d128_bf16", SHAPE(1, 2, 128, 2, 4, 8, 9, 0, 1, 4, 4), VOX_BF16, .drop_block = 2},
    {"widths1_sink_d128_f16", SHAPE(1, 4, 128, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F16, .drop_block = -1,
     .frame_blocks = 1, .space_blocks = 1, .sink = 1},
    {"many_tiles_per_split_d128_f16", SHAPE(1, 2, 128, 8, 32, 32, 0, 0, 4, 4, 4), VOX_F16, FILL_WORKLOAD,
     .drop_block = -1, .frame_blocks = 1, .space_blocks = 1, .sink = 1},
    /* the caller's layouts: the tensor-core kernel (16-byte aligned rows,
     * D 128 and 64, ragged blocks, a NaN key, NaN between rows) and the f32
     * kernels (f32; rows off 16 bytes) */
    {"caller_bnhd_ragged_d128_v64_bf16", SHAPE(1, 2, 128, 6, 7, 9, 5, 0, 4, 4, 4), VOX_BF16, FILL_PAD_NAN,
     .drop_block = -1, .space_blocks = 1, .sink = 1, .layout = LAYOUT_BNHD, .caller = 1},
    {"caller_packed_qkv_widths1_d64_f16", SHAPE(2, 2, 64, 4, 8, 8, 6, 1, 1, 4, 4), VOX_F16, FILL_PAD_NAN,
     .drop_block = -1, .frame_blocks = 1, .space_blocks = 1, .layout = LAYOUT_PACKED_QKV, .caller = 1},
    {"caller_bhnd_nan_key_bf16", SHAPE(1, 2, 64, 4, 8, 8, 8, 0, 1, 4, 4), VOX_BF16, FILL_NAN | FILL_PAD_NAN,
     .drop_block = -1, .layout = LAYOUT_BHND, .caller = 1},
    {"caller_bnhd_offset_unaligned_bf16", SHAPE(1, 2, 64, 4, 8, 8, 8, 0, 1, 4, 4), VOX_BF16, FILL_PAD_NAN,
     .drop_block = -1, .sink = 1, .layout = LAYOUT_BNHD, .layout_offset = 3, .caller = 1},
    {"caller_packed_qkv_text_f32", SHAPE(2, 2, 32, 3, 8, 8, 20, 1, 1, 4, 4), VOX_F32, FILL_PAD_NAN,
     .drop_block = 2, .sink = 1, .layout = LAYOUT_PACKED_QKV, .caller = 1},
    {"perf_wan_like_bf16", SHAPE(1, 12, 128, 8, 30, 52, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .perf_only = 1},
    {"perf_wan_like_caller_bf16", SHAPE(1, 12, 128, 8, 30, 52, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .layout = LAYOUT_BNHD, .caller = 1, .perf_only = 1},
};

const op_entry op_sample_rows = {
    VOX_OP_sample_rows, cases, (int)(sizeof cases / sizeof cases[0]),
    /* largest observed on PoCL / lavapipe: f32 5.1e-12, f16 4.2e-13, bf16 6.2e-13 */
    {{"out", 0, {5e-10, 3e-11, 5e-11}}}, 1,
    sample_rows_inputs, sample_rows_run, oh_compare_outputs_norm,
};
