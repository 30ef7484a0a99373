/* sample_rows: head-classification rows (vox_op_sample_rows), the exact
 * attention output of the sampled query rows over every valid key three ways
 * (all keys, spatial pattern, temporal pattern), reduced to
 * out[(bh*R + r)*3 + {0,1,2}] = ||o_s-o_d||^2, ||o_t-o_d||^2, ||o_d||^2.
 *
 * Two passes of this file, the work split of the CUDA f32 kernel
 * (backends/gpu/kernels/sample_rows.cuh) and of kernels/sample_rows.cl of
 * the OpenCL backend, without subgroup operations:
 * the tile pass (sample_rows_<dtype>): one workgroup of 256 invocations per
 * (bh, key split, group of SR_ROWS sampled rows, slice of SR_DS head dims).
 * It streams its split's key blocks once, in tiles of up to SR_KT keys of
 * one block, for all its rows and the three patterns together: scores
 * Q K^T in f32 (Q and K chunks of SR_DC dims staged in shared memory;
 * invocation (rq, lane) owns rows 4rq.. +3 and keys 2lane, 2lane+1, each
 * score a sum of 8-dim fma partials); per row the tile max (NaN wins),
 * weights exp(s - m) and sum through shared memory (invocation (row, part)
 * takes keys part + 8j); T = P V in f32 (V chunks of SR_VC keys staged, each
 * read into registers ahead;
 * (rq, lane) owns rows 4rq.. +3 and dims 4lane.. +3 of the slice); then the
 * tile merged online into every pattern that allows its block. It writes
 * {max, sum, acc[D]} per (bh, row, split, pattern) to the work buffer (sum
 * 0: no key; -1: only -inf scores).
 * The merge pass (sample_rows_merge, -DSR_MERGE=1): one workgroup per (bh,
 * row) merges the splits and reduces the three outputs.
 *
 * One file per op: the GLSL compute shader (compiled by glslc with
 * -DVOX_GLSL and -std=450, so no #version line here), and in a section
 * glslc skips the host side, compiled into vk_ops.c through the generated
 * vk_op_files.h: the op's shader variants VK_VARIANTS_sample_rows (one
 * X(name, source, defines) per line; backends/vulkan/meson.build reads these
 * lines to build the SPIR-V, the launcher reads the defines), the
 * launcher vk_sample_rows() and VK_SUPPORTS_sample_rows.
 */
#ifdef VOX_GLSL
#include "common.glsl"
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_SAMPLE_ROWS_BUFS) VOX_GLSL_FIELDS(VOX_SAMPLE_ROWS_ARGS) } pc;
layout(std430, set = 0, binding = 6) writeonly buffer Out { float outv[]; };

#define NAN_F uintBitsToFloat(0x7fc00000u)

#if defined(SR_MERGE)
layout(std430, set = 0, binding = 7) readonly buffer Work { float work[]; };
#define MLS 64u
#define MAXSPLIT uint(VOX_SAMPLE_ROWS_MAX_SPLITS) /* vox_sample_rows_splits' cap (core/kernel_args.h) */
layout(local_size_x = 64) in;
shared float red[3][MLS];
#ifndef SR_MERGE_OLD
/* per pattern: the max over the splits, the flags, z; per (split, pattern): the factor (0: skipped) */
shared float fs[3u * MAXSPLIT], zs[3], mms[3];
shared bool fok[3u * MAXSPLIT], anys[3], ninfs[3];
#endif

