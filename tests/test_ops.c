/* Op-level differential test of every backend op against the CPU reference
 * (in the spirit of ggml's test-backend-ops and dav1d's checkasm).
 *
 * For each device and each op of core/backend.h, every case of the op's
 * table (tests/ops/<op>.c) builds its inputs directly on the host (random
 * data, constructed ties, adversarial fills, layouts from core/layout.c),
 * uploads them through the backend table of the device and of the CPU
 * reference, poisons the outputs (0xFF bytes: NaN, or -1 for indices), runs
 * the op on both and compares: indices exactly, copies bytewise, float
 * outputs by normalized error sum((a-r)^2)/sum(r^2) and LSE by max abs error
 * (scaled by max(1,|lse|)) against per-op, per-dtype tolerances; NaN, Inf and
 * -inf must sit where the reference has them. The largest error observed per
 * op, metric and dtype is printed beside its tolerance.
 *
 * A case is skipped (said so) when the device lacks the case's dtype, the
 * backend lacks the op, supports() refuses it or the op says UNSUPPORTED; a
 * device that skips every case or more than MAX_SKIPS fails.
 *
 * --perf times each op on the same cases (plus larger perf-only cases) with
 * the backend's device timers (host clock where it has none): median of
 * --runs runs after two warm-up runs; no reference run, no comparison.
 *
 * usage: test_ops [--backend NAME] [--device ID] [--op NAME] [--case SUBSTR]
 *                 [--skip SUBSTR] [--perf] [--runs N] [-v]
 * (--skip: the cases whose name holds SUBSTR are not run, as those --case
 * leaves out)
 * exit: 0 all passed, 1 failures, 77 no device of the requested backend. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ops/harness.h"
#include "testutil.h"

#define MAX_SKIPS 4

/* One entry per op of the op table, in VOX_KERNEL_OPS order: an op without
 * tests/ops/<op>.c (which defines op_<op>) fails to link. */
#define OP_ENTRY_REF(op) &op_##op,
static const op_entry *const g_ops[] = {VOX_KERNEL_OPS(OP_ENTRY_REF)};
#undef OP_ENTRY_REF
#define N_OPS ((int)(sizeof g_ops / sizeof g_ops[0]))

static int verbose;

/* Largest error observed per op, metric and dtype (over every device run). */
static double g_observed[N_OPS][OP_MAX_METRICS][3];

/* What main asks of each device. */
typedef struct run_opts {
    const char *op, *filter, *skip;
    int perf, runs;
} run_opts;

/* ---- one side: upload, poison, run, read back ----------------------------- */

static size_t buf_bytes(const op_inputs *in, int i)
{
    size_t b = in->buf[i].offset + in->buf[i].count * oh_elem_size(in, i);
    return b ? b : 4;
}

static void side_free(op_side *s, const op_inputs *in)
{
    for (int i = 0; i < in->n_buf; i++)
        if (s->buf[i])
            s->ctx->be->buffer_free(s->ctx->dev, s->buf[i]);
    memset(s->buf, 0, sizeof s->buf);
}

/* Allocates every buffer: inputs converted to their storage type, outputs
 * and the bytes before an offset poisoned (0xFF). */
static vox_status side_upload(op_side *s, op_inputs *in)
{
    const vox_backend *be = s->ctx->be;
    vox_status st = VOX_OK;
    for (int i = 0; !st && i < in->n_buf; i++) {
        const op_buf *b = &in->buf[i];
        if (!b->count)
            continue;
        size_t bytes = buf_bytes(in, i);
        unsigned char *h = malloc(bytes);
        if (!h)
            return VOX_ERR_OUT_OF_MEMORY;
        memset(h, 0xff, bytes);
        if (!b->output && b->kind == OB_I32)
            memcpy(h + b->offset, b->i32, b->count * 4);
        else if (!b->output)
            vox_convert(b->kind == OB_ELEM ? in->c->dtype : VOX_F32, h + b->offset, VOX_F32, b->f32, b->count);
        st = be->buffer_alloc(s->ctx->dev, bytes, &s->buf[i]);
        if (!st)
            st = be->buffer_write(s->ctx->dev, s->buf[i], 0, h, bytes);
        free(h);
    }
    in->dims.block_valid = (vox_bref){s->buf[0], 0};
    return st;
}

static vox_status side_read(const op_side *s, const op_inputs *in, op_outputs *o)
{
    memset(o, 0, sizeof *o);
    vox_status st = s->ctx->be->finish(s->ctx->dev);
    for (int i = 0; !st && i < in->n_buf; i++) {
        if (!in->buf[i].output || !in->buf[i].count)
            continue;
        o->bytes[i] = buf_bytes(in, i);
        o->raw[i] = malloc(o->bytes[i]);
        st = o->raw[i] ? s->ctx->be->buffer_read(s->ctx->dev, s->buf[i], 0, o->raw[i], o->bytes[i])
                       : VOX_ERR_OUT_OF_MEMORY;
    }
    return st;
}

