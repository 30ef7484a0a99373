/* Plan creation: validation of every parameter, the block layout, device
 * tables and static masks (DENSE, CUSTOM, the two SVG patterns). */
#include "plan.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns BSA's kv_select may write for query block i (i < 0: the sum over
 * one head's blocks): global query blocks are dense rows; a video row has
 * vox_kv_select_room() (core/kernel_args.c). */
static int64_t bsa_room(const vox_plan_params *p, const vox_layout *L, int64_t i)
{
    int64_t NB = L->n_blocks, NBv = L->n_video_blocks;
    int64_t video_row = vox_kv_select_room(p->kv_rule, p->kv_topk, p->kv_min_blocks, p->kv_max_blocks, NB, NBv);
    if (i >= 0)
        return i < NBv ? video_row : NB;
    return NBv * video_row + (NB - NBv) * NB;
}

/* The ops a plan runs: forward always, the mask-building ops of its mode. */
static vox_status check_ops(const vox_plan *plan, const vox_logger *log)
{
    const vox_plan_params *p = &plan->p;
    vox_op ops[8];
    int n = 0;
    ops[n++] = VOX_OP_permute_to;
    ops[n++] = VOX_OP_attention_forward;
    ops[n++] = VOX_OP_permute_from;
    if (p->query_keep < 1.0)
        ops[n++] = VOX_OP_query_select;
    if (p->mask_mode == VOX_MASK_SVG)
        ops[n++] = VOX_OP_sample_rows;
    if (p->mask_mode == VOX_MASK_BSA) {
        ops[n++] = VOX_OP_block_means;
        ops[n++] = VOX_OP_kv_select;
    }
    for (int i = 0; i < n; i++) {
        vox_status st = vox_backend_check_op(plan->ctx->be, plan->ctx->dev, log, &plan->dims, ops[i]);
        if (st)
            return st;
    }
    return VOX_OK;
}

vox_status vox_plan_defaults(vox_plan_params *p)
{
    if (!p)
        return VOX_ERR_INVALID_ARGUMENT;
    memset(p, 0, sizeof *p);
    p->batch = 1;
    p->heads = 1;
    p->head_dim = 64;
    p->frames = p->height = p->width = 1;
    p->text_position = VOX_TEXT_AFTER;
    p->block_t = p->block_h = p->block_w = 4;
    p->dtype = VOX_F32;
    p->mask_mode = VOX_MASK_DENSE;
    p->svg_sample_rows = 64;
    p->svg_frame_blocks = 0;
    p->svg_space_blocks = 1;
    p->svg_dense_above = INFINITY;
    p->kv_rule = VOX_KV_CUMULATIVE;
    p->kv_tau = 0.9;
    p->kv_topk = 8;
    p->kv_z = 0.0;
    p->kv_min_blocks = 4;
    p->query_keep = 1.0;
    p->window_t = p->window_h = p->window_w = 2;
    p->seed = 0x766f78617474ull;
    return VOX_OK;
}

static vox_status dbuf_alloc(vox_plan *plan, vox_dbuf *b, size_t bytes)
{
    b->bytes = bytes ? bytes : 4;
    return plan->ctx->be->buffer_alloc(plan->ctx->dev, b->bytes, &b->impl);
}

static vox_status dbuf_upload(vox_plan *plan, vox_dbuf *b, const void *host, size_t bytes)
{
    vox_status st = dbuf_alloc(plan, b, bytes);
    if (st || !bytes)
        return st;
    return plan->ctx->be->buffer_write(plan->ctx->dev, b->impl, 0, host, bytes);
}

static void dbuf_free(vox_plan *plan, vox_dbuf *b)
{
    if (b->impl)
        plan->ctx->be->buffer_free(plan->ctx->dev, b->impl);
    b->impl = NULL;
}

/* Every device buffer a plan owns (absent ones have impl NULL). */
#define PLAN_MAX_DBUFS 40
static int plan_dbufs(vox_plan *plan, vox_dbuf **out)
{
    vox_dbuf *all[] = {&plan->slot_token, &plan->token_slot, &plan->block_valid, &plan->block_coord,
                       &plan->win_ptr,    &plan->windows,    &plan->sample_rows, &plan->qb,
                       &plan->kb,         &plan->vb,         &plan->ob,          &plan->lseb,
                       &plan->kv_start,   &plan->kv_count,   &plan->kv_cols,     &plan->kept_count,
                       &plan->kept_rows,  &plan->fill_src,   &plan->qbar,        &plan->kbar,
                       &plan->sample_out, &plan->svg_pattern_start, &plan->svg_pattern_count,
                       &plan->svg_class, &plan->svg_err, &plan->dob, &plan->dqb, &plan->dkb, &plan->dvb,
                       &plan->bwd_lse, &plan->bwd_mask};
    _Static_assert(sizeof all / sizeof all[0] <= PLAN_MAX_DBUFS, "PLAN_MAX_DBUFS");
    int n = (int)(sizeof all / sizeof all[0]);
    for (int i = 0; i < n; i++)
        out[i] = all[i];
    return n;
}

