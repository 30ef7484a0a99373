/* Lowering of vox_plan_build, vox_attention_forward and vox_attention_backward
 * to backend ops. */
#include "plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static vox_bref ref(const vox_dbuf *b) { return (vox_bref){b->impl, 0}; }

static vox_strided strided(const vox_tensor *t)
{
    vox_strided s = {{t->buffer->impl, t->offset}, t->dtype, t->stride_batch, t->stride_head,
                     t->stride_token};
    return s;
}

static vox_status permute_in(vox_plan *plan, const vox_tensor *t, vox_dbuf *dst)
{
    vox_op_permute_to op = {strided(t), ref(dst), ref(&plan->slot_token)};
    return plan->ctx->be->permute_to(plan->ctx->dev, &plan->dims, &op);
}

/* Kept-row arguments when query selection is on, absent otherwise. */
static vox_bref kept_count_ref(const vox_plan *plan)
{
    return plan->p.query_keep < 1.0 ? ref(&plan->kept_count) : (vox_bref){NULL, 0};
}

static int same_strides(const vox_tensor *a, const vox_tensor *b)
{
    return a->stride_batch == b->stride_batch && a->stride_head == b->stride_head &&
           a->stride_token == b->stride_token;
}

/* Whether `op` reads the caller's q (and k, v when given) through slot_token
 * instead of block copies: the backend lists it in caller_layout_ops and the
 * tensors share q's strides (the kernels take one set). */
static int reads_caller(const vox_plan *plan, vox_op op, const vox_tensor *q, const vox_tensor *k,
                        const vox_tensor *v)
{
    const vox_backend *be = plan->ctx->be;
    return be->caller_layout_ops && (be->caller_layout_ops(plan->ctx->dev) >> op & 1u) && (!k || same_strides(q, k)) &&
           (!v || same_strides(q, v));
}

/* SVG: sampled rows on the device (from the caller's q, k, v when `direct`,
 * else from the block copies), then the classification on the device
 * (svg_classify) or, for a backend without that op, on the host. */
static vox_status classify_heads(vox_plan *plan, int direct, const vox_tensor *q, const vox_tensor *k,
                                 const vox_tensor *v)
{
    const vox_backend *be = plan->ctx->be;
    void *dev = plan->ctx->dev;
    int64_t R = plan->n_sample_rows, NB = plan->L.n_blocks;
    vox_op_sample_rows op = {.rows = ref(&plan->sample_rows), .n_rows = R, .block_coord = ref(&plan->block_coord),
                             .frame_blocks = plan->p.svg_frame_blocks, .space_blocks = plan->p.svg_space_blocks,
                             .sink = plan->p.svg_first_frame_sink, .scale = plan->scale, .out = ref(&plan->sample_out)};
    if (direct)
        op.cq = strided(q), op.ck = strided(k), op.cv = strided(v), op.slot_token = ref(&plan->slot_token);
    else
        op.q = ref(&plan->qb), op.k = ref(&plan->kb), op.v = ref(&plan->vb);
    vox_status st = be->sample_rows(dev, &plan->dims, &op);
    if (st)
        return st;
    if (be->svg_classify) {
        vox_op_svg_classify sc = {ref(&plan->sample_out), R, plan->p.svg_dense_above, ref(&plan->svg_pattern_start),
                                  ref(&plan->svg_pattern_count), ref(&plan->kv_start), ref(&plan->kv_count),
                                  ref(&plan->svg_class), ref(&plan->svg_err), 0};
        st = be->svg_classify(dev, &plan->dims, &sc);
        plan->classes_stale = !st;
        return st;
    }
    size_t n = (size_t)(plan->BH * R * 3);
    float *res = malloc(sizeof(float) * n);
    int32_t *cls = malloc(sizeof(int32_t) * (size_t)plan->BH);
    if (!res || !cls) {
        free(res), free(cls);
        return VOX_ERR_OUT_OF_MEMORY;
    }
    st = be->buffer_read(dev, plan->sample_out.impl, 0, res, sizeof(float) * n);
    if (!st) {
        vox_svg_classify_host(&plan->dims, res, R, plan->p.svg_dense_above, plan->h_svg_start, plan->h_svg_count, 0,
                              plan->h_kv_start, plan->h_kv_count, cls, plan->err_s, plan->err_t);
        for (int64_t bh = 0; bh < plan->BH; bh++)
            plan->classes[bh] = (vox_head_class)cls[bh];
    }
    free(res), free(cls);
    size_t bytes = sizeof(int32_t) * (size_t)(plan->BH * NB);
    if (!st)
        st = be->buffer_write(dev, plan->kv_start.impl, 0, plan->h_kv_start, bytes);
    if (!st)
        st = be->buffer_write(dev, plan->kv_count.impl, 0, plan->h_kv_count, bytes);
    return st;
}