void main()
{
    uint pr = group_linear_id();
    if (pr >= pc.wg_count)
        return;
    uint tid = gl_LocalInvocationID.x, D = uint(pc.D), nsplit = uint(pc.nsplit);
    uint base = pc.off[7] + pr * nsplit * 3u * (D + 2u);
#ifndef SR_MERGE_OLD
    /* the splits' max, flags, factors exp(m_x - m) and z once per workgroup (the per-element form's
     * expressions in the same split order: the same values), then each element's sum over the splits */
    if (tid < 3u) {
        float mm = NEG_INF;
        bool any = false, ninf = false;
        for (uint x = 0u; x < nsplit; x++) {
            uint st = base + (x * 3u + tid) * (D + 2u);
            if (work[st + 1u] == -1.0)
                ninf = true;
            else if (work[st + 1u] != 0.0) {
                any = true;
                mm = work[st] > mm ? work[st] : mm;
            }
        }
        mms[tid] = mm;
        anys[tid] = any;
        ninfs[tid] = ninf;
    }
    barrier();
    for (uint i = tid; i < 3u * nsplit; i += MLS) {
        uint st = base + i * (D + 2u);
        bool ok = anys[i % 3u] && work[st + 1u] != -1.0 && work[st + 1u] != 0.0;
        fs[i] = ok ? exp(work[st] - mms[i % 3u]) : 0.0;
        fok[i] = ok;
    }
    barrier();
    if (tid < 3u) {
        float z = 0.0;
        for (uint x = 0u; x < nsplit; x++)
            if (fok[x * 3u + tid])
                z += fs[x * 3u + tid] * work[base + (x * 3u + tid) * (D + 2u) + 1u];
        zs[tid] = z;
    }
    barrier();
#endif
    float es = 0.0, et = 0.0, nd = 0.0;
    for (uint e = tid; e < D; e += MLS) {
        float o[3];
        for (uint p = 0u; p < 3u; p++) {
#ifndef SR_MERGE_OLD
            bool any = anys[p], ninf = ninfs[p];
            float z = zs[p], a = 0.0;
            for (uint x = 0u; x < nsplit; x++)
                if (fok[x * 3u + p])
                    a += fs[x * 3u + p] * work[base + (x * 3u + p) * (D + 2u) + 2u + e];
#else
            float mm = NEG_INF;
            bool any = false, ninf = false;
            for (uint x = 0u; x < nsplit; x++) {
                uint st = base + (x * 3u + p) * (D + 2u);
                if (work[st + 1u] == -1.0)
                    ninf = true;
                else if (work[st + 1u] != 0.0) {
                    any = true;
                    mm = work[st] > mm ? work[st] : mm;
                }
            }
            float z = 0.0, a = 0.0;
            for (uint x = 0u; x < nsplit && any; x++) {
                uint st = base + (x * 3u + p) * (D + 2u);
                if (work[st + 1u] == -1.0 || work[st + 1u] == 0.0)
                    continue;
                float f = exp(work[st] - mm);
                z += f * work[st + 1u];
                a += f * work[st + 2u + e];
            }
#endif
            o[p] = any ? a / z : ninf ? NAN_F : 0.0;
        }
        es += (o[1] - o[0]) * (o[1] - o[0]);
        et += (o[2] - o[0]) * (o[2] - o[0]);
        nd += o[0] * o[0];
    }
    red[0][tid] = es;
    red[1][tid] = et;
    red[2][tid] = nd;
    barrier();
    for (uint s2 = MLS / 2u; s2 > 0u; s2 >>= 1u) {
        if (tid < s2)
            for (int w = 0; w < 3; w++)
                red[w][tid] += red[w][tid + s2];
        barrier();
    }
    if (tid == 0u)
        for (int w = 0; w < 3; w++)
            outv[pc.off[6] + pr * 3u + uint(w)] = red[w][0];
}

#else /* the tile pass */
layout(std430, set = 0, binding = 0) readonly buffer Q { ELEM q[]; };
layout(std430, set = 0, binding = 1) readonly buffer K { ELEM k[]; };
layout(std430, set = 0, binding = 2) readonly buffer Vv { ELEM v[]; };
layout(std430, set = 0, binding = 3) readonly buffer Rows { int rows[]; };
layout(std430, set = 0, binding = 4) readonly buffer Coord { int coord[]; };
layout(std430, set = 0, binding = 5) readonly buffer BlockValid { int block_valid[]; };
layout(std430, set = 0, binding = 7) writeonly buffer Work { float work[]; };
#include "rows_view.glsl" /* binding 8 (the slot table), rv_origin, rv_row_at */

