/* query_select's kernels (CUDA and HIP): a certified f32 path per window,
 * with query_select.cuh's exact path (vox_qs_block) for every block it cannot
 * certify. One CTA of VOX_QS_THREADS threads per (bh, block), grid-stride;
 * each warp takes windows of the block (one at a time).
 *
 * A window of m <= VOX_QF_M rows (the default window (2,2,2) has 8): the Gram
 * matrix of its rows in f32, lanes over dims (each lane a sequential fmaf sum
 * of its ceil(D / W) dims, W the warp size), then a transposed butterfly sum
 * over the warp (lane l ends with entry l; log2(W) levels). With u = 2^-24
 * and n = ceil(D / W) + log2(W), gamma_n = n u / (1 - n u), every entry g~_ab
 * obeys |g~_ab - g_ab| <= gamma_n sum_e |x_ae x_be| <= gamma_n |x_a| |x_b|,
 * plus underflow: with every squared norm g~_aa in [2^-40, 2^100] (else the
 * block takes the exact path: NaN, Inf, zero, tiny or huge rows), |x_e| <=
 * 2^50 and a flushed or sub-normal operation errs by <= 2^-76, so the
 * absolute part is <= (D + 64) 2^-76 <= (D + 64) 2^-36 |x_a| |x_b|. The f64
 * cosine c~ = g~_ab / sqrt(g~_aa g~_bb) is then within
 *   eps = (2.1 gamma_n + 3 (D + 64) 2^-36 + (D + 8) 2^-52 + 2^-48)(1 + 2^-20)
 * of the reference's (its own f64 sums, sqrt and division err by less than
 * (D + 8) 2^-52 + 2^-50).
 * Keep: the k-1 least similar to the centre by c~ (ties: lower slot) are the
 * reference's when the largest kept c~ and the smallest pruned c~ are more
 * than 2 eps apart (every kept cosine is then below every pruned one).
 * Fill: a pruned row's source is the kept row of largest c~ when every other
 * kept row's c~ is more than 2 eps below it (no tie is then possible).
 * A window that fails any of these (or has more than VOX_QF_M rows) sends its
 * block to vox_qs_block, which rewrites the block's rows of fill_src, the
 * kept rows and the count. */

#define VOX_QF_M 8                             /* rows of the largest window the f32 path takes */
#define VOX_QF_NG (VOX_QF_M * (VOX_QF_M + 1) / 2) /* Gram entries a <= b */

/* Index of Gram entry (a, b), a <= b < VOX_QF_M. */
__device__ __forceinline__ constexpr int vox_qf_tri(int a, int b)
{
    return a * VOX_QF_M - a * (a - 1) / 2 + (b - a);
}

/* Transposed butterfly sum of g[0 .. 2S-1] over the warp: the step of offset
 * S keeps in g[0 .. S-1] the half of the values selected by the lane's bit S
 * (its partner's half added), then recurses; lane l ends with the sum over
 * the warp of g[l] in g[0]. */
template <int S, int N> __device__ __forceinline__ void vox_qf_butterfly(float (&g)[N])
{
    const bool up = threadIdx.x & S;
#pragma unroll
    for (int k = 0; k < S; k++) {
        const float send = up ? g[k] : g[k + S], keep = up ? g[k + S] : g[k];
        g[k] = keep + VOX_SHFL_XOR(send, S);
    }
    if constexpr (S > 1)
        vox_qf_butterfly<S / 2>(g);
}

/* gram[vox_qf_tri(a, b)] = the f32 Gram matrix of the m (<= VOX_QF_M) rows
 * from row0 (zero rows past m); one warp, gram: VOX_QF_NG floats of shared
 * memory. */
