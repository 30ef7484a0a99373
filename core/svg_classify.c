/* SVG head classification arithmetic (contract: vox_op_svg_classify in
 * core/backend.h), shared by the CPU reference op and the core's host
 * fallback for backends without the op; and the key split count the GPU
 * backends' sample_rows share. */
#include "backend.h"

void vox_svg_classify_host(const vox_op_dims *d, const float *out, int64_t R, double dense_above,
                           const int32_t *pattern_start, const int32_t *pattern_count, int32_t base,
                           int32_t *kv_start, int32_t *kv_count, int32_t *classes, double *err_s, double *err_t)
{
    int64_t NB = d->n_blocks;
    for (int64_t bh = 0; bh < d->batch * d->heads; bh++) {
        double es = 0, et = 0, den = 0;
        for (int64_t r = 0; r < R; r++) {
            es += out[(bh * R + r) * 3];
            et += out[(bh * R + r) * 3 + 1];
            den += out[(bh * R + r) * 3 + 2];
        }
        if (den <= 0)
            den = 1e-300; /* all-zero outputs: errors are 0 anyway */
        double s = es / den, t = et / den, best = s <= t ? s : t;
        vox_head_class c = s <= t ? VOX_HEAD_SPATIAL : VOX_HEAD_TEMPORAL;
        if (!(best <= dense_above)) /* NaN errors also fall back to dense */
            c = VOX_HEAD_DENSE;
        classes[bh] = (int32_t)c;
        err_s[bh] = s;
        err_t[bh] = t;
        vox_svg_head_rows(NB, c, pattern_start, pattern_count, base, kv_start + bh * NB, kv_count + bh * NB);
    }
}

void vox_svg_head_rows(int64_t NB, vox_head_class c, const int32_t *pattern_start, const int32_t *pattern_count,
                       int32_t base, int32_t *kv_start, int32_t *kv_count)
{
    for (int64_t i = 0; i < NB; i++) {
        if (c == VOX_HEAD_DENSE) {
            kv_start[i] = base;
            kv_count[i] = (int32_t)NB;
        } else {
            int64_t k = (c == VOX_HEAD_TEMPORAL) * NB + i;
            kv_start[i] = base + pattern_start[k];
            kv_count[i] = pattern_count[k];
        }
    }
}

int64_t vox_sample_rows_splits(int64_t units, int64_t slots, int64_t NB)
{
    int64_t n0 = (slots + units - 1) / units, best = 1;
    const int64_t cap = VOX_SAMPLE_ROWS_MAX_SPLITS;
    n0 = n0 < 1 ? 1 : n0 > cap ? cap : n0;
    double best_t = 0;
    for (int64_t n = n0; n <= 4 * n0 && n <= cap; n++) {
        double t = (double)((units * n + slots - 1) / slots) / (double)n;
        if (n == n0 || t < best_t * 0.98)
            best = n, best_t = t;
    }
    return best > NB ? (NB < 1 ? 1 : NB) : best;
}