#define LS 256u
#define SR_ROWS 32u /* sampled rows per workgroup: 4 per 32 invocations */
#define SR_KT 64u   /* keys per tile: 2 per invocation of 32 */
#define SR_DS 128u  /* head dims per workgroup: 4 per invocation of 32 */
#define SR_DC 64u   /* dims per staged Q/K chunk */
#define SR_VC 32u   /* keys per staged V chunk */
/* shared row strides (floats): 4- and 2-aligned, few bank conflicts */
#define SR_QS (SR_ROWS + 4u) /* qT[e][row] */
#define SR_KS (SR_KT + 2u)   /* kT[e][key], after qT */
#define SR_SS (SR_KT + 8u)   /* sc[row][key] */
#define SR_WS (SR_ROWS + 4u) /* wt[key][row] */
/* The stage holds qT + kT; then sc and, after SR_WT0, wt; then vs and wt
 * (kernels/sample_rows.cl of the OpenCL backend checks the sizes). */
#define SR_WT0 (SR_VC * SR_DS)
#define SR_STAGE (SR_DC * (SR_QS + SR_KS))
layout(local_size_x = 256) in;
shared float stage[SR_STAGE];
shared float pm[SR_ROWS * 8u], pz[SR_ROWS * 8u];

#define SR_VPI (SR_VC * SR_DS / LS) /* V values per invocation and chunk */
float vr[SR_VPI]; /* a V chunk read ahead (load_v) */

/* The invocation's values of V chunk v0 of a tile (keys past nk and dims
 * past D 0), read ahead into registers while the workgroup computes. */
void load_v(uint xo, uint s0, uint v0, uint nk, uint d0, uint D)
{
    for (uint x = 0u; x < SR_VPI; x++) {
        uint y = gl_LocalInvocationID.x + LS * x, key = y / SR_DS, d = y % SR_DS;
        vr[x] = v0 + key < nk && d0 + d < D ? LD(v[pc.off[2] + rv_row_at(xo, s0 + v0 + key) + d0 + d]) : 0.0;
    }
}

float nmax(float a, float b) { return isnan(a) || isnan(b) ? NAN_F : max(a, b); }

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

/* per invocation: rows 4rq+i (i < 4), dims 4lane+d of the slice */
float M[3][4], Z[3][4], A[3][4][4];

/* Online-softmax merge of a tile (mb, zb, t) into pattern p of row i. */
void merge_tile(uint p, uint i, float mb, float zb, float t[4])
{
    if (mb > M[p][i]) {
        float f = exp(M[p][i] - mb);
        Z[p][i] = Z[p][i] * f + zb;
        for (uint d = 0u; d < 4u; d++)
            A[p][i][d] = A[p][i][d] * f + t[d];
        M[p][i] = mb;
    } else { /* also a NaN mb: f is NaN and poisons the sums */
        float f = exp(mb - M[p][i]);
        Z[p][i] += zb * f;
        for (uint d = 0u; d < 4u; d++)
            A[p][i][d] += t[d] * f;
    }
}

