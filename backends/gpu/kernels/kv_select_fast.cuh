/* kv_select's fast path (CUMULATIVE and TOPK rules; kv_select.cuh keeps the
 * exact f64 path, which STAT rows and every row this path cannot certify
 * take). vox_kv_select_fast: one CTA of VOX_KF_THREADS threads per (bh, tile
 * of VOX_KF_ROWS video query rows), grid-stride, two CTAs per multiprocessor
 * (one CTA's phase 2 overlaps the other's phase 1). Where the module has
 * tensor cores, vox_kv_select_fast_mma (kv_select_mma.cuh) takes its place:
 * a phase 1 over 64-row tiles with its own bound (vox_kf_bound), then the
 * same phase 2 (vox_kf_row).
 *
 * Phase 1: a_j, the f32 dot products of the tile's qbar rows with every video
 * kbar row (keys from kt as in kv_select.cuh, 4 keys x 8 rows per thread;
 * each chunk of L = VOX_KF_CHUNK dims summed by sequential fmaf from 0, the C
 * = ceil(D / L) chunk sums added in order), and the f32 sums of squares of
 * the keys (their largest bounds every key's norm). Phase 2, one warp per row,
 * its sweeps over the row reading 4 consecutive values per lane (one 16-byte
 * load; compactions keep index order by ballots per slot):
 *
 * The bound. Let A >= sqrt(sum q^2) * max_j sqrt(sum k_j^2) (f64 sum of q^2,
 * the keys' f32 sums of squares nk2 divided by 1 - gamma_D: Cauchy-Schwarz
 * bounds every sum_e |q_e k_e| by A). With u = 2^-24, gamma_n = n u / (1 - n u):
 *   |a_j - dot_j| <= (gamma_L + gamma_C (1 + gamma_L)) A + 2 D 2^-125 (1 + |q| + |k|) =: err
 * (IEEE fmaf; the absolute term covers underflow, flushed or not),
 * and the reference's s_j = fl(acc_j * scale), acc_j its f64 sequential sum:
 *   |s_j - scale dot_j| <= scale D 2^-53 1.01 A + 2^-53 |s_j|.
 * w_j = expf(fl(fl(a_j - amax) * scale_f)) (<= 1; amax = max a) then obeys
 *   |ln w_j - (s_j - c0)| <= E',  c0 = scale amax the same for every j,
 *   E' = scale (err + D 2^-53 1.01 A) + (2^-52 + 2^-21) Bs + 2^-100 + 2^-20
 * with Bs = scale (A + err) >= |s_j|: the three f32 roundings of the
 * exponent (<= 3.01 u of 2 Bs), expf's error (<= 2 ulp: 2^-20 in the log).
 * The reference orders by p_j = fl(fl(exp(fl(s_j - mx))) / z); two blocks
 * with s_i - s_j > delta = 2^-47 + 2^-49 Bs have p_i > p_j strictly when p_i
 * is normal (the roundings of s - mx, exp (<= 1 ulp) and the division move
 * ln p by < 2^-49 + 2^-51 Bs). So with G >= exp(2 E' + delta) (as f32,
 * rounded up, and with the f32 product's rounding absorbed):
 *   w_i > w_j G  =>  block i ranks before block j in the reference's order.
 *
 * TOPK (and the min_blocks top-up): n blocks. T: the n-th largest w (or the
 * low end of a radix bucket taken whole: #{w >= T} = n, #{w > T} <= n), with
 * T >= 2^-90 (so every block involved has a normal p; else exact path).
 * Block j is certainly in when w_j > T G (at most n blocks can rank before
 * it, itself included), certainly out when w_j G < T (n blocks rank before
 * it); the rest, the band (at most VOX_KF_BAND blocks, else exact path), is
 * re-scored exactly (the f64 sequential sum: bitwise the reference's s_j) and
 * the r = n - #in best of it, by (s desc, index asc), are taken. That is the
 * reference's choice when no band block's s lies within delta of the weakest
 * taken s* without being equal to it (equal s: equal p, index order; gaps >
 * delta: strict p order); else the exact path.
 *
 * CUMULATIVE: the count c. A radix descent over the bits of w with per-bin
 * counts and fixed-point masses (floor(w 2^36) summed in integers: exact,
 * whatever the order) finds the c where the running mass of the largest w
 * first reaches tau * (the total mass). With P~ = (sum of the c largest w) /
 * sum(w) (bounded from the masses, each below its w 2^36 by less than 1, and
 * f64 divisions: relative error <= mu = (2 NBv + 600) 2^-52 on top), the exact
 * mass of the c most probable blocks P_c lies in [P~/(P~ + e^{2E'}(1-P~)),
 * P~/(P~ + e^{-2E'}(1-P~))] (every w_j within e^{+-E'} of e^{s_j - c0}: the
 * top-c sum and the rest scale by at most that), and the reference's
 * sequential sums lie within m = (2 NBv + 512) 2^-52 of the exact ones (see
 * vox_ks_cum_fast; m also takes NBv 2^-120 for the w below f32's normal
 * range, whose relative error is not bounded, and f64 slack). The count is c when P_{c-1}'s upper bound + m < tau and
 * P_c's lower bound - m >= tau; else the exact path. The descent ends in a
 * bucket whose low end is a T for n = c as TOPK's (no second radix select);
 * the band and the compaction are TOPK's. With the cap (a.max_blocks < c)
 * or the min_blocks top-up n != c blocks: T by TOPK's radix select for n.
 *
 * Non-finite qbar/kbar, D > 4096 (the f64 sum of q^2 within 2^-40), a bound
 * past 2^100, a scale not in [2^-100, inf) (scale_f normal) or a G > 1.5:
 * exact path. A row that
 * is not certified writes no count (its list may hold entries of the band
 * sweep's speculative list, within the row's room) and is listed in the
 * scratch (vox_ks_list);
 * vox_kv_select_rows (kv_select.cuh) then runs the exact path on the listed
 * rows. Dynamic shared memory: a union (the rows' qbar in phase 1, the warps'
 * vox_kf_work in phase 2) of vox_kf_union() bytes, then the tile's
 * VOX_KF_ROWS x S f32 values (S: NBv rounded up to 4), or, when they do not fit, those in a
 * per-CTA slice of b.scratch after the list (a.per_block bytes). */

#define VOX_KF_THREADS 256
#define VOX_KF_BAND 64  /* band blocks re-scored exactly per row, at most */
#define VOX_KF_CHUNK 16 /* dims summed apart before joining a score's running sum (a multiple of VOX_KS_EC) */
/* VOX_KF_ROWS (kv_select.cuh, shared with the launcher): query rows per CTA
 * tile, one per warp in phase 2, each thread's rows in phase 1.
 * CTAs per multiprocessor: 8-row tiles take ~98 KB of shared memory at NBv
 * 2160 and 128 registers, so two fit (a tile of 16 rows needs one: twice the
 * values). The keys are read from L2 once per tile: halving the tile doubles
 * that traffic. */
#define VOX_KF_MIN_BLOCKS (VOX_KF_ROWS <= 8 ? 2 : 1)

/* A warp's phase-2 work space. */
struct vox_kf_work {
    unsigned msum[2][256];  /* the cumulative descent's bin masses: vox_kf_mass_add */
    int hist[256];          /* bin counts */
    double bs[VOX_KF_BAND]; /* the band's exact scores */
    int bj[VOX_KF_BAND];    /* the band's blocks */
    double before, sum;
    int bin, cnt, rem, pad;
};
static_assert(sizeof(vox_kf_work) == 3872, "gpu_kv_select sizes the fast path's warp work space as 3872 B each");

/* The cumulative rule's bin masses in fixed point: w (in [0, 1]) adds
 * floor(w 2^36) to its bin, as two 18-bit limbs of 32-bit counters (each
 * below 2^32 while NBv < 2^14; vox_kf_cum checks). Integer atomics give the
 * same sums in any order, so the bins of a later radix pass add up exactly to
 * the bucket they split, and every sum of masses (< NBv 2^36 + NBv < 2^50) is
 * exact in f64. */
/* a weight's fixed-point mass, floor(w 2^36): every mass of the fast path (bins, crossings) */
__device__ __forceinline__ unsigned long long vox_kf_mass_of(float x)
{
    return __float2ull_rz(x * 0x1p36f);
}
__device__ __forceinline__ void vox_kf_mass_add(vox_kf_work *w, int b, float x)
{
    const unsigned long long v = vox_kf_mass_of(x);
    atomicAdd(&w->msum[0][b], (unsigned)(v & 0x3ffffu));
    atomicAdd(&w->msum[1][b], (unsigned)(v >> 18));
}
__device__ __forceinline__ double vox_kf_mass(const vox_kf_work *w, int b)
{
    return (double)w->msum[0][b] + (double)w->msum[1][b] * 0x1p18;
}