void vox_plan_destroy(vox_plan *plan)
{
    if (!plan)
        return;
    vox_dbuf *all[PLAN_MAX_DBUFS];
    int n_all = plan_dbufs(plan, all);
    for (int i = 0; i < n_all; i++)
        dbuf_free(plan, all[i]);
    vox_layout_free(&plan->L);
    free(plan->custom_row_ptr);
    free(plan->custom_cols);
    free(plan->h_kv_start);
    free(plan->h_kv_count);
    free(plan->h_cols);
    free(plan->h_bsa_cols);
    free(plan->h_kept_count);
    free(plan->h_kept_rows);
    free(plan->h_sample_slots);
    free(plan->h_svg_start);
    free(plan->h_svg_count);
    free(plan->classes);
    free(plan->err_s);
    free(plan->err_t);
    vox_context_release(plan->ctx);
    free(plan);
}

/* Mode-specific parameter checks. */
static vox_status check_mode(const vox_plan *plan, const vox_logger *log)
{
    const vox_plan_params *p = &plan->p;
    const vox_layout *L = &plan->L;
    switch (p->mask_mode) {
    case VOX_MASK_DENSE: return VOX_OK;
    case VOX_MASK_CUSTOM: {
        if (p->custom_masks != 1 && p->custom_masks != plan->BH)
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT,
                            "CUSTOM: custom_masks must be 1 or batch*heads (%lld), got %lld",
                            (long long)plan->BH, (long long)p->custom_masks);
        if (!p->custom_row_ptr)
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "CUSTOM: NULL custom_row_ptr");
        int64_t rows = p->custom_masks * L->n_blocks;
        const int32_t *rp = p->custom_row_ptr;
        if (rp[0] != 0)
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "CUSTOM: row_ptr[0] = %d, must be 0", rp[0]);
        for (int64_t r = 0; r < rows; r++) {
            if (rp[r + 1] < rp[r])
                return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "CUSTOM: row_ptr decreases at row %lld",
                                (long long)r);
            if (rp[r + 1] - rp[r] > L->n_blocks)
                return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "CUSTOM: row %lld has more than %lld entries",
                                (long long)r, (long long)L->n_blocks);
        }
        if (rp[rows] > 0 && !p->custom_kv_block)
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "CUSTOM: NULL custom_kv_block");
        for (int64_t r = 0; r < rows; r++)
            for (int32_t c = rp[r]; c < rp[r + 1]; c++) {
                int32_t j = p->custom_kv_block[c];
                if (j < 0 || j >= L->n_blocks)
                    return vox_fail(log, VOX_ERR_INVALID_ARGUMENT,
                                    "CUSTOM: row %lld block %d out of range [0,%lld)", (long long)r, j,
                                    (long long)L->n_blocks);
                if (c > rp[r] && j <= p->custom_kv_block[c - 1])
                    return vox_fail(log, VOX_ERR_INVALID_ARGUMENT,
                                    "CUSTOM: row %lld not strictly ascending (unsorted or duplicate)",
                                    (long long)r);
            }
        return VOX_OK;
    }
    case VOX_MASK_SVG:
        if (p->svg_sample_rows < 1 || p->svg_sample_rows > L->n_video_tokens)
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "SVG: svg_sample_rows %d not in [1,%lld]",
                            p->svg_sample_rows, (long long)L->n_video_tokens);
        if (p->svg_frame_blocks < 0 || p->svg_space_blocks < 0)
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "SVG: negative pattern width");
        if (isnan(p->svg_dense_above) || p->svg_dense_above < 0)
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "SVG: svg_dense_above must be >= 0");
        return VOX_OK;
    case VOX_MASK_BSA:
        if (p->kv_min_blocks < 0)
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "BSA: kv_min_blocks < 0");
        if (p->kv_max_blocks < 0)
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "BSA: kv_max_blocks < 0");
        switch (p->kv_rule) {
        case VOX_KV_CUMULATIVE:
            if (!(p->kv_tau > 0.0 && p->kv_tau <= 1.0))
                return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "BSA: tau %g not in (0,1]", p->kv_tau);
            return VOX_OK;
        case VOX_KV_TOPK:
            if (p->kv_topk < 1)
                return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "BSA: top-k %d < 1", p->kv_topk);
            return VOX_OK;
        case VOX_KV_STAT:
            if (!isfinite(p->kv_z))
                return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "BSA: z not finite");
            return VOX_OK;
        }
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "BSA: unknown kv rule %d", (int)p->kv_rule);
    }
    return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "unknown mask mode %d", (int)p->mask_mode);
}

/* Emits the blocks [lo, hi) into out (when given) at *n. */
static void emit_range(int32_t *out, int64_t *n, int64_t lo, int64_t hi)
{
    for (int64_t j = lo; out && j < hi; j++)
        out[*n + j - lo] = (int32_t)j;
    *n += hi > lo ? hi - lo : 0;
}

/* One list of an SVG pattern, ascending, written to out when given; returns
 * its length. Row a (transposed 0): the KV blocks query block a may attend;
 * transposed 1: the query blocks whose row holds KV block a. Video blocks
 * are numbered t-major, then y, then x (core/layout.c); the global blocks
 * follow them and are allowed both ways. The spatial pattern allows
 * |t' - t| <= svg_frame_blocks, the temporal one |y' - y| and |x' - x| <=
 * svg_space_blocks; the first-frame sink allows every KV block of frame 0:
 * in a row, that frame; in a transposed list, every query block. Time
 * O(length + frames): never a sweep of all NB blocks per list. */
