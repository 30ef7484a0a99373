/* kv_select's TOPK and CUMULATIVE rules with one subgroup per query row: the `kv_select_sgw` variant,
 * named in kv_select.comp's variant table and taken by its launcher on devices with shaderFloat64 and
 * subgroup ballots, head_dim <= 128 (VOXATTN_VULKAN_KV_SGW=0: the workgroup-per-row variants, which also
 * keep the STAT rule). The OpenCL backend's vox_kv_select_warp (kernels/kv_select_warp.cl) is the same
 * algorithm for TOPK.
 *
 * A workgroup of 256 takes tiles of SGW_ROWS query rows of one head (grid-stride), each tile in two
 * phases:
 * 1. The exact scores, as the reference: invocation t takes key blocks j = t, t + 256, ... and forms
 *    s_j = (sum over e = 0..D-1 of qbar_e kbar_je, sequentially in f64) * scale for the tile's rows
 *    (fma of the widened floats: their product is exact in f64, so each step rounds once, as the
 *    reference's `acc += q * k`), into the workgroup's scratch slice (SGW_ROWS x NBv doubles). The
 *    tile's qbar rows are widened once into shared memory; kbar is read a 16-byte word at a time where
 *    D and kbar's offset allow.
 * 2. Row r of the tile goes to subgroup r (r, r + #subgroups, ...), every lane taking blocks j = lane,
 *    lane + S, ... (S the subgroup size), so that a lane reads back only what it wrote itself: the max
 *    of s (NaN never taken, as the reference's `s > mx`), w_j = exp_d(s_j - max) in place and their sum
 *    z by subgroupAdd, then p_j = w_j / z in place (z is summed in another order than the reference's,
 *    as every GPU path does: p differ from the reference's in the last bits by a common factor, so the
 *    order is the same away from ties within an ulp).
 *    - TOPK: the n-th largest p (keys: p's bits, p >= 0) by a radix descent of 8 bits per pass over a
 *      histogram of 256 bins per row in shared memory (the subgroup's lanes scan it in order, 256 / S
 *      bins each).
 *    - CUMULATIVE: a candidate count c by a descent of 4 bits per pass with per-bin counts and
 *      fixed-point masses (mass_count), then the f64 sums of the c - 1 and c first p against tau with
 *      kv_select.comp's margin; a row they do not certify replays the reference (ranks by counting,
 *      then its sequential sum in rank order by one lane). Then the min_blocks top-up, and the c first
 *      blocks by TOPK's descent.
 *    The ordered compaction by ballots, S blocks per step: the own block, the global blocks, the keys
 *    above T and the `rem` lowest-index keys equal to T. A row whose p are NaN (a NaN score, or an
 *    infinite max) takes its n first blocks by index, as the reference's order puts NaN after every
 *    number; rows of global query blocks take every block.
 * No certificate for TOPK: the scores are the reference's bit for bit and p follows them through exp_d
 * and one division. NaN and infinities are told by their bits (nan_d, inf_d): with isnan(z) (and
 * exp_d's `x != x`) the H200 failed the NaN-row cases that lavapipe passed. */
