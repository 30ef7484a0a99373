/* `voxattn demo`: on the best available device, a structured synthetic video
 * attention workload through dense, SVG (head classification) and BSA
 * (query + KV selection) plans, with density, recall, error and time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct demo_io {
    vox_context *ctx;
    const vox_workload *w;
    vox_dtype dtype;
    int64_t N;
    vox_tensor q, k, v, out;
    vox_buffer *bq, *bk, *bv, *bo;
    float *dense; /* dense output, host f32 */
} demo_io;

/* Runs a plan: build (timed), forward (timed), compare with dense. */
static int run_plan(demo_io *io, const char *label, vox_plan_params *pp)
{
    vox_plan *plan = NULL;
    if (cli_check(vox_plan_create(io->ctx, pp, &plan), "plan create"))
        return 1;
    double build_ms = 0, fwd_ms = 0;
    int rc = cli_check(vox_plan_build(plan, &io->q, &io->k, &io->v), "plan build");
    if (!rc)
        rc = cli_check(vox_plan_last_build_ms(plan, &build_ms), "build time");
    if (!rc)
        rc = cli_check(vox_timer_begin(io->ctx), "timer");
    if (!rc)
        rc = cli_check(vox_attention_forward(plan, &io->q, &io->k, &io->v, &io->out, NULL), "forward");
    if (!rc)
        rc = cli_check(vox_timer_end(io->ctx, &fwd_ms), "timer");
    vox_plan_stats s;
    if (!rc)
        rc = cli_check(vox_plan_stats_get(plan, &s), "stats");
    if (rc) {
        vox_plan_destroy(plan);
        return rc;
    }
    if (!io->dense) { /* the dense run itself */
        size_t n = (size_t)(io->w->batch * io->w->heads * io->N * io->w->head_dim);
        io->dense = malloc(sizeof(float) * n);
        rc = !io->dense || cli_check(cli_download(io->bo, io->dtype, io->dense, n), "read output");
        printf("%-5s  density 1.000  %6.3f GFLOP  forward %9.3f ms\n", label, s.flops * 1e-9, fwd_ms);
        vox_plan_destroy(plan);
        return rc;
    }
    vox_eval_result ev;
    rc = cli_check(vox_plan_evaluate(plan, &io->q, &io->k, &io->v, &io->out, 64, &ev), "evaluate");
    size_t n = (size_t)(io->w->batch * io->w->heads * io->N * io->w->head_dim);
    float *o = malloc(sizeof(float) * n);
    double num = 0, den = 0;
    if (!rc)
        rc = !o || cli_check(cli_download(io->bo, io->dtype, o, n), "read output");
    for (size_t i = 0; !rc && i < n; i++) {
        num += ((double)o[i] - io->dense[i]) * ((double)o[i] - io->dense[i]);
        den += (double)io->dense[i] * io->dense[i];
    }
    free(o);
    if (!rc) {
        int64_t H = io->w->batch * io->w->heads;
        vox_head_class *cls = malloc(sizeof *cls * (size_t)H);
        double *es = malloc(sizeof(double) * (size_t)H), *et = malloc(sizeof(double) * (size_t)H);
        if (cls && es && et && !vox_plan_head_classes(plan, cls, es, et) && pp->mask_mode == VOX_MASK_SVG) {
            static const char *names[] = {"dense", "spatial", "temporal"};
            printf("       head classes:");
            for (int64_t h = 0; h < H; h++)
                printf(" %lld:%s(err_s %.3f, err_t %.3f)", (long long)h, names[cls[h]], es[h], et[h]);
            printf("\n       spatial heads %lld, temporal heads %lld, dense heads %lld\n",
                   (long long)s.n_spatial, (long long)s.n_temporal, (long long)s.n_dense);
        }
        free(cls), free(es), free(et);
        printf("%-5s  density %.3f  kept queries %.3f  %6.3f GFLOP (%.1f%% of dense)  build %8.3f ms  "
               "forward %9.3f ms\n",
               label, s.density, s.kept_query_fraction, s.flops * 1e-9, 100.0 * s.flops / s.flops_dense,
               build_ms, fwd_ms);
        printf("       recall %.4f   error vs dense: normalized %.2e, relative L2 %.4f (all tokens); "
               "sampled rows %.2e\n",
               ev.recall, den > 0 ? num / den : num, den > 0 ? sqrt(num / den) : sqrt(num), ev.rel_error);
    }
    vox_plan_destroy(plan);
    return rc;
}

