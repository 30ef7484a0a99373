/* Cases of block_means (core/backend.h): means over valid rows or over kept
 * rows (including a block with no kept row), ragged and padding-only blocks,
 * NaN/Inf in a valid row (reaches its block's mean) and NaN in padding or in
 * rows not kept (must not), values offset by +100 (f32 accumulation). The
 * output is f32 [BH][NB][D], compared by normalized error; NaN and Inf must
 * sit where the reference has them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

/* The buffers after block_valid, in the order make_inputs adds them, each
 * with the vox_op_block_means field it fills (harness.h). */
#define BLOCK_MEANS_BUFS(B) B(BM_X, x) B(BM_KEPT_COUNT, kept_count) B(BM_KEPT_ROWS, kept_rows) B(BM_OUT, out)
enum { BM_BLOCK_VALID, BLOCK_MEANS_BUFS(OH_BUF_INDEX) };

static int block_means_inputs(const op_case *c, op_inputs *in)
{
    if (oh_layout(c, 1.0, in))
        return -1;
    const vox_layout *L = &in->L;
    int64_t BH = c->B * c->H, NB = L->n_blocks, V = L->V, D = c->D;
    float *x = oh_add_blocks(in, "x", 0, 31);
    oh_add(in, "kept_count", OB_I32, c->kept ? (size_t)(BH * NB) : 0, 0);
    oh_add(in, "kept_rows", OB_I32, c->kept ? (size_t)(BH * NB * V) : 0, 0);
    if (c->kept)
        oh_random_kept(in, 32, in->buf[BM_KEPT_COUNT].i32, in->buf[BM_KEPT_ROWS].i32);
    if (c->fill & (FILL_NAN | FILL_INF)) {
        /* head 0, block 1, first valid row: column 3 gets NaN (or +Inf), column
         * 5 gets +Inf and the second row -Inf (a NaN mean) */
        float *row = x + (size_t)((1 * V) * D);
        row[3] = (c->fill & FILL_NAN) ? NAN : INFINITY;
        row[5] = INFINITY;
        row[D + 5] = -INFINITY;
        /* a row that is neither valid nor (with kept rows) kept: NaN */
        if (L->block_valid[0] < V)
            x[(size_t)((V - 1) * D)] = NAN;
    }
    oh_add(in, "out", OB_F32, (size_t)(BH * NB * D), 1);
    return 0;
}

static vox_status block_means_run(const op_inputs *in, const op_side *s)
{
    vox_op_block_means op = {BLOCK_MEANS_BUFS(OH_BUF_REF)};
    return s->ctx->be->block_means(s->ctx->dev, &in->dims, &op);
}

static const op_case cases[] = {
    {"valid_rows_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 4, 4, 4), VOX_F32, .drop_block = -1},
    {"valid_rows_ragged_f16", SHAPE(2, 2, 16, 3, 5, 7, 5, 1, 2, 2, 2), VOX_F16, .drop_block = -1},
    {"valid_rows_bf16_d128_v128", SHAPE(1, 2, 128, 4, 8, 16, 0, 0, 2, 8, 8), VOX_BF16, .drop_block = -1},
    {"kept_rows_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 2, 4, 4), VOX_F32, .drop_block = -1, .kept = 1},
    {"kept_rows_bf16_ragged", SHAPE(1, 3, 64, 3, 9, 10, 12, 1, 2, 4, 4), VOX_BF16, .drop_block = -1, .kept = 1},
    {"kept_none_in_a_block_f16", SHAPE(1, 2, 32, 2, 4, 8, 3, 0, 2, 4, 4), VOX_F16, FILL_TIES, .drop_block = -1,
     .kept = 1},
    {"padding_only_block_f32", SHAPE(1, 2, 32, 2, 4, 8, 9, 0, 1, 4, 4), VOX_F32, .drop_block = 2},
    {"padding_only_block_kept_bf16", SHAPE(1, 2, 32, 2, 4, 8, 9, 0, 1, 4, 4), VOX_BF16, .drop_block = 1, .kept = 1},
    {"nan_padding_f32", SHAPE(1, 2, 32, 3, 5, 7, 5, 0, 2, 2, 2), VOX_F32, FILL_PAD_NAN, .drop_block = -1},
    {"nan_inf_rows_f32", SHAPE(1, 2, 32, 3, 5, 7, 5, 0, 2, 2, 2), VOX_F32, FILL_NAN | FILL_PAD_NAN,
     .drop_block = -1},
    {"inf_rows_kept_f16", SHAPE(1, 2, 32, 3, 6, 7, 5, 0, 2, 2, 2), VOX_F16, FILL_INF, .drop_block = -1,
     .kept = 1},
    {"shift100_f32_v256", SHAPE(1, 2, 64, 4, 8, 16, 0, 0, 4, 8, 8), VOX_F32, FILL_SHIFT, .drop_block = -1},
    {"workload_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_WORKLOAD, .drop_block = -1},
    {"workload_kept_bf16", SHAPE(1, 2, 64, 4, 8, 8, 8, 0, 2, 4, 4), VOX_BF16, FILL_WORKLOAD, .drop_block = -1,
     .kept = 1},
    {"perf_wan_like_bf16", SHAPE(1, 12, 128, 8, 30, 52, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .kept = 1, .perf_only = 1},
};

const op_entry op_block_means = {
    VOX_OP_block_means, cases, (int)(sizeof cases / sizeof cases[0]),
    /* normalized error of out (f32 accumulation of at most V rows); largest
     * observed: PoCL / lavapipe f32 5.9e-14, f16 2.0e-18, bf16 8.7e-18;
     * NVIDIA Vulkan (H200) f16 1.7e-15, bf16 1.9e-15 (another summation order) */
    {{"out", 0, {1e-12, 1e-13, 1e-13}}}, 1,
    block_means_inputs, block_means_run, oh_compare_outputs_norm,
};