/* qbar_done: query_select wrote qbar (the q means of the kept rows, vox_op_query_select's wrote_qbar) */
static vox_status select_kv(vox_plan *plan, const vox_tensor *q, const vox_tensor *k, int qbar_done)
{
    const vox_backend *be = plan->ctx->be;
    void *dev = plan->ctx->dev;
    /* the means read q and k in the caller's layout: no permuted copy */
    vox_op_block_means qm = {strided(q), ref(&plan->slot_token), kept_count_ref(plan), ref(&plan->kept_rows),
                             ref(&plan->qbar)};
    vox_op_block_means km = {strided(k), ref(&plan->slot_token), {NULL, 0}, {NULL, 0}, ref(&plan->kbar)};
    vox_op_kv_select ks = {ref(&plan->qbar), ref(&plan->kbar), plan->scale, plan->p.kv_rule,
                           plan->p.kv_tau, plan->p.kv_topk, plan->p.kv_z, plan->p.kv_min_blocks,
                           plan->p.kv_max_blocks, ref(&plan->kv_start), ref(&plan->kv_count), ref(&plan->kv_cols)};
    vox_status st = qbar_done ? VOX_OK : be->block_means(dev, &plan->dims, &qm);
    if (!st)
        st = be->block_means(dev, &plan->dims, &km);
    if (!st)
        st = be->kv_select(dev, &plan->dims, &ks);
    return st;
}

vox_status vox_plan_build(vox_plan *plan, const vox_tensor *q, const vox_tensor *k, const vox_tensor *v)
{
    if (!plan)
        return VOX_ERR_INVALID_ARGUMENT;
    const vox_plan_params *p = &plan->p;
    int needs_select = p->query_keep < 1.0;
    if (p->mask_mode != VOX_MASK_SVG && p->mask_mode != VOX_MASK_BSA && !needs_select)
        return VOX_OK; /* static masks: nothing to build */
    vox_status st = vox_check_tensor(plan, q, "q", p->dtype, p->head_dim);
    if (!st)
        st = vox_check_tensor(plan, k, "k", p->dtype, p->head_dim);
    if (!st && p->mask_mode == VOX_MASK_SVG)
        st = vox_check_tensor(plan, v, "v (needed by SVG classification)", p->dtype, p->head_dim);
    if (st)
        return st;
    const vox_backend *be = plan->ctx->be;
    void *dev = plan->ctx->dev;
    plan->built = 0;
    free(plan->h_bsa_cols);
    plan->h_bsa_cols = NULL;
    free(plan->h_kept_rows);
    plan->h_kept_rows = NULL;

    int timed = plan->ctx->time_builds; /* timing waits for the device: opt-in */
    st = timed ? vox_timer_begin(plan->ctx) : VOX_OK;
    /* block layout copies only for the ops that read them and cannot read the
     * caller's tensors (reads_caller): query_select (q) and SVG's sampled
     * rows (q, k, v); BSA's block means always read the caller's q and k */
    const int svg = p->mask_mode == VOX_MASK_SVG;
    const int qs_direct = needs_select && reads_caller(plan, VOX_OP_query_select, q, NULL, NULL);
    const int sr_direct = svg && reads_caller(plan, VOX_OP_sample_rows, q, k, v);
    if (!st && ((needs_select && !qs_direct) || (svg && !sr_direct)))
        st = permute_in(plan, q, &plan->qb);
    if (!st && svg && !sr_direct)
        st = permute_in(plan, k, &plan->kb);
    if (!st && svg && !sr_direct)
        st = permute_in(plan, v, &plan->vb);
    int qbar_done = 0; /* query_select wrote BSA's q means (a backend's option) */
    if (!st && needs_select) {
        vox_op_query_select qs = {.win_ptr = ref(&plan->win_ptr), .windows = ref(&plan->windows),
                                  .kept_count = ref(&plan->kept_count), .kept_rows = ref(&plan->kept_rows),
                                  .fill_src = ref(&plan->fill_src)};
        if (qs_direct)
            qs.cq = strided(q), qs.slot_token = ref(&plan->slot_token);
        else
            qs.q = ref(&plan->qb);
        if (p->mask_mode == VOX_MASK_BSA)
            qs.qbar = ref(&plan->qbar), qs.wrote_qbar = &qbar_done;
        st = be->query_select(dev, &plan->dims, &qs);
    }
    if (!st && svg)
        st = classify_heads(plan, sr_direct, q, k, v);
    if (!st && p->mask_mode == VOX_MASK_BSA)
        st = select_kv(plan, q, k, qbar_done);
    double ms = -1;
    if (timed) {
        vox_status st2 = vox_timer_end(plan->ctx, &ms);
        if (!st)
            st = st2;
    }
    if (st)
        return st;
    plan->last_build_ms = ms;
    if (vox_plan_mask_on_device(plan))
        plan->bwd_mask_fresh = 0; /* the backward's packed mask follows the new masks */
    /* counts stay on the device; the host copies are read when asked for
     * (stats, export, evaluate), never during build or forward */
    plan->counts_stale = p->mask_mode == VOX_MASK_BSA || needs_select;
    plan->built = 1;
    return VOX_OK;
}

