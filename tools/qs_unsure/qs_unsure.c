/* How many query windows of the hunyuan-720p bench workload a certificate with |c~ - c| <= eps leaves
 * uncertain (keep flags or fill sources within 2 eps), for the eps of n = D roundings (Vulkan _cert) and of
 * n = 19 (CUDA's warp kernel, 8 lanes a row and a tree), keep 0.5, windows 2x2x2 in blocks 4x4x4. The f32
 * cosines are approximated by the exact f64 ones (their difference is within eps by construction). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include "workload.h" /* perf/ */
static float bf16(float x) { uint32_t u; memcpy(&u, &x, 4); u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u; memcpy(&x, &u, 4); return x; }
static double eps_of(double n, int D)
{
    double u = ldexp(1.0, -24), g = n * u / (1 - n * u);
    return (2.1 * g + 3.0 * (D + 64) * ldexp(1.0, -36) + (D + 8) * ldexp(1.0, -52) + 6.02 * u + ldexp(1.0, -48)) *
           (1 + ldexp(1.0, -20));
}
int main(int argc, char **argv)
{
    const vox_workload *w = vox_workload_find("hunyuan-720p");
    int64_t N = vox_workload_tokens(w), D = w->head_dim, H = w->heads;
    int heads = argc > 1 ? atoi(argv[1]) : 2;
    float *q = calloc((size_t)(H * N * D), 4), *k = calloc((size_t)(H * N * D), 4), *v = calloc((size_t)(H * N * D), 4);
    vox_workload_generate_heads(w, 1, 1.0, 0, heads, q, k, v);
    double ns[3] = {(double)D, 19.0, 0.0};
    long unsure_keep[3] = {0}, unsure_src[3] = {0}, unsure[3] = {0}, total = 0;
    for (int h = 0; h < heads; h++)
        for (int64_t t0 = 0; t0 + 1 < w->frames; t0 += 2)
            for (int64_t y0 = 0; y0 + 1 < w->height; y0 += 2)
                for (int64_t x0 = 0; x0 + 1 < w->width; x0 += 2) {
                    double x[8][128], c[8];
                    int idx = 0;
                    for (int a = 0; a < 2; a++)
                        for (int b = 0; b < 2; b++)
                            for (int cc = 0; cc < 2; cc++, idx++) {
                                int64_t tok = ((t0 + a) * w->height + y0 + b) * w->width + x0 + cc;
                                for (int e = 0; e < D; e++)
                                    x[idx][e] = bf16(q[((int64_t)h * N + tok) * D + e]);
                            }
                    int centre = 7; /* (1,1,1) */
                    double nn[8];
                    for (int r = 0; r < 8; r++) {
                        nn[r] = 0;
                        for (int e = 0; e < D; e++) nn[r] += x[r][e] * x[r][e];
                    }
                    for (int r = 0; r < 8; r++) {
                        double d = 0;
                        for (int e = 0; e < D; e++) d += x[r][e] * x[centre][e];
                        c[r] = d / sqrt(nn[r] * nn[centre]);
                    }
                    /* keep 4 of 8: the centre and the 3 least similar */
                    int ord[7], no = 0;
                    for (int r = 0; r < 8; r++) if (r != centre) ord[no++] = r;
                    for (int i = 0; i < 7; i++) for (int j = i + 1; j < 7; j++) if (c[ord[j]] < c[ord[i]]) { int tmp = ord[i]; ord[i] = ord[j]; ord[j] = tmp; }
                    int kept[8] = {0}; kept[centre] = 1;
                    for (int i = 0; i < 3; i++) kept[ord[i]] = 1;
                    total++;
                    for (int s = 0; s < 3; s++) {
                        double e2 = 2 * eps_of(ns[s], (int)D);
                        if (s == 2) e2 = 0;
                        int uk = c[ord[3]] - c[ord[2]] <= e2, us = 0; /* boundary pair */
                        for (int r = 0; r < 8 && !us; r++) {
                            if (kept[r]) continue;
                            double best = -2, second = -2;
                            for (int u2 = 0; u2 < 8; u2++) {
                                if (!kept[u2]) continue;
                                double d = 0;
                                for (int e = 0; e < D; e++) d += x[r][e] * x[u2][e];
                                double cs = d / sqrt(nn[r] * nn[u2]);
                                if (cs > best) { second = best; best = cs; } else if (cs > second) second = cs;
                            }
                            us = best - second <= e2;
                        }
                        unsure_keep[s] += uk; unsure_src[s] += us; unsure[s] += uk || us;
                    }
                }
    for (int s = 0; s < 3; s++)
        printf("n=%g eps2=%.3g: windows %ld, uncertain %ld (%.2f%%): keep %ld, source %ld\n", s == 2 ? 0 : ns[s],
               s == 2 ? 0.0 : 2 * eps_of(ns[s], (int)D), total, unsure[s], 100.0 * unsure[s] / total, unsure_keep[s], unsure_src[s]);
    return 0;
}
