/* vox_attention_backward on the CPU reference.
 *
 * Finite differences: for every mask mode (DENSE, CUSTOM shared and per head
 * with an empty row, SVG, BSA cumulative and top-k), with text blocks before
 * and after the video, ragged grids and query_keep < 1, a plan is built and
 * run forward on f32 data (f32 values are exact doubles). With the plan's
 * masks held fixed (its exported CSR and keep flags, and the pruned rows'
 * sources), the loss L = sum(dout * out) of the forward recomputed here in
 * f64 is differentiated by central finite differences (4-point stencil, step
 * 1e-3, per-row differences so that unchanged rows cancel exactly) in every
 * element of q, k and v of every valid token, and compared with the gradient
 * of the reference's f64 core (vox_cpu_attention_backward_head, fed the f64
 * forward's O and LSE and the packed mask the core built): max |g - fd| /
 * max |g| per tensor must be <= 1e-8. The public entry's f32 gradients must
 * match the same f64 gradient (normalized error <= 1e-10, the forward's f32
 * limit), a pruned token's dq must be exactly 0, and this file's f64 forward
 * must match vox_attention_forward.
 *
 * Bad inputs: each returns its status with a log line and writes nothing;
 * a backend without the op still creates plans and returns UNSUPPORTED. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu_ops.h"
#include "plan.h"
#include "testutil.h"

/* ---- a context whose log the tests read --------------------------------- */

static char g_last[512];
static int g_errors;

static void capture(void *user, vox_log_level level, const char *msg)
{
    (void)user;
    if (level == VOX_LOG_ERROR) {
        g_errors++;
        snprintf(g_last, sizeof g_last, "%s", msg);
    }
}

static vox_context *cpu(void)
{
    vox_context_params p;
    tu_context_params(&p, "cpu", NULL);
    p.log = capture;
    vox_context *ctx = NULL;
    return vox_context_create(&p, &ctx) == VOX_OK ? ctx : NULL;
}

static vox_tensor upload(vox_context *ctx, const float *x, vox_dtype dt, int64_t B, int64_t H, int64_t N,
                         int64_t D)
{
    vox_buffer *b = NULL;
    size_t n = (size_t)(B * H * N * D), bytes = n * vox_dtype_size(dt);
    assert_int_equal(vox_buffer_create(ctx, bytes, &b), VOX_OK);
    unsigned char *h = malloc(bytes);
    if (x)
        vox_convert(dt, h, VOX_F32, x, n);
    else
        memset(h, 0xff, bytes);
    assert_int_equal(vox_buffer_write(b, 0, h, bytes), VOX_OK);
    free(h);
    return vox_tensor_bhnd(b, dt, B, H, N, D);
}

static double *read_f64(const vox_tensor *t)
{
    size_t n = (size_t)(t->batch * t->heads * t->tokens * t->head_dim), es = vox_dtype_size(t->dtype);
    unsigned char *raw = malloc(vox_buffer_size(t->buffer));
    assert_int_equal(vox_buffer_read(t->buffer, 0, raw, vox_buffer_size(t->buffer)), VOX_OK);
    double *x = malloc(sizeof(double) * n);
    for (int64_t b = 0; b < t->batch; b++)
        for (int64_t h = 0; h < t->heads; h++)
            for (int64_t s = 0; s < t->tokens; s++)
                for (int64_t e = 0; e < t->head_dim; e++) {
                    float f;
                    size_t at = t->offset + (size_t)(b * t->stride_batch + h * t->stride_head + s * t->stride_token + e) * es;
                    vox_convert(VOX_F32, &f, t->dtype, raw + at, 1);
                    x[((b * t->heads + h) * t->tokens + s) * t->head_dim + e] = f;
                }
    free(raw);
    return x;
}

/* ---- the f64 forward with the plan's masks fixed ------------------------ */

typedef struct fd_head {
    int64_t NB, V, S, D;
    double scale;
    const int32_t *valid;
    int32_t *row_ptr, *cols; /* the exported CSR of this head */
    int8_t *keep;            /* exported flags: 1 kept, 0 pruned, -1 padding */
    double *q, *k, *v;       /* [S][D] block layout */
    double *g;               /* dO summed into source rows [S][D] */
} fd_head;

