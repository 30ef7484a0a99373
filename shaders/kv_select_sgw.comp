/* kv_select's TOPK and CUMULATIVE rules with one subgroup per query row: the `kv_select_sgw` variants,
 * named in kv_select.comp's variant table and taken by its launcher on devices with shaderFloat64 and
 * subgroup ballots, head_dim <= 128, fewer than 2^16 video blocks (VOXATTN_VULKAN_KV_SGW=0: the
 * workgroup-per-row variants, which also keep the STAT rule). The OpenCL backend's vox_kv_select_warp
 * (kernels/kv_select_warp.cl) is the same algorithm for TOPK.
 *
 * Tiles of SGW_ROWS query rows of one head, run in waves of as many tiles as the scratch holds (a slice
 * of SGW_ROWS x NBv doubles per tile; tile0: the wave's first), each wave in two dispatches:
 * 1. kv_select_sgw_s (SGW_PASS 1), a workgroup of SGW_WG1 per tile: the exact scores, as the reference.
 *    Invocation t takes key blocks j = t, t + SGW_WG1 (SGW_KPT of them at once), ... and forms
 *    s_j = (sum over e = 0..D-1 of qbar_e kbar_je, sequentially in f64) * scale for the tile's rows
 *    (fma of the widened floats: their product is exact in f64, so each step rounds once, as the
 *    reference's `acc += q * k`), into the tile's slice. The tile's qbar rows are widened once into
 *    shared memory, the rows of one dim side by side (16-byte reads of two rows, each serving SGW_KPT
 *    keys); kbar is read a 16-byte word at a time where D and kbar's offset allow.
 * 2. kv_select_sgw (TOPK) / kv_select_sgw_cum (CUMULATIVE, with the mass bins), SGW_ROWS / SGW_SLOTS
 *    workgroups of 256 per tile, SGW_SLOTS rows each, a subgroup per row: a dispatch of its own, so that
 *    its occupancy is not bound by pass 1's registers (the latency of each sweep's loads is what the
 *    rows wait on). Every lane takes blocks j = lane, lane + S, ... (S the subgroup size; SGW_U steps'
 *    loads issued before the first is used, one 64-bit access per double where the slice is 8-byte
 *    aligned): the max of s (NaN never taken, as the reference's `s > mx`), w_j = exp_d(s_j - max) in
 *    place and their sum z by subgroupAdd, then p_j = w_j / z in place (z is summed in another order than
 *    the reference's, as every GPU path does: p differ from the reference's in the last bits by a common
 *    factor, so the order is the same away from ties within an ulp), and the row's smallest and largest p.
 *    - The radix passes run over the keys' offsets from the row's smallest key (p's bits, p >= 0), 8 bits
 *      per pass from the top of their range (session 24 took the bits from the top of the word, whose
 *      first passes split nothing).
 *    - TOPK: the n-th largest p by such a descent over a histogram of 256 bins per row in shared memory
 *      (the subgroup's lanes scan it in order, 256 / S bins each).
 *    - CUMULATIVE: a candidate count c by the same descent with per-bin counts and fixed-point masses
 *      (mass_count: floor(p 2^48) in three 16-bit limbs, integer sums, exact in any order), which also
 *      gives the threshold of the c first blocks; then the f64 sums of the c - 1 and c first p against tau
 *      with kv_select.comp's margin; a row they do not certify replays the reference (ranks by counting,
 *      then its sequential sum in rank order by one lane). Then the min_blocks top-up, and where it takes
 *      more than c, the n first blocks by TOPK's descent.
 *    The ordered compaction by ballots, S blocks per step: the own block, the global blocks, the keys
 *    above T and the `rem` lowest-index keys equal to T. A row whose p are NaN (a NaN score, or an
 *    infinite max) takes its n first blocks by index, as the reference's order puts NaN after every
 *    number; rows of global query blocks take every block.
 * No certificate for TOPK: the scores are the reference's bit for bit and p follows them through exp_d
 * and one division. NaN and infinities are told by their bits (nan_d, inf_d): with isnan(z) (and
 * exp_d's `x != x`) the H200 failed the NaN-row cases that lavapipe passed. Timing only
 * (VOXATTN_VULKAN_KV_STOP): `tile` pass 1 alone; `row1`, `row2` (SGW_RSTOP): pass 2 up to p, up to T. */
