/* voxattn OpenCL: attention_merge (core/backend.h has the exact semantics):
 * acc = the merge of acc and part through their LSEs, in place, one row
 * (head, token) of one batch entry per work-group, grid-stride, f32
 * arithmetic. Every item reads the row's LSEs before item 0 overwrites
 * acc_lse (a barrier between).
 *
 * One file per op: the OpenCL C kernels (device section, compiled by the
 * OpenCL compiler, which defines __OPENCL_VERSION__) and the host launcher
 * cl_attention_merge() (host section, included into cl_ops.c through cl_op_files.h),
 * with the op's programs, kernels and program sources as X-macro lists. */
#ifdef __OPENCL_VERSION__
/* contraction as the OpenCL default (explicit: the op programs concatenate files) */
#pragma OPENCL FP_CONTRACT ON

__kernel void vox_attention_merge(VOX_CL_BUF_PARAMS(VOX_ATTENTION_MERGE_BUFS)
                                      VOX_CL_ARG_PARAMS(VOX_ATTENTION_MERGE_ARGS))
{
    VOX_CL_APPLY_OFFSETS(VOX_ATTENTION_MERGE_BUFS)
    VOX_CL_ARGS(attention_merge, VOX_ATTENTION_MERGE_ARGS)
    const long N = args.N;
    const int D = args.D;
    for (long r = get_group_id(0); r < args.rows; r += get_num_groups(0)) {
        long h = r / N, t = r - h * N;
        __global stor *a = acc + h * args.ah + t * args.at;
        __global const stor *b = part + h * args.ph + t * args.pt;
        __global float *al = acc_lse + h * args.alh + t * args.alt;
        float la = args.accumulate ? *al : -INFINITY;
        float lb = part_lse[h * args.plh + t * args.plt];
        barrier(CLK_GLOBAL_MEM_FENCE);
        float m = fmax(la, lb), lse;
        if (isnan(la) || isnan(lb) || isinf(m)) {
            float v = isnan(la) || isnan(lb) || m > 0 ? NAN : 0.0f;
            for (int e = LID; e < D; e += LSZ)
                STOREF(a, e, v);
            lse = isnan(la) || isnan(lb) ? NAN : m;
        } else {
            float wa = la > -INFINITY ? exp(la - m) : 0.0f, wb = lb > -INFINITY ? exp(lb - m) : 0.0f;
            float s = wa + wb, ca = wa / s, cb = wb / s;
            for (int e = LID; e < D; e += LSZ) {
                float x = 0.0f;
                if (la > -INFINITY)
                    x = ca * LOADF(a, e);
                if (lb > -INFINITY)
                    x += cb * LOADF(b, e);
                STOREF(a, e, x);
            }
            lse = m + log(s);
        }
        if (LID == 0)
            *al = lse;
    }
}

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
/* The op's own programs {PROG_*, what, extra build options}, kernels
 * {program, K_*, name}, program sources {program, file or text} and whether
 * it has a cl_<op>_supports() {op} (cl_internal.h, cl_program.c, cl_ops.c). */
#define CL_PROGRAMS_attention_merge(X)
#define CL_KERNELS_attention_merge(X) \
    X(PROG_OPS, K_ATTENTION_MERGE, "vox_attention_merge")
#define CL_PARTS_attention_merge(X) \
    X(PROG_OPS, "attention_merge.cl")
#define CL_SUPPORTS_attention_merge(X)
#ifdef CL_OP_LAUNCHERS

/* ------------------------------------------------------------ merge */

/* One work-group per row (kernels/attention_merge.cl). */
vox_status cl_attention_merge(void *devp, const vox_op_dims *dm, const vox_op_attention_merge *p)
{
    vox_attention_merge_args a;
    vox_attention_merge_args_init(&a, dm, p);
    const cl_attention_merge_bufs b = {.acc = p->acc.ref,
                                       .acc_lse = p->acc_lse.ref,
                                       .part = p->part.ref,
                                       .part_lse = p->part_lse.ref};
    const cl_grid g = {.k = K_ATTENTION_MERGE, .groups = groups_for(a.rows), .ls = row_ls(dm->head_dim)};
    return cl_attention_merge_launch(devp, dm->dtype, &b, &a, &g);
}

#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
