/* Cases of mask_transpose (core/backend.h): attention_backward's packed mask
 * from a forward CSR built directly on the host, in BSA's shape (the only
 * plans that use the op since session 33) and in shared-row shapes the op
 * must handle as well:
 *   MASK_RANDOM  BSA's capacity CSR: each row owns room from kv_start (video
 *                rows about twice the expected picks, at most NB; global
 *                rows NB), a random ascending subset of the blocks in it,
 *                cut at the room (density c->param, with the row's own
 *                block and every global block); empty rows (query block 1 of
 *                every head), a wholly empty head (head 1), a row holding
 *                only a padding-only block (c->drop_block);
 *   MASK_PATTERN rows shared across heads (SVG's column array before
 *                session 33's static transposes): dense [0,NB) then two band
 *                patterns, every head's rows pointing into it (head bh % 3
 *                picks dense, band 1 or band 2), head_room NB*NB;
 *   MASK_DENSE   every row dense.
 * Sizes: NB below, equal to and above the kernels' tiles (128, 256) and not
 * a multiple of them, long lists (global blocks: every row), and 70,000
 * heads: more work-groups than one grid dimension holds (Vulkan's 65,535 in
 * x: split dispatches; CUDA's capped grid: grid-stride). The mask buffer
 * starts poisoned (-1) on both
 * sides, and the whole of it must equal the reference's exactly (header,
 * copied columns, untouched gaps, transposes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The buffers after block_valid, in the order make_inputs adds them, each
 * with the vox_op_mask_transpose field it fills (harness.h). */
#define MASK_TRANSPOSE_BUFS(B) B(MT_START, kv_start) B(MT_COUNT, kv_count) B(MT_COLS, kv_cols) B(MT_MASK, mask)
enum { MT_BLOCK_VALID, MASK_TRANSPOSE_BUFS(OH_BUF_INDEX) };

/* Rooms, starts, counts and columns of the capacity CSR (MASK_RANDOM). */
static void random_rows(const op_case *c, const vox_layout *L, int64_t BH, int32_t *start, int32_t *count,
                        int32_t **cols_out, int64_t *len, int64_t *head_room)
{
    double share = c->param < 0.5 ? 2 * c->param : 1.0; /* room for about twice the expected picks */
    int64_t NB = L->n_blocks, NBv = L->n_video_blocks, video_room = (int64_t)(NBv * share) + 1 + (NB - NBv);
    video_room = video_room < NB ? video_room : NB;
    int64_t room_head = NBv * video_room + (NB - NBv) * NB;
    int32_t *cols = malloc(sizeof(int32_t) * (size_t)(BH * room_head + 1));
    oh_rng r = {101};
    int64_t at = 0;
    for (int64_t m = 0; m < BH * NB; m++) {
        int64_t bh = m / NB, i = m % NB, room = i < NBv ? video_room : NB;
        start[m] = (int32_t)at;
        count[m] = 0;
        for (int64_t j = 0; j < NB && count[m] < room; j++) {
            int take = i >= NBv || j >= NBv || j == i || oh_uniform(&r) < c->param;
            if (i == 1 || (bh == 1 && BH > 1))
                take = 0; /* empty rows, an empty head */
            if (take)
                cols[at + count[m]++] = (int32_t)j;
        }
        if (i == 0 && c->drop_block >= 0) /* only a padding-only block */
            cols[at] = c->drop_block, count[m] = 1;
        for (int64_t g = count[m]; g < room; g++)
            cols[at + g] = -7; /* unused room: never copied */
        at += room;
    }
    *cols_out = cols;
    *len = at;
    *head_room = room_head;
}

/* The shared column array (MASK_PATTERN, MASK_DENSE): [0,NB), then per
 * band width w (1, 2) and query block i the blocks |j - i| <= w plus the
 * global ones. */
static void pattern_rows(const op_case *c, const vox_layout *L, int64_t BH, int32_t *start, int32_t *count,
                         int32_t **cols_out, int64_t *len, int64_t *head_room)
{
    int64_t NB = L->n_blocks, NBv = L->n_video_blocks, at = 0;
    int32_t *cols = malloc(sizeof(int32_t) * (size_t)(3 * NB * NB + 1));
    int32_t *pstart = malloc(sizeof(int32_t) * (size_t)(2 * NB)), *pcount = malloc(sizeof(int32_t) * (size_t)(2 * NB));
    for (int64_t j = 0; j < NB; j++)
        cols[at++] = (int32_t)j;
    for (int w = 1; w <= 2; w++)
        for (int64_t i = 0; i < NB; i++) {
            pstart[(w - 1) * NB + i] = (int32_t)at;
            for (int64_t j = 0; j < NB; j++)
                if (i >= NBv || j >= NBv || llabs(j - i) <= w)
                    cols[at++] = (int32_t)j;
            pcount[(w - 1) * NB + i] = (int32_t)(at - pstart[(w - 1) * NB + i]);
        }
    for (int64_t m = 0; m < BH * NB; m++) {
        int64_t p = c->mask == MASK_DENSE ? 0 : (m / NB) % 3, i = m % NB;
        start[m] = p == 0 ? 0 : pstart[(p - 1) * NB + i];
        count[m] = p == 0 ? (int32_t)NB : pcount[(p - 1) * NB + i];
    }
    free(pstart), free(pcount);
    *cols_out = cols;
    *len = at;
    *head_room = NB * NB;
}