/* O and LSE of computed row r; returns its contribution g[r].O[r]. */
static double row_forward(const fd_head *f, int64_t r, double *o, double *lse)
{
    int64_t i = r / f->V, D = f->D;
    double mx = -INFINITY, z = 0;
    for (int e = 0; e < D; e++)
        o[e] = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int32_t c = f->row_ptr[i]; c < f->row_ptr[i + 1]; c++)
            for (int64_t ks = f->cols[c] * f->V; ks < f->cols[c] * f->V + f->valid[f->cols[c]]; ks++) {
                double dot = 0;
                for (int64_t e = 0; e < D; e++)
                    dot += f->q[r * D + e] * f->k[ks * D + e];
                dot *= f->scale;
                if (!pass) {
                    mx = dot > mx ? dot : mx;
                    continue;
                }
                double w = exp(dot - mx);
                z += w;
                for (int64_t e = 0; e < D; e++)
                    o[e] += w * f->v[ks * D + e];
            }
    double c = 0;
    for (int64_t e = 0; e < D; e++) {
        o[e] = z > 0 ? o[e] / z : 0;
        c += f->g[r * D + e] * o[e];
    }
    *lse = z > 0 ? mx + log(z) : -INFINITY;
    return c;
}

/* Sum over computed rows of (contribution now - contribution in base[]). */
static double loss_delta(const fd_head *f, const double *base, double *o)
{
    double d = 0, lse;
    for (int64_t r = 0; r < f->S; r++)
        if (f->keep[r] == 1)
            d += row_forward(f, r, o, &lse) - base[r];
    return d;
}

/* ---- the finite-difference cases ----------------------------------------- */

typedef struct bw_case {
    const char *name;
    vox_mask_mode mode;
    int64_t B, F, Y, X, text;
    int before;
    double keep;
    vox_kv_rule rule;
    int custom_per_head;
} bw_case;

static void case_params(const bw_case *c, vox_plan_params *p, int32_t **row_ptr, int32_t **cols)
{
    vox_plan_defaults(p);
    p->batch = c->B, p->heads = 2, p->head_dim = 8;
    p->frames = c->F, p->height = c->Y, p->width = c->X, p->text_tokens = c->text;
    p->text_position = c->before ? VOX_TEXT_BEFORE : VOX_TEXT_AFTER;
    p->block_t = p->block_h = p->block_w = 2;
    p->mask_mode = c->mode;
    p->query_keep = c->keep;
    p->svg_sample_rows = 16, p->svg_first_frame_sink = 1;
    p->kv_rule = c->rule, p->kv_topk = 2, p->kv_min_blocks = 2, p->kv_tau = 0.6;
    *row_ptr = *cols = NULL;
    if (c->mode == VOX_MASK_CUSTOM) { /* random rows with their own block; row 1 of mask 0 empty */
        int64_t NB = ((c->F + 1) / 2) * ((c->Y + 1) / 2) * ((c->X + 1) / 2) + (c->text + 7) / 8;
        int64_t masks = c->custom_per_head ? c->B * 2 : 1, n = 0;
        *row_ptr = malloc(sizeof(int32_t) * (size_t)(masks * NB + 1));
        *cols = malloc(sizeof(int32_t) * (size_t)(masks * NB * NB));
        uint64_t x = 12345;
        (*row_ptr)[0] = 0;
        for (int64_t r = 0; r < masks * NB; r++) {
            for (int64_t j = 0; j < NB && r != 1; j++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                if (j == r % NB || (x >> 33) % 3 == 0)
                    (*cols)[n++] = (int32_t)j;
            }
            (*row_ptr)[r + 1] = (int32_t)n;
        }
        p->custom_masks = masks, p->custom_row_ptr = *row_ptr, p->custom_kv_block = *cols;
    }
}

