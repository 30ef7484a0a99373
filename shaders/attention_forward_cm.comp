#version 450
/* Block-sparse attention forward on matrix units (VK_NV_cooperative_matrix,
 * 16x16x16 f16 x f16 -> f32, subgroup scope, subgroups of 32): the f16/bf16,
 * head_dim <= DMAX variant of attention_forward.comp, with the same bindings, push
 * constants and semantics. Only created on devices with the feature (the host
 * checks subgroup size 32, so 128 invocations = 4 subgroups).
 *
 * One workgroup per (bh, query block i, tile of 64 rows); subgroup sg owns
 * rows 16*sg..16*sg+15 and keeps its Q fragments in registers. Keys are
 * streamed like attention_forward.comp, BK per tile (K and V staged as f16 in shared
 * memory, the next tile's global loads issued before this tile's math):
 *   S = Q K^T (coop) -> shared f32 -> online softmax by plain invocations
 *   (2 per row) -> P as f16 in shared -> O_j = P V_j (coop, 16 dims at a time,
 *   fresh accumulator) -> shared -> acc = acc * alpha + O_j in registers.
 * NV coop-matrix elements cannot be addressed per row, hence the round trips
 * through shared memory for the row-wise softmax and rescale.
 *
 * bf16 has no NV matrix type: it is staged as f16 scaled by an exact power of
 * two per tile (the Q tile once, each K tile, each V tile) that brings the
 * tile's largest finite |x| to [2^14, 2^15), so nothing overflows and only
 * values below max * 2^-31 (f16 subnormals) lose bits. The scales are undone in the softmax
 * (S / (sq * sk)) and the accumulation (O_j / sv). Inf and NaN pass through.
 *
 * Build-time defines: DT_F16 / DT_BF16, DMAX (64 or 128), BK (keys per tile).
 * Shared memory: 45392 bytes for DMAX 64 / BK 64, 33104 for DMAX 128 / BK 32.
 * tiles: workgroups per query block (ceil(V / 64)). */
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#define WG 128u
#define NSG 4u                /* subgroups of 32 */
#define BQ 64u                /* query rows per workgroup, 16 per subgroup */
#define C8 (DMAX / 8u)        /* 16-byte chunks (8 halves) per staged row */
#define RS4 (C8 + 1u)         /* staged row stride in uvec4: the pad spreads rows over banks */
#define KV_ROWS (2u * BK > BQ ? 2u * BK : BQ)
#define SS (BK + 4u)          /* S row stride (floats; coop rows need 16-byte alignment) */
#define OS 20u                /* O chunk row stride (floats) */
#define SCR (16u * SS > 32u * OS ? 16u * SS : 32u * OS) /* scratch floats per subgroup */
#define PS (BK + 8u)          /* P row stride (halves) */
#define QCH (BQ * C8 / WG)    /* staged chunks per invocation: Q tile */
#define KCH (BK * C8 / WG)    /* K or V tile */
#define EXP_LIM 120           /* |bf16 staging exponent|: 2^e, 2^-e and 2^(half of -(eq + ek)) stay normal */
layout(local_size_x = 128) in;
layout(push_constant) uniform PC {
    VOX_GLSL_PC_HEAD(VOX_ATTENTION_FORWARD_BUFS) VOX_GLSL_FIELDS(VOX_ATTENTION_FORWARD_ARGS)
} pc;
/* 16-byte views of Q, K, V, O: used when D and the offsets are multiples of 8 */
layout(std430, set = 0, binding = 0) readonly buffer Q { ELEM q[]; };
layout(std430, set = 0, binding = 0) readonly buffer Q4 { uvec4 q4[]; };
layout(std430, set = 0, binding = 1) readonly buffer K { ELEM k[]; };
layout(std430, set = 0, binding = 1) readonly buffer K4 { uvec4 k4[]; };
layout(std430, set = 0, binding = 2) readonly buffer Vv { ELEM v[]; };
layout(std430, set = 0, binding = 2) readonly buffer V4 { uvec4 v4[]; };
layout(std430, set = 0, binding = 3) writeonly buffer O { ELEM o[]; };
layout(std430, set = 0, binding = 3) writeonly buffer O4 { uvec4 o4[]; };
layout(std430, set = 0, binding = 4) writeonly buffer Lse { float lse[]; };
layout(std430, set = 0, binding = 5) readonly buffer KvStart { int kv_start[]; };
layout(std430, set = 0, binding = 6) readonly buffer KvCount { int kv_count[]; };
layout(std430, set = 0, binding = 7) readonly buffer KvCols { int kv_cols[]; };
layout(std430, set = 0, binding = 8) readonly buffer KeptCount { int kept_count[]; };
layout(std430, set = 0, binding = 9) readonly buffer KeptRows { int kept_rows[]; };
layout(std430, set = 0, binding = 10) readonly buffer BlockValid { int block_valid[]; };

