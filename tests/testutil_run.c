/* Shared run-and-compare harness of conformance and the robustness suite:
 * one plan end to end through the public API (poisoned outputs, everything
 * read back), a naive fp64 attention over a run's own exported mask, and the
 * comparison of two runs. Declared in testutil.h. */
#include "testutil.h"

#include <math.h>
#include "plan.h" /* the plan's query-window table (tu_result.windows) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tu_result_free(tu_result *r)
{
    free(r->out), free(r->lse), free(r->row_ptr), free(r->cols), free(r->keep), free(r->slot);
    free(r->classes), free(r->win_ptr), free(r->windows);
    free(r->dq), free(r->dk), free(r->dv);
    memset(r, 0, sizeof *r);
}

int64_t tu_tokens(const vox_plan_params *p) { return p->frames * p->height * p->width + p->text_tokens; }

int64_t tu_n_blocks(vox_context *ctx, const vox_plan_params *p)
{
    vox_plan_params tmp = *p;
    tmp.mask_mode = VOX_MASK_DENSE;
    tmp.custom_row_ptr = NULL;
    tmp.custom_kv_block = NULL;
    tmp.query_keep = 1.0;
    vox_plan *plan = NULL;
    vox_plan_stats s;
    if (vox_plan_create(ctx, &tmp, &plan) || vox_plan_stats_get(plan, &s)) {
        vox_plan_destroy(plan);
        return -1;
    }
    vox_plan_destroy(plan);
    return s.n_blocks;
}

static vox_status fail(tu_result *r, const char *stage, vox_status st)
{
    r->stage = stage;
    r->status = st;
    return st;
}

/* The plan's query windows (layout tables the core uploads for query_select),
 * so tests can recompute each pruned row's source themselves. */
static vox_status read_windows(vox_plan *plan, tu_result *r)
{
    vox_context *ctx = plan->ctx;
    r->NBv = plan->dims.n_video_blocks;
    size_t pb = sizeof(int32_t) * (size_t)(r->NBv + 1);
    r->win_ptr = calloc((size_t)(r->NBv + 1), sizeof(int32_t));
    if (!r->win_ptr)
        return VOX_ERR_OUT_OF_MEMORY;
    if (!plan->win_ptr.impl || plan->win_ptr.bytes < pb)
        return VOX_OK; /* no windows: every row kept */
    vox_status st = ctx->be->buffer_read(ctx->dev, plan->win_ptr.impl, 0, r->win_ptr, pb);
    size_t wb = sizeof(int32_t) * 4 * (size_t)(st ? 0 : r->win_ptr[r->NBv]);
    r->windows = malloc(wb ? wb : 1);
    if (!st && !r->windows)
        st = VOX_ERR_OUT_OF_MEMORY;
    if (!st && wb)
        st = plan->windows.impl && plan->windows.bytes >= wb
                 ? ctx->be->buffer_read(ctx->dev, plan->windows.impl, 0, r->windows, wb)
                 : VOX_ERR_INVALID_STATE;
    return st;
}

vox_status tu_upload_result(vox_context *ctx, vox_dtype dtype, int bnhd, const tu_result *r, vox_tensor *out,
                            vox_tensor *lse)
{
    size_t n = (size_t)(r->B * r->H * r->N * r->D), rows = (size_t)(r->B * r->H * r->N);
    float *o = malloc(sizeof(float) * n), *l = malloc(sizeof(float) * rows);
    vox_status st = o && l ? VOX_OK : VOX_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; !st && i < n; i++)
        o[i] = (float)r->out[i];
    for (size_t i = 0; !st && i < rows; i++)
        l[i] = (float)r->lse[i];
    if (!st) st = tu_upload_guarded(ctx, dtype, o, r->B, r->H, r->N, r->D, bnhd, out);
    if (!st) st = tu_upload_guarded(ctx, VOX_F32, l, r->B, r->H, r->N, 1, 0, lse);
    free(o), free(l);
    return st;
}

/* The backward of a plan that just ran forward on tq, tk, tv into to, tl:
 * dout uploaded guarded, dq/dk/dv poisoned and guarded, every guard checked
 * (inputs too: the backward writes none of them), the gradients read back. */