static double max_abs(const double *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

static void run_fd_case(const bw_case *c)
{
    vox_context *ctx = cpu();
    assert_non_null(ctx);
    vox_plan_params p;
    int32_t *crp, *ccols;
    case_params(c, &p, &crp, &ccols);
    vox_plan *plan = NULL;
    assert_int_equal(vox_plan_create(ctx, &p, &plan), VOX_OK);
    const vox_layout *L = &plan->L;
    int64_t B = p.batch, H = p.heads, D = p.head_dim, N = L->n_tokens, BH = B * H;
    int64_t NB = L->n_blocks, V = L->V, S = L->n_slots;
    size_t n = (size_t)(BH * N * D);
    float *x[4];
    for (int i = 0; i < 4; i++) {
        x[i] = malloc(sizeof(float) * n);
        tu_fill_normal(100 + (uint64_t)i, 1.0, x[i], n);
    }
    vox_tensor q = upload(ctx, x[0], VOX_F32, B, H, N, D), k = upload(ctx, x[1], VOX_F32, B, H, N, D),
               v = upload(ctx, x[2], VOX_F32, B, H, N, D), dout = upload(ctx, x[3], VOX_F32, B, H, N, D);
    vox_tensor out = upload(ctx, NULL, VOX_F32, B, H, N, D), lse = upload(ctx, NULL, VOX_F32, B, H, N, 1);
    vox_tensor dq = upload(ctx, NULL, VOX_F32, B, H, N, D), dk = upload(ctx, NULL, VOX_F32, B, H, N, D),
               dv = upload(ctx, NULL, VOX_F32, B, H, N, D);
    assert_int_equal(vox_plan_build(plan, &q, &k, &v), VOX_OK);
    assert_int_equal(vox_attention_forward(plan, &q, &k, &v, &out, &lse), VOX_OK);
    assert_int_equal(vox_attention_backward(plan, &q, &k, &v, &out, &lse, &dout, &dq, &dk, &dv), VOX_OK);
    double *api[3] = {read_f64(&dq), read_f64(&dk), read_f64(&dv)}, *fwd_out = read_f64(&out);
    const int32_t *fill = p.query_keep < 1 ? vox_cpu_ptr((vox_bref){plan->fill_src.impl, 0}) : NULL;
    const int32_t *mask = vox_cpu_ptr((vox_bref){plan->bwd_mask.impl, 0});

    fd_head f = {NB, V, S, D, plan->scale, L->block_valid, malloc(sizeof(int32_t) * (size_t)(NB + 1)),
                 malloc(sizeof(int32_t) * (size_t)(NB * NB)), malloc((size_t)S), NULL, NULL, NULL, NULL};
    double *blk = calloc((size_t)(10 * S * D + 3 * S), sizeof(double));
    f.q = blk, f.k = blk + S * D, f.v = blk + 2 * S * D, f.g = blk + 3 * S * D;
    double *dob = blk + 4 * S * D, *o = blk + 5 * S * D, *grad[3] = {blk + 6 * S * D, blk + 7 * S * D, blk + 8 * S * D};
    double *work = blk + 9 * S * D, *lsev = blk + 10 * S * D + S, *base = blk + 10 * S * D + 2 * S;
    double fd_err[3] = {0, 0, 0}, api_num[3] = {0}, api_den[3] = {0}, fwd_num = 0, fwd_den = 0, row[256];
    for (int64_t bh = 0; bh < BH; bh++) {
        int64_t nnz;
        assert_int_equal(vox_plan_export_mask(plan, bh, f.row_ptr, f.cols, NB * NB, &nnz, f.keep), VOX_OK);
        memset(blk, 0, sizeof(double) * (size_t)(6 * S * D));
        for (int64_t s = 0; s < S; s++) { /* block layout of this head; dO into the sources */
            int32_t t = L->slot_token[s];
            if (t < 0)
                continue;
            int64_t src = fill ? fill[bh * S + s] : s;
            for (int64_t e = 0; e < D; e++) {
                size_t at = (size_t)((bh * N + t) * D + e);
                f.q[s * D + e] = x[0][at], f.k[s * D + e] = x[1][at], f.v[s * D + e] = x[2][at];
                dob[s * D + e] = x[3][at];
                f.g[src * D + e] += x[3][at];
            }
        }
        for (int64_t r = 0; r < S; r++)
            base[r] = f.keep[r] == 1 ? row_forward(&f, r, o + r * D, &lsev[r]) : 0;
        for (int64_t t = 0; t < N; t++) { /* this forward against the library's */
            int64_t r = fill ? fill[bh * S + L->token_slot[t]] : L->token_slot[t];
            for (int64_t e = 0; e < D; e++) {
                double a = fwd_out[(bh * N + t) * D + e], want = o[r * D + e];
                fwd_num += (a - want) * (a - want), fwd_den += want * want;
            }
        }
        vox_cpu_backward_head hd = {f.q, f.k, f.v, o, dob, lsev, fill ? fill + bh * S : NULL, mask, bh,
                                    plan->scale, grad[0], grad[1], grad[2], work};
        vox_cpu_attention_backward_head(&plan->dims, L->block_valid, &hd);
        double *xs[3] = {f.q, f.k, f.v}, gmax[3], dmax[3] = {0, 0, 0};
        for (int w = 0; w < 3; w++)
            gmax[w] = max_abs(grad[w], (size_t)(S * D));
        const double h = 1e-3;
        for (int64_t s = 0; s < S; s++) {
            if (f.keep[s] < 0)
                continue;
            for (int w = 0; w < 3; w++)
                for (int64_t e = 0; e < D; e++) {
                    double *at = &xs[w][s * D + e], x0 = *at, l[4];
                    const double steps[4] = {h, -h, 2 * h, -2 * h};
                    for (int i = 0; i < 4; i++) {
                        *at = x0 + steps[i];
                        l[i] = loss_delta(&f, base, row);
                    }
                    *at = x0;
                    double fd = (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12 * h), g = grad[w][s * D + e];
                    dmax[w] = fabs(g - fd) > dmax[w] ? fabs(g - fd) : dmax[w];
                    if (w == 0 && f.keep[s] == 0)
                        assert_true(g == 0.0); /* a pruned row's dq */
                }
            int32_t t = L->slot_token[s];
            for (int w = 0; w < 3; w++)
                for (int64_t e = 0; e < D; e++) { /* the public entry, in f32 */
                    double a = api[w][(bh * N + t) * D + e], r = grad[w][s * D + e];
                    api_num[w] += (a - r) * (a - r), api_den[w] += r * r;
                    if (w == 0 && f.keep[s] == 0)
                        assert_true(a == 0.0);
                }
        }
        for (int w = 0; w < 3; w++) {
            double e = gmax[w] > 0 ? dmax[w] / gmax[w] : dmax[w];
            fd_err[w] = e > fd_err[w] ? e : fd_err[w];
        }
    }
    double api_err[3], fwd_err = fwd_num / fwd_den;
    for (int w = 0; w < 3; w++)
        api_err[w] = api_den[w] > 0 ? api_num[w] / api_den[w] : api_num[w];
    printf("  %-30s fd max|g-fd|/max|g|: dq %.2e dk %.2e dv %.2e | api f32 norm-err: dq %.1e dk %.1e dv %.1e "
           "| forward %.1e\n",
           c->name, fd_err[0], fd_err[1], fd_err[2], api_err[0], api_err[1], api_err[2], fwd_err);
    for (int w = 0; w < 3; w++) {
        assert_true(fd_err[w] <= 1e-8);
        assert_true(api_err[w] <= 1e-10);
    }
    assert_true(fwd_err <= 1e-12);
    assert_int_equal(g_errors, 0);

    free(f.row_ptr), free(f.cols), free(f.keep), free(blk), free(fwd_out);
    for (int i = 0; i < 3; i++)
        free(api[i]);
    for (int i = 0; i < 4; i++)
        free(x[i]);
    vox_tensor *all[] = {&q, &k, &v, &dout, &out, &lse, &dq, &dk, &dv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        vox_buffer_destroy(all[i]->buffer);
    vox_plan_destroy(plan);
    vox_context_destroy(ctx);
    free(crp), free(ccols);
}

static const bw_case fd_cases[] = {
    {"dense_text_after", VOX_MASK_DENSE, 1, 3, 4, 5, 5, 0, 1.0, VOX_KV_CUMULATIVE, 0},
    {"dense_keep50_text_before", VOX_MASK_DENSE, 1, 3, 4, 5, 5, 1, 0.5, VOX_KV_CUMULATIVE, 0},
    {"custom_shared_empty_row", VOX_MASK_CUSTOM, 1, 3, 4, 4, 9, 0, 1.0, VOX_KV_CUMULATIVE, 0},
    {"custom_per_head_keep60_b2", VOX_MASK_CUSTOM, 2, 2, 4, 5, 3, 1, 0.6, VOX_KV_CUMULATIVE, 1},
    {"svg_sink_text", VOX_MASK_SVG, 1, 4, 4, 4, 5, 0, 1.0, VOX_KV_CUMULATIVE, 0},
    {"svg_keep50_text_before", VOX_MASK_SVG, 1, 4, 3, 5, 5, 1, 0.5, VOX_KV_CUMULATIVE, 0},
    {"bsa_cumulative_keep50_text", VOX_MASK_BSA, 1, 4, 4, 6, 6, 0, 0.5, VOX_KV_CUMULATIVE, 0},
    {"bsa_topk_keep75_ragged_b2", VOX_MASK_BSA, 2, 3, 5, 5, 4, 1, 0.75, VOX_KV_TOPK, 0},
    {"bsa_stat_no_text", VOX_MASK_BSA, 1, 4, 4, 4, 0, 0, 1.0, VOX_KV_STAT, 0},
};

static void test_finite_differences(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fd_cases / sizeof fd_cases[0]; i++)
        run_fd_case(&fd_cases[i]);
}

/* ---- bad inputs ----------------------------------------------------------- */

typedef struct bad_setup {
    vox_context *ctx;
    vox_plan *plan;
    vox_tensor t[9]; /* q k v out lse dout dq dk dv */
    int64_t B, H, N, D;
    const vox_backend *orig;
} bad_setup;

/* A small plan and its nine tensors (inputs random, outputs poisoned). With
 * `lacking`, the context runs on a copy of the cpu table without the op
 * `missing` (attention_backward or mask_transpose). */
static void bad_open(bad_setup *s, vox_mask_mode mode, vox_backend *lacking, vox_op missing)
{
    s->ctx = cpu();
    assert_non_null(s->ctx);
    s->orig = s->ctx->be;
    if (lacking) {
        *lacking = *s->orig;
        if (missing == VOX_OP_attention_backward)
            lacking->attention_backward = NULL;
        else
            lacking->mask_transpose = NULL;
        s->ctx->be = lacking;
    }
    vox_plan_params p;
    vox_plan_defaults(&p);
    p.heads = 2, p.head_dim = 8, p.frames = 2, p.height = 4, p.width = 4, p.text_tokens = 3;
    p.block_t = 1, p.block_h = 4, p.block_w = 4, p.mask_mode = mode, p.svg_sample_rows = 16;
    assert_int_equal(vox_plan_create(s->ctx, &p, &s->plan), VOX_OK);
    s->B = 1, s->H = 2, s->N = 35, s->D = 8;
    float *x = malloc(sizeof(float) * (size_t)(s->B * s->H * s->N * s->D));
    tu_fill_normal(7, 1.0, x, (size_t)(s->B * s->H * s->N * s->D));
    for (int i = 0; i < 9; i++)
        s->t[i] = upload(s->ctx, i < 6 && i != 4 ? x : NULL, VOX_F32, s->B, s->H, s->N, i == 4 ? 1 : s->D);
    free(x);
}

static void bad_close(bad_setup *s)
{
    for (int i = 0; i < 9; i++)
        vox_buffer_destroy(s->t[i].buffer);
    vox_plan_destroy(s->plan);
    s->ctx->be = s->orig;
    vox_context_destroy(s->ctx);
}

static vox_status bwd(bad_setup *s, const vox_tensor *t)
{
    return vox_attention_backward(s->plan, &t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &t[6], &t[7], &t[8]);
}

/* The call with tensor i replaced returns want with an error logged, and
 * writes nothing to dq, dk, dv (0xFF bytes stay). */
static void expect_bad(bad_setup *s, int i, vox_tensor repl, vox_status want, const char *what)
{
    vox_tensor t[9];
    memcpy(t, s->t, sizeof t);
    t[i] = repl;
    int before = g_errors;
    vox_status st = bwd(s, t);
    if (st != want)
        fail_msg("%s: status %s, want %s", what, vox_status_string(st), vox_status_string(want));
    assert_true(g_errors > before);
    for (int o = 6; o < 9; o++) {
        double *x = read_f64(&s->t[o]);
        for (int64_t e = 0; e < s->B * s->H * s->N * s->D; e++)
            if (!isnan(x[e]))
                fail_msg("%s: %s written", what, o == 6 ? "dq" : o == 7 ? "dk" : "dv");
        free(x);
    }
}

static void test_bad_inputs(void **state)
{
    (void)state;
    bad_setup s;
    bad_open(&s, VOX_MASK_DENSE, NULL, VOX_OP_COUNT);
    const vox_tensor *t = s.t;
    assert_int_equal(vox_attention_backward(NULL, &t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &t[6], &t[7], &t[8]),
                     VOX_ERR_INVALID_ARGUMENT);
    for (int i = 0; i < 9; i++) { /* each NULL */
        const vox_tensor *p[9];
        for (int j = 0; j < 9; j++)
            p[j] = &t[j];
        p[i] = NULL;
        int before = g_errors;
        assert_int_equal(vox_attention_backward(s.plan, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]),
                         VOX_ERR_INVALID_ARGUMENT);
        assert_true(g_errors > before);
    }
    vox_tensor x;
    x = t[6], x.dtype = VOX_F16;
    expect_bad(&s, 6, x, VOX_ERR_INVALID_ARGUMENT, "dq f16 in an f32 plan");
    x = t[4], x.dtype = VOX_BF16;
    expect_bad(&s, 4, x, VOX_ERR_INVALID_ARGUMENT, "lse not f32");
    x = vox_tensor_bhnd(t[4].buffer, VOX_F32, 1, 2, 34, 1);
    expect_bad(&s, 4, x, VOX_ERR_INVALID_ARGUMENT, "lse of another shape");
    x = vox_tensor_bhnd(t[6].buffer, VOX_F32, 1, 2, 35, 1);
    expect_bad(&s, 4, x, VOX_ERR_INVALID_ARGUMENT, "lse inside dq");
    x = t[7], x.heads = 1;
    expect_bad(&s, 7, x, VOX_ERR_INVALID_ARGUMENT, "dk shape");
    x = t[8], x.stride_token = 4;
    expect_bad(&s, 8, x, VOX_ERR_INVALID_ARGUMENT, "dv overlapping strides");
    x = t[6], x.offset = 4;
    expect_bad(&s, 6, x, VOX_ERR_BUFFER_TOO_SMALL, "dq past its buffer");
    x = t[6], x.offset = 2;
    expect_bad(&s, 6, x, VOX_ERR_INVALID_ARGUMENT, "dq misaligned");
    expect_bad(&s, 6, t[0], VOX_ERR_INVALID_ARGUMENT, "dq is q");
    expect_bad(&s, 7, t[3], VOX_ERR_INVALID_ARGUMENT, "dk is out");
    expect_bad(&s, 8, t[5], VOX_ERR_INVALID_ARGUMENT, "dv is dout");
    x = t[6];
    expect_bad(&s, 7, x, VOX_ERR_INVALID_ARGUMENT, "dk is dq");
    assert_non_null(strstr(g_last, "dq"));
    bad_close(&s);

    /* masks never built (a BSA plan): INVALID_STATE */
    bad_open(&s, VOX_MASK_BSA, NULL, VOX_OP_COUNT);
    int before = g_errors;
    assert_int_equal(bwd(&s, s.t), VOX_ERR_INVALID_STATE);
    assert_true(g_errors > before);
    bad_close(&s);
}

