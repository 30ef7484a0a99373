/* kv_select: KV block selection (core/backend.h, vox_op_kv_select). Each
 * workgroup takes rows m = bh*NB + i in a grid-stride loop; its slice of the
 * scratch buffer (pc.per_block words per workgroup, 2*NBv) holds the row's
 * scores and their exponents, then p (the STAT flag in its sign bit) and
 * the order keys; each invocation re-reads from it only what it wrote
 * itself until a barrier. The selected columns go to kv_cols from
 * kv_start[m].
 *
 * Blocks are ordered by key(s) descending, ties by lower index, key an
 * order-preserving map of the score to uint. Counts come from a radix
 * descent over the keys, 8 bits per pass from the top (descend()), with
 * per-bin counts and per-bin mass sums in shared memory: TOPK and the
 * min_blocks top-up take the n largest keys (the n-th key T and how many
 * lowest-index keys equal to T go in); CUMULATIVE finds the first count c
 * whose mass reaches tau. The cap (max_blocks) makes CUMULATIVE's n
 * min(c, cap), and a STAT row with more than cap flagged blocks drops its
 * flags for the cap largest keys; those n go by the same descent. Masses
 * are fixed point, floor(p * 2^48), summed exactly in integers (12-bit
 * limbs in 32-bit counters, sums as 64-bit uvec2), so any order of the
 * additions gives the same sums. One ordered compaction writes the
 * columns ascending (compact()).
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
 * The f32 mirrors scale_f and param_f (tau or z) are read.
 *
 * One file per op: the GLSL compute shader (compiled by glslc with
 * -DVOX_GLSL and -std=450, so no #version line here), and in a section
 * glslc skips the host side, compiled into vk_ops.c through the generated
 * vk_op_files.h: the op's shader variants VK_VARIANTS_kv_select (one
 * X(name, source, defines) per line; backends/vulkan/meson.build reads these
 * lines to build the SPIR-V, the launcher reads the defines), the
 * launcher vk_kv_select() and VK_SUPPORTS_kv_select.
 */
/* Query rows per workgroup tile: up to KV_ROWS, their qbar (KV_QS floats
 * in all) in shared memory. */
#define KV_ROWS 8u
/* The most video blocks whose row (p and keys) the _sgs variants keep in shared memory (8 KiB) */
#define KV_NMAX 1024u
#define KV_QS 1024u
#define kv_rows(D) ((D) > KV_QS / KV_ROWS ? ((D) > KV_QS ? 1u : KV_QS / (D)) : KV_ROWS)

#ifdef VOX_GLSL
#include "common.glsl"
#ifndef KV_STOP
#define KV_STOP 0
#endif
#ifndef KV_LEAN
#define KV_LEAN 0
#endif
#extension GL_EXT_control_flow_attributes : enable
#define WG 256u
layout(local_size_x = 256) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_KV_SELECT_BUFS) VOX_GLSL_FIELDS(VOX_KV_SELECT_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer Qbar { float qbar[]; };
layout(std430, set = 0, binding = 1) readonly buffer Kbar { float kbar[]; };
layout(std430, set = 0, binding = 2) readonly buffer KvStart { int kv_start[]; };
layout(std430, set = 0, binding = 3) writeonly buffer KvCount { int kv_count[]; };
layout(std430, set = 0, binding = 4) writeonly buffer KvCols { int kv_cols[]; };
layout(std430, set = 0, binding = 5) buffer Scratch { uint scratch[]; };
#if KV_ROWREAD && KV_VEC
layout(std430, set = 0, binding = 1) readonly buffer Kbar4 { vec4 kbar4[]; }; /* kbar 16 bytes at a time */
bool kv_vec; /* D and kbar's offset multiples of 4 (uniform) */
#endif
#ifndef KV_X64
#define KV_X64 0
#endif

#if KV_SG /* the _sg variants: the collectives through subgroup operations (any subgroup size from 4
            * dividing WG, checked by the host) */
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_shuffle : require
shared uvec4 sgt[WG / 4u]; /* per subgroup: its totals (scan2) or its maxima */
#endif
shared float red_a[WG];
shared float red_b[WG];
shared uint scan[WG];
shared uint hist[256], limb[4][256], scan_lo[WG], scan_hi[WG], bc[10];
#if KV_TQ /* the _tq tile pass reads the tile's qbar 16 bytes at a time */
shared vec4 qs4[KV_QS / 4u];
#define QS(x) qs4[(x) >> 2u][(x) & 3u]
shared uint qmx[KV_ROWS]; /* the tile rows' max |qbar| bits (atomicMax) */
#else
shared float qs[KV_QS];
#define QS(x) qs[x]
#endif
/* a chunk of kbar, transposed: KV_KD dims of WG keys (select_tile) */
#define KV_KD 16u
#define KV_KS (WG + 1u)
#if !KV_ROWREAD
shared float kst[KV_KD * KV_KS];
#endif
#if KV_SHROW /* the current row's scores, then p (rowp), and keys (rowk) in shared memory instead of the
              * scratch (NBv <= KV_NMAX, checked by the host) */
shared uint rowp[KV_NMAX], rowk[KV_NMAX];
#endif
shared int eqs[KV_ROWS];
#if KV_CERT
shared float nqs[KV_ROWS]; /* the tile rows' ||qbar_i 2^-eq|| (f32) */
#endif
#if KV_FP64 == 2 && KV_ROWREAD && KV_QD /* the tile's raw qbar for the f64 sums, converted to f64 once (the
                                            * conversions per key and dim bounded the tile pass) */
#if KV_TQ
shared dvec2 qd2[KV_QS / 2u];
#define QRAWD(x) qd2[(x) >> 1u][(x) & 1u]
#else
shared double qd[KV_QS];
#define QRAWD(x) qd[x]
#endif
#elif KV_FP64 == 2 && KV_ROWREAD /* as floats (the staged variants keep within 32 KiB of shared memory by
                                   * reading it from global memory) */
shared float qraw[KV_QS];
#define QRAWD(x) double(qraw[x])
#else
#define QRAWD(x) double(qbar[qat + (x)])
#endif

uint tid;

/* The workgroup's collectives run in two levels of SEG: the first SEG
 * invocations each combine SEG entries in order, then every invocation
 * combines those SEG. All in uniform control flow. */
#define SEG 16u

/* Sum of (a, b) over the workgroup. */
vec2 reduce_sum2(float a, float b)
{
    barrier();
    red_a[tid] = a;
    red_b[tid] = b;
    barrier();
    float x = 0.0, y = 0.0;
    for (uint k = 0u; tid < SEG && k < SEG; k++)
        x += red_a[tid * SEG + k], y += red_b[tid * SEG + k];
    barrier();
    if (tid < SEG)
        red_a[tid] = x, red_b[tid] = y;
    barrier();
    x = red_a[0], y = red_b[0];
    for (uint k = 1u; k < SEG; k++)
        x += red_a[k], y += red_b[k];
    return vec2(x, y);
}

#if KV_SG
/* The collectives below through subgroups: each subgroup's result in sgt,
 * then every invocation combines those in subgroup order. Max of integers
 * and of floats (NaN or not: a row with a NaN or +Inf score is ordered by
 * index whatever its max) and integer sums are exact in any order; the f32
 * sums (reduce_sum2) keep their order. Two barriers instead of four. */
vec3 reduce_max3(vec3 a)
{
    vec3 x = subgroupMax(a);
    barrier();
    if (subgroupElect())
        sgt[gl_SubgroupID] = uvec4(floatBitsToUint(x), 0u);
    barrier();
    x = uintBitsToFloat(sgt[0].xyz);
    for (uint k = 1u; k < gl_NumSubgroups; k++)
        x = max(x, uintBitsToFloat(sgt[k].xyz));
    return x;
}
float reduce_max(float a) { return reduce_max3(vec3(a, 0.0, 0.0)).x; }
uint reduce_max_bits(uint a)
{
    uint x = subgroupMax(a);
    barrier();
    if (subgroupElect())
        sgt[gl_SubgroupID].x = x;
    barrier();
    x = sgt[0].x;
    for (uint k = 1u; k < gl_NumSubgroups; k++)
        x = max(x, sgt[k].x);
    return x;
}
#else
float reduce_max(float a)
{
    barrier();
    red_a[tid] = a;
    barrier();
    float x = NEG_INF;
    for (uint k = 0u; tid < SEG && k < SEG; k++)
        x = max(x, red_a[tid * SEG + k]);
    barrier();
    if (tid < SEG)
        red_a[tid] = x;
    barrier();
    x = red_a[0];
    for (uint k = 1u; k < SEG; k++)
        x = max(x, red_a[k]);
    return x;
}

/* max over the workgroup of the bits of |x| (non-negative floats order as
 * their bits; NaN above +Inf) */
uint reduce_max_bits(uint a)
{
    barrier();
    scan[tid] = a;
    barrier();
    uint x = 0u;
    for (uint k = 0u; tid < SEG && k < SEG; k++)
        x = max(x, scan[tid * SEG + k]);
    barrier();
    if (tid < SEG)
        scan[tid] = x;
    barrier();
    x = scan[0];
    for (uint k = 1u; k < SEG; k++)
        x = max(x, scan[k]);
    return x;
}
vec3 reduce_max3(vec3 a) { return vec3(reduce_max(a.x), reduce_max(a.y), reduce_max(a.z)); }
#endif

uint okey(float s)
{
    uint u = floatBitsToUint(s);
    return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}

/* sbase: this workgroup's scratch slice; rbase: the current row's scores, then
 * p; kbase: the keys (first the kbar exponents) */
uint sbase, rbase, kbase, NBv;
int esc;         /* the scores are the reference's qbar.kbar times 2^-esc */
#if KV_CERT
uint nbase, cur_r; /* the head's ||kbar_j 2^-ek|| at nbase + j; the current row of the tile */
#endif
float mx, zsum, logz, scale;

#if KV_SHROW
#define ROWP(j) rowp[j]
#define ROWK(j) rowk[j]
#else
#define ROWP(j) scratch[rbase + (j)]
#define ROWK(j) scratch[kbase + (j)]
#endif
float score(uint j) { return uintBitsToFloat(ROWP(j)); }

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

/* 64-bit unsigned integers as uvec2 (low word first). */
uvec2 add64(uvec2 a, uvec2 b)
{
    uint c;
    uint lo = uaddCarry(a.x, b.x, c);
    return uvec2(lo, a.y + b.y + c);
}
uvec2 sub64(uvec2 a, uvec2 b)
{
    uint c;
    uint lo = usubBorrow(a.x, b.x, c);
    return uvec2(lo, a.y - b.y - c);
}
bool lt64(uvec2 a, uvec2 b) { return a.y < b.y || (a.y == b.y && a.x < b.x); }
uvec2 mul64(uvec2 a, uint k)
{
    uint hi, lo;
    umulExtended(a.x, k, hi, lo);
    return uvec2(lo, hi + a.y * k);
}

/* floor(p * 2^48) (0 <= p <= 1) in 12-bit limbs, lowest first */
uvec4 limbs_of(float p)
{
    float x = abs(p) * 281474976710656.0; /* 2^48: exact */
    uint hi = uint(x * (1.0 / 16777216.0)), lo = uint(x - float(hi) * 16777216.0);
    return uvec4(lo & 0xfffu, lo >> 12u, hi & 0xfffu, hi >> 12u);
}
/* the value of limb sums (each < 2^32; the total < 2^63) */
uvec2 limbs64(uvec4 l)
{
    uvec2 v = add64(uvec2(l.x, 0u), uvec2(l.y << 12u, l.y >> 20u));
    return add64(add64(v, uvec2(l.z << 24u, l.z >> 8u)), uvec2(0u, l.w << 4u));
}

/* The row's work space after the scores: p with the STAT flag in its sign
 * bit at j, the key at NBv + j. */
float pv(uint j) { return uintBitsToFloat(ROWP(j)); }
uint kv(uint j) { return ROWK(j); }

