/* Planning on the reference: KV selection, query selection and head
 * classification on constructed inputs with known answers, invariants on
 * random inputs, and the evaluation helper. (Bad planning parameters are
 * covered in test_api.c.) */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "naive.h"
#include "plan.h"
#include "testutil.h"
#include "workload.h"

/* ---- KV selection, op level, on host arrays wrapped as cpu buffers ---- */

enum { NBV = 8, NBT = 9, KD = 8 };

typedef struct kv_fixture {
    vox_context *ctx;
    float qbar[NBT * KD], kbar[NBT * KD];
    int32_t start[NBT], count[NBT], cols[NBT * NBT], valid[NBT];
} kv_fixture;

/* A host array wrapped as a cpu buffer; the wrappers are destroyed at the end. */
typedef struct wraps {
    vox_context *ctx;
    vox_buffer *b[16];
    int n;
} wraps;

static vox_bref wr(wraps *w, const void *p, size_t bytes)
{
    assert_true(w->n < 16);
    vox_buffer **keep = &w->b[w->n++];
    assert_int_equal(vox_buffer_wrap(w->ctx, (uint64_t)(uintptr_t)p, bytes, keep), VOX_OK);
    return (vox_bref){(*keep)->impl, 0};
}

static void wraps_free(wraps *w)
{
    for (int i = 0; i < w->n; i++)
        vox_buffer_destroy(w->b[i]);
    w->n = 0;
}

/* Runs the reference's kv_select on host arrays: block means qbar, kbar
 * [BH][NB][D] over the geometry nd (one batch of BH heads); row r's blocks go
 * to count[r] and cols[start[r] ..] (start, count: [BH*NB]; cols: room for NB
 * per row). The rule and its parameters are rule's; its buffers are unused. */
static void run_kv_select(vox_context *ctx, const naive_dims *nd, const float *qbar, const float *kbar,
                          const vox_op_kv_select *rule, const int32_t *start, int32_t *count, int32_t *cols)
{
    const size_t rows = (size_t)(nd->BH * nd->NB), means = sizeof(float) * rows * (size_t)nd->D;
    wraps w = {.ctx = ctx};
    vox_op_dims d = {1, nd->BH, nd->D, nd->V * nd->NB, nd->NB, nd->NBv, nd->V, VOX_F32,
                     wr(&w, nd->valid, sizeof(int32_t) * (size_t)nd->NB), {0, 0, 0}, nd->valid};
    vox_op_kv_select op = *rule;
    op.qbar = wr(&w, qbar, means), op.kbar = wr(&w, kbar, means);
    op.kv_start = wr(&w, start, sizeof(int32_t) * rows), op.kv_count = wr(&w, count, sizeof(int32_t) * rows);
    op.kv_cols = wr(&w, cols, sizeof(int32_t) * rows * (size_t)nd->NB);
    assert_int_equal(ctx->be->kv_select(ctx->dev, &d, &op), VOX_OK);
    wraps_free(&w);
}

/* Runs kv_select for one (b,h) with block-mean vectors set so that query
 * block `qb` scores 10 against blocks 2, 5, 6 and 0 against the rest. */
static int32_t kv_select_known(kv_fixture *f, int qb, vox_kv_rule rule, double param, int min_blocks,
                               int32_t *out_cols)
{
    memset(f->qbar, 0, sizeof f->qbar), memset(f->kbar, 0, sizeof f->kbar);
    f->qbar[qb * KD] = 10.0f;
    f->kbar[2 * KD] = f->kbar[5 * KD] = f->kbar[6 * KD] = 1.0f;
    for (int j = 0; j < NBT; j++)
        f->valid[j] = 16, f->start[j] = j * NBT;
    naive_dims nd = {1, NBT, NBV, 16, KD, f->valid};
    vox_op_kv_select r = {.scale = 1.0, .rule = rule, .tau = param, .topk = (int)param, .z = param,
                          .min_blocks = min_blocks};
    run_kv_select(f->ctx, &nd, f->qbar, f->kbar, &r, f->start, f->count, f->cols);
    memcpy(out_cols, f->cols + qb * NBT, sizeof(int32_t) * (size_t)f->count[qb]);
    /* global query rows are dense */
    assert_int_equal(f->count[NBV], NBT);
    return f->count[qb];
}

static void expect_cols(const int32_t *got, int32_t n, const int32_t *want, int32_t m)
{
    if (n != m)
        fail_msg("selected %d blocks, expected %d", n, m);
    for (int i = 0; i < n; i++)
        assert_int_equal(got[i], want[i]);
}