template <class DT> __device__ void vox_qf_gram(const typename DT::T *q, i64 row0, int m, i64 D, float *gram)
{
    constexpr int NA = VOX_WARP_SIZE > VOX_QF_NG ? VOX_WARP_SIZE : VOX_QF_NG;
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    float g[NA];
#pragma unroll
    for (int k = 0; k < NA; k++)
        g[k] = 0.f;
    /* unrolled so that the loads of several dims are in flight at once (the
     * sums keep their order) */
#pragma unroll 4
    for (i64 e = lane; e < D; e += VOX_WARP_SIZE) {
        float x[VOX_QF_M];
#pragma unroll
        for (int a = 0; a < VOX_QF_M; a++)
            x[a] = a < m ? DT::ld(q, (row0 + a) * D + e) : 0.f;
#pragma unroll
        for (int a = 0; a < VOX_QF_M; a++)
#pragma unroll
            for (int b = a; b < VOX_QF_M; b++)
                g[vox_qf_tri(a, b)] = fmaf(x[a], x[b], g[vox_qf_tri(a, b)]);
    }
    vox_qf_butterfly<VOX_WARP_SIZE / 2>(g);
    if (lane < VOX_QF_NG)
        gram[lane] = g[0];
#pragma unroll
    for (int k = VOX_WARP_SIZE; k < VOX_QF_NG; k++) { /* the entries past the warp size: plain sums */
        const float t = vox_warp_sum(g[k]);
        if (lane == 0)
            gram[k] = t;
    }
    VOX_SYNCWARP();
}

/* c~ of rows a and b of the window (gram: vox_qf_gram's). */
__device__ __forceinline__ double vox_qf_cos(const float *gram, int a, int b)
{
    const int ab = a < b ? vox_qf_tri(a, b) : vox_qf_tri(b, a);
    return (double)gram[ab] / sqrt((double)gram[vox_qf_tri(a, a)] * (double)gram[vox_qf_tri(b, b)]);
}

/* The f32 path for window w (one warp): writes kept[] (the block's, local
 * slots) and the pruned rows' fill_src, or returns false (possibly after
 * writing some) when the window cannot be certified. */
template <class DT>
__device__ bool vox_qf_window(const typename DT::T *q, const int *windows, int w, i64 base, i64 s0, i64 D,
                              unsigned char *kept, int *fill, float *gram)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    const int first = windows[4 * w], m = windows[4 * w + 1], cl = windows[4 * w + 2] - first;
    const int keep = windows[4 * w + 3];
    if (m > VOX_QF_M)
        return false;
    vox_qf_gram<DT>(q, base + first, m, D, gram);
    int bad = 0;
    for (int a = lane; a < m; a += VOX_WARP_SIZE) {
        const float n = gram[vox_qf_tri(a, a)];
        bad |= !(n >= 0x1p-40f && n <= 0x1p100f);
    }
    if (vox_warp_max(bad))
        return false;
    int n = 1, lg = 0;
    for (; n < VOX_WARP_SIZE; n <<= 1)
        lg++;
    n = (int)((D + VOX_WARP_SIZE - 1) / VOX_WARP_SIZE) + lg;
    const double gn = n * 0x1p-24 / (1.0 - n * 0x1p-24);
    const double eps = (2.1 * gn + 3.0 * (D + 64) * 0x1p-36 + (D + 8) * 0x1p-52 + 0x1p-48) * (1.0 + 0x1p-20);
    /* keep: the centre and the keep-1 least similar to it */
    const bool item = lane < m && lane != cl;
    const double c = item ? vox_qf_cos(gram, lane, cl) : 0.0;
    int rank = 0;
    for (int u = 0; u < m; u++) {
        const double cu = VOX_SHFL(c, u);
        rank += u != cl && u != lane && (cu < c || (cu == c && u < lane));
    }
    const bool k = lane == cl || (item && rank < keep - 1);
    /* certified when the kept and the pruned cosines are more than 2 eps apart
     * (or one side is empty) */
    const double lo = vox_warp_max(item && k ? c : -INFINITY), hi = -vox_warp_max(item && !k ? -c : -INFINITY);
    if (lo != -INFINITY && hi != INFINITY && !(hi - lo > 2.0 * eps))
        return false;
    /* fill: each pruned row's most similar kept row (km: the kept rows) */
    unsigned km = 0;
    for (int u = 0; u < m; u++)
        km |= (unsigned)(VOX_SHFL((int)k, u) != 0) << u;
    int src = -1, close = 0;
    if (lane < m && !k) {
        double best = -INFINITY;
        for (int u = 0; u < m; u++)
            if (km >> u & 1u) {
                const double cu = vox_qf_cos(gram, lane, u);
                if (cu > best)
                    best = cu, src = u;
            }
        for (int u = 0; u < m; u++)
            if ((km >> u & 1u) && u != src)
                close |= !(vox_qf_cos(gram, lane, u) < best - 2.0 * eps);
    }
    if (vox_warp_max(close))
        return false;
    if (lane < m) {
        kept[first - s0 + lane] = (unsigned char)k;
        if (!k)
            fill[base + first + lane] = first + src;
    }
    return true;
}

