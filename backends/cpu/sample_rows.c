/* CPU reference of sample_rows: for SVG head classification, the exact
 * attention of sampled query rows under no mask, the spatial pattern and the
 * temporal pattern, reduced to two squared errors and a norm (contract in
 * core/backend.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_ops.h"
#include "half.h"

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

vox_status vox_cpu_sample_rows(void *dev, const vox_op_dims *d, const vox_op_sample_rows *p)
{
    (void)dev;
    const void *q = vox_cpu_ptr(p->q), *k = vox_cpu_ptr(p->k), *v = vox_cpu_ptr(p->v);
    const int32_t *rows = VOX_CPU_I32(p->rows), *coord = VOX_CPU_I32(p->block_coord),
                  *valid = VOX_CPU_I32(d->block_valid);
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
