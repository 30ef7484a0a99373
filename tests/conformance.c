/* The conformance harness: one table of cases run on every available device.
 *
 * For each device and case it checks
 *   - end to end through the public API against a naive token-level
 *     attention computed here in fp64 from the device's own exported mask
 *     (so the CPU reference itself is checked by an independent
 *     implementation), pruned rows against a kept row of their block;
 *   - for devices other than the reference: outputs, LSE, exported masks,
 *     keep flags and head classes against the CPU reference, and every
 *     mask-building op's intermediate result (permuted blocks, query
 *     selection, block means, KV selection, classification rows) op by op.
 * Outputs are poisoned (NaN bytes) before each run. A case the device cannot
 * run (VOX_ERR_UNSUPPORTED) is counted as skipped and said so.
 *
 * usage: conformance [--backend NAME] [--device ID] [--case SUBSTR] [-v]
 * exit: 0 all passed, 1 failures, 77 no device of the requested backend. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "testutil.h"
#include "workload.h"

typedef struct conf_case {
    const char *name;
    int64_t B, H, D, F, Y, X, G;
    int before;
    int bt, bh, bw;
    vox_dtype dtype;
    vox_mask_mode mode;
    vox_kv_rule rule;
    double param; /* tau, topk or z */
    double keep;
    int bnhd;
    int sink;
    int per_head; /* CUSTOM: one mask per (b,h) */
} conf_case;

#define F32 VOX_F32
#define F16 VOX_F16
#define BF16 VOX_BF16
#define DENSE VOX_MASK_DENSE
#define CUSTOM VOX_MASK_CUSTOM
#define SVG VOX_MASK_SVG
#define BSA VOX_MASK_BSA
#define CUM VOX_KV_CUMULATIVE
#define TOPK VOX_KV_TOPK
#define STAT VOX_KV_STAT

