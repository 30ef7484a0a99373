/* voxattn OpenCL: query_select, the kept rows of each query block (the
 * centre and the k-1 rows least similar to it in each window, a NaN cosine
 * counting as the least similar) and, for each pruned row, the kept row it
 * copies (its most similar kept row with a comparable cosine, else the
 * window centre; core/backend.h). Cosines without contraction, in the
 * reference's order, so that decisions agree with it exactly away from ties
 * (with fp64: exactly).
 * The work-group first copies its block's q rows into local memory (raw
 * storage elements, rows padded to an odd number of 32-bit words, so that
 * the items reading one element of their own rows hit distinct banks) when
 * they fit in QS_STAGE_BYTES, and every cosine reads them there: on the
 * global rows each item read its own row element by element, so every load
 * of a warp touched as many cache lines as it has items (~1 ms at wan-1.3b
 * keep 0.5 on an H200). -DQS_GLOBAL=1 (VOXATTN_OPENCL_QS_GLOBAL) keeps the
 * global reads; same sums in the same order either way.
 * (One file per op: device and host sections, cl_internal.h.) */
/* The block's staged rows: at most this many bytes of local memory (the
 * kernels' `staged`, and the host's qs_stages below, which must agree). */
#define QS_STAGE_BYTES 16640

#ifdef __OPENCL_VERSION__

#pragma OPENCL FP_CONTRACT OFF

/* Cosine similarity of block-layout rows a and b of x, as the reference
 * (core/backend.h): NaN where either row holds a NaN or an Inf, else 0 where
 * a norm is 0. With fp64 the reference's own arithmetic (f32 inputs cannot
 * overflow it).
 * In f32 each row is first scaled by a power of two near its largest
 * magnitude (exact), so huge or tiny rows neither overflow nor underflow and
 * ordinary rows give the unscaled f32 result bit for bit. */
#ifndef QS_GLOBAL
#define QS_GLOBAL 0 /* VOXATTN_OPENCL_QS_GLOBAL: every cosine reads the global rows */
#endif

/* vox_cosine (rows a, b of x, row stride rs elements) on the global rows
 * and vox_cosine_l on the staged rows: one text for both address spaces. */
#if VOX_USE_FP64
#define QS_COSINE(NAME, AS)                                                       \
    real NAME(AS const stor *x, long a, long b, int D, int rs)                    \
    {                                                                             \
        real dot = 0, na = 0, nb = 0;                                             \
        for (int e = 0; e < D; e++) {                                             \
            real u = (real)LOADF(x, a * rs + e), w = (real)LOADF(x, b * rs + e); \
            dot += u * w;                                                         \
            na += u * u;                                                          \
            nb += w * w;                                                          \
        }                                                                         \
        if (!isfinite(na) || !isfinite(nb))                                       \
            return NAN;                                                           \
        return na > 0 && nb > 0 ? dot / sqrt(na * nb) : (real)0;                  \
    }
#else
#define QS_COSINE(NAME, AS)                                                                                  \
    real NAME(AS const stor *x, long a, long b, int D, int rs)                                               \
    {                                                                                                        \
        float ma = 0, mb = 0;                                                                                \
        int has_nan = 0;                                                                                     \
        for (int e = 0; e < D; e++) {                                                                        \
            float u = LOADF(x, a * rs + e), w = LOADF(x, b * rs + e);                                        \
            has_nan |= isnan(u) || isnan(w);                                                                 \
            ma = fmax(ma, fabs(u));                                                                          \
            mb = fmax(mb, fabs(w));                                                                          \
        }                                                                                                    \
        if (has_nan || isinf(ma) || isinf(mb)) /* a norm NaN or Inf */                                       \
            return NAN;                                                                                      \
        if (ma == 0 || mb == 0) /* a norm 0 */                                                               \
            return 0;                                                                                        \
        int ea = vox_exponent(as_uint(ma)), eb = vox_exponent(as_uint(mb));                                  \
        float dot = 0, na = 0, nb = 0;                                                                       \
        for (int e = 0; e < D; e++) {                                                                        \
            float u = vox_pow2_scaled(LOADF(x, a * rs + e), ea), w = vox_pow2_scaled(LOADF(x, b * rs + e), eb); \
            dot += u * w;                                                                                    \
            na += u * u;                                                                                     \
            nb += w * w;                                                                                     \
        }                                                                                                    \
        return na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0; /* 0: subnormal rows flushed */                   \
    }
#endif
QS_COSINE(vox_cosine, __global)
QS_COSINE(vox_cosine_l, __local)