/* Bytes of the phase-1/phase-2 union for nw warps (the host sizes it with 8
 * warps, the most a 256-thread CTA has: gpu_kv_select). */
__device__ __forceinline__ i64 vox_kf_union(i64 D, i64 nw)
{
    i64 q = (i64)VOX_KF_ROWS * ((D + VOX_KS_EC - 1) / VOX_KS_EC * VOX_KS_EC) * 4;
    i64 w = nw * (i64)sizeof(vox_kf_work);
    return ((q > w ? q : w) + 15) / 16 * 16;
}

/* Tiles of VOX_KF_ROWS video query rows (at least one per head; the list
 * of kv_select.cuh has room for every video row whatever the tiling). */
__device__ __forceinline__ i64 vox_kf_tiles(const vox_kv_select_args &a)
{
    return a.NBv > 0 ? (a.NBv + VOX_KF_ROWS - 1) / VOX_KF_ROWS : 1;
}

/* Phase 1: sc[r*S + j] = a_j of row i0 + r (r < nrows), j < S (the keys
 * past NBv are kt's zero padding; S = vox_ks_stride(NBv), so that each
 * thread's 4 keys are one aligned float4). qs: VOX_KF_ROWS x Dp f32 of shared
 * memory, [e][r], zero past D (fmaf(0, 0, x) = x: no rounding). Each chunk of
 * VOX_KF_CHUNK dims is summed in registers from 0 (sequential fmaf) and then
 * added to the row's running sum in sc: the error bound of the top of this
 * file with gamma_L + gamma_C (1 + gamma_L) (L = VOX_KF_CHUNK, C chunks) in
 * place of gamma_D. Returns the largest f32 sum of squares of the head's
 * video keys (every thread), *bad when one is not finite. */
__device__ float vox_kf_scores(const float *qbar, const float *kt, i64 bh, i64 i0, int nrows, i64 NB, int NBv, i64 D,
                               float *qs, float *sc, double *red, int *bad)
{
    const int tid = threadIdx.x;
    const i64 Dp = (D + VOX_KS_EC - 1) / VOX_KS_EC * VOX_KS_EC, S = vox_ks_stride(NBv), S4 = S / 4;
    for (i64 x = tid; x < VOX_KF_ROWS * Dp; x += VOX_KF_THREADS) {
        i64 e = x / VOX_KF_ROWS, r = x - e * VOX_KF_ROWS;
        qs[x] = r < nrows && e < D ? qbar[(bh * NB + i0 + r) * D + e] : 0.f;
    }
    __syncthreads();
    const float4 *kh = (const float4 *)(kt + bh * D * S);
    const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
    float nkmax = 0.f;
    int nonfinite = 0;
    /* units of (the tile's rows, 4 keys): S/4 of them */
    for (i64 un = tid; un < S4; un += VOX_KF_THREADS) {
        const i64 k = un * VOX_KS_KPT;
        const float4 *kp = kh + k / 4; /* keys k..k+3 (< S) of dim e: kp[e*S4] */
        float acc[VOX_KF_ROWS][VOX_KS_KPT], nk[VOX_KS_KPT];
#pragma unroll
        for (int kk = 0; kk < VOX_KS_KPT; kk++)
            nk[kk] = 0.f;
        float4 ring[VOX_KS_EC]; /* the next VOX_KS_EC dims' keys, as in vox_ks_scores */
#pragma unroll
        for (int c = 0; c < VOX_KS_EC; c++)
            ring[c] = c < D ? kp[c * S4] : zero;
        for (i64 e0 = 0; e0 < Dp; e0 += VOX_KS_EC) {
            if (e0 % VOX_KF_CHUNK == 0)
#pragma unroll
                for (int r = 0; r < VOX_KF_ROWS; r++)
#pragma unroll
                    for (int kk = 0; kk < VOX_KS_KPT; kk++)
                        acc[r][kk] = 0.f;
#pragma unroll
            for (int c = 0; c < VOX_KS_EC; c++) {
                const float kv[VOX_KS_KPT] = {ring[c].x, ring[c].y, ring[c].z, ring[c].w};
                const i64 en = e0 + VOX_KS_EC + c;
                ring[c] = en < D ? kp[en * S4] : zero;
                const float4 *q = (const float4 *)(qs + (e0 + c) * VOX_KF_ROWS);
#pragma unroll
                for (int r4 = 0; r4 < VOX_KF_ROWS / 4; r4++) {
                    const float4 qq = q[r4];
#pragma unroll
                    for (int kk = 0; kk < VOX_KS_KPT; kk++) {
                        acc[4 * r4][kk] = fmaf(qq.x, kv[kk], acc[4 * r4][kk]);
                        acc[4 * r4 + 1][kk] = fmaf(qq.y, kv[kk], acc[4 * r4 + 1][kk]);
                        acc[4 * r4 + 2][kk] = fmaf(qq.z, kv[kk], acc[4 * r4 + 2][kk]);
                        acc[4 * r4 + 3][kk] = fmaf(qq.w, kv[kk], acc[4 * r4 + 3][kk]);
                    }
                }
#pragma unroll
                for (int kk = 0; kk < VOX_KS_KPT; kk++)
                    nk[kk] = fmaf(kv[kk], kv[kk], nk[kk]);
            }
            if ((e0 + VOX_KS_EC) % VOX_KF_CHUNK == 0 || e0 + VOX_KS_EC == Dp) { /* the chunk into sc */
#pragma unroll
                for (int r = 0; r < VOX_KF_ROWS; r++) {
                    float4 *o = (float4 *)(sc + (i64)r * S + k);
                    float4 v = make_float4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
                    if (e0 >= VOX_KF_CHUNK) {
                        const float4 p = *o;
                        v = make_float4(p.x + v.x, p.y + v.y, p.z + v.z, p.w + v.w);
                    }
                    if (r < nrows)
                        *o = v;
                }
            }
        }
#pragma unroll
        for (int kk = 0; kk < VOX_KS_KPT; kk++)
            if (k + kk < NBv) {
                nonfinite |= !(nk[kk] <= 3.4e38f);
                nkmax = nk[kk] > nkmax ? nk[kk] : nkmax;
            }
    }
    *bad = __syncthreads_or(nonfinite);
    return (float)block_reduce<true>((double)nkmax, red);
}

/* vox_kf_count_before: kv_select_row.cuh */

/* The 4 values of a row's lane-th quadruple x (j = 4x .. 4x+3; rows are
 * 16-byte aligned, their stride a multiple of 4): the sweeps below read
 * 4 consecutive values per lane per load. */
__device__ __forceinline__ void vox_kf_quad(const unsigned *urow, int x, unsigned *v)
{
    const uint4 q = ((const uint4 *)urow)[x];
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
}
/* vox_kf_quad for the sweeps whose lanes may pass the row (4x >= NBv): zeros there */
__device__ __forceinline__ void vox_kf_quad_or0(const unsigned *urow, int x, int NBv, unsigned *v)
{
    v[0] = v[1] = v[2] = v[3] = 0u;
    if (4 * x < NBv)
        vox_kf_quad(urow, x, v);
}

/* For each c < 4, the number of p[c] that hold in the lanes below this one
 * plus those of this lane's c' < c (the position of element c in a warp's
 * lane-major order); *total: the warp's count. */
__device__ __forceinline__ void vox_kf_count_before4(const bool *p, int *pos, int *total)
{
    int below = 0, t = 0, own = 0;
#pragma unroll
    for (int c = 0; c < 4; c++) {
        int tc;
        below += vox_kf_count_before(p[c], &tc);
        t += tc;
    }
#pragma unroll
    for (int c = 0; c < 4; c++)
        pos[c] = below + own, own += p[c];
    *total = t;
}

/* The radix passes over a row's keys rel = bits(w) - kmin (w >= 0 orders as
 * its bits; kmin: the row's smallest), rel < 2^len: the first pass takes the
 * top (up to) 8 bits of that range, so that a row's values spread over the
 * bins (few same-address atomics) however narrow their range; each later
 * pass the next 8 bits of the chosen bucket. The first pass's histogram
 * (counts, and for the cumulative rule the bin sums) is usually built by
 * vox_kf_row's exp sweep (`counted`: skip its count here). */
__device__ __forceinline__ int vox_kf_bitlen(unsigned x)
{
    return x ? 32 - __clz((int)x) : 0;
}

/* The n-th largest (0 < n < NBv) of the row's w, or the low end of a radix
 * bucket taken whole: the bits T with #{w >= T} >= n and #{w > T} <= n. */
