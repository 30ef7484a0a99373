/* Cases of block_means (core/backend.h): means over valid rows or over kept
 * rows (including a block with no kept row), ragged and padding-only blocks,
 * NaN/Inf in a valid row (reaches its block's mean) and NaN in padding or in
 * rows not kept or between the caller's rows (must not), values offset by
 * +100 (f32 accumulation), caller layouts [B,H,N,D], [B,N,H,D] and a packed
 * qkv view read through slot_token. The
 * output is f32 [BH][NB][D], compared by normalized error; NaN and Inf must
 * sit where the reference has them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The buffers after block_valid, in the order make_inputs adds them, each
 * with the vox_op_block_means field it fills (harness.h); x is the caller's
 * tensor (strides in in->strides), filled in run. */
#define BLOCK_MEANS_BUFS(B) \
    B(BM_SLOT_TOKEN, slot_token) B(BM_KEPT_COUNT, kept_count) B(BM_KEPT_ROWS, kept_rows) B(BM_OUT, out)
enum { BM_BLOCK_VALID, BM_X, BLOCK_MEANS_BUFS(OH_BUF_INDEX) };

static int block_means_inputs(const op_case *c, op_inputs *in)
{
    if (oh_layout(c, 1.0, in))
        return -1;
    const vox_layout *L = &in->L;
    int64_t BH = c->B * c->H, NB = L->n_blocks, V = L->V, D = c->D, S = L->n_slots, N = L->n_tokens;
    int64_t *st = in->strides;
    int64_t off = oh_caller_strides(c, N, &st[0], &st[1], &st[2], &st[3], &st[4], &st[5]);
    size_t n = oh_caller_span(c, N, st[0], st[1], st[2], D);
    float *x = in->buf[oh_add(in, "x", OB_ELEM, n, 0)].f32;
    in->buf[BM_X].offset = (size_t)off * vox_dtype_size(c->dtype);
    /* the values in block layout (recipes of oh_fill_blocks), then placed at
     * their tokens; what lies between rows (packed views) is NaN with
     * FILL_PAD_NAN: it must never be read */
    float *xb = malloc(sizeof(float) * (size_t)(BH * S * D));
    oh_fill_blocks(in, 0, 31, xb);
    for (size_t i = 0; i < n; i++)
        x[i] = (c->fill & FILL_PAD_NAN) ? NAN : 0.0f;
#define BM_ROW(bh, s) (x + (bh / c->H) * st[0] + (bh % c->H) * st[1] + L->slot_token[s] * st[2])
    for (int64_t bh = 0; bh < BH; bh++)
        for (int64_t s = 0; s < S; s++)
            if (L->slot_token[s] >= 0)
                memcpy(BM_ROW(bh, s), xb + (bh * S + s) * D, sizeof(float) * (size_t)D);
    free(xb);
    oh_add(in, "slot_token", OB_I32, (size_t)S, 0);
    memcpy(in->buf[BM_SLOT_TOKEN].i32, L->slot_token, sizeof(int32_t) * (size_t)S);
    oh_add(in, "kept_count", OB_I32, c->kept ? (size_t)(BH * NB) : 0, 0);
    oh_add(in, "kept_rows", OB_I32, c->kept ? (size_t)(BH * NB * V) : 0, 0);
    if (c->kept)
        oh_random_kept(in, 32, in->buf[BM_KEPT_COUNT].i32, in->buf[BM_KEPT_ROWS].i32);
    if (c->fill & (FILL_NAN | FILL_INF)) {
        /* head 0, block 1, first valid row: column 3 gets NaN (or +Inf), column
         * 5 gets +Inf and the second row -Inf (a NaN mean) */
        float *row = BM_ROW(0, 1 * V), *row2 = BM_ROW(0, 1 * V + 1);
        row[3] = (c->fill & FILL_NAN) ? NAN : INFINITY;
        row[5] = INFINITY;
        row2[5] = -INFINITY;
        /* session 18: an element in the low half of a 16-bit pair too (column 6: -Inf) */
        row[6] = -INFINITY;
        /* with kept rows, a valid row of head 0's block 0 that is not kept: NaN */
        if (c->kept) {
            const int32_t *kc = in->buf[BM_KEPT_COUNT].i32, *kr = in->buf[BM_KEPT_ROWS].i32;
            for (int32_t r = 0, k = 0; r < L->block_valid[0]; r++) {
                if (k < kc[0] && kr[k] == r)
                    k++;
                else {
                    BM_ROW(0, r)[0] = NAN;
                    break;
                }
            }
        }
    }
#undef BM_ROW
    oh_add(in, "out", OB_F32, (size_t)(BH * NB * D), 1);
    return 0;
}

static vox_status block_means_run(const op_inputs *in, const op_side *s)
{
    vox_op_block_means op = {BLOCK_MEANS_BUFS(OH_BUF_REF)};
    op.x = (vox_strided){oh_ref(s, in, BM_X), in->c->dtype, in->strides[0], in->strides[1], in->strides[2]};
    return s->ctx->be->block_means(s->ctx->dev, &in->dims, &op);
}