static void test_kv_select_known(void **state)
{
    (void)state;
    kv_fixture f;
    memset(&f, 0, sizeof f);
    f.ctx = tu_context("cpu", NULL);
    int32_t cols[NBT], n;
    /* > tau of the mass in blocks 2,5,6: exactly those plus own (0) and global (8) */
    n = kv_select_known(&f, 0, VOX_KV_CUMULATIVE, 0.9, 0, cols);
    expect_cols(cols, n, (int32_t[]){0, 2, 5, 6, 8}, 5);
    /* tau 0.5: two blocks reach 2/3 of the mass; ties by lower index -> 2, 5 */
    n = kv_select_known(&f, 0, VOX_KV_CUMULATIVE, 0.5, 0, cols);
    expect_cols(cols, n, (int32_t[]){0, 2, 5, 8}, 4);
    /* TOPK 2 among the three tied blocks: lower indices */
    n = kv_select_known(&f, 3, VOX_KV_TOPK, 2, 0, cols);
    expect_cols(cols, n, (int32_t[]){2, 3, 5, 8}, 4);
    /* STAT z=1: threshold mean + std = 3.75 + 4.84 selects the three */
    n = kv_select_known(&f, 1, VOX_KV_STAT, 1.0, 0, cols);
    expect_cols(cols, n, (int32_t[]){1, 2, 5, 6, 8}, 5);
    /* STAT z=2 (threshold 13.4) selects nothing; kv_min_blocks 2 adds 2, 5 */
    n = kv_select_known(&f, 1, VOX_KV_STAT, 2.0, 2, cols);
    expect_cols(cols, n, (int32_t[]){1, 2, 5, 8}, 4);
    /* kv_min_blocks 4: 2,5,6 then the lowest-index zero-score block 0 */
    n = kv_select_known(&f, 1, VOX_KV_CUMULATIVE, 0.9, 4, cols);
    expect_cols(cols, n, (int32_t[]){0, 1, 2, 5, 6, 8}, 6);
    vox_context_destroy(f.ctx);
}

/* ---- Query selection on a hand-made window ---- */

static void test_query_select_known(void **state)
{
    (void)state;
    vox_context *ctx = tu_context("cpu", NULL);
    vox_plan_params p;
    vox_plan_defaults(&p);
    p.head_dim = 8, p.frames = 2, p.height = 2, p.width = 2;
    p.block_t = p.block_h = p.block_w = 2; /* one block of 8 = one (2,2,2) window */
    p.query_keep = 0.5;                    /* keep 4: the centre + 3 least similar */
    vox_plan *plan = NULL;
    assert_int_equal(vox_plan_create(ctx, &p, &plan), VOX_OK);
    /* token i: the centre is local (1,1,1) = token 7 = e0 */
    float q[8][8] = {{0}};
    q[0][1] = 1;                /* cos 0 */
    q[1][0] = -1;               /* cos -1 */
    q[2][0] = 1, q[2][1] = 1;   /* cos .707 */
    q[3][0] = 1, q[3][1] = .1f; /* cos .995 */
    q[4][2] = 1;                /* cos 0 (tie with token 0: lower index first) */
    q[5][0] = -1, q[5][1] = 1;  /* cos -.707 */
    q[6][0] = 1, q[6][1] = .5f; /* cos .894 */
    q[7][0] = 1;
    vox_tensor tq;
    assert_int_equal(tu_upload_tensor(ctx, VOX_F32, &q[0][0], 1, 1, 8, 8, 0, &tq), VOX_OK);
    assert_int_equal(vox_plan_build(plan, &tq, &tq, NULL), VOX_OK);
    int32_t rp[2], cols[1];
    int64_t nnz;
    int8_t keep[8];
    assert_int_equal(vox_plan_export_mask(plan, 0, rp, cols, 1, &nnz, keep), VOX_OK);
    const int8_t want[8] = {1, 1, 0, 0, 0, 1, 0, 1};
    assert_memory_equal(keep, want, 8);
    int32_t fill[8];
    assert_int_equal(ctx->be->buffer_read(ctx->dev, plan->fill_src.impl, 0, fill, sizeof fill), VOX_OK);
    /* 2 -> tie of tokens 0 and 7 (cos .707): lower slot 0; 3 -> 7; 4 -> all cos 0: slot 0; 6 -> 7 */
    const int32_t want_fill[8] = {0, 1, 0, 7, 0, 5, 7, 7};
    assert_memory_equal(fill, want_fill, sizeof fill);
    vox_plan_stats s;
    assert_int_equal(vox_plan_stats_get(plan, &s), VOX_OK);
    assert_true(fabs(s.kept_query_fraction - 0.5) < 1e-12);
    tu_free_tensor(&tq);
    vox_plan_destroy(plan);
    vox_context_destroy(ctx);
}

/* ---- Structured workloads: classification, invariants, query_keep = 1 ---- */

typedef struct io {
    vox_context *ctx;
    vox_workload w;
    int64_t N;
    vox_tensor q, k, v, o;
    float *hq, *hk, *hv;
    vox_plan_params p; /* what io_plan creates */
} io;

/* x->p: the parameters of mask mode `mode` for x's workload. */
static void io_params(io *x, vox_mask_mode mode)
{
    const int block[3] = {1, 4, 4};
    vox_workload_plan_params(&x->w, VOX_F32, mode, block, &x->p);
    x->p.svg_space_blocks = 0;
}

/* Inputs of workload w on a cpu context (structured: the workload's own
 * generator, else normal noise), and x->p the parameters of mask mode `mode`. */
