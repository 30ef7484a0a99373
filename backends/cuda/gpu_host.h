/* One host implementation of the vox_backend table over a small table of
 * vendor entry points (gpu_api), shared by the CUDA driver API backend
 * (cuda_backend.c) and HIP's module API backend (backends/hip/hip_backend.c):
 * the two APIs are nearly isomorphic, so each backend only loads its runtime,
 * fills a gpu_api and includes this file, which defines static functions and
 * `static const vox_backend gpu_backend`.
 *
 * The includer defines, before including:
 *   static const gpu_api *const G;   (the filled table, see below)
 * Kernels: backends/cuda/kernels/vox_kernels.cu (one source for both). */
#ifndef VOX_GPU_HOST_H
#define VOX_GPU_HOST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "loader.h"
#include "log.h"

enum {
    FN_PERM_TO_B2, FN_PERM_TO_B4, FN_PERM_TO_B16,
    FN_PERM_FROM_B2, FN_PERM_FROM_B4, FN_PERM_FROM_B16,
    FN_MEANS_F32, FN_MEANS_F16, FN_MEANS_BF16,
    FN_KV_SELECT,
    FN_SAMPLE_F32, FN_SAMPLE_F16, FN_SAMPLE_BF16,
    FN_QSEL_F32, FN_QSEL_F16, FN_QSEL_BF16,
    FN_ATTN_F32_K32, FN_ATTN_F16_K32, FN_ATTN_BF16_K32,
    FN_ATTN_F32_K16, FN_ATTN_F16_K16, FN_ATTN_BF16_K16,
    FN_REQUIRED, /* the rest are optional (tensor-core kernels, NVIDIA only) */
    FN_MMA_F16_D64 = FN_REQUIRED, FN_MMA_F16_D128, FN_MMA_F16_D256,
    FN_MMA_BF16_D64, FN_MMA_BF16_D128, FN_MMA_BF16_D256,
    FN_COUNT
};

static const char *const gpu_fn_names[FN_COUNT] = {
    "vox_permute_to_b2", "vox_permute_to_b4", "vox_permute_to_b16",
    "vox_permute_from_b2", "vox_permute_from_b4", "vox_permute_from_b16",
    "vox_block_means_f32", "vox_block_means_f16", "vox_block_means_bf16",
    "vox_kv_select",
    "vox_sample_rows_f32", "vox_sample_rows_f16", "vox_sample_rows_bf16",
    "vox_query_select_f32", "vox_query_select_f16", "vox_query_select_bf16",
    "vox_attn_scalar_f32_k32", "vox_attn_scalar_f16_k32", "vox_attn_scalar_bf16_k32",
    "vox_attn_scalar_f32_k16", "vox_attn_scalar_f16_k16", "vox_attn_scalar_bf16_k16",
    "vox_attn_mma_f16_d64", "vox_attn_mma_f16_d128", "vox_attn_mma_f16_d256",
    "vox_attn_mma_bf16_d64", "vox_attn_mma_bf16_d128", "vox_attn_mma_bf16_d256",
};

typedef struct gpu_dev {
    vox_logger log;
    int ordinal;
    void *ctx;    /* CUcontext (CUDA); unused by HIP */
    void *stream; /* CUstream / hipStream_t */
    void *module;
    int own_ctx, own_stream;
    int sm_count, max_smem, max_smem_optin, warp;
    int force_scalar;
    void *fn[FN_COUNT];
    int fn_smem[FN_COUNT]; /* dynamic shared memory limit already raised to */
    void *ev[2];
    uint64_t scratch;
    size_t scratch_bytes;
} gpu_dev;

typedef struct gpu_buf {
    uint64_t ptr;
    size_t bytes;
    int wrapped;
} gpu_buf;

