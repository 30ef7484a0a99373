/* voxattn OpenCL: kv_select, the KV blocks of each query-block row
 * (core/backend.h). One work-group of KV_LSZ items per tile of KV_ROWS
 * query rows of one head (grid-stride over the tiles).
 * Phase 1: the tile's block scores s_j (qbar_i . kbar_j * scale, the
 * reference's sequential sum in `real` without contraction) into the
 * work-group's slice of the `scratch` buffer (args.per_block words: KV_ROWS
 * x NBv reals), each key block's kbar read once for the whole tile, in
 * chunks of KV_LSZ keys x KV_KD dims staged transposed through local memory
 * (coalesced reads; -DKV_ROWREAD=1, VOXATTN_OPENCL_KV_ROWREAD: each item
 * reads its key's row).
 * Phase 2, per row: max, sum, softmax normaliser and variance by tree
 * reductions; p_j, the STAT flag (carried in p's sign bit) and the order key
 * into the row's work space P (NBv x 8 bytes: local memory as vox_kv_select,
 * or, when it does not fit, the scratch slice after the scores as
 * vox_kv_select_global; the host includes this file twice, KVS = __local or
 * __global, KV_SFX naming the variant's helpers).
 * The order is the reference's: key descending (f64 devices: the bits of p;
 * f32 devices: vox_kv_key of the score), ties by lower index. Counts come
 * from a radix descent over the key, 8 bits per pass from the top, with
 * per-bin counts and per-bin mass sums in local memory (kv_descend): TOPK and
 * the min_blocks top-up take the n largest keys (the n-th key T and how many
 * lowest-index keys equal to T go in); CUMULATIVE finds the first count c
 * whose mass reaches tau. Masses are fixed point, floor(p * 2^62), summed
 * exactly in integers (any order gives the same sums). On f64 devices the
 * count is certified against the reference's sequential f64 sums by a
 * margin (kv_certified); a row it cannot certify (a sum within the margin
 * of tau, e.g. exact ties) replays the reference exactly: the ranks by
 * counting, then the sequential sum in the order (kv_cum_exact). On f32
 * devices (no f64) the fixed-point sums of the f32 p decide. The cap
 * (args.max_blocks): CUMULATIVE takes min(c, cap) (then the top-n descent);
 * STAT with more than cap blocks past its threshold (their count by the
 * mass scan) drops them and takes the cap first of the order, as TOPK.
 * One ordered compaction (kv_compact) writes kv_cols ascending from
 * kv_start[m]. Global query rows (i >= NBv) are dense.
 * (One file per op: device and host sections, cl_internal.h.) */
#ifndef KV_ROWS
#define KV_ROWS 8  /* query rows per work-group tile */
#define KV_LSZ 256 /* work-items per group = bins of a radix pass */
#define KV_KD 8    /* dims per staged kbar chunk (phase 1) */
#define KV_KS (KV_LSZ + 1) /* its row stride (floats) */
#endif
#ifndef KV_ROWREAD
#define KV_ROWREAD 0 /* VOXATTN_OPENCL_KV_ROWREAD: phase 1 reads kbar row by row */
#endif
#ifndef KV_PREFETCH
#define KV_PREFETCH 0 /* staged phase 1: the next kbar chunk's loads ahead of this one's products (VOXATTN_OPENCL_KV_PREFETCH) */
#endif
#ifndef KV_FMA
#define KV_FMA 0 /* f64 devices: phase 1's products and sums by fma (the same values; VOXATTN_OPENCL_KV_FMA) */
#endif

#ifdef __OPENCL_VERSION__

#pragma OPENCL FP_CONTRACT OFF

#ifndef KV_LISTED
/* 1 (PROG_KVC's vox_kv_select_listed and _listed_l): the rows listed at the
 * scratch's head by kv_select_f32.cl's vox_kv_select_f (KF_CUM), each a tile
 * of its own */
#define KV_LISTED 0
#endif

#define KV_CAT2(a, b) a##b
#define KV_CAT(a, b) KV_CAT2(a, b)
#define KV_FN(name) KV_CAT(name, KV_SFX)

#ifndef VOX_KV_HELPERS
#define VOX_KV_HELPERS
#define KV_ALL 0xffffffffffffffffUL /* "every key equal to T" */
#define KV_LIMB 13                  /* bits per mass limb: see kv_descend */

#if VOX_USE_FP64
typedef ulong kv_key;
typedef double2 kv_real2;
#define KV_KEY_BITS 64
#else
typedef uint kv_key;
typedef float2 kv_real2;
#define KV_KEY_BITS 32

/* f32 devices. The scores are qbar.kbar without the scale, with qbar_i and
 * the head's kbar scaled by powers of two near their largest magnitudes
 * (exact, common.cl): huge or tiny means neither overflow nor underflow, and
 * since scale > 0 the order and the STAT rule are unchanged; the reference's
 * exponent (s - max s) * scale comes from vox_kv_expo. Blocks are ordered by
 * a key of the score (vox_kv_key): where the reference's f64 p cannot tell
 * scores apart (p 0, or exp 1) the ties go by index, as there; a row whose
 * sum of exp is NaN (so is every p of the reference) has every key 0: the
 * index order. */

/* (s - mx) * scale of the reference for scores scaled by 2^-esc (<= 0);
 * -1024 where it is below that (exp is 0 there in f32 and f64 alike) */
float vox_kv_expo(float s, float mx, float scale, int esc)
{
    float t = (s - mx) * scale;
    if (!(t < 0)) /* 0, or NaN */
        return t;
    return t < vox_pow2_scaled(-1024.0f, esc) ? -1024.0f : vox_pow2_scaled(t, -esc);
}

/* Order key (larger first, ties lower index): the score's order-preserving
 * bits; 0 where the reference's p = exp(x)/z is 0 in f64 (below 2^-1075),
 * ~0 where exp(x) rounds to 1 in f64 (x >= -2^-54) */
