/* Naive planning decisions for the tests (see naive.h): every rule spelled
 * out from the contract text in core/backend.h, one plain loop per rule, no
 * sorting tricks shared with the reference (selection by repeated arg-max). */
#include "naive.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void naive_block_means(const naive_dims *d, const float *x, const int32_t *kept_count,
                       const int32_t *kept_rows, double *out)
{
    const int64_t S = d->NB * d->V;
    for (int64_t bh = 0; bh < d->BH; bh++)
        for (int64_t j = 0; j < d->NB; j++) {
            const int64_t m = bh * d->NB + j;
            const int64_t rows = kept_count ? kept_count[m] : d->valid[j];
            for (int64_t e = 0; e < d->D; e++) {
                double sum = 0;
                for (int64_t r = 0; r < rows; r++) {
                    int64_t local = kept_count ? kept_rows[m * d->V + r] : r;
                    sum += x[(bh * S + j * d->V + local) * d->D + e];
                }
                out[m * d->D + e] = rows > 0 ? sum / (double)rows : 0.0;
            }
        }
}

/* The order every selection here follows: does (key x, index a) come before
 * (key y, index b)? Ascending key, NaN before every number when nan_first
 * (after every number otherwise), equal keys (or both NaN): lower index first. */
static int key_before(double x, int64_t a, double y, int64_t b, int nan_first)
{
    if (isnan(x) || isnan(y)) {
        if (isnan(x) && isnan(y))
            return a < b;
        return nan_first ? isnan(x) : isnan(y);
    }
    if (x != y)
        return x < y;
    return a < b;
}

/* Does a (probability pa of block a) rank before b? Descending p, NaN after
 * every number, equal p (or both NaN): lower block first. */
static int ranks_before(double pa, int64_t a, double pb, int64_t b)
{
    return key_before(-pa, a, -pb, b, 0);
}

void naive_kv_select(const naive_dims *d, const float *qbar, const float *kbar, const vox_op_kv_select *r,
                     unsigned char *allowed)
{
    const int64_t NB = d->NB, NBv = d->NBv, D = d->D;
    double *s = calloc((size_t)NBv + 1, sizeof(double)), *p = calloc((size_t)NBv + 1, sizeof(double));
    int64_t *order = calloc((size_t)NBv + 1, sizeof(int64_t));
    unsigned char *taken = calloc((size_t)NBv + 1, 1);
    for (int64_t bh = 0; bh < d->BH; bh++)
        for (int64_t i = 0; i < NB; i++) {
            unsigned char *row = allowed + (bh * NB + i) * NB;
            if (i >= NBv) { /* a global query block sees every block */
                memset(row, 1, (size_t)NB);
                continue;
            }
            memset(row, 0, (size_t)NB);
            /* scores and their softmax */
            for (int64_t j = 0; j < NBv; j++) {
                double dot = 0;
                for (int64_t e = 0; e < D; e++)
                    dot += (double)qbar[(bh * NB + i) * D + e] * (double)kbar[(bh * NB + j) * D + e];
                s[j] = dot * r->scale;
            }
            double top = -INFINITY;
            for (int64_t j = 0; j < NBv; j++)
                if (s[j] > top)
                    top = s[j];
            double total = 0;
            for (int64_t j = 0; j < NBv; j++)
                total += exp(s[j] - top);
            for (int64_t j = 0; j < NBv; j++)
                p[j] = exp(s[j] - top) / total;
            /* the ranking, by repeated selection of the best remaining block */
            memset(taken, 0, (size_t)NBv);
            for (int64_t n = 0; n < NBv; n++) {
                int64_t best = -1;
                for (int64_t j = 0; j < NBv; j++)
                    if (!taken[j] && (best < 0 || ranks_before(p[j], j, p[best], best)))
                        best = j;
                taken[best] = 1;
                order[n] = best;
            }
            int64_t admitted = 0, cap = r->max_blocks > 0 && r->max_blocks < NBv ? r->max_blocks : NBv;
            /* admitted: a prefix of the ranking */
            if (r->rule == VOX_KV_CUMULATIVE) {
                double mass_before = 0;
                while (admitted < NBv && mass_before < r->tau)
                    mass_before += p[order[admitted++]];
            } else if (r->rule == VOX_KV_TOPK) {
                admitted = r->topk < NBv ? r->topk : NBv;
            } else {
                double mean = 0, var = 0;
                for (int64_t j = 0; j < NBv; j++)
                    mean += s[j];
                mean /= (double)NBv;
                for (int64_t j = 0; j < NBv; j++)
                    var += (s[j] - mean) * (s[j] - mean);
                double threshold = mean + r->z * sqrt(var / (double)NBv);
                int64_t over = 0;
                for (int64_t j = 0; j < NBv; j++)
                    over += s[j] >= threshold;
                for (int64_t j = 0; j < NBv && over <= cap; j++)
                    if (s[j] >= threshold)
                        row[j] = 1;
                if (over > cap)
                    admitted = cap;
            }
            if (admitted > cap)
                admitted = cap;
            int64_t at_least = r->min_blocks < NBv ? r->min_blocks : NBv;
            if (admitted < at_least)
                admitted = at_least;
            for (int64_t n = 0; n < admitted; n++)
                row[order[n]] = 1;
            row[i] = 1;
            for (int64_t j = NBv; j < NB; j++)
                row[j] = 1;
        }
    free(s), free(p), free(order), free(taken);
}

