/* attention_backward (core/backend.h): the preprocess every path shares and
 * the portable scalar kernels (every dtype, head_dim and block volume, every
 * GPU: the path of f32, of HIP, of NVIDIA before sm_80, of shapes the
 * tensor-core kernels (attention_backward_mma.cuh) do not take and of
 * VOXATTN_GPU_SCALAR). Deterministic: every output element is written by one
 * thread, sums in a fixed order, no atomics.
 *   prep:  per query block, dO_eff of each computed row (its dout plus the
 *          dout of the pruned slots whose source it is) written over dout,
 *          delta = dO_eff . o (f32) into the LSE work half lse[BH*S + slot].
 *   dq:    per 16 slots of a query block, dQ over the row's key blocks.
 *   dkdv:  per 16 keys of a KV block, dK and dV over the query blocks
 *          attending to it (the transposed mask).
 * A row takes part when it is "live": a valid slot, computed (no fill_src, or
 * fill_src[slot] == slot) and lse != -inf (a row without keys has none).
 * Launch: 128 threads; prep one block per query block, dq/dkdv a.tiles blocks
 * of 16 slots per block (a.tiles = ceil(V/16)); TT = 32 (or 16 where the
 * shared memory is short) rows or keys per shared-memory tile.
 * (One file per op: kernel names, device and host sections; ../gpu_kernels.h.) */

#define VOX_GPU_KERNELS_attention_backward(R, O, M)                                                           \
    O(attention_backward_prep_f32) O(attention_backward_prep_f16) O(attention_backward_prep_bf16)             \
    O(attention_backward_dq_f32_k32) O(attention_backward_dq_f16_k32) O(attention_backward_dq_bf16_k32)       \
    O(attention_backward_dq_f32_k16) O(attention_backward_dq_f16_k16) O(attention_backward_dq_bf16_k16)       \
    O(attention_backward_dkdv_f32_k32) O(attention_backward_dkdv_f16_k32) O(attention_backward_dkdv_bf16_k32) \
    O(attention_backward_dkdv_f32_k16) O(attention_backward_dkdv_f16_k16) O(attention_backward_dkdv_bf16_k16) \
    M(attention_backward_dq_mma_f16_d64) M(attention_backward_dq_mma_f16_d128)                                \
    M(attention_backward_dq_mma_bf16_d64) M(attention_backward_dq_mma_bf16_d128)                              \
    M(attention_backward_dkdv_mma_f16_d64) M(attention_backward_dkdv_mma_f16_d128)                            \
    M(attention_backward_dkdv_mma_bf16_d64) M(attention_backward_dkdv_mma_bf16_d128)

#ifdef VOX_GPU_DEVICE

/* Whether slot `slot` (of block i, local row r < nv) is a live row. */
__device__ __forceinline__ bool bwd_live(const int *fill, const float *lse, i64 hb, i64 slot)
{
    return (!fill || fill[hb + slot] == slot) && lse[hb + slot] != -VOX_INF;
}

/* One value rounded to the storage type (the in-place dO_eff is what the
 * other kernels read, so delta is taken from the rounded value). */
template <class DT> __device__ __forceinline__ float bwd_round(float x)
{
    typename DT::T t;
    DT::st(&t, 0, x);
    return DT::ld(&t, 0);
}

/* Element c of a row's 8-way split: thread `sub` of its row holds elements
 * e = sub + 8*c (c < 32: head_dim <= 256). */
#define VOX_BWD_SPLIT 32