static void io_init(io *x, const vox_workload *w, uint64_t seed, int structured, vox_mask_mode mode)
{
    memset(x, 0, sizeof *x);
    x->ctx = tu_context("cpu", NULL);
    x->w = *w;
    x->N = vox_workload_tokens(w);
    size_t n = (size_t)(w->batch * w->heads * x->N * w->head_dim);
    x->hq = malloc(sizeof(float) * n), x->hk = malloc(sizeof(float) * n), x->hv = malloc(sizeof(float) * n);
    if (structured) {
        assert_int_equal(vox_workload_generate(w, seed, 1.0, x->hq, x->hk, x->hv), 0);
    } else {
        tu_fill_normal(seed, 1.0, x->hq, n), tu_fill_normal(seed + 1, 1.0, x->hk, n);
        tu_fill_normal(seed + 2, 1.0, x->hv, n);
    }
    assert_int_equal(tu_upload_tensor(x->ctx, VOX_F32, x->hq, w->batch, w->heads, x->N, w->head_dim, 0, &x->q), 0);
    assert_int_equal(tu_upload_tensor(x->ctx, VOX_F32, x->hk, w->batch, w->heads, x->N, w->head_dim, 0, &x->k), 0);
    assert_int_equal(tu_upload_tensor(x->ctx, VOX_F32, x->hv, w->batch, w->heads, x->N, w->head_dim, 0, &x->v), 0);
    assert_int_equal(tu_poisoned_tensor(x->ctx, VOX_F32, w->batch, w->heads, x->N, w->head_dim, 0, &x->o), 0);
    io_params(x, mode);
}

static void io_free(io *x)
{
    tu_free_tensor(&x->q), tu_free_tensor(&x->k), tu_free_tensor(&x->v), tu_free_tensor(&x->o);
    free(x->hq), free(x->hk), free(x->hv);
    vox_context_destroy(x->ctx);
}

/* A plan of parameters x->p created and built on x's inputs (v given to SVG
 * only, the one mode that reads it). */
static vox_plan *io_plan(io *x)
{
    vox_plan *plan = NULL;
    assert_int_equal(vox_plan_create(x->ctx, &x->p, &plan), VOX_OK);
    assert_int_equal(vox_plan_build(plan, &x->q, &x->k, x->p.mask_mode == VOX_MASK_SVG ? &x->v : NULL), VOX_OK);
    return plan;
}

static void test_classification(void **state)
{
    (void)state;
    /* heads alternate purely spatial / purely temporal by construction */
    io x;
    io_init(&x, &(const vox_workload){"t", 2, 4, 32, 4, 8, 8, 8, 0}, 5, 1, VOX_MASK_SVG);
    vox_plan *plan = io_plan(&x);
    vox_head_class cls[8];
    double es[8], et[8];
    assert_int_equal(vox_plan_head_classes(plan, cls, es, et), VOX_OK);
    for (int m = 0; m < 8; m++) {
        vox_head_class want = (m % 4) % 2 ? VOX_HEAD_TEMPORAL : VOX_HEAD_SPATIAL;
        if (cls[m] != want)
            fail_msg("head %d: class %d (err_s %.3f err_t %.3f), expected %d", m, cls[m], es[m], et[m], want);
    }
    vox_plan_stats s;
    assert_int_equal(vox_plan_stats_get(plan, &s), VOX_OK);
    assert_int_equal(s.n_spatial, 4);
    assert_int_equal(s.n_temporal, 4);
    assert_true(s.density < 0.5);
    vox_plan_destroy(plan);
    /* svg_dense_above below every error forces dense heads */
    x.p.svg_dense_above = 0.0;
    plan = io_plan(&x);
    assert_int_equal(vox_plan_stats_get(plan, &s), VOX_OK);
    assert_int_equal(s.n_dense, 8);
    assert_true(fabs(s.density - 1.0) < 1e-12);
    vox_plan_destroy(plan);
    io_free(&x);
}

static void test_kv_invariants(void **state)
{
    (void)state;
    io x;
    io_init(&x, &(const vox_workload){"r", 1, 3, 16, 4, 8, 12, 20, 1}, 11, 0, VOX_MASK_BSA);
    const vox_workload w = x.w;
    double taus[] = {0.95, 0.8, 0.6, 0.3}, last_density = 2.0;
    for (int ti = 0; ti < 4; ti++) {
        x.p.kv_tau = taus[ti];
        x.p.kv_min_blocks = 3;
        vox_plan *plan = io_plan(&x);
        const vox_layout *L = &plan->L;
        int64_t NB = L->n_blocks, NBv = L->n_video_blocks, D = w.head_dim;
        float *qbar = malloc(plan->qbar.bytes), *kbar = malloc(plan->kbar.bytes);
        x.ctx->be->buffer_read(x.ctx->dev, plan->qbar.impl, 0, qbar, plan->qbar.bytes);
        x.ctx->be->buffer_read(x.ctx->dev, plan->kbar.impl, 0, kbar, plan->kbar.bytes);
        int32_t *rp = malloc(sizeof(int32_t) * (size_t)(NB + 1)), *cols = malloc(sizeof(int32_t) * (size_t)(NB * NB));
        double *pr = malloc(sizeof(double) * (size_t)NBv);
        for (int64_t m = 0; m < w.heads; m++) {
            int64_t nnz;
            assert_int_equal(vox_plan_export_mask(plan, m, rp, cols, NB * NB, &nnz, NULL), VOX_OK);
            for (int64_t i = 0; i < NB; i++) {
                int has_own = 0, globals = 0;
                for (int32_t c = rp[i]; c < rp[i + 1]; c++) {
                    if (c > rp[i])
                        assert_true(cols[c] > cols[c - 1]); /* sorted, unique */
                    has_own |= cols[c] == i;
                    globals += cols[c] >= NBv;
                }
                assert_true(has_own);
                assert_int_equal(globals, NB - NBv);
                if (i >= NBv) {
                    assert_int_equal(rp[i + 1] - rp[i], NB);
                    continue;
                }
                assert_true(rp[i + 1] - rp[i] - (NB - NBv) >= 3);
                double mx = -INFINITY, z = 0, mass = 0;
                for (int64_t j = 0; j < NBv; j++) {
                    double s = 0;
                    for (int64_t e = 0; e < D; e++)
                        s += (double)qbar[(m * NB + i) * D + e] * kbar[(m * NB + j) * D + e];
                    pr[j] = s * plan->scale;
                    mx = pr[j] > mx ? pr[j] : mx;
                }
                for (int64_t j = 0; j < NBv; j++)
                    z += (pr[j] = exp(pr[j] - mx));
                for (int32_t c = rp[i]; c < rp[i + 1]; c++)
                    if (cols[c] < NBv)
                        mass += pr[cols[c]] / z;
                if (mass < taus[ti] - 1e-12)
                    fail_msg("tau %.2f: head %lld block %lld selected mass %.4f", taus[ti], (long long)m,
                             (long long)i, mass);
            }
        }
        vox_plan_stats s;
        assert_int_equal(vox_plan_stats_get(plan, &s), VOX_OK);
        assert_true(s.density <= last_density);
        last_density = s.density;
        free(qbar), free(kbar), free(rp), free(cols), free(pr);
        vox_plan_destroy(plan);
    }
    assert_true(last_density < 0.9);
    io_free(&x);
}