void main()
{
    uint x = group_linear_id();
    if (x >= pc.wg_count)
        return;
    const uint t = gl_LocalInvocationID.x, lane = t % 32u, rq = t / 32u, rr = t / 8u, part = t % 8u;
    const uint R = vox_u64lo(pc.R), NB = vox_u64lo(pc.NB), V = uint(pc.V), D = uint(pc.D);
    const uint nsplit = uint(pc.nsplit), groups = (R + SR_ROWS - 1u) / SR_ROWS, dsl = (D + SR_DS - 1u) / SR_DS;
    uint u = x / dsl, ds = x - u * dsl, g = u % groups;
    u /= groups;
    const uint sp = u % nsplit, bh = u / nsplit, r0 = g * SR_ROWS, d0 = ds * SR_DS, xo = rv_origin(bh);
    const uint jb0 = NB * sp / nsplit, jb1 = NB * (sp + 1u) / nsplit; /* NB * 64 fits 32 bits */
    const uint qo = pc.off[0], ko = pc.off[1], ro = pc.off[3];
    uint ib[4];
    uint ninf = 0u; /* bit 4p + i: pattern p of row i saw an all -inf tile */
    for (uint i = 0u; i < 4u; i++) {
        uint r = r0 + 4u * rq + i;
        ib[i] = r < R ? uint(rows[ro + r]) / V : 0u;
        for (uint p = 0u; p < 3u; p++) {
            M[p][i] = NEG_INF;
            Z[p][i] = 0.0;
            for (uint d = 0u; d < 4u; d++)
                A[p][i][d] = 0.0;
        }
    }
    for (uint jb = jb0; jb < jb1; jb++) {
        const uint nv = uint(block_valid[pc.off[5] + jb]);
        uint al = 0u; /* bit 4(p-1) + i: pattern p allows the block for row i */
        for (uint i = 0u; i < 4u; i++)
            al |= (allows(ib[i], jb, false) ? 1u : 0u) << i | (allows(ib[i], jb, true) ? 1u : 0u) << (4u + i);
        for (uint c0 = 0u; c0 < nv; c0 += SR_KT) {
            const uint nk = min(nv - c0, SR_KT), s0 = jb * V + c0;
            /* scores of rows 4rq+i, keys 2lane+c */
            float s[4][2];
            for (uint i = 0u; i < 4u; i++)
                s[i][0] = s[i][1] = 0.0;
            for (uint e0 = 0u; e0 < D; e0 += SR_DC) {
                barrier(); /* the stage is free */
                for (uint y = t; y < SR_DC * SR_ROWS; y += LS) {
                    /* 8 dims x 4 rows per 32 invocations: coalesced reads, no bank conflicts */
                    uint w = y / 32u, l = y % 32u, e = l % 8u + 8u * (w % (SR_DC / 8u)), r = l / 8u + 4u * (w / (SR_DC / 8u));
                    stage[e * SR_QS + r] =
                        r0 + r < R && e0 + e < D ? LD(q[qo + rv_row_at(xo, uint(rows[ro + r0 + r])) + e0 + e]) : 0.0;
                }
                for (uint y = t; y < SR_DC * SR_KT; y += LS) {
                    uint e = y % SR_DC, key = y / SR_DC;
                    stage[SR_DC * SR_QS + e * SR_KS + key] =
                        key < nk && e0 + e < D ? LD(k[ko + rv_row_at(xo, s0 + key) + e0 + e]) : 0.0;
                }
                barrier();
                for (uint e8 = 0u; e8 < SR_DC; e8 += 8u) {
                    float c[4][2];
                    for (uint i = 0u; i < 4u; i++)
                        c[i][0] = c[i][1] = 0.0;
                    for (uint e = e8; e < e8 + 8u; e++) {
                        uint qb = e * SR_QS + 4u * rq, kb = SR_DC * SR_QS + e * SR_KS + 2u * lane;
                        float k0 = stage[kb], k1 = stage[kb + 1u];
                        for (uint i = 0u; i < 4u; i++) {
                            float qa = stage[qb + i];
                            c[i][0] = fma(qa, k0, c[i][0]);
                            c[i][1] = fma(qa, k1, c[i][1]);
                        }
                    }
                    for (uint i = 0u; i < 4u; i++) {
                        s[i][0] += c[i][0];
                        s[i][1] += c[i][1];
                    }
                }
            }
            load_v(xo, s0, 0u, nk, d0, D); /* V chunk 0, read while the weights are made */
            barrier(); /* qT, kT read: sc takes the stage */
            for (uint i = 0u; i < 4u; i++) {
                stage[(4u * rq + i) * SR_SS + 2u * lane] = s[i][0] * pc.scale;
                stage[(4u * rq + i) * SR_SS + 2u * lane + 1u] = s[i][1] * pc.scale;
            }
            barrier();
            /* row rr: the max over keys part + 8j, then over the 8 parts */
            float m = NEG_INF;
            for (uint key = part; key < nk; key += 8u)
                m = nmax(m, stage[rr * SR_SS + key]);
            pm[rr * 8u + part] = m;
            barrier();
            m = NEG_INF;
            for (uint j = 0u; j < 8u; j++)
                m = nmax(m, pm[rr * 8u + j]);
            float z = 0.0;
            for (uint key = part; key < SR_KT; key += 8u) {
                float w = key < nk && m != NEG_INF ? exp(stage[rr * SR_SS + key] - m) : 0.0;
                z += w;
                stage[SR_WT0 + key * SR_WS + rr] = w;
            }
            pz[rr * 8u + part] = z;
            /* T = P V over the slice's dims 4lane.. */
            float tv[4][4];
            for (uint i = 0u; i < 4u; i++)
                for (uint d = 0u; d < 4u; d++)
                    tv[i][d] = 0.0;
            for (uint v0 = 0u; v0 < nk; v0 += SR_VC) {
                barrier(); /* sc (or the last chunk) read, wt and pz written */
                for (uint x = 0u; x < SR_VPI; x++)
                    stage[t + LS * x] = vr[x];
                barrier();
                if (v0 + SR_VC < nk) /* the next chunk, read during this one's products */
                    load_v(xo, s0, v0 + SR_VC, nk, d0, D);
                for (uint key = 0u; key < min(SR_VC, nk - v0); key++) {
                    uint wb = SR_WT0 + (v0 + key) * SR_WS + 4u * rq, vb = key * SR_DS + 4u * lane;
                    for (uint i = 0u; i < 4u; i++)
                        for (uint d = 0u; d < 4u; d++)
                            tv[i][d] = fma(stage[wb + i], stage[vb + d], tv[i][d]);
                }
            }
            for (uint i = 0u; i < 4u; i++) {
                float mb = NEG_INF, zb = 0.0;
                for (uint j = 0u; j < 8u; j++) {
                    mb = nmax(mb, pm[(4u * rq + i) * 8u + j]);
                    zb += pz[(4u * rq + i) * 8u + j];
                }
                for (uint p = 0u; p < 3u; p++) {
                    if (p != 0u && ((al >> (4u * (p - 1u) + i)) & 1u) == 0u)
                        continue;
                    if (mb == NEG_INF)
                        ninf |= 1u << (4u * p + i);
                    else
                        merge_tile(p, i, mb, zb, tv[i]);
                }
            }
        }
    }
    for (uint i = 0u; i < 4u; i++) {
        uint r = r0 + 4u * rq + i;
        if (r >= R)
            continue;
        for (uint p = 0u; p < 3u; p++) {
            uint o = pc.off[7] + (((bh * R + r) * nsplit + sp) * 3u + p) * (D + 2u);
            if (ds == 0u && lane == 0u) {
                work[o] = M[p][i];
                work[o + 1u] = M[p][i] == NEG_INF && Z[p][i] == 0.0 && ((ninf >> (4u * p + i)) & 1u) != 0u
                                   ? -1.0
                                   : Z[p][i];
            }
            for (uint d = 0u; d < 4u; d++)
                if (d0 + 4u * lane + d < D)
                    work[o + 2u + d0 + 4u * lane + d] = A[p][i][d];
        }
    }
}
#endif /* SR_MERGE */
#endif /* VOX_GLSL */
#ifndef VOX_GLSL
#define VK_VARIANTS_sample_rows(X) \
    X("sample_rows_f32", "sample_rows.comp", "-DDT_F32=1") \
    X("sample_rows_f16", "sample_rows.comp", "-DDT_F16=1") \
    X("sample_rows_bf16", "sample_rows.comp", "-DDT_BF16=1") \
    X("sample_rows_merge", "sample_rows.comp", "-DDT_F32=1 -DSR_MERGE=1") \
    X("sample_rows_merge_old", "sample_rows.comp", "-DDT_F32=1 -DSR_MERGE=1 -DSR_MERGE_OLD=1") \
    X("sample_rows_cm_f16", "sample_rows_cm.comp", "-DDT_F16=1") \
    X("sample_rows_cm_bf16", "sample_rows_cm.comp", "-DDT_BF16=1") \
    X("sample_rows_cm2_f16", "sample_rows_cm.comp", "-DDT_F16=1 -DSR_CM2=1") \
    X("sample_rows_cm2_bf16", "sample_rows_cm.comp", "-DDT_BF16=1 -DSR_CM2=1") \
    X("sample_rows_cm8_f16", "sample_rows_cm.comp", "-DDT_F16=1 -DSR_CM2=1 -DSR_LATE=1") \
    X("sample_rows_cm8_bf16", "sample_rows_cm.comp", "-DDT_BF16=1 -DSR_CM2=1 -DSR_LATE=1") \
    X("sample_rows_cm9_f16", "sample_rows_cm.comp", "-DDT_F16=1 -DSR_K64=1 -DSR_LATE=1") \
    X("sample_rows_cm9_bf16", "sample_rows_cm.comp", "-DDT_BF16=1 -DSR_K64=1 -DSR_LATE=1") \
    X("sample_rows_cmstop1_bf16", "sample_rows_cm.comp", "-DDT_BF16=1 -DSR_STOP=1") \
    X("sample_rows_cmstop2_bf16", "sample_rows_cm.comp", "-DDT_BF16=1 -DSR_STOP=2") \
    X("sample_rows_cmstop3_bf16", "sample_rows_cm.comp", "-DDT_BF16=1 -DSR_STOP=3")