/* Exclusive prefix sums over the workgroup of (c, m); totals in tc, tm.
 * Uniform control flow. */
#if KV_SG
/* m in three 21-bit limbs (a sum of WG of them fits 32 bits), and back
 * (modulo 2^64, as add64) */
uvec3 limbs21(uvec2 m) { return uvec3(m.x & 0x1fffffu, ((m.x >> 21u) | (m.y << 11u)) & 0x1fffffu, m.y >> 10u); }
uvec2 join21(uvec3 l) { return add64(add64(uvec2(l.x, 0u), uvec2(l.y << 21u, l.y >> 11u)), uvec2(0u, l.z << 10u)); }
void scan2(uint c, uvec2 m, out uint xc, out uvec2 xm, out uint tc, out uvec2 tm)
{
    uvec4 v = uvec4(c, limbs21(m)), inc = subgroupInclusiveAdd(v);
    barrier();
    if (gl_SubgroupInvocationID == gl_SubgroupSize - 1u)
        sgt[gl_SubgroupID] = inc;
    barrier();
    uvec4 before = uvec4(0u), tot = uvec4(0u);
    for (uint k = 0u; k < gl_NumSubgroups; k++) {
        uvec4 t = sgt[k];
        before += k < gl_SubgroupID ? t : uvec4(0u);
        tot += t;
    }
    uvec4 ex = before + inc - v;
    xc = ex.x, xm = join21(ex.yzw), tc = tot.x, tm = join21(tot.yzw);
}
#else
void scan2(uint c, uvec2 m, out uint xc, out uvec2 xm, out uint tc, out uvec2 tm)
{
    barrier();
    scan[tid] = c, scan_lo[tid] = m.x, scan_hi[tid] = m.y;
    barrier();
    uint ac = 0u;
    uvec2 am = uvec2(0u);
    for (uint k = tid * SEG; tid < SEG && k < (tid + 1u) * SEG; k++) {
        ac += scan[k], am = add64(am, uvec2(scan_lo[k], scan_hi[k]));
        scan[k] = ac, scan_lo[k] = am.x, scan_hi[k] = am.y;
    }
    barrier();
    uint g = tid / SEG, oc = 0u;
    uvec2 om = uvec2(0u);
    tc = 0u, tm = uvec2(0u);
    for (uint k = 0u; k < SEG; k++) {
        uint last = k * SEG + SEG - 1u;
        uvec2 lm = uvec2(scan_lo[last], scan_hi[last]);
        if (k < g)
            oc += scan[last], om = add64(om, lm);
        tc += scan[last], tm = add64(tm, lm);
    }
    xc = oc + scan[tid] - c, xm = sub64(add64(om, uvec2(scan_lo[tid], scan_hi[tid])), m);
}
#endif

void flush(int b, uint cnt, uvec4 l, bool with_mass)
{
    if (b < 0)
        return;
    atomicAdd(hist[b], cnt);
    if (with_mass) {
        atomicAdd(limb[0][b], l.x), atomicAdd(limb[1][b], l.y);
        atomicAdd(limb[2][b], l.z), atomicAdd(limb[3][b], l.w);
    }
}

/* Radix descent over the row's keys, 8 bits per pass from the top, bins
 * in descending order (invocation t takes bin 255 - t). with_mass false:
 * the target.x-th largest key (1 <= target.x < NBv): T, and rem, how many of
 * the lowest-index keys equal to T go in (~0u: every one). with_mass true:
 * c, the smallest count whose mass reaches target (0 < target <= the row's
 * total), and T, rem of those c blocks. A pass histograms the keys under the prefix found so far (counts,
 * and masses as limbs: exact while NBv < 2^20; a run of keys of one bin in
 * an invocation's stride adds once). Stops when the bin holding the target is
 * taken whole (count) or is one block (mass). Uniform control flow. */
void descend(bool with_mass, uvec2 target, out uint T, out uint rem_out, out uint c_out)
{
    uint prefix = 0u, hmask = 0u, above = 0u;
    uvec2 rem = target;
    T = 0u, rem_out = 0u, c_out = 0u;
    for (int shift = 24; shift >= 0; shift -= 8) {
#if !KV_LEAN /* _ln: the bins are zero here already (zeroed at the start, and by their readers below) */
        barrier();
        hist[tid] = 0u;
        limb[0][tid] = 0u, limb[1][tid] = 0u, limb[2][tid] = 0u, limb[3][tid] = 0u;
        barrier();
#endif
        int rb = -1;
        uint rc = 0u;
        uvec4 rl = uvec4(0u);
        for (uint j = tid; j < NBv; j += WG) {
            uint u = kv(j);
            if ((u & hmask) != prefix)
                continue;
            int b = int((u >> uint(shift)) & 255u);
            if (b != rb) {
                flush(rb, rc, rl, with_mass);
                rb = b, rc = 0u, rl = uvec4(0u);
            }
            rc++;
            if (with_mass)
                rl += limbs_of(pv(j));
        }
#if KV_SG /* a subgroup whose last runs share one bin (the top passes: most keys) adds once */
        int bmax = subgroupMax(rb), bmin = subgroupMin(rb < 0 ? 0x7fffffff : rb);
        if (bmax < 0 || bmin == bmax) {
            uint sc = subgroupAdd(rc);
            uvec4 sl = with_mass ? subgroupAdd(rl) : uvec4(0u);
            if (subgroupElect())
                flush(bmax, sc, sl, with_mass);
        } else
#endif
        flush(rb, rc, rl, with_mass);
        barrier();
        uint b = 255u - tid, c = hist[b], xc, tc;
        uvec2 m = with_mass ? limbs64(uvec4(limb[0][b], limb[1][b], limb[2][b], limb[3][b])) : uvec2(0u), xm, tm;
#if KV_LEAN /* bin b is read by this invocation alone: zero it for the next pass (or descent), whose flushes
             * come after scan2's and the bc barrier (two barriers fewer per pass) */
        hist[b] = 0u;
        if (with_mass)
            limb[0][b] = 0u, limb[1][b] = 0u, limb[2][b] = 0u, limb[3][b] = 0u;
#endif
        scan2(c, m, xc, xm, tc, tm);
        bool hit = with_mass ? lt64(xm, rem) && !lt64(add64(xm, m), rem) : xc < rem.x && rem.x <= xc + c;
        if (hit) {
            bc[0] = b, bc[1] = xc, bc[2] = xm.x, bc[3] = xm.y, bc[4] = c, bc[5] = m.x, bc[6] = m.y;
        }
        barrier();
        uint bin = bc[0], bxc = bc[1], bcnt = bc[4];
        uvec2 bxm = uvec2(bc[2], bc[3]), bm = uvec2(bc[5], bc[6]);
        prefix |= bin << uint(shift);
        hmask |= 255u << uint(shift);
        above += bxc;
        rem = with_mass ? sub64(rem, bxm) : uvec2(rem.x - bxc, 0u);
        if (!with_mass && bcnt == rem.x) { /* the whole bin goes in: every key >= its lowest */
            T = prefix, rem_out = 0xffffffffu;
            return;
        }
        if (with_mass && bcnt == 1u) { /* the c first: every key >= the bin's lowest */
            c_out = above + 1u, T = prefix, rem_out = 0xffffffffu;
            return;
        }
        if (shift == 0) { /* equal keys: equal masses v, in index order */
            T = prefix, rem_out = rem.x;
            if (with_mass) { /* v: any of them (all write the same); then the smallest r with r v >= rem */
                for (uint j = tid; j < NBv; j += WG)
                    if (kv(j) == prefix) {
                        uvec2 v = limbs64(limbs_of(pv(j)));
                        bc[8] = v.x, bc[9] = v.y;
                        break;
                    }
                barrier();
                uvec2 v = uvec2(bc[8], bc[9]);
                uint lo = 1u, hi = bcnt;
                while (lo < hi) {
                    uint mid = (lo + hi) / 2u;
                    if (lt64(mul64(v, mid), rem))
                        lo = mid + 1u;
                    else
                        hi = mid;
                }
                c_out = above + lo, rem_out = lo;
            }
        }
    }
}
/* ceil(t * 2^48) (0 for t <= 0 or NaN; 2^63 - 1 above any row's mass for
 * t >= 2^15) */
uvec2 fix48(float t)
{
    if (!(t > 0.0))
        return uvec2(0u);
    if (t >= 32768.0)
        return uvec2(0xffffffffu, 0x7fffffffu);
    float x = t * 281474976710656.0;
    if (x < 4294967296.0)
        return uvec2(uint(ceil(x)), 0u);
    uint hi = uint(x * (1.0 / 4294967296.0));
    return uvec2(uint(x - float(hi) * 4294967296.0), hi);
}

/* Writes row m's columns ascending from kv_cols[dst] and its count: the n
 * first blocks of the order (keys > T, and the rem lowest-index keys == T;
 * rem ~0u: all), the STAT blocks (stat_rule), the own block i and the global
 * blocks. Each invocation takes a contiguous segment of j; two scans (keys
 * == T before the segment, picks before it). Uniform control flow. */
void compact(uint i, uint NB, uint n, uint T, uint rem, bool stat_rule, uint dst, uint m)
{
    uint L = (NB + WG - 1u) / WG, j0 = min(tid * L, NB), j1 = min(j0 + L, NB);
    uint ne = 0u, xe, te, np = 0u, xp = 0u, tp = 0u;
    uvec2 u0, u1;
    bool some = n > 0u;
    for (uint j = j0; some && rem != 0xffffffffu && j < min(j1, NBv); j++)
        ne += kv(j) == T ? 1u : 0u;
#if KV_LEAN /* uniform: without a partial run of keys == T, eq is not read (xe 0) */
    if (!some || rem == 0xffffffffu)
        xe = 0u;
    else
#endif
    scan2(ne, uvec2(0u), xe, u0, te, u1);
    for (int write = 0; write < 2; write++) {
        uint eq = xe, at = dst + xp;
        for (uint j = j0; j < j1; j++) {
            bool pick = j >= NBv;
            if (!pick) {
                uint k = kv(j);
                pick = (some && (k > T || (k == T && (rem == 0xffffffffu || eq < rem)))) || j == i ||
                       (stat_rule && (ROWP(j) >> 31u) != 0u);
                eq += k == T ? 1u : 0u;
            }
            if (pick && write == 1)
                kv_cols[at++] = int(j);
            np += pick && write == 0 ? 1u : 0u;
        }
        if (write == 0)
            scan2(np, uvec2(0u), xp, u0, tp, u1);
    }
    if (tid == 0u)
        kv_count[pc.off[3] + m] = int(tp);
}

#if KV_FP64
/* The CUMULATIVE count in f64 (devices with shaderFloat64): the f32 p above
 * can sit on the other side of tau from the reference's f64 sums (issue
 * #17: a row whose sum of the 92 first p exceeds 0.9 by 7e-8 in f64 while
 * the f32 p, 4e-7 smaller, need 93). The row is re-scored as the reference
 * does (s_j = the f64 sequential sum of the f32 x f32 products, exact in
 * f64, times scale: bitwise its s_j), p_j = exp_d(s_j - max) / z in f64
 * (exp_d within ~2 ulp of libm's; z a tree sum), into the row's f64 area
 * (wbase, 2 words per block). The f32 count c is certified when the blocks
 * it takes (keys >= T) are the reference's c first (the last of them, B,
 * ranks before every other block) and their f64 sums satisfy
 * S_{c-1} + mg < tau <= S_c - mg, mg = (4 NBv + 512) 2^-52 covering the
 * reference's sequential roundings, the tree sums and the exp_d/libm
 * difference; else (or when the count ends inside a run of equal keys) the
 * reference is replayed: ranks by counting (p desc, ties lower index) into
 * obase, the sequential sum in that order by one invocation, and the keys
 * replaced by ~rank so that the selection (and the min_blocks top-up) takes
 * the reference's order. */
