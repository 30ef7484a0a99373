/* Attention backward, the parts beside its lowering (core/plan_run.c): the
 * checks of vox_attention_backward's tensors (outputs may share no memory with
 * the inputs or each other), the backward's working buffers (allocated on
 * first use) and the packed mask of vox_op_attention_backward: the forward's
 * CSR and its transpose (KV block -> query blocks). BSA masks get it from the
 * mask_transpose op, SVG masks from their classes and the patterns'
 * transposes (svg_classify), both enqueued by the first backward after each
 * build (nothing read back); the static DENSE and CUSTOM masks get it once,
 * on the host, from the plan's host copies. */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

/* ---------------------------------------------------------------- overlap */

typedef struct span_dim {
    int64_t extent, stride;
} span_dim;

/* Can x (elements) be written as sum delta_i*stride_i + e with |delta_i| <
 * extent_i and |e| < row? Dims by stride descending; each stride covers the
 * span of the smaller ones (vox_check_tensor), so only floor and ceil of
 * x/stride can work at each level. */
static int lattice_hits(int64_t x, const span_dim *d, int n, int64_t row)
{
    if (n == 0)
        return x > -row && x < row;
    int64_t s = d[0].stride, lim = d[0].extent - 1;
    int64_t fl = x >= 0 ? x / s : -((-x + s - 1) / s);
    for (int64_t delta = fl; delta <= fl + 1; delta++) {
        int64_t c = delta < -lim ? -lim : delta > lim ? lim : delta;
        if (lattice_hits(x - c * s, d + 1, n - 1, row))
            return 1;
    }
    return 0;
}

/* Whether two valid tensors may share a byte. Exact for tensors of the same
 * dtype, shape and strides (e.g. dq, dk, dv interleaved in one packed
 * buffer); otherwise any intersection of their spans counts. */
int vox_tensors_overlap(const vox_tensor *a, const vox_tensor *b)
{
    if (a->buffer != b->buffer)
        return 0;
    size_t ea = a->offset + vox_tensor_span_bytes(a), eb = b->offset + vox_tensor_span_bytes(b);
    if (ea <= b->offset || eb <= a->offset)
        return 0;
    size_t es = vox_dtype_size(a->dtype);
    int same = a->dtype == b->dtype && a->batch == b->batch && a->heads == b->heads && a->tokens == b->tokens &&
               a->head_dim == b->head_dim && a->stride_batch == b->stride_batch &&
               a->stride_head == b->stride_head && a->stride_token == b->stride_token;
    int64_t diff = (int64_t)b->offset - (int64_t)a->offset;
    if (!same || diff % (int64_t)es)
        return 1;
    span_dim d[3] = {{a->batch, a->stride_batch}, {a->heads, a->stride_head}, {a->tokens, a->stride_token}};
    span_dim sorted[3];
    int n = 0;
    for (int i = 0; i < 3; i++) /* extent-1 dims move nothing */
        if (d[i].extent > 1)
            sorted[n++] = d[i];
    for (int i = 1; i < n; i++) /* by stride, descending */
        for (int j = i; j > 0 && sorted[j - 1].stride < sorted[j].stride; j--) {
            span_dim t = sorted[j];
            sorted[j] = sorted[j - 1], sorted[j - 1] = t;
        }
    return lattice_hits(diff / (int64_t)es, sorted, n, a->head_dim);
}

vox_status vox_backward_validate(const vox_plan *plan, const vox_tensor *const in[6], const char *const in_names[6],
                                 const vox_tensor *const out[3], const char *const out_names[3])
{
    const vox_plan_params *p = &plan->p;
    vox_status st = VOX_OK;
    for (int i = 0; !st && i < 6; i++)
        st = vox_check_tensor(plan, in[i], in_names[i], i == 4 ? VOX_F32 : p->dtype, i == 4 ? 1 : p->head_dim);
    for (int i = 0; !st && i < 3; i++)
        st = vox_check_tensor(plan, out[i], out_names[i], p->dtype, p->head_dim);
    if (st)
        return st;
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 6; j++)
            if (vox_tensors_overlap(out[i], in[j]))
                return vox_fail(&plan->ctx->log, VOX_ERR_INVALID_ARGUMENT,
                                "backward: %s shares memory with the input %s", out_names[i], in_names[j]);
        for (int j = 0; j < i; j++)
            if (vox_tensors_overlap(out[i], out[j]))
                return vox_fail(&plan->ctx->log, VOX_ERR_INVALID_ARGUMENT,
                                "backward: the outputs %s and %s share memory", out_names[j], out_names[i]);
    }
    return VOX_OK;
}