#ifdef VOX_GLSL
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : enable
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_ballot : require
#define WG 256u
#define SGW_ROWS 8u   /* query rows per tile (kv_rows(D) of kv_select.comp for D <= SGW_DMAX) */
#define SGW_DMAX 128u /* head_dim at most (the launcher checks) */
#define SGW_ALL 0xffffffffu
layout(local_size_x = 256) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_KV_SELECT_BUFS) VOX_GLSL_FIELDS(VOX_KV_SELECT_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer Qbar { float qbar[]; };
layout(std430, set = 0, binding = 1) readonly buffer Kbar { float kbar[]; };
layout(std430, set = 0, binding = 1) readonly buffer Kbar4 { vec4 kbar4[]; };
layout(std430, set = 0, binding = 2) readonly buffer KvStart { int kv_start[]; };
layout(std430, set = 0, binding = 3) writeonly buffer KvCount { int kv_count[]; };
layout(std430, set = 0, binding = 4) writeonly buffer KvCols { int kv_cols[]; };
layout(std430, set = 0, binding = 5) buffer Scratch { uint scratch[]; };

shared double qd[SGW_ROWS * SGW_DMAX]; /* the tile's qbar rows, widened */
shared uint hist[SGW_ROWS][256];       /* row r's radix bins */
shared uint found[SGW_ROWS][3];        /* row r's pass result: bin, keys above it, keys in it */
shared uint mbin[SGW_ROWS][16][5];     /* row r's mass-descent bins: count, floor(p 2^48) in four 12-bit limbs */

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
uvec2 key_at(uint at) { return uvec2(scratch[at], scratch[at + 1u]); } /* p's bits, low word first */
bool key_gt(uvec2 a, uvec2 b) { return a.y > b.y || (a.y == b.y && a.x > b.x); }

/* The target-th largest key (1 <= target < np) of row r's p at P + 2j, j < np: *T and how many of the
 * keys equal to T go in (*rem; SGW_ALL: every one). 8 bits per pass from the top; lane l scans bins
 * 255 - nb l down to 256 - nb (l + 1) (nb = 256 / S), so the subgroup's exclusive sum orders the bins
 * from the top. Subgroup-uniform control flow. */
void descend(uint r, uint P, uint np, uint target, uint lane, uint S, out uvec2 T, out uint rem_out)
{
    uvec2 prefix = uvec2(0u), hmask = uvec2(0u);
    uint rem = target, nb = 256u / S;
    T = uvec2(0u), rem_out = SGW_ALL;
    for (int pass = 0; pass < 8; pass++) {
        uint sh = uint(24 - 8 * (pass & 3)); /* the byte within the word: the high word first */
        bool hi = pass < 4;
        for (uint b = lane; b < 256u; b += S)
            hist[r][b] = 0u;
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        for (uint j = lane; j < np; j += S) {
            uvec2 u = key_at(P + 2u * j);
            if ((u & hmask) == prefix)
                atomicAdd(hist[r][((hi ? u.y : u.x) >> sh) & 255u], 1u);
        }
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        uint top = 255u - nb * lane, tot = 0u;
        for (uint q = 0u; q < nb; q++)
            tot += hist[r][top - q];
        uint xc = subgroupExclusiveAdd(tot);
        if (xc < rem && rem <= xc + tot) {
            uint acc = xc;
            for (uint q = 0u; q < nb; q++) {
                uint c = hist[r][top - q];
                if (acc < rem && rem <= acc + c)
                    found[r][0] = top - q, found[r][1] = acc, found[r][2] = c;
                acc += c;
            }
        }
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        uint bin = found[r][0], bxc = found[r][1], bcnt = found[r][2];
        subgroupBarrier(); /* read before the next pass writes */
        if (hi)
            prefix.y |= bin << sh, hmask.y |= 255u << sh;
        else
            prefix.x |= bin << sh, hmask.x |= 255u << sh;
        rem -= bxc;
        if (bcnt == rem) { /* the whole bin goes in: every key >= its lowest */
            T = prefix, rem_out = SGW_ALL;
            return;
        }
        if (pass == 7) { /* equal keys: the rem lowest-index ones */
            T = prefix, rem_out = rem;
            return;
        }
    }
}

/* floor(p 2^48) (p in [0, 1]) as four 12-bit limbs, low first (the top one 13 bits at p = 1): summed in
 * 32-bit counters, exact in any order for fewer than 2^20 blocks */
uvec4 limbs_of(double p)
{
    double x = floor(p * 281474976710656.0LF);
    uint hi = uint(floor(x * (1.0LF / 4294967296.0LF))), lo = uint(x - double(hi) * 4294967296.0LF);
    return uvec4(lo & 0xfffu, (lo >> 12) & 0xfffu, (lo >> 24) | ((hi & 0xfu) << 8), hi >> 4);
}
double bin_mass(uint r, uint d)
{
    return (double(mbin[r][d][1]) + double(mbin[r][d][2]) * 4096.0LF + double(mbin[r][d][3]) * 16777216.0LF +
            double(mbin[r][d][4]) * 68719476736.0LF) *
           (1.0LF / 281474976710656.0LF);
}

/* CUMULATIVE's candidate count: the first c whose c largest p (keys descending, ties lower index) reach
 * tau (> 0), by a descent over the keys 4 bits per pass with per-bin counts and fixed-point masses (integer
 * sums, the same in any order), each lane scanning all 16 bins (the same result in every lane). Only a
 * candidate: select_row certifies it against f64 sums or replays the reference. Subgroup-uniform. */
uint mass_count(uint r, uint P, uint NBv, double tau, uint lane, uint S)
{
    uvec2 prefix = uvec2(0u), hmask = uvec2(0u);
    double need = tau;
    uint above = 0u;
    for (int pass = 0; pass < 16; pass++) {
        uint sh = uint(28 - 4 * (pass & 7));
        bool hi = pass < 8;
        for (uint b = lane; b < 80u; b += S)
            mbin[r][b / 5u][b % 5u] = 0u;
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        for (uint j = lane; j < NBv; j += S) {
            uvec2 u = key_at(P + 2u * j);
            if ((u & hmask) == prefix) {
                uint d = ((hi ? u.y : u.x) >> sh) & 15u;
                uvec4 l = limbs_of(packDouble2x32(u));
                atomicAdd(mbin[r][d][0], 1u);
                atomicAdd(mbin[r][d][1], l.x);
                atomicAdd(mbin[r][d][2], l.y);
                atomicAdd(mbin[r][d][3], l.z);
                atomicAdd(mbin[r][d][4], l.w);
            }
        }
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        double run = 0.0LF;
        uint cab = 0u, cnt = 0u;
        int dc = -1;
        for (int d = 15; d >= 0; d--) {
            double md = bin_mass(r, uint(d));
            if (run + md >= need) {
                dc = d, cnt = mbin[r][d][0];
                break;
            }
            run += md;
            cab += mbin[r][d][0];
        }
        subgroupBarrier(); /* read before the next pass clears */
        if (dc < 0) /* the range never reaches tau: every key in it goes in */
            return above + cab;
        need -= run;
        above += cab;
        if (hi)
            prefix.y |= uint(dc) << sh, hmask.y |= 15u << sh;
        else
            prefix.x |= uint(dc) << sh, hmask.x |= 15u << sh;
        if (cnt == 1u)
            return above + 1u;
        if (pass == 15) { /* cnt equal p: as many as reach what is left */
            double pT = packDouble2x32(prefix);
            uint t = pT > 0.0LF ? uint(min(ceil(need / pT), double(cnt))) : cnt;
            return above + max(t, 1u);
        }
    }
    return above;
}

/* T and rem of the n largest keys (0 < n < np), else those that take every key (T 0, rem all), or the n
 * first blocks by index (by_index). Subgroup-uniform. */
void top_n(uint r, uint P, uint np, uint n, bool by_index, uint lane, uint S, out uvec2 T, out uint rem)
{
    T = uvec2(0u), rem = SGW_ALL;
    if (np > 0u && n > 0u && n < np)
        descend(r, P, np, n, lane, S, T, rem);
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
    for (uint j = lane; j < na; j += S) {
        double s = ld_d(P + 2u * j);
        bool sn = nan_d(s);
        lnan = lnan || sn;
        lmx = !sn && s > lmx ? s : lmx;
    }
    double mx = subgroupMax(lmx);
    /* the reference's z is NaN, and so is every p (the index order, keys 0), where a score is NaN or
     * the max is infinite (+Inf - +Inf, or every score -Inf); else every s - max is finite or -Inf */
    bool by_index = act && (subgroupBallotBitCount(subgroupBallot(lnan)) > 0u || inf_d(mx));
    uint np = act && !by_index ? NBv : 0u;
    double lz = 0.0LF;
    for (uint j = lane; j < np; j += S) {
        double w = exp_d(ld_d(P + 2u * j) - mx);
        st_d(P + 2u * j, w);
        lz += w;
    }
    double z = subgroupAdd(lz);
    for (uint j = lane; j < np; j += S)
        st_d(P + 2u * j, ld_d(P + 2u * j) / z);
    uvec2 T;
    uint rem;
    if (cum && video) { /* subgroup-uniform */
        double tau = packDouble2x32(pc.tau);
        bool go = !nan_d(tau) && tau > 0.0LF;
        uint c = 0u;
        if (by_index) /* the first block's mass before is 0 (< tau), the next one's NaN */
            c = go ? 1u : 0u;
        else if (go) {
            c = mass_count(r, P, NBv, tau, lane, S);
            /* certified when the reference's sequential sums of the c - 1 and c first p (within mg of any
             * sum of ours: exactly kv_select.comp's margin, which covers exp_d against libm too) fall on
             * either side of tau */
            top_n(r, P, np, c, false, lane, S, T, rem);
            double ls = 0.0LF, lmin = 1.0LF;
            uint eq = 0u;
            for (uint j0 = 0u; j0 < NBv; j0 += S) {
                uint j = j0 + lane;
                bool v = j < NBv;
                uvec2 k = v ? key_at(P + 2u * j) : uvec2(0u);
                if (in_top(v, k, T, rem, eq)) {
                    double pj = packDouble2x32(k);
                    ls += pj;
                    lmin = min(lmin, pj);
                }
            }
            double sc = subgroupAdd(ls), last = subgroupMin(lmin);
            double mg = double(4u * NBv + 512u) * (1.0LF / 4503599627370496.0LF);
            if (!(sc - last + mg < tau && (c >= NBv || sc - mg >= tau))) {
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
                        before += ld_d(P + 2u * scratch[O + cc]);
                }
                c = subgroupMax(cc);
                subgroupBarrier();
            }
        }
        n = c;
        if (n < uint(pc.min_blocks))
            n = min(uint(pc.min_blocks), NBv);
    }
    top_n(r, P, np, n, by_index, lane, S, T, rem);
    bool some = video && n > 0u;
    uint base = 0u, eq = 0u;
    uint at = uint(pc.off[4]) + uint(kv_start[pc.off[2] + m]);
    for (uint j0 = 0u; j0 < NB; j0 += S) {
        uint j = j0 + lane;
        bool v = some && j < NBv;
        uvec2 k = v && np > 0u ? key_at(P + 2u * j) : uvec2(0u);
        bool pick = in_top(v, k, T, rem, eq) || (j < NB && (!video || j >= NBv || j == i));
        uvec4 pm = subgroupBallot(pick);
        if (pick)
            kv_cols[at + base + subgroupBallotExclusiveBitCount(pm)] = int(j);
        base += subgroupBallotBitCount(pm);
    }
    if (subgroupElect())
        kv_count[pc.off[3] + m] = int(base);
}

