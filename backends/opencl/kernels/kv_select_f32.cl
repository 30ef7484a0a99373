/* voxattn OpenCL: kv_select's TOPK rule on f32 scores with a certificate
 * (program PROG_KVF: kv_select.cl, kv_select_warp.cl, then this file; f64
 * devices where vox_kv_select_warp runs, unless VOXATTN_OPENCL_KV_TOPK_F64).
 * The port of the Vulkan backend's kv_select_sgw_fs, _f, _fb
 * (shaders/kv_select_sgw.comp, SGW_F32; the certificate and its error
 * analysis are the CUDA path's: backends/gpu/kernels/kv_select_fast.cuh,
 * vox_kf_row, vox_kf_topk). Tiles of KF_ROWS query rows of one head, run in
 * waves of as many tiles as KV_SCRATCH_MAX holds. The scratch starts with the
 * build's fallback list (kf_lead words: its count, then the rows m = bh NB + i
 * that pass 2 could not certify), then a slice per tile: row r's scores at
 * r NBv words, then KF_WORDS words (the head's largest key sum of squares).
 * Each wave is two launches, and the fallback one launch after the last wave
 * (as the Vulkan path, session 34):
 * 1. vox_kv_select_fs, a work-group of KF_WG1 per tile: the f32 scores a_j
 *    of the tile's video rows (chunks of KF_CHUNK dims each summed from 0 by
 *    sequential fma, the chunk sums added in order), the largest f32 sum of
 *    squares of the head's keys (+inf if one is not finite); the build's
 *    first launch empties the list.
 * 2. vox_kv_select_f, one warp per row (kv_select_warp.cl's warp ops:
 *    KV_WARP 1 inline PTX, KV_WARP 2 emulated with 32-item work-groups):
 *    kf_topk certifies the n largest a_j as the reference's n first blocks
 *    (the bound A, err, Es, delta; the range; a 256-bin histogram and its
 *    boundary bin B's blocks (<= KF_CAND); T by counting; the window
 *    [tlo, thi]; the band (<= KF_BAND) from B's blocks, or from a sweep of the
 *    row when the window leaves B; its exact f64 scores, ranked, the close
 *    check; the taken band blocks marked +inf, the others -inf), then the
 *    ordered compaction by ballots (a_j > thi); a row it cannot certify goes
 *    to the list and writes nothing.
 * 3. vox_kv_select_fb, once after the last wave: work-group g takes the
 *    listed rows g, g + groups, ...: the row's exact f64 scores (bitwise the
 *    reference's: fma over the dims from 0, then * scale) into its own area
 *    of the slices' room (2 NBv words), then kw_row (the exact selection of
 *    vox_kv_select_warp) by warp 0.
 * Every warp op is reached by the whole warp with warp-uniform control flow,
 * as flat code (loops of 0 trips where a step does not apply, an `ok` flag
 * instead of early returns): PoCL mishandled emulated warp ops inside
 * branches (NOTES.md, session 14). KF_FALLALL (VOXATTN_OPENCL_KV_FALLBACK,
 * tests only): every row with 0 < n < NBv to the fallback.
 * KF_CUM (program PROG_KVC, VOXATTN_OPENCL_KV_CUM_F32, session 35): the
 * CUMULATIVE rule the same way (Vulkan's cum_f32, CUDA's vox_kf_cum): pass 1
 * in chunks of 16 dims, pass 2 kf_cum (f32 weights, a radix descent with
 * fixed-point masses, the count certified, the band re-scored exactly; a
 * refused video row to the list, every one with KF_FALLALL), and for pass 3
 * the host launches kv_select.cl's exact kernel over the listed rows
 * (vox_kv_select_listed) instead of vox_kv_select_fb. */
#ifdef __OPENCL_VERSION__
#if VOX_USE_FP64

#define KF_ROWS 32   /* query rows per tile (the host's CL_KF_ROWS) */
#define KF_WORDS 64  /* words after a slice's scores: the key norm, even (the host's CL_KF_WORDS) */
/* The fallback list's words at the scratch's head: 1 + BH NB rounded up to 64 (the slices stay 256-byte
 * aligned; the host's lead, kernel_args.h) */
long kf_lead(long BH, long NB) { return VOX_KV_LIST_WORDS(BH * NB, 64L); }
#define KF_WG1 128   /* vox_kv_select_fs's work-group (the host's CL_KF_WG1) */
#ifndef KF_KPT
#define KF_KPT 2 /* keys per item in vox_kv_select_fs (PROG_KVC: 1, as Vulkan's _fs_c16) */
#endif
#ifndef KF_CHUNK
#define KF_CHUNK 128 /* dims summed apart before joining a score's running sum (the bound's L; >= D: one f32
                      * sum per score, half the registers: H200 Vulkan 1.83 against 2.00 ms at 16; PROG_KVC:
                      * 16, the narrower bound CUMULATIVE's certificate needs) */
#endif
#ifndef KF_GEMM
#define KF_GEMM 0 /* VOXATTN_OPENCL_KV_FS_GEMM: vox_kv_select_fs in register tiles (8 rows x 4 keys an item, the keys
                   * through local memory 16 dims at a time; Vulkan's twin, kv_select_sgw_fs_g, was measured
                   * slower on the H200 and removed in session 37) */
#endif
#ifndef KF_CUM
#define KF_CUM 0 /* PROG_KVC: vox_kv_select_f runs the CUMULATIVE rule (kf_cum) instead of TOPK */
#endif
#define KF_CAND 256  /* the boundary bin's blocks, at most */
#define KF_BAND 64   /* the band's blocks re-scored exactly, at most */
#define KF_U 4       /* sweep steps loaded before the first is used */
#ifndef KF_FALLALL
#define KF_FALLALL 0 /* tests only: every row to the fallback */
#endif
#define KF_POS_INF 0x7f800000u
#define KF_NEG_INF 0xff800000u

/* f32 and f64 values told finite by their bits */
int kf_fin(float x) { return (as_uint(x) & 0x7f800000u) != 0x7f800000u; }
int kf_find(double x) { return (as_ulong(x) & 0x7ff0000000000000UL) != 0x7ff0000000000000UL; }
/* an order-preserving key of a float's bits (-0 below +0), and back */
uint kf_okey(float x)
{
    const uint u = as_uint(x);
    return (u >> 31) ? ~u : (u | 0x80000000u);
}
float kf_ofloat(uint k) { return as_float((k >> 31) ? (k & 0x7fffffffu) : ~k); }

/* The warp's max, min and sum of unsigned values (every lane the same result) */
uint kw_umax(uint x, __local uint *wb, int lane)
{
    for (int o = 16; o > 0; o >>= 1)
        x = max(x, kw_shfl_xor(x, o, wb, lane));
    return x;
}
uint kw_umin(uint x, __local uint *wb, int lane)
{
    for (int o = 16; o > 0; o >>= 1)
        x = min(x, kw_shfl_xor(x, o, wb, lane));
    return x;
}
uint kw_uadd(uint x, __local uint *wb, int lane)
{
    for (int o = 16; o > 0; o >>= 1)
        x += kw_shfl_xor(x, o, wb, lane);
    return x;
}

/* The bin of a score: round(clamp(x inv + nb, 0, 255)), monotone non-decreasing
 * in x (every step is), so a higher bin holds only larger scores; one function
 * for every caller */
