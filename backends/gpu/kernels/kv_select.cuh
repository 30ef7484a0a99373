/* kv_select (core/backend.h): per query row m = bh*NB + i, the KV blocks it
 * attends to (kv_count[m] of them, ascending, from kv_cols[kv_start[m]]),
 * from the f64 softmax of the scaled block-mean scores: cumulative mass
 * (tau), top-k or statistical (z) rule, plus the min_blocks top-up, the
 * diagonal and the global blocks; a NaN probability ranks last.
 *
 * One CTA of VOX_KS_THREADS threads per (bh, tile of VOX_KS_ROWS video query
 * rows), grid-stride. Phase 1, the block scores of the tile's rows against
 * every video key block (a register-tiled product: each thread holds
 * VOX_KS_ROWS x VOX_KS_KPT f64 accumulators, the rows' qbar in shared memory
 * as f64, its keys' kbar streamed from global memory): each score is the
 * reference's sequential f64 sum over e = 0..D-1 (the f32 x f32 products are
 * exact in f64, so fma == the reference's multiply-add), i.e. bitwise the
 * reference's s_j. Phase 2, one warp per row: max and softmax normaliser,
 * probabilities in place, the rule's count (cumulative: a radix descent with
 * a proven error margin, else an exact replay of the reference's sorted
 * sequential sum), a radix select of the n most probable blocks (ties by
 * index) and one ordered compaction. No serial scans, no per-row global
 * scratch; the scores live in dynamic shared memory (or, when one tile's
 * scores do not fit, in a per-CTA slice of b.scratch, a.per_block bytes).
 * Dynamic shared memory: a union (the rows' qbar in phase 1, the warps'
 * histograms in phase 2) of VOX_KS_UNION(D) bytes, then the scores. */

#define VOX_KS_THREADS 256
#define VOX_KS_ROWS 8                              /* query rows per CTA tile */
#define VOX_KS_KPT 4                               /* key blocks per thread per key tile */
#define VOX_KS_TILE (VOX_KS_THREADS * VOX_KS_KPT) /* key blocks per key tile */
#define VOX_KS_EC 8                                /* head dims per streamed chunk */
#define VOX_KS_KEY 0x7fffffffffffffffull           /* probability bits; bit 63 flags STAT */

/* A warp's phase-2 work space. */
struct vox_ks_work {
    int hist[256];
    double hsum[256];
    int bin, rem, cnt, pad;
    double before, sum;
};

/* Bytes of the phase-1/phase-2 union for nw warps (the host sizes it with
 * 8 warps, the most a 256-thread CTA has: gpu_kv_select). */
__device__ __forceinline__ i64 vox_ks_union(i64 D, i64 nw)
{
    i64 q = (i64)VOX_KS_ROWS * ((D + VOX_KS_EC - 1) / VOX_KS_EC * VOX_KS_EC) * 8;
    i64 w = nw * (i64)sizeof(vox_ks_work);
    return ((q > w ? q : w) + 15) / 16 * 16;
}

__device__ __forceinline__ unsigned long long vox_ks_bits(double x)
{
    return (unsigned long long)__double_as_longlong(x);
}

/* Exclusive prefix sum of v over the warp; *total: the warp's sum. */
__device__ __forceinline__ int vox_ks_scan(int v, int *total)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    int incl = v;
    for (int o = 1; o < VOX_WARP_SIZE; o <<= 1) {
        int t = VOX_SHFL_UP(incl, o);
        if (lane >= o)
            incl += t;
    }
    *total = VOX_SHFL(incl, VOX_WARP_SIZE - 1);
    return incl - v;
}

