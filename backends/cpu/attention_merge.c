/* CPU reference of attention_merge (contract in core/backend.h): the merge of
 * two partial attention results through their LSEs, in place in acc, in f64. */
#include <math.h>

#include "cpu_ops.h"
#include "half.h"

vox_status vox_cpu_attention_merge(void *dev, const vox_op_dims *d, const vox_op_attention_merge *p)
{
    (void)dev;
    void *acc = vox_cpu_ptr(p->acc.ref);
    float *acc_lse = vox_cpu_ptr(p->acc_lse.ref);
    const void *part = vox_cpu_ptr(p->part.ref);
    const float *part_lse = vox_cpu_ptr(p->part_lse.ref);
    int dt = (int)d->dtype;
    for (int64_t h = 0; h < d->heads; h++)
        for (int64_t t = 0; t < d->tokens; t++) {
            int64_t ao = vox_cpu_strided_at(&p->acc, 0, h, t), po = vox_cpu_strided_at(&p->part, 0, h, t);
            float *la_p = acc_lse + vox_cpu_strided_at(&p->acc_lse, 0, h, t);
            double la = p->accumulate ? (double)*la_p : -INFINITY;
            double lb = part_lse[vox_cpu_strided_at(&p->part_lse, 0, h, t)];
            double m = la > lb ? la : lb, lse;
            if (isnan(la) || isnan(lb)) {
                for (int64_t e = 0; e < d->head_dim; e++)
                    vox_store(acc, dt, ao + e, NAN);
                lse = NAN;
            } else if (m == -INFINITY || m == INFINITY) {
                for (int64_t e = 0; e < d->head_dim; e++)
                    vox_store(acc, dt, ao + e, m == INFINITY ? NAN : 0.0);
                lse = m;
            } else {
                double wa = la > -INFINITY ? exp(la - m) : 0, wb = lb > -INFINITY ? exp(lb - m) : 0, s = wa + wb;
                for (int64_t e = 0; e < d->head_dim; e++) {
                    double x = 0;
                    if (la > -INFINITY)
                        x += wa / s * vox_load(acc, dt, ao + e);
                    if (lb > -INFINITY)
                        x += wb / s * vox_load(part, dt, po + e);
                    vox_store(acc, dt, ao + e, x);
                }
                lse = m + log(s);
            }
            *la_p = (float)lse;
        }
    return VOX_OK;
}
