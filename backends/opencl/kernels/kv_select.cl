/* voxattn OpenCL: KV block selection, one work-group per query-block row.
 * Included twice by the host: KVS = __local (scratch in local memory) and
 * KVS = __global (scratch in a global buffer, for rows too long for local
 * memory), with KV_NAME the kernel name and KV_GLOBAL 0/1.
 * Ranks are computed by counting (no sort): block j's rank is the number of
 * blocks before it in (p descending, index ascending) order, and the mass
 * before it the sum of their p; the reference's cumulative rule admits
 * exactly the blocks whose mass before is < tau. */
__kernel void KV_NAME(__global const float *qbar, ulong qbar_off, __global const float *kbar, ulong kbar_off,
                      __global int *count, ulong count_off, __global int *cols, ulong cols_off, KVS real *sc,
                      KVS uchar *pk, long stride_real, long stride_uchar, real scale, int rule, real tau, int topk,
                      real zth, int min_blocks, long NB, long NBv, int D, long nrows)
{
    __local real st[4];
    __local int cnt;
    qbar += qbar_off;
    kbar += kbar_off;
    count += count_off;
    cols += cols_off;
#if KV_GLOBAL
    sc += get_group_id(0) * stride_real;
    pk += get_group_id(0) * stride_uchar;
#endif
    KVS real *s = sc;
    KVS real *p = sc + NBv;
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
                    cols[m * NB + c++] = (int)j;
            count[m] = c;
        }
    }
}