uint vox_kv_key(float s, float x, float logz)
{
    uint u = as_uint(s);
    if (x - logz < -745.1332f)
        return 0;
    if (x >= -0x1p-54f)
        return 0xffffffffu;
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
#endif

/* The work-group's collectives run in two levels of 16: the first 16 items
 * each combine 16 entries in order, then every item combines those 16. */
#define KV_SEG 16

/* (max or sum of a, sum of b) over the work-group: max (max_a 1) as the
 * reference's `s > mx ? s : mx` (NaN ignored). Uniform control flow. */
kv_real2 kv_reduce2(real a, real b, int max_a, __local real *ra, __local real *rb)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    ra[LID] = a, rb[LID] = b;
    barrier(CLK_LOCAL_MEM_FENCE);
    real x = 0, y = 0;
    for (int k = 0; LID < KV_SEG && k < KV_SEG; k++) {
        const real u = ra[LID * KV_SEG + k];
        x = k == 0 ? u : max_a ? (u > x ? u : x) : x + u;
        y += rb[LID * KV_SEG + k];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (LID < KV_SEG)
        ra[LID] = x, rb[LID] = y;
    barrier(CLK_LOCAL_MEM_FENCE);
    x = ra[0], y = rb[0];
    for (int k = 1; k < KV_SEG; k++)
        x = max_a ? (ra[k] > x ? ra[k] : x) : x + ra[k], y += rb[k];
    return (kv_real2)(x, y);
}

#ifndef KV_SHFL
#define KV_SHFL 0 /* 1: warp shuffles by inline PTX (NVIDIA); 2: the same, emulated */
#endif

#if KV_SHFL
/* Exclusive prefix sums over the work-items of (c, m) in *xc, *xm; the
 * totals in *tc, *tm. Warps of 32 consecutive items (NVIDIA's layout of a
 * 1-D work-group): an inclusive scan per warp by shfl.sync.up, the warps'
 * totals through local memory, each item adding those of the warps before
 * its own. Integer sums: the same results as the portable scan in any
 * order. KV_SHFL 2 emulates the shuffle through local memory (tests of the
 * index math on any device). Uniform control flow. */
uint kv_shfl_up(uint x, int d, __local uint *buf)
{
#if KV_SHFL == 1
    (void)buf;
    uint y;
    asm volatile("shfl.sync.up.b32 %0, %1, %2, 0, 0xffffffff;" : "=r"(y) : "r"(x), "r"(d));
    return y;
#else
    barrier(CLK_LOCAL_MEM_FENCE);
    buf[LID] = x;
    barrier(CLK_LOCAL_MEM_FENCE);
    return (LID & 31) >= d ? buf[LID - d] : x;
#endif
}

void kv_scan(uint c, ulong m, __local uint *sc, __local ulong *sm, uint *xc, ulong *xm, uint *tc, ulong *tm)
{
    const int lane = LID & 31, w = LID >> 5;
    uint ic = c;
    ulong im = m;
    for (int d = 1; d < 32; d <<= 1) {
        const uint yc = kv_shfl_up(ic, d, sc), ylo = kv_shfl_up((uint)im, d, sc),
                   yhi = kv_shfl_up((uint)(im >> 32), d, sc);
        if (lane >= d)
            ic += yc, im += upsample(yhi, ylo);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lane == 31)
        sc[w] = ic, sm[w] = im;
    barrier(CLK_LOCAL_MEM_FENCE);
    uint oc = 0, ac = 0;
    ulong om = 0, am = 0;
    for (int k = 0; k < KV_LSZ / 32; k++) {
        const uint lc = sc[k];
        const ulong lm = sm[k];
        oc += k < w ? lc : 0u, om += k < w ? lm : 0ul;
        ac += lc, am += lm;
    }
    *xc = oc + ic - c, *xm = om + im - m, *tc = ac, *tm = am;
}
#else
/* Exclusive prefix sums over the work-items of (c, m) in *xc, *xm; the
 * totals in *tc, *tm. Uniform control flow. */
void kv_scan(uint c, ulong m, __local uint *sc, __local ulong *sm, uint *xc, ulong *xm, uint *tc, ulong *tm)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    sc[LID] = c, sm[LID] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    uint ac = 0;
    ulong am = 0;
    for (int k = LID * KV_SEG; LID < KV_SEG && k < (LID + 1) * KV_SEG; k++)
        ac += sc[k], am += sm[k], sc[k] = ac, sm[k] = am;
    barrier(CLK_LOCAL_MEM_FENCE);
    const int g = LID / KV_SEG;
    uint oc = 0;
    ulong om = 0;
    for (int k = 0; k < KV_SEG; k++) {
        const uint lc = sc[k * KV_SEG + KV_SEG - 1];
        const ulong lm = sm[k * KV_SEG + KV_SEG - 1];
        oc += k < g ? lc : 0u, om += k < g ? lm : 0ul;
        ac = k == 0 ? lc : ac + lc, am = k == 0 ? lm : am + lm;
    }
    *xc = oc + sc[LID] - c, *xm = om + sm[LID] - m, *tc = ac, *tm = am;
}

#endif

/* Adds a run of cnt keys of bin b and their mass to the histogram. */
void kv_flush(int b, uint cnt, ulong mass, int with_mass, __local uint *hist, __local uint *limb)
{
    if (b < 0)
        return;
    atomic_add(&hist[b], cnt);
    for (int l = 0; with_mass && l < 5; l++)
        atomic_add(&limb[l * 256 + b], (uint)(mass >> (KV_LIMB * l)) & ((1u << KV_LIMB) - 1u));
}

/* A kbar element as the scores take it: in f64; on f32 devices times
 * 2^-ek (the head's scaling). */
real kv_kdim(float x, int ek)
{
#if VOX_USE_FP64
    (void)ek;
    return (real)x;
#else
    return vox_pow2_scaled(x, ek);
#endif
}

/* acc[r] += qt[r][e] * k for the tile's rows (the reference's product and
 * sum, no contraction). */
void kv_acc(real *acc, __local const real *qt, int D, int e, real k)
{
    for (int r = 0; r < KV_ROWS; r++)
#if KV_FMA && VOX_USE_FP64
        acc[r] = fma(qt[r * D + e], k, acc[r]); /* q k exact in f64: the same sum */
#else
        acc[r] += qt[r * D + e] * k;
#endif
}

/* Key j's scores of the tile's nv rows into S (row r at r * NBv + j): the
 * reference's scaled f64 score, or with f32 the scaled-domain sum (-0 -> +0). */
void kv_store_scores(__global real *S, long NBv, long j, int nv, const real *acc, real scale)
{
    for (int r = 0; r < nv; r++)
#if VOX_USE_FP64
        S[r * NBv + j] = acc[r] * scale;
#else
        S[r * NBv + j] = acc[r] + 0.0f;
#endif
#if !VOX_USE_FP64
    (void)scale;
#endif
}

/* Phase 1, each item (lid of lsz) reading its own keys' rows (uncoalesced):
 * S[r * NBv + j] for the tile's nv video rows, qbar in qt. */
void kv_scores_rowread(__global const float *kh, long NBv, int D, int nv, real scale, int ek, __local const real *qt,
                       __global real *S, int lid, int lsz)
{
    for (long j = lid; nv > 0 && j < NBv; j += lsz) {
        real acc[KV_ROWS];
        for (int r = 0; r < KV_ROWS; r++)
            acc[r] = 0;
        __global const float *kj = kh + j * D;
        int e = 0; /* the dims in order, four at a time where they can be */
        for (; e + 4 <= D; e += 4) {
            const float4 k4 = vload4(0, kj + e);
            kv_acc(acc, qt, D, e, kv_kdim(k4.x, ek));
            kv_acc(acc, qt, D, e + 1, kv_kdim(k4.y, ek));
            kv_acc(acc, qt, D, e + 2, kv_kdim(k4.z, ek));
            kv_acc(acc, qt, D, e + 3, kv_kdim(k4.w, ek));
        }
        for (; e < D; e++)
            kv_acc(acc, qt, D, e, kv_kdim(kj[e], ek));
        kv_store_scores(S, NBv, j, nv, acc, scale);
    }
}

