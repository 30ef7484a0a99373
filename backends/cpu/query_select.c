/* CPU reference of query_select: BSA query pruning inside each window (keep
 * the centre and the least similar tokens, map every pruned token to its most
 * similar kept token; contract in core/backend.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"
#include "half.h"

/* cos(q_a, q_b): NaN when either query holds a NaN or an Inf (its norm is
 * NaN or Inf: f32/f16/bf16 values cannot overflow the fp64 sums), else 0
 * when a norm is 0, else dot/sqrt(na*nb). */
static double cosine(const void *x, vox_dtype dt, int64_t a, int64_t b, int64_t D)
{
    double dot = 0, na = 0, nb = 0;
    for (int64_t e = 0; e < D; e++) {
        double u = vox_load(x, dt, a * D + e), w = vox_load(x, dt, b * D + e);
        dot += u * w, na += u * u, nb += w * w;
    }
    if (!isfinite(na) || !isfinite(nb))
        return NAN;
    return na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0.0;
}

/* Ascending similarity, ties by lower slot (j holds the slot). A NaN cosine
 * (a query holding NaN or Inf) ranks as the least similar, so such a token is
 * kept and its own output carries the NaN. */
static int cmp_similar_asc(const void *a, const void *b)
{
    const vox_cpu_ranked *x = a, *y = b;
    int xn = isnan(x->p), yn = isnan(y->p);
    if (xn != yn)
        return xn ? -1 : 1;
    if (!xn && x->p != y->p)
        return x->p < y->p ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

vox_status vox_cpu_query_select(void *dev, const vox_op_dims *d, const vox_op_query_select *p)
{
    (void)dev;
    const void *q = vox_cpu_ptr(p->q);
    const int32_t *win_ptr = VOX_CPU_I32(p->win_ptr), *win = VOX_CPU_I32(p->windows),
                  *valid = VOX_CPU_I32(d->block_valid);
    int32_t *kept_count = vox_cpu_ptr(p->kept_count), *kept_rows = vox_cpu_ptr(p->kept_rows);
    int32_t *fill = vox_cpu_ptr(p->fill_src);
    int64_t NB = d->n_blocks, NBv = d->n_video_blocks, V = d->block_volume, D = d->head_dim, S = NB * V;
    vox_cpu_ranked *cand = malloc(sizeof(vox_cpu_ranked) * (size_t)V);
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
                            cand[n++] = (vox_cpu_ranked){cosine(q, d->dtype, base + t, base + centre, D), t};
                    qsort(cand, (size_t)n, sizeof *cand, cmp_similar_asc);
                    kept[centre - j * V] = 1;
                    for (int r = 0; r < keep - 1; r++)
                        kept[cand[r].j - j * V] = 1;
                    for (int32_t t = first; t < first + m; t++) {
                        if (kept[t - j * V])
                            continue;
                        /* no comparable cosine (all NaN): the window centre */
                        double best = -INFINITY;
                        int32_t src = centre;
                        int found = 0;
                        for (int32_t u = first; u < first + m; u++) {
                            if (!kept[u - j * V])
                                continue;
                            double c = cosine(q, d->dtype, base + t, base + u, D);
                            if (!isnan(c) && (!found || c > best)) /* strict: ties keep the lower slot */
                                best = c, src = u, found = 1;
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