__device__ unsigned vox_kf_top_value(const unsigned *urow, int NBv, int n, unsigned kmin, int len, bool counted,
                                     vox_kf_work *w)
{
    constexpr int BPL = 256 / VOX_WARP_SIZE; /* bins per lane, descending */
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    unsigned prefix = 0; /* the chosen bits of rel, those at [hi, 32) fixed */
    int rem = n, hi = len, lo = len > 8 ? len - 8 : 0;
    for (;; counted = false) {
        if (!counted) {
            for (int b = lane; b < 256; b += VOX_WARP_SIZE)
                w->hist[b] = 0;
            VOX_SYNCWARP();
            for (int x = lane; 4 * x < NBv; x += VOX_WARP_SIZE) {
                unsigned v[4];
                vox_kf_quad(urow, x, v);
#pragma unroll
                for (int c = 0; c < 4; c++) {
                    const unsigned long long rel = v[c] - kmin;
                    if (4 * x + c < NBv && ((rel ^ prefix) >> hi) == 0)
                        atomicAdd(&w->hist[(int)(rel >> lo) & ((1 << (hi - lo)) - 1)], 1);
                }
            }
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
        const int bin = w->bin, cnt = w->cnt;
        rem = w->rem;
        VOX_SYNCWARP(); /* read before the next pass rewrites them */
        prefix |= (unsigned)bin << lo;
        if (cnt == rem || lo == 0)
            break; /* the whole bucket is among the n largest, or one value */
        hi = lo, lo = lo > 8 ? lo - 8 : 0;
    }
    return kmin + prefix;
}

/* The certificate of a cumulative count c (see the top of this file): bp, bc
 * the fixed-point masses (vox_kf_mass_add) of the c - 1 and the c largest w,
 * W that of all: each w's mass is below w 2^36 by less than 1, so the ratios
 * of the f32 w's sums lie in [bc / (W + NBv), (bp + NBv) / W]. Ep: E'.
 * Returns c or -1. bc < 0: only that block c is admitted (P_{c-1} < tau). */
__device__ int vox_kf_cum_certify(int c, double bp, double bc, double W, int NBv, double tau, double Ep)
{
    const double mu = (2.0 * NBv + 600.0) * 0x1p-52, m = (2.0 * NBv + 512.0) * 0x1p-52 + NBv * 0x1p-120;
    const double e2 = exp(2.0 * Ep) * (1.0 + 0x1p-40);
    double pp = (bp + NBv) / W * (1.0 + mu), pc = bc / (W + NBv) * (1.0 - mu);
    pp = pp < 1.0 ? pp : 1.0;
    pc = pc > 0.0 ? (pc < 1.0 ? pc : 1.0) : 0.0;
    const double hi = pp / (pp + (1.0 - pp) / e2) * (1.0 + 0x1p-40);
    const double lo = pc > 0.0 ? pc / (pc + (1.0 - pc) * e2) * (1.0 - 0x1p-40) : 0.0;
    return hi < tau - m && (bc < 0.0 || lo >= tau + m) ? c : -1;
}

/* The cumulative rule's count from the row's w (0 < tau), or -1 when it
 * cannot be certified. A radix descent (as vox_ks_cum_fast, over the keys of
 * vox_kf_top_value, fixed-point bin masses) to the block where the running
 * mass of the largest w first reaches tau W (W: the first pass's total), then
 * vox_kf_cum_certify. *T: the low end of the bucket the descent ends in, the
 * c-th largest w's bits or below them with no other w between: #{w >= T} >=
 * c and #{w > T} < c, what vox_kf_top_value would give for n = c.
 * cap > 0: the descent goes to the cap-th largest w instead (as
 * vox_kf_top_value, *T its T for n = cap) and returns cap when the mass of
 * the cap largest is certainly below tau, so that the reference admits more
 * than cap blocks (the kv_max_blocks cap then decides the count), else -1. */
__device__ int vox_kf_cum(const unsigned *urow, int NBv, double tau, double Ep, unsigned kmin, int len, bool counted,
                          vox_kf_work *w, unsigned *T, int cap = 0)
{
    constexpr int BPL = 256 / VOX_WARP_SIZE;
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    if (NBv >= (1 << 14))
        return -1; /* a bin's high limb could pass 2^32 */
    unsigned prefix = 0;
    int hi = len, lo = len > 8 ? len - 8 : 0;
    double W = 0, tgt = 0, before = 0; /* masses (exact integers); before: those ranked above the bucket */
    int above = 0, cnt = 0;
    for (;; counted = false) {
        if (!counted) {
            for (int b = lane; b < 256; b += VOX_WARP_SIZE)
                w->hist[b] = 0, w->msum[0][b] = w->msum[1][b] = 0u;
            VOX_SYNCWARP();
            for (int x = lane; 4 * x < NBv; x += VOX_WARP_SIZE) {
                unsigned v[4];
                vox_kf_quad(urow, x, v);
#pragma unroll
                for (int c = 0; c < 4; c++) {
                    const unsigned long long rel = v[c] - kmin;
                    if (4 * x + c < NBv && ((rel ^ prefix) >> hi) == 0) {
                        const int b = (int)(rel >> lo) & ((1 << (hi - lo)) - 1);
                        atomicAdd(&w->hist[b], 1);
                        vox_kf_mass_add(w, b, __uint_as_float(v[c]));
                    }
                }
            }
        }
        VOX_SYNCWARP();
        int c[BPL], ct = 0;
        double s[BPL], st = 0;
#pragma unroll
        for (int q = 0; q < BPL; q++) {
            const int bq = 255 - BPL * lane - q;
            c[q] = w->hist[bq], s[q] = vox_kf_mass(w, bq);
            ct += c[q], st += s[q];
        }
        int call, cx = vox_ks_scan(ct, &call);
        const double si = vox_warp_incl(st);
        if (hi == len) /* the first pass: every w */
            W = VOX_SHFL(si, VOX_WARP_SIZE - 1), tgt = tau * W;
        double sx = VOX_SHFL_UP(si, 1);
        double run = before + (lane ? sx : 0.0);
        int cab = above + cx, hit = 256;
        double hrun = 0, hs = 0;
        int hab = 0, hc = 0;
#pragma unroll
        for (int q = 0; q < BPL; q++) {
            if (hit == 256 && c[q] > 0 && (cap > 0 ? cab + c[q] >= cap : run + s[q] >= tgt))
                hit = BPL * lane + q, hrun = run, hab = cab, hc = c[q], hs = s[q];
            run += s[q], cab += c[q];
        }
        int first = hit;
        for (int o = VOX_WARP_SIZE / 2; o > 0; o >>= 1) {
            int t = VOX_SHFL_XOR(first, o);
            first = t < first ? t : first;
        }
        if (first == 256) /* the mass does not reach tau W: tau > 1 (later passes split a bucket that did reach it) */
            return cap == 0 && hi == len && tau > 1.0 + (2.0 * NBv + 512.0) * 0x1p-52 + 0x1p-30 ? NBv : -1;
        if (hit == first)
            w->bin = 255 - first, w->cnt = hc, w->rem = hab, w->before = hrun, w->sum = hs;
        VOX_SYNCWARP();
        const int bin = w->bin;
        cnt = w->cnt, above = w->rem, before = w->before;
        const double sb = w->sum;
        VOX_SYNCWARP();
        prefix |= (unsigned)bin << lo;
        if (cap > 0 && above + cnt == cap) { /* the bucket completes the cap largest */
            *T = kmin + prefix;
            return vox_kf_cum_certify(cap, before + sb, -1.0, W, NBv, tau, Ep);
        }
        if (cnt == 1) {
            *T = kmin + prefix;
            return vox_kf_cum_certify(above + 1, before, before + sb, W, NBv, tau, Ep);
        }
        if (lo == 0)
            break;
        hi = lo, lo = lo > 8 ? lo - 8 : 0;
    }
    /* cnt blocks of the same w (mass P each): the crossing is the t-th of them */
    *T = kmin + prefix;
    const double P = (double)vox_kf_mass_of(__uint_as_float(kmin + prefix));
    if (cap > 0) /* the cap largest end cap - above into them */
        return vox_kf_cum_certify(cap, before + (double)(cap - above) * P, -1.0, W, NBv, tau, Ep);
    if (!(P > 0))
        return -1;
    const double need = ceil((tgt - before) / P);
    const int t = need < 1.0 ? 1 : need > (double)cnt ? cnt : (int)need;
    return vox_kf_cum_certify(above + t, before + (double)(t - 1) * P, before + (double)t * P, W, NBv, tau, Ep);
}

/* vox_kf_row's exp sweep: w_j = expf(fl(a_j - amax) * scale_f) in place
 * (the padding past NBv too, which no later sweep reads), the smallest and
 * largest bits of the row's w (this lane's: *kmin, *kmax), and with PRE the
 * first radix pass's histogram over the frame [pmin, pmax] (CUM: with the
 * bin masses), *off when a w lies outside it. The quads wholly inside the
 * row first, without a per-value bound check, then the last one. */
template <bool PRE, bool CUM>
__device__ __forceinline__ void vox_kf_exp_sweep(unsigned *urow, int NBv, float amax, float scale_f, unsigned pmin,
                                                 unsigned pmax, int plo, vox_kf_work *w, unsigned *kmin,
                                                 unsigned *kmax, int *off)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    unsigned lo = 0xffffffffu, hi = 0;
    int o = 0;
    auto quad = [&](int xq, int nv) { /* nv: the quad's values inside the row */
        unsigned v[4];
        vox_kf_quad(urow, xq, v);
#pragma unroll
        for (int c = 0; c < 4; c++) {
            const float x = expf((__uint_as_float(v[c]) - amax) * scale_f);
            const unsigned u = __float_as_uint(x);
            v[c] = u;
            if (c < nv) {
                lo = u < lo ? u : lo, hi = u > hi ? u : hi;
                if (PRE) {
                    o |= u < pmin || u > pmax;
                    const int b = (int)((u - pmin) >> plo) & 255;
                    atomicAdd(&w->hist[b], 1);
                    if (CUM)
                        vox_kf_mass_add(w, b, x);
                }
            }
        }
        ((uint4 *)urow)[xq] = make_uint4(v[0], v[1], v[2], v[3]);
    };
    for (int xq = lane; 4 * xq + 4 <= NBv; xq += VOX_WARP_SIZE)
        quad(xq, 4);
    if (NBv % 4 && lane == NBv / 4 % VOX_WARP_SIZE)
        quad(NBv / 4, NBv % 4);
    *kmin = lo, *kmax = hi, *off = o;
}

