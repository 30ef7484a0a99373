/* sample_rows (core/backend.h), the SVG head classification: for sampled
 * query rows, the exact attention output under the dense, spatial and
 * temporal masks, reduced to ||o_s-o_d||^2, ||o_t-o_d||^2, ||o_d||^2.
 *
 * Two kernels. vox_sample_rows_<dtype>: one CTA of VOX_SR_THREADS threads
 * per (bh, key split, group of VOX_SR_ROWS sampled rows, slice of VOX_SR_DS
 * head dims), grid-stride. It streams its split's key blocks once, in tiles
 * of VOX_SR_KT keys of one block through shared memory, for all its rows and
 * the three patterns together: a register-tiled f32 score product (each warp
 * owns 4 rows, each lane 2 keys), the tile's max and weights per row, a
 * register-tiled weights x values product (4 rows x 4 dims per lane), then
 * an online-softmax merge of the tile into every pattern that allows its
 * block. Per (bh, row, split, pattern) it writes {max, sum, acc[D]} (f32) to
 * the work space (b.work). vox_sample_rows_merge: one CTA per (bh, row) merges the splits in
 * f64 and reduces the three outputs to the sums.
 * NaN and Inf: a NaN or +inf score makes its patterns' sums NaN; a -inf
 * score weighs 0 beside a finite one; a pattern whose every allowed score is
 * -inf is NaN (the reference's exp(-inf - -inf)): a tile whose keys all
 * score -inf is not merged but marked, and a split that saw only such tiles
 * writes sum -1.
 * Dynamic shared memory (floats): qT[D][ROWS], kT[D][KT], v[KT][DS],
 * w[KT][ROWS] (gpu_sample_rows sizes it).
 * (One file per op: kernel names, device and host sections; ../gpu_kernels.h.) */