/* ------------------------------------------------------------ the buffers */

static vox_status ensure(vox_plan *plan, vox_dbuf *b, size_t bytes)
{
    if (b->impl && b->bytes >= bytes)
        return VOX_OK;
    const vox_backend *be = plan->ctx->be;
    if (b->impl)
        be->buffer_free(plan->ctx->dev, b->impl);
    b->impl = NULL;
    b->bytes = bytes ? bytes : 4;
    vox_status st = be->buffer_alloc(plan->ctx->dev, b->bytes, &b->impl);
    if (st)
        b->impl = NULL, b->bytes = 0;
    return st;
}

/* Whether heads x and y have the same rows (same starts and counts into the
 * one column array). */
static int same_rows(const vox_plan *plan, int64_t x, int64_t y)
{
    size_t NB = (size_t)plan->L.n_blocks, bytes = sizeof(int32_t) * NB;
    return !memcmp(plan->h_kv_start + (size_t)x * NB, plan->h_kv_start + (size_t)y * NB, bytes) &&
           !memcmp(plan->h_kv_count + (size_t)x * NB, plan->h_kv_count + (size_t)y * NB, bytes);
}

/* Whether a transposed list of count entries is the row of all NB blocks
 * at full (absolute; -1: the column array has none), stored once. */
static int shares_full_row(int64_t full, int32_t count, int64_t NB)
{
    return full >= 0 && count == NB;
}

/* The packed mask (core/backend.h, vox_op_attention_backward) of a static
 * mask (DENSE, CUSTOM), from the host copies made at plan creation: header,
 * the plan's column array as is (the forward's rows point into it), then one
 * transpose per distinct head (a head with the same rows as one of the last
 * eight distinct heads shares its transpose: DENSE, shared CUSTOM). A
 * transposed list of all NB query blocks points at a row of all NB blocks
 * where the column array has one (DENSE's [0,NB)): a dense mask's packed
 * mask holds 4R + NB entries, not n_blocks x n_blocks. */
