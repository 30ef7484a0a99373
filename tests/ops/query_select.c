/* Cases of query_select (core/backend.h): keep fractions, window shapes
 * (2,2,2), (1,2,2), a whole-block window, windows clipped by a ragged grid,
 * text blocks, a padding-only block (no windows), constructed ties (rows
 * drawn from a few small integer vectors, zero rows: equal cosines -> lower
 * slot), a NaN query row and +-Inf in query rows (NaN cosines: least
 * similar, never a source), NaN padding, and the shapes of the CUDA/HIP
 * fast path (head dims, unaligned rows, many windows, many blocks; ties,
 * near ties and NaN/Inf rows send blocks to its exact kernel); q also in the
 * caller's layouts with slot_token (read by a backend listing query_select
 * in caller_layout_ops; NaN between rows), and exact ties from permuted rows
 * (FILL_PERM: the fast paths' sums round them apart, so their certificates
 * must see the ties; a certificate's window set to 0 fails these cases on
 * Vulkan, OpenCL and CUDA). kept_count,
 * the kept rows and fill_src must equal the reference exactly; on the device
 * a pruned slot's source must be a kept slot of its block. Every case also
 * passes qbar and wrote_qbar (BSA's q means, optional): a backend that says
 * it wrote them (CUDA/HIP's staged kernel with VOXATTN_QUERY_SELECT_MEANS=1)
 * must match, bitwise, the f64 sequential mean of the reference's kept rows
 * (block_means' contract; NaN where the reference's is NaN). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "half_bits.h"

static int qs_means_written; /* the device's query_select said it wrote qbar (this case) */

/* The buffers after block_valid, in the order make_inputs adds them, each
 * with the vox_op_query_select field it fills (harness.h). */
#define QUERY_SELECT_BUFS(B) B(QS_Q, q) B(QS_WIN_PTR, win_ptr) B(QS_WINDOWS, windows) B(QS_KEPT_COUNT, kept_count) \
    B(QS_KEPT_ROWS, kept_rows) B(QS_FILL, fill_src) B(QS_QBAR, qbar)
/* then, for c->caller, the caller's q and slot_token */
enum { QS_BLOCK_VALID, QUERY_SELECT_BUFS(OH_BUF_INDEX) QS_CQ, QS_SLOT_TOKEN };