static const op_case cases[] = {
    {"valid_rows_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 4, 4, 4), VOX_F32, .drop_block = -1},
    {"valid_rows_ragged_f16_bnhd", SHAPE(2, 2, 16, 3, 5, 7, 5, 1, 2, 2, 2), VOX_F16, .drop_block = -1,
     .layout = LAYOUT_BNHD},
    {"valid_rows_bf16_d128_v128", SHAPE(1, 2, 128, 4, 8, 16, 0, 0, 2, 8, 8), VOX_BF16, .drop_block = -1},
    {"kept_rows_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 2, 4, 4), VOX_F32, .drop_block = -1, .kept = 1},
    {"kept_rows_bf16_ragged_packed_qkv", SHAPE(1, 3, 64, 3, 9, 10, 12, 1, 2, 4, 4), VOX_BF16, .drop_block = -1,
     .kept = 1, .layout = LAYOUT_PACKED_QKV, .layout_offset = 3},
    {"kept_none_in_a_block_f16", SHAPE(1, 2, 32, 2, 4, 8, 3, 0, 2, 4, 4), VOX_F16, FILL_TIES, .drop_block = -1,
     .kept = 1},
    {"padding_only_block_f32", SHAPE(1, 2, 32, 2, 4, 8, 9, 0, 1, 4, 4), VOX_F32, .drop_block = 2},
    {"padding_only_block_kept_bf16", SHAPE(1, 2, 32, 2, 4, 8, 9, 0, 1, 4, 4), VOX_BF16, .drop_block = 1, .kept = 1},
    {"nan_between_rows_f32_packed_qkv", SHAPE(2, 2, 32, 3, 5, 7, 5, 0, 2, 2, 2), VOX_F32, FILL_PAD_NAN,
     .drop_block = -1, .layout = LAYOUT_PACKED_QKV},
    {"nan_inf_rows_f32_bnhd", SHAPE(1, 2, 32, 3, 5, 7, 5, 0, 2, 2, 2), VOX_F32, FILL_NAN | FILL_PAD_NAN,
     .drop_block = -1, .layout = LAYOUT_BNHD, .layout_offset = 1},
    {"inf_rows_kept_f16", SHAPE(1, 2, 32, 3, 6, 7, 5, 0, 2, 2, 2), VOX_F16, FILL_INF, .drop_block = -1,
     .kept = 1},
    /* session 18: bf16 at head_dim 128 (the aligned 16-byte path of the lean kernels; Inf/NaN in both halves
     * of a 32-bit pair) */
    {"nan_inf_rows_bf16_d128", SHAPE(1, 2, 128, 3, 5, 7, 5, 0, 2, 2, 2), VOX_BF16, FILL_NAN, .drop_block = -1},
    {"shift100_f32_v256", SHAPE(1, 2, 64, 4, 8, 16, 0, 0, 4, 8, 8), VOX_F32, FILL_SHIFT, .drop_block = -1},
    {"workload_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_WORKLOAD, .drop_block = -1},
    {"workload_kept_bf16", SHAPE(1, 2, 64, 4, 8, 8, 8, 0, 2, 4, 4), VOX_BF16, FILL_WORKLOAD, .drop_block = -1,
     .kept = 1},
    /* session 16: more items (24 x 208 = 4,992) than the H200's resident grid of the pf kernels (4 CTAs x 132
     * SMs x 8 items): 96 CTAs take a second item, so the next-item prefetch runs (head_dim 72: 9 chunks, a group
     * of 16 threads as at 128, 4 tokens a thread; ragged edge blocks: 30 = 7 x 4 + 2 rows) */
    {"many_items_bf16_d72", SHAPE(2, 12, 72, 8, 30, 52, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1},
    {"perf_wan_like_bf16", SHAPE(1, 12, 128, 8, 30, 52, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .kept = 1, .perf_only = 1},
    /* session 18: hunyuan-720p's grid and text at half its 24 heads (k's valid rows; inputs made in seconds) */
    {"perf_hunyuan_half_bf16", SHAPE(1, 12, 128, 33, 45, 80, 256, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .perf_only = 1},
};

const op_entry op_block_means = {
    VOX_OP_block_means, cases, (int)(sizeof cases / sizeof cases[0]),
    /* normalized error of out (f32 accumulation of at most V rows); largest
     * observed: PoCL / lavapipe f32 5.9e-14, f16 2.0e-18, bf16 8.7e-18;
     * NVIDIA Vulkan (H200) f16 1.7e-15, bf16 1.9e-15 (another summation order) */
    {{"out", 0, {1e-12, 1e-13, 1e-13}}}, 1,
    block_means_inputs, block_means_run, oh_compare_outputs_norm,
};