/* kv_max_blocks through the public API: CUMULATIVE and STAT plans with a cap
 * own exactly BH x NBv x (NBv - room) fewer columns than without one (room:
 * max(cap, min_blocks) + 1 own block for CUMULATIVE, cap + min_blocks + 1 for
 * STAT, plus the globals), and every video row lists at most its room. */
static void test_kv_cap_memory(void **state)
{
    (void)state;
    io x;
    io_init(&x, &(const vox_workload){"c", 1, 3, 16, 4, 8, 12, 20, 1}, 12, 0, VOX_MASK_BSA);
    x.p.kv_min_blocks = 2;
    const vox_kv_rule rules[] = {VOX_KV_CUMULATIVE, VOX_KV_STAT};
    for (int ri = 0; ri < 2; ri++) {
        x.p.kv_rule = rules[ri], x.p.kv_tau = 0.99, x.p.kv_z = -1.0, x.p.kv_max_blocks = 0;
        vox_plan *open = io_plan(&x);
        x.p.kv_max_blocks = 5;
        vox_plan *capped = io_plan(&x);
        const vox_layout *L = &capped->L;
        int64_t NB = L->n_blocks, NBv = L->n_video_blocks, BH = x.w.batch * x.w.heads;
        int64_t picks = rules[ri] == VOX_KV_STAT ? 5 + 2 : 5, room = picks + 1;
        vox_plan_stats so, sc;
        assert_int_equal(vox_plan_stats_get(open, &so), VOX_OK);
        assert_int_equal(vox_plan_stats_get(capped, &sc), VOX_OK);
        assert_int_equal(so.device_bytes - sc.device_bytes, (int64_t)sizeof(int32_t) * BH * NBv * (NBv - room));
        assert_true(sc.density < so.density);
        int32_t *rp = malloc(sizeof(int32_t) * (size_t)(NB + 1)), *cols = malloc(sizeof(int32_t) * (size_t)(NB * NB));
        int64_t longest = 0;
        for (int64_t m = 0; m < BH; m++) {
            int64_t nnz;
            assert_int_equal(vox_plan_export_mask(capped, m, rp, cols, NB * NB, &nnz, NULL), VOX_OK);
            for (int64_t i = 0; i < NBv; i++) {
                int64_t video = rp[i + 1] - rp[i] - (NB - NBv);
                assert_true(video <= room);
                longest = video > longest ? video : longest;
            }
        }
        assert_true(longest >= 5); /* the cap binds somewhere */
        free(rp), free(cols);
        vox_plan_destroy(open), vox_plan_destroy(capped);
    }
    io_free(&x);
}

/* query_keep = 1: nothing pruned, and BSA's forward equals the foundation's
 * attention under the same (exported) mask given as CUSTOM. */
