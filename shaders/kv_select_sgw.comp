/* kv_select's TOPK and CUMULATIVE rules with one subgroup per query row: the `kv_select_sgw` variants,
 * named in kv_select.comp's variant table and taken by its launcher on devices with shaderFloat64 and
 * subgroup ballots, head_dim <= 128, fewer than 2^16 video blocks (VOXATTN_VULKAN_KV_SGW=0: the
 * workgroup-per-row variants, which also keep the STAT rule). The OpenCL backend's vox_kv_select_warp
 * (kernels/kv_select_warp.cl) is the same exact algorithm for TOPK.
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
 *    workgroups of SGW_WG2 (256) per tile, SGW_SLOTS rows each, a subgroup per row: a dispatch of its own,
 *    so that its occupancy is not bound by pass 1's registers (the latency of each sweep's loads is what the
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
 *      then its sequential sum in rank order by one lane). Then the cap (n = min(c, max_blocks)) and the
 *      min_blocks top-up, and where n is not c, the n first blocks by TOPK's descent.
 *    The ordered compaction by ballots, S blocks per step: the own block, the global blocks, the keys
 *    above T and the `rem` lowest-index keys equal to T. A row whose p are NaN (a NaN score, or an
 *    infinite max) takes its n first blocks by index, as the reference's order puts NaN after every
 *    number; rows of global query blocks take every block.
 * On these exact scores there is no certificate: the scores are the reference's bit for bit and p follows
 * them through exp_d and one division. NaN and infinities are told by their bits (nan_d, inf_d): with
 * isnan(z) (and exp_d's `x != x`) the H200 failed the NaN-row cases that lavapipe passed. Timing only
 * (VOXATTN_VULKAN_KV_STOP): `tile` pass 1 alone; `row1`, `row2` (SGW_RSTOP): pass 2 up to p, up to T.
 *
 * TOPK on f32 scores (SGW_F32, session 26; the launcher's default for TOPK, VOXATTN_VULKAN_KV_TOPK_F64=1
 * the exact path above; and for CUMULATIVE since session 35 with SGW_MASS, cum_f32 below, the port of CUDA's
 * vox_kf_cum, VOXATTN_VULKAN_KV_CUM_F32=0 the exact path): the CUDA path's algorithm
 * (backends/gpu/kernels/kv_select_fast.cuh, vox_kf_topk),
 * so that TOPK is one design on CUDA, Vulkan and OpenCL (kernels/kv_select_f32.cl). Tiles of 32 rows, three
 * dispatches per wave:
 * 1. kv_select_sgw_fs: each score one f32 fma chain over the dims (SGW_CHUNK 128; a smaller SGW_CHUNK sums
 *    chunks apart, the bound follows it), 2 keys x 32 rows an invocation; the head's largest f32 key sum of
 *    squares and the rows' largest and smallest scores, after the scores in the slice (F).
 * 2. kv_select_sgw_f, a subgroup per row, 4 rows a workgroup of 128 (topk_f32; CUMULATIVE's cum_f32 fills its
 *    mass descent's first radix pass in the weights sweep): the bound on |a_j - qbar.kbar_j| from |q| and the
 *    largest key norm; the n-th largest score T by a 256-bin histogram linear in a over the row's range,
 *    the boundary bin's blocks and counting; the window T +- W (W from the bound and the gap delta that
 *    orders the reference's p strictly); blocks above it are in, below it out, the band between them
 *    (at most SGW_BAND) re-scored exactly in f64 (bitwise the reference's s) and ranked by (s desc, index
 *    asc), refused where a band score lies within delta of the weakest taken one unless equal to it. The
 *    list by ballots (a > thi, the band's taken blocks marked +inf). A row it cannot certify (a range f32
 *    cannot bin, a crowded boundary bin, a wide band, p possibly subnormal, a near tie) sets its flag.
 *    It appends its row to the build's fallback list instead of writing a list.
 * 3. kv_select_sgw_fb (SGW_PASS 3), once after the last wave (one dispatch, not one a wave: each waits for
 *    its slowest row), a fixed number of workgroups taking the listed rows in turn: a row's exact f64
 *    scores into the workgroup's area of the scratch (3 NBv words: the scores, then the replay's ranks),
 *    then select_row above by one subgroup.
 *    Scratch of the f32 path (f_lead, f_slice): the list first (its count, then up to BH NB rows), then a
 *    slice a tile: its 32 rows' f32 scores (one word a key: twice the tiles a wave that in-place f64
 *    scores allowed, three times for CUMULATIVE) and SGW_FW words.
 * VOXATTN_VULKAN_KV_FALLBACK (tests, kv_select_sgw_f_all) sends every row through 3;
 * VOXATTN_VULKAN_KV_DEBUG counts topk_f32's refusals by reason (a blocking read, diagnosis only). */
#ifdef VOX_GLSL
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : enable
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_ballot : require
#ifndef SGW_ROWS
#define SGW_ROWS 16u /* query rows per tile (the launcher's VK_SGW_ROWS; SGW_F32 and its fallback: VK_SGW_ROWS_F32) */
#endif
#ifndef SGW_PASS
#define SGW_PASS 2 /* 1: the tiles' scores (kv_select_sgw_s), 2: their rows' selection */
#endif
#ifndef SGW_F32
#define SGW_F32 0 /* TOPK on f32 scores with a certificate (kv_select_sgw_fs, _f; the fallback: SGW_PASS 3) */
#endif
/* rows selected at once by a workgroup of pass 2, each with its bins in shared memory, and its size. The f32
 * path's selection (_f, _f_cum): 4 rows in 128 invocations (on the H100 more workgroups a multiprocessor at its
 * ~96 registers: hunyuan-720p tau 0.9 build 6.266 ms against 6.409 with 8 in 256; _s8 variants: the latter) */
#ifndef SGW_FBWG
#define SGW_FBWG 0 /* the fallback a workgroup a row (kv_select_sgw_fb_wg, _fb_cum_wg; the default since session 41) */
#endif
#if SGW_FBWG && SGW_PASS == 3
#define SGW_SLOTS 1u
#endif
#if SGW_F32 && SGW_PASS == 2
#ifndef SGW_SLOTS
#define SGW_SLOTS 4u
#endif
#ifndef SGW_WG2
#define SGW_WG2 128
#endif
#endif
#ifndef SGW_SLOTS
#define SGW_SLOTS 8u
#endif
#ifndef SGW_WG2
#define SGW_WG2 256
#endif
#ifndef SGW_WFUSE
#define SGW_WFUSE 1 /* the f32 CUMULATIVE's weights sweep fills the mass descent's first radix pass (0: _f_cum_nf) */
#endif
#ifndef SGW_U
#define SGW_U 4u /* sweep steps whose keys are loaded before the first is used (16: slower, session 38; 2 in the f32
                  * CUMULATIVE's selection: slower, session 39) */
#endif
#ifndef SGW_KPT
#define SGW_KPT 2u /* key blocks per invocation in pass 1 */
#endif
#define SGW_DMAX 128u /* head_dim at most (the launcher checks) */
#define SGW_ALL 0xffffffffu
#ifndef SGW_MASS
#define SGW_MASS 0 /* the CUMULATIVE rule's mass bins (kv_select_sgw_cum) */
#endif
#define SGW_HALVES (SGW_ROWS / SGW_SLOTS) /* workgroups per tile in pass 2 */
#define SGW_WG1 128 /* pass 1's workgroup size (H200, hunyuan-720p's size: 2.53 ms against 2.71 with 256) */
#if SGW_PASS == 1
#define WG uint(SGW_WG1)
#elif SGW_PASS == 3
#define WG uint(SGW_WG1)
#else
#define WG uint(SGW_WG2)
#endif
#ifndef SGW_NOREPLAY
#define SGW_NOREPLAY false /* tests only (kv_select_sgw_cum_nr, VOXATTN_VULKAN_KV_NO_REPLAY): no replay */
#endif
#ifndef SGW_CHUNK
#define SGW_CHUNK 16 /* kv_select_sgw_fs: dims summed apart before joining a score's running sum (topk_f32's bound) */
#endif
#ifndef SGW_RSPLIT
#define SGW_RSPLIT 1 /* kv_select_sgw_fs: 2: each half of the workgroup half the tile's rows (_c16h) */
#endif
#define SGW_RI (SGW_ROWS / SGW_RSPLIT) /* kv_select_sgw_fs: rows an invocation */
#ifndef SGW_DBG
#define SGW_DBG 0 /* diagnosis only (kv_select_sgw_f_dbg, VOXATTN_VULKAN_KV_DEBUG): topk_f32's reasons counted */
#endif
#ifndef SGW_FALLALL
#define SGW_FALLALL 0 /* tests only (kv_select_sgw_f_all, VOXATTN_VULKAN_KV_FALLBACK): every row to the fallback */
#endif
#ifndef SGW_FBPRE
#define SGW_FBPRE 0 /* kv_select_sgw_fb_pre (1) scores the fallback's first round of rows a workgroup a row, and
                     * kv_select_sgw_fb_cum_p2 / _fb_p2 (2) then select them without scoring */