static int64_t svg_list(const vox_plan *plan, int64_t a, int temporal, int transposed, int32_t *out)
{
    const vox_layout *L = &plan->L;
    const int64_t NB = L->n_blocks, NBv = L->n_video_blocks, P = L->gbh * L->gbw;
    const int sink = plan->p.svg_first_frame_sink != 0;
    int64_t n = 0;
    if (a >= NBv || (transposed && sink && L->block_coord[3 * a] == 0)) {
        emit_range(out, &n, 0, NB);
        return n;
    }
    const int64_t ta = L->block_coord[3 * a], ya = L->block_coord[3 * a + 1], xa = L->block_coord[3 * a + 2];
    if (!temporal) {
        int64_t fb = plan->p.svg_frame_blocks, lo = ta - fb < 0 ? 0 : ta - fb;
        int64_t hi = ta + fb >= L->gbt ? L->gbt - 1 : ta + fb;
        if (!transposed && sink && lo > 0)
            emit_range(out, &n, 0, P);
        emit_range(out, &n, lo * P, (hi + 1) * P);
    } else {
        int64_t sb = plan->p.svg_space_blocks;
        int64_t y0 = ya - sb < 0 ? 0 : ya - sb, y1 = ya + sb >= L->gbh ? L->gbh - 1 : ya + sb;
        int64_t x0 = xa - sb < 0 ? 0 : xa - sb, x1 = xa + sb >= L->gbw ? L->gbw - 1 : xa + sb;
        for (int64_t t = 0; t < L->gbt; t++) {
            if (!transposed && sink && t == 0) {
                emit_range(out, &n, 0, P);
                continue;
            }
            for (int64_t y = y0; y <= y1; y++)
                emit_range(out, &n, t * P + y * L->gbw + x0, t * P + y * L->gbw + x1 + 1);
        }
    }
    emit_range(out, &n, NBv, NB);
    return n;
}

/* Static columns: [0,NB) for dense rows, then (SVG) every row of the spatial
 * and temporal patterns and of their transposes (a transposed list of all NB
 * blocks, e.g. a global or sink KV block's, is the dense row). Starts/counts
 * of the per-(bh) rows index into it. Sized by a counting pass: the patterns
 * hold what they allow, never n_blocks x n_blocks. */
static vox_status build_static_masks(vox_plan *plan)
{
    const vox_layout *L = &plan->L;
    int64_t NB = L->n_blocks, rows = plan->BH * NB;
    plan->h_kv_start = malloc(sizeof(int32_t) * (size_t)rows);
    plan->h_kv_count = malloc(sizeof(int32_t) * (size_t)rows);
    if (!plan->h_kv_start || !plan->h_kv_count)
        return VOX_ERR_OUT_OF_MEMORY;
    if (plan->p.mask_mode == VOX_MASK_CUSTOM) {
        const int32_t *rp = plan->custom_row_ptr;
        plan->h_cols_len = rp[plan->p.custom_masks * NB];
        plan->h_cols = malloc(sizeof(int32_t) * (size_t)(plan->h_cols_len + 1));
        if (!plan->h_cols)
            return VOX_ERR_OUT_OF_MEMORY;
        memcpy(plan->h_cols, plan->custom_cols, sizeof(int32_t) * (size_t)plan->h_cols_len);
        for (int64_t m = 0; m < rows; m++) {
            int64_t r = plan->p.custom_masks == 1 ? m % NB : m;
            plan->h_kv_start[m] = rp[r];
            plan->h_kv_count[m] = rp[r + 1] - rp[r];
        }
        return VOX_OK;
    }
    for (int64_t m = 0; m < rows; m++) {
        plan->h_kv_start[m] = 0;
        plan->h_kv_count[m] = (int32_t)NB;
    }
    int64_t n = NB;
    if (plan->p.mask_mode == VOX_MASK_SVG) {
        int32_t *start = plan->h_svg_start = malloc(sizeof(int32_t) * 4 * (size_t)NB);
        int32_t *count = plan->h_svg_count = malloc(sizeof(int32_t) * 4 * (size_t)NB);
        if (!start || !count)
            return VOX_ERR_OUT_OF_MEMORY;
        /* rows (r / NB = 0, 1) and transposed rows (2, 3) of pattern r / NB % 2 */
        for (int64_t r = 0; r < 4 * NB; r++) {
            count[r] = (int32_t)svg_list(plan, r % NB, (int)(r / NB % 2), r >= 2 * NB, NULL);
            int full = count[r] == NB; /* [0,NB): the dense row */
            start[r] = full ? 0 : (int32_t)n;
            n += full ? 0 : count[r];
            if (n > INT32_MAX)
                return vox_fail(&plan->ctx->log, VOX_ERR_UNSUPPORTED, "SVG: the patterns' %lld+ entries exceed "
                                "int32 indices", (long long)n);
        }
    }
    plan->h_cols = malloc(sizeof(int32_t) * (size_t)n);
    if (!plan->h_cols)
        return VOX_ERR_OUT_OF_MEMORY;
    for (int64_t j = 0; j < NB; j++)
        plan->h_cols[j] = (int32_t)j;
    if (plan->p.mask_mode == VOX_MASK_SVG)
        for (int64_t r = 0; r < 4 * NB; r++)
            if (plan->h_svg_start[r]) /* not the dense row */
                svg_list(plan, r % NB, (int)(r / NB % 2), r >= 2 * NB, plan->h_cols + plan->h_svg_start[r]);
    plan->h_cols_len = n;
    return VOX_OK;
}