uint wbase, obase;
bool p64; /* the current row's f64 p at wbase (exact_f64 ran on it) */
#if KV_FP64 == 2
uint fbase; /* the tile's f64 scores: row r's s_j at fbase + 2 (r NBv + j), then its exp and p */
#endif

#include "kv_select.glsl" /* ld_d, st_d, exp_d */

/* Sum (is_max false) or max (NaN ignored) of a over the workgroup, in the
 * scan arrays' words. Uniform control flow. */
double reduce_d(double a, bool is_max)
{
#if KV_SG
    if (is_max) { /* NaN ignored: as -Inf (the loop's start) */
        double x = subgroupMax(a != a ? double(NEG_INF) : a);
        barrier();
        if (subgroupElect())
            sgt[gl_SubgroupID].xy = unpackDouble2x32(x);
        barrier();
        x = packDouble2x32(sgt[0].xy);
        for (uint k = 1u; k < gl_NumSubgroups; k++) {
            double y = packDouble2x32(sgt[k].xy);
            x = y > x ? y : x;
        }
        return x;
    }
#endif
    barrier();
    uvec2 u = unpackDouble2x32(a);
    scan_lo[tid] = u.x, scan_hi[tid] = u.y;
    barrier();
    double x = is_max ? double(NEG_INF) : 0.0LF;
    for (uint k = 0u; tid < SEG && k < SEG; k++) {
        double y = packDouble2x32(uvec2(scan_lo[tid * SEG + k], scan_hi[tid * SEG + k]));
        x = is_max ? (y > x ? y : x) : x + y;
    }
    barrier();
    if (tid < SEG) {
        u = unpackDouble2x32(x);
        scan_lo[tid] = u.x, scan_hi[tid] = u.y;
    }
    barrier();
    x = is_max ? double(NEG_INF) : 0.0LF;
    for (uint k = 0u; k < SEG; k++) {
        double y = packDouble2x32(uvec2(scan_lo[k], scan_hi[k]));
        x = is_max ? (y > x ? y : x) : x + y;
    }
    return x;
}

/* Whether block (p, j) ranks before (q, k) in the reference's order. */
bool ranks_before(double p, uint j, double q, uint k) { return p > q || (p == q && j < k); }

/* Of the (p, j) over the workgroup (j ~0u: none), the first in the order
 * (first true) or the last. Uniform control flow. */
void reduce_rank(inout double p, inout uint j, bool first)
{
#if KV_SG /* a total order on the (p, j) with distinct j: the same one whatever the combining order */
    for (uint o = 1u; o < gl_SubgroupSize; o *= 2u) {
        double kp = subgroupShuffleXor(p, o);
        uint kj = subgroupShuffleXor(j, o);
        if (kj != 0xffffffffu && (j == 0xffffffffu || (first ? ranks_before(kp, kj, p, j) : ranks_before(p, j, kp, kj))))
            p = kp, j = kj;
    }
    barrier();
    if (subgroupElect())
        sgt[gl_SubgroupID] = uvec4(unpackDouble2x32(p), j, 0u);
    barrier();
    p = 0.0LF, j = 0xffffffffu;
    for (uint k = 0u; k < gl_NumSubgroups; k++) {
        double kp = packDouble2x32(sgt[k].xy);
        uint kj = sgt[k].z;
        if (kj != 0xffffffffu && (j == 0xffffffffu || (first ? ranks_before(kp, kj, p, j) : ranks_before(p, j, kp, kj))))
            p = kp, j = kj;
    }
    return;
#endif
    for (int pass = 0; pass < 2; pass++) { /* the first SEG combine SEG each, then everyone those SEG */
        barrier();
        if (pass == 0 || tid < SEG) {
            uvec2 u = unpackDouble2x32(p);
            scan_lo[tid] = u.x, scan_hi[tid] = u.y, scan[tid] = j;
        }
        barrier();
        double bp = 0.0LF;
        uint bj = 0xffffffffu;
        for (uint k = 0u; (pass == 1 || tid < SEG) && k < SEG; k++) {
            uint w = pass == 0 ? tid * SEG + k : k, kj = scan[w];
            double kp = packDouble2x32(uvec2(scan_lo[w], scan_hi[w]));
            if (kj != 0xffffffffu &&
                (bj == 0xffffffffu || (first ? ranks_before(kp, kj, bp, bj) : ranks_before(bp, bj, kp, kj))))
                bp = kp, bj = kj;
        }
        p = bp, j = bj;
    }
}

/* The row's f64 exp(s_j - max) at wbase, their sum returned (exact_f64's
 * first steps). Uniform control flow. */
double z_f64(uint bh, uint i, uint NB)
{
    double lmx = double(NEG_INF);
#if KV_FP64 == 2 /* s_j from select_tile's f64 sums */
    for (uint j = tid; j < NBv; j += WG) {
        double sj = ld_d(wbase + 2u * j);
        lmx = sj > lmx ? sj : lmx;
    }
#else
    uint D = vox_u64lo(pc.D), qat = pc.off[0] + (bh * NB + i) * D;
    double scale64 = packDouble2x32(pc.scale);
    for (uint j = tid; j < NBv; j += WG) {
        uint kat = pc.off[1] + (bh * NB + j) * D;
        precise double acc = 0.0LF;
#if KV_X64 /* _lx: the key's row 16 bytes at a time, four loads ahead (each lane reads its own row: a quarter of
            * the load instructions); the same products summed in the same order e */
        if (kv_vec) { /* uniform */
            uint D4 = D / 4u, k4 = kat / 4u;
            for (uint c0 = 0u; c0 < D4; c0 += 4u) {
                vec4 kk[4];
                [[unroll]] for (uint u = 0u; u < 4u; u++)
                    kk[u] = c0 + u < D4 ? kbar4[k4 + c0 + u] : vec4(0.0);
                [[unroll]] for (uint u = 0u; u < 4u; u++) {
                    if (c0 + u >= D4)
                        break;
                    uint e = 4u * (c0 + u);
                    acc += double(qbar[qat + e]) * double(kk[u].x);
                    acc += double(qbar[qat + e + 1u]) * double(kk[u].y);
                    acc += double(qbar[qat + e + 2u]) * double(kk[u].z);
                    acc += double(qbar[qat + e + 3u]) * double(kk[u].w);
                }
            }
        } else
#endif
        for (uint e = 0u; e < D; e++)
            acc += double(qbar[qat + e]) * double(kbar[kat + e]);
        precise double sj = acc * scale64;
        st_d(wbase + 2u * j, sj);
        lmx = sj > lmx ? sj : lmx;
    }
#endif
    double mx64 = reduce_d(lmx, true);
    double lz = 0.0LF;
    for (uint j = tid; j < NBv; j += WG) {
        double e = exp_d(ld_d(wbase + 2u * j) - mx64);
        st_d(wbase + 2u * j, e);
        lz += e;
    }
    return reduce_d(lz, false);
}

/* The reference's CUMULATIVE count (cum) or its order of the c first
 * blocks (TOPK, a top-up) of row m = bh*NB + i (p not NaN) from the f32
 * count c (keys >= T when rem is ~0u); on a replay the
 * keys become ~rank and T, rem, c those of the new count. Uniform control
 * flow. */
void exact_f64(uint bh, uint i, uint NB, bool cum, inout uint c, inout uint T, inout uint rem)
{
    double tau64 = cum ? packDouble2x32(pc.tau) : 0.0LF;
    /* a second call on the row (a count past the cap, a top-up): its p at wbase already */
    double z64 = p64 ? 1.0LF : z_f64(bh, i, NB);
    p64 = true;
    /* p in place of exp; the blocks taken: their sum, the last of them, and
     * the first of the others */
    double lsum = 0.0LF, pb = 0.0LF, po = 0.0LF;
    uint jb = 0xffffffffu, jo = 0xffffffffu;
    for (uint j = tid; j < NBv; j += WG) {
        double pj = ld_d(wbase + 2u * j) / z64;
        st_d(wbase + 2u * j, pj);
        if (kv(j) >= T) {
            lsum += pj;
            if (jb == 0xffffffffu || ranks_before(pb, jb, pj, j))
                pb = pj, jb = j;
        } else if (jo == 0xffffffffu || ranks_before(pj, j, po, jo)) {
            po = pj, jo = j;
        }
    }
    double sc = reduce_d(lsum, false);
    reduce_rank(pb, jb, false);
    reduce_rank(po, jo, true);
    double mg = (4.0LF * double(NBv) + 512.0LF) * 2.220446049250313e-16LF; /* 2^-52 */
    if (rem == 0xffffffffu && jb != 0xffffffffu && (jo == 0xffffffffu || ranks_before(pb, jb, po, jo)) &&
        (!cum || ((sc - pb) + mg < tau64 && (c >= NBv || sc - mg >= tau64))))
        return; /* certified */
    /* replay: ranks, the sequential sum, the keys */
    memoryBarrierBuffer();
    barrier();
#if KV_FP64 == 2
    /* ranks by counting against WG p at a time staged in the scan arrays'
     * words (broadcast reads); p goes to obase in the reference's order and
     * the key becomes ~rank */
    for (uint j0 = 0u; j0 < NBv; j0 += WG) {
        uint j = j0 + tid, rank = 0u;
        double pj = j < NBv ? ld_d(wbase + 2u * j) : 0.0LF;
        for (uint k0 = 0u; k0 < NBv; k0 += WG) {
            barrier();
            if (k0 + tid < NBv) {
                uvec2 u = unpackDouble2x32(ld_d(wbase + 2u * (k0 + tid)));
                scan_lo[tid] = u.x, scan_hi[tid] = u.y;
            }
            barrier();
            uint kn = min(WG, NBv - k0);
            for (uint k = 0u; k < kn; k++)
                rank += ranks_before(packDouble2x32(uvec2(scan_lo[k], scan_hi[k])), k0 + k, pj, j) ? 1u : 0u;
        }
        if (j < NBv) {
            st_d(obase + 2u * rank, pj);
            ROWK(j) = ~rank;
        }
    }
    memoryBarrierBuffer();
    barrier();
    /* the reference's sequential sum, WG terms at a time from shared memory */
    precise double before = 0.0LF;
    uint n = 0u;
    if (tid == 0u)
        bc[7] = c; /* a count given (not cum): the reference's c first blocks */
    for (uint n0 = 0u; cum && n0 < NBv; n0 += WG) {
        barrier();
        if (n0 + tid < NBv) {
            uvec2 u = unpackDouble2x32(ld_d(obase + 2u * (n0 + tid)));
            scan_lo[tid] = u.x, scan_hi[tid] = u.y;
        }
        barrier();
        if (tid == 0u) {
            uint kn = min(WG, NBv - n0);
            for (uint k = 0u; k < kn && before < tau64; k++, n++)
                before += packDouble2x32(uvec2(scan_lo[k], scan_hi[k]));
            bc[7] = n, bc[8] = before < tau64 ? 0u : 1u;
        }
        barrier();
        if (bc[8] != 0u)
            break;
    }
    barrier();
    c = bc[7], T = ~(c - 1u), rem = 0xffffffffu;
#else
#if KV_X64 /* _lx: the ranks against WG p at a time staged in shared memory (broadcast reads), as the
            * _f64t replay, instead of every invocation reading every p from the scratch */
    for (uint j0 = 0u; j0 < NBv; j0 += WG) { /* uniform */
        uint j = j0 + tid, rank = 0u;
        double pj = j < NBv ? ld_d(wbase + 2u * j) : 0.0LF;
        for (uint k0 = 0u; k0 < NBv; k0 += WG) {
            barrier();
            if (k0 + tid < NBv) {
                uvec2 u = unpackDouble2x32(ld_d(wbase + 2u * (k0 + tid)));
                scan_lo[tid] = u.x, scan_hi[tid] = u.y;
            }
            barrier();
            uint kn = min(WG, NBv - k0);
            for (uint k = 0u; k < kn; k++)
                rank += ranks_before(packDouble2x32(uvec2(scan_lo[k], scan_hi[k])), k0 + k, pj, j) ? 1u : 0u;
        }
        if (j < NBv)
            scratch[obase + rank] = j;
    }
#else
    for (uint j = tid; j < NBv; j += WG) {
        double pj = ld_d(wbase + 2u * j);
        uint rank = 0u;
        for (uint k = 0u; k < NBv; k++)
            rank += ranks_before(ld_d(wbase + 2u * k), k, pj, j) ? 1u : 0u;
        scratch[obase + rank] = j;
    }
#endif
    memoryBarrierBuffer();
    barrier();
    if (tid == 0u) {
        precise double before = 0.0LF;
        uint n = 0u;
        for (; cum && n < NBv && before < tau64; n++)
            before += ld_d(wbase + 2u * scratch[obase + n]);
        bc[7] = cum ? n : c;
    }
    for (uint r = tid; r < NBv; r += WG)
        ROWK(scratch[obase + r]) = ~r;
    memoryBarrierBuffer();
    barrier();
    c = bc[7], T = ~(c - 1u), rem = 0xffffffffu;
#endif
}
#endif