void main()
{
    uint g = group_linear_id();
    if (g >= pc.wg_count)
        return;
    uint tid = gl_LocalInvocationID.x;
    uint D = vox_u64lo(pc.D), NB = vox_u64lo(pc.NB), NBv = vox_u64lo(pc.NBv);
    uint tph = (NB + SGW_ROWS - 1u) / SGW_ROWS, tiles = vox_u64lo(pc.BH) * tph;
    uint sbase = pc.off[5] + g * vox_u64lo(pc.per_block);
    double scale64 = packDouble2x32(pc.scale);
    bool vec = D % 4u == 0u && pc.off[1] % 4u == 0u; /* uniform */
    uint S = gl_SubgroupSize, lane = gl_SubgroupInvocationID;
    for (uint t = g; t < tiles; t += pc.wg_count) {
        uint bh = t / tph, i0 = (t - bh * tph) * SGW_ROWS;
        uint nv = NBv > i0 ? min(NBv - i0, SGW_ROWS) : 0u, nr = min(NB - i0, SGW_ROWS);
        uint qat = pc.off[0] + (bh * NB + i0) * D;
        memoryBarrierBuffer();
        barrier(); /* the previous tile's rows are done with the slice and qd */
        for (uint x = tid; x < SGW_ROWS * D; x += WG)
            qd[x] = x < nv * D ? double(qbar[qat + x]) : 0.0LF;
        barrier();
        for (uint j = tid; j < NBv; j += WG) {
            double acc[SGW_ROWS];
            [[unroll]] for (uint r = 0u; r < SGW_ROWS; r++)
                acc[r] = 0.0LF;
            uint kat = pc.off[1] + (bh * NB + j) * D;
            if (vec) {
                for (uint e = 0u; e < D; e += 4u) {
                    vec4 kk = kbar4[(kat + e) / 4u];
                    [[unroll]] for (uint u = 0u; u < 4u; u++) {
                        double dk = double(kk[u]);
                        [[unroll]] for (uint r = 0u; r < SGW_ROWS; r++)
                            acc[r] = fma(qd[r * D + e + u], dk, acc[r]);
                    }
                }
            } else {
                for (uint e = 0u; e < D; e++) {
                    double dk = double(kbar[kat + e]);
                    [[unroll]] for (uint r = 0u; r < SGW_ROWS; r++)
                        acc[r] = fma(qd[r * D + e], dk, acc[r]);
                }
            }
            [[unroll]] for (uint r = 0u; r < SGW_ROWS; r++)
                if (r < nv)
                    st_d(sbase + 2u * (r * NBv + j), acc[r] * scale64);
        }
        memoryBarrierBuffer();
        barrier();
        for (uint r = gl_SubgroupID; r < nr; r += gl_NumSubgroups)
            select_row(bh, i0 + r, r, r < nv, NB, NBv, sbase + 2u * r * NBv, sbase + (2u * SGW_ROWS + r) * NBv, lane,
                       S);
    }
}
#endif /* VOX_GLSL */
