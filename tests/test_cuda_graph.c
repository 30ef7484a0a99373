/* vox_plan_build + vox_attention_forward captured into a CUDA graph on the
 * caller's stream (the native queue), replayed on new inputs.
 *
 * The test owns a CUDA stream in the primary context (libcuda loaded at run
 * time, no CUDA header), opens a voxattn context on it and, per mask mode
 * (BSA top-k, BSA cumulative with query_keep 0.5 and text, SVG):
 *   1. warms the plan up eagerly on input set A (first use allocates and
 *      loads what capture may not);
 *   2. captures build + forward on set A's buffers into a graph (global
 *      capture mode: any synchronizing call inside fails the capture);
 *   3. writes set B into the same buffers, replays the graph, reads the
 *      output and the exported masks/keep flags;
 *   4. runs build + forward eagerly on set B and requires the same masks
 *      exactly and the same output bit for bit (same kernels, same order).
 * A replay that kept set A's masks (e.g. a host decision baked into the
 * graph) fails step 4, since A and B select differently (checked).
 *
 * exit: 0 passed, 1 failed, 77 no CUDA device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tu_cuda.h"

static const tu_mask_case cases[] = {
    {"bsa_topk", VOX_MASK_BSA, VOX_KV_TOPK, 6, 1.0, 0},
    {"bsa_cumulative_keep50_text", VOX_MASK_BSA, VOX_KV_CUMULATIVE, 0.8, 0.5, 64},
    {"svg", VOX_MASK_SVG, VOX_KV_CUMULATIVE, 0.9, 1.0, 64},
};

/* What a run leaves: output and every mask with its keep flags. */
typedef struct snap {
    double *out;
    int32_t *rp, *cols;
    int8_t *keep;
} snap;

static void snap_free(snap *s) { free(s->out), free(s->rp), free(s->cols), free(s->keep); }

static vox_status take(vox_plan *plan, const vox_tensor *o, int64_t BH, int64_t NB, int64_t S, snap *s)
{
    s->out = tu_read_tensor(o);
    s->rp = calloc((size_t)(BH * (NB + 1)), sizeof(int32_t));
    s->cols = calloc((size_t)(BH * NB * NB), sizeof(int32_t));
    s->keep = calloc((size_t)(BH * S), 1);
    if (!s->out || !s->rp || !s->cols || !s->keep)
        return VOX_ERR_OUT_OF_MEMORY;
    vox_status st = VOX_OK;
    for (int64_t m = 0; m < BH && !st; m++) {
        int64_t nnz;
        st = vox_plan_export_mask(plan, m, s->rp + m * (NB + 1), s->cols + m * NB * NB, NB * NB, &nnz,
                                  s->keep + m * S);
    }
    return st;
}

static int same_masks(const snap *a, const snap *b, int64_t BH, int64_t NB, int64_t S)
{
    return !memcmp(a->rp, b->rp, sizeof(int32_t) * (size_t)(BH * (NB + 1))) &&
           !memcmp(a->cols, b->cols, sizeof(int32_t) * (size_t)(BH * NB * NB)) &&
           !memcmp(a->keep, b->keep, (size_t)(BH * S));
}

static vox_status run(vox_plan *plan, vox_tensor *q, vox_tensor *k, vox_tensor *v, vox_tensor *o)
{
    vox_status st = vox_plan_build(plan, q, k, v);
    return st ? st : vox_attention_forward(plan, q, k, v, o, NULL);
}