uint kf_bin(float x, float inv, float nb)
{
    const float t = fma(x, inv, nb);
    return (uint)rint(clamp(t, 0.0f, 255.0f));
}
/* The next f32 toward +inf (up) or -inf from a finite x */
float kf_next(float x, int up)
{
    const uint u = as_uint(x);
    if ((u & 0x7fffffffu) == 0u)
        return as_float(up ? 1u : 0x80000001u);
    return as_float(((u >> 31) == 0u) == (up != 0) ? u + 1u : u - 1u);
}
/* A sweep's next KF_U steps of scores: block j0 + 32 u + lane's bits, 0 from n on */
void kf_vals(__global const uint *P, long j0, long n, int lane, uint *vv)
{
    #pragma unroll
    for (int u = 0; u < KF_U; u++) {
        const long j = j0 + 32 * u + lane;
        vv[u] = j < n ? P[j] : 0u;
    }
}
/* The reference's score of key row k for query row q: its f64 sequential sum
 * (q k exact in f64: fma rounds once per step, as `acc += q * k`) times scale */
double kf_dot64(__global const float *q, __global const float *k, int D, double scale)
{
    double acc = 0.0;
    for (int e = 0; e < D; e++)
        acc = fma((double)q[e], (double)k[e], acc);
    return acc * scale;
}

/* The bound on pass 1's f32 sums, kf_topk's and kf_cum's (kv_select_sgw.comp's score_bound):
 *   |a_j - qbar.kbar_j| <= *err = (gL + gC (1 + gL)) A + 2 D 2^-125 (1 + |q| + |k|)
 * (chunks of KF_CHUNK dims summed from 0 in order, gL = gamma_L, their C sums added in order, gamma_C; fused
 * or not; the absolute term covers underflow), *A >= |q| max_j |k_j| (the f64 sum of q^2 in any order, nk2
 * the head's largest f32 key sum of squares), *Bs >= |s_j|. 0 where it does not hold (non-finite norms or
 * scale, D > 4096, scale below 2^-100, A >= 2^100). Every lane of the warp calls it (a warp sum). */
int kf_bound(__global const float *q, int D, float nk2, double scale, __local uint *wb, int lane, double *A,
             double *err, double *Bs)
{
    const double Dd = (double)D, u24 = 0x1p-24;
    double lq = 0.0;
    for (int e = lane; e < D; e += 32) {
        const double x = (double)q[e];
        lq += x * x;
    }
    const double nq2 = kw_sum(lq, wb, lane);
    const double g32 = Dd * u24 / (1.0 - Dd * u24);
    const double nkb = sqrt(((double)nk2 + Dd * 0x1p-125) / (1.0 - g32) * (1.0 + 0x1p-40));
    const double nqb = sqrt(nq2 * (1.0 + 0x1p-40));
    const double a = nqb * nkb * (1.0 + 0x1p-40);
    const double L = (double)min(KF_CHUNK, D), C = ceil(Dd / L), gC = C * u24 / (1.0 - C * u24),
                 gL = L * u24 / (1.0 - L * u24);
    const double e = (gL + gC * (1.0 + gL)) * (1.0 + 0x1p-40) * a + 2.0 * Dd * 0x1p-125 * (1.0 + nqb + nkb);
    *A = a, *err = e, *Bs = scale * (a + e) * (1.0 + 0x1p-40);
    return kf_fin(nk2) && kf_find(nq2) && kf_find(scale) && D <= 4096 && scale >= 0x1p-100 && a < 0x1p100;
}

/* The largest and smallest of the row's na f32 scores at P (order keys: every lane the same bits; na 0:
 * NaN). Warp-uniform. */
void kf_range(__global const uint *P, long na, __local uint *wb, int lane, float *amax, float *amin)
{
    uint lmx = 0u, lmn = 0xffffffffu;
    for (long j0 = 0; j0 < na; j0 += 32 * KF_U) {
        uint vv[KF_U];
        kf_vals(P, j0, na, lane, vv);
        #pragma unroll
        for (int u = 0; u < KF_U; u++)
            if (j0 + 32 * u + lane < na) {
                const uint k = kf_okey(as_float(vv[u]));
                lmx = max(lmx, k), lmn = min(lmn, k);
            }
    }
    *amax = kf_ofloat(kw_umax(lmx, wb, lane)), *amin = kf_ofloat(kw_umin(lmn, wb, lane));
}

/* The band's decision, kf_topk's and kf_cum's (kv_select_sgw.comp's band_take): nb blocks at bj, rr of them
 * to take. Where 0 < rr < nb, their exact f64 scores (bitwise the reference's s) ranked by (s desc, index
 * asc), the rr best taken; 0 where a band score lies within delta of the weakest taken one without being
 * equal to it (the reference's p may order them either way). The taken blocks' words at P become +inf, the
 * others `other`. ok 0: nothing (loops of 0 trips), 1. Warp-uniform, flat. */
int kf_band(__global uint *P, uint nb, uint rr, int ok, __global const float *q, __global const float *kh, int D,
            double scale, double delta, uint other, __local uint *bj, __local double *bs, __local uint *wb, int lane)
{
    /* the band's exact scores, the rr best by (s desc, index asc); ss: the weakest taken */
    const int dob = ok && rr > 0u && rr < nb;
    const uint nbb = dob ? nb : 0u;
    for (uint b = (uint)lane; b < nbb; b += 32)
        bs[b] = kf_dot64(q, kh + (long)bj[b] * D, D, scale);
    KW_SYNC();
    double lss = -INFINITY;
    for (uint b = (uint)lane; b < nbb; b += 32) {
        const double sb = bs[b];
        const uint jb = bj[b];
        uint rank = 0u;
        for (uint c = 0u; c < nbb; c++)
            rank += bs[c] > sb || (bs[c] == sb && bj[c] < jb) ? 1u : 0u;
        if (rank == rr - 1u)
            lss = sb;
        P[jb] = rank < rr ? KF_POS_INF : other;
    }
    const double ss = kw_max(lss, wb, lane);
    int close = 0;
    for (uint b = (uint)lane; b < nbb; b += 32) {
        const double sb = bs[b];
        close = close || !(sb == ss || fabs(sb - ss) > delta);
    }
    const uint cm = kw_ballot(close, wb, lane);
    /* no band score to rank: every band block in (rr = nb) or out (rr = 0) */
    const uint nm = ok && !dob ? nb : 0u;
    for (uint b = (uint)lane; b < nm; b += 32)
        P[bj[b]] = rr > 0u ? KF_POS_INF : other;
    KW_SYNC();
    return cm == 0u;
}

/* The bin of a 256-bin histogram wk where the count from the top reaches t (0 < t <= the total): the bin,
 * the count in the bins above it and its own count, the same on every lane. Lane l scans bins 255 - 8l down
 * to 248 - 8l after an exclusive scan of the lanes' sums. The whole warp calls it. */
void kf_bin_at(__local const uint *wk, uint t, __local uint *wb, int lane, uint *bin, uint *above, uint *cnt)
{
    const int top = 255 - 8 * lane;
    uint c8[8], tot = 0u;
    #pragma unroll
    for (int k = 0; k < 8; k++)
        c8[k] = wk[top - k], tot += c8[k];
    const uint xc = kw_scan_excl(tot, wb, lane);
    uint fb = 0u, fx = 0u, fc = 0u;
    if (xc < t && t <= xc + tot) {
        uint acc = xc;
        #pragma unroll
        for (int k = 0; k < 8; k++) {
            if (acc < t && t <= acc + c8[k])
                fb = (uint)(top - k), fx = acc, fc = c8[k];
            acc += c8[k];
        }
    }
    *bin = kw_umax(fb, wb, lane);
    *above = kw_umax(fx, wb, lane);
    *cnt = kw_umax(fc, wb, lane);
}