/* Vendor entry points; every int is the runtime's status, 0 = success. */
typedef struct gpu_api {
    const char *name; /* "cuda" / "hip" */
    vox_backend_kind kind;
    int oom_code;
    /* Loads the runtime and counts devices (reason on failure). */
    vox_status (*probe)(vox_device_desc *descs, int max, int *count, char *reason, size_t n);
    /* Opens device `ordinal`: context, stream, module; fills g->ctx, stream,
     * module, sm_count, max_smem, max_smem_optin, warp. Logs on failure. */
    vox_status (*open_dev)(gpu_dev *g, int ordinal, const vox_native_queue *native);
    void (*close_dev)(gpu_dev *g);
    int (*push)(gpu_dev *g);
    void (*pop)(gpu_dev *g);
    int (*mem_alloc)(uint64_t *p, size_t bytes);
    int (*mem_free)(uint64_t p);
    int (*htod)(uint64_t dst, const void *src, size_t bytes, void *stream);
    int (*dtoh)(void *dst, uint64_t src, size_t bytes, void *stream);
    int (*sync)(void *stream);
    int (*get_function)(void **f, void *module, const char *name);
    int (*set_max_smem)(void *f, int bytes); /* NULL: no opt-in needed */
    int (*launch)(void *f, unsigned gx, unsigned bx, unsigned by, unsigned smem, void *stream, void **args);
    int (*event_create)(void **e);
    int (*event_record)(void *e, void *stream);
    int (*event_sync)(void *e);
    int (*event_elapsed)(float *ms, void *a, void *b);
    void (*event_destroy)(void *e);
    const char *(*error_string)(int code);
} gpu_api;

#endif /* VOX_GPU_HOST_H */

#if defined(VOX_GPU_HOST_IMPL) && !defined(VOX_GPU_HOST_IMPL_DONE)
#define VOX_GPU_HOST_IMPL_DONE

static vox_status gpu_err(gpu_dev *g, int rc, const char *what)
{
    vox_status st = rc == G->oom_code ? VOX_ERR_DEVICE_OUT_OF_MEMORY : VOX_ERR_BACKEND;
    return vox_fail(g ? &g->log : NULL, st, "%s: %s failed: %s (%d)", G->name, what, G->error_string(rc), rc);
}

static uint64_t dptr(vox_bref r) { return r.buf ? ((gpu_buf *)r.buf)->ptr + r.offset : 0; }

static void gpu_close(void *dev)
{
    gpu_dev *g = dev;
    if (!g)
        return;
    if (G->push(g) == 0) {
        if (g->stream)
            G->sync(g->stream);
        if (g->scratch)
            G->mem_free(g->scratch);
        for (int i = 0; i < 2; i++)
            if (g->ev[i])
                G->event_destroy(g->ev[i]);
        G->pop(g);
    }
    G->close_dev(g);
    free(g);
}

static vox_status gpu_open(int index, const vox_native_queue *native, const vox_logger *log, void **out)
{
    gpu_dev *g = calloc(1, sizeof *g);
    if (!g)
        return VOX_ERR_OUT_OF_MEMORY;
    if (log)
        g->log = *log;
    g->ordinal = index;
    vox_status st = G->open_dev(g, index, native);
    if (st) {
        free(g);
        return st;
    }
    g->force_scalar = vox_env_flag("VOXATTN_GPU_SCALAR");
    if (G->push(g) != 0) {
        G->close_dev(g);
        free(g);
        return vox_fail(log, VOX_ERR_BACKEND, "%s: cannot make the context current", G->name);
    }
    for (int i = 0; i < FN_COUNT && !st; i++) {
        int rc = G->get_function(&g->fn[i], g->module, gpu_fn_names[i]);
        if (rc) {
            g->fn[i] = NULL;
            if (i < FN_REQUIRED)
                st = vox_fail(log, VOX_ERR_BACKEND, "%s: kernel %s missing from the module: %s", G->name,
                              gpu_fn_names[i], G->error_string(rc));
        }
    }
    for (int i = 0; i < 2 && !st; i++) {
        int rc = G->event_create(&g->ev[i]);
        if (rc)
            st = gpu_err(g, rc, "event create");
    }
    G->pop(g);
    if (st) {
        gpu_close(g);
        return st;
    }
    vox_log(log, VOX_LOG_DEBUG, "%s: device %d open: %d units, %d B shared (opt-in %d), warp %d%s", G->name,
            index, g->sm_count, g->max_smem, g->max_smem_optin, g->warp,
            g->fn[FN_MMA_BF16_D128] ? ", tensor-core attention" : "");
    *out = g;
    return VOX_OK;
}

static vox_status gpu_alloc(void *dev, size_t bytes, void **out)
{
    gpu_dev *g = dev;
    gpu_buf *b = calloc(1, sizeof *b);
    if (!b)
        return VOX_ERR_OUT_OF_MEMORY;
    if (G->push(g)) {
        free(b);
        return vox_fail(&g->log, VOX_ERR_BACKEND, "%s: cannot make the context current", G->name);
    }
    int rc = G->mem_alloc(&b->ptr, bytes ? bytes : 1);
    G->pop(g);
    if (rc) {
        free(b);
        return gpu_err(g, rc, "device allocation");
    }
    b->bytes = bytes;
    *out = b;
    return VOX_OK;
}