#define VOX_SRM16_KERNELS(M, V)                                                                               \
    M(sample_rows_mma16##V##_f16_d64) M(sample_rows_mma16##V##_f16_d128) M(sample_rows_mma16##V##_bf16_d64)  \
    M(sample_rows_mma16##V##_bf16_d128)
#define VOX_GPU_KERNELS_sample_rows(R, O, M)                                                                  \
    R(sample_rows_f32) R(sample_rows_f16) R(sample_rows_bf16) R(sample_rows_merge) M(sample_rows_mma_f16_d64) \
    M(sample_rows_mma_f16_d128) M(sample_rows_mma_bf16_d64) M(sample_rows_mma_bf16_d128)                    \
    VOX_SRM16_KERNELS(M, ) VOX_SRM16_KERNELS(M, l) VOX_SRM16_KERNELS(M, a) VOX_SRM16_KERNELS(M, la)

/* Key splits vox_sample_rows_merge takes (sample_rows_splits never asks more). */
#define VOX_SR_MAX_SPLITS 64

/* sample_rows_mma.cuh's CTA (threads for WG warps per row group of 16
 * sampled rows, sampled rows, keys per tile, K/V tiles in flight) and its
 * dynamic shared memory in bytes for head-dim tile DP: Q [rows][DP] and K, V
 * [stages][keys][DP] (16-bit), the P fragments of 4 row groups (4 k-steps x
 * 3 pieces x 32 lanes x 16 bytes), the warps' maxima and sums (2 x 4*WG warps
 * x 16 rows floats). */
#define VOX_SRM_THREADS(WG) (128 * (WG))
#define VOX_SRM_ROWS 64
#define VOX_SRM_KT 64
#define VOX_SRM_STAGES 3
#define VOX_SRM_SMEM(DP, WG) \
    ((VOX_SRM_ROWS + 2 * VOX_SRM_STAGES * VOX_SRM_KT) * (DP) * 2 + 4 * 4 * 3 * 32 * 16 + 2 * 4 * (WG) * 16 * 4)

/* The sm_90a wgmma kernels' (backends/cuda/sm90/sample_rows_sm90.cuh, their own module, loaded
 * by cuda_sm90.c into g->srw) K/V stages and dynamic shared memory in bytes (the 1024-byte
 * alignment of the 128-byte swizzle, Q, NS stages of K and V at D 128). */
#define VOX_SRW_STAGES 2
#define VOX_SRW_SMEM (1024 + 16384 + VOX_SRW_STAGES * 32768)

#ifdef VOX_GPU_DEVICE

#include "rows_view.cuh"

#define VOX_SR_THREADS 256
#define VOX_SR_NW (VOX_SR_THREADS / VOX_WARP_SIZE)
#define VOX_SR_ROWS (4 * VOX_SR_NW)  /* sampled rows per CTA: 4 per warp */
#define VOX_SR_KT (2 * VOX_WARP_SIZE) /* keys per tile: 2 per lane */
#define VOX_SR_DS (4 * VOX_WARP_SIZE) /* head dims per CTA: 4 per lane */

/* Whether pattern `temporal` (0: spatial) lets a query of the block at
 * ci = (t, y, x) see the key block at cj (coordinates -1: a global block). */
__device__ __forceinline__ int vox_allows_tyx(const int *ci, const int *cj, int temporal, int fb, int sb, int sink)
{
    if (cj[0] < 0 || ci[0] < 0)
        return 1;
    if (sink && cj[0] == 0)
        return 1;
    if (!temporal)
        return abs(cj[0] - ci[0]) <= fb;
    return abs(cj[1] - ci[1]) <= sb && abs(cj[2] - ci[2]) <= sb;
}
__device__ __forceinline__ int vox_allows(const int *coord, i64 ib, i64 jb, int temporal, int fb, int sb, int sink)
{
    return vox_allows_tyx(coord + 3 * ib, coord + 3 * jb, temporal, fb, sb, sink);
}

/* Online-softmax merge of a tile (mb, zb, ab) into a pattern state. */
__device__ __forceinline__ void vox_sr_merge(float &M, float &Z, float *A, float mb, float zb, const float *ab)
{
    if (mb > M) {
        float f = VOX_EXPF(M - mb);
        Z = Z * f + zb;
#pragma unroll
        for (int d = 0; d < 4; d++)
            A[d] = A[d] * f + ab[d];
        M = mb;
    } else { /* also a NaN mb: f is NaN and poisons the sums */
        float f = VOX_EXPF(mb - M);
        Z += zb * f;
#pragma unroll
        for (int d = 0; d < 4; d++)
            A[d] += ab[d] * f;
    }
}

template <class DT>
__device__ void sample_rows(const typename DT::T *q, const typename DT::T *k, const typename DT::T *v,
                            const int *rows, i64 R, const int *coord, const int *valid, i64 NB, i64 V, i64 D,
                            int fb, int sb, int sink, float scale, float *part, i64 nsplit, i64 BH,
                            const vox_sample_rows_args &a)
{
    __shared__ i64 koff[VOX_SR_KT]; /* the tile's key rows: offsets from (b, h)'s origin */
    float *qT = (float *)vox_dyn_smem, *kT = qT + D * VOX_SR_ROWS, *vs = kT + D * VOX_SR_KT;
    float *wt = vs + VOX_SR_KT * VOX_SR_DS;
    const int tid = threadIdx.x, lane = tid % VOX_WARP_SIZE, warp = tid / VOX_WARP_SIZE;
    const i64 groups = (R + VOX_SR_ROWS - 1) / VOX_SR_ROWS, dsl = (D + VOX_SR_DS - 1) / VOX_SR_DS;
    for (i64 x = blockIdx.x; x < BH * nsplit * groups * dsl; x += gridDim.x) {
        i64 t = x / dsl, ds = x - t * dsl, g = t % groups;
        t /= groups;
        const i64 sp = t % nsplit, bh = t / nsplit, r0 = g * VOX_SR_ROWS, d0 = ds * VOX_SR_DS;
        const i64 jb0 = NB * sp / nsplit, jb1 = NB * (sp + 1) / nsplit;
        const vox_rows_view<typename DT::T> qv = vox_rows_of(q, bh, a), kv = vox_rows_of(k, bh, a);
        const typename DT::T *vh = vox_rows_of(v, bh, a).x;
        __syncthreads(); /* the previous unit is done with qT */
        for (i64 y = tid; y < D * VOX_SR_ROWS; y += VOX_SR_THREADS) {
            i64 e = y / VOX_SR_ROWS, r = r0 + (y - e * VOX_SR_ROWS);
            qT[y] = r < R ? DT::ld(qv.row(rows[r]), e) : 0.f;
        }
        i64 ib[4];
        float M[3][4], Z[3][4], A[3][4][4];
        bool ninf[3][4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
            i64 r = r0 + 4 * warp + i;
            ib[i] = r < R ? rows[r] / V : 0;
#pragma unroll
            for (int p = 0; p < 3; p++) {
                M[p][i] = -VOX_INF, Z[p][i] = 0.f, ninf[p][i] = false;
#pragma unroll
                for (int d = 0; d < 4; d++)
                    A[p][i][d] = 0.f;
            }
        }
        for (i64 jb = jb0; jb < jb1; jb++) {
            const int nv = valid[jb];
            bool al[2][4];
#pragma unroll
            for (int i = 0; i < 4; i++)
                al[0][i] = vox_allows(coord, ib[i], jb, 0, fb, sb, sink),
                al[1][i] = vox_allows(coord, ib[i], jb, 1, fb, sb, sink);
            for (int c0 = 0; c0 < nv; c0 += VOX_SR_KT) {
                const int nk = nv - c0 < VOX_SR_KT ? nv - c0 : VOX_SR_KT;
                const i64 slot0 = jb * V + c0;
                __syncthreads(); /* the previous tile's kT, vs, wt, koff are read */
                if (tid < nk)
                    koff[tid] = kv.slot(slot0 + tid) * kv.st;
                __syncthreads();
                for (i64 y = tid; y < D * VOX_SR_KT; y += VOX_SR_THREADS) {
                    i64 e = y / VOX_SR_KT;
                    int u = (int)(y - e * VOX_SR_KT);
                    kT[y] = u < nk ? DT::ld(kv.x + koff[u], e) : 0.f;
                }
                for (int y = tid; y < VOX_SR_KT * VOX_SR_DS; y += VOX_SR_THREADS) {
                    int u = y / VOX_SR_DS;
                    i64 d = d0 + (y - u * VOX_SR_DS);
                    vs[y] = u < nk && d < D ? DT::ld(vh + koff[u], d) : 0.f;
                }
                __syncthreads();
                /* scores of rows 4*warp+i, keys 2*lane+c: sums of 8-dim partial sums */
                float s[4][2];
#pragma unroll
                for (int i = 0; i < 4; i++)
                    s[i][0] = s[i][1] = 0.f;
                for (i64 e0 = 0; e0 < D; e0 += 8) {
                    float c[4][2];
#pragma unroll
                    for (int i = 0; i < 4; i++)
                        c[i][0] = c[i][1] = 0.f;
#pragma unroll
                    for (int e = 0; e < 8; e++) {
                        if (e0 + e < D) {
                            float4 qq = *(const float4 *)(qT + (e0 + e) * VOX_SR_ROWS + 4 * warp);
                            float2 kk = *(const float2 *)(kT + (e0 + e) * VOX_SR_KT + 2 * lane);
                            const float qa[4] = {qq.x, qq.y, qq.z, qq.w};
#pragma unroll
                            for (int i = 0; i < 4; i++)
                                c[i][0] = fmaf(qa[i], kk.x, c[i][0]), c[i][1] = fmaf(qa[i], kk.y, c[i][1]);
                        }
                    }
#pragma unroll
                    for (int i = 0; i < 4; i++)
                        s[i][0] += c[i][0], s[i][1] += c[i][1];
                }
                /* per row: the tile's max (NaN wins), weights, sum */
                float mb[4], zb[4];
                bool allninf[4];
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    float m = -VOX_INF;
#pragma unroll
                    for (int c = 0; c < 2; c++) {
                        s[i][c] *= scale;
                        if (2 * lane + c < nk)
                            m = VOX_NMAX(m, s[i][c]);
                    }
                    m = vox_warp_max(m);
                    allninf[i] = m == -VOX_INF;
                    float w[2], z = 0.f;
#pragma unroll
                    for (int c = 0; c < 2; c++) {
                        w[c] = 2 * lane + c < nk && !allninf[i] ? VOX_EXPF(s[i][c] - m) : 0.f;
                        z += w[c];
                        wt[(2 * lane + c) * VOX_SR_ROWS + 4 * warp + i] = w[c];
                    }
                    mb[i] = m, zb[i] = vox_warp_sum(z);
                }
                VOX_SYNCWARP(); /* the warp's weights are written */
                float ab[4][4];
#pragma unroll
                for (int i = 0; i < 4; i++)
#pragma unroll
                    for (int d = 0; d < 4; d++)
                        ab[i][d] = 0.f;
                for (int u = 0; u < nk; u++) {
                    float4 ww = *(const float4 *)(wt + u * VOX_SR_ROWS + 4 * warp);
                    float4 vv = *(const float4 *)(vs + u * VOX_SR_DS + 4 * lane);
                    const float wa[4] = {ww.x, ww.y, ww.z, ww.w}, va[4] = {vv.x, vv.y, vv.z, vv.w};
#pragma unroll
                    for (int i = 0; i < 4; i++)
#pragma unroll
                        for (int d = 0; d < 4; d++)
                            ab[i][d] = fmaf(wa[i], va[d], ab[i][d]);
                }
#pragma unroll
                for (int i = 0; i < 4; i++)
#pragma unroll
                    for (int p = 0; p < 3; p++) {
                        if (p && !al[p - 1][i])
                            continue;
                        if (allninf[i])
                            ninf[p][i] = true;
                        else
                            vox_sr_merge(M[p][i], Z[p][i], A[p][i], mb[i], zb[i], ab[i]);
                    }
            }
        }
#pragma unroll
        for (int i = 0; i < 4; i++) {
            i64 r = r0 + 4 * warp + i;
            if (r >= R)
                continue;
#pragma unroll
            for (int p = 0; p < 3; p++) {
                float *o = part + (((bh * R + r) * nsplit + sp) * 3 + p) * (D + 2);
                if (ds == 0 && lane == 0)
                    o[0] = M[p][i], o[1] = M[p][i] == -VOX_INF && Z[p][i] == 0.f && ninf[p][i] ? -1.f : Z[p][i];
#pragma unroll
                for (int d = 0; d < 4; d++)
                    if (d0 + 4 * lane + d < D)
                        o[2 + d0 + 4 * lane + d] = A[p][i][d];
            }
        }
    }
}

/* One CTA per (bh, row), grid-stride: the splits' states merged in f64 (sum
 * 0: no key; -1: only -inf scores; else >= 1 or NaN), then the sums. Per
 * pattern p the split weights f = exp(max_x - max) (-1: the split has no
 * finite state) and the sum Z are formed once per row in shared memory, in
 * split order; each dim then adds its f * acc in the same order. */
__device__ void sample_rows_merge(const float *part, i64 nsplit, i64 BH, i64 R, i64 D, float *out)
{
    __shared__ double red[VOX_MAX_WARPS], fac[3][VOX_SR_MAX_SPLITS], MMs[3], Zs[3];
    __shared__ int kind[3]; /* 1: some split has keys; 2: only -inf scores; 0: no key */
    for (i64 pr = blockIdx.x; pr < BH * R; pr += gridDim.x) {
        const float *base = part + pr * nsplit * 3 * (D + 2);
        if (threadIdx.x < 3) {
            const int p = threadIdx.x;
            double MM = -INFINITY;
            bool any = false, ninf = false;
            for (i64 x = 0; x < nsplit; x++) {
                const float *st = base + (x * 3 + p) * (D + 2);
                if (st[1] == -1.f)
                    ninf = true;
                else if (st[1] != 0.f)
                    any = true, MM = st[0] > MM ? st[0] : MM;
            }
            MMs[p] = MM, kind[p] = any ? 1 : ninf ? 2 : 0;
        }
        __syncthreads();
        for (i64 y = threadIdx.x; y < 3 * nsplit; y += blockDim.x) {
            const int p = (int)(y / nsplit);
            const i64 x = y - p * nsplit;
            const float *st = base + (x * 3 + p) * (D + 2);
            fac[p][x] = st[1] == -1.f || st[1] == 0.f ? -1.0 : exp((double)st[0] - MMs[p]);
        }
        __syncthreads();
        if (threadIdx.x < 3) {
            const int p = threadIdx.x;
            double Z = 0;
            for (i64 x = 0; x < nsplit; x++)
                if (fac[p][x] != -1.0)
                    Z += fac[p][x] * base[(x * 3 + p) * (D + 2) + 1];
            Zs[p] = Z;
        }
        __syncthreads();
        double es = 0, et = 0, nd = 0;
        for (i64 e = threadIdx.x; e < D; e += blockDim.x) {
            double o[3];
            for (int p = 0; p < 3; p++) {
                double A = 0;
                for (i64 x = 0; x < nsplit && kind[p] == 1; x++)
                    if (fac[p][x] != -1.0)
                        A += fac[p][x] * base[(x * 3 + p) * (D + 2) + 2 + e];
                o[p] = kind[p] == 1 ? A / Zs[p] : kind[p] == 2 ? VOX_NAN_F64 : 0.0;
            }
            es += (o[1] - o[0]) * (o[1] - o[0]);
            et += (o[2] - o[0]) * (o[2] - o[0]);
            nd += o[0] * o[0];
        }
        es = block_reduce<false>(es, red);
        et = block_reduce<false>(et, red);
        nd = block_reduce<false>(nd, red);
        if (threadIdx.x == 0) {
            float *res = out + pr * 3;
            res[0] = (float)es, res[1] = (float)et, res[2] = (float)nd;
        }
        __syncthreads();
    }
}

#define VOX_SAMPLE_ROWS_KERNEL(NAME, DT)                                                                 \
    VOX_KERNEL void __launch_bounds__(VOX_SR_THREADS, 2)                                                  \
        vox_sample_rows_##NAME(vox_sample_rows_bufs b, vox_sample_rows_args a)                           \
    {                                                                                                    \
        sample_rows<DT>(vox_ptr<const DT::T>(b.q), vox_ptr<const DT::T>(b.k), vox_ptr<const DT::T>(b.v), \
                        vox_ptr<const int>(b.rows), a.R, vox_ptr<const int>(b.block_coord),              \
                        vox_ptr<const int>(b.valid), a.NB, vox_i64(a.V), vox_i64(a.D), a.frame_blocks,   \
                        a.space_blocks, a.sink, a.scale, vox_ptr<float>(b.work), vox_i64(a.nsplit), a.BH, a); \
    }
#ifndef VOX_SRM_HELPERS_ONLY /* the sm_90a module (backends/cuda/sm90/sample_rows_sm90.cu) takes the helpers only */
VOX_EACH_DTYPE(VOX_SAMPLE_ROWS_KERNEL)

VOX_KERNEL void vox_sample_rows_merge(vox_sample_rows_bufs b, vox_sample_rows_args a)
{
    sample_rows_merge(vox_ptr<const float>(b.work), vox_i64(a.nsplit), a.BH, a.R, vox_i64(a.D), vox_ptr<float>(b.out));
}
#endif

#include "sample_rows_mma.cuh"

#endif

#ifdef VOX_GPU_HOST

/* Both paths' launches: `units` CTAs per key split, the split count for
 * `slots` resident CTAs (vox_sample_rows_splits), each split's partial
 * softmax states (3 patterns x (D + 2) floats per row) in the scratch, the
 * tile kernel `fn`, then vox_sample_rows_merge, one CTA of 128 threads per
 * (bh, row). */
static vox_status sample_rows_launch(gpu_dev *g, const vox_sample_rows_bufs *b, vox_sample_rows_args a, int fn,
                                     gpu_srw_fn *raw, int64_t units, int64_t slots, int threads, size_t smem)
{
    int64_t nsplit = vox_sample_rows_splits(units, slots, a.NB);
    vox_status st = gpu_ensure_scratch(g, (size_t)(a.BH * a.R * nsplit * 3 * (a.D + 2)) * 4);
    if (st)
        return st;
    vox_sample_rows_bufs bw = *b;
    bw.work = (uint64_t)g->scratch;
    a.nsplit = (int32_t)nsplit;
    if (raw) { /* a kernel of another module (g->srw) */
        void *params[] = {&bw, &a};
        st = gpu_launch_fn(g, VOX_OP_sample_rows, raw->f, raw->name, &raw->smem_raised, units * nsplit, threads, 1,
                           smem, params);
    } else {
        st = gpu_launch_op(g, VOX_OP_sample_rows, fn, units * nsplit, threads, 1, smem, &bw, &a);
    }
    if (st)
        return st;
    return gpu_launch_op(g, VOX_OP_sample_rows, GPU_FN_sample_rows_merge, gpu_cap_grid(g, a.BH * a.R, 16), 128, 1,
                         0, &bw, &a);
}

/* sample_rows_mma.cuh (f16/bf16, tensor cores): one CTA per (bh, key split,
 * 64 rows), one per multiprocessor, of 16 warps (vox_sample_rows_mma16la_*,
 * 4 per row group, at most 128 registers; g->srm16 picks the variant:
 * mma16la late merges and the allowance table, mma16l, mma16a one of them,
 * mma16 neither: the session 9 kernel) or, with VOXATTN_SAMPLE_ROWS_W8=1
 * (g->srm_w8), 8 warps (vox_sample_rows_mma_*, 2 per row group, 255
 * registers); where the module has the kernel, head_dim <= 128 is a multiple
 * of 8, the rows of q, k, v are 16-byte aligned and the shared memory fits;
 * 0 when declined. */
static int sample_rows_mma(gpu_dev *g, const vox_op_dims *d, const vox_sample_rows_bufs *b,
                           vox_sample_rows_args a, vox_status *st)
{
#define SRM16_FNS(V)                                                                               \
    {{GPU_FN_sample_rows_mma16##V##_f16_d64, GPU_FN_sample_rows_mma16##V##_f16_d128},             \
     {GPU_FN_sample_rows_mma16##V##_bf16_d64, GPU_FN_sample_rows_mma16##V##_bf16_d128}}
    static const int fns[5][2][2] = {{{GPU_FN_sample_rows_mma_f16_d64, GPU_FN_sample_rows_mma_f16_d128},
                                      {GPU_FN_sample_rows_mma_bf16_d64, GPU_FN_sample_rows_mma_bf16_d128}},
                                     SRM16_FNS(), SRM16_FNS(l), SRM16_FNS(a), SRM16_FNS(la)};
#undef SRM16_FNS
    /* backends/cuda/sm90/sample_rows_sm90.cuh (g->srw): sm_90a wgmma, one warpgroup per CTA, two CTAs per multiprocessor;
     * variant v: 0 wg (VOXATTN_SAMPLE_ROWS_WG_PV2), 1 wg1 (the default: measured 1.255 ms against
     * wg's 1.316 and mma16la's 1.698 at hunyuan-720p, session 15), 2 the kernels below
     * (VOXATTN_SAMPLE_ROWS_WG_OFF); VOXATTN_SAMPLE_ROWS_ROTATE: call n takes n % 3 */
    int v = g->srm_rotate ? g->srm_calls++ % 3 : g->srm_wg_off ? 2 : g->srm_wg_pv2 ? 0 : 1;
    if (v < 2 && a.D == 128 && d->dtype != VOX_F32 && !((b->q | b->k | b->v) % 16) && !((a.sb | a.sh | a.st) % 8)) {
        gpu_srw_fn *fw = &g->srw[v][d->dtype == VOX_BF16];
        int room = g->api->set_max_smem ? g->max_smem_optin : g->max_smem;
        if (fw->f && VOX_SRW_SMEM <= room) {
            int64_t units = a.BH * ((a.R + VOX_SRM_ROWS - 1) / VOX_SRM_ROWS);
            if (g->srm_wg_break) /* tests only: the spatial pattern one frame wider */
                a.frame_blocks += 1;
            *st = sample_rows_launch(g, b, a, 0, fw, units, 2 * (int64_t)(g->sm_count > 0 ? g->sm_count : 16), 128,
                                     (size_t)VOX_SRW_SMEM);
            return 1;
        }
    }
    int dp = a.D <= 64 ? 64 : 128, wg = g->srm_w8 ? 2 : 4;
    int fn = fns[wg == 4 ? 1 + (g->srm16 & 3) : 0][d->dtype == VOX_BF16][dp == 128];
    size_t smem = (size_t)VOX_SRM_SMEM(dp, wg);
    int room = g->api->set_max_smem ? g->max_smem_optin : g->max_smem;
    if (d->dtype == VOX_F32 || a.D > 128 || a.D % 8 || (b->q | b->k | b->v) % 16 || (a.sb | a.sh | a.st) % 8 ||
        !g->fn[fn] || smem > (size_t)room)
        return 0;
    int64_t units = a.BH * ((a.R + VOX_SRM_ROWS - 1) / VOX_SRM_ROWS);
    *st = sample_rows_launch(g, b, a, fn, NULL, units, g->sm_count > 0 ? g->sm_count : 16, VOX_SRM_THREADS(wg), smem);
    return 1;
}

/* Tensor cores for f16/bf16 (sample_rows_mma), else the kernels above:
 * one CTA of 256 threads per (bh, key split, 4 rows per warp, 4 dims per
 * lane) writes its partial softmax states to the scratch; the splits
 * (vox_sample_rows_splits, two CTAs per multiprocessor) are merged by
 * vox_sample_rows_merge, one CTA of 128 threads per (bh, row).
 * VOXATTN_GPU_SCALAR=1 forces the f32 kernel. */
vox_status gpu_sample_rows(void *dev, const vox_op_dims *d, const vox_op_sample_rows *p)
{
    gpu_dev *g = dev;
    const int caller = p->slot_token.buf != NULL; /* the caller's q, k, v through slot_token */
    vox_sample_rows_bufs b = {.q = gpu_dptr(caller ? p->cq.ref : p->q), .k = gpu_dptr(caller ? p->ck.ref : p->k),
                              .v = gpu_dptr(caller ? p->cv.ref : p->v), .rows = gpu_dptr(p->rows),
                              .block_coord = gpu_dptr(p->block_coord), .valid = gpu_dptr(d->block_valid),
                              .out = gpu_dptr(p->out)};
    GPU_OP_ARGS(sample_rows);
    a.tok = (int64_t)gpu_dptr(p->slot_token);
    vox_status st;
    if (!g->force_scalar && sample_rows_mma(g, d, &b, a, &st))
        return st;
    int64_t W = g->warp > 0 ? g->warp : 32, rows = 4 * (256 / W), kt = 2 * W, ds = 4 * W, D = a.D;
    size_t smem = (size_t)(4 * (D * rows + D * kt + kt * ds + kt * rows));
    int64_t units = a.BH * ((a.R + rows - 1) / rows) * ((D + ds - 1) / ds);
    return sample_rows_launch(g, &b, a, BY_DTYPE(sample_rows), NULL, units, 2 * (int64_t)(g->sm_count > 0 ? g->sm_count : 16),
                              256, smem);
}

#endif