/* Whether the n largest of the row's f32 scores a_j (bits at P[j]; 0 < n <
 * NBv) are certainly the reference's n first blocks (by p, ties by index),
 * and then *thi_out: the list takes the blocks with a_j > thi, the band's
 * taken blocks marked +inf in place (the others -inf). The bound, the window
 * and the band are kv_select_sgw_f's topk_f32 (shaders/kv_select_sgw.comp),
 * the CUDA path's constants:
 *   |a_j - qbar.kbar_j| <= err = (gL + gC (1 + gL)) A + 2 D 2^-125 (1 + |q| + |k|)
 * (chunks of 16 dims summed from 0 in order, gL = gamma_16, their C sums
 * added in order, gamma_C; fused or not), A >= |q| max_j |k_j|; Es bounds
 * |s_j - scale a_j| (the reference's rounding of its f64 sum and scale
 * included) and delta the gap that orders the reference's p strictly (p
 * normal). T: the n-th largest a, by a histogram of 256 bins linear in a
 * over [amin, amax], its boundary bin's blocks and counting. Blocks above
 * T + W are in, below T - W out (W >= (2 Es + delta) / scale), the band
 * re-scored exactly and ranked by (s desc, index asc); no band score may lie
 * within delta of the weakest taken one unless equal to it. ok 0 (the row
 * needs no certificate) or any failed step: every later step runs 0 trips,
 * and the result is 0. Warp-uniform, flat. */
int kf_topk(__global uint *P, long NBv, long n, float nk2, __global const float *q, __global const float *kh, int D,
            double scale, int ok, __local uint *wk, __local uint *bj, __local double *bs, __local uint *wb, int lane,
            float *thi_out)
{
    const uint below = (1u << lane) - 1u, nn = (uint)n;
    const double Dd = (double)D;
    double A, err, Bs;
    const int bounded = kf_bound(q, D, nk2, scale, wb, lane, &A, &err, &Bs); /* reached by every row (a warp op) */
    const double delta = 0x1p-47 + 0x1p-49 * Bs;
    const double Es = (scale * (err + Dd * 0x1p-53 * 1.01 * A) + 0x1p-52 * Bs) * (1.0 + 0x1p-30);
    ok = ok && bounded;
    float amax, amin;
    kf_range(P, ok ? NBv : 0, wb, lane, &amax, &amin);
    const float span = amax - amin, inv = 255.0f / span, nb0 = -amin * inv;
    /* every score equal, or a range f32 cannot scale: the fallback */
    ok = ok && kf_fin(amax) && kf_fin(amin) && kf_fin(span) && kf_fin(inv) && kf_fin(nb0) && span > 0.0f &&
         inv > 0.0f;
    /* the histogram */
    const long nh = ok ? NBv : 0;
    for (int b = lane; b < 256; b += 32)
        wk[b] = 0u;
    KW_SYNC();
    for (long j0 = 0; j0 < nh; j0 += 32 * KF_U) {
        uint vv[KF_U];
        kf_vals(P, j0, nh, lane, vv);
        #pragma unroll
        for (int u = 0; u < KF_U; u++)
            if (j0 + 32 * u + lane < nh)
                atomic_inc(&wk[kf_bin(as_float(vv[u]), inv, nb0)]);
    }
    KW_SYNC();
    /* the bin B where the count from the top reaches n: above = #{bins > B} */
    uint B, above, cnt0;
    kf_bin_at(wk, nn, wb, lane, &B, &above, &cnt0);
    KW_SYNC(); /* the histogram read before the candidates overwrite it */
    ok = ok && cnt0 <= KF_CAND;
    const uint cnt = ok ? cnt0 : 0u, rem = nn - above;
    /* B's blocks (value bits at wk[k], index at wk[KF_CAND + k]), in index order */
    const long nc = ok ? NBv : 0;
    uint base = 0u;
    for (long j0 = 0; j0 < nc; j0 += 32 * KF_U) {
        uint vv[KF_U];
        kf_vals(P, j0, nc, lane, vv);
        #pragma unroll
        for (int u = 0; u < KF_U; u++) {
            const long j = j0 + 32 * u + lane;
            const int inb = j < nc && kf_bin(as_float(vv[u]), inv, nb0) == B;
            const uint m = kw_ballot(inb, wb, lane);
            if (inb) {
                const uint at = base + popcount(m & below);
                wk[at] = vv[u], wk[KF_CAND + at] = (uint)j;
            }
            base += popcount(m);
        }
    }
    KW_SYNC();
    /* T: the rem-th largest of B's values (with multiplicity) */
    uint tl = 0u;
    for (uint k = (uint)lane; k < cnt; k += 32) {
        const float vk = as_float(wk[k]);
        uint gt = 0u, ge = 0u;
        for (uint c = 0u; c < cnt; c++) {
            const float vc = as_float(wk[c]);
            gt += vc > vk ? 1u : 0u, ge += vc >= vk ? 1u : 0u;
        }
        if (gt < rem && rem <= ge)
            tl = kf_okey(vk); /* every lane that finds it finds the same value */
    }
    const double Tp = (double)kf_ofloat(kw_umax(tl, wb, lane));
    /* the window [tlo, thi] around T */
    const double W = (2.0 * Es + delta) / scale * (1.0 + 0x1p-20);
    float thi = (float)(Tp + W), tlo = (float)(Tp - W);
    if (kf_fin(thi) && (double)thi < Tp + W)
        thi = kf_next(thi, 1);
    if (kf_fin(tlo) && (double)tlo > Tp - W)
        tlo = kf_next(tlo, 0);
    ok = ok && kf_fin(thi) && kf_fin(tlo) && (double)thi >= Tp + W && (double)tlo <= Tp - W;
    ok = ok && scale * ((double)amax - (double)tlo) + 2.0 * Es <= 60.0; /* else a band p may not be normal */
    /* in: the blocks above thi; the band: those in [tlo, thi]. Where the
     * window lies in B (every block of a higher bin is above thi, of a lower
     * one below tlo), from B's blocks; else by a sweep of the row */
    const int inB = ok && kf_bin(thi, inv, nb0) == B && kf_bin(tlo, inv, nb0) == B;
    uint nin = 0u, nb = 0u;
    const uint ncand = inB ? cnt : 0u;
    for (uint k0 = 0u; k0 < ncand; k0 += 32) {
        const uint k = k0 + (uint)lane;
        const float v = k < ncand ? as_float(wk[k]) : 0.0f;
        const int bd = k < ncand && v >= tlo && v <= thi;
        nin += k < ncand && v > thi ? 1u : 0u;
        const uint m = kw_ballot(bd, wb, lane);
        const uint at = nb + popcount(m & below);
        if (bd && at < KF_BAND)
            bj[at] = wk[KF_CAND + k];
        nb += popcount(m);
    }
    const long ns = ok && !inB ? NBv : 0;
    for (long j0 = 0; j0 < ns; j0 += 32 * KF_U) {
        uint vv[KF_U];
        kf_vals(P, j0, ns, lane, vv);
        #pragma unroll
        for (int u = 0; u < KF_U; u++) {
            const long j = j0 + 32 * u + lane;
            const float v = as_float(vv[u]);
            const int bd = j < ns && v >= tlo && v <= thi;
            nin += j < ns && v > thi ? 1u : 0u;
            const uint m = kw_ballot(bd, wb, lane);
            const uint at = nb + popcount(m & below);
            if (bd && at < KF_BAND)
                bj[at] = (uint)j;
            nb += popcount(m);
        }
    }
    nin = kw_uadd(nin, wb, lane) + (inB ? above : 0u);
    ok = ok && !(nb > KF_BAND || nin > nn || nn - nin > nb);
    const uint rr = nn - nin; /* the band's blocks to take */
    KW_SYNC();
    const int banded = kf_band(P, nb, rr, ok, q, kh, D, scale, delta, KF_NEG_INF, bj, bs, wb, lane);
    *thi_out = thi;
    return ok && banded;
}

