/* query_select (core/backend.h): per (bh, video block), keeps each
 * window's centre and its k-1 least similar queries (cosine to the centre; a
 * NaN cosine, from a query holding NaN or Inf, is the least similar), points
 * every pruned row at its most similar kept row with a comparable cosine,
 * else the window centre (fill_src), and compacts the kept rows. Launch: 128
 * threads, one block per (bh, block), grid-stride; V <= 256. */

template <class DT>
__device__ double vox_dot_rows(const typename DT::T *q, i64 a, i64 b, i64 D, int lane)
{
    double acc = 0;
    for (i64 e = lane; e < D; e += VOX_WARP_SIZE)
        acc += (double)DT::ld(q, a * D + e) * (double)DT::ld(q, b * D + e);
    return vox_warp_sum(acc);
}

/* cos from the dot and both squared norms, as the reference (core/backend.h):
 * NaN where a norm is NaN or Inf (a query holds a NaN or an Inf), else 0
 * where a norm is 0, else dot/sqrt(na*nb). x - x == 0 iff x is finite. */
__device__ __forceinline__ double vox_qs_cosine(double dot, double na, double nb)
{
    if (!(na - na == 0) || !(nb - nb == 0))
        return VOX_NAN_F64;
    return na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0.0;
}

/* One block per (bh, block j), grid-stride; V <= 256. */
template <class DT>
__device__ void query_select(const typename DT::T *q, const int *win_ptr, const int *windows, const int *valid,
                             int *kept_count, int *kept_rows, int *fill, i64 BH, i64 NB, i64 NBv, i64 V, i64 D)
{
    __shared__ double nrm[256], cc[256];
    __shared__ int win_of[256];
    __shared__ unsigned char kept[256];
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid % VOX_WARP_SIZE, warp = tid / VOX_WARP_SIZE;
    const int nw = nt / VOX_WARP_SIZE;
    i64 S = NB * V;
    for (i64 m = blockIdx.x; m < BH * NB; m += gridDim.x) {
        i64 bh = m / NB, j = m - bh * NB, base = bh * S, s0 = j * V;
        for (i64 r = tid; r < V; r += nt) {
            fill[base + s0 + r] = (int)(s0 + r);
            win_of[r] = -1;
            kept[r] = (unsigned char)(j >= NBv && r < valid[j]);
        }
        __syncthreads();
        if (j < NBv) {
            for (int w = win_ptr[j] + tid; w < win_ptr[j + 1]; w += nt)
                for (int t = windows[4 * w]; t < windows[4 * w] + windows[4 * w + 1]; t++)
                    win_of[t - s0] = w;
            __syncthreads();
            for (i64 r = warp; r < V; r += nw)
                if (win_of[r] >= 0) {
                    double n2 = vox_dot_rows<DT>(q, base + s0 + r, base + s0 + r, D, lane);
                    if (lane == 0)
                        nrm[r] = n2;
                }
            __syncthreads();
            for (i64 r = warp; r < V; r += nw) {
                int w = win_of[r];
                if (w < 0)
                    continue;
                i64 ce = windows[4 * w + 2];
                if (s0 + r == ce)
                    continue;
                double dt = vox_dot_rows<DT>(q, base + s0 + r, base + ce, D, lane);
                double na = nrm[r], nb = nrm[ce - s0];
                if (lane == 0)
                    cc[r] = vox_qs_cosine(dt, na, nb);
            }
            __syncthreads();
            for (i64 r = tid; r < V; r += nt) {
                int w = win_of[r];
                if (w < 0)
                    continue;
                int first = windows[4 * w], len = windows[4 * w + 1], ce = windows[4 * w + 2], keep = windows[4 * w + 3];
                i64 t = s0 + r;
                if (t == ce) {
                    kept[r] = 1;
                    continue;
                }
                int rank = 0;
                for (int u = first; u < first + len; u++) {
                    if (u == ce || u == t)
                        continue;
                    double cu = cc[u - s0], ct = cc[r];
                    bool un = cu != cu, tn = ct != ct; /* a NaN cosine is the least similar */
                    rank += un != tn ? un : un ? u < t : (cu < ct || (cu == ct && u < t));
                }
                kept[r] = (unsigned char)(rank < keep - 1);
            }
            __syncthreads();
            for (i64 r = warp; r < V; r += nw) {
                int w = win_of[r];
                if (w < 0 || kept[r])
                    continue;
                int first = windows[4 * w], len = windows[4 * w + 1], centre = windows[4 * w + 2];
                double best = -INFINITY;
                int src = -1; /* the most similar kept row with a comparable (non-NaN) cosine */
                for (int u = first; u < first + len; u++) {
                    if (!kept[u - s0])
                        continue;
                    double dt = vox_dot_rows<DT>(q, base + s0 + r, base + u, D, lane);
                    double na = nrm[r], nb = nrm[u - s0];
                    double c = vox_qs_cosine(dt, na, nb);
                    if (c == c && (src < 0 || c > best)) /* strict: ties keep the lower slot */
                        best = c, src = u;
                }
                if (lane == 0)
                    fill[base + s0 + r] = src >= 0 ? src : centre; /* none: the window centre */
            }
        }
        __syncthreads();
        if (tid == 0) {
            int c = 0;
            for (int r = 0; r < V; r++)
                if (kept[r])
                    kept_rows[m * V + c++] = r;
            kept_count[m] = c;
        }
        __syncthreads();
    }
}

#define VOX_QUERY_SELECT_KERNEL(NAME, DT)                                                                 \
    VOX_KERNEL void vox_query_select_##NAME(vox_query_select_bufs b, vox_query_select_args a)             \
    {                                                                                                     \
        query_select<DT>(vox_ptr<const DT::T>(b.q), vox_ptr<const int>(b.win_ptr),                        \
                         vox_ptr<const int>(b.windows), vox_ptr<const int>(b.valid),                      \
                         vox_ptr<int>(b.kept_count), vox_ptr<int>(b.kept_rows), vox_ptr<int>(b.fill_src), \
                         a.BH, a.NB, a.NBv, vox_i64(a.V), vox_i64(a.D));                                  \
    }
VOX_QUERY_SELECT_KERNEL(f32, vox_t_f32)
VOX_QUERY_SELECT_KERNEL(f16, vox_t_f16)
VOX_QUERY_SELECT_KERNEL(bf16, vox_t_bf16)