static void test_keep_one_equals_foundation(void **state)
{
    (void)state;
    io x;
    io_init(&x, &(const vox_workload){"k", 1, 2, 16, 4, 8, 8, 8, 0}, 21, 1, VOX_MASK_BSA);
    vox_plan *bsa = io_plan(&x), *custom = NULL;
    assert_int_equal(vox_attention_forward(bsa, &x.q, &x.k, &x.v, &x.o, NULL), VOX_OK);
    double *a = tu_read_tensor(&x.o);
    vox_plan_stats s;
    vox_plan_stats_get(bsa, &s);
    int64_t NB = s.n_blocks, S = NB * s.block_volume;
    int32_t *rp = malloc(sizeof(int32_t) * (size_t)(2 * NB + 1)), *cols = malloc(sizeof(int32_t) * (size_t)(2 * NB * NB));
    int8_t *keep = malloc((size_t)S);
    int64_t off = 0;
    rp[0] = 0;
    for (int m = 0; m < 2; m++) {
        int64_t nnz;
        assert_int_equal(vox_plan_export_mask(bsa, m, rp + m * NB, cols + off, 2 * NB * NB - off, &nnz, keep), 0);
        for (int64_t i = 0; i <= NB; i++)
            rp[m * NB + i] += (int32_t)off;
        off += nnz;
        for (int64_t sl = 0; sl < S; sl++)
            assert_true(keep[sl] != 0); /* nothing pruned */
    }
    assert_true(fabs(s.kept_query_fraction - 1.0) < 1e-12);
    x.p.mask_mode = VOX_MASK_CUSTOM;
    x.p.custom_masks = 2;
    x.p.custom_row_ptr = rp;
    x.p.custom_kv_block = cols;
    assert_int_equal(vox_plan_create(x.ctx, &x.p, &custom), VOX_OK);
    vox_tensor o2;
    assert_int_equal(tu_poisoned_tensor(x.ctx, VOX_F32, 1, 2, x.N, 16, 0, &o2), VOX_OK);
    assert_int_equal(vox_attention_forward(custom, &x.q, &x.k, &x.v, &o2, NULL), VOX_OK);
    double *b = tu_read_tensor(&o2);
    assert_memory_equal(a, b, sizeof(double) * (size_t)(2 * x.N * 16));
    free(a), free(b), free(rp), free(cols), free(keep);
    tu_free_tensor(&o2);
    vox_plan_destroy(bsa), vox_plan_destroy(custom);
    io_free(&x);
}

static void test_evaluate(void **state)
{
    (void)state;
    io x;
    io_init(&x, &(const vox_workload){"e", 1, 2, 16, 4, 8, 8, 8, 0}, 31, 1, VOX_MASK_DENSE);
    vox_plan *plan = io_plan(&x);
    assert_int_equal(vox_attention_forward(plan, &x.q, &x.k, &x.v, &x.o, NULL), VOX_OK);
    vox_eval_result ev;
    assert_int_equal(vox_plan_evaluate(plan, &x.q, &x.k, &x.v, &x.o, 16, &ev), VOX_OK);
    assert_true(fabs(ev.recall - 1.0) < 1e-12);
    assert_true(ev.rel_error < 1e-12);
    assert_int_equal(ev.rows, 32);
    vox_plan_destroy(plan);
    /* a sparse plan captures less mass and has a nonzero error */
    io_params(&x, VOX_MASK_BSA);
    x.p.kv_tau = 0.5, x.p.kv_min_blocks = 1;
    plan = io_plan(&x);
    assert_int_equal(vox_attention_forward(plan, &x.q, &x.k, &x.v, &x.o, NULL), VOX_OK);
    assert_int_equal(vox_plan_evaluate(plan, &x.q, &x.k, &x.v, &x.o, 16, &ev), VOX_OK);
    assert_true(ev.recall > 0.3 && ev.recall < 1.0);
    assert_true(ev.rel_error > 0 && ev.rel_error < 1.0);
    vox_plan_destroy(plan);
    io_free(&x);
}

/* ---- KV and query selection against the naive recomputation (naive.c) ---- */

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

enum { KV_BH = 2, KV_NB = 11, KV_NBV = 9, KV_D = 8 };

/* Runs the reference's kv_select on qbar/kbar and compares every row with
 * naive_kv_select exactly (selected blocks and count). */
static void kv_compare(vox_context *ctx, const float *qbar, const float *kbar, const vox_op_kv_select *r,
                       const char *what)
{
    int32_t valid[KV_NB], start[KV_BH * KV_NB], count[KV_BH * KV_NB], cols[KV_BH * KV_NB * KV_NB];
    for (int j = 0; j < KV_NB; j++)
        valid[j] = 16;
    for (int m = 0; m < KV_BH * KV_NB; m++)
        start[m] = m * KV_NB, count[m] = -7;
    memset(cols, 0xff, sizeof cols);
    float qb[KV_BH * KV_NB * KV_D], kb[KV_BH * KV_NB * KV_D]; /* the reference runs on copies */
    memcpy(qb, qbar, sizeof qb), memcpy(kb, kbar, sizeof kb);
    naive_dims nd = {KV_BH, KV_NB, KV_NBV, 16, KV_D, valid};
    run_kv_select(ctx, &nd, qb, kb, r, start, count, cols);
    unsigned char want[KV_BH * KV_NB * KV_NB];
    naive_kv_select(&nd, qbar, kbar, r, want);
    for (int m = 0; m < KV_BH * KV_NB; m++) {
        int32_t n = 0;
        for (int j = 0; j < KV_NB; j++)
            if (want[m * KV_NB + j]) {
                if (n >= count[m] || cols[start[m] + n] != j)
                    fail_msg("kv_select %s (rule %d tau %g topk %d z %g min %d max %d): row %d: reference selects "
                             "%d blocks, naive wants block %d at position %d",
                             what, (int)r->rule, r->tau, r->topk, r->z, r->min_blocks, r->max_blocks, m, count[m], j,
                             n);
                n++;
            }
        if (n != count[m])
            fail_msg("kv_select %s: row %d: reference %d blocks, naive %d", what, m, count[m], n);
    }
}