static int run_case(vox_context *ctx, CUstream stream, const tu_mask_case *c, char *why, size_t n)
{
    vox_plan_params p;
    vox_plan_defaults(&p);
    p.batch = 1, p.heads = 4, p.head_dim = 128, p.frames = 8, p.height = 16, p.width = 16;
    p.block_t = 4, p.block_h = 4, p.block_w = 4;
    p.dtype = VOX_BF16;
    tu_mask_case_apply(c, &p);
    int64_t N = tu_tokens(&p), D = p.head_dim, BH = p.batch * p.heads;
    size_t len = (size_t)(BH * N * D);
    float *a[3], *b[3];
    tu_normal_qkv(len, 11, &a[0], &a[1], &a[2]);
    tu_normal_qkv(len, 12, &b[0], &b[1], &b[2]);
    vox_tensor t[3] = {{0}}, o = {0};
    vox_plan *plan = NULL;
    snap replay = {0}, eager = {0}, first = {0};
    CUgraph graph = NULL;
    CUgraphExec exec = NULL;
    int ok = 0;
    const char *stage = "setup";
    vox_status st = vox_plan_create(ctx, &p, &plan);
    for (int i = 0; i < 3 && !st; i++)
        st = tu_upload_tensor(ctx, p.dtype, a[i], p.batch, p.heads, N, D, 0, &t[i]);
    if (!st) st = tu_poisoned_tensor(ctx, p.dtype, p.batch, p.heads, N, D, 0, &o);
    vox_plan_stats ps;
    if (!st) st = vox_plan_stats_get(plan, &ps);
    if (st)
        goto done;
    int64_t NB = ps.n_blocks, S = NB * ps.block_volume;
    stage = "eager warm-up on set A";
    st = run(plan, &t[0], &t[1], &t[2], &o);
    if (!st) st = take(plan, &o, BH, NB, S, &first);
    if (st)
        goto done;
    stage = "capture";
    if (cu.StreamBeginCapture(stream, 0 /* global */)) {
        st = VOX_ERR_BACKEND;
        goto done;
    }
    st = run(plan, &t[0], &t[1], &t[2], &o);
    CUresult rc = cu.StreamEndCapture(stream, &graph);
    if (!st && rc) {
        snprintf(why, n, "cuStreamEndCapture failed (%d): something synchronized during capture", rc);
        goto out;
    }
    if (st)
        goto done;
    size_t nodes = 0;
    cu.GraphGetNodes(graph, NULL, &nodes);
    stage = "instantiate";
    if (cu.GraphInstantiate(&exec, graph, 0)) {
        st = VOX_ERR_BACKEND;
        goto done;
    }
    stage = "replay on set B";
    for (int i = 0; i < 3 && !st; i++) {
        vox_tensor tmp = {0};
        st = tu_upload_tensor(ctx, p.dtype, b[i], p.batch, p.heads, N, D, 0, &tmp);
        if (!st) { /* copy set B into set A's buffer (the graph's addresses) */
            size_t bytes = vox_tensor_span_bytes(&tmp);
            void *h = malloc(bytes);
            st = h ? vox_buffer_read(tmp.buffer, 0, h, bytes) : VOX_ERR_OUT_OF_MEMORY;
            if (!st)
                st = vox_buffer_write(t[i].buffer, t[i].offset, h, bytes);
            free(h);
        }
        tu_free_tensor(&tmp);
    }
    if (!st && (cu.GraphLaunch(exec, stream) || cu.StreamSynchronize(stream)))
        st = VOX_ERR_BACKEND;
    if (!st) st = take(plan, &o, BH, NB, S, &replay);
    stage = "eager on set B";
    if (!st) st = run(plan, &t[0], &t[1], &t[2], &o);
    if (!st) st = take(plan, &o, BH, NB, S, &eager);
    if (st)
        goto done;
    if (same_masks(&first, &eager, BH, NB, S) && c->mode != VOX_MASK_SVG)
        snprintf(why, n, "sets A and B select the same masks: the case cannot tell a stale replay");
    else if (!same_masks(&replay, &eager, BH, NB, S))
        snprintf(why, n, "the replayed build's masks differ from the eager build's on the same inputs");
    else if (memcmp(replay.out, eager.out, sizeof(double) * len))
        snprintf(why, n, "the replayed forward's output differs from the eager forward's");
    else
        ok = 1, snprintf(why, n, "graph of %zu nodes: masks and output identical to eager", nodes);
done:
    if (st)
        snprintf(why, n, "%s failed: %s", stage, vox_status_string(st));
out:
    if (exec)
        cu.GraphExecDestroy(exec);
    if (graph)
        cu.GraphDestroy(graph);
    snap_free(&replay), snap_free(&eager), snap_free(&first);
    for (int i = 0; i < 3; i++)
        tu_free_tensor(&t[i]), free(a[i]), free(b[i]);
    tu_free_tensor(&o);
    vox_plan_destroy(plan);
    return ok;
}

int main(void)
{
    CUcontext cctx;
    CUstream stream;
    if (!tu_cuda_open(&cctx, &stream, 1)) {
        printf("test_cuda_graph: no CUDA device: skipped\n");
        return 77;
    }
    int errs = 0;
    vox_context *ctx = tu_cuda_context(cctx, stream, &errs);
    if (!ctx) {
        printf("test_cuda_graph: cannot open cuda:0 on the test's stream: FAIL\n");
        return 1;
    }
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[256] = "";
        int ok = run_case(ctx, stream, &cases[i], why, sizeof why);
        printf("   %-28s %-4s %s\n", cases[i].name, ok ? "ok" : "FAIL", why);
        failed += !ok;
    }
    vox_context_destroy(ctx);
    cu.StreamDestroy(stream);
    printf("test_cuda_graph: %d passed, %d failed\n", (int)(sizeof cases / sizeof cases[0]) - failed, failed);
    return failed ? 1 : 0;
}
