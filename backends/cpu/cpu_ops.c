/* Reference ops (see core/backend.h for each op's exact semantics). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"
#include "half.h"

#define I32(r) ((const int32_t *)vox_cpu_ptr(r))

static size_t esize(vox_dtype t) { return t == VOX_F32 ? 4 : 2; }

/* Element offset of (b,h,token,0) in a caller tensor. */
static int64_t strided_at(const vox_strided *s, int64_t b, int64_t h, int64_t t)
{
    return b * s->stride_batch + h * s->stride_head + t * s->stride_token;
}

vox_status vox_cpu_permute_to_blocks(void *dev, const vox_op_dims *d, const vox_op_permute_to *p)
{
    (void)dev;
    const unsigned char *src = vox_cpu_ptr(p->src.ref);
    unsigned char *dst = vox_cpu_ptr(p->dst);
    const int32_t *slot_token = I32(p->slot_token);
    size_t es = esize(d->dtype), row = es * (size_t)d->head_dim;
    int64_t S = d->n_blocks * d->block_volume;
    for (int64_t b = 0; b < d->batch; b++)
        for (int64_t h = 0; h < d->heads; h++)
            for (int64_t s = 0; s < S; s++) {
                unsigned char *o = dst + ((size_t)((b * d->heads + h) * S + s)) * row;
                int32_t t = slot_token[s];
                if (t < 0)
                    memset(o, 0, row);
                else
                    memcpy(o, src + (size_t)strided_at(&p->src, b, h, t) * es, row);
            }
    return VOX_OK;
}

vox_status vox_cpu_permute_from_blocks(void *dev, const vox_op_dims *d, const vox_op_permute_from *p)
{
    (void)dev;
    const unsigned char *src = vox_cpu_ptr(p->src);
    const float *lse_src = vox_cpu_ptr(p->lse_src);
    unsigned char *dst = vox_cpu_ptr(p->dst.ref);
    float *lse_dst = vox_cpu_ptr(p->lse_dst.ref);
    const int32_t *token_slot = I32(p->token_slot), *fill = I32(p->fill_src);
    size_t es = esize(d->dtype), row = es * (size_t)d->head_dim;
    int64_t S = d->n_blocks * d->block_volume;
    for (int64_t b = 0; b < d->batch; b++)
        for (int64_t h = 0; h < d->heads; h++) {
            int64_t bh = b * d->heads + h;
            for (int64_t t = 0; t < d->tokens; t++) {
                int64_t s = token_slot[t];
                int64_t f = fill ? fill[bh * S + s] : s;
                memcpy(dst + (size_t)strided_at(&p->dst, b, h, t) * es, src + (size_t)(bh * S + f) * row, row);
                if (lse_dst && lse_src)
                    lse_dst[strided_at(&p->lse_dst, b, h, t)] = lse_src[bh * S + f];
            }
        }
    return VOX_OK;
}

vox_status vox_cpu_block_means(void *dev, const vox_op_dims *d, const vox_op_block_means *p)
{
    (void)dev;
    const void *x = vox_cpu_ptr(p->x);
    const int32_t *valid = I32(d->block_valid), *kc = I32(p->kept_count), *kr = I32(p->kept_rows);
    float *out = vox_cpu_ptr(p->out);
    int64_t NB = d->n_blocks, V = d->block_volume, D = d->head_dim, S = NB * V;
    for (int64_t bh = 0; bh < d->batch * d->heads; bh++)
        for (int64_t j = 0; j < NB; j++) {
            int64_t m = bh * NB + j;
            int64_t n = kc ? kc[m] : valid[j];
            for (int64_t e = 0; e < D; e++) {
                double acc = 0;
                for (int64_t r = 0; r < n; r++) {
                    int64_t slot = j * V + (kc ? kr[m * V + r] : r);
                    acc += vox_load(x, d->dtype, (bh * S + slot) * D + e);
                }
                out[m * D + e] = (float)(n ? acc / (double)n : 0.0);
            }
        }
    return VOX_OK;
}

typedef struct ranked {
    double p;
    int32_t j;
} ranked;

/* Descending p, ties by lower index. */
static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->p != y->p)
        return x->p < y->p ? 1 : -1;
    return (x->j > y->j) - (x->j < y->j);
}