/* A phase 1's error bound: |a_j - dot_j| <= rel A + abs D 2^-125 (1 + |q| +
 * |k|) (the bound at the top of this file; vox_kf_scores' below,
 * vox_km_bound in kv_select_mma.cuh). */
struct vox_kf_bound {
    double rel, abs;
};
__device__ __forceinline__ vox_kf_bound vox_kf_bound_ffma(double D)
{
    const double C = ceil(D / VOX_KF_CHUNK), gC = C * 0x1p-24 / (1.0 - C * 0x1p-24);
    const double gL = VOX_KF_CHUNK * 0x1p-24 / (1.0 - VOX_KF_CHUNK * 0x1p-24);
    return {(gL + gC * (1.0 + gL)) * (1.0 + 0x1p-40), 2.0};
}

/* The reference's score sum of a band block: sum_e q_e k_e in f64, fma in
 * order from 0 (bitwise the reference's acc). Where both rows are 16-byte
 * aligned, 4 dims per load and several loads in flight (the same fma chain):
 * the re-scoring is a chain of D global loads otherwise. */
__device__ __forceinline__ double vox_kf_dot64(const float *q, const float *k, i64 D)
{
    double acc = 0;
    i64 e = 0;
    if ((((size_t)q | (size_t)k) & 15u) == 0) {
        const float4 *q4 = (const float4 *)q, *k4 = (const float4 *)k;
#pragma unroll 8
        for (; e + 4 <= D; e += 4) {
            const float4 x = q4[e / 4], y = k4[e / 4];
            acc = fma((double)x.x, (double)y.x, acc);
            acc = fma((double)x.y, (double)y.y, acc);
            acc = fma((double)x.z, (double)y.z, acc);
            acc = fma((double)x.w, (double)y.w, acc);
        }
    }
    for (; e < D; e++)
        acc = fma((double)q[e], (double)k[e], acc);
    return acc;
}

/* TOPK's phase 2 on the scores themselves (the default; vox_kf_row's exp
 * sweep and radix passes over w below are the old path, kept for the A/B:
 * VOXATTN_KV_SELECT_FAST_OLD). The TOPK set depends only on the order of p,
 * which follows the exact scores s_j except within delta (the reference's
 * own roundings) or where p is not normal; the f32 scores a_j obey
 * |s_j - scale a_j| <= Es (the bound at the top of this file without the
 * exponent's roundings and expf: Es = scale (err + D 2^-53 1.01 A) + 2^-52 Bs).
 * So, with W >= (2 Es + delta) / scale and T the n-th largest a:
 *   a_j > T + W  => block j ranks before every block with a <= T (at least
 *                   NBv - n + 1 of them): certainly in;
 *   a_j < T - W  => the n blocks with a >= T rank before it: certainly out;
 * the rest, the band (at most VOX_KF_BAND blocks, else the exact path), is
 * re-scored exactly and its r = n - #in best by (s desc, index asc) taken, as
 * in vox_kf_row (which also states when that is the reference's order). The
 * bounds of the window are f32 values thi >= T + W, tlo <= T - W, and every
 * block involved must have a normal p: scale (amax - tlo) + 2 Es <= 60.
 * T without exp or a radix pass over the whole row: one sweep makes a
 * histogram of NBIN bins linear in a over [amin, amax] (vox_kf_bin: monotone
 * non-decreasing in a, so a higher bin holds only larger values), the bin B
 * where the count from the top reaches n is found by one scan, a second sweep
 * compacts B's blocks (at most VOX_KF_CAND, else the old path) into the work
 * space, and T is the rem-th largest of them by counting. When bin(tlo) ==
 * bin(thi) == B the band lies inside B (else the old path), every block of a
 * higher bin is in, of a lower one out. The band's taken blocks get a = +inf,
 * the others -inf, and one ordered sweep writes the list: a > thi, the own
 * block and the global blocks. Returns 1 (listed, count written), 0 (the
 * exact path: nothing written) or -1 (the old path: the row untouched).
 * BRK (VOXATTN_KV_SELECT_FAST_BREAK, tests only): W = 0 and no check of the
 * band's exact scores, i.e. the f32 order decides; test_ops must fail. */
#define VOX_KF_NEW 0 /* vox_kf_row's modes */
#define VOX_KF_OLD 1
#define VOX_KF_BRK 2
#define VOX_KF_P1 3 /* timing ablations of the tensor-core kernel (kv_select_mma.cuh): phase 1 alone */
#define VOX_KF_P2 4 /* phase 2 alone (vox_kf_row as VOX_KF_NEW) */
#define VOX_KF_CB 5 /* VOX_KF_NEW and CUMULATIVE on vox_kf_topk's bins (session 53: measured slower, opt-in) */
#define VOX_KF_NBIN 256 /* vox_kf_topk's histogram bins (vox_kf_work.hist) */
#define VOX_KF_CAND 256 /* its boundary bin's blocks, at most (vox_kf_work.msum: value bits, index) */

/* The bin of a score: round(clamp(a inv + nb, 0, NBIN - 1)), by adding 2^23
 * (one rounding): a composition of monotone roundings, so a > b whenever
 * bin(a) > bin(b). The same instructions everywhere (explicit fmaf). */
template <int NBIN = VOX_KF_NBIN>
__device__ __forceinline__ int vox_kf_bin(float x, float inv, float nb)
{
    const float t = fminf(fmaxf(fmaf(x, inv, nb), 0.f), (float)(NBIN - 1));
    return (int)(__float_as_uint(t + 0x1p23f) - 0x4b000000u);
}
/* vox_kf_bin of a value of the row (amin <= x <= amax) where |nb| < 2^21, without the clamp (session 45;
 * on main since session 46): nb = fl(-amin inv) errs by at most ulp(2^21) / 2 = 1/8 and inv (amax - amin) by a
 * relative 2^-24, so fmaf(x, inv, nb) lies in [-1/8 - 2^-16, 255 + 1/8 + 2^-15], where adding 2^23
 * rounds to the same bin as the clamped value: the same bins, 8 fewer instructions per quad. */
__device__ __forceinline__ int vox_kf_bin_in(float x, float inv, float nb)
{
    return (int)(__float_as_uint(fmaf(x, inv, nb) + 0x1p23f) - 0x4b000000u);
}
/* hist[vox_kf_bin_in(x, inv, nb)] += 1; on NVIDIA the bin's shared-memory address is one multiply-add
 * from the sum's bits (hb: the histogram's shared address less 4 x 0x4b000000, modulo 2^32) */
__device__ __forceinline__ void vox_kf_hist_in(int *hist, unsigned hb, float x, float inv, float nb)
{
#if VOX_GPU_CUDA && defined(__CUDA_ARCH__)
    (void)hist;
    asm volatile("red.shared.add.u32 [%0], 1;\n" ::"r"(hb + 4u * __float_as_uint(fmaf(x, inv, nb) + 0x1p23f))
                 : "memory");
#else
    (void)hb;
    atomicAdd(&hist[vox_kf_bin_in(x, inv, nb)], 1);
#endif
}

/* A row's linear bins over [amin, amax] (NBIN of them: inv, nb0 for vox_kf_bin_in): false where every score
 * is equal, f32 cannot scale the range, or the range is narrow against its values' size (|nb0| >= 2^21, where
 * vox_kf_bin_in's bins may leave [0, NBIN)). vox_kf_topk's rule (its own copy there), the three-pass kernel's. */