/* Every rule and parameter over one pair of block-mean tables. */
static void kv_compare_rules(vox_context *ctx, const float *qbar, const float *kbar, const char *what)
{
    const double taus[] = {0.9, 0.5, 1.0, 1e-6, 0.999999};
    const int topks[] = {1, 3, 9, 20};
    const double zs[] = {0.0, 1.0, -1.0, 2.5};
    const int mins[] = {0, 2, 4, 20};
    const double scales[] = {1.0, 0.35355339059327373, 7.0};
    const int caps[] = {0, 1, 3, 8, 40}; /* kv_max_blocks: none, binding, at and above NBv */
    for (int sc = 0; sc < 3; sc++)
        for (int mi = 0; mi < 4; mi++)
            for (int ci = 0; ci < 5; ci++) {
            vox_op_kv_select r = {.scale = scales[sc], .rule = VOX_KV_CUMULATIVE, .tau = 0.9, .topk = 1, .z = 0.0,
                                  .min_blocks = mins[mi], .max_blocks = caps[ci]};
            for (int i = 0; i < 5; i++)
                r.rule = VOX_KV_CUMULATIVE, r.tau = taus[i], kv_compare(ctx, qbar, kbar, &r, what);
            for (int i = 0; i < 4; i++)
                r.rule = VOX_KV_TOPK, r.topk = topks[i], kv_compare(ctx, qbar, kbar, &r, what);
            for (int i = 0; i < 4; i++)
                r.rule = VOX_KV_STAT, r.z = zs[i], kv_compare(ctx, qbar, kbar, &r, what);
        }
}

static void test_kv_select_vs_naive(void **state)
{
    (void)state;
    vox_context *ctx = tu_context("cpu", NULL);
    assert_non_null(ctx);
    enum { n = KV_BH * KV_NB * KV_D };
    float qbar[n], kbar[n];
    for (uint64_t seed = 1; seed <= 6; seed++) { /* random means */
        tu_fill_normal(100 + seed, 1.0 + (double)seed, qbar, n);
        tu_fill_normal(200 + seed, 1.0, kbar, n);
        kv_compare_rules(ctx, qbar, kbar, "random");
    }
    /* ties: key blocks 1, 4, 7 identical, 2 and 3 identical, 5 zero; query
     * rows of head 1 all zero (every score 0: the whole order is a tie) */
    tu_fill_normal(301, 1.0, qbar, n), tu_fill_normal(302, 1.0, kbar, n);
    for (int bh = 0; bh < KV_BH; bh++) {
        float *kb = kbar + bh * KV_NB * KV_D;
        memcpy(kb + 4 * KV_D, kb + 1 * KV_D, sizeof(float) * KV_D);
        memcpy(kb + 7 * KV_D, kb + 1 * KV_D, sizeof(float) * KV_D);
        memcpy(kb + 3 * KV_D, kb + 2 * KV_D, sizeof(float) * KV_D);
        memset(kb + 5 * KV_D, 0, sizeof(float) * KV_D);
    }
    memset(qbar + KV_NB * KV_D, 0, sizeof(float) * KV_NB * KV_D);
    kv_compare_rules(ctx, qbar, kbar, "ties");
    /* a NaN key mean (head 0, block 6) and a NaN query mean (head 1, block 2),
     * an Inf query mean (head 1, block 5): NaN p ranks last */
    kbar[6 * KV_D + 3] = NAN;
    qbar[(KV_NB + 2) * KV_D + 1] = NAN;
    qbar[(KV_NB + 5) * KV_D] = INFINITY;
    kv_compare_rules(ctx, qbar, kbar, "nan_inf");
    vox_context_destroy(ctx);
}

enum { QS_BH = 2, QS_NBV = 6, QS_NB = 7, QS_V = 16, QS_D = 8, QS_S = QS_NB * QS_V };

/* q poisoning for a query-selection case. */
enum { QS_RANDOM, QS_TIES, QS_INF, QS_NAN };

/* A random query-selection case: ragged valid counts, every video block's
 * valid slots cut into windows of 1..6 tokens with a random centre and keep
 * count; the reference's keep flags and fill sources against the naive ones. */