static vox_status run_backward(vox_context *ctx, vox_plan *plan, const vox_plan_params *p, int bnhd,
                               const vox_tensor *const own[5], const float *dout, const tu_result *fwd,
                               tu_result *r, const char **stage)
{
    int64_t B = r->B, H = r->H, N = r->N, D = r->D;
    vox_tensor tg = {0}, g[3] = {{0}, {0}, {0}}, fo = {0}, fl = {0};
    const vox_tensor *in[5] = {own[0], own[1], own[2], own[3], own[4]};
    *stage = "upload (backward)";
    vox_status st = VOX_OK;
    if (fwd) { /* the other device's out and LSE */
        st = tu_upload_result(ctx, p->dtype, bnhd, fwd, &fo, &fl);
        in[3] = &fo, in[4] = &fl;
    }
    if (!st)
        st = tu_upload_guarded(ctx, p->dtype, dout, B, H, N, D, bnhd, &tg);
    for (int i = 0; i < 3 && !st; i++)
        st = tu_poisoned_guarded(ctx, p->dtype, B, H, N, D, bnhd, &g[i]);
    if (!st) {
        *stage = "backward";
        st = vox_attention_backward(plan, in[0], in[1], in[2], in[3], in[4], &tg, &g[0], &g[1], &g[2]);
        if (st == VOX_ERR_UNSUPPORTED) {
            r->grad_status = st;
            st = VOX_OK;
            goto done;
        }
    }
    if (!st) {
        *stage = "guard bytes (a write outside a tensor, backward)";
        const vox_tensor *all[9] = {in[0], in[1], in[2], in[3], in[4], &tg, &g[0], &g[1], &g[2]};
        for (int i = 0; i < 9 && !st; i++)
            if (!tu_guards_intact(all[i]))
                st = VOX_ERR_INVALID_STATE;
    }
    if (!st) {
        *stage = "read (backward)";
        r->dq = tu_read_tensor(&g[0]), r->dk = tu_read_tensor(&g[1]), r->dv = tu_read_tensor(&g[2]);
        if (!r->dq || !r->dk || !r->dv)
            st = VOX_ERR_OUT_OF_MEMORY;
    }
done:
    tu_free_tensor(&tg), tu_free_tensor(&fo), tu_free_tensor(&fl);
    for (int i = 0; i < 3; i++)
        tu_free_tensor(&g[i]);
    return st;
}

vox_status tu_run(vox_context *ctx, const vox_plan_params *p, int bnhd, const float *q, const float *k,
                  const float *v, tu_result *r)
{
    return tu_run_grad(ctx, p, bnhd, q, k, v, NULL, NULL, r);
}