/* dO_eff and delta of one query block m = bh*NB + i (one warp per row). */
template <class DT>
__device__ void attention_backward_prep(typename DT::T *dout, const typename DT::T *o, float *lse,
                                        const int *fill, const int *valid, i64 BH, i64 NB, i64 V, i64 D)
{
    __shared__ int sfill[256];
    const i64 m = blockIdx.x, bh = m / NB, i = m - bh * NB, S = NB * V, hb = bh * S;
    float *work = lse + BH * S;
    const int nv = valid[i], lane = threadIdx.x % VOX_WARP_SIZE, warp = threadIdx.x / VOX_WARP_SIZE;
    const int nw = blockDim.x / VOX_WARP_SIZE;
    if (fill)
        for (int r = threadIdx.x; r < nv; r += blockDim.x)
            sfill[r] = fill[hb + i * V + r];
    __syncthreads();
    for (int r = warp; r < V; r += nw) { /* uniform per warp: the shuffles see every lane */
        const i64 slot = i * V + r;
        if (r >= nv || (fill && sfill[r] != slot)) {
            if (lane == 0)
                work[hb + slot] = 0.f;
            continue;
        }
        float acc[256 / 32];
        int nsrc = 0;
#pragma unroll
        for (int c = 0; c < 256 / 32; c++) {
            i64 e = lane + (i64)c * VOX_WARP_SIZE;
            acc[c] = e < D ? DT::ld(dout, (hb + slot) * D + e) : 0.f;
        }
        if (fill)
            for (int s = 0; s < nv; s++) {
                if (s == r || sfill[s] != slot)
                    continue;
                nsrc++;
#pragma unroll
                for (int c = 0; c < 256 / 32; c++) {
                    i64 e = lane + (i64)c * VOX_WARP_SIZE;
                    if (e < D)
                        acc[c] += DT::ld(dout, (hb + i * V + s) * D + e);
                }
            }
        float dl = 0.f;
#pragma unroll
        for (int c = 0; c < 256 / 32; c++) {
            i64 e = lane + (i64)c * VOX_WARP_SIZE;
            if (e < D) {
                if (nsrc) {
                    acc[c] = bwd_round<DT>(acc[c]);
                    DT::st(dout, (hb + slot) * D + e, acc[c]);
                }
                dl = fmaf(acc[c], DT::ld(o, (hb + slot) * D + e), dl);
            }
        }
        dl = vox_warp_sum(dl);
        if (lane == 0)
            work[hb + slot] = dl;
    }
}

/* s += x with the rounding error into c (TwoSum; adds only, so no
 * contraction into an fma can change it). */
__device__ __forceinline__ void bwd_two_sum(float &s, float &c, float x)
{
    float t = s + x, z = t - s;
    c += (s - (t - z)) + (x - z);
    s = t;
}

/* The two dot products of one (row, key) pair over the 8 threads of the
 * row's (or key's) group, a in registers (split as above), x a row of shared
 * memory: the score a . x as an unevaluated sum sh + sl (compensated: exact
 * products by fma, TwoSum of the partial sums; it enters exp(s*scale - lse)
 * with s*scale close to lse, so its absolute error is what counts, and a
 * plain f32 sum misses the f32 limit on huge logits) and b . y in f32. Every
 * thread of the group gets the sums. */
__device__ __forceinline__ void bwd_dot2(const float *a, const float *b, const float *x, const float *y, int sub,
                                         i64 D, float &sh, float &sl, float &t)
{
    float s = 0.f, c = 0.f;
    t = 0.f;
#pragma unroll
    for (int k = 0; k < VOX_BWD_SPLIT; k++) {
        i64 e = sub + 8 * k;
        if (e < D) {
            float p = __fmul_rn(a[k], x[e]); /* never contracted: the TwoSum needs p as rounded */
            c += fmaf(a[k], x[e], -p);
            bwd_two_sum(s, c, p);
            t = fmaf(b[k], y[e], t);
        }
    }
    for (int m = 1; m < 8; m <<= 1) {
        float so = VOX_SHFL_XOR(s, m), co = VOX_SHFL_XOR(c, m);
        c += co;
        bwd_two_sum(s, c, so);
        t += VOX_SHFL_XOR(t, m);
    }
    sh = s, sl = c;
}

/* P = exp(s*scale - lse) of a score given as sh + sl. */
__device__ __forceinline__ float bwd_prob(float sh, float sl, float scale, float lse)
{
    return expf(fmaf(sl, scale, fmaf(sh, scale, -lse)));
}