static vox_status gpu_wrap(void *dev, uint64_t native, size_t bytes, void **out)
{
    (void)dev;
    gpu_buf *b = calloc(1, sizeof *b);
    if (!b)
        return VOX_ERR_OUT_OF_MEMORY;
    b->ptr = native, b->bytes = bytes, b->wrapped = 1;
    *out = b;
    return VOX_OK;
}

static void gpu_free(void *dev, void *buf)
{
    gpu_dev *g = dev;
    gpu_buf *b = buf;
    if (!b)
        return;
    if (!b->wrapped && G->push(g) == 0) {
        G->sync(g->stream); /* ops using it may still be queued */
        G->mem_free(b->ptr);
        G->pop(g);
    }
    free(b);
}

static vox_status gpu_copy(gpu_dev *g, int to_dev, gpu_buf *b, size_t off, void *host, size_t bytes)
{
    if (!bytes)
        return VOX_OK;
    if (G->push(g))
        return vox_fail(&g->log, VOX_ERR_BACKEND, "%s: cannot make the context current", G->name);
    int rc = to_dev ? G->htod(b->ptr + off, host, bytes, g->stream) : G->dtoh(host, b->ptr + off, bytes, g->stream);
    int rc2 = G->sync(g->stream);
    G->pop(g);
    if (rc)
        return gpu_err(g, rc, to_dev ? "copy to device" : "copy to host");
    if (rc2)
        return gpu_err(g, rc2, "stream synchronize");
    return VOX_OK;
}

static vox_status gpu_write(void *dev, void *buf, size_t off, const void *src, size_t bytes)
{
    return gpu_copy(dev, 1, buf, off, (void *)(uintptr_t)src, bytes);
}

static vox_status gpu_read(void *dev, void *buf, size_t off, void *dst, size_t bytes)
{
    return gpu_copy(dev, 0, buf, off, dst, bytes);
}

static vox_status gpu_finish(void *dev)
{
    gpu_dev *g = dev;
    if (G->push(g))
        return vox_fail(&g->log, VOX_ERR_BACKEND, "%s: cannot make the context current", G->name);
    int rc = G->sync(g->stream);
    G->pop(g);
    return rc ? gpu_err(g, rc, "stream synchronize") : VOX_OK;
}

static vox_status gpu_timer_begin(void *dev)
{
    gpu_dev *g = dev;
    if (G->push(g))
        return vox_fail(&g->log, VOX_ERR_BACKEND, "%s: cannot make the context current", G->name);
    int rc = G->event_record(g->ev[0], g->stream);
    G->pop(g);
    return rc ? gpu_err(g, rc, "event record") : VOX_OK;
}

static vox_status gpu_timer_end(void *dev, double *ms)
{
    gpu_dev *g = dev;
    if (G->push(g))
        return vox_fail(&g->log, VOX_ERR_BACKEND, "%s: cannot make the context current", G->name);
    float f = 0;
    int rc = G->event_record(g->ev[1], g->stream);
    if (!rc)
        rc = G->event_sync(g->ev[1]);
    if (!rc)
        rc = G->event_elapsed(&f, g->ev[0], g->ev[1]);
    G->pop(g);
    if (rc)
        return gpu_err(g, rc, "event timing");
    *ms = f;
    return VOX_OK;
}

