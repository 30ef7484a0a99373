/* Cases of kv_select (core/backend.h): the three rules over random and
 * structured block means, kv_min_blocks below/above the video block count,
 * text blocks, a padding-only block (zero means), constructed ties (equal
 * scores -> lower block index, a cumulative boundary hit exactly) and huge
 * logits (one group of blocks takes all the mass, the rest p = 0 in f32 and
 * f64 alike, so ties again go by index) and NaN block means (every p of a
 * NaN row NaN: the index order decides), and the max_blocks cap (binding or
 * not, below min_blocks, STAT over its cap). kv_count and the first kv_count
 * entries of each kv_cols row must equal the reference exactly; the device's
 * rows must also be ascending and hold the own block and every global block.
 * Each row gets exactly the room the plan gives it (vox_kv_select_room()),
 * the rows in reverse order with KS_GUARD poisoned entries after each, which
 * must stay poisoned: a kernel that writes past its room fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The buffers after block_valid, in the order make_inputs adds them, each
 * with the vox_op_kv_select field it fills (harness.h). */
#define KV_SELECT_BUFS(B) B(KS_QBAR, qbar) B(KS_KBAR, kbar) B(KS_START, kv_start) B(KS_COUNT, kv_count) \
    B(KS_COLS, kv_cols)
enum { KS_BLOCK_VALID, KV_SELECT_BUFS(OH_BUF_INDEX) };

#define KS_GUARD 4 /* poisoned entries after each row's room */

/* Row m's room: a video row's vox_kv_select_room(), a global row all NB. */
static int64_t row_room(const op_inputs *in, int64_t m)
{
    const op_case *c = in->c;
    int64_t NB = in->L.n_blocks, NBv = in->L.n_video_blocks;
    if (m % NB >= NBv)
        return NB;
    return vox_kv_select_room(c->rule, (long long)c->param, c->min_blocks, c->max_blocks, NB, NBv);
}

/* f64 means of the valid rows of each block, as block_means defines them. */
static void host_means(const op_inputs *in, const float *x, float *out)
{
    const vox_layout *L = &in->L;
    int64_t BH = in->c->B * in->c->H, NB = L->n_blocks, V = L->V, D = in->c->D;
    for (int64_t bh = 0; bh < BH; bh++)
        for (int64_t j = 0; j < NB; j++)
            for (int64_t e = 0; e < D; e++) {
                double acc = 0;
                for (int64_t r = 0; r < L->block_valid[j]; r++)
                    acc += x[((bh * NB + j) * V + r) * D + e];
                out[(bh * NB + j) * D + e] = (float)(L->block_valid[j] ? acc / L->block_valid[j] : 0.0);
            }
}

