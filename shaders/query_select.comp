/* query_select: query selection (vox_op_query_select, core/backend.h). One
 * workgroup per (bh, block j): keep the centre and the k-1 tokens least
 * similar to it in each window (a NaN cosine counting as the least similar),
 * map each pruned token to its most similar kept token with a comparable
 * cosine, else to the window centre.
 *
 * One file per op: the GLSL compute shader (compiled by glslc with
 * -DVOX_GLSL and -std=450, so no #version line here), and in a section
 * glslc skips the host side, compiled into vk_ops.c through the generated
 * vk_op_files.h: the op's shader variants VK_VARIANTS_query_select (one
 * X(name, source, defines) per line; backends/vulkan/meson.build reads these
 * lines to build the SPIR-V, the launcher reads the defines), the
 * launcher vk_query_select() and VK_SUPPORTS_query_select.
 */
/* Floats of the staged rows (the _st variants: V (D+1) of them). */
#define QS_SQ 8448u

#ifdef VOX_GLSL
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : enable
#define WG 128u
layout(local_size_x = 128) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_QUERY_SELECT_BUFS) VOX_GLSL_FIELDS(VOX_QUERY_SELECT_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer Q { ELEM q[]; };
layout(std430, set = 0, binding = 1) readonly buffer WinPtr { int win_ptr[]; };
layout(std430, set = 0, binding = 2) readonly buffer Windows { int windows[]; };
layout(std430, set = 0, binding = 3) readonly buffer BlockValid { int block_valid[]; };
layout(std430, set = 0, binding = 4) writeonly buffer KeptCount { int kept_count[]; };
layout(std430, set = 0, binding = 5) writeonly buffer KeptRows { int kept_rows[]; };
layout(std430, set = 0, binding = 6) writeonly buffer FillSrc { int fill_src[]; };
#define ROWS_VIEW_BINDING 7
#include "rows_view.glsl" /* binding 7 (the slot table): the caller's q through slot_token, or the block copy */

shared int swin[256];   /* local slot -> window, -1 outside every window */
/* cosines in double on devices with shaderFloat64 (-DQS_F64: the
 * reference's sums, so near-ties resolve as on the cpu), else in float */
#if defined(QS_F64)
#define REAL double
#else
#define REAL float
#endif
shared REAL scos[256]; /* cosine to the window centre */
shared uint skept[256];

uint D, base, j0g, xo; /* xo: rv_origin of this (b,h) */

/* Element e of slot s's row (s in this block): from sq, the block's rows
 * staged once in shared memory (-DQS_STAGE=1, blocks of V (D+1) <= QS_SQ
 * floats: coalesced reads, no row re-read from global memory per cosine),
 * else from q. */
#if defined(QS_STAGE)
shared float sq[QS_SQ];
#define QV(s, e) sq[((s) - j0g) * (D + 1u) + (e)]
#else
#define QV(s, e) LD(q[pc.off[0] + rv_row_at(xo, s) + (e)])
#endif

/* QS_FOR_ELEMS(a, b, u, w, BODY): BODY for e = 0 .. D-1 in order, with the
 * floats u = row a's and w = row b's element e. With -DQS_VEC (the _vec
 * variants, the default on the global path) each item reads its rows 16
 * bytes at a time through a uvec4 view of q where D and q's offset allow
 * (qs_vec), so a warp's load touches its rows' lines once per 16 bytes
 * instead of once per element; same values, same order. */
#if defined(QS_VEC)
layout(std430, set = 0, binding = 0) readonly buffer Q4 { uvec4 q4[]; };
#if defined(DT_F32)
#define QS_EPC 4u
float qs_el(uvec4 c, uint k) { return uintBitsToFloat(c[k]); }
#elif defined(DT_F16)
#define QS_EPC 8u
float qs_el(uvec4 c, uint k) { return unpackHalf2x16(c[k >> 1u])[k & 1u]; }
#else
#define QS_EPC 8u
float qs_el(uvec4 c, uint k)
{
    uint x = c[k >> 1u];
    return uintBitsToFloat((k & 1u) != 0u ? (x & 0xffff0000u) : (x << 16u));
}
#endif
bool qs_vec;
/* -DQS_UNROLL (the _certu variants, the default; VOXATTN_VULKAN_QS_ROWS=0: _certr): four 16-byte chunks of each
 * row loaded before their sums, so a sum waits on a quarter of the global-memory round trips; the same order of
 * terms. Session 43 (H100, hunyuan-720p keep 0.5 builds): tau 6.90-6.99 / top-k 4.25-4.28 ms against _certr's
 * 7.11-7.16 / 4.45; the same in workgroups of 64 measured the same (112 registers against 74); the rows staged
 * in shared memory as 16-bit (25.6 KB a workgroup) 10.78 / 8.08 (NVIDIA's Vulkan driver runs few such
 * workgroups a multiprocessor; session 37's f32 stage lost the same way) */
#if defined(QS_UNROLL)
#define QS_UNROLLED(ia_, ib_, c_, u, w, BODY)                                     \
    for (; c_ + 4u <= D / QS_EPC; c_ += 4u) {                                     \
        uvec4 ca_[4], cb_[4];                                                     \
        [[unroll]] for (uint t_ = 0u; t_ < 4u; t_++) {                            \
            ca_[t_] = q4[ia_ + c_ + t_];                                          \
            cb_[t_] = q4[ib_ + c_ + t_];                                          \
        }                                                                         \
        [[unroll]] for (uint t_ = 0u; t_ < 4u; t_++)                              \
            [[unroll]] for (uint k_ = 0u; k_ < QS_EPC; k_++) {                    \
                float u = qs_el(ca_[t_], k_), w = qs_el(cb_[t_], k_);             \
                BODY                                                              \
            }                                                                     \
    }
#else
#define QS_UNROLLED(ia_, ib_, c_, u, w, BODY)
#endif
#define QS_FOR_ELEMS(a, b, u, w, BODY)                                            \
    if (qs_vec) {                                                                 \
        uint ia_ = (pc.off[0] + rv_row_at(xo, a)) / QS_EPC;                       \
        uint ib_ = (pc.off[0] + rv_row_at(xo, b)) / QS_EPC;                       \
        uint c_ = 0u;                                                             \
        QS_UNROLLED(ia_, ib_, c_, u, w, BODY)                                     \
        for (; c_ < D / QS_EPC; c_++) {                                           \
            uvec4 ca_ = q4[ia_ + c_], cb_ = q4[ib_ + c_];                         \
            [[unroll]] for (uint k_ = 0u; k_ < QS_EPC; k_++) {                    \
                float u = qs_el(ca_, k_), w = qs_el(cb_, k_);                     \
                BODY                                                              \
            }                                                                     \
        }                                                                         \
    } else                                                                        \
        for (uint e_ = 0u; e_ < D; e_++) {                                        \
            float u = QV(a, e_), w = QV(b, e_);                                   \
            BODY                                                                  \
        }
#else
#define QS_FOR_ELEMS(a, b, u, w, BODY)                                            \
    for (uint e_ = 0u; e_ < D; e_++) {                                            \
        float u = QV(a, e_), w = QV(b, e_);                                       \
        BODY                                                                      \
    }
#endif

/* Where this (b,h)'s rows start (xo) and, for the _vec variants, whether every row is read 16 bytes at a
 * time (D, the origin and the token stride multiples of the word). */
void rows_begin(uint bh)
{
    xo = rv_origin(bh);
#if defined(QS_VEC)
    qs_vec = D % QS_EPC == 0u && (pc.off[0] + xo) % QS_EPC == 0u && vox_u64lo(pc.st) % QS_EPC == 0u;
#endif
}

/* cos(q_a, q_b) for absolute slots a, b of this (b,h), as the reference
 * (core/backend.h): NaN where either row holds a NaN or an Inf, else 0 where
 * a norm is 0.
 * Each row is scaled by a power of two near its largest magnitude first
 * (exact), so huge or tiny rows neither overflow nor underflow the f32 sums
 * and ordinary rows give the unscaled result bit for bit. */
REAL cosine(uint a, uint b)
{
#if defined(QS_F64)
    /* f32/f16/bf16 products are exact in double: only the sums round, in
     * the reference's order */
    precise double dot = 0.0LF, na = 0.0LF, nb = 0.0LF;
    QS_FOR_ELEMS(a, b, uf, wf, {
        double u = double(uf);
        double w = double(wf);
        dot += u * w;
        na += u * u;
        nb += w * w;
    })
    if (isnan(na) || isinf(na) || isnan(nb) || isinf(nb))
        return double(uintBitsToFloat(0x7fc00000u));
    return na > 0.0LF && nb > 0.0LF ? dot / sqrt(na * nb) : 0.0LF;
#else
    uint ma = 0u, mb = 0u; /* largest |x| as bits: NaN above +Inf */
    QS_FOR_ELEMS(a, b, uf, wf, {
        ma = max(ma, floatBitsToUint(uf) & 0x7fffffffu);
        mb = max(mb, floatBitsToUint(wf) & 0x7fffffffu);
    })
    if (ma >= 0x7f800000u || mb >= 0x7f800000u) /* a NaN or Inf: a norm NaN or Inf */
        return uintBitsToFloat(0x7fc00000u);
    if (ma == 0u || mb == 0u) /* a norm 0 */
        return 0.0;
    int ea = exponent_of(ma), eb = exponent_of(mb);
    float dot = 0.0, na = 0.0, nb = 0.0;
    QS_FOR_ELEMS(a, b, uf, wf, {
        float u = pow2_scaled(uf, ea);
        float w = pow2_scaled(wf, eb);
        dot += u * w;
        na += u * u;
        nb += w * w;
    })
    return na > 0.0 && nb > 0.0 ? dot / sqrt(na * nb) : 0.0; /* 0: subnormal rows flushed */
#endif
}

/* Does token u (cosine cu) come before token t (cosine c) in the order of
 * the kept choice: ascending cosine, NaN first, ties lower slot? */
bool less_similar(REAL cu, uint u, REAL c, uint t)
{
    bool un = isnan(cu), cn = isnan(c);
    if (un != cn)
        return un;
    return un ? u < t : (cu < c || (cu == c && u < t));
}

#if defined(QS_CERT)
/* The certified variants (_cert: -DQS_F64 -DQS_VEC -DQS_CERT, the default on
 * shaderFloat64 devices in their _certu form (-DQS_RSQ -DQS_UNROLL);
 * VOXATTN_VULKAN_QS_CERT=0 the exact f64 ones). As the
 * OpenCL backend's certified kernel (backends/opencl/kernels/query_select.cl):
 * each row's f32 Gram entries (its squared norm once, its dot with the centre,
 * a pruned row's dots with the kept rows), cosines c~ in double from them,
 * within eps of the reference's f64 cosines for squared norms in
 * [2^-40, 2^100]:
 *   eps = (2.1 gamma_n + 3 (D + 64) 2^-36 + (D + 8) 2^-52 + 6.02 u + 2^-48)(1 + 2^-20)
 * with n = D roundings per sum (16-bit data: exact f32 products), 2 D for f32
 * data (product and sum each rounded). A row's keep flag is certain when its
 * rank's bounds [lo, hi] (rows more than 2 eps below it, rows not more than
 * 2 eps above it) fall on the same side of keep - 1, a pruned row's source when
 * every other kept row's c~ is more than 2 eps below the best; a window with an
 * uncertain row (or a norm out of range) is redone by the exact f64 phases
 * (cosine(): the reference's sums and order). -DQS_EXACT_ALL (the _certx
 * variants, VOXATTN_VULKAN_QS_CERT=exact, tests): 2 eps infinite. */
shared float sgn[256];   /* f32 squared norms */
shared uint sunsure[256]; /* by the window's first local slot */
shared int ssrc[256];    /* fill sources */
float dot32(uint a, uint b)
{
    precise float s = 0.0;
    QS_FOR_ELEMS(a, b, uf, wf, { s += uf * wf; })
    return s;
}
#if defined(QS_RSQ)
/* c~ without f64 division or square root (the _certr and _certu variants, the default; VOXATTN_VULKAN_QS_RSQ=0: _cert): 1/sqrt(na nb) from
 * f32 inversesqrt (2 ulp each, one product rounding: relative error < 2^-20) refined by two Newton steps in
 * double (each maps a relative error e to 1.5 e^2 + e^3 / 2 plus five roundings: < 2^-37, then < 2^-50), times
 * g (one rounding). So c~ lies within 2^-49 |c~| of the divided form's, which eps2 adds (QS_RSQ_EPS) */
double ccos(float g, float na, float nb)
{
    const double x = double(na) * double(nb); /* exact */
    double r = double(inversesqrt(na) * inversesqrt(nb));
    r = r * (1.5LF - 0.5LF * x * r * r);
    r = r * (1.5LF - 0.5LF * x * r * r);
    return double(g) * r;
}
#define QS_RSQ_EPS ldexp(1.0LF, -47)
#else
double ccos(float g, float na, float nb) { return double(g) / sqrt(double(na) * double(nb)); }
#define QS_RSQ_EPS 0.0LF
#endif
bool norm_ok(float n) { return n >= uintBitsToFloat(0x2b800000u) && n <= uintBitsToFloat(0x71800000u); }

void main()
{
    uint m = group_linear_id();
    if (m >= pc.wg_count)
        return;
    uint tid = gl_LocalInvocationID.x;
    D = uint(pc.D);
    uint NB = vox_u64lo(pc.NB), NBv = vox_u64lo(pc.NBv), V = uint(pc.V);
    uint S = NB * V;
    uint bh = m / NB, j = m - bh * NB;
    base = bh * S;
    uint j0 = j * V;
    bool video = j < NBv;
    j0g = j0;
    rows_begin(bh);
#if defined(DT_F32)
    const double n = 2.0LF * double(D);
#else
    const double n = double(D);
#endif
    const double u = ldexp(1.0LF, -24), gm = n * u;
    const double gam = gm < 0.5LF ? gm / (1.0LF - gm) : 1.0e300LF;
#if defined(QS_EXACT_ALL)
    const double eps2 = 1.0e300LF;
#else
    const double eps2 = 2.0LF * (2.1LF * gam + 3.0LF * double(D + 64u) * ldexp(1.0LF, -36) +
                                 double(D + 8u) * ldexp(1.0LF, -52) + 6.02LF * u + ldexp(1.0LF, -48) + QS_RSQ_EPS) *
                        (1.0LF + ldexp(1.0LF, -20));
#endif
    for (uint l = tid; l < V; l += WG) {
        swin[l] = -1;
        skept[l] = (!video && l < uint(block_valid[pc.off[3] + j])) ? 1u : 0u;
        sunsure[l] = 0u;
        ssrc[l] = int(j0 + l);
        scos[l] = 0.0LF;
    }
    barrier();
    if (video) {
        int w1 = win_ptr[pc.off[1] + j + 1u];
        for (int w = win_ptr[pc.off[1] + j] + int(tid); w < w1; w += int(WG)) {
            int first = windows[pc.off[2] + 4u * uint(w)], len = windows[pc.off[2] + 4u * uint(w) + 1u];
            for (int t = first; t < first + len; t++)
                swin[uint(t) - j0] = w;
        }
    }
    barrier();
#if !defined(QS_STOP) || QS_STOP < 3 /* timing only: the squared norms */
    if (video)
        for (uint l = tid; l < V; l += WG)
            if (swin[l] >= 0)
                sgn[l] = dot32(j0 + l, j0 + l);
    barrier();
#endif
#if !defined(QS_STOP) || QS_STOP < 2 /* timing only: the centre cosines and the keep flags */
    if (video) /* c~ with the centre; a norm out of range: the exact path */
        for (uint l = tid; l < V; l += WG) {
            int w = swin[l];
            if (w < 0)
                continue;
            uint wb = pc.off[2] + 4u * uint(w);
            uint first = uint(windows[wb]), c = uint(windows[wb + 2u]) - j0;
            if (c == l)
                continue;
            if (norm_ok(sgn[l]) && norm_ok(sgn[c]))
                scos[l] = ccos(dot32(j0 + l, j0 + c), sgn[l], sgn[c]);
            else
                sunsure[first - j0] = 1u;
        }
    barrier();
    if (video) /* keep flags where certain */
        for (uint l = tid; l < V; l += WG) {
            int w = swin[l];
            if (w < 0)
                continue;
            uint wb = pc.off[2] + 4u * uint(w);
            uint first = uint(windows[wb]), len = uint(windows[wb + 1u]), centre = uint(windows[wb + 2u]);
            int keep = windows[wb + 3u];
            uint t = j0 + l;
            if (sunsure[first - j0] != 0u)
                continue;
            if (t == centre) {
                skept[l] = 1u;
                continue;
            }
            double c = scos[l];
            int lo = 0, hi = 0;
            for (uint v = first; v < first + len; v++) {
                if (v == centre || v == t)
                    continue;
                double cv = scos[v - j0];
                lo += c - cv > eps2 ? 1 : 0;
                hi += !(cv - c > eps2) ? 1 : 0;
            }
            if ((lo < keep - 1) != (hi < keep - 1))
                sunsure[first - j0] = 1u;
            skept[l] = hi < keep - 1 ? 1u : 0u;
        }
    barrier();
#else /* QS_STOP >= 2: every window row kept */
    if (video)
        for (uint l = tid; l < V; l += WG)
            skept[l] = swin[l] >= 0 ? 1u : 0u;
    barrier();
#endif
#if !defined(QS_STOP) || QS_STOP < 1 /* timing only: from here to the output, sources and the exact path */
    if (video) /* a pruned row's source where certain */
        for (uint l = tid; l < V; l += WG) {
            int w = swin[l];
            if (w < 0 || skept[l] != 0u)
                continue;
            uint wb = pc.off[2] + 4u * uint(w);
            uint first = uint(windows[wb]), len = uint(windows[wb + 1u]), centre = uint(windows[wb + 2u]);
            if (sunsure[first - j0] != 0u)
                continue;
            double best = -1.0e300LF, second = -1.0e300LF;
            int src = int(centre);
            for (uint v = first; v < first + len; v++) {
                if (skept[v - j0] == 0u)
                    continue;
                double c = v == centre ? scos[l] : ccos(dot32(j0 + l, v), sgn[l], sgn[v - j0]);
                if (c > best) {
                    second = best;
                    best = c;
                    src = int(v);
                } else
                    second = max(second, c);
            }
            if (!(best - second > eps2))
                sunsure[first - j0] = 1u;
            ssrc[l] = src;
        }
    barrier();
    /* the exact path (the f64 variants' phases) for the uncertain windows' rows */
    if (video)
        for (uint l = tid; l < V; l += WG) {
            int w = swin[l];
            if (w < 0)
                continue;
            uint wb = pc.off[2] + 4u * uint(w);
            uint centre = uint(windows[wb + 2u]);
            if (sunsure[uint(windows[wb]) - j0] != 0u && j0 + l != centre)
                scos[l] = cosine(j0 + l, centre);
        }
    barrier();
    if (video)
        for (uint l = tid; l < V; l += WG) {
            int w = swin[l];
            if (w < 0)
                continue;
            uint wb = pc.off[2] + 4u * uint(w);
            uint first = uint(windows[wb]), len = uint(windows[wb + 1u]);
            uint centre = uint(windows[wb + 2u]);
            int keep = windows[wb + 3u];
            uint t = j0 + l;
            if (sunsure[first - j0] == 0u)
                continue;
            if (t == centre) {
                skept[l] = 1u;
                continue;
            }
            int rank = 0;
            for (uint v = first; v < first + len; v++) {
                if (v == centre || v == t)
                    continue;
                if (less_similar(scos[v - j0], v, scos[l], t))
                    rank++;
            }
            skept[l] = rank < keep - 1 ? 1u : 0u;
        }
    barrier();
#endif /* QS_STOP < 1 */
    for (uint l = tid; l < V; l += WG) {
        int w = video ? swin[l] : -1;
        int src = ssrc[l];
#if defined(QS_STOP) /* timing only: no exact sources */
        if (false) {
#else
        if (w >= 0 && sunsure[uint(windows[pc.off[2] + 4u * uint(w)]) - j0] != 0u) {
#endif
            src = int(j0 + l);
            if (skept[l] == 0u) {
                uint wb = pc.off[2] + 4u * uint(w);
                uint first = uint(windows[wb]), len = uint(windows[wb + 1u]);
                double best = 0.0LF;
                bool found = false;
                src = windows[wb + 2u];
                for (uint v = first; v < first + len; v++) {
                    if (skept[v - j0] == 0u)
                        continue;
                    double c = cosine(j0 + l, v);
                    if (!isnan(c) && (!found || c > best)) { /* strict: ties keep the lower slot */
                        best = c;
                        found = true;
                        src = int(v);
                    }
                }
            }
        }
        fill_src[pc.off[6] + base + j0 + l] = src;
    }
    /* the ordered compaction: each kept row's position from the flags before it */
    for (uint l = tid; l < V; l += WG) {
        int c = 0;
        for (uint r = 0u; r < l; r++)
            c += int(skept[r]);
        if (skept[l] != 0u)
            kept_rows[pc.off[5] + m * V + uint(c)] = int(l);
        if (l == V - 1u)
            kept_count[pc.off[4] + m] = c + int(skept[l]);
    }
}
#else /* !QS_CERT */
void main()
{
    uint m = group_linear_id();
    if (m >= pc.wg_count)
        return;
    uint tid = gl_LocalInvocationID.x;
    D = uint(pc.D);
    uint NB = vox_u64lo(pc.NB), NBv = vox_u64lo(pc.NBv), V = uint(pc.V);
    uint S = NB * V;
    uint bh = m / NB, j = m - bh * NB;
    base = bh * S;
    uint j0 = j * V;
    bool video = j < NBv;
    j0g = j0;
    rows_begin(bh);
#if defined(QS_STAGE) /* the block's rows into sq (row r at r (D + 1)); padding slots stage as 0, never read */
    for (uint x = tid; video && x < V * D; x += WG) {
        uint r = x / D;
        bool pad;
        uint row = rv_row_or_pad(xo, j0 + r, pad);
        sq[r * (D + 1u) + x % D] = pad ? 0.0 : LD(q[pc.off[0] + row + x % D]);
    }
#endif
    for (uint l = tid; l < V; l += WG) {
        swin[l] = -1;
        skept[l] = (!video && l < uint(block_valid[pc.off[3] + j])) ? 1u : 0u;
    }
    barrier();
    if (video) {
        int w1 = win_ptr[pc.off[1] + j + 1u];
        for (int w = win_ptr[pc.off[1] + j] + int(tid); w < w1; w += int(WG)) {
            int first = windows[pc.off[2] + 4u * uint(w)], len = windows[pc.off[2] + 4u * uint(w) + 1u];
            for (int t = first; t < first + len; t++)
                swin[uint(t) - j0] = w;
        }
    }
    barrier();
    if (video) {
        for (uint l = tid; l < V; l += WG) {
            int w = swin[l];
            if (w < 0)
                continue;
            uint centre = uint(windows[pc.off[2] + 4u * uint(w) + 2u]);
            scos[l] = (j0 + l == centre) ? 0.0 : cosine(j0 + l, centre);
        }
    }
    barrier();
    if (video) {
        for (uint l = tid; l < V; l += WG) {
            int w = swin[l];
            if (w < 0)
                continue;
            uint wb = pc.off[2] + 4u * uint(w);
            uint first = uint(windows[wb]), len = uint(windows[wb + 1u]);
            uint centre = uint(windows[wb + 2u]);
            int keep = windows[wb + 3u];
            uint t = j0 + l;
            if (t == centre) {
                skept[l] = 1u;
                continue;
            }
            int rank = 0;
            for (uint u = first; u < first + len; u++) {
                if (u == centre || u == t)
                    continue;
                if (less_similar(scos[u - j0], u, scos[l], t))
                    rank++;
            }
            skept[l] = rank < keep - 1 ? 1u : 0u;
        }
    }
    barrier();
    for (uint l = tid; l < V; l += WG) {
        int w = video ? swin[l] : -1;
        int src = int(j0 + l);
        if (w >= 0 && skept[l] == 0u) {
            uint wb = pc.off[2] + 4u * uint(w);
            uint first = uint(windows[wb]), len = uint(windows[wb + 1u]);
            /* the most similar kept row with a comparable cosine, else the
             * window centre */
            REAL best = 0.0;
            bool found = false;
            src = windows[wb + 2u];
            for (uint u = first; u < first + len; u++) {
                if (skept[u - j0] == 0u)
                    continue;
                REAL c = cosine(j0 + l, u);
                if (!isnan(c) && (!found || c > best)) { /* strict: ties keep the lower slot */
                    best = c;
                    found = true;
                    src = int(u);
                }
            }
        }
        fill_src[pc.off[6] + base + j0 + l] = src;
    }
    if (tid == 0u) {
        int c = 0;
        for (uint l = 0u; l < V; l++)
            if (skept[l] != 0u)
                kept_rows[pc.off[5] + m * V + uint(c++)] = int(l);
        kept_count[pc.off[4] + m] = c;
    }
}
#endif /* QS_CERT */
#endif /* VOX_GLSL */
#ifndef VOX_GLSL
#define VK_VARIANTS_query_select(X) \
    X("query_select_f32", "query_select.comp", "-DDT_F32=1") \
    X("query_select_f16", "query_select.comp", "-DDT_F16=1") \
    X("query_select_bf16", "query_select.comp", "-DDT_BF16=1") \
    X("query_select_f32_f64", "query_select.comp", "-DDT_F32=1 -DQS_F64=1") \
    X("query_select_f16_f64", "query_select.comp", "-DDT_F16=1 -DQS_F64=1") \
    X("query_select_bf16_f64", "query_select.comp", "-DDT_BF16=1 -DQS_F64=1") \
    X("query_select_f32_vec", "query_select.comp", "-DDT_F32=1 -DQS_VEC=1") \
    X("query_select_f16_vec", "query_select.comp", "-DDT_F16=1 -DQS_VEC=1") \
    X("query_select_bf16_vec", "query_select.comp", "-DDT_BF16=1 -DQS_VEC=1") \
    X("query_select_f32_f64_vec", "query_select.comp", "-DDT_F32=1 -DQS_F64=1 -DQS_VEC=1") \
    X("query_select_f16_f64_vec", "query_select.comp", "-DDT_F16=1 -DQS_F64=1 -DQS_VEC=1") \
    X("query_select_bf16_f64_vec", "query_select.comp", "-DDT_BF16=1 -DQS_F64=1 -DQS_VEC=1") \
    X("query_select_f32_f64_cert", "query_select.comp", "-DDT_F32=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1") \
    X("query_select_f16_f64_cert", "query_select.comp", "-DDT_F16=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1") \
    X("query_select_bf16_f64_cert", "query_select.comp", "-DDT_BF16=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1") \
    X("query_select_f32_f64_certx", "query_select.comp", "-DDT_F32=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1 -DQS_EXACT_ALL=1") \
    X("query_select_f16_f64_certx", "query_select.comp", "-DDT_F16=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1 -DQS_EXACT_ALL=1") \
    X("query_select_bf16_f64_certx", "query_select.comp", "-DDT_BF16=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1 -DQS_EXACT_ALL=1") \
    X("query_select_f32_f64_certr", "query_select.comp", "-DDT_F32=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1 -DQS_RSQ=1") \
    X("query_select_f16_f64_certr", "query_select.comp", "-DDT_F16=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1 -DQS_RSQ=1") \
    X("query_select_bf16_f64_certr", "query_select.comp", "-DDT_BF16=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1 -DQS_RSQ=1") \
    X("query_select_f32_f64_certu", "query_select.comp", "-DDT_F32=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1 -DQS_RSQ=1 -DQS_UNROLL=1") \
    X("query_select_f16_f64_certu", "query_select.comp", "-DDT_F16=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1 -DQS_RSQ=1 -DQS_UNROLL=1") \
    X("query_select_bf16_f64_certu", "query_select.comp", "-DDT_BF16=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1 -DQS_RSQ=1 -DQS_UNROLL=1") \
    X("query_select_bf16_f64_cert_stop1", "query_select.comp", "-DDT_BF16=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1 -DQS_STOP=1") \
    X("query_select_bf16_f64_cert_stop2", "query_select.comp", "-DDT_BF16=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1 -DQS_STOP=2") \
    X("query_select_bf16_f64_cert_stop3", "query_select.comp", "-DDT_BF16=1 -DQS_F64=1 -DQS_VEC=1 -DQS_CERT=1 -DQS_STOP=3") \
    X("query_select_f32_st", "query_select.comp", "-DDT_F32=1 -DQS_STAGE=1") \
    X("query_select_f16_st", "query_select.comp", "-DDT_F16=1 -DQS_STAGE=1") \
    X("query_select_bf16_st", "query_select.comp", "-DDT_BF16=1 -DQS_STAGE=1") \
    X("query_select_f32_f64_st", "query_select.comp", "-DDT_F32=1 -DQS_F64=1 -DQS_STAGE=1") \
    X("query_select_f16_f64_st", "query_select.comp", "-DDT_F16=1 -DQS_F64=1 -DQS_STAGE=1") \
    X("query_select_bf16_f64_st", "query_select.comp", "-DDT_BF16=1 -DQS_F64=1 -DQS_STAGE=1")
/* X(op) where this file has vk_<op>_supports() (vk_supports) */
#define VK_SUPPORTS_query_select(X)

vox_status vk_query_select(void *dev, const vox_op_dims *d, const vox_op_query_select *p)
{
    VK_OP_ARGS(query_select);
    vox_status st = check_blocks(v, d, "query_select");
    if (st)
        return st;
    int64_t BH = a.BH, NB = a.NB, V = a.V, S = NB * V;
    /* the caller's q through slot_token (vk_caller_layout_ops; the table at binding 7, rows_view.glsl), or
     * the block copy */
    const int direct = p->slot_token.buf != NULL;
    size_t qbytes = direct ? strided_bytes(d, &p->cq, a.D, es) : (size_t)(BH * S * a.D) * es;
    st = check_u32(v, "query_select", (int64_t)(qbytes / es));
    if (st)
        return st;
    vk_query_select_binds b = {.q = bind(direct ? p->cq.ref : p->q, qbytes, es),
                               .win_ptr = bind(p->win_ptr, (size_t)(a.NBv + 1) * 4, 4),
                               .windows = bind(p->windows, 0, 4),
                               .valid = bind(d->block_valid, (size_t)NB * 4, 4),
                               .kept_count = bind(p->kept_count, (size_t)(BH * NB) * 4, 4),
                               .kept_rows = bind(p->kept_rows, (size_t)(BH * NB * V) * 4, 4),
                               .fill_src = bind(p->fill_src, (size_t)(BH * S) * 4, 4)};
    char name[48];
    pipe_name(name, sizeof name, "query_select", d->dtype);
    if (v->fp64) /* the cosines in double: near-ties resolve as on the cpu */
        strncat(name, "_f64", sizeof name - strlen(name) - 1);
    if (v->fp64 && v->qs_cert) /* certified f32 decisions, the exact f64 path where uncertain */
        /* _certr's rows four 16-byte chunks at a time (_certu, the default), or as each sum needs them */
        strncat(name, v->qs_cert == 2 ? "_certx" : !v->qs_rsq ? "_cert" : v->qs_rows ? "_certu" : "_certr",
                sizeof name - strlen(name) - 1);
    else if (!v->qs_global && V * (a.D + 1) <= QS_SQ) /* the block's rows staged in shared memory */
        strncat(name, "_st", sizeof name - strlen(name) - 1);
    else if (!v->qs_element) /* rows read 16 bytes at a time where aligned */
        strncat(name, "_vec", sizeof name - strlen(name) - 1);
    if (v->fp64 && v->qs_cert == 1 && !v->qs_rsq && v->qs_stop && d->dtype == VOX_BF16) { /* timing only (wrong decisions) */
        char stop[8];
        snprintf(stop, sizeof stop, "_stop%d", v->qs_stop);
        strncat(name, stop, sizeof name - strlen(name) - 1);
    }
    return vk_dispatch_rows(v, VOX_OP_query_select, name, b.at, (int)(sizeof b.at / sizeof b.at[0]), p->slot_token,
                            (size_t)S * 4, &a.tok, &a, sizeof a, (uint64_t)(BH * NB));
}
#endif /* !VOX_GLSL */