/* dq, dk, dv interleaved in one packed [B][N][3][H][D] buffer share no
 * element: accepted, and equal to separate outputs. Shifted by one head row,
 * they share elements: refused. */
static void test_packed_outputs(void **state)
{
    (void)state;
    bad_setup s;
    bad_open(&s, VOX_MASK_DENSE, NULL, VOX_OP_COUNT);
    vox_tensor *t = s.t;
    assert_int_equal(vox_attention_forward(s.plan, &t[0], &t[1], &t[2], &t[3], &t[4]), VOX_OK);
    assert_int_equal(bwd(&s, t), VOX_OK);
    vox_buffer *pk = NULL;
    size_t row = (size_t)(s.H * s.D), bytes = (size_t)(s.B * s.N) * 3 * row * 4;
    assert_int_equal(vox_buffer_create(s.ctx, bytes, &pk), VOX_OK);
    vox_tensor g[3];
    for (int i = 0; i < 3; i++) {
        g[i] = vox_tensor_bnhd(pk, VOX_F32, s.B, s.H, s.N, s.D);
        g[i].stride_batch = (int64_t)(s.N * 3 * (int64_t)row), g[i].stride_token = 3 * (int64_t)row;
        g[i].offset = (size_t)i * row * 4;
    }
    assert_int_equal(vox_attention_backward(s.plan, &t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &g[0], &g[1], &g[2]),
                     VOX_OK);
    for (int i = 0; i < 3; i++) {
        double *a = read_f64(&g[i]), *r = read_f64(&t[6 + i]);
        for (int64_t e = 0; e < s.B * s.H * s.N * s.D; e++)
            assert_true(a[e] == r[e]);
        free(a), free(r);
    }
    g[1].offset = (size_t)s.D * 4; /* dk's head 0 = dq's head 1 */
    int before = g_errors;
    assert_int_equal(vox_attention_backward(s.plan, &t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &g[0], &g[1], &g[2]),
                     VOX_ERR_INVALID_ARGUMENT);
    assert_true(g_errors > before);
    vox_buffer_destroy(pk);
    bad_close(&s);
}