/* dQ of 16 slots of query block i (8 threads per row): q and dO_eff of the
 * row in registers, keys in tiles of TT (sK, sV: [TT][D] floats of dynamic
 * shared memory). Rows not live get dq = 0. */
template <class DT, int TT>
__device__ void attention_backward_dq(const typename DT::T *q, const typename DT::T *k, const typename DT::T *v,
                                      const typename DT::T *dout, const float *lse, typename DT::T *dq,
                                      const int *mask, const int *fill, const int *valid, i64 BH, i64 NB, i64 V,
                                      i64 D, float scale, int tiles)
{
    float *sK = (float *)vox_dyn_smem, *sV = sK + TT * D;
    const int tid = threadIdx.x, row = tid >> 3, sub = tid & 7;
    const i64 m = blockIdx.x / tiles, bh = m / NB, i = m - bh * NB, S = NB * V, hb = bh * S, R = BH * NB;
    const int tile = (int)(blockIdx.x - m * tiles), nv = valid[i];
    const i64 r = (i64)tile * 16 + row, slot = i * V + r;
    const bool live = r < nv && bwd_live(fill, lse, hb, slot);
    float qr[VOX_BWD_SPLIT], gr[VOX_BWD_SPLIT], acc[VOX_BWD_SPLIT];
#pragma unroll
    for (int c = 0; c < VOX_BWD_SPLIT; c++) {
        i64 e = sub + 8 * c;
        qr[c] = live && e < D ? DT::ld(q, (hb + slot) * D + e) : 0.f;
        gr[c] = live && e < D ? DT::ld(dout, (hb + slot) * D + e) : 0.f;
        acc[c] = 0.f;
    }
    const float lr = live ? lse[hb + slot] : 0.f, dl = live ? lse[BH * S + hb + slot] : 0.f;
    if (__syncthreads_or(live)) {
        const int start = mask[m], cnt = mask[R + m];
        for (int c = 0; c < cnt; c++) {
            const i64 jb = mask[start + c];
            const int nk = valid[jb];
            for (int b0 = 0; b0 < nk; b0 += TT) {
                const int n = nk - b0 < TT ? nk - b0 : TT;
                __syncthreads();
                for (i64 x = tid; x < n * D; x += 128) {
                    i64 g = (hb + jb * V + b0) * D + x;
                    sK[x] = DT::ld(k, g);
                    sV[x] = DT::ld(v, g);
                }
                __syncthreads();
                for (int kk = 0; kk < n; kk++) {
                    float sh, sl, dp;
                    bwd_dot2(qr, gr, sK + kk * D, sV + kk * D, sub, D, sh, sl, dp);
                    float ds = live ? bwd_prob(sh, sl, scale, lr) * (dp - dl) : 0.f;
#pragma unroll
                    for (int cc = 0; cc < VOX_BWD_SPLIT; cc++) {
                        i64 e = sub + 8 * cc;
                        if (e < D)
                            acc[cc] = fmaf(ds, sK[kk * D + e], acc[cc]);
                    }
                }
            }
        }
    }
    if (r < V) {
#pragma unroll
        for (int c = 0; c < VOX_BWD_SPLIT; c++) {
            i64 e = sub + 8 * c;
            if (e < D)
                DT::st(dq, (hb + slot) * D + e, live ? acc[c] * scale : 0.f);
        }
    }
}

/* dK and dV of 16 keys of KV block j (8 threads per key): k and v of the key
 * in registers, the rows of each attending query block in tiles of TT (sQ,
 * sG: [TT][D] floats of dynamic shared memory; rows not live are skipped).
 * Padding keys get 0. */