#endif
#ifndef SGW_FBSTOP
#define SGW_FBSTOP 0 /* timing only (VOXATTN_VULKAN_KV_FB_STOP=scores): the fallback's exact scores alone, no lists */
#endif
#ifndef SGW_RSTOP
#define SGW_RSTOP 0 /* timing only (VOXATTN_VULKAN_KV_STOP=row1 / row2): pass 2 up to p / up to T, no lists */
#endif
#define SGW_WORDS (SGW_MASS != 0 ? 4u : 1u)

#if SGW_PASS == 1 || SGW_PASS == 3
layout(local_size_x = SGW_WG1) in;
#else
layout(local_size_x = SGW_WG2) in;
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

/* the tile's qbar rows, widened: rows 2k and 2k + 1 of dim e at qd[e * SGW_ROWS / 2 + k]; SGW_F32: as
 * floats, rows 4k .. 4k + 3 of dim e at qf[e * SGW_ROWS / 4 + k] */
#if SGW_PASS == 1 && SGW_F32
shared vec4 qf[SGW_DMAX * SGW_ROWS / 4];
shared float nkr[SGW_WG1];
shared uint rhi[SGW_ROWS], rlo[SGW_ROWS]; /* the rows' largest and smallest scores as ordered keys (okey_f) */
#elif SGW_PASS == 1
shared dvec2 qd[SGW_DMAX * SGW_ROWS / 2];
#elif SGW_PASS == 2 && SGW_F32
/* slot r's work: the histogram of the scores (256 bins), then the boundary bin's blocks (value bits at
 * [k], index at [SGW_CAND + k]); the band's blocks and exact scores */
#define SGW_CAND 256u
#define SGW_BAND 64u
shared uint wk[SGW_SLOTS][2u * SGW_CAND];
#if SGW_MASS
shared uint msum[SGW_SLOTS][2][256]; /* CUMULATIVE: the bins' masses, floor(w 2^36) in two 18-bit limbs */
#endif
shared uint bjs[SGW_SLOTS][SGW_BAND];
shared double bss[SGW_SLOTS][SGW_BAND];
#else
#if SGW_PASS == 3
shared double qrow[SGW_SLOTS][SGW_DMAX]; /* each fallback unit's row's qbar, widened */
#endif
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

#if SGW_PASS == 3 || (SGW_PASS == 2 && !SGW_F32) /* the exact selection's functions */
/* Their collectives over a row's invocations (lanes 0 .. S - 1, uniform control flow): a subgroup's, or with
 * SGW_FBWG (the fallback a workgroup a row) the workgroup's: each subgroup's result through shared memory and
 * two barriers, the subgroups joined in the order of gl_SubgroupID, so that lane gl_SubgroupID gl_SubgroupSize +
 * gl_SubgroupInvocationID orders the blocks of a step as a subgroup's lanes do. cl_scan: the exclusive sum
 * over the lanes before this one, and in tot the sum over all; cl_bal: a ballot's count before this lane and
 * in all. */
#if SGW_FBWG
shared uvec4 wcu[32]; /* per subgroup (subgroups of 4 or more in 128 invocations) */
shared double wcd[32];
uvec4 cl_scan(uvec4 x, out uvec4 tot)
{
    uvec4 ex = subgroupExclusiveAdd(x), su = subgroupAdd(x), before = uvec4(0u);
    barrier(); /* the previous collective's reads */
    if (subgroupElect())
        wcu[gl_SubgroupID] = su;
    barrier();
    tot = uvec4(0u);
    for (uint i = 0u; i < gl_NumSubgroups; i++) {
        before += i < gl_SubgroupID ? wcu[i] : uvec4(0u);
        tot += wcu[i];
    }
    return before + ex;
}
uvec4 cl_maxu4(uvec4 x)
{
    uvec4 m = subgroupMax(x);
    barrier();
    if (subgroupElect())
        wcu[gl_SubgroupID] = m;
    barrier();
    m = wcu[0];
    for (uint i = 1u; i < gl_NumSubgroups; i++)
        m = max(m, wcu[i]);
    return m;
}
/* op 0 the sum, 1 the max, 2 the min of doubles (never NaN where used) */
double cl_red(double x, uint op)
{
    double v = op == 0u ? subgroupAdd(x) : op == 1u ? subgroupMax(x) : subgroupMin(x);
    barrier();
    if (subgroupElect())
        wcd[gl_SubgroupID] = v;
    barrier();
    v = wcd[0];
    for (uint i = 1u; i < gl_NumSubgroups; i++)
        v = op == 0u ? v + wcd[i] : op == 1u ? max(v, wcd[i]) : min(v, wcd[i]);
    return v;
}
uvec2 cl_bal(bool b)
{
    uvec4 t;
    uint ex = cl_scan(uvec4(b ? 1u : 0u, 0u, 0u, 0u), t).x;
    return uvec2(ex, t.x);
}
#define CL_SYNC() memoryBarrierShared(), memoryBarrierBuffer(), barrier()
#define CL_ELECT() (gl_SubgroupID == 0u && subgroupElect())
#define CL_ADDD(x) cl_red(x, 0u)
#define CL_MAXD(x) cl_red(x, 1u)
#define CL_MIND(x) cl_red(x, 2u)
#define CL_MAXU4(x) cl_maxu4(x)
#else
uvec4 cl_scan(uvec4 x, out uvec4 tot)
{
    tot = subgroupAdd(x);
    return subgroupExclusiveAdd(x);
}
uvec2 cl_bal(bool b)
{
    uvec4 m = subgroupBallot(b);
    return uvec2(subgroupBallotExclusiveBitCount(m), subgroupBallotBitCount(m));
}
#define CL_SYNC() subgroupMemoryBarrierShared(), subgroupMemoryBarrierBuffer(), subgroupBarrier()
#define CL_ELECT() subgroupElect()
#define CL_ADDD(x) subgroupAdd(x)
#define CL_MAXD(x) subgroupMax(x)
#define CL_MIND(x) subgroupMin(x)
#define CL_MAXU4(x) subgroupMax(x)
#endif
#define CL_ANY(b) (cl_bal(b).y > 0u)
/* One radix pass's bins for slot r: the digits over [lo, hi) of the keys of row P (np of them) in the
 * bucket prefix, counted (mass: with their limbs' sums). Subgroup-uniform. */
void bins_fill(uint r, uint P, uint np, uvec2 kmin, uvec2 prefix, uint lo, uint hi, bool mass, uint lane, uint S)
{
    for (uint b = lane; b < (mass ? 4u : 1u) * 256u; b += S)
        bins[r][b >> 8][b & 255u] = 0u;
    CL_SYNC();
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
    CL_SYNC();
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
        uvec4 all4;
        uint xc = cl_scan(uvec4(tot, 0u, 0u, 0u), all4).x, fb = 0u, fx = 0u, fc = 0u;
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
        uvec4 f = CL_MAXU4(uvec4(fb, fx, fc, 0u));
        uint bin = f.x, bxc = f.y, bcnt = f.z;
        CL_SYNC(); /* read before the next pass clears */
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
        uvec4 all4, xs = cl_scan(uvec4(tot, ms), all4);
        uint xc = xs.x, all = all4.x;
        double before = mass_of(xs.yzw);
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
        bool any = CL_ANY(hit);
        uvec4 f = CL_MAXU4(uvec4(fb, fx, fc, 0u));
        uint bin = f.x, bxc = f.y;
        cnt = f.z;
        double run = CL_MAXD(frun);
        CL_SYNC(); /* read before the next pass clears */
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
    uvec2 em = cl_bal(ise);
    bool take = v && (key_gt(k, T) || (ise && (rem == SGW_ALL || eq + em.x < rem)));
    eq += em.y;
    return take;
}

/* The subgroup's sum of the p of the blocks T and rem select (in_top), and in last their smallest.
 * Subgroup-uniform. */
double top_sum(uint P, uint NBv, uvec2 T, uint rem, uint lane, uint S, out double last)
{
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
    last = CL_MIND(lmin);
    return CL_ADDD(ls);
}

/* Row i = i0 + r of head bh (a video row when r < nv), its tile's scores at P + 2j; CUMULATIVE's replay
 * ranks at O + rank. */
