#version 450
/* sample_rows' tile pass on matrix units (VK_NV_cooperative_matrix, 16x16x16
 * f16 x f16 -> f32, subgroup scope, subgroups of 32): the f16/bf16, D <= 128
 * variant of sample_rows.comp's tile pass (same bindings, push constants and
 * work buffer, merged by sample_rows_merge unchanged). Only created on
 * devices with the feature (the host checks subgroup size 32: 256
 * invocations = 8 subgroups).
 *
 * One workgroup per (bh, key split, group of SR_RW = 32 sampled rows), all
 * head dims; it streams its split's key blocks once, in tiles of up to
 * SR_KT = 32 keys of one block (the next tile's global loads issued before
 * this tile's math), for its rows and the three patterns together:
 *  - S = Q K^T: subgroup sg takes rows 16 (sg & 1).. +15, keys 16 ((sg >> 1)
 *    & 1).. +15 over dims 64 (sg >> 2).. +63 (its Q fragments kept in
 *    registers), a fresh accumulator per subgroup: the two halves of D land
 *    in two f32 S arrays that the softmax adds;
 *  - per row (8 invocations, keys part + 8j): s = S * scale, the tile max m
 *    (NaN wins), w = exp(s - m) (keys past the tile's valid count 0), the sum
 *    z, as the scalar pass;
 *  - w split into three f16 pieces of w * 2^14, hi + mid + lo (hi and mid
 *    the significand truncated to 11 bits by a mask, lo the rounding of the
 *    rest: |w - sum| <= 2^-33 |w| for normal pieces), as sample_rows_mma.cuh
 *    does for the CUDA backend; a tile
 *    whose V holds an Inf or NaN uses hi alone (a zero piece times Inf would
 *    make a NaN where the reference has Inf);
 *  - T = P V: subgroup sg takes rows 16 (sg & 1).. +15 and dims 32 (sg >> 1)
 *    .. +31 (two 16-dim blocks), per block the six products (2 key steps x
 *    3 pieces, lo first) into one accumulator, stored to shared memory and
 *    merged online into every pattern that allows the block by the
 *    subgroup's lanes: lane l owns row 16 (sg & 1) + l / 2 and dims 8 (l & 1)
 *    .. +7 of each of its two blocks (A[3][16] in registers).
 * bf16 has no NV matrix type: it is staged as f16 scaled by an exact power of
 * two (Q once, each K and each V tile) that brings the largest finite |x| to
 * [2^14, 2^15) (attention_forward_cm.comp's scheme); S and T are scaled back
 * in f32 by exact powers of two.
 * Shared memory: 17408 (K, V; Q at the start) + 10240 (S, then T blocks) +
 * 7680 (P pieces) + 64 bytes.
 * q, k, v rows are read through rv_row_at: the caller's tensors through
 * slot_token (binding 8) or the block copies.
 * Variants (VOXATTN_VULKAN_SR_CM2, backends/vulkan/NOTES.md sessions 18, 33,
 * 34): SR_CM2 (one barrier fewer per tile), SR_LATE (with SR_CM2: the next
 * tile's global loads issued after this tile's merge instead of right after
 * its stage; the same sums; 3% faster on the H200, session 33: the default),
 * SR_K64 (with SR_LATE: tiles of 64 keys, S over all of D per subgroup, the
 * P pieces in the stage's K rows; session 34; the default since session 35,
 * 12% faster on the H200); SR_STOP: timing
 * ablations (wrong sums). Session 18's register-saving forms (spatial and
 * temporal accumulators in the work space, Q from shared memory, workgroups
 * of 128) were measured slower on the H100/H200 and are gone (session 34). */
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#if defined(SR_K64) /* tiles of 64 keys (with cm2's barriers) */
#define SR_CM2 1
#endif
#define NPA 3u /* patterns whose accumulators live in registers: all (session 18's removed forms kept fewer) */
#define WG 256u
#define WGI 256
#define NSG 8u
#define SR_RW 32u             /* sampled rows per workgroup */
#if defined(SR_K64)
#define SR_KT 64u             /* keys per tile */
#else
#define SR_KT 32u             /* keys per tile */
#endif
#define DMAX 128u
#define C8 (DMAX / 8u)        /* 16-byte chunks (8 halves) per staged row */
#define RS4 (C8 + 1u)         /* staged row stride in uvec4 */
#define PS (SR_KT + 8u)       /* P row stride (halves) */
#if defined(SR_K64)
#define SS 72u                /* S row stride (floats): one S over all of D */
#define PS4 (PS / 8u)         /* P row stride in uvec4 (P lives in the K rows of skv) */
#else
#define SS 40u                /* S row stride (floats) */
#endif
#define TS 16u                /* T block row stride (floats) */
#define CH (SR_KT * C8 / WG)  /* staged chunks per invocation of a K or V tile (2) */
#define QCH (SR_RW * C8 / WG) /* of the Q tile (2) */
#define EXP_LIM 120
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