static vox_status host_mask(vox_plan *plan)
{
    vox_status st;
    const vox_logger *log = &plan->ctx->log;
    int64_t NB = plan->L.n_blocks, BH = plan->BH, R = BH * NB;
    const int32_t *cols = plan->h_cols;
    int64_t ncols = plan->h_cols_len;
    int64_t *owner = malloc(sizeof(int64_t) * (size_t)BH); /* head whose transpose bh uses */
    int32_t *ccount = malloc(sizeof(int32_t) * (size_t)R);  /* transposed counts (distinct heads') */
    if (!owner || !ccount) {
        free(owner), free(ccount);
        return VOX_ERR_OUT_OF_MEMORY;
    }
    int64_t full = -1; /* where a list of all NB blocks starts (absolute), if a row is one */
    for (int64_t r = 0; r < R && full < 0; r++)
        if (plan->h_kv_count[r] == NB)
            full = 4 * R + plan->h_kv_start[r];
    int64_t total = 4 * R + ncols, max_kv = 0, max_q = 0, allowed = 0;
    int64_t recent[8], n_recent = 0; /* the last distinct heads */
    for (int64_t bh = 0; bh < BH; bh++) {
        owner[bh] = bh;
        for (int64_t o = 0; o < n_recent && owner[bh] == bh; o++)
            if (same_rows(plan, recent[o], bh))
                owner[bh] = recent[o];
        if (owner[bh] == bh)
            recent[n_recent < 8 ? n_recent++ : bh % 8] = bh;
        int32_t *cc = owner[bh] == bh ? ccount + bh * NB : NULL; /* a shared transpose is counted once */
        if (cc)
            memset(cc, 0, sizeof(int32_t) * (size_t)NB);
        for (int64_t i = 0; i < NB; i++) {
            int32_t n = plan->h_kv_count[bh * NB + i];
            const int32_t *c = cols + plan->h_kv_start[bh * NB + i];
            for (int32_t k = 0; cc && k < n; k++)
                cc[c[k]]++;
            allowed += n;
            max_kv = n > max_kv ? n : max_kv;
        }
        for (int64_t j = 0; cc && j < NB; j++) {
            max_q = cc[j] > max_q ? cc[j] : max_q;
            total += shares_full_row(full, cc[j], NB) ? 0 : cc[j];
        }
    }
    if (total > INT32_MAX) {
        free(owner), free(ccount);
        return vox_fail(log, VOX_ERR_UNSUPPORTED, "backward: the mask and its transpose (%lld entries) exceed "
                        "int32 indices", (long long)total);
    }
    int32_t *m = malloc(sizeof(int32_t) * (size_t)total);
    if (!m) {
        free(owner), free(ccount);
        return VOX_ERR_OUT_OF_MEMORY;
    }
    for (int64_t r = 0; r < R; r++) {
        m[r] = (int32_t)(4 * R + plan->h_kv_start[r]);
        m[R + r] = plan->h_kv_count[r];
    }
    if (ncols)
        memcpy(m + 4 * R, cols, sizeof(int32_t) * (size_t)ncols);
    int64_t at = 4 * R + ncols;
    for (int64_t bh = 0; bh < BH; bh++) {
        int32_t *cstart = m + 2 * R + bh * NB, *cfill = m + 3 * R + bh * NB;
        if (owner[bh] != bh) { /* the same transpose as an earlier head */
            memcpy(cstart, m + 2 * R + owner[bh] * NB, sizeof(int32_t) * (size_t)NB);
            memcpy(cfill, m + 3 * R + owner[bh] * NB, sizeof(int32_t) * (size_t)NB);
            continue;
        }
        const int32_t *cc = ccount + bh * NB;
        for (int64_t j = 0; j < NB; j++) {
            int shared = shares_full_row(full, cc[j], NB);
            cstart[j] = (int32_t)(shared ? full : at);
            at += shared ? 0 : cc[j];
            cfill[j] = shared ? (int32_t)NB : 0; /* refilled below */
        }
        for (int64_t i = 0; i < NB; i++) { /* ascending i: each list ascending */
            int32_t n = plan->h_kv_count[bh * NB + i];
            const int32_t *c = cols + plan->h_kv_start[bh * NB + i];
            for (int32_t k = 0; k < n; k++)
                if (!shares_full_row(full, cc[c[k]], NB)) /* a shared list is written already */
                    m[cstart[c[k]] + cfill[c[k]]++] = (int32_t)i;
        }
    }
    size_t bytes = sizeof(int32_t) * (size_t)total;
    st = ensure(plan, &plan->bwd_mask, bytes);
    if (!st)
        st = plan->ctx->be->buffer_write(plan->ctx->dev, plan->bwd_mask.impl, 0, m, bytes);
    if (!st) {
        plan->bwd_max_kv_count = max_kv;
        plan->bwd_max_q_count = max_q;
        plan->bwd_density = (double)allowed / ((double)BH * (double)NB * (double)NB);
        plan->bwd_full = allowed == BH * NB * NB;
        plan->bwd_mask_fresh = 1;
    }
    free(m), free(owner), free(ccount);
    return st;
}

/* The packed mask of an SVG plan. A head's rows are one of three static
 * patterns, picked by its class on the device, and so are its transposed
 * rows: the plan's column array holds the spatial and temporal patterns and
 * their transposes (core/plan.c, dense lists shared as the row [0,NB)), so
 * the packed mask is the header and that array, uploaded once, and the
 * header follows the classes with svg_classify run twice on the build's
 * sampled rows (base 4R: the forward's pattern rows into [0,2R), the
 * transposed ones into [2R,4R)). Same classes, errors and kv rows as the
 * build's (the same inputs); nothing read back. A backend without
 * svg_classify classified on the host: the header is written from there. */
