/* Cases of attention_merge (core/backend.h): acc = merge(acc, part) through
 * the LSEs over one batch entry of caller tensors. Knobs: layout = acc's
 * layout, mask = part's layout (LAYOUT_*: [H,N,D], [N,H,D], or the k part of
 * a packed [N,3,H,D] with an LSE of gaps), layout_offset = element offset of
 * every tensor, with_lse = accumulate (acc's old contents merged; else they
 * are poison and must not be read), kept = in place (part is acc itself,
 * accumulate 0: the normalizing copy). FILL_NAN draws each row's LSE pair
 * from: finite, one or both -inf (that side's out then holds NaN, which must
 * not be read), NaN, +inf, a gap of 150 (f32 weights underflow); FILL_HUGE
 * puts the LSEs near 3000. Besides the error against the reference, the
 * device's own output must keep the contract exactly: all -inf rows give 0
 * and -inf, NaN rows NaN, a copy (accumulate 0) the part's bits, and no
 * element outside the tensors changes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

enum { AM_ACC = 1, AM_ACC_LSE, AM_PART, AM_PART_LSE, AM_ACC_INIT, AM_ACC_LSE_INIT };

/* Strides (head, token) of a tensor and its LSE in `layout`, and the extra
 * element offset of the tensor's first element (the k part of packed qkv). */
static int64_t layout_strides(const op_case *c, int layout, int64_t N, int64_t s[4])
{
    int64_t H = c->H, D = c->D;
    switch (layout) {
    case LAYOUT_BNHD:
        s[0] = D, s[1] = H * D, s[2] = 1, s[3] = H;
        return 0;
    case LAYOUT_PACKED_QKV:
        s[0] = D, s[1] = 3 * H * D, s[2] = 1, s[3] = 2 * H;
        return H * D;
    default:
        s[0] = N * D, s[1] = D, s[2] = N, s[3] = 1;
        return 0;
    }
}

static size_t span(int64_t H, int64_t N, int64_t sh, int64_t st, int64_t row)
{
    return (size_t)((H - 1) * sh + (N - 1) * st + row);
}

/* in->strides[0..3]: acc's strides (h, t) and its LSE's; in->aux: the
 * element offset of acc's first element past the buffer offset (part's are
 * recomputed from the case). */
static int merge_inputs(const op_case *c, op_inputs *in)
{
    if (oh_layout(c, 1.0, in))
        return -1;
    int64_t H = c->H, D = c->D, N = in->L.n_tokens, off = c->layout_offset;
    in->dims.batch = 1;
    int64_t sa[4], sp[4];
    int64_t oa = layout_strides(c, c->layout, N, sa), op = layout_strides(c, c->mask, N, sp);
    size_t es = vox_dtype_size(c->dtype);
    size_t na = span(H, N, sa[0], sa[1], D) + (size_t)oa, nla = span(H, N, sa[2], sa[3], 1);
    size_t np = span(H, N, sp[0], sp[1], D) + (size_t)op, nlp = span(H, N, sp[2], sp[3], 1);
    oh_add(in, "acc", OB_ELEM, na, 1);
    oh_add(in, "acc_lse", OB_F32, nla, 1);
    oh_add(in, "part", OB_ELEM, c->kept ? 0 : np, 0);
    oh_add(in, "part_lse", OB_F32, c->kept ? 0 : nlp, 0);
    int with_init = c->with_lse || c->kept;
    oh_add(in, "acc_init", OB_ELEM, with_init ? na : 0, 0);
    oh_add(in, "acc_lse_init", OB_F32, with_init ? nla : 0, 0);
    for (int i = AM_ACC; i <= AM_ACC_LSE_INIT; i++)
        in->buf[i].offset = (size_t)off * (in->buf[i].kind == OB_ELEM ? es : 4);
    memcpy(in->strides, sa, sizeof sa);
    in->aux = oa;
    /* values: gaps and rows random normal; LSE pairs per row by recipe */
    oh_rng r = {31 + (uint64_t)c->D};
    float *a = in->buf[AM_ACC_INIT].f32, *la = in->buf[AM_ACC_LSE_INIT].f32;
    float *p = c->kept ? a : in->buf[AM_PART].f32, *lp = c->kept ? la : in->buf[AM_PART_LSE].f32;
    size_t npp = c->kept ? na : np, nlpp = c->kept ? nla : nlp;
    for (size_t k = 0; with_init && k < na; k++)
        a[k] = (float)oh_normal(&r);
    for (size_t k = 0; with_init && k < nla; k++)
        la[k] = (float)oh_normal(&r);
    for (size_t k = 0; k < npp; k++)
        p[k] = (float)oh_normal(&r);
    for (size_t k = 0; k < nlpp; k++)
        lp[k] = (float)oh_normal(&r);
    const int64_t *s2 = c->kept ? sa : sp;
    int64_t o2 = c->kept ? oa : op;
    for (int64_t h = 0; h < H; h++)
        for (int64_t t = 0; t < N; t++) {
            double base = (c->fill & FILL_HUGE) ? 3000 : 2;
            double x = base + 3 * oh_normal(&r), y = base + 3 * oh_normal(&r);
            int kind = (c->fill & FILL_NAN) ? (int)(oh_u64(&r) % 8) : 0;
            if (kind == 1 || kind == 3) x = -INFINITY;
            if (kind == 2 || kind == 3) y = -INFINITY;
            if (kind == 4) x = NAN;
            if (kind == 5) y = NAN;
            if (kind == 6) x = INFINITY;
            if (kind == 7) x = y + 150;
            float *arow = with_init ? a + oa + h * sa[0] + t * sa[1] : NULL;
            float *prow = p + o2 + h * s2[0] + t * s2[1];
            if (with_init)
                la[h * sa[2] + t * sa[3]] = (float)x;
            if (!c->kept)
                lp[h * s2[2] + t * s2[3]] = (float)y;
            for (int64_t e = 0; e < D; e++) { /* a side without keys holds garbage */
                if (arow && x == -INFINITY && c->with_lse)
                    arow[e] = NAN;
                if (!c->kept && y == -INFINITY)
                    prow[e] = NAN;
            }
        }
    return 0;
}