static void outputs_free(op_outputs *o)
{
    for (int i = 0; i < OB_MAX; i++)
        free(o->raw[i]);
    memset(o, 0, sizeof *o);
}

/* Runs the op on one side and reads its outputs back. */
static vox_status side_run(vox_context *ctx, const op_entry *e, op_inputs *in, op_outputs *o)
{
    op_side s = {ctx, {0}};
    vox_status st = side_upload(&s, in);
    if (!st)
        st = e->run(in, &s);
    if (!st)
        st = side_read(&s, in, o);
    side_free(&s, in);
    return st;
}

/* Median device time of `runs` runs of the op (two warm-up runs first). */
static vox_status side_time(vox_context *ctx, const op_entry *e, op_inputs *in, int runs, double *median)
{
    op_side s = {ctx, {0}};
    const vox_backend *be = ctx->be;
    double *ms = malloc(sizeof(double) * (size_t)runs);
    vox_status st = ms ? side_upload(&s, in) : VOX_ERR_OUT_OF_MEMORY;
    for (int r = -2; !st && r < runs; r++) {
        double t0 = vox_clock_ms(), t = 0;
        if (be->timer_begin)
            st = be->timer_begin(ctx->dev);
        if (!st)
            st = e->run(in, &s);
        if (!st && be->timer_end)
            st = be->timer_end(ctx->dev, &t);
        if (!st)
            st = be->finish(ctx->dev);
        if (!be->timer_end)
            t = vox_clock_ms() - t0;
        if (r >= 0)
            ms[r] = t;
    }
    if (!st) {
        for (int i = 1; i < runs; i++) /* insertion sort: runs is small */
            for (int j = i; j > 0 && ms[j - 1] > ms[j]; j--) {
                double x = ms[j];
                ms[j] = ms[j - 1], ms[j - 1] = x;
            }
        *median = runs % 2 ? ms[runs / 2] : 0.5 * (ms[runs / 2 - 1] + ms[runs / 2]);
    }
    free(ms);
    side_free(&s, in);
    return st;
}

/* ---- cases ------------------------------------------------------------- */

static int dtype_index(vox_dtype t) { return t == VOX_F32 ? 0 : t == VOX_F16 ? 1 : 2; }

/* Why the device cannot run this case, or NULL. */
static const char *cannot_run(vox_context *ctx, const op_entry *e, const op_inputs *in, char *why, size_t n)
{
    const vox_dtype dt = in->c->dtype;
    if ((dt == VOX_F16 && !(ctx->desc.caps & VOX_CAP_F16)) || (dt == VOX_BF16 && !(ctx->desc.caps & VOX_CAP_BF16))) {
        snprintf(why, n, "device has no %s storage", dt == VOX_F16 ? "f16" : "bf16");
        return why;
    }
    if (!vox_backend_has_op(ctx->be, e->op)) {
        snprintf(why, n, "backend has no %s", vox_op_name(e->op));
        return why;
    }
    if (ctx->be->supports) {
        char reason[200] = "";
        if (ctx->be->supports(ctx->dev, &in->dims, e->op, reason, sizeof reason)) {
            snprintf(why, n, "supports() refuses: %s", reason);
            return why;
        }
    }
    return NULL;
}

typedef enum verdict { V_OK, V_FAIL, V_SKIP } verdict;

static verdict run_case(vox_context *ctx, vox_context *ref, int op_index, const op_case *c, int perf, int runs,
                        char *why, size_t n)
{
    const op_entry *e = g_ops[op_index];
    op_inputs in;
    if (e->make_inputs(c, &in)) {
        snprintf(why, n, "cannot build the case's inputs");
        oh_free_inputs(&in);
        return V_FAIL;
    }
    verdict v = V_OK;
    if (cannot_run(ctx, e, &in, why, n)) {
        oh_free_inputs(&in);
        return V_SKIP;
    }
    if (perf) {
        double ms = 0;
        vox_status st = side_time(ctx, e, &in, runs, &ms);
        if (st == VOX_ERR_UNSUPPORTED)
            v = V_SKIP, snprintf(why, n, "op says UNSUPPORTED");
        else if (st)
            v = V_FAIL, snprintf(why, n, "run failed: %s", vox_status_string(st));
        else
            snprintf(why, n, "%10.4f ms (median of %d)", ms, runs);
        oh_free_inputs(&in);
        return v;
    }
    op_outputs od, orf;
    memset(&od, 0, sizeof od), memset(&orf, 0, sizeof orf);
    vox_status st = side_run(ctx, e, &in, &od);
    if (st == VOX_ERR_UNSUPPORTED) {
        v = V_SKIP, snprintf(why, n, "op says UNSUPPORTED");
    } else if (st) {
        v = V_FAIL, snprintf(why, n, "device run failed: %s", vox_status_string(st));
    } else if ((st = side_run(ref, e, &in, &orf))) {
        v = V_FAIL, snprintf(why, n, "reference run failed: %s", vox_status_string(st));
    } else {
        op_errors err;
        for (int m = 0; m < OP_MAX_METRICS; m++)
            err.err[m] = -1;
        why[0] = 0;
        if (!e->compare(&in, &od, &orf, &err, why, n))
            v = V_FAIL;
        int di = dtype_index(c->dtype), len = 0;
        for (int m = 0; m < e->n_metrics && err.err[m] >= 0; m++) {
            const op_metric *mt = &e->metrics[m];
            double tol = mt->tol[di];
            if (err.err[m] > g_observed[op_index][m][di])
                g_observed[op_index][m][di] = err.err[m];
            if (!(err.err[m] <= tol) && v == V_OK) {
                v = V_FAIL;
                snprintf(why, n, "%s error %.3e above tolerance %.0e", mt->name, err.err[m], tol);
                len = -1;
            }
            if (v == V_OK && len >= 0 && (size_t)len < n)
                len += snprintf(why + len, n - (size_t)len, "%s%s %.2e", len ? ", " : "", mt->name, err.err[m]);
        }
    }
    outputs_free(&od), outputs_free(&orf);
    oh_free_inputs(&in);
    return v;
}