static int kv_select_inputs(const op_case *c, op_inputs *in)
{
    if (oh_layout(c, 1.0, in))
        return -1;
    const vox_layout *L = &in->L;
    int64_t BH = c->B * c->H, NB = L->n_blocks, D = c->D, n = BH * NB * D;
    oh_add(in, "qbar", OB_F32, (size_t)n, 0);
    oh_add(in, "kbar", OB_F32, (size_t)n, 0);
    float *qb = in->buf[KS_QBAR].f32, *kb = in->buf[KS_KBAR].f32;
    if (c->fill & FILL_WORKLOAD) {
        float *x = malloc(sizeof(float) * (size_t)(BH * L->n_slots * D));
        oh_fill_blocks(in, 0, 41, x);
        host_means(in, x, qb);
        oh_fill_blocks(in, 1, 41, x);
        host_means(in, x, kb);
        free(x);
    } else if (c->fill & FILL_TIES) {
        /* small integers: every score exact in f32 and f64; key blocks repeat
         * with period 3, so scores tie in groups; every 4th query row is 0,
         * so all its p are 1/NBv and a cumulative tau of 0.5 is hit exactly */
        oh_rng r = {42};
        for (int64_t m = 0; m < BH * NB; m++)
            for (int64_t e = 0; e < D; e++) {
                qb[m * D + e] = m % 4 ? (float)(oh_u64(&r) % 3) - 1.0f : 0.0f;
                kb[m * D + e] = (float)((m % NB) % 3 == e % 3);
            }
    } else if (c->fill & FILL_HUGE) {
        /* s = +-1000 * (j % 5): blocks j % 5 == 4 (or 0) share all the mass */
        for (int64_t m = 0; m < BH * NB; m++) {
            qb[m * D] = (m % 3) ? 1000.0f : -1000.0f;
            kb[m * D] = (float)((m % NB) % 5);
        }
    } else if (c->fill & FILL_NEAR) {
        /* key blocks in pairs (2t, 2t + 1) whose means differ by a relative 1e-8 .. 1e-5 (log-uniform per
         * pair, so that some pairs fall between what any f32 or tensor-core score path resolves and its
         * error bound): their scores differ by less than the scores' error window, yet well beyond the f64
         * roundings, so a TOPK boundary inside a pair is decided by the exact re-scoring (an f32 order
         * picks the wrong block of the pair in some rows) */
        oh_rng r = {44};
        for (int64_t i = 0; i < n; i++)
            qb[i] = (float)(2.0 * oh_normal(&r));
        double eps = 0;
        for (int64_t m = 0; m < BH * NB; m++) {
            if ((m % NB) % 2)
                eps = pow(10.0, -8.0 + 3.0 * oh_uniform(&r));
            for (int64_t e = 0; e < D; e++)
                kb[m * D + e] = (m % NB) % 2 ? kb[(m - 1) * D + e] * (float)(1.0 + eps * oh_normal(&r))
                                             : (float)oh_normal(&r);
        }
    } else if (c->fill & FILL_SHIFT) {
        /* cancellation (q = 1): key block j's mean is B_j in [2^12, 2^13) at dim 0, D - 3 terms in
         * (0, ulp(B_j)) = (0, 2^-11), -B_j, then g_j in (0, 20 ulp): an f32 score summed in dim order rounds
         * each small term to 0 or 1 ulp at B's magnitude (errors of several ulp) while the blocks' exact
         * scores lie ~0.03 ulp apart, so the f32 order of distinct scores is far from the exact one: a TOPK
         * certification must bound the scores' errors (a break without the bounds fails these) */
        oh_rng r = {45};
        for (int64_t i = 0; i < n; i++)
            qb[i] = 1.0f;
        for (int64_t m = 0; m < BH * NB; m++) {
            float B = (float)(4096.0 * (1.0 + oh_uniform(&r)));
            for (int64_t e = 0; e < D; e++)
                kb[m * D + e] = e == 0 ? B : e == D - 2 ? -B : (float)ldexp(e == D - 1 ? 20.0 * oh_uniform(&r) : oh_uniform(&r), -11);
        }
    } else if (c->fill & FILL_MASS_EDGE) {
        /* a CUMULATIVE count decided below f32's resolution: in dot-product units block 0 scores A + d_i
         * for query row i and block j >= 1 scores u_j = C - j / 20 (k_0 = (A, 1, 0, ..), k_j = (u_j, 0,
         * ..), q_i = (1, d_i, 0, ..)), so block 0 alone holds tau of the mass exactly when its dot reaches
         * u* = ln(tau / (1 - tau) sum_j exp(scale u_j)) / scale. C is stepped by ulps until u* lies
         * within 4e-8 of an f32 value A, and d_i = (u* - A) + (i - N / 2 + 1/2) 2e-9, so the rows' exact
         * counts are 1 (d_i above u* - A) or 2, each row's mass at least ~2e-11 from tau (far beyond the
         * f64 roundings: no row sits on the knife edge where the order of the softmax's sum decides),
         * while every f32 score of block 0 is A itself (|d_i| < ulp(A) / 2): an f32 path that takes its count without certifying it gives every row the same count,
         * half of them wrong (the scores apart, so no tie or band hides it); one that certifies sends
         * them to its exact fallback. */
        const double tau = c->param, sc = in->scale;
        const int64_t N = L->n_video_blocks;
        float C = 0.75f, A = 0.0f;
        double us = 0;
        for (int it = 0; it < 4096; it++, C = nextafterf(C, 1.0f)) {
            double sum = 0;
            for (int64_t j = 1; j < N; j++)
                sum += exp(sc * (double)(C - (float)j / 20.0f));
            us = log(tau / (1.0 - tau) * sum) / sc, A = (float)us;
            if (fabs(us - (double)A) < 4e-8)
                break;
        }
        memset(qb, 0, sizeof(float) * (size_t)n);
        memset(kb, 0, sizeof(float) * (size_t)n);
        for (int64_t m = 0; m < BH * NB; m++) {
            const int64_t i = m % NB;
            qb[m * D] = 1.0f;
            qb[m * D + 1] = (float)((us - (double)A) + ((double)(i - N / 2) + 0.5) * 2e-9);
            kb[m * D] = i == 0 ? A : C - (float)i / 20.0f;
            kb[m * D + 1] = i == 0 ? 1.0f : 0.0f;
        }
    } else if (c->fill & FILL_CROWD) {
        /* a crowded CUMULATIVE crossing: key block j is k_j = (u_j, v_j, 0, ..) with u_j, v_j normal(0, 1),
         * but blocks 0 and 1 at (+20, 0) and (-20, 0), and q_i = (1, s_i, 0, ..) with s_i uniform in
         * [0, 0.5), so row i scores u_j + s_i v_j: binned linearly over the row's range (CUDA's vox_kf_topk,
         * 256 bins) each central bin holds ~20 blocks, and at a small scale the mass is nearly uniform, so
         * tau 0.5 is crossed inside a crowded bin, at a rank among its blocks that differs from row to row
         * (s_i reorders them): the crossing among them (rank by score and index, the masses before it)
         * decides the count, and one rank off lists a block too few or too many */
        oh_rng r = {47};
        memset(qb, 0, sizeof(float) * (size_t)n);
        memset(kb, 0, sizeof(float) * (size_t)n);
        for (int64_t m = 0; m < BH * NB; m++) {
            const int64_t j = m % NB;
            qb[m * D] = 1.0f;
            kb[m * D] = j == 0 ? 20.0f : j == 1 ? -20.0f : (float)oh_normal(&r);
            if (D > 1) /* (a case with D 1 would have one order for every row) */
                qb[m * D + 1] = (float)(0.5 * oh_uniform(&r)), kb[m * D + 1] = j < 2 ? 0.0f : (float)oh_normal(&r);
        }
    } else if (c->fill & FILL_NAN) {
        /* random means, then NaN (docs/numerics.md: a NaN in a row's score makes every p of that query
         * block NaN, and its order the block index order): in head 0 one element of key block 1's mean,
         * so every row of that head is NaN; in the other heads one element (dim m % D) of every third
         * query block's mean, so NaN rows lie among finite ones. A NaN row admits the rule's count
         * (TOPK k; CUMULATIVE 1 for tau > 0), or min_blocks where above, as the lowest-index blocks: a
         * partial run of equal keys (Vulkan's by-index rows, whose compaction needs the scan of the
         * keys equal to T before each invocation's segment) */
        oh_rng r = {46};
        for (int64_t i = 0; i < n; i++)
            qb[i] = (float)(2.0 * oh_normal(&r)), kb[i] = (float)oh_normal(&r);
        for (int64_t m = 0; m < BH * NB; m++) {
            if (m / NB == 0 && m % NB == 1)
                kb[m * D + D / 2] = NAN;
            else if (m / NB > 0 && m % 3 == 1)
                qb[m * D + m % D] = NAN;
        }
    } else {
        oh_rng r = {43};
        for (int64_t i = 0; i < n; i++)
            qb[i] = (float)(2.0 * oh_normal(&r)), kb[i] = (float)oh_normal(&r);
    }
    for (int64_t m = 0; m < BH * NB; m++) /* a padding-only block's means are 0 */
        if (L->block_valid[m % NB] == 0)
            for (int64_t e = 0; e < D; e++)
                qb[m * D + e] = kb[m * D + e] = 0.0f;
    /* rows in reverse order, so a kernel that ignores kv_start fails; each its room and a guard */
    oh_add(in, "kv_start", OB_I32, (size_t)(BH * NB), 0);
    int64_t at = 0;
    for (int64_t m = BH * NB - 1; m >= 0; m--) {
        in->buf[KS_START].i32[m] = (int32_t)at;
        at += row_room(in, m) + KS_GUARD;
    }
    oh_add(in, "kv_count", OB_I32, (size_t)(BH * NB), 1);
    oh_add(in, "kv_cols", OB_I32, (size_t)at, 1);
    return 0;
}

