/* Device code of the CUDA and HIP backends (one source, see vox_gpu_port.h).
 * Every op of core/backend.h; the host side is backends/cuda/gpu_host.h.
 * Indices that can exceed 2^31 (rows * head_dim) are 64-bit. */
#include "vox_gpu_port.h"

/* Dynamic shared memory of every kernel that sizes it at launch. */
extern __shared__ __align__(16) unsigned char vox_dyn_smem[];

/* ------------------------------------------------------------ permutations */

template <typename U> __device__ __forceinline__ U vox_zero();
template <> __device__ __forceinline__ u16 vox_zero<u16>() { return 0; }
template <> __device__ __forceinline__ unsigned vox_zero<unsigned>() { return 0u; }
template <> __device__ __forceinline__ uint4 vox_zero<uint4>() { return make_uint4(0, 0, 0, 0); }

/* blockDim (32, 8): threadIdx.y picks a row, x walks the row's units. */
template <typename U>
__device__ void permute_to(const U *src, U *dst, const int *slot_token, i64 heads, i64 BH, i64 S, i64 ru,
                           i64 sb, i64 sh, i64 st)
{
    i64 rows = BH * S;
    for (i64 row = (i64)blockIdx.x * blockDim.y + threadIdx.y; row < rows; row += (i64)gridDim.x * blockDim.y) {
        i64 bh = row / S, s = row - bh * S, b = bh / heads, h = bh - b * heads;
        int t = slot_token[s];
        U *o = dst + row * ru;
        if (t < 0) {
            for (i64 u = threadIdx.x; u < ru; u += blockDim.x)
                o[u] = vox_zero<U>();
        } else {
            const U *in = src + b * sb + h * sh + (i64)t * st;
            for (i64 u = threadIdx.x; u < ru; u += blockDim.x)
                o[u] = in[u];
        }
    }
}

template <typename U>
__device__ void permute_from(const U *src, const float *lse_src, U *dst, float *lse_dst, const int *token_slot,
                             const int *fill, i64 heads, i64 BH, i64 S, i64 N, i64 ru, i64 sb, i64 sh, i64 st,
                             i64 lsb, i64 lsh, i64 lst)
{
    i64 rows = BH * N;
    for (i64 row = (i64)blockIdx.x * blockDim.y + threadIdx.y; row < rows; row += (i64)gridDim.x * blockDim.y) {
        i64 bh = row / N, t = row - bh * N, b = bh / heads, h = bh - b * heads;
        i64 s = token_slot[t];
        i64 f = fill ? (i64)fill[bh * S + s] : s;
        const U *in = src + (bh * S + f) * ru;
        U *o = dst + b * sb + h * sh + t * st;
        for (i64 u = threadIdx.x; u < ru; u += blockDim.x)
            o[u] = in[u];
        if (lse_dst && lse_src && threadIdx.x == 0)
            lse_dst[b * lsb + h * lsh + t * lst] = lse_src[bh * S + f];
    }
}

#define VOX_PERMUTES(NAME, U)                                                                             \
    VOX_KERNEL void vox_permute_to_##NAME(const U *src, U *dst, const int *slot_token, i64 heads, i64 BH,  \
                                          i64 S, i64 ru, i64 sb, i64 sh, i64 st)                          \
    {                                                                                                     \
        permute_to<U>(src, dst, slot_token, heads, BH, S, ru, sb, sh, st);                                \
    }                                                                                                     \
    VOX_KERNEL void vox_permute_from_##NAME(const U *src, const float *lse_src, U *dst, float *lse_dst,   \
                                            const int *token_slot, const int *fill, i64 heads, i64 BH,    \
                                            i64 S, i64 N, i64 ru, i64 sb, i64 sh, i64 st, i64 lsb,        \
                                            i64 lsh, i64 lst)                                             \
    {                                                                                                     \
        permute_from<U>(src, lse_src, dst, lse_dst, token_slot, fill, heads, BH, S, N, ru, sb, sh, st,    \
                        lsb, lsh, lst);                                                                   \
    }
VOX_PERMUTES(b2, u16)
VOX_PERMUTES(b4, unsigned)
VOX_PERMUTES(b16, uint4)

/* ------------------------------------------------------------- block means */