static const conf_case cases[] = {
    /* name                     B  H   D   F  Y   X   G bef  block    dtype mode   rule  param keep bnhd sink ph */
    {"dense_f32_444",           1, 2, 32,  4, 8,  8,  0, 0, 4, 4, 4, F32, DENSE, CUM, 0.9, 1.0, 0, 0, 0},
    {"dense_ragged357_b222",    1, 2, 16,  3, 5,  7,  0, 0, 2, 2, 2, F32, DENSE, CUM, 0.9, 1.0, 0, 0, 0},
    {"dense_ragged357_b444_txt",1, 1, 16,  3, 5,  7,  5, 0, 4, 4, 4, F32, DENSE, CUM, 0.9, 1.0, 1, 0, 0},
    {"dense_text_before_bnhd",  2, 2, 32,  2, 6,  6, 20, 1, 2, 4, 4, F32, DENSE, CUM, 0.9, 1.0, 1, 0, 0},
    {"dense_f16",               1, 2, 64,  4, 8,  8,  8, 0, 4, 4, 4, F16, DENSE, CUM, 0.9, 1.0, 0, 0, 0},
    {"dense_bf16",              1, 2, 64,  4, 8,  8,  8, 0, 4, 4, 4, BF16, DENSE, CUM, 0.9, 1.0, 0, 0, 0},
    {"dense_bf16_d128_v128",    1, 2, 128, 4, 8, 16,  0, 0, 2, 8, 8, BF16, DENSE, CUM, 0.9, 1.0, 1, 0, 0},
    {"dense_f16_d128_ragged",   1, 1, 128, 5, 9, 11, 13, 1, 4, 4, 4, F16, DENSE, CUM, 0.9, 1.0, 0, 0, 0},
    {"dense_d8_one_frame",      1, 1,  8,  1, 4,  4,  0, 0, 1, 4, 4, F32, DENSE, CUM, 0.9, 1.0, 0, 0, 0},
    {"custom_shared_f32",       1, 2, 32,  4, 8,  8,  8, 0, 1, 4, 4, F32, CUSTOM, CUM, 0.9, 1.0, 0, 0, 0},
    {"custom_per_head_bf16",    2, 2, 64,  4, 8,  8,  8, 1, 1, 4, 4, BF16, CUSTOM, CUM, 0.9, 1.0, 1, 0, 1},
    {"svg_f32",                 1, 4, 64,  4, 8,  8,  8, 0, 1, 4, 4, F32, SVG, CUM, 0.9, 1.0, 0, 0, 0},
    {"svg_sink_bf16",           1, 4, 64,  4, 8,  8,  8, 0, 1, 4, 4, BF16, SVG, CUM, 0.9, 1.0, 1, 1, 0},
    {"svg_f16_ragged",          1, 2, 32,  5, 7,  9,  0, 0, 1, 4, 4, F16, SVG, CUM, 0.9, 1.0, 0, 0, 0},
    {"bsa_cumulative_f32",      1, 2, 32,  4, 8,  8,  8, 0, 1, 4, 4, F32, BSA, CUM, 0.9, 1.0, 0, 0, 0},
    {"bsa_topk_f32",            1, 2, 32,  4, 8,  8,  0, 0, 1, 4, 4, F32, BSA, TOPK, 3, 1.0, 0, 0, 0},
    {"bsa_stat_f32",            1, 2, 32,  4, 8,  8,  0, 0, 1, 4, 4, F32, BSA, STAT, 1.0, 1.0, 0, 0, 0},
    {"bsa_keep50_f32",          1, 2, 32,  4, 8,  8,  8, 0, 2, 4, 4, F32, BSA, CUM, 0.8, 0.5, 0, 0, 0},
    {"bsa_keep25_bf16",         1, 2, 64,  4, 8,  8,  8, 0, 2, 4, 4, BF16, BSA, CUM, 0.8, 0.25, 1, 0, 0},
    {"bsa_keep50_f16_ragged",   1, 2, 32,  3, 9, 10, 12, 1, 2, 4, 4, F16, BSA, CUM, 0.9, 0.5, 0, 0, 0},
    {"bsa_d128_bf16",           1, 2, 128, 4, 8, 16,  0, 0, 1, 8, 8, BF16, BSA, CUM, 0.9, 1.0, 0, 0, 0},
    {"dense_keep50_f32",        1, 2, 32,  4, 8,  8,  0, 0, 2, 4, 4, F32, DENSE, CUM, 0.9, 0.5, 0, 0, 0},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

typedef struct run_result {
    vox_status status;
    vox_plan *plan;
    vox_context *ctx;
    double *out, *lse;       /* [B][H][N][D], [B][H][N] */
    int32_t *row_ptr, *cols; /* per mask, concatenated: (NB+1) row_ptr each, NB*NB cols each */
    int8_t *keep;            /* per mask S flags */
    vox_head_class *classes;
} run_result;

static int verbose;

static void result_free(run_result *r)
{
    free(r->out), free(r->lse), free(r->row_ptr), free(r->cols), free(r->keep), free(r->classes);
    vox_plan_destroy(r->plan);
    memset(r, 0, sizeof *r);
}

static void fill_params(const conf_case *c, vox_plan_params *p)
{
    vox_plan_defaults(p);
    p->batch = c->B, p->heads = c->H, p->head_dim = c->D;
    p->frames = c->F, p->height = c->Y, p->width = c->X, p->text_tokens = c->G;
    p->text_position = c->before ? VOX_TEXT_BEFORE : VOX_TEXT_AFTER;
    p->block_t = c->bt, p->block_h = c->bh, p->block_w = c->bw;
    p->dtype = c->dtype;
    p->mask_mode = c->mode;
    p->kv_rule = c->rule;
    p->kv_tau = c->param;
    p->kv_topk = (int)c->param;
    p->kv_z = c->param;
    p->kv_min_blocks = 2;
    p->query_keep = c->keep;
    p->svg_sample_rows = 32;
    p->svg_space_blocks = 0;
    p->svg_first_frame_sink = c->sink;
    p->window_t = c->bt >= 2 ? 2 : 1;
}

/* Random CSR masks (about 40% dense, one empty row) for CUSTOM cases. */
static void make_custom(const conf_case *c, int64_t NB, int64_t masks, int32_t **rp, int32_t **cols)
{
    *rp = malloc(sizeof(int32_t) * (size_t)(masks * NB + 1));
    *cols = malloc(sizeof(int32_t) * (size_t)(masks * NB * NB + 1));
    uint64_t s = 12345;
    int32_t n = 0;
    (*rp)[0] = 0;
    for (int64_t r = 0; r < masks * NB; r++) {
        for (int64_t j = 0; j < NB; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            if (r % NB != 1 && ((s >> 33) % 10 < 4 || j == r % NB))
                (*cols)[n++] = (int32_t)j;
        }
        (*rp)[r + 1] = n;
    }
    (void)c;
}

static vox_status run_case(vox_context *ctx, const conf_case *c, const float *q, const float *k, const float *v,
                           run_result *r)
{
    memset(r, 0, sizeof *r);
    r->ctx = ctx;
    vox_plan_params p;
    fill_params(c, &p);
    int32_t *rp = NULL, *cc = NULL;
    int64_t BH = c->B * c->H, N = c->F * c->Y * c->X + c->G;
    if (c->mode == CUSTOM) {
        vox_plan_params tmp = p;
        tmp.mask_mode = DENSE;
        vox_plan *probe = NULL;
        vox_plan_stats s;
        r->status = vox_plan_create(ctx, &tmp, &probe);
        if (r->status)
            return r->status;
        vox_plan_stats_get(probe, &s);
        vox_plan_destroy(probe);
        p.custom_masks = c->per_head ? BH : 1;
        make_custom(c, s.n_blocks, p.custom_masks, &rp, &cc);
        p.custom_row_ptr = rp;
        p.custom_kv_block = cc;
    }
    r->status = vox_plan_create(ctx, &p, &r->plan);
    free(rp), free(cc);
    if (r->status)
        return r->status;
    vox_tensor tq = {0}, tk = {0}, tv = {0}, to = {0}, tl = {0};
    vox_status st = tu_upload_tensor(ctx, c->dtype, q, c->B, c->H, N, c->D, c->bnhd, &tq);
    if (!st) st = tu_upload_tensor(ctx, c->dtype, k, c->B, c->H, N, c->D, c->bnhd, &tk);
    if (!st) st = tu_upload_tensor(ctx, c->dtype, v, c->B, c->H, N, c->D, c->bnhd, &tv);
    if (!st) st = tu_poisoned_tensor(ctx, c->dtype, c->B, c->H, N, c->D, c->bnhd, &to);
    if (!st) st = tu_poisoned_tensor(ctx, VOX_F32, c->B, c->H, N, 1, 0, &tl);
    if (!st) st = vox_plan_build(r->plan, &tq, &tk, &tv);
    if (!st) st = vox_attention_forward(r->plan, &tq, &tk, &tv, &to, &tl);
    if (!st) {
        r->out = tu_read_tensor(&to);
        r->lse = tu_read_tensor(&tl);
        if (!r->out || !r->lse)
            st = VOX_ERR_OUT_OF_MEMORY;
    }
    if (!st) {
        vox_plan_stats s;
        vox_plan_stats_get(r->plan, &s);
        int64_t NB = s.n_blocks, S = NB * s.block_volume;
        r->row_ptr = malloc(sizeof(int32_t) * (size_t)(BH * (NB + 1)));
        r->cols = calloc((size_t)(BH * NB * NB), sizeof(int32_t));
        r->keep = malloc((size_t)(BH * S));
        r->classes = malloc(sizeof(vox_head_class) * (size_t)BH);
        for (int64_t m = 0; !st && m < BH; m++) {
            int64_t nnz;
            st = vox_plan_export_mask(r->plan, m, r->row_ptr + m * (NB + 1), r->cols + m * NB * NB, NB * NB, &nnz,
                                      r->keep + m * S);
        }
        if (!st)
            st = vox_plan_head_classes(r->plan, r->classes, NULL, NULL);
    }
    tu_free_tensor(&tq), tu_free_tensor(&tk), tu_free_tensor(&tv), tu_free_tensor(&to), tu_free_tensor(&tl);
    r->status = st;
    return st;
}

/* Checks a run against naive attention from its own exported mask. */
static int check_naive(const conf_case *c, const float *q, const float *k, const float *v, const run_result *r,
                       char *why, size_t n)
{
    const vox_plan *plan = r->plan;
    const vox_layout *L = &plan->L;
    int64_t N = L->n_tokens, D = c->D, NB = L->n_blocks, V = L->V, S = NB * V, BH = c->B * c->H;
    double *Q = malloc(sizeof(double) * (size_t)(N * D)), *K = malloc(sizeof(double) * (size_t)(N * D)),
           *Vv = malloc(sizeof(double) * (size_t)(N * D)), *ref = malloc(sizeof(double) * (size_t)(BH * N * D)),
           *got = malloc(sizeof(double) * (size_t)(BH * N * D)), *lref = malloc(sizeof(double) * (size_t)(BH * N)),
           *lgot = malloc(sizeof(double) * (size_t)(BH * N));
    unsigned char *allowed = malloc((size_t)N);
    int64_t nref = 0, nl = 0, bad_fill = -1;
    for (int64_t bh = 0; bh < BH; bh++) {
        for (int64_t i = 0; i < N * D; i++) {
            Q[i] = q[bh * N * D + i], K[i] = k[bh * N * D + i], Vv[i] = v[bh * N * D + i];
        }
        const int32_t *rp = r->row_ptr + bh * (NB + 1), *cols = r->cols + bh * NB * NB;
        const int8_t *keep = r->keep + bh * S;
        for (int64_t t = 0; t < N; t++) {
            int64_t s = L->token_slot[t], blk = s / V;
            const double *o = r->out + (bh * N + t) * D;
            if (keep[s] == 1) {
                memset(allowed, 0, (size_t)N);
                for (int32_t e = rp[blk]; e < rp[blk + 1]; e++)
                    for (int64_t u = 0; u < L->block_valid[cols[e]]; u++)
                        allowed[L->slot_token[cols[e] * V + u]] = 1;
                double lse = tu_naive_row(Q + t * D, K, Vv, allowed, N, D, plan->scale, ref + nref);
                memcpy(got + nref, o, sizeof(double) * (size_t)D);
                nref += D;
                lref[nl] = lse, lgot[nl++] = r->lse[bh * N + t];
            } else {
                /* a pruned row copies the output and LSE of a kept row of its block */
                int found = 0;
                for (int64_t u = blk * V; u < blk * V + L->block_valid[blk] && !found; u++) {
                    int64_t tu = L->slot_token[u];
                    if (keep[u] == 1 && !memcmp(r->out + (bh * N + tu) * D, o, sizeof(double) * (size_t)D) &&
                        r->lse[bh * N + tu] == r->lse[bh * N + t])
                        found = 1;
                }
                if (!found)
                    bad_fill = t;
            }
        }
    }
    double e_out = tu_norm_err(got, ref, (size_t)nref), e_lse = tu_norm_err(lgot, lref, (size_t)nl);
    double tol = tu_tolerance(c->dtype);
    int ok = e_out <= tol && e_lse <= 1e-9 && bad_fill < 0;
    if (!ok)
        snprintf(why, n, "vs naive: out err %.3e (tol %.0e), lse err %.3e%s", e_out, tol, e_lse,
                 bad_fill >= 0 ? ", a pruned row matches no kept row of its block" : "");
    else if (verbose)
        printf("      naive: out err %.2e, lse err %.2e over %lld rows\n", e_out, e_lse, (long long)nl);
    free(Q), free(K), free(Vv), free(ref), free(got), free(lref), free(lgot), free(allowed);
    return ok;
}

/* Reads one internal plan buffer. */
static void *read_internal(const vox_plan *p, const vox_dbuf *b)
{
    void *h = malloc(b->bytes);
    if (h && p->ctx->be->buffer_read(p->ctx->dev, b->impl, 0, h, b->bytes)) {
        free(h);
        return NULL;
    }
    return h;
}

static int same_i32(const vox_plan *a, const vox_plan *b, const vox_dbuf *da, const vox_dbuf *db, const char *op,
                    char *why, size_t n)
{
    int32_t *x = read_internal(a, da), *y = read_internal(b, db);
    int ok = x && y && da->bytes == db->bytes && !memcmp(x, y, da->bytes);
    if (!ok) {
        size_t i = 0;
        while (x && y && i < da->bytes / 4 && x[i] == y[i])
            i++;
        snprintf(why, n, "op %s: differs from cpu at int %zu (%d vs %d)", op, i, x ? x[i] : -1, y ? y[i] : -1);
    }
    free(x), free(y);
    return ok;
}

static int close_f32(const vox_plan *a, const vox_plan *b, const vox_dbuf *da, const vox_dbuf *db, double tol,
                     const char *op, char *why, size_t n)
{
    float *x = read_internal(a, da), *y = read_internal(b, db);
    size_t cnt = da->bytes / 4;
    double *dx = malloc(sizeof(double) * cnt), *dy = malloc(sizeof(double) * cnt);
    int ok = x && y && dx && dy;
    for (size_t i = 0; ok && i < cnt; i++)
        dx[i] = x[i], dy[i] = y[i];
    double e = ok ? tu_norm_err(dx, dy, cnt) : INFINITY;
    ok = ok && e <= tol;
    if (!ok)
        snprintf(why, n, "op %s: error %.3e vs cpu (tol %.0e)", op, e, tol);
    free(x), free(y), free(dx), free(dy);
    return ok;
}

/* Op by op: each mask-building op's result against the CPU backend's. */
static int check_ops(const conf_case *c, const run_result *d, const run_result *r, char *why, size_t n)
{
    const vox_plan *a = d->plan, *b = r->plan;
    /* permute_to_blocks (q of the last forward), exact */
    int ok = same_i32(a, b, &a->qb, &b->qb, "permute_to_blocks", why, n);
    if (ok && c->keep < 1.0)
        ok = same_i32(a, b, &a->kept_count, &b->kept_count, "query_select(kept_count)", why, n) &&
             same_i32(a, b, &a->fill_src, &b->fill_src, "query_select(fill_src)", why, n);
    if (ok && c->mode == BSA)
        ok = close_f32(a, b, &a->qbar, &b->qbar, 1e-9, "block_means(q)", why, n) &&
             close_f32(a, b, &a->kbar, &b->kbar, 1e-9, "block_means(k)", why, n) &&
             same_i32(a, b, &a->kv_count, &b->kv_count, "kv_select(count)", why, n);
    if (ok && c->mode == SVG)
        ok = close_f32(a, b, &a->sample_out, &b->sample_out, 1e-6, "sample_rows_attention", why, n);
    return ok;
}

static int check_vs_cpu(const conf_case *c, const run_result *d, const run_result *r, char *why, size_t n)
{
    const vox_layout *L = &r->plan->L;
    int64_t BH = c->B * c->H, N = L->n_tokens, NB = L->n_blocks, S = L->n_slots;
    for (int64_t m = 0; m < BH; m++)
        if (d->classes[m] != r->classes[m]) {
            snprintf(why, n, "head %lld class %d, cpu %d", (long long)m, d->classes[m], r->classes[m]);
            return 0;
        }
    if (memcmp(d->row_ptr, r->row_ptr, sizeof(int32_t) * (size_t)(BH * (NB + 1))) ||
        memcmp(d->cols, r->cols, sizeof(int32_t) * (size_t)(BH * NB * NB))) {
        snprintf(why, n, "exported block mask differs from cpu");
        return 0;
    }
    if (memcmp(d->keep, r->keep, (size_t)(BH * S))) {
        snprintf(why, n, "keep flags differ from cpu");
        return 0;
    }
    if (!check_ops(c, d, r, why, n))
        return 0;
    double e = tu_norm_err(d->out, r->out, (size_t)(BH * N * c->D));
    double el = tu_norm_err(d->lse, r->lse, (size_t)(BH * N));
    if (e > tu_tolerance(c->dtype) || el > 1e-9) {
        snprintf(why, n, "vs cpu: out err %.3e (tol %.0e), lse err %.3e", e, tu_tolerance(c->dtype), el);
        return 0;
    }
    if (verbose)
        printf("      vs cpu: out err %.2e, lse err %.2e\n", e, el);
    return 1;
}

typedef struct tally {
    int passed, failed, skipped;
} tally;

static void run_device(const vox_device_desc *dev, const char *filter, tally *t)
{
    int errs = 0, cpu_errs = 0;
    vox_context *ctx = tu_context(dev->id, &errs);
    vox_context *cpu = dev->backend == VOX_BACKEND_CPU ? NULL : tu_context("cpu", &cpu_errs);
    printf("== %s: %s (%s)\n", dev->id, dev->name, dev->driver);
    if (!ctx) {
        printf("   cannot open the device: every case skipped\n");
        t->skipped += N_CASES;
        vox_context_destroy(cpu);
        return;
    }
    for (int i = 0; i < N_CASES; i++) {
        const conf_case *c = &cases[i];
        if (filter && !strstr(c->name, filter))
            continue;
        int64_t N = c->F * c->Y * c->X + c->G;
        size_t n = (size_t)(c->B * c->H * N * c->D);
        float *q = malloc(sizeof(float) * n), *k = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n);
        vox_workload w = {c->name, c->B, c->H, c->D, c->F, c->Y, c->X, c->G, c->before};
        vox_workload_generate(&w, (uint64_t)(i + 1), 1.0, q, k, v);
        tu_round_through(c->dtype, q, n), tu_round_through(c->dtype, k, n), tu_round_through(c->dtype, v, n);
        run_result d, r = {0};
        char why[300] = "";
        vox_status st = run_case(ctx, c, q, k, v, &d);
        const char *verdict;
        if (st == VOX_ERR_UNSUPPORTED) {
            verdict = "skip";
            snprintf(why, sizeof why, "unsupported on this device");
            t->skipped++;
        } else if (st) {
            verdict = "FAIL";
            snprintf(why, sizeof why, "run failed: %s", vox_status_string(st));
            t->failed++;
        } else {
            int ok = check_naive(c, q, k, v, &d, why, sizeof why);
            if (ok && cpu) {
                st = run_case(cpu, c, q, k, v, &r);
                ok = !st && check_vs_cpu(c, &d, &r, why, sizeof why);
                if (st)
                    snprintf(why, sizeof why, "cpu run failed: %s", vox_status_string(st));
            }
            verdict = ok ? "ok" : "FAIL";
            if (ok)
                t->passed++;
            else
                t->failed++;
        }
        printf("   %-28s %-4s %s\n", c->name, verdict, why);
        fflush(stdout);
        result_free(&d), result_free(&r);
        free(q), free(k), free(v);
    }
    vox_context_destroy(ctx);
    vox_context_destroy(cpu);
}