vox_status vox_attention_forward(vox_plan *plan, const vox_tensor *q, const vox_tensor *k,
                                 const vox_tensor *v, const vox_tensor *out, const vox_tensor *lse)
{
    if (!plan)
        return VOX_ERR_INVALID_ARGUMENT;
    const vox_plan_params *p = &plan->p;
    vox_status st = vox_check_tensor(plan, q, "q", p->dtype, p->head_dim);
    if (!st) st = vox_check_tensor(plan, k, "k", p->dtype, p->head_dim);
    if (!st) st = vox_check_tensor(plan, v, "v", p->dtype, p->head_dim);
    if (!st) st = vox_check_tensor(plan, out, "out", p->dtype, p->head_dim);
    if (!st && lse) st = vox_check_tensor(plan, lse, "lse", VOX_F32, 1);
    if (st)
        return st;
    if (!plan->built)
        return vox_fail(&plan->ctx->log, VOX_ERR_INVALID_STATE,
                        "forward: this plan's masks are not built (call vox_plan_build first)");
    const vox_backend *be = plan->ctx->be;
    void *dev = plan->ctx->dev;
    /* the block-layout op; a backend that takes the caller's layout gets the caller's tensors too */
    vox_op_attention_forward at = {.q = ref(&plan->qb), .k = ref(&plan->kb), .v = ref(&plan->vb),
                                   .o = ref(&plan->ob), .lse = ref(&plan->lseb), .kv_start = ref(&plan->kv_start),
                                   .kv_count = ref(&plan->kv_count), .kv_cols = ref(&plan->kv_cols),
                                   .kept_count = kept_count_ref(plan), .kept_rows = ref(&plan->kept_rows),
                                   .scale = plan->scale, .max_kv_count = plan->L.n_blocks,
                                   .query_keep = p->query_keep};
    if (be->caller_layout_ops && (be->caller_layout_ops(dev) >> VOX_OP_attention_forward & 1u)) {
        /* the backend reads q, k, v and writes out, lse in the caller's layout itself (the block
         * buffers are its scratch) */
        at.cq = strided(q), at.ck = strided(k), at.cv = strided(v), at.co = strided(out);
        if (lse)
            at.clse = strided(lse);
        at.slot_token = ref(&plan->slot_token), at.token_slot = ref(&plan->token_slot);
        if (p->query_keep < 1.0)
            at.fill_src = ref(&plan->fill_src);
        return be->attention_forward(dev, &plan->dims, &at);
    }
    st = permute_in(plan, q, &plan->qb);
    if (!st) st = permute_in(plan, k, &plan->kb);
    if (!st) st = permute_in(plan, v, &plan->vb);
    if (!st)
        st = be->attention_forward(dev, &plan->dims, &at);
    if (!st) {
        vox_op_permute_from pf = {ref(&plan->ob), ref(&plan->lseb), strided(out),
                                  lse ? strided(lse) : (vox_strided){{NULL, 0}, VOX_F32, 0, 0, 0},
                                  ref(&plan->token_slot),
                                  p->query_keep < 1.0 ? ref(&plan->fill_src) : (vox_bref){NULL, 0}};
        if (!lse)
            pf.lse_src = (vox_bref){NULL, 0};
        st = be->permute_from(dev, &plan->dims, &pf);
    }
    return st;
}

/* Backward: permute q, k, v, out, dout and the LSE to block layout, the
 * attention_backward op (pruned rows' dO into their sources, dQ, dK, dV over
 * the packed mask), permute dq, dk, dv back without fill (a pruned row's dQ
 * stays 0); or, for a backend that lists attention_backward in
 * caller_layout_ops, the op alone over the caller's tensors. The backward's
 * buffers and mask are prepared on first use. */