static int query_select_inputs(const op_case *c, op_inputs *in)
{
    if (oh_layout(c, c->param, in))
        return -1;
    const vox_layout *L = &in->L;
    int64_t BH = c->B * c->H, S = L->n_slots, NB = L->n_blocks, V = L->V, D = c->D;
    float *q = oh_add_blocks(in, "q", 0, 61);
    if ((c->fill & FILL_NEAR) && (c->fill & FILL_TIES)) {
        /* near ties everywhere: every row one shared direction plus 1e-6
         * relative noise, so all cosines lie within ~1e-12 of each other, far
         * below f32's resolution: a fast path must see it cannot certify them
         * and take the exact path (f64 order, index ties) */
        oh_rng r = {63};
        float *u = malloc(sizeof(float) * (size_t)D);
        for (int64_t e = 0; e < D; e++)
            u[e] = (float)oh_normal(&r);
        for (int64_t bh = 0; bh < BH; bh++)
            for (int64_t s = 0; s < S; s++)
                if (oh_valid_slot(L, s))
                    for (int64_t e = 0; e < D; e++)
                        q[(bh * S + s) * D + e] = u[e] * (float)(1.0 + 1e-6 * oh_normal(&r));
        free(u);
    } else if (c->fill & FILL_NEAR) {
        /* near ties in the keep choice only: each window's centre is e0, every
         * other row e0 + v with v a unit vector (in f64, then rounded to f32)
         * over the other dims, so the cosines to the centre, 1/sqrt(1 + |v|^2),
         * differ only by v's rounding (~1e-7 relative), while the rows'
         * cosines to each other (the fill sources) stay far apart */
        oh_rng r = {64};
        double *v = malloc(sizeof(double) * (size_t)D);
        for (int64_t bh = 0; bh < BH; bh++)
            for (int64_t s = 0; s < S; s++) {
                if (!oh_valid_slot(L, s))
                    continue;
                double n2 = 0;
                for (int64_t e = 1; e < D; e++)
                    v[e] = oh_normal(&r), n2 += v[e] * v[e];
                float *row = q + (bh * S + s) * D;
                row[0] = 1.0f;
                for (int64_t e = 1; e < D; e++)
                    row[e] = (float)(v[e] / sqrt(n2));
            }
        for (int64_t bh = 0; bh < BH; bh++)
            for (int64_t w = 0; w < L->n_windows; w++) {
                float *row = q + (bh * S + L->windows[4 * w + 2]) * D;
                memset(row, 0, sizeof(float) * (size_t)D);
                row[0] = 1.0f;
            }
        free(v);
    } else if (c->fill & FILL_NEAR_FILL) {
        /* near ties in the fill choice only: per window (of 8 rows, keep 4)
         * the centre z, kept rows A and B = A + 5e-8 noise (a few ulps per
         * element; cosine 0.5 to z) and X orthogonal to z, and pruned rows
         * t = A + 0.3 z + 0.2 noise (cosine ~0.67 to z, ~0.96 to A and B): the
         * keep choice is clear, while each pruned row's cosines to A and B
         * differ by ~1e-7, about an f32 Gram matrix's rounding error */
        oh_rng r = {65};
        double *v = malloc(sizeof(double) * 3 * (size_t)D), *z = v, *y = v + D, *x = v + 2 * D;
        for (int64_t bh = 0; bh < BH; bh++)
            for (int64_t w = 0; w < L->n_windows; w++) {
                const int32_t *win = L->windows + 4 * w;
                double zz = 0, zy = 0, zx = 0, yy = 0, xx = 0;
                for (int64_t e = 0; e < D; e++)
                    z[e] = oh_normal(&r), zz += z[e] * z[e];
                for (int64_t e = 0; e < D; e++)
                    z[e] /= sqrt(zz), y[e] = oh_normal(&r), x[e] = oh_normal(&r), zy += z[e] * y[e],
                    zx += z[e] * x[e];
                for (int64_t e = 0; e < D; e++)
                    y[e] -= zy * z[e], x[e] -= zx * z[e], yy += y[e] * y[e], xx += x[e] * x[e];
                for (int32_t t = win[0], i = 0; t < win[0] + win[1]; t++) {
                    float *row = q + (bh * S + t) * D;
                    const int role = t == win[2] ? -1 : i++; /* -1 centre, 0 A, 1 B, 2 X, 3.. pruned */
                    for (int64_t e = 0; e < D; e++) {
                        const double a = 0.5 * z[e] + 0.866 * y[e] / sqrt(yy);
                        row[e] = (float)(role < 0    ? z[e]
                                         : role == 0 ? a
                                         : role == 1 ? a + 5e-8 * oh_normal(&r)
                                         : role == 2 ? x[e] / sqrt(xx)
                                                     : a + 0.3 * z[e] + 0.2 * oh_normal(&r) / sqrt((double)D));
                    }
                }
            }
        free(v);
    } else if (c->fill & FILL_PERM) {
        /* exact ties that a fast path's sums round apart: per window the centre is e0 and every other
         * row (a, P b) with one a and one vector b for the window, P a fresh permutation of dims 1..D-1
         * per row, so every cosine to the centre is a / sqrt(a^2 + |b|^2) exactly (the reference keeps
         * the lowest slots), while |P b|^2 summed in another order (b's magnitudes spread over 2^-7 ..
         * 2^3, 8 significant bits: exact in f16 and bf16) rounds differently; a certificate must see
         * the ties, a path without one keeps rows by its rounding. The rows' cosines to each other (the
         * fill sources) stay apart. */
        oh_rng r = {66};
        float *b = malloc(sizeof(float) * (size_t)D);
        int64_t *perm = malloc(sizeof(int64_t) * (size_t)D);
        for (int64_t bh = 0; bh < BH; bh++)
            for (int64_t w = 0; w < L->n_windows; w++) {
                const int32_t *win = L->windows + 4 * w;
                for (int64_t e = 1; e < D; e++)
                    b[e] = (float)ldexp((double)(128 + (int)(oh_u64(&r) % 128)) * (oh_u64(&r) % 2 ? 1 : -1),
                                        -14 + (int)(oh_u64(&r) % 11));
                const float a = (float)(128 + (int)(oh_u64(&r) % 128)) / 64.0f;
                for (int32_t t = win[0]; t < win[0] + win[1]; t++) {
                    float *row = q + (bh * S + t) * D;
                    memset(row, 0, sizeof(float) * (size_t)D);
                    row[0] = 1.0f;
                    if (t == win[2])
                        continue;
                    row[0] = a;
                    for (int64_t e = 1; e < D; e++)
                        perm[e] = e;
                    for (int64_t e = D - 1; e > 1; e--) {
                        const int64_t x = 1 + (int64_t)(oh_u64(&r) % (uint64_t)e), y = perm[e];
                        perm[e] = perm[x], perm[x] = y;
                    }
                    for (int64_t e = 1; e < D; e++)
                        row[e] = b[perm[e]];
                }
            }
        free(b);
        free(perm);
    } else if (c->fill & FILL_TIES) {
        static const float vecs[6][2] = {{1, 0}, {0, 1}, {-1, 0}, {1, 1}, {0, 0}, {2, 0}};
        oh_rng r = {62};
        for (int64_t bh = 0; bh < BH; bh++)
            for (int64_t s = 0; s < S; s++) {
                if (!oh_valid_slot(L, s))
                    continue;
                const float *v = vecs[oh_u64(&r) % 6];
                float *row = q + (bh * S + s) * D;
                memset(row, 0, sizeof(float) * (size_t)D);
                row[0] = v[0], row[1] = v[1];
            }
    }
    if (c->fill & FILL_NAN) /* head 0: the first row of block 0 and the centre of block 1's first window */
        for (int64_t e = 0; e < D; e++) {
            q[e] = NAN;
            if (L->win_ptr[2] > L->win_ptr[1])
                q[(int64_t)L->windows[4 * L->win_ptr[1] + 2] * D + e] = NAN;
        }
    if (c->fill & FILL_INF) /* head 0: +Inf in the second row of block 0, -Inf in the third */
        q[D] = INFINITY, q[2 * D + 1] = -INFINITY;
    int i = oh_add(in, "win_ptr", OB_I32, (size_t)(L->n_video_blocks + 1), 0);
    memcpy(in->buf[i].i32, L->win_ptr, sizeof(int32_t) * (size_t)(L->n_video_blocks + 1));
    i = oh_add(in, "windows", OB_I32, (size_t)(4 * L->n_windows), 0);
    memcpy(in->buf[i].i32, L->windows, sizeof(int32_t) * 4 * (size_t)L->n_windows);
    oh_add(in, "kept_count", OB_I32, (size_t)(BH * NB), 1);
    oh_add(in, "kept_rows", OB_I32, (size_t)(BH * NB * V), 1);
    oh_add(in, "fill_src", OB_I32, (size_t)(BH * S), 1);
    oh_add(in, "qbar", OB_F32, (size_t)(BH * NB * D), 1);
    qs_means_written = 0;
    if (c->caller) {
        oh_add_caller_copy(in, "cq", QS_Q);
        i = oh_add(in, "slot_token", OB_I32, (size_t)S, 0);
        memcpy(in->buf[i].i32, L->slot_token, sizeof(int32_t) * (size_t)S);
    }
    return 0;
}

