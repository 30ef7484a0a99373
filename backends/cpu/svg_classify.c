/* CPU reference of svg_classify: SVG head classes, errors and mask rows from
 * the sampled rows' sums (contract in core/backend.h; the arithmetic is the
 * core's vox_svg_classify_host, which the core also uses for backends
 * without this op). */
#include <stdlib.h>

#include "cpu_ops.h"

vox_status vox_cpu_svg_classify(void *dev, const vox_op_dims *d, const vox_op_svg_classify *p)
{
    (void)dev;
    int64_t BH = d->batch * d->heads;
    double *es = malloc(sizeof(double) * 2 * (size_t)BH);
    if (!es)
        return VOX_ERR_OUT_OF_MEMORY;
    float *errors = vox_cpu_ptr(p->errors);
    vox_svg_classify_host(d, vox_cpu_ptr(p->sample_out), p->n_rows, p->dense_above, VOX_CPU_I32(p->pattern_start),
                          VOX_CPU_I32(p->pattern_count), p->base, vox_cpu_ptr(p->kv_start), vox_cpu_ptr(p->kv_count),
                          vox_cpu_ptr(p->classes), es, es + BH);
    for (int64_t bh = 0; bh < BH; bh++) {
        errors[2 * bh] = (float)es[bh];
        errors[2 * bh + 1] = (float)es[BH + bh];
    }
    free(es);
    return VOX_OK;
}
