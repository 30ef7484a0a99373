/* svg_classify (core/backend.h): SVG head classification from sample_rows'
 * output, on the device so that SVG builds read nothing back. One block per
 * head (grid-stride over heads): thread 0 sums the head's R sampled rows in
 * f64 in the reference's order (core/svg_classify.c), so errors and classes
 * are bitwise those of the host classification; then every thread writes
 * the head's NB mask rows from the pattern tables. Launch: 256 threads.
 * (One file per op: kernel names, device and host sections; ../gpu_kernels.h.) */

#define VOX_GPU_KERNELS_svg_classify(R, O, M) R(svg_classify)

#ifdef VOX_GPU_DEVICE

__device__ __forceinline__ void svg_classify(const float *out, const int *pattern_start, const int *pattern_count,
                                             int *kv_start, int *kv_count, int *classes, float *errors,
                                             double dense_above, i64 BH, i64 R, i64 NB, int base)
{
    __shared__ int cls;
    for (i64 bh = blockIdx.x; bh < BH; bh += gridDim.x) {
        if (threadIdx.x == 0) {
            double es = 0, et = 0, den = 0;
            for (i64 r = 0; r < R; r++) {
                es += (double)out[(bh * R + r) * 3];
                et += (double)out[(bh * R + r) * 3 + 1];
                den += (double)out[(bh * R + r) * 3 + 2];
            }
            if (den <= 0)
                den = 1e-300; /* all-zero outputs: errors are 0 anyway */
            double s = es / den, t = et / den, best = s <= t ? s : t;
            int c = s <= t ? 1 : 2;     /* VOX_HEAD_SPATIAL : VOX_HEAD_TEMPORAL */
            if (!(best <= dense_above)) /* NaN errors also fall back to dense */
                c = 0;                  /* VOX_HEAD_DENSE */
            cls = c;
            classes[bh] = c;
            errors[2 * bh] = (float)s;
            errors[2 * bh + 1] = (float)t;
        }
        __syncthreads();
        const int c = cls;
        for (i64 i = threadIdx.x; i < NB; i += blockDim.x) {
            i64 m = bh * NB + i, k = (c == 2) * NB + i;
            kv_start[m] = base + (c == 0 ? 0 : pattern_start[k]);
            kv_count[m] = c == 0 ? (int)NB : pattern_count[k];
        }
        __syncthreads(); /* cls is rewritten for the next head */
    }
}

VOX_KERNEL void vox_svg_classify(vox_svg_classify_bufs b, vox_svg_classify_args a)
{
    svg_classify(vox_ptr<const float>(b.sample_out), vox_ptr<const int>(b.pattern_start),
                 vox_ptr<const int>(b.pattern_count), vox_ptr<int>(b.kv_start), vox_ptr<int>(b.kv_count),
                 vox_ptr<int>(b.classes), vox_ptr<float>(b.errors), a.dense_above_f64, a.BH, a.R, a.NB, a.base);
}

#endif

#ifdef VOX_GPU_HOST

/* One block of 256 threads per head, grid-stride. */
vox_status gpu_svg_classify(void *dev, const vox_op_dims *d, const vox_op_svg_classify *p)
{
    gpu_dev *g = dev;
    vox_svg_classify_bufs b = {.sample_out = gpu_dptr(p->sample_out), .pattern_start = gpu_dptr(p->pattern_start),
                               .pattern_count = gpu_dptr(p->pattern_count), .kv_start = gpu_dptr(p->kv_start),
                               .kv_count = gpu_dptr(p->kv_count), .classes = gpu_dptr(p->classes),
                               .errors = gpu_dptr(p->errors)};
    GPU_OP_ARGS(svg_classify);
    return gpu_launch_op(g, VOX_OP_svg_classify, GPU_FN_svg_classify, gpu_cap_grid(g, a.BH, 8), 256, 1, 0, &b,
                         &a);
}

#endif