/* Phase 1: sc[r*NBv + j] = s_j of row i0 + r (r < nrows), j < NBv. */
__device__ void vox_ks_scores(const float *qbar, const float *kbar, i64 bh, i64 i0, int nrows, i64 NB, int NBv,
                              i64 D, double scale, double *qs, double *sc)
{
    const int tid = threadIdx.x;
    const i64 Dp = (D + VOX_KS_EC - 1) / VOX_KS_EC * VOX_KS_EC;
    for (i64 x = tid; x < VOX_KS_ROWS * Dp; x += VOX_KS_THREADS) {
        i64 r = x / Dp, e = x - r * Dp;
        qs[x] = r < nrows && e < D ? (double)qbar[(bh * NB + i0 + r) * D + e] : 0.0;
    }
    __syncthreads();
    const float *kb = kbar + bh * NB * D;
    for (int k0 = 0; k0 < NBv; k0 += VOX_KS_TILE) {
        const float *kp[VOX_KS_KPT];
        bool kv[VOX_KS_KPT];
#pragma unroll
        for (int kk = 0; kk < VOX_KS_KPT; kk++) {
            int key = k0 + tid + kk * VOX_KS_THREADS;
            kv[kk] = key < NBv;
            kp[kk] = kb + (i64)(kv[kk] ? key : 0) * D;
        }
        double acc[VOX_KS_ROWS][VOX_KS_KPT];
#pragma unroll
        for (int r = 0; r < VOX_KS_ROWS; r++)
#pragma unroll
            for (int kk = 0; kk < VOX_KS_KPT; kk++)
                acc[r][kk] = 0.0;
        float cur[VOX_KS_KPT][VOX_KS_EC], nxt[VOX_KS_KPT][VOX_KS_EC];
#pragma unroll
        for (int kk = 0; kk < VOX_KS_KPT; kk++)
#pragma unroll
            for (int e = 0; e < VOX_KS_EC; e++)
                cur[kk][e] = kv[kk] && e < D ? kp[kk][e] : 0.f;
        for (i64 e0 = 0; e0 < Dp; e0 += VOX_KS_EC) {
            /* the next chunk's loads are in flight while this one is used */
            const i64 e1 = e0 + VOX_KS_EC;
#pragma unroll
            for (int kk = 0; kk < VOX_KS_KPT; kk++)
#pragma unroll
                for (int e = 0; e < VOX_KS_EC; e++)
                    nxt[kk][e] = kv[kk] && e1 + e < D ? kp[kk][e1 + e] : 0.f;
#pragma unroll
            for (int e = 0; e < VOX_KS_EC; e += 2) {
                double ka[VOX_KS_KPT], kc[VOX_KS_KPT];
#pragma unroll
                for (int kk = 0; kk < VOX_KS_KPT; kk++)
                    ka[kk] = (double)cur[kk][e], kc[kk] = (double)cur[kk][e + 1];
#pragma unroll
                for (int r = 0; r < VOX_KS_ROWS; r++) {
                    double2 q = *(const double2 *)(qs + r * Dp + e0 + e);
                    /* dims e then e+1: the reference's order; padding dims add 0*0 */
#pragma unroll
                    for (int kk = 0; kk < VOX_KS_KPT; kk++)
                        acc[r][kk] = fma(q.y, kc[kk], fma(q.x, ka[kk], acc[r][kk]));
                }
            }
#pragma unroll
            for (int kk = 0; kk < VOX_KS_KPT; kk++)
#pragma unroll
                for (int e = 0; e < VOX_KS_EC; e++)
                    cur[kk][e] = nxt[kk][e];
        }
#pragma unroll
        for (int r = 0; r < VOX_KS_ROWS; r++)
#pragma unroll
            for (int kk = 0; kk < VOX_KS_KPT; kk++)
                if (r < nrows && kv[kk])
                    sc[(i64)r * NBv + k0 + tid + kk * VOX_KS_THREADS] = acc[r][kk] * scale;
    }
}

/* Radix select of the n (0 < n < NBv) largest keys (probability bits, which
 * order as the values for p >= 0) of a finite row: the n-th largest key
 * value is *T; the row takes every key > *T and the *rem lowest-index keys
 * == *T (INT_MAX: every one). 8 bits per pass from the top; stops as soon as
 * the bucket holding the n-th key is taken whole. */
__device__ void vox_ks_top_n(const double *srow, int NBv, int n, vox_ks_work *w, unsigned long long *T, int *rem_out)
{
    constexpr int BPL = 256 / VOX_WARP_SIZE; /* bins per lane, descending */
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    unsigned long long prefix = 0, hmask = 0;
    int rem = n;
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int b = lane; b < 256; b += VOX_WARP_SIZE)
            w->hist[b] = 0;
        VOX_SYNCWARP();
        for (int j = lane; j < NBv; j += VOX_WARP_SIZE) {
            unsigned long long u = vox_ks_bits(srow[j]) & VOX_KS_KEY;
            if ((u & hmask) == prefix)
                atomicAdd(&w->hist[(int)((u >> shift) & 255u)], 1);
        }
        VOX_SYNCWARP();
        int c[BPL], tot = 0;
