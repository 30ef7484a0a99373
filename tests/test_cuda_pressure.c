/* The ordered attention backward's gradients stay bit for bit the same while
 * other work saturates device memory beside it.
 *
 * Why: the sm_90a dQ kernel hands its ring stages to two consumers in turn;
 * with an odd ring a consumer once waited for a slot's fill without having
 * waited for the slot's previous fill (the other consumer's), so a fill that
 * landed late could let it take the older stage's data (closed in session 20:
 * backends/cuda/sm90/NOTES.md). Late fills need memory pressure, which a
 * lone backward does not make; this test makes it: a second stream of the
 * test copies a large buffer device to device over and over while the
 * backward runs on the context's stream (the native queue), and each run's
 * dq, dk, dv must equal the first quiet run's exactly (the ordered mode is
 * deterministic: same kernels, same order of every sum).
 *
 * The race is a matter of timing: this test can pass with it present. On
 * the H200 (session 21) it passed 24 loaded runs twice with the fix and
 * twice with the fix's wait removed (a library built so): it does not catch
 * that race on demand. What it does check: the ordered backward's gradients
 * stay bitwise the same beside a memory-bound stream of another caller.
 * The test owns both CUDA streams in the primary context (libcuda loaded at
 * run time, no CUDA header). exit: 0 passed, 1 failed, 77 no CUDA device.
 * VOXATTN_PRESSURE_RUNS sets the loaded runs (default 12). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tu_cuda.h"

/* FNV-1a over 8-byte words of a tensor's values as read back (doubles: the stored values, exactly); words,
 * not bytes: ~60 M values a tensor, three tensors a run. */
static uint64_t hash_tensor(const vox_tensor *t)
{
    double *x = tu_read_tensor(t);
    if (!x)
        return 0;
    size_t n = (size_t)(t->batch * t->heads * t->tokens * t->head_dim);
    uint64_t h = 1469598103934665603ull, w;
    for (size_t i = 0; i < n; i++) {
        memcpy(&w, x + i, sizeof w);
        h = (h ^ w) * 1099511628211ull;
    }
    free(x);
    return h;
}

/* Hog bytes: half a copy buffer each way, copied back and forth (DRAM-bound, L2 far too small). */
#define HOG_BYTES ((size_t)1 << 31)
#define HOG_COPIES 48

