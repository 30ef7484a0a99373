/* kv_select (core/backend.h): per query row m = bh*NB + i, the KV blocks it
 * attends to (kv_count[m] of them, ascending, from kv_cols[kv_start[m]]),
 * from the f64 softmax of the scaled block-mean scores: cumulative mass
 * (tau), top-k or statistical (z) rule, plus the min_blocks top-up, the
 * diagonal and the global blocks; a NaN probability ranks last.
 * Launch: 256 threads per block, grid-stride over rows; dynamic shared
 * memory (or the global scratch) of per_block bytes. */

/* Block-wide exclusive prefix sum of one int per thread (part: blockDim.x
 * ints of shared memory); returns the sum over the threads before this one. */
__device__ __forceinline__ int vox_exclusive_scan(int v, int *part)
{
    const int tid = threadIdx.x, nt = blockDim.x;
    part[tid] = v;
    __syncthreads();
    if (tid == 0) {
        int a = 0;
        for (int t = 0; t < nt; t++) {
            int x = part[t];
            part[t] = a;
            a += x;
        }
    }
    __syncthreads();
    return part[tid];
}

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
    int r = vox_exclusive_scan(ties, part);
    for (i64 j = j0; j < j1 && r < rem; j++)
        if ((unsigned long long)__double_as_longlong(p[j]) == prefix)
            pick[j] = 1, r++;
    __syncthreads();
}

/* One block (256 threads) per row m = bh*NB + i (grid-stride). Scratch per
 * block (per_block bytes): keys double[P2], idx int[P2], pick uchar[NB], in
 * dynamic shared memory, or in `scratch` (global, per block) when it does not
 * fit (b.scratch = 0: shared memory). rule: 0 cumulative, 1 top-k, 2 stat. */
__device__ void kv_select(const float *qbar, const float *kbar, i64 BH, i64 NB, i64 NBv, i64 D, const int *start,
                          int *count, int *cols, unsigned char *scratch, i64 P2, i64 per_block,
                          const vox_kv_select_args &a)
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
        int *crow = cols + start[m];
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
                key[j] = acc * a.scale;
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
        double thr = mean + a.z * sqrt(var / (double)NBv);
        for (i64 j = tid; j < NB; j += nt)
            pick[j] = (unsigned char)(j >= NBv || j == i || (a.rule == 2 && key[j] >= thr));
        __syncthreads();
        for (i64 j = tid; j < P2; j += nt)
            key[j] = j < NBv ? exp(key[j] - mx) / zs : VOX_NAN_F64; /* padding sorts last */
        __syncthreads();
        /* top-k and the a.min_blocks top-up know n up front: a radix select picks
         * the same set without sorting. The cumulative a.rule (n comes from the
         * sorted prefix sums) and non-finite rows take the sort. */
        int n_known = a.rule == 1 ? (a.topk < NBv ? a.topk : (int)NBv) : 0;
        if (n_known < a.min_blocks)
            n_known = a.min_blocks < NBv ? a.min_blocks : (int)NBv;
        bool select = a.rule != 0 && zs == zs && zs < INFINITY && mx == mx && mx < INFINITY;
        if (select) {
            if (n_known >= NBv)
                for (i64 j = tid; j < NBv; j += nt)
                    pick[j] = 1;
            else if (n_known > 0)
                vox_pick_top_n(key, NBv, n_known, pick, part);
            __syncthreads();
        } else {
            /* bitonic sort: p descending, NaN after every number (a row
             * whose p are NaN keeps the index order), ties by lower index */
            for (i64 k = 2; k <= P2; k <<= 1)
                for (i64 jj = k >> 1; jj > 0; jj >>= 1) {
                    for (i64 t = tid; t < P2; t += nt) {
                        i64 u = t ^ jj;
                        if (u > t) {
                            double a = key[t], b = key[u];
                            int ia = idx[t], ib = idx[u];
                            bool an = a != a, bn = b != b; /* NaN after every number */
                            bool a_first = an != bn ? bn : an ? ia < ib : (a > b || (a == b && ia < ib));
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
                if (a.rule == 0) {
                    double before = 0;
                    for (i64 b0 = 0; b0 < NBv && before < a.tau; b0 += VOX_WARP_SIZE) {
                        i64 j = b0 + lane;
                        double p = j < NBv ? key[j] : 0.0, incl = p;
                        for (int o = 1; o < VOX_WARP_SIZE; o <<= 1) {
                            double w = VOX_SHFL_UP(incl, o);
                            if (lane >= o)
                                incl += w;
                        }
                        double excl = before + incl - p;
                        int adm = (j < NBv && excl < a.tau) ? 1 : 0;
                        n += vox_warp_sum(adm);
                        before += vox_warp_sum(p);
                    }
                } else if (a.rule == 1) {
                    n = a.topk < NBv ? a.topk : (int)NBv;
                }
                if (n < a.min_blocks)
                    n = a.min_blocks < NBv ? a.min_blocks : (int)NBv;
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
        int off = vox_exclusive_scan(c, part);
        if (tid == nt - 1)
            count[m] = off + c;
        c = off;
        for (i64 j = j0; j < j1; j++)
            if (pick[j])
                crow[c++] = (int)j;
        __syncthreads();
    }
}

VOX_KERNEL void vox_kv_select(VOX_PARAM vox_kv_select_bufs b, VOX_PARAM vox_kv_select_args a)
{
    kv_select(vox_ptr<const float>(b.qbar), vox_ptr<const float>(b.kbar), a.BH, a.NB, a.NBv, a.D,
              vox_ptr<const int>(b.kv_start), vox_ptr<int>(b.kv_count), vox_ptr<int>(b.kv_cols),
              vox_ptr<unsigned char>(b.scratch), a.p2, a.per_block, a);
}