template <class DT>
__device__ void block_means(const typename DT::T *x, const int *kc, const int *kr, const int *valid, float *out,
                            i64 BH, i64 NB, i64 V, i64 D)
{
    i64 S = NB * V;
    for (i64 m = blockIdx.x; m < BH * NB; m += gridDim.x) {
        i64 bh = m / NB, j = m - bh * NB;
        int n = kc ? kc[m] : valid[j];
        for (i64 e = threadIdx.x; e < D; e += blockDim.x) {
            double acc = 0;
            for (int r = 0; r < n; r++) {
                i64 slot = j * V + (kc ? kr[m * V + r] : r);
                acc += DT::ld(x, (bh * S + slot) * D + e);
            }
            out[m * D + e] = (float)(n ? acc / (double)n : 0.0);
        }
    }
}

/* ----------------------------------------------------- block-wide helpers */

#define VOX_MAX_WARPS 32
template <bool MAX> __device__ double block_reduce(double v, double *red)
{
    int lane = threadIdx.x % VOX_WARP_SIZE, w = threadIdx.x / VOX_WARP_SIZE;
    int nw = (blockDim.x + VOX_WARP_SIZE - 1) / VOX_WARP_SIZE;
    v = MAX ? vox_warp_max(v) : vox_warp_sum(v);
    __syncthreads();
    if (lane == 0)
        red[w] = v;
    __syncthreads();
    double r = red[0];
    for (int i = 1; i < nw; i++)
        r = MAX ? (red[i] > r ? red[i] : r) : r + red[i];
    return r;
}

/* --------------------------------------------------------------- kv select */

/* Picks the n (0 < n < NBv) largest of p[0..NBv) (finite, >= 0), ties to the
 * lower index, into pick[]: the same set as sorting (p desc, index asc) and
 * taking the first n, without the sort. Radix select over the bit patterns
 * (for non-negative doubles their integer order is their value order), 8 bits
 * per pass from the top: 8 passes of a 256-bin histogram, then the ties of the
 * n-th value are taken in index order. Block-wide; every thread calls it. */
__device__ void vox_pick_top_n(const double *p, i64 NBv, int n, unsigned char *pick, int *part)
{
    __shared__ int hist[256];
    __shared__ int sh_bin, sh_rem;
    constexpr int BPL = 256 / VOX_WARP_SIZE; /* bins per lane of warp 0 */
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid % VOX_WARP_SIZE;
    unsigned long long prefix = 0, hmask = 0;
    int rem = n;
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int b = tid; b < 256; b += nt)
            hist[b] = 0;
        __syncthreads();
        for (i64 j = tid; j < NBv; j += nt) {
            unsigned long long u = (unsigned long long)__double_as_longlong(p[j]);
            if ((u & hmask) == prefix)
                atomicAdd(&hist[(int)((u >> shift) & 255u)], 1);
        }
        __syncthreads();
        if (tid < VOX_WARP_SIZE) {
            /* lane l holds bins 255 - BPL*l - q (descending); the bin where the
             * count from the top reaches rem holds the n-th value */
            int c[BPL], tot = 0;
            for (int q = 0; q < BPL; q++)
                c[q] = hist[255 - BPL * lane - q], tot += c[q];
            int incl = tot;
            for (int o = 1; o < VOX_WARP_SIZE; o <<= 1) {
                int w = VOX_SHFL_UP(incl, o);
                if (lane >= o)
                    incl += w;
            }
            int acc = incl - tot;
            if (acc < rem && rem <= incl)
                for (int q = 0; q < BPL; q++) {
                    if (acc + c[q] >= rem) {
                        sh_bin = 255 - BPL * lane - q, sh_rem = rem - acc;
                        break;
                    }
                    acc += c[q];
                }
        }
        __syncthreads();
        prefix |= (unsigned long long)sh_bin << shift;
        hmask |= 255ull << shift;
        rem = sh_rem;
        __syncthreads(); /* sh_bin, sh_rem read before the next pass writes them */
    }
    /* prefix = bits of the n-th value; rem of its ties go in, lowest index first */
    i64 chunk = (NBv + nt - 1) / nt, j0 = tid * chunk, j1 = j0 + chunk < NBv ? j0 + chunk : NBv;
    int ties = 0;
    for (i64 j = j0; j < j1; j++) {
        unsigned long long u = (unsigned long long)__double_as_longlong(p[j]);
        if (u > prefix)
            pick[j] = 1;
        ties += u == prefix;
    }
    part[tid] = ties;
    __syncthreads();
    if (tid == 0) {
        int a = 0;
        for (int t = 0; t < nt; t++) {
            int v = part[t];
            part[t] = a;
            a += v;
        }
    }
    __syncthreads();
    int r = part[tid];
    for (i64 j = j0; j < j1 && r < rem; j++)
        if ((unsigned long long)__double_as_longlong(p[j]) == prefix)
            pick[j] = 1, r++;
    __syncthreads();
}