int cmd_demo(int argc, char **argv)
{
    const char *device = NULL, *preset = "tiny";
    vox_dtype dtype = VOX_F32;
    int dtype_given = 0, verbose = 0;
    double tau = 0.9, keep = 0.75;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--preset") && i + 1 < argc) preset = argv[++i];
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc && cli_parse_dtype(argv[i + 1], &dtype)) i++, dtype_given = 1;
        else if (!strcmp(argv[i], "--tau") && i + 1 < argc) tau = atof(argv[++i]);
        else if (!strcmp(argv[i], "--keep") && i + 1 < argc) keep = atof(argv[++i]);
        else if (!strcmp(argv[i], "-v")) verbose = 1;
        else {
            fprintf(stderr, "demo: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    demo_io io = {0};
    io.w = vox_workload_find(preset);
    if (!io.w) {
        fprintf(stderr, "demo: unknown preset %s\n", preset);
        return 2;
    }
    if (cli_check(cli_context(device, verbose, &io.ctx), "context"))
        return 1;
    vox_device_desc dev;
    vox_context_device(io.ctx, &dev);
    if (!dtype_given && dev.type == VOX_DEVICE_GPU && (dev.caps & VOX_CAP_BF16))
        dtype = VOX_BF16;
    io.dtype = dtype;
    const vox_workload *w = io.w;
    io.N = vox_workload_tokens(w);
    size_t n = (size_t)(w->batch * w->heads * io.N * w->head_dim);
    float *q = malloc(sizeof(float) * n), *k = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n);
    int rc = !q || !k || !v || vox_workload_generate(w, 1, 1.0, q, k, v);
    if (rc)
        fprintf(stderr, "demo: out of host memory\n");
    /* the generator writes [B,H,N,D]; upload as given */
    if (!rc) rc = cli_check(cli_upload(io.ctx, dtype, q, n, &io.bq), "upload q");
    if (!rc) rc = cli_check(cli_upload(io.ctx, dtype, k, n, &io.bk), "upload k");
    if (!rc) rc = cli_check(cli_upload(io.ctx, dtype, v, n, &io.bv), "upload v");
    if (!rc) rc = cli_check(vox_buffer_create(io.ctx, n * vox_dtype_size(dtype), &io.bo), "output buffer");
    free(q), free(k), free(v);
    if (!rc) {
        io.q = vox_tensor_bhnd(io.bq, dtype, w->batch, w->heads, io.N, w->head_dim);
        io.k = vox_tensor_bhnd(io.bk, dtype, w->batch, w->heads, io.N, w->head_dim);
        io.v = vox_tensor_bhnd(io.bv, dtype, w->batch, w->heads, io.N, w->head_dim);
        io.out = vox_tensor_bhnd(io.bo, dtype, w->batch, w->heads, io.N, w->head_dim);
        vox_plan_params pp;
        vox_workload_plan_params(io.w, io.dtype, VOX_MASK_DENSE, NULL, &pp);
        printf("voxattn demo on %s: %s\n", dev.id, dev.name);
        printf("workload %s: grid %lldx%lldx%lld + %lld text tokens %s, batch %lld, heads %lld, D %lld, %s, "
               "N %lld\n",
               w->name, (long long)w->frames, (long long)w->height, (long long)w->width, (long long)w->text,
               w->text_before ? "before" : "after", (long long)w->batch, (long long)w->heads,
               (long long)w->head_dim, cli_dtype_name(dtype), (long long)io.N);
        vox_plan *probe = NULL;
        vox_plan_stats s;
        rc = cli_check(vox_plan_create(io.ctx, &pp, &probe), "plan") ||
             cli_check(vox_plan_stats_get(probe, &s), "stats");
        if (!rc)
            printf("blocks (%d,%d,%d), V=%d: %lldx%lldx%lld video blocks + %lld global, padding %.1f%%\n\n",
                   pp.block_t, pp.block_h, pp.block_w, s.block_volume, (long long)s.grid_blocks_t,
                   (long long)s.grid_blocks_h, (long long)s.grid_blocks_w, (long long)s.n_global_blocks,
                   100.0 * s.padded_fraction);
        vox_plan_destroy(probe);
        if (!rc)
            rc = run_plan(&io, "dense", &pp);
        if (!rc) {
            vox_workload_plan_params(io.w, io.dtype, VOX_MASK_SVG, NULL, &pp);
            rc = run_plan(&io, "SVG", &pp);
        }
        if (!rc) {
            vox_workload_plan_params(io.w, io.dtype, VOX_MASK_BSA, NULL, &pp);
            pp.kv_tau = tau;
            pp.query_keep = keep;
            pp.kv_min_blocks = 2;
            printf("BSA: CUMULATIVE tau %.2f, query_keep %.2f, windows (%d,%d,%d)\n", tau, keep, pp.window_t,
                   pp.window_h, pp.window_w);
            rc = run_plan(&io, "BSA", &pp);
        }
    }
    free(io.dense);
    vox_buffer_destroy(io.bq), vox_buffer_destroy(io.bk), vox_buffer_destroy(io.bv), vox_buffer_destroy(io.bo);
    vox_context_destroy(io.ctx);
    return rc;
}