#if KF_CUM /* CUMULATIVE on the f32 scores: Vulkan's cum_f32 (kv_select_sgw.comp, SGW_MASS), CUDA's vox_kf_cum */
/* floor(w 2^36) (w in [0, 1]) into two 18-bit limbs of bin b (ms[b], ms[256 + b]): 32-bit sums exact in any
 * order while NBv < 2^14 (the host checks) */
void kf_mass_add(__local uint *ms, uint b, float w)
{
    /* from w's bits by integer shifts (w = m 2^(max(e, 1) - 150): w 2^36 = m 2^s, s <= 13), the f64 floor's
     * value bit for bit without f64 conversions (Vulkan's mass_add) */
    const uint u = as_uint(w), e = u >> 23, m = (u & 0x7fffffu) | (e != 0u ? 0x800000u : 0u);
    const int s = (int)max(e, 1u) - 114;
    const uint x = s >= 0 ? 0u : s > -32 ? m >> (uint)(-s) : 0u;
    const uint lo = s >= 0 ? (m << (uint)s) & 0x3ffffu : x & 0x3ffffu;
    const uint hi = s >= 0 ? m >> (uint)(18 - s) : x >> 18;
    atomic_add(&ms[b], lo);
    atomic_add(&ms[256 + b], hi);
}
/* bin b's mass, in units of 2^-36 */
double kf_mass_at(__local const uint *ms, uint b) { return (double)ms[b] + (double)ms[256 + b] * 0x1p18; }

/* One radix pass's bins over the weights' bits (at P[j], j < NBv) in [kmin, kmin + 2^len): counts at wk[d]
 * (mass: the masses at ms) of the digits d = bits [lo, hi) of rel = bits - kmin, for the rel whose bits from
 * hi up equal prefix's. Warp-uniform. */
void kf_wbins(__global const uint *P, long NBv, uint kmin, uint prefix, uint lo, uint hi, int mass, __local uint *wk,
              __local uint *ms, int lane)
{
    for (int b = lane; b < 256; b += 32)
        wk[b] = 0u, ms[b] = 0u, ms[256 + b] = 0u;
    KW_SYNC();
    const uint dm = (1u << (hi - lo)) - 1u;
    for (long j0 = 0; j0 < NBv; j0 += 32 * KF_U) {
        uint vv[KF_U];
        kf_vals(P, j0, NBv, lane, vv);
        #pragma unroll
        for (int u = 0; u < KF_U; u++) {
            const uint rel = vv[u] - kmin;
            if (j0 + 32 * u + lane < NBv && (hi >= 32u || ((rel ^ prefix) >> hi) == 0u)) {
                const uint b = (rel >> lo) & dm;
                atomic_inc(&wk[b]);
                if (mass)
                    kf_mass_add(ms, b, as_float(vv[u]));
            }
        }
    }
    KW_SYNC();
}

/* The n-th largest weight's bits (0 < n < NBv), or the low end of a bucket taken whole: #{w >= T} >= n,
 * #{w > T} <= n (vox_kf_top_value); act 0: no pass, kmin.
 * Warp-uniform, flat (a loop on a warp-uniform flag). */
uint kf_top_value(__global const uint *P, long NBv, uint n, uint kmin, uint len, int act, __local uint *wk,
                  __local uint *ms, __local uint *wb, int lane)
{
    uint prefix = 0u, rem = n, hi = len, lo = len > 8u ? len - 8u : 0u;
    for (int live = act; live;) {
        kf_wbins(P, NBv, kmin, prefix, lo, hi, 0, wk, ms, lane);
        uint bin, above, cnt;
        kf_bin_at(wk, rem, wb, lane, &bin, &above, &cnt);
        rem -= above;
        KW_SYNC(); /* the bins read before the next pass clears them */
        prefix |= bin << lo;
        live = !(cnt == rem || lo == 0u);
        hi = lo, lo = lo > 8u ? lo - 8u : 0u;
    }
    return kmin + prefix;
}

/* vox_kf_cum_certify: c when the exact masses of the c - 1 and c first blocks lie below and at or above tau by
 * the bounds (bp, bc: the fixed-point masses of the c - 1 and c largest w; W: all of them; Ep: the bound on
 * the exponents' errors), else -1 */
long kf_cum_certify(long c, double bp, double bc, double W, long NBv, double tau, double Ep)
{
    const double Nd = (double)NBv, mu = (2.0 * Nd + 600.0) * 0x1p-52,
                 m = (2.0 * Nd + 512.0) * 0x1p-52 + Nd * 0x1p-120;
    const double e2 = (1.0 / exp(-2.0 * Ep)) * (1.0 + 0x1p-40);
    const double pp = min((bp + Nd) / W * (1.0 + mu), 1.0);
    double pcv = bc / (W + Nd) * (1.0 - mu);
    pcv = pcv > 0.0 ? min(pcv, 1.0) : 0.0;
    const double hi = pp / (pp + (1.0 - pp) / e2) * (1.0 + 0x1p-40);
    const double lo = pcv > 0.0 ? pcv / (pcv + (1.0 - pcv) * e2) * (1.0 - 0x1p-40) : 0.0;
    return hi < tau - m && lo >= tau + m ? c : -1;
}

/* The cumulative count (0 < tau) from the row's weights, or -1 (vox_kf_cum): a radix descent with per-bin
 * counts and fixed-point masses to the block where the running mass of the largest w first reaches tau W, then
 * kf_cum_certify; *T_out the low end of the bucket it ends in (kf_top_value's T for n = c). sd: 32 doubles
 * of the warp's (kf_cum lends the band's). go 0: no pass, -1. Warp-uniform, flat: every pass's warp ops
 * reached by every lane, the outcome chosen after them. */
