/* voxattn OpenCL: svg_classify (core/backend.h), SVG head classification
 * from sample_rows' output. One work-group per head: the R sampled rows'
 * three sums (in `real`: f64 where the device has it), the errors and the
 * class with the reference's rules (den <= 0 -> 1e-300, NaN -> dense), then
 * the head's NB mask rows from the pattern tables.
 * (One file per op: device and host sections, cl_internal.h.) */
#ifdef __OPENCL_VERSION__

#pragma OPENCL FP_CONTRACT OFF

#define SC_LS 64

/* e / den with the reference's guard for den <= 0 (all-zero outputs). In
 * f32, 1e-300 is 0: a zero sum gives 0 and any other e / 1e-300 overflows. */
real vox_svg_error(real e, real den)
{
#if VOX_USE_FP64
    return e / (den <= 0 ? 1e-300 : den);
#else
    return den <= 0 ? (e == 0 ? 0.0f : e * INFINITY) : e / den;
#endif
}

__kernel __attribute__((reqd_work_group_size(SC_LS, 1, 1))) void
vox_svg_classify(VOX_CL_BUF_PARAMS(VOX_SVG_CLASSIFY_BUFS) VOX_CL_ARG_PARAMS(VOX_SVG_CLASSIFY_ARGS))
{
    __local real red[3 * SC_LS];
    __local int cls;
    VOX_CL_APPLY_OFFSETS(VOX_SVG_CLASSIFY_BUFS)
    VOX_CL_ARGS(svg_classify, VOX_SVG_CLASSIFY_ARGS)
    const long R = args.R, NB = args.NB;
    const real dense_above = VOX_REAL_ARG(args.dense_above_f64, args.dense_above);
    for (long bh = get_group_id(0); bh < args.BH; bh += get_num_groups(0)) {
        real s[3] = {0, 0, 0};
        for (long r = LID; r < R; r += SC_LS)
            for (int k = 0; k < 3; k++)
                s[k] += (real)sample_out[(bh * R + r) * 3 + k];
        for (int k = 0; k < 3; k++)
            red[k * SC_LS + LID] = s[k];
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int w = SC_LS / 2; w > 0; w >>= 1) {
            if (LID < w)
                for (int k = 0; k < 3; k++)
                    red[k * SC_LS + LID] += red[k * SC_LS + LID + w];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        if (LID == 0) {
            real es = vox_svg_error(red[0], red[2 * SC_LS]), et = vox_svg_error(red[SC_LS], red[2 * SC_LS]);
            real best = es <= et ? es : et;
            int c = es <= et ? 1 : 2; /* VOX_HEAD_SPATIAL : VOX_HEAD_TEMPORAL */
            if (!(best <= dense_above)) /* NaN errors too */
                c = 0;                  /* VOX_HEAD_DENSE */
            cls = c;
            classes[bh] = c;
            errors[2 * bh] = (float)es;
            errors[2 * bh + 1] = (float)et;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        const int c = cls;
        for (long i = LID; i < NB; i += SC_LS) {
            long m = bh * NB + i, k = (c == 2) * NB + i;
            kv_start[m] = args.base + (c == 0 ? 0 : pattern_start[k]);
            kv_count[m] = c == 0 ? (int)NB : pattern_count[k];
        }
    }
}

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
#define CL_OP_svg_classify(P, K, S, SUP) \
    K(PROG_OPS, K_SVG_CLASSIFY, "vox_svg_classify") \
    S(PROG_OPS, "svg_classify.cl")
#ifdef CL_OP_LAUNCHERS
/* One work-group (64 items) per head: kernels/svg_classify.cl. */
CL_SIMPLE_LAUNCHER(svg_classify, K_SVG_CLASSIFY, groups_for(a.BH), 64, .sample_out = p->sample_out,
                   .pattern_start = p->pattern_start, .pattern_count = p->pattern_count, .kv_start = p->kv_start,
                   .kv_count = p->kv_count, .classes = p->classes, .errors = p->errors)
#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
