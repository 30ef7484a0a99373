/* attention_forward (core/backend.h), the portable scalar kernel: every
 * dtype and head_dim, every GPU (the path of f32, of HIP, of NVIDIA before
 * sm_80 and of VOXATTN_GPU_SCALAR). The tensor-core kernel is
 * attention_forward_mma.cuh. KT = 32 keys per tile, or 16 where that does
 * not fit in shared memory (the host picks). Launch: 128 threads, a.tiles
 * blocks of 16 rows per query block.
 * (One file per op: kernel names, device and host sections; ../gpu_kernels.h.) */

#define VOX_GPU_KERNELS_attention_forward(R, O, M)                                                       \
    R(attention_forward_f32_k32) R(attention_forward_f16_k32) R(attention_forward_bf16_k32)              \
    R(attention_forward_f32_k16) R(attention_forward_f16_k16) R(attention_forward_bf16_k16)              \
    M(attention_forward_mma_f16_d64) M(attention_forward_mma_f16_d128) M(attention_forward_mma_f16_d256) \
    M(attention_forward_mma_bf16_d64) M(attention_forward_mma_bf16_d128) M(attention_forward_mma_bf16_d256)

#ifdef VOX_GPU_DEVICE

/* Portable tiled kernel for every dtype (the f32 path: true fp32 FMA).
 * A block of 128 threads takes 16 rows of one query block; 8 threads per row.
 * Keys stream in tiles of KT from the row's column list. Dynamic shared
 * memory: sQ[16][D], sK[KT][D+1], sV[KT][D], sP[16][KT] floats. */
template <class DT, int KT>
__device__ void attention_forward_scalar(const typename DT::T *q, const typename DT::T *k,
                                         const typename DT::T *v, typename DT::T *o, float *lse,
                                         const int *kv_start, const int *kv_count, const int *kv_cols,
                                         const int *kc, const int *kr, const int *valid, i64 NB, i64 V, i64 D,
                                         float scale, int tiles)
{
    float *sQ = (float *)vox_dyn_smem, *sK = sQ + 16 * D, *sV = sK + KT * (D + 1), *sP = sV + KT * D;
    __shared__ int qslot[16];
    const int tid = threadIdx.x, row = tid >> 3, sub = tid & 7;
    i64 m = blockIdx.x / tiles;
    int tile = (int)(blockIdx.x - m * tiles);
    i64 bh = m / NB, i = m - bh * NB, S = NB * V, hb = bh * S;
    int nrows = kc ? kc[m] : valid[i];
    int r0 = tile * 16;
    if (r0 >= nrows)
        return;
    if (tid < 16) {
        int r = r0 + tid;
        qslot[tid] = r < nrows ? (int)(i * V + (kc ? kr[m * V + r] : r)) : -1;
    }
    __syncthreads();
    for (i64 x = tid; x < 16 * D; x += 128) {
        int rr = (int)(x / D);
        i64 e = x - rr * D;
        sQ[x] = qslot[rr] >= 0 ? DT::ld(q, (hb + qslot[rr]) * D + e) : 0.f;
    }
    float acc[32];
#pragma unroll
    for (int c = 0; c < 32; c++)
        acc[c] = 0.f;
    float mrow = -VOX_INF, l = 0.f;
    int start = kv_start[m], cnt = kv_count[m];
    for (int c = 0; c < cnt; c++) {
        i64 jb = kv_cols[start + c];
        int nv = valid[jb];
        for (int b0 = 0; b0 < nv; b0 += KT) {
            __syncthreads();
            for (i64 x = tid; x < KT * D; x += 128) {
                int kk = (int)(x / D);
                i64 e = x - kk * D;
                bool ok = b0 + kk < nv;
                i64 g = (hb + jb * V + b0 + kk) * D + e;
                sK[kk * (D + 1) + e] = ok ? DT::ld(k, g) : 0.f;
                sV[kk * D + e] = ok ? DT::ld(v, g) : 0.f;
            }
            __syncthreads();
            float s[KT / 8], tmax = -VOX_INF;
#pragma unroll
            for (int kk = 0; kk < KT / 8; kk++) {
                int col = sub + 8 * kk;
                float d = 0.f;
                const float *qa = sQ + row * D, *kb = sK + col * (D + 1);
                for (i64 e = 0; e < D; e++)
                    d = fmaf(qa[e], kb[e], d);
                s[kk] = b0 + col < nv ? d : -VOX_INF; /* scaled inside exp: no overflow */
                tmax = VOX_NMAX(s[kk], tmax);
            }
            for (int x = 1; x < 8; x <<= 1) {
                float w = VOX_SHFL_XOR(tmax, x);
                tmax = VOX_NMAX(w, tmax);
            }
            float mnew = VOX_NMAX(tmax, mrow);
            float alpha = mrow == -VOX_INF ? 0.f : VOX_EXPF((mrow - mnew) * scale);
            float ps = 0.f;
#pragma unroll
            for (int kk = 0; kk < KT / 8; kk++) {
                float p = s[kk] == -VOX_INF ? 0.f : VOX_EXPF((s[kk] - mnew) * scale);
                ps += p;
                sP[row * KT + sub + 8 * kk] = p;
            }
            for (int x = 1; x < 8; x <<= 1)
                ps += VOX_SHFL_XOR(ps, x);
            l = l * alpha + ps;
            mrow = mnew;
            __syncthreads();
#pragma unroll
            for (int cc = 0; cc < 32; cc++) {
                i64 e = sub + 8 * cc;
                if (e < D) {
                    float a = acc[cc] * alpha;
                    for (int kk = 0; kk < KT; kk++)
                        a = fmaf(sP[row * KT + kk], sV[kk * D + e], a);
                    acc[cc] = a;
                }
            }
        }
    }
    int qsl = qslot[row];
    if (qsl >= 0) {
        float inv = l > 0.f ? 1.f / l : 0.f;
#pragma unroll
        for (int cc = 0; cc < 32; cc++) {
            i64 e = sub + 8 * cc;
            if (e < D)
                DT::st(o, (hb + qsl) * D + e, (l > 0.f || l != l) ? acc[cc] / l : 0.f);
        }
        (void)inv;
        if (sub == 0)
            lse[hb + qsl] = (l > 0.f || l != l) ? mrow * scale + VOX_LOGF(l) : -VOX_INF;
    }
}