/* Whether the f32 selection of a count (the blocks with keys >= T, rem ~0u) is
 * certified to be the reference's first blocks without f64 work (KV_CERT,
 * TOPK rows): every taken block's exact score exceeds every other one's by
 * more than the f32 error bounds, far enough that the reference's f64 p
 * cannot tie (2^-45 in the exponent), and the lowest taken p is a normal
 * double. The f32 score of block j (s_j = qbar.kbar 2^-esc, in order e)
 * errs by at most E_j = g (||q|| ||k_j|| 1.01 + 2^-60) + 2^-100, g = (D + 4)
 * 2^-23 (twice the sequential sum's (D u)/(1 - D u); Cauchy-Schwarz for
 * sum |q_e k_je|; the floors cover underflow in the scaled products and the
 * squares); the scores come back from the keys (okey is invertible); a key
 * ~0 (exp rounds to 1: the top blocks) stands for mx less a bound, a key 0
 * (p = 0) taken is never certified and not taken is below the lowest taken
 * p (a normal double, checked). Uniform control flow. */
bool certified_f32(uint T, uint rem)
{
#if KV_CERT
    if (rem != 0xffffffffu || T == 0u || T == 0xffffffffu)
        return false;
    float g = float(vox_u64lo(pc.D) + 4u) * ldexp(1.0, -23), nq = nqs[cur_r] * 1.01;
    float lo = uintBitsToFloat(0x7f800000u), hi = NEG_INF; /* min over taken of s - 2E, max over the others of s + 2E */
    /* key ~0 (exp rounds to 1: the row's top blocks, s within 2^-54 of the max in the exponent): s >= mx - dtop */
    float dtop = abs(mx) * ldexp(1.0, -20) + pow2_scaled(ldexp(1.0, -50) / scale, esc) + ldexp(1.0, -100);
    float ez = 0.0; /* the largest 2E of the untaken blocks with key 0 */
    for (uint j = tid; j < NBv; j += WG) {
        uint u = kv(j);
        float e2 = 2.0 * (g * (nq * uintBitsToFloat(scratch[nbase + j]) + ldexp(1.0, -60)) + ldexp(1.0, -100));
        if (u == 0u) { /* p underflows (f32 estimate): taken, not certified; else below the lowest taken p
                        * (> e^-700, checked below) while its score's error is below 16 in the exponent */
            if (u >= T)
                lo = NEG_INF;
            else
                ez = max(ez, e2);
            continue;
        }
        float sj = u == 0xffffffffu ? mx - dtop : uintBitsToFloat((u & 0x80000000u) != 0u ? u & 0x7fffffffu : ~u);
        if (u >= T)
            lo = min(lo, sj - e2);
        else
            hi = max(hi, sj + e2);
    }
    vec3 r3 = reduce_max3(vec3(-lo, hi, ez));
    lo = -r3.x, hi = r3.y, ez = r3.z;
    float gap = lo - hi;
    return gap > ldexp(1.0, -100) + ldexp(1.0, -22) * (abs(lo) + abs(hi)) &&
           pow2_scaled(gap * scale, -esc) > ldexp(1.0, -45) && expo(lo) - logz > -700.0 &&
           pow2_scaled(ez * scale, -esc) < 16.0;
#else
    return false;
#endif
}

/* Selects the columns of row m = bh*NB + i, whose scores are at rbase
 * (uniform control flow: m is the workgroup's). */
void select_row(uint bh, uint i, uint NB)
{
    /* max_blocks: TOPK's count, CUMULATIVE's and STAT's cap */
    uint rule = uint(pc.rule), cap = uint(pc.max_blocks), min_blocks = uint(pc.min_blocks);
    float tau = pc.param_f, zz = pc.param_f;
    uint m = bh * NB + i;
    uint dst = pc.off[4] + uint(kv_start[pc.off[2] + m]);
    if (i >= NBv) { /* global query rows are dense */
        for (uint j = tid; j < NB; j += WG)
            kv_cols[dst + j] = int(j);
        if (tid == 0u)
            kv_count[pc.off[3] + m] = int(NB);
        return;
    }
    float lmax = NEG_INF, lsum = 0.0;
#if KV_SHROW /* each invocation its own j, as below (the previous row's readers are past a barrier) */
    for (uint j = tid; j < NBv; j += WG)
        rowp[j] = scratch[rbase + j];
#endif
    for (uint j = tid; j < NBv; j += WG) {
        float s = score(j);
        lmax = max(lmax, s);
        lsum += s;
    }
    mx = reduce_max(lmax);
#if KV_LEAN /* _ln: the mean and variance only for STAT (its threshold; the flag is read for STAT alone) */
    bool stat = rule == 2u; /* uniform */
    float mean = stat ? reduce_sum2(lsum, 0.0).x / float(NBv) : 0.0;
#else
    float mean = reduce_sum2(lsum, 0.0).x / float(NBv);
#endif
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
#if KV_LEAN
#define KV_FLAG(s) (stat && (s) >= thr)
#else
#define KV_FLAG(s) ((s) >= thr)
#endif
    /* every p NaN: the order is the index order */
    bool by_index = (floatBitsToUint(zsum) & 0x7fffffffu) > 0x7f800000u;

    /* p (the STAT flag in its sign bit) in place of the score, the key
     * beside (each invocation its own j); the row's total mass and STAT
     * count */
    uvec4 ll = uvec4(0u);
    uint lf = 0u;
    for (uint j = tid; j < NBv; j += WG) {
        float s = score(j), p = by_index ? 0.0 : exp(expo(s)) / zsum;
        ROWK(j) = by_index ? 0u : key(s);
        ROWP(j) = floatBitsToUint(p) | (KV_FLAG(s) ? 0x80000000u : 0u);
        ll += limbs_of(p);
        lf += KV_FLAG(s) ? 1u : 0u;
    }
    uint u0, nflag = 0u;
    uvec2 u2, total = uvec2(0u);
#if KV_LEAN /* uniform: the row's total mass is read by CUMULATIVE alone, the count by STAT */
    if (rule != 1u)
#endif
    scan2(lf, limbs64(ll), u0, u2, nflag, total);

    /* n = length of the admitted prefix of the order */
    uint n = 0u, T = 0u, rem = 0u, c = 0u;
#if KV_FP64
    p64 = false;
#endif
    bool stat_rule = rule == 2u; /* the flagged blocks go in */
    if (rule == 0u && by_index) {
        n = tau > 0.0 ? 1u : 0u; /* the first block's mass before is 0, the next one's NaN */
    } else if (rule == 0u) {
        uvec2 tf = fix48(tau);
        n = tf == uvec2(0u) ? 0u : NBv;
        if (tf != uvec2(0u) && !lt64(total, tf)) {
            descend(true, tf, T, rem, c);
            n = c;
        }
#if KV_FP64
        if (tf != uvec2(0u)) {
            if (n >= NBv) /* every block: keys >= 0 */
                c = NBv, T = 0u, rem = 0xffffffffu;
            exact_f64(bh, i, NB, true, c, T, rem);
            n = c;
        }
#endif
        n = min(n, cap); /* n != c: the first cap by a descent below */
    } else if (rule == 1u) {
        n = min(cap, NBv);
    } else if (nflag > cap) { /* STAT past the cap: the first cap of the order, no flags */
        n = cap, stat_rule = false;
    }
    n = max(n, min(min_blocks, NBv));
    if (n >= NBv)
        T = 0u, rem = 0xffffffffu;
    else if (n > 0u && by_index)
        T = 0u, rem = n;
    else if (n > 0u && !(rule == 0u && n == c)) { /* else the cumulative descent's T, rem */
        descend(false, uvec2(n, 0u), T, rem, c);
#if KV_FP64
        /* TOPK's n (and a min_blocks top-up) by the f32 keys, certified against the reference's
         * f64 order of p (the last taken block ranks before every other), else replayed */
        if (rule != 2u && n < NBv && !certified_f32(T, rem)) {
            c = n;
            memoryBarrierBuffer();
            barrier();
            exact_f64(bh, i, NB, false, c, T, rem);
        }
#endif
    }
    memoryBarrierBuffer();
    barrier(); /* compact() reads every invocation's keys */
    compact(i, NB, n, T, rem, stat_rule, dst, m);
}

/* kst[e * KV_KS + key] = kbar of key block j0 + key (< NBv, else 0), dim
 * e0 + e (< D, else 0), for the WG keys from j0 (`at`: the first one's
 * kbar) and KV_KD dims from e0, read coalesced. Uniform control flow. */
#if KV_ROWREAD /* each invocation reads its own key's row (uncoalesced) */
#if KV_VEC /* the _v4 variants: 16 bytes per load where D and kbar's offset allow (4 times fewer
              * load instructions, each touching as many lines) into kreg */
float kreg[KV_KD];
#define KST(e) (kv_vec ? kreg[e] : j0 + tid < NBv ? kbar[at + tid * D + e0 + (e)] : 0.0)
void stage_k(uint at, uint j0, uint e0, uint D)
{
    if (!kv_vec)
        return;
    bool ok = j0 + tid < NBv;
    uint b = (at + tid * D + e0) / 4u;
    [[unroll]] for (uint c = 0u; c < KV_KD / 4u; c++) {
        vec4 x = ok && e0 + 4u * c < D ? kbar4[b + c] : vec4(0.0);
        kreg[4u * c] = x.x, kreg[4u * c + 1u] = x.y, kreg[4u * c + 2u] = x.z, kreg[4u * c + 3u] = x.w;
    }
}
#else
#define KST(e) (j0 + tid < NBv ? kbar[at + tid * D + e0 + (e)] : 0.0)
void stage_k(uint at, uint j0, uint e0, uint D) {}
#endif
#else
#define KST(e) kst[(e) * KV_KS + tid]
void stage_k(uint at, uint j0, uint e0, uint D)
{
    barrier(); /* the last chunk read */
    for (uint y = tid; y < WG * KV_KD; y += WG) {
        uint key = y / KV_KD, e = y % KV_KD;
        kst[e * KV_KS + key] = j0 + key < NBv && e0 + e < D ? kbar[at + key * D + e0 + e] : 0.0;
    }
    barrier();
}
#endif

#if KV_TQ /* the _tq tile pass (D and kbar's offset multiples of 4: kv_vec) */
#if !KV_ROWREAD || !KV_VEC || (KV_FP64 == 2 && !KV_QD)
#error "_tq: row reads, 16-byte loads, the f64 sums from qd"
#endif
/* The tile's scores as select_tile's loop below (the same values: the same products and sums in the same
 * order e per accumulator), with the kbar row's loads ahead of their use: the max pass issues eight
 * 16-byte loads before reducing them, the products pass loads the next 16 dims while it multiplies this
 * 16; the tile's qbar (f32 and f64 copies) read from shared memory 16 bytes at a time (one load per four
 * dims and row, f64 per two). Uniform control flow. */