/* Q tile (64 rows) at the start, then the K tile (rows 0..BK-1) and the V
 * tile (rows BK..2BK-1); f16 bits, row stride RS4 */
shared uvec4 skv[KV_ROWS * RS4];
shared float sscr[NSG * SCR];          /* per subgroup: S (16 x SS), then two O chunks (16 x OS) */
shared float16_t sp[NSG * 16u * PS];   /* per subgroup: P (16 x PS) */
shared uint sred[4u + 2u * NSG * 2u];  /* bf16 max bits: Q, then K/V by tile parity */
shared int srow[BQ];

#define CM16 fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define CM32 fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

#if defined(DT_F16)
#define BITS(x) packFloat2x16(f16vec2(x, float16_t(0.0)))
#else
#define BITS(x) uint(x)
#endif

/* 8 elements [e0, e0 + 8) of the row starting at element `row` as 16-bit
 * bits; elements >= D are 0. The caller ensures e0 < D. */
#define LOAD_CHUNK(NAME, BUF, BUF4)                                                    \
    uvec4 NAME(uint row, uint e0, uint D, bool vec)                                    \
    {                                                                                  \
        if (vec)                                                                       \
            return BUF4[(row + e0) >> 3];                                              \
        uint w[8];                                                                     \
        [[unroll]] for (uint j = 0u; j < 8u; j++)                                      \
            w[j] = e0 + j < D ? BITS(BUF[row + e0 + j]) : 0u;                          \
        return uvec4(w[0] | w[1] << 16, w[2] | w[3] << 16, w[4] | w[5] << 16, w[6] | w[7] << 16); \
    }
LOAD_CHUNK(load_q, q, q4)
LOAD_CHUNK(load_k, k, k4)
LOAD_CHUNK(load_v, v, v4)

float nanmax(float a, float b) { return isnan(a) || isnan(b) ? a + b : max(a, b); }

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

/* Exponent e with max * 2^e in [2^14, 2^15) (0 when the tile has no finite nonzero value). */
int tile_exp(uint mb)
{
    if (mb == 0u)
        return 0;
    int em = mb >= 0x80u ? int(mb >> 7) - 127 : findMSB(mb) - 133; /* subnormal: mant * 2^-133 */
    return clamp(14 - em, -EXP_LIM, EXP_LIM);
}

float pow2(int e) { return uintBitsToFloat(uint(e + 127) << 23); } /* e in [-126, 127] */

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

#if defined(DT_F16)
uint pack2(float a, float b) { return packFloat2x16(f16vec2(a, b)); }
#else
uint pack2(float a, float b) { return bf16_bits(a) | bf16_bits(b) << 16; }
#endif

/* KV tile cursor: kv entry c, first key k0 of the tile in block jb, its valid keys nk */
int cur_c = -1;
uint cur_k0 = 0u, cur_nk = 0u, cur_kbase = 0u;
uvec4 kraw[KCH], vraw[KCH];

/* Moves to the next tile (skipping empty blocks); false at the end. Uniform. */
bool next_tile(int start, int count, uint bh, uint S, uint V, uint D)
{
    cur_k0 += BK;
    while (cur_k0 >= cur_nk) {
        cur_c++;
        if (cur_c >= count)
            return false;
        uint jb = uint(kv_cols[pc.off[7] + uint(start + cur_c)]);
        cur_nk = uint(block_valid[pc.off[10] + jb]);
        cur_kbase = (bh * S + jb * V) * D;
        cur_k0 = 0u;
    }
    return true;
}