#define VOX_ATTENTION_FORWARD_KERNEL(NAME, DT, KT)                                                                \
    VOX_KERNEL void __launch_bounds__(128)                                                                        \
        vox_attention_forward_##NAME##_k##KT(vox_attention_forward_bufs b, vox_attention_forward_args a)          \
    {                                                                                                             \
        attention_forward_scalar<DT, KT>(                                                                         \
            vox_ptr<const DT::T>(b.q), vox_ptr<const DT::T>(b.k), vox_ptr<const DT::T>(b.v), vox_ptr<DT::T>(b.o), \
            vox_ptr<float>(b.lse), vox_ptr<const int>(b.kv_start), vox_ptr<const int>(b.kv_count),                \
            vox_ptr<const int>(b.kv_cols), vox_ptr<const int>(b.kept_count), vox_ptr<const int>(b.kept_rows),     \
            vox_ptr<const int>(b.valid), a.NB, vox_i64(a.V), vox_i64(a.D), a.scale, a.tiles);                     \
    }
VOX_ATTENTION_FORWARD_KERNEL(f32, vox_t_f32, 32)
VOX_ATTENTION_FORWARD_KERNEL(f16, vox_t_f16, 32)
VOX_ATTENTION_FORWARD_KERNEL(bf16, vox_t_bf16, 32)
VOX_ATTENTION_FORWARD_KERNEL(f32, vox_t_f32, 16)
VOX_ATTENTION_FORWARD_KERNEL(f16, vox_t_f16, 16)
VOX_ATTENTION_FORWARD_KERNEL(bf16, vox_t_bf16, 16)

#include "attention_forward_mma.cuh"