/* -DQS_NORMS=0 (VOXATTN_OPENCL_QS_OLD, as session 11): every cosine sums
 * both rows' squares again, as above, and the block is staged element by
 * element. Else 16-bit blocks are staged in 32-bit words and each row's norm (its sum of squares in
 * the reference's order: the same bits whatever its partner; in f32 of the
 * row scaled by 2^-ex, ex its exponent) is computed once per block into
 * local memory, NaN where the row holds a NaN or an Inf, 0 where it is 0,
 * and a cosine sums only the products: the same value as vox_cosine. */
#ifndef QS_NORMS
#define QS_NORMS 1
#endif
/* -DQS_UNROLL=n (VOXATTN_OPENCL_QS_UNROLL; 0: the compiler's choice): the
 * norm and dot loops over e unrolled n times, so that the loads of later
 * elements issue ahead of the sequential f64 sum (a chain of D dependent
 * adds; the order and the values are unchanged). */
#ifndef QS_UNROLL
#define QS_UNROLL 0
#endif
#if QS_UNROLL > 0
#define QS_STR2(x) #x
#define QS_STR(x) QS_STR2(x)
#define QS_UNROLL_LOOP _Pragma(QS_STR(unroll QS_UNROLL))
#else
#define QS_UNROLL_LOOP
#endif
#if VOX_USE_FP64
/* *ex: 1 where the row's f32 products with another such row are exact (16-bit
 * storage: significands of at most 11 bits; every element 0 or of magnitude
 * in [2^-63, 2^63), so products are normal f32), else 0 */
#define QS_NORM(NAME, AS)                                               \
    real NAME(AS const stor *x, long a, int D, int rs, int *ex)         \
    {                                                                   \
        real n = 0;                                                     \
        int ok = VOX_DTYPE != 0;                                        \
        QS_UNROLL_LOOP                                                  \
        for (int e = 0; e < D; e++) {                                   \
            const float f = LOADF(x, a * rs + e), m = fabs(f);          \
            real u = (real)f;                                           \
            n += u * u;                                                 \
            ok &= m == 0 || (m >= 0x1p-63f && m < 0x1p63f);             \
        }                                                               \
        *ex = ok;                                                       \
        return n;                                                       \
    }
#define QS_SCALED(v, ex) ((real)(v))
#else
#define QS_NORM(NAME, AS)                                                 \
    real NAME(AS const stor *x, long a, int D, int rs, int *ex)           \
    {                                                                     \
        float ma = 0;                                                     \
        int has_nan = 0;                                                  \
        *ex = 0;                                                          \
        for (int e = 0; e < D; e++) {                                     \
            float u = LOADF(x, a * rs + e);                               \
            has_nan |= isnan(u);                                          \
            ma = fmax(ma, fabs(u));                                       \
        }                                                                 \
        if (has_nan || isinf(ma))                                         \
            return NAN;                                                   \
        if (ma == 0)                                                      \
            return 0;                                                     \
        *ex = vox_exponent(as_uint(ma));                                  \
        float n = 0;                                                      \
        for (int e = 0; e < D; e++) {                                     \
            float u = vox_pow2_scaled(LOADF(x, a * rs + e), *ex);         \
            n += u * u;                                                   \
        }                                                                 \
        return n;                                                         \
    }
#define QS_SCALED(v, ex) vox_pow2_scaled((v), (ex))
#endif
/* the cosine of rows a, b from their norms na, nb (f32 devices: exponents
 * ea, eb; f64: whether the rows' f32 products are exact, and then each
 * product is formed in f32, one conversion instead of two: the same f64
 * value, added in the same order) */
#if VOX_USE_FP64
#define QS_DOT(a, b, ea, eb)                                                     \
    if ((ea) & (eb)) {                                                           \
        QS_UNROLL_LOOP                                                           \
        for (int e = 0; e < D; e++)                                              \
            dot += (real)(LOADF(x, (a) * rs + e) * LOADF(x, (b) * rs + e));      \
    } else                                                                       \
        for (int e = 0; e < D; e++)                                              \
            dot += (real)LOADF(x, (a) * rs + e) * (real)LOADF(x, (b) * rs + e);
#else
#define QS_DOT(a, b, ea, eb)                                                     \
    for (int e = 0; e < D; e++)                                                  \
        dot += QS_SCALED(LOADF(x, (a) * rs + e), ea) * QS_SCALED(LOADF(x, (b) * rs + e), eb);
