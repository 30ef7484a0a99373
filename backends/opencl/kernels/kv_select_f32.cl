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
 * tests only): every row with 0 < n < NBv to the fallback. */
#ifdef __OPENCL_VERSION__
#if VOX_USE_FP64

#define KF_ROWS 32   /* query rows per tile (the host's CL_KF_ROWS) */
#define KF_WORDS 64  /* words after a slice's scores: the key norm, even (the host's CL_KF_WORDS) */
/* The fallback list's words at the scratch's head: 1 + BH NB rounded up to 64 (the slices stay 256-byte
 * aligned; the host's lead, kernel_args.h) */
long kf_lead(long BH, long NB) { return VOX_KV_LIST_WORDS(BH * NB, 64L); }
#define KF_WG1 128   /* vox_kv_select_fs's work-group (the host's CL_KF_WG1) */
#define KF_KPT 2     /* keys per item in vox_kv_select_fs */
#define KF_CHUNK 128 /* dims summed apart before joining a score's running sum (the bound's L; >= D: one f32
                      * sum per score, half the registers: H200 Vulkan 1.83 against 2.00 ms at 16) */
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
    const double A = nqb * nkb * (1.0 + 0x1p-40);
    const double L = (double)min(KF_CHUNK, D), C = ceil(Dd / L), gC = C * u24 / (1.0 - C * u24),
                 gL = L * u24 / (1.0 - L * u24);
    const double err = (gL + gC * (1.0 + gL)) * (1.0 + 0x1p-40) * A + 2.0 * Dd * 0x1p-125 * (1.0 + nqb + nkb);
    const double Bs = scale * (A + err) * (1.0 + 0x1p-40);
    const double delta = 0x1p-47 + 0x1p-49 * Bs;
    const double Es = (scale * (err + Dd * 0x1p-53 * 1.01 * A) + 0x1p-52 * Bs) * (1.0 + 0x1p-30);
    ok = ok && kf_fin(nk2) && kf_find(nq2) && kf_find(scale) && D <= 4096 && scale >= 0x1p-100 && A < 0x1p100;
    /* the range (order keys: every lane the same bits) */
    const long na = ok ? NBv : 0;
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
    const float amax = kf_ofloat(kw_umax(lmx, wb, lane)), amin = kf_ofloat(kw_umin(lmn, wb, lane));
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
    /* the bin B where the count from the top reaches n: above = #{bins > B};
     * lane t scans bins 255 - 8t down to 248 - 8t */
    const int top = 255 - 8 * lane;
    uint c8[8], tot = 0u;
    #pragma unroll
    for (int k = 0; k < 8; k++)
        c8[k] = wk[top - k], tot += c8[k];
    const uint xc = kw_scan_excl(tot, wb, lane);
    uint fb = 0u, fx = 0u, fc = 0u;
    if (xc < nn && nn <= xc + tot) {
        uint acc = xc;
        #pragma unroll
        for (int k = 0; k < 8; k++) {
            if (acc < nn && nn <= acc + c8[k])
                fb = (uint)(top - k), fx = acc, fc = c8[k];
            acc += c8[k];
        }
    }
    const uint B = kw_umax(fb, wb, lane), above = kw_umax(fx, wb, lane), cnt0 = kw_umax(fc, wb, lane);
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
    /* the band's exact scores, the rr best by (s desc, index asc); ss: the
     * weakest taken */
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
        P[jb] = rank < rr ? KF_POS_INF : KF_NEG_INF;
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
        P[bj[b]] = rr > 0u ? KF_POS_INF : KF_NEG_INF;
    KW_SYNC();
    *thi_out = thi;
    return ok && cm == 0u;
}

/* Row i of head bh (row m of the op, a video row when video), its f32 scores
 * at P, the tile's largest key norm at F[0]: the list where TOPK needs no
 * scores or kf_topk certifies it, else the row to the fallback list (and no
 * list). Warp-uniform, flat. */
void kf_row(__global uint *P, __global uint *F, __global uint *fl, long m, long NB, long NBv, long i, int video, long n,
            __global const float *q, __global const float *kh, int D, double scale, __global int *cols,
            __global int *count, __local uint *wk, __local uint *bj, __local double *bs, __local uint *wb, int lane)
{
    const int act = video && n > 0 && n < NBv, all = video && n >= NBv;
    float thi = 0.0f;
    const int ok = kf_topk(P, NBv, n, as_float(F[0]), q, kh, D, scale, KF_FALLALL ? 0 : act, wk, bj, bs, wb, lane,
                           &thi);
    const int flag = act && !ok;
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
    for (int x = LID; x < KF_ROWS * D; x += KF_WG1) { /* x = e KF_ROWS + row */
        const int e = x / KF_ROWS, r = x - e * KF_ROWS;
        qf[x] = r < nv ? qrow[r * D + e] : 0.0f;
    }
    if (args.tile0 == 0 && g == 0 && LID == 0)
        scratch[0] = 0u; /* the list's count (the launches after this one are ordered after it) */
    barrier(CLK_LOCAL_MEM_FENCE);
    const long nk = nv > 0 ? NBv : 0; /* a tile of global rows reads no keys */
    const int vec = D % 4 == 0 && ((ulong)kh & 15) == 0; /* the keys' rows as float4 */
    float nkm = 0.0f;
    int bad = 0;
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
               kv_cols + kv_start[m], kv_count + m, wk[warp], bj[warp], bs[warp], wbuf[warp], lane);
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
