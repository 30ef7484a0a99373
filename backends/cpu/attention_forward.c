/* CPU reference of attention_forward: block-sparse softmax attention and its
 * log-sum-exp per query row, two passes in fp64 (contract in core/backend.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"
#include "half.h"

vox_status vox_cpu_attention_forward(void *dev, const vox_op_dims *d, const vox_op_attention_forward *p)
{
    (void)dev;
    const void *q = vox_cpu_ptr(p->q), *k = vox_cpu_ptr(p->k), *v = vox_cpu_ptr(p->v);
    void *o = vox_cpu_ptr(p->o);
    float *lse = vox_cpu_ptr(p->lse);
    const int32_t *start = VOX_CPU_I32(p->kv_start), *count = VOX_CPU_I32(p->kv_count),
                  *cols = VOX_CPU_I32(p->kv_cols);
    const int32_t *kc = VOX_CPU_I32(p->kept_count), *kr = VOX_CPU_I32(p->kept_rows),
                  *valid = VOX_CPU_I32(d->block_valid);
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
