/* kv_select: KV block selection (core/backend.h, vox_op_kv_select). Each
 * workgroup takes rows m = bh*NB + i in a grid-stride loop; the scores s_j of
 * its current row live in its slice of the scratch buffer (pc.per_block
 * words per workgroup, 2*NBv: the scores, then their exponents; each
 * invocation only re-reads the entries it wrote itself), and the selected
 * columns go to kv_cols from kv_start[m].
 *
 * Blocks are ordered by a key (s descending, then j ascending): key(j) =
 * (hi(s_j), j) with hi an order-preserving map of the float to uint. The
 * admitted prefix of that order is found by bisection over keys with
 * workgroup reductions (count and probability mass of the keys at or above a
 * candidate key), so no sort and no O(NB^2) work are needed.
 * Scores are qbar.kbar without the scale, with qbar_i and the head's kbar
 * scaled by powers of two near their largest magnitudes (exact,
 * common.glsl); since scale > 0 the order and the STAT rule are the same,
 * and the scale enters p only through exp((s - max) * scale) (expo()), so
 * huge means or scales cannot overflow. Where the reference's f64 p cannot
 * tell scores apart (p 0, or exp 1: key()), the order goes by index, as
 * there.
 * A row whose p are NaN (a score NaN or +Inf, or every score -Inf: the sum
 * of exp is then NaN, and so is every p of the reference) is ordered by
 * index alone (the reference's order puts NaN after every number, ties lower
 * index) and admits no block by the STAT rule (its threshold is NaN).
 * The f32 mirrors scale_f, tau_f, z_f are read.
 *
 * One file per op: the GLSL compute shader (compiled by glslc with
 * -DVOX_GLSL and -std=450, so no #version line here), and in a section
 * glslc skips the host side, compiled into vk_ops.c through the generated
 * vk_op_files.h: the op's shader variants VK_VARIANTS_kv_select (one
 * X(name, source, defines) per line; backends/vulkan/meson.build reads these
 * lines to build the SPIR-V, the launcher reads the defines), the
 * launcher vk_kv_select() and VK_SUPPORTS_kv_select.
 */
#ifdef VOX_GLSL
#include "common.glsl"
#define WG 256u
layout(local_size_x = 256) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_KV_SELECT_BUFS) VOX_GLSL_FIELDS(VOX_KV_SELECT_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer Qbar { float qbar[]; };
layout(std430, set = 0, binding = 1) readonly buffer Kbar { float kbar[]; };
layout(std430, set = 0, binding = 2) readonly buffer KvStart { int kv_start[]; };
layout(std430, set = 0, binding = 3) writeonly buffer KvCount { int kv_count[]; };
layout(std430, set = 0, binding = 4) writeonly buffer KvCols { int kv_cols[]; };
layout(std430, set = 0, binding = 5) buffer Scratch { float scratch[]; };

shared float red_a[WG];
shared float red_b[WG];
shared uint scan[WG];

uint tid;

/* Sum of (a, b) over the workgroup. Must be called in uniform control flow. */
vec2 reduce_sum2(float a, float b)
{
    barrier();
    red_a[tid] = a;
    red_b[tid] = b;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) {
            red_a[tid] += red_a[tid + s];
            red_b[tid] += red_b[tid + s];
        }
        barrier();
    }
    vec2 r = vec2(red_a[0], red_b[0]);
    barrier();
    return r;
}

float reduce_max(float a)
{
    barrier();
    red_a[tid] = a;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s)
            red_a[tid] = max(red_a[tid], red_a[tid + s]);
        barrier();
    }
    float r = red_a[0];
    barrier();
    return r;
}

/* max over the workgroup of the bits of |x| (non-negative floats order as
 * their bits; NaN above +Inf) */
uint reduce_max_bits(uint a)
{
    barrier();
    scan[tid] = a;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s)
            scan[tid] = max(scan[tid], scan[tid + s]);
        barrier();
    }
    uint r = scan[0];
    barrier();
    return r;
}

