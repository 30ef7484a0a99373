/* Cases of svg_classify (core/backend.h): per-head sums of the sampled rows'
 * squared errors -> class, errors and the head's mask rows. Inputs are built
 * directly: random sums, exact ties (err_s == err_t: spatial), all-zero
 * outputs (den 0), NaN sums (dense), a finite dense_above threshold, and
 * pattern tables with distinct values per row so a wrong row or pattern is
 * seen, and starts offset by the backward's base (4R) in all cases but one. Classes and rows must equal the reference exactly; errors (f32) by
 * normalized error with NaN where the reference has NaN. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

/* The buffers after block_valid, in the order make_inputs adds them, each
 * with the vox_op_svg_classify field it fills (harness.h). */
#define SVG_CLASSIFY_BUFS(B) B(SC_OUT, sample_out) B(SC_PSTART, pattern_start) B(SC_PCOUNT, pattern_count) \
    B(SC_KV_START, kv_start) B(SC_KV_COUNT, kv_count) B(SC_CLASSES, classes) B(SC_ERRORS, errors)
enum { SC_BLOCK_VALID, SVG_CLASSIFY_BUFS(OH_BUF_INDEX) };

static int svg_classify_inputs(const op_case *c, op_inputs *in)
{
    if (oh_layout(c, 1.0, in))
        return -1;
    int64_t BH = c->B * c->H, NB = in->L.n_blocks, R = 16;
    in->aux = R;
    oh_add(in, "sample_out", OB_F32, (size_t)(BH * R * 3), 0);
    float *o = in->buf[SC_OUT].f32;
    oh_rng r = {51};
    for (int64_t bh = 0; bh < BH; bh++)
        for (int64_t k = 0; k < R; k++) {
            float *e = o + (bh * R + k) * 3;
            if (c->fill & FILL_TIES) { /* small integers: exact sums, err_s == err_t on odd heads */
                e[0] = (float)(k % 3);
                e[1] = bh % 2 ? e[0] : (float)((k + 1) % 3);
                e[2] = bh % 3 ? 4.0f : 0.0f; /* every third head: all-zero outputs */
            } else {
                e[0] = (float)(oh_uniform(&r) * (bh % 2 ? 0.5 : 1.0));
                e[1] = (float)(oh_uniform(&r) * (bh % 2 ? 1.0 : 0.5));
                e[2] = (float)(1.0 + oh_uniform(&r));
            }
        }
    if (c->fill & FILL_NAN)
        o[(1 * R + 3) * 3 + 0] = NAN; /* head 1: err_s NaN -> dense */
    oh_add(in, "pattern_start", OB_I32, (size_t)(2 * NB), 0);
    oh_add(in, "pattern_count", OB_I32, (size_t)(2 * NB), 0);
    for (int64_t k = 0; k < 2 * NB; k++) {
        in->buf[SC_PSTART].i32[k] = (int32_t)(NB + 7 * k);
        in->buf[SC_PCOUNT].i32[k] = (int32_t)(1 + k % 5);
    }
    oh_add(in, "kv_start", OB_I32, (size_t)(BH * NB), 1);
    oh_add(in, "kv_count", OB_I32, (size_t)(BH * NB), 1);
    oh_add(in, "classes", OB_I32, (size_t)BH, 1);
    oh_add(in, "errors", OB_F32, (size_t)(2 * BH), 1);
    return 0;
}

static vox_status svg_classify_run(const op_inputs *in, const op_side *s)
{
    vox_op_svg_classify op = {
        SVG_CLASSIFY_BUFS(OH_BUF_REF)
        .n_rows = in->aux,
        .dense_above = in->c->param > 0 ? in->c->param : INFINITY,
        /* the backward's base (4R: the packed mask's header) but for one case, the build's 0 */
        .base = in->c->param > 0 ? 0 : (int32_t)(4 * in->dims.batch * in->dims.heads * in->dims.n_blocks),
    };
    return s->ctx->be->svg_classify(s->ctx->dev, &in->dims, &op);
}

static int svg_classify_compare(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, op_errors *e,
                                char *why, size_t n)
{
    static const int exact[] = {SC_CLASSES, SC_KV_START, SC_KV_COUNT};
    for (int k = 0; k < 3; k++) {
        int i = exact[k];
        int64_t d = oh_first_diff_i32((const int32_t *)dev->raw[i], (const int32_t *)ref->raw[i], NULL,
                                      in->buf[i].count);
        if (d >= 0) {
            snprintf(why, n, "%s[%lld] = %d, reference %d", in->buf[i].name, (long long)d,
                     ((const int32_t *)dev->raw[i])[d], ((const int32_t *)ref->raw[i])[d]);
            return 0;
        }
    }
    return oh_compare_norm(in, dev, ref, SC_ERRORS, &e->err[0], why, n);
}

static const op_case cases[] = {
    {"random_f32", SHAPE(1, 4, 16, 2, 8, 8, 8, 0, 1, 4, 4), VOX_F32, .drop_block = -1},
    {"ties_zero_outputs", SHAPE(2, 3, 16, 2, 4, 8, 0, 0, 1, 4, 4), VOX_F32, FILL_TIES, .drop_block = -1},
    {"nan_sum_dense", SHAPE(1, 3, 16, 2, 4, 8, 5, 1, 1, 4, 4), VOX_BF16, FILL_NAN, .drop_block = -1},
    {"dense_above_0.5", SHAPE(1, 6, 16, 2, 4, 8, 0, 0, 1, 4, 4), VOX_F16, .param = 0.5, .drop_block = -1},
};

const op_entry op_svg_classify = {
    VOX_OP_svg_classify, cases, (int)(sizeof cases / sizeof cases[0]),
    /* normalized error of the f32 errors (f32 sums of 16 values vs f64) */
    {{"errors", 0, {1e-12, 1e-12, 1e-12}}}, 1,
    svg_classify_inputs, svg_classify_run, svg_classify_compare,
};