vox_status vox_attention_backward(vox_plan *plan, const vox_tensor *q, const vox_tensor *k, const vox_tensor *v,
                                  const vox_tensor *out, const vox_tensor *lse, const vox_tensor *dout,
                                  const vox_tensor *dq, const vox_tensor *dk, const vox_tensor *dv)
{
    if (!plan)
        return VOX_ERR_INVALID_ARGUMENT;
    static const char *const in_names[6] = {"q", "k", "v", "out", "lse", "dout"};
    static const char *const out_names[3] = {"dq", "dk", "dv"};
    const vox_tensor *in[6] = {q, k, v, out, lse, dout}, *outs[3] = {dq, dk, dv};
    vox_status st = vox_backward_validate(plan, in, in_names, outs, out_names);
    if (st)
        return st;
    const vox_logger *log = &plan->ctx->log;
    if (!plan->built)
        return vox_fail(log, VOX_ERR_INVALID_STATE,
                        "backward: this plan's masks are not built (call vox_plan_build, then the forward)");
    const vox_backend *be = plan->ctx->be;
    void *dev = plan->ctx->dev;
    vox_op_dims lse_dims = plan->dims; /* the LSE moves as f32 rows of one element */
    lse_dims.dtype = VOX_F32;
    lse_dims.head_dim = 1;
    st = vox_backend_check_op(be, dev, log, &plan->dims, VOX_OP_attention_backward);
    if (!st && plan->p.mask_mode == VOX_MASK_BSA) /* SVG's is svg_classify's or the host's (core/backward.c) */
        st = vox_backend_check_op(be, dev, log, &plan->dims, VOX_OP_mask_transpose);
    if (!st)
        st = vox_backend_check_op(be, dev, log, &lse_dims, VOX_OP_permute_to);
    if (st)
        return st;
    st = vox_plan_backward_prepare(plan);
    if (st)
        return st;
    vox_op_attention_backward ab = {
        .q = ref(&plan->qb), .k = ref(&plan->kb), .v = ref(&plan->vb), .o = ref(&plan->ob),
        .dout = ref(&plan->dob), .lse = ref(&plan->bwd_lse),
        .dq = ref(&plan->dqb), .dk = ref(&plan->dkb), .dv = ref(&plan->dvb), .mask = ref(&plan->bwd_mask),
        .fill_src = plan->p.query_keep < 1.0 ? ref(&plan->fill_src) : (vox_bref){NULL, 0},
        .scale = plan->scale, .max_kv_count = plan->bwd_max_kv_count, .max_q_count = plan->bwd_max_q_count,
        .deterministic = plan->p.deterministic_backward != 0, .density = plan->bwd_density,
        .full_lists = plan->bwd_full};
    if (be->caller_layout_ops && (be->caller_layout_ops(dev) >> VOX_OP_attention_backward & 1u)) {
        /* the backend reads the inputs and writes the gradients in the caller's layout itself (the
         * block buffers are its scratch) */
        ab.cq = strided(q), ab.ck = strided(k), ab.cv = strided(v), ab.co = strided(out);
        ab.cdout = strided(dout), ab.clse = strided(lse);
        ab.cdq = strided(dq), ab.cdk = strided(dk), ab.cdv = strided(dv);
        ab.slot_token = ref(&plan->slot_token), ab.token_slot = ref(&plan->token_slot);
        return be->attention_backward(dev, &plan->dims, &ab);
    }
    st = permute_in(plan, q, &plan->qb);
    if (!st) st = permute_in(plan, k, &plan->kb);
    if (!st) st = permute_in(plan, v, &plan->vb);
    if (!st) st = permute_in(plan, out, &plan->ob);
    if (!st) st = permute_in(plan, dout, &plan->dob);
    if (!st) {
        vox_op_permute_to pl = {strided(lse), ref(&plan->bwd_lse), ref(&plan->slot_token)};
        st = be->permute_to(dev, &lse_dims, &pl);
    }
    if (!st)
        st = be->attention_backward(dev, &plan->dims, &ab);
    const vox_dbuf *grads[3] = {&plan->dqb, &plan->dkb, &plan->dvb};
    for (int i = 0; !st && i < 3; i++) {
        vox_op_permute_from pf = {ref(grads[i]), {NULL, 0}, strided(outs[i]), {{NULL, 0}, VOX_F32, 0, 0, 0},
                                  ref(&plan->token_slot), {NULL, 0}};
        st = be->permute_from(dev, &plan->dims, &pf);
    }
    return st;
}