long kf_cum_count(__global const uint *P, long NBv, double tau, double Ep, uint kmin, uint len, int go,
                  __local uint *wk, __local uint *ms, __local double *sd, __local uint *wb, int lane, uint *T_out)
{
    uint prefix = 0u, hi = len, lo = len > 8u ? len - 8u : 0u, above = 0u, cnt = 0u;
    double W = 0.0, tgt = 0.0, before = 0.0;
    long res = -1;
    int tail = 0;
    for (int live = go; live;) {
        kf_wbins(P, NBv, kmin, prefix, lo, hi, 1, wk, ms, lane);
        uint ct = 0u;
        double st = 0.0;
        for (int q = 0; q < 8; q++) { /* lane t's bins 255 - 8t - q, descending */
            const uint b = (uint)(255 - 8 * lane - q);
            ct += wk[b], st += kf_mass_at(ms, b);
        }
        /* the lanes' masses before each and in all: integers below 2^53 (units of 2^-36), so the sums through
         * sd in lane order are exact and every lane's W the same (two syncs where shuffles of two words would
         * take 40 emulated barriers: PoCL's compile time) */
        const uint cx = kw_scan_excl(ct, wb, lane);
        sd[lane] = st;
        KW_SYNC();
        double sx = 0.0, sall = 0.0;
        for (int k = 0; k < 32; k++)
            sx += k < lane ? sd[k] : 0.0, sall += sd[k];
        if (hi == len) /* the first pass: every w */
            W = sall, tgt = tau * W;
        double run = before + sx, hrun = 0.0, hs = 0.0;
        uint cab = above + cx, hit = 256u, hab = 0u, hc = 0u;
        for (int q = 0; q < 8; q++) {
            const uint b = (uint)(255 - 8 * lane - q), cq = wk[b];
            const double sq = kf_mass_at(ms, b);
            if (hit == 256u && cq > 0u && run + sq >= tgt)
                hit = (uint)(8 * lane + q), hrun = run, hab = cab, hc = cq, hs = sq;
            run += sq, cab += cq;
        }
        const uint first = kw_umin(hit, wb, lane);
        /* the one lane whose bins cross (first < 256) tells the others through sd and ms (read by every lane
         * before kw_umin's syncs) */
        if (hit == first && first < 256u)
            sd[0] = hrun, sd[1] = hs, ms[0] = hc, ms[1] = hab;
        KW_SYNC();
        const double bf = sd[0], sb = sd[1];
        const uint cn = ms[0], ab = ms[1];
        KW_SYNC(); /* sd and ms read before the next pass writes them */
        if (first == 256u) { /* the mass does not reach tau W */
            res = hi == len && tau > 1.0 + (2.0 * (double)NBv + 512.0) * 0x1p-52 + 0x1p-30 ? NBv : -1;
            live = 0;
        } else {
            cnt = cn, above = ab, before = bf;
            prefix |= (255u - first) << lo;
            if (cnt == 1u) {
                res = kf_cum_certify((long)above + 1, before, before + sb, W, NBv, tau, Ep);
                live = 0;
            } else if (lo == 0u) {
                tail = 1, live = 0;
            } else {
                hi = lo, lo = lo > 8u ? lo - 8u : 0u;
            }
        }
    }
    const uint T = kmin + prefix;
    *T_out = T;
    if (tail) { /* cnt blocks of the same w: the crossing is the t-th of them */
        const double Pm = floor((double)as_float(T) * 0x1p36);
        const double need = Pm > 0.0 ? ceil((tgt - before) / Pm) : 0.0;
        const uint t = need < 1.0 ? 1u : need > (double)cnt ? cnt : (uint)need;
        res = Pm > 0.0 ? kf_cum_certify((long)(above + t), before + (double)(t - 1u) * Pm, before + (double)t * Pm, W,
                                        NBv, tau, Ep)
                       : -1;
    }
    return res;
}

/* CUMULATIVE's row on the f32 scores a_j at P (vox_kf_row's path, Vulkan's cum_f32): the bound as kf_topk's
 * with the exponent's errors (Ep), w_j = exp((a_j - amax) scale_f) in place, the count by kf_cum_count
 * (certified), the cap, the min_blocks top-up, T (the count's, else kf_top_value's), then in: w > T G, out:
 * w G < T, the band between re-scored exactly (kf_band). 1: *n_out the count (0: none; >= NBv: every video
 * block) and, where 0 < n < NBv, the marks in place (taken w = +inf, the band's others 0) and *tg the
 * threshold (the list takes w > tg); 0: the row to the fallback. ok 0: every step 0 trips, 0. Warp-uniform,
 * flat. */
int kf_cum(__global uint *P, long NBv, float nk2, __global const float *q, __global const float *kh, int D,
           double scale, float sf, double tau, long cap, long minb, int ok, __local uint *wk, __local uint *ms,
           __local uint *bj, __local double *bs, __local uint *wb, int lane, float *tg, long *n_out)
{
    const uint below = (1u << lane) - 1u;
    const double Dd = (double)D;
    double A, err, Bs;
    const int bounded = kf_bound(q, D, nk2, scale, wb, lane, &A, &err, &Bs);
    ok = ok && bounded;
    float amax, amin;
    kf_range(P, ok ? NBv : 0, wb, lane, &amax, &amin);
    /* the exponent's errors: its two f32 roundings, and exp within (3 + 2 |x|) ulp (|x| <= X; OpenCL's full
     * profile says 3 ulp) */
    const double X = ((double)amax - (double)amin) * (double)sf * (1.0 + 0x1p-20) + 1.0;
    const double Ep = (scale * (err + Dd * 0x1p-53 * 1.01 * A) + (0x1p-52 + 0x1p-21) * Bs + 0x1p-100 + 0x1p-20 +
                       (3.0 + 2.0 * X) * 0x1p-22) * (1.0 + 0x1p-30);
    const double delta = 0x1p-47 + 0x1p-49 * Bs;
    ok = ok && kf_fin(amax) && kf_fin(amin) && kf_fin(sf) && sf > 0.0f && X < 1000.0 && 2.0 * Ep + delta < 0.4;
    const double G = (1.0 / exp(-(2.0 * Ep + delta))) * (1.0 + 0x1p-20);
    float Gf = (float)(G * (1.0 + 0x1p-22));
    if (ok && (double)Gf < G)
        Gf = kf_next(Gf, 1);
    /* w in place, its bits' range */
    const long nw = ok ? NBv : 0;
    uint lmn = 0xffffffffu, lmx = 0u;
    for (long j0 = 0; j0 < nw; j0 += 32 * KF_U) {
        uint vv[KF_U];
        kf_vals(P, j0, nw, lane, vv);
        #pragma unroll
        for (int u = 0; u < KF_U; u++) {
            const long j = j0 + 32 * u + lane;
            if (j < nw) {
                const uint w = as_uint(exp((as_float(vv[u]) - amax) * sf));
                P[j] = w;
                lmn = min(lmn, w), lmx = max(lmx, w);
            }
        }
    }
    const uint kmin = kw_umin(lmn, wb, lane), kmax = kw_umax(lmx, wb, lane);
    const uint len = kmax > kmin ? 32u - clz(kmax - kmin) : 0u;
    KW_SYNC(); /* the weights stored before the passes read them */
    ok = ok && kmax <= 0x3f800000u; /* every w in [0, 1] */
    const int go = ok && !isnan(tau) && tau > 0.0;
    uint Tc = 0u;
    const long nc = kf_cum_count(P, NBv, tau, Ep, kmin, len, go, wk, ms, bs, wb, lane, &Tc); /* bs: its sd */
    ok = ok && (!go || nc >= 0);
    long n = go && nc >= 0 ? min(nc, cap) : 0; /* the cap: n != nc takes kf_top_value's T */
    if (n < minb)
        n = min(minb, NBv);
    *n_out = n;
    int mark = ok && n > 0 && n < NBv;
    const uint Tv = kf_top_value(P, NBv, (uint)n, kmin, len, mark && n != nc, wk, ms, wb, lane);
    const float T = as_float(n == nc ? Tc : Tv);
    ok = ok && (!mark || T >= 0x1p-90f);
    mark = mark && ok;
    const float TG = T * Gf;
    /* in: w > T G; the band: neither in nor w G < T */
    const long ns = mark ? NBv : 0;
    uint nin = 0u, nb = 0u;
    for (long j0 = 0; j0 < ns; j0 += 32 * KF_U) {
        uint vv[KF_U];
        kf_vals(P, j0, ns, lane, vv);
        #pragma unroll
        for (int u = 0; u < KF_U; u++) {
            const long j = j0 + 32 * u + lane;
            const float w = as_float(vv[u]);
            const int inb = j < ns && w > TG, bd = j < ns && !inb && !(w * Gf < T);
            nin += inb ? 1u : 0u;
            const uint m = kw_ballot(bd, wb, lane);
            const uint at = nb + popcount(m & below);
            if (bd && at < KF_BAND)
                bj[at] = (uint)j;
            nb += popcount(m);
        }
    }
    nin = kw_uadd(nin, wb, lane);
    ok = ok && !(mark && (nb > KF_BAND || (long)nin > n || n - (long)nin > (long)nb));
    const uint rr = (uint)n - nin; /* the band's blocks to take */
    KW_SYNC();
    const int banded = kf_band(P, nb, rr, ok && mark, q, kh, D, scale, delta, 0u, bj, bs, wb, lane);
    *tg = TG;
    return ok && banded;
}
#endif /* KF_CUM */