void select_row(uint bh, uint i, uint r, bool video, uint NB, uint NBv, uint P, uint O, uint lane, uint S)
{
    uint m = bh * NB + i;
    bool cum = pc.rule == 0;
    uint n = cum ? NBv : min(uint(pc.max_blocks), NBv); /* max_blocks: TOPK's count, CUMULATIVE's cap */
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
    double mx = CL_MAXD(lmx);
    /* the reference's z is NaN, and so is every p (the index order, keys 0), where a score is NaN or
     * the max is infinite (+Inf - +Inf, or every score -Inf); else every s - max is finite or -Inf */
    bool by_index = CL_ANY(lnan);
    by_index = act && (by_index || inf_d(mx));
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
    double z = CL_ADDD(lz), lpmin = 1.0LF, lpmax = 0.0LF;
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
    uvec2 kmin = unpackDouble2x32(CL_MIND(lpmin));
    uint len = len64(sub64(unpackDouble2x32(CL_MAXD(lpmax)), kmin));
#if SGW_RSTOP == 1 /* timing: the work up to here kept by a store to the row's replay area; empty lists */
    if (CL_ELECT())
        scratch[O] = len, kv_count[pc.off[3] + m] = 0;
    return;
#endif
    uvec2 T;
    uint rem;
    bool have = false; /* T and rem are those of the n first blocks */
#if SGW_MASS
    if (cum && video) { /* subgroup-uniform */
        double tau = packDouble2x32(pc.tau);
        bool go = !nan_d(tau) && tau > 0.0LF;
        uint c = 0u, cap = uint(pc.max_blocks);
        double mg = double(4u * NBv + 512u) * (1.0LF / 4503599627370496.0LF);
        /* a binding cap first: the cap first p summing (within mg of the reference's sequential sum) below
         * tau means more than cap blocks are admitted, so n = cap with that descent's T and rem */
        bool capped = false;
        if (go && !by_index && cap < NBv) {
            top_n(r, P, np, cap, by_index, kmin, len, lane, S, T, rem);
            double last;
            capped = top_sum(P, NBv, T, rem, lane, S, last) + mg < tau;
        }
        if (capped)
            c = cap, have = true;
        else if (by_index) /* the first block's mass before is 0 (< tau), the next one's NaN */
            c = go ? 1u : 0u;
        else if (go) {
            c = mass_count(r, P, NBv, tau, kmin, len, lane, S, T, rem);
            /* certified when the reference's sequential sums of the c - 1 and c first p (within mg of any
             * sum of ours: exactly kv_select.comp's margin, which covers exp_d against libm too) fall on
             * either side of tau */
            have = true;
            double last, sc = top_sum(P, NBv, T, rem, lane, S, last);
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
                CL_SYNC();
                uint cc = 0u;
                if (CL_ELECT()) {
                    double before = 0.0LF;
                    for (; cc < NBv && before < tau; cc++)
                        before += ld_p(P + 2u * scratch[O + cc]);
                }
                c = CL_MAXU4(uvec4(cc)).x;
                have = false;
                CL_SYNC();
            }
        }
        n = min(c, uint(pc.max_blocks)); /* the cap */
        if (n < uint(pc.min_blocks))
            n = min(uint(pc.min_blocks), NBv);
        have = have && n == c; /* else the n first by TOPK's descent */
    }
#endif
    if (!have)
        top_n(r, P, np, n, by_index, kmin, len, lane, S, T, rem);
#if SGW_RSTOP == 2 /* timing, as SGW_RSTOP 1 (a count from T would send the host past the lists) */
    if (CL_ELECT())
        scratch[O] = T.x ^ rem, kv_count[pc.off[3] + m] = 0;
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
            uvec2 pm = cl_bal(pick);
            if (pick)
                kv_cols[at + base + pm.x] = int(j);
            base += pm.y;
        }
    }
    if (CL_ELECT())
        kv_count[pc.off[3] + m] = int(base);
}

#endif

/* f32 and f64 values told finite by their bits (NVIDIA's compiler may drop NaN tests by comparison) */
bool fin_f(float x) { return (floatBitsToUint(x) & 0x7f800000u) != 0x7f800000u; }
bool fin_d(double x) { return (unpackDouble2x32(x).y & 0x7ff00000u) != 0x7ff00000u; }
double p2(int e) { return ldexp(1.0LF, e); }
float p2f(int e) { return ldexp(1.0, e); }
#define SGW_FW 128u /* words at the end of an f32 path's slice (the launcher's VK_SGW_F32_WORDS) */
/* The f32 path's words of the slice at sbase: the head's largest key norm, the rows' extremes */
uint f_area(uint sbase) { return sbase + vox_u64lo(pc.per_block) - SGW_FW; }
/* The f32 path's scratch: the fallback list at pc.off[5] (its count, then the rows m = bh NB + i), 1 + BH NB
 * words rounded up to even (so the slices keep the binding's 8-byte parity; kernel_args.h), then tile tl's
 * slice */
uint f_lead() { return VOX_KV_LIST_WORDS(vox_u64lo(pc.BH) * vox_u64lo(pc.NB), 2u); }
uint f_slice(uint tl) { return pc.off[5] + f_lead() + tl * vox_u64lo(pc.per_block); }
/* The fallback's unit k's area (SGW_PASS 3: 3 NBv words rounded up to even, in the slices' room): the row's
 * exact scores, then the replay's ranks */
uint fb_area(uint k, uint NBv) { return f_slice(0u) + k * ((3u * NBv + 1u) & ~1u); }
/* f32 order as unsigned order (finite values and infinities; NaN apart) and back */
uint okey_f(float x)
{
    uint u = floatBitsToUint(x);
    return (u & 0x80000000u) != 0u ? ~u : u | 0x80000000u;
}
float okey_inv(uint k) { return uintBitsToFloat((k & 0x80000000u) != 0u ? k & 0x7fffffffu : ~k); }

#if SGW_PASS == 2 && SGW_F32 /* TOPK on the f32 scores */
/* The bin of a score: round(clamp(x inv + nb, 0, 255)), monotone non-decreasing in x (every step is), so a
 * higher bin holds only larger scores; one function for every caller */
uint bin_of(float x, float inv, float nb)
{
    precise float t = fma(x, inv, nb);
    return uint(roundEven(clamp(t, 0.0, 255.0)));
}
/* The next f32 toward +inf (up) or -inf from a finite x */
float next_f(float x, bool up)
{
    uint u = floatBitsToUint(x);
    if ((u & 0x7fffffffu) == 0u)
        return uintBitsToFloat(up ? 1u : 0x80000001u);
    return uintBitsToFloat((u >> 31 == 0u) == up ? u + 1u : u - 1u);
}
/* A sweep's next SGW_U steps of f32 scores: block j0 + u S + lane's bits, 0 from n on */
void vals_ahead(uint P, uint j0, uint n, uint lane, uint S, out uint vv[SGW_U])
{
    [[unroll]] for (uint u = 0u; u < SGW_U; u++) {
        uint j = j0 + u * S + lane;
        vv[u] = j < n ? scratch[P + j] : 0u;
    }
}
/* The reference's score of block j for the row whose qbar starts at qat: its f64 sequential sum times
 * scale (bitwise pass 1's of kv_select_sgw_s) */
double dot64(uint qat, uint kat, uint D, double scale)
{
    double acc = 0.0LF;
    for (uint e = 0u; e < D; e++)
        acc = fma(double(qbar[qat + e]), double(kbar[kat + e]), acc);
    return acc * scale;
}

/* The bound of topk_f32 and cum_f32 on pass 1's f32 sums: |a_j - qbar.kbar_j| <= err (chunks of SGW_CHUNK
 * dims summed from 0 in order, gL = gamma_L, their C sums added in order, gamma_C; fused or not; the
 * absolute term covers underflow), A >= |q| max_j |k_j| (f64 sum of q^2 in any order, nk2 the largest f32
 * key sum of squares), Bs >= |s_j|. False where it does not hold (non-finite means, D > 4096, scale outside
 * [2^-100, inf), A >= 2^100). Subgroup-uniform. */
bool score_bound(uint qat, uint D, float nk2, double scale, uint lane, uint S, out double A, out double err,
                 out double Bs)
{
    double Dd = double(D), u24 = p2(-24), lq = 0.0LF;
    for (uint e = lane; e < D; e += S) {
        double x = double(qbar[qat + e]);
        lq += x * x;
    }
    double nq2 = subgroupAdd(lq);
    double g32 = Dd * u24 / (1.0LF - Dd * u24);
    double nkb = sqrt((double(nk2) + Dd * p2(-125)) / (1.0LF - g32) * (1.0LF + p2(-40)));
    double nqb = sqrt(nq2 * (1.0LF + p2(-40)));
    A = nqb * nkb * (1.0LF + p2(-40));
    double L = double(min(uint(SGW_CHUNK), D)), C = ceil(Dd / L), gC = C * u24 / (1.0LF - C * u24),
           gL = L * u24 / (1.0LF - L * u24);
    err = (gL + gC * (1.0LF + gL)) * (1.0LF + p2(-40)) * A + 2.0LF * Dd * p2(-125) * (1.0LF + nqb + nkb);
    Bs = scale * (A + err) * (1.0LF + p2(-40));
    return fin_f(nk2) && fin_d(nq2) && fin_d(scale) && D <= 4096u && scale >= p2(-100) && A < p2(100);
}

/* The band's decision (nb blocks at bjs[r], rr of them to take): where 0 < rr < nb, their exact scores
 * (bitwise the reference's s) ranked by (s desc, index asc), the rr best taken; false where a band score lies
 * within delta of the weakest taken one without being equal to it (the reference's p may order them either
 * way). The taken blocks' values at P become +inf, the others `other`. Subgroup-uniform. */