vox_status tu_run_grad(vox_context *ctx, const vox_plan_params *p, int bnhd, const float *q, const float *k,
                       const float *v, const float *dout, const tu_result *fwd, tu_result *r)
{
    memset(r, 0, sizeof *r);
    int64_t B = p->batch, H = p->heads, N = tu_tokens(p), D = p->head_dim, BH = B * H;
    r->B = B, r->H = H, r->N = N, r->D = D;
    vox_plan *plan = NULL;
    vox_status st = vox_plan_create(ctx, p, &plan);
    if (st)
        return fail(r, "create", st);
    vox_plan_stats s;
    st = vox_plan_stats_get(plan, &s);
    if (st) {
        vox_plan_destroy(plan);
        return fail(r, "stats", st);
    }
    r->NB = s.n_blocks, r->V = s.block_volume, r->S = r->NB * r->V;
    r->scale = p->scale > 0 ? p->scale : 1.0 / sqrt((double)D);
    vox_tensor tq = {0}, tk = {0}, tv = {0}, to = {0}, tl = {0};
    const char *stage = "upload";
    st = tu_upload_guarded(ctx, p->dtype, q, B, H, N, D, bnhd, &tq);
    if (!st) st = tu_upload_guarded(ctx, p->dtype, k, B, H, N, D, bnhd, &tk);
    if (!st) st = tu_upload_guarded(ctx, p->dtype, v, B, H, N, D, bnhd, &tv);
    if (!st) st = tu_poisoned_guarded(ctx, p->dtype, B, H, N, D, bnhd, &to);
    if (!st) st = tu_poisoned_guarded(ctx, VOX_F32, B, H, N, 1, 0, &tl);
    if (!st) {
        stage = "build";
        st = vox_plan_build(plan, &tq, &tk, &tv);
    }
    if (!st) {
        stage = "forward";
        st = vox_attention_forward(plan, &tq, &tk, &tv, &to, &tl);
    }
    if (!st) {
        stage = "guard bytes (a write outside a tensor)";
        const vox_tensor *all[5] = {&tq, &tk, &tv, &to, &tl};
        for (int i = 0; i < 5 && !st; i++)
            if (!tu_guards_intact(all[i]))
                st = VOX_ERR_INVALID_STATE;
    }
    if (!st) {
        stage = "read";
        r->out = tu_read_tensor(&to);
        r->lse = tu_read_tensor(&tl);
        if (!r->out || !r->lse)
            st = VOX_ERR_OUT_OF_MEMORY;
    }
    if (!st) {
        stage = "export";
        r->row_ptr = calloc((size_t)(BH * (r->NB + 1)), sizeof(int32_t));
        r->cols = calloc((size_t)(BH * r->NB * r->NB), sizeof(int32_t));
        r->keep = calloc((size_t)(BH * r->S), 1);
        r->slot = calloc((size_t)N, sizeof(int32_t));
        r->classes = calloc((size_t)BH, sizeof(vox_head_class));
        if (!r->row_ptr || !r->cols || !r->keep || !r->slot || !r->classes)
            st = VOX_ERR_OUT_OF_MEMORY;
        for (int64_t m = 0; !st && m < BH; m++) {
            int64_t nnz = 0;
            st = vox_plan_export_mask(plan, m, r->row_ptr + m * (r->NB + 1), r->cols + m * r->NB * r->NB,
                                      r->NB * r->NB, &nnz, r->keep + m * r->S);
            if (!st && nnz != r->row_ptr[m * (r->NB + 1) + r->NB])
                st = VOX_ERR_INVALID_STATE;
        }
        if (!st)
            st = vox_plan_token_slots(plan, r->slot);
        if (!st)
            st = vox_plan_head_classes(plan, r->classes, NULL, NULL);
    }
    if (!st && dout) {
        const vox_tensor *in[5] = {&tq, &tk, &tv, &to, &tl};
        st = run_backward(ctx, plan, p, bnhd, in, dout, fwd, r, &stage);
    }
    if (!st) {
        stage = "windows";
        st = read_windows(plan, r);
    }
    tu_free_tensor(&tq), tu_free_tensor(&tk), tu_free_tensor(&tv), tu_free_tensor(&to), tu_free_tensor(&tl);
    vox_plan_destroy(plan);
    if (st) {
        int64_t B0 = r->B, H0 = r->H, N0 = r->N, D0 = r->D;
        tu_result_free(r);
        r->B = B0, r->H = H0, r->N = N0, r->D = D0;
        return fail(r, stage, st);
    }
    r->status = VOX_OK;
    return VOX_OK;
}

int64_t tu_naive(const tu_result *r, const float *q, const float *k, const float *v, double *ref_out,
                 double *ref_lse, double *got_out, double *got_lse)
{
    int64_t N = r->N, D = r->D, BH = r->B * r->H, V = r->V, NB = r->NB;
    int32_t *slot_token = malloc(sizeof(int32_t) * (size_t)r->S);
    int32_t *valid = calloc((size_t)NB, sizeof(int32_t));
    double *Q = malloc(sizeof(double) * (size_t)(N * D)), *K = malloc(sizeof(double) * (size_t)(N * D)),
           *Vv = malloc(sizeof(double) * (size_t)(N * D));
    unsigned char *allowed = malloc((size_t)N);
    int64_t rows = 0;
    for (int64_t s = 0; s < r->S; s++)
        slot_token[s] = -1;
    for (int64_t t = 0; t < N; t++) {
        slot_token[r->slot[t]] = (int32_t)t;
        valid[r->slot[t] / V]++;
    }
    for (int64_t bh = 0; bh < BH; bh++) {
        for (int64_t i = 0; i < N * D; i++)
            Q[i] = q[bh * N * D + i], K[i] = k[bh * N * D + i], Vv[i] = v[bh * N * D + i];
        const int32_t *rp = r->row_ptr + bh * (NB + 1), *cols = r->cols + bh * NB * NB;
        for (int64_t t = 0; t < N; t++) {
            int64_t s = r->slot[t], blk = s / V;
            if (r->keep[bh * r->S + s] != 1)
                continue;
            memset(allowed, 0, (size_t)N);
            for (int32_t e = rp[blk]; e < rp[blk + 1]; e++)
                for (int64_t u = 0; u < V; u++)
                    if (slot_token[cols[e] * V + u] >= 0)
                        allowed[slot_token[cols[e] * V + u]] = 1;
            /* the LSE output is f32: beyond FLT_MAX it is +inf */
            ref_lse[rows] = (float)tu_naive_row(Q + t * D, K, Vv, allowed, N, D, r->scale, ref_out + rows * D);
            memcpy(got_out + rows * D, r->out + (bh * N + t) * D, sizeof(double) * (size_t)D);
            got_lse[rows] = r->lse[bh * N + t];
            rows++;
        }
    }
    free(slot_token), free(valid), free(Q), free(K), free(Vv), free(allowed);
    return rows;
}

