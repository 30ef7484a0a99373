/* CUDA/HIP host layer: devices, buffers, transfers, timers and the global
 * scratch, over the vendor entry points of gpu_api (gpu_internal.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"
#include "loader.h"

/* Session 18's opt-in paths, their defaults in one place (A/B: the variables name every value): block_means'
 * kernel variant (VOXATTN_BLOCK_MEANS_LEAN: 0 vox_block_means_pipe_*, 2 _ring: session 19 measured it ~7% faster per launch) and query_select's fused q means
 * (VOXATTN_QUERY_SELECT_MEANS: 0 off) */
#define VOX_BM_LEAN_DEFAULT 2 /* cuda only: _ring (session 19, backends/cuda/NOTES.md); hip keeps _pipe */
#define VOX_QS_MEANS_DEFAULT 0

vox_status gpu_err(gpu_dev *g, int rc, const char *what)
{
    const gpu_api *G = g->api;
    vox_status st = rc == G->oom_code ? VOX_ERR_DEVICE_OUT_OF_MEMORY : VOX_ERR_BACKEND;
    return vox_fail(&g->log, st, "%s: %s failed: %s (%d)", G->name, what, G->error_string(rc), rc);
}

vox_status gpu_push(gpu_dev *g)
{
    if (g->api->push(g))
        return vox_fail(&g->log, VOX_ERR_BACKEND, "%s: cannot make the context current", g->api->name);
    return VOX_OK;
}

