/* voxattn OpenCL: kv_select, the KV blocks of each query-block row
 * (core/backend.h), one work-group per row m = bh*NB + i (grid-stride).
 * The host includes this file twice: KVS = __local (the work space is the
 * last, __local, kernel argument) as vox_kv_select, and KVS = __global (the
 * work space is the `scratch` buffer, args.per_block words per work-group,
 * for rows too long for local memory) as vox_kv_select_global; KV_GLOBAL
 * is 0/1. Work space: 2*NBv+1 reals (scores, then probabilities), then
 * NB+16 flag bytes.
 * Ranks are computed by counting (no sort): block j's rank is the number of
 * blocks before it in (p descending, index ascending) order, and the mass
 * before it the sum of their p; the reference's cumulative rule admits
 * exactly the blocks whose mass before is < tau. In `real` without
 * contraction, as the reference. */
#pragma OPENCL FP_CONTRACT OFF

__kernel void KV_NAME(VOX_CL_BUF_PARAMS(VOX_KV_SELECT_BUFS) VOX_CL_ARG_PARAMS(VOX_KV_SELECT_ARGS),
                      __local uint *lscratch)
{
    __local real st[4];
    __local int cnt;
    VOX_CL_APPLY_OFFSETS(VOX_KV_SELECT_BUFS)
    VOX_CL_ARGS(kv_select, VOX_KV_SELECT_ARGS)
    const long NB = args.NB, NBv = args.NBv, nrows = args.BH * NB;
    const int D = (int)args.D, rule = args.rule, topk = args.topk, min_blocks = args.min_blocks;
    const real scale = VOX_REAL_ARG(args.scale, args.scale_f), tau = VOX_REAL_ARG(args.tau, args.tau_f),
               zth = VOX_REAL_ARG(args.z, args.z_f);
#if KV_GLOBAL
    KVS real *s = (KVS real *)(scratch + get_group_id(0) * args.per_block);
#else
    KVS real *s = (KVS real *)lscratch;
#endif
    KVS real *p = s + NBv;
    KVS uchar *pk = (KVS uchar *)(s + 2 * NBv + 1);
    for (long m = get_group_id(0); m < nrows; m += get_num_groups(0)) {
        long bh = m / NB, i = m - bh * NB;
        /* global query rows (i >= NBv) are dense; every work-item passes
         * every barrier (no early exit inside the loop) */
        const int video = i < NBv;
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        for (long j = LID; video && j < NBv; j += LSZ) {
            real acc = 0;
            for (int e = 0; e < D; e++)
                acc += (real)qbar[m * D + e] * (real)kbar[(bh * NB + j) * D + e];
            s[j] = acc * scale;
        }
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        if (LID == 0 && video) {
            real mx = -INFINITY, mean = 0, z = 0, var = 0;
            for (long j = 0; j < NBv; j++) {
                mx = s[j] > mx ? s[j] : mx;
                mean += s[j];
            }
            mean /= (real)NBv;
            for (long j = 0; j < NBv; j++) {
                z += exp(s[j] - mx);
                var += (s[j] - mean) * (s[j] - mean);
            }
            st[0] = mx, st[1] = z, st[2] = mean, st[3] = sqrt(var / (real)NBv);
            cnt = 0;
        }
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        real mx = st[0], z = st[1], thr = st[2] + zth * st[3];
        for (long j = LID; video && j < NBv; j += LSZ)
            p[j] = exp(s[j] - mx) / z;
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        for (long j = LID; video && j < NBv; j += LSZ) {
            real pj = p[j], before = 0;
            long rank = 0;
            for (long k = 0; k < NBv; k++) {
                real pk_ = p[k];
                if (pk_ > pj || (pk_ == pj && k < j)) {
                    rank++;
                    before += pk_;
                }
            }
            if (rule == 0 && before < tau)
                atomic_inc(&cnt);
            pk[j] = (uchar)(s[j] >= thr);
            s[j] = (real)rank; /* only this item reads s[j] from here on */
        }
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        long n = rule == 0 ? (long)cnt : rule == 1 ? (topk < NBv ? (long)topk : NBv) : 0;
        if (n < min_blocks)
            n = min_blocks < NBv ? (long)min_blocks : NBv;
        for (long j = LID; j < NB; j += LSZ) {
            if (j >= NBv || !video)
                pk[j] = 1;
            else
                pk[j] = (uchar)((long)s[j] < n || (rule == 2 && pk[j]) || j == i);
        }
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        if (LID == 0) {
            int c = 0;
            for (long j = 0; j < NB; j++)
                if (pk[j])
                    kv_cols[m * NB + c++] = (int)j;
            kv_count[m] = c;
        }
    }
}