template <int NBIN>
__device__ __forceinline__ bool vox_kf_bins(float amax, float amin, float *inv, float *nb0)
{
    const float span = amax - amin;
    *inv = (float)(NBIN - 1) / span, *nb0 = -amin * *inv;
    if (!(span > 0.f && span < INFINITY && *inv > 0.f && *inv < INFINITY && *nb0 > -INFINITY && *nb0 < INFINITY))
        return false;
    return fabsf(*nb0) < 0x1p21f;
}

/* The bin B of NBIN (count(b): its blocks) where the count from the top reaches n (0 < n <= the total):
 * *bin = B, *rem = n - #{blocks of bins > B}, *cnt = count(B), written by one lane of the warp. */
template <int NBIN, class C>
__device__ __forceinline__ void vox_kf_bin_find(int n, int *bin, int *rem, int *cnt, C &&count)
{
    constexpr int BPL = NBIN / VOX_WARP_SIZE; /* bins per lane, descending */
    static_assert(NBIN % VOX_WARP_SIZE == 0, "whole bins a lane");
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    int c[BPL], tot = 0;
#pragma unroll
    for (int k = 0; k < BPL; k++)
        c[k] = count(NBIN - 1 - BPL * lane - k), tot += c[k];
    int all, acc = vox_ks_scan(tot, &all);
    if (acc < n && n <= acc + tot) {
        bool done = false;
#pragma unroll
        for (int k = 0; k < BPL; k++) {
            if (!done && acc + c[k] >= n) {
                *bin = NBIN - 1 - BPL * lane - k, *rem = n - acc, *cnt = c[k];
                done = true;
            }
            acc += c[k];
        }
    }
}

/* vox_kf_topk's band (and the three-pass kernel's, kv_select_tp.cuh): from the boundary bin B's cnt blocks
 * (cv: value bits, cj: index, in any order), rem of which are taken, above = n - rem blocks of higher bins:
 * T, the window [tlo, thi], the band's exact scores where it is split; mark(j, taken) for each band block.
 * Returns 1 (*thi set: the other blocks of B are in when above thi), 0 (the exact path) or -1 (the band
 * leaves B: vox_kf_topk's old path). NBIN: the bins of inv, nb0. */
template <bool BRK, int NBIN, bool TK = false, class M>
__device__ __forceinline__ int vox_kf_topk_band(const unsigned *cv, const unsigned *cj, int cnt, int rem, int above,
                                                int B, float inv, float nb0, float amax, const float *q,
                                                const float *kh, const vox_kv_select_args &a, int n, double Es,
                                                double delta, vox_kf_work *w, float *thi_out, M &&mark,
                                                float tk = 0.f)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    const double scale = a.scale;
    /* T: the rem-th largest value of B's blocks (by value, with multiplicity); TK: the caller's, tk */
    double Tp = tk;
    if (!TK) {
        for (int k = lane; k < cnt; k += VOX_WARP_SIZE) {
            const float vk = __uint_as_float(cv[k]);
            int gt = 0, ge = 0;
            for (int c = 0; c < cnt; c++) {
                const float vc = __uint_as_float(cv[c]);
                gt += vc > vk, ge += vc >= vk;
            }
            if (gt < rem && rem <= ge)
                w->sum = (double)vk; /* every lane that writes writes the same value */
        }
        VOX_SYNCWARP();
        Tp = w->sum;
        VOX_SYNCWARP();
    }
    /* the window */
    const double W = BRK ? 0.0 : (2.0 * Es + delta) / scale * (1.0 + 0x1p-20);
    float thi = (float)(Tp + W), tlo = (float)(Tp - W);
    if ((double)thi < Tp + W)
        thi = nextafterf(thi, INFINITY);
    if ((double)tlo > Tp - W)
        tlo = nextafterf(tlo, -INFINITY);
    if (vox_kf_bin<NBIN>(thi, inv, nb0) != B || vox_kf_bin<NBIN>(tlo, inv, nb0) != B)
        return -1; /* the band may reach into the next bins */
    if (!(scale * ((double)amax - (double)tlo) + 2.0 * Es <= 60.0))
        return 0; /* p of a band block may not be normal */
    /* in: B's blocks above thi; the band: those in [tlo, thi] into bj */
    int nin = 0, nb = 0;
    for (int k0 = 0; k0 < cnt; k0 += VOX_WARP_SIZE) {
        const int k = k0 + lane;
        const float v = k < cnt ? __uint_as_float(cv[k]) : 0.f;
        const bool bd = k < cnt && v >= tlo && v <= thi;
        nin += k < cnt && v > thi;
        int t, p = vox_kf_count_before(bd, &t);
        if (bd && nb + p < VOX_KF_BAND)
            w->bj[nb + p] = (int)cj[k];
        nb += t;
    }
    nin = above + vox_warp_sum(nin);
    const int r = n - nin;
    if (nb > VOX_KF_BAND || r < 0 || r > nb)
        return 0;
    VOX_SYNCWARP();
    if (r > 0 && r < nb) {
        /* the band's exact scores: the reference's f64 sequential sums */
        for (int b = lane; b < nb; b += VOX_WARP_SIZE)
            w->bs[b] = vox_kf_dot64(q, kh + (i64)w->bj[b] * a.D, a.D) * scale;
        VOX_SYNCWARP();
        bool take[VOX_KF_BAND / VOX_WARP_SIZE + 1];
        for (int x = 0, b = lane; b < nb; x++, b += VOX_WARP_SIZE) {
            const double sb = w->bs[b];
            const int jb = w->bj[b];
            int rank = 0;
            for (int c = 0; c < nb; c++)
                rank += w->bs[c] > sb || (w->bs[c] == sb && w->bj[c] < jb);
            take[x] = rank < r;
            if (rank == r - 1)
                w->before = sb;
        }
        VOX_SYNCWARP();
        const double ss = w->before;
        int close = 0;
        if (!BRK)
            for (int b = lane; b < nb; b += VOX_WARP_SIZE) {
                const double sb = w->bs[b];
                close |= !(sb == ss || fabs(sb - ss) > delta); /* also a NaN */
            }
        if (vox_warp_max(close))
            return 0;
        for (int x = 0, b = lane; b < nb; x++, b += VOX_WARP_SIZE)
            mark(w->bj[b], take[x]);
    } else {
        for (int b = lane; b < nb; b += VOX_WARP_SIZE)
            mark(w->bj[b], r > 0);
    }
    *thi_out = thi;
    return 1;
}

/* CUM (session 53; VOX_KF_CB, opt-in: an H100 ran hunyuan-720p's tau builds' kernel at 1.236 ms a launch
 * against 1.223 the old way in session 54, backends/cuda/NOTES.md): the CUMULATIVE rule by the same bins
 * (vox_kf_row calls it so where 0 < tau <= 1, no cap binds and NBv < 2^14 (vox_kf_mass_add's limbs); n is then found here).
 * The histogram sweep also adds each block's fixed-point mass (vox_kf_mass_add of w_j = expf(fl(a_j - amax)
 * scale_f), the old exp sweep's expression) to its bin; the bin
 * B where the mass from the top first reaches tau W is found by one scan; B's blocks are compacted as TOPK's
 * and ranked among themselves by (a desc, index asc), which orders their w non-increasingly (expf is
 * monotone), so the running masses at each rank are those of the c largest w whatever their ties: the
 * crossing c and its masses bp, bc are the old radix descent's, certified by the same vox_kf_cum_certify
 * (Ep: E'). A certified c is then TOPK's n: the reference takes the c most probable blocks in the same order,
 * T is the crossing block's score, and the window and the band follow as for TOPK (rem = c - #blocks above B). Returns -1 (the old path:
 * the row untouched) where c < min_blocks, c = NBv or B holds more than VOX_KF_CAND blocks; an uncertified c
 * returns 0 (the exact path), as the old descent's would. */