/* One block (256 threads) per row m = bh*NB + i (grid-stride). Scratch per
 * block: keys double[P2], idx int[P2], pick uchar[NB], in dynamic shared
 * memory, or in `scratch` (global, per block) when it does not fit. */
VOX_KERNEL void vox_kv_select(const float *qbar, const float *kbar, i64 BH, i64 NB, i64 NBv, i64 D, double scale,
                              int rule, double tau, int topk, double z, int min_blocks, int *count, int *cols,
                              unsigned char *scratch, i64 P2, i64 per_block)
{
    __shared__ double red[VOX_MAX_WARPS];
    __shared__ int sh_n;
    __shared__ int part[1024];
    unsigned char *base = scratch ? scratch + (i64)blockIdx.x * per_block : vox_dyn_smem;
    double *key = (double *)base;
    int *idx = (int *)(key + P2);
    unsigned char *pick = (unsigned char *)(idx + P2);
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid % VOX_WARP_SIZE, warp = tid / VOX_WARP_SIZE;
    const int nw = nt / VOX_WARP_SIZE;
    for (i64 m = blockIdx.x; m < BH * NB; m += gridDim.x) {
        i64 bh = m / NB, i = m - bh * NB;
        int *crow = cols + m * NB;
        if (i >= NBv) {
            for (i64 j = tid; j < NB; j += nt)
                crow[j] = (int)j;
            if (tid == 0)
                count[m] = (int)NB;
            continue;
        }
        const float *qa = qbar + m * D;
        for (i64 j = warp; j < NBv; j += nw) {
            const float *kb = kbar + (bh * NB + j) * D;
            double acc = 0;
            for (i64 e = lane; e < D; e += VOX_WARP_SIZE)
                acc += (double)qa[e] * (double)kb[e];
            acc = vox_warp_sum(acc);
            if (lane == 0)
                key[j] = acc * scale;
        }
        for (i64 j = tid; j < P2; j += nt)
            idx[j] = (int)j;
        __syncthreads();
        double mx = -INFINITY, sum = 0;
        for (i64 j = tid; j < NBv; j += nt) {
            mx = key[j] > mx ? key[j] : mx;
            sum += key[j];
        }
        mx = block_reduce<true>(mx, red);
        double mean = block_reduce<false>(sum, red) / (double)NBv;
        double zs = 0, var = 0;
        for (i64 j = tid; j < NBv; j += nt) {
            zs += exp(key[j] - mx);
            var += (key[j] - mean) * (key[j] - mean);
        }
        zs = block_reduce<false>(zs, red);
        var = block_reduce<false>(var, red);
        double thr = mean + z * sqrt(var / (double)NBv);
        for (i64 j = tid; j < NB; j += nt)
            pick[j] = (unsigned char)(j >= NBv || j == i || (rule == 2 && key[j] >= thr));
        __syncthreads();
        for (i64 j = tid; j < P2; j += nt)
            key[j] = j < NBv ? exp(key[j] - mx) / zs : -1.0;
        __syncthreads();
        /* top-k and the min_blocks top-up know n up front: a radix select picks
         * the same set without sorting. The cumulative rule (n comes from the
         * sorted prefix sums) and non-finite rows take the sort. */
        int n_known = rule == 1 ? (topk < NBv ? topk : (int)NBv) : 0;
        if (n_known < min_blocks)
            n_known = min_blocks < NBv ? min_blocks : (int)NBv;
        bool select = rule != 0 && zs == zs && zs < INFINITY && mx == mx && mx < INFINITY;
        if (select) {
            if (n_known >= NBv)
                for (i64 j = tid; j < NBv; j += nt)
                    pick[j] = 1;
            else if (n_known > 0)
                vox_pick_top_n(key, NBv, n_known, pick, part);
            __syncthreads();
        } else {
            /* bitonic sort: p descending, ties by lower index */
            for (i64 k = 2; k <= P2; k <<= 1)
                for (i64 jj = k >> 1; jj > 0; jj >>= 1) {
                    for (i64 t = tid; t < P2; t += nt) {
                        i64 u = t ^ jj;
                        if (u > t) {
                            double a = key[t], b = key[u];
                            int ia = idx[t], ib = idx[u];
                            bool a_first = a > b || (a == b && ia < ib);
                            bool up = (t & k) == 0;
                            if (up != a_first) {
                                key[t] = b, key[u] = a;
                                idx[t] = ib, idx[u] = ia;
                            }
                        }
                    }
                    __syncthreads();
                }
            if (warp == 0) {
                int n = 0;
                if (rule == 0) {
                    double before = 0;
                    for (i64 b0 = 0; b0 < NBv && before < tau; b0 += VOX_WARP_SIZE) {
                        i64 j = b0 + lane;
                        double p = j < NBv ? key[j] : 0.0, incl = p;
                        for (int o = 1; o < VOX_WARP_SIZE; o <<= 1) {
                            double w = VOX_SHFL_UP(incl, o);
                            if (lane >= o)
                                incl += w;
                        }
                        double excl = before + incl - p;
                        int adm = (j < NBv && excl < tau) ? 1 : 0;
                        n += vox_warp_sum(adm);
                        before += vox_warp_sum(p);
                    }
                } else if (rule == 1) {
                    n = topk < NBv ? topk : (int)NBv;
                }
                if (n < min_blocks)
                    n = min_blocks < NBv ? min_blocks : (int)NBv;
                if (lane == 0)
                    sh_n = n;
            }
            __syncthreads();
            for (int r = tid; r < sh_n; r += nt)
                pick[idx[r]] = 1;
            __syncthreads();
        }
        /* ordered compaction */
        i64 chunk = (NB + nt - 1) / nt, j0 = tid * chunk, j1 = j0 + chunk < NB ? j0 + chunk : NB;
        int c = 0;
        for (i64 j = j0; j < j1; j++)
            c += pick[j];
        part[tid] = c;
        __syncthreads();
        if (tid == 0) {
            int acc = 0;
            for (int t = 0; t < nt; t++) {
                int v = part[t];
                part[t] = acc;
                acc += v;
            }
            count[m] = acc;
        }
        __syncthreads();
        c = part[tid];
        for (i64 j = j0; j < j1; j++)
            if (pick[j])
                crow[c++] = (int)j;
        __syncthreads();
    }
}