#endif
#define QS_COSINE_N(NAME, AS)                                                                  \
    real NAME(AS const stor *x, long a, long b, int D, int rs, real na, real nb, int ea, int eb) \
    {                                                                                          \
        if (!isfinite(na) || !isfinite(nb))                                                    \
            return NAN;                                                                        \
        if (!(na > 0 && nb > 0))                                                               \
            return 0;                                                                          \
        real dot = 0;                                                                          \
        QS_DOT(a, b, ea, eb)                                                                   \
        return dot / sqrt(na * nb);                                                            \
    }
QS_NORM(vox_qs_norm, __global)
QS_NORM(vox_qs_norm_l, __local)
QS_COSINE_N(vox_cosine_n, __global)
QS_COSINE_N(vox_cosine_nl, __local)

/* Does token u (cosine cu) come before token a (cosine c) in the order of
 * the kept choice: ascending cosine, NaN first, ties lower slot? */
int vox_less_similar(real cu, int u, real c, int a)
{
    int un = isnan(cu), cn = isnan(c);
    if (un != cn)
        return un;
    return un ? u < a : (cu < c || (cu == c && u < a));
}

/* -DQS_CERT (VOXATTN_OPENCL_QS_CERT; f64 devices with the norms and the staged rows): 1 (default) the
 * certified kernel below, 2 the same with every window that has a decision to make sent to its exact
 * path (tests), 0 the exact kernel after it (session 14's). */
/* Element e of slot s's row of the caller's q (0 for a padding slot). */
rawel vox_qs_raw(__global const stor *q, __global const int *tokp, long xo, long st, long s, int e)
{
    const int tk = tokp[s];
    return tk >= 0 ? ((__global const rawel *)q)[xo + (long)tk * st + e] : (rawel)0;
}

/* What both query_select kernels do first: the staging area, the buffers' offsets and arguments, and
 * the staged row stride (D elements plus padding to an odd word count); a block is staged when its rows
 * fit (never with QS_GLOBAL). */
#define VOX_QS_PRELUDE                                                                                      \
    __local rawel sq[QS_STAGE_BYTES / sizeof(rawel)] __attribute__((aligned(16)));                          \
    VOX_CL_APPLY_OFFSETS(VOX_QUERY_SELECT_BUFS)                                                             \
    VOX_CL_ARGS(query_select, VOX_QUERY_SELECT_ARGS)                                                        \
    tokp += tokp_off;                                                                                       \
    const long tok = args.tok;                                                                              \
    const long NB = args.NB, NBv = args.NBv, total = args.BH * NB;                                          \
    const int V = args.V, D = args.D;                                                                       \
    long S = NB * V;                                                                                        \
    const int rs = D + (int)(sizeof(rawel) == 4 ? 1 : 2);                                                   \
    const int staged = !QS_GLOBAL && (long)V * rs * (long)sizeof(rawel) <= QS_STAGE_BYTES;                  \
    __local const stor *sl = (__local const stor *)sq;

/* Block g of the grid-stride loop, in both kernels: its head bh and index j, the head's rows x and fill
 * sources fl, the block's raw rows src, whether it is a video block (nv rows to decide; a text block
 * keeps its ntext valid rows) and its windows [w0, w1). With tok (the caller's q through slot_token,
 * staged blocks only: the host copies the block layout where a block does not stage) x and src are
 * unused and the staging reads row t of the block at xo + slot_token[j V + t] st (vox_qs_raw). */
#define VOX_QS_BLOCK_START                                                                                  \
    const long bh = g / NB, j = g - bh * NB;                                                                \
    const long xo = vox_rows_origin(bh, args.heads, args.sb, args.sh);                                      \
    __global const stor *x = q + bh * S * D;                                                                \
    __global int *fl = fill_src + bh * S;                                                                   \
    __global const rawel *src = (__global const rawel *)x + j * V * D;                                      \
    const int video = j < NBv, nv = video ? V : 0, ntext = video ? 0 : valid[j];                            \
    const int w0 = video ? win_ptr[j] : 0, w1 = video ? win_ptr[j + 1] : 0;

/* The source of pruned row t on the exact path, shared by both kernels: the kept row of its window
 * [first, first + m) with the largest comparable cosine (strict: ties keep the lower slot), else the
 * window's centre; off is the block's first slot, QS_COS the kernel's own cosine of two local slots. */
#define QS_FILL_SOURCE(t, first, m, off, centre, from)                                                      \
    do {                                                                                                    \
        real best_ = 0;                                                                                     \
        int found_ = 0;                                                                                     \
        (from) = (centre);                                                                                  \
        for (int u_ = (first); u_ < (first) + (m); u_++) {                                                  \
            if (!kept[u_ - (off)])                                                                          \
                continue;                                                                                   \
            const real c_ = QS_COS(t, (int)(u_ - (off)));                                                   \
            if (!isnan(c_) && (!found_ || c_ > best_)) {                                                    \
                best_ = c_;                                                                                 \
                (from) = u_;                                                                                \
                found_ = 1;                                                                                 \
            }                                                                                               \
        }                                                                                                   \
    } while (0)