template <bool BRK, bool CUM = false>
__device__ int vox_kf_topk(float *srow, const float *q, const float *kh, int NB, int NBv, int i, int *crow, int *count,
                           const vox_kv_select_args &a, int n, float amax, float amin, double Es, double delta,
                           vox_kf_work *w, double Ep = 0.0)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    /* vox_kf_bins' rule, written out: folding it here moved the default kernels' code (session 50, untimed) */
    const float span = amax - amin, inv = (float)(VOX_KF_NBIN - 1) / span, nb0 = -amin * inv;
    if (!(span > 0.f && span < INFINITY && inv > 0.f && inv < INFINITY && nb0 > -INFINITY && nb0 < INFINITY))
        return -1; /* every score equal, or a range f32 cannot scale */
    if (!(fabsf(nb0) < 0x1p21f))
        return -1; /* a range narrow against its values' size: vox_kf_bin_in's bins may leave [0, NBIN) */
    for (int b = lane; b < VOX_KF_NBIN; b += VOX_WARP_SIZE) {
        w->hist[b] = 0;
        if (CUM)
            w->msum[0][b] = w->msum[1][b] = 0u;
    }
    VOX_SYNCWARP();
    const float4 *row4 = (const float4 *)srow;
    const float scale_f = a.scale_f;
    /* CUM: a block's weight (the old exp sweep's expression: the bins' masses and the crossing's must agree),
     * its bin count and mass */
    auto weight = [&](float x) { return expf((x - amax) * scale_f); };
    auto cum_add = [&](float x) {
        const int b = vox_kf_bin_in(x, inv, nb0);
        atomicAdd(&w->hist[b], 1);
        vox_kf_mass_add(w, b, weight(x));
    };
    double W = 0, tgt = 0, before = 0; /* CUM: masses (exact integers); before: those of the bins above B */
    float tk = 0.f; /* CUM: T, the crossing's value */
    int B, rem, cnt, above;
    if (CUM) {
        for (int x = lane; 4 * x + 4 <= NBv; x += VOX_WARP_SIZE) {
            const float4 v = row4[x];
            cum_add(v.x), cum_add(v.y), cum_add(v.z), cum_add(v.w);
        }
        if (NBv % 4 && lane == NBv / 4 % VOX_WARP_SIZE)
            for (int j = NBv / 4 * 4; j < NBv; j++)
                cum_add(srow[j]);
        VOX_SYNCWARP();
        /* the first bin from the top whose mass reaches tau W (vox_kf_cum's scan, counts beside) */
        constexpr int BPL = VOX_KF_NBIN / VOX_WARP_SIZE;
        int c[BPL], ct = 0;
        double sm[BPL], st = 0;
#pragma unroll
        for (int k = 0; k < BPL; k++) {
            const int bk = VOX_KF_NBIN - 1 - BPL * lane - k;
            c[k] = w->hist[bk], sm[k] = vox_kf_mass(w, bk);
            ct += c[k], st += sm[k];
        }
        int call, cab = vox_ks_scan(ct, &call);
        const double si = vox_warp_incl(st);
        W = VOX_SHFL(si, VOX_WARP_SIZE - 1), tgt = a.tau * W;
        const double sx = VOX_SHFL_UP(si, 1);
        double run = lane ? sx : 0.0, hrun = 0;
        int hit = VOX_KF_NBIN, hab = 0, hc = 0;
#pragma unroll
        for (int k = 0; k < BPL; k++) {
            if (hit == VOX_KF_NBIN && c[k] > 0 && run + sm[k] >= tgt)
                hit = BPL * lane + k, hrun = run, hab = cab, hc = c[k];
            run += sm[k], cab += c[k];
        }
        int first = hit;
        for (int o = VOX_WARP_SIZE / 2; o > 0; o >>= 1) {
            const int t = VOX_SHFL_XOR(first, o);
            first = t < first ? t : first;
        }
        if (first == VOX_KF_NBIN)
            return -1; /* the mass does not reach tau W (not for tau <= 1) */
        if (hit == first)
            w->bin = VOX_KF_NBIN - 1 - first, w->cnt = hc, w->rem = hab, w->before = hrun;
        VOX_SYNCWARP();
        B = w->bin, cnt = w->cnt, above = w->rem, before = w->before;
        rem = 0;
        VOX_SYNCWARP(); /* read before the compaction below rewrites msum */
    } else {
#if VOX_GPU_CUDA && defined(__CUDA_ARCH__)
        const unsigned hb = (unsigned)__cvta_generic_to_shared(w->hist) - 4u * 0x4b000000u;
#else
        const unsigned hb = 0;
#endif
        for (int x = lane; 4 * x + 4 <= NBv; x += VOX_WARP_SIZE) {
            const float4 v = row4[x];
            vox_kf_hist_in(w->hist, hb, v.x, inv, nb0);
            vox_kf_hist_in(w->hist, hb, v.y, inv, nb0);
            vox_kf_hist_in(w->hist, hb, v.z, inv, nb0);
            vox_kf_hist_in(w->hist, hb, v.w, inv, nb0);
        }
        if (NBv % 4 && lane == NBv / 4 % VOX_WARP_SIZE)
            for (int j = NBv / 4 * 4; j < NBv; j++)
                vox_kf_hist_in(w->hist, hb, srow[j], inv, nb0);
        VOX_SYNCWARP();
        vox_kf_bin_find<VOX_KF_NBIN>(n, &w->bin, &w->rem, &w->cnt, [&](int b) { return w->hist[b]; });
        VOX_SYNCWARP();
        B = w->bin, rem = w->rem, cnt = w->cnt, above = n - rem;
        VOX_SYNCWARP();
    }
    if (cnt > VOX_KF_CAND)
        return -1;
    /* B's blocks (value bits, index) into msum, in any order (ballots: positions) */
    unsigned *cv = w->msum[0], *cj = w->msum[1];
    {
        int base = 0;
        for (int x0 = 0; 4 * x0 < NBv; x0 += VOX_WARP_SIZE) {
            const int x = x0 + lane;
            float v[4] = {0.f, 0.f, 0.f, 0.f};
            if (4 * x < NBv) {
                const float4 t = row4[x];
                v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
            }
            bool in[4];
#pragma unroll
            for (int c = 0; c < 4; c++)
                in[c] = 4 * x + c < NBv && vox_kf_bin_in(v[c], inv, nb0) == B;
            if (vox_ks_any(in[0] || in[1] || in[2] || in[3])) {
                int pos[4], t;
                vox_kf_count_before4(in, pos, &t);
#pragma unroll
                for (int c = 0; c < 4; c++)
                    if (in[c])
                        cv[base + pos[c]] = __float_as_uint(v[c]), cj[base + pos[c]] = (unsigned)(4 * x + c);
                base += t;
            }
        }
    }
    VOX_SYNCWARP();
    if (CUM) {
        /* the crossing among B's blocks: each one's rank by (a desc, index asc) (compares only) places it in
         * rank order (hist, free since the scan); then the masses in rank order, 32 ranks a round, a warp
         * scan of each round (exact: integers below 2^50) give the rank whose running mass reaches tgt */
        int *perm = w->hist;
        for (int k = lane; k < cnt; k += VOX_WARP_SIZE) {
            const float vk = __uint_as_float(cv[k]);
            const unsigned jk = cj[k];
            int rank = 0;
            for (int c = 0; c < cnt; c++) { /* no short circuit: no branch */
                const float vc = __uint_as_float(cv[c]);
                const unsigned jc = cj[c];
                rank += (int)((vc > vk) | ((vc == vk) & (jc < jk)));
            }
            perm[rank] = k;
        }
        if (lane == 0)
            w->rem = -1;
        VOX_SYNCWARP();
        double run = before; /* the mass of the ranks before this round's */
        for (int r0 = 0; r0 < cnt; r0 += VOX_WARP_SIZE) {
            const int r = r0 + lane;
            const double mk = r < cnt ? (double)vox_kf_mass_of(weight(__uint_as_float(cv[perm[r]]))) : 0.0;
            const double si = vox_warp_incl(mk);
            const double pre = run + si - mk;
            if (r < cnt && pre < tgt && tgt <= pre + mk) /* one rank of the row */
                w->rem = r, w->sum = pre, w->before = pre + mk;
            run += VOX_SHFL(si, VOX_WARP_SIZE - 1);
        }
        VOX_SYNCWARP();
        const int rk = w->rem;
        const double bp = w->sum, bc = w->before;
        VOX_SYNCWARP(); /* read before vox_kf_topk_band rewrites them */
        if (rk < 0)
            return -1;
        tk = __uint_as_float(cv[perm[rk]]); /* T: the crossing block's score (cv, perm stay until the band) */
        rem = rk + 1, n = above + rem;
        if (vox_kf_cum_certify(n, bp, bc, W, NBv, a.tau, Ep) < 0)
            return 0;
        if (n < a.min_blocks || n >= NBv)
            return -1;
    }
    float thi;
    const int t = vox_kf_topk_band<BRK, VOX_KF_NBIN, CUM>(
        cv, cj, cnt, rem, above, B, inv, nb0, amax, q, kh, a, n, Es, delta, w, &thi,
        [&](int j, bool take) { srow[j] = take ? INFINITY : -INFINITY; }, tk);
    if (t <= 0)
        return t;
    VOX_SYNCWARP();
    /* ordered compaction: own block, global blocks, a > thi */
    int base = 0;
    for (int x0 = 0; 4 * x0 < NB; x0 += VOX_WARP_SIZE) {
        const int x = x0 + lane;
        float v[4] = {0.f, 0.f, 0.f, 0.f};
        if (4 * x < NBv) {
            const float4 t = row4[x];
            v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
        }
        bool pick[4];
#pragma unroll
        for (int c = 0; c < 4; c++) {
            const int j = 4 * x + c;
            pick[c] = j < NB && (j >= NBv || j == i || v[c] > thi);
        }
        int pos[4], pt;
        vox_kf_count_before4(pick, pos, &pt);
#pragma unroll
        for (int c = 0; c < 4; c++)
            if (pick[c])
                crow[base + pos[c]] = 4 * x + c;
        base += pt;
    }
    if (lane == 0)
        *count = base;
    return 1;
}