uint okey(float s)
{
    uint u = floatBitsToUint(s);
    return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}

uint sbase, NBv; /* sbase: this workgroup's scratch slice */
int esc;         /* the scores are the reference's qbar.kbar times 2^-esc */
float mx, zsum, logz, scale;

float score(uint j) { return scratch[sbase + j]; }

/* (s_j - max s) * scale of the reference from the scaled score s (<= 0);
 * -1024 where it is below that (exp is 0 there in f32 and f64 alike) */
float expo(float s)
{
    float t = (s - mx) * scale;
    if (!(t < 0.0)) /* 0, or NaN */
        return t;
    return t < pow2_scaled(-1024.0, esc) ? -1024.0 : pow2_scaled(t, -esc);
}

/* Order key of a score: okey(s); but where the reference's p = exp(expo)/sum
 * ties in f64 for any score, the ties go by index: 0 (the bottom) where p is
 * 0 (below 2^-1075), ~0u (the top, with the largest score) where exp(expo)
 * rounds to 1 (expo >= -2^-54) */
uint key(float s)
{
    float x = expo(s);
    return x - logz < -745.1332 ? 0u : x >= -ldexp(1.0, -54) ? 0xffffffffu : okey(s);
}

/* Key of j at or above (H, J) in the order: hi > H, or hi == H and j <= J. */
bool ge(uint hi, uint j, uint H, int J) { return hi > H || (hi == H && int(j) <= J); }

/* (count, mass) of keys at or above (H, J). */
vec2 count_mass(uint H, int J)
{
    float c = 0.0, ms = 0.0;
    for (uint j = tid; j < NBv; j += WG) {
        float s = score(j);
        if (ge(key(s), j, H, J)) {
            c += 1.0;
            ms += exp(expo(s)) / zsum;
        }
    }
    return reduce_sum2(c, ms);
}