/* acc (and its LSE) start as acc_init: copied on the device side. */
static vox_status copy_init(const op_inputs *in, const op_side *s, int from, int to)
{
    const vox_backend *be = s->ctx->be;
    size_t bytes = in->buf[from].offset + in->buf[from].count * oh_elem_size(in, from);
    unsigned char *h = malloc(bytes);
    vox_status st = h ? be->buffer_read(s->ctx->dev, s->buf[from], 0, h, bytes) : VOX_ERR_OUT_OF_MEMORY;
    if (!st)
        st = be->buffer_write(s->ctx->dev, s->buf[to], 0, h, bytes);
    free(h);
    return st;
}

static vox_status merge_run(const op_inputs *in, const op_side *s)
{
    const op_case *c = in->c;
    const int64_t *sa = in->strides;
    int64_t sp[4];
    int64_t op = layout_strides(c, c->mask, in->L.n_tokens, sp);
    size_t es = vox_dtype_size(c->dtype);
    vox_status st = VOX_OK;
    if (c->with_lse || c->kept) {
        st = copy_init(in, s, AM_ACC_INIT, AM_ACC);
        if (!st)
            st = copy_init(in, s, AM_ACC_LSE_INIT, AM_ACC_LSE);
    }
    if (st)
        return st;
    vox_bref acc = oh_ref(s, in, AM_ACC);
    acc.offset += (size_t)in->aux * es;
    vox_bref part = c->kept ? acc : oh_ref(s, in, AM_PART);
    if (!c->kept)
        part.offset += (size_t)op * es;
    vox_op_attention_merge m = {
        .acc = {acc, c->dtype, 0, sa[0], sa[1]},
        .acc_lse = {oh_ref(s, in, AM_ACC_LSE), VOX_F32, 0, sa[2], sa[3]},
        .part = {part, c->dtype, 0, c->kept ? sa[0] : sp[0], c->kept ? sa[1] : sp[1]},
        .part_lse = {c->kept ? oh_ref(s, in, AM_ACC_LSE) : oh_ref(s, in, AM_PART_LSE), VOX_F32, 0,
                     c->kept ? sa[2] : sp[2], c->kept ? sa[3] : sp[3]},
        .accumulate = c->with_lse && !c->kept,
    };
    return s->ctx->be->attention_merge(s->ctx->dev, &in->dims, &m);
}

/* The exact contract on the device's rows, the bytes outside the tensors,
 * then the errors over the tensors' elements against the reference. */
