/* svg_classify: SVG head classification (vox_op_svg_classify). One workgroup
 * per head: the R sampled rows' three sums of sample_rows' output, reduced
 * in REAL (double with -DSC_F64, on devices with shaderFloat64; else
 * float), err_s/err_t = sum / den (den <= 0 -> 1e-300), the class (spatial
 * if err_s <= err_t, else temporal; dense unless min <= dense_above, NaN
 * too), then the head's NB mask rows from the pattern tables.
 *
 * One file per op: the GLSL compute shader (compiled by glslc with
 * -DVOX_GLSL and -std=450, so no #version line here), and in a section
 * glslc skips the host side, compiled into vk_ops.c through the generated
 * vk_op_files.h: the op's shader variants VK_VARIANTS_svg_classify (one
 * X(name, source, defines) per line; backends/vulkan/meson.build reads these
 * lines to build the SPIR-V, the launcher reads the defines), the
 * launcher vk_svg_classify() and VK_SUPPORTS_svg_classify.
 */
#ifdef VOX_GLSL
#include "common.glsl"
#define WG 64u
layout(local_size_x = 64) in;
layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD(VOX_SVG_CLASSIFY_BUFS) VOX_GLSL_FIELDS(VOX_SVG_CLASSIFY_ARGS) } pc;
layout(std430, set = 0, binding = 0) readonly buffer SampleOut { float sample_out[]; };
layout(std430, set = 0, binding = 1) readonly buffer PatternStart { int pattern_start[]; };
layout(std430, set = 0, binding = 2) readonly buffer PatternCount { int pattern_count[]; };
layout(std430, set = 0, binding = 3) writeonly buffer KvStart { int kv_start[]; };
layout(std430, set = 0, binding = 4) writeonly buffer KvCount { int kv_count[]; };
layout(std430, set = 0, binding = 5) writeonly buffer Classes { int classes[]; };
layout(std430, set = 0, binding = 6) writeonly buffer Errors { float errors[]; };

#if defined(SC_F64)
#define REAL double
#define DENSE_ABOVE packDouble2x32(pc.dense_above_f64)
#else
#define REAL float
#define DENSE_ABOVE pc.dense_above
#endif

shared REAL red[3][WG];
shared int cls;

/* e / den with the reference's guard for den <= 0 (all-zero outputs). In
 * float, 1e-300 is 0: a zero sum gives 0 and any other e / 1e-300 overflows. */
REAL error_of(REAL e, REAL den)
{
#if defined(SC_F64)
    return e / (den <= 0.0LF ? 1e-300LF : den);
#else
    return den <= 0.0 ? (e == 0.0 ? 0.0 : e * uintBitsToFloat(0x7f800000u)) : e / den;
#endif
}

void main()
{
    uint bh = group_linear_id();
    if (bh >= pc.wg_count)
        return;
    uint tid = gl_LocalInvocationID.x;
    uint R = vox_u64lo(pc.R), NB = vox_u64lo(pc.NB);
    REAL s[3] = REAL[3](REAL(0), REAL(0), REAL(0));
    for (uint r = tid; r < R; r += WG)
        for (uint k = 0u; k < 3u; k++)
            s[k] += REAL(sample_out[pc.off[0] + (bh * R + r) * 3u + k]);
    for (uint k = 0u; k < 3u; k++)
        red[k][tid] = s[k];
    barrier();
    for (uint w = WG / 2u; w > 0u; w >>= 1u) {
        if (tid < w)
            for (uint k = 0u; k < 3u; k++)
                red[k][tid] += red[k][tid + w];
        barrier();
    }
    if (tid == 0u) {
        REAL es = error_of(red[0][0], red[2][0]), et = error_of(red[1][0], red[2][0]);
        /* ordered comparisons as the reference's: NaN compares false */
        bool spatial = !isnan(es) && !isnan(et) && es <= et;
        REAL best = spatial ? es : et;
        int c = spatial ? 1 : 2; /* VOX_HEAD_SPATIAL : VOX_HEAD_TEMPORAL */
        if (isnan(best) || !(best <= REAL(DENSE_ABOVE)))
            c = 0; /* VOX_HEAD_DENSE */
        cls = c;
        classes[pc.off[5] + bh] = c;
        errors[pc.off[6] + 2u * bh] = float(es);
        errors[pc.off[6] + 2u * bh + 1u] = float(et);
    }
    barrier();
    int c = cls;
    for (uint i = tid; i < NB; i += WG) {
        uint m = bh * NB + i, k = (c == 2 ? NB : 0u) + i;
        kv_start[pc.off[3] + m] = pc.base + (c == 0 ? 0 : pattern_start[pc.off[1] + k]);
        kv_count[pc.off[4] + m] = c == 0 ? int(NB) : pattern_count[pc.off[2] + k];
    }
}
#endif /* VOX_GLSL */
#ifndef VOX_GLSL
#define VK_VARIANTS_svg_classify(X) \
    X("svg_classify_f32", "svg_classify.comp", "-DDT_F32=1") \
    X("svg_classify_f64", "svg_classify.comp", "-DDT_F32=1 -DSC_F64=1")
/* X(op) where this file has vk_<op>_supports() (vk_supports) */
#define VK_SUPPORTS_svg_classify(X)

/* One workgroup per head (shaders/svg_classify.comp): sums in double where
 * the device has shaderFloat64, else in float. */
vox_status vk_svg_classify(void *dev, const vox_op_dims *d, const vox_op_svg_classify *p)
{
    vk_dev *v = dev;
    vox_svg_classify_args a;
    vox_svg_classify_args_init(&a, d, p);
    int64_t BH = a.BH, NB = a.NB, R = a.R;
    vox_status st = check_u32(v, "svg_classify", BH * R * 3, BH * NB);
    if (st)
        return st;
    vk_svg_classify_binds b = {.sample_out = bind(p->sample_out, (size_t)(BH * R * 3) * 4, 4),
                               .pattern_start = bind(p->pattern_start, (size_t)(2 * NB) * 4, 4),
                               .pattern_count = bind(p->pattern_count, (size_t)(2 * NB) * 4, 4),
                               .kv_start = bind(p->kv_start, (size_t)(BH * NB) * 4, 4),
                               .kv_count = bind(p->kv_count, (size_t)(BH * NB) * 4, 4),
                               .classes = bind(p->classes, (size_t)BH * 4, 4),
                               .errors = bind(p->errors, (size_t)(2 * BH) * 4, 4)};
    return VK_DISPATCH(v, svg_classify, v->fp64 ? "svg_classify_f64" : "svg_classify_f32", b, a, (uint64_t)BH);
}
#endif /* !VOX_GLSL */