/* Launches kernel `fn` on the device's stream (the context made current). */
static vox_status gpu_launch(gpu_dev *g, int fn, int64_t grid, unsigned bx, unsigned by, size_t smem, void **args)
{
    if (!g->fn[fn])
        return vox_fail(&g->log, VOX_ERR_UNSUPPORTED, "%s: kernel %s not in this build", G->name, gpu_fn_names[fn]);
    if (grid <= 0)
        return VOX_OK;
    if (grid > 0x7fffffff)
        return vox_fail(&g->log, VOX_ERR_UNSUPPORTED, "%s: %s: grid of %lld blocks too large", G->name,
                        gpu_fn_names[fn], (long long)grid);
    if (smem > (size_t)g->max_smem) {
        if (smem > (size_t)g->max_smem_optin || !G->set_max_smem)
            return vox_fail(&g->log, VOX_ERR_UNSUPPORTED, "%s: %s needs %zu B of shared memory, device has %d",
                            G->name, gpu_fn_names[fn], smem, g->max_smem_optin);
        if (g->fn_smem[fn] < (int)smem) {
            int rc = G->set_max_smem(g->fn[fn], (int)smem);
            if (rc)
                return gpu_err(g, rc, "raise the shared memory limit");
            g->fn_smem[fn] = (int)smem;
        }
    }
    if (G->push(g))
        return vox_fail(&g->log, VOX_ERR_BACKEND, "%s: cannot make the context current", G->name);
    int rc = G->launch(g->fn[fn], (unsigned)grid, bx, by, (unsigned)smem, g->stream, args);
    G->pop(g);
    if (rc) {
        char what[96];
        snprintf(what, sizeof what, "launch of %s", gpu_fn_names[fn]);
        return gpu_err(g, rc, what);
    }
    return VOX_OK;
}

static int64_t cap_grid(const gpu_dev *g, int64_t work, int per_sm)
{
    int64_t cap = (int64_t)(g->sm_count > 0 ? g->sm_count : 16) * per_sm;
    return work < cap ? work : cap;
}

static vox_status ensure_scratch(gpu_dev *g, size_t bytes)
{
    if (g->scratch_bytes >= bytes)
        return VOX_OK;
    if (G->push(g))
        return vox_fail(&g->log, VOX_ERR_BACKEND, "%s: cannot make the context current", G->name);
    G->sync(g->stream);
    if (g->scratch)
        G->mem_free(g->scratch);
    g->scratch = 0, g->scratch_bytes = 0;
    int rc = G->mem_alloc(&g->scratch, bytes);
    G->pop(g);
    if (rc) {
        g->scratch = 0;
        return gpu_err(g, rc, "scratch allocation");
    }
    g->scratch_bytes = bytes;
    return VOX_OK;
}

static size_t dt_size(vox_dtype t) { return t == VOX_F32 ? 4 : 2; }
static int dt_index(vox_dtype t) { return t == VOX_F32 ? 0 : t == VOX_F16 ? 1 : 2; }

/* Largest copy unit (16, 4 or 2 bytes) dividing every address and stride. */
static int copy_unit(uint64_t a, uint64_t b, int64_t row, int64_t s0, int64_t s1, int64_t s2)
{
    static const int units[3] = {16, 4, 2};
    for (int u = 0; u < 3; u++) {
        int64_t x = units[u];
        if (a % x == 0 && b % x == 0 && row % x == 0 && s0 % x == 0 && s1 % x == 0 && s2 % x == 0)
            return units[u];
    }
    return 2;
}

static vox_status gpu_permute_to(void *dev, const vox_op_dims *d, const vox_op_permute_to *p)
{
    gpu_dev *g = dev;
    int64_t es = (int64_t)dt_size(d->dtype), S = d->n_blocks * d->block_volume, BH = d->batch * d->heads;
    uint64_t src = dptr(p->src.ref), dst = dptr(p->dst), slot = dptr(p->slot_token);
    int u = copy_unit(src, dst, es * d->head_dim, es * p->src.stride_batch, es * p->src.stride_head,
                      es * p->src.stride_token);
    int fn = u == 16 ? FN_PERM_TO_B16 : u == 4 ? FN_PERM_TO_B4 : FN_PERM_TO_B2;
    int64_t heads = d->heads, ru = es * d->head_dim / u, sb = es * p->src.stride_batch / u,
            sh = es * p->src.stride_head / u, st = es * p->src.stride_token / u;
    void *args[] = {&src, &dst, &slot, &heads, &BH, &S, &ru, &sb, &sh, &st};
    return gpu_launch(g, fn, cap_grid(g, (BH * S + 7) / 8, 64), 32, 8, 0, args);
}

