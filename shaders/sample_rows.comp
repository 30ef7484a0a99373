/* sample_rows: head-classification rows (vox_op_sample_rows). One workgroup per (bh, r):
 * the exact attention output of one sampled query row over every valid key,
 * three ways at once (all keys, spatial pattern, temporal pattern), with a
 * streaming (online) softmax over chunks of 128 keys.
 * out[(bh*R + r)*3 + {0,1,2}] = ||o_s-o_d||^2, ||o_t-o_d||^2, ||o_d||^2.
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
#define WG 128u
#define DPT 2 /* D <= 256 */
layout(local_size_x = 128) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_SAMPLE_ROWS_BUFS) VOX_GLSL_FIELDS(VOX_SAMPLE_ROWS_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer Q { ELEM q[]; };
layout(std430, set = 0, binding = 1) readonly buffer K { ELEM k[]; };
layout(std430, set = 0, binding = 2) readonly buffer Vv { ELEM v[]; };
layout(std430, set = 0, binding = 3) readonly buffer Rows { int rows[]; };
layout(std430, set = 0, binding = 4) readonly buffer Coord { int coord[]; };
layout(std430, set = 0, binding = 5) readonly buffer BlockValid { int block_valid[]; };
layout(std430, set = 0, binding = 6) writeonly buffer Out { float outv[]; };

shared float sq[256];
shared float sc[WG];
shared uint sflag[WG];
shared float red[3][WG];

uint NB, V, fb, sb, sink;

bool allows(uint ib, uint jb, bool temporal)
{
    int ti = coord[pc.off[4] + 3u * ib], tj = coord[pc.off[4] + 3u * jb];
    if (ti < 0 || tj < 0)
        return true;
    if (sink != 0u && tj == 0)
        return true;
    if (!temporal)
        return abs(tj - ti) <= int(fb);
    int yi = coord[pc.off[4] + 3u * ib + 1u], yj = coord[pc.off[4] + 3u * jb + 1u];
    int xi = coord[pc.off[4] + 3u * ib + 2u], xj = coord[pc.off[4] + 3u * jb + 2u];
    return abs(yj - yi) <= int(sb) && abs(xj - xi) <= int(sb);
}

void main()
{
    uint g = group_linear_id();
    if (g >= pc.wg_count)
        return;
    uint tid = gl_LocalInvocationID.x;
    uint D = uint(pc.D);
    NB = vox_u64lo(pc.NB), V = uint(pc.V);
    uint R = vox_u64lo(pc.R);
    fb = uint(pc.frame_blocks), sb = uint(pc.space_blocks), sink = uint(pc.sink);
    float scale = pc.scale;
    uint bh = g / R, r = g - bh * R;
    uint S = NB * V;
    uint qs = uint(rows[pc.off[3] + r]), ib = qs / V;
    for (uint e = tid; e < D; e += WG)
        sq[e] = LD(q[pc.off[0] + (bh * S + qs) * D + e]);
    float mx[3] = float[3](NEG_INF, NEG_INF, NEG_INF);
    float z[3] = float[3](0.0, 0.0, 0.0);
    float o[3][DPT];
    for (int w = 0; w < 3; w++)
        for (int j = 0; j < DPT; j++)
            o[w][j] = 0.0;
    barrier();
    for (uint k0 = 0u; k0 < S; k0 += WG) {
        uint ks = k0 + tid;
        float s = NEG_INF;
        uint flag = 0u;
        if (ks < S) {
            uint jb = ks / V;
            if (ks - jb * V < uint(block_valid[pc.off[5] + jb])) {
                float acc = 0.0;
                for (uint e = 0u; e < D; e++)
                    acc += sq[e] * LD(k[pc.off[1] + (bh * S + ks) * D + e]);
                s = acc; /* unscaled: the scale enters in exp((s - max) * scale) */
                flag = 1u | (allows(ib, jb, false) ? 2u : 0u) | (allows(ib, jb, true) ? 4u : 0u);
            }
        }
        sc[tid] = s;
        sflag[tid] = flag;
        barrier();
        float cm[3] = float[3](NEG_INF, NEG_INF, NEG_INF);
        for (uint c = 0u; c < WG; c++)
            for (int w = 0; w < 3; w++)
                if ((sflag[c] & (1u << uint(w))) != 0u)
                    cm[w] = max(cm[w], sc[c]);
        float alpha[3];
        for (int w = 0; w < 3; w++) {
            float nm = max(mx[w], cm[w]);
            alpha[w] = (mx[w] == NEG_INF) ? 0.0 : exp((mx[w] - nm) * scale);
            mx[w] = nm;
            z[w] *= alpha[w];
            for (int j = 0; j < DPT; j++)
                o[w][j] *= alpha[w];
        }
        for (uint c = 0u; c < WG; c++) {
            uint fl = sflag[c];
            if (fl == 0u)
                continue;
            float vv[DPT];
            for (int j = 0; j < DPT; j++) {
                uint e = tid + uint(j) * WG;
                vv[j] = e < D ? LD(v[pc.off[2] + (bh * S + k0 + c) * D + e]) : 0.0;
            }
            for (int w = 0; w < 3; w++) {
                if ((fl & (1u << uint(w))) == 0u)
                    continue;
                float pw = exp((sc[c] - mx[w]) * scale);
                z[w] += pw;
                for (int j = 0; j < DPT; j++)
                    o[w][j] += pw * vv[j];
            }
        }
        barrier();
    }
    float es = 0.0, et = 0.0, nd = 0.0;
    for (int j = 0; j < DPT; j++) {
        uint e = tid + uint(j) * WG;
        if (e < D) {
            float od = o[0][j] / z[0], os = o[1][j] / z[1], ot = o[2][j] / z[2];
            es += (os - od) * (os - od);
            et += (ot - od) * (ot - od);
            nd += od * od;
        }
    }
    red[0][tid] = es;
    red[1][tid] = et;
    red[2][tid] = nd;
    barrier();
    for (uint s2 = WG / 2u; s2 > 0u; s2 >>= 1u) {
        if (tid < s2)
            for (int w = 0; w < 3; w++)
                red[w][tid] += red[w][tid + s2];
        barrier();
    }
    if (tid == 0u)
        for (int w = 0; w < 3; w++)
            outv[pc.off[6] + g * 3u + uint(w)] = red[w][0];
}
#endif /* VOX_GLSL */
#ifndef VOX_GLSL
#define VK_VARIANTS_sample_rows(X) \
    X("sample_rows_f32", "sample_rows.comp", "-DDT_F32=1") \
    X("sample_rows_f16", "sample_rows.comp", "-DDT_F16=1") \
    X("sample_rows_bf16", "sample_rows.comp", "-DDT_BF16=1")
/* X(op) where this file has vk_<op>_supports() (vk_supports) */
#define VK_SUPPORTS_sample_rows(X)

vox_status vk_sample_rows(void *dev, const vox_op_dims *d, const vox_op_sample_rows *p)
{
    VK_OP_ARGS(sample_rows);
    vox_status st = check_blocks(v, d, "sample_rows");
    if (st)
        return st;
    int64_t BH = a.BH, NB = a.NB, R = a.R;
    if (R <= 0)
        return VOX_OK;
    size_t qkv = (size_t)(BH * NB * a.V * a.D) * es;
    vk_sample_rows_binds b = {.q = bind(p->q, qkv, es),
                              .k = bind(p->k, qkv, es),
                              .v = bind(p->v, qkv, es),
                              .rows = bind(p->rows, (size_t)R * 4, 4),
                              .block_coord = bind(p->block_coord, (size_t)NB * 12, 4),
                              .valid = bind(d->block_valid, (size_t)NB * 4, 4),
                              .out = bind(p->out, (size_t)(BH * R * 3) * 4, 4)};
    char name[48];
    return VK_DISPATCH(v, sample_rows, pipe_name(name, sizeof name, "sample_rows", d->dtype), b, a,
                       (uint64_t)(BH * R));
}
#endif /* !VOX_GLSL */
