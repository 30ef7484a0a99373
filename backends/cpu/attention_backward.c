/* CPU reference of attention_backward: the gradients of attention_forward in
 * fp64, plain loops (contract in core/backend.h). dQ walks the forward's rows,
 * dK and dV walk the transpose of the mask (each KV block over the query
 * blocks that attend to it), so the transpose the core builds is checked by
 * every gradient test. The per-head core on f64 arrays is shared with the
 * finite-difference test (tests/test_backward.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"
#include "half.h"

/* Whether slot r (valid) is a computed row: its own source. */
static int computed(const vox_cpu_backward_head *h, int64_t r) { return !h->fill || h->fill[r] == r; }

/* P and dS of query row r against key slot ks (delta: the row's rowsum). */
static void scores(const vox_op_dims *d, const vox_cpu_backward_head *h, int64_t r, int64_t ks, double delta,
                   double *p_out, double *ds_out)
{
    int64_t D = d->head_dim;
    const double *qr = h->q + r * D, *kk = h->k + ks * D, *vk = h->v + ks * D, *g = h->work + r * D;
    double dot = 0, dp = 0;
    for (int64_t e = 0; e < D; e++) {
        dot += qr[e] * kk[e];
        dp += g[e] * vk[e];
    }
    double p = exp(dot * h->scale - h->lse[r]);
    *p_out = p;
    *ds_out = p * (dp - delta);
}

void vox_cpu_attention_backward_head(const vox_op_dims *d, const int32_t *valid, const vox_cpu_backward_head *h)
{
    int64_t NB = d->n_blocks, V = d->block_volume, D = d->head_dim, S = NB * V, R = d->batch * d->heads * NB;
    const int32_t *mask = h->mask;
    double *g = h->work, *delta = h->work + S * D;
    memset(h->dq, 0, sizeof(double) * (size_t)(S * D));
    memset(h->dk, 0, sizeof(double) * (size_t)(S * D));
    memset(h->dv, 0, sizeof(double) * (size_t)(S * D));
    memset(g, 0, sizeof(double) * (size_t)(S * D));
    /* 1. dO of every valid slot into its source row */
    for (int64_t s = 0; s < S; s++) {
        int64_t f = h->fill ? h->fill[s] : s;
        if (s % V >= valid[s / V] || f < 0)
            continue;
        for (int64_t e = 0; e < D; e++)
            g[f * D + e] += h->dout[s * D + e];
    }
    for (int64_t s = 0; s < S; s++) {
        double acc = 0;
        for (int64_t e = 0; e < D; e++)
            acc += g[s * D + e] * h->o[s * D + e];
        delta[s] = acc;
    }
    /* 2. dQ: each computed row over the key blocks of its row */
    for (int64_t i = 0; i < NB; i++) {
        int64_t m = h->bh * NB + i;
        for (int64_t r = i * V; r < i * V + valid[i]; r++) {
            if (!computed(h, r) || h->lse[r] == -INFINITY)
                continue;
            for (int32_t c = 0; c < mask[R + m]; c++) {
                int64_t jb = mask[mask[m] + c];
                for (int64_t ks = jb * V; ks < jb * V + valid[jb]; ks++) {
                    double p, ds;
                    scores(d, h, r, ks, delta[r], &p, &ds);
                    for (int64_t e = 0; e < D; e++)
                        h->dq[r * D + e] += h->scale * ds * h->k[ks * D + e];
                }
            }
        }
    }
    /* 3. dK, dV: each key block over the query blocks that attend to it */
    for (int64_t j = 0; j < NB; j++) {
        int64_t mt = h->bh * NB + j;
        for (int32_t c = 0; c < mask[3 * R + mt]; c++) {
            int64_t i = mask[mask[2 * R + mt] + c];
            for (int64_t r = i * V; r < i * V + valid[i]; r++) {
                if (!computed(h, r) || h->lse[r] == -INFINITY)
                    continue;
                for (int64_t ks = j * V; ks < j * V + valid[j]; ks++) {
                    double p, ds;
                    scores(d, h, r, ks, delta[r], &p, &ds);
                    for (int64_t e = 0; e < D; e++) {
                        h->dk[ks * D + e] += h->scale * ds * h->q[r * D + e];
                        h->dv[ks * D + e] += p * g[r * D + e];
                    }
                }
            }
        }
    }
}

vox_status vox_cpu_attention_backward(void *dev, const vox_op_dims *d, const vox_op_attention_backward *p)
{
    (void)dev;
    int64_t S = d->n_blocks * d->block_volume, D = d->head_dim, n = S * D;
    const void *src[5] = {vox_cpu_ptr(p->q), vox_cpu_ptr(p->k), vox_cpu_ptr(p->v), vox_cpu_ptr(p->o),
                          vox_cpu_ptr(p->dout)};
    void *dst[3] = {vox_cpu_ptr(p->dq), vox_cpu_ptr(p->dk), vox_cpu_ptr(p->dv)};
    const float *lse = vox_cpu_ptr(p->lse);
    const int32_t *fill = VOX_CPU_I32(p->fill_src);
    double *buf = malloc(sizeof(double) * (size_t)(9 * n + 2 * S)); /* 5 in, 3 out, dO sums; lse, delta */
    if (!buf)
        return VOX_ERR_OUT_OF_MEMORY;
    double *x[8];
    for (int i = 0; i < 8; i++)
        x[i] = buf + i * n;
    double *lsed = buf + 8 * n;
    vox_cpu_backward_head h = {x[0], x[1], x[2], x[3], x[4], lsed, NULL, VOX_CPU_I32(p->mask), 0,
                               p->scale, x[5], x[6], x[7], lsed + S};
    for (int64_t bh = 0; bh < d->batch * d->heads; bh++) {
        for (int i = 0; i < 5; i++)
            for (int64_t e = 0; e < n; e++)
                x[i][e] = vox_load(src[i], d->dtype, bh * n + e);
        for (int64_t s = 0; s < S; s++)
            lsed[s] = lse[bh * S + s];
        h.fill = fill ? fill + bh * S : NULL;
        h.bh = bh;
        vox_cpu_attention_backward_head(d, VOX_CPU_I32(d->block_valid), &h);
        for (int i = 0; i < 3; i++)
            for (int64_t e = 0; e < n; e++)
                vox_store(dst[i], d->dtype, bh * n + e, x[5 + i][e]);
    }
    free(buf);
    return VOX_OK;
}
