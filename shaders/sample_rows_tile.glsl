/* sample_rows' tile-pass helpers shared by sample_rows_cm.comp and
 * sample_rows_nv2.comp (included after the op's bindings, rows_view.glsl and,
 * for CH, WG, C8 and SR_KT, the pass's tile geometry; with SR_CM2 the cursor
 * also reads each key block's coordinates): 16-bit chunk loads of q, k, v,
 * nmax, the non-finite test of a chunk, the patterns' allowance from the
 * blocks' coordinates, and the tile cursor with its global loads. */
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

float nmax(float a, float b) { return isnan(a) || isnan(b) ? NAN_F : max(a, b); }

/* Whether a chunk holds an Inf or NaN. */
bool chunk_nonfinite(uvec4 c)
{
    bool bad = false;
    [[unroll]] for (uint j = 0u; j < 4u; j++) {
#if defined(DT_F16)
        bad = bad || (c[j] & 0x7c00u) == 0x7c00u || (c[j] & 0x7c000000u) == 0x7c000000u;
#else
        bad = bad || (c[j] & 0x7f80u) == 0x7f80u || (c[j] & 0x7f800000u) == 0x7f800000u;
#endif
    }
    return bad;
}

/* tile cursor: block jb, first key c0 of the tile, the block's valid keys nv */
uint cur_jb, cur_c0, cur_nv, cur_end;
#if defined(SR_CM2)
ivec3 cur_c; /* the block's (t, y, x), read with its valid count */

/* allows() from the blocks' coordinates */
bool allows_c(ivec3 ci, ivec3 cj, bool temporal)
{
    if (ci.x < 0 || cj.x < 0)
        return true;
    if (pc.sink != 0 && cj.x == 0)
        return true;
    if (!temporal)
        return abs(cj.x - ci.x) <= pc.frame_blocks;
    return abs(cj.y - ci.y) <= pc.space_blocks && abs(cj.z - ci.z) <= pc.space_blocks;
}
#endif
uvec4 kraw[CH], vraw[CH];

/* Moves to the next tile (skipping empty blocks); false at the end. Uniform. */
bool next_tile()
{
    cur_c0 += SR_KT;
    while (cur_c0 >= cur_nv) {
        cur_jb++;
        if (cur_jb >= cur_end)
            return false;
        cur_nv = uint(block_valid[pc.off[5] + cur_jb]);
#if defined(SR_CM2)
        uint c3 = pc.off[4] + 3u * cur_jb;
        cur_c = ivec3(coord[c3], coord[c3 + 1u], coord[c3 + 2u]);
#endif
        cur_c0 = 0u;
    }
    return true;
}

/* Global loads of the current tile into kraw / vraw (keys past the valid count and dims past D 0). */
void load_kv(uint tid, uint xo, uint V, uint D, bool vec)
{
    [[unroll]] for (uint t = 0u; t < CH; t++) {
        uint idx = tid + t * WG, kk = idx / C8, c = idx - kk * C8;
        kraw[t] = uvec4(0u);
        vraw[t] = uvec4(0u);
        if (cur_c0 + kk < cur_nv && c * 8u < D) {
            uint row = rv_row_at(xo, cur_jb * V + cur_c0 + kk);
            kraw[t] = load_k(pc.off[1] + row, c * 8u, D, vec);
            vraw[t] = load_v(pc.off[2] + row, c * 8u, D, vec);
        }
    }
}