/* Selects the columns of row m (uniform control flow: m is the workgroup's). */
void select_row(uint m, uint NB, uint D)
{
    uint rule = uint(pc.rule), topk = uint(pc.topk), min_blocks = uint(pc.min_blocks);
    float tau = pc.tau_f, zz = pc.z_f;
    uint bh = m / NB, i = m - bh * NB;
    uint dst = pc.off[4] + uint(kv_start[pc.off[2] + m]);
    if (i >= NBv) { /* global query rows are dense */
        for (uint j = tid; j < NB; j += WG)
            kv_cols[dst + j] = int(j);
        if (tid == 0u)
            kv_count[pc.off[3] + m] = int(NB);
        return;
    }
    /* scores, with qbar_i and the head's kbar scaled by powers of two near
     * their largest magnitudes (exact): huge or tiny means neither overflow
     * nor underflow, and the order, the STAT rule and (through expo) p are
     * unchanged */
    uint qbits = 0u;
    for (uint e = 0u; e < D; e++)
        qbits = max(qbits, floatBitsToUint(qbar[pc.off[0] + m * D + e]) & 0x7fffffffu);
    int eq = exponent_of(qbits), ek = -1000;
    float q1 = ldexp(1.0, -(eq / 2)), q2 = ldexp(1.0, eq / 2 - eq); /* q1 * q2 = 2^-eq */
    /* each kbar_j first by its own power of two 2^-ej (a second read of the
     * row, from cache), ej kept next to the score ... */
    for (uint j = tid; j < NBv; j += WG) {
        uint kb = 0u, at = pc.off[1] + (bh * NB + j) * D;
        for (uint e = 0u; e < D; e++)
            kb = max(kb, floatBitsToUint(kbar[at + e]) & 0x7fffffffu);
        int ej = exponent_of(kb);
        float k1 = ldexp(1.0, -(ej / 2)), k2 = ldexp(1.0, ej / 2 - ej);
        float acc = 0.0;
        for (uint e = 0u; e < D; e++)
            acc += (qbar[pc.off[0] + m * D + e] * q1 * q2) * (kbar[at + e] * k1 * k2);
        scratch[sbase + j] = acc;
        scratch[sbase + NBv + j] = float(ej);
        ek = max(ek, ej);
    }
    /* ... then all by the head's largest 2^-ek */
    ek = int(reduce_max_bits(uint(ek + 1000))) - 1000;
    esc = eq + ek;
    float lmax = NEG_INF, lsum = 0.0;
    for (uint j = tid; j < NBv; j += WG) {
        float s = pow2_scaled(scratch[sbase + j], ek - int(scratch[sbase + NBv + j])) + 0.0; /* -0 -> +0 */
        scratch[sbase + j] = s;
        lmax = max(lmax, s);
        lsum += s;
    }
    mx = reduce_max(lmax);
    float mean = reduce_sum2(lsum, 0.0).x / float(NBv);
    float lz = 0.0, lvar = 0.0;
    for (uint j = tid; j < NBv; j += WG) {
        float s = score(j);
        lz += exp(expo(s));
        lvar += (s - mean) * (s - mean);
    }
    vec2 zv = reduce_sum2(lz, lvar);
    zsum = zv.x;
    logz = log(zsum);
    float thr = mean + zz * sqrt(zv.y / float(NBv));
    /* every p NaN: the order is the index order */
    bool by_index = (floatBitsToUint(zsum) & 0x7fffffffu) > 0x7f800000u;

    /* n = length of the admitted prefix of the order */
    uint n = 0u;
    if (rule == 0u && by_index) {
        n = tau > 0.0 ? 1u : 0u; /* the first block's mass before is 0, the next one's NaN */
    } else if (rule == 0u) {
        float total = count_mass(0u, int(NB)).y;
        uint c;
        if (total < tau) {
            c = NBv;
        } else {
            /* largest H with mass(hi >= H) >= tau */
            uint H = 0u;
            for (int b = 31; b >= 0; b--) {
                uint cand = H | (1u << uint(b));
                if (count_mass(cand, int(NB)).y >= tau)
                    H = cand;
            }
            /* largest J in [-1, NB) with mass(key >= (H, J)) < tau */
            int lo = -1, hi = int(NB);
            while (hi - lo > 1) {
                int mid = (lo + hi) / 2;
                if (count_mass(H, mid).y < tau)
                    lo = mid;
                else
                    hi = mid;
            }
            c = uint(count_mass(H, lo).x + 0.5);
        }
        /* block r of the order is admitted iff the mass of the r blocks
         * before it is < tau: one more than those whose inclusive mass is */
        n = min(NBv, c + 1u);
    } else if (rule == 1u) {
        n = min(topk, NBv);
    }
    n = max(n, min(min_blocks, NBv));

    /* the key of rank n-1: (HE, JE) */
    uint HE = 0xffffffffu;
    int JE = -1;
    if (n > 0u && !by_index) {
        HE = 0u;
        for (int b = 31; b >= 0; b--) {
            uint cand = HE | (1u << uint(b));
            if (count_mass(cand, int(NB)).x >= float(n))
                HE = cand;
        }
        int lo = -1, hi = int(NB) - 1; /* count(lo) < n <= count(hi) */
        while (hi - lo > 1) {
            int mid = (lo + hi) / 2;
            if (count_mass(HE, mid).x >= float(n))
                hi = mid;
            else
                lo = mid;
        }
        JE = hi;
    }

    /* compaction in ascending j */
    uint written = 0u;
    for (uint base = 0u; base < NB; base += WG) {
        uint j = base + tid;
        bool pick = false;
        if (j < NB) {
            if (j >= NBv || j == i) {
                pick = true;
            } else if (by_index) {
                pick = j < n;
            } else {
                float s = score(j);
                pick = (n > 0u && ge(key(s), j, HE, JE)) || (rule == 2u && s >= thr);
            }
        }
        scan[tid] = pick ? 1u : 0u;
        barrier();
        for (uint st = 1u; st < WG; st <<= 1u) {
            uint v = tid >= st ? scan[tid - st] : 0u;
            barrier();
            scan[tid] += v;
            barrier();
        }
        if (pick)
            kv_cols[dst + written + scan[tid] - 1u] = int(j);
        written += scan[WG - 1u];
        barrier();
    }
    if (tid == 0u)
        kv_count[pc.off[3] + m] = int(written);
}

