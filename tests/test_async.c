/* Build, forward and backward only enqueue: on every asynchronous device
 * (every backend but the cpu reference, which runs each op on the calling
 * thread) a vox_plan_build + vox_attention_forward (+ vox_attention_backward
 * where the backend has it) cycle must not make the host wait for the
 * device, in every mask mode that builds masks on the device. The backward
 * after a BSA or SVG build rebuilds its transposed mask on the device
 * (BSA: mask_transpose; SVG: svg_classify over the patterns' transposes,
 * whose static columns the first backward uploads), so that too is covered.
 *
 * Each case creates a plan, uploads q/k/v (and dO), runs the cycle once
 * (first use compiles pipelines, grows work space and allocates the
 * backward's buffers, which may wait), then reads the backend's host-wait
 * counter (vox_backend.host_waits: blocking transfers, finishes, fence/event
 * waits), runs the cycle ASYNC_REPS more times on the same inputs and reads it
 * again: the two counts must be equal. A finish then must raise it (the
 * counter is live: the check can fail), and the last outputs (out, and dq,
 * dk, dv) must equal the first run's (the enqueued work ran and was right).
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
/* Cycles enqueued between the two counts (Vulkan: VOXATTN_VULKAN_POOL_SETS=4 in CI's test_async-vulkan-batches
 * makes these switch batches many times; before session 26 a full batch was a blocking flush) */
#define ASYNC_REPS 3

static uint64_t waits(vox_context *ctx) { return ctx->be->host_waits(ctx->dev); }

/* The tensors of one cycle: inputs q, k, v, dout; outputs out, lse, and
 * (backward) dq, dk, dv. */
enum { T_Q, T_K, T_V, T_DOUT, T_OUT, T_LSE, T_DQ, T_DK, T_DV, T_COUNT };

/* build + forward (+ backward); t[T_DQ].buffer == NULL: no backward */
static vox_status cycle(vox_plan *plan, const vox_tensor *t)
{
    int bwd = t[T_DQ].buffer != NULL;
    vox_status st = vox_plan_build(plan, &t[T_Q], &t[T_K], &t[T_V]);
    if (!st)
        st = vox_attention_forward(plan, &t[T_Q], &t[T_K], &t[T_V], &t[T_OUT], bwd ? &t[T_LSE] : NULL);
    if (!st && bwd)
        st = vox_attention_backward(plan, &t[T_Q], &t[T_K], &t[T_V], &t[T_OUT], &t[T_LSE], &t[T_DOUT], &t[T_DQ],
                                    &t[T_DK], &t[T_DV]);
    return st;
}

/* The outputs compared between the first and the last cycle. */
static const int compared[] = {T_OUT, T_DQ, T_DK, T_DV};
#define N_COMPARED ((int)(sizeof compared / sizeof compared[0]))

/* One case: 1 when the steady-state cycle made no host wait. */
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
    int bwd = vox_backend_has_op(ctx->be, VOX_OP_attention_backward);
    float *q = NULL, *k = NULL, *v = NULL;
    tu_normal_qkv(len, 7, &q, &k, &v);
    vox_tensor t[T_COUNT];
    memset(t, 0, sizeof t);
    vox_plan *plan = NULL;
    double *first[N_COMPARED] = {NULL}, *last[N_COMPARED] = {NULL};
    int ok = 0;
    vox_status st = vox_plan_create(ctx, &p, &plan);
    if (!st) st = tu_upload_tensor(ctx, p.dtype, q, p.batch, p.heads, N, D, 0, &t[T_Q]);
    if (!st) st = tu_upload_tensor(ctx, p.dtype, k, p.batch, p.heads, N, D, 0, &t[T_K]);
    if (!st) st = tu_upload_tensor(ctx, p.dtype, v, p.batch, p.heads, N, D, 0, &t[T_V]);
    if (!st) st = tu_poisoned_tensor(ctx, p.dtype, p.batch, p.heads, N, D, 0, &t[T_OUT]);
    if (!st && bwd) st = tu_upload_tensor(ctx, p.dtype, q, p.batch, p.heads, N, D, 0, &t[T_DOUT]); /* any values */
    if (!st && bwd) st = tu_poisoned_tensor(ctx, VOX_F32, p.batch, p.heads, N, 1, 0, &t[T_LSE]);
    for (int g = T_DQ; !st && bwd && g <= T_DV; g++)
        st = tu_poisoned_tensor(ctx, p.dtype, p.batch, p.heads, N, D, 0, &t[g]);
    if (!st) st = cycle(plan, t);
    for (int i = 0; !st && i < (bwd ? N_COMPARED : 1); i++)
        if (!(first[i] = tu_read_tensor(&t[compared[i]])))
            st = VOX_ERR_OUT_OF_MEMORY;
    if (st) {
        snprintf(why, n, "setup failed: %s", vox_status_string(st));
        goto done;
    }
    uint64_t w0 = waits(ctx);
    for (int rep = 0; rep < ASYNC_REPS && !st; rep++)
        st = cycle(plan, t);
    uint64_t w1 = waits(ctx);
    if (!st)
        st = vox_context_finish(ctx);
    uint64_t w2 = waits(ctx);
    for (int i = 0; !st && i < (bwd ? N_COMPARED : 1); i++)
        if (!(last[i] = tu_read_tensor(&t[compared[i]])))
            st = VOX_ERR_OUT_OF_MEMORY;
    int same = 1;
    for (int i = 0; !st && i < (bwd ? N_COMPARED : 1); i++)
        same = same && !memcmp(first[i], last[i], sizeof(double) * len);
    const char *what = bwd ? "build + forward + backward" : "build + forward";
    if (st)
        snprintf(why, n, "run failed: %s", vox_status_string(st));
    else if (w1 != w0)
        snprintf(why, n, "%s made the host wait %llu time(s) in %d repetitions", what, (unsigned long long)(w1 - w0),
                 ASYNC_REPS);
    else if (w2 == w1)
        snprintf(why, n, "a finish did not count as a host wait (the counter is not live)");
    else if (!same)
        snprintf(why, n, "the repeated runs' outputs differ from the first run's");
    else
        ok = 1, snprintf(why, n, "0 host waits in %d x (%s)", ASYNC_REPS, what);
done:
    for (int i = 0; i < N_COMPARED; i++)
        free(first[i]), free(last[i]);
    free(q), free(k), free(v);
    for (int i = 0; i < T_COUNT; i++)
        tu_free_tensor(&t[i]);
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
    return tu_for_each_device("test_async (build + forward + backward enqueue only)", backend, device, 0, run_device,
                              NULL);
}
