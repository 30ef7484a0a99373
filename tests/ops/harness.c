/* Host side of the op harness: case layouts (core/layout.c, as the plan
 * builds them, plus padding-only blocks), buffers, random data, read-back
 * conversion and the comparison metrics. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

vox_bref oh_ref(const op_side *s, const op_inputs *in, int i)
{
    if (i < 0 || !in->buf[i].count)
        return (vox_bref){NULL, 0};
    return (vox_bref){s->buf[i], in->buf[i].offset};
}

uint64_t oh_u64(oh_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double oh_uniform(oh_rng *r) { return ((double)(oh_u64(r) >> 11) + 0.5) / 9007199254740992.0; }

double oh_normal(oh_rng *r) { return sqrt(-2 * log(oh_uniform(r))) * cos(6.283185307179586 * oh_uniform(r)); }

int oh_add(op_inputs *in, const char *name, ob_kind kind, size_t count, int output)
{
    int i = in->n_buf++;
    op_buf *b = &in->buf[i];
    memset(b, 0, sizeof *b);
    b->name = name, b->kind = kind, b->count = count, b->output = output;
    if (!output && count) {
        if (kind == OB_I32)
            b->i32 = calloc(count, sizeof(int32_t));
        else
            b->f32 = calloc(count, sizeof(float));
    }
    return i;
}

/* Makes block j padding-only: its tokens leave the sequence (later tokens
 * renumbered), its windows go. */
static void drop_block(vox_layout *L, int64_t j)
{
    int64_t V = L->V, N = L->n_tokens;
    int32_t *gone = calloc((size_t)N + 1, sizeof(int32_t)); /* prefix count of removed tokens */
    for (int64_t s = j * V; s < (j + 1) * V; s++)
        if (L->slot_token[s] >= 0) {
            gone[L->slot_token[s] + 1] = 1;
            L->slot_token[s] = -1;
        }
    for (int64_t t = 0; t < N; t++)
        gone[t + 1] += gone[t];
    for (int64_t s = 0; s < L->n_slots; s++)
        if (L->slot_token[s] >= 0) {
            int32_t t = L->slot_token[s];
            L->slot_token[s] = t - gone[t];
            L->token_slot[t - gone[t]] = (int32_t)s;
        }
    L->n_tokens = N - gone[N];
    L->block_valid[j] = 0;
    if (j < L->n_video_blocks) {
        int32_t w0 = L->win_ptr[j], w1 = L->win_ptr[j + 1], nw = w1 - w0;
        memmove(L->windows + 4 * w0, L->windows + 4 * w1, sizeof(int32_t) * 4 * (size_t)(L->n_windows - w1));
        for (int64_t b = j + 1; b <= L->n_video_blocks; b++)
            L->win_ptr[b] -= nw;
        L->n_windows -= nw;
    }
    free(gone);
}

static int min_int(int a, int b) { return a < b ? a : b; }

int oh_layout(const op_case *c, double keep, op_inputs *in)
{
    memset(in, 0, sizeof *in);
    in->c = c;
    vox_plan_params p;
    vox_plan_defaults(&p);
    p.batch = c->B, p.heads = c->H, p.head_dim = c->D;
    p.frames = c->F, p.height = c->Y, p.width = c->X, p.text_tokens = c->G;
    p.text_position = c->before ? VOX_TEXT_BEFORE : VOX_TEXT_AFTER;
    p.block_t = c->bt, p.block_h = c->bh, p.block_w = c->bw;
    p.window_t = c->wt ? c->wt : min_int(2, c->bt);
    p.window_h = c->wh ? c->wh : min_int(2, c->bh);
    p.window_w = c->ww ? c->ww : min_int(2, c->bw);
    p.query_keep = keep;
    char why[256];
    if (vox_layout_build(&in->L, &p, why, sizeof why))
        return -1;
    if (c->drop_block >= 0)
        drop_block(&in->L, c->drop_block);
    const vox_layout *L = &in->L;
    vox_op_dims d = {c->B, c->H, c->D, L->n_tokens, L->n_blocks, L->n_video_blocks, L->V, c->dtype, {NULL, 0},
                     {L->gbt, L->gbh, L->gbw}, L->block_valid};
    in->dims = d;
    in->scale = c->scale > 0 ? c->scale : 1.0 / sqrt((double)c->D);
    int v = oh_add(in, "block_valid", OB_I32, (size_t)L->n_blocks, 0);
    memcpy(in->buf[v].i32, L->block_valid, sizeof(int32_t) * (size_t)L->n_blocks);
    return 0;
}

void oh_free_inputs(op_inputs *in)
{
    for (int i = 0; i < in->n_buf; i++)
        free(in->buf[i].i32), free(in->buf[i].f32);
    vox_layout_free(&in->L);
    memset(in, 0, sizeof *in);
}