bool band_take(uint r, uint P, uint nb, uint rr, uint qat, uint kb, uint D, double scale, double delta, uint other,
               uint lane, uint S)
{
    if (rr > 0u && rr < nb) {
        for (uint b = lane; b < nb; b += S)
            bss[r][b] = dot64(qat, kb + bjs[r][b] * D, D, scale);
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        double lss = double(NEG_INF);
        for (uint b = lane; b < nb; b += S) {
            double sb = bss[r][b];
            uint jb = bjs[r][b], rank = 0u;
            for (uint c = 0u; c < nb; c++)
                rank += bss[r][c] > sb || (bss[r][c] == sb && bjs[r][c] < jb) ? 1u : 0u;
            if (rank == rr - 1u)
                lss = sb;
            scratch[P + jb] = rank < rr ? 0x7f800000u : other;
        }
        double ss = subgroupMax(lss);
        bool close = false;
        for (uint b = lane; b < nb; b += S) {
            double sb = bss[r][b];
            close = close || !(sb == ss || abs(sb - ss) > delta);
        }
        if (subgroupBallotBitCount(subgroupBallot(close)) > 0u)
            return false;
    } else {
        for (uint b = lane; b < nb; b += S)
            scratch[P + bjs[r][b]] = rr > 0u ? 0x7f800000u : other;
    }
    subgroupMemoryBarrierBuffer();
    subgroupBarrier();
    return true;
}

/* Whether the n largest of the row's f32 scores a_j (at P + j; 0 < n < NBv) are certainly the reference's
 * n first blocks (by p, ties by index), and then *thi: the list takes the blocks with a_j > thi, the band's
 * taken blocks marked +inf in place (the others -inf). The bound, the window and the band are those of the
 * CUDA path's TOPK on the scores (kv_select_fast.cuh: vox_kf_row, vox_kf_topk; the same constants):
 *   |a_j - qbar.kbar_j| <= err = (gL + gC (1 + gL)) A + 2 D 2^-125 (1 + |q| + |k|)
 * for pass 1's sums (chunks of 16 dims summed from 0 in order, gL = gamma_16, their C sums added in order,
 * gamma_C; fused or not), A >= |q| max_j |k_j|; Es bounds |s_j - scale a_j| (the reference's rounding of its
 * f64 sum and scale included) and delta the gap that orders the reference's p strictly (when p is normal).
 * T: the n-th largest a, by a histogram of 256 bins linear in a over [amin, amax], its boundary bin's
 * blocks (at most SGW_CAND) and counting. Blocks above T + W are in, below T - W out (W >= (2 Es +
 * delta) / scale), the rest (the band, at most SGW_BAND) re-scored exactly and ranked by (s desc, index
 * asc); no band score may lie within delta of the weakest taken one unless equal to it. False: the row
 * goes to the fallback (its f64 scores and the exact selection, SGW_PASS 3). Subgroup-uniform. */
