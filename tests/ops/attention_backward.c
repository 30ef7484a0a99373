/* Cases of attention_backward (core/backend.h): dense rows and random
 * per-row masks (empty rows, a padding-only key block, rows differing per
 * head) given as the packed forward CSR plus its transpose, with and without
 * pruned rows (fill_src: a pruned slot points at a kept slot of its block, or
 * at -1 where the block keeps none), ragged blocks, text before the video,
 * NaN in padding (dO and inputs: must reach nothing), huge logits. O and LSE
 * come from an f64 forward on the host, so P stays normalised.
 * dq, dk, dv are compared by normalized error over every slot; the contract's
 * zeros (padding slots, rows not computed) are checked on the device output,
 * and the reference's gradients must be finite (no case lets NaN reach one). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The buffers after block_valid, in the order make_inputs adds them, each
 * with the vox_op_attention_backward field it fills (harness.h). */
#define ATTENTION_BACKWARD_BUFS(B) B(AB_Q, q) B(AB_K, k) B(AB_V, v) B(AB_O, o) B(AB_DOUT, dout) B(AB_LSE, lse) \
    B(AB_DQ, dq) B(AB_DK, dk) B(AB_DV, dv) B(AB_MASK, mask) B(AB_FILL, fill_src)
enum { AB_BLOCK_VALID, ATTENTION_BACKWARD_BUFS(OH_BUF_INDEX) };

/* Forward rows (kv_start into cols, kv_count), then the packed mask of
 * vox_op_attention_backward with a transpose per head. */
static int32_t *packed_mask(const op_case *c, const vox_layout *L, int64_t BH, size_t *len)
{
    int64_t NB = L->n_blocks, R = BH * NB, nnz = 0;
    int32_t *rows = malloc(sizeof(int32_t) * (size_t)(R * NB)), *count = calloc((size_t)R, sizeof(int32_t));
    oh_rng r = {73};
    for (int64_t m = 0; m < R; m++) {
        int64_t i = m % NB;
        for (int64_t j = 0; j < NB; j++)
            if (c->mask == MASK_DENSE || (i != 1 && (oh_u64(&r) % 10 < 4 || j == i)))
                rows[m * NB + count[m]++] = (int32_t)j;
        if (c->mask != MASK_DENSE && i == 0 && c->drop_block >= 0) /* only a padding-only block */
            rows[m * NB] = c->drop_block, count[m] = 1;
        nnz += count[m];
    }
    int32_t *p = malloc(sizeof(int32_t) * (size_t)(4 * R + 2 * nnz));
    int64_t at = 4 * R;
    for (int64_t m = 0; m < R; m++) {
        p[m] = (int32_t)at, p[R + m] = count[m];
        memcpy(p + at, rows + m * NB, sizeof(int32_t) * (size_t)count[m]);
        at += count[m];
    }
    memset(p + 3 * R, 0, sizeof(int32_t) * (size_t)R);
    for (int64_t m = 0; m < R; m++)
        for (int32_t k = 0; k < count[m]; k++)
            p[3 * R + (m / NB) * NB + rows[m * NB + k]]++;
    for (int64_t mt = 0; mt < R; mt++)
        p[2 * R + mt] = (int32_t)at, at += p[3 * R + mt], p[3 * R + mt] = 0;
    for (int64_t m = 0; m < R; m++) /* ascending query blocks per KV block */
        for (int32_t k = 0; k < count[m]; k++) {
            int64_t mt = (m / NB) * NB + rows[m * NB + k];
            p[p[2 * R + mt] + p[3 * R + mt]++] = (int32_t)(m % NB);
        }
    free(rows), free(count);
    *len = (size_t)at;
    return p;
}

/* fill_src from random kept rows: kept and padding slots map to themselves,
 * a pruned slot to a random kept slot of its block (-1 if it keeps none). */
static void make_fill(const op_inputs *in, int32_t *fill)
{
    const vox_layout *L = &in->L;
    int64_t BH = in->c->B * in->c->H, NB = L->n_blocks, V = L->V, S = L->n_slots;
    int32_t *kc = malloc(sizeof(int32_t) * (size_t)(BH * NB)), *kr = malloc(sizeof(int32_t) * (size_t)(BH * NB * V));
    oh_random_kept(in, 84, kc, kr);
    oh_rng r = {85};
    for (int64_t m = 0; m < BH * NB; m++) {
        int64_t bh = m / NB, j = m % NB;
        int32_t *f = fill + bh * S + j * V;
        for (int64_t s = 0; s < V; s++)
            f[s] = s < L->block_valid[j] ? (kc[m] ? (int32_t)(j * V + kr[m * V + oh_u64(&r) % (uint64_t)kc[m]]) : -1)
                                         : (int32_t)(j * V + s);
        for (int32_t k = 0; k < kc[m]; k++)
            f[kr[m * V + k]] = (int32_t)(j * V + kr[m * V + k]);
    }
    free(kc), free(kr);
}