vox_status vox_plan_create(vox_context *ctx, const vox_plan_params *params, vox_plan **out)
{
    if (!out)
        return VOX_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!ctx || !params)
        return VOX_ERR_INVALID_ARGUMENT;
    const vox_logger *log = &ctx->log;
    const vox_plan_params *p = params;
    if (p->batch < 1 || p->heads < 1 || p->batch > (1 << 20) || p->heads > (1 << 20))
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "batch %lld / heads %lld out of range",
                        (long long)p->batch, (long long)p->heads);
    if (p->head_dim < 8 || p->head_dim > 256 || p->head_dim % 8)
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "head_dim %lld must be a multiple of 8 in [8,256]",
                        (long long)p->head_dim);
    if (!vox_dtype_size(p->dtype))
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "unknown dtype %d", (int)p->dtype);
    if ((p->dtype == VOX_F16 && !(ctx->desc.caps & VOX_CAP_F16)) ||
        (p->dtype == VOX_BF16 && !(ctx->desc.caps & VOX_CAP_BF16)))
        return vox_fail(log, VOX_ERR_UNSUPPORTED, "%s lacks %s storage", ctx->desc.id,
                        p->dtype == VOX_F16 ? "f16" : "bf16");
    /* devices compute in f32: the scale must be an f32 value (finite, and not
     * flushed to 0) so that every backend sees the same number */
    if (!isfinite(p->scale) || p->scale < 0 || p->scale > FLT_MAX || (p->scale > 0 && (float)p->scale == 0.0f))
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT,
                        "scale %g must be 0 (= 1/sqrt(D)) or a finite positive f32 value", p->scale);

    vox_plan *plan = calloc(1, sizeof *plan);
    if (!plan)
        return VOX_ERR_OUT_OF_MEMORY;
    plan->ctx = ctx;
    vox_context_retain(ctx);
    plan->p = *p;
    plan->p.custom_row_ptr = NULL;
    plan->p.custom_kv_block = NULL;
    plan->BH = p->batch * p->heads;
    plan->scale = p->scale > 0 ? p->scale : 1.0 / sqrt((double)p->head_dim);
    char why[256] = "";
    /* the four block-layout working tensors must fit the device: refuse a
     * plan that cannot, before any table is built (a 1024^3 grid would
     * otherwise spend a minute and gigabytes on its layout first) */
    if (p->block_t > 0 && p->block_h > 0 && p->block_w > 0 && p->frames > 0 && p->height > 0 && p->width > 0 &&
        p->text_tokens >= 0 && (double)p->frames * p->height * p->width <= (double)(1 << 30) &&
        p->text_tokens <= (1 << 30)) { /* larger grids are invalid (vox_layout_build says why) */
        double V = (double)p->block_t * p->block_h * p->block_w;
        double nb = ceil((double)p->frames / p->block_t) * ceil((double)p->height / p->block_h) *
                        ceil((double)p->width / p->block_w) + ceil((double)p->text_tokens / V);
        double need = 4.0 * (double)plan->BH * nb * V * (double)p->head_dim * (double)vox_dtype_size(p->dtype);
        if (ctx->desc.memory_bytes && need > (double)ctx->desc.memory_bytes) {
            vox_plan_destroy(plan);
            return vox_fail(log, VOX_ERR_DEVICE_OUT_OF_MEMORY,
                            "plan too large: its block-layout working tensors need %.1f GiB, %s has %.1f GiB",
                            need / (1 << 30), ctx->desc.id, (double)ctx->desc.memory_bytes / (1 << 30));
        }
    }
    vox_status st = vox_layout_build(&plan->L, p, why, sizeof why);
    if (st) {
        vox_plan_destroy(plan);
        return vox_fail(log, st, "plan: %s", why);
    }
    const vox_layout *L = &plan->L;
    /* sizes: BH*S*D elements and, for BSA, the room of the selected blocks
     * (bsa_room() per row) must fit */
    size_t es = vox_dtype_size(p->dtype), rows_all, elems, bytes_qkv;
    int64_t bsa_cols = p->mask_mode == VOX_MASK_BSA ? bsa_room(p, L, -1) : 0;
    if (!vox_mul_size((size_t)plan->BH, (size_t)L->n_slots, &rows_all) ||
        !vox_mul_size(rows_all, (size_t)p->head_dim, &elems) || !vox_mul_size(elems, es, &bytes_qkv) ||
        rows_all > INT32_MAX || bsa_cols < 0 || plan->BH > INT32_MAX / (bsa_cols ? bsa_cols : 1)) {
        vox_plan_destroy(plan);
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "plan too large: sizes overflow");
    }
    /* mode checks read the caller's CSR in place */
    plan->p.custom_row_ptr = p->custom_row_ptr;
    plan->p.custom_kv_block = p->custom_kv_block;
    st = check_mode(plan, log);
    plan->p.custom_row_ptr = NULL;
    plan->p.custom_kv_block = NULL;
    if (st) {
        vox_plan_destroy(plan);
        return st;
    }
    /* every op the plan will run, asked of the device before any device work */
    vox_op_dims d = {p->batch, p->heads, p->head_dim, L->n_tokens, L->n_blocks, L->n_video_blocks, L->V,
                     p->dtype, {NULL, 0}, {L->gbt, L->gbh, L->gbw}, L->block_valid};
    plan->dims = d;
    st = check_ops(plan, log);
    if (st) {
        vox_plan_destroy(plan);
        return st;
    }
    if (p->mask_mode == VOX_MASK_CUSTOM) {
        int64_t rows = p->custom_masks * L->n_blocks + 1, nnz = p->custom_row_ptr[rows - 1];
        plan->custom_row_ptr = malloc(sizeof(int32_t) * (size_t)rows);
        plan->custom_cols = malloc(sizeof(int32_t) * (size_t)(nnz + 1));
        if (!plan->custom_row_ptr || !plan->custom_cols) {
            vox_plan_destroy(plan);
            return VOX_ERR_OUT_OF_MEMORY;
        }
        memcpy(plan->custom_row_ptr, p->custom_row_ptr, sizeof(int32_t) * (size_t)rows);
        if (nnz)
            memcpy(plan->custom_cols, p->custom_kv_block, sizeof(int32_t) * (size_t)nnz);
    }
    st = build_static_masks(plan);
    int64_t NB = L->n_blocks, nrows = plan->BH * NB;
    size_t BHNB = (size_t)nrows;
    plan->classes = calloc((size_t)plan->BH, sizeof *plan->classes);
    plan->err_s = calloc((size_t)plan->BH, sizeof(double));
    plan->err_t = calloc((size_t)plan->BH, sizeof(double));
    plan->h_kept_count = malloc(sizeof(int32_t) * BHNB);
    if (!st && (!plan->classes || !plan->err_s || !plan->err_t || !plan->h_kept_count))
        st = VOX_ERR_OUT_OF_MEMORY;
    if (!st)
        for (int64_t m = 0; m < nrows; m++)
            plan->h_kept_count[m] = L->block_valid[m % NB];
    if (!st && p->mask_mode == VOX_MASK_SVG) {
        plan->n_sample_rows = p->svg_sample_rows;
        int64_t *idx = malloc(sizeof(int64_t) * (size_t)plan->n_sample_rows);
        plan->h_sample_slots = malloc(sizeof(int32_t) * (size_t)plan->n_sample_rows);
        if (!idx || !plan->h_sample_slots ||
            !vox_sample_distinct(p->seed, L->n_video_tokens, plan->n_sample_rows, idx))
            st = VOX_ERR_OUT_OF_MEMORY;
        int64_t video0 = L->text_before ? L->text : 0;
        for (int64_t r = 0; !st && r < plan->n_sample_rows; r++)
            plan->h_sample_slots[r] = L->token_slot[video0 + idx[r]];
        free(idx);
    }

    /* device buffers */
    size_t i32 = sizeof(int32_t);
    if (!st) st = dbuf_upload(plan, &plan->slot_token, L->slot_token, i32 * (size_t)L->n_slots);
    if (!st) st = dbuf_upload(plan, &plan->token_slot, L->token_slot, i32 * (size_t)L->n_tokens);
    if (!st) st = dbuf_upload(plan, &plan->block_valid, L->block_valid, i32 * (size_t)NB);
    if (!st) st = dbuf_upload(plan, &plan->block_coord, L->block_coord, i32 * 3 * (size_t)NB);
    if (!st) st = dbuf_upload(plan, &plan->win_ptr, L->win_ptr, i32 * (size_t)(L->n_video_blocks + 1));
    if (!st) st = dbuf_upload(plan, &plan->windows, L->windows, i32 * 4 * (size_t)L->n_windows);
    if (!st) st = dbuf_alloc(plan, &plan->qb, bytes_qkv);
    if (!st) st = dbuf_alloc(plan, &plan->kb, bytes_qkv);
    if (!st) st = dbuf_alloc(plan, &plan->vb, bytes_qkv);
    if (!st) st = dbuf_alloc(plan, &plan->ob, bytes_qkv);
    if (!st) st = dbuf_alloc(plan, &plan->lseb, 4 * rows_all);
    if (!st) st = dbuf_upload(plan, &plan->kv_start, plan->h_kv_start, i32 * BHNB);
    if (!st) st = dbuf_upload(plan, &plan->kv_count, plan->h_kv_count, i32 * BHNB);
    if (!st) st = dbuf_upload(plan, &plan->kv_cols, plan->h_cols, i32 * (size_t)plan->h_cols_len);
    if (!st && p->query_keep < 1.0) {
        st = dbuf_alloc(plan, &plan->kept_count, i32 * BHNB);
        if (!st) st = dbuf_alloc(plan, &plan->kept_rows, i32 * BHNB * (size_t)L->V);
        if (!st) st = dbuf_alloc(plan, &plan->fill_src, i32 * rows_all);
    }
    if (!st && p->mask_mode == VOX_MASK_BSA) {
        /* the selected columns replace the static ones: row m owns
         * bsa_room() columns from kv_start[m] */
        dbuf_free(plan, &plan->kv_cols);
        plan->bsa_cols_len = plan->BH * bsa_cols;
        st = dbuf_alloc(plan, &plan->kv_cols, i32 * (size_t)plan->bsa_cols_len);
        int64_t at = 0;
        for (int64_t m = 0; m < nrows; m++) {
            plan->h_kv_start[m] = (int32_t)at;
            at += bsa_room(p, L, m % NB);
        }
        if (!st) st = plan->ctx->be->buffer_write(ctx->dev, plan->kv_start.impl, 0, plan->h_kv_start, i32 * BHNB);
        size_t means = BHNB * (size_t)p->head_dim * 4;
        if (!st) st = dbuf_alloc(plan, &plan->qbar, means);
        if (!st) st = dbuf_alloc(plan, &plan->kbar, means);
    }
    if (!st && p->mask_mode == VOX_MASK_SVG) {
        st = dbuf_upload(plan, &plan->sample_rows, plan->h_sample_slots, i32 * (size_t)plan->n_sample_rows);
        if (!st) st = dbuf_alloc(plan, &plan->sample_out, 4 * 3 * (size_t)(plan->BH * plan->n_sample_rows));
        if (!st) st = dbuf_upload(plan, &plan->svg_pattern_start, plan->h_svg_start, i32 * 4 * (size_t)NB);
        if (!st) st = dbuf_upload(plan, &plan->svg_pattern_count, plan->h_svg_count, i32 * 4 * (size_t)NB);
        if (!st) st = dbuf_alloc(plan, &plan->svg_class, i32 * (size_t)plan->BH);
        if (!st) st = dbuf_alloc(plan, &plan->svg_err, 4 * 2 * (size_t)plan->BH);
    }
    if (st) {
        vox_plan_destroy(plan);
        return vox_fail(log, st, "plan: cannot allocate its tables and working buffers (%s)",
                        vox_status_string(st));
    }
    plan->dims.block_valid = (vox_bref){plan->block_valid.impl, 0};
    plan->built = p->mask_mode == VOX_MASK_DENSE || p->mask_mode == VOX_MASK_CUSTOM;
    if (p->query_keep < 1.0)
        plan->built = 0;
    *out = plan;
    return VOX_OK;
}

