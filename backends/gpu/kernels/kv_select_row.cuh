/* kv_select's exact per-row selection (phase 2 of vox_kv_select and of
 * vox_kv_select_rows, kv_select.cuh): one warp per row, the row's f64 scores
 * in shared memory (or a scratch slice). Its own file so that tools/kv_emu
 * (ks_row mode) runs it on the host against the CPU reference; included by
 * kv_select.cuh (device section) before its kernels, and by kv_select_fast.cuh's
 * users through it (vox_kf_count_before).
 *
 * VOX_KS_V_OLD (vox_kv_select_rows_old, VOXATTN_KV_SELECT_ROWS_OLD): session
 * 14's code; VOX_KS_V_BRK (vox_kv_select_brk, VOXATTN_KV_SELECT_ROWS_BREAK):
 * a deliberate break for the tests (each lane's last run of a radix pass is
 * not counted). The default (session 15) takes the same decisions with shorter
 * dependency chains: the ordered compaction's positions by ballots
 * (vox_kf_count_before) instead of two shuffle scans per 32 blocks, and each
 * radix pass (vox_ks_top_n, vox_ks_cum_fast) counts a lane's consecutive
 * blocks of one bin in registers (vox_ks_run) and adds them to the bin's
 * counters when the bin changes, instead of warp reductions (cum_fast's
 * one-bin batches: 4 max/sum reductions, ~25 dependent shuffles) or an atomic
 * per block: the bins' counts and integer mass sums are the same integers
 * (integer additions in any order; the limbs split differently, their
 * weighted sum, the only thing read, is the same), so E, T, rem and the lists
 * are bitwise the old ones. */

/* A warp's phase-2 work space. */
struct vox_ks_work {
    int hist[256];
    unsigned limb[4][256]; /* the cumulative rule's bin sums: see vox_ks_cum_fast */
    int bin, rem, cnt, pad;
    double before, sum;
};
static_assert(sizeof(vox_ks_work) == 5152, "gpu_kv_select sizes the warps' work space as 5152 B each");

__device__ __forceinline__ unsigned long long vox_ks_bits(double x)
{
    return (unsigned long long)__double_as_longlong(x);
}

/* Whether p holds in any lane of the warp (one ballot). */
__device__ __forceinline__ bool vox_ks_any(bool p)
{
#if VOX_GPU_HIP
    return __ballot(p) != 0ull;
#else
    return __ballot_sync(0xffffffffu, p) != 0u;
#endif
}

/* Exclusive prefix sum of v over the warp; *total: the warp's sum. */
__device__ __forceinline__ int vox_ks_scan(int v, int *total)
{
    const int incl = vox_warp_incl(v);
    *total = VOX_SHFL(incl, VOX_WARP_SIZE - 1);
    return incl - v;
}

/* Exclusive count of the lanes below this one whose p holds; *total: the
 * warp's count (a ballot: no shuffle chain). */
__device__ __forceinline__ int vox_kf_count_before(bool p, int *total)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE;
#if VOX_GPU_HIP
    const unsigned long long m = __ballot(p);
    *total = __popcll(m);
    return __popcll(m & ((1ull << lane) - 1ull));
#else
    const unsigned m = __ballot_sync(0xffffffffu, p);
    *total = __popc(m);
    return __popc(m & ((1u << lane) - 1u));
#endif
}

/* vox_ks_row's variants: the default, session 14's code, a deliberate break (tests) */
#define VOX_KS_V_NEW 0
#define VOX_KS_V_OLD 1
#define VOX_KS_V_BRK 2

/* A lane's run of blocks in one bin of a radix pass (its blocks j = lane + 32 t
 * in order): their count and the integer sum of their v, added to the bin's
 * counters (hist; with LIMBS the mass limbs) when the lane meets another bin,
 * and at the pass's end (vox_ks_run_flush). */