vox_status vox_cpu_kv_select(void *dev, const vox_op_dims *d, const vox_op_kv_select *p)
{
    (void)dev;
    const float *qbar = vox_cpu_ptr(p->qbar), *kbar = vox_cpu_ptr(p->kbar);
    int32_t *count = vox_cpu_ptr(p->kv_count), *cols = vox_cpu_ptr(p->kv_cols);
    int64_t NB = d->n_blocks, NBv = d->n_video_blocks, D = d->head_dim;
    double *s = malloc(sizeof(double) * (size_t)NBv);
    ranked *order = malloc(sizeof(ranked) * (size_t)NBv);
    unsigned char *pick = malloc((size_t)NB);
    if (!s || !order || !pick) {
        free(s), free(order), free(pick);
        return VOX_ERR_OUT_OF_MEMORY;
    }
    for (int64_t bh = 0; bh < d->batch * d->heads; bh++)
        for (int64_t i = 0; i < NB; i++) {
            int64_t m = bh * NB + i;
            memset(pick, i >= NBv, (size_t)NB); /* global query rows are dense */
            if (i < NBv) {
                double mx = -INFINITY, z = 0, mean = 0, var = 0;
                for (int64_t j = 0; j < NBv; j++) {
                    double acc = 0;
                    for (int64_t e = 0; e < D; e++)
                        acc += (double)qbar[m * D + e] * (double)kbar[(bh * NB + j) * D + e];
                    s[j] = acc * p->scale;
                    mx = s[j] > mx ? s[j] : mx;
                    mean += s[j];
                }
                mean /= (double)NBv;
                for (int64_t j = 0; j < NBv; j++) {
                    z += exp(s[j] - mx);
                    var += (s[j] - mean) * (s[j] - mean);
                }
                double sd = sqrt(var / (double)NBv);
                for (int64_t j = 0; j < NBv; j++)
                    order[j] = (ranked){exp(s[j] - mx) / z, (int32_t)j};
                qsort(order, (size_t)NBv, sizeof *order, cmp_ranked);
                int64_t n = 0;
                if (p->rule == VOX_KV_CUMULATIVE) {
                    double before = 0;
                    for (; n < NBv && before < p->tau; n++)
                        before += order[n].p;
                } else if (p->rule == VOX_KV_TOPK) {
                    n = p->topk < NBv ? p->topk : NBv;
                } else {
                    for (int64_t j = 0; j < NBv; j++)
                        if (s[j] >= mean + p->z * sd)
                            pick[j] = 1;
                }
                if (n < p->min_blocks)
                    n = p->min_blocks < NBv ? p->min_blocks : NBv;
                for (int64_t r = 0; r < n; r++)
                    pick[order[r].j] = 1;
                pick[i] = 1;
                for (int64_t j = NBv; j < NB; j++)
                    pick[j] = 1;
            }
            int32_t c = 0;
            for (int64_t j = 0; j < NB; j++)
                if (pick[j])
                    cols[m * NB + c++] = (int32_t)j;
            count[m] = c;
        }
    free(s), free(order), free(pick);
    return VOX_OK;
}

/* Key block jb allowed for query block ib under a pattern (see backend.h). */
static int pattern_allows(const int32_t *coord, int64_t ib, int64_t jb, int temporal,
                          const vox_op_sample_rows *p)
{
    const int32_t *ci = coord + 3 * ib, *cj = coord + 3 * jb;
    if (cj[0] < 0 || ci[0] < 0)
        return 1;
    if (p->sink && cj[0] == 0)
        return 1;
    if (!temporal)
        return abs(cj[0] - ci[0]) <= p->frame_blocks;
    return abs(cj[1] - ci[1]) <= p->space_blocks && abs(cj[2] - ci[2]) <= p->space_blocks;
}