/* ---------------------------------------------------------------- queries */

/* n int32 of the device buffer b read into a new host array *dst (left NULL
 * when the read fails). */
static vox_status fetch_i32(vox_plan *plan, const vox_dbuf *b, size_t n, int32_t **dst)
{
    *dst = malloc(sizeof(int32_t) * n);
    if (!*dst)
        return VOX_ERR_OUT_OF_MEMORY;
    vox_status st = plan->ctx->be->buffer_read(plan->ctx->dev, b->impl, 0, *dst, sizeof(int32_t) * n);
    if (st) {
        free(*dst);
        *dst = NULL;
    }
    return st;
}

static vox_status fetch_kept_rows(vox_plan *plan)
{
    if (plan->h_kept_rows || plan->p.query_keep >= 1.0)
        return VOX_OK;
    return fetch_i32(plan, &plan->kept_rows, (size_t)(plan->BH * plan->L.n_blocks * plan->L.V), &plan->h_kept_rows);
}

static vox_status fetch_bsa_cols(vox_plan *plan)
{
    if (plan->h_bsa_cols || plan->p.mask_mode != VOX_MASK_BSA)
        return VOX_OK;
    return fetch_i32(plan, &plan->kv_cols, (size_t)plan->bsa_cols_len, &plan->h_bsa_cols);
}