static vox_status kv_select_run(const op_inputs *in, const op_side *s)
{
    const op_case *c = in->c;
    vox_op_kv_select op = {
        KV_SELECT_BUFS(OH_BUF_REF)
        .scale = in->scale,
        .rule = c->rule,
        .tau = c->param,
        .topk = (int)c->param,
        .z = c->param,
        .min_blocks = c->min_blocks,
        .max_blocks = c->max_blocks,
    };
    return s->ctx->be->kv_select(s->ctx->dev, &in->dims, &op);
}

static int kv_select_compare(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, op_errors *e,
                             char *why, size_t n)
{
    (void)e;
    const vox_layout *L = &in->L;
    int64_t BH = in->c->B * in->c->H, NB = L->n_blocks, NBv = L->n_video_blocks;
    const int32_t *dc = (const int32_t *)dev->raw[KS_COUNT], *rc = (const int32_t *)ref->raw[KS_COUNT];
    const int32_t *dl = (const int32_t *)dev->raw[KS_COLS], *rl = (const int32_t *)ref->raw[KS_COLS];
    const int32_t *start = in->buf[KS_START].i32;
    for (int64_t m = 0; m < BH * NB; m++) {
        int64_t i = m % NB, r0 = start[m];
        if (dc[m] != rc[m]) {
            snprintf(why, n, "kv_count[%lld] (bh %lld, block %lld) = %d, reference %d", (long long)m,
                     (long long)(m / NB), (long long)i, dc[m], rc[m]);
            return 0;
        }
        int64_t k = oh_first_diff_i32(dl + r0, rl + r0, NULL, (size_t)rc[m]);
        if (k >= 0) {
            snprintf(why, n, "kv_cols row %lld (block %lld) entry %lld = %d, reference %d", (long long)m, (long long)i,
                     (long long)k, dl[r0 + k], rl[r0 + k]);
            return 0;
        }
        /* contract: ascending, own block and every global block present */
        int own = 0, globals = 0;
        for (int32_t c = 0; c < dc[m]; c++) {
            int32_t j = dl[r0 + c];
            if (c && j <= dl[r0 + c - 1]) {
                snprintf(why, n, "kv_cols row %lld not ascending", (long long)m);
                return 0;
            }
            own |= j == i;
            globals += j >= NBv;
        }
        if (!own || globals != NB - NBv || (i >= NBv && dc[m] != NB)) {
            snprintf(why, n, "kv_cols row %lld misses its own or a global block", (long long)m);
            return 0;
        }
        int64_t room = row_room(in, m);
        if (dc[m] > room) {
            snprintf(why, n, "kv_count[%lld] = %d beyond its room %lld", (long long)m, dc[m], (long long)room);
            return 0;
        }
        for (int64_t g = 0; g < KS_GUARD; g++)
            if (dl[r0 + room + g] != -1) {
                snprintf(why, n, "kv_cols row %lld wrote %d past its room of %lld (guard entry %lld)", (long long)m,
                         dl[r0 + room + g], (long long)room, (long long)g);
                return 0;
            }
    }
    return 1;
}