template <class DT>
__device__ void query_select(const typename DT::T *q, const int *win_ptr, const int *windows, const int *valid,
                             int *kept_count, int *kept_rows, int *fill, i64 BH, i64 NB, i64 NBv, i64 V, i64 D)
{
    __shared__ unsigned char kept[256];
    __shared__ float gram[VOX_QS_THREADS / VOX_WARP_SIZE][VOX_QF_NG];
    const int tid = threadIdx.x, warp = tid / VOX_WARP_SIZE, nw = VOX_QS_THREADS / VOX_WARP_SIZE;
    const bool in_smem = V * (D + 1) * 8 <= VOX_QS_SMEM;
    const i64 S = NB * V;
    for (i64 m = blockIdx.x; m < BH * NB; m += gridDim.x) {
        const i64 bh = m / NB, j = m - bh * NB, base = bh * S, s0 = j * V;
        for (i64 r = tid; r < V; r += VOX_QS_THREADS) {
            fill[base + s0 + r] = (int)(s0 + r);
            kept[r] = (unsigned char)(j >= NBv && r < valid[j]);
        }
        __syncthreads();
        int unsure = 0;
        if (j < NBv)
            for (int w = win_ptr[j] + warp; w < win_ptr[j + 1] && !unsure; w += nw) {
                unsure = !vox_qf_window<DT>(q, windows, w, base, s0, D, kept, fill, gram[warp]);
                VOX_SYNCWARP(); /* gram read before the next window rewrites it */
            }
        if (__syncthreads_or(unsure)) { /* the exact path rewrites the block */
            vox_qs_block<DT>(m, q, win_ptr, windows, valid, kept_count, kept_rows, fill, NB, NBv, V, D, in_smem);
            continue;
        }
        if (tid < VOX_WARP_SIZE)
            vox_qs_compact(kept, m, V, kept_count, kept_rows);
        __syncthreads(); /* before the next block rewrites kept */
    }
}

#define VOX_QUERY_SELECT_KERNEL(NAME, DT)                                                                 \
    VOX_KERNEL void __launch_bounds__(VOX_QS_THREADS)                                                     \
        vox_query_select_##NAME(vox_query_select_bufs b, vox_query_select_args a)                         \
    {                                                                                                     \
        query_select<DT>(vox_ptr<const DT::T>(b.q), vox_ptr<const int>(b.win_ptr),                        \
                         vox_ptr<const int>(b.windows), vox_ptr<const int>(b.valid),                      \
                         vox_ptr<int>(b.kept_count), vox_ptr<int>(b.kept_rows), vox_ptr<int>(b.fill_src), \
                         a.BH, a.NB, a.NBv, vox_i64(a.V), vox_i64(a.D));                                  \
    }
VOX_EACH_DTYPE(VOX_QUERY_SELECT_KERNEL)