static vox_status query_select_run(const op_inputs *in, const op_side *s)
{
    vox_op_query_select op = {QUERY_SELECT_BUFS(OH_BUF_REF)};
    if (in->c->caller) {
        op.cq = (vox_strided){oh_ref(s, in, QS_CQ), in->c->dtype, in->strides[0], in->strides[1], in->strides[2]};
        op.slot_token = oh_ref(s, in, QS_SLOT_TOKEN);
    }
    int wrote = 0;
    op.wrote_qbar = &wrote;
    vox_status st = s->ctx->be->query_select(s->ctx->dev, &in->dims, &op);
    if (!st && wrote)
        qs_means_written = 1;
    return st;
}

static int query_select_compare(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, op_errors *e,
                                char *why, size_t n)
{
    (void)e;
    const vox_layout *L = &in->L;
    int64_t BH = in->c->B * in->c->H, NB = L->n_blocks, V = L->V, S = L->n_slots;
    const int32_t *dc = (const int32_t *)dev->raw[QS_KEPT_COUNT], *rc = (const int32_t *)ref->raw[QS_KEPT_COUNT];
    const int32_t *dr = (const int32_t *)dev->raw[QS_KEPT_ROWS], *rr = (const int32_t *)ref->raw[QS_KEPT_ROWS];
    const int32_t *df = (const int32_t *)dev->raw[QS_FILL], *rf = (const int32_t *)ref->raw[QS_FILL];
    for (int64_t m = 0; m < BH * NB; m++) {
        if (dc[m] != rc[m]) {
            snprintf(why, n, "kept_count[%lld] = %d, reference %d", (long long)m, dc[m], rc[m]);
            return 0;
        }
        int64_t k = oh_first_diff_i32(dr + m * V, rr + m * V, NULL, (size_t)rc[m]);
        if (k >= 0) {
            snprintf(why, n, "kept_rows of row %lld entry %lld = %d, reference %d", (long long)m, (long long)k,
                     dr[m * V + k], rr[m * V + k]);
            return 0;
        }
    }
    int64_t k = oh_first_diff_i32(df, rf, NULL, (size_t)(BH * S));
    if (k >= 0) {
        snprintf(why, n, "fill_src[%lld] (bh %lld, slot %lld) = %d, reference %d", (long long)k,
                 (long long)(k / S), (long long)(k % S), df[k], rf[k]);
        return 0;
    }
    /* contract: every source is a kept slot of the same block */
    for (int64_t bh = 0; bh < BH; bh++)
        for (int64_t s = 0; s < S; s++) {
            int32_t f = df[bh * S + s];
            int64_t m = bh * NB + s / V, kept = 0;
            for (int32_t r = 0; r < dc[m]; r++)
                kept |= (s / V) * V + dr[m * V + r] == f;
            if (oh_valid_slot(L, s) && !kept) {
                snprintf(why, n, "fill_src of slot %lld (bh %lld) is %d, not a kept slot of its block",
                         (long long)s, (long long)bh, f);
                return 0;
            }
        }
    if (qs_means_written) { /* the q means of the kept rows: block_means' contract, bitwise */
        const int64_t D = in->c->D;
        const float *q = in->buf[QS_Q].f32, *dq = (const float *)dev->raw[QS_QBAR];
        for (int64_t m = 0; m < BH * NB; m++)
            for (int64_t el = 0; el < D; el++) {
                double acc = 0;
                for (int32_t r = 0; r < rc[m]; r++) {
                    float x = q[((m / NB) * S + (m % NB) * V + rr[m * V + r]) * D + el];
                    x = in->c->dtype == VOX_F16    ? vox_f16_to_f32(vox_f32_to_f16(x))
                        : in->c->dtype == VOX_BF16 ? vox_bf16_to_f32(vox_f32_to_bf16(x))
                                                   : x;
                    acc += x;
                }
                const float want = (float)(rc[m] ? acc / (double)rc[m] : 0.0), got = dq[m * D + el];
                if (!(want != want && got != got) && memcmp(&want, &got, sizeof want) != 0) {
                    snprintf(why, n, "qbar[%lld][%lld] (query_select's q means) = %a, reference %a", (long long)m,
                             (long long)el, got, want);
                    return 0;
                }
            }
    }
    return 1;
}