void main()
{
    tid = gl_LocalInvocationID.x;
    uint D = vox_u64lo(pc.D), NB = vox_u64lo(pc.NB), rows = vox_u64lo(pc.BH) * NB;
    NBv = vox_u64lo(pc.NBv);
    scale = pc.scale_f;
    uint g = group_linear_id();
    if (g >= pc.wg_count)
        return;
    sbase = pc.off[5] + g * vox_u64lo(pc.per_block);
    for (uint m = g; m < rows; m += pc.wg_count) {
        select_row(m, NB, D);
        barrier(); /* the next row reuses the shared arrays */
    }
}
#endif /* VOX_GLSL */
#ifndef VOX_GLSL
#define VK_VARIANTS_kv_select(X) \
    X("kv_select", "kv_select.comp", "-DDT_F32=1")
/* X(op) where this file has vk_<op>_supports() (vk_supports) */
#define VK_SUPPORTS_kv_select(X)

/* kv_select's work space: `bytes` of d->scratch (grown as needed; the work
 * recorded so far, which may use the old one, runs first). */
static vox_status kv_scratch(vk_dev *v, size_t bytes)
{
    if (v->scratch.buf && v->scratch.size >= bytes)
        return VOX_OK;
    vox_status st = v->recording ? vk_flush(v) : VOX_OK;
    if (st)
        return st;
    vk_buffer_destroy(v, &v->scratch);
    return vk_buffer_create(v, bytes, 0, &v->scratch);
}

/* Workgroups of kv_select (grid-stride over the rows), each with 2*NBv words
 * of scratch for its row's scores and their exponents: at most 4096 and
 * 64 MiB of scratch. */
#define KV_MAX_GROUPS 4096
#define KV_SCRATCH_MAX ((int64_t)64 << 20)

vox_status vk_kv_select(void *dev, const vox_op_dims *d, const vox_op_kv_select *p)
{
    vk_dev *v = dev;
    vox_kv_select_args a;
    vox_kv_select_args_init(&a, d, p);
    int64_t BH = a.BH, NB = a.NB, D = a.D, rows = BH * NB;
    a.per_block = a.NBv > 0 ? 2 * a.NBv : 1;
    int64_t groups = KV_SCRATCH_MAX / (4 * a.per_block);
    groups = groups < 1 ? 1 : groups > KV_MAX_GROUPS ? KV_MAX_GROUPS : groups;
    groups = groups < rows ? groups : rows;
    vox_status st = check_u32(v, "kv_select", rows * D, groups * a.per_block);
    if (!st) st = kv_scratch(v, (size_t)(groups * a.per_block) * 4);
    if (st)
        return st;
    vk_kv_select_binds b = {.qbar = bind(p->qbar, (size_t)(rows * D) * 4, 4),
                            .kbar = bind(p->kbar, (size_t)(rows * D) * 4, 4),
                            .kv_start = bind(p->kv_start, (size_t)rows * 4, 4),
                            .kv_count = bind(p->kv_count, (size_t)rows * 4, 4),
                            .kv_cols = bind(p->kv_cols, 0, 4),
                            .scratch = {&v->scratch, 0, (size_t)(groups * a.per_block) * 4, 4, 0}};
    return VK_DISPATCH(v, kv_select, "kv_select", b, a, (uint64_t)groups);
}
#endif /* !VOX_GLSL */