struct vox_ks_run {
    int bin, cnt;
    unsigned long long sum;
};
template <bool LIMBS> __device__ __forceinline__ void vox_ks_run_flush(vox_ks_work *w, const vox_ks_run &r)
{
    if (r.cnt == 0)
        return;
    atomicAdd(&w->hist[r.bin], r.cnt);
    if (LIMBS) /* the run's sum < 2^56 (the row's p sum to ~1): limbs 0-2 < 2^14 each, limb 3 the rest */
        for (int l = 0; l < 4; l++)
            atomicAdd(&w->limb[l][r.bin], (unsigned)(l < 3 ? (r.sum >> (14 * l)) & 0x3fffu : r.sum >> 42));
}
template <bool LIMBS>
__device__ __forceinline__ void vox_ks_run_add(vox_ks_work *w, vox_ks_run &r, int b, unsigned long long v)
{
    if (b != r.bin) {
        vox_ks_run_flush<LIMBS>(w, r);
        r.bin = b, r.cnt = 0, r.sum = 0;
    }
    r.cnt++, r.sum += v;
}


/* Radix select of the n (0 < n < NBv) largest keys (probability bits, which
 * order as the values for p >= 0) of a finite row: the n-th largest key
 * value is *T; the row takes every key > *T and the *rem lowest-index keys
 * == *T (INT_MAX: every one). 8 bits per pass from the top; stops as soon as
 * the bucket holding the n-th key is taken whole. */