#define CUM VOX_KV_CUMULATIVE
#define TOPK VOX_KV_TOPK
#define STAT VOX_KV_STAT

static const op_case cases[] = {
    {"cumulative_tau09_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = CUM,
     .param = 0.9, .min_blocks = 2},
    {"cumulative_tau05_min0", SHAPE(2, 2, 32, 4, 8, 8, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = CUM,
     .param = 0.5},
    {"cumulative_tau1_ragged", SHAPE(1, 3, 16, 3, 9, 10, 12, 1, 2, 4, 4), VOX_F32, .drop_block = -1, .rule = CUM,
     .param = 1.0, .min_blocks = 1},
    {"topk3_f32", SHAPE(1, 2, 32, 4, 8, 8, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = TOPK, .param = 3,
     .min_blocks = 2},
    /* head dims that are not whole 16-dim chunks (72: the chunked f32 sums' last chunk short; the register-tiled
     * Vulkan pass pads it with zeros) or not 4-dim words (10: the scalar loads) */
    {"cumulative_d72", SHAPE(1, 2, 72, 8, 16, 16, 8, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = CUM,
     .param = 0.9},
    {"topk_d72", SHAPE(1, 2, 72, 8, 16, 16, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = TOPK, .param = 5},
    {"cumulative_d10", SHAPE(1, 2, 10, 8, 16, 16, 8, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = CUM,
     .param = 0.9},
    {"topk_d10", SHAPE(1, 2, 10, 8, 16, 16, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = TOPK, .param = 5},
    {"topk_above_nbv", SHAPE(1, 2, 32, 2, 4, 8, 8, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = TOPK,
     .param = 50, .min_blocks = 4},
    {"min_blocks_above_nbv", SHAPE(1, 2, 32, 2, 4, 8, 8, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = CUM,
     .param = 0.3, .min_blocks = 99},
    {"stat_z1", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = STAT, .param = 1.0},
    {"stat_z_neg", SHAPE(1, 2, 32, 4, 8, 8, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = STAT,
     .param = -0.5, .min_blocks = 2},
    {"stat_z3_min2", SHAPE(1, 2, 32, 4, 8, 8, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = STAT,
     .param = 3.0, .min_blocks = 2},
    {"padding_only_block", SHAPE(1, 2, 32, 2, 4, 8, 9, 0, 1, 4, 4), VOX_F32, .drop_block = 2, .rule = CUM,
     .param = 0.9, .min_blocks = 2},
    {"ties_cumulative_boundary", SHAPE(1, 2, 12, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_TIES, .drop_block = -1,
     .scale = 0.5, .rule = CUM, .param = 0.5, .min_blocks = 0},
    /* 12 video blocks: the zero query rows have p = fl(1/12) for every block, and tau is their
     * sequential f64 sum over ten blocks (the reference admits exactly ten); fixed-point or
     * reordered sums of the same p fall below tau and would admit an eleventh */
    {"ties_cumulative_near_mass", SHAPE(1, 2, 12, 3, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_TIES, .drop_block = -1,
     .scale = 0.5, .rule = CUM, .param = 0.8333333333333334, .min_blocks = 0},
    {"ties_topk", SHAPE(1, 2, 12, 4, 8, 8, 0, 0, 1, 4, 4), VOX_F32, FILL_TIES, .drop_block = -1, .scale = 0.5,
     .rule = TOPK, .param = 4, .min_blocks = 2},
    {"ties_stat", SHAPE(1, 2, 12, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_TIES, .drop_block = -1, .scale = 0.5,
     .rule = STAT, .param = 0.0},
    {"huge_logits_topk5", SHAPE(1, 2, 16, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_HUGE, .drop_block = -1,
     .scale = 1.0, .rule = TOPK, .param = 5, .min_blocks = 2},
    {"huge_logits_cumulative", SHAPE(1, 2, 16, 4, 8, 8, 0, 0, 1, 4, 4), VOX_F32, FILL_HUGE, .drop_block = -1,
     .scale = 1.0, .rule = CUM, .param = 0.9, .min_blocks = 4},
    {"workload_cumulative", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_WORKLOAD, .drop_block = -1,
     .rule = CUM, .param = 0.9, .min_blocks = 2},
    {"workload_topk_d128", SHAPE(1, 2, 128, 4, 8, 16, 0, 0, 1, 8, 8), VOX_F32, FILL_WORKLOAD, .drop_block = -1,
     .rule = TOPK, .param = 3, .min_blocks = 2},
    /* CUDA: TOPK with head_dim a multiple of 16 (<= 128) takes the tensor-core phase 1 (64-row tiles,
     * 32-key chunks): several tiles per head, the last ones partial (350 video blocks), a global block */
    {"topk_mma_tiles_d64", SHAPE(1, 3, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = TOPK,
     .param = 35, .min_blocks = 2},
    {"topk_mma_workload_d128", SHAPE(1, 2, 128, 8, 24, 40, 0, 0, 2, 4, 4), VOX_F32, FILL_WORKLOAD, .drop_block = -1,
     .rule = TOPK, .param = 24, .min_blocks = 4},
    /* exact small integers: groups of equal scores straddle the k-th block (the band, index order) */
    {"ties_topk_mma", SHAPE(1, 2, 32, 8, 16, 16, 0, 0, 1, 4, 4), VOX_F32, FILL_TIES, .drop_block = -1, .scale = 0.5,
     .rule = TOPK, .param = 50, .min_blocks = 2},
    /* the cumulative descent over many blocks (its bucket gives the selection's threshold) */
    {"cumulative_tau09_tiles", SHAPE(1, 3, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_WORKLOAD, .drop_block = -1,
     .rule = CUM, .param = 0.9, .min_blocks = 4},
    /* CUDA on an H200 (two CTAs on each of 132 multiprocessors): 48 x 420 video blocks make 48 x 6 full
     * tiles of 64 rows over 264 CTA slots, then each head's last 36 rows as tiles of 16, 16 and 4 rows
     * in the grid's last wave (the tensor-core kernel's short tiles; the rule does not matter there) */
    {"topk_mma_short_tiles", SHAPE(2, 24, 16, 5, 28, 48, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = TOPK,
     .param = 42, .min_blocks = 2},
    /* CUDA on an H200 (132 multiprocessors): 8 x 288 video blocks make 40 tiles of 64 rows (fewer than
     * two per multiprocessor) but 288 tiles of 8, so the launcher takes the f32 kernel at head_dim 128 */
    {"topk_f32_by_shape_d128", SHAPE(1, 8, 128, 8, 24, 24, 0, 0, 1, 4, 4), VOX_F32, FILL_WORKLOAD, .drop_block = -1,
     .rule = TOPK, .param = 29, .min_blocks = 2},
    {"cumulative_f32_by_shape_d128", SHAPE(1, 8, 128, 8, 24, 24, 0, 0, 1, 4, 4), VOX_F32, FILL_WORKLOAD,
     .drop_block = -1, .rule = CUM, .param = 0.9, .min_blocks = 4},
    /* issue #17: a row whose f64 cumulative sum reaches tau within the f32 error of its p (Vulkan on
     * lavapipe admitted 93 blocks where the reference admits 92) */
    {"cumulative_tau09_near_tau", SHAPE(2, 24, 16, 5, 28, 48, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = CUM,
     .param = 0.9, .min_blocks = 4},
    /* TOPK's phase 2 on the f32 scores (CUDA, kv_select_fast.cuh vox_kf_topk): near-ties at the k-th
     * block (the band's exact re-scoring decides; VOXATTN_KV_SELECT_FAST_BREAK must fail these), k = 1
     * without min_blocks, k near NBv, huge logits (p underflows to 0: ties by index, the exact path) */
    {"topk_near_ties_mma", SHAPE(1, 2, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_NEAR, .drop_block = -1,
     .rule = TOPK, .param = 35, .min_blocks = 2},
    {"topk_near_ties_k1", SHAPE(1, 2, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_NEAR, .drop_block = -1,
     .rule = TOPK, .param = 1, .min_blocks = 0},
    {"topk_near_ties_k300", SHAPE(1, 2, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_NEAR, .drop_block = -1,
     .rule = TOPK, .param = 300, .min_blocks = 4},
    {"topk_near_ties_d128", SHAPE(1, 2, 128, 8, 24, 40, 0, 0, 1, 4, 4), VOX_F32, FILL_NEAR, .drop_block = -1,
     .rule = TOPK, .param = 48, .min_blocks = 4},
    /* k = 1 at head_dim 128 (sm_90: the wgmma kernel): every row's boundary inside its top pair, a third of
     * those pairs closer than the scores resolve (session 18, branch kvsel12: a certificate without its
     * window, VOXATTN_KV_SELECT_NQ_BREAK of commit 16653b6, fails it and topk_cancel_pairs_d128_k1) */
    {"topk_near_ties_d128_k1", SHAPE(1, 2, 128, 8, 24, 40, 0, 0, 1, 4, 4), VOX_F32, FILL_NEAR, .drop_block = -1,
     .rule = TOPK, .param = 1, .min_blocks = 0},
    /* head_dim 128 with global blocks (sm_90a: the three-pass kernel under VOXATTN_KV_SELECT_TP, session 50):
     * NaN rows, huge and large logits (rows it cannot bin or certify go to the exact path), k near NBv */
    {"nan_rows_topk_d128", SHAPE(1, 3, 128, 8, 24, 40, 16, 0, 1, 4, 4), VOX_F32, FILL_NAN, .drop_block = -1,
     .rule = TOPK, .param = 35, .min_blocks = 2},
    {"topk_huge_logits_d128", SHAPE(1, 2, 128, 8, 24, 40, 16, 0, 1, 4, 4), VOX_F32, FILL_HUGE, .drop_block = -1,
     .scale = 1.0, .rule = TOPK, .param = 35, .min_blocks = 2},
    {"topk_large_logits_d128", SHAPE(1, 2, 128, 8, 24, 40, 16, 0, 1, 4, 4), VOX_F32, .drop_block = -1,
     .scale = 4.0, .rule = TOPK, .param = 35, .min_blocks = 2},
    {"topk_near_ties_d128_k300", SHAPE(1, 2, 128, 8, 24, 40, 16, 0, 1, 4, 4), VOX_F32, FILL_NEAR, .drop_block = -1,
     .rule = TOPK, .param = 300, .min_blocks = 4},
    /* f32 scores whose rounding (cancellation, FILL_SHIFT) misorders distinct values: a TOPK
     * certification must bound the scores' errors (Vulkan's _c64; a break without the bounds fails these) */
    {"topk_cancel_pairs", SHAPE(1, 2, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_SHIFT, .drop_block = -1,
     .rule = TOPK, .param = 35, .min_blocks = 2},
    {"topk_cancel_pairs_d128_k1", SHAPE(1, 2, 128, 8, 24, 40, 0, 0, 1, 4, 4), VOX_F32, FILL_SHIFT, .drop_block = -1,
     .rule = TOPK, .param = 1, .min_blocks = 0},
    /* CUMULATIVE on f32 scores: counts decided below f32's resolution (FILL_MASS_EDGE; the count's certificate
     * dropped fails these, session 27) */
    {"cumulative_mass_edge", SHAPE(1, 2, 16, 8, 32, 32, 0, 0, 1, 4, 4), VOX_F32, FILL_MASS_EDGE, .drop_block = -1,
     .rule = CUM, .param = 0.9},
    {"cumulative_mass_edge_t05", SHAPE(1, 2, 16, 8, 32, 32, 0, 0, 1, 4, 4), VOX_F32, FILL_MASS_EDGE,
     .drop_block = -1, .rule = CUM, .param = 0.5},
    /* rows of more blocks than the exact rows kernel's threads score in one pass (vox_kv_select_rows: 128
     * threads x 4 blocks; 1,088 and 1,440 blocks here, three passes) and more listed rows than its grid takes
     * at once (every mass-edge row is refused by the fast path): a score pass skipped fails these (session
     * 52). The mass-edge rows stay below ~1,300 blocks: each is replayed by Vulkan's workgroup variant
     * (VOXATTN_VULKAN_KV_SGW=0), whose ranks cost an invocation ceil(NBv / 256) x NBv loop iterations a row,
     * eight rows a tile, and lavapipe ends an invocation's loops after 65,535 iterations in all */
    {"cumulative_mass_edge_wide", SHAPE(1, 3, 16, 17, 32, 32, 0, 0, 1, 4, 4), VOX_F32, FILL_MASS_EDGE,
     .drop_block = -1, .rule = CUM, .param = 0.9},
    {"cumulative_near_ties_wide", SHAPE(1, 2, 64, 12, 40, 48, 16, 0, 1, 4, 4), VOX_F32, FILL_NEAR,
     .drop_block = -1, .rule = CUM, .param = 0.95, .min_blocks = 0},
    /* the crossing inside a crowded bin (FILL_CROWD; session 54: CUDA's _ss_cb with its crossing one rank
     * off passed every other case) */
    {"cumulative_crowded_bin", SHAPE(1, 2, 128, 12, 40, 48, 16, 0, 1, 4, 4), VOX_F32, FILL_CROWD,
     .drop_block = -1, .scale = 0.05, .rule = CUM, .param = 0.5, .min_blocks = 0},
    /* CUMULATIVE on f32 scores (Vulkan's kv_select_sgw_f_cum, CUDA's vox_kf_cum): near-tie pairs at the count
     * (21 rows refused by the count's certificate on lavapipe), misordered f32 scores by cancellation (every row
     * refused: the fallback's exact path decides) */
    {"cumulative_near_ties", SHAPE(1, 2, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_NEAR, .drop_block = -1,
     .rule = CUM, .param = 0.95, .min_blocks = 0},
    {"cumulative_cancel_t09", SHAPE(1, 2, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_SHIFT, .drop_block = -1,
     .rule = CUM, .param = 0.9, .min_blocks = 0},
    {"topk1_mma", SHAPE(1, 2, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = TOPK,
     .param = 1, .min_blocks = 0},
    {"topk_huge_logits_mma", SHAPE(1, 2, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_HUGE, .drop_block = -1,
     .scale = 1.0, .rule = TOPK, .param = 35, .min_blocks = 2},
    {"topk_huge_logits_scale001", SHAPE(1, 2, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_HUGE,
     .drop_block = -1, .scale = 0.01, .rule = TOPK, .param = 100, .min_blocks = 2},
    {"topk_large_logits_mma", SHAPE(1, 2, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, .drop_block = -1,
     .scale = 4.0, .rule = TOPK, .param = 35, .min_blocks = 2},
    /* NaN in block means (FILL_NAN): whole NaN heads and NaN query rows among finite ones, decided in
     * the index order; small rows (one block per invocation) and rows of more blocks than a workgroup */
    {"nan_rows_topk", SHAPE(1, 3, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_NAN, .drop_block = -1, .rule = TOPK,
     .param = 3, .min_blocks = 2},
    {"nan_rows_topk_min_above_k", SHAPE(1, 3, 32, 4, 8, 8, 0, 0, 1, 4, 4), VOX_F32, FILL_NAN, .drop_block = -1,
     .rule = TOPK, .param = 2, .min_blocks = 5},
    {"nan_rows_cumulative", SHAPE(1, 3, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_NAN, .drop_block = -1,
     .rule = CUM, .param = 0.9, .min_blocks = 0},
    {"nan_rows_cumulative_min3", SHAPE(1, 3, 32, 4, 8, 8, 0, 0, 1, 4, 4), VOX_F32, FILL_NAN, .drop_block = -1,
     .rule = CUM, .param = 0.5, .min_blocks = 3},
    {"nan_rows_topk_mma_tiles", SHAPE(1, 3, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_NAN, .drop_block = -1,
     .rule = TOPK, .param = 35, .min_blocks = 2},
    {"nan_rows_cumulative_tiles", SHAPE(1, 3, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_NAN, .drop_block = -1,
     .rule = CUM, .param = 0.9, .min_blocks = 4},
    /* the max_blocks cap (kv_max_blocks): binding on CUMULATIVE (small and large rows, the f32 paths' tiles),
     * below min_blocks, above the video block count (no effect), on STAT over its threshold count (then the
     * cap most probable) and not binding on STAT, and on TOPK (k becomes the cap) */
    {"cap_cumulative", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = CUM,
     .param = 0.9, .min_blocks = 2, .max_blocks = 5},
    {"cap_cumulative_below_min", SHAPE(1, 2, 32, 4, 8, 8, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = CUM,
     .param = 0.9, .min_blocks = 6, .max_blocks = 3},
    {"cap_above_nbv", SHAPE(1, 2, 32, 2, 4, 8, 8, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = CUM,
     .param = 0.95, .min_blocks = 2, .max_blocks = 1000},
    {"cap_cumulative_tiles", SHAPE(1, 3, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_WORKLOAD,
     .drop_block = -1, .rule = CUM, .param = 0.9, .min_blocks = 4, .max_blocks = 40},
    {"cap_cumulative_d128", SHAPE(1, 8, 128, 8, 24, 24, 0, 0, 1, 4, 4), VOX_F32, FILL_WORKLOAD,
     .drop_block = -1, .rule = CUM, .param = 0.9, .min_blocks = 4, .max_blocks = 25},
    {"cap_cumulative_near_tau", SHAPE(2, 24, 16, 5, 28, 48, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1,
     .rule = CUM, .param = 0.9, .min_blocks = 4, .max_blocks = 60},
    {"cap_cumulative_near_ties", SHAPE(1, 2, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_NEAR,
     .drop_block = -1, .rule = CUM, .param = 0.95, .min_blocks = 0, .max_blocks = 30},
    {"cap_cumulative_ties", SHAPE(1, 2, 12, 3, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_TIES, .drop_block = -1,
     .scale = 0.5, .rule = CUM, .param = 0.8333333333333334, .min_blocks = 0, .max_blocks = 7},
    {"cap_nan_rows_cumulative", SHAPE(1, 3, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_NAN,
     .drop_block = -1, .rule = CUM, .param = 0.9, .min_blocks = 4, .max_blocks = 20},
    {"cap_stat_over", SHAPE(1, 2, 32, 4, 8, 8, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = STAT,
     .param = -0.5, .min_blocks = 2, .max_blocks = 6},
    {"cap_stat_under", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = STAT,
     .param = 1.0, .min_blocks = 2, .max_blocks = 20},
    {"cap_stat_tiles", SHAPE(1, 3, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, FILL_WORKLOAD, .drop_block = -1,
     .rule = STAT, .param = 0.5, .min_blocks = 4, .max_blocks = 30},
    {"cap_stat_ties", SHAPE(1, 2, 12, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_TIES, .drop_block = -1,
     .scale = 0.5, .rule = STAT, .param = 0.0, .max_blocks = 3},
    {"cap_topk", SHAPE(1, 2, 64, 10, 20, 26, 16, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .rule = TOPK,
     .param = 35, .min_blocks = 2, .max_blocks = 12},
    {"perf_wan_like", SHAPE(1, 12, 128, 8, 30, 52, 0, 0, 4, 4, 4), VOX_F32, .drop_block = -1, .rule = CUM,
     .param = 0.9, .min_blocks = 4, .perf_only = 1},
    /* wan-1.3b-480p's full size (21 x 30 x 52 tokens: 624 video blocks per head), CUMULATIVE 0.9 and
     * top-k 10% as the bench's builds (random data) */
    {"perf_wan624_cum", SHAPE(1, 12, 128, 21, 30, 52, 0, 0, 4, 4, 4), VOX_F32, .drop_block = -1, .rule = CUM,
     .param = 0.9, .min_blocks = 4, .perf_only = 1},
    {"perf_wan624_topk", SHAPE(1, 12, 128, 21, 30, 52, 0, 0, 4, 4, 4), VOX_F32, .drop_block = -1, .rule = TOPK,
     .param = 63, .min_blocks = 4, .perf_only = 1},
    /* hunyuan-720p's video size (33 x 45 x 80 tokens: 2,160 video blocks per head, 24 heads), the same rules at
     * 10%: the op alone at the size where NVIDIA Vulkan's builds are 5-6x CUDA's (session 24), without the
     * bench's forwards */
    {"perf_hunyuan2160_cum", SHAPE(1, 24, 128, 33, 45, 80, 0, 0, 4, 4, 4), VOX_F32, .drop_block = -1, .rule = CUM,
     .param = 0.9, .min_blocks = 4, .perf_only = 1},
    {"perf_hunyuan2160_topk", SHAPE(1, 24, 128, 33, 45, 80, 0, 0, 4, 4, 4), VOX_F32, .drop_block = -1, .rule = TOPK,
     .param = 216, .min_blocks = 4, .perf_only = 1},
};

const op_entry op_kv_select = {
    VOX_OP_kv_select, cases, (int)(sizeof cases / sizeof cases[0]), {{0}}, 0,
    kv_select_inputs, kv_select_run, kv_select_compare,
};
