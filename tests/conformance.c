/* The conformance harness: one table of cases run on every available device.
 *
 * For each device and case it checks
 *   - end to end through the public API against a naive token-level
 *     attention computed here in fp64 from the device's own exported mask
 *     (so the CPU reference itself is checked by an independent
 *     implementation), pruned rows against a kept row of their block;
 *   - for devices other than the reference: outputs, LSE, exported masks,
 *     keep flags and head classes against the CPU reference.
 * Every op's own result is checked against the reference op by op, on these
 * shapes and on adversarial inputs, in tests/test_ops.c.
 * Outputs are poisoned (NaN bytes) before each run. A case the device cannot
 * run (VOX_ERR_UNSUPPORTED) is counted as skipped and said so.
 *
 * usage: conformance [--backend NAME] [--device ID] [--case SUBSTR] [-v]
 * exit: 0 all passed, 1 failures, 77 no device of the requested backend. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int verbose;

static vox_workload case_workload(const conf_case *c)
{
    vox_workload w = {c->name, c->B, c->H, c->D, c->F, c->Y, c->X, c->G, c->before};
    return w;
}

static void fill_params(const conf_case *c, vox_plan_params *p)
{
    vox_workload w = case_workload(c);
    const int block[3] = {c->bt, c->bh, c->bw};
    vox_workload_plan_params(&w, c->dtype, c->mode, block, p);
    p->kv_rule = c->rule;
    p->kv_tau = c->param;
    p->kv_topk = (int)c->param;
    p->kv_z = c->param;
    p->kv_min_blocks = 2;
    p->query_keep = c->keep;
    p->svg_sample_rows = 32;
    p->svg_space_blocks = 0;
    p->svg_first_frame_sink = c->sink;
}

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Random CSR masks (about 40% dense, one empty row) for CUSTOM cases. */
static void make_custom(const conf_case *c, int64_t masks, int32_t **rp, int32_t **cols)
{
    int64_t V = (int64_t)c->bt * c->bh * c->bw;
    int64_t NB = cdiv(c->F, c->bt) * cdiv(c->Y, c->bh) * cdiv(c->X, c->bw) + cdiv(c->G, V);
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
}

/* One end-to-end run of a case (tests/testutil_run.c). */
static vox_status run_case(vox_context *ctx, const conf_case *c, const float *q, const float *k, const float *v,
                           tu_result *r)
{
    vox_plan_params p;
    fill_params(c, &p);
    int32_t *rp = NULL, *cc = NULL;
    if (c->mode == CUSTOM) {
        p.custom_masks = c->per_head ? c->B * c->H : 1;
        make_custom(c, p.custom_masks, &rp, &cc);
        p.custom_row_ptr = rp;
        p.custom_kv_block = cc;
    }
    vox_status st = tu_run(ctx, &p, c->bnhd, q, k, v, r);
    free(rp), free(cc);
    return st;
}

/* Checks a run against naive attention from its own exported mask; a pruned
 * row must carry the output and LSE of a kept row of its block. */
static int check_naive(const conf_case *c, const float *q, const float *k, const float *v, const tu_result *r,
                       char *why, size_t n)
{
    int64_t N = r->N, D = r->D, V = r->V, S = r->S, BH = r->B * r->H;
    double *ref = malloc(sizeof(double) * (size_t)(BH * N * D)), *got = malloc(sizeof(double) * (size_t)(BH * N * D)),
           *lref = malloc(sizeof(double) * (size_t)(BH * N)), *lgot = malloc(sizeof(double) * (size_t)(BH * N));
    int32_t *slot_token = malloc(sizeof(int32_t) * (size_t)S);
    int64_t nl = tu_naive(r, q, k, v, ref, lref, got, lgot), bad_fill = -1;
    for (int64_t s = 0; s < S; s++)
        slot_token[s] = -1;
    for (int64_t t = 0; t < N; t++)
        slot_token[r->slot[t]] = (int32_t)t;
    for (int64_t bh = 0; bh < BH; bh++)
        for (int64_t t = 0; t < N; t++) {
            int64_t s = r->slot[t], blk = s / V;
            const double *o = r->out + (bh * N + t) * D;
            if (r->keep[bh * S + s] == 1)
                continue;
            int found = 0;
            for (int64_t u = blk * V; u < (blk + 1) * V && !found; u++) {
                int64_t tu = slot_token[u];
                if (tu >= 0 && r->keep[bh * S + u] == 1 && !memcmp(r->out + (bh * N + tu) * D, o, sizeof(double) * (size_t)D) &&
                    r->lse[bh * N + tu] == r->lse[bh * N + t])
                    found = 1;
            }
            if (!found)
                bad_fill = t;
        }
    double e_out = tu_norm_err(got, ref, (size_t)(nl * D)), e_lse = tu_norm_err(lgot, lref, (size_t)nl);
    double tol = tu_tolerance(c->dtype);
    int ok = e_out <= tol && e_lse <= 1e-9 && bad_fill < 0;
    if (!ok)
        snprintf(why, n, "vs naive: out err %.3e (tol %.0e), lse err %.3e%s", e_out, tol, e_lse,
                 bad_fill >= 0 ? ", a pruned row matches no kept row of its block" : "");
    else if (verbose)
        printf("      naive: out err %.2e, lse err %.2e over %lld rows\n", e_out, e_lse, (long long)nl);
    free(ref), free(got), free(lref), free(lgot), free(slot_token);
    return ok;
}

/* Against the CPU reference: layout, masks, keep flags and head classes
 * exactly, outputs and LSE within the tolerances. (Each op's intermediate
 * result is checked op by op in tests/test_ops.c.) */
static int check_vs_cpu(const conf_case *c, const tu_result *d, const tu_result *r, char *why, size_t n)
{
    int ok = tu_compare(d, r, tu_tolerance(c->dtype), 1e-9, why, n);
    if (ok && verbose)
        printf("      vs cpu: %s\n", why);
    if (ok)
        why[0] = 0;
    return ok;
}

static void run_device(const vox_device_desc *dev, void *user, tu_tally *t)
{
    const char *filter = user;
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
        vox_workload w = case_workload(c);
        vox_workload_generate(&w, (uint64_t)(i + 1), 1.0, q, k, v);
        tu_round_through(c->dtype, q, n), tu_round_through(c->dtype, k, n), tu_round_through(c->dtype, v, n);
        tu_result d, r = {0};
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
        tu_result_free(&d), tu_result_free(&r);
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
    char title[64];
    snprintf(title, sizeof title, "conformance (%d cases per device)", N_CASES);
    return tu_for_each_device(title, backend, device, run_device, (void *)filter);
}