#ifndef QS_CERT
#define QS_CERT 1
#endif
#if QS_CERT && VOX_USE_FP64 && QS_NORMS && !QS_GLOBAL
#define QS_CERT_ON 1
#else
#define QS_CERT_ON 0
#endif

#define QS_MAXV 256

#if QS_CERT_ON
/* The f32 Gram entry of rows a and b (row stride rs elements): fma sums in two
 * chains (any order: the bound below holds for every order of D terms, each
 * product exact inside fma). 16-bit bf16 rows staged from an even word read two
 * elements per 32-bit local load. */
#define QS_DOT32(NAME, AS)                                                             \
    float NAME(AS const stor *x, long a, long b, int D, int rs)                        \
    {                                                                                  \
        float s0 = 0, s1 = 0;                                                          \
        int e = 0;                                                                     \
        QS_DOT32_WORDS(AS)                                                             \
        for (; e + 1 < D; e += 2) {                                                    \
            s0 = fma(LOADF(x, a * rs + e), LOADF(x, b * rs + e), s0);                  \
            s1 = fma(LOADF(x, a * rs + e + 1), LOADF(x, b * rs + e + 1), s1);          \
        }                                                                              \
        if (e < D)                                                                     \
            s0 = fma(LOADF(x, a * rs + e), LOADF(x, b * rs + e), s0);                  \
        return s0 + s1;                                                                \
    }
#if VOX_DTYPE == 2
#define QS_DOT32_WORDS(AS)                                                             \
    if ((D & 1) == 0 && (rs & 1) == 0 && ((size_t)x & 3) == 0) {                       \
        AS const uint *xa = (AS const uint *)(x + a * rs), *xb = (AS const uint *)(x + b * rs); \
        for (int k = 0; k < D / 2; k++) {                                              \
            const uint u = xa[k], w = xb[k];                                           \
            s0 = fma(as_float(u << 16), as_float(w << 16), s0);                        \
            s1 = fma(as_float(u & 0xffff0000u), as_float(w & 0xffff0000u), s1);        \
        }                                                                              \
        e = D;                                                                         \
    }
#else
#define QS_DOT32_WORDS(AS)
#endif
QS_DOT32(vox_qs_dot32, __global)
QS_DOT32(vox_qs_dot32_l, __local)

/* the certified cosine from f32 Gram entries, for norms in [2^-40, 2^100]: f64 division and square root,
 * correctly rounded; or with -DQS_RSQ=1 (VOXATTN_OPENCL_QS_RSQ, as Vulkan's _certr) without either,
 * 1/sqrt(na nb) from f32 rsqrt (2 ulp each, one product rounding: relative error < 2^-20) refined by two
 * Newton steps in double (< 2^-37, then < 2^-50), times g: within 2^-49 |c~| of the divided form, which
 * eps2 adds (QS_RSQ_EPS) */
#ifndef QS_RSQ
#define QS_RSQ 0
#endif
#if QS_RSQ
double vox_qs_ccos(float g, float na, float nb)
{
    const double x = (double)na * (double)nb; /* exact */
    double r = (double)(rsqrt(na) * rsqrt(nb));
    r = r * (1.5 - 0.5 * x * r * r);
    r = r * (1.5 - 0.5 * x * r * r);
    return (double)g * r;
}
#define QS_RSQ_EPS 0x1p-47
#else
double vox_qs_ccos(float g, float na, float nb) { return (double)g / sqrt((double)na * (double)nb); }
#define QS_RSQ_EPS 0.0
#endif
int vox_qs_norm_ok(float n) { return n >= 0x1p-40f && n <= 0x1p100f; }

/* 16-byte loads in flight per work-item while staging a block */
#define QS_LDQ 8

