/* block_means (core/backend.h): per (bh, block j), the mean of its valid
 * rows (or its kept rows) of x, read in the caller's layout through
 * slot_token and accumulated in f64. Launch: 128 threads, one block per
 * (bh, j), grid-stride.
 * (One file per op: kernel names, device and host sections; ../gpu_kernels.h.) */

#define VOX_GPU_KERNELS_block_means(R, O, M) R(block_means_f32) R(block_means_f16) R(block_means_bf16)

#ifdef VOX_GPU_DEVICE

template <class DT>
__device__ void block_means(const typename DT::T *x, const int *slot_token, const int *kc, const int *kr,
                            const int *valid, float *out, const vox_block_means_args &a)
{
    const i64 NB = a.NB, V = a.V, D = a.D;
    for (i64 m = blockIdx.x; m < a.BH * NB; m += gridDim.x) {
        i64 bh = m / NB, j = m - bh * NB;
        const i64 base = (bh / a.heads) * a.sb + (bh % a.heads) * a.sh;
        int n = kc ? kc[m] : valid[j];
        for (i64 e = threadIdx.x; e < D; e += blockDim.x) {
            double acc = 0;
            for (int r = 0; r < n; r++) {
                i64 slot = j * V + (kc ? kr[m * V + r] : r);
                acc += DT::ld(x, base + (i64)slot_token[slot] * a.st + e);
            }
            out[m * D + e] = (float)(n ? acc / (double)n : 0.0);
        }
    }
}

#define VOX_BLOCK_MEANS_KERNEL(NAME, DT)                                                                   \
    VOX_KERNEL void vox_block_means_##NAME(vox_block_means_bufs b, vox_block_means_args a)                 \
    {                                                                                                      \
        block_means<DT>(vox_ptr<const DT::T>(b.x), vox_ptr<const int>(b.slot_token),                       \
                        vox_ptr<const int>(b.kept_count), vox_ptr<const int>(b.kept_rows),                 \
                        vox_ptr<const int>(b.valid), vox_ptr<float>(b.out), a);                            \
    }
VOX_EACH_DTYPE(VOX_BLOCK_MEANS_KERNEL)

#endif

#ifdef VOX_GPU_HOST

/* One block of 128 threads (a thread per dim) per (bh, block), grid-stride. */
vox_status gpu_block_means(void *dev, const vox_op_dims *d, const vox_op_block_means *p)
{
    gpu_dev *g = dev;
    vox_block_means_bufs b = {.x = gpu_dptr(p->x.ref), .slot_token = gpu_dptr(p->slot_token),
                              .kept_count = gpu_dptr(p->kept_count),
                              .kept_rows = gpu_dptr(p->kept_rows), .valid = gpu_dptr(d->block_valid),
                              .out = gpu_dptr(p->out)};
    if (!b.kept_count)
        b.kept_rows = 0;
    GPU_OP_ARGS(block_means);
    int fn = BY_DTYPE(block_means);
    return gpu_launch_op(g, VOX_OP_block_means, fn, gpu_cap_grid(g, a.BH * a.NB, 32), 128, 1, 0, &b, &a);
}

#endif