#endif

#ifdef VOX_GPU_HOST

/* Tensor cores (f16/bf16, mma.sync, 64-row tiles) where the module has the
 * kernel and its shared memory fits; 0 when declined. */
static int attention_forward_mma(gpu_dev *g, const vox_op_dims *d, const vox_attention_forward_bufs *b,
                                 vox_attention_forward_args a, vox_status *st)
{
    int dp = a.D <= 64 ? 64 : a.D <= 128 ? 128 : 256;
    int fn = d->dtype == VOX_BF16
                 ? (dp == 64 ? GPU_FN_attention_forward_mma_bf16_d64
                    : dp == 128 ? GPU_FN_attention_forward_mma_bf16_d128 : GPU_FN_attention_forward_mma_bf16_d256)
                 : (dp == 64 ? GPU_FN_attention_forward_mma_f16_d64
                    : dp == 128 ? GPU_FN_attention_forward_mma_f16_d128 : GPU_FN_attention_forward_mma_f16_d256);
    size_t smem = (size_t)5 * 64 * dp * 2 + 128 + 256 + 3 * 64 * 5;
    int room = g->api->set_max_smem ? g->max_smem_optin : g->max_smem;
    if (!g->fn[fn] || smem > (size_t)room)
        return 0;
    a.tiles = (a.V + 63) / 64;
    a.total = a.BH * a.NB * a.tiles;
    *st = gpu_launch_op(g, VOX_OP_attention_forward, fn, a.total, 128, 1, smem, b, &a);
    return 1;
}

/* The vendor path (gpu_api.attention_forward), then tensor cores, then the
 * portable scalar kernel (16-row tiles, 32 keys per tile or 16 where the
 * shared memory is short); VOXATTN_GPU_SCALAR=1 forces the scalar kernel. */
vox_status gpu_attention_forward(void *dev, const vox_op_dims *d, const vox_op_attention_forward *p)
{
    gpu_dev *g = dev;
    vox_status st;
    if (!g->force_scalar && g->api->attention_forward && g->api->attention_forward(g, d, p, &st))
        return st;
    vox_attention_forward_bufs b = {.q = gpu_dptr(p->q), .k = gpu_dptr(p->k), .v = gpu_dptr(p->v),
                                    .o = gpu_dptr(p->o), .lse = gpu_dptr(p->lse), .kv_start = gpu_dptr(p->kv_start),
                                    .kv_count = gpu_dptr(p->kv_count), .kv_cols = gpu_dptr(p->kv_cols),
                                    .kept_count = gpu_dptr(p->kept_count), .kept_rows = gpu_dptr(p->kept_rows),
                                    .valid = gpu_dptr(d->block_valid)};
    if (!b.kept_count)
        b.kept_rows = 0;
    GPU_OP_ARGS(attention_forward);
    if (d->dtype != VOX_F32 && !g->force_scalar && attention_forward_mma(g, d, &b, a, &st))
        return st;
    int kt = 32;
    size_t smem = (size_t)(16 * d->head_dim + 32 * (d->head_dim + 1) + 32 * d->head_dim + 16 * 32) * 4;
    if (smem > (size_t)g->max_smem) {
        kt = 16;
        smem = (size_t)(16 * d->head_dim + 16 * (d->head_dim + 1) + 16 * d->head_dim + 16 * 16) * 4;
    }
    int fn = kt == 32 ? by_dtype(d->dtype, GPU_FN_attention_forward_f32_k32, GPU_FN_attention_forward_f16_k32,
                                 GPU_FN_attention_forward_bf16_k32)
                      : by_dtype(d->dtype, GPU_FN_attention_forward_f32_k16, GPU_FN_attention_forward_f16_k16,
                                 GPU_FN_attention_forward_bf16_k16);
    a.tiles = (a.V + 15) / 16;
    a.total = a.BH * a.NB * a.tiles;
    return gpu_launch_op(g, VOX_OP_attention_forward, fn, a.total, 128, 1, smem, &b, &a);
}

#endif