/* Phase 2 for video row i (one warp): srow holds its NBv values a_j, within
 * eb of the dot products; q, kh: its qbar row and the head's kbar rows; nk2:
 * the largest f32 key sum of squares (summed in any order); ext: NULL, or
 * {max, min} of the a_j (every lane) when the caller has them. Writes the
 * row's list and returns true, or returns false when the
 * row needs the exact path (having written no count; list entries of the
 * band sweep may be there, within the row's room). srow is reused: w, then
 * pick marks. */
/* MODE: VOX_KF_NEW (TOPK by vox_kf_topk first), VOX_KF_OLD (the old phase 2 only), VOX_KF_BRK (vox_kf_topk's
 * deliberate break, tests only), VOX_KF_CB (VOX_KF_NEW and CUMULATIVE by vox_kf_topk's bins first). */
/* The f64 sum of squares of query row q (D values; every lane gets it): vox_kf_row's nq2, which the
 * callers compute before they wait for the row's scores, so that its loads are in flight with them. */
__device__ __forceinline__ double vox_kf_nq2(const float *q, i64 D)
{
    double nq2 = 0;
    for (i64 e = threadIdx.x % VOX_WARP_SIZE; e < D; e += VOX_WARP_SIZE)
        nq2 += (double)q[e] * (double)q[e];
    return vox_warp_sum(nq2);
}

/* A row's bound (top of this file) from nk2 (the largest f32 key sum of squares) and nq2 (its query's f64 one):
 * vox_kf_row's, and the three-pass kernel's (kv_select_tp.cuh) */
struct vox_kf_rb {
    double A, err, Bs, Ep, delta, G;
};
__device__ __forceinline__ vox_kf_rb vox_kf_row_bound(const vox_kv_select_args &a, float nk2, double nq2,
                                                      vox_kf_bound eb)
{
    const double D = (double)a.D, scale = a.scale;
    const double g32 = D * 0x1p-24 / (1.0 - D * 0x1p-24);
    const double nkb = sqrt(((double)nk2 + D * 0x1p-125) / (1.0 - g32) * (1.0 + 0x1p-40));
    const double nqb = sqrt(nq2 * (1.0 + 0x1p-40));
    vox_kf_rb r;
    r.A = nqb * nkb * (1.0 + 0x1p-40);
    r.err = eb.rel * r.A + eb.abs * D * 0x1p-125 * (1.0 + nqb + nkb);
    r.Bs = scale * (r.A + r.err) * (1.0 + 0x1p-40);
    r.Ep = (scale * (r.err + D * 0x1p-53 * 1.01 * r.A) + (0x1p-52 + 0x1p-21) * r.Bs + 0x1p-100 + 0x1p-20) *
           (1.0 + 0x1p-30);
    r.delta = 0x1p-47 + 0x1p-49 * r.Bs;
    r.G = exp(2.0 * r.Ep + r.delta) * (1.0 + 0x1p-20);
    return r;
}
/* Whether the bound allows the fast path at all */
__device__ __forceinline__ bool vox_kf_rb_ok(const vox_kv_select_args &a, const vox_kf_rb &r)
{
    return a.D <= 4096 && a.scale >= 0x1p-100 && a.scale < INFINITY && r.A < 0x1p100 && r.G <= 1.5;
}
/* The scores' own error (E' without the exponent's roundings and expf's): TOPK's window */
__device__ __forceinline__ double vox_kf_rb_es(const vox_kv_select_args &a, const vox_kf_rb &r)
{
    return (a.scale * (r.err + (double)a.D * 0x1p-53 * 1.01 * r.A) + 0x1p-52 * r.Bs) * (1.0 + 0x1p-30);
}