static vox_status gpu_permute_from(void *dev, const vox_op_dims *d, const vox_op_permute_from *p)
{
    gpu_dev *g = dev;
    int64_t es = (int64_t)dt_size(d->dtype), S = d->n_blocks * d->block_volume, BH = d->batch * d->heads;
    int64_t N = d->tokens;
    uint64_t src = dptr(p->src), dst = dptr(p->dst.ref), ts = dptr(p->token_slot), fill = dptr(p->fill_src);
    uint64_t lsrc = dptr(p->lse_src), ldst = dptr(p->lse_dst.ref);
    if (!lsrc || !ldst)
        lsrc = ldst = 0;
    int u = copy_unit(src, dst, es * d->head_dim, es * p->dst.stride_batch, es * p->dst.stride_head,
                      es * p->dst.stride_token);
    int fn = u == 16 ? FN_PERM_FROM_B16 : u == 4 ? FN_PERM_FROM_B4 : FN_PERM_FROM_B2;
    int64_t heads = d->heads, ru = es * d->head_dim / u, sb = es * p->dst.stride_batch / u,
            sh = es * p->dst.stride_head / u, st = es * p->dst.stride_token / u;
    int64_t lsb = p->lse_dst.stride_batch, lsh = p->lse_dst.stride_head, lst = p->lse_dst.stride_token;
    void *args[] = {&src, &lsrc, &dst, &ldst, &ts, &fill, &heads, &BH, &S, &N, &ru, &sb, &sh, &st, &lsb, &lsh, &lst};
    return gpu_launch(g, fn, cap_grid(g, (BH * N + 7) / 8, 64), 32, 8, 0, args);
}

static vox_status gpu_block_means(void *dev, const vox_op_dims *d, const vox_op_block_means *p)
{
    gpu_dev *g = dev;
    uint64_t x = dptr(p->x), kc = dptr(p->kept_count), kr = dptr(p->kept_rows), valid = dptr(d->block_valid),
             out = dptr(p->out);
    if (!kc)
        kr = 0;
    int64_t BH = d->batch * d->heads, NB = d->n_blocks, V = d->block_volume, D = d->head_dim;
    void *args[] = {&x, &kc, &kr, &valid, &out, &BH, &NB, &V, &D};
    return gpu_launch(g, FN_MEANS_F32 + dt_index(d->dtype), cap_grid(g, BH * NB, 32), 128, 1, 0, args);
}

static vox_status gpu_kv_select(void *dev, const vox_op_dims *d, const vox_op_kv_select *p)
{
    gpu_dev *g = dev;
    int64_t BH = d->batch * d->heads, NB = d->n_blocks, NBv = d->n_video_blocks, D = d->head_dim;
    int64_t P2 = 1;
    while (P2 < NBv)
        P2 <<= 1;
    int64_t per_block = (P2 * 12 + NB + 15) / 16 * 16;
    int64_t grid = cap_grid(g, BH * NB, 4);
    uint64_t scratch = 0;
    size_t smem = (size_t)per_block;
    int smem_room = (G->set_max_smem ? g->max_smem_optin : g->max_smem) - 8192; /* static part */
    if (per_block > smem_room) {
        vox_status st = ensure_scratch(g, (size_t)(grid * per_block));
        if (st)
            return st;
        scratch = g->scratch;
        smem = 0;
    }
    uint64_t qbar = dptr(p->qbar), kbar = dptr(p->kbar), count = dptr(p->kv_count), cols = dptr(p->kv_cols);
    double scale = p->scale, tau = p->tau, z = p->z;
    int rule = (int)p->rule, topk = p->topk, minb = p->min_blocks;
    void *args[] = {&qbar, &kbar, &BH, &NB, &NBv, &D, &scale, &rule, &tau, &topk, &z, &minb, &count, &cols,
                    &scratch, &P2, &per_block};
    return gpu_launch(g, FN_KV_SELECT, grid, 256, 1, smem, args);
}

static vox_status gpu_sample_rows(void *dev, const vox_op_dims *d, const vox_op_sample_rows *p)
{
    gpu_dev *g = dev;
    int64_t BH = d->batch * d->heads, NB = d->n_blocks, V = d->block_volume, D = d->head_dim, R = p->n_rows;
    uint64_t q = dptr(p->q), k = dptr(p->k), v = dptr(p->v), rows = dptr(p->rows), coord = dptr(p->block_coord),
             valid = dptr(d->block_valid), out = dptr(p->out);
    int fb = p->frame_blocks, sb = p->space_blocks, sink = p->sink;
    float scale = (float)p->scale;
    void *args[] = {&q, &k, &v, &rows, &R, &coord, &valid, &NB, &V, &D, &fb, &sb, &sink, &scale, &out, &BH};
    return gpu_launch(g, FN_SAMPLE_F32 + dt_index(d->dtype), cap_grid(g, BH * R, 16), 256, 1, 0, args);
}