static void qs_case(vox_context *ctx, uint64_t seed, int kind)
{
    uint64_t rs = seed * 7919 + 17;
    int32_t valid[QS_NB], win_ptr[QS_NBV + 1];
    naive_window win[QS_NBV * QS_V];
    int32_t win4[QS_NBV * QS_V * 4];
    int nw = 0;
    for (int j = 0; j < QS_NB; j++) {
        valid[j] = 1 + (int32_t)(rng_next(&rs) % QS_V);
        if (rng_next(&rs) % 3 == 0)
            valid[j] = QS_V;
    }
    for (int j = 0; j < QS_NBV; j++) {
        win_ptr[j] = nw;
        for (int32_t at = 0; at < valid[j];) {
            int32_t len = 1 + (int32_t)(rng_next(&rs) % 6);
            if (len > valid[j] - at)
                len = valid[j] - at;
            naive_window *W = &win[nw];
            W->first = j * QS_V + at, W->len = len;
            W->centre = W->first + (int32_t)(rng_next(&rs) % (uint64_t)len);
            W->keep = 1 + (int32_t)(rng_next(&rs) % (uint64_t)len);
            win4[4 * nw] = W->first, win4[4 * nw + 1] = len, win4[4 * nw + 2] = W->centre, win4[4 * nw + 3] = W->keep;
            nw++, at += len;
        }
    }
    win_ptr[QS_NBV] = nw;
    static float q[QS_BH * QS_S * QS_D];
    tu_fill_normal(seed, 1.0, q, sizeof q / sizeof q[0]);
    for (int bh = 0; bh < QS_BH; bh++)
        for (int w = 0; w < nw; w++) {
            float *qw = q + ((int64_t)bh * QS_S + win[w].first) * QS_D;
            int32_t len = win[w].len, c = win[w].centre - win[w].first;
            for (int32_t t = 0; t < len; t++) {
                uint64_t u = rng_next(&rs) % 8;
                if (kind == QS_TIES && t > 0 && u < 3) /* a copy of an earlier token: equal cosines */
                    memcpy(qw + t * QS_D, qw + (int64_t)(rng_next(&rs) % (uint64_t)t) * QS_D, sizeof(float) * QS_D);
                else if (kind == QS_TIES && u == 3) /* a zero query: cosine 0 */
                    memset(qw + t * QS_D, 0, sizeof(float) * QS_D);
                else if (kind == QS_TIES && u == 4) /* a scaled copy of the centre: cosine 1 */
                    for (int e = 0; e < QS_D; e++)
                        qw[t * QS_D + e] = 2.0f * qw[c * QS_D + e];
                else if ((kind == QS_INF || kind == QS_NAN) && u < 2)
                    qw[t * QS_D + (int)(rng_next(&rs) % QS_D)] =
                        kind == QS_NAN ? NAN : (rng_next(&rs) & 1) ? INFINITY : -INFINITY;
            }
            if ((kind == QS_INF || kind == QS_NAN) && w % 3 == 0) /* a poisoned centre: no comparable cosine */
                qw[c * QS_D] = kind == QS_NAN ? NAN : INFINITY;
        }
    static int32_t kept_count[QS_BH * QS_NB], kept_rows[QS_BH * QS_NB * QS_V], fill[QS_BH * QS_S];
    memset(kept_count, 0xff, sizeof kept_count), memset(kept_rows, 0xff, sizeof kept_rows);
    memset(fill, 0xff, sizeof fill);
    wraps w = {.ctx = ctx};
    vox_op_dims d = {1, QS_BH, QS_D, 0, QS_NB, QS_NBV, QS_V, VOX_F32, wr(&w, valid, sizeof valid), {0, 0, 0}, valid};
    vox_op_query_select op = {wr(&w, q, sizeof q), wr(&w, win_ptr, sizeof win_ptr), wr(&w, win4, sizeof win4),
                              wr(&w, kept_count, sizeof kept_count), wr(&w, kept_rows, sizeof kept_rows),
                              wr(&w, fill, sizeof fill), {{NULL, 0}, VOX_F32, 0, 0, 0}, {NULL, 0}, {NULL, 0}, NULL};
    assert_int_equal(ctx->be->query_select(ctx->dev, &d, &op), VOX_OK);
    wraps_free(&w);
    naive_dims nd = {QS_BH, QS_NB, QS_NBV, QS_V, QS_D, valid};
    static int8_t want_keep[QS_BH * QS_S];
    static int32_t want_fill[QS_BH * QS_S];
    naive_query_select(&nd, q, win_ptr, win, want_keep, want_fill);
    for (int bh = 0; bh < QS_BH; bh++)
        for (int j = 0; j < QS_NB; j++) {
            int m = bh * QS_NB + j;
            int8_t got[QS_V];
            for (int r = 0; r < QS_V; r++)
                got[r] = r < valid[j] ? 0 : -1;
            assert_true(kept_count[m] >= 0 && kept_count[m] <= valid[j]);
            for (int r = 0; r < kept_count[m]; r++) {
                int32_t slot = kept_rows[m * QS_V + r];
                assert_true(slot >= 0 && slot < valid[j]);
                if (r > 0 && slot <= kept_rows[m * QS_V + r - 1])
                    fail_msg("query_select case %llu/%d: kept rows of block %d not ascending", (unsigned long long)seed,
                             kind, m);
                got[slot] = 1;
            }
            for (int r = 0; r < QS_V; r++) {
                int64_t s = (int64_t)bh * QS_S + j * QS_V + r;
                if (got[r] != want_keep[s])
                    fail_msg("query_select case %llu/%d: head %d slot %d: keep %d, naive %d", (unsigned long long)seed,
                             kind, bh, j * QS_V + r, got[r], want_keep[s]);
                if (fill[s] != want_fill[s])
                    fail_msg("query_select case %llu/%d: head %d slot %d: fill_src %d, naive %d",
                             (unsigned long long)seed, kind, bh, j * QS_V + r, fill[s], want_fill[s]);
            }
        }
}

/* Seeds base+1 .. base+12 of one kind of query-selection case. */
static void qs_cases(int kind, uint64_t base)
{
    vox_context *ctx = tu_context("cpu", NULL);
    assert_non_null(ctx);
    for (uint64_t seed = 1; seed <= 12; seed++)
        qs_case(ctx, base + seed, kind);
    vox_context_destroy(ctx);
}