/* ---------------------------------------------------- classification rows */

#define VOX_SR_THREADS 256
#define VOX_SR_NW (VOX_SR_THREADS / VOX_WARP_SIZE)
#define VOX_SR_C (256 / VOX_WARP_SIZE)

__device__ __forceinline__ int vox_allows(const int *coord, i64 ib, i64 jb, int temporal, int fb, int sb, int sink)
{
    const int *ci = coord + 3 * ib, *cj = coord + 3 * jb;
    if (cj[0] < 0 || ci[0] < 0)
        return 1;
    if (sink && cj[0] == 0)
        return 1;
    if (!temporal)
        return abs(cj[0] - ci[0]) <= fb;
    return abs(cj[1] - ci[1]) <= sb && abs(cj[2] - ci[2]) <= sb;
}

/* One block per (bh, r); each warp streams whole key blocks with an online
 * softmax for the three masks; warps are merged at the end. */
template <class DT>
__device__ void sample_rows(const typename DT::T *q, const typename DT::T *k, const typename DT::T *v,
                            const int *rows, i64 R, const int *coord, const int *valid, i64 NB, i64 V, i64 D,
                            int fb, int sb, int sink, float scale, float *out, i64 BH)
{
    __shared__ float sm_m[VOX_SR_NW][3], sm_z[VOX_SR_NW][3];
    __shared__ float sm_acc[VOX_SR_NW][3][256];
    __shared__ double red[VOX_MAX_WARPS];
    const int tid = threadIdx.x, lane = tid % VOX_WARP_SIZE, warp = tid / VOX_WARP_SIZE;
    i64 S = NB * V;
    for (i64 pr = blockIdx.x; pr < BH * R; pr += gridDim.x) {
        i64 bh = pr / R, r = pr - bh * R;
        i64 qs = rows[r], ib = qs / V;
        float qv[VOX_SR_C], acc[3][VOX_SR_C], mm[3], zz[3];
#pragma unroll
        for (int c = 0; c < VOX_SR_C; c++) {
            i64 e = lane + (i64)c * VOX_WARP_SIZE;
            qv[c] = e < D ? DT::ld(q, (bh * S + qs) * D + e) : 0.f;
            acc[0][c] = acc[1][c] = acc[2][c] = 0.f;
        }
        for (int w = 0; w < 3; w++)
            mm[w] = -VOX_INF, zz[w] = 0.f;
        for (i64 jb = warp; jb < NB; jb += VOX_SR_NW) {
            int al[3] = {1, vox_allows(coord, ib, jb, 0, fb, sb, sink), vox_allows(coord, ib, jb, 1, fb, sb, sink)};
            for (int t = 0; t < valid[jb]; t++) {
                i64 row = (bh * S + jb * V + t) * D;
                float d = 0.f, vv[VOX_SR_C];
#pragma unroll
                for (int c = 0; c < VOX_SR_C; c++) {
                    i64 e = lane + (i64)c * VOX_WARP_SIZE;
                    d += e < D ? qv[c] * DT::ld(k, row + e) : 0.f;
                    vv[c] = e < D ? DT::ld(v, row + e) : 0.f;
                }
                d = vox_warp_sum(d) * scale;
#pragma unroll
                for (int w = 0; w < 3; w++) {
                    if (!al[w])
                        continue;
                    if (d > mm[w]) {
                        float a = VOX_EXPF(mm[w] - d);
                        zz[w] *= a;
#pragma unroll
                        for (int c = 0; c < VOX_SR_C; c++)
                            acc[w][c] *= a;
                        mm[w] = d;
                    }
                    float p = VOX_EXPF(d - mm[w]);
                    zz[w] += p;
#pragma unroll
                    for (int c = 0; c < VOX_SR_C; c++)
                        acc[w][c] += p * vv[c];
                }
            }
        }
        __syncthreads();
        if (lane == 0)
            for (int w = 0; w < 3; w++)
                sm_m[warp][w] = mm[w], sm_z[warp][w] = zz[w];
#pragma unroll
        for (int c = 0; c < VOX_SR_C; c++) {
            i64 e = lane + (i64)c * VOX_WARP_SIZE;
            if (e < D)
                for (int w = 0; w < 3; w++)
                    sm_acc[warp][w][e] = acc[w][c];
        }
        __syncthreads();
        double es = 0, et = 0, nd = 0;
        for (i64 e = tid; e < D; e += blockDim.x) {
            double o[3];
            for (int w = 0; w < 3; w++) {
                float M = -VOX_INF;
                for (int x = 0; x < VOX_SR_NW; x++)
                    M = sm_m[x][w] > M ? sm_m[x][w] : M;
                double Z = 0, A = 0;
                for (int x = 0; x < VOX_SR_NW; x++) {
                    if (sm_z[x][w] == 0.f)
                        continue;
                    double f = exp((double)sm_m[x][w] - (double)M);
                    Z += f * sm_z[x][w];
                    A += f * sm_acc[x][w][e];
                }
                o[w] = (Z > 0 || Z != Z) ? A / Z : 0.0; /* NaN scores propagate */
            }
            es += (o[1] - o[0]) * (o[1] - o[0]);
            et += (o[2] - o[0]) * (o[2] - o[0]);
            nd += o[0] * o[0];
        }
        es = block_reduce<false>(es, red);
        et = block_reduce<false>(et, red);
        nd = block_reduce<false>(nd, red);
        if (tid == 0) {
            float *res = out + pr * 3;
            res[0] = (float)es, res[1] = (float)et, res[2] = (float)nd;
        }
        __syncthreads();
    }
}