#pragma unroll
        for (int q = 0; q < BPL; q++)
            c[q] = w->hist[255 - BPL * lane - q], tot += c[q];
        int all, acc = vox_ks_scan(tot, &all);
        if (acc < rem && rem <= acc + tot) {
            bool done = false;
#pragma unroll
            for (int q = 0; q < BPL; q++) {
                if (!done && acc + c[q] >= rem) {
                    w->bin = 255 - BPL * lane - q, w->rem = rem - acc, w->cnt = c[q];
                    done = true;
                }
                acc += c[q];
            }
        }
        VOX_SYNCWARP();
        int bin = w->bin, cnt = w->cnt;
        rem = w->rem;
        VOX_SYNCWARP(); /* read before the next pass rewrites them */
        prefix |= (unsigned long long)bin << shift;
        hmask |= 255ull << shift;
        if (cnt == rem) { /* the whole bucket goes in: every key >= its lowest value */
            *T = prefix, *rem_out = 0x7fffffff;
            return;
        }
    }
    *T = prefix, *rem_out = rem;
}

/* The cumulative rule's count for a finite row (0 < tau): the reference
 * admits, in (p desc, index) order, every block whose preceding sequential
 * sum is < tau. A radix descent finds c, the first position where an f64
 * estimate E of those prefix sums reaches tau; E (atomics, any order) and
 * the reference's sums both lie within (NBv + 256) * 2^-52 of the exact sums
 * (values <= 1 + NBv 2^-53), so when E(c-1) < tau - margin and E(c) >= tau +
 * margin the reference's count is c (its sums are non-decreasing). Returns
 * -1 when that cannot be shown (a sum within the margin of tau). */
__device__ int vox_ks_cum_fast(const double *srow, int NBv, double tau, vox_ks_work *w)
{
    constexpr int BPL = 256 / VOX_WARP_SIZE;
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    const double margin = (2.0 * NBv + 512.0) * 0x1p-52;
    unsigned long long prefix = 0, hmask = 0;
    double before = 0; /* E of the blocks ranked above the current bucket */
    int above = 0, cnt = 0;
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int b = lane; b < 256; b += VOX_WARP_SIZE)
            w->hist[b] = 0, w->hsum[b] = 0.0;
        VOX_SYNCWARP();
        for (int j = lane; j < NBv; j += VOX_WARP_SIZE) {
            unsigned long long u = vox_ks_bits(srow[j]) & VOX_KS_KEY;
            if ((u & hmask) == prefix) {
                int b = (int)((u >> shift) & 255u);
                atomicAdd(&w->hist[b], 1);
                atomicAdd(&w->hsum[b], __longlong_as_double((long long)u));
            }
        }
        VOX_SYNCWARP();
        int c[BPL], ct = 0;
        double s[BPL], st = 0;
#pragma unroll
        for (int q = 0; q < BPL; q++) {
            c[q] = w->hist[255 - BPL * lane - q], s[q] = w->hsum[255 - BPL * lane - q];
            ct += c[q], st += s[q];
        }
        int call, cx = vox_ks_scan(ct, &call);
        double si = st;
        for (int o = 1; o < VOX_WARP_SIZE; o <<= 1) {
            double t = VOX_SHFL_UP(si, o);
            if (lane >= o)
                si += t;
        }
        double sx = VOX_SHFL_UP(si, 1);
        double run = before + (lane ? sx : 0.0);
        int cab = above + cx, hit = 256;
        double hrun = 0, hs = 0;
        int hab = 0, hc = 0;