vox_status vox_cpu_sample_rows_attention(void *dev, const vox_op_dims *d, const vox_op_sample_rows *p)
{
    (void)dev;
    const void *q = vox_cpu_ptr(p->q), *k = vox_cpu_ptr(p->k), *v = vox_cpu_ptr(p->v);
    const int32_t *rows = I32(p->rows), *coord = I32(p->block_coord), *valid = I32(d->block_valid);
    float *out = vox_cpu_ptr(p->out);
    int64_t NB = d->n_blocks, V = d->block_volume, D = d->head_dim, S = NB * V;
    double *sc = malloc(sizeof(double) * (size_t)S);
    double *o = malloc(sizeof(double) * 3 * (size_t)D);
    if (!sc || !o) {
        free(sc), free(o);
        return VOX_ERR_OUT_OF_MEMORY;
    }
    for (int64_t bh = 0; bh < d->batch * d->heads; bh++)
        for (int64_t r = 0; r < p->n_rows; r++) {
            int64_t qs = rows[r], ib = qs / V;
            double mx[3] = {-INFINITY, -INFINITY, -INFINITY}, z[3] = {0, 0, 0};
            for (int64_t jb = 0; jb < NB; jb++)
                for (int64_t t = 0; t < valid[jb]; t++) {
                    int64_t ks = jb * V + t;
                    double acc = 0;
                    for (int64_t e = 0; e < D; e++)
                        acc += vox_load(q, d->dtype, (bh * S + qs) * D + e) *
                               vox_load(k, d->dtype, (bh * S + ks) * D + e);
                    sc[ks] = acc * p->scale;
                    for (int w = 0; w < 3; w++)
                        if ((w == 0 || pattern_allows(coord, ib, jb, w == 2, p)) && sc[ks] > mx[w])
                            mx[w] = sc[ks];
                }
            memset(o, 0, sizeof(double) * 3 * (size_t)D);
            for (int64_t jb = 0; jb < NB; jb++)
                for (int64_t t = 0; t < valid[jb]; t++) {
                    int64_t ks = jb * V + t;
                    for (int w = 0; w < 3; w++) {
                        if (w && !pattern_allows(coord, ib, jb, w == 2, p))
                            continue;
                        double e_ = exp(sc[ks] - mx[w]);
                        z[w] += e_;
                        for (int64_t e = 0; e < D; e++)
                            o[w * D + e] += e_ * vox_load(v, d->dtype, (bh * S + ks) * D + e);
                    }
                }
            double es = 0, et = 0, nd = 0;
            for (int64_t e = 0; e < D; e++) {
                double od = o[e] / z[0], os = o[D + e] / z[1], ot = o[2 * D + e] / z[2];
                es += (os - od) * (os - od);
                et += (ot - od) * (ot - od);
                nd += od * od;
            }
            float *res = out + (bh * p->n_rows + r) * 3;
            res[0] = (float)es, res[1] = (float)et, res[2] = (float)nd;
        }
    free(sc), free(o);
    return VOX_OK;
}

static double cosine(const void *x, vox_dtype dt, int64_t a, int64_t b, int64_t D)
{
    double dot = 0, na = 0, nb = 0;
    for (int64_t e = 0; e < D; e++) {
        double u = vox_load(x, dt, a * D + e), w = vox_load(x, dt, b * D + e);
        dot += u * w, na += u * u, nb += w * w;
    }
    return na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0.0;
}

/* Ascending similarity, ties by lower slot (ranked.j holds the slot). */
static int cmp_similar_asc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->p != y->p)
        return x->p < y->p ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

vox_status vox_cpu_query_select(void *dev, const vox_op_dims *d, const vox_op_query_select *p)
{
    (void)dev;
    const void *q = vox_cpu_ptr(p->q);
    const int32_t *win_ptr = I32(p->win_ptr), *win = I32(p->windows), *valid = I32(d->block_valid);
    int32_t *kept_count = vox_cpu_ptr(p->kept_count), *kept_rows = vox_cpu_ptr(p->kept_rows);
    int32_t *fill = vox_cpu_ptr(p->fill_src);
    int64_t NB = d->n_blocks, NBv = d->n_video_blocks, V = d->block_volume, D = d->head_dim, S = NB * V;
    ranked *cand = malloc(sizeof(ranked) * (size_t)V);
    unsigned char *kept = malloc((size_t)V);
    if (!cand || !kept) {
        free(cand), free(kept);
        return VOX_ERR_OUT_OF_MEMORY;
    }
    for (int64_t bh = 0; bh < d->batch * d->heads; bh++) {
        const int64_t base = bh * S; /* row offset of this (b,h) */
        for (int64_t s = 0; s < S; s++)
            fill[base + s] = (int32_t)s;
        for (int64_t j = 0; j < NB; j++) {
            memset(kept, 0, (size_t)V);
            if (j >= NBv) {
                memset(kept, 1, (size_t)valid[j]);
            } else {
                for (int32_t w = win_ptr[j]; w < win_ptr[j + 1]; w++) {
                    int32_t first = win[4 * w], m = win[4 * w + 1], centre = win[4 * w + 2],
                            keep = win[4 * w + 3];
                    int n = 0;
                    for (int32_t t = first; t < first + m; t++)
                        if (t != centre)
                            cand[n++] = (ranked){cosine(q, d->dtype, base + t, base + centre, D), t};
                    qsort(cand, (size_t)n, sizeof *cand, cmp_similar_asc);
                    kept[centre - j * V] = 1;
                    for (int r = 0; r < keep - 1; r++)
                        kept[cand[r].j - j * V] = 1;
                    for (int32_t t = first; t < first + m; t++) {
                        if (kept[t - j * V])
                            continue;
                        double best = -INFINITY;
                        int32_t src = -1;
                        for (int32_t u = first; u < first + m; u++) {
                            if (!kept[u - j * V])
                                continue;
                            double c = cosine(q, d->dtype, base + t, base + u, D);
                            if (c > best) /* strict: ties keep the lower slot */
                                best = c, src = u;
                        }
                        fill[base + t] = src;
                    }
                }
            }
            int32_t c = 0;
            for (int64_t r = 0; r < V; r++)
                if (kept[r])
                    kept_rows[(bh * NB + j) * V + c++] = (int32_t)r;
            kept_count[bh * NB + j] = c;
        }
    }
    free(cand), free(kept);
    return VOX_OK;
}