/* On a cpu backend lacking `missing`, a `mode` plan is still created, built
 * and runs forward; its backward says UNSUPPORTED naming the op. */
static void expect_backward_refused(vox_mask_mode mode, vox_op missing)
{
    static vox_backend lacking;
    bad_setup s;
    bad_open(&s, mode, &lacking, missing);
    const vox_tensor *t = s.t;
    assert_int_equal(vox_plan_build(s.plan, &t[0], &t[1], &t[2]), VOX_OK);
    assert_int_equal(vox_attention_forward(s.plan, &t[0], &t[1], &t[2], &t[3], &t[4]), VOX_OK);
    char what[64];
    snprintf(what, sizeof what, "backend without %s", vox_op_name(missing));
    expect_bad(&s, 0, t[0], VOX_ERR_UNSUPPORTED, what);
    assert_non_null(strstr(g_last, vox_op_name(missing)));
    bad_close(&s);
}

/* A backend without the op: plans are still created, the forward runs, the
 * backward says UNSUPPORTED with a reason. */
static void test_backend_without_backward(void **state)
{
    (void)state;
    expect_backward_refused(VOX_MASK_DENSE, VOX_OP_attention_backward);
}

/* Without mask_transpose, BSA plans have no backward (their packed mask is
 * transposed on the device); DENSE and CUSTOM plans (built on the host) and
 * SVG plans (static transposes, picked by svg_classify) still do. */