/* Row i of head bh (row m of the op, a video row when video), its f32 scores
 * at P, the tile's largest key norm at F[0]. TOPK (n its count): the list
 * where it needs no scores or kf_topk certifies it; KF_CUM (n unused; tau,
 * sf = scale_f, the cap and min_blocks): the list where kf_cum certifies the
 * video row. Else the row to the fallback list (and no list). Warp-uniform,
 * flat. */
void kf_row(__global uint *P, __global uint *F, __global uint *fl, long m, long NB, long NBv, long i, int video, long n,
            __global const float *q, __global const float *kh, int D, double scale, float sf, double tau, long cap,
            long minb, __global int *cols, __global int *count, __local uint *wk, __local uint *ms, __local uint *bj,
            __local double *bs, __local uint *wb, int lane)
{
    float thi = 0.0f;
#if KF_CUM
    const int ok = kf_cum(P, NBv, as_float(F[0]), q, kh, D, scale, sf, tau, cap, minb, KF_FALLALL ? 0 : video, wk,
                          ms, bj, bs, wb, lane, &thi, &n);
    const int flag = video && !ok;
#else
    (void)sf, (void)tau, (void)cap, (void)minb, (void)ms;
    const int need = video && n > 0 && n < NBv;
    const int ok = kf_topk(P, NBv, n, as_float(F[0]), q, kh, D, scale, KF_FALLALL ? 0 : need, wk, bj, bs, wb, lane,
                           &thi);
    const int flag = need && !ok;
#endif
    const int act = video && n > 0 && n < NBv, all = video && n >= NBv;
    if (flag && lane == 0)
        fl[1 + atomic_inc(fl)] = (uint)m;
    /* the ordered compaction: the own block, the global blocks, and the blocks
     * above thi (or every video block) */
    const uint below = (1u << lane) - 1u;
    const long nj = flag ? 0 : NB, nact = act ? NBv : 0;
    uint base = 0u;
    for (long j0 = 0; j0 < nj; j0 += 32 * KF_U) {
        uint vv[KF_U];
        kf_vals(P, j0, nact, lane, vv);
        #pragma unroll
        for (int u = 0; u < KF_U; u++) {
            const long j = j0 + 32 * u + lane;
            const int pick = (act && j < NBv && as_float(vv[u]) > thi) || (all && j < NBv) ||
                             (j < NB && (!video || j >= NBv || j == i));
            const uint m = kw_ballot(pick, wb, lane);
            if (pick)
                cols[base + popcount(m & below)] = (int)j;
            base += popcount(m);
        }
    }
    if (lane == 0 && !flag)
        *count = (int)base;
}

#endif /* VOX_USE_FP64 */

/* Pass 1: the f32 scores of tile tile0 + g into slice g (row r's at r NBv +
 * j), the head's largest key sum of squares at F[0] (+inf when one is not
 * finite); the build's first launch empties the fallback list. lscratch: the tile's qbar, KF_ROWS x D
 * floats, dim-major (rows of one dim side by side). */