template <class DT, int TT>
__device__ void attention_backward_dkdv(const typename DT::T *q, const typename DT::T *k, const typename DT::T *v,
                                        const typename DT::T *dout, const float *lse, typename DT::T *dk,
                                        typename DT::T *dv, const int *mask, const int *fill, const int *valid,
                                        i64 BH, i64 NB, i64 V, i64 D, float scale, int tiles)
{
    float *sQ = (float *)vox_dyn_smem, *sG = sQ + TT * D;
    __shared__ int slive[TT];
    __shared__ float sL[TT], sD[TT];
    const int tid = threadIdx.x, key = tid >> 3, sub = tid & 7;
    const i64 mt = blockIdx.x / tiles, bh = mt / NB, j = mt - bh * NB, S = NB * V, hb = bh * S, R = BH * NB;
    const int tile = (int)(blockIdx.x - mt * tiles);
    const i64 kr = (i64)tile * 16 + key, ks = j * V + kr;
    const bool kon = kr < valid[j];
    float kx[VOX_BWD_SPLIT], vx[VOX_BWD_SPLIT], gk[VOX_BWD_SPLIT], gv[VOX_BWD_SPLIT];
#pragma unroll
    for (int c = 0; c < VOX_BWD_SPLIT; c++) {
        i64 e = sub + 8 * c;
        kx[c] = kon && e < D ? DT::ld(k, (hb + ks) * D + e) : 0.f;
        vx[c] = kon && e < D ? DT::ld(v, (hb + ks) * D + e) : 0.f;
        gk[c] = gv[c] = 0.f;
    }
    const int start = mask[2 * R + mt], cnt = mask[3 * R + mt];
    for (int c = 0; c < cnt; c++) {
        const i64 i = mask[start + c];
        const int nv = valid[i];
        for (int r0 = 0; r0 < nv; r0 += TT) {
            const int n = nv - r0 < TT ? nv - r0 : TT;
            __syncthreads();
            if (tid < n) {
                i64 slot = i * V + r0 + tid;
                bool live = bwd_live(fill, lse, hb, slot);
                slive[tid] = live;
                sL[tid] = live ? lse[hb + slot] : 0.f;
                sD[tid] = live ? lse[BH * S + hb + slot] : 0.f;
            }
            __syncthreads();
            for (i64 x = tid; x < n * D; x += 128) {
                int rr = (int)(x / D);
                i64 g = (hb + i * V + r0) * D + x;
                sQ[x] = slive[rr] ? DT::ld(q, g) : 0.f;
                sG[x] = slive[rr] ? DT::ld(dout, g) : 0.f;
            }
            __syncthreads();
            for (int rr = 0; rr < n; rr++) {
                if (!slive[rr]) /* the same row for every thread */
                    continue;
                float sh, sl, dp;
                bwd_dot2(kx, vx, sQ + rr * D, sG + rr * D, sub, D, sh, sl, dp);
                float p = kon ? bwd_prob(sh, sl, scale, sL[rr]) : 0.f, ds = p * (dp - sD[rr]);
#pragma unroll
                for (int cc = 0; cc < VOX_BWD_SPLIT; cc++) {
                    i64 e = sub + 8 * cc;
                    if (e < D) {
                        gv[cc] = fmaf(p, sG[rr * D + e], gv[cc]);
                        gk[cc] = fmaf(ds, sQ[rr * D + e], gk[cc]);
                    }
                }
            }
        }
    }
    if (kr < V) {
#pragma unroll
        for (int c = 0; c < VOX_BWD_SPLIT; c++) {
            i64 e = sub + 8 * c;
            if (e < D) {
                DT::st(dk, (hb + ks) * D + e, kon ? gk[c] * scale : 0.f);
                DT::st(dv, (hb + ks) * D + e, kon ? gv[c] : 0.f);
            }
        }
    }
}

#define VOX_ATTENTION_BACKWARD_KERNELS(NAME, DT)                                                                \
    VOX_KERNEL void __launch_bounds__(128)                                                                      \
        vox_attention_backward_prep_##NAME(vox_attention_backward_bufs b, vox_attention_backward_args a)        \
    {                                                                                                           \
        attention_backward_prep<DT>(vox_ptr<DT::T>(b.dout), vox_ptr<const DT::T>(b.o), vox_ptr<float>(b.lse),   \
                                    vox_ptr<const int>(b.fill_src),                      \
                                    vox_ptr<const int>(b.valid), a.BH, a.NB, vox_i64(a.V), vox_i64(a.D));       \
    }                                                                                                           \
    VOX_ATTENTION_BACKWARD_SCALAR(NAME, DT, 32)                                                                 \
    VOX_ATTENTION_BACKWARD_SCALAR(NAME, DT, 16)