/* The masks a device wrote, checked before the host walks them (a faulty backend, or a timing-only switch
 * that leaves lists unwritten, must not send the host past its arrays): every row's count within the room
 * its columns have, every listed column a block, every kept count and kept row within the block's valid
 * tokens. */
static vox_status check_fetched(vox_plan *plan, int kept)
{
    const vox_layout *L = &plan->L;
    int64_t NB = L->n_blocks, rows = plan->BH * NB;
    const int bsa = plan->p.mask_mode == VOX_MASK_BSA;
    const int64_t cols_len = bsa ? plan->bsa_cols_len : plan->h_cols_len;
    const int32_t *cols = bsa ? plan->h_bsa_cols : plan->h_cols;
    for (int64_t m = 0; m < rows; m++) {
        int64_t c = plan->h_kv_count[m], at = plan->h_kv_start[m];
        int64_t room = bsa ? (m + 1 < rows ? plan->h_kv_start[m + 1] : cols_len) - at : cols_len - at;
        if (c < 0 || c > NB || at < 0 || c > room)
            return vox_fail(&plan->ctx->log, VOX_ERR_BACKEND,
                            "masks: the device wrote row %lld's list as %lld columns from %lld (room %lld): not a mask",
                            (long long)m, (long long)c, (long long)at, (long long)room);
        for (int64_t j = 0; cols && j < c; j++)
            if (cols[at + j] < 0 || cols[at + j] >= NB)
                return vox_fail(&plan->ctx->log, VOX_ERR_BACKEND,
                                "masks: the device listed block %d in row %lld (of %lld blocks): not a mask",
                                (int)cols[at + j], (long long)m, (long long)NB);
        if (!kept)
            continue;
        const int32_t nk = plan->h_kept_count[m], nv = L->block_valid[m % NB];
        if (nk < 0 || nk > nv)
            return vox_fail(&plan->ctx->log, VOX_ERR_BACKEND,
                            "masks: the device kept %d rows of block %lld (%d valid): not a mask", (int)nk,
                            (long long)m, (int)nv);
        for (int32_t r = 0; plan->h_kept_rows && r < nk; r++)
            if (plan->h_kept_rows[m * L->V + r] < 0 || plan->h_kept_rows[m * L->V + r] >= nv)
                return vox_fail(&plan->ctx->log, VOX_ERR_BACKEND,
                                "masks: the device kept row %d of block %lld (%d valid): not a mask",
                                (int)plan->h_kept_rows[m * L->V + r], (long long)m, (int)nv);
    }
    return VOX_OK;
}