static int merge_compare(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, op_errors *e, char *why,
                         size_t n)
{
    const op_case *c = in->c;
    int64_t H = c->H, D = c->D, N = in->L.n_tokens, oa = in->aux;
    const int64_t *sa = in->strides;
    size_t na = in->buf[AM_ACC].count, nla = in->buf[AM_ACC_LSE].count;
    double *a = oh_floats(in, dev, AM_ACC), *r = oh_floats(in, ref, AM_ACC);
    double *la = oh_floats(in, dev, AM_ACC_LSE), *lr = oh_floats(in, ref, AM_ACC_LSE);
    size_t *oi = malloc(sizeof(size_t) * (size_t)(H * N * D)), *li = malloc(sizeof(size_t) * (size_t)(H * N));
    char *in_a = calloc(na, 1), *in_l = calloc(nla, 1);
    size_t no = 0, nl = 0;
    int ok = 1;
    /* the inputs of each row, for the exact contract */
    int64_t sp[4], op = layout_strides(c, c->mask, N, sp);
    const float *pl = c->kept ? in->buf[AM_ACC_LSE_INIT].f32 : in->buf[AM_PART_LSE].f32;
    const float *pv = c->kept ? in->buf[AM_ACC_INIT].f32 : in->buf[AM_PART].f32;
    const float *al0 = in->buf[AM_ACC_LSE_INIT].f32;
    if (c->kept)
        memcpy(sp, sa, sizeof sp), op = oa;
    for (int64_t h = 0; h < H; h++)
        for (int64_t t = 0; t < N; t++) {
            size_t l = (size_t)(h * sa[2] + t * sa[3]), row = (size_t)(oa + h * sa[0] + t * sa[1]);
            li[nl++] = l, in_l[l] = 1;
            double lb = pl[h * sp[2] + t * sp[3]];
            double lx = c->with_lse && !c->kept ? (double)al0[l] : -INFINITY;
            int nan_in = isnan(lb) || isnan(lx);
            for (int64_t d = 0; d < D; d++) {
                oi[no++] = row + (size_t)d, in_a[row + (size_t)d] = 1;
                double v = a[row + (size_t)d];
                if (ok && nan_in && !(isnan(v) && isnan(la[l])))
                    ok = 0, snprintf(why, n, "row (h %lld, t %lld): NaN LSE in, out %g lse %g", (long long)h,
                                     (long long)t, v, la[l]);
                if (ok && !nan_in && lb == -INFINITY && lx == -INFINITY && !(v == 0 && la[l] == -INFINITY))
                    ok = 0, snprintf(why, n, "row (h %lld, t %lld): no keys, out %g lse %g", (long long)h, (long long)t,
                                     v, la[l]);
                /* a copy: the part's value as stored, bit for bit */
                if (ok && !nan_in && lx == -INFINITY && isfinite(lb)) {
                    float f;
                    double want = pv[op + h * sp[0] + t * sp[1] + d];
                    unsigned char buf[4];
                    vox_convert(c->dtype, buf, VOX_F32, &(float){(float)want}, 1);
                    vox_convert(VOX_F32, &f, c->dtype, buf, 1);
                    if (!(v == f || (isnan(v) && isnan(f))) || la[l] != (float)lb)
                        ok = 0, snprintf(why, n, "row (h %lld, t %lld): a copy changed (%g vs %g, lse %g vs %g)",
                                         (long long)h, (long long)t, v, (double)f, la[l], lb);
                }
            }
        }
    /* elements outside the tensors keep their bytes (the same on both sides) */
    size_t es = oh_elem_size(in, AM_ACC);
    for (size_t k = 0; ok && k < na; k++)
        if (!in_a[k] && memcmp(dev->raw[AM_ACC] + in->buf[AM_ACC].offset + k * es,
                               ref->raw[AM_ACC] + in->buf[AM_ACC].offset + k * es, es))
            ok = 0, snprintf(why, n, "acc: element %zu outside the tensor changed", k);
    for (size_t k = 0; ok && k < nla; k++)
        if (!in_l[k] && memcmp(dev->raw[AM_ACC_LSE] + in->buf[AM_ACC_LSE].offset + k * 4,
                               ref->raw[AM_ACC_LSE] + in->buf[AM_ACC_LSE].offset + k * 4, 4))
            ok = 0, snprintf(why, n, "acc_lse: element %zu outside the tensor changed", k);
    e->err[0] = oh_norm_err(a, r, oi, no);
    e->err[1] = oh_lse_err(la, lr, li, nl);
    if (ok && (!isfinite(e->err[0]) || !isfinite(e->err[1]))) {
        snprintf(why, n, "%s: NaN/Inf where the reference has none, or the reverse", isfinite(e->err[0]) ? "lse" : "acc");
        ok = 0;
    }
    free(a), free(r), free(la), free(lr), free(oi), free(li), free(in_a), free(in_l);
    return ok;
}