#pragma unroll
        for (int q = 0; q < BPL; q++) {
            if (hit == 256 && c[q] > 0 && run + s[q] >= tau)
                hit = BPL * lane + q, hrun = run, hab = cab, hc = c[q], hs = s[q];
            run += s[q], cab += c[q];
        }
        int first = hit;
        for (int o = VOX_WARP_SIZE / 2; o > 0; o >>= 1) {
            int t = VOX_SHFL_XOR(first, o);
            first = t < first ? t : first;
        }
        if (first == 256) { /* the bucket's mass does not reach tau */
            double total = VOX_SHFL(si, VOX_WARP_SIZE - 1);
            if (shift != 56)
                return -1; /* inconsistent roundings: decide exactly */
            return total < tau - margin ? NBv : -1;
        }
        if (hit == first)
            w->bin = 255 - first, w->cnt = hc, w->rem = hab, w->before = hrun, w->sum = hs;
        VOX_SYNCWARP();
        int bin = w->bin;
        cnt = w->cnt, above = w->rem, before = w->before;
        double sb = w->sum;
        VOX_SYNCWARP();
        prefix |= (unsigned long long)bin << shift;
        hmask |= 255ull << shift;
        if (cnt == 1) /* its sum is the block's p, exactly */
            return before < tau - margin && before + sb >= tau + margin ? above + 1 : -1;
    }
    /* cnt blocks of the same p: the crossing is the t-th of them */
    double P = __longlong_as_double((long long)prefix);
    if (!(P > 0))
        return -1;
    double need = ceil((tau - before) / P);
    int t = need < 1.0 ? 1 : need > (double)cnt ? cnt : (int)need;
    double lo = before + (double)(t - 1) * P, hi = before + (double)t * P;
    return lo < tau - margin && hi >= tau + margin ? above + t : -1;
}

/* The cumulative count exactly as the reference sums (sequentially, in
 * descending p, each block's p added while the sum is < tau): the distinct
 * values from the top, one pass over the row each. Rare: only rows with a
 * prefix sum within the margin of tau come here. */
__device__ int vox_ks_cum_exact(const double *srow, int NBv, double tau)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    unsigned long long prev = ~0ull;
    double before = 0;
    int c = 0;
    for (;;) {
        long long best = -1;
        for (int j = lane; j < NBv; j += VOX_WARP_SIZE) {
            unsigned long long u = vox_ks_bits(srow[j]) & VOX_KS_KEY;
            if (u < prev && (long long)u > best)
                best = (long long)u;
        }
        for (int o = VOX_WARP_SIZE / 2; o > 0; o >>= 1) {
            long long t = VOX_SHFL_XOR(best, o);
            best = t > best ? t : best;
        }
        if (best < 0)
            return c; /* every block admitted */
        int mult = 0;
        for (int j = lane; j < NBv; j += VOX_WARP_SIZE)
            mult += (long long)(vox_ks_bits(srow[j]) & VOX_KS_KEY) == best;
        mult = vox_warp_sum(mult);
        const double P = __longlong_as_double(best);
        for (int r = 0; r < mult; r++) {
            if (!(before < tau))
                return c;
            before += P, c++;
        }
        prev = (unsigned long long)best;
    }
}

/* Phase 2 for video row i (one warp): srow holds its NBv scores. */
__device__ void vox_ks_row(double *srow, int NB, int NBv, int i, int *crow, int *count, const vox_kv_select_args &a,
                           vox_ks_work *w)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    double mx = -INFINITY; /* NaN scores are skipped, as in the reference */
    for (int j = lane; j < NBv; j += VOX_WARP_SIZE)
        mx = srow[j] > mx ? srow[j] : mx;
    mx = vox_warp_max(mx);
    double zs = 0;
    for (int j = lane; j < NBv; j += VOX_WARP_SIZE) {
        double e = exp(srow[j] - mx);
        zs += e;
        if (a.rule != 2)
            srow[j] = e;
    }
    zs = vox_warp_sum(zs);
    /* zs finite: every s finite or -inf, mx finite, every p finite in [0, 1];
     * else every p is NaN and the order is the index order */
    const bool finite = zs == zs && zs < INFINITY;
    double thr = 0;
    if (a.rule == 2) {
        /* the reference's mean, variance and threshold, same operations in
         * the same order (uncontracted): s_j >= thr is decided exactly */
        if (lane == 0) {
            double mean = 0, var = 0;
            for (int j = 0; j < NBv; j++)
                mean = __dadd_rn(mean, srow[j]);
            mean = __ddiv_rn(mean, (double)NBv);
            for (int j = 0; j < NBv; j++) {
                double d = __dsub_rn(srow[j], mean);
                var = __dadd_rn(var, __dmul_rn(d, d));
            }
            thr = __dadd_rn(mean, __dmul_rn(a.z, __dsqrt_rn(__ddiv_rn(var, (double)NBv))));
        }
        thr = VOX_SHFL(thr, 0);
    }
    /* keys: the bits of p (0 for a non-finite row), bit 63 = STAT pick */
    for (int j = lane; j < NBv; j += VOX_WARP_SIZE) {
        double x = srow[j], p = a.rule == 2 ? exp(x - mx) / zs : x / zs;
        unsigned long long u = finite ? vox_ks_bits(p) : 0ull;
        if (a.rule == 2 && x >= thr)
            u |= 1ull << 63;
        srow[j] = __longlong_as_double((long long)u);
    }
    VOX_SYNCWARP();
    int n = 0;
    if (a.rule == 1)
        n = a.topk < NBv ? a.topk : NBv;
    else if (a.rule == 0 && 0.0 < a.tau) {
        if (!finite)
            n = 1; /* the first block's preceding sum is 0, the next one's NaN */
        else if ((n = vox_ks_cum_fast(srow, NBv, a.tau, w)) < 0)
            n = vox_ks_cum_exact(srow, NBv, a.tau);
    }
    if (n < a.min_blocks)
        n = a.min_blocks < NBv ? a.min_blocks : NBv;
    unsigned long long T;
    int rem;
    if (n <= 0)
        T = ~0ull, rem = 0; /* none */
    else if (n >= NBv || !finite)
        T = 0, rem = n; /* the first n in index order (all keys 0 when not finite) */
    else
        vox_ks_top_n(srow, NBv, n, w, &T, &rem);
    /* ordered compaction: own block, global blocks, STAT picks, top n */
    int base = 0, ties = 0;
    for (int j0 = 0; j0 < NB; j0 += VOX_WARP_SIZE) {
        int j = j0 + lane;
        bool video = j < NBv;
        unsigned long long u = video ? vox_ks_bits(srow[j]) : 0ull, key = u & VOX_KS_KEY;
        int tt, tr = ties + vox_ks_scan(video && key == T, &tt);
        ties += tt;
        bool pick = j < NB && (!video || j == i || (u >> 63) || key > T || (key == T && tr < rem));
        int pt, pos = base + vox_ks_scan(pick, &pt);
        base += pt;
        if (pick)
            crow[pos] = j;
    }
    if (lane == 0)
        *count = base;
}

