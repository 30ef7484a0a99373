/* Build and forward only enqueue: on every asynchronous device (every backend
 * but the cpu reference, which runs each op on the calling thread) a
 * vox_plan_build + vox_attention_forward pair must not make the host wait for
 * the device, in every mask mode that builds masks on the device.
 *
 * Each case creates a plan, uploads q/k/v, runs build + forward once (first
 * use compiles pipelines and grows work space, which may wait), then reads the
 * backend's host-wait counter (vox_backend.host_waits: blocking transfers,
 * finishes, fence/event waits), runs build + forward three more times on the
 * same inputs and reads it again: the two counts must be equal. A finish then
 * must raise it (the counter is live: the check can fail), and the last
 * output must equal the first run's (the enqueued work ran and was right).
 * The cpu device reports "synchronous" and runs nothing.
 *
 * usage: test_async [--backend NAME] [--device ID]; exit 0, 1 failures, 77 no device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h" /* ctx->be->host_waits */
#include "testutil.h"

static const tu_mask_case cases[] = {
    {"bsa_topk", VOX_MASK_BSA, VOX_KV_TOPK, 3, 1.0, 0},
    {"bsa_cumulative_text", VOX_MASK_BSA, VOX_KV_CUMULATIVE, 0.9, 1.0, 8},
    {"bsa_stat_keep50", VOX_MASK_BSA, VOX_KV_STAT, 1.0, 0.5, 0},
    {"svg", VOX_MASK_SVG, VOX_KV_CUMULATIVE, 0.9, 1.0, 8},
    {"dense_keep25", VOX_MASK_DENSE, VOX_KV_CUMULATIVE, 0.9, 0.25, 0},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static uint64_t waits(vox_context *ctx) { return ctx->be->host_waits(ctx->dev); }

static vox_status build_forward(vox_plan *plan, const vox_tensor *q, const vox_tensor *k, const vox_tensor *v,
                                const vox_tensor *o)
{
    vox_status st = vox_plan_build(plan, q, k, v);
    return st ? st : vox_attention_forward(plan, q, k, v, o, NULL);
}

/* One case: 1 when the steady-state build + forward made no host wait. */
static int run_case(vox_context *ctx, const tu_mask_case *c, char *why, size_t n)
{
    vox_plan_params p;
    vox_plan_defaults(&p);
    p.batch = 1, p.heads = 2, p.head_dim = 32, p.frames = 4, p.height = 8, p.width = 8;
    p.block_t = c->keep < 1.0 ? 2 : 1, p.block_h = 4, p.block_w = 4; /* pruning needs blocks of frames */
    p.dtype = VOX_F32;
    tu_mask_case_apply(c, &p);
    int64_t N = tu_tokens(&p), D = p.head_dim;
    size_t len = (size_t)(p.batch * p.heads * N * D);
    float *q = NULL, *k = NULL, *v = NULL;
    tu_normal_qkv(len, 7, &q, &k, &v);
    vox_tensor tq = {0}, tk = {0}, tv = {0}, to = {0};
    vox_plan *plan = NULL;
    double *first = NULL, *last = NULL;
    int ok = 0;
    vox_status st = vox_plan_create(ctx, &p, &plan);
    if (!st) st = tu_upload_tensor(ctx, p.dtype, q, p.batch, p.heads, N, D, 0, &tq);
    if (!st) st = tu_upload_tensor(ctx, p.dtype, k, p.batch, p.heads, N, D, 0, &tk);
    if (!st) st = tu_upload_tensor(ctx, p.dtype, v, p.batch, p.heads, N, D, 0, &tv);
    if (!st) st = tu_poisoned_tensor(ctx, p.dtype, p.batch, p.heads, N, D, 0, &to);
    if (!st) st = build_forward(plan, &tq, &tk, &tv, &to);
    if (!st && !(first = tu_read_tensor(&to)))
        st = VOX_ERR_OUT_OF_MEMORY;
    if (st) {
        snprintf(why, n, "setup failed: %s", vox_status_string(st));
        goto done;
    }
    uint64_t w0 = waits(ctx);
    for (int rep = 0; rep < 3 && !st; rep++)
        st = build_forward(plan, &tq, &tk, &tv, &to);
    uint64_t w1 = waits(ctx);
    if (!st)
        st = vox_context_finish(ctx);
    uint64_t w2 = waits(ctx);
    if (!st && !(last = tu_read_tensor(&to)))
        st = VOX_ERR_OUT_OF_MEMORY;
    if (st)
        snprintf(why, n, "run failed: %s", vox_status_string(st));
    else if (w1 != w0)
        snprintf(why, n, "build + forward made the host wait %llu time(s) in 3 repetitions",
                 (unsigned long long)(w1 - w0));
    else if (w2 == w1)
        snprintf(why, n, "a finish did not count as a host wait (the counter is not live)");
    else if (memcmp(first, last, sizeof(double) * len))
        snprintf(why, n, "the repeated runs' output differs from the first run's");
    else
        ok = 1, snprintf(why, n, "0 host waits in 3 x (build + forward)");
done:
    free(first), free(last), free(q), free(k), free(v);
    tu_free_tensor(&tq), tu_free_tensor(&tk), tu_free_tensor(&tv), tu_free_tensor(&to);
    vox_plan_destroy(plan);
    return ok;
}

static void run_device(const vox_device_desc *dev, void *user, tu_tally *t)
{
    (void)user;
    int errs = 0;
    vox_context *ctx = tu_context(dev->id, &errs);
    printf("== %s: %s\n", dev->id, dev->name);
    if (!ctx) {
        printf("   cannot open the device: every case skipped\n");
        t->skipped += N_CASES;
        return;
    }
    if (!ctx->be->host_waits) {
        printf("   synchronous device (ops run on the calling thread): nothing to check\n");
        t->passed++;
        vox_context_destroy(ctx);
        return;
    }
    for (int i = 0; i < N_CASES; i++) {
        char why[256];
        int ok = run_case(ctx, &cases[i], why, sizeof why);
        printf("   %-22s %-4s %s\n", cases[i].name, ok ? "ok" : "FAIL", why);
        if (ok)
            t->passed++;
        else
            t->failed++;
    }
    vox_context_destroy(ctx);
}

int main(int argc, char **argv)
{
    const char *backend = NULL, *device = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else {
            fprintf(stderr, "usage: test_async [--backend NAME] [--device ID]\n");
            return 2;
        }
    }
    return tu_for_each_device("test_async (build + forward enqueue only)", backend, device, 0, run_device, NULL);
}
