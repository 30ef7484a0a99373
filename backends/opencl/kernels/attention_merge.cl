/* voxattn OpenCL: attention_merge (core/backend.h has the exact semantics):
 * acc = the merge of acc and part through their LSEs, in place, one row
 * (head, token) of one batch entry per work-group, grid-stride, f32
 * arithmetic. Every item reads the row's LSEs before item 0 overwrites
 * acc_lse (a barrier between).
 * (One file per op: device and host sections, cl_internal.h.) */
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
#define CL_OP_attention_merge(P, K, S, SUP) \
    K(PROG_OPS, K_ATTENTION_MERGE, "vox_attention_merge") \
    S(PROG_OPS, "attention_merge.cl")
#ifdef CL_OP_LAUNCHERS
/* One work-group per row (kernels/attention_merge.cl). */
CL_SIMPLE_LAUNCHER(attention_merge, K_ATTENTION_MERGE, groups_for(a.rows), row_ls(dm->head_dim), .acc = p->acc.ref,
                   .acc_lse = p->acc_lse.ref, .part = p->part.ref, .part_lse = p->part_lse.ref)
#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