#ifdef VOX_GLSL
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : enable
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_ballot : require
#define SGW_ROWS 16u  /* query rows per tile (the launcher's VK_SGW_ROWS) */
#define SGW_SLOTS 8u  /* rows selected at once, each with its bins in shared memory */
#define SGW_U 4u      /* sweep steps whose keys are loaded before the first is used */
#define SGW_KPT 2u    /* key blocks per invocation in pass 1 */
#define SGW_DMAX 128u /* head_dim at most (the launcher checks) */
#define SGW_ALL 0xffffffffu
#ifndef SGW_MASS
#define SGW_MASS 0 /* the CUMULATIVE rule's mass bins (kv_select_sgw_cum) */
#endif
#ifndef SGW_PASS
#define SGW_PASS 2 /* 1: the tiles' scores (kv_select_sgw_s), 2: their rows' selection */
#endif
#define SGW_HALVES (SGW_ROWS / SGW_SLOTS) /* workgroups per tile in pass 2 */
#define SGW_WG1 128 /* pass 1's workgroup size (H200, hunyuan-720p's size: 2.53 ms against 2.71 with 256) */
#if SGW_PASS == 1
#define WG uint(SGW_WG1)
#else
#define WG 256u
#endif
#ifndef SGW_NOREPLAY
#define SGW_NOREPLAY false /* tests only (kv_select_sgw_cum_nr, VOXATTN_VULKAN_KV_NO_REPLAY): no replay */
#endif
#ifndef SGW_RSTOP
#define SGW_RSTOP 0 /* timing only (VOXATTN_VULKAN_KV_STOP=row1 / row2): pass 2 up to p / up to T, no lists */
#endif
#define SGW_WORDS (SGW_MASS != 0 ? 4u : 1u)