int main(void)
{
    CUcontext cctx;
    CUstream streams[2]; /* the context's (the native queue), the hog's */
    if (!tu_cuda_open(&cctx, streams, 2)) {
        printf("test_cuda_pressure: no CUDA device: skipped\n");
        return 77;
    }
    const CUstream stream = streams[0], hog = streams[1];
    const char *re = getenv("VOXATTN_PRESSURE_RUNS");
    const int runs = re && atoi(re) > 0 ? atoi(re) : 12;
    int errs = 0;
    vox_context *ctx = tu_cuda_context(cctx, stream, &errs);
    if (!ctx) {
        printf("test_cuda_pressure: cannot open cuda:0 on the test's stream: FAIL\n");
        return 1;
    }
    /* hunyuan's grid with 4 heads and text, BSA top-k ~10%: the dQ kernel of the library's default path
     * (bf16, head_dim 128, the 5-stage ring) */
    vox_plan_params p;
    vox_plan_defaults(&p);
    p.batch = 1, p.heads = 4, p.head_dim = 128, p.frames = 33, p.height = 45, p.width = 80;
    p.block_t = 4, p.block_h = 4, p.block_w = 4;
    p.dtype = VOX_BF16;
    const tu_mask_case mc = {"bsa_topk", VOX_MASK_BSA, VOX_KV_TOPK, 216 /* ~10% of 2164 blocks */, 1.0, 256};
    tu_mask_case_apply(&mc, &p);
    int64_t N = tu_tokens(&p), D = p.head_dim, BH = p.batch * p.heads;
    size_t len = (size_t)(BH * N * D);
    float *x[4], *spare[2];
    tu_normal_qkv(len, 21, &x[0], &x[1], &x[2]);
    tu_normal_qkv(len, 22, &x[3], &spare[0], &spare[1]); /* x[3]: dout */
    free(spare[0]), free(spare[1]);
    vox_tensor in[4] = {{0}}, o = {0}, lse = {0}, g[3] = {{0}};
    vox_plan *plan = NULL;
    CUdeviceptr hbuf = 0;
    int failed = 0, done = 0;
    uint64_t ref[3] = {0, 0, 0};
    const char *stage = "setup";
    vox_status st = vox_plan_create(ctx, &p, &plan);
    for (int i = 0; i < 4 && !st; i++)
        st = tu_upload_tensor(ctx, p.dtype, x[i], p.batch, p.heads, N, D, 0, &in[i]);
    if (!st) st = tu_poisoned_tensor(ctx, p.dtype, p.batch, p.heads, N, D, 0, &o);
    if (!st) st = tu_poisoned_tensor(ctx, VOX_F32, p.batch, p.heads, N, 1, 0, &lse);
    for (int i = 0; i < 3 && !st; i++)
        st = tu_poisoned_tensor(ctx, p.dtype, p.batch, p.heads, N, D, 0, &g[i]);
    if (!st) st = vox_plan_build(plan, &in[0], &in[1], &in[2]);
    if (!st) st = vox_attention_forward(plan, &in[0], &in[1], &in[2], &o, &lse);
    stage = "the quiet backward";
    if (!st) st = vox_attention_backward(plan, &in[0], &in[1], &in[2], &o, &lse, &in[3], &g[0], &g[1], &g[2]);
    for (int i = 0; i < 3 && !st; i++)
        ref[i] = hash_tensor(&g[i]);
    if (!st && cu.MemAlloc(&hbuf, HOG_BYTES)) {
        printf("test_cuda_pressure: cannot allocate the %zu-byte hog buffer: skipped\n", (size_t)HOG_BYTES);
        hbuf = 0;
        goto out;
    }
    stage = "the loaded backwards";
    for (int r = 0; r < runs && !st; r++) {
        /* the hog first (it keeps copying after the backward starts), then the backward on the context's stream */
        for (int c = 0; c < HOG_COPIES && !st; c++)
            if (cu.MemcpyDtoDAsync(hbuf + (c & 1 ? 0 : HOG_BYTES / 2), hbuf + (c & 1 ? HOG_BYTES / 2 : 0),
                                   HOG_BYTES / 2, hog))
                st = VOX_ERR_BACKEND;
        if (!st)
            st = vox_attention_backward(plan, &in[0], &in[1], &in[2], &o, &lse, &in[3], &g[0], &g[1], &g[2]);
        if (!st && (cu.StreamSynchronize(hog) || cu.StreamSynchronize(stream)))
            st = VOX_ERR_BACKEND;
        for (int i = 0; i < 3 && !st; i++) {
            const uint64_t h = hash_tensor(&g[i]);
            if (h != ref[i]) {
                printf("   run %-3d %s hash %016llx, the quiet run's %016llx: FAIL\n", r,
                       i == 0 ? "dq" : i == 1 ? "dk" : "dv", (unsigned long long)h, (unsigned long long)ref[i]);
                failed++;
            }
        }
        done += !st;
    }
out:
    if (st) {
        printf("test_cuda_pressure: %s failed: %s: FAIL\n", stage, vox_status_string(st));
        failed++;
    } else if (hbuf) {
        printf("test_cuda_pressure: %d loaded backwards, dq %016llx dk %016llx dv %016llx: %s\n", done,
               (unsigned long long)ref[0], (unsigned long long)ref[1], (unsigned long long)ref[2],
               failed ? "FAIL" : "all bit for bit the quiet run's");
    }
    if (hbuf)
        cu.MemFree(hbuf);
    for (int i = 0; i < 4; i++)
        tu_free_tensor(&in[i]), free(x[i]);
    for (int i = 0; i < 3; i++)
        tu_free_tensor(&g[i]);
    tu_free_tensor(&o), tu_free_tensor(&lse);
    vox_plan_destroy(plan);
    vox_context_destroy(ctx);
    cu.StreamDestroy(hog), cu.StreamDestroy(stream);
    return failed || errs ? 1 : 0;
}