static const op_case cases[] = {
    {"keep50_w222_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 2, 4, 4), VOX_F32, .drop_block = -1, .param = 0.5},
    {"keep25_w222_bf16", SHAPE(1, 2, 64, 4, 8, 8, 8, 0, 2, 4, 4), VOX_BF16, .drop_block = -1, .param = 0.25},
    {"keep75_w122_f16", SHAPE(2, 2, 32, 3, 8, 8, 5, 1, 1, 4, 4), VOX_F16, .drop_block = -1, .param = 0.75},
    {"keep50_ragged_text_before_f16", SHAPE(1, 2, 32, 3, 9, 10, 12, 1, 2, 4, 4), VOX_F16, .drop_block = -1,
     .param = 0.5},
    {"keep30_whole_block_window", SHAPE(1, 2, 32, 4, 8, 8, 0, 0, 2, 4, 4), VOX_F32, .drop_block = -1,
     .param = 0.3, .wt = 2, .wh = 3, .ww = 3},
    {"keep50_v256_w444", SHAPE(1, 1, 64, 4, 8, 16, 0, 0, 4, 8, 8), VOX_F32, .drop_block = -1, .param = 0.5,
     .wt = 4, .wh = 4, .ww = 4},
    {"padding_only_block_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 2, 4, 4), VOX_F32, .drop_block = 1, .param = 0.5},
    {"ties_equal_cosines_f32", SHAPE(1, 2, 16, 4, 8, 8, 8, 0, 2, 4, 4), VOX_F32, FILL_TIES, .drop_block = -1,
     .param = 0.5},
    {"ties_equal_cosines_bf16", SHAPE(1, 2, 16, 3, 5, 7, 0, 0, 2, 4, 4), VOX_BF16, FILL_TIES, .drop_block = -1,
     .param = 0.25},
    {"near_ties_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 2, 4, 4), VOX_F32, FILL_TIES | FILL_NEAR, .drop_block = -1,
     .param = 0.5},
    {"near_ties_fill_f32", SHAPE(1, 4, 32, 4, 8, 8, 0, 0, 2, 4, 4), VOX_F32, FILL_NEAR_FILL, .drop_block = -1,
     .param = 0.5},
    {"near_ties_to_centre_f32", SHAPE(1, 4, 32, 4, 8, 8, 8, 0, 2, 4, 4), VOX_F32, FILL_NEAR, .drop_block = -1,
     .param = 0.5},
    {"perm_ties_d128_bf16", SHAPE(1, 2, 128, 4, 8, 8, 8, 0, 2, 4, 4), VOX_BF16, FILL_PERM, .drop_block = -1,
     .param = 0.5},
    {"perm_ties_d64_f16", SHAPE(1, 2, 64, 4, 8, 8, 0, 0, 2, 4, 4), VOX_F16, FILL_PERM, .drop_block = -1,
     .param = 0.25},
    {"perm_ties_d32_f32", SHAPE(1, 2, 32, 4, 8, 8, 0, 0, 2, 4, 4), VOX_F32, FILL_PERM, .drop_block = -1,
     .param = 0.5},
    {"keep50_ragged_text_d64_bf16", SHAPE(1, 2, 64, 3, 9, 10, 12, 1, 2, 4, 4), VOX_BF16, .drop_block = -1,
     .param = 0.5},
    {"nan_inf_rows_d128_bf16", SHAPE(1, 2, 128, 4, 8, 8, 8, 0, 2, 4, 4), VOX_BF16, FILL_NAN | FILL_INF,
     .drop_block = -1, .param = 0.5},
    {"nan_row_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 2, 4, 4), VOX_F32, FILL_NAN, .drop_block = -1, .param = 0.5},
    {"inf_rows_bf16", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 2, 4, 4), VOX_BF16, FILL_INF, .drop_block = -1, .param = 0.5},
    {"nan_padding_f16", SHAPE(1, 2, 32, 3, 9, 10, 0, 0, 2, 4, 4), VOX_F16, FILL_PAD_NAN, .drop_block = -1,
     .param = 0.5},
    {"workload_keep50_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 2, 4, 4), VOX_F32, FILL_WORKLOAD, .drop_block = -1,
     .param = 0.5},
    {"workload_keep25_bf16", SHAPE(1, 2, 64, 4, 8, 8, 8, 0, 2, 4, 4), VOX_BF16, FILL_WORKLOAD,
     .drop_block = -1, .param = 0.25},
    /* the CUDA/HIP fast path's shapes: D = 128 bf16 (every lane of a window's
     * group loads a 16-byte chunk of every row), two chunks per lane (f32,
     * D = 128), scalar loads (D not a multiple of a 16-byte chunk), more
     * windows than a CTA's groups (16 windows (1,2,2) per (4,4,4) block), and
     * more block rows than a capped grid's CTAs (each CTA takes several, text
     * blocks among them) with a NaN row sending two blocks to the exact
     * kernel */
    {"workload_keep50_d128_bf16", SHAPE(1, 2, 128, 4, 8, 8, 8, 0, 4, 4, 4), VOX_BF16, FILL_WORKLOAD,
     .drop_block = -1, .param = 0.5},
    {"keep50_d128_f32", SHAPE(1, 2, 128, 4, 8, 8, 0, 0, 2, 4, 4), VOX_F32, .drop_block = -1, .param = 0.5},
    {"keep50_d20_unaligned_bf16", SHAPE(1, 2, 20, 4, 8, 8, 0, 0, 2, 4, 4), VOX_BF16, .drop_block = -1,
     .param = 0.5},
    {"keep50_d18_unaligned_f32", SHAPE(1, 2, 18, 4, 8, 8, 0, 0, 2, 4, 4), VOX_F32, .drop_block = -1,
     .param = 0.5},
    {"keep50_w122_16_windows_bf16", SHAPE(1, 2, 64, 4, 8, 8, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .param = 0.5, .wt = 1, .wh = 2, .ww = 2},
    {"keep50_many_blocks_nan_bf16", SHAPE(1, 6, 32, 16, 32, 32, 100, 0, 4, 4, 4), VOX_BF16, FILL_NAN,
     .drop_block = -1, .param = 0.5},
    /* the caller's layouts: 16-byte rows (D 128, workload data), rows off
     * 16 bytes (scalar loads), near ties (the exact kernel), several blocks per
     * CTA with a NaN row (the prefetch of later blocks' rows) */
    {"caller_bnhd_workload_keep50_d128_bf16", SHAPE(1, 2, 128, 4, 8, 8, 8, 0, 4, 4, 4), VOX_BF16,
     FILL_WORKLOAD | FILL_PAD_NAN, .drop_block = -1, .param = 0.5, .layout = LAYOUT_BNHD, .caller = 1},
    {"caller_packed_qkv_offset_keep50_bf16", SHAPE(1, 2, 64, 4, 8, 8, 8, 1, 2, 4, 4), VOX_BF16, FILL_PAD_NAN,
     .drop_block = 1, .param = 0.5, .layout = LAYOUT_PACKED_QKV, .layout_offset = 3, .caller = 1},
    {"caller_bhnd_near_ties_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 2, 4, 4), VOX_F32, FILL_TIES | FILL_NEAR,
     .drop_block = -1, .param = 0.5, .layout = LAYOUT_BHND, .caller = 1},
    {"caller_bnhd_many_blocks_nan_bf16", SHAPE(1, 6, 32, 16, 32, 32, 100, 0, 4, 4, 4), VOX_BF16, FILL_NAN,
     .drop_block = -1, .param = 0.5, .layout = LAYOUT_BNHD, .caller = 1},
    /* f32 D 128 blocks of 64: too large for OpenCL's local staging, so its
     * backend copies the block layout itself before reading (query_select.cl) */
    {"caller_bnhd_unstaged_d128_f32", SHAPE(1, 2, 128, 4, 8, 8, 8, 0, 4, 4, 4), VOX_F32, FILL_PAD_NAN,
     .drop_block = -1, .param = 0.5, .layout = LAYOUT_BNHD, .caller = 1},
    {"perf_wan_like_bf16", SHAPE(1, 12, 128, 8, 30, 52, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .param = 0.5, .perf_only = 1},
    {"perf_wan_like_caller_bf16", SHAPE(1, 12, 128, 8, 30, 52, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .param = 0.5, .layout = LAYOUT_BNHD, .caller = 1, .perf_only = 1},
};

const op_entry op_query_select = {
    VOX_OP_query_select, cases, (int)(sizeof cases / sizeof cases[0]), {{0}}, 0,
    query_select_inputs, query_select_run, query_select_compare,
};