static vox_status svg_mask(vox_plan *plan)
{
    const vox_backend *be = plan->ctx->be;
    void *dev = plan->ctx->dev;
    int64_t NB = plan->L.n_blocks, BH = plan->BH, R = BH * NB, ncols = plan->h_cols_len;
    if (4 * R + ncols > INT32_MAX)
        return vox_fail(&plan->ctx->log, VOX_ERR_UNSUPPORTED, "backward: the mask (%lld entries) exceeds int32 "
                        "indices", (long long)(4 * R + ncols));
    size_t bytes = sizeof(int32_t) * (size_t)(4 * R + ncols), i32 = sizeof(int32_t);
    int fresh = !plan->bwd_mask.impl || plan->bwd_mask.bytes < bytes;
    vox_status st = ensure(plan, &plan->bwd_mask, bytes);
    if (!st && fresh)
        st = be->buffer_write(dev, plan->bwd_mask.impl, i32 * (size_t)(4 * R), plan->h_cols, i32 * (size_t)ncols);
    void *mb = plan->bwd_mask.impl;
    if (!st && be->svg_classify) {
        for (int t = 0; !st && t < 2; t++) {
            size_t tab = i32 * (size_t)(2 * t * NB), head = i32 * (size_t)(2 * t * R);
            vox_op_svg_classify sc = {{plan->sample_out.impl, 0}, plan->n_sample_rows, plan->p.svg_dense_above,
                                      {plan->svg_pattern_start.impl, tab}, {plan->svg_pattern_count.impl, tab},
                                      {mb, head}, {mb, head + i32 * (size_t)R}, {plan->svg_class.impl, 0},
                                      {plan->svg_err.impl, 0}, (int32_t)(4 * R)};
            st = be->svg_classify(dev, &plan->dims, &sc);
        }
    } else if (!st) {
        int32_t *h = malloc(i32 * (size_t)(4 * R));
        if (!h)
            return VOX_ERR_OUT_OF_MEMORY;
        for (int64_t bh = 0; bh < BH; bh++) /* as the two svg_classify calls above */
            for (int t = 0; t < 2; t++)
                vox_svg_head_rows(NB, plan->classes[bh], plan->h_svg_start + 2 * t * NB,
                                  plan->h_svg_count + 2 * t * NB, (int32_t)(4 * R), h + 2 * t * R + bh * NB,
                                  h + (2 * t + 1) * R + bh * NB);
        st = be->buffer_write(dev, mb, 0, h, i32 * (size_t)(4 * R));
        free(h);
    }
    if (!st) {
        plan->bwd_max_kv_count = NB;
        plan->bwd_max_q_count = NB;
        plan->bwd_density = -1.0;
        plan->bwd_full = 0;
        plan->bwd_mask_fresh = 1;
    }
    return st;
}

/* The packed mask of a BSA plan: the mask_transpose op after the plan's
 * column array, each head's transpose in a region of the most entries the
 * head's rows can hold (its rows' room, bsa_room() in core/plan.c). Launch
 * bounds: NB for both counts. */
static vox_status device_mask(vox_plan *plan)
{
    const vox_logger *log = &plan->ctx->log;
    int64_t NB = plan->L.n_blocks, BH = plan->BH, R = BH * NB;
    int64_t ncols = plan->bsa_cols_len, room = plan->bsa_cols_len / BH;
    int64_t t0 = 4 * R + ncols;
    if (room > (INT32_MAX - t0) / BH)
        return vox_fail(log, VOX_ERR_UNSUPPORTED, "backward: the mask and its transpose (%lld + %lld x %lld "
                        "entries) exceed int32 indices", (long long)t0, (long long)BH, (long long)room);
    vox_status st = ensure(plan, &plan->bwd_mask, sizeof(int32_t) * (size_t)(t0 + BH * room));
    if (st)
        return st;
    vox_op_mask_transpose op = {{plan->kv_start.impl, 0}, {plan->kv_count.impl, 0}, {plan->kv_cols.impl, 0},
                                t0, room, {plan->bwd_mask.impl, 0}};
    st = plan->ctx->be->mask_transpose(plan->ctx->dev, &plan->dims, &op);
    if (!st) {
        plan->bwd_max_kv_count = NB;
        plan->bwd_max_q_count = NB;
        /* top-k rows, and capped ones (kv_max_blocks), list at most room entries per head (bsa_room() in
         * core/plan.c); the uncapped rules' lists are known on the device only */
        int bounded = plan->p.kv_rule == VOX_KV_TOPK || plan->p.kv_max_blocks > 0;
        plan->bwd_density = bounded ? (double)room / ((double)NB * (double)NB) : -1.0;
        plan->bwd_full = 0;
        plan->bwd_mask_fresh = 1;
    }
    return st;
}

vox_status vox_plan_backward_prepare(vox_plan *plan)
{
    size_t tensor = plan->qb.bytes, lse = 2 * plan->lseb.bytes;
    vox_status st = ensure(plan, &plan->dob, tensor);
    if (!st) st = ensure(plan, &plan->dqb, tensor);
    if (!st) st = ensure(plan, &plan->dkb, tensor);
    if (!st) st = ensure(plan, &plan->dvb, tensor);
    if (!st) st = ensure(plan, &plan->bwd_lse, lse);
    if (st)
        return vox_fail(&plan->ctx->log, st, "backward: cannot allocate its working buffers (%s)",
                        vox_status_string(st));
    if (plan->bwd_mask_fresh)
        return VOX_OK;
    switch (plan->p.mask_mode) {
    case VOX_MASK_BSA: return device_mask(plan);
    case VOX_MASK_SVG: return svg_mask(plan);
    default: return host_mask(plan);
    }
}