/* O and LSE of every computed row in f64 (rows without keys: 0 and -inf). */
static void host_forward(const op_inputs *in, const int32_t *mask, const int32_t *fill, float *o, float *lse)
{
    const vox_layout *L = &in->L;
    int64_t BH = in->c->B * in->c->H, NB = L->n_blocks, V = L->V, S = L->n_slots, D = in->c->D, R = BH * NB;
    const float *q = in->buf[AB_Q].f32, *k = in->buf[AB_K].f32, *v = in->buf[AB_V].f32;
    double *acc = malloc(sizeof(double) * (size_t)D);
    for (int64_t m = 0; m < R; m++) {
        int64_t bh = m / NB, i = m % NB;
        for (int64_t s = i * V; s < i * V + L->block_valid[i]; s++) {
            int64_t row = bh * S + s;
            if (fill && fill[row] != s)
                continue;
            double mx = -INFINITY, z = 0;
            for (int pass = 0; pass < 2; pass++) {
                memset(acc, 0, sizeof(double) * (size_t)D);
                for (int32_t c = 0; c < mask[R + m]; c++) {
                    int64_t jb = mask[mask[m] + c];
                    for (int64_t ks = bh * S + jb * V; ks < bh * S + jb * V + L->block_valid[jb]; ks++) {
                        double dot = 0;
                        for (int64_t e = 0; e < D; e++)
                            dot += (double)q[row * D + e] * k[ks * D + e];
                        dot *= in->scale;
                        if (!pass)
                            mx = dot > mx ? dot : mx;
                        else {
                            double w = exp(dot - mx);
                            z += w;
                            for (int64_t e = 0; e < D; e++)
                                acc[e] += w * v[ks * D + e];
                        }
                    }
                }
            }
            for (int64_t e = 0; e < D; e++)
                o[row * D + e] = (float)(z > 0 ? acc[e] / z : 0.0);
            lse[row] = (float)(z > 0 ? mx + log(z) : -INFINITY);
        }
    }
    free(acc);
}

static int backward_inputs(const op_case *c, op_inputs *in)
{
    if (oh_layout(c, 1.0, in))
        return -1;
    const vox_layout *L = &in->L;
    int64_t BH = c->B * c->H, S = L->n_slots, n = BH * S * c->D;
    oh_add_qkv(in, 91);
    if (c->fill & FILL_HUGE)
        for (int64_t i = 0; i < n; i++)
            in->buf[AB_Q].f32[i] *= 30.0f, in->buf[AB_K].f32[i] *= 3.0f;
    oh_add(in, "o", OB_ELEM, (size_t)n, 0);
    oh_add_blocks(in, "dout", 0, 92);
    oh_add(in, "lse", OB_F32, (size_t)(2 * BH * S), 0);
    oh_add(in, "dq", OB_ELEM, (size_t)n, 1);
    oh_add(in, "dk", OB_ELEM, (size_t)n, 1);
    oh_add(in, "dv", OB_ELEM, (size_t)n, 1);
    size_t len;
    int32_t *mask = packed_mask(c, L, BH, &len);
    memcpy(in->buf[oh_add(in, "mask", OB_I32, len, 0)].i32, mask, sizeof(int32_t) * len);
    free(mask);
    oh_add(in, "fill_src", OB_I32, c->kept ? (size_t)(BH * S) : 0, 0);
    if (c->kept)
        make_fill(in, in->buf[AB_FILL].i32);
    /* O and LSE: of the (dtype-rounded) inputs the device will read */
    for (int b = AB_Q; b <= AB_V; b++)
        for (int64_t i = 0; i < n; i++) {
            float x = in->buf[b].f32[i];
            unsigned char t[4];
            vox_convert(c->dtype, t, VOX_F32, &x, 1);
            vox_convert(VOX_F32, &in->buf[b].f32[i], c->dtype, t, 1);
        }
    host_forward(in, in->buf[AB_MASK].i32, c->kept ? in->buf[AB_FILL].i32 : NULL, in->buf[AB_O].f32,
                 in->buf[AB_LSE].f32);
    int64_t max_kv = 0, max_q = 0, R = BH * L->n_blocks;
    for (int64_t m = 0; m < R; m++) {
        max_kv = in->buf[AB_MASK].i32[R + m] > max_kv ? in->buf[AB_MASK].i32[R + m] : max_kv;
        max_q = in->buf[AB_MASK].i32[3 * R + m] > max_q ? in->buf[AB_MASK].i32[3 * R + m] : max_q;
    }
    in->aux = max_kv | (max_q << 32);
    return 0;
}