static void test_backend_without_mask_transpose(void **state)
{
    (void)state;
    expect_backward_refused(VOX_MASK_BSA, VOX_OP_mask_transpose);
    static vox_backend lacking;
    bad_setup s;
    bad_open(&s, VOX_MASK_DENSE, &lacking, VOX_OP_mask_transpose);
    const vox_tensor *t = s.t;
    assert_int_equal(vox_attention_forward(s.plan, &t[0], &t[1], &t[2], &t[3], &t[4]), VOX_OK);
    assert_int_equal(bwd(&s, s.t), VOX_OK);
    bad_close(&s);
    bad_open(&s, VOX_MASK_SVG, &lacking, VOX_OP_mask_transpose);
    assert_int_equal(vox_plan_build(s.plan, &t[0], &t[1], &t[2]), VOX_OK);
    assert_int_equal(vox_attention_forward(s.plan, &t[0], &t[1], &t[2], &t[3], &t[4]), VOX_OK);
    assert_int_equal(bwd(&s, s.t), VOX_OK);
    bad_close(&s);
}

/* A plan of p (f32) through one build, forward and backward on normal
 * random inputs of N tokens. */
static vox_plan *plan_through_backward(vox_context *ctx, const vox_plan_params *p, int64_t N, uint64_t seed)
{
    vox_plan *plan = NULL;
    assert_int_equal(vox_plan_create(ctx, p, &plan), VOX_OK);
    int64_t B = p->batch, H = p->heads, D = p->head_dim;
    float *x = malloc(sizeof(float) * (size_t)(B * H * N * D));
    tu_fill_normal(seed, 1.0, x, (size_t)(B * H * N * D));
    vox_tensor t[9];
    for (int i = 0; i < 9; i++)
        t[i] = upload(ctx, i < 6 && i != 4 ? x : NULL, VOX_F32, B, H, N, i == 4 ? 1 : D);
    free(x);
    assert_int_equal(vox_plan_build(plan, &t[0], &t[1], &t[2]), VOX_OK);
    assert_int_equal(vox_attention_forward(plan, &t[0], &t[1], &t[2], &t[3], &t[4]), VOX_OK);
    assert_int_equal(vox_attention_backward(plan, &t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &t[6], &t[7], &t[8]),
                     VOX_OK);
    for (int i = 0; i < 9; i++)
        vox_buffer_destroy(t[i].buffer);
    return plan;
}