void oh_fill_blocks(const op_inputs *in, int which, uint64_t seed, float *x)
{
    const op_case *c = in->c;
    const vox_layout *L = &in->L;
    int64_t BH = c->B * c->H, S = L->n_slots, D = c->D, N = L->n_tokens;
    float *caller = NULL;
    if (c->fill & FILL_WORKLOAD) {
        /* structured data in caller order, placed by the layout */
        vox_workload w = {c->name, c->B, c->H, c->D, c->F, c->Y, c->X, c->G, c->before};
        size_t n = (size_t)(BH * vox_workload_tokens(&w) * D);
        float *qkv[3] = {malloc(sizeof(float) * n), malloc(sizeof(float) * n), malloc(sizeof(float) * n)};
        vox_workload_generate(&w, seed, 1.0, qkv[0], qkv[1], qkv[2]);
        caller = qkv[which];
        for (int i = 0; i < 3; i++)
            if (i != which)
                free(qkv[i]);
        N = vox_workload_tokens(&w); /* a dropped block leaves tokens unused */
    }
    oh_rng r = {seed * 0x2545f4914f6cdd1dull + (uint64_t)which};
    for (int64_t bh = 0; bh < BH; bh++)
        for (int64_t s = 0; s < S; s++) {
            float *row = x + (size_t)((bh * S + s) * D);
            int32_t t = L->slot_token[s];
            for (int64_t e = 0; e < D; e++) {
                if (t < 0)
                    row[e] = (c->fill & FILL_PAD_NAN) ? NAN : 0.0f;
                else if (caller)
                    row[e] = caller[(size_t)((bh * N + t) * D + e)];
                else
                    row[e] = (float)(oh_normal(&r) + ((c->fill & FILL_SHIFT) ? 100.0 : 0.0));
            }
        }
    free(caller);
}

int64_t oh_caller_strides(const op_case *c, int64_t N, int64_t *sb, int64_t *sh, int64_t *st, int64_t *lsb,
                          int64_t *lsh, int64_t *lst)
{
    int64_t H = c->H, D = c->D, off = c->layout_offset;
    switch (c->layout) {
    case LAYOUT_BNHD:
        *sb = N * H * D, *sh = D, *st = H * D, *lsb = N * H, *lsh = 1, *lst = H;
        return off;
    case LAYOUT_PACKED_QKV: /* the k part of [B,N,3,H,D] */
        *sb = N * 3 * H * D, *sh = D, *st = 3 * H * D, *lsb = N * H, *lsh = 1, *lst = H;
        return off + H * D;
    default:
        *sb = H * N * D, *sh = N * D, *st = D, *lsb = H * N, *lsh = N, *lst = 1;
        return off;
    }
}

size_t oh_caller_span(const op_case *c, int64_t N, int64_t sb, int64_t sh, int64_t st, int64_t row)
{
    return (size_t)((c->B - 1) * sb + (c->H - 1) * sh + (N - 1) * st + row);
}

float *oh_add_blocks(op_inputs *in, const char *name, int which, uint64_t seed)
{
    const op_case *c = in->c;
    float *x = in->buf[oh_add(in, name, OB_ELEM, (size_t)(c->B * c->H * in->L.n_slots * c->D), 0)].f32;
    oh_fill_blocks(in, which, seed, x);
    return x;
}

void oh_add_qkv(op_inputs *in, uint64_t seed)
{
    static const char *names[3] = {"q", "k", "v"};
    for (int w = 0; w < 3; w++)
        oh_add_blocks(in, names[w], w, seed);
}

int oh_add_caller_copy(op_inputs *in, const char *name, int from)
{
    const op_case *c = in->c;
    const vox_layout *L = &in->L;
    int64_t *st = in->strides, N = L->n_tokens, S = L->n_slots, D = c->D;
    int64_t off = oh_caller_strides(c, N, &st[0], &st[1], &st[2], &st[3], &st[4], &st[5]);
    size_t n = oh_caller_span(c, N, st[0], st[1], st[2], D);
    int i = oh_add(in, name, OB_ELEM, n, 0);
    float *x = in->buf[i].f32;
    const float *xb = in->buf[from].f32;
    in->buf[i].offset = (size_t)off * vox_dtype_size(c->dtype);
    for (size_t k = 0; k < n; k++)
        x[k] = (c->fill & FILL_PAD_NAN) ? NAN : 0.0f;
    for (int64_t bh = 0; bh < c->B * c->H; bh++)
        for (int64_t s = 0; s < S; s++)
            if (L->slot_token[s] >= 0)
                memcpy(x + (bh / c->H) * st[0] + (bh % c->H) * st[1] + L->slot_token[s] * st[2], xb + (bh * S + s) * D,
                       sizeof(float) * (size_t)D);
    return i;
}

/* Random kept rows: per (bh, block) a random non-empty subset of the valid
 * rows, ascending; with FILL_TIES one video block keeps none. */