void scores_tq(uint bh, uint NB, uint D, uint nv, inout int ek)
{
#if KV_FP64 == 2
    bool cum = uint(pc.rule) != 2u; /* uniform (as select_tile's) */
    double scale64 = packDouble2x32(pc.scale);
#endif
    uint D4 = D / 4u;
    for (uint j0 = 0u; j0 < NBv; j0 += WG) {
        uint j = j0 + tid;
        bool own = j < NBv;
        uint b = (pc.off[1] + (bh * NB + j) * D) / 4u;
        uint kb = 0u;
#if KV_TQ == 2 /* one read of the row: raw products (k1 = k2 = 1) and max |kbar_j| together, scaled after */
        float k1 = 1.0, k2 = 1.0;
#else
        for (uint c0 = 0u; c0 < D4; c0 += 8u) {
            vec4 v[8];
            [[unroll]] for (uint u = 0u; u < 8u; u++)
                v[u] = own && c0 + u < D4 ? kbar4[b + c0 + u] : vec4(0.0);
            [[unroll]] for (uint u = 0u; u < 8u; u++) {
                uvec4 w = floatBitsToUint(v[u]) & 0x7fffffffu;
                kb = max(kb, max(max(w.x, w.y), max(w.z, w.w)));
            }
        }
        int ej = exponent_of(kb);
        float k1 = ldexp(1.0, -(ej / 2)), k2 = ldexp(1.0, ej / 2 - ej);
#endif
        float acc[KV_ROWS];
        [[unroll]] for (uint r = 0u; r < KV_ROWS; r++)
            acc[r] = 0.0;
#if KV_FP64 == 2
        double acc64[KV_ROWS]; /* products of two floats are exact in f64: fma rounds as the sum */
        [[unroll]] for (uint r = 0u; r < KV_ROWS; r++)
            acc64[r] = 0.0LF;
#endif
#if KV_CERT
        float nk2 = 0.0;
#endif
        vec4 kc[4];
        [[unroll]] for (uint u = 0u; u < 4u; u++)
            kc[u] = own && u < D4 ? kbar4[b + u] : vec4(0.0);
        for (uint c0 = 0u; c0 < D4; c0 += 4u) {
            vec4 kn[4];
            [[unroll]] for (uint u = 0u; u < 4u; u++)
                kn[u] = own && c0 + 4u + u < D4 ? kbar4[b + c0 + 4u + u] : vec4(0.0);
            [[unroll]] for (uint u = 0u; u < 4u; u++) {
                if (c0 + u >= D4) /* uniform */
                    break;
                vec4 k = kc[u] * k1 * k2;
#if KV_TQ == 2
                uvec4 w = floatBitsToUint(kc[u]) & 0x7fffffffu;
                kb = max(kb, max(max(w.x, w.y), max(w.z, w.w)));
#endif
#if KV_CERT
                nk2 += k.x * k.x;
                nk2 += k.y * k.y;
                nk2 += k.z * k.z;
                nk2 += k.w * k.w;
#endif
#if KV_FP64 == 2
                dvec4 kd = dvec4(kc[u]);
#endif
                [[unroll]] for (uint r = 0u; r < KV_ROWS; r++) {
                    if (r >= nv)
                        break;
                    vec4 q = qs4[r * D4 + c0 + u];
                    acc[r] += q.x * k.x;
                    acc[r] += q.y * k.y;
                    acc[r] += q.z * k.z;
                    acc[r] += q.w * k.w;
#if KV_FP64 == 2
                    if (cum) {
                        uint h = r * (D / 2u) + 2u * (c0 + u);
                        dvec2 qa = qd2[h], qb = qd2[h + 1u];
                        acc64[r] += qa.x * kd.x;
                        acc64[r] += qa.y * kd.y;
                        acc64[r] += qb.x * kd.z;
                        acc64[r] += qb.y * kd.w;
                    }
#endif
                }
            }
            [[unroll]] for (uint u = 0u; u < 4u; u++)
                kc[u] = kn[u];
        }
#if KV_TQ == 2
        /* The f32 scores and the norm by 2^-ej after the sums: where every product, partial sum and square
         * is a normal float (or 0) in both the raw and the scaled sums, the same values (a power of two
         * commutes with rounding); elsewhere (subnormal, in the raw or the scaled sums) within the error
         * bounds' floors when -40 <= ej <= 56 (raw rounding errors of 2^-150 scaled by 2^-ej <= 2^40: D of
         * them below the certificate's 2^-100 floor; raw sums below 2^63, squares below 2^119: finite).
         * Outside that range, main's scaled products (a second read of the row). The f64 sums are raw
         * either way. Only for the certified variants (TOPK _c64, CUMULATIVE _f64d), whose decisions
         * follow the reference through the error bounds, never the f32 scores' last bits. */
        int ej = exponent_of(kb);
        if (ej >= -40 && ej <= 56) {
            [[unroll]] for (uint r = 0u; r < KV_ROWS; r++)
                acc[r] = pow2_scaled(acc[r], ej);
#if KV_CERT
            nk2 = pow2_scaled(sqrt(nk2), ej); /* ||kbar_j 2^-ej|| */
#endif
        } else { /* divergent, rare */
            float s1 = ldexp(1.0, -(ej / 2)), s2 = ldexp(1.0, ej / 2 - ej);
            [[unroll]] for (uint r = 0u; r < KV_ROWS; r++)
                acc[r] = 0.0;
#if KV_CERT
            nk2 = 0.0;
#endif
            for (uint c = 0u; c < D4; c++) {
                vec4 k = (own ? kbar4[b + c] : vec4(0.0)) * s1 * s2;
#if KV_CERT
                nk2 += k.x * k.x;
                nk2 += k.y * k.y;
                nk2 += k.z * k.z;
                nk2 += k.w * k.w;
#endif
                [[unroll]] for (uint r = 0u; r < KV_ROWS; r++) {
                    if (r >= nv)
                        break;
                    vec4 q = qs4[r * D4 + c];
                    acc[r] += q.x * k.x;
                    acc[r] += q.y * k.y;
                    acc[r] += q.z * k.z;
                    acc[r] += q.w * k.w;
                }
            }
#if KV_CERT
            nk2 = sqrt(nk2);
#endif
        }
#endif
        if (own) {
#if KV_FP64 == 2
            if (cum)
                [[unroll]] for (uint r = 0u; r < KV_ROWS; r++) {
                    if (r >= nv)
                        break;
                    precise double sj = acc64[r] * scale64;
                    st_d(fbase + 2u * (r * NBv + j), sj);
                }
#endif
#if KV_CERT && KV_TQ == 2
            scratch[nbase + j] = floatBitsToUint(nk2); /* ||kbar_j 2^-ej|| (above), to 2^-ek below */
#elif KV_CERT
            scratch[nbase + j] = floatBitsToUint(sqrt(nk2)); /* ||kbar_j 2^-ej||, to 2^-ek below */
#endif
            [[unroll]] for (uint r = 0u; r < KV_ROWS; r++) {
                if (r >= nv)
                    break;
                scratch[sbase + r * NBv + j] = floatBitsToUint(acc[r]);
            }
            scratch[kbase + j] = uint(ej);
            ek = max(ek, ej);
        }
    }
}
#endif

/* Tile t: query rows i0.. i0 + R - 1 of head bh (R = kv_rows(D)). Their
 * scores (the video rows', nv of them) go to the slice's first R x NBv
 * words, with qbar_i and the head's kbar scaled by powers of two near their
 * largest magnitudes (exact): huge or tiny means neither overflow nor
 * underflow, and the order, the STAT rule and (through expo) p are
 * unchanged; each kbar_j is read once for the whole tile. Then row by row. */
void select_tile(uint t, uint NB, uint D, uint R)
{
    uint tph = (NB + R - 1u) / R, bh = t / tph, i0 = (t - bh * tph) * R;
    uint nv = NBv > i0 ? min(NBv - i0, R) : 0u, nr = min(NB - i0, R);
    uint qat = pc.off[0] + (bh * NB + i0) * D;
    barrier();
#if KV_TQ /* every invocation reads the tile's qbar (coalesced), the max by atomicMax of the bits (any
           * order: the same max), a subgroup whose elements lie in one row once */
    if (tid < KV_ROWS)
        qmx[tid] = 0u;
    barrier();
    for (uint x0 = 0u; x0 < nv * D; x0 += WG) { /* uniform */
        uint x = x0 + tid, r = min(x / D, nv - 1u);
        uint bits = x < nv * D ? floatBitsToUint(qbar[qat + x]) & 0x7fffffffu : 0u;
#if KV_SG
        if (subgroupMin(r) == subgroupMax(r)) {
            bits = subgroupMax(bits);
            if (subgroupElect())
                atomicMax(qmx[r], bits);
        } else
#endif
            atomicMax(qmx[r], bits);
    }
    barrier();
    if (tid < nv)
        eqs[tid] = exponent_of(qmx[tid]);
#else
    if (tid < nv) {
        uint qbits = 0u;
        for (uint e = 0u; e < D; e++)
            qbits = max(qbits, floatBitsToUint(qbar[qat + tid * D + e]) & 0x7fffffffu);
        eqs[tid] = exponent_of(qbits);
    }
#endif
    barrier();
    for (uint x = tid; x < nv * D; x += WG) {
        int eq = eqs[x / D];
        QS(x) = qbar[qat + x] * ldexp(1.0, -(eq / 2)) * ldexp(1.0, eq / 2 - eq); /* q1 * q2 = 2^-eq */
#if KV_FP64 == 2 && KV_ROWREAD && KV_QD
        QRAWD(x) = double(qbar[qat + x]);
#elif KV_FP64 == 2 && KV_ROWREAD
        qraw[x] = qbar[qat + x];
#endif
    }
    barrier();
#if KV_CERT
    if (tid < nv) {
        float nq2 = 0.0;
        for (uint e = 0u; e < D; e++)
            nq2 += QS(tid * D + e) * QS(tid * D + e);
        nqs[tid] = sqrt(nq2);
    }
#endif
    /* each kbar_j first by its own power of two 2^-ej, ej kept in the key
     * area ... The keys go in chunks of WG, invocation tid owning key
     * j0 + tid; each chunk is read twice (max |kbar_j|, then the products)
     * through kst, KV_KD dims at a time, read coalesced and summed in order
     * e = 0..D-1 as before. */
    int ek = -1000;
#if KV_FP64 == 2
    bool cum = uint(pc.rule) != 2u; /* uniform: the rows exact_f64 may replay (CUMULATIVE, TOPK, top-ups) */
#endif
#if KV_TQ
    if (kv_vec && nv > 0u)
        scores_tq(bh, NB, D, nv, ek);
    else