int64_t tu_naive_err(const tu_result *r, const float *q, const float *k, const float *v, double *out_err,
                     double *lse_err)
{
    int64_t rows = r->B * r->H * r->N;
    double *ro = malloc(sizeof(double) * (size_t)(rows * r->D)), *go = malloc(sizeof(double) * (size_t)(rows * r->D));
    double *rl = malloc(sizeof(double) * (size_t)rows), *gl = malloc(sizeof(double) * (size_t)rows);
    rows = tu_naive(r, q, k, v, ro, rl, go, gl);
    *out_err = tu_norm_err(go, ro, (size_t)(rows * r->D)), *lse_err = tu_norm_err(gl, rl, (size_t)rows);
    free(ro), free(go), free(rl), free(gl);
    return rows;
}

int tu_compare_exact(const tu_result *dev, const tu_result *ref, char *why, size_t n)
{
    int64_t BH = ref->B * ref->H;
    if (dev->NB != ref->NB || dev->V != ref->V) {
        snprintf(why, n, "layout differs: NB %lld/%lld V %lld/%lld", (long long)dev->NB, (long long)ref->NB,
                 (long long)dev->V, (long long)ref->V);
        return 0;
    }
    if (memcmp(dev->slot, ref->slot, sizeof(int32_t) * (size_t)ref->N)) {
        snprintf(why, n, "token slots differ");
        return 0;
    }
    for (int64_t m = 0; m < BH; m++) {
        const int32_t *a = dev->row_ptr + m * (ref->NB + 1), *b = ref->row_ptr + m * (ref->NB + 1);
        if (memcmp(a, b, sizeof(int32_t) * (size_t)(ref->NB + 1)) ||
            memcmp(dev->cols + m * ref->NB * ref->NB, ref->cols + m * ref->NB * ref->NB,
                   sizeof(int32_t) * (size_t)b[ref->NB])) {
            snprintf(why, n, "mask %lld differs from the reference", (long long)m);
            return 0;
        }
        if (memcmp(dev->keep + m * ref->S, ref->keep + m * ref->S, (size_t)ref->S)) {
            snprintf(why, n, "keep flags of mask %lld differ", (long long)m);
            return 0;
        }
        if (dev->classes[m] != ref->classes[m]) {
            snprintf(why, n, "head class of %lld: %d vs %d", (long long)m, (int)dev->classes[m],
                     (int)ref->classes[m]);
            return 0;
        }
    }
    return 1;
}

int tu_compare(const tu_result *dev, const tu_result *ref, double out_tol, double lse_tol, char *why, size_t n)
{
    int64_t BH = ref->B * ref->H;
    if (!tu_compare_exact(dev, ref, why, n))
        return 0;
    double eo = tu_norm_err(dev->out, ref->out, (size_t)(BH * ref->N * ref->D));
    double el = tu_norm_err(dev->lse, ref->lse, (size_t)(BH * ref->N));
    if (!(eo <= out_tol) || !(el <= lse_tol)) {
        snprintf(why, n, "out err %.3e (tol %.0e), lse err %.3e (tol %.0e)", eo, out_tol, el, lse_tol);
        return 0;
    }
    snprintf(why, n, "out err %.2e, lse err %.2e", eo, el);
    return 1;
}

static int64_t count_if(const tu_result *r, int64_t bh, int inf)
{
    int64_t c = 0, BH = r->B * r->H, per = r->N * r->D;
    for (int64_t m = 0; m < BH; m++) {
        if (bh >= 0 && m != bh)
            continue;
        for (int64_t i = 0; i < per; i++) {
            double x = r->out[m * per + i];
            c += inf ? isinf(x) : isnan(x);
        }
    }
    return c;
}

int64_t tu_count_nan(const tu_result *r, int64_t bh) { return count_if(r, bh, 0); }
int64_t tu_count_inf(const tu_result *r, int64_t bh) { return count_if(r, bh, 1); }

double tu_head_err(const tu_result *a, const tu_result *b, int64_t bh)
{
    size_t per = (size_t)(a->N * a->D);
    return tu_norm_err(a->out + (size_t)bh * per, b->out + (size_t)bh * per, per);
}

int tu_is_cannot_do(vox_status st) { return st == VOX_ERR_UNSUPPORTED || st == VOX_ERR_DEVICE_OUT_OF_MEMORY; }
