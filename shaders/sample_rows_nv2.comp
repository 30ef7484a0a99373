#version 450
/* sample_rows' tile pass on workgroup-scope cooperative matrices
 * (VK_KHR_cooperative_matrix + VK_NV_cooperative_matrix2, bf16 operands by
 * VK_KHR_shader_bfloat16): the f16/bf16, D <= 128 variant `_nv2` of
 * sample_rows_cm.comp's pass (same bindings, push constants, work records
 * and tile walk; merged by sample_rows_merge unchanged). Built by glslang >= 15
 * (GL_NV_cooperative_matrix2, GL_EXT_bfloat16; SPIR-V 1.6), which Debian 12's
 * glslc is not: its SPIR-V is committed under shaders/spv/ with the hash of
 * its sources (tools/gen_spv.py makes both, the meson build checks the hash).
 * The default tile pass where the device has the features (vk_device.c,
 * nv2_dtypes; VOXATTN_VULKAN_SR_NV2=0 keeps VOXATTN_VULKAN_SR_CM2's pass):
 * hunyuan-720p's SVG build 4.349 ms against _cm9's 5.401 on an H100
 * (session 42); in its default form _nv2k (-DSR_NV2_PIPE -DSR_NV2_SPLIT,
 * below) 3.34 ms (session 44).
 *
 * One workgroup of 256 per (bh, key split, group of SR_RW = 32 sampled rows),
 * its split's key blocks streamed once in tiles of up to 64 keys of one
 * block, the three patterns together. Per tile, with matrices of the whole
 * workgroup (the driver splits them over its subgroups):
 *  - K and V staged in shared memory as they are (bf16 or f16 bits: bf16
 *    products are exact in the f32 accumulators, as the f16-staged products
 *    of _cm are, so S needs no power-of-two scaling);
 *  - S = Q K^T (32 x 64 f32); s = S * scale, keys past the tile's valid
 *    count -inf; the row max m (NaN wins) by a row reduction; each row's m
 *    to shared memory;
 *  - w = exp(s - m) (0 past the valid count and where m = -inf), its row sum
 *    z by a row reduction;
 *  - w cut into three pieces hi + mid + lo == w exactly: bf16, the
 *    significand's top 8 bits, the next 8 and the rest (<= 8 bits); f16,
 *    _cm's pieces of w 2^14 (11, 11, the rest); a tile whose V holds an Inf
 *    or NaN uses hi alone (a zero piece times Inf would make a NaN where the
 *    reference has Inf);
 *  - T = P V (32 x 128 f32) by three products, lo first;
 *  - the merge into each pattern's accumulator (3 matrices 32 x 128 f32),
 *    A = A fa + T ft with the row's factors (invocation r < SR_RW keeps row r's
 *    max, sum and -inf bits per pattern and writes fa, ft to shared memory;
 *    ft = -0 marks a pattern that does not take the tile: A untouched).
 * The sums are not _cm's bit for bit (other accumulation orders inside the
 * products and reductions); the pieces make P V exact up to the f32
 * accumulation, as in _cm. Three workgroup barriers per tile. The next
 * tile's global loads are issued after this tile's merge (_cm8's order;
 * session 43 issued them as soon as a tile was staged: 235 registers instead
 * of 239, the hunyuan-720p SVG build 4.46 ms against 4.39 on an H100, so
 * not kept; nor the merge as one per-element operation per pattern over A
 * and T with the factors read inside it: 249 registers, 5.07 ms).
 * -DSR_NV2_STOP=n (_nv2stop<n>, VOXATTN_VULKAN_SR_STOP=n with the pass on;
 * timing only, wrong sums): without the merge (acc0 += T instead, 1), also
 * without P V and the pieces (2), also without the weights and their sums
 * (3), also without S and its max (4: the staging, barriers and factors). */
#if !defined(SR_NV2_STOP)
#define SR_NV2_STOP 0
#endif
/* -DSR_NV2_PIPE (_nv2p): the stops put ~2.9 of hunyuan-720p's 4.4 ms in the
 * pass without its products, i.e. in the tile walk, whose loads form a chain
 * per tile: the block's valid count (the cursor's branch), then the rows'
 * slot table entries, then K and V. Here the walk runs ahead: the next
 * block's count is loaded a block early, a tile's coordinates and table
 * entries two tiles early, so only K and V's own latency is left per tile
 * (3.90 ms against 4.39 on an H100, session 44). Issuing the next tile's K
 * and V together right after a tile is staged (session 43's _nv2q, 32
 * registers of loads live across the products) was slower: 4.01.
 * -DSR_NV2_SPLIT (_nv2k, with PIPE; the default): the next tile's K and V
 * loaded apart, each in flight across part of this tile: K issued after
 * barrier 1 and staged after barrier 2 (every warp has read this tile's K by
 * then), across S and its max; V issued after barrier 3 (this tile's V read),
 * across the merge, and staged at the next tile's start as before. 3.34 ms
 * (session 44, H100), 239 registers as _nv2's. */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_NV_cooperative_matrix2 : require