#if SGW_PASS == 1
layout(local_size_x = SGW_WG1) in;
#else
layout(local_size_x = 256) in;
#endif
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_KV_SELECT_BUFS) VOX_GLSL_FIELDS(VOX_KV_SELECT_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer Qbar { float qbar[]; };
layout(std430, set = 0, binding = 1) readonly buffer Kbar { float kbar[]; };
layout(std430, set = 0, binding = 1) readonly buffer Kbar4 { vec4 kbar4[]; };
layout(std430, set = 0, binding = 2) readonly buffer KvStart { int kv_start[]; };
layout(std430, set = 0, binding = 3) writeonly buffer KvCount { int kv_count[]; };
layout(std430, set = 0, binding = 4) writeonly buffer KvCols { int kv_cols[]; };
layout(std430, set = 0, binding = 5) buffer Scratch { uint scratch[]; };
layout(std430, set = 0, binding = 5) buffer Scratch2 { uvec2 scratch2[]; };

/* the tile's qbar rows, widened: rows 2k and 2k + 1 of dim e at qd[e * SGW_ROWS / 2 + k] */
#if SGW_PASS == 1
shared dvec2 qd[SGW_DMAX * SGW_ROWS / 2];
#else
/* slot r's radix bins: the counts, then (SGW_MASS) the sums of floor(p 2^48) in three 16-bit limbs */
shared uint bins[SGW_SLOTS][SGW_WORDS][256];
#endif

#include "kv_select.glsl" /* ld_d, st_d, exp_d */

/* NaN and infinity by the bits (the NaN tests by comparison failed on NVIDIA's driver: see the header) */
bool nan_d(double x)
{
    uvec2 u = unpackDouble2x32(x);
    uint h = u.y & 0x7fffffffu;
    return h > 0x7ff00000u || (h == 0x7ff00000u && u.x != 0u);
}
bool inf_d(double x)
{
    uvec2 u = unpackDouble2x32(x);
    return (u.y & 0x7fffffffu) == 0x7ff00000u && u.x == 0u;
}
bool al2; /* the scratch slice's doubles on 8-byte boundaries: one 64-bit access each */
uvec2 key_at(uint at) /* p's bits, low word first */
{
    return al2 ? scratch2[at >> 1] : uvec2(scratch[at], scratch[at + 1u]);
}
double ld_p(uint at) { return packDouble2x32(key_at(at)); }
void st_p(uint at, double x)
{
    if (al2)
        scratch2[at >> 1] = unpackDouble2x32(x);
    else
        st_d(at, x);
}
bool key_gt(uvec2 a, uvec2 b) { return a.y > b.y || (a.y == b.y && a.x > b.x); }
/* A sweep's next SGW_U steps, loaded before the first is used: block j0 + u S + lane's bits, 0 from n on */
void keys_ahead(uint P, uint j0, uint n, uint lane, uint S, out uvec2 kk[SGW_U])
{
    [[unroll]] for (uint u = 0u; u < SGW_U; u++) {
        uint j = j0 + u * S + lane;
        kk[u] = j < n ? key_at(P + 2u * j) : uvec2(0u);
    }
}

/* 64-bit unsigned arithmetic on (low, high) word pairs */
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
uvec2 shr64(uvec2 x, uint s)
{
    if (s >= 64u)
        return uvec2(0u);
    if (s >= 32u)
        return uvec2(x.y >> (s - 32u), 0u);
    return s == 0u ? x : uvec2((x.x >> s) | (x.y << (32u - s)), x.y >> s);
}
uvec2 shl64(uvec2 x, uint s) /* s < 64 */
{
    if (s >= 32u)
        return uvec2(0u, x.x << (s - 32u));
    return s == 0u ? x : uvec2(x.x << s, (x.y << s) | (x.x >> (32u - s)));
}
uint len64(uvec2 x) /* bits up to the highest set one */
{
    return x.y != 0u ? uint(findMSB(x.y)) + 33u : x.x != 0u ? uint(findMSB(x.x)) + 1u : 0u;
}

/* floor(p 2^48) (p in [0, 1]) as three 16-bit limbs, low first (the top one 17 bits at p = 1): summed in
 * 32-bit counters, exact in any order below 2^16 video blocks (the launcher checks) */
uvec3 limbs_of(double p)
{
    double x = floor(p * 281474976710656.0LF);
    uint hi = uint(floor(x * (1.0LF / 4294967296.0LF))), lo = uint(x - double(hi) * 4294967296.0LF);
    return uvec3(lo & 0xffffu, lo >> 16, hi);
}
/* the mass of limb sums (exact: the sums stay below 2^50 of 2^-48, as the p of a row sum to about 1) */
double mass_of(uvec3 m)
{
    return (double(m.x) + double(m.y) * 65536.0LF + double(m.z) * 4294967296.0LF) * (1.0LF / 281474976710656.0LF);
}

/* The key's digit for a pass over [lo, hi) of rel = key - kmin, and whether rel lies in the bucket the
 * previous passes chose (its bits from hi up equal to prefix's) */
bool digit_of(uvec2 k, uvec2 kmin, uvec2 prefix, uint lo, uint hi, out uint d)
{
    uvec2 rel = sub64(k, kmin);
    d = shr64(rel, lo).x & ((1u << (hi - lo)) - 1u);
    return shr64(rel ^ prefix, hi) == uvec2(0u);
}

#if SGW_PASS == 2 /* the selection's functions */
/* One radix pass's bins for slot r: the digits over [lo, hi) of the keys of row P (np of them) in the
 * bucket prefix, counted (mass: with their limbs' sums). Subgroup-uniform. */
void bins_fill(uint r, uint P, uint np, uvec2 kmin, uvec2 prefix, uint lo, uint hi, bool mass, uint lane, uint S)
{
    for (uint b = lane; b < (mass ? 4u : 1u) * 256u; b += S)
        bins[r][b >> 8][b & 255u] = 0u;
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    for (uint j0 = 0u; j0 < np; j0 += SGW_U * S) {
        uvec2 kk[SGW_U];
        keys_ahead(P, j0, np, lane, S, kk);
        [[unroll]] for (uint u = 0u; u < SGW_U; u++) {
            uint d = 0u;
            if (j0 + u * S + lane < np && digit_of(kk[u], kmin, prefix, lo, hi, d)) {
                atomicAdd(bins[r][0][d], 1u);
#if SGW_MASS
                if (mass) {
                    uvec3 l = limbs_of(packDouble2x32(kk[u]));
                    atomicAdd(bins[r][1][d], l.x);
                    atomicAdd(bins[r][2][d], l.y);
                    atomicAdd(bins[r][3][d], l.z);
                }
#endif
            }
        }
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
}

/* The target-th largest key (1 <= target < np) of row r's p at P + 2j, j < np, the keys lying in [kmin,
 * kmin + 2^len): *T and how many of the keys equal to T go in (*rem; SGW_ALL: every one). 8 bits of the
 * offset per pass from the top; lane l scans bins 255 - nb l down to 256 - nb (l + 1) (nb = 256 / S), so
 * the subgroup's exclusive sum orders the bins from the top. Subgroup-uniform control flow. */
void descend(uint r, uint P, uint np, uint target, uvec2 kmin, uint len, uint lane, uint S, out uvec2 T,
             out uint rem_out)
{
    uvec2 prefix = uvec2(0u);
    uint rem = target, nb = 256u / S, hi = len, lo = len > 8u ? len - 8u : 0u;
    T = kmin, rem_out = target; /* len 0: every key equals kmin, the target lowest-index ones */
    while (hi > 0u) {
        bins_fill(r, P, np, kmin, prefix, lo, hi, false, lane, S);
        uint top = 255u - nb * lane, tot = 0u;
        for (uint q = 0u; q < nb; q++)
            tot += bins[r][0][top - q];
        uint xc = subgroupExclusiveAdd(tot), fb = 0u, fx = 0u, fc = 0u;
        if (xc < rem && rem <= xc + tot) {
            uint acc = xc;
            for (uint q = 0u; q < nb; q++) {
                uint c = bins[r][0][top - q];
                if (acc < rem && rem <= acc + c)
                    fb = top - q, fx = acc, fc = c;
                acc += c;
            }
        }
        /* one lane holds the bin (the bucket holds rem or more keys): the others give 0 */
        uint bin = subgroupMax(fb), bxc = subgroupMax(fx), bcnt = subgroupMax(fc);
        subgroupBarrier(); /* read before the next pass clears */
        prefix = prefix | shl64(uvec2(bin, 0u), lo);
        rem -= bxc;
        T = add64(kmin, prefix);
        if (bcnt == rem) { /* the whole bin goes in: every key >= its lowest */
            rem_out = SGW_ALL;
            return;
        }
        rem_out = rem; /* lo 0: equal keys, the rem lowest-index ones */
        hi = lo, lo = lo > 8u ? lo - 8u : 0u;
    }
}

#if SGW_MASS
/* CUMULATIVE's candidate count: the first c whose c largest p (keys descending, ties lower index) reach
 * tau (> 0), by a descent as descend's with per-bin counts and fixed-point masses; lane l sums its nb
 * bins, the subgroup's exclusive sums order them, and the lane whose bins cross what is left of tau walks
 * them. Only a candidate: select_row certifies it against f64 sums or replays the reference.
 * Subgroup-uniform. */
uint mass_count(uint r, uint P, uint NBv, double tau, uvec2 kmin, uint len, uint lane, uint S, out uvec2 T,
                out uint rem)
{
    rem = SGW_ALL;
    uvec2 prefix = uvec2(0u);
    double need = tau;
    uint above = 0u, nb = 256u / S, hi = len, lo = len > 8u ? len - 8u : 0u, cnt = NBv;
    while (hi > 0u) {
        bins_fill(r, P, NBv, kmin, prefix, lo, hi, true, lane, S);
        uint top = 255u - nb * lane, tot = 0u;
        uvec3 ms = uvec3(0u);
        for (uint q = 0u; q < nb; q++)
            tot += bins[r][0][top - q],
                ms += uvec3(bins[r][1][top - q], bins[r][2][top - q], bins[r][3][top - q]);
        uint xc = subgroupExclusiveAdd(tot), all = subgroupAdd(tot);
        double before = mass_of(uvec3(subgroupExclusiveAdd(ms.x), subgroupExclusiveAdd(ms.y),
                                      subgroupExclusiveAdd(ms.z)));
        bool hit = before < need && need <= before + mass_of(ms);
        uint fb = 0u, fx = 0u, fc = 0u;
        double frun = 0.0LF;
        if (hit) {
            double run = before;
            uint acc = xc;
            for (uint q = 0u; q < nb; q++) {
                uint b = top - q, c = bins[r][0][b];
                double md = mass_of(uvec3(bins[r][1][b], bins[r][2][b], bins[r][3][b]));
                if (run + md >= need) {
                    fb = b, fx = acc, fc = c, frun = run;
                    break;
                }
                run += md, acc += c;
            }
        }
        bool any = subgroupBallotBitCount(subgroupBallot(hit)) > 0u;
        uint bin = subgroupMax(fb), bxc = subgroupMax(fx);
        cnt = subgroupMax(fc);
        double run = subgroupMax(frun);
        subgroupBarrier(); /* read before the next pass clears */
        if (!any) { /* the bucket never reaches tau: every key in it goes in */
            T = add64(kmin, prefix);
            return above + all;
        }
        need -= run;
        above += bxc;
        prefix = prefix | shl64(uvec2(bin, 0u), lo);
        if (cnt == 1u) {
            T = add64(kmin, prefix);
            return above + 1u;
        }
        hi = lo, lo = lo > 8u ? lo - 8u : 0u;
    }
    /* cnt equal p: as many as reach what is left */
    double pT = packDouble2x32(add64(kmin, prefix));
    uint t = max(pT > 0.0LF ? uint(min(ceil(need / pT), double(cnt))) : cnt, 1u);
    T = add64(kmin, prefix), rem = t;
    return above + t;
}
#endif


/* T and rem of the n largest keys (0 < n < np), else those that take every key (T 0, rem all), or the n
 * first blocks by index (by_index). Subgroup-uniform. */
void top_n(uint r, uint P, uint np, uint n, bool by_index, uvec2 kmin, uint len, uint lane, uint S, out uvec2 T,
           out uint rem)
{
    T = uvec2(0u), rem = SGW_ALL;
    if (np > 0u && n > 0u && n < np)
        descend(r, P, np, n, kmin, len, lane, S, T, rem);
    else if (by_index)
        rem = n;
}

/* Whether block j (this lane's, j0 + lane) is among the blocks T and rem select, eq counting the keys equal
 * to T before this step (updated). Subgroup-uniform. */
bool in_top(bool v, uvec2 k, uvec2 T, uint rem, inout uint eq)
{
    bool ise = v && k == T;
    uvec4 em = subgroupBallot(ise);
    bool take = v && (key_gt(k, T) || (ise && (rem == SGW_ALL || eq + subgroupBallotExclusiveBitCount(em) < rem)));
    eq += subgroupBallotBitCount(em);
    return take;
}

/* Row i = i0 + r of head bh (a video row when r < nv), its tile's scores at P + 2j; CUMULATIVE's replay
 * ranks at O + rank. */
void select_row(uint bh, uint i, uint r, bool video, uint NB, uint NBv, uint P, uint O, uint lane, uint S)
{
    uint m = bh * NB + i;
    bool cum = pc.rule == 0;
    uint n = cum ? NBv : min(uint(pc.topk), NBv);
    if (!cum && n < uint(pc.min_blocks))
        n = min(uint(pc.min_blocks), NBv);
    /* p is needed unless TOPK takes none or every video block */
    bool act = video && (cum || (n > 0u && n < NBv));
    uint na = act ? NBv : 0u;
    double lmx = double(NEG_INF);
    bool lnan = false;
    for (uint j0 = 0u; j0 < na; j0 += SGW_U * S) {
        uvec2 kk[SGW_U];
        keys_ahead(P, j0, na, lane, S, kk);
        [[unroll]] for (uint u = 0u; u < SGW_U; u++)
            if (j0 + u * S + lane < na) {
                double s = packDouble2x32(kk[u]);
                bool sn = nan_d(s);
                lnan = lnan || sn;
                lmx = !sn && s > lmx ? s : lmx;
            }
    }
    double mx = subgroupMax(lmx);
    /* the reference's z is NaN, and so is every p (the index order, keys 0), where a score is NaN or
     * the max is infinite (+Inf - +Inf, or every score -Inf); else every s - max is finite or -Inf */
    bool by_index = act && (subgroupBallotBitCount(subgroupBallot(lnan)) > 0u || inf_d(mx));
    uint np = act && !by_index ? NBv : 0u;
    double lz = 0.0LF;
    for (uint j0 = 0u; j0 < np; j0 += SGW_U * S) {
        uvec2 kk[SGW_U];
        keys_ahead(P, j0, np, lane, S, kk);
        [[unroll]] for (uint u = 0u; u < SGW_U; u++) {
            uint j = j0 + u * S + lane;
            if (j < np) {
                double w = exp_d(packDouble2x32(kk[u]) - mx);
                st_p(P + 2u * j, w);
                lz += w;
            }
        }
    }
    double z = subgroupAdd(lz), lpmin = 1.0LF, lpmax = 0.0LF;
    for (uint j0 = 0u; j0 < np; j0 += SGW_U * S) {
        uvec2 kk[SGW_U];
        keys_ahead(P, j0, np, lane, S, kk);
        [[unroll]] for (uint u = 0u; u < SGW_U; u++) {
            uint j = j0 + u * S + lane;
            if (j < np) {
                double p = packDouble2x32(kk[u]) / z;
                st_p(P + 2u * j, p);
                lpmin = min(lpmin, p), lpmax = max(lpmax, p);
            }
        }
    }
    /* the keys (p >= 0: ordered as their bits) lie in [kmin, kmin + 2^len) */
    uvec2 kmin = unpackDouble2x32(subgroupMin(lpmin));
    uint len = len64(sub64(unpackDouble2x32(subgroupMax(lpmax)), kmin));
#if SGW_RSTOP == 1
    if (subgroupElect())
        kv_count[pc.off[3] + m] = int(len);
    return;
#endif
    uvec2 T;
    uint rem;
    bool have = false; /* T and rem are those of the n first blocks */
#if SGW_MASS
    if (cum && video) { /* subgroup-uniform */
        double tau = packDouble2x32(pc.tau);
        bool go = !nan_d(tau) && tau > 0.0LF;
        uint c = 0u;
        if (by_index) /* the first block's mass before is 0 (< tau), the next one's NaN */
            c = go ? 1u : 0u;
        else if (go) {
            c = mass_count(r, P, NBv, tau, kmin, len, lane, S, T, rem);
            /* certified when the reference's sequential sums of the c - 1 and c first p (within mg of any
             * sum of ours: exactly kv_select.comp's margin, which covers exp_d against libm too) fall on
             * either side of tau */
            have = true;
            double ls = 0.0LF, lmin = 1.0LF;
            uint eq = 0u;
            for (uint j0 = 0u; j0 < NBv; j0 += SGW_U * S) {
                uvec2 kk[SGW_U];
                keys_ahead(P, j0, NBv, lane, S, kk);
                [[unroll]] for (uint u = 0u; u < SGW_U; u++)
                    if (in_top(j0 + u * S + lane < NBv, kk[u], T, rem, eq)) {
                        double pj = packDouble2x32(kk[u]);
                        ls += pj;
                        lmin = min(lmin, pj);
                    }
            }
            double sc = subgroupAdd(ls), last = subgroupMin(lmin);
            double mg = double(4u * NBv + 512u) * (1.0LF / 4503599627370496.0LF);
            /* SGW_NOREPLAY (tests only): the candidate stands, so that a wrong count or threshold from the
             * mass descent shows in the lists instead of costing a replay */
            if (!SGW_NOREPLAY && !(sc - last + mg < tau && (c >= NBv || sc - mg >= tau))) {
                /* replay: every block's rank (p descending, ties lower index), then the reference's
                 * sequential sum in that order by one lane */
                for (uint j = lane; j < NBv; j += S) {
                    uvec2 kj = key_at(P + 2u * j);
                    uint rank = 0u;
                    for (uint k = 0u; k < NBv; k++) {
                        uvec2 kk = key_at(P + 2u * k);
                        rank += key_gt(kk, kj) || (kk == kj && k < j) ? 1u : 0u;
                    }
                    scratch[O + rank] = j;
                }
                subgroupMemoryBarrierBuffer();
                subgroupBarrier();
                uint cc = 0u;
                if (subgroupElect()) {
                    double before = 0.0LF;
                    for (; cc < NBv && before < tau; cc++)
                        before += ld_p(P + 2u * scratch[O + cc]);
                }
                c = subgroupMax(cc);
                have = false;
                subgroupBarrier();
            }
        }
        n = c;
        if (n < uint(pc.min_blocks))
            n = min(uint(pc.min_blocks), NBv), have = false;
    }
#endif
    if (!have)
        top_n(r, P, np, n, by_index, kmin, len, lane, S, T, rem);
#if SGW_RSTOP == 2
    if (subgroupElect())
        kv_count[pc.off[3] + m] = int(T.x ^ rem);
    return;
#endif
    bool some = video && n > 0u;
    uint base = 0u, eq = 0u;
    uint at = uint(pc.off[4]) + uint(kv_start[pc.off[2] + m]);
    for (uint j0 = 0u; j0 < NB; j0 += SGW_U * S) {
        uvec2 kk[SGW_U];
        keys_ahead(P, j0, some && np > 0u ? NBv : 0u, lane, S, kk);
        [[unroll]] for (uint u = 0u; u < SGW_U; u++) {
            uint j = j0 + u * S + lane;
            bool v = some && j < NBv;
            bool pick = in_top(v, kk[u], T, rem, eq) || (j < NB && (!video || j >= NBv || j == i));
            uvec4 pm = subgroupBallot(pick);
            if (pick)
                kv_cols[at + base + subgroupBallotExclusiveBitCount(pm)] = int(j);
            base += subgroupBallotBitCount(pm);
        }
    }
    if (subgroupElect())
        kv_count[pc.off[3] + m] = int(base);
}

#endif

void main()
{
    uint g = group_linear_id();
    if (g >= pc.wg_count)
        return;
    uint tid = gl_LocalInvocationID.x;
    uint D = vox_u64lo(pc.D), NB = vox_u64lo(pc.NB), NBv = vox_u64lo(pc.NBv);
    uint tph = (NB + SGW_ROWS - 1u) / SGW_ROWS;
    al2 = (pc.off[5] & 1u) == 0u;
#if SGW_PASS == 1
    /* the scores of tile tile0 + g into slice g */
    uint t = vox_u64lo(pc.tile0) + g, sbase = pc.off[5] + g * vox_u64lo(pc.per_block);
    uint bh = t / tph, i0 = (t - bh * tph) * SGW_ROWS;
    uint nv = NBv > i0 ? min(NBv - i0, SGW_ROWS) : 0u;
    uint qat = pc.off[0] + (bh * NB + i0) * D;
    double scale64 = packDouble2x32(pc.scale);
    bool vec = D % 4u == 0u && pc.off[1] % 4u == 0u; /* uniform */
    for (uint x = tid; x < SGW_ROWS * D; x += WG) { /* x = e SGW_ROWS + row */
        uint e = x / SGW_ROWS, rr = x - e * SGW_ROWS;
        qd[x >> 1][x & 1u] = rr < nv ? double(qbar[qat + rr * D + e]) : 0.0LF;
    }
    barrier();
    for (uint jb = 0u; jb < NBv; jb += WG * SGW_KPT) {
        /* keys jb + u WG + tid (u < SGW_KPT): each q value read from shared memory serves them all */
        double acc[SGW_KPT][SGW_ROWS];
        uint kat[SGW_KPT];
        [[unroll]] for (uint u = 0u; u < SGW_KPT; u++) {
            [[unroll]] for (uint r = 0u; r < SGW_ROWS; r++)
                acc[u][r] = 0.0LF;
            kat[u] = pc.off[1] + (bh * NB + min(jb + u * WG + tid, NBv - 1u)) * D;
        }
        if (vec) {
            for (uint e = 0u; e < D; e += 4u) {
                vec4 kk[SGW_KPT];
                [[unroll]] for (uint u = 0u; u < SGW_KPT; u++)
                    kk[u] = kbar4[(kat[u] + e) / 4u];
                [[unroll]] for (uint c = 0u; c < 4u; c++) {
                    uint qb = (e + c) * (SGW_ROWS / 2u);
                    [[unroll]] for (uint h = 0u; h < SGW_ROWS / 2u; h++) {
                        dvec2 q = qd[qb + h];
                        [[unroll]] for (uint u = 0u; u < SGW_KPT; u++) {
                            double dk = double(kk[u][c]);
                            acc[u][2u * h] = fma(q.x, dk, acc[u][2u * h]);
                            acc[u][2u * h + 1u] = fma(q.y, dk, acc[u][2u * h + 1u]);
                        }
                    }
                }
            }
        } else {
            for (uint e = 0u; e < D; e++) {
                [[unroll]] for (uint h = 0u; h < SGW_ROWS / 2u; h++) {
                    dvec2 q = qd[e * (SGW_ROWS / 2u) + h];
                    [[unroll]] for (uint u = 0u; u < SGW_KPT; u++) {
                        double dk = double(kbar[kat[u] + e]);
                        acc[u][2u * h] = fma(q.x, dk, acc[u][2u * h]);
                        acc[u][2u * h + 1u] = fma(q.y, dk, acc[u][2u * h + 1u]);
                    }
                }
            }
        }
        [[unroll]] for (uint u = 0u; u < SGW_KPT; u++) {
            uint j = jb + u * WG + tid;
            if (j < NBv)
                [[unroll]] for (uint r = 0u; r < SGW_ROWS; r++)
                    if (r < nv)
                        st_p(sbase + 2u * (r * NBv + j), acc[u][r] * scale64);
        }
    }
#else
    /* rows h SGW_SLOTS .. + SGW_SLOTS - 1 (h = g % SGW_HALVES) of tile tile0 + g / SGW_HALVES, whose scores
     * are in slice g / SGW_HALVES: row r to subgroup r % step < step = min(#subgroups, SGW_SLOTS) (a power of
     * two), into bin slot r */
    uint tl = g / SGW_HALVES, h0 = (g - tl * SGW_HALVES) * SGW_SLOTS;
    uint t = vox_u64lo(pc.tile0) + tl, sbase = pc.off[5] + tl * vox_u64lo(pc.per_block);
    uint bh = t / tph, i0 = (t - bh * tph) * SGW_ROWS;
    uint nv = NBv > i0 ? min(NBv - i0, SGW_ROWS) : 0u, nr = min(NB - i0, SGW_ROWS);
    uint S = gl_SubgroupSize, lane = gl_SubgroupInvocationID, step = min(gl_NumSubgroups, SGW_SLOTS);
    if (gl_SubgroupID < step)
        for (uint r = gl_SubgroupID; r < SGW_SLOTS && h0 + r < nr; r += step)
            select_row(bh, i0 + h0 + r, r, h0 + r < nv, NB, NBv, sbase + 2u * (h0 + r) * NBv,
                       sbase + (2u * SGW_ROWS + h0 + r) * NBv, lane, S);
#endif
}
#endif /* VOX_GLSL */