/* One work-group per (bh, block), grid-stride: the certified kernel.
 * Decisions as the reference's (f64, core/backend.h) exactly, from f32 sums:
 * with n = D terms per sum (f32 fma: exact products, one rounding each), the
 * f32 Gram entries give cosines c~ = g~_ab / sqrt(g~_aa g~_bb) (f64) within
 *   eps = (2.1 gamma_n + 3 (D + 64) 2^-36 + (D + 8) 2^-52 + 6.02 u + 2^-48)(1 + 2^-20)
 * of the reference's (the bound of CUDA's warp kernel, query_select_warp.cuh,
 * whose final f32 division this f64 one only improves), when both squared norms
 * lie in [2^-40, 2^100] (else the window goes to the exact path). Keep: row t's
 * rank among its window's non-centre rows lies in [lo, hi], lo the rows whose c~
 * is more than 2 eps below t's, hi those not more than 2 eps above; t's flag is
 * certain when lo and hi fall on the same side of keep - 1. Fill: a pruned row's
 * best kept row by c~ is certain when every other kept row's c~ is more than
 * 2 eps below it. A window with an uncertain row is redone by its items with the
 * exact kernel's f64 phases (the reference's sums and order), its flags and all
 * its rows' fill sources rewritten. Staging: 16-byte loads, QS_LDQ in flight per
 * item, where the block's rows are 16-byte aligned; the block's windows copied to
 * local memory. */
