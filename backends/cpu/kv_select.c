/* CPU reference of kv_select: BSA key-block selection per query block from
 * the block means (CUMULATIVE, TOPK or STAT rule, the max_blocks cap, min_blocks, own block and
 * global blocks always in; contract in core/backend.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"

/* Descending p, NaN after every number, ties by lower index. */
static int cmp_ranked(const void *a, const void *b)
{
    const vox_cpu_ranked *x = a, *y = b;
    int xn = isnan(x->p), yn = isnan(y->p);
    if (xn != yn)
        return xn ? 1 : -1;
    if (!xn && x->p != y->p)
        return x->p < y->p ? 1 : -1;
    return (x->j > y->j) - (x->j < y->j);
}

vox_status vox_cpu_kv_select(void *dev, const vox_op_dims *d, const vox_op_kv_select *p)
{
    (void)dev;
    const float *qbar = vox_cpu_ptr(p->qbar), *kbar = vox_cpu_ptr(p->kbar);
    const int32_t *start = VOX_CPU_I32(p->kv_start);
    int32_t *count = vox_cpu_ptr(p->kv_count), *cols = vox_cpu_ptr(p->kv_cols);
    int64_t NB = d->n_blocks, NBv = d->n_video_blocks, D = d->head_dim;
    double *s = malloc(sizeof(double) * (size_t)NBv);
    vox_cpu_ranked *order = malloc(sizeof(vox_cpu_ranked) * (size_t)NBv);
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
                    order[j] = (vox_cpu_ranked){exp(s[j] - mx) / z, (int32_t)j};
                qsort(order, (size_t)NBv, sizeof *order, cmp_ranked);
                int64_t n = 0, cap = p->max_blocks > 0 && p->max_blocks < NBv ? p->max_blocks : NBv;
                if (p->rule == VOX_KV_CUMULATIVE) {
                    double before = 0;
                    for (; n < NBv && before < p->tau; n++)
                        before += order[n].p;
                } else if (p->rule == VOX_KV_TOPK) {
                    n = p->topk < NBv ? p->topk : NBv;
                } else {
                    int64_t c = 0;
                    for (int64_t j = 0; j < NBv; j++)
                        if (s[j] >= mean + p->z * sd)
                            pick[j] = 1, c++;
                    if (c > cap) { /* the cap first of the order instead */
                        memset(pick, 0, (size_t)NBv);
                        n = cap;
                    }
                }
                n = n < cap ? n : cap;
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
                    cols[start[m] + c++] = (int32_t)j;
            count[m] = c;
        }
    free(s), free(order), free(pick);
    return VOX_OK;
}