int main(int argc, char **argv)
{
    const char *backend = NULL, *device = NULL, *filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--case") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "-v")) verbose = 1;
        else {
            fprintf(stderr, "usage: conformance [--backend NAME] [--device ID] [--case SUBSTR] [-v]\n");
            return 2;
        }
    }
    int count = 0;
    vox_device_count(&count);
    tally per[VOX_BACKEND_COUNT] = {{0}};
    int ran[VOX_BACKEND_COUNT] = {0};
    for (int i = 0; i < count; i++) {
        vox_device_desc d;
        vox_device_info(i, &d);
        if ((backend && strcmp(d.backend_name, backend)) || (device && strcmp(d.id, device)))
            continue;
        run_device(&d, filter, &per[d.backend]);
        ran[d.backend] = 1;
    }
    printf("\nconformance summary (%d cases per device)\n%-8s %7s %7s %7s\n", N_CASES, "backend", "passed",
           "failed", "skipped");
    int failed = 0, any = 0;
    for (int b = 0; b < VOX_BACKEND_COUNT; b++) {
        vox_backend_desc bd;
        vox_backend_info((vox_backend_kind)b, &bd);
        if (backend && strcmp(bd.name, backend))
            continue;
        if (!ran[b]) {
            printf("%-8s %7s %7s %7s   (no device: %s)\n", bd.name, "-", "-", "all", bd.reason);
            continue;
        }
        any = 1;
        failed += per[b].failed;
        printf("%-8s %7d %7d %7d\n", bd.name, per[b].passed, per[b].failed, per[b].skipped);
    }
    if (!any)
        return 77;
    return failed ? 1 : 0;
}
