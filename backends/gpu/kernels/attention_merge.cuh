/* attention_merge (core/backend.h): acc = the merge of acc and part through
 * their LSEs, in place, f32 arithmetic, over one batch entry. Launch:
 * blockDim (32, 4): threadIdx.y picks a row (head, token), the warp walks its
 * head_dim; grid-stride over rows. Each lane reads the row's LSEs before lane
 * 0 overwrites acc_lse (a warp sync between).
 * (One file per op: kernel names, device and host sections; ../gpu_kernels.h.) */

#define VOX_GPU_KERNELS_attention_merge(R, O, M) \
    R(attention_merge_f32) R(attention_merge_f16) R(attention_merge_bf16)

#ifdef VOX_GPU_DEVICE

template <class DT>
__device__ void attention_merge(typename DT::T *acc, float *acc_lse, const typename DT::T *part, const float *part_lse,
                                const vox_attention_merge_args &a)
{
    const i64 N = a.N, D = vox_i64(a.D);
    for (i64 r = (i64)blockIdx.x * blockDim.y + threadIdx.y; r < a.rows; r += (i64)gridDim.x * blockDim.y) {
        i64 h = r / N, t = r - h * N;
        typename DT::T *o = acc + h * a.ah + t * a.at;
        const typename DT::T *p = part + h * a.ph + t * a.pt;
        float *al = acc_lse + h * a.alh + t * a.alt;
        float la = a.accumulate ? *al : -INFINITY, lb = part_lse[h * a.plh + t * a.plt];
        VOX_SYNCWARP();
        float m = fmaxf(la, lb), lse;
        bool nan_in = isnan(la) || isnan(lb);
        if (nan_in || isinf(m)) {
            float v = nan_in || m > 0.0f ? __int_as_float(0x7fc00000) : 0.0f;
            for (i64 e = threadIdx.x; e < D; e += blockDim.x)
                DT::st(o, e, v);
            lse = nan_in ? __int_as_float(0x7fc00000) : m;
        } else {
            float wa = la > -INFINITY ? expf(la - m) : 0.0f, wb = lb > -INFINITY ? expf(lb - m) : 0.0f;
            float s = wa + wb, ca = wa / s, cb = wb / s;
            for (i64 e = threadIdx.x; e < D; e += blockDim.x) {
                float x = 0.0f;
                if (la > -INFINITY)
                    x = ca * DT::ld(o, e);
                if (lb > -INFINITY)
                    x += cb * DT::ld(p, e);
                DT::st(o, e, x);
            }
            lse = m + logf(s);
        }
        if (threadIdx.x == 0)
            *al = lse;
    }
}

#define VOX_ATTENTION_MERGE_KERNEL(NAME, DT)                                                                    \
    VOX_KERNEL void vox_attention_merge_##NAME(vox_attention_merge_bufs b, vox_attention_merge_args a)          \
    {                                                                                                           \
        attention_merge<DT>(vox_ptr<DT::T>(b.acc), vox_ptr<float>(b.acc_lse), vox_ptr<const DT::T>(b.part),      \
                            vox_ptr<const float>(b.part_lse), a);                                               \
    }
VOX_EACH_DTYPE(VOX_ATTENTION_MERGE_KERNEL)

#endif

#ifdef VOX_GPU_HOST

/* Four rows per block of (32, 4) threads, a warp per row. */
vox_status gpu_attention_merge(void *dev, const vox_op_dims *d, const vox_op_attention_merge *p)
{
    gpu_dev *g = dev;
    vox_attention_merge_bufs b = {.acc = gpu_dptr(p->acc.ref), .acc_lse = gpu_dptr(p->acc_lse.ref),
                                  .part = gpu_dptr(p->part.ref), .part_lse = gpu_dptr(p->part_lse.ref)};
    GPU_OP_ARGS(attention_merge);
    return gpu_launch_op(g, VOX_OP_attention_merge, BY_DTYPE(attention_merge), gpu_cap_grid(g, (a.rows + 3) / 4, 32),
                         32, 4, 0, &b, &a);
}

#endif