/* The SVG classification the device made: classes, errors, mask rows. */
static vox_status fetch_classes(vox_plan *plan)
{
    const vox_backend *be = plan->ctx->be;
    void *dev = plan->ctx->dev;
    size_t BH = (size_t)plan->BH, rows = BH * (size_t)plan->L.n_blocks;
    int32_t *cls = malloc(sizeof(int32_t) * BH);
    float *err = malloc(sizeof(float) * 2 * BH);
    vox_status st = cls && err ? VOX_OK : VOX_ERR_OUT_OF_MEMORY;
    if (!st) st = be->buffer_read(dev, plan->svg_class.impl, 0, cls, sizeof(int32_t) * BH);
    if (!st) st = be->buffer_read(dev, plan->svg_err.impl, 0, err, sizeof(float) * 2 * BH);
    if (!st) st = be->buffer_read(dev, plan->kv_start.impl, 0, plan->h_kv_start, sizeof(int32_t) * rows);
    if (!st) st = be->buffer_read(dev, plan->kv_count.impl, 0, plan->h_kv_count, sizeof(int32_t) * rows);
    for (size_t bh = 0; !st && bh < BH; bh++) {
        plan->classes[bh] = (vox_head_class)cls[bh];
        plan->err_s[bh] = err[2 * bh];
        plan->err_t[bh] = err[2 * bh + 1];
    }
    if (!st)
        st = check_fetched(plan, 0); /* the device's lists of the classes (fetched again next time if refused) */
    if (!st)
        plan->classes_stale = 0;
    free(cls), free(err);
    return st;
}

vox_status vox_plan_fetch_masks(vox_plan *plan)
{
    int fresh = 0;
    vox_status st = plan->classes_stale ? fetch_classes(plan) : VOX_OK;
    if (st)
        return st;
    if (plan->counts_stale) {
        const vox_backend *be = plan->ctx->be;
        size_t bytes = sizeof(int32_t) * (size_t)(plan->BH * plan->L.n_blocks);
        if (plan->p.mask_mode == VOX_MASK_BSA)
            st = be->buffer_read(plan->ctx->dev, plan->kv_count.impl, 0, plan->h_kv_count, bytes);
        if (!st && plan->p.query_keep < 1.0)
            st = be->buffer_read(plan->ctx->dev, plan->kept_count.impl, 0, plan->h_kept_count, bytes);
        if (st)
            return st;
        fresh = 1;
    }
    fresh |= (!plan->h_bsa_cols && plan->p.mask_mode == VOX_MASK_BSA) || (!plan->h_kept_rows && plan->p.query_keep < 1.0);
    st = fetch_bsa_cols(plan);
    if (!st)
        st = fetch_kept_rows(plan);
    if (!st && fresh) {
        st = check_fetched(plan, plan->p.query_keep < 1.0);
        if (st) { /* fetched again (and refused again) at the next call */
            free(plan->h_bsa_cols);
            free(plan->h_kept_rows);
            plan->h_bsa_cols = NULL;
            plan->h_kept_rows = NULL;
            plan->counts_stale = 1;
            return st;
        }
    }
    if (!st)
        plan->counts_stale = 0;
    return st;
}

const int32_t *vox_plan_row_cols(const vox_plan *plan, int64_t m, int32_t *count)
{
    *count = plan->h_kv_count[m];
    const int32_t *base = plan->p.mask_mode == VOX_MASK_BSA ? plan->h_bsa_cols : plan->h_cols;
    return base + plan->h_kv_start[m];
}