void gpu_close(void *dev)
{
    gpu_dev *g = dev;
    if (!g)
        return;
    const gpu_api *G = g->api;
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

vox_status gpu_open(const gpu_api *G, int index, const vox_native_queue *native, const vox_logger *log,
                    void **out)
{
    gpu_dev *g = calloc(1, sizeof *g);
    if (!g)
        return VOX_ERR_OUT_OF_MEMORY;
    g->api = G;
    if (log)
        g->log = *log;
    g->ordinal = index;
    vox_status st = G->open_dev(g, index, native);
    if (st) {
        free(g);
        return st;
    }
    g->force_scalar = vox_env_flag("VOXATTN_GPU_SCALAR");
    g->kv_cum_f32 = vox_env_flag("VOXATTN_KV_SELECT_CUMULATIVE_F32");
    g->kv_mma_inline = vox_env_flag("VOXATTN_KV_SELECT_MMA_INLINE");
    g->kv_fast_old = vox_env_flag("VOXATTN_KV_SELECT_FAST_OLD");
    g->kv_fast_break = vox_env_flag("VOXATTN_KV_SELECT_FAST_BREAK");
    g->kv_tp = vox_env_flag("VOXATTN_KV_SELECT_TP");
    g->kv_fast_abl = vox_env_flag("VOXATTN_KV_SELECT_FAST_ABL");
    g->kv_p1_old = vox_env_flag("VOXATTN_KV_SELECT_P1_OLD");
    g->kv_wg_abl = vox_env_flag("VOXATTN_KV_SELECT_WG_ABL");
    g->kv_wg_break = vox_env_flag("VOXATTN_KV_SELECT_WG_BREAK");
    g->kv_wg_areg = vox_env_flag("VOXATTN_KV_SELECT_WG_AREG");
    g->kv_wg_serial = vox_env_flag("VOXATTN_KV_SELECT_WG_SERIAL");
    g->kv_wgs_abl = vox_env_flag("VOXATTN_KV_SELECT_WGS_ABL");
    g->kv_wgs_p1 = vox_env_flag("VOXATTN_KV_SELECT_WGS_P1");
    g->kv_wg_lda = vox_env_flag("VOXATTN_KV_SELECT_WG_LDA");
    g->kv_ss_abl = vox_env_flag("VOXATTN_KV_SELECT_SS_ABL");
    g->kv_cum_bins = vox_env_flag("VOXATTN_KV_SELECT_CUM_BINS");
    g->kv_cum_abl = vox_env_flag("VOXATTN_KV_SELECT_CUM_ABL");
    g->kv_rows_old = vox_env_flag("VOXATTN_KV_SELECT_ROWS_OLD");
    g->kv_rows_abl = vox_env_flag("VOXATTN_KV_SELECT_ROWS_ABL");
    g->kv_exact_all = vox_env_flag("VOXATTN_KV_SELECT_EXACT_ALL");
    g->kv_rows_break = vox_env_flag("VOXATTN_KV_SELECT_ROWS_BREAK");
    g->srm_w8 = vox_env_flag("VOXATTN_SAMPLE_ROWS_W8");
    g->srm_wg_off = vox_env_flag("VOXATTN_SAMPLE_ROWS_WG_OFF");
    g->srm_wg_pv2 = vox_env_flag("VOXATTN_SAMPLE_ROWS_WG_PV2");
    g->srm_wg_break = vox_env_flag("VOXATTN_SAMPLE_ROWS_WG_BREAK");
    g->srm_rotate = vox_env_flag("VOXATTN_SAMPLE_ROWS_ROTATE");
    g->srm16 = vox_env_flag("VOXATTN_SAMPLE_ROWS_OLD")
                   ? 0
                   : (vox_env_flag("VOXATTN_SAMPLE_ROWS_NO_LATE") ? 0 : 1) | (vox_env_flag("VOXATTN_SAMPLE_ROWS_NO_ATAB") ? 0 : 2);
    g->block_copies = vox_env_flag("VOXATTN_GPU_BLOCK_COPIES");
    g->qs_chunk128 = vox_env_flag("VOXATTN_QUERY_SELECT_CHUNK128");
    g->qs_cta = vox_env_flag("VOXATTN_QUERY_SELECT_CTA");
    g->qs_exact_all = vox_env_flag("VOXATTN_QUERY_SELECT_EXACT_ALL");
    g->qs_no_prefetch = vox_env_flag("VOXATTN_QUERY_SELECT_NO_PREFETCH");
    g->qs_warp = vox_env_flag("VOXATTN_QUERY_SELECT_WARP");
    g->qs_stage_bufs2 = vox_env_flag("VOXATTN_QUERY_SELECT_STAGE_BUFS2");
    g->qs_heads_together = vox_env_flag("VOXATTN_QUERY_SELECT_HEADS_TOGETHER");
    g->qs_stage_break = vox_env_flag("VOXATTN_QUERY_SELECT_STAGE_BREAK");
    { /* unset or empty: VOX_QS_MEANS_DEFAULT */
        const char *m = getenv("VOXATTN_QUERY_SELECT_MEANS");
        g->qs_means = m && *m ? vox_env_flag("VOXATTN_QUERY_SELECT_MEANS") : VOX_QS_MEANS_DEFAULT;
    }
    g->qs_means_abl = vox_env_flag("VOXATTN_QUERY_SELECT_MEANS_ABL");
    {
        const char *r = getenv("VOXATTN_QUERY_SELECT_ROTATE");
        g->qs_rotate = r ? atoi(r) : 0;
        g->qs_rotate = g->qs_rotate < 0 ? 0 : g->qs_rotate > 5 ? 5 : g->qs_rotate;
        r = getenv("VOXATTN_QUERY_SELECT_ROTATE_RUN");
        g->qs_rotate_run = r && atoi(r) > 0 ? atoi(r) : 1;
    }
    g->bm_nopipe = vox_env_flag("VOXATTN_BLOCK_MEANS_NOPIPE");
    g->bm_pf = vox_env_flag("VOXATTN_BLOCK_MEANS_PF");
    g->bm_abl = vox_env_flag("VOXATTN_BLOCK_MEANS_ABL");
    g->bm_pf_break = vox_env_flag("VOXATTN_BLOCK_MEANS_PF_BREAK");
    { /* a variant number 0-6 (other text that is on: 1); the ABL list: its digits 0-6 in turn, 1 = "012" */
        const char *l = getenv("VOXATTN_BLOCK_MEANS_LEAN"), *ab = getenv("VOXATTN_BLOCK_MEANS_LEAN_ABL");
        g->bm_lean = !l || !*l                                 ? (strcmp(G->name, "cuda") ? 0 : VOX_BM_LEAN_DEFAULT)
                     : l[0] >= '0' && l[0] <= '6' && !l[1] ? l[0] - '0'
                                                           : vox_env_flag("VOXATTN_BLOCK_MEANS_LEAN");
        size_t n = 0;
        if (vox_env_flag("VOXATTN_BLOCK_MEANS_LEAN_ABL"))
            for (const char *c = strcmp(ab, "1") ? ab : "012"; *c && n + 1 < sizeof g->bm_lean_abl; c++)
                if (*c >= '0' && *c <= '6')
                    g->bm_lean_abl[n++] = *c;
        g->bm_lean_abl[n] = 0;
    }
    g->profile = vox_env_flag("VOXATTN_GPU_PROFILE");
    if (G->push(g) != 0) {
        G->close_dev(g);
        free(g);
        return vox_fail(log, VOX_ERR_BACKEND, "%s: cannot make the context current", G->name);
    }
    for (int i = 0; i < GPU_FN_COUNT && !st; i++) {
        int rc = G->get_function(&g->fn[i], g->module, gpu_fn_names[i]);
        if (rc) {
            g->fn[i] = NULL;
            if (i < GPU_FN_REQUIRED)
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
    vox_log(log, VOX_LOG_DEBUG, "%s: device %d open: %d units, %d B shared (opt-in %d), warp %d", G->name, index,
            g->sm_count, g->max_smem, g->max_smem_optin, g->warp);
    const char *mma = g->fn[GPU_FN_attention_forward_mma_bf16_d128] ? "tensor cores (mma.sync)" : NULL;
    if (g->force_scalar)
        vox_log(log, VOX_LOG_INFO, "%s: device %d: f16/bf16 attention: portable scalar kernel (VOXATTN_GPU_SCALAR)",
                G->name, index);
    else
        vox_log(log, VOX_LOG_INFO, "%s: device %d: f16/bf16 attention: %s%s%s", G->name, index,
                g->vendor_attention ? g->vendor_attention : mma ? mma : "portable scalar kernel",
                g->vendor_attention ? ", shapes it declines: " : "",
                g->vendor_attention ? (mma ? mma : "portable scalar kernel") : "");
    *out = g;
    return VOX_OK;
}

vox_status gpu_alloc(void *dev, size_t bytes, void **out)
{
    gpu_dev *g = dev;
    gpu_buf *b = calloc(1, sizeof *b);
    if (!b)
        return VOX_ERR_OUT_OF_MEMORY;
    vox_status st = gpu_push(g);
    if (st) {
        free(b);
        return st;
    }
    int rc = g->api->mem_alloc(&b->ptr, bytes ? bytes : 1);
    g->api->pop(g);
    if (rc) {
        free(b);
        return gpu_err(g, rc, "device allocation");
    }
    b->bytes = bytes;
    *out = b;
    return VOX_OK;
}

vox_status gpu_wrap(void *dev, uint64_t native, size_t bytes, void **out)
{
    (void)dev;
    gpu_buf *b = calloc(1, sizeof *b);
    if (!b)
        return VOX_ERR_OUT_OF_MEMORY;
    b->ptr = native, b->bytes = bytes, b->wrapped = 1;
    *out = b;
    return VOX_OK;
}

void gpu_free(void *dev, void *buf)
{
    gpu_dev *g = dev;
    gpu_buf *b = buf;
    if (!b)
        return;
    if (!b->wrapped && g->api->push(g) == 0) {
        g->api->sync(g->stream); /* ops using it may still be queued */
        g->host_waits++;
        g->api->mem_free(b->ptr);
        g->api->pop(g);
    }
    free(b);
}

static vox_status gpu_copy(gpu_dev *g, int to_dev, gpu_buf *b, size_t off, void *host, size_t bytes)
{
    const gpu_api *G = g->api;
    if (!bytes)
        return VOX_OK;
    vox_status st = gpu_push(g);
    if (st)
        return st;
    int rc = to_dev ? G->htod(b->ptr + off, host, bytes, g->stream) : G->dtoh(host, b->ptr + off, bytes, g->stream);
    int rc2 = G->sync(g->stream);
    g->host_waits++;
    G->pop(g);
    if (rc)
        return gpu_err(g, rc, to_dev ? "copy to device" : "copy to host");
    if (rc2)
        return gpu_err(g, rc2, "stream synchronize");
    return VOX_OK;
}

vox_status gpu_write(void *dev, void *buf, size_t off, const void *src, size_t bytes)
{
    return gpu_copy(dev, 1, buf, off, (void *)(uintptr_t)src, bytes);
}

vox_status gpu_read(void *dev, void *buf, size_t off, void *dst, size_t bytes)
{
    return gpu_copy(dev, 0, buf, off, dst, bytes);
}

vox_status gpu_finish(void *dev)
{
    gpu_dev *g = dev;
    vox_status st = gpu_push(g);
    if (st)
        return st;
    int rc = g->api->sync(g->stream);
    g->host_waits++;
    g->api->pop(g);
    return rc ? gpu_err(g, rc, "stream synchronize") : VOX_OK;
}

uint64_t gpu_host_waits(void *dev) { return ((const gpu_dev *)dev)->host_waits; }

/* sample_rows and query_select read the caller's tensors (rows_view.cuh)
 * unless VOXATTN_GPU_BLOCK_COPIES is set; attention_forward where the vendor
 * path takes it in the caller's layout (vendor_fwd_direct: CUDA's sm_90a path
 * unless VOXATTN_SM90_FWD_COPIES is set) and VOXATTN_GPU_SCALAR is not;
 * attention_backward likewise (vendor_bwd_direct: unless
 * VOXATTN_SM90_BWD_COPIES is set). */
uint32_t gpu_caller_layout_ops(void *dev)
{
    const gpu_dev *g = dev;
    uint32_t ops = g->block_copies ? 0 : 1u << VOX_OP_sample_rows | 1u << VOX_OP_query_select;
    if (g->vendor_fwd_direct && g->api->attention_forward && !g->force_scalar)
        ops |= 1u << VOX_OP_attention_forward;
    if (g->vendor_bwd_direct && g->api->attention_backward && !g->force_scalar)
        ops |= 1u << VOX_OP_attention_backward;
    return ops;
}

/* The block-layout op of a backward call in the caller's layout (its caller fields cleared). */
static vox_op_attention_backward backward_block_op(const vox_op_attention_backward *p)
{
    vox_op_attention_backward b = *p;
    const vox_strided none = {{NULL, 0}, VOX_F32, 0, 0, 0};
    b.cq = b.ck = b.cv = b.co = b.cdout = b.clse = b.cdq = b.cdk = b.cdv = none;
    b.slot_token = b.token_slot = (vox_bref){NULL, 0};
    return b;
}

vox_status gpu_attention_backward_caller(gpu_dev *g, const vox_op_dims *d, const vox_op_attention_backward *p)
{
    vox_status st = VOX_OK;
    if (!g->force_scalar && g->api->attention_backward && g->api->attention_backward(g, d, p, &st))
        return st;
    /* the core's sequence: permute q, k, v, out, dout and the LSE in, the op, dq, dk, dv out */
    const vox_strided *in[5] = {&p->cq, &p->ck, &p->cv, &p->co, &p->cdout};
    const vox_bref blk[5] = {p->q, p->k, p->v, p->o, p->dout};
    for (int i = 0; !st && i < 5; i++) {
        vox_op_permute_to op = {*in[i], blk[i], p->slot_token};
        st = gpu_permute_to(g, d, &op);
    }
    if (!st) {
        vox_op_dims ld = *d; /* the LSE moves as f32 rows of one element */
        ld.dtype = VOX_F32;
        ld.head_dim = 1;
        vox_op_permute_to op = {p->clse, p->lse, p->slot_token};
        st = gpu_permute_to(g, &ld, &op);
    }
    if (!st) {
        vox_op_attention_backward b = backward_block_op(p);
        st = gpu_attention_backward(g, d, &b);
    }
    const vox_strided *out[3] = {&p->cdq, &p->cdk, &p->cdv};
    const vox_bref grad[3] = {p->dq, p->dk, p->dv};
    for (int i = 0; !st && i < 3; i++) {
        vox_op_permute_from pf = {grad[i], {NULL, 0}, *out[i], {{NULL, 0}, VOX_F32, 0, 0, 0}, p->token_slot,
                                  {NULL, 0}};
        st = gpu_permute_from(g, d, &pf);
    }
    return st;
}

vox_status gpu_timer_begin(void *dev)
{
    gpu_dev *g = dev;
    vox_status st = gpu_push(g);
    if (st)
        return st;
    int rc = g->api->event_record(g->ev[0], g->stream);
    g->api->pop(g);
    return rc ? gpu_err(g, rc, "event record") : VOX_OK;
}

vox_status gpu_timer_end(void *dev, double *ms)
{
    gpu_dev *g = dev;
    const gpu_api *G = g->api;
    vox_status st = gpu_push(g);
    if (st)
        return st;
    float f = 0;
    int rc = G->event_record(g->ev[1], g->stream);
    if (!rc)
        rc = G->event_sync(g->ev[1]);
    g->host_waits++;
    if (!rc)
        rc = G->event_elapsed(&f, g->ev[0], g->ev[1]);
    G->pop(g);
    if (rc)
        return gpu_err(g, rc, "event timing");
    *ms = f;
    return VOX_OK;
}

vox_status gpu_ensure_scratch(gpu_dev *g, size_t bytes)
{
    const gpu_api *G = g->api;
    if (g->scratch_bytes >= bytes)
        return VOX_OK;
    vox_status st = gpu_push(g);
    if (st)
        return st;
    G->sync(g->stream);
    g->host_waits++;
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