/* Global loads of the current tile into kraw / vraw (keys >= nk are 0). */
void load_kv(uint tid, uint D, bool vec)
{
    [[unroll]] for (uint t = 0u; t < KCH; t++) {
        uint idx = tid + t * WG, kk = idx / C8, c = idx - kk * C8;
        kraw[t] = uvec4(0u);
        vraw[t] = uvec4(0u);
        if (cur_k0 + kk < cur_nk && c * 8u < D) {
            uint row = cur_kbase + (cur_k0 + kk) * D;
            kraw[t] = load_k(pc.off[1] + row, c * 8u, D, vec);
            vraw[t] = load_v(pc.off[2] + row, c * 8u, D, vec);
        }
    }
}

void main()
{
    uint g = group_linear_id();
    if (g >= pc.wg_count)
        return;
    uint tid = gl_LocalInvocationID.x;
    uint D = uint(pc.D), NB = vox_u64lo(pc.NB), V = uint(pc.V);
    bool has_kept = pc.has_kept != 0;
    float scale = pc.scale;
    uint tiles = uint(pc.tiles);
    uint m = g / tiles, tile = g - m * tiles;
    uint bh = m / NB, i = m - bh * NB;
    uint S = NB * V;
    int nrows = has_kept ? kept_count[pc.off[8] + m] : block_valid[pc.off[10] + i];
    uint r0 = tile * BQ;
    if (int(r0) >= nrows)
        return; /* uniform across the workgroup */
    bool vec = (D & 7u) == 0u && ((pc.off[0] | pc.off[1] | pc.off[2] | pc.off[3]) & 7u) == 0u;
    uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;

    /* ---- Q tile -> f16 in shared -> fragments in registers */
    uint qbase = pc.off[0] + (bh * S + i * V) * D;
    if (tid < BQ) {
        uint r = r0 + tid;
        srow[tid] = int(r) < nrows ? (has_kept ? kept_rows[pc.off[9] + m * V + r] : int(r)) : -1;
    }
    uvec4 qraw[QCH];
    [[unroll]] for (uint t = 0u; t < QCH; t++) {
        uint idx = tid + t * WG, rr = idx / C8, c = idx - rr * C8, r = r0 + rr;
        qraw[t] = uvec4(0u);
        if (int(r) < nrows && c * 8u < D) {
            uint slot = has_kept ? uint(kept_rows[pc.off[9] + m * V + r]) : r;
            qraw[t] = load_q(qbase + slot * D, c * 8u, D, vec);
        }
    }
#if defined(DT_BF16)
    uint mb = 0u;
    [[unroll]] for (uint t = 0u; t < QCH; t++)
        mb = max(mb, chunk_maxbits(qraw[t]));
    mb = subgroupMax(mb);
    if (subgroupElect())
        sred[sg] = mb;
    barrier();
    int eq = tile_exp(max(max(sred[0], sred[1]), max(sred[2], sred[3])));
    float qs = pow2(eq);
#endif
    [[unroll]] for (uint t = 0u; t < QCH; t++) {
        uint idx = tid + t * WG, rr = idx / C8, c = idx - rr * C8;
#if defined(DT_BF16)
        skv[rr * RS4 + c] = to_f16(qraw[t], qs);
#else
        skv[rr * RS4 + c] = qraw[t];
#endif
    }
    barrier();
    CM16 qf[DMAX / 16u];
    [[unroll]] for (uint t = 0u; t < DMAX / 16u; t++)
        coopMatLoadNV(qf[t], skv, sg * 16u * RS4 + t * 2u, RS4, false);

    /* invocation (row, h) of the subgroup: scores of columns 2j + h and output
     * dims 2j + h of each 16-dim chunk, visited rotated by b = row / 8 so that
     * the 32 lanes hit 32 distinct banks; the row's running max and sum are
     * kept (identically) by both of its lanes */
    uint row = lane >> 1u, h = lane & 1u, b = row >> 3u;
    uint sbase = sg * SCR, pbase = sg * 16u * PS;
    float acc[DMAX / 2u];
    [[unroll]] for (uint j = 0u; j < DMAX / 2u; j++)
        acc[j] = 0.0;
    float mrow = NEG_INF, lrow = 0.0;

    int start = kv_start[pc.off[5] + m], count = kv_count[pc.off[6] + m];
    bool have = next_tile(start, count, bh, S, V, D);
    if (have)
        load_kv(tid, D, vec);
    uint par = 0u;
    while (have) {
        uint k0 = cur_k0, nk = cur_nk;
#if defined(DT_BF16)
        uint kmb = 0u, vmb = 0u;
        [[unroll]] for (uint t = 0u; t < KCH; t++) {
            kmb = max(kmb, chunk_maxbits(kraw[t]));
            vmb = max(vmb, chunk_maxbits(vraw[t]));
        }
        kmb = subgroupMax(kmb);
        vmb = subgroupMax(vmb);
        if (subgroupElect()) {
            sred[4u + par * 8u + sg * 2u] = kmb;
            sred[4u + par * 8u + sg * 2u + 1u] = vmb;
        }
#endif
        barrier(); /* the previous tile is consumed (and the reductions are visible) */
#if defined(DT_BF16)
        uint rb = 4u + par * 8u;
        int ek = tile_exp(max(max(sred[rb], sred[rb + 2u]), max(sred[rb + 4u], sred[rb + 6u])));
        int ev = tile_exp(max(max(sred[rb + 1u], sred[rb + 3u]), max(sred[rb + 5u], sred[rb + 7u])));
        float ks = pow2(ek), vs = pow2(ev);
        int es = -(eq + ek), es1 = es >> 1; /* S / (sq * sk) in two exact steps */
        float fs1 = pow2(es1), fs2 = pow2(es - es1), fv = pow2(-ev);
#endif
        [[unroll]] for (uint t = 0u; t < KCH; t++) {
            uint idx = tid + t * WG, kk = idx / C8, c = idx - kk * C8;
#if defined(DT_BF16)
            skv[kk * RS4 + c] = to_f16(kraw[t], ks);
            skv[(BK + kk) * RS4 + c] = to_f16(vraw[t], vs);
#else
            skv[kk * RS4 + c] = kraw[t];
            skv[(BK + kk) * RS4 + c] = vraw[t];
#endif
        }
        barrier(); /* K and V staged */
        have = next_tile(start, count, bh, S, V, D);
        if (have)
            load_kv(tid, D, vec); /* in flight during this tile's math */

        /* S = Q K^T: K tile [key][d] row-major = column-major B (d x key) */
        [[unroll]] for (uint nb = 0u; nb < BK / 16u; nb++) {
            if (k0 + nb * 16u < nk) {
                CM32 sacc = CM32(0.0);
                [[unroll]] for (uint t = 0u; t < DMAX / 16u; t++) {
                    if (t * 16u < D) {
                        CM16 kf;
                        coopMatLoadNV(kf, skv, nb * 16u * RS4 + t * 2u, RS4, true);
                        sacc = coopMatMulAddNV(qf[t], kf, sacc);
                    }
                }
                coopMatStoreNV(sacc, sscr, sbase + nb * 16u, SS, false);
            }
        }
        subgroupMemoryBarrierShared();
        subgroupBarrier();

        /* online softmax in units of q.k (the scale enters only inside exp) */
        float sv[BK / 2u];
        float tmax = NEG_INF;
        [[unroll]] for (uint j = 0u; j < BK / 2u; j++) {
            uint col = 2u * ((j + b) & (BK / 2u - 1u)) + h;
            precise float s = NEG_INF;
            if (k0 + col < nk) {
#if defined(DT_BF16)
                s = sscr[sbase + row * SS + col] * fs1 * fs2;
#else
                s = sscr[sbase + row * SS + col];
#endif
            }
            sv[j] = s;
            tmax = nanmax(tmax, s);
        }
        tmax = nanmax(tmax, subgroupShuffleXor(tmax, 1u));
        float mnew = nanmax(mrow, tmax);
        float alpha = mrow == NEG_INF ? 0.0 : exp((mrow - mnew) * scale);
        if (mnew == NEG_INF)
            alpha = 1.0;
        float sum = 0.0;
        [[unroll]] for (uint j = 0u; j < BK / 2u; j++) {
            uint col = 2u * ((j + b) & (BK / 2u - 1u)) + h;
            float pk = sv[j] == NEG_INF ? 0.0 : exp((sv[j] - mnew) * scale);
            sum += pk;
            sp[pbase + row * PS + col] = float16_t(pk);
        }
        sum += subgroupShuffleXor(sum, 1u);
        lrow = lrow * alpha + sum;
        mrow = mnew;
        subgroupMemoryBarrierShared();
        subgroupBarrier(); /* P written, S read: the scratch now takes O chunks */

        /* O_j = P V_j, 16 dims at a time, double-buffered in the scratch */
        CM16 pf[BK / 16u];
        [[unroll]] for (uint kb = 0u; kb < BK / 16u; kb++)
            if (k0 + kb * 16u < nk)
                coopMatLoadNV(pf[kb], sp, pbase + kb * 16u, PS, false);
        [[unroll]] for (uint j = 0u; j < DMAX / 16u; j++) {
            if (j * 16u < D) {
                CM32 oc = CM32(0.0);
                [[unroll]] for (uint kb = 0u; kb < BK / 16u; kb++) {
                    if (k0 + kb * 16u < nk) {
                        CM16 vf;
                        coopMatLoadNV(vf, skv, (BK + kb * 16u) * RS4 + j * 2u, RS4, false);
                        oc = coopMatMulAddNV(pf[kb], vf, oc);
                    }
                }
                uint ob = sbase + (j & 1u) * 16u * OS;
                coopMatStoreNV(oc, sscr, ob, OS, false);
                subgroupMemoryBarrierShared();
                subgroupBarrier();
                [[unroll]] for (uint e = 0u; e < 8u; e++) {
                    float x = sscr[ob + row * OS + 2u * ((e + b) & 7u) + h];
#if defined(DT_BF16)
                    x *= fv;
#endif
                    acc[j * 8u + e] = acc[j * 8u + e] * alpha + x;
                }
            }
        }
        par ^= 1u;
    }

    /* epilogue: acc[j*8 + e] holds dim j*16 + 2*((e + b) & 7) + h; the two
     * lanes of a row swap halves so each writes 8 consecutive dims */
    int slot = srow[sg * 16u + row];
    /* no keys: o = 0, lse = -inf; a NaN sum (NaN inputs) propagates */
    float inv = lrow == 0.0 ? 0.0 : 1.0 / lrow;
    uint obase = pc.off[3] + (bh * S + i * V + uint(max(slot, 0))) * D;
    [[unroll]] for (uint j = 0u; j < DMAX / 16u; j++) {
        if (j * 16u < D) {
            float val[8], recv[4];
            [[unroll]] for (uint kq = 0u; kq < 8u; kq++) /* val[kq]: dim j*16 + 2*kq + h */
                val[kq] = (b == 0u ? acc[j * 8u + kq] : acc[j * 8u + ((kq + 7u) & 7u)]) * inv;
            [[unroll]] for (uint kq = 0u; kq < 4u; kq++)
                recv[kq] = subgroupShuffleXor(h == 0u ? val[4u + kq] : val[kq], 1u);
            float outv[8]; /* dims j*16 + h*8 + 0..7 */
            [[unroll]] for (uint kq = 0u; kq < 4u; kq++) {
                outv[2u * kq] = h == 0u ? val[kq] : recv[kq];
                outv[2u * kq + 1u] = h == 0u ? recv[kq] : val[4u + kq];
            }
            uint e0 = j * 16u + h * 8u;
            if (slot >= 0 && e0 < D) {
                if (vec) {
                    o4[(obase + e0) >> 3] = uvec4(pack2(outv[0], outv[1]), pack2(outv[2], outv[3]),
                                                  pack2(outv[4], outv[5]), pack2(outv[6], outv[7]));
                } else {
                    [[unroll]] for (uint e = 0u; e < 8u; e++)
                        if (e0 + e < D)
                            o[obase + e0 + e] = ST(outv[e]);
                }
            }
        }
    }
    if (slot >= 0 && h == 0u)
        lse[pc.off[4] + bh * S + i * V + uint(slot)] = lrow == 0.0 ? NEG_INF : mrow * scale + log(lrow);
}