static int mask_transpose_inputs(const op_case *c, op_inputs *in)
{
    if (oh_layout(c, 1.0, in))
        return -1;
    int64_t BH = c->B * c->H, NB = in->L.n_blocks, R = BH * NB, len, room;
    oh_add(in, "kv_start", OB_I32, (size_t)R, 0);
    oh_add(in, "kv_count", OB_I32, (size_t)R, 0);
    int32_t *cols;
    if (c->mask == MASK_RANDOM)
        random_rows(c, &in->L, BH, in->buf[MT_START].i32, in->buf[MT_COUNT].i32, &cols, &len, &room);
    else
        pattern_rows(c, &in->L, BH, in->buf[MT_START].i32, in->buf[MT_COUNT].i32, &cols, &len, &room);
    memcpy(in->buf[oh_add(in, "kv_cols", OB_I32, (size_t)len, 0)].i32, cols, sizeof(int32_t) * (size_t)len);
    free(cols);
    int64_t t0 = 4 * R + len + 3; /* a gap before the transposes: left untouched */
    if (t0 + BH * room > INT32_MAX)
        return -1;
    oh_add(in, "mask", OB_I32, (size_t)(t0 + BH * room), 1);
    in->aux = t0 | (room << 32);
    return 0;
}

static vox_status mask_transpose_run(const op_inputs *in, const op_side *s)
{
    vox_op_mask_transpose op = {
        MASK_TRANSPOSE_BUFS(OH_BUF_REF)
        .t0 = in->aux & 0xffffffff,
        .head_room = in->aux >> 32,
    };
    return s->ctx->be->mask_transpose(s->ctx->dev, &in->dims, &op);
}

static int mask_transpose_compare(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, op_errors *e,
                                  char *why, size_t n)
{
    (void)e;
    const int32_t *a = (const int32_t *)dev->raw[MT_MASK], *r = (const int32_t *)ref->raw[MT_MASK];
    int64_t d = oh_first_diff_i32(a, r, NULL, in->buf[MT_MASK].count);
    if (d < 0)
        return 1;
    int64_t R = in->c->B * in->c->H * in->L.n_blocks, t0 = in->aux & 0xffffffff;
    const char *part = d < R ? "row_start" : d < 2 * R ? "row_count" : d < 3 * R ? "col_start" : d < 4 * R ? "col_count"
                       : d < t0 ? "copied columns" : "transpose lists";
    snprintf(why, n, "mask[%lld] (%s) = %d, reference %d", (long long)d, part, a[d], r[d]);
    return 0;
}

static const op_case cases[] = {
    {"random_small", SHAPE(1, 3, 16, 2, 8, 8, 0, 0, 1, 4, 4), VOX_F32, .mask = MASK_RANDOM, .param = 0.4,
     .drop_block = -1},
    {"random_text_padding_block", SHAPE(2, 2, 16, 3, 10, 12, 40, 1, 1, 4, 4), VOX_F32, .mask = MASK_RANDOM,
     .param = 0.3, .drop_block = 5},
    {"random_nb307_text_after", SHAPE(1, 3, 16, 3, 40, 40, 100, 0, 1, 4, 4), VOX_F32, .mask = MASK_RANDOM,
     .param = 0.1, .drop_block = -1},
    {"random_nb129", SHAPE(1, 2, 16, 1, 4, 258, 0, 0, 1, 4, 2), VOX_F32, .mask = MASK_RANDOM, .param = 0.5,
     .drop_block = -1},
    {"random_nb257_full_rows", SHAPE(1, 2, 16, 1, 1, 2056, 0, 0, 1, 1, 8), VOX_F32, .mask = MASK_RANDOM,
     .param = 1.0, .drop_block = -1},
    {"pattern_shared_nb261", SHAPE(1, 4, 16, 2, 52, 40, 16, 1, 1, 4, 4), VOX_F32, .mask = MASK_PATTERN,
     .drop_block = 3},
    {"dense_one_block", SHAPE(1, 1, 16, 1, 2, 2, 0, 0, 1, 4, 4), VOX_F32, .mask = MASK_DENSE, .drop_block = -1},
    {"rows_beyond_grid_dim", SHAPE(70, 1000, 16, 1, 2, 4, 0, 0, 1, 2, 4), VOX_F32, .mask = MASK_RANDOM,
     .param = 0.5, .drop_block = -1},
    /* hunyuan-720p's grid (24 heads x 1920 blocks), ~10% density */
    {"perf_hunyuan_720p_10pct", SHAPE(1, 24, 16, 32, 48, 80, 0, 0, 4, 4, 4), VOX_F32, .mask = MASK_RANDOM,
     .param = 0.1, .drop_block = -1, .perf_only = 1},
};

const op_entry op_mask_transpose = {
    VOX_OP_mask_transpose, cases, (int)(sizeof cases / sizeof cases[0]),
    {{0}}, 0,
    mask_transpose_inputs, mask_transpose_run, mask_transpose_compare,
};