#define VOX_ATTENTION_BACKWARD_SCALAR(NAME, DT, TT)                                                             \
    VOX_KERNEL void __launch_bounds__(128)                                                                      \
        vox_attention_backward_dq_##NAME##_k##TT(vox_attention_backward_bufs b, vox_attention_backward_args a)  \
    {                                                                                                           \
        attention_backward_dq<DT, TT>(                                                                          \
            vox_ptr<const DT::T>(b.q), vox_ptr<const DT::T>(b.k), vox_ptr<const DT::T>(b.v),                    \
            vox_ptr<const DT::T>(b.dout), vox_ptr<const float>(b.lse), vox_ptr<DT::T>(b.dq),                    \
            vox_ptr<const int>(b.mask), vox_ptr<const int>(b.fill_src),                  \
            vox_ptr<const int>(b.valid), a.BH, a.NB, vox_i64(a.V), vox_i64(a.D), a.scale, a.tiles);             \
    }                                                                                                           \
    VOX_KERNEL void __launch_bounds__(128)                                                                      \
        vox_attention_backward_dkdv_##NAME##_k##TT(vox_attention_backward_bufs b, vox_attention_backward_args a) \
    {                                                                                                           \
        attention_backward_dkdv<DT, TT>(                                                                        \
            vox_ptr<const DT::T>(b.q), vox_ptr<const DT::T>(b.k), vox_ptr<const DT::T>(b.v),                    \
            vox_ptr<const DT::T>(b.dout), vox_ptr<const float>(b.lse), vox_ptr<DT::T>(b.dk),                    \
            vox_ptr<DT::T>(b.dv), vox_ptr<const int>(b.mask),                                                   \
            vox_ptr<const int>(b.fill_src), vox_ptr<const int>(b.valid), a.BH, a.NB,     \
            vox_i64(a.V), vox_i64(a.D), a.scale, a.tiles);                                                      \
    }
VOX_EACH_DTYPE(VOX_ATTENTION_BACKWARD_KERNELS)

#include "attention_backward_mma.cuh"

#endif

#ifdef VOX_GPU_HOST

/* attention_backward, tensor cores (f16/bf16, mma.sync) where the module has
 * the kernels, V >= 64 (64-slot tiles within one block), head_dim <= 128 and
 * the shared memory fits: dQ per 64 rows, then dK/dV per 64 keys; 0 when
 * declined (attention_backward_mma.cuh). */
static int attention_backward_mma(gpu_dev *g, const vox_op_dims *d, const vox_attention_backward_bufs *b,
                                  vox_attention_backward_args a, vox_status *st)
{
    int dp = a.D <= 64 ? 64 : 128;
    int bf = d->dtype == VOX_BF16;
    int fq = dp == 64 ? (bf ? GPU_FN_attention_backward_dq_mma_bf16_d64 : GPU_FN_attention_backward_dq_mma_f16_d64)
                      : (bf ? GPU_FN_attention_backward_dq_mma_bf16_d128 : GPU_FN_attention_backward_dq_mma_f16_d128);
    int fk = dp == 64
                 ? (bf ? GPU_FN_attention_backward_dkdv_mma_bf16_d64 : GPU_FN_attention_backward_dkdv_mma_f16_d64)
                 : (bf ? GPU_FN_attention_backward_dkdv_mma_bf16_d128 : GPU_FN_attention_backward_dkdv_mma_f16_d128);
    size_t tiles = (size_t)6 * 64 * dp * 2; /* u16 tiles: Q, dO, 2 x (K, V) / K, V, 2 x (Q, dO) */
    size_t smem_q = tiles + (64 * 3 + 6) * 4, smem_kv = tiles + 9 * 64 * 4;
    int room = g->api->set_max_smem ? g->max_smem_optin : g->max_smem;
    if (d->dtype == VOX_F32 || a.V < 64 || a.D > 128 || !g->fn[fq] || !g->fn[fk] || smem_kv > (size_t)room)
        return 0;
    a.tiles = a.V / 64;
    a.total = a.BH * a.NB * a.tiles;
    *st = gpu_launch_op(g, VOX_OP_attention_backward, fq, a.total, 128, 1, smem_q, b, &a);
    if (!*st)
        *st = gpu_launch_op(g, VOX_OP_attention_backward, fk, a.total, 128, 1, smem_kv, b, &a);
    return 1;
}