/* The density figure the op carries (vox_op_attention_backward.density: a backend may pick its
 * kernels by it): exact for a host-built mask, the top-k bound for BSA top-k, -1 for a rule whose
 * lists only the device knows. A cpu backend whose attention_backward records it. */
static double g_density;
static int g_full;
static vox_status (*g_cpu_backward)(void *, const vox_op_dims *, const vox_op_attention_backward *);
static vox_status recording_backward(void *dev, const vox_op_dims *d, const vox_op_attention_backward *op)
{
    g_density = op->density;
    g_full = op->full_lists;
    return g_cpu_backward(dev, d, op);
}
static double backward_density(vox_mask_mode mode, vox_kv_rule rule)
{
    static vox_backend rec;
    vox_context *ctx = cpu();
    assert_non_null(ctx);
    const vox_backend *orig = ctx->be;
    rec = *orig;
    g_cpu_backward = orig->attention_backward;
    rec.attention_backward = recording_backward;
    ctx->be = &rec;
    vox_plan_params p;
    vox_plan_defaults(&p);
    /* 8 video blocks of 1 x 4 x 4 and one text block: NB = 9 */
    p.heads = 2, p.head_dim = 8, p.frames = 8, p.height = 4, p.width = 4, p.text_tokens = 3;
    p.block_t = 1, p.block_h = 4, p.block_w = 4, p.mask_mode = mode;
    p.kv_rule = rule, p.kv_topk = 2, p.kv_min_blocks = 1;
    g_density = -2;
    vox_plan *plan = plan_through_backward(ctx, &p, 8 * 16 + 3, 11);
    vox_plan_destroy(plan);
    ctx->be = orig;
    vox_context_destroy(ctx);
    return g_density;
}
static void test_density_figure(void **state)
{
    (void)state;
    assert_true(backward_density(VOX_MASK_DENSE, VOX_KV_CUMULATIVE) == 1.0);
    assert_int_equal(g_full, 1); /* full_lists: a host-built mask listing every pair */
    /* top-k 2: a video row lists at most 2 picks + its own block + the text block (4), a text row all 9 */
    assert_true(backward_density(VOX_MASK_BSA, VOX_KV_TOPK) == (8.0 * 4 + 9) / 81.0);
    assert_int_equal(g_full, 0);
    assert_true(backward_density(VOX_MASK_BSA, VOX_KV_CUMULATIVE) == -1.0);
}

/* The packed mask against the exported masks: every head's rows and their
 * transposes (each KV block's query blocks, ascending), and its size. SVG
 * (mixed classes, each head's transposes picked on the device) and DENSE
 * hold the header and the static column array only: 4R + the patterns, no
 * n_blocks x n_blocks list. A cpu backend without svg_classify (the core
 * classifies on the host and writes the header itself) gives the same. */