#endif
    for (uint j0 = 0u; nv > 0u && j0 < NBv; j0 += WG) {
        uint j = j0 + tid, at = pc.off[1] + (bh * NB + j0) * D;
        bool own = j < NBv;
        uint kb = 0u;
        for (uint e0 = 0u; e0 < D; e0 += KV_KD) {
            stage_k(at, j0, e0, D);
            [[unroll]] for (uint e = 0u; e < KV_KD && e0 + e < D; e++)
                kb = max(kb, floatBitsToUint(KST(e)) & 0x7fffffffu);
        }
        int ej = exponent_of(kb);
        float k1 = ldexp(1.0, -(ej / 2)), k2 = ldexp(1.0, ej / 2 - ej);
        float acc[KV_ROWS];
        for (uint r = 0u; r < KV_ROWS; r++)
            acc[r] = 0.0;
#if KV_FP64 == 2
        if (cum) { /* with the f64 sums of exact_f64 (unscaled, exact products, in order e) */
#if KV_QD /* products of two floats are exact in f64: contracting into fma rounds the same */
            double acc64[KV_ROWS];
#else
            precise double acc64[KV_ROWS];
#endif
            for (uint r = 0u; r < KV_ROWS; r++)
                acc64[r] = 0.0LF;
            for (uint e0 = 0u; e0 < D; e0 += KV_KD) {
                stage_k(at, j0, e0, D);
                [[unroll]] for (uint e = 0u; e < KV_KD && e0 + e < D; e++) {
                    float kr = KST(e), k = kr * k1 * k2;
                    double kd = double(kr);
                    for (uint r = 0u; r < KV_ROWS; r++)
                        if (r < nv) {
                            acc[r] += QS(r * D + e0 + e) * k;
                            acc64[r] += QRAWD(r * D + e0 + e) * kd;
                        }
                }
            }
            if (own) {
                double scale64 = packDouble2x32(pc.scale);
                for (uint r = 0u; r < nv; r++) {
                    precise double sj = acc64[r] * scale64;
                    st_d(fbase + 2u * (r * NBv + j), sj);
                }
            }
        } else
#endif
        {
#if KV_CERT
        float nk2 = 0.0;
#endif
        for (uint e0 = 0u; e0 < D; e0 += KV_KD) {
            stage_k(at, j0, e0, D);
            [[unroll]] for (uint e = 0u; e < KV_KD && e0 + e < D; e++) {
                float k = KST(e) * k1 * k2;
#if KV_CERT
                nk2 += k * k;
#endif
                for (uint r = 0u; r < KV_ROWS; r++)
                    if (r < nv)
                        acc[r] += QS(r * D + e0 + e) * k;
            }
        }
#if KV_CERT
        if (own)
            scratch[nbase + j] = floatBitsToUint(sqrt(nk2)); /* ||kbar_j 2^-ej||, to 2^-ek below */
#endif
        }
        if (own) {
            for (uint r = 0u; r < nv; r++)
                scratch[sbase + r * NBv + j] = floatBitsToUint(acc[r]);
            scratch[kbase + j] = uint(ej);
            ek = max(ek, ej);
        }
    }
    /* ... then all by the head's largest 2^-ek */
    ek = int(reduce_max_bits(uint(ek + 1000))) - 1000;
    for (uint j = tid; nv > 0u && j < NBv; j += WG) {
        int sh = ek - int(scratch[kbase + j]);
#if KV_CERT
        scratch[nbase + j] = floatBitsToUint(pow2_scaled(uintBitsToFloat(scratch[nbase + j]), sh));
#endif
        for (uint r = 0u; r < nv; r++) {
            uint at = sbase + r * NBv + j;
            scratch[at] = floatBitsToUint(pow2_scaled(uintBitsToFloat(scratch[at]), sh) + 0.0); /* -0 -> +0 */
        }
    }
#if KV_STOP == 1 /* timing only (the _t1 variants): the tile pass alone, no lists written; on a condition the
                  * compiler cannot decide, so that the rows' code (and its registers) stays in the shader */
    if (pc.wg_count != 0u)
        return;
#endif
    for (uint r = 0u; r < (KV_STOP == 2 ? min(nr, 1u) : nr); r++) { /* _r1 (timing only): the first row */
        rbase = sbase + r * NBv;
#if KV_FP64 == 2
        wbase = fbase + 2u * r * NBv;
#endif
        esc = r < nv ? eqs[r] + ek : 0;
#if KV_CERT
        cur_r = r;
#endif
        select_row(bh, i0 + r, NB);
        barrier(); /* the next row reuses the shared arrays */
    }
}