vox_status vox_cpu_attention_forward(void *dev, const vox_op_dims *d, const vox_op_attention_forward *p)
{
    (void)dev;
    const void *q = vox_cpu_ptr(p->q), *k = vox_cpu_ptr(p->k), *v = vox_cpu_ptr(p->v);
    void *o = vox_cpu_ptr(p->o);
    float *lse = vox_cpu_ptr(p->lse);
    const int32_t *start = I32(p->kv_start), *count = I32(p->kv_count), *cols = I32(p->kv_cols);
    const int32_t *kc = I32(p->kept_count), *kr = I32(p->kept_rows), *valid = I32(d->block_valid);
    int64_t NB = d->n_blocks, V = d->block_volume, D = d->head_dim, S = NB * V;
    double *sc = malloc(sizeof(double) * (size_t)S);
    double *acc = malloc(sizeof(double) * (size_t)D);
    if (!sc || !acc) {
        free(sc), free(acc);
        return VOX_ERR_OUT_OF_MEMORY;
    }
    for (int64_t bh = 0; bh < d->batch * d->heads; bh++)
        for (int64_t i = 0; i < NB; i++) {
            int64_t m = bh * NB + i;
            int64_t nrows = kc ? kc[m] : valid[i];
            for (int64_t r = 0; r < nrows; r++) {
                int64_t qs = bh * S + i * V + (kc ? kr[m * V + r] : r);
                double mx = -INFINITY;
                int64_t nk = 0;
                for (int32_t c = 0; c < count[m]; c++) {
                    int64_t jb = cols[start[m] + c];
                    for (int64_t t = 0; t < valid[jb]; t++) {
                        int64_t ks = bh * S + jb * V + t;
                        double dot = 0;
                        for (int64_t e = 0; e < D; e++)
                            dot += vox_load(q, d->dtype, qs * D + e) * vox_load(k, d->dtype, ks * D + e);
                        sc[nk] = dot * p->scale;
                        mx = sc[nk] > mx ? sc[nk] : mx;
                        nk++;
                    }
                }
                memset(acc, 0, sizeof(double) * (size_t)D);
                double z = 0;
                nk = 0;
                for (int32_t c = 0; c < count[m]; c++) {
                    int64_t jb = cols[start[m] + c];
                    for (int64_t t = 0; t < valid[jb]; t++) {
                        int64_t ks = bh * S + jb * V + t;
                        double w = exp(sc[nk++] - mx);
                        z += w;
                        for (int64_t e = 0; e < D; e++)
                            acc[e] += w * vox_load(v, d->dtype, ks * D + e);
                    }
                }
                /* no keys: 0 and -inf; NaN/Inf scores propagate as NaN */
                for (int64_t e = 0; e < D; e++)
                    vox_store(o, d->dtype, qs * D + e, nk > 0 ? acc[e] / z : 0.0);
                lse[qs] = (float)(nk > 0 ? mx + log(z) : -INFINITY);
            }
        }
    free(sc), free(acc);
    return VOX_OK;
}