/* ---------------------------------------------------------- query select */

template <class DT>
__device__ double vox_dot_rows(const typename DT::T *q, i64 a, i64 b, i64 D, int lane)
{
    double acc = 0;
    for (i64 e = lane; e < D; e += VOX_WARP_SIZE)
        acc += (double)DT::ld(q, a * D + e) * (double)DT::ld(q, b * D + e);
    return vox_warp_sum(acc);
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
                    cc[r] = na > 0 && nb > 0 ? dt / sqrt(na * nb) : 0.0;
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
                    rank += cu < ct || (cu == ct && u < t);
                }
                kept[r] = (unsigned char)(rank < keep - 1);
            }
            __syncthreads();
            for (i64 r = warp; r < V; r += nw) {
                int w = win_of[r];
                if (w < 0 || kept[r])
                    continue;
                int first = windows[4 * w], len = windows[4 * w + 1];
                double best = -INFINITY;
                int src = -1;
                for (int u = first; u < first + len; u++) {
                    if (!kept[u - s0])
                        continue;
                    double dt = vox_dot_rows<DT>(q, base + s0 + r, base + u, D, lane);
                    double na = nrm[r], nb = nrm[u - s0];
                    double c = na > 0 && nb > 0 ? dt / sqrt(na * nb) : 0.0;
                    if (c > best)
                        best = c, src = u;
                }
                if (lane == 0)
                    fill[base + s0 + r] = src;
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

/* ------------------------------------------------- attention (scalar path) */

/* Portable tiled kernel for every dtype (the f32 path: true fp32 FMA).
 * A block of 128 threads takes 16 rows of one query block; 8 threads per row.
 * Keys stream in tiles of KT from the row's column list. Dynamic shared
 * memory: sQ[16][D], sK[KT][D+1], sV[KT][D], sP[16][KT] floats. */
template <class DT, int KT>
__device__ void attn_scalar(const typename DT::T *q, const typename DT::T *k, const typename DT::T *v,
                            typename DT::T *o, float *lse, const int *kv_start, const int *kv_count,
                            const int *kv_cols, const int *kc, const int *kr, const int *valid, i64 NB, i64 V,
                            i64 D, float scale, int tiles)
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

#define VOX_TYPED(NAME, DT)                                                                                \
    VOX_KERNEL void vox_block_means_##NAME(const DT::T *x, const int *kc, const int *kr, const int *valid, \
                                           float *out, i64 BH, i64 NB, i64 V, i64 D)                       \
    {                                                                                                      \
        block_means<DT>(x, kc, kr, valid, out, BH, NB, V, D);                                              \
    }                                                                                                      \
    VOX_KERNEL void __launch_bounds__(VOX_SR_THREADS)                                                      \
        vox_sample_rows_##NAME(const DT::T *q, const DT::T *k, const DT::T *v, const int *rows, i64 R,     \
                               const int *coord, const int *valid, i64 NB, i64 V, i64 D, int fb, int sb,   \
                               int sink, float scale, float *out, i64 BH)                                  \
    {                                                                                                      \
        sample_rows<DT>(q, k, v, rows, R, coord, valid, NB, V, D, fb, sb, sink, scale, out, BH);           \
    }                                                                                                      \
    VOX_KERNEL void vox_query_select_##NAME(const DT::T *q, const int *win_ptr, const int *windows,        \
                                            const int *valid, int *kept_count, int *kept_rows, int *fill,  \
                                            i64 BH, i64 NB, i64 NBv, i64 V, i64 D)                         \
    {                                                                                                      \
        query_select<DT>(q, win_ptr, windows, valid, kept_count, kept_rows, fill, BH, NB, NBv, V, D);      \
    }                                                                                                      \
    VOX_KERNEL void __launch_bounds__(128)                                                                 \
        vox_attn_scalar_##NAME##_k32(const DT::T *q, const DT::T *k, const DT::T *v, DT::T *o, float *lse, \
                                     const int *kv_start, const int *kv_count, const int *kv_cols,         \
                                     const int *kc, const int *kr, const int *valid, i64 NB, i64 V, i64 D, \
                                     float scale, int tiles)                                               \
    {                                                                                                      \
        attn_scalar<DT, 32>(q, k, v, o, lse, kv_start, kv_count, kv_cols, kc, kr, valid, NB, V, D, scale,  \
                            tiles);                                                                        \
    }                                                                                                      \
    VOX_KERNEL void __launch_bounds__(128)                                                                 \
        vox_attn_scalar_##NAME##_k16(const DT::T *q, const DT::T *k, const DT::T *v, DT::T *o, float *lse, \
                                     const int *kv_start, const int *kv_count, const int *kv_cols,         \
                                     const int *kc, const int *kr, const int *valid, i64 NB, i64 V, i64 D, \
                                     float scale, int tiles)                                               \
    {                                                                                                      \
        attn_scalar<DT, 16>(q, k, v, o, lse, kv_start, kv_count, kv_cols, kc, kr, valid, NB, V, D, scale,  \
                            tiles);                                                                        \
    }
VOX_TYPED(f32, vox_t_f32)
VOX_TYPED(f16, vox_t_f16)
VOX_TYPED(bf16, vox_t_bf16)

/* --------------------------------------- attention (tensor cores, sm_80+) */

#include "vox_mma.cuh"