/* SHAPE(B, H, D, F, Y, X, G, before, bt, bh, bw): tokens N = F*Y*X + G */
static const op_case cases[] = {
    {"bhnd_accumulate_f32", SHAPE(1, 2, 32, 2, 4, 4, 3, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .with_lse = 1},
    {"bhnd_first_f32", SHAPE(1, 2, 32, 2, 4, 4, 3, 0, 1, 4, 4), VOX_F32, .drop_block = -1},
    {"bnhd_from_bhnd_f16", SHAPE(1, 3, 64, 2, 4, 4, 5, 0, 1, 4, 4), VOX_F16, .drop_block = -1,
     .layout = LAYOUT_BNHD, .with_lse = 1},
    {"packed_into_bnhd_bf16", SHAPE(1, 2, 128, 1, 4, 8, 2, 0, 1, 4, 4), VOX_BF16, .drop_block = -1,
     .layout = LAYOUT_BNHD, .mask = LAYOUT_PACKED_QKV, .with_lse = 1},
    {"special_lse_f32", SHAPE(1, 3, 16, 2, 4, 4, 7, 0, 1, 4, 4), VOX_F32, FILL_NAN, .drop_block = -1,
     .layout = LAYOUT_PACKED_QKV, .mask = LAYOUT_BNHD, .with_lse = 1},
    {"special_lse_first_f16", SHAPE(1, 2, 16, 2, 4, 4, 7, 0, 1, 4, 4), VOX_F16, FILL_NAN, .drop_block = -1,
     .mask = LAYOUT_BNHD},
    {"special_lse_bf16_d8", SHAPE(1, 4, 8, 1, 4, 4, 9, 0, 1, 4, 4), VOX_BF16, FILL_NAN, .drop_block = -1,
     .layout = LAYOUT_BNHD, .with_lse = 1},
    {"huge_lse_offset_f32", SHAPE(1, 2, 48, 1, 4, 4, 1, 0, 1, 4, 4), VOX_F32, FILL_HUGE, .drop_block = -1,
     .layout_offset = 3, .with_lse = 1},
    {"huge_lse_bnhd_bf16", SHAPE(1, 2, 64, 1, 4, 4, 1, 0, 1, 4, 4), VOX_BF16, FILL_HUGE | FILL_NAN,
     .drop_block = -1, .layout = LAYOUT_BNHD, .mask = LAYOUT_PACKED_QKV, .layout_offset = 1, .with_lse = 1},
    {"in_place_copy_f32", SHAPE(1, 2, 32, 1, 4, 4, 6, 0, 1, 4, 4), VOX_F32, FILL_NAN, .drop_block = -1, .kept = 1},
    {"in_place_copy_packed_f16", SHAPE(1, 2, 32, 1, 4, 4, 6, 0, 1, 4, 4), VOX_F16, FILL_NAN, .drop_block = -1,
     .layout = LAYOUT_PACKED_QKV, .kept = 1},
    {"d256_f32", SHAPE(1, 1, 256, 1, 4, 4, 0, 0, 1, 4, 4), VOX_F32, .drop_block = -1, .with_lse = 1},
    {"perf_wan_like_bf16", SHAPE(1, 12, 128, 8, 30, 52, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .layout = LAYOUT_BNHD, .with_lse = 1, .perf_only = 1},
};

const op_entry op_attention_merge = {
    VOX_OP_attention_merge, cases, (int)(sizeof cases / sizeof cases[0]),
    /* f32 arithmetic against f64 (f32: rounding of weights; 16-bit types:
     * the one rounding of the result, different near ties) */
    {{"acc", 0, {1e-12, 1e-7, 1e-5}}, {"lse", 1, {1e-6, 1e-6, 1e-6}}}, 2,
    merge_inputs, merge_run, merge_compare,
};