__kernel void vox_kv_select_fs(VOX_CL_BUF_PARAMS(VOX_KV_SELECT_BUFS) VOX_CL_ARG_PARAMS(VOX_KV_SELECT_ARGS),
                               __local uint4 *lscratch)
{
#if VOX_USE_FP64
    __local float nkr[KF_WG1];
    VOX_CL_APPLY_OFFSETS(VOX_KV_SELECT_BUFS)
    VOX_CL_ARGS(kv_select, VOX_KV_SELECT_ARGS)
    const long NB = args.NB, NBv = args.NBv, tph = (NB + KF_ROWS - 1) / KF_ROWS;
    const int D = (int)args.D;
    const long g = get_group_id(0), t = args.tile0 + g, bh = t / tph, i0 = (t - bh * tph) * KF_ROWS;
    __global uint *sl = scratch + kf_lead(args.BH, NB) + g * args.per_block, *F = sl + KF_ROWS * NBv;
    const int nv = (int)clamp(NBv - i0, 0L, (long)KF_ROWS);
    __global const float *qrow = qbar + (bh * NB + i0) * D, *kh = kbar + bh * NB * D;
    /* 16-byte loads by type, not vload4 (which needs only 4-byte alignment: NVIDIA's compiler then
     * issued four 4-byte loads for each; session 27) */
    __local float *qf = (__local float *)lscratch;
    __local const float4 *qf4 = (__local const float4 *)lscratch;
#if KF_GEMM
    const int Dq = (D + 15) / 16 * 16; /* the dims padded with zeros to whole 16-dim chunks (the host's local size) */
#else
    const int Dq = D;
#endif
    for (int x = LID; x < KF_ROWS * Dq; x += KF_WG1) { /* x = e KF_ROWS + row */
        const int e = x / KF_ROWS, r = x - e * KF_ROWS;
        qf[x] = r < nv && e < D ? qrow[r * D + e] : 0.0f;
    }
    if (args.tile0 == 0 && g == 0 && LID == 0)
        scratch[0] = 0u; /* the list's count (the launches after this one are ordered after it) */
    barrier(CLK_LOCAL_MEM_FENCE);
    const long nk = nv > 0 ? NBv : 0; /* a tile of global rows reads no keys */
    const int vec = D % 4 == 0 && ((ulong)kh & 15) == 0; /* the keys' rows as float4 */
    float nkm = 0.0f;
    int bad = 0;
#if KF_GEMM
    /* item (rg, kg) = (LID / 32, LID % 32): rows 8 rg .. + 7 against keys 4 kg .. + 3 of each block of 128 keys,
     * the block's keys in local memory 16 dims at a time (gk: dim e's keys side by side, the float4 of keys 4 k
     * at k ^ KG_SW(e), two buffers, the next chunk's global loads issued before this one is multiplied). Each
     * score the same chain as the loop below (KF_CHUNK dims summed from 0 by fma, the chunk sums added in
     * order; padded dims add exact zeros): the same bound. */
#define KG_SW(e) ((((e) >> 2) & 3) << 1)
    __local float4 gk[2][16 * 128 / 4];
    __local float *gkf = (__local float *)gk;
    const int rg = LID / 32, kg = LID % 32, lds = LID % 4, ldk = LID / 4, CPB = Dq / 16;
    const long nch = (nk + 127) / 128 * CPB;
    float4 pf[4];
    float acc[8][4], run[8][4], nks[4];
    /* chunk c's keys into pf: key block c / CPB, dims (c % CPB) 16 + 4 lds .. + 3; every address in the row */
#define KG_LOAD(c)                                                                                        \
    {                                                                                                    \
        const long kb_ = (c) / CPB;                                                                      \
        const int e_ = (int)((c) - kb_ * CPB) * 16 + 4 * lds;                                            \
        for (int i = 0; i < 4; i++) {                                                                    \
            const long key = kb_ * 128 + ldk + 32 * i;                                                   \
            const int in_ = key < nk && e_ < D;                                                          \
            __global const float *kr = kh + min(key, nk - 1) * D;                                        \
            if (vec)                                                                                     \
                pf[i] = in_ ? *(__global const float4 *)(kr + e_) : (float4)(0.0f);                      \
            else                                                                                         \
                pf[i] = (float4)(in_ ? kr[min(e_, D - 1)] : 0.0f, in_ && e_ + 1 < D ? kr[min(e_ + 1, D - 1)] : 0.0f, \
                                 in_ && e_ + 2 < D ? kr[min(e_ + 2, D - 1)] : 0.0f,                       \
                                 in_ && e_ + 3 < D ? kr[min(e_ + 3, D - 1)] : 0.0f);                      \
        }                                                                                                \
    }
#define KG_STORE(b)                                                                                       \
    for (int i = 0; i < 4; i++) {                                                                        \
        const int key = ldk + 32 * i;                                                                    \
        const float v_[4] = {pf[i].x, pf[i].y, pf[i].z, pf[i].w};                                        \
        for (int c_ = 0; c_ < 4; c_++) {                                                                 \
            const int e = 4 * lds + c_;                                                                  \
            gkf[(b) * 2048 + (e * 32 + ((key >> 2) ^ KG_SW(e))) * 4 + (key & 3)] = v_[c_];               \
        }                                                                                                \
    }
    if (nch > 0) {
        KG_LOAD(0)
        KG_STORE(0)
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (long c = 0; c < nch; c++) {
        const long kb = c / CPB;
        const int dc = (int)(c - kb * CPB), b = (int)(c & 1), e0 = dc * 16;
        if (dc == 0) /* a key block starts (its first chunk's fold sets run) */
            for (int u = 0; u < 4; u++)
                nks[u] = 0.0f;
        if (c + 1 < nch)
            KG_LOAD(c + 1)
        if (e0 % KF_CHUNK == 0) /* a chunk of KF_CHUNK dims starts */
            for (int r = 0; r < 8; r++)
                for (int u = 0; u < 4; u++)
                    acc[r][u] = 0.0f;
        #pragma unroll
        for (int e = 0; e < 16; e++) {
            const float4 kk4 = gk[b][e * 32 + (kg ^ KG_SW(e))];
            const float kk[4] = {kk4.x, kk4.y, kk4.z, kk4.w};
            const float4 q0 = qf4[(e0 + e) * (KF_ROWS / 4) + 2 * rg], q1 = qf4[(e0 + e) * (KF_ROWS / 4) + 2 * rg + 1];
            #pragma unroll
            for (int u = 0; u < 4; u++) {
                acc[0][u] = fma(q0.x, kk[u], acc[0][u]);
                acc[1][u] = fma(q0.y, kk[u], acc[1][u]);
                acc[2][u] = fma(q0.z, kk[u], acc[2][u]);
                acc[3][u] = fma(q0.w, kk[u], acc[3][u]);
                acc[4][u] = fma(q1.x, kk[u], acc[4][u]);
                acc[5][u] = fma(q1.y, kk[u], acc[5][u]);
                acc[6][u] = fma(q1.z, kk[u], acc[6][u]);
                acc[7][u] = fma(q1.w, kk[u], acc[7][u]);
                if (rg == 0) /* the keys' norms once */
                    nks[u] = fma(kk[u], kk[u], nks[u]);
            }
        }
        if (((dc + 1) * 16) % KF_CHUNK == 0 || dc + 1 == CPB) /* a chunk ends: its sums join the running ones */
            for (int r = 0; r < 8; r++)
                for (int u = 0; u < 4; u++)
                    run[r][u] = e0 + 16 <= KF_CHUNK ? acc[r][u] : run[r][u] + acc[r][u];
        if (dc + 1 == CPB) { /* the block's scores and its keys' norms */
            const long j0 = kb * 128 + 4 * kg;
            for (int r = 0; r < 8; r++)
                for (int u = 0; u < 4; u++)
                    if (8 * rg + r < nv && j0 + u < nk)
                        sl[(8 * rg + r) * NBv + j0 + u] = as_uint(run[r][u]);
            for (int u = 0; u < 4; u++)
                if (rg == 0 && j0 + u < nk) {
                    bad = bad || !kf_fin(nks[u]);
                    nkm = fmax(nkm, nks[u]);
                }
        }
        if (c + 1 < nch)
            KG_STORE((c + 1) & 1)
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#undef KG_LOAD
#undef KG_STORE
#undef KG_SW
#else
    for (long jb = 0; jb < nk; jb += KF_WG1 * KF_KPT) {
        float acc[KF_KPT][KF_ROWS], nks[KF_KPT];
#if KF_CHUNK < 128
        float run[KF_KPT][KF_ROWS];
#endif
        __global const float *kp[KF_KPT];
        #pragma unroll
        for (int u = 0; u < KF_KPT; u++) {
            nks[u] = 0.0f;
            kp[u] = kh + min(jb + u * KF_WG1 + LID, nk - 1) * D;
        }
        for (int e0 = 0; e0 < D; e0 += KF_CHUNK) {
            #pragma unroll
            for (int u = 0; u < KF_KPT; u++)
                #pragma unroll
                for (int r = 0; r < KF_ROWS; r++)
                    acc[u][r] = 0.0f;
            const int e1 = min(e0 + KF_CHUNK, D);
            if (vec) {
                for (int e = e0; e < e1; e += 4) {
                    float4 kk[KF_KPT];
                    #pragma unroll
                    for (int u = 0; u < KF_KPT; u++)
                        kk[u] = *(__global const float4 *)(kp[u] + e);
                    #pragma unroll
                    for (int c = 0; c < 4; c++) {
                        #pragma unroll
                        for (int hh = 0; hh < KF_ROWS / 4; hh++) {
                            const float4 qv = qf4[(e + c) * (KF_ROWS / 4) + hh];
                            #pragma unroll
                            for (int u = 0; u < KF_KPT; u++) {
                                const float k = c == 0 ? kk[u].x : c == 1 ? kk[u].y : c == 2 ? kk[u].z : kk[u].w;
                                acc[u][4 * hh] = fma(qv.x, k, acc[u][4 * hh]);
                                acc[u][4 * hh + 1] = fma(qv.y, k, acc[u][4 * hh + 1]);
                                acc[u][4 * hh + 2] = fma(qv.z, k, acc[u][4 * hh + 2]);
                                acc[u][4 * hh + 3] = fma(qv.w, k, acc[u][4 * hh + 3]);
                            }
                        }
                        #pragma unroll
                        for (int u = 0; u < KF_KPT; u++) {
                            const float k = c == 0 ? kk[u].x : c == 1 ? kk[u].y : c == 2 ? kk[u].z : kk[u].w;
                            nks[u] = fma(k, k, nks[u]);
                        }
                    }
                }
            } else {
                for (int e = e0; e < e1; e++) {
                    float kk[KF_KPT];
                    #pragma unroll
                    for (int u = 0; u < KF_KPT; u++) {
                        kk[u] = kp[u][e];
                        nks[u] = fma(kk[u], kk[u], nks[u]);
                    }
                    #pragma unroll
                    for (int hh = 0; hh < KF_ROWS / 4; hh++) {
                        const float4 qv = qf4[e * (KF_ROWS / 4) + hh];
                        #pragma unroll
                        for (int u = 0; u < KF_KPT; u++) {
                            acc[u][4 * hh] = fma(qv.x, kk[u], acc[u][4 * hh]);
                            acc[u][4 * hh + 1] = fma(qv.y, kk[u], acc[u][4 * hh + 1]);
                            acc[u][4 * hh + 2] = fma(qv.z, kk[u], acc[u][4 * hh + 2]);
                            acc[u][4 * hh + 3] = fma(qv.w, kk[u], acc[u][4 * hh + 3]);
                        }
                    }
                }
            }
#if KF_CHUNK < 128
            #pragma unroll
            for (int u = 0; u < KF_KPT; u++)
                #pragma unroll
                for (int r = 0; r < KF_ROWS; r++)
                    run[u][r] = e0 == 0 ? acc[u][r] : run[u][r] + acc[u][r];
#endif
        }
#if KF_CHUNK >= 128
#define run acc
#endif
        #pragma unroll
        for (int u = 0; u < KF_KPT; u++) {
            const long j = jb + u * KF_WG1 + LID;
            if (j < nk) {
                #pragma unroll
                for (int r = 0; r < KF_ROWS; r++)
                    if (r < nv)
                        sl[r * NBv + j] = as_uint(run[u][r]);
                bad = bad || !kf_fin(nks[u]);
                nkm = fmax(nkm, nks[u]);
            }
        }
#undef run
    }
#endif
    nkr[LID] = bad ? INFINITY : nkm;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (LID == 0) {
        float mx = 0.0f;
        for (int x = 0; x < KF_WG1; x++)
            mx = fmax(mx, nkr[x]);
        F[0] = as_uint(mx);
    }
#endif
}

/* Pass 2: rows h0 .. h0 + KW_NW - 1 of tile tile0 + g / (KF_ROWS / KW_NW)
 * (h0 = KW_NW (g % (KF_ROWS / KW_NW))), row h0 + w on warp w. */
__kernel void vox_kv_select_f(VOX_CL_BUF_PARAMS(VOX_KV_SELECT_BUFS) VOX_CL_ARG_PARAMS(VOX_KV_SELECT_ARGS))
{
#if VOX_USE_FP64
    __local uint wk[KW_NW][2 * KF_CAND], bj[KW_NW][KF_BAND], wbuf[KW_NW][32];
    __local uint ms[KW_NW][KF_CUM ? 512 : 1]; /* KF_CUM: the radix bins' masses (kf_wbins) */
    __local double bs[KW_NW][KF_BAND];
    VOX_CL_APPLY_OFFSETS(VOX_KV_SELECT_BUFS)
    VOX_CL_ARGS(kv_select, VOX_KV_SELECT_ARGS)
    const long NB = args.NB, NBv = args.NBv, tph = (NB + KF_ROWS - 1) / KF_ROWS;
    const int D = (int)args.D, lane = LID & 31, warp = LID >> 5;
    const double scale = as_double(args.scale);
    const long g = get_group_id(0), per = KF_ROWS / KW_NW, tl = g / per;
    const int h0 = (int)(g - tl * per) * KW_NW;
    const long t = args.tile0 + tl, bh = t / tph, i0 = (t - bh * tph) * KF_ROWS;
    __global uint *sl = scratch + kf_lead(args.BH, NB) + tl * args.per_block, *F = sl + KF_ROWS * NBv;
    const int nv = (int)clamp(NBv - i0, 0L, (long)KF_ROWS), nr = (int)min(NB - i0, (long)KF_ROWS);
    long n = min((long)args.max_blocks, NBv);
    if (n < args.min_blocks)
        n = min((long)args.min_blocks, NBv);
    for (int h = h0 + warp; h < min(h0 + KW_NW, nr); h += KW_NW) {
        const long i = i0 + h, m = bh * NB + i;
        kf_row(sl + h * NBv, F, scratch, m, NB, NBv, i, h < nv, n, qbar + m * D, kbar + bh * NB * D, D, scale,
               args.scale_f, as_double(args.tau), args.max_blocks, args.min_blocks, kv_cols + kv_start[m],
               kv_count + m, wk[warp], ms[warp], bj[warp], bs[warp], wbuf[warp], lane);
    }
#endif
}

/* Pass 3, once after the last wave: the listed rows k = g, g + groups, ...,
 * each: its exact f64 scores into the work-group's area (2 NBv words of the
 * slices' room), then kw_row by warp 0. A work-group of KF_WGB items;
 * lscratch: the row's qbar, widened (D doubles). The trip count is the same
 * for every item (warp-uniform, as kw_row's warp ops need). */
#if VOX_USE_FP64
#if KV_WARP == 1
#define KF_WGB 128
#else
#define KF_WGB 32
#endif
#endif
__kernel void vox_kv_select_fb(VOX_CL_BUF_PARAMS(VOX_KV_SELECT_BUFS) VOX_CL_ARG_PARAMS(VOX_KV_SELECT_ARGS),
                               __local uint *lscratch)
{
#if VOX_USE_FP64
    __local uint hist[256], wbuf[32];
    __local ulong wbc[4];
    VOX_CL_APPLY_OFFSETS(VOX_KV_SELECT_BUFS)
    VOX_CL_ARGS(kv_select, VOX_KV_SELECT_ARGS)
    const long NB = args.NB, NBv = args.NBv;
    const int D = (int)args.D, lane = LID & 31, warp = LID >> 5;
    const double scale = as_double(args.scale);
    const long g = get_group_id(0), groups = get_num_groups(0), cnt = scratch[0];
    __global double *P = (__global double *)(scratch + kf_lead(args.BH, NB) + g * 2 * NBv);
    __local double *qd = (__local double *)lscratch;
    long n = min((long)args.max_blocks, NBv);
    if (n < args.min_blocks)
        n = min((long)args.min_blocks, NBv);
    for (long k = g; k < cnt; k += groups) {
        const long m = scratch[1 + k], bh = m / NB, i = m - bh * NB;
        if (bh >= args.BH) /* never listed (each build's first launch empties the list) */
            continue;
        __global const float *q = qbar + m * D, *kh = kbar + bh * NB * D;
        for (int e = LID; e < D; e += KF_WGB)
            qd[e] = (double)q[e];
        barrier(CLK_LOCAL_MEM_FENCE);
        for (long j = LID; j < NBv; j += KF_WGB) {
            __global const float *kr = kh + j * D;
            double acc = 0.0;
            for (int e = 0; e < D; e++)
                acc = fma(qd[e], (double)kr[e], acc);
            P[j] = acc * scale;
        }
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        for (int w = warp; w < 1; w++)
            kw_row(P, NB, NBv, i, 1, n, kv_cols + kv_start[m], kv_count + m, hist, wbuf, wbc, lane);
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE); /* the area and qd read before the next row */
    }
#endif
}

#endif /* __OPENCL_VERSION__ */