static vox_status backward_run(const op_inputs *in, const op_side *s)
{
    vox_op_attention_backward op = {
        ATTENTION_BACKWARD_BUFS(OH_BUF_REF)
        .scale = in->scale,
        .max_kv_count = in->aux & 0xffffffff,
        .max_q_count = in->aux >> 32,
    };
    return s->ctx->be->attention_backward(s->ctx->dev, &in->dims, &op);
}

static int backward_compare(const op_inputs *in, const op_outputs *dev, const op_outputs *ref, op_errors *e,
                            char *why, size_t n)
{
    const vox_layout *L = &in->L;
    int64_t BH = in->c->B * in->c->H, S = L->n_slots, D = in->c->D;
    const int32_t *fill = in->buf[AB_FILL].i32;
    int ok = 1;
    for (int g = 0; g < 3; g++) {
        int i = AB_DQ + g;
        double *a = oh_floats(in, dev, i), *r = oh_floats(in, ref, i);
        for (int64_t k = 0; ok && k < BH * S * D; k++)
            if (!isfinite(r[k])) { /* no case puts NaN or Inf where it may reach a gradient */
                snprintf(why, n, "%s: the reference has NaN/Inf at %lld", in->buf[i].name, (long long)k);
                ok = 0;
            }
        free(r);
        for (int64_t row = 0; ok && row < BH * S; row++) {
            int64_t s = row % S;
            int zero = !oh_valid_slot(L, s) || (g == 0 && fill && fill[row] != s);
            for (int64_t d = 0; ok && zero && d < D; d++)
                if (a[row * D + d] != 0.0) {
                    snprintf(why, n, "%s: slot %lld of bh %lld must be 0 (%s)", in->buf[i].name, (long long)s,
                             (long long)(row / S), oh_valid_slot(L, s) ? "a pruned row" : "padding");
                    ok = 0;
                }
        }
        free(a);
        if (ok)
            ok = oh_compare_norm(in, dev, ref, i, &e->err[g], why, n);
    }
    return ok;
}

static const op_case cases[] = {
    {"dense_text_f32", SHAPE(1, 2, 16, 2, 4, 4, 5, 0, 2, 2, 2), VOX_F32, .drop_block = -1},
    {"dense_ragged_before_b2_f16", SHAPE(2, 1, 16, 3, 5, 7, 5, 1, 2, 2, 2), VOX_F16, .drop_block = -1},
    {"random_empty_rows_kept_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, .drop_block = -1,
     .mask = MASK_RANDOM, .kept = 1},
    {"random_kept_none_bf16", SHAPE(1, 2, 32, 3, 5, 7, 5, 0, 2, 2, 2), VOX_BF16, FILL_TIES, .drop_block = -1,
     .mask = MASK_RANDOM, .kept = 1},
    {"padding_only_key_block_f32", SHAPE(1, 2, 32, 2, 4, 8, 9, 0, 1, 4, 4), VOX_F32, .drop_block = 2,
     .mask = MASK_RANDOM},
    {"nan_padding_kept_f32", SHAPE(1, 2, 32, 3, 9, 10, 12, 1, 2, 4, 4), VOX_F32, FILL_PAD_NAN, .drop_block = -1,
     .mask = MASK_RANDOM, .kept = 1},
    {"huge_logits_f32", SHAPE(1, 2, 32, 4, 8, 8, 8, 0, 1, 4, 4), VOX_F32, FILL_HUGE, .drop_block = -1},
    {"dense_d64_v64_bf16", SHAPE(1, 2, 64, 4, 8, 8, 0, 0, 1, 8, 8), VOX_BF16, .drop_block = -1},
    /* partial blocks of 64 (valid 64, 32, 16, 8, 4, 2): the sm_90a path's 16-row chunks */
    {"ragged_d128_v64_bf16", SHAPE(1, 2, 128, 5, 9, 10, 0, 0, 4, 4, 4), VOX_BF16, .drop_block = -1,
     .mask = MASK_RANDOM},
};

const op_entry op_attention_backward = {
    VOX_OP_attention_backward, cases, (int)(sizeof cases / sizeof cases[0]),
    /* provisional: the forward's o tolerances until a device backend has the
     * op (f16/bf16 gradients accumulated in f32 may need looser ones, to be
     * stated and justified with that backend) */
    {{"dq", 0, {1e-10, 1e-5, 3e-5}}, {"dk", 0, {1e-10, 1e-5, 3e-5}}, {"dv", 0, {1e-10, 1e-5, 3e-5}}}, 3,
    backward_inputs, backward_run, backward_compare,
};