/* Phase 1 by the work-group's KV_LSZ items: the keys in chunks of KV_LSZ,
 * item LID owning key j0 + LID, their kbar staged transposed through kst
 * KV_KD dims at a time (read coalesced), the dims summed in order; one flat
 * loop over (key chunk, dim chunk). Uniform control flow. */
void kv_scores_staged(__global const float *kh, long NBv, int D, int nv, real scale, int ek, __local const real *qt,
                      __local float *kst, __global real *S)
{
    const int nE = (D + KV_KD - 1) / KV_KD;
    const long nC = nv > 0 ? (NBv + KV_LSZ - 1) / KV_LSZ * nE : 0;
    real acc[KV_ROWS];
#if KV_PREFETCH
    /* the next chunk's loads issued before this chunk's products, held in pf */
    float pf[KV_KD];
    for (int y = LID, x = 0; x < KV_KD; y += KV_LSZ, x++) {
        const int key = y / KV_KD, e = y % KV_KD;
        pf[x] = nC > 0 && key < NBv && e < D ? kh[key * D + e] : 0.0f;
    }
#endif
    for (long c = 0; c < nC; c++) {
        const long j0 = c / nE * KV_LSZ, j = j0 + LID;
        const int e0 = (int)(c % nE) * KV_KD;
        barrier(CLK_LOCAL_MEM_FENCE); /* the last chunk read */
#if KV_PREFETCH
        for (int y = LID, x = 0; x < KV_KD; y += KV_LSZ, x++)
            kst[(y % KV_KD) * KV_KS + y / KV_KD] = pf[x];
        barrier(CLK_LOCAL_MEM_FENCE);
        {
            const long jn = (c + 1) / nE * KV_LSZ;
            const int en = (int)((c + 1) % nE) * KV_KD;
            for (int y = LID, x = 0; x < KV_KD; y += KV_LSZ, x++) {
                const int key = y / KV_KD, e = y % KV_KD;
                pf[x] = c + 1 < nC && jn + key < NBv && en + e < D ? kh[(jn + key) * D + en + e] : 0.0f;
            }
        }
#else
        for (int y = LID; y < KV_LSZ * KV_KD; y += KV_LSZ) {
            const int key = y / KV_KD, e = y % KV_KD;
            kst[e * KV_KS + key] = j0 + key < NBv && e0 + e < D ? kh[(j0 + key) * D + e0 + e] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#endif
        if (e0 == 0)
            for (int r = 0; r < KV_ROWS; r++)
                acc[r] = 0;
        for (int e = 0; e < KV_KD && e0 + e < D; e++)
            kv_acc(acc, qt, D, e0 + e, kv_kdim(kst[e * KV_KS + LID], ek));
        if (e0 + KV_KD >= D && j < NBv)
            kv_store_scores(S, NBv, j, nv, acc, scale);
    }
}

/* What a radix descent found: the key T and how many of the keys equal to
 * T go in (rem; KV_ALL: every one); the count c, the fixed-point masses e0 of
 * the c - 1 and e1 of the c first blocks of the order. */
typedef struct kv_found {
    kv_key T;
    ulong rem, e0, e1;
    long c;
} kv_found;
#if VOX_USE_FP64
/* Whether the count c (mass e0 of the c - 1, e1 of the c first blocks, 2^62
 * units) is the reference's: its sequential sums S_{c-1} < tau <= S_c (S_c
 * irrelevant when c = NBv). E and S differ by the truncation to 2^-62
 * (NBv 2^-62), the reference's own roundings (NBv 2^-53), and the
 * difference between our p and its p (exp within a few ulp, z summed in
 * another order: (NBv + 8) 2^-53 relative): a margin of (4 NBv + 512)
 * 2^-52, plus 2^12 units for the conversions to double. */
int kv_certified(long c, long NBv, ulong e0, ulong e1, real tau)
{
    const real tt = tau * 0x1p62, mg = ((real)(4 * NBv) + 512.0) * 0x1p10 + 0x1p12;
    return (real)e0 + mg < tt && (c >= NBv || (real)e1 >= tt + mg);
}
#endif
#endif /* VOX_KV_HELPERS */

/* The row's work space: f64 devices, p with the STAT flag in its sign bit
 * (its other bits are the key); f32 devices, p likewise, then the keys. */
#if VOX_USE_FP64
#define KV_KEY(j) (as_ulong(P[j]) & 0x7fffffffffffffffUL)
#define KV_STAT(j) (as_ulong(P[j]) >> 63)
#define KV_MASS(j) convert_ulong_rtz(fabs(P[j]) * 0x1p62)
#define KV_KEYS_PARAM
#define KV_KEYS_ARG
#else
#define KV_KEY(j) (K[j])
#define KV_STAT(j) (as_uint(P[j]) >> 31)
#define KV_MASS(j) convert_ulong_rtz(fabs(P[j]) * 0x1p62f)
#define KV_KEYS_PARAM , KVS const uint *K
#define KV_KEYS_ARG , K
#endif

/* Radix descent over the row's keys, 8 bits per pass from the top, bins
 * taken in descending order. with_mass 0: the target-th largest key (1 <=
 * target < NBv): found->T, found->rem. with_mass 1: the smallest count c
 * whose mass E_c reaches target (0 < target <= the row's total): c, e0, e1,
 * and T, rem of the c first blocks (so that n = c needs no second descent).
 * A pass histograms the keys under the prefix found so far: per-bin counts
 * and mass sums, the masses as five 13-bit limbs in 32-bit counters (exact
 * while NBv < 2^19, cl_kv_select_supports; a run of keys of one bin in an
 * item's stride adds once). Stops when the bin holding the target is taken
 * whole (count) or is one block (mass). Uniform control flow. */
void KV_FN(kv_descend)(KVS const real *P KV_KEYS_PARAM, long NBv, int with_mass, ulong target,
                       __local uint *hist, __local uint *limb, __local uint *sc, __local ulong *sm,
                       __local ulong *bc, kv_found *found)
{
    kv_key prefix = 0, hmask = 0;
    ulong above_m = 0, rem = target;
    long above_c = 0;
    for (int shift = KV_KEY_BITS - 8; shift >= 0; shift -= 8) {
        barrier(CLK_LOCAL_MEM_FENCE);
        hist[LID] = 0;
        for (int l = 0; with_mass && l < 5; l++)
            limb[l * 256 + LID] = 0;
        barrier(CLK_LOCAL_MEM_FENCE);
        int rb = -1;
        uint rc = 0;
        ulong rm = 0;
        for (long j = LID; j < NBv; j += KV_LSZ) {
            kv_key u = KV_KEY(j);
            if ((u & hmask) != prefix)
                continue;
            int b = (int)((u >> shift) & 255u);
            if (b != rb) {
                kv_flush(rb, rc, rm, with_mass, hist, limb);
                rb = b, rc = 0, rm = 0;
            }
            rc++;
            if (with_mass)
                rm += KV_MASS(j);
        }
        kv_flush(rb, rc, rm, with_mass, hist, limb);
        barrier(CLK_LOCAL_MEM_FENCE);
        const int b = 255 - LID; /* item t takes bin 255 - t: the scan runs down the keys */
        uint c = hist[b], xc, tc;
        ulong m = 0, xm, tm;
        for (int l = 0; with_mass && l < 5; l++)
            m += (ulong)limb[l * 256 + b] << (KV_LIMB * l);
        kv_scan(c, m, sc, sm, &xc, &xm, &tc, &tm);
        if (with_mass ? (xm < rem && rem <= xm + m) : (xc < rem && rem <= xc + c))
            bc[0] = (ulong)b, bc[1] = xc, bc[2] = xm, bc[3] = c, bc[4] = m;
        barrier(CLK_LOCAL_MEM_FENCE);
        const ulong bin = bc[0], bxc = bc[1], bxm = bc[2], bcnt = bc[3], bm = bc[4];
        prefix |= (kv_key)bin << shift;
        hmask |= (kv_key)255u << shift;
        above_c += (long)bxc, above_m += bxm;
        rem -= with_mass ? bxm : bxc;
        if (!with_mass && bcnt == rem) { /* the whole bin goes in: every key >= its lowest */
            found->T = prefix, found->rem = KV_ALL;
            return;
        }
        if (with_mass && bcnt == 1) {
            found->c = above_c + 1, found->e0 = above_m, found->e1 = above_m + bm;
            found->T = prefix, found->rem = KV_ALL; /* the c first: every key >= the bin's lowest */
            return;
        }
        if (shift == 0) { /* equal keys: equal masses v, in index order */
            found->T = prefix, found->rem = rem;
            if (with_mass) {
                const ulong v = bm / bcnt, r = (rem + v - 1) / v;
                found->c = above_c + (long)r, found->e0 = above_m + (r - 1) * v, found->e1 = above_m + r * v;
                found->rem = r;
            }
        }
    }
}

#if VOX_USE_FP64
/* The cumulative count of the reference, exactly: each block's rank by
 * counting (the keys before it), ord[rank] = j, then the sequential f64 sum
 * in that order. For rows kv_certified rejects (rare: a sum within the
 * margin of tau). Uniform control flow. */
long KV_FN(kv_cum_exact)(KVS const real *P, long NBv, real tau, __global uint *ord, __local ulong *bc)
{
    for (long j = LID; j < NBv; j += KV_LSZ) {
        const kv_key kj = KV_KEY(j);
        uint rank = 0;
        for (long k = 0; k < NBv; k++) {
            const kv_key kk = KV_KEY(k);
            rank += kk > kj || (kk == kj && k < j);
        }
        ord[rank] = (uint)j;
    }
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
    if (LID == 0) {
        real before = 0;
        long n = 0;
        for (; n < NBv && before < tau; n++)
            before += fabs(P[ord[n]]);
        bc[5] = (ulong)n;
    }
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
    return (long)bc[5];
}

#endif

/* Writes row m's columns ascending from cols (kv_start[m]) and its count:
 * every block when !video, else the n first blocks of the order (keys > T,
 * and the rem lowest-index keys == T), the STAT blocks (stat), the own
 * block i and the global blocks. Each item takes a contiguous segment of
 * j; two scans (keys == T before the segment, picks before it). */
void KV_FN(kv_compact)(KVS const real *P KV_KEYS_PARAM, long NB, long NBv, long i, int video, int stat, int take,
                       kv_found f, __global int *cols, __global int *count, __local uint *sc, __local ulong *sm)
{
    const long L = (NB + KV_LSZ - 1) / KV_LSZ, j0 = min(LID * L, NB), j1 = min(j0 + L, NB);
    const int some = video && take;
    uint ne = 0, xe, te, np = 0, xp = 0, tp;
    ulong u0, u1;
    for (long j = j0; some && f.rem != KV_ALL && j < min(j1, NBv); j++)
        ne += KV_KEY(j) == f.T;
    kv_scan(ne, 0, sc, sm, &xe, &u0, &te, &u1);
    for (int write = 0; write < 2; write++) {
        ulong eq = xe;
        uint at = xp;
        for (long j = j0; j < j1; j++) {
            int pick = !video || j >= NBv;
            if (!pick) {
                const kv_key k = KV_KEY(j);
                pick = (some && (k > f.T || (k == f.T && (f.rem == KV_ALL || eq < f.rem)))) || j == i ||
                       (stat && KV_STAT(j));
                eq += k == f.T;
            }
            if (pick && write)
                cols[at++] = (int)j;
            np += pick && !write;
        }
        if (!write)
            kv_scan(np, 0, sc, sm, &xp, &u0, &tp, &u1);
    }
    if (LID == 0)
        *count = (int)tp;
}

__kernel void KV_NAME(VOX_CL_BUF_PARAMS(VOX_KV_SELECT_BUFS) VOX_CL_ARG_PARAMS(VOX_KV_SELECT_ARGS),
                      __local uint *lscratch)
{
    __local uint hist[256], sc[256];
    __local ulong sm[256], wl[640], bc[8];
#if !VOX_USE_FP64
    __local uint kbits;
    __local int escq[KV_ROWS];
#endif
    VOX_CL_APPLY_OFFSETS(VOX_KV_SELECT_BUFS)
    VOX_CL_ARGS(kv_select, VOX_KV_SELECT_ARGS)
    const long NB = args.NB, NBv = args.NBv, tph = (NB + KV_ROWS - 1) / KV_ROWS, ntiles = args.BH * tph;
    const int D = (int)args.D, rule = args.rule;
    const real scale = VOX_REAL_ARG(args.scale, args.scale_f), tau = VOX_REAL_ARG(args.tau, args.param_f),
               zth = VOX_REAL_ARG(args.z, args.param_f);
    /* the limbs and the reductions' second array share wl; sm is the first */
    __local uint *limb = (__local uint *)wl;
    __local real *ra = (__local real *)sm, *rb = (__local real *)wl;
#if KV_LISTED
    /* the list (its count, then rows m = bh NB + i; kv_select_f32.cl's kf_lead words), then the slices */
    __global real *S =
        (__global real *)(scratch + VOX_KV_LIST_WORDS(args.BH * NB, 64L) + get_group_id(0) * args.per_block);
    const long nlisted = scratch[0];
#else
    __global real *S = (__global real *)(scratch + get_group_id(0) * args.per_block);
#endif
#if KV_GLOBAL
    KVS real *P = S + KV_ROWS * NBv;
    __local real *qt = (__local real *)lscratch;
#else
    KVS real *P = (__local real *)lscratch;
    __local real *qt = (__local real *)(lscratch + 2 * NBv);
#endif
    __local float *kst = (__local float *)(qt + KV_ROWS * D); /* KV_KD x KV_KS */
#if !VOX_USE_FP64
    KVS uint *K = (KVS uint *)(P + NBv);
#endif
#if KV_LISTED
    /* listed row t: row i0 of head bh, a tile of one video row (vox_kv_select_f lists video rows only). nr and
     * nv are constants, not tests of the listed row: PoCL 3.1 ran the work-group's barriers below wrong (the
     * kernel never finished) where their branch and loop conditions came from the loaded list; the row is
     * clamped to the op's (memory safety for a list never written) instead */
    (void)ntiles;
    for (long t = get_group_id(0); t < nlisted; t += get_num_groups(0)) {
        const long ml = min((long)scratch[1 + t], args.BH * NB - 1), bh = ml / NB, i0 = ml - bh * NB;
        const int nr = 1, nv = 1;
#else
    for (long t = get_group_id(0); t < ntiles; t += get_num_groups(0)) {
        const long bh = t / tph, i0 = (t - bh * tph) * KV_ROWS;
        const int nv = (int)clamp(NBv - i0, 0L, (long)KV_ROWS), nr = (int)min(NB - i0, (long)KV_ROWS);
#endif
        __global const float *qrow = qbar + (bh * NB + i0) * D, *kh = kbar + bh * NB * D;
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        /* phase 1: the video rows' qbar in qt, the scores into S */
#if VOX_USE_FP64
        const int ek = 0; /* no scaling */
        for (int x = LID; x < KV_ROWS * D; x += KV_LSZ)
            qt[x] = x < nv * D ? (real)qrow[x] : 0;
#else
        if (LID == 0)
            kbits = 0;
        if (LID < nv) {
            uint qb = 0;
            for (int e = 0; e < D; e++)
                qb = max(qb, as_uint(qrow[LID * D + e]) & 0x7fffffffu);
            escq[LID] = vox_exponent(qb);
        }
        uint kb = 0;
        for (long x = LID; nv > 0 && x < NBv * D; x += KV_LSZ)
            kb = max(kb, as_uint(kh[x]) & 0x7fffffffu);
        barrier(CLK_LOCAL_MEM_FENCE);
        atomic_max(&kbits, kb);
        barrier(CLK_LOCAL_MEM_FENCE);
        const int ek = vox_exponent(kbits);
        for (int x = LID; x < KV_ROWS * D; x += KV_LSZ)
            qt[x] = x < nv * D ? vox_pow2_scaled(qrow[x], escq[x / D]) : 0.0f;
#endif
        barrier(CLK_LOCAL_MEM_FENCE);
#if KV_ROWREAD
        kv_scores_rowread(kh, NBv, D, nv, scale, ek, qt, S, LID, KV_LSZ);
#else
        kv_scores_staged(kh, NBv, D, nv, scale, ek, qt, kst, S);
#endif
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        /* phase 2, row by row (uniform: r is the work-group's) */
        for (int r = 0; r < nr; r++) {
            const long i = i0 + r, m = bh * NB + i;
            const int video = r < nv;
            __global const real *s = S + r * NBv;
            kv_found f = {0, 0, 0, 0, 0};
            long n = 0;
            int stat = rule == 2; /* the threshold's picks: not when more than max_blocks pass */
            if (video) {
                real lmx = -INFINITY, lsum = 0;
                for (long j = LID; j < NBv; j += KV_LSZ) {
                    const real sj = s[j];
                    lmx = sj > lmx ? sj : lmx;
                    lsum += sj;
                }
                const kv_real2 a = kv_reduce2(lmx, lsum, 1, ra, rb);
                const real mx = a.x, mean = a.y / (real)NBv;
#if !VOX_USE_FP64
                const int esc = escq[r] + ek;
#endif
                real lz = 0, lvar = 0;
                for (long j = LID; j < NBv; j += KV_LSZ) {
                    const real sj = s[j];
#if VOX_USE_FP64
                    lz += exp(sj - mx);
#else
                    lz += exp(vox_kv_expo(sj, mx, scale, esc));
#endif
                    lvar += (sj - mean) * (sj - mean);
                }
                const kv_real2 b = kv_reduce2(lz, lvar, 0, ra, rb);
                const real z = b.x, thr = mean + zth * sqrt(b.y / (real)NBv);
                const int by_index = isnan(z); /* every p NaN: the index order */
#if !VOX_USE_FP64
                const float logz = log(z);
#endif
                ulong lm = 0;
                uint lc = 0;
                for (long j = LID; j < NBv; j += KV_LSZ) {
                    const real sj = s[j];
#if VOX_USE_FP64
                    const real pj = by_index ? 0.0 : exp(sj - mx) / z;
                    P[j] = as_double(as_ulong(pj) | ((ulong)(sj >= thr) << 63));
#else
                    const float x = vox_kv_expo(sj, mx, scale, esc), pj = by_index ? 0.0f : exp(x) / z;
                    P[j] = as_float(as_uint(pj) | ((uint)(sj >= thr) << 31));
                    K[j] = by_index ? 0u : vox_kv_key(sj, x, logz);
#endif
                    lm += KV_MASS(j);
                    lc += sj >= thr;
                }
                barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
                uint u0, nstat;
                ulong u2, total;
                kv_scan(lc, lm, sc, sm, &u0, &u2, &nstat, &total); /* nstat: STAT's count c */
                if (rule == 0 && by_index) {
                    n = tau > 0; /* the first block's mass before is 0, the next one's NaN */
                } else if (rule == 0) {
#if VOX_USE_FP64
                    const ulong tf = convert_ulong_sat_rtp(tau * 0x1p62);
#else
                    const ulong tf = convert_ulong_sat_rtp(tau * 0x1p62f);
#endif
                    f.c = NBv, f.e0 = total, f.rem = 0;
                    if (tf > 0 && total >= tf)
                        KV_FN(kv_descend)(P KV_KEYS_ARG, NBv, 1, tf, hist, limb, sc, sm, bc, &f);
                    n = tf > 0 ? f.c : 0;
#if VOX_USE_FP64
                    if (tf > 0 && !kv_certified(f.c, NBv, f.e0, f.e1, tau))
                        n = KV_FN(kv_cum_exact)(P, NBv, tau, (__global uint *)(S + r * NBv), bc);
#endif
                } else if (rule == 1) {
                    n = min((long)args.max_blocks, NBv);
                } else if ((long)nstat > args.max_blocks) { /* STAT past the cap: the cap first of the order */
                    stat = 0, n = args.max_blocks;
                }
                n = min(n, (long)args.max_blocks); /* the cap; n != f.c then takes its own descent */
                if (n < args.min_blocks)
                    n = min((long)args.min_blocks, NBv);
                if (n >= NBv)
                    f.T = 0, f.rem = KV_ALL;
                else if (n > 0 && by_index)
                    f.T = 0, f.rem = (ulong)n;
                else if (n > 0 && !(rule == 0 && n == f.c && f.rem)) /* else the cumulative descent's T, rem */
                    KV_FN(kv_descend)(P KV_KEYS_ARG, NBv, 0, (ulong)n, hist, limb, sc, sm, bc, &f);
            }
            KV_FN(kv_compact)(P KV_KEYS_ARG, NB, NBv, i, video, stat, n > 0, f, kv_cols + kv_start[m],
                              kv_count + m, sc, sm);
        }
    }
}

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
/* kv_select.cl goes in twice: the row work space in local memory, then in
 * the scratch buffer */
#define KV_AS_LOCAL "\n#define KVS __local\n#define KV_SFX _l\n#define KV_NAME vox_kv_select\n#define KV_GLOBAL 0\n"
#define KV_AS_GLOBAL                                                                              \
    "\n#undef KVS\n#undef KV_SFX\n#undef KV_NAME\n#undef KV_GLOBAL\n#define KVS __global\n"         \
    "#define KV_SFX _g\n#define KV_NAME vox_kv_select_global\n#define KV_GLOBAL 1\n"
/* PROG_KVC (CUMULATIVE on f32 scores, VOXATTN_OPENCL_KV_CUM_F32): kv_select_f32.cl's passes with KF_CUM
 * (the scores in chunks of 16 dims, one key an item: Vulkan's kv_select_sgw_fs_c16), and this file's kernel
 * twice with KV_LISTED, the refused rows' exact fallback: tiles of one row (KV_ROWS 1, the host's
 * CL_KVC_ROWS), the row's work space in local memory (vox_kv_select_listed_l) or, where it does not fit,
 * in the scratch (vox_kv_select_listed) */
#define KV_AS_LISTED_L                                                                                  \
    "\n#define KVS __local\n#define KV_SFX _l\n#define KV_NAME vox_kv_select_listed_l\n#define KV_GLOBAL 0\n" \
    "#define KV_LISTED 1\n"
#define KV_AS_LISTED                                                                                   \
    "\n#undef KVS\n#undef KV_SFX\n#undef KV_NAME\n#undef KV_GLOBAL\n#define KVS __global\n"              \
    "#define KV_SFX _g\n#define KV_NAME vox_kv_select_listed\n#define KV_GLOBAL 1\n"
#define KV_CUM_OPTIONS " -DKF_CUM=1 -DKF_CHUNK=16 -DKF_KPT=1 -DKV_ROWS=1 -DKV_LSZ=256 -DKV_KD=8 -DKV_KS=257"
#define CL_KVC_ROWS 1
/* PROG_KVW (kv_select_warp.cl, TOPK on f64 devices): kv_select.cl's helpers
 * and phase 1, once (its global-work-space kernel comes along unused);
 * PROG_KVF (kv_select_f32.cl, TOPK on f32 scores): those and the warp ops and
 * kw_row of kv_select_warp.cl (its kernel unused), in a program of its own so
 * that PROG_KVW's register cap (VOXATTN_OPENCL_KVW_MAXRREG) leaves its
 * 64-accumulator scores pass alone */
/* a program of its own, for every dtype (the op reads f32 means only), so
 * that its build options (VOXATTN_OPENCL_KV_MAXRREG) leave the other ops alone */
#define CL_OP_kv_select(P, K, S, SUP) \
    P(PROG_KV, "kv_select", "") \
    K(PROG_KV, K_KV_SELECT, "vox_kv_select") \
    K(PROG_KV, K_KV_SELECT_GLOBAL, "vox_kv_select_global") \
    S(PROG_KV, KV_AS_LOCAL) \
    S(PROG_KV, "kv_select.cl") \
    S(PROG_KV, KV_AS_GLOBAL) \
    S(PROG_KV, "kv_select.cl") \
    P(PROG_KVW, "kv_select warp", "") \
    K(PROG_KVW, K_KV_SELECT_WARP, "vox_kv_select_warp") \
    S(PROG_KVW, KV_AS_GLOBAL) \
    S(PROG_KVW, "kv_select.cl") \
    S(PROG_KVW, "kv_select_warp.cl") \
    P(PROG_KVF, "kv_select f32", "") \
    K(PROG_KVF, K_KV_SELECT_FS, "vox_kv_select_fs") \
    K(PROG_KVF, K_KV_SELECT_F, "vox_kv_select_f") \
    K(PROG_KVF, K_KV_SELECT_FB, "vox_kv_select_fb") \
    S(PROG_KVF, KV_AS_GLOBAL) \
    S(PROG_KVF, "kv_select.cl") \
    S(PROG_KVF, "kv_select_warp.cl") \
    S(PROG_KVF, "kv_select_f32.cl") \
    P(PROG_KVC, "kv_select f32 cumulative", KV_CUM_OPTIONS) \
    K(PROG_KVC, K_KV_SELECT_CFS, "vox_kv_select_fs") \
    K(PROG_KVC, K_KV_SELECT_CF, "vox_kv_select_f") \
    K(PROG_KVC, K_KV_SELECT_CFB, "vox_kv_select_listed") \
    K(PROG_KVC, K_KV_SELECT_CFBL, "vox_kv_select_listed_l") \
    S(PROG_KVC, KV_AS_LISTED_L) \
    S(PROG_KVC, "kv_select.cl") \
    S(PROG_KVC, KV_AS_LISTED) \
    S(PROG_KVC, "kv_select.cl") \
    S(PROG_KVC, "kv_select_warp.cl") \
    S(PROG_KVC, "kv_select_f32.cl") \
    SUP(kv_select)
#ifdef CL_OP_LAUNCHERS

/* Bytes of the kernel's own (static) local memory, rounded up: histogram,
 * limbs, scans, broadcasts. */
#define KV_STATIC_LOCAL 10240
/* The most scratch the work-groups' slices take together. */
#define KV_SCRATCH_MAX ((size_t)128 << 20)

/* How many work-groups, each with `stride` bytes of scratch: one per tile of
 * `rows` query rows, at most 4096 and at most what KV_SCRATCH_MAX holds (at
 * least 1); a->per_block = a slice in 4-byte words. */
static size_t cl_kv_groups(vox_kv_select_args *a, size_t stride, int64_t rows)
{
    const int64_t tiles = a->BH * ((a->NB + rows - 1) / rows);
    size_t groups = KV_SCRATCH_MAX / stride;
    groups = groups < 1 ? 1 : groups > 4096 ? 4096 : groups;
    groups = (int64_t)groups < tiles ? groups : (size_t)tiles;
    a->per_block = (int64_t)(stride / 4);
    return groups;
}

/* The op's buffers and the device scratch, as both kernels take them. */
static cl_kv_select_bufs cl_kv_bufs(const vox_op_kv_select *p, cl_buf *scratch)
{
    return (cl_kv_select_bufs){.qbar = p->qbar,
                               .kbar = p->kbar,
                               .kv_start = p->kv_start,
                               .kv_count = p->kv_count,
                               .kv_cols = p->kv_cols,
                               .scratch = {scratch, 0}};
}

/* The warp kernels' program `prog` and `bytes` of scratch; where the program does not build, *flag (the
 * path's switch) goes off for good and VOX_ERR_UNSUPPORTED sends the caller to the next path. */
static vox_status cl_kv_prog_scratch(cl_dev *d, int prog, int *flag, const char *what, size_t bytes, cl_prog **pr)
{
    vox_status st = cl_get_prog(d, prog, VOX_F32, 0, 0, 0, 0, pr);
    if (st == VOX_ERR_COMPILE)
        return cl_mma_give_up(d, flag, what, st);
    return st ? st : cl_scratch(d, bytes, "kv_select");
}

/* vox_kv_select_warp: each work-group's slice of the scratch (256-byte
 * aligned) holds its tile's KV_ROWS x NBv scores, then p in place; local
 * memory the tile's qbar and, staged, a kbar chunk. Returns
 * VOX_ERR_UNSUPPORTED (d->kv_warp then off for good) when the program does
 * not build or the kernel does not launch: the caller runs vox_kv_select. */
static vox_status cl_kv_select_warp(cl_dev *d, const vox_op_dims *dm, const vox_op_kv_select *p,
                                    vox_kv_select_args *a)
{
    const size_t ls = d->kv_warp == 2 ? 32 : KV_LSZ;
    const size_t qt = 8 * KV_ROWS * (size_t)a->D + (d->kv_rowread || ls != KV_LSZ ? 0 : 4 * KV_KD * KV_KS);
    const size_t stride = (8 * KV_ROWS * (size_t)a->NBv + 255) / 256 * 256;
    const size_t groups = cl_kv_groups(a, stride, KV_ROWS);
    if (qt + KV_STATIC_LOCAL > d->local_mem || ls > d->max_wg)
        return VOX_ERR_UNSUPPORTED;
    cl_prog *pr = NULL;
    vox_status st = cl_kv_prog_scratch(d, PROG_KVW, &d->kv_warp, "kv_select (a warp per row)", groups * stride, &pr);
    if (st)
        return st;
    cl_buf scratch = {.mem = d->scratch};
    cl_kv_select_bufs b = cl_kv_bufs(p, &scratch);
    cl_grid g = {.prog = pr, .k = K_KV_SELECT_WARP, .groups = groups, .ls = ls, .local = qt,
                 .level = VOX_LOG_WARN};
    st = cl_kv_select_launch(d, dm->dtype, &b, a, &g);
    return st == VOX_ERR_BACKEND ? cl_mma_give_up(d, &d->kv_warp, "kv_select (a warp per row)", st) : st;
}

/* kv_select_f32.cl's tiles: query rows (its KF_ROWS), the words after a
 * slice's scores (KF_WORDS), the scores pass's work-group (KF_WG1) */
#define CL_KF_ROWS 32
#define CL_KF_WORDS 64
#define CL_KF_WG1 128

/* TOPK, or with cum CUMULATIVE, on f32 scores with a certificate (kv_select_f32.cl; CUMULATIVE: PROG_KVC, its
 * KF_CUM build): waves of as many tiles of CL_KF_ROWS rows as KV_SCRATCH_MAX holds (at most 4096), each wave
 * two launches: vox_kv_select_fs (a work-group per tile: the f32 scores, the head's largest key norm; the
 * build's first empties the fallback list), vox_kv_select_f (a warp per row: the certified lists, the other
 * rows to the list); then one launch after the last wave for the listed rows: TOPK's vox_kv_select_fb
 * (work-groups taking the listed rows in turn: their exact f64 scores and kw_row), CUMULATIVE's
 * vox_kv_select_listed(_l) (this file's exact kernel, a work-group of KV_LSZ a listed row in turn, each with
 * its own slice in the slices' room, its per_block: CL_KVC_ROWS rows of scores, and the row's work space
 * where local memory does not hold it, as cl_kv_select's choice). The
 * scratch: the list (VOX_KV_LIST_WORDS(BH NB, 64) words), then a slice per tile (256-byte aligned): NBv
 * words per row, then CL_KF_WORDS; the fallback's areas in the slices' room. Enqueue only. Returns
 * VOX_ERR_UNSUPPORTED (the path's switch, d->kv_f32k or d->kv_cum_f32, then off for good where the program
 * does not build or a kernel does not launch) when the caller should run an exact kernel instead. */
static vox_status cl_kv_select_f32(cl_dev *d, const vox_op_dims *dm, const vox_op_kv_select *p,
                                   vox_kv_select_args *a, int cum)
{
    const size_t lw = d->kv_warp == 2 ? 32 : KV_LSZ, lb = d->kv_warp == 2 ? 32 : 128;
    /* vox_kv_select_fs's q tile (KF_GEMM: its dims padded to 16, and 16 KB of key stage in static local memory) */
    const size_t qf = 4 * CL_KF_ROWS * (size_t)(d->kv_fs_gemm ? (a->D + 15) / 16 * 16 : a->D), qd = 8 * (size_t)a->D;
    const size_t fs_static = d->kv_fs_gemm ? KV_STATIC_LOCAL + 16384 : KV_STATIC_LOCAL;
    /* vox_kv_select_listed's local memory (qbar of its rows in f64, then the staged kbar), its slice (the
     * rows' scores, then the row's work space where local memory does not hold it: NBv x 8 bytes) */
    const size_t ql = 8 * CL_KVC_ROWS * (size_t)a->D + (d->kv_rowread ? 0 : 4 * KV_KD * KV_KS),
                 work = 8 * (size_t)a->NBv;
    const int llocal = work + ql + KV_STATIC_LOCAL <= d->local_mem;
    const size_t sl = (8 * CL_KVC_ROWS * (size_t)a->NBv + (llocal ? 0 : work) + 255) / 256 * 256;
    const size_t stride = (4 * (CL_KF_ROWS * (size_t)a->NBv + CL_KF_WORDS) + 255) / 256 * 256;
    const size_t lead = 4 * (size_t)VOX_KV_LIST_WORDS(a->BH * a->NB, 64); /* kv_select_f32.cl's kf_lead, bytes */
    const int64_t tiles = a->BH * ((a->NB + CL_KF_ROWS - 1) / CL_KF_ROWS);
    if (qf + fs_static > d->local_mem || lw > d->max_wg || CL_KF_WG1 > d->max_wg || lead >= KV_SCRATCH_MAX ||
        (cum && (ql + KV_STATIC_LOCAL > d->local_mem || KV_LSZ > d->max_wg)))
        return VOX_ERR_UNSUPPORTED;
    size_t groups = cl_kv_groups(a, stride, CL_KF_ROWS);
    if (lead + groups * stride > KV_SCRATCH_MAX) /* the list's room comes off the slices' */
        groups = (KV_SCRATCH_MAX - lead) / stride > 1 ? (KV_SCRATCH_MAX - lead) / stride : 1;
    const size_t room = groups * stride; /* the slices, before the tests' wave cap */
    groups = d->kv_wave > 0 && groups > (size_t)d->kv_wave ? (size_t)d->kv_wave : groups; /* tests */
    int *const flag = cum ? &d->kv_cum_f32 : &d->kv_f32k;
    const char *what = cum ? "kv_select (CUMULATIVE on f32 scores)" : "kv_select (TOPK on f32 scores)";
    cl_prog *pr = NULL;
    vox_status st = cl_kv_prog_scratch(d, cum ? PROG_KVC : PROG_KVF, flag, what, lead + room, &pr);
    if (st)
        return st;
    cl_buf scratch = {.mem = d->scratch};
    cl_kv_select_bufs b = cl_kv_bufs(p, &scratch);
    for (int64_t t0 = 0; !st && t0 < tiles; t0 += (int64_t)groups) {
        const size_t n = tiles - t0 < (int64_t)groups ? (size_t)(tiles - t0) : groups;
        a->tile0 = t0;
        const cl_grid gs = {.prog = pr, .k = cum ? K_KV_SELECT_CFS : K_KV_SELECT_FS, .groups = n, .ls = CL_KF_WG1,
                            .local = qf, .level = VOX_LOG_WARN};
        const cl_grid gf = {.prog = pr, .k = cum ? K_KV_SELECT_CF : K_KV_SELECT_F,
                            .groups = n * (CL_KF_ROWS / (lw / 32)), .ls = lw, .level = VOX_LOG_WARN};
        st = cl_kv_select_launch(d, dm->dtype, &b, a, &gs);
        if (!st)
            st = cl_kv_select_launch(d, dm->dtype, &b, a, &gf);
    }
    a->tile0 = 0;
    const int64_t rows = a->BH * a->NB;
    if (!st && a->NBv > 0) {
        /* the listed rows: a work-group each where the slices' room holds their areas (TOPK's vox_kv_select_fb:
         * 2 NBv words; CUMULATIVE's vox_kv_select_listed(_l): its own slices, sl bytes) */
        const size_t area = cum ? sl : 8 * (size_t)a->NBv;
        const int64_t areas = (int64_t)(room / area);
        if (cum)
            a->per_block = (int64_t)(sl / 4);
        const cl_grid gb = {.prog = pr, .k = !cum ? K_KV_SELECT_FB : llocal ? K_KV_SELECT_CFBL : K_KV_SELECT_CFB,
                            .groups = (size_t)(areas < rows ? areas : rows), .ls = cum ? KV_LSZ : lb,
                            .local = !cum ? qd : llocal ? work + ql : ql, .level = VOX_LOG_WARN};
        st = cl_kv_select_launch(d, dm->dtype, &b, a, &gb);
    }
    return st == VOX_ERR_BACKEND ? cl_mma_give_up(d, flag, what, st) : st;
}

/* Each work-group's slice of the scratch (256-byte aligned): its tile's
 * scores, KV_ROWS x NBv reals, and when the row work space (NBv x 8 bytes)
 * does not fit local memory beside the tile's qbar (KV_ROWS x D reals),
 * that work space too (vox_kv_select_global). */
vox_status cl_kv_select(void *devp, const vox_op_dims *dm, const vox_op_kv_select *p)
{
    cl_dev *d = devp;
    vox_kv_select_args a;
    vox_kv_select_args_init(&a, dm, p);
    /* TOPK on f64 devices: a warp per row, on f32 scores with a certificate (kv_select_f32.cl;
     * VOXATTN_OPENCL_KV_TOPK_F64=1: on the exact f64 scores, kv_select_warp.cl), unless it failed */
    if (d->kv_warp && d->fp64 && a.rule == 1 && d->kv_f32k) {
        vox_status ws = cl_kv_select_f32(d, dm, p, &a, 0);
        if (ws != VOX_ERR_UNSUPPORTED)
            return ws;
    }
    /* CUMULATIVE likewise (VOXATTN_OPENCL_KV_CUM_F32=0: not), below 2^14 video blocks (kf_mass_add's
     * limbs); its refused rows through vox_kv_select_listed (this file's exact kernel); else that kernel for
     * every row, below */
    if (d->kv_warp && d->fp64 && a.rule == 0 && d->kv_cum_f32 && a.NBv < (1 << 14)) {
        vox_status ws = cl_kv_select_f32(d, dm, p, &a, 1);
        if (ws != VOX_ERR_UNSUPPORTED)
            return ws;
    }
    if (d->kv_warp && d->fp64 && a.rule == 1) {
        vox_status ws = cl_kv_select_warp(d, dm, p, &a);
        if (ws != VOX_ERR_UNSUPPORTED)
            return ws;
    }
    const size_t rsz = d->fp64 ? 8 : 4, work = 8 * (size_t)a.NBv;
    /* qbar, then the staged kbar */
    const size_t qt = rsz * KV_ROWS * (size_t)a.D + (d->kv_rowread ? 0 : 4 * KV_KD * KV_KS);
    const int local = work + qt + KV_STATIC_LOCAL <= d->local_mem;
    const size_t stride = (rsz * KV_ROWS * (size_t)a.NBv + (local ? 0 : work) + 255) / 256 * 256;
    const size_t groups = cl_kv_groups(&a, stride, KV_ROWS);
    cl_prog *pr = NULL;
    vox_status st = cl_get_prog(d, PROG_KV, VOX_F32, 0, 0, 0, 0, &pr);
    if (!st)
        st = cl_scratch(d, groups * stride, "kv_select");
    if (st)
        return st;
    cl_buf scratch = {.mem = d->scratch};
    cl_kv_select_bufs b = cl_kv_bufs(p, &scratch);
    cl_grid g = {.prog = pr, .k = local ? K_KV_SELECT : K_KV_SELECT_GLOBAL, .groups = groups, .ls = KV_LSZ,
                 .local = local ? work + qt : qt};
    return cl_kv_select_launch(d, dm->dtype, &b, &a, &g);
}

/* Work-groups of KV_LSZ items; the radix passes' mass limbs are exact
 * below 2^19 video blocks. */
static vox_status cl_kv_select_supports(const cl_dev *d, const vox_op_dims *dm, char *reason, size_t n)
{
    if (d->max_wg < KV_LSZ || dm->n_video_blocks >= (1 << 19)) {
        snprintf(reason, n, "work-groups of %d items (device max %zu) and fewer than 2^19 video blocks (%lld)",
                 KV_LSZ, d->max_wg, (long long)dm->n_video_blocks);
        return VOX_ERR_UNSUPPORTED;
    }
    return VOX_OK;
}

#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