__kernel void vox_query_select(VOX_CL_BUF_PARAMS(VOX_QUERY_SELECT_BUFS) VOX_CL_ARG_PARAMS(VOX_QUERY_SELECT_ARGS),
                               __global const int *tokp, ulong tokp_off)
{
    __local real cs[QS_MAXV];
    __local float gn[QS_MAXV];
    __local uchar kept[QS_MAXV];
    __local uchar unsure[QS_MAXV]; /* by the window's first local slot */
    __local int widx[QS_MAXV];
    __local real nrm[QS_MAXV];
    __local int nex[QS_MAXV];
    __local int wl[4 * QS_MAXV];
    VOX_QS_PRELUDE
    const double gm = (double)D * 0x1p-24, gam = gm < 0.5 ? gm / (1.0 - gm) : (double)INFINITY;
    const double eps2 = QS_CERT == 2 ? (double)INFINITY
                                     : 2.0 * (2.1 * gam + 3.0 * (D + 64) * 0x1p-36 + (D + 8) * 0x1p-52 +
                                              6.02 * 0x1p-24 + 0x1p-48 + QS_RSQ_EPS) * (1.0 + 0x1p-20);
#define QS_COS(t, b) \
    (staged ? vox_cosine_nl(sl, (t), (b), D, rs, nrm[t], nrm[b], nex[t], nex[b]) \
            : vox_cosine_n(x, j * V + (t), j * V + (b), D, D, nrm[t], nrm[b], nex[t], nex[b]))
#define QS_G32(t, b) (staged ? vox_qs_dot32_l(sl, (t), (b), D, rs) : vox_qs_dot32(x, j * V + (t), j * V + (b), D, D))
#define QW(w, k) (wloc ? wl[4 * ((w) - w0) + (k)] : windows[4 * (w) + (k)])
    /* Every barrier at the top level of the block loop, flat loops between them
     * (PoCL, see the exact kernel below); text blocks run the window sections
     * over no rows. */
    for (long g = get_group_id(0); g < total; g += get_num_groups(0)) {
        VOX_QS_BLOCK_START
        const int wloc = w1 - w0 <= QS_MAXV;
        const int jv = (int)(j * V);
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        for (int t = LID; t < V; t += LSZ) {
            fl[jv + t] = jv + t;
            kept[t] = t < ntext;
            unsure[t] = 0;
            widx[t] = -1;
            cs[t] = 0;
        }
        const int nwl = wloc ? 4 * (w1 - w0) : 0;
        for (int i = LID; i < nwl; i += LSZ)
            wl[i] = windows[4 * w0 + i];
        /* the block's rows: 16-byte loads where aligned, else as the exact kernel */
        const int q16 = staged & ((D * (int)sizeof(rawel)) % 16 == 0) &
                        (tok ? (((size_t)(q + xo) & 15) == 0) & ((args.st * (long)sizeof(rawel)) % 16 == 0)
                             : (((size_t)src & 15) == 0));
        const int Dq = D * (int)sizeof(rawel) / 16, rsw = rs * (int)sizeof(rawel) / 4;
        const int nq = (video & q16) ? V * Dq : 0;
        __global const uint4 *s128 = (__global const uint4 *)src;
        __local uint *d32 = (__local uint *)sq;
        for (int y0 = LID; y0 < nq; y0 += QS_LDQ * LSZ) {
            uint4 v[QS_LDQ];
#pragma unroll
            for (int k = 0; k < QS_LDQ; k++) { /* tok: the row of slot jv + rk through the table */
                const int yk = y0 + k * LSZ, rk = yk / Dq, tk = tok && yk < nq ? tokp[jv + rk] : 0;
                v[k] = yk >= nq || tk < 0 ? (uint4)(0u)
                       : tok ? ((__global const uint4 *)(q + xo + (long)tk * args.st))[yk - rk * Dq]
                             : s128[yk];
            }
#pragma unroll
            for (int k = 0; k < QS_LDQ; k++) {
                const int y = y0 + k * LSZ, r = y / Dq;
                __local uint *d = d32 + r * rsw + 4 * (y - r * Dq);
                if (y < nq) {
                    d[0] = v[k].x;
                    d[1] = v[k].y;
                    d[2] = v[k].z;
                    d[3] = v[k].w;
                }
            }
        }
        const int ne = (video & staged & !q16) ? V * D : 0;
        for (int y = LID; y < ne; y += LSZ)
            sq[(y / D) * rs + y % D] = tok ? vox_qs_raw(q, tokp, xo, args.st, jv + y / D, y % D) : src[y];
        barrier(CLK_LOCAL_MEM_FENCE);
        /* each row's window and f32 squared norm */
        for (int t = LID; t < nv; t += LSZ) {
            for (int w = w0; w < w1; w++)
                if (jv + t >= QW(w, 0) && jv + t < QW(w, 0) + QW(w, 1)) {
                    widx[t] = w;
                    break;
                }
            gn[t] = QS_G32(t, t);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        /* c~ with the centre; a norm outside [2^-40, 2^100]: the exact path */
        for (int t = LID; t < nv; t += LSZ) {
            const int w = widx[t];
            if (w < 0)
                continue;
            const int c = QW(w, 2) - jv;
            if (c == t)
                continue;
            if (vox_qs_norm_ok(gn[t]) & vox_qs_norm_ok(gn[c]))
                cs[t] = vox_qs_ccos(QS_G32(t, c), gn[t], gn[c]);
            else
                unsure[QW(w, 0) - jv] = 1;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        /* keep flags: the centre and the keep-1 least similar, where certain */
        for (int t = LID; t < nv; t += LSZ) {
            const int w = widx[t];
            if (w < 0)
                continue;
            const int first = QW(w, 0), m = QW(w, 1), centre = QW(w, 2), keep = QW(w, 3), a = jv + t;
            if (unsure[first - jv])
                continue;
            if (a == centre) {
                kept[t] = 1;
                continue;
            }
            const real c = cs[t];
            int lo = 0, hi = 0;
            for (int u = first; u < first + m; u++) {
                if (u == centre || u == a)
                    continue;
                const real cu = cs[u - jv];
                lo += c - cu > eps2;
                hi += !(cu - c > eps2);
            }
            if ((lo < keep - 1) != (hi < keep - 1))
                unsure[first - jv] = 1;
            kept[t] = hi < keep - 1;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        /* a pruned row's source: its best kept row by c~, where certain */
        for (int t = LID; t < nv; t += LSZ) {
            const int w = widx[t];
            if (w < 0 || kept[t])
                continue;
            const int first = QW(w, 0), m = QW(w, 1), centre = QW(w, 2);
            if (unsure[first - jv])
                continue;
            real best = -(real)INFINITY, second = -(real)INFINITY;
            int from = centre;
            for (int u = first; u < first + m; u++) {
                if (!kept[u - jv])
                    continue;
                const real c = u == centre ? cs[t] : vox_qs_ccos(QS_G32(t, u - jv), gn[t], gn[u - jv]);
                if (c > best) {
                    second = best;
                    best = c;
                    from = u;
                } else
                    second = fmax(second, c);
            }
            if (!(best - second > eps2))
                unsure[first - jv] = 1;
            fl[jv + t] = from;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        /* the exact path (the exact kernel's phases) for the uncertain windows' rows */
#define QS_EXACT_ROW(t) (widx[t] >= 0 && unsure[QW(widx[t], 0) - jv])
        for (int t = LID; t < nv; t += LSZ) {
            if (!QS_EXACT_ROW(t))
                continue;
            int ex;
            nrm[t] = staged ? vox_qs_norm_l(sl, t, D, rs, &ex) : vox_qs_norm(x, jv + t, D, D, &ex);
            nex[t] = ex;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int t = LID; t < nv; t += LSZ) {
            if (!QS_EXACT_ROW(t))
                continue;
            const int w = widx[t], a = jv + t;
            if (a != QW(w, 2))
                cs[t] = QS_COS(t, QW(w, 2) - jv);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int t = LID; t < nv; t += LSZ) {
            if (!QS_EXACT_ROW(t))
                continue;
            const int w = widx[t], a = jv + t;
            const int first = QW(w, 0), m = QW(w, 1), centre = QW(w, 2), keep = QW(w, 3);
            if (a == centre) {
                kept[t] = 1;
                continue;
            }
            int rank = 0;
            const real c = cs[t];
            for (int u = first; u < first + m; u++) {
                if (u == centre)
                    continue;
                if (vox_less_similar(cs[u - jv], u, c, a))
                    rank++;
            }
            kept[t] = rank < keep - 1;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int t = LID; t < nv; t += LSZ) {
            if (!QS_EXACT_ROW(t))
                continue;
            const int w = widx[t], a = jv + t;
            if (kept[t]) {
                fl[a] = a;
                continue;
            }
            const int first = QW(w, 0), m = QW(w, 1);
            int from;
            QS_FILL_SOURCE(t, first, m, jv, QW(w, 2), from);
            fl[a] = from;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        /* the ordered compaction: each kept row's position from the flags before it */
        for (int t = LID; t < V; t += LSZ) {
            int c = 0;
            for (int r = 0; r < t; r++)
                c += kept[r];
            if (kept[t])
                kept_rows[g * V + c] = t;
            if (t == V - 1)
                kept_count[g] = c + kept[t];
        }
#undef QS_EXACT_ROW
    }
#undef QS_COS
#undef QS_G32
#undef QW
}
#else /* !QS_CERT_ON */

/* One work-group per (bh, block), grid-stride: the exact kernel. */
__kernel void vox_query_select(VOX_CL_BUF_PARAMS(VOX_QUERY_SELECT_BUFS) VOX_CL_ARG_PARAMS(VOX_QUERY_SELECT_ARGS),
                               __global const int *tokp, ulong tokp_off)
{
    __local real cs[QS_MAXV];
    __local uchar kept[QS_MAXV];
    __local int widx[QS_MAXV];
#if QS_NORMS
    __local real nrm[QS_MAXV];
    __local int nex[QS_MAXV];
#endif
    VOX_QS_PRELUDE
#if QS_NORMS
#define QS_COS(t, b) \
    (staged ? vox_cosine_nl(sl, (t), (b), D, rs, nrm[t], nrm[b], nex[t], nex[b]) \
            : vox_cosine_n(x, j * V + (t), j * V + (b), D, D, nrm[t], nrm[b], nex[t], nex[b]))
#else
#define QS_COS(t, b) (staged ? vox_cosine_l(sl, (t), (b), D, rs) : vox_cosine(x, j * V + (t), j * V + (b), D, D))
#endif
    /* Every barrier sits at the top level of the block loop, the code between
     * two of them flat loops over the items' rows (PoCL 5.0's work-group
     * compiler aborted on this kernel's barriers inside `if (video) ... else`,
     * pocl#1435): a text block (j >= NBv) runs the window sections over no
     * rows (nv = 0). */
    for (long g = get_group_id(0); g < total; g += get_num_groups(0)) {
        VOX_QS_BLOCK_START
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        for (int t = LID; t < V; t += LSZ) { /* a text block keeps its valid rows */
            fl[j * V + t] = (int)(j * V + t);
            kept[t] = t < ntext;
            widx[t] = -1;
            cs[t] = 0;
        }
#if QS_NORMS && VOX_DTYPE != 0 /* 16-bit storage */
        /* 16-bit rows of even D from a 4-byte aligned block: 32-bit words,
         * four loads in flight per item (row stride rs / 2 words) */
        const int wide = staged & !tok & (D % 2 == 0) & (((size_t)src & 3) == 0);
        const int Dw = D / 2, rsw = rs / 2, nw = (video & wide) ? V * Dw : 0;
        __global const uint *s32 = (__global const uint *)src;
        __local uint *d32 = (__local uint *)sq;
        for (int y0 = LID; y0 < nw; y0 += 4 * LSZ) {
            uint wv[4];
            for (int k = 0; k < 4; k++)
                wv[k] = y0 + k * LSZ < nw ? s32[y0 + k * LSZ] : 0u;
            for (int k = 0; k < 4; k++) {
                const int y = y0 + k * LSZ, r = y / Dw;
                if (y < nw)
                    d32[r * rsw + (y - r * Dw)] = wv[k];
            }
        }
#else
        const int wide = 0;
#endif
        const int ne = (video & staged & !wide) ? V * D : 0;
        for (int y = LID; y < ne; y += LSZ) /* the block's rows, coalesced */
            sq[(y / D) * rs + y % D] = tok ? vox_qs_raw(q, tokp, xo, args.st, j * V + y / D, y % D) : src[y];
        for (int t = LID; t < nv; t += LSZ) {
            int a = (int)(j * V) + t;
            for (int w = w0; w < w1; w++)
                if (a >= windows[4 * w] && a < windows[4 * w] + windows[4 * w + 1]) {
                    widx[t] = w;
                    break;
                }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#if QS_NORMS
        for (int t = LID; t < nv; t += LSZ) {
            int ex;
            nrm[t] = staged ? vox_qs_norm_l(sl, t, D, rs, &ex) : vox_qs_norm(x, j * V + t, D, D, &ex);
            nex[t] = ex;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#endif
        for (int t = LID; t < nv; t += LSZ) {
            int w = widx[t], a = (int)(j * V) + t;
            if (w >= 0 && a != windows[4 * w + 2])
                cs[t] = QS_COS(t, (int)(windows[4 * w + 2] - j * V));
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int t = LID; t < nv; t += LSZ) {
            int w = widx[t], a = (int)(j * V) + t;
            if (w < 0)
                continue;
            int first = windows[4 * w], m = windows[4 * w + 1], centre = windows[4 * w + 2];
            int keep = windows[4 * w + 3];
            if (a == centre) {
                kept[t] = 1;
                continue;
            }
            int rank = 0;
            real c = cs[t];
            for (int u = first; u < first + m; u++) {
                if (u == centre)
                    continue;
                if (vox_less_similar(cs[u - j * V], u, c, a))
                    rank++;
            }
            kept[t] = rank < keep - 1;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int t = LID; t < nv; t += LSZ) {
            int w = widx[t], a = (int)(j * V) + t;
            if (w < 0 || kept[t])
                continue;
            int first = windows[4 * w], m = windows[4 * w + 1];
            int from;
            QS_FILL_SOURCE(t, first, m, j * V, windows[4 * w + 2], from);
            fl[a] = from;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (LID == 0) {
            int c = 0;
            for (int r = 0; r < V; r++)
                if (kept[r])
                    kept_rows[g * V + c++] = r;
            kept_count[g] = c;
        }
    }
#undef QS_COS
}
#endif /* QS_CERT_ON */

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
#define CL_OP_query_select(P, K, S, SUP) \
    K(PROG_OPS, K_QUERY_SELECT, "vox_query_select") \
    S(PROG_OPS, "query_select.cl")
#ifdef CL_OP_LAUNCHERS
/* Whether the kernel stages a block's rows in local memory (its `staged`). */
static int qs_stages(const cl_dev *d, const vox_op_dims *dm)
{
    const int64_t es = (int64_t)vox_dtype_size(dm->dtype), rs = dm->head_dim + (es == 4 ? 1 : 2);
    return !d->qs_global && dm->block_volume * rs * es <= QS_STAGE_BYTES;
}

/* A work-group per (bh, block) of min(V, 64) items, at least 32. The caller's
 * q (slot_token given) is read through the table (a.tok 1, the table as the
 * kernel's trailing buffer) where the blocks stage; else the block layout is
 * copied into the device's scratch first (permute_to) and read from there. */
vox_status cl_query_select(void *devp, const vox_op_dims *dm, const vox_op_query_select *p)
{
    cl_dev *d = devp;
    vox_op_query_select op = *p;
    cl_buf sc = {0};
    if (p->slot_token.buf && !qs_stages(d, dm)) {
        const size_t bytes = (size_t)(dm->batch * dm->heads * dm->n_blocks * dm->block_volume * dm->head_dim) *
                             vox_dtype_size(dm->dtype);
        vox_status st = cl_scratch(d, bytes, "query_select");
        if (st)
            return st;
        sc.mem = d->scratch;
        const vox_op_permute_to pt = {p->cq, {&sc, 0}, p->slot_token};
        st = cl_permute_to(d, dm, &pt);
        if (st)
            return st;
        op.q = (vox_bref){&sc, 0}, op.slot_token = (vox_bref){NULL, 0};
    }
    const int direct = op.slot_token.buf != NULL;
    vox_query_select_args a;
    vox_query_select_args_init(&a, dm, &op);
    a.tok = direct;
    const cl_query_select_bufs b = {.q = direct ? op.cq.ref : op.q, .win_ptr = op.win_ptr, .windows = op.windows,
                                    .valid = dm->block_valid, .kept_count = op.kept_count,
                                    .kept_rows = op.kept_rows, .fill_src = op.fill_src};
    const cl_grid g = {.k = K_QUERY_SELECT, .tail = direct ? &op.slot_token : &op.win_ptr,
                       .groups = groups_for(a.BH * a.NB),
                       .ls = dm->block_volume < 32 ? 32 : dm->block_volume < 64 ? (size_t)dm->block_volume : 64};
    return cl_query_select_launch(d, dm->dtype, &b, &a, &g);
}
#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
