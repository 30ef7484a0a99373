/* voxattn OpenCL: attention_forward, block-sparse, tiled and streaming
 * (online softmax), no N x N buffer.
 *
 * Build defines: HD (head dim), BM (query rows per tile), BN (keys per tile),
 * LS (work-group size). TPR = LS/BM work-items share a query row: each owns
 * BN/TPR scores of a key tile and HD/TPR output dims. One work-group per
 * (bh, query block, row tile) (grid-stride); tiles past the block's row
 * count (valid rows, or kept rows when query selection is on) skip all key
 * work, so work scales with kept rows. Keys stream over the row's listed KV blocks
 * only, BN at a time (Q, K/V and P tiles in local memory, f32), padding keys
 * masked. Scores stay unscaled (running max of q.k); the scale (> 0) is
 * applied inside exp, so huge scales do not overflow q*scale. */
#define TPR (LS / BM)
#define NC (BN / TPR)
#define ND (HD / TPR)
#define QP (HD + 1)
#define PP (BN + 1)

/* fmax drops NaN; NaN scores must propagate to the row's output and LSE */
#define NAN_MAX(a, b) ((isnan(a) || isnan(b)) ? NAN : fmax((a), (b)))

__kernel __attribute__((reqd_work_group_size(LS, 1, 1))) void
vox_attention_forward(VOX_CL_BUF_PARAMS(VOX_ATTENTION_FORWARD_BUFS) VOX_CL_ARG_PARAMS(VOX_ATTENTION_FORWARD_ARGS))
{
    __local float Qs[BM * QP];
    __local float KV[BN * QP];
    __local float Ps[BM * PP];
    __local float red[LS];
    __local int rslot[BM];
    __local int kslot[BN];
    VOX_CL_APPLY_OFFSETS(VOX_ATTENTION_FORWARD_BUFS)
    VOX_CL_ARGS(attention_forward, VOX_ATTENTION_FORWARD_ARGS)
    const long NB = args.NB, total = args.total;
    const int V = args.V, tiles = args.tiles, has_kept = args.has_kept;
    const float scale = args.scale;
    const int lid = (int)get_local_id(0);
    const int row = lid / TPR, sub = lid - row * TPR;
    const long S = NB * V;
    const int logV = 31 - clz(V);
    for (long g = get_group_id(0); g < total; g += get_num_groups(0)) {
        long m = g / tiles;
        int tile = (int)(g - m * tiles);
        long bh = m / NB;
        int i = (int)(m - bh * NB);
        int nrows = has_kept ? kept_count[m] : valid[i];
        int r0 = tile * BM;
        /* tiles past the row count do no key work; they still pass every
         * barrier (no early exit: PoCL needs barriers reached uniformly) */
        const int active = r0 < nrows;
        const long base = bh * S;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < BM) {
            int rr = r0 + lid;
            rslot[lid] = rr < nrows ? i * V + (has_kept ? kept_rows[m * V + rr] : rr) : -1;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int idx = lid; idx < BM * HD; idx += LS) {
            int r = idx / HD, e = idx - r * HD;
            int s = rslot[r];
            Qs[r * QP + e] = s >= 0 ? LOADF(q, (base + s) * HD + e) : 0.0f;
        }
        float mrow = -INFINITY, lrow = 0.0f;
        float acc[ND];
        for (int x = 0; x < ND; x++)
            acc[x] = 0.0f;
        const int start = active ? kv_start[m] : 0;
        const long nkeys = active ? (long)kv_count[m] * V : 0;
        for (long kt = 0; kt < nkeys; kt += BN) {
            barrier(CLK_LOCAL_MEM_FENCE);
            if (lid < BN)
                kslot[lid] = vox_key_slot(kt + lid, nkeys, logV, V, start, kv_cols, valid);
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int idx = lid; idx < BN * HD; idx += LS) {
                int c = idx / HD, e = idx - c * HD;
                int ks = kslot[c];
                KV[c * QP + e] = ks >= 0 ? LOADF(k, (base + ks) * HD + e) : 0.0f;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            float sreg[NC];
            for (int x = 0; x < NC; x++)
                sreg[x] = 0.0f;
            for (int e = 0; e < HD; e++) {
                float qe = Qs[row * QP + e];
                for (int x = 0; x < NC; x++)
                    sreg[x] = mad(qe, KV[(sub + TPR * x) * QP + e], sreg[x]);
            }
            float pm = -INFINITY;
            for (int x = 0; x < NC; x++) {
                if (kslot[sub + TPR * x] < 0)
                    sreg[x] = -INFINITY;
                pm = NAN_MAX(pm, sreg[x]);
            }
            red[lid] = pm;
            barrier(CLK_LOCAL_MEM_FENCE);
            float tmax = -INFINITY;
            for (int u = 0; u < TPR; u++)
                tmax = NAN_MAX(tmax, red[row * TPR + u]);
            float mnew = NAN_MAX(mrow, tmax);
            float alpha = mnew == -INFINITY ? 1.0f : exp((mrow - mnew) * scale);
            float ps = 0.0f;
            for (int x = 0; x < NC; x++) {
                float pv = mnew == -INFINITY ? 0.0f : exp((sreg[x] - mnew) * scale);
                Ps[row * PP + sub + TPR * x] = pv;
                ps += pv;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            red[lid] = ps;
            for (int idx = lid; idx < BN * HD; idx += LS) {
                int c = idx / HD, e = idx - c * HD;
                int ks = kslot[c];
                KV[c * QP + e] = ks >= 0 ? LOADF(v, (base + ks) * HD + e) : 0.0f;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            float tsum = 0.0f;
            for (int u = 0; u < TPR; u++)
                tsum += red[row * TPR + u];
            lrow = lrow * alpha + tsum;
            mrow = mnew;
            for (int x = 0; x < ND; x++) {
                int e = sub + TPR * x;
                float a = acc[x] * alpha;
                for (int c = 0; c < BN; c++)
                    a = mad(Ps[row * PP + c], KV[c * QP + e], a);
                acc[x] = a;
            }
        }
        int s = rslot[row];
        if (s >= 0) {
            float inv = (lrow > 0.0f || isnan(lrow)) ? 1.0f / lrow : 0.0f;
            for (int x = 0; x < ND; x++)
                STOREF(o, (base + s) * HD + sub + TPR * x, acc[x] * inv);
            if (sub == 0)
                lse[base + s] = (lrow > 0.0f || isnan(lrow)) ? mrow * scale + log(lrow) : -INFINITY;
        }
    }
}