/* Variants compiled by a newer glslang than the build's glslc, their SPIR-V committed under shaders/spv/
 * (tools/gen_spv.py; backends/vulkan/meson.build checks it against the sources): the tile pass on
 * workgroup-scope matrices (VOXATTN_VULKAN_SR_NV2) */
#define VK_PREBUILT_sample_rows(P) \
    P("sample_rows_nv2_f16", "sample_rows_nv2.comp", "-DDT_F16=1") \
    P("sample_rows_nv2_bf16", "sample_rows_nv2.comp", "-DDT_BF16=1") \
    P("sample_rows_nv2p_f16", "sample_rows_nv2.comp", "-DDT_F16=1 -DSR_NV2_PIPE=1") \
    P("sample_rows_nv2p_bf16", "sample_rows_nv2.comp", "-DDT_BF16=1 -DSR_NV2_PIPE=1") \
    P("sample_rows_nv2k_f16", "sample_rows_nv2.comp", "-DDT_F16=1 -DSR_NV2_PIPE=1 -DSR_NV2_SPLIT=1") \
    P("sample_rows_nv2k_bf16", "sample_rows_nv2.comp", "-DDT_BF16=1 -DSR_NV2_PIPE=1 -DSR_NV2_SPLIT=1") \
    P("sample_rows_nv2stop1_bf16", "sample_rows_nv2.comp", "-DDT_BF16=1 -DSR_NV2_PIPE=1 -DSR_NV2_SPLIT=1 -DSR_NV2_STOP=1") \
    P("sample_rows_nv2stop2_bf16", "sample_rows_nv2.comp", "-DDT_BF16=1 -DSR_NV2_PIPE=1 -DSR_NV2_SPLIT=1 -DSR_NV2_STOP=2") \
    P("sample_rows_nv2stop3_bf16", "sample_rows_nv2.comp", "-DDT_BF16=1 -DSR_NV2_PIPE=1 -DSR_NV2_SPLIT=1 -DSR_NV2_STOP=3") \
    P("sample_rows_nv2stop4_bf16", "sample_rows_nv2.comp", "-DDT_BF16=1 -DSR_NV2_PIPE=1 -DSR_NV2_SPLIT=1 -DSR_NV2_STOP=4")