static vox_status gpu_query_select(void *dev, const vox_op_dims *d, const vox_op_query_select *p)
{
    gpu_dev *g = dev;
    int64_t BH = d->batch * d->heads, NB = d->n_blocks, NBv = d->n_video_blocks, V = d->block_volume,
            D = d->head_dim;
    uint64_t q = dptr(p->q), wp = dptr(p->win_ptr), win = dptr(p->windows), valid = dptr(d->block_valid),
             kc = dptr(p->kept_count), kr = dptr(p->kept_rows), fill = dptr(p->fill_src);
    void *args[] = {&q, &wp, &win, &valid, &kc, &kr, &fill, &BH, &NB, &NBv, &V, &D};
    return gpu_launch(g, FN_QSEL_F32 + dt_index(d->dtype), cap_grid(g, BH * NB, 32), 128, 1, 0, args);
}

static vox_status gpu_attention(void *dev, const vox_op_dims *d, const vox_op_attention_forward *p)
{
    gpu_dev *g = dev;
    int64_t BH = d->batch * d->heads, NB = d->n_blocks, V = d->block_volume, D = d->head_dim;
    uint64_t q = dptr(p->q), k = dptr(p->k), v = dptr(p->v), o = dptr(p->o), lse = dptr(p->lse),
             ks = dptr(p->kv_start), kn = dptr(p->kv_count), kcol = dptr(p->kv_cols), kc = dptr(p->kept_count),
             kr = dptr(p->kept_rows), valid = dptr(d->block_valid);
    if (!kc)
        kr = 0;
    if (d->dtype != VOX_F32 && !g->force_scalar) {
        int dp = D <= 64 ? 64 : D <= 128 ? 128 : 256;
        int fn = (d->dtype == VOX_BF16 ? FN_MMA_BF16_D64 : FN_MMA_F16_D64) + (dp == 64 ? 0 : dp == 128 ? 1 : 2);
        size_t smem = (size_t)5 * 64 * dp * 2 + 128 + 256 + 3 * 64 * 5;
        int room = G->set_max_smem ? g->max_smem_optin : g->max_smem;
        if (g->fn[fn] && smem <= (size_t)room) {
            int iV = (int)V, logV = 0, iD = (int)D, tiles = (int)((V + 63) / 64);
            while ((1 << logV) < iV)
                logV++;
            float sl2 = (float)(p->scale * 1.4426950408889634);
            void *args[] = {&q, &k, &v, &o, &lse, &ks, &kn, &kcol, &kc, &kr, &valid, &NB, &iV, &logV, &iD, &sl2,
                            &tiles};
            return gpu_launch(g, fn, BH * NB * tiles, 128, 1, smem, args);
        }
    }
    int kt = 32;
    size_t smem = (size_t)(16 * D + 32 * (D + 1) + 32 * D + 16 * 32) * 4;
    if (smem > (size_t)g->max_smem) {
        kt = 16;
        smem = (size_t)(16 * D + 16 * (D + 1) + 16 * D + 16 * 16) * 4;
    }
    int fn = (kt == 32 ? FN_ATTN_F32_K32 : FN_ATTN_F32_K16) + dt_index(d->dtype);
    int tiles = (int)((V + 15) / 16);
    float scale = (float)p->scale;
    void *args[] = {&q, &k, &v, &o, &lse, &ks, &kn, &kcol, &kc, &kr, &valid, &NB, &V, &D, &scale, &tiles};
    return gpu_launch(g, fn, BH * NB * tiles, 128, 1, smem, args);
}

/* The backend table: every entry but probe is the shared implementation. */
#define VOX_GPU_BACKEND_TABLE(KIND, NAME, PROBE)                                                          \
    {                                                                                                      \
        .kind = (KIND), .name = (NAME), .probe = (PROBE), .open = gpu_open, .close = gpu_close,           \
        .buffer_alloc = gpu_alloc, .buffer_wrap = gpu_wrap, .buffer_free = gpu_free,                       \
        .buffer_write = gpu_write, .buffer_read = gpu_read, .finish = gpu_finish,                          \
        .timer_begin = gpu_timer_begin, .timer_end = gpu_timer_end, .permute_to = gpu_permute_to,   \
        .permute_from = gpu_permute_from, .block_means = gpu_block_means,                           \
        .kv_select = gpu_kv_select, .sample_rows = gpu_sample_rows,                              \
        .query_select = gpu_query_select, .attention_forward = gpu_attention,                              \
    }

#endif /* VOX_GPU_HOST_IMPL */