vox_status vox_plan_stats_get(const vox_plan *cplan, vox_plan_stats *s)
{
    if (!cplan || !s)
        return VOX_ERR_INVALID_ARGUMENT;
    vox_plan *plan = (vox_plan *)cplan; /* lazily filled host mirrors */
    const vox_layout *L = &plan->L;
    memset(s, 0, sizeof *s);
    s->tokens = L->n_tokens;
    s->video_tokens = L->n_video_tokens;
    s->global_tokens = L->text;
    s->n_blocks = L->n_blocks;
    s->n_video_blocks = L->n_video_blocks;
    s->n_global_blocks = L->n_global_blocks;
    s->grid_blocks_t = L->gbt;
    s->grid_blocks_h = L->gbh;
    s->grid_blocks_w = L->gbw;
    s->block_volume = L->V;
    s->padded_fraction = 1.0 - (double)L->n_tokens / (double)L->n_slots;
    s->n_heads_total = plan->BH;
    vox_dbuf *all[PLAN_MAX_DBUFS];
    for (int i = 0, n = plan_dbufs(plan, all); i < n; i++)
        s->device_bytes += all[i]->impl ? (int64_t)all[i]->bytes : 0;
    s->built = plan->built;
    double D = (double)plan->p.head_dim, N = (double)L->n_tokens;
    s->flops_dense = 4.0 * N * N * D * (double)plan->BH;
    if (plan->classes_stale) {
        vox_status st = fetch_classes(plan);
        if (st)
            return st;
    }
    for (int64_t bh = 0; bh < plan->BH; bh++) {
        s->n_dense += plan->classes[bh] == VOX_HEAD_DENSE;
        s->n_spatial += plan->classes[bh] == VOX_HEAD_SPATIAL;
        s->n_temporal += plan->classes[bh] == VOX_HEAD_TEMPORAL;
    }
    if (!plan->built)
        return VOX_OK;
    vox_status st = vox_plan_fetch_masks(plan);
    if (st)
        return st;
    int64_t NB = L->n_blocks;
    double allowed = 0, kept = 0, flops = 0;
    for (int64_t m = 0; m < plan->BH * NB; m++) {
        int32_t n;
        const int32_t *cols = vox_plan_row_cols(plan, m, &n);
        double keys = 0;
        for (int32_t c = 0; c < n; c++)
            keys += L->block_valid[cols[c]];
        allowed += n;
        kept += plan->h_kept_count[m];
        flops += 4.0 * D * keys * plan->h_kept_count[m];
    }
    s->density = allowed / ((double)plan->BH * (double)NB * (double)NB);
    s->kept_query_fraction = kept / ((double)plan->BH * N);
    s->flops = flops;
    return VOX_OK;
}

vox_status vox_plan_head_classes(const vox_plan *cplan, vox_head_class *classes, double *err_s,
                                 double *err_t)
{
    if (!cplan)
        return VOX_ERR_INVALID_ARGUMENT;
    vox_plan *plan = (vox_plan *)cplan; /* host copies are read on first use */
    vox_status st = plan->classes_stale ? fetch_classes(plan) : VOX_OK;
    if (st)
        return st;
    for (int64_t bh = 0; bh < plan->BH; bh++) {
        if (classes) classes[bh] = plan->classes[bh];
        if (err_s) err_s[bh] = plan->err_s[bh];
        if (err_t) err_t[bh] = plan->err_t[bh];
    }
    return VOX_OK;
}

vox_status vox_plan_export_mask(const vox_plan *cplan, int64_t m, int32_t *row_ptr, int32_t *kv_block,
                                int64_t kv_capacity, int64_t *nnz, int8_t *keep)
{
    if (!cplan || !row_ptr || !nnz || (!kv_block && kv_capacity > 0) || kv_capacity < 0)
        return VOX_ERR_INVALID_ARGUMENT;
    vox_plan *plan = (vox_plan *)cplan;
    const vox_logger *log = &plan->ctx->log;
    if (m < 0 || m >= plan->BH)
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "export: mask %lld not in [0,%lld)", (long long)m,
                        (long long)plan->BH);
    if (!plan->built)
        return vox_fail(log, VOX_ERR_INVALID_STATE, "export: plan not built (call vox_plan_build)");
    vox_status st = vox_plan_fetch_masks(plan);
    if (st)
        return st;
    const vox_layout *L = &plan->L;
    int64_t NB = L->n_blocks, n = 0;
    row_ptr[0] = 0;
    for (int64_t i = 0; i < NB; i++) {
        int32_t cnt;
        const int32_t *cols = vox_plan_row_cols(plan, m * NB + i, &cnt);
        if (n + cnt > kv_capacity)
            return vox_fail(log, VOX_ERR_BUFFER_TOO_SMALL, "export: kv_capacity %lld too small",
                            (long long)kv_capacity);
        if (cnt) /* kv_block may be NULL when kv_capacity is 0 */
            memcpy(kv_block + n, cols, sizeof(int32_t) * (size_t)cnt);
        n += cnt;
        row_ptr[i + 1] = (int32_t)n;
    }
    *nnz = n;
    if (keep) {
        for (int64_t i = 0; i < NB; i++) {
            int64_t base = i * L->V;
            for (int v = 0; v < L->V; v++)
                keep[base + v] = (int8_t)(v < L->block_valid[i] ? (plan->h_kept_rows ? 0 : 1) : -1);
            if (plan->h_kept_rows) {
                const int32_t *kr = plan->h_kept_rows + (m * NB + i) * L->V;
                for (int32_t r = 0; r < plan->h_kept_count[m * NB + i]; r++)
                    keep[base + kr[r]] = 1;
            }
        }
    }
    return VOX_OK;
}

vox_status vox_plan_token_slots(const vox_plan *plan, int32_t *slot_of_token)
{
    if (!plan || !slot_of_token)
        return VOX_ERR_INVALID_ARGUMENT;
    memcpy(slot_of_token, plan->L.token_slot, sizeof(int32_t) * (size_t)plan->L.n_tokens);
    return VOX_OK;
}

vox_status vox_plan_last_build_ms(const vox_plan *plan, double *ms)
{
    if (!plan || !ms)
        return VOX_ERR_INVALID_ARGUMENT;
    if (plan->last_build_ms < 0)
        return vox_fail(&plan->ctx->log, VOX_ERR_INVALID_STATE,
                        "the last build was not timed (create the context with time_builds set)");
    *ms = plan->last_build_ms;
    return VOX_OK;
}