/* Q tile (rows 0..31) at the start; then the K tile (rows 0..31) and the V
 * tile (rows 32..63); f16 bits, row stride RS4 */
shared uvec4 skv[2u * SR_KT * RS4];
#if defined(SR_K64)
/* S over all of D, [row][key] (stride SS); then 8 T blocks of 16x16 (one per subgroup). The P pieces hi, mid,
 * lo ([piece][row][key], PS4 uvec4 a row) take the K rows of skv once S is formed (13824 of 17408 bytes):
 * 34816 + 9216 + 320 bytes in all */
shared float sf[SR_RW * SS];
#else
/* S: two halves of D, [half][row][key] (stride SS); then 8 T blocks of 16x16 (one per subgroup) */
shared float sf[2u * SR_RW * SS];
shared float16_t sp[3u * SR_RW * PS]; /* P pieces hi, mid, lo: [piece][row][key] */
#endif
shared uint sred[16];                 /* per subgroup: K max bits, V max bits | non-finite flag */
shared float srm[SR_RW], srz[SR_RW];  /* per row: the tile max and sum */

#define CM16 fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define CM32 fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define NAN_F uintBitsToFloat(0x7fc00000u)

#include "sample_rows_tile.glsl"

float pow2(int e) { return uintBitsToFloat(uint(e + 127) << 23); } /* e in [-126, 127] */

#if defined(DT_BF16)
/* Bits of the largest finite |x| of a chunk (|x| orders like its bits). */
uint chunk_maxbits(uvec4 c)
{
    uint m = 0u;
    [[unroll]] for (uint j = 0u; j < 4u; j++) {
        uint lo = c[j] & 0x7fffu, hi = (c[j] >> 16) & 0x7fffu;
        m = max(m, lo < 0x7f80u ? lo : 0u);
        m = max(m, hi < 0x7f80u ? hi : 0u);
    }
    return m;
}

/* Exponent e with max * 2^e in [2^14, 2^15) (0 when there is no finite nonzero value). */
int tile_exp(uint mb)
{
    if (mb == 0u)
        return 0;
    int em = mb >= 0x80u ? int(mb >> 7) - 127 : findMSB(mb) - 133;
    return clamp(14 - em, -EXP_LIM, EXP_LIM);
}

/* bf16 chunk -> f16 chunk times s (a power of two: exact for the kept range) */
uvec4 to_f16(uvec4 c, float s)
{
    uvec4 r;
    [[unroll]] for (uint j = 0u; j < 4u; j++) {
        vec2 f = vec2(uintBitsToFloat(c[j] << 16), uintBitsToFloat(c[j] & 0xffff0000u)) * s;
        r[j] = packFloat2x16(f16vec2(f));
    }
    return r;
}
#endif

