/* voxattn_scale: one plan at a given size, built and run once, to show that a
 * plan scales to millions of tokens. Inputs are constant (all q, k, v equal
 * to one small value: the point is memory and completion, not accuracy).
 * Prints the plan's device memory, density and the time of one build and
 * one forward (host clock around the call and vox_context_finish).
 *
 * usage: voxattn_scale [--device ID] [--grid FxHxW] [--heads H] [--dim D]
 *                      [--mode dense|bsa] [--topk K] [--dtype bf16|f16|f32] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "voxattn.h"

static void logf_(void *u, vox_log_level l, const char *m)
{
    (void)u;
    if (l <= VOX_LOG_WARN)
        fprintf(stderr, "voxattn: %s\n", m);
}

int main(int argc, char **argv)
{
    const char *dev = NULL, *mode = "bsa";
    int F = 64, Y = 125, X = 125, H = 24, D = 128, topk = 0;
    vox_dtype dt = VOX_BF16;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--device")) dev = argv[i + 1];
        else if (!strcmp(argv[i], "--grid")) sscanf(argv[i + 1], "%dx%dx%d", &F, &Y, &X);
        else if (!strcmp(argv[i], "--heads")) H = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dim")) D = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
        else if (!strcmp(argv[i], "--topk")) topk = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dtype")) dt = !strcmp(argv[i + 1], "f32") ? VOX_F32 : !strcmp(argv[i + 1], "f16") ? VOX_F16 : VOX_BF16;
        else {
            fprintf(stderr, "usage: voxattn_scale [--device ID] [--grid FxHxW] [--heads H] [--dim D] [--mode dense|bsa] [--topk K] [--dtype T]\n");
            return 2;
        }
    }
    vox_context_params cp;
    vox_context_defaults(&cp);
    cp.device_id = dev, cp.log = logf_;
    vox_context *ctx = NULL;
    vox_status st = vox_context_create(&cp, &ctx);
    if (st) {
        fprintf(stderr, "context: %s\n", vox_status_string(st));
        return 1;
    }
    vox_plan_params pp;
    vox_plan_defaults(&pp);
    pp.heads = H, pp.head_dim = D, pp.dtype = dt, pp.frames = F, pp.height = Y, pp.width = X;
    pp.mask_mode = strcmp(mode, "dense") ? VOX_MASK_BSA : VOX_MASK_DENSE;
    pp.kv_rule = VOX_KV_TOPK;
    int64_t N = (int64_t)F * Y * X;
    int64_t nbv = (int64_t)((F + 3) / 4) * ((Y + 3) / 4) * ((X + 3) / 4);
    pp.kv_topk = topk > 0 ? topk : nbv >= 20 ? (int)(nbv / 10) : 2; /* ~10% density */
    double t0 = vox_clock_ms();
    vox_plan *plan = NULL;
    st = vox_plan_create(ctx, &pp, &plan);
    double t_create = vox_clock_ms() - t0;
    if (st) {
        fprintf(stderr, "plan: %s (after %.1f ms)\n", vox_status_string(st), t_create);
        vox_context_destroy(ctx);
        return 1;
    }
    size_t bytes = (size_t)N * H * D * vox_dtype_size(dt);
    vox_buffer *b[4] = {NULL};
    for (int i = 0; i < 4 && !st; i++)
        st = vox_buffer_create(ctx, bytes, &b[i]);
    /* constant inputs: a buffer of one repeated bf16/f16/f32 value, written in chunks */
    size_t chunk = (size_t)64 << 20;
    unsigned char *h = malloc(chunk);
    if (!h)
        st = VOX_ERR_OUT_OF_MEMORY;
    size_t es = vox_dtype_size(dt);
    for (size_t e = 0; h && e < chunk / es; e++) {
        if (es == 4) { float f = 0.01f; memcpy(h + 4 * e, &f, 4); }
        else { unsigned short u = dt == VOX_BF16 ? 0x3c24 : 0x211f; memcpy(h + 2 * e, &u, 2); } /* ~0.01 */
    }
    for (int i = 0; i < 3 && !st; i++)
        for (size_t off = 0; off < bytes && !st; off += chunk)
            st = vox_buffer_write(b[i], off, h, off + chunk <= bytes ? chunk : bytes - off);
    free(h);
    vox_tensor q = vox_tensor_bnhd(b[0], dt, 1, H, N, D), k = vox_tensor_bnhd(b[1], dt, 1, H, N, D),
               v = vox_tensor_bnhd(b[2], dt, 1, H, N, D), o = vox_tensor_bnhd(b[3], dt, 1, H, N, D);
    double t_build = 0, t_fwd = 0;
    if (!st) {
        t0 = vox_clock_ms();
        st = vox_plan_build(plan, &q, &k, &v);
        if (!st) st = vox_context_finish(ctx);
        t_build = vox_clock_ms() - t0;
    }
    if (!st) {
        t0 = vox_clock_ms();
        st = vox_attention_forward(plan, &q, &k, &v, &o, NULL);
        if (!st) st = vox_context_finish(ctx);
        t_fwd = vox_clock_ms() - t0;
    }
    vox_plan_stats s;
    if (!st)
        st = vox_plan_stats_get(plan, &s);
    if (!st)
        printf("scale: %s %lldx%lldx%lld = %lld tokens, %d heads, D %d: plan create %.1f ms, device memory of the plan "
               "%.2f GiB (q/k/v/out %.2f GiB each, not counted), density %.4f, build %.1f ms, forward %.1f ms\n",
               mode, (long long)F, (long long)Y, (long long)X, (long long)N, H, D, t_create,
               (double)s.device_bytes / (1 << 30), (double)bytes / (1 << 30), s.density, t_build, t_fwd);
    else
        fprintf(stderr, "scale: %s\n", vox_status_string(st));
    for (int i = 0; i < 4; i++)
        vox_buffer_destroy(b[i]);
    vox_plan_destroy(plan);
    vox_context_destroy(ctx);
    return st ? 1 : 0;
}