/* topk_f32's "no": the reason counted where SGW_DBG (slice 0's words after the flags) */
bool fail(uint k)
{
#if SGW_DBG
    if (subgroupElect())
        atomicAdd(scratch[f_area(f_slice(0u)) + 100u + k], 1u);
#endif
    return false;
}
bool topk_f32(uint bh, uint m, uint h, uint r, uint NB, uint NBv, uint n, uint P, uint F, float nk2, uint lane,
              uint S, out float thi_out)
{
    thi_out = 0.0;
    uint D = vox_u64lo(pc.D), qat = pc.off[0] + m * D;
    double scale = packDouble2x32(pc.scale), Dd = double(D), u24 = p2(-24);
    double A, err, Bs;
    bool bounded = score_bound(qat, D, nk2, scale, lane, S, A, err, Bs);
    double delta = p2(-47) + p2(-49) * Bs;
    double Es = (scale * (err + Dd * p2(-53) * 1.01LF * A) + p2(-52) * Bs) * (1.0LF + p2(-30));
    if (!bounded)
        return fail(0);
    /* the range: pass 1's (the extremes of the same f32 values) */
    float amax = okey_inv(scratch[F + 1u + 2u * h]), amin = okey_inv(scratch[F + 2u + 2u * h]);
    float span = amax - amin, inv = 255.0 / span, nb0 = -amin * inv;
    if (!(fin_f(amax) && fin_f(amin) && fin_f(span) && fin_f(inv) && fin_f(nb0) && span > 0.0 && inv > 0.0))
        return fail(1); /* every score equal, or a range f32 cannot scale */
    /* the histogram */
    for (uint b = lane; b < 256u; b += S)
        wk[r][b] = 0u;
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    for (uint j0 = 0u; j0 < NBv; j0 += SGW_U * S) {
        uint vv[SGW_U];
        vals_ahead(P, j0, NBv, lane, S, vv);
        [[unroll]] for (uint u = 0u; u < SGW_U; u++)
            if (j0 + u * S + lane < NBv)
                atomicAdd(wk[r][bin_of(uintBitsToFloat(vv[u]), inv, nb0)], 1u);
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    /* the bin B where the count from the top reaches n: above = #{bins > B}, rem = n - above */
    uint nbl = 256u / S, top = 255u - nbl * lane, tot = 0u;
    for (uint q = 0u; q < nbl; q++)
        tot += wk[r][top - q];
    uint xc = subgroupExclusiveAdd(tot), fb = 0u, fx = 0u, fc = 0u;
    if (xc < n && n <= xc + tot) {
        uint acc = xc;
        for (uint q = 0u; q < nbl; q++) {
            uint c = wk[r][top - q];
            if (acc < n && n <= acc + c)
                fb = top - q, fx = acc, fc = c;
            acc += c;
        }
    }
    uint B = subgroupMax(fb), above = subgroupMax(fx), cnt = subgroupMax(fc), rem = n - above;
    subgroupBarrier(); /* the histogram read before the candidates overwrite it */
    if (cnt > SGW_CAND)
        return fail(2);
    /* B's blocks (value bits, index), in index order */
    uint base = 0u;
    for (uint j0 = 0u; j0 < NBv; j0 += SGW_U * S) {
        uint vv[SGW_U];
        vals_ahead(P, j0, NBv, lane, S, vv);
        [[unroll]] for (uint u = 0u; u < SGW_U; u++) {
            uint j = j0 + u * S + lane;
            bool inb = j < NBv && bin_of(uintBitsToFloat(vv[u]), inv, nb0) == B;
            uvec4 bm = subgroupBallot(inb);
            if (inb) {
                uint at = base + subgroupBallotExclusiveBitCount(bm);
                wk[r][at] = vv[u], wk[r][SGW_CAND + at] = j;
            }
            base += subgroupBallotBitCount(bm);
        }
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    /* T: the rem-th largest of B's values (with multiplicity) */
    float tl = NEG_INF;
    for (uint k = lane; k < cnt; k += S) {
        float vk = uintBitsToFloat(wk[r][k]);
        uint gt = 0u, ge = 0u;
        for (uint c = 0u; c < cnt; c++) {
            float vc = uintBitsToFloat(wk[r][c]);
            gt += vc > vk ? 1u : 0u, ge += vc >= vk ? 1u : 0u;
        }
        if (gt < rem && rem <= ge)
            tl = vk; /* every lane that finds it finds the same value */
    }
    double Tp = double(subgroupMax(tl));
    /* the window [tlo, thi] around T, within B */
    double W = (2.0LF * Es + delta) / scale * (1.0LF + p2(-20));
    float thi = float(Tp + W), tlo = float(Tp - W);
    if (fin_f(thi) && double(thi) < Tp + W)
        thi = next_f(thi, true);
    if (fin_f(tlo) && double(tlo) > Tp - W)
        tlo = next_f(tlo, false);
    if (!(fin_f(thi) && fin_f(tlo) && double(thi) >= Tp + W && double(tlo) <= Tp - W))
        return fail(3);
    if (!(scale * (double(amax) - double(tlo)) + 2.0LF * Es <= 60.0LF))
        return fail(4); /* p of a band block may not be normal */
    /* in: the blocks above thi; the band: those in [tlo, thi]. Where the window lies in B (every block of a
     * higher bin is above thi, of a lower one below tlo), from B's blocks; else by a sweep of the row */
    uint nin = 0u, nb = 0u;
    if (bin_of(thi, inv, nb0) == B && bin_of(tlo, inv, nb0) == B) {
        for (uint k0 = 0u; k0 < cnt; k0 += S) {
            uint k = k0 + lane;
            float v = k < cnt ? uintBitsToFloat(wk[r][k]) : 0.0;
            bool bd = k < cnt && v >= tlo && v <= thi;
            nin += k < cnt && v > thi ? 1u : 0u;
            uvec4 bm = subgroupBallot(bd);
            uint at = nb + subgroupBallotExclusiveBitCount(bm);
            if (bd && at < SGW_BAND)
                bjs[r][at] = wk[r][SGW_CAND + k];
            nb += subgroupBallotBitCount(bm);
        }
        nin = above + subgroupAdd(nin);
    } else {
        for (uint j0 = 0u; j0 < NBv; j0 += SGW_U * S) {
            uint vv[SGW_U];
            vals_ahead(P, j0, NBv, lane, S, vv);
            [[unroll]] for (uint u = 0u; u < SGW_U; u++) {
                uint j = j0 + u * S + lane;
                float v = uintBitsToFloat(vv[u]);
                bool bd = j < NBv && v >= tlo && v <= thi;
                nin += j < NBv && v > thi ? 1u : 0u;
                uvec4 bm = subgroupBallot(bd);
                uint at = nb + subgroupBallotExclusiveBitCount(bm);
                if (bd && at < SGW_BAND)
                    bjs[r][at] = j;
                nb += subgroupBallotBitCount(bm);
            }
        }
        nin = subgroupAdd(nin);
    }
    if (nb > SGW_BAND || nin > n || n - nin > nb)
        return fail(5);
    uint rr = n - nin; /* the band's blocks to take */
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    if (!band_take(r, P, nb, rr, qat, pc.off[1] + bh * NB * D, D, scale, delta, 0xff800000u, lane, S))
        return fail(6);
    thi_out = thi;
    return true;
}

#if SGW_MASS /* CUMULATIVE on the f32 scores: CUDA's vox_kf_cum (kv_select_fast.cuh) */
/* floor(w 2^36) (w in [0, 1]) into two 18-bit limbs of slot r's bin b: 32-bit sums exact in any order while
 * NBv < 2^14 (the launcher checks). The limbs from w's bits by integer shifts (w = m 2^(max(e, 1) - 150), so
 * w 2^36 = m 2^s, s <= 13): the f64 floor's value bit for bit, without f64 conversions. */
void mass_add(uint r, uint b, float w)
{
    uint u = floatBitsToUint(w), e = u >> 23, m = (u & 0x7fffffu) | (e != 0u ? 0x800000u : 0u);
    int s = int(max(e, 1u)) - 114;
    uint lo, hi;
    if (s >= 0) { /* m 2^s: its low 18 bits and the rest (s <= 13: m 2^s < 2^37) */
        lo = (m << uint(s)) & 0x3ffffu;
        hi = m >> uint(18 - s);
    } else {
        uint x = s > -32 ? m >> uint(-s) : 0u;
        lo = x & 0x3ffffu;
        hi = x >> 18;
    }
    atomicAdd(msum[r][0][b], lo);
    atomicAdd(msum[r][1][b], hi);
}
double mass_at(uint r, uint b) { return double(msum[r][0][b]) + double(msum[r][1][b]) * 262144.0LF; }

/* Slot r's bins emptied (mass: their masses too), for the subgroup to fill */
void wclear(uint r, bool mass, uint lane, uint S)
{
    for (uint b = lane; b < 256u; b += S) {
        wk[r][b] = 0u;
        if (mass)
            msum[r][0][b] = 0u, msum[r][1][b] = 0u;
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
}
/* The weight of bits wb into slot r's bin b (mass: with its mass) */
void wput(uint r, uint b, uint wb, bool mass)
{
    atomicAdd(wk[r][b], 1u);
    if (mass)
        mass_add(r, b, uintBitsToFloat(wb));
}

/* One radix pass's bins for slot r over the weights' bits (at P + j, j < NBv) in [kmin, kmin + 2^len): the
 * digits [lo, hi) of rel = bits - kmin for the rel whose bits from hi up equal prefix's; with the masses. */
void wbins(uint r, uint P, uint NBv, uint kmin, uint prefix, uint lo, uint hi, bool mass, uint lane, uint S)
{
    wclear(r, mass, lane, S);
    for (uint j0 = 0u; j0 < NBv; j0 += SGW_U * S) {
        uint vv[SGW_U];
        vals_ahead(P, j0, NBv, lane, S, vv);
        [[unroll]] for (uint u = 0u; u < SGW_U; u++) {
            uint rel = vv[u] - kmin;
            if (j0 + u * S + lane < NBv && (hi >= 32u || ((rel ^ prefix) >> hi) == 0u)) {
                wput(r, (rel >> lo) & ((1u << (hi - lo)) - 1u), vv[u], mass);
            }
        }
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
}

/* The n-th largest weight's bits (0 < n < NBv), or the low end of a bucket taken whole: #{w >= T} >= n,
 * #{w > T} <= n (vox_kf_top_value) */
uint top_value(uint r, uint P, uint NBv, uint n, uint kmin, uint len, uint lane, uint S)
{
    uint nbl = 256u / S, top = 255u - nbl * lane, prefix = 0u, rem = n, hi = len, lo = len > 8u ? len - 8u : 0u;
    while (true) {
        wbins(r, P, NBv, kmin, prefix, lo, hi, false, lane, S);
        uint tot = 0u;
        for (uint q = 0u; q < nbl; q++)
            tot += wk[r][top - q];
        uint xc = subgroupExclusiveAdd(tot), fb = 0u, fx = 0u, fc = 0u;
        if (xc < rem && rem <= xc + tot) {
            uint acc = xc;
            for (uint q = 0u; q < nbl; q++) {
                uint c = wk[r][top - q];
                if (acc < rem && rem <= acc + c)
                    fb = top - q, fx = acc, fc = c;
                acc += c;
            }
        }
        uint bin = subgroupMax(fb), cnt = subgroupMax(fc);
        rem -= subgroupMax(fx);
        subgroupBarrier();
        prefix |= bin << lo;
        if (cnt == rem || lo == 0u)
            break;
        hi = lo, lo = lo > 8u ? lo - 8u : 0u;
    }
    return kmin + prefix;
}

/* vox_kf_cum_certify: c when the exact mass of the c - 1 and c first blocks lie below and at or above tau
 * by the bounds (bp, bc: the fixed-point masses of the c - 1 and c largest w; W: all of them), else -1 */
int cum_certify(uint c, double bp, double bc, double W, uint NBv, double tau, double Ep)
{
    double mu = (2.0LF * double(NBv) + 600.0LF) * p2(-52), m = (2.0LF * double(NBv) + 512.0LF) * p2(-52) + double(NBv) * p2(-120);
    double e2 = (1.0LF / exp_d(-2.0LF * Ep)) * (1.0LF + p2(-40));
    double pp = min((bp + double(NBv)) / W * (1.0LF + mu), 1.0LF);
    double pcv = bc / (W + double(NBv)) * (1.0LF - mu);
    pcv = pcv > 0.0LF ? min(pcv, 1.0LF) : 0.0LF;
    double hi = pp / (pp + (1.0LF - pp) / e2) * (1.0LF + p2(-40));
    double lo = pcv > 0.0LF ? pcv / (pcv + (1.0LF - pcv) * e2) * (1.0LF - p2(-40)) : 0.0LF;
    return hi < tau - m && lo >= tau + m ? int(c) : -1;
}

/* The cumulative count (0 < tau) from the row's weights, or -1 (vox_kf_cum): a radix descent with per-bin
 * counts and fixed-point masses to the block where the running mass of the largest w first reaches tau W,
 * then cum_certify; *T the low end of the bucket it ends in (top_value's T for n = c) */
int cum_count(uint r, uint P, uint NBv, double tau, double Ep, uint kmin, uint len, bool filled, uint lane, uint S,
              out uint T)
{
    uint nbl = 256u / S, prefix = 0u, hi = len, lo = len > 8u ? len - 8u : 0u, above = 0u, cnt = 0u;
    double W = 0.0LF, tgt = 0.0LF, before = 0.0LF;
    T = kmin;
    while (true) {
        if (!filled) /* filled: the first pass's bins came with the weights (SGW_WFUSE) */
            wbins(r, P, NBv, kmin, prefix, lo, hi, true, lane, S);
        filled = false;
        uint ct = 0u;
        double st = 0.0LF;
        for (uint q = 0u; q < nbl; q++) { /* lane l's bins 255 - nbl l - q, descending */
            uint b = 255u - nbl * lane - q;
            ct += wk[r][b], st += mass_at(r, b);
        }
        uint cx = subgroupExclusiveAdd(ct);
        double sx = subgroupExclusiveAdd(st);
        if (hi == len) /* the first pass: every w */
            W = subgroupAdd(st), tgt = tau * W;
        double run = before + sx;
        uint cab = above + cx, hit = 256u, hab = 0u, hc = 0u;
        double hrun = 0.0LF, hs = 0.0LF;
        for (uint q = 0u; q < nbl; q++) {
            uint b = 255u - nbl * lane - q, cq = wk[r][b];
            double sq = mass_at(r, b);
            if (hit == 256u && cq > 0u && run + sq >= tgt)
                hit = nbl * lane + q, hrun = run, hab = cab, hc = cq, hs = sq;
            run += sq, cab += cq;
        }
        uint first = subgroupMin(hit);
        if (first == 256u) /* the mass does not reach tau W */
            return hi == len && tau > 1.0LF + (2.0LF * double(NBv) + 512.0LF) * p2(-52) + p2(-30) ? int(NBv) : -1;
        bool me = hit == first;
        uint bin = 255u - first;
        cnt = subgroupMax(me ? hc : 0u), above = subgroupMax(me ? hab : 0u);
        before = subgroupMax(me ? hrun : 0.0LF);
        double sb = subgroupMax(me ? hs : 0.0LF);
        subgroupBarrier();
        prefix |= bin << lo;
        if (cnt == 1u) {
            T = kmin + prefix;
            return cum_certify(above + 1u, before, before + sb, W, NBv, tau, Ep);
        }
        if (lo == 0u)
            break;
        hi = lo, lo = lo > 8u ? lo - 8u : 0u;
    }
    /* cnt blocks of the same w: the crossing is the t-th of them */
    T = kmin + prefix;
    double Pm = floor(double(uintBitsToFloat(T)) * 68719476736.0LF);
    if (!(Pm > 0.0LF))
        return -1;
    double need = ceil((tgt - before) / Pm);
    uint t = need < 1.0LF ? 1u : need > double(cnt) ? cnt : uint(need);
    return cum_certify(above + t, before + double(t - 1u) * Pm, before + double(t) * Pm, W, NBv, tau, Ep);
}

/* CUMULATIVE's row on the f32 scores (vox_kf_row's path): the bound as topk_f32's with the exponent's
 * errors (E'), w_j = exp((a_j - amax) scale_f) in place, the count by cum_count (certified), the min_blocks
 * top-up, T (the count's, else top_value's), then in: w > T G, out: w G < T, the band between re-scored
 * exactly as topk_f32's. True: the row's marks are in place (taken: w = +inf) and *tg the threshold
 * (pick: w > tg); *n_out the count (0: none; NBv: every video block, no marks needed). */
bool cum_f32(uint bh, uint m, uint h, uint r, uint NB, uint NBv, uint P, uint F, float nk2, uint lane, uint S,
             out float tg, out uint n_out)
{
    tg = 0.0, n_out = 0u;
    uint D = vox_u64lo(pc.D), qat = pc.off[0] + m * D;
    double scale = packDouble2x32(pc.scale), Dd = double(D), u24 = p2(-24);
    double tau = packDouble2x32(pc.tau);
    double A, err, Bs;
    bool bounded = score_bound(qat, D, nk2, scale, lane, S, A, err, Bs);
    float amax = okey_inv(scratch[F + 1u + 2u * h]), amin = okey_inv(scratch[F + 2u + 2u * h]);
    float sf = pc.scale_f;
    /* the exponent's errors: its two f32 roundings, and GLSL's exp within (3 + 2 |x|) ulp (|x| <= X) */
    double X = (double(amax) - double(amin)) * double(sf) * (1.0LF + p2(-20)) + 1.0LF;
    double Ep = (scale * (err + Dd * p2(-53) * 1.01LF * A) + (p2(-52) + p2(-21)) * Bs + p2(-100) + p2(-20) +
                 (3.0LF + 2.0LF * X) * p2(-22)) * (1.0LF + p2(-30));
    double delta = p2(-47) + p2(-49) * Bs;
    if (!(bounded && fin_f(amax) && fin_f(amin) && fin_f(sf) && sf > 0.0 && X < 1000.0LF && 2.0LF * Ep + delta < 0.4LF))
        return fail(0);
    double G = (1.0LF / exp_d(-(2.0LF * Ep + delta))) * (1.0LF + p2(-20));
    float Gf = float(G * (1.0LF + p2(-22)));
    if (double(Gf) < G)
        Gf = next_f(Gf, true);
    /* w in place, its bits' range */
    uint lmn = 0xffffffffu, lmx = 0u;
#if SGW_WFUSE
    /* the weights' range foreseen from the row's extremes: the smallest w is exp((amin - amax) sf), computed
     * as below (256 ulps of room under it), the largest at most 1; cum_count's first radix pass over it
     * filled in the same sweep, and taken where every w fell in it */
    uint pmin = floatBitsToUint(exp((amin - amax) * sf));
    pmin = pmin > 256u ? pmin - 256u : 0u;
    uint plen = pmin < 0x3f800000u ? uint(findMSB(0x3f800000u - pmin)) + 1u : 0u;
    uint plo = plen > 8u ? plen - 8u : 0u, pmask = (1u << (plen - plo)) - 1u;
    wclear(r, true, lane, S);
#endif
    for (uint j0 = 0u; j0 < NBv; j0 += SGW_U * S) {
        uint vv[SGW_U];
        vals_ahead(P, j0, NBv, lane, S, vv);
        [[unroll]] for (uint u = 0u; u < SGW_U; u++) {
            uint j = j0 + u * S + lane;
            if (j < NBv) {
                uint wb = floatBitsToUint(exp((uintBitsToFloat(vv[u]) - amax) * sf));
                scratch[P + j] = wb;
                lmn = min(lmn, wb), lmx = max(lmx, wb);
#if SGW_WFUSE
                if (wb >= pmin && wb <= 0x3f800000u)
                    wput(r, ((wb - pmin) >> plo) & pmask, wb, true);
#endif
            }
        }
    }
    uint kmin = subgroupMin(lmn), kmax = subgroupMax(lmx);
    uint len = kmax > kmin ? uint(findMSB(kmax - kmin)) + 1u : 0u;
    subgroupMemoryBarrierBuffer();
    subgroupMemoryBarrierShared();
    subgroupBarrier();
#if SGW_WFUSE
    bool filled = plen > 0u && kmin >= pmin && kmax <= 0x3f800000u; /* subgroup-uniform */
    uint ckmin = filled ? pmin : kmin, clen = filled ? plen : len;
#else
    bool filled = false;
    uint ckmin = kmin, clen = len;
#endif
#if SGW_RSTOP == 1 /* timing only (kv_select_sgw_f_cum_r1): up to the weights; no blocks taken */
    if (len < 64u)
        return true;
#endif
    if (!(kmax <= 0x3f800000u)) /* every w in [0, 1] */
        return fail(1);
    bool go = !nan_d(tau) && tau > 0.0LF;
    int nc = -1;
    uint n = 0u, Tc = 0u;
    if (go) {
        nc = cum_count(r, P, NBv, tau, Ep, ckmin, clen, filled, lane, S, Tc);
#if SGW_RSTOP == 2 /* timing only (kv_select_sgw_f_cum_r2): up to the count; no blocks taken */
        if (Tc != 1u || nc != -7)
            return true;
#endif
        if (nc < 0)
            return fail(2);
        n = min(uint(nc), uint(pc.max_blocks)); /* the cap: n != nc takes top_value's T */
    }
    if (n < uint(pc.min_blocks))
        n = min(uint(pc.min_blocks), NBv);
    n_out = n;
    if (n == 0u || n >= NBv)
        return true;
    float T = uintBitsToFloat(int(n) == nc ? Tc : top_value(r, P, NBv, n, kmin, len, lane, S));
    if (!(T >= p2f(-90)))
        return fail(3);
    float TG = T * Gf;
    /* in: w > T G; the band: neither in nor w G < T */
    uint nin = 0u, nb = 0u;
    for (uint j0 = 0u; j0 < NBv; j0 += SGW_U * S) {
        uint vv[SGW_U];
        vals_ahead(P, j0, NBv, lane, S, vv);
        [[unroll]] for (uint u = 0u; u < SGW_U; u++) {
            uint j = j0 + u * S + lane;
            float w = uintBitsToFloat(vv[u]);
            bool inb = j < NBv && w > TG, bd = j < NBv && !inb && !(w * Gf < T);
            nin += inb ? 1u : 0u;
            uvec4 bm = subgroupBallot(bd);
            uint at = nb + subgroupBallotExclusiveBitCount(bm);
            if (bd && at < SGW_BAND)
                bjs[r][at] = j;
            nb += subgroupBallotBitCount(bm);
        }
    }
    nin = subgroupAdd(nin);
    if (nb > SGW_BAND || nin > n || n - nin > nb)
        return fail(5);
    uint rr = n - nin;
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    if (!band_take(r, P, nb, rr, qat, pc.off[1] + bh * NB * D, D, scale, delta, 0u, lane, S))
        return fail(6);
    tg = TG;
    return true;
}
#endif

/* Row i = i0 + h of head bh (a video row when video), slot r, its f32 scores at P, the tile's flags at F:
 * the list where TOPK needs no scores or topk_f32 certifies it, else the row's fallback flag. */
void select_row_f32(uint bh, uint i, uint h, uint r, bool video, uint NB, uint NBv, uint P, uint F, uint lane,
                    uint S)
{
    uint m = bh * NB + i;
    float thi = 0.0;
#if SGW_MASS
    uint n = 0u;
    bool ok = !video || (SGW_FALLALL == 0 && cum_f32(bh, m, h, r, NB, NBv, P, F, uintBitsToFloat(scratch[F]), lane, S,
                                                    thi, n));
    bool act = video && n > 0u && n < NBv, all = video && n >= NBv;
#else
    uint n = min(uint(pc.max_blocks), NBv);
    if (n < uint(pc.min_blocks))
        n = min(uint(pc.min_blocks), NBv);
    bool act = video && n > 0u && n < NBv, all = video && n >= NBv;
    bool ok = !act || (SGW_FALLALL == 0 && topk_f32(bh, m, h, r, NB, NBv, n, P, F, uintBitsToFloat(scratch[F]), lane, S,
                                                   thi));
#endif
    if (!ok) { /* to the fallback list (kv_select_sgw_fb after the last wave) */
        if (subgroupElect())
            scratch[pc.off[5] + 1u + atomicAdd(scratch[pc.off[5]], 1u)] = m;
        return;
    }
    uint base = 0u, at = uint(pc.off[4]) + uint(kv_start[pc.off[2] + m]);
    for (uint j0 = 0u; j0 < NB; j0 += SGW_U * S) {
        uint vv[SGW_U];
        vals_ahead(P, j0, act ? NBv : 0u, lane, S, vv);
        [[unroll]] for (uint u = 0u; u < SGW_U; u++) {
            uint j = j0 + u * S + lane;
            bool pick = (act && j < NBv && uintBitsToFloat(vv[u]) > thi) || (all && j < NBv) ||
                        (j < NB && (!video || j >= NBv || j == i));
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

#if SGW_PASS == 3
/* The fallback's exact scores of head bh's keys for the row whose widened qbar is qrow[sl], as kv_select_sgw_s
 * (each key's f64 sum in dim order): invocation x of a group of 2 H takes keys j = x, x + H (two independent
 * chains), then j + 2 H, ...; into P + 2 j */
void fb_scores(uint sl, uint bh, uint x, uint H2, uint NB, uint NBv, uint D, uint P, double scale64, bool vec)
{
    uint H = H2 / 2u;
    for (uint j0 = x; j0 < NBv; j0 += H2) {
        uint j1 = min(j0 + H, NBv - 1u);
        uint kat0 = pc.off[1] + (bh * NB + j0) * D, kat1 = pc.off[1] + (bh * NB + j1) * D;
        double acc0 = 0.0LF, acc1 = 0.0LF;
        if (vec)
            for (uint e = 0u; e < D; e += 4u) {
                vec4 k0 = kbar4[(kat0 + e) / 4u], k1 = kbar4[(kat1 + e) / 4u];
                [[unroll]] for (uint c = 0u; c < 4u; c++) {
                    acc0 = fma(qrow[sl][e + c], double(k0[c]), acc0);
                    acc1 = fma(qrow[sl][e + c], double(k1[c]), acc1);
                }
            }
        else
            for (uint e = 0u; e < D; e++) {
                acc0 = fma(qrow[sl][e], double(kbar[kat0 + e]), acc0);
                acc1 = fma(qrow[sl][e], double(kbar[kat1 + e]), acc1);
            }
        st_p(P + 2u * j0, acc0 * scale64);
        if (j0 + H < NBv)
            st_p(P + 2u * (j0 + H), acc1 * scale64);
    }
}
/* Row m's exact scores by the whole workgroup into P (kv_select_sgw_fb_pre; the fallback a workgroup a row): its
 * qbar widened into qrow[0], then fb_scores over every invocation. Workgroup-uniform. */
void fb_row_scores(uint m, uint bh, uint tid, uint NB, uint NBv, uint D, uint P, double scale64, bool vec)
{
    barrier(); /* the previous row's qrow (and area) reads */
    for (uint e = tid; e < D; e += WG)
        qrow[0][e] = double(qbar[pc.off[0] + m * D + e]);
    barrier();
    fb_scores(0u, bh, tid, 2u * WG, NB, NBv, D, P, scale64, vec);
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
    /* the scores passes' split (SGW_RSPLIT 2: invocations kw = tid % KW of half tid / KW take the half's SGW_RI
     * rows, so each q read from shared memory serves SGW_KPT keys for fewer rows; 1: every invocation all rows) */
#if SGW_RSPLIT > 1
    const uint KW = WG / SGW_RSPLIT, kw = tid % KW, r0 = tid / KW * SGW_RI;
#else
    const uint KW = WG, kw = tid, r0 = 0u;
#endif
#endif
#if SGW_PASS == 1 && SGW_F32
    /* the f32 scores of tile tile0 + g into slice g (row r's at sbase + r NBv + j), in chunks of SGW_CHUNK
     * dims each summed from 0 in order, the chunk sums added in order (topk_f32's bound); at F: the largest
     * f32 sum of squares of the head's video keys (+inf when one is not finite), the rows' largest and
     * smallest scores (as ordered keys: F + 1 + 2 r, + 1). The build's first dispatch empties
     * the fallback list (the later ones are ordered after it by the launcher's barriers). */
    uint t = vox_u64lo(pc.tile0) + g, sbase = f_slice(g);
    if (vox_u64lo(pc.tile0) == 0u && g == 0u && tid == 0u)
        scratch[pc.off[5]] = 0u;
    uint F = f_area(sbase);
    uint bh = t / tph, i0 = (t - bh * tph) * SGW_ROWS;
    uint nv = NBv > i0 ? min(NBv - i0, SGW_ROWS) : 0u;
    uint qat = pc.off[0] + (bh * NB + i0) * D;
    bool vec = D % 4u == 0u && pc.off[1] % 4u == 0u; /* uniform */
    for (uint x = tid; x < SGW_ROWS * D; x += WG) { /* x = e SGW_ROWS + row */
        uint e = x / SGW_ROWS, rr = x - e * SGW_ROWS;
        qf[x >> 2][x & 3u] = rr < nv ? qbar[qat + rr * D + e] : 0.0;
    }
    if (tid < SGW_ROWS)
        rhi[tid] = 0u, rlo[tid] = 0xffffffffu;
    barrier();
    float nkm = 0.0;
    bool bad = false;
    const bool sgin = SGW_RSPLIT == 1 || gl_SubgroupSize <= KW; /* a subgroup within one half: extremes by subgroup ops */
    for (uint jb = 0u; jb < NBv; jb += KW * SGW_KPT) {
        float acc[SGW_KPT][SGW_RI], nk[SGW_KPT];
#if SGW_CHUNK < 128
        float run[SGW_KPT][SGW_RI];
#endif
        uint kat[SGW_KPT];
        [[unroll]] for (uint u = 0u; u < SGW_KPT; u++) {
            nk[u] = 0.0;
            kat[u] = pc.off[1] + (bh * NB + min(jb + u * KW + kw, NBv - 1u)) * D;
        }
        for (uint e0 = 0u; e0 < D; e0 += uint(SGW_CHUNK)) {
            [[unroll]] for (uint u = 0u; u < SGW_KPT; u++)
                [[unroll]] for (uint r = 0u; r < SGW_RI; r++)
                    acc[u][r] = 0.0;
            uint e1 = min(e0 + uint(SGW_CHUNK), D);
            if (vec) {
                for (uint e = e0; e < e1; e += 4u) {
                    vec4 kk[SGW_KPT];
                    [[unroll]] for (uint u = 0u; u < SGW_KPT; u++)
                        kk[u] = kbar4[(kat[u] + e) / 4u];
                    [[unroll]] for (uint c = 0u; c < 4u; c++) {
                        [[unroll]] for (uint h = 0u; h < SGW_RI / 4u; h++) {
                            vec4 q = qf[(e + c) * (SGW_ROWS / 4u) + r0 / 4u + h];
                            [[unroll]] for (uint u = 0u; u < SGW_KPT; u++) {
                                float k = kk[u][c];
                                acc[u][4u * h] = fma(q.x, k, acc[u][4u * h]);
                                acc[u][4u * h + 1u] = fma(q.y, k, acc[u][4u * h + 1u]);
                                acc[u][4u * h + 2u] = fma(q.z, k, acc[u][4u * h + 2u]);
                                acc[u][4u * h + 3u] = fma(q.w, k, acc[u][4u * h + 3u]);
                            }
                        }
                        [[unroll]] for (uint u = 0u; u < SGW_KPT; u++)
                            nk[u] = fma(kk[u][c], kk[u][c], nk[u]);
                    }
                }
            } else {
                for (uint e = e0; e < e1; e++) {
                    float kk[SGW_KPT];
                    [[unroll]] for (uint u = 0u; u < SGW_KPT; u++) {
                        kk[u] = kbar[kat[u] + e];
                        nk[u] = fma(kk[u], kk[u], nk[u]);
                    }
                    [[unroll]] for (uint h = 0u; h < SGW_RI / 4u; h++) {
                        vec4 q = qf[e * (SGW_ROWS / 4u) + r0 / 4u + h];
                        [[unroll]] for (uint u = 0u; u < SGW_KPT; u++) {
                            acc[u][4u * h] = fma(q.x, kk[u], acc[u][4u * h]);
                            acc[u][4u * h + 1u] = fma(q.y, kk[u], acc[u][4u * h + 1u]);
                            acc[u][4u * h + 2u] = fma(q.z, kk[u], acc[u][4u * h + 2u]);
                            acc[u][4u * h + 3u] = fma(q.w, kk[u], acc[u][4u * h + 3u]);
                        }
                    }
                }
            }
#if SGW_CHUNK < 128
            [[unroll]] for (uint u = 0u; u < SGW_KPT; u++)
                [[unroll]] for (uint r = 0u; r < SGW_RI; r++)
                    run[u][r] = e0 == 0u ? acc[u][r] : run[u][r] + acc[u][r];
#endif
        }
#if SGW_CHUNK >= 128
#define run acc
#endif
        [[unroll]] for (uint u = 0u; u < SGW_KPT; u++) {
            uint j = jb + u * KW + kw;
            if (j < NBv) {
                [[unroll]] for (uint r = 0u; r < SGW_RI; r++)
                    if (r0 + r < nv)
                        scratch[sbase + (r0 + r) * NBv + j] = floatBitsToUint(run[u][r]);
                bad = bad || !fin_f(nk[u]);
                nkm = max(nkm, nk[u]);
            }
        }
        /* the rows' extremes: a subgroup's, then the workgroup's by atomics on the ordered keys */
        [[unroll]] for (uint r = 0u; r < SGW_RI; r++) {
            uint hi = 0u, lo = 0xffffffffu;
            [[unroll]] for (uint u = 0u; u < SGW_KPT; u++)
                if (jb + u * KW + kw < NBv) {
                    uint k = okey_f(run[u][r]);
                    hi = max(hi, k), lo = min(lo, k);
                }
            if (sgin) {
                hi = subgroupMax(hi), lo = subgroupMin(lo);
                if (subgroupElect())
                    atomicMax(rhi[r0 + r], hi), atomicMin(rlo[r0 + r], lo);
            } else {
                atomicMax(rhi[r0 + r], hi), atomicMin(rlo[r0 + r], lo);
            }
        }
#undef run
    }
    nkr[tid] = bad ? uintBitsToFloat(0x7f800000u) : nkm;
    barrier();
    if (tid == 0u) {
        float mx = 0.0;
        for (uint x = 0u; x < WG; x++)
            mx = max(mx, nkr[x]);
        scratch[F] = floatBitsToUint(mx);
    }
#if SGW_DBG
    if (g == 0u && vox_u64lo(pc.tile0) == 0u && tid < 16u)
        scratch[F + 100u + tid] = 0u;
#endif
    if (tid < SGW_ROWS) {
        scratch[F + 1u + 2u * tid] = rhi[tid];
        scratch[F + 2u + 2u * tid] = rlo[tid];
    }
#elif SGW_PASS == 3
    uint cnt = scratch[pc.off[5]];
    double scale64 = packDouble2x32(pc.scale);
    bool vec = D % 4u == 0u && pc.off[1] % 4u == 0u;
#if SGW_FBWG
    /* the fallback a workgroup a row (kv_select_sgw_fb_wg, _fb_cum_wg): workgroup g a unit taking the listed rows
     * k = g, g + groups, ...: the row's exact scores by every invocation (as kv_select_sgw_fb_pre) into the unit's
     * area, then its exact selection with the workgroup's collectives (cl_scan ...), lane l of 128 taking blocks
     * l, l + 128, ... of each sweep. One dispatch: no pre-scoring pass. Workgroup-uniform. */
    uint lane = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
    uint P = fb_area(g, NBv), O = P + 2u * NBv;
    for (uint k = g; k < cnt; k += pc.wg_count) {
        uint m = scratch[pc.off[5] + 1u + k], bh = m / NB, i = m - bh * NB;
        if (bh >= vox_u64lo(pc.BH)) /* never listed (the list is emptied by each build's first dispatch) */
            continue;
        fb_row_scores(m, bh, tid, NB, NBv, D, P, scale64, vec);
        memoryBarrierBuffer();
        barrier();
        select_row(bh, i, 0u, true, NB, NBv, P, O, lane, WG);
        memoryBarrierBuffer();
    }
#else
    /* the fallback, after the last wave: each subgroup (up to SGW_SLOTS a workgroup) a unit taking the listed
     * rows k = unit, unit + units, ...: the row's exact scores (as kv_select_sgw_s) into the unit's area
     * (3 NBv words rounded up to even, in the slices' room), then its exact selection (the replay's ranks
     * after the scores). Subgroup-uniform; no workgroup barrier. */
    uint S = gl_SubgroupSize, lane = gl_SubgroupInvocationID, sg = gl_SubgroupID;
    uint step = min(gl_NumSubgroups, SGW_SLOTS), unit = g * step + sg, units = pc.wg_count * step;
#if SGW_FBPRE == 1
    /* kv_select_sgw_fb_pre, on the fallback's grid: workgroup g scores the listed rows k = g, g + groups, ...
     * of the fallback's first round (k < units), every invocation of it on the row, into unit k's area; the
     * fallback (SGW_FBPRE 2) then selects them without scoring */
    for (uint k = g; k < min(cnt, units); k += pc.wg_count) {
        uint m = scratch[pc.off[5] + 1u + k], bh = m / NB;
        if (bh >= vox_u64lo(pc.BH))
            continue;
        fb_row_scores(m, bh, tid, NB, NBv, D, fb_area(k, NBv), scale64, vec);
    }
    return;
#endif
    uint P = fb_area(unit, NBv), O = P + 2u * NBv;
    for (uint k = unit; sg < step && k < cnt; k += units) {
        uint m = scratch[pc.off[5] + 1u + k], bh = m / NB, i = m - bh * NB;
        if (bh >= vox_u64lo(pc.BH)) /* never listed (the list is emptied by each build's first dispatch) */
            continue;
        uint qat = pc.off[0] + m * D;
        for (uint e = lane; e < D; e += S)
            qrow[sg][e] = double(qbar[qat + e]);
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        if (k >= units || SGW_FBPRE == 0) /* else kv_select_sgw_fb_pre scored the row */
            fb_scores(sg, bh, lane, 2u * S, NB, NBv, D, P, scale64, vec);
        subgroupMemoryBarrierBuffer();
        subgroupMemoryBarrierShared();
        subgroupBarrier();
#if SGW_FBSTOP == 1 /* timing: the scores kept by a store to the row's replay area; an empty list */
        if (subgroupElect())
            scratch[O] = scratch[P + 2u * (NBv - 1u)], kv_count[pc.off[3] + m] = 0;
        continue;
#endif
        select_row(bh, i, sg, true, NB, NBv, P, O, lane, S);
        subgroupMemoryBarrierBuffer();
        subgroupBarrier(); /* the area and qrow read before the next row takes them */
    }
#endif /* SGW_FBWG */
#elif SGW_PASS == 1
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
    for (uint jb = 0u; jb < NBv; jb += KW * SGW_KPT) {
        /* keys jb + u KW + kw (u < SGW_KPT): each q value read from shared memory serves them all */
        double acc[SGW_KPT][SGW_RI];
        uint kat[SGW_KPT];
        [[unroll]] for (uint u = 0u; u < SGW_KPT; u++) {
            [[unroll]] for (uint r = 0u; r < SGW_RI; r++)
                acc[u][r] = 0.0LF;
            kat[u] = pc.off[1] + (bh * NB + min(jb + u * KW + kw, NBv - 1u)) * D;
        }
        if (vec) {
            for (uint e = 0u; e < D; e += 4u) {
                vec4 kk[SGW_KPT];
                [[unroll]] for (uint u = 0u; u < SGW_KPT; u++)
                    kk[u] = kbar4[(kat[u] + e) / 4u];
                [[unroll]] for (uint c = 0u; c < 4u; c++) {
                    uint qb = (e + c) * (SGW_ROWS / 2u) + r0 / 2u;
                    [[unroll]] for (uint h = 0u; h < SGW_RI / 2u; h++) {
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
                [[unroll]] for (uint h = 0u; h < SGW_RI / 2u; h++) {
                    dvec2 q = qd[e * (SGW_ROWS / 2u) + r0 / 2u + h];
                    [[unroll]] for (uint u = 0u; u < SGW_KPT; u++) {
                        double dk = double(kbar[kat[u] + e]);
                        acc[u][2u * h] = fma(q.x, dk, acc[u][2u * h]);
                        acc[u][2u * h + 1u] = fma(q.y, dk, acc[u][2u * h + 1u]);
                    }
                }
            }
        }
        [[unroll]] for (uint u = 0u; u < SGW_KPT; u++) {
            uint j = jb + u * KW + kw;
            if (j < NBv)
                [[unroll]] for (uint r = 0u; r < SGW_RI; r++)
                    if (r0 + r < nv)
                        st_p(sbase + 2u * ((r0 + r) * NBv + j), acc[u][r] * scale64);
        }
    }
#else
    /* rows h SGW_SLOTS .. + SGW_SLOTS - 1 (h = g % SGW_HALVES) of tile tile0 + g / SGW_HALVES, whose scores
     * are in slice g / SGW_HALVES: row r to subgroup r % step < step = min(#subgroups, SGW_SLOTS) (a power of
     * two), into bin slot r */
    uint tl = g / SGW_HALVES, h0 = (g - tl * SGW_HALVES) * SGW_SLOTS;
#if SGW_F32
    uint t = vox_u64lo(pc.tile0) + tl, sbase = f_slice(tl);
#else
    uint t = vox_u64lo(pc.tile0) + tl, sbase = pc.off[5] + tl * vox_u64lo(pc.per_block);
#endif
    uint bh = t / tph, i0 = (t - bh * tph) * SGW_ROWS;
    uint nv = NBv > i0 ? min(NBv - i0, SGW_ROWS) : 0u, nr = min(NB - i0, SGW_ROWS);
    uint S = gl_SubgroupSize, lane = gl_SubgroupInvocationID, step = min(gl_NumSubgroups, SGW_SLOTS);
#if SGW_F32
    uint F = f_area(sbase);
    if (gl_SubgroupID < step)
        for (uint r = gl_SubgroupID; r < SGW_SLOTS && h0 + r < nr; r += step)
            select_row_f32(bh, i0 + h0 + r, h0 + r, r, h0 + r < nv, NB, NBv, sbase + (h0 + r) * NBv, F, lane, S);
#else
    if (gl_SubgroupID < step)
        for (uint r = gl_SubgroupID; r < SGW_SLOTS && h0 + r < nr; r += step)
            select_row(bh, i0 + h0 + r, r, h0 + r < nv, NB, NBv, sbase + 2u * (h0 + r) * NBv,
                       sbase + (2u * SGW_ROWS + h0 + r) * NBv, lane, S);
#endif
#endif
}
#endif /* VOX_GLSL */