bool allows(uint ib, uint jb, bool temporal)
{
    uint c0 = pc.off[4];
    int ti = coord[c0 + 3u * ib], tj = coord[c0 + 3u * jb];
    if (ti < 0 || tj < 0)
        return true;
    if (pc.sink != 0 && tj == 0)
        return true;
    if (!temporal)
        return abs(tj - ti) <= pc.frame_blocks;
    return abs(coord[c0 + 3u * jb + 1u] - coord[c0 + 3u * ib + 1u]) <= pc.space_blocks &&
           abs(coord[c0 + 3u * jb + 2u] - coord[c0 + 3u * ib + 2u]) <= pc.space_blocks;
}

void main()
{
    uint x = group_linear_id();
    if (x >= pc.wg_count)
        return;
    const uint tid = gl_LocalInvocationID.x, sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
    const uint R = vox_u64lo(pc.R), NB = vox_u64lo(pc.NB), V = uint(pc.V), D = uint(pc.D);
    const uint nsplit = uint(pc.nsplit), groups = (R + SR_RW - 1u) / SR_RW;
    const uint g = x % groups, u = x / groups, sp_ = u % nsplit, bh = u / nsplit;
    const uint r0 = g * SR_RW, xo = rv_origin(bh);
    const uint jb0 = NB * sp_ / nsplit, jb1 = NB * (sp_ + 1u) / nsplit; /* NB * 64 fits 32 bits */
    const bool vec = (D & 7u) == 0u && ((pc.off[0] | pc.off[1] | pc.off[2] | vox_u64lo(pc.sb) | vox_u64lo(pc.sh) |
                                         vox_u64lo(pc.st)) & 7u) == 0u;
    const uint rt = sg & 1u;                   /* the subgroup's row tile (S and T) */
    const uint kt = (sg >> 1u) & 1u, dh = sg >> 2u; /* S: its key tile and half of D */
    const uint dq = sg >> 1u;                  /* T: its 32 dims */

    /* ---- Q tile -> f16 in shared -> fragments in registers */
    uvec4 qraw[QCH];
    [[unroll]] for (uint t = 0u; t < QCH; t++) {
        uint idx = tid + t * WG, rr = idx / C8, c = idx - rr * C8, r = r0 + rr;
        qraw[t] = uvec4(0u);
        if (r < R && c * 8u < D)
            qraw[t] = load_q(pc.off[0] + rv_row_at(xo, uint(rows[pc.off[3] + r])), c * 8u, D, vec);
    }
#if defined(DT_BF16)
    uint mb = 0u;
    [[unroll]] for (uint t = 0u; t < QCH; t++)
        mb = max(mb, chunk_maxbits(qraw[t]));
    mb = subgroupMax(mb);
    if (subgroupElect())
        sred[sg] = mb;
    barrier();
    mb = 0u;
    for (uint j = 0u; j < NSG; j++)
        mb = max(mb, sred[j]);
    int eq = tile_exp(mb);
    float qsc = pow2(eq);
#endif
    [[unroll]] for (uint t = 0u; t < QCH; t++) {
        uint idx = tid + t * WG, rr = idx / C8, c = idx - rr * C8;
#if defined(DT_BF16)
        skv[rr * RS4 + c] = to_f16(qraw[t], qsc);
#else
        skv[rr * RS4 + c] = qraw[t];
#endif
    }
    barrier();
#if defined(SR_K64)
    CM16 qf[8]; /* S: the subgroup's 16 rows x 16 keys (key tile sg >> 1) over all of D */
    [[unroll]] for (uint t = 0u; t < 8u; t++)
        coopMatLoadNV(qf[t], skv, rt * 16u * RS4 + t * 2u, RS4, false);
#else
    CM16 qf[4];
    [[unroll]] for (uint t = 0u; t < 4u; t++)
        coopMatLoadNV(qf[t], skv, rt * 16u * RS4 + (dh * 4u + t) * 2u, RS4, false);
#endif

    /* the merging lane's row and its block (pattern allowances per block) */
    const uint mrow = rt * 16u + (lane >> 1u), mr = r0 + mrow;
    const uint mib = mr < R ? uint(rows[pc.off[3] + mr]) / V : 0u;
#if defined(SR_CM2)
    const ivec3 ci = ivec3(coord[pc.off[4] + 3u * mib], coord[pc.off[4] + 3u * mib + 1u], coord[pc.off[4] + 3u * mib + 2u]);
#endif
    float M[3], Z[3], A[NPA > 0u ? NPA : 1u][16];
    [[unroll]] for (uint p = 0u; p < 3u; p++) {
        M[p] = NEG_INF;
        Z[p] = 0.0;
    }
    [[unroll]] for (uint p = 0u; p < 3u; p++)
        [[unroll]] for (uint d = 0u; d < 16u; d++)
            A[p][d] = 0.0;
    /* the lane's record of pattern p: {max, sum, acc[D]} at wbase + p (D + 2) */
    const uint wbase = pc.off[7] + ((bh * R + mr) * nsplit + sp_) * 3u * (D + 2u);
    /* the lane's dims: (dq * 2 + b2) * 16 + ldim + e, e < 8 */
    const uint ldim = (lane & 1u) * 8u;
    uint ninf = 0u; /* bit p: pattern p saw an all -inf tile */
    /* softmax: invocation (srow, part) */
    const uint srow = tid >> 3u, part = tid & 7u;

    cur_jb = jb0 - 1u, cur_c0 = 0u, cur_nv = 0u, cur_end = jb1;
    bool have = jb0 < jb1 && next_tile();
    if (have)
        load_kv(tid, xo, V, D, vec);
    while (have) {
        const uint jb = cur_jb, nk = min(cur_nv - cur_c0, SR_KT);
#if defined(SR_CM2)
        const ivec3 cj = cur_c;
#endif
        bool vbad = false;
        [[unroll]] for (uint t = 0u; t < CH; t++)
            vbad = vbad || chunk_nonfinite(vraw[t]);
        vbad = subgroupMax(vbad ? 1u : 0u) != 0u;
#if defined(DT_BF16)
        uint kmb = 0u, vmb = 0u;
        [[unroll]] for (uint t = 0u; t < CH; t++) {
            kmb = max(kmb, chunk_maxbits(kraw[t]));
            vmb = max(vmb, chunk_maxbits(vraw[t]));
        }
        kmb = subgroupMax(kmb);
        vmb = subgroupMax(vmb);
#else
        uint kmb = 0u, vmb = 0u;
#endif
#if defined(SR_CM2)
        /* sred's last reads (the previous tile's, or Q's) are three barriers back: written before the barrier
         * that frees the K/V stage, one barrier fewer per tile */
        if (subgroupElect()) {
            sred[sg] = kmb;
            sred[NSG + sg] = vmb | (vbad ? 0x80000000u : 0u);
        }
        barrier(); /* the previous tile is consumed (Q fragments loaded); sred written */
#else
        barrier(); /* the previous tile is consumed (Q fragments loaded) */
        if (subgroupElect()) {
            sred[sg] = kmb;
            sred[NSG + sg] = vmb | (vbad ? 0x80000000u : 0u);
        }
        barrier();
#endif
        uint km = 0u, vm = 0u;
        for (uint j = 0u; j < NSG; j++)
            km = max(km, sred[j]), vm = max(vm, sred[NSG + j]);
        const bool vnf = (vm & 0x80000000u) != 0u;
#if defined(DT_BF16)
        int ek = tile_exp(km), ev = tile_exp(vm & 0x7fffffffu);
        float ksc = pow2(ek), vsc = pow2(ev);
        int es = -(eq + ek), es1 = es >> 1; /* S / (sq * sk) in two exact steps */
        float fs1 = pow2(es1), fs2 = pow2(es - es1);
        float fv1 = pow2(-14), fv2 = pow2(-ev); /* T / (2^14 sv) */
#else
        float fv1 = pow2(-14), fv2 = 1.0;
#endif
        [[unroll]] for (uint t = 0u; t < CH; t++) {
            uint idx = tid + t * WG, kk = idx / C8, c = idx - kk * C8;
#if defined(DT_BF16)
            skv[kk * RS4 + c] = to_f16(kraw[t], ksc);
            skv[(SR_KT + kk) * RS4 + c] = to_f16(vraw[t], vsc);
#else
            skv[kk * RS4 + c] = kraw[t];
            skv[(SR_KT + kk) * RS4 + c] = vraw[t];
#endif
        }
        barrier(); /* K and V staged */
#if !defined(SR_CM5) && !defined(SR_LATE)
        have = next_tile();
        if (have)
            load_kv(tid, xo, V, D, vec); /* in flight during this tile's math */
#endif
#if defined(SR_STOP) && SR_STOP >= 3
        continue; /* timing ablation (wrong sums): the stage only */
#endif

#if defined(SR_K64)
        /* S of rows rt, keys sg >> 1 over all of D: K tile [key][d] row-major = column-major B (d x key) */
        {
            const uint kt4 = sg >> 1u;
            CM32 sacc = CM32(0.0);
            [[unroll]] for (uint t = 0u; t < 8u; t++) {
                CM16 kf;
                coopMatLoadNV(kf, skv, kt4 * 16u * RS4 + t * 2u, RS4, true);
                sacc = coopMatMulAddNV(qf[t], kf, sacc);
            }
            coopMatStoreNV(sacc, sf, rt * 16u * SS + kt4 * 16u, SS, false);
        }
#else
        /* S half dh of rows rt, keys kt: K tile [key][d] row-major = column-major B (d x key) */
        {
            CM32 sacc = CM32(0.0);
            [[unroll]] for (uint t = 0u; t < 4u; t++) {
                CM16 kf;
                coopMatLoadNV(kf, skv, kt * 16u * RS4 + (dh * 4u + t) * 2u, RS4, true);
                sacc = coopMatMulAddNV(qf[t], kf, sacc);
            }
            coopMatStoreNV(sacc, sf, dh * SR_RW * SS + rt * 16u * SS + kt * 16u, SS, false);
        }
#endif
        barrier(); /* S complete */
#if defined(SR_STOP) && SR_STOP >= 2
        continue; /* timing ablation (wrong sums): stage and S */
#endif

#if defined(SR_K64)
        /* softmax of row srow over keys 8 part + j (consecutive: one uvec4 per piece) */
        float s[8];
        float m = NEG_INF;
        [[unroll]] for (uint j = 0u; j < 8u; j++) {
            uint key = part * 8u + j;
            float x2 = sf[srow * SS + key];
#if defined(DT_BF16)
            x2 = x2 * fs1 * fs2;
#endif
            s[j] = x2 * pc.scale;
            if (key < nk)
                m = nmax(m, s[j]);
        }
        m = nmax(m, subgroupShuffleXor(m, 1u));
        m = nmax(m, subgroupShuffleXor(m, 2u));
        m = nmax(m, subgroupShuffleXor(m, 4u));
        float z = 0.0;
        uint ph[8], pm[8], pl[8];
        [[unroll]] for (uint j = 0u; j < 8u; j++) {
            uint key = part * 8u + j;
            float w = key < nk && m != NEG_INF ? exp(s[j] - m) : 0.0;
            z += w;
            float w14 = w * 16384.0;
            float h32 = uintBitsToFloat(floatBitsToUint(w14) & 0xffffe000u);
            float r1 = w14 - h32; /* exact */
            float m32 = uintBitsToFloat(floatBitsToUint(r1) & 0xffffe000u);
            ph[j] = packFloat2x16(f16vec2(float16_t(h32), float16_t(0.0)));
            pm[j] = packFloat2x16(f16vec2(float16_t(vnf ? 0.0 : m32), float16_t(0.0)));
            pl[j] = packFloat2x16(f16vec2(float16_t(vnf ? 0.0 : r1 - m32), float16_t(0.0)));
        }
        {
            uint at = srow * PS4 + part;
            skv[at] = uvec4(ph[0] | ph[1] << 16, ph[2] | ph[3] << 16, ph[4] | ph[5] << 16, ph[6] | ph[7] << 16);
            skv[SR_RW * PS4 + at] = uvec4(pm[0] | pm[1] << 16, pm[2] | pm[3] << 16, pm[4] | pm[5] << 16, pm[6] | pm[7] << 16);
            skv[2u * SR_RW * PS4 + at] = uvec4(pl[0] | pl[1] << 16, pl[2] | pl[3] << 16, pl[4] | pl[5] << 16, pl[6] | pl[7] << 16);
        }
#else
        /* softmax of row srow over keys part + 8j */
        float s[SR_KT / 8u];
        float m = NEG_INF;
        [[unroll]] for (uint j = 0u; j < SR_KT / 8u; j++) {
            uint key = part + 8u * j, at = srow * SS + key;
            float x2 = sf[at] + sf[SR_RW * SS + at];
#if defined(DT_BF16)
            x2 = x2 * fs1 * fs2;
#endif
            s[j] = x2 * pc.scale;
            if (key < nk)
                m = nmax(m, s[j]);
        }
        m = nmax(m, subgroupShuffleXor(m, 1u));
        m = nmax(m, subgroupShuffleXor(m, 2u));
        m = nmax(m, subgroupShuffleXor(m, 4u));
        float z = 0.0;
        [[unroll]] for (uint j = 0u; j < SR_KT / 8u; j++) {
            uint key = part + 8u * j;
            float w = key < nk && m != NEG_INF ? exp(s[j] - m) : 0.0;
            z += w;
            /* the pieces by truncating the significand to f16's 11 bits (bit masks: no f16 round trip that a
             * compiler could take for the identity; the mid 1.2e-9 run on the H200 looked like P = hi) */
            float w14 = w * 16384.0;
            float h32 = uintBitsToFloat(floatBitsToUint(w14) & 0xffffe000u);
            float r1 = w14 - h32; /* exact */
            float m32 = uintBitsToFloat(floatBitsToUint(r1) & 0xffffe000u);
            float16_t hi = float16_t(h32), mid = float16_t(vnf ? 0.0 : m32), lo = float16_t(vnf ? 0.0 : r1 - m32);
            uint at = srow * PS + key;
            sp[at] = hi;
            sp[SR_RW * PS + at] = mid;
            sp[2u * SR_RW * PS + at] = lo;
        }
#endif
        /* the row's z: the parts' sums in part order */
        float zp[8];
        [[unroll]] for (uint j = 0u; j < 8u; j++)
            zp[j] = subgroupShuffle(z, (lane & ~7u) | j);
        z = 0.0;
        [[unroll]] for (uint j = 0u; j < 8u; j++)
            z += zp[j];
        if (part == 0u)
            srm[srow] = m, srz[srow] = z;
        barrier(); /* P, m and z written, S read: sf takes the T blocks */
#if defined(SR_STOP) && SR_STOP >= 1
        continue; /* timing ablation (wrong sums): stage, S and softmax */
#endif

        /* the merge factors of the lane's row per pattern (as merge_tile of the scalar pass: a NaN tile
         * max makes them NaN and poisons the sums); bit p of use: pattern p takes the tile */
        float mbr = srm[mrow], zbr = srz[mrow], fa[3], ft[3];
        uint use = 0u;
        [[unroll]] for (uint p = 0u; p < 3u; p++) {
            fa[p] = 1.0, ft[p] = 1.0;
#if defined(SR_CM2)
            if (p != 0u && !allows_c(ci, cj, p == 2u))
#else
            if (p != 0u && !allows(mib, jb, p == 2u))
#endif
                continue;
            if (mbr == NEG_INF) {
                ninf |= 1u << p;
                continue;
            }
            use |= 1u << p;
            if (mbr > M[p])
                fa[p] = exp(M[p] - mbr);
            else
                ft[p] = exp(mbr - M[p]);
        }
        /* T = P V, two 16-dim blocks; each stored to the subgroup's 16x16 area and merged */
        [[unroll]] for (uint b2 = 0u; b2 < 2u; b2++) {
            uint dt = dq * 2u + b2;
            CM32 oc = CM32(0.0);
            if (dt * 16u < D) {
                [[unroll]] for (uint kb = 0u; kb < SR_KT / 16u; kb++) {
                    if (kb * 16u < nk) {
                        CM16 vf, pf;
                        coopMatLoadNV(vf, skv, (SR_KT + kb * 16u) * RS4 + dt * 2u, RS4, false);
#if defined(SR_K64)
                        if (!vnf) { /* lo, mid, then hi (a tile with Inf/NaN in V: hi alone) */
                            coopMatLoadNV(pf, skv, 2u * SR_RW * PS4 + rt * 16u * PS4 + kb * 2u, PS4, false);
                            oc = coopMatMulAddNV(pf, vf, oc);
                            coopMatLoadNV(pf, skv, SR_RW * PS4 + rt * 16u * PS4 + kb * 2u, PS4, false);
                            oc = coopMatMulAddNV(pf, vf, oc);
                        }
                        coopMatLoadNV(pf, skv, rt * 16u * PS4 + kb * 2u, PS4, false);
                        oc = coopMatMulAddNV(pf, vf, oc);
#else
                        if (!vnf) { /* lo, mid, then hi (a tile with Inf/NaN in V: hi alone) */
                            coopMatLoadNV(pf, sp, 2u * SR_RW * PS + rt * 16u * PS + kb * 16u, PS, false);
                            oc = coopMatMulAddNV(pf, vf, oc);
                            coopMatLoadNV(pf, sp, SR_RW * PS + rt * 16u * PS + kb * 16u, PS, false);
                            oc = coopMatMulAddNV(pf, vf, oc);
                        }
                        coopMatLoadNV(pf, sp, rt * 16u * PS + kb * 16u, PS, false);
                        oc = coopMatMulAddNV(pf, vf, oc);
#endif
                    }
                }
            }
            coopMatStoreNV(oc, sf, sg * 256u, TS, false);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            [[unroll]] for (uint e = 0u; e < 8u; e++) {
                float t = sf[sg * 256u + (lane >> 1u) * TS + (lane & 1u) * 8u + e] * fv1 * fv2;
                uint d = b2 * 8u + e;
                [[unroll]] for (uint p = 0u; p < 3u; p++)
                    if ((use >> p & 1u) != 0u)
                        A[p][d] = A[p][d] * fa[p] + t * ft[p];
            }
            subgroupMemoryBarrierShared();
            subgroupBarrier(); /* read before the next block's store */
        }
        [[unroll]] for (uint p = 0u; p < 3u; p++) {
            if ((use >> p & 1u) != 0u) {
                Z[p] = Z[p] * fa[p] + zbr * ft[p];
                if (mbr > M[p])
                    M[p] = mbr;
            }
        }
#if defined(SR_CM5) || defined(SR_LATE)
        have = next_tile();
        if (have)
            load_kv(tid, xo, V, D, vec); /* in flight across the next tile's first barrier */
#endif
    }
    /* {max, sum (0: no key; -1: only -inf tiles), acc[D]} per (bh, row, split, pattern) */
    if (mr < R) {
        [[unroll]] for (uint p = 0u; p < 3u; p++) {
            uint o = wbase + p * (D + 2u);
            if (dq == 0u && (lane & 1u) == 0u) {
                work[o] = M[p];
                work[o + 1u] = M[p] == NEG_INF && Z[p] == 0.0 && (ninf >> p & 1u) != 0u ? -1.0 : Z[p];
            }
            if (p >= NPA)
                continue;
            [[unroll]] for (uint b2 = 0u; b2 < 2u; b2++)
                [[unroll]] for (uint e = 0u; e < 8u; e++) {
                    uint d = (dq * 2u + b2) * 16u + (lane & 1u) * 8u + e;
                    if (d < D)
                        work[o + 2u + d] = A[min(p, NPA - 1u)][b2 * 8u + e];
                }
        }
    }
}