template <int V>
__device__ void vox_ks_top_n(const double *srow, int NBv, int n, vox_ks_work *w, unsigned long long *T, int *rem_out)
{
    constexpr bool OLD = V == VOX_KS_V_OLD;
    constexpr int BPL = 256 / VOX_WARP_SIZE; /* bins per lane, descending */
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    unsigned long long prefix = 0, hmask = 0;
    int rem = n;
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int b = lane; b < 256; b += VOX_WARP_SIZE)
            w->hist[b] = 0;
        VOX_SYNCWARP();
        if (OLD) {
            for (int j = lane; j < NBv; j += VOX_WARP_SIZE) {
                unsigned long long u = vox_ks_bits(srow[j]) & VOX_KS_KEY;
                if ((u & hmask) == prefix)
                    atomicAdd(&w->hist[(int)((u >> shift) & 255u)], 1);
            }
        } else {
            vox_ks_run run = {-1, 0, 0ull};
            for (int j = lane; j < NBv; j += VOX_WARP_SIZE) {
                unsigned long long u = vox_ks_bits(srow[j]) & VOX_KS_KEY;
                if ((u & hmask) == prefix)
                    vox_ks_run_add<false>(w, run, (int)((u >> shift) & 255u), 0ull);
            }
            if (V != VOX_KS_V_BRK) /* the deliberate break: a lane's last run never counted */
                vox_ks_run_flush<false>(w, run);
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
 * estimate E of those prefix sums reaches tau; E and the reference's sums
 * both lie within (NBv + 256) * 2^-52 of the exact sums (values <= 1 + NBv
 * 2^-53), so when E(c-1) < tau - margin and E(c) >= tau + margin the
 * reference's count is c (its sums are non-decreasing). Returns -1 when that
 * cannot be shown (a sum within the margin of tau). The bins' sums are exact
 * integer sums of v = floor(p * 2^55) (each below p by < 2^-55), kept in four
 * 14-bit limbs of 32-bit counters (each < 2^32 while NBv < 2^18, else -1):
 * integer atomics in any order give the same sums, and a batch whose blocks
 * fall in one bin (most of them in the first passes) adds its warp sums once
 * instead of 32 same-address atomics; the rest of E is as many roundings as
 * before, each below 2^-53 of a value <= 1 + NBv 2^-53. With the count, *T
 * and *rem as vox_ks_top_n gives them for n = c (the low end of the bucket
 * the descent ends in, taken whole, or c - above of its equal keys). */
template <int V>
__device__ int vox_ks_cum_fast(const double *srow, int NBv, double tau, vox_ks_work *w, unsigned long long *T,
                               int *rem)
{
    constexpr bool OLD = V == VOX_KS_V_OLD;
    constexpr int BPL = 256 / VOX_WARP_SIZE;
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    const double margin = (2.0 * NBv + 512.0) * 0x1p-52;
    if (NBv >= (1 << 18))
        return -1;
    unsigned long long prefix = 0, hmask = 0;
    double before = 0; /* E of the blocks ranked above the current bucket */
    int above = 0, cnt = 0;
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int b = lane; b < 256; b += VOX_WARP_SIZE)
            w->hist[b] = 0, w->limb[0][b] = w->limb[1][b] = w->limb[2][b] = w->limb[3][b] = 0u;
        VOX_SYNCWARP();
        if (!OLD) { /* a lane's runs of one bin (vox_ks_run): no warp reduction, an atomic per run */
            vox_ks_run run = {-1, 0, 0ull};
            for (int j = lane; j < NBv; j += VOX_WARP_SIZE) {
                const unsigned long long u = vox_ks_bits(srow[j]) & VOX_KS_KEY;
                if ((u & hmask) == prefix)
                    vox_ks_run_add<true>(w, run, (int)((u >> shift) & 255u),
                                         __double2ull_rz(__longlong_as_double((long long)u) * 0x1p55));
            }
            if (V != VOX_KS_V_BRK)
                vox_ks_run_flush<true>(w, run);
        }
        for (int j0 = 0; OLD && j0 < NBv; j0 += VOX_WARP_SIZE) {
            const int j = j0 + lane;
            const unsigned long long u = j < NBv ? vox_ks_bits(srow[j]) & VOX_KS_KEY : 0ull;
            const bool in = j < NBv && (u & hmask) == prefix;
            if (!vox_ks_any(in))
                continue; /* no block of this batch is in the bucket (most batches after the first pass) */
            const int b = in ? (int)((u >> shift) & 255u) : -1;
            const unsigned long long v = in ? __double2ull_rz(__longlong_as_double((long long)u) * 0x1p55) : 0ull;
            const int hi = vox_warp_max(b), lo = -vox_warp_max(in ? -b : -256);
            if (hi == lo) { /* one bin: its count and sum added once */
                const int c = vox_warp_sum((int)in);
                const unsigned long long t = vox_warp_sum(v);
                if (lane == 0) {
                    atomicAdd(&w->hist[hi], c);
                    for (int l = 0; l < 4; l++)
                        atomicAdd(&w->limb[l][hi], (unsigned)(l < 3 ? (t >> (14 * l)) & 0x3fffu : t >> 42));
                }
            } else if (in) {
                atomicAdd(&w->hist[b], 1);
                for (int l = 0; l < 4; l++)
                    atomicAdd(&w->limb[l][b], (unsigned)(v >> (14 * l)) & 0x3fffu);
            }
        }
        VOX_SYNCWARP();
        int c[BPL], ct = 0;
        double s[BPL], st = 0;
#pragma unroll
        for (int q = 0; q < BPL; q++) {
            const int bq = 255 - BPL * lane - q;
            const unsigned long long t = (unsigned long long)w->limb[0][bq] +
                                         ((unsigned long long)w->limb[1][bq] << 14) +
                                         ((unsigned long long)w->limb[2][bq] << 28) +
                                         ((unsigned long long)w->limb[3][bq] << 42);
            c[q] = w->hist[bq], s[q] = (double)t * 0x1p-55;
            ct += c[q], st += s[q];
        }
        int call, cx = vox_ks_scan(ct, &call);
        const double si = vox_warp_incl(st);
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
        if (cnt == 1) { /* E(c) = before + (the block's p, within the bound) */
            *T = prefix, *rem = 0x7fffffff;
            return before < tau - margin && before + sb >= tau + margin ? above + 1 : -1;
        }
    }
    /* cnt blocks of the same p: the crossing is the t-th of them */
    double P = __longlong_as_double((long long)prefix);
    if (!(P > 0))
        return -1;
    double need = ceil((tau - before) / P);
    int t = need < 1.0 ? 1 : need > (double)cnt ? cnt : (int)need;
    double lo = before + (double)(t - 1) * P, hi = before + (double)t * P;
    *T = prefix, *rem = t;
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
template <int V>
__device__ void vox_ks_row(double *srow, int NB, int NBv, int i, int *crow, int *count, const vox_kv_select_args &a,
                           vox_ks_work *w)
{
    constexpr bool OLD = V == VOX_KS_V_OLD;
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    double mx = -INFINITY; /* NaN scores are skipped, as in the reference */
    for (int j = lane; j < NBv; j += VOX_WARP_SIZE)
        mx = srow[j] > mx ? srow[j] : mx;
    mx = vox_warp_max(mx);
    double zs = 0;
    auto ez = [&](int j) {
        double e = exp(srow[j] - mx);
        zs += e;
        if (a.rule != 2)
            srow[j] = e;
    };
    if (OLD) {
        for (int j = lane; j < NBv; j += VOX_WARP_SIZE)
            ez(j);
    } else { /* 4 exp chains in flight (the lane's sum still in j order) */
#pragma unroll 4
        for (int j = lane; j < NBv; j += VOX_WARP_SIZE)
            ez(j);
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
    int ns = 0; /* this lane's STAT picks */
    auto key = [&](int j) {
        double x = srow[j], p = a.rule == 2 ? exp(x - mx) / zs : x / zs;
        unsigned long long u = finite ? vox_ks_bits(p) : 0ull;
        if (a.rule == 2 && x >= thr)
            u |= 1ull << 63, ns++;
        srow[j] = __longlong_as_double((long long)u);
    };
    if (OLD) {
        for (int j = lane; j < NBv; j += VOX_WARP_SIZE)
            key(j);
    } else { /* 4 divisions in flight */
#pragma unroll 4
        for (int j = lane; j < NBv; j += VOX_WARP_SIZE)
            key(j);
    }
    VOX_SYNCWARP();
    int n = 0, nc = -1; /* nc: a count vox_ks_cum_fast certified, with its T and rem */
    unsigned long long T, Tc = 0;
    int rem, remc = 0;
    /* STAT over the cap: no threshold picks (bit 63 ignored), the first max_blocks of the order */
    const bool over = a.rule == 2 && vox_warp_sum(ns) > a.max_blocks;
    if (a.rule == 1)
        n = a.max_blocks < NBv ? a.max_blocks : NBv;
    else if (a.rule == 0 && 0.0 < a.tau) {
        if (!finite)
            n = 1; /* the first block's preceding sum is 0, the next one's NaN */
        else if ((nc = n = vox_ks_cum_fast<V>(srow, NBv, a.tau, w, &Tc, &remc)) < 0)
            n = vox_ks_cum_exact(srow, NBv, a.tau);
    } else if (over)
        n = a.max_blocks;
    n = n < a.max_blocks ? n : a.max_blocks; /* the cap (then n != nc: the top-n select below) */
    if (n < a.min_blocks)
        n = a.min_blocks < NBv ? a.min_blocks : NBv;
    if (n <= 0)
        T = ~0ull, rem = 0; /* none */
    else if (n >= NBv || !finite)
        T = 0, rem = n; /* the first n in index order (all keys 0 when not finite) */
    else if (n == nc)
        T = Tc, rem = remc; /* the descent's bucket: no second radix select */
    else
        vox_ks_top_n<V>(srow, NBv, n, w, &T, &rem);
    /* ordered compaction: own block, global blocks, STAT picks (unless over), top n */
    int base = 0, ties = 0;
    for (int j0 = 0; j0 < NB; j0 += VOX_WARP_SIZE) {
        int j = j0 + lane;
        bool video = j < NBv;
        unsigned long long u = video ? vox_ks_bits(srow[j]) : 0ull, key = u & VOX_KS_KEY;
        int tt, tr = ties + (OLD ? vox_ks_scan(video && key == T, &tt) : vox_kf_count_before(video && key == T, &tt));
        ties += tt;
        bool pick = j < NB && (!video || j == i || (!over && (u >> 63)) || key > T || (key == T && tr < rem));
        int pt, pos = base + (OLD ? vox_ks_scan(pick, &pt) : vox_kf_count_before(pick, &pt));
        base += pt;
        if (pick)
            crow[pos] = j;
    }
    if (lane == 0)
        *count = base;
}