static void test_query_select_vs_naive(void **state)
{
    (void)state;
    qs_cases(QS_RANDOM, 0), qs_cases(QS_TIES, 100), qs_cases(QS_INF, 200);
}

/* NaN queries: a NaN cosine ranks least similar (the NaN token is kept) and
 * is never a fill source (core/backend.h). */
static void test_query_select_nan_vs_naive(void **state)
{
    (void)state;
    qs_cases(QS_NAN, 300);
}

/* SVG's static patterns (core/plan.c), checked against DESIGN's definition
 * written out here: a KV block j is allowed to query block i when either is
 * global, when the first-frame sink is on and j is in frame-block 0, and
 * otherwise spatially when |t_j - t_i| <= svg_frame_blocks, temporally when
 * |y_j - y_i| and |x_j - x_i| <= svg_space_blocks. Every row of both patterns
 * and every transposed list (KV block -> query blocks), ascending, over
 * ragged grids, text before and after, narrow and wide patterns; a list of
 * all NB blocks must be the shared dense row [0,NB) at 0, and the column
 * array hold nothing else. */
static int svg_oracle(const vox_layout *L, const vox_plan_params *p, int64_t i, int64_t j, int temporal)
{
    if (i >= L->n_video_blocks || j >= L->n_video_blocks)
        return 1;
    const int32_t *ci = L->block_coord + 3 * i, *cj = L->block_coord + 3 * j;
    if (p->svg_first_frame_sink && cj[0] == 0)
        return 1;
    if (!temporal)
        return abs(cj[0] - ci[0]) <= p->svg_frame_blocks;
    return abs(cj[1] - ci[1]) <= p->svg_space_blocks && abs(cj[2] - ci[2]) <= p->svg_space_blocks;
}

static void test_svg_patterns(void **state)
{
    (void)state;
    vox_context *ctx = tu_context("cpu", NULL);
    assert_non_null(ctx);
    static const int shapes[][5] = {{9, 7, 10, 5, 0}, {8, 8, 8, 0, 0}, {5, 12, 6, 17, 1}, {1, 4, 4, 3, 1}};
    static const int widths[][2] = {{0, 0}, {0, 1}, {1, 1}, {2, 3}, {40, 40}};
    int lists = 0;
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
        for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++)
            for (int sink = 0; sink < 2; sink++) {
                vox_plan_params p;
                vox_plan_defaults(&p);
                p.heads = 1, p.head_dim = 8, p.frames = shapes[sh][0], p.height = shapes[sh][1];
                p.width = shapes[sh][2], p.text_tokens = shapes[sh][3];
                p.text_position = shapes[sh][4] ? VOX_TEXT_BEFORE : VOX_TEXT_AFTER;
                p.block_t = p.block_h = p.block_w = 2, p.mask_mode = VOX_MASK_SVG, p.svg_sample_rows = 4;
                p.svg_frame_blocks = widths[w][0], p.svg_space_blocks = widths[w][1], p.svg_first_frame_sink = sink;
                vox_plan *plan = NULL;
                assert_int_equal(vox_plan_create(ctx, &p, &plan), VOX_OK);
                const vox_layout *L = &plan->L;
                const int64_t NB = L->n_blocks;
                int64_t stored = NB;
                for (int64_t r = 0; r < 4 * NB; r++, lists++) {
                    int64_t a = r % NB, n = 0;
                    int temporal = (int)(r / NB % 2), transposed = r >= 2 * NB;
                    const int32_t *list = plan->h_cols + plan->h_svg_start[r];
                    for (int64_t b = 0; b < NB; b++) {
                        int64_t i = transposed ? b : a, j = transposed ? a : b;
                        if (!svg_oracle(L, &p, i, j, temporal))
                            continue;
                        if (n >= plan->h_svg_count[r] || list[n] != b)
                            fail_msg("shape %zu widths %zu sink %d: list %lld (pattern %d%s) entry %lld is %d, "
                                     "wants %lld", sh, w, sink, (long long)a, temporal, transposed ? ", transposed" : "",
                                     (long long)n, n < plan->h_svg_count[r] ? list[n] : -1, (long long)b);
                        n++;
                    }
                    assert_int_equal(n, plan->h_svg_count[r]);
                    if (n == NB)
                        assert_int_equal(plan->h_svg_start[r], 0); /* the dense row */
                    else
                        stored += n;
                }
                assert_int_equal(plan->h_cols_len, stored);
                vox_plan_destroy(plan);
            }
    assert_true(lists > 1000);
    vox_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv_select_known),   cmocka_unit_test(test_query_select_known),
        cmocka_unit_test(test_classification),    cmocka_unit_test(test_kv_invariants),
        cmocka_unit_test(test_kv_cap_memory),
        cmocka_unit_test(test_keep_one_equals_foundation), cmocka_unit_test(test_evaluate),
        cmocka_unit_test(test_kv_select_vs_naive), cmocka_unit_test(test_query_select_vs_naive),
        cmocka_unit_test(test_query_select_nan_vs_naive), cmocka_unit_test(test_svg_patterns),
    };
    return cmocka_run_group_tests_name("planning", tests, NULL, NULL);
}