VOX_KERNEL void __launch_bounds__(VOX_KS_THREADS, 1)
    vox_kv_select(VOX_PARAM vox_kv_select_bufs b, VOX_PARAM vox_kv_select_args a)
{
    const float *qbar = vox_ptr<const float>(b.qbar), *kbar = vox_ptr<const float>(b.kbar);
    const int *start = vox_ptr<const int>(b.kv_start);
    int *count = vox_ptr<int>(b.kv_count), *cols = vox_ptr<int>(b.kv_cols);
    const int NB = (int)a.NB, NBv = (int)a.NBv, tid = threadIdx.x;
    const int warp = tid / VOX_WARP_SIZE, nw = VOX_KS_THREADS / VOX_WARP_SIZE;
    const i64 tiles = NBv > 0 ? (NBv + VOX_KS_ROWS - 1) / VOX_KS_ROWS : 1;
    unsigned char *un = vox_dyn_smem;
    double *sc = b.scratch ? (double *)(vox_ptr<unsigned char>(b.scratch) + (i64)blockIdx.x * a.per_block)
                           : (double *)(vox_dyn_smem + vox_ks_union(a.D, nw));
    for (i64 t = blockIdx.x; t < a.BH * tiles; t += gridDim.x) {
        const i64 bh = t / tiles, i0 = (t - bh * tiles) * VOX_KS_ROWS;
        if (i0 == 0) /* the head's global query rows are dense */
            for (i64 x = tid; x < (i64)(NB - NBv) * NB; x += VOX_KS_THREADS) {
                i64 i = NBv + x / NB, j = x % NB, m = bh * NB + i;
                cols[start[m] + j] = (int)j;
                if (j == 0)
                    count[m] = NB;
            }
        const int nrows = NBv - i0 < VOX_KS_ROWS ? (int)(NBv - i0) : VOX_KS_ROWS;
        if (nrows > 0) {
            vox_ks_scores(qbar, kbar, bh, i0, nrows, NB, NBv, a.D, a.scale, (double *)un, sc);
            __syncthreads(); /* scores written, the union free for the warps */
            for (int r = warp; r < nrows; r += nw) {
                i64 m = bh * NB + i0 + r;
                vox_ks_row(sc + (i64)r * NBv, NB, NBv, (int)(i0 + r), cols + start[m], count + m, a,
                           (vox_ks_work *)un + warp);
            }
        }
        __syncthreads(); /* before the next tile rewrites the union and the scores */
    }
}