#if defined(DT_BF16)
#extension GL_EXT_bfloat16 : require
#define ET bfloat16_t
#else
#define ET float16_t
#endif
#include "common.glsl"
#define WG 256u
#define WGI 256
#define SR_RW 32u             /* sampled rows per workgroup */
#define SR_KT 64u             /* keys per tile */
#define DMAX 128u
#define C8 (DMAX / 8u)        /* 16-byte chunks (8 elements) per staged row */
#define RS4 (C8 + 1u)         /* staged row stride in uvec4 */
#define CH (SR_KT * C8 / WG)  /* staged chunks per invocation of a K or V tile (4) */
#define QCH (SR_RW * C8 / WG) /* of the Q tile (2) */
layout(local_size_x = WGI) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_SAMPLE_ROWS_BUFS) VOX_GLSL_FIELDS(VOX_SAMPLE_ROWS_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer Q { ELEM q[]; };
layout(std430, set = 0, binding = 0) readonly buffer Q4 { uvec4 q4[]; };
layout(std430, set = 0, binding = 1) readonly buffer K { ELEM k[]; };
layout(std430, set = 0, binding = 1) readonly buffer K4 { uvec4 k4[]; };
layout(std430, set = 0, binding = 2) readonly buffer Vv { ELEM v[]; };
layout(std430, set = 0, binding = 2) readonly buffer V4 { uvec4 v4[]; };
layout(std430, set = 0, binding = 3) readonly buffer Rows { int rows[]; };
layout(std430, set = 0, binding = 4) readonly buffer Coord { int coord[]; };
layout(std430, set = 0, binding = 5) readonly buffer BlockValid { int block_valid[]; };
layout(std430, set = 0, binding = 7) writeonly buffer Work { float work[]; };
#include "rows_view.glsl" /* binding 8 (the slot table), rv_origin, rv_row_at */

/* Q tile (rows 0..31) first; then the K tile (rows 0..63) and the V tile (rows 64..127); 16-bit bits, row
 * stride RS4 */
shared uvec4 skv[2u * SR_KT * RS4];
shared float srm[SR_RW]; /* per row: the tile's max m */
shared float srz[SR_RW]; /* and its sum z */
shared float sfac[6u * SR_RW]; /* per pattern p and row: fa at p SR_RW, ft at (3 + p) SR_RW (-0: not taken) */
shared uint svnf;             /* the last tile number (+1) whose V held an Inf or NaN */

#define ACC(R, C) coopmat<float, gl_ScopeWorkgroup, R, C, gl_MatrixUseAccumulator>
#define NAN_F uintBitsToFloat(0x7fc00000u)

#if defined(DT_F16)
#define PIECE_MASK 0xffffe000u /* f16's 11 significand bits */
#define P_SCALE 16384.0        /* pieces of w 2^14 (normal f16 for the small ones), T scaled back */
#define T_SCALE (1.0 / 16384.0)
#else
#define PIECE_MASK 0xffff0000u /* bf16's 8 */
#define P_SCALE 1.0
#define T_SCALE 1.0
#endif

#define SR_CM2 1 /* the cursor reads each key block's coordinates (allows_c) */
#include "sample_rows_tile.glsl" /* load_q/k/v, nmax, chunk_nonfinite, allows_c, the tile cursor, load_kv */

/* ---- per-element and reduction functions of the matrices */
float red_nmax(const in float a, const in float b) { return nmax(a, b); }
float red_add(const in float a, const in float b) { return a + b; }
/* s = S * scale on the tile's nk valid keys, -inf past them */
float el_scores(const in uint r, const in uint c, const in float e, const in uint nk, const in float scale)
{
    return c < nk ? e * scale : NEG_INF;
}
/* a row reduction's value to srm (which 0) or srz (1), once per row */
float el_put_row(const in uint r, const in uint c, const in float e, const in uint which)
{
    if (c == 0u) {
        if (which == 0u)
            srm[r] = e;
        else
            srz[r] = e;
    }
    return e;
}
/* w = exp(s - m) on the valid keys of a row whose max is not -inf, else 0 */
float el_weights(const in uint r, const in uint c, const in float e, const in uint nk)
{
    float m = srm[r];
    return c < nk && m != NEG_INF ? exp(e - m) : 0.0;
}
/* row r's factor f (0..5: fa of patterns 0-2, ft of patterns 0-2) */
float el_factor(const in uint r, const in uint c, const in float e, const in uint f)
{
    return sfac[f * SR_RW + r];
}
/* {max, sum (0: no key; -1: only -inf tiles), acc[D]} per (bh, row, split, pattern): where row r's record of
 * pattern p starts */
uint g_wrow, g_R, g_D, g_nsplit, g_sp;
uint wrec(const in uint r, const in uint p)
{
    return pc.off[7] + ((g_wrow + r) * g_nsplit + g_sp) * 3u * (g_D + 2u) + p * (g_D + 2u);
}
/* the pattern's accumulator to its work record (rows < R, dims < D) */
float el_store(const in uint r, const in uint c, const in float e, const in uint p)
{
    if (g_wrow + r < g_R && c < g_D)
        work[wrec(r, p) + 2u + c] = e;
    return e;
}

#if defined(SR_NV2_PIPE)
/* a tile: block jb (p_end: past the split), first key c0, the block's valid keys nv and coordinates c, the
 * next block's valid keys nvn (loaded a block ahead) */
struct tpos {
    uint jb, c0, nv, nvn;
    ivec3 c;
};
uint p_end;
uint bvalid(uint jb) { return jb < p_end ? uint(block_valid[pc.off[5] + jb]) : 0u; }
ivec3 bcoord(uint jb)
{
    uint c3 = pc.off[4] + 3u * min(jb, p_end - 1u);
    return ivec3(coord[c3], coord[c3 + 1u], coord[c3 + 2u]);
}
/* the tile after p, skipping empty blocks (uniform); past the split jb stays p_end (c0 only grows, so the
 * loop is entered again and leaves at once) */
tpos advance(tpos p)
{
    p.c0 += SR_KT;
    while (p.c0 >= p.nv) {
        p.jb++; /* from jb0 - 1 (which may wrap) to jb0 on the first call; tools/sr_walk models this walk */
        if (p.jb >= p_end) {
            p.jb = p_end;
            break;
        }
        p.nv = p.nvn;
        p.nvn = bvalid(p.jb + 1u);
        p.c = bcoord(p.jb);
        p.c0 = 0u;
    }
    return p;
}
/* this invocation's K/V rows of tile p (token indices in the caller's tensor or block slots; -1: none) */
void tile_rows(const tpos p, const uint tid, const uint V, out int rw[CH])
{
    const uint tk = vox_u64lo(pc.tok);
    [[unroll]] for (uint t = 0u; t < CH; t++) {
        uint kk = (tid + t * WG) / C8, s = p.jb * V + p.c0 + kk;
        rw[t] = -1;
        if (p.jb < p_end && p.c0 + kk < p.nv)
            rw[t] = tk != 0u ? slot_tok[tk - 1u + s] : int(s);
    }
}
/* K and V of the rows rw into kraw / vraw (dims past D and rows -1 as 0) */
void tile_load(const int rw[CH], const uint tid, const uint xo, const uint D, const bool vec)
{
    [[unroll]] for (uint t = 0u; t < CH; t++) {
        uint c = (tid + t * WG) % C8;
        kraw[t] = uvec4(0u);
        vraw[t] = uvec4(0u);
        if (rw[t] >= 0 && c * 8u < D) {
            uint row = xo + uint(rw[t]) * vox_u64lo(pc.st);
            kraw[t] = load_k(pc.off[1] + row, c * 8u, D, vec);
            vraw[t] = load_v(pc.off[2] + row, c * 8u, D, vec);
        }
    }
}
#if defined(SR_NV2_SPLIT)
/* K (v false) or V (v true) of the rows rw into kraw or vraw */
void tile_load1(const int rw[CH], const uint tid, const uint xo, const uint D, const bool vec, const bool v)
{
    [[unroll]] for (uint t = 0u; t < CH; t++) {
        uint c = (tid + t * WG) % C8;
        uvec4 x = uvec4(0u);
        if (rw[t] >= 0 && c * 8u < D) {
            uint row = xo + uint(rw[t]) * vox_u64lo(pc.st);
            x = v ? load_v(pc.off[2] + row, c * 8u, D, vec) : load_k(pc.off[1] + row, c * 8u, D, vec);
        }
        if (v)
            vraw[t] = x;
        else
            kraw[t] = x;
    }
}
#endif
/* the walk: w_cur the tile being computed (its K and V in kraw / vraw or in flight), w_p1 the next (its rows
 * in w_rw, in flight), w_p2 the one after */
tpos w_cur, w_p1, w_p2;
int w_rw[CH];
/* one tile on: w_p1's K and V loads issued (its rows came a tile ago), w_p1 becomes w_cur and w_p2's rows are
 * loaded; false when w_p1 is past the split */
bool walk_step(const uint tid, const uint V, const uint xo, const uint D, const bool vec)
{
    const bool have = w_p1.jb < p_end;
#if defined(SR_NV2_SPLIT)
    if (have) /* V only: K was issued after barrier 1 (the first tile's by the prologue) */
        tile_load1(w_rw, tid, xo, D, vec, true);
#else
    if (have)
        tile_load(w_rw, tid, xo, D, vec);
#endif
    w_cur = w_p1, w_p1 = w_p2, w_p2 = advance(w_p2);
    tile_rows(w_p1, tid, V, w_rw);
    return have;
}
#endif

void main()
{
    uint x = group_linear_id();
    if (x >= pc.wg_count)
        return;
    const uint tid = gl_LocalInvocationID.x;
    const uint R = vox_u64lo(pc.R), NB = vox_u64lo(pc.NB), V = uint(pc.V), D = uint(pc.D);
    const uint nsplit = uint(pc.nsplit), groups = (R + SR_RW - 1u) / SR_RW;
    const uint g = x % groups, u = x / groups, sp_ = u % nsplit, bh = u / nsplit;
    const uint r0 = g * SR_RW, xo = rv_origin(bh);
    const uint jb0 = NB * sp_ / nsplit, jb1 = NB * (sp_ + 1u) / nsplit; /* NB * 64 fits 32 bits */
    const bool vec = (D & 7u) == 0u && ((pc.off[0] | pc.off[1] | pc.off[2] | vox_u64lo(pc.sb) | vox_u64lo(pc.sh) |
                                         vox_u64lo(pc.st)) & 7u) == 0u;
    g_wrow = bh * R + r0, g_R = bh * R + R, g_D = D, g_nsplit = nsplit, g_sp = sp_;

    /* ---- Q tile as it is -> shared -> an A matrix */
    [[unroll]] for (uint t = 0u; t < QCH; t++) {
        uint idx = tid + t * WG, rr = idx / C8, c = idx - rr * C8, r = r0 + rr;
        uvec4 qc = uvec4(0u);
        if (r < R && c * 8u < D)
            qc = load_q(pc.off[0] + rv_row_at(xo, uint(rows[pc.off[3] + r])), c * 8u, D, vec);
        skv[rr * RS4 + c] = qc;
    }
    if (tid == 0u)
        svnf = 0u;
    barrier();
    coopmat<ET, gl_ScopeWorkgroup, SR_RW, DMAX, gl_MatrixUseA> qa;
    coopMatLoad(qa, skv, 0u, RS4, gl_CooperativeMatrixLayoutRowMajor);
    barrier(); /* Q read before the first stage */

    /* row tid (< SR_RW): its block's coordinates, its max, sum and -inf bits per pattern */
    ivec3 ci = ivec3(-1);
    float M[3], Z[3], fa[3], ft[3];
    uint ninf = 0u;
    if (tid < SR_RW && r0 + tid < R) {
        uint ib = uint(rows[pc.off[3] + r0 + tid]) / V, c3 = pc.off[4] + 3u * ib;
        ci = ivec3(coord[c3], coord[c3 + 1u], coord[c3 + 2u]);
    }
    [[unroll]] for (uint p = 0u; p < 3u; p++)
        M[p] = NEG_INF, Z[p] = 0.0, fa[p] = 1.0, ft[p] = 1.0;
    ACC(SR_RW, DMAX) acc0 = ACC(SR_RW, DMAX)(0.0), acc1 = ACC(SR_RW, DMAX)(0.0), acc2 = ACC(SR_RW, DMAX)(0.0);

#if defined(SR_NV2_PIPE)
    p_end = jb1;
    w_p1 = advance(tpos(jb0 - 1u, 0u, 0u, bvalid(jb0), ivec3(-1))); /* from before the first block */
    w_p2 = advance(w_p1);
    tile_rows(w_p1, tid, V, w_rw);
#if defined(SR_NV2_SPLIT)
    if (w_p1.jb < p_end)
        tile_load1(w_rw, tid, xo, D, vec, false);
#endif
    bool have = walk_step(tid, V, xo, D, vec);
#else
    cur_jb = jb0 - 1u, cur_c0 = 0u, cur_nv = 0u, cur_end = jb1;
    bool have = jb0 < jb1 && next_tile();
    if (have)
        load_kv(tid, xo, V, D, vec);
#endif
    uint tile = 0u;
    while (have) {
#if defined(SR_NV2_PIPE)
        const uint nk = min(w_cur.nv - w_cur.c0, SR_KT);
        const ivec3 cj = w_cur.c;
#else
        const uint nk = min(cur_nv - cur_c0, SR_KT);
        const ivec3 cj = cur_c;
#endif
        tile++;
        bool vbad = false;
        [[unroll]] for (uint t = 0u; t < CH; t++) {
            uint idx = tid + t * WG, kk = idx / C8, c = idx - kk * C8;
#if defined(SR_NV2_SPLIT)
            if (tile == 1u) /* later tiles' K was staged after the previous tile's barrier 2 */
#endif
                skv[kk * RS4 + c] = kraw[t];
            skv[(SR_KT + kk) * RS4 + c] = vraw[t];
            vbad = vbad || chunk_nonfinite(vraw[t]);
        }
        if (vbad)
            atomicMax(svnf, tile);
        barrier(); /* (1) K and V staged; the previous tile's merge done */
        const bool vnf = svnf == tile;
#if defined(SR_NV2_SPLIT)
        const bool more = w_p1.jb < p_end; /* the next tile's K loads, in flight across S */
        if (more)
            tile_load1(w_rw, tid, xo, D, vec, false);
#endif

        /* S, the scores, the row max */
        coopmat<ET, gl_ScopeWorkgroup, DMAX, SR_KT, gl_MatrixUseB> kt;
        coopMatLoad(kt, skv, 0u, RS4, gl_CooperativeMatrixLayoutColumnMajor);
        ACC(SR_RW, SR_KT) s = ACC(SR_RW, SR_KT)(0.0);
        ACC(SR_RW, SR_KT) red;
#if SR_NV2_STOP < 4
        s = coopMatMulAdd(qa, kt, s);
        coopMatPerElementNV(s, s, el_scores, nk, pc.scale);
        coopMatReduceNV(red, s, gl_CooperativeMatrixReduceRowNV, red_nmax);
        coopMatPerElementNV(red, red, el_put_row, 0u);
#else
        if (tid < SR_RW)
            srm[tid] = float(tile & 7u);
#endif
        barrier(); /* (2) srm written */
#if defined(SR_NV2_SPLIT)
        if (more) /* every warp has read this tile's K (kt): the next tile's K to its stage */
            [[unroll]] for (uint t = 0u; t < CH; t++) {
                uint idx = tid + t * WG, kk = idx / C8, c = idx - kk * C8;
                skv[kk * RS4 + c] = kraw[t];
            }
#endif

        /* row tid: the patterns' factors from the tile max (merge_tile of the scalar pass: a NaN max makes
         * them NaN and poisons the sums) */
        if (tid < SR_RW) {
            const float mbr = srm[tid];
            [[unroll]] for (uint p = 0u; p < 3u; p++) {
                fa[p] = 1.0, ft[p] = 1.0;
                bool take = p == 0u || allows_c(ci, cj, p == 2u);
                if (take && mbr == NEG_INF) {
                    ninf |= 1u << p;
                    take = false;
                }
                if (take) {
                    if (mbr > M[p])
                        fa[p] = exp(M[p] - mbr);
                    else
                        ft[p] = exp(mbr - M[p]);
                } else
                    ft[p] = uintBitsToFloat(0x80000000u); /* -0: not taken */
                sfac[p * SR_RW + tid] = fa[p];
                sfac[(3u + p) * SR_RW + tid] = ft[p];
            }
        }

        /* w, its row sums, the pieces, T = P V */
#if SR_NV2_STOP < 3
        coopMatPerElementNV(s, s, el_weights, nk);
        coopMatReduceNV(red, s, gl_CooperativeMatrixReduceRowNV, red_add);
        coopMatPerElementNV(red, red, el_put_row, 1u);
#else
        if (tid < SR_RW)
            srz[tid] = 1.0;
#endif
        ACC(SR_RW, SR_KT) ph, pr;
        [[unroll]] for (int i = 0; i < s.length(); i++) {
            float w = s[i] * P_SCALE;
            float h = uintBitsToFloat(floatBitsToUint(w) & PIECE_MASK);
            ph[i] = h;
            pr[i] = w - h; /* exact */
        }
        coopmat<ET, gl_ScopeWorkgroup, SR_KT, DMAX, gl_MatrixUseB> vb;
        coopMatLoad(vb, skv, SR_KT * RS4, RS4, gl_CooperativeMatrixLayoutRowMajor);
        ACC(SR_RW, DMAX) t = ACC(SR_RW, DMAX)(0.0);
#if SR_NV2_STOP < 2
        if (!vnf) { /* lo, mid, then hi (a tile with Inf/NaN in V: hi alone) */
            ACC(SR_RW, SR_KT) pm;
            [[unroll]] for (int i = 0; i < pr.length(); i++) {
                float m = uintBitsToFloat(floatBitsToUint(pr[i]) & PIECE_MASK);
                pm[i] = m;
                pr[i] = pr[i] - m; /* exact, fits the element type */
            }
            coopmat<ET, gl_ScopeWorkgroup, SR_RW, SR_KT, gl_MatrixUseA> pa =
                coopmat<ET, gl_ScopeWorkgroup, SR_RW, SR_KT, gl_MatrixUseA>(pr);
            t = coopMatMulAdd(pa, vb, t);
            pa = coopmat<ET, gl_ScopeWorkgroup, SR_RW, SR_KT, gl_MatrixUseA>(pm);
            t = coopMatMulAdd(pa, vb, t);
        }
        {
            coopmat<ET, gl_ScopeWorkgroup, SR_RW, SR_KT, gl_MatrixUseA> pa =
                coopmat<ET, gl_ScopeWorkgroup, SR_RW, SR_KT, gl_MatrixUseA>(ph);
            t = coopMatMulAdd(pa, vb, t);
        }
#endif
        barrier(); /* (3) srz and sfac written; K and V read */
#if defined(SR_NV2_SPLIT)
        have = walk_step(tid, V, xo, D, vec); /* the next tile's V in flight across the merge */
#endif

        if (tid < SR_RW) {
            const float mbr = srm[tid], zbr = srz[tid];
            [[unroll]] for (uint p = 0u; p < 3u; p++)
                if (floatBitsToUint(ft[p]) != 0x80000000u) {
                    Z[p] = Z[p] * fa[p] + zbr * ft[p];
                    if (mbr > M[p])
                        M[p] = mbr;
                }
        }
        /* the merge: A = A fa + T ft per pattern that takes the tile */
#if SR_NV2_STOP >= 1
        acc0 += t;
#else
        ACC(SR_RW, DMAX) fam = ACC(SR_RW, DMAX)(0.0), ftm = ACC(SR_RW, DMAX)(0.0);
#define SR_MERGE(A, P)                                                                                        \
    coopMatPerElementNV(fam, fam, el_factor, P);                                                              \
    coopMatPerElementNV(ftm, ftm, el_factor, 3u + P);                                                         \
    [[unroll]] for (int i = 0; i < A.length(); i++)                                                          \
        if (floatBitsToUint(ftm[i]) != 0x80000000u)                                                           \
            A[i] = A[i] * fam[i] + t[i] * T_SCALE * ftm[i];
        SR_MERGE(acc0, 0u)
        SR_MERGE(acc1, 1u)
        SR_MERGE(acc2, 2u)
#undef SR_MERGE
#endif
#if defined(SR_NV2_PIPE) && !defined(SR_NV2_SPLIT)
        have = walk_step(tid, V, xo, D, vec);
#elif !defined(SR_NV2_PIPE)
        have = next_tile();
        if (have)
            load_kv(tid, xo, V, D, vec); /* in flight across the next tile's first barrier */
#endif
    }
    coopMatPerElementNV(acc0, acc0, el_store, 0u);
    coopMatPerElementNV(acc1, acc1, el_store, 1u);
    coopMatPerElementNV(acc2, acc2, el_store, 2u);
    if (tid < SR_RW && r0 + tid < R)
        [[unroll]] for (uint p = 0u; p < 3u; p++) {
            work[wrec(tid, p)] = M[p];
            work[wrec(tid, p) + 1u] = M[p] == NEG_INF && Z[p] == 0.0 && (ninf >> p & 1u) != 0u ? -1.0 : Z[p];
        }
}