void oh_random_kept(const op_inputs *in, uint64_t seed, int32_t *count, int32_t *rows)
{
    const vox_layout *L = &in->L;
    int64_t BH = in->c->B * in->c->H, NB = L->n_blocks, V = L->V;
    oh_rng r = {seed};
    for (int64_t m = 0; m < BH * NB; m++) {
        int64_t j = m % NB, nv = L->block_valid[j], c = 0;
        for (int64_t s = 0; s < nv; s++)
            if (j >= L->n_video_blocks || ((in->c->fill & FILL_FEW_KEPT) ? oh_u64(&r) % 16 == 0 : oh_u64(&r) % 2 != 0) ||
                (c == 0 && s == nv - 1))
                rows[m * V + c++] = (int32_t)s;
        if ((in->c->fill & FILL_TIES) && j == 0)
            c = 0;
        count[m] = (int32_t)c;
    }
}

size_t oh_elem_size(const op_inputs *in, int i)
{
    return in->buf[i].kind == OB_ELEM ? vox_dtype_size(in->c->dtype) : 4;
}

double *oh_floats(const op_inputs *in, const op_outputs *o, int i)
{
    size_t n = in->buf[i].count;
    double *x = malloc(sizeof(double) * (n ? n : 1));
    vox_dtype dt = in->buf[i].kind == OB_ELEM ? in->c->dtype : VOX_F32;
    size_t es = vox_dtype_size(dt);
    for (size_t k = 0; k < n; k++) {
        float f;
        vox_convert(VOX_F32, &f, dt, o->raw[i] + in->buf[i].offset + k * es, 1);
        x[k] = f;
    }
    return x;
}

int oh_compare_norm(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, int i, double *err, char *why,
                    size_t n)
{
    double *a = oh_floats(in, dev, i), *r = oh_floats(in, ref, i);
    *err = oh_norm_err(a, r, NULL, in->buf[i].count);
    int ok = isfinite(*err);
    if (!ok)
        snprintf(why, n, "%s: NaN/Inf where the reference has none (or the reverse)", in->buf[i].name);
    free(a), free(r);
    return ok;
}

int oh_compare_outputs_norm(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, op_errors *e,
                            char *why, size_t n)
{
    int k = 0;
    for (int i = 0; i < in->n_buf; i++) {
        if (!in->buf[i].output)
            continue;
        if (k == OP_MAX_METRICS) {
            snprintf(why, n, "more outputs than op_errors holds");
            return 0;
        }
        if (!oh_compare_norm(in, dev, ref, i, &e->err[k++], why, n))
            return 0;
    }
    return 1;
}

double oh_norm_err(const double *a, const double *r, const size_t *idx, size_t n)
{
    double num = 0, den = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = idx ? idx[k] : k;
        if (isnan(r[i]) || isinf(r[i])) {
            if (!(a[i] == r[i] || (isnan(a[i]) && isnan(r[i]))))
                return INFINITY;
            continue;
        }
        if (!isfinite(a[i]))
            return INFINITY;
        num += (a[i] - r[i]) * (a[i] - r[i]);
        den += r[i] * r[i];
    }
    return den > 0 ? num / den : num;
}

double oh_lse_err(const double *a, const double *r, const size_t *idx, size_t n)
{
    double m = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = idx ? idx[k] : k;
        if (!isfinite(r[i]) || !isfinite(a[i])) {
            if (!(a[i] == r[i] || (isnan(a[i]) && isnan(r[i]))))
                return INFINITY;
            continue;
        }
        double d = fabs(a[i] - r[i]) / (fabs(r[i]) > 1 ? fabs(r[i]) : 1);
        m = d > m ? d : m;
    }
    return m;
}

int64_t oh_first_diff_i32(const int32_t *a, const int32_t *r, const size_t *idx, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        size_t i = idx ? idx[k] : k;
        if (a[i] != r[i])
            return (int64_t)i;
    }
    return -1;
}

/* Random values; with FILL_NAN a sprinkle of NaN, +-Inf and -0. */
void oh_fill_specials(const op_case *c, uint64_t seed, float *x, size_t n)
{
    oh_rng r = {seed};
    static const float specials[] = {NAN, INFINITY, -INFINITY, -0.0f};
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)oh_normal(&r);
        if ((c->fill & FILL_NAN) && oh_u64(&r) % 7 == 0)
            x[i] = specials[oh_u64(&r) % 4];
    }
}

/* Every byte of each output buffer equal to the reference's. */
static int same_bytes(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, char *why, size_t n)
{
    for (int i = 0; i < in->n_buf; i++) {
        if (!in->buf[i].output || !in->buf[i].count)
            continue;
        size_t b = dev->bytes[i];
        for (size_t k = 0; k < b; k++)
            if (dev->raw[i][k] != ref->raw[i][k]) {
                size_t es = oh_elem_size(in, i), el = (k - (k >= in->buf[i].offset ? in->buf[i].offset : 0)) / es;
                snprintf(why, n, "%s: byte %zu (element %zu) differs from the reference", in->buf[i].name, k, el);
                return 0;
            }
    }
    return 1;
}

int oh_compare_bytes(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, op_errors *e,
                           char *why, size_t n)
{
    (void)e;
    return same_bytes(in, dev, ref, why, n);
}