/* cos(q_a, q_b): NaN where either query holds Inf or NaN, else 0 where a
 * norm is 0, else dot / sqrt(|a|^2 |b|^2). */
static double naive_cos(const float *q, int64_t a, int64_t b, int64_t D)
{
    double dot = 0, na = 0, nb = 0;
    for (int64_t e = 0; e < D; e++) {
        double x = q[a * D + e], y = q[b * D + e];
        if (!isfinite(x) || !isfinite(y))
            return NAN;
        dot += x * y, na += x * x, nb += y * y;
    }
    if (na == 0 || nb == 0)
        return 0.0;
    return dot / sqrt(na * nb);
}

/* Is token a (cosine ca) less similar than token b (cosine cb)? Ascending
 * cosine, NaN below every number, ties lower slot. */
static int less_similar(double ca, int64_t a, double cb, int64_t b)
{
    return key_before(ca, a, cb, b, 1);
}

void naive_query_select(const naive_dims *d, const float *q, const int32_t *win_ptr, const naive_window *win,
                        int8_t *keep, int32_t *fill)
{
    const int64_t NB = d->NB, V = d->V, D = d->D, S = NB * V;
    for (int64_t bh = 0; bh < d->BH; bh++) {
        const float *qh = q + bh * S * D;
        int8_t *kh = keep + bh * S;
        int32_t *fh = fill + bh * S;
        for (int64_t s = 0; s < S; s++) {
            kh[s] = s % V < d->valid[s / V] ? 1 : -1; /* kept unless a window prunes it */
            fh[s] = (int32_t)s;
        }
        for (int64_t j = 0; j < d->NBv; j++)
            for (int32_t w = win_ptr[j]; w < win_ptr[j + 1]; w++) {
                const naive_window *W = &win[w];
                for (int32_t t = W->first; t < W->first + W->len; t++)
                    kh[t] = t == W->centre;
                /* keep-1 times: the least similar token to the centre not yet kept */
                for (int32_t n = 1; n < W->keep; n++) {
                    int32_t pickt = -1;
                    double pc = 0;
                    for (int32_t t = W->first; t < W->first + W->len; t++) {
                        if (kh[t])
                            continue;
                        double c = naive_cos(qh, t, W->centre, D);
                        if (pickt < 0 || less_similar(c, t, pc, pickt))
                            pickt = t, pc = c;
                    }
                    kh[pickt] = 1;
                }
                /* each pruned token: the most similar kept token with a
                 * comparable cosine (ties lower slot), else the centre */
                for (int32_t t = W->first; t < W->first + W->len; t++) {
                    if (kh[t])
                        continue;
                    int32_t src = -1;
                    double best = 0;
                    for (int32_t u = W->first; u < W->first + W->len; u++) {
                        if (!kh[u])
                            continue;
                        double c = naive_cos(qh, t, u, D);
                        if (!isnan(c) && (src < 0 || c > best))
                            src = u, best = c;
                    }
                    fh[t] = src >= 0 ? src : W->centre;
                }
            }
    }
}