static void run_device(const vox_device_desc *dev, void *user, tu_tally *t)
{
    const run_opts *ro = user;
    const char *op_filter = ro->op, *case_filter = ro->filter, *case_skip = ro->skip;
    int perf = ro->perf, runs = ro->runs;
    int errs = 0, ref_errs = 0;
    vox_context *ctx = tu_context(dev->id, &errs), *ref = tu_context("cpu", &ref_errs);
    printf("== %s: %s (%s)%s\n", dev->id, dev->name, dev->driver, perf ? " -- timing" : "");
    if (!ctx || !ref) {
        printf("   cannot open the device or the reference\n");
        t->failed++;
        vox_context_destroy(ctx), vox_context_destroy(ref);
        return;
    }
    for (int o = 0; o < N_OPS; o++) {
        const op_entry *e = g_ops[o];
        if (op_filter && strcmp(op_filter, vox_op_name(e->op)))
            continue;
        if (!vox_backend_has_op(ctx->be, e->op)) { /* an optional op this backend lacks */
            printf("   %-18s (absent on %s: plans that need it are refused or use the core's fallback)\n",
                   vox_op_name(e->op), ctx->be->name);
            continue;
        }
        for (int i = 0; i < e->n_cases; i++) {
            const op_case *c = &e->cases[i];
            if ((case_filter && !strstr(c->name, case_filter)) || (case_skip && strstr(c->name, case_skip)) ||
                (c->perf_only && !perf))
                continue;
            char why[300] = "";
            verdict v = run_case(ctx, ref, o, c, perf, runs, why, sizeof why);
            if (v == V_OK)
                t->passed++;
            else if (v == V_FAIL)
                t->failed++;
            else
                t->skipped++;
            printf("   %-18s %-34s %-4s %s\n", vox_op_name(e->op), c->name,
                   v == V_OK ? "ok" : v == V_FAIL ? "FAIL" : "skip", why);
            fflush(stdout);
        }
    }
    vox_context_destroy(ctx);
    vox_context_destroy(ref);
}

static void print_observed(void)
{
    static const char *dn[3] = {"f32", "f16", "bf16"};
    printf("\nlargest error observed per op (tolerance)\n");
    for (int o = 0; o < N_OPS; o++)
        for (int m = 0; m < g_ops[o]->n_metrics; m++) {
            const op_metric *mt = &g_ops[o]->metrics[m];
            printf("  %-18s %-4s %-14s", vox_op_name(g_ops[o]->op), mt->name, mt->lse ? "abs/max(1,|r|)" : "norm-err");
            for (int d = 0; d < 3; d++)
                printf("  %s %.2e (%.0e)", dn[d], g_observed[o][m][d], mt->tol[d]);
            printf("\n");
        }
    printf("  (indices, copies: exact)\n");
}

int main(int argc, char **argv)
{
    const char *backend = NULL, *device = NULL, *op = NULL, *filter = NULL, *skip = NULL;
    int perf = 0, runs = 20;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--op") && i + 1 < argc) op = argv[++i];
        else if (!strcmp(argv[i], "--case") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "--skip") && i + 1 < argc) skip = argv[++i];
        else if (!strcmp(argv[i], "--perf")) perf = 1;
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc && atoi(argv[i + 1]) > 0) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-v")) verbose = 1;
        else {
            fprintf(stderr, "usage: test_ops [--backend NAME] [--device ID] [--op NAME] [--case SUBSTR] "
                            "[--skip SUBSTR] [--perf] [--runs N] [-v]\n");
            return 2;
        }
    }
    if (verbose)
        setenv("VOXATTN_TEST_VERBOSE", "1", 1);
    run_opts o = {op, filter, skip, perf, runs};
    int rc = tu_for_each_device("test_ops", backend, device, MAX_SKIPS, run_device, &o);
    if (!perf && rc != 77)
        print_observed();
    return rc;
}