/* A call in the caller's layout goes to gpu_attention_backward_caller. Else
 * the preprocess (dO_eff over dout, delta into the LSE work half), then the
 * vendor path (gpu_api.attention_backward), tensor cores or the portable
 * kernels (16 rows / keys per block, tiles of 32 in shared memory, 16 where
 * that does not fit); VOXATTN_GPU_SCALAR=1 forces the portable kernels. Every
 * kernel writes its outputs once: deterministic. */
vox_status gpu_attention_backward(void *dev, const vox_op_dims *d, const vox_op_attention_backward *p)
{
    gpu_dev *g = dev;
    if (gpu_dptr(p->slot_token)) /* the caller's layout (gpu_device.c) */
        return gpu_attention_backward_caller(g, d, p);
    vox_attention_backward_bufs b = {.q = gpu_dptr(p->q), .k = gpu_dptr(p->k), .v = gpu_dptr(p->v),
                                     .o = gpu_dptr(p->o), .dout = gpu_dptr(p->dout), .lse = gpu_dptr(p->lse),
                                     .dq = gpu_dptr(p->dq), .dk = gpu_dptr(p->dk), .dv = gpu_dptr(p->dv),
                                     .mask = gpu_dptr(p->mask), .fill_src = gpu_dptr(p->fill_src),
                                     .valid = gpu_dptr(d->block_valid)};
    GPU_OP_ARGS(attention_backward);
    vox_status st = gpu_launch_op(g, VOX_OP_attention_backward, BY_DTYPE(attention_backward_prep), a.BH * a.NB, 128,
                                  1, 0, &b, &a);
    if (st || (!g->force_scalar && g->api->attention_backward && g->api->attention_backward(g, d, p, &st)) ||
        (!g->force_scalar && attention_backward_mma(g, d, &b, a, &st)))
        return st;
    int tt = 32;
    size_t smem = (size_t)2 * 32 * d->head_dim * 4;
    if (smem + 1024 > (size_t)g->max_smem) /* room for the kernels' static shared memory */
        tt = 16, smem = (size_t)2 * 16 * d->head_dim * 4;
    int fq = tt == 32 ? by_dtype(d->dtype, GPU_FN_attention_backward_dq_f32_k32, GPU_FN_attention_backward_dq_f16_k32,
                                 GPU_FN_attention_backward_dq_bf16_k32)
                      : by_dtype(d->dtype, GPU_FN_attention_backward_dq_f32_k16, GPU_FN_attention_backward_dq_f16_k16,
                                 GPU_FN_attention_backward_dq_bf16_k16);
    int fk = tt == 32 ? by_dtype(d->dtype, GPU_FN_attention_backward_dkdv_f32_k32,
                                 GPU_FN_attention_backward_dkdv_f16_k32, GPU_FN_attention_backward_dkdv_bf16_k32)
                      : by_dtype(d->dtype, GPU_FN_attention_backward_dkdv_f32_k16,
                                 GPU_FN_attention_backward_dkdv_f16_k16, GPU_FN_attention_backward_dkdv_bf16_k16);
    a.tiles = (a.V + 15) / 16;
    a.total = a.BH * a.NB * a.tiles;
    st = gpu_launch_op(g, VOX_OP_attention_backward, fq, a.total, 128, 1, smem, &b, &a);
    if (!st)
        st = gpu_launch_op(g, VOX_OP_attention_backward, fk, a.total, 128, 1, smem, &b, &a);
    return st;
}

#endif