static void check_packed_mask(vox_plan *plan, int64_t want_entries)
{
    int64_t NB = plan->L.n_blocks, BH = plan->BH, R = BH * NB;
    const int32_t *mask = vox_cpu_ptr((vox_bref){plan->bwd_mask.impl, 0});
    int32_t *rp = malloc(sizeof(int32_t) * (size_t)(NB + 1)), *cols = malloc(sizeof(int32_t) * (size_t)(NB * NB));
    int32_t *tn = malloc(sizeof(int32_t) * (size_t)NB);
    assert_true(rp && cols && tn);
    assert_int_equal(plan->bwd_mask.bytes, sizeof(int32_t) * (size_t)want_entries);
    for (int64_t bh = 0; bh < BH; bh++) {
        int64_t nnz = 0;
        assert_int_equal(vox_plan_export_mask(plan, bh, rp, cols, NB * NB, &nnz, NULL), VOX_OK);
        memset(tn, 0, sizeof(int32_t) * (size_t)NB);
        for (int64_t i = 0; i < NB; i++) {
            int64_t m = bh * NB + i;
            assert_int_equal(mask[R + m], rp[i + 1] - rp[i]);
            for (int32_t c = 0; c < mask[R + m]; c++) {
                int32_t j = cols[rp[i] + c];
                assert_int_equal(mask[mask[m] + c], j);
                int64_t t = bh * NB + j; /* i is the next entry of KV block j's list */
                assert_true(tn[j] < mask[3 * R + t]);
                assert_int_equal(mask[mask[2 * R + t] + tn[j]++], (int32_t)i);
            }
        }
        for (int64_t j = 0; j < NB; j++)
            assert_int_equal(tn[j], mask[3 * R + bh * NB + j]);
    }
    free(rp), free(cols), free(tn);
}

static vox_plan *backward_once(vox_context *ctx, vox_mask_mode mode, double dense_above)
{
    vox_plan_params p;
    vox_plan_defaults(&p);
    /* 4 x 8 x 8 tokens in blocks of 2: 32 video blocks, and a text block: NB = 33; 2 x 3 heads */
    p.batch = 2, p.heads = 3, p.head_dim = 8, p.frames = 4, p.height = 8, p.width = 8, p.text_tokens = 3;
    p.block_t = p.block_h = p.block_w = 2, p.mask_mode = mode;
    p.svg_first_frame_sink = 1, p.svg_dense_above = dense_above;
    return plan_through_backward(ctx, &p, 4 * 64 + 3, 12);
}

static void test_packed_mask_size(void **state)
{
    (void)state;
    vox_context *ctx = cpu();
    assert_non_null(ctx);
    /* the errors the heads get, then a threshold between them: some heads dense, some not */
    vox_plan *plan = backward_once(ctx, VOX_MASK_SVG, INFINITY);
    double es[6], et[6], best[6];
    assert_int_equal(vox_plan_head_classes(plan, NULL, es, et), VOX_OK);
    vox_plan_destroy(plan);
    for (int h = 0; h < 6; h++)
        best[h] = es[h] <= et[h] ? es[h] : et[h];
    double lo = best[0], hi = best[0];
    for (int h = 1; h < 6; h++)
        lo = best[h] < lo ? best[h] : lo, hi = best[h] > hi ? best[h] : hi;
    assert_true(lo < hi);
    const vox_backend *orig = ctx->be;
    static vox_backend host_classify;
    host_classify = *orig;
    host_classify.svg_classify = NULL;
    for (int pass = 0; pass < 2; pass++) {
        ctx->be = pass ? &host_classify : orig;
        plan = backward_once(ctx, VOX_MASK_SVG, 0.5 * (lo + hi));
        vox_head_class cls[6];
        int n_dense = 0, n_pattern = 0;
        assert_int_equal(vox_plan_head_classes(plan, cls, NULL, NULL), VOX_OK);
        for (int h = 0; h < 6; h++)
            n_dense += cls[h] == VOX_HEAD_DENSE, n_pattern += cls[h] != VOX_HEAD_DENSE;
        assert_true(n_dense > 0 && n_pattern > 0);
        int64_t NB = plan->L.n_blocks, R = plan->BH * NB;
        check_packed_mask(plan, 4 * R + plan->h_cols_len);
        int64_t allowed = 0; /* the dense row, then at most the 2 patterns' entries twice (rows, transposes) */
        for (int64_t r = 0; r < 2 * NB; r++)
            allowed += plan->h_svg_count[r];
        assert_true(plan->h_cols_len <= NB + 2 * allowed);
        vox_plan_destroy(plan);
    }
    ctx->be = orig;
    plan = backward_once(ctx, VOX_MASK_DENSE, INFINITY);
    check_packed_mask(plan, 4 * plan->BH * plan->L.n_blocks + plan->L.n_blocks);
    vox_plan_destroy(plan);
    vox_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_packed_outputs),
        cmocka_unit_test(test_backend_without_backward),
        cmocka_unit_test(test_backend_without_mask_transpose),
        cmocka_unit_test(test_density_figure),
        cmocka_unit_test(test_packed_mask_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