/* X(op) where this file has vk_<op>_supports() (vk_supports) */
#define VK_SUPPORTS_sample_rows(X)

/* Resident workgroups the key splits aim for (vox_sample_rows_splits): a
 * large GPU's multiprocessors twice (VOXATTN_VULKAN_SR_SLOTS overrides). */
#define VK_SR_SLOTS 264

/* The tile pass, one workgroup per (bh, key split, 32 rows, 128 dims; on
 * matrix units all dims), the splits' states in the device's scratch; then
 * the merge pass, one workgroup per (bh, row). */
vox_status vk_sample_rows(void *dev, const vox_op_dims *d, const vox_op_sample_rows *p)
{
    VK_OP_ARGS(sample_rows);
    vox_status st = check_blocks(v, d, "sample_rows");
    if (st)
        return st;
    int64_t BH = a.BH, NB = a.NB, R = a.R;
    if (R <= 0)
        return VOX_OK;
    /* matrix units (sample_rows_cm.comp: 32 rows, every dim per workgroup) for f16/bf16 with
     * D <= 128 where the device has them (VOXATTN_VULKAN_SR_SCALAR=1: off); else the scalar pass, 32 rows x 128
     * dims */
    const int cm = v->coopmat && v->sr_cm && d->dtype != VOX_F32 && a.D <= 128;
    char name[48], stop[32];
    /* the coop-matrix variant: the workgroup-scope pass where the device has cooperative_matrix2 (sr_nv2, unless
     * VOXATTN_VULKAN_SR_NV2=0), else VOXATTN_VULKAN_SR_CM2 picks the subgroup-scope form; the timing ablations
     * of either (VOXATTN_VULKAN_SR_STOP, tests only: wrong sums) exist for bf16 only */
    const int nv2 = cm && (v->sr_nv2 & (d->dtype == VOX_BF16 ? 2 : 1));
    snprintf(stop, sizeof stop, "sample_rows_%sstop%d", nv2 ? "nv2" : "cm", nv2 || v->sr_stop < 4 ? v->sr_stop : 3);
    const char *cmv = v->sr_stop && d->dtype == VOX_BF16 ? stop
                      : nv2                              ? (v->sr_nv2_form == 3   ? "sample_rows_nv2k"
                                                            : v->sr_nv2_form == 2 ? "sample_rows_nv2p"
                                                                                  : "sample_rows_nv2")
                      : v->sr_cm2 == 8                   ? "sample_rows_cm9"
                      : v->sr_cm2 == 1                   ? "sample_rows_cm2"
                      : v->sr_cm2 == 0                   ? "sample_rows_cm"
                                                         : "sample_rows_cm8";
    int64_t units = BH * ((R + 31) / 32) * (cm ? 1 : (a.D + 127) / 128),
            nsplit = vox_sample_rows_splits(units, v->sr_slots ? v->sr_slots : VK_SR_SLOTS, NB);
    a.nsplit = (int32_t)nsplit;
    size_t work = (size_t)(BH * R * nsplit * 3 * (a.D + 2)) * 4;
    /* the caller's q, k, v (one set of strides) through slot_token, at binding 8 past the op's offset table
     * (a.tok = 1 + its element offset below the offset alignment), or the block copies (a.tok 0) */
    const int direct = p->slot_token.buf != NULL;
    size_t qkv = direct ? strided_bytes(d, &p->cq, a.D, es) : (size_t)(BH * NB * a.V * a.D) * es;
    st = check_u32(v, "sample_rows", BH * R * nsplit * 3 * (a.D + 2), units * nsplit, (int64_t)(qkv / es));
    if (!st)
        st = vk_scratch(v, work);
    if (st)
        return st;
    vk_sample_rows_binds b = {.q = bind(direct ? p->cq.ref : p->q, qkv, es),
                              .k = bind(direct ? p->ck.ref : p->k, qkv, es),
                              .v = bind(direct ? p->cv.ref : p->v, qkv, es),
                              .rows = bind(p->rows, (size_t)R * 4, 4),
                              .block_coord = bind(p->block_coord, (size_t)NB * 12, 4),
                              .valid = bind(d->block_valid, (size_t)NB * 4, 4),
                              .out = bind(p->out, (size_t)(BH * R * 3) * 4, 4),
                              .work = {&v->scratch, 0, work, 4, 0}};
    st = vk_dispatch_rows(v, VOX_OP_sample_rows, pipe_name(name, sizeof name, cm ? cmv : "sample_rows", d->dtype), b.at,
                          (int)(sizeof b.at / sizeof b.at[0]), direct ? p->slot_token : none, (size_t)(NB * a.V) * 4,
                          &a.tok, &a, sizeof a, (uint64_t)(units * nsplit));
    return st ? st
              : VK_DISPATCH(v, sample_rows, v->sr_merge_wg ? "sample_rows_merge" : "sample_rows_merge_old", b, a,
                            (uint64_t)(BH * R));
}
#endif /* !VOX_GLSL */