template <int MODE>
__device__ bool vox_kf_row(float *srow, const float *q, const float *kh, int NB, int NBv, int i, int *crow,
                           int *count, const vox_kv_select_args &a, float nk2, double nq2, vox_kf_bound eb,
                           const float2 *ext, vox_kf_work *w)
{
    const int lane = threadIdx.x % VOX_WARP_SIZE;
    unsigned *urow = (unsigned *)srow;
    const double scale = a.scale;
    const vox_kf_rb rb = vox_kf_row_bound(a, nk2, nq2, eb);
    const double Ep = rb.Ep, delta = rb.delta, G = rb.G;
    if (!vox_kf_rb_ok(a, rb))
        return false;
    const float Gf = (float)(G * (1.0 + 0x1p-22)); /* >= G, and the f32 products' rounding */
    /* w_j = expf((a_j - amax) * scale_f), W = sum of w */
    float amax = -INFINITY, amin = INFINITY;
    if (ext) { /* the caller's, over the same values (max and min: in any order) */
        amax = ext->x, amin = ext->y;
    } else {
        for (int x = lane; 4 * x < NBv; x += VOX_WARP_SIZE) {
            unsigned v[4];
            vox_kf_quad(urow, x, v);
#pragma unroll
            for (int c = 0; c < 4; c++)
                if (4 * x + c < NBv)
                    amax = fmaxf(amax, __uint_as_float(v[c])), amin = fminf(amin, __uint_as_float(v[c]));
        }
        amax = vox_warp_max(amax), amin = -vox_warp_max(-amin);
    }
    int n = 0; /* TOPK's count (with the min_blocks top-up) */
    if (a.rule == 1) {
        n = a.max_blocks < NBv ? a.max_blocks : NBv;
        if (n < a.min_blocks)
            n = a.min_blocks < NBv ? a.min_blocks : NBv;
    }
    if (MODE != VOX_KF_OLD && a.rule == 1 && n > 0 && n < NBv) {
        /* the scores' own error (E' without the exponent's roundings and expf's) */
        const double Es = vox_kf_rb_es(a, rb);
        const int t = vox_kf_topk<MODE == VOX_KF_BRK>(srow, q, kh, NB, NBv, i, crow, count, a, n, amax, amin, Es, delta, w);
        if (t >= 0)
            return t > 0;
    }
    if (MODE == VOX_KF_CB && a.rule == 0 && 0.0 < a.tau && a.tau <= 1.0 && a.max_blocks >= NBv &&
        NBv < (1 << 14)) { /* CUMULATIVE on the same bins (session 53; opt-in: measured slower) */
        const double Es = vox_kf_rb_es(a, rb);
        const int t = vox_kf_topk<false, true>(srow, q, kh, NB, NBv, i, crow, count, a, 0, amax, amin, Es, delta, w, Ep);
        if (t >= 0)
            return t > 0;
    }
    /* The exp sweep also builds the first radix pass's histogram (the first
     * radix routine's: vox_kf_cum, or vox_kf_top_value for TOPK) over the
     * range [pmin, pmax], the w of amin and amax (computed as the sweep
     * computes those blocks'). expf being monotone, every w lies in it; a w
     * outside it (off) voids the histogram, else the radix passes take
     * pmin, pmax as the row's kmin, kmax (they need only kmin <= bits(w) <=
     * kmax for every w). */
    const bool pre = a.rule == 1 ? n > 0 && n < NBv : 0.0 < a.tau;
    const unsigned pmin = __float_as_uint(expf((amin - amax) * a.scale_f));
    const unsigned pmax = __float_as_uint(expf((amax - amax) * a.scale_f));
    const int plen = vox_kf_bitlen(pmax - pmin), plo = plen > 8 ? plen - 8 : 0;
    if (pre) {
        for (int b = lane; b < 256; b += VOX_WARP_SIZE) {
            w->hist[b] = 0;
            if (a.rule == 0)
                w->msum[0][b] = w->msum[1][b] = 0u;
        }
        VOX_SYNCWARP();
    }
    unsigned kmin, kmax;
    int off;
    if (!pre)
        vox_kf_exp_sweep<false, false>(urow, NBv, amax, a.scale_f, pmin, pmax, plo, w, &kmin, &kmax, &off);
    else if (a.rule == 0)
        vox_kf_exp_sweep<true, true>(urow, NBv, amax, a.scale_f, pmin, pmax, plo, w, &kmin, &kmax, &off);
    else
        vox_kf_exp_sweep<true, false>(urow, NBv, amax, a.scale_f, pmin, pmax, plo, w, &kmin, &kmax, &off);
    const bool counted = pre && !vox_warp_max(off);
    kmin = (unsigned)-vox_warp_max(-(long long)kmin), kmax = (unsigned)vox_warp_max((long long)kmax);
    if (counted) /* every rel = bits(w) - pmin in [0, 2^plen): the histogram's frame */
        kmin = pmin, kmax = pmax;
    const int len = vox_kf_bitlen(kmax - kmin);
    VOX_SYNCWARP();
    unsigned Tc = 0; /* the cumulative descent's T for its count nc */
    int nc = -1;
    if (a.rule == 0) {
        /* a binding cap first: the cap largest w's mass certainly below tau admits more than the cap */
        const bool capped = 0.0 < a.tau && a.max_blocks < NBv &&
                            vox_kf_cum(urow, NBv, a.tau, Ep, kmin, len, counted, w, &Tc, a.max_blocks) > 0;
        if (capped)
            nc = n = a.max_blocks;
        else if (0.0 < a.tau && (nc = n = vox_kf_cum(urow, NBv, a.tau, Ep, kmin, len,
                                                      counted && a.max_blocks >= NBv, w, &Tc)) < 0)
            return false;
        n = n < a.max_blocks ? n : a.max_blocks; /* the cap (then n != nc: vox_kf_top_value below) */
        if (n < a.min_blocks)
            n = a.min_blocks < NBv ? a.min_blocks : NBv;
    }
    /* marks: 1 = taken (video blocks) */
    if (n <= 0 || n >= NBv) {
        for (int x = lane; 4 * x < NBv; x += VOX_WARP_SIZE)
            ((uint4 *)urow)[x] = make_uint4(n > 0, n > 0, n > 0, n > 0);
    } else {
        const float T =
            __uint_as_float(n == nc ? Tc : vox_kf_top_value(urow, NBv, n, kmin, len, a.rule == 1 && counted, w));
        if (!(T >= 0x1p-90f))
            return false;
        const float TG = T * Gf;
        /* One sweep: the band (w->bj), the blocks certainly in (marked), and
         * the row's list as the common case has it, the whole band taken (r
         * == nb below): the own block, the global blocks, the blocks in and
         * the band's, in order. Positions past the row's room (a.room) are
         * not written; when the band is not taken whole, the list is
         * rewritten from the marks after its exact scores. */
        const int room = a.room;
        int nin = 0, nb = 0, base = 0; /* nin: this lane's count until the warp sum below */
        for (int x0 = 0; 4 * x0 < NB; x0 += VOX_WARP_SIZE) {
            const int x = x0 + lane;
            unsigned v[4];
            vox_kf_quad_or0(urow, x, NBv, v);
            bool band[4], pick[4];
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const int j = 4 * x + c;
                const float xv = __uint_as_float(v[c]);
                const bool ok = j < NBv, in = ok && xv > TG;
                band[c] = ok && !in && !(xv * Gf < T);
                pick[c] = j < NB && (!ok || j == i || in || band[c]);
                v[c] = in, nin += in;
            }
            if (vox_ks_any(band[0] || band[1] || band[2] || band[3])) { /* rare: one ballot otherwise */
                int pb[4], tb;
                vox_kf_count_before4(band, pb, &tb);
#pragma unroll
                for (int c = 0; c < 4; c++)
                    if (band[c] && nb + pb[c] < VOX_KF_BAND)
                        w->bj[nb + pb[c]] = 4 * x + c;
                nb += tb;
            }
            int pos[4], pt;
            vox_kf_count_before4(pick, pos, &pt);
#pragma unroll
            for (int c = 0; c < 4; c++)
                if (pick[c] && base + pos[c] < room)
                    crow[base + pos[c]] = 4 * x + c;
            base += pt;
            if (4 * x < NBv)
                ((uint4 *)urow)[x] = make_uint4(v[0], v[1], v[2], v[3]);
        }
        nin = vox_warp_sum(nin);
        const int r = n - nin;
        if (nb > VOX_KF_BAND || r < 0 || r > nb)
            return false;
        if (r == nb) { /* the list is written */
            if (lane == 0)
                *count = base;
            return true;
        }
        VOX_SYNCWARP();
        if (r > 0) {
            /* the band's exact scores: the reference's f64 sequential sums */
            for (int b = lane; b < nb; b += VOX_WARP_SIZE)
                w->bs[b] = vox_kf_dot64(q, kh + (i64)w->bj[b] * a.D, a.D) * scale;
            VOX_SYNCWARP();
            /* the r best by (s desc, index asc); s*: the weakest taken */
            bool take[VOX_KF_BAND / VOX_WARP_SIZE + 1];
            for (int x = 0, b = lane; b < nb; x++, b += VOX_WARP_SIZE) {
                const double sb = w->bs[b];
                const int jb = w->bj[b];
                int rank = 0;
                for (int c = 0; c < nb; c++)
                    rank += w->bs[c] > sb || (w->bs[c] == sb && w->bj[c] < jb);
                take[x] = rank < r;
                if (rank == r - 1)
                    w->sum = sb;
            }
            VOX_SYNCWARP();
            const double ss = w->sum;
            int close = 0;
            for (int b = lane; b < nb; b += VOX_WARP_SIZE) {
                const double sb = w->bs[b];
                close |= !(sb == ss || fabs(sb - ss) > delta); /* also a NaN */
            }
            if (vox_warp_max(close))
                return false;
            for (int x = 0, b = lane; b < nb; x++, b += VOX_WARP_SIZE)
                if (take[x])
                    urow[w->bj[b]] = 1u;
        }
        VOX_SYNCWARP();
    }
    /* ordered compaction: own block, global blocks, taken video blocks */
    VOX_SYNCWARP(); /* the marks of other lanes */
    int base = 0;
    for (int x0 = 0; 4 * x0 < NB; x0 += VOX_WARP_SIZE) {
        const int x = x0 + lane;
        unsigned v[4];
        vox_kf_quad_or0(urow, x, NBv, v);
        bool pick[4];
#pragma unroll
        for (int c = 0; c < 4; c++) {
            const int j = 4 * x + c;
            pick[c] = j < NB && (j >= NBv || j == i || v[c]);
        }
        int pos[4], pt;
        vox_kf_count_before4(pick, pos, &pt);
#pragma unroll
        for (int c = 0; c < 4; c++)
            if (pick[c])
                crow[base + pos[c]] = 4 * x + c;
        base += pt;
    }
    if (lane == 0)
        *count = base;
    return true;
}

VOX_KERNEL void __launch_bounds__(VOX_KF_THREADS, VOX_KF_MIN_BLOCKS)
    vox_kv_select_fast(VOX_PARAM vox_kv_select_bufs b, VOX_PARAM vox_kv_select_args a)
{
    __shared__ double red[VOX_MAX_WARPS];
    const float *qbar = vox_ptr<const float>(b.qbar), *kbar = vox_ptr<const float>(b.kbar);
    const float *kt = vox_ptr<const float>(b.scratch);
    int *list = vox_ks_list(b, a);
    const int *start = vox_ptr<const int>(b.kv_start);
    int *count = vox_ptr<int>(b.kv_count), *cols = vox_ptr<int>(b.kv_cols);
    const int NB = (int)a.NB, NBv = (int)a.NBv, tid = threadIdx.x, lane = tid % VOX_WARP_SIZE;
    const int warp = tid / VOX_WARP_SIZE, nw = VOX_KF_THREADS / VOX_WARP_SIZE;
    const i64 tiles = vox_kf_tiles(a);
    unsigned char *un = vox_dyn_smem;
    float *sc = a.per_block ? (float *)(vox_ks_slices(b, a) + (i64)blockIdx.x * a.per_block)
                            : (float *)(vox_dyn_smem + vox_kf_union(a.D, nw));
    for (i64 t = blockIdx.x; t < a.BH * tiles; t += gridDim.x) {
        const i64 bh = t / tiles, i0 = (t - bh * tiles) * VOX_KF_ROWS;
        if (i0 == 0)
            vox_ks_dense_globals(start, count, cols, bh, NB, NBv, VOX_KF_THREADS);
        const int nrows = NBv - i0 < VOX_KF_ROWS ? (int)(NBv - i0) : VOX_KF_ROWS;
        if (nrows > 0) {
            int bad;
            const float nk2 = vox_kf_scores(qbar, kt, bh, i0, nrows, NB, NBv, a.D, (float *)un, sc, red, &bad);
            __syncthreads(); /* scores written, the union free for the warps */
            for (int r = warp; r < nrows; r += nw) {
                const i64 m = bh * NB + i0 + r;
                if ((bad || !vox_kf_row<VOX_KF_NEW>(sc + (i64)r * vox_ks_stride(NBv), qbar + m * a.D, kbar + bh * NB * a.D, NB, NBv,
                                        (int)(i0 + r), cols + start[m], count + m, a, nk2,
                                        vox_kf_nq2(qbar + m * a.D, a.D), vox_kf_bound_ffma((double)a.D),
                                        nullptr, (vox_kf_work *)un + warp)) &&
                    lane == 0)
                    vox_ks_list_add(list, a, bh, m); /* for vox_kv_select_rows */
            }
        }
        __syncthreads(); /* before the next tile rewrites the union and the values */
    }
}