void main()
{
    tid = gl_LocalInvocationID.x;
    uint D = vox_u64lo(pc.D), NB = vox_u64lo(pc.NB), R = kv_rows(D);
    uint tiles = vox_u64lo(pc.BH) * ((NB + R - 1u) / R);
    NBv = vox_u64lo(pc.NBv);
    scale = pc.scale_f;
#if KV_ROWREAD && KV_VEC
    kv_vec = D % 4u == 0u && pc.off[1] % 4u == 0u;
#endif
    uint g = group_linear_id();
    if (g >= pc.wg_count)
        return;
    sbase = pc.off[5] + g * vox_u64lo(pc.per_block);
    kbase = sbase + R * NBv;
#if KV_FP64 == 2
    fbase = kbase + NBv, obase = fbase + 2u * R * NBv;
#elif KV_FP64
    wbase = kbase + NBv, obase = wbase + 2u * NBv;
#endif
#if KV_CERT
    nbase = obase + NBv;
#endif
#if KV_LEAN /* the radix bins start at zero; each descent leaves them so (select_tile's first barrier) */
    hist[tid] = 0u;
    limb[0][tid] = 0u, limb[1][tid] = 0u, limb[2][tid] = 0u, limb[3][tid] = 0u;
#endif
    for (uint t = g; t < tiles; t += pc.wg_count)
        select_tile(t, NB, D, R);
}
#endif /* VOX_GLSL */
#ifndef VOX_GLSL
#define VK_VARIANTS_kv_select(X) \
    X("kv_select", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=0 -DKV_FP64=0") \
    X("kv_select_sgw_s", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=1") \
    X("kv_select_sgw_s_h", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=1 -DSGW_KPT=4u -DSGW_RSPLIT=2") \
    X("kv_select_sgw_s_q", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=1 -DSGW_KPT=2u -DSGW_RSPLIT=2") \
    X("kv_select_sgw", "kv_select_sgw.comp", "-DDT_F32=1") \
    X("kv_select_sgw_cum", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_MASS=1") \
    X("kv_select_sgw_cum_nr", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_MASS=1 -DSGW_NOREPLAY=true") \
    X("kv_select_sgw_fs", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=1 -DSGW_F32=1 -DSGW_ROWS=32u -DSGW_KPT=2u -DSGW_CHUNK=128") \
    X("kv_select_sgw_f", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_F32=1 -DSGW_ROWS=32u -DSGW_CHUNK=128") \
    X("kv_select_sgw_f_s8", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_F32=1 -DSGW_ROWS=32u -DSGW_CHUNK=128 -DSGW_SLOTS=8u -DSGW_WG2=256") \
    X("kv_select_sgw_fs_dbg", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=1 -DSGW_F32=1 -DSGW_ROWS=32u -DSGW_KPT=2u -DSGW_CHUNK=128 -DSGW_DBG=1") \
    X("kv_select_sgw_f_dbg", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_F32=1 -DSGW_ROWS=32u -DSGW_CHUNK=128 -DSGW_DBG=1") \
    X("kv_select_sgw_fs_c16", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=1 -DSGW_F32=1 -DSGW_ROWS=32u -DSGW_KPT=1u -DSGW_CHUNK=16") \
    X("kv_select_sgw_fs_h", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=1 -DSGW_F32=1 -DSGW_ROWS=32u -DSGW_KPT=4u -DSGW_CHUNK=128 -DSGW_RSPLIT=2") \
    X("kv_select_sgw_fs_c16h", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=1 -DSGW_F32=1 -DSGW_ROWS=32u -DSGW_KPT=2u -DSGW_CHUNK=16 -DSGW_RSPLIT=2") \
    X("kv_select_sgw_fs_c16_dbg", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=1 -DSGW_F32=1 -DSGW_ROWS=32u -DSGW_KPT=1u -DSGW_CHUNK=16 -DSGW_DBG=1") \
    X("kv_select_sgw_f_cum", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_F32=1 -DSGW_MASS=1 -DSGW_ROWS=32u -DSGW_CHUNK=16") \
    X("kv_select_sgw_f_cum_s8", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_F32=1 -DSGW_MASS=1 -DSGW_ROWS=32u -DSGW_CHUNK=16 -DSGW_SLOTS=8u -DSGW_WG2=256 -DSGW_WFUSE=0") \
    X("kv_select_sgw_f_cum_nf", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_F32=1 -DSGW_MASS=1 -DSGW_ROWS=32u -DSGW_CHUNK=16 -DSGW_WFUSE=0") \
    X("kv_select_sgw_f_cum_all", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_F32=1 -DSGW_MASS=1 -DSGW_ROWS=32u -DSGW_CHUNK=16 -DSGW_FALLALL=1") \
    X("kv_select_sgw_f_cum_r1", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_F32=1 -DSGW_MASS=1 -DSGW_ROWS=32u -DSGW_CHUNK=16 -DSGW_RSTOP=1") \
    X("kv_select_sgw_f_cum_r2", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_F32=1 -DSGW_MASS=1 -DSGW_ROWS=32u -DSGW_CHUNK=16 -DSGW_RSTOP=2") \
    X("kv_select_sgw_f_cum_dbg", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_F32=1 -DSGW_MASS=1 -DSGW_ROWS=32u -DSGW_CHUNK=16 -DSGW_DBG=1") \
    X("kv_select_sgw_fb_cum", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=3 -DSGW_MASS=1 -DSGW_ROWS=32u") \
    X("kv_select_sgw_fb_pre", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=3 -DSGW_ROWS=32u -DSGW_FBPRE=1") \
    X("kv_select_sgw_fb_cum_p2", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=3 -DSGW_MASS=1 -DSGW_ROWS=32u -DSGW_FBPRE=2") \
    X("kv_select_sgw_fb_p2", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=3 -DSGW_ROWS=32u -DSGW_FBPRE=2") \
    X("kv_select_sgw_fb_cum_s1", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=3 -DSGW_MASS=1 -DSGW_ROWS=32u -DSGW_FBSTOP=1") \
    X("kv_select_sgw_fb_cum_r1", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=3 -DSGW_MASS=1 -DSGW_ROWS=32u -DSGW_RSTOP=1") \
    X("kv_select_sgw_fb_cum_r2", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=3 -DSGW_MASS=1 -DSGW_ROWS=32u -DSGW_RSTOP=2") \
    X("kv_select_sgw_f_all", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_F32=1 -DSGW_ROWS=32u -DSGW_CHUNK=128 -DSGW_FALLALL=1") \
    X("kv_select_sgw_fb", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=3 -DSGW_ROWS=32u") \
    X("kv_select_sgw_fb_wg", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=3 -DSGW_ROWS=32u -DSGW_FBWG=1") \
    X("kv_select_sgw_fb_cum_wg", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_PASS=3 -DSGW_MASS=1 -DSGW_ROWS=32u -DSGW_FBWG=1") \
    X("kv_select_sgw_r1", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_RSTOP=1") \
    X("kv_select_sgw_r2", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_RSTOP=2") \
    X("kv_select_sgw_cum_r1", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_MASS=1 -DSGW_RSTOP=1") \
    X("kv_select_sgw_cum_r2", "kv_select_sgw.comp", "-DDT_F32=1 -DSGW_MASS=1 -DSGW_RSTOP=2") \
    X("kv_select_rowread", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=0") \
    X("kv_select_f64", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=0 -DKV_FP64=1") \
    X("kv_select_rowread_f64", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=1") \
    X("kv_select_f64t", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=0 -DKV_FP64=2") \
    X("kv_select_rowread_f64t", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=2") \
    X("kv_select_rowread_v4", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=0 -DKV_VEC=1") \
    X("kv_select_rowread_f64t_v4", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=2 -DKV_VEC=1") \
    X("kv_select_rowread_f64d_v4", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=2 -DKV_VEC=1 -DKV_QD=1") \
    X("kv_select_rowread_c64_v4", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=1 -DKV_VEC=1 -DKV_CERT=1") \
    X("kv_select_rowread_v4_sg", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=0 -DKV_VEC=1 -DKV_SG=1") \
    X("kv_select_rowread_f64d_v4_sg", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=2 -DKV_VEC=1 -DKV_QD=1 -DKV_SG=1") \
    X("kv_select_rowread_c64_v4_sg", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=1 -DKV_VEC=1 -DKV_CERT=1 -DKV_SG=1") \
    X("kv_select_rowread_v4_sgs", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=0 -DKV_VEC=1 -DKV_SG=1 -DKV_SHROW=1") \
    X("kv_select_rowread_f64d_v4_sgs", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=2 -DKV_VEC=1 -DKV_QD=1 -DKV_SG=1 -DKV_SHROW=1") \
    X("kv_select_rowread_c64_v4_sgs", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=1 -DKV_VEC=1 -DKV_CERT=1 -DKV_SG=1 -DKV_SHROW=1") \
    X("kv_select_rowread_v4_sg_tq", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=0 -DKV_VEC=1 -DKV_SG=1 -DKV_TQ=1") \
    X("kv_select_rowread_f64d_v4_sg_tq", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=2 -DKV_VEC=1 -DKV_QD=1 -DKV_SG=1 -DKV_TQ=1") \
    X("kv_select_rowread_c64_v4_sg_tq", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=1 -DKV_VEC=1 -DKV_CERT=1 -DKV_SG=1 -DKV_TQ=1") \
    X("kv_select_rowread_v4_sgs_tq", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=0 -DKV_VEC=1 -DKV_SG=1 -DKV_SHROW=1 -DKV_TQ=1") \
    X("kv_select_rowread_f64d_v4_sgs_tq", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=2 -DKV_VEC=1 -DKV_QD=1 -DKV_SG=1 -DKV_SHROW=1 -DKV_TQ=1") \
    X("kv_select_rowread_c64_v4_sgs_tq", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=1 -DKV_VEC=1 -DKV_CERT=1 -DKV_SG=1 -DKV_SHROW=1 -DKV_TQ=1") \
    X("kv_select_rowread_c64_v4_sgs_tq_ln", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=1 -DKV_VEC=1 -DKV_CERT=1 -DKV_SG=1 -DKV_SHROW=1 -DKV_TQ=1 -DKV_LEAN=1") \
    X("kv_select_rowread_c64_v4_sgs_tq_lx", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=1 -DKV_VEC=1 -DKV_CERT=1 -DKV_SG=1 -DKV_SHROW=1 -DKV_TQ=1 -DKV_LEAN=1 -DKV_X64=1") \
    X("kv_select_rowread_f64d_v4_sg_tq_ln", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=2 -DKV_VEC=1 -DKV_QD=1 -DKV_SG=1 -DKV_TQ=1 -DKV_LEAN=1") \
    X("kv_select_rowread_c64_v4_sgs_tq2", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=1 -DKV_VEC=1 -DKV_CERT=1 -DKV_SG=1 -DKV_SHROW=1 -DKV_TQ=2") \
    X("kv_select_rowread_f64d_v4_sg_tq2", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=2 -DKV_VEC=1 -DKV_QD=1 -DKV_SG=1 -DKV_TQ=2") \
    X("kv_select_rowread_c64_v4_sgs_tq2_t1", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=1 -DKV_VEC=1 -DKV_CERT=1 -DKV_SG=1 -DKV_SHROW=1 -DKV_TQ=2 -DKV_STOP=1") \
    X("kv_select_rowread_f64d_v4_sg_tq2_t1", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=2 -DKV_VEC=1 -DKV_QD=1 -DKV_SG=1 -DKV_TQ=2 -DKV_STOP=1") \
    X("kv_select_rowread_c64_v4_sgs_t1", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=1 -DKV_VEC=1 -DKV_CERT=1 -DKV_SG=1 -DKV_SHROW=1 -DKV_STOP=1") \
    X("kv_select_rowread_c64_v4_sgs_r1", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=1 -DKV_VEC=1 -DKV_CERT=1 -DKV_SG=1 -DKV_SHROW=1 -DKV_STOP=2") \
    X("kv_select_rowread_c64_v4_sgs_tq_t1", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=1 -DKV_VEC=1 -DKV_CERT=1 -DKV_SG=1 -DKV_SHROW=1 -DKV_TQ=1 -DKV_STOP=1") \
    X("kv_select_rowread_c64_v4_sgs_tq_r1", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=1 -DKV_VEC=1 -DKV_CERT=1 -DKV_SG=1 -DKV_SHROW=1 -DKV_TQ=1 -DKV_STOP=2") \
    X("kv_select_rowread_f64d_v4_sg_t1", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=2 -DKV_VEC=1 -DKV_QD=1 -DKV_SG=1 -DKV_STOP=1") \
    X("kv_select_rowread_f64d_v4_sg_r1", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=2 -DKV_VEC=1 -DKV_QD=1 -DKV_SG=1 -DKV_STOP=2") \
    X("kv_select_rowread_f64d_v4_sg_tq_t1", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=2 -DKV_VEC=1 -DKV_QD=1 -DKV_SG=1 -DKV_TQ=1 -DKV_STOP=1") \
    X("kv_select_rowread_f64d_v4_sg_tq_r1", "kv_select.comp", "-DDT_F32=1 -DKV_ROWREAD=1 -DKV_FP64=2 -DKV_VEC=1 -DKV_QD=1 -DKV_SG=1 -DKV_TQ=1 -DKV_STOP=2")
/* X(op) where this file has vk_<op>_supports() (vk_supports) */
#define VK_SUPPORTS_kv_select(X) X(kv_select)

/* The radix passes' mass limbs are exact below 2^20 video blocks. */
static vox_status vk_kv_select_supports(const vk_dev *v, const vox_op_dims *d, char *reason, size_t reason_size)
{
    (void)v;
    if (d->n_video_blocks < ((int64_t)1 << 20))
        return VOX_OK;
    snprintf(reason, reason_size, "%lld video blocks: at most 2^20 - 1", (long long)d->n_video_blocks);
    return VOX_ERR_UNSUPPORTED;
}

/* Workgroups of kv_select (grid-stride over tiles of kv_rows(D) query rows
 * of one head), each with (kv_rows(D) + 1) * NBv words of scratch for its
 * tile's scores and the current row's keys (with shaderFloat64, 3 * NBv
 * more: the row's f64 p and ranks, exact_f64): at most 4096 and
 * 128 MiB of scratch. */
#define KV_MAX_GROUPS 4096
#define VK_SGW_ROWS 16 /* query rows per tile of kv_select_sgw (its SGW_ROWS) */
#define VK_SGW_SLOTS 8 /* rows per workgroup of its second pass (SGW_SLOTS) */
#define VK_SGW_ROWS_F32 32 /* query rows per tile of kv_select_sgw_fs, _f, _fb (their SGW_ROWS) */
#define VK_SGW_SLOTS_F32 4 /* rows per workgroup of _f, _f_cum (their SGW_SLOTS) */
#define VK_SGW_F32_WORDS 128 /* words after a kv_select_sgw_fs slice's scores: 1 + 2 VK_SGW_ROWS_F32 used (the key norm, the rows' extremes; 100.. the KV_DEBUG counts), even */
vox_status vk_kv_select(void *dev, const vox_op_dims *d, const vox_op_kv_select *p)
{
    vk_dev *v = dev;
    vox_kv_select_args a;
    vox_kv_select_args_init(&a, d, p);
    int64_t BH = a.BH, NB = a.NB, D = a.D, rows = BH * NB, R = kv_rows(D);
    int64_t tiles = BH * ((NB + R - 1) / R);
    /* f64: the exact CUMULATIVE counts and TOPK orders (exact_f64; STAT
     * rows do no f64 work, so they take the f32 variants, with fewer
     * registers and scratch); 2: the _f64t variants, whose tile pass also
     * forms the rows' f64 scores */
    const int cum = p->rule != VOX_KV_STAT; /* CUMULATIVE and TOPK rows are certified in f64 (exact_f64) */
    const int f64 = v->fp64 && !v->kv_f32 && cum ? (v->kv_f64_row ? 1 : 2) : 0;
    /* TOPK rows: certified in f32 by error bounds, only the others re-scored in f64 row by row (the
     * _c64 variant; VOXATTN_VULKAN_KV_TOPK_F64T=1: every row's f64 scores in the tile pass, _f64t) */
    const int cert = f64 == 2 && p->rule == VOX_KV_TOPK && !v->kv_topk_f64t && v->kv_rowread && !v->kv_scalar;
    /* TOPK and CUMULATIVE with one subgroup per row on the exact f64 scores (kv_select_sgw.comp;
     * VOXATTN_VULKAN_KV_SGW=0: the workgroup-per-row variants below) where the device has subgroup ballots
     * and head_dim <= 128, below 2^16 video blocks (kv_select_sgw_cum's mass limbs), in tiles of
     * VK_SGW_ROWS rows; scratch: a slice per tile of a wave, with the tile's f64 scores and CUMULATIVE's
     * replay ranks */
    const int sgw = v->fp64 && v->kv_sgw && cum && D <= 128 && a.NBv < 65536;
    /* f64 1: a row's f64 p and its ranks; 2: the tile's f64 scores (then
     * exp and p) and a row's p in the reference's order; cert: 1's and the
     * head's kbar norms */
    const int64_t words = sgw ? (p->rule == VOX_KV_CUMULATIVE ? 3 : 2) * VK_SGW_ROWS
                              : R + 1 + (cert ? 4 : f64 == 1 ? 3 : f64 == 2 ? 2 * R + 2 : 0);
    /* TOPK on f32 scores with the CUDA path's certificate, the rows it cannot certify re-scored in f64
     * (kv_select_sgw_fs, _f, _fb; VOXATTN_VULKAN_KV_TOPK_F64=1: every row's exact f64 scores, session 25's);
     * the slice also holds the head's largest key norm and the rows' fallback flags (VK_SGW_F32_WORDS) */
    const int f32k = sgw && ((p->rule == VOX_KV_TOPK && !v->kv_topk_f64) ||
                             (p->rule == VOX_KV_CUMULATIVE && v->kv_cum_f32 && a.NBv < (1 << 14)));
    const int fcum = f32k && p->rule == VOX_KV_CUMULATIVE;
    const int64_t trows = f32k ? VK_SGW_ROWS_F32 : VK_SGW_ROWS;
    if (sgw)
        tiles = BH * ((NB + trows - 1) / trows);
    /* the f32 path's slice: one word a key (the fallback re-scores its rows elsewhere: kv_select_sgw.comp);
     * its scratch starts with the fallback list (f_lead: its count and up to BH NB rows, even) */
    a.per_block = a.NBv > 0 ? (f32k ? trows * a.NBv + VK_SGW_F32_WORDS : words * a.NBv) : 1;
    const int64_t lead = f32k ? VOX_KV_LIST_WORDS(rows, 2) : 0; /* kv_select_sgw.comp's f_lead */
    const int64_t smax = v->kv_scratch_max; /* vk_open's: from the device-local heap */
    int64_t groups = (smax / 4 - lead) / a.per_block;
    groups = groups < 1 ? 1 : groups > KV_MAX_GROUPS ? KV_MAX_GROUPS : groups;
    groups = groups < tiles ? groups : tiles;
    const int64_t swords = lead + groups * a.per_block;
    vox_status st = check_u32(v, "kv_select", rows * D, swords);
    if (!st) st = vk_scratch(v, (size_t)swords * 4);
    if (st)
        return st;
    vk_kv_select_binds b = {.qbar = bind(p->qbar, (size_t)(rows * D) * 4, 4),
                            .kbar = bind(p->kbar, (size_t)(rows * D) * 4, 4),
                            .kv_start = bind(p->kv_start, (size_t)rows * 4, 4),
                            .kv_count = bind(p->kv_count, (size_t)rows * 4, 4),
                            .kv_cols = bind(p->kv_cols, 0, 4),
                            .scratch = {&v->scratch, 0, (size_t)swords * 4, 4, 0}};
    static const char *const names[2][3] = {{"kv_select", "kv_select_f64", "kv_select_f64t"},
                                            {"kv_select_rowread", "kv_select_rowread_f64", "kv_select_rowread_f64t"}};
    if (sgw) {
        /* waves of `groups` tiles: their scores (kv_select_sgw_s, a workgroup per tile, into its slice),
         * then their rows (VK_SGW_ROWS / VK_SGW_SLOTS workgroups per tile). VOXATTN_VULKAN_KV_STOP (timing
         * only): tile the scores alone; row1, row2 the rows up to p, up to the threshold.
         * VOXATTN_VULKAN_KV_NO_REPLAY (tests only): CUMULATIVE rows keep an uncertified candidate */
        static const char *const sels[2][3] = {{"kv_select_sgw", "kv_select_sgw_r1", "kv_select_sgw_r2"},
                                               {"kv_select_sgw_cum", "kv_select_sgw_cum_r1", "kv_select_sgw_cum_r2"}};
        const char *sel = sels[p->rule == VOX_KV_CUMULATIVE][v->kv_stop >= 2 ? v->kv_stop - 1 : 0];
        if (v->kv_no_replay && p->rule == VOX_KV_CUMULATIVE && !v->kv_stop)
            sel = "kv_select_sgw_cum_nr"; /* tests only: the mass descent's candidates unrepaired */
        if (v->kv_wave > 0 && groups > v->kv_wave)
            groups = v->kv_wave;
        for (int64_t t0 = 0; !st && f32k && t0 < tiles; t0 += groups) {
            /* the f32 scores, then the rows they certify (the others to the fallback list).
             * VOXATTN_VULKAN_KV_FALLBACK (tests only): every row to the fallback */
            const int64_t n = tiles - t0 < groups ? tiles - t0 : groups;
            a.tile0 = t0;
            static const char *const fsel[2][3] = {{"kv_select_sgw_f", "kv_select_sgw_f_all", "kv_select_sgw_f_dbg"},
                                                   {"kv_select_sgw_f_cum", "kv_select_sgw_f_cum_all", "kv_select_sgw_f_cum_dbg"}};
            /* each half of the workgroup half the rows (_h, _c16h): CUMULATIVE's by default, VOXATTN_VULKAN_KV_FS_SPLIT
             * 1 both, 0 neither */
            static const char *const fss[2][3] = {{"kv_select_sgw_fs", "kv_select_sgw_fs_dbg", "kv_select_sgw_fs_h"},
                                                  {"kv_select_sgw_fs_c16", "kv_select_sgw_fs_c16_dbg", "kv_select_sgw_fs_c16h"}};
            const int split = v->kv_fs_split == 1 || (v->kv_fs_split < 0 && fcum);
            st = VK_DISPATCH(v, kv_select, fss[fcum][v->kv_debug ? 1 : split ? 2 : 0], b, a, (uint64_t)n);
            /* the selection pass: VOXATTN_VULKAN_KV_F_STOP (timing only, CUMULATIVE) up to the weights (w) or the
             * count (count), no blocks taken */
            const char *fsl = fcum && v->kv_f_stop ? (v->kv_f_stop == 1 ? "kv_select_sgw_f_cum_r1" : "kv_select_sgw_f_cum_r2")
                                                   : fsel[fcum][v->kv_fallback ? 1 : v->kv_debug ? 2 : 0];
            /* A/B: VOXATTN_VULKAN_KV_F_SLOTS=8 session 38's selection (8 rows a workgroup of 256, the weights
             * and the mass descent's first pass apart: _f_s8, _f_cum_s8); VOXATTN_VULKAN_KV_F_WFUSE=0 the two
             * sweeps apart alone (_f_cum_nf) */
            const int plain = !v->kv_fallback && !v->kv_debug && !(fcum && v->kv_f_stop);
            const int s8 = plain && v->kv_f_slots == 8, nf = plain && fcum && !v->kv_f_wfuse;
            if (s8)
                fsl = fcum ? "kv_select_sgw_f_cum_s8" : "kv_select_sgw_f_s8";
            else if (nf)
                fsl = "kv_select_sgw_f_cum_nf";
            const int slots = s8 ? 8 : VK_SGW_SLOTS_F32;
            if (!st && v->kv_stop != 1)
                st = VK_DISPATCH(v, kv_select, fsl, b, a, (uint64_t)(n * (VK_SGW_ROWS_F32 / slots)));
        }
        /* the listed rows' fallback, once after the last wave (one dispatch's latency, not one a wave): a
         * grid whose subgroups (VK_SGW_SLOTS units a workgroup at most) take the listed rows in turn, each
         * unit with 3 NBv words (even) of the slices' room; as many units as rows where the scratch holds
         * their areas, so that a unit takes one row unless the list is long (the units past the list's
         * count return at once). lavapipe ends every loop of an invocation after 65535 iterations in all,
         * so there a unit must not take many rows: the tests' sizes give each row its own unit */
        if (!st && f32k && a.NBv > 0 && v->kv_stop != 1 && v->kv_stop != 2) { /* row1 (timing): without it */
            /* VOXATTN_VULKAN_KV_FB_WG (unset = 1; 0: a subgroup a row): a workgroup a row, its own scores and
             * selection in one dispatch (kv_select_sgw_fb_wg, _fb_cum_wg: one unit a workgroup) */
            const int wg = v->kv_fb_wg && !v->kv_fb_stop;
            const int64_t upw = wg ? 1 : VK_SGW_SLOTS; /* units a workgroup, at most */
            const int64_t area = (3 * a.NBv + 1) & ~(int64_t)1, room = (swords - lead) / (area * upw);
            const int64_t need = (rows + upw - 1) / upw;
            const int64_t fb = room < 1 ? 1 : room < need ? room : need;
            /* VOXATTN_VULKAN_KV_FB_STOP (timing only, CUMULATIVE): the fallback up to its scores, p, T */
            static const char *const fbs[4] = {"kv_select_sgw_fb_cum", "kv_select_sgw_fb_cum_s1", "kv_select_sgw_fb_cum_r1",
                                               "kv_select_sgw_fb_cum_r2"};
            /* VOXATTN_VULKAN_KV_FB_PRE (with KV_FB_WG=0; unset = 1, 0: A/B): the first round's rows scored a
             * workgroup a row first */
            const int pre = v->kv_fb_pre && !v->kv_fb_stop && !wg;
            if (wg)
                st = VK_DISPATCH(v, kv_select, fcum ? "kv_select_sgw_fb_cum_wg" : "kv_select_sgw_fb_wg", b, a, (uint64_t)fb);
            else if (pre)
                st = VK_DISPATCH(v, kv_select, "kv_select_sgw_fb_pre", b, a, (uint64_t)fb);
            if (!st && !wg)
                st = VK_DISPATCH(v, kv_select,
                                 pre    ? (fcum ? "kv_select_sgw_fb_cum_p2" : "kv_select_sgw_fb_p2")
                                 : fcum ? fbs[v->kv_fb_stop]
                                        : "kv_select_sgw_fb",
                                 b, a, (uint64_t)fb);
        }
        if (!st && f32k && v->kv_debug) { /* diagnosis only (a blocking read): topk_f32's reasons for the fallback */
            uint32_t c[16] = {0};
            st = vk_read(v, &v->scratch, (size_t)(lead + a.per_block - VK_SGW_F32_WORDS + 100) * 4, c, sizeof c);
            vox_log(v->log, VOX_LOG_INFO, "vulkan kv_select_sgw_f fallbacks by reason: %u %u %u %u %u %u %u %u %u %u",
                    c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]);
        }
        for (int64_t t0 = 0; !st && !f32k && t0 < tiles; t0 += groups) {
            const int64_t n = tiles - t0 < groups ? tiles - t0 : groups;
            a.tile0 = t0;
            /* VOXATTN_VULKAN_KV_FS_SPLIT (A/B): 1 _s_h (half the rows, twice the keys), 2 _s_q (half the rows) */
            static const char *const ss[3] = {"kv_select_sgw_s", "kv_select_sgw_s_h", "kv_select_sgw_s_q"};
            st = VK_DISPATCH(v, kv_select, ss[v->kv_fs_split > 0 ? v->kv_fs_split : 0], b, a, (uint64_t)n);
            if (!st && v->kv_stop != 1)
                st = VK_DISPATCH(v, kv_select, sel, b, a, (uint64_t)(n * (VK_SGW_ROWS / VK_SGW_SLOTS)));
        }
        return st;
    }
    const char *name = names[v->kv_rowread ? 1 : 0][f64];
    if (v->kv_rowread && !v->kv_scalar && f64 != 1) { /* 16-byte row reads where aligned (checked in the shader) */
        /* _sg: the workgroup collectives through subgroup operations (VOXATTN_VULKAN_KV_NO_SG=1: without);
         * _sgs: and the current row's p and keys in shared memory (up to KV_NMAX video blocks). Defaults by
         * the H200 (session 14, wan-1.3b's 624 blocks): TOPK's _c64 takes _sgs (1.05 ms against 5.43 _sg,
         * 5.52 without), CUMULATIVE's _f64d _sg (1.91 against 2.69 _sgs, 2.16 without), the f32 variant
         * (STAT, VOXATTN_VULKAN_KV_F32) neither (unmeasured); VOXATTN_VULKAN_KV_SHROW=0 / 1: every
         * variant _sg / _sgs */
        const int col = cert ? 2 : f64 ? 1 : 0, fits = a.NBv <= KV_NMAX;
        int sg = 0;
        if (v->kv_sg && !(f64 && !cert && v->kv_qfloat))
            sg = v->kv_shrow == 0 ? 1 : v->kv_shrow == 1 ? (fits ? 2 : 1) : col == 2 ? (fits ? 2 : 1) : col;
        static const char *const sgn[3][3] = {
            {"kv_select_rowread_v4", "kv_select_rowread_f64d_v4", "kv_select_rowread_c64_v4"},
            {"kv_select_rowread_v4_sg", "kv_select_rowread_f64d_v4_sg", "kv_select_rowread_c64_v4_sg"},
            {"kv_select_rowread_v4_sgs", "kv_select_rowread_f64d_v4_sgs", "kv_select_rowread_c64_v4_sgs"}};
        name = f64 && !cert && v->kv_qfloat ? "kv_select_rowread_f64t_v4" : sgn[sg][col];
        /* _tq: the tile pass with its loads ahead and 16-byte qbar reads (VOXATTN_VULKAN_KV_TQ=0: without);
         * _t1 / _r1 (VOXATTN_VULKAN_KV_STOP=tile / row1, timing only: no or partial lists) for TOPK's and
         * CUMULATIVE's defaults */
        if (sg && (v->kv_tq || v->kv_stop)) { /* the variant table's name, where it has one */
#define VK_KV_NAME(n, src, defs) n,
            static const char *const all[] = {VK_VARIANTS_kv_select(VK_KV_NAME)};
#undef VK_KV_NAME
            /* VOXATTN_VULKAN_KV_TQ=2: _tq2 (TOPK's and CUMULATIVE's defaults), else _tq */
            const char *const tqs[3] = {"", "_tq", "_tq2"};
            const char *base = name;
            /* _ln (TOPK's and CUMULATIVE's _tq variants): the rows' collectives that a rule does not read
             * skipped (STAT's mean and variance, CUMULATIVE's total mass, the compaction's run scan
             * without a partial run), the radix bins zeroed by their readers (two barriers fewer per
             * pass); _lx (TOPK): and the uncertified rows' f64 fallback with 16-byte loads and staged
             * ranks. Default _lx, else _ln (H200, session 17: perf_wan624_topk 0.71 / 0.87 / 0.91 ms
             * _lx / _ln / neither); VOXATTN_VULKAN_KV_LEAN=1: _ln for TOPK too, 0: neither */
            int found = 0;
            for (int t = v->kv_tq; t >= 0 && !found; t = t == 2 ? 1 : -1)
                for (int ln = v->kv_stop ? 0 : v->kv_lean; ln >= 0 && !found; ln--) {
                    char want[80];
                    snprintf(want, sizeof want, "%s%s%s%s", base, tqs[t],
                             v->kv_stop == 1 ? "_t1" : v->kv_stop == 2 ? "_r1" : "", ln == 2 ? "_lx" : ln ? "_ln" : "");
                    for (size_t k = 0; k < sizeof all / sizeof all[0] && !found; k++)
                        if (!strcmp(all[k], want))
                            name = all[k], found = 1;
                }
        }
    }
    if (v->kv_flush) { /* diagnosis of the unprofiled tau build (backends/vulkan/NOTES.md) */
        st = vk_flush(v);
        if (st)
            return st;
    }
    return VK_DISPATCH(v, kv_select, name, b, a, (uint64_t)groups);
}
#endif /* !VOX_GLSL */
