/* voxattn OpenCL: kv_select, the KV blocks of each query-block row
 * (core/backend.h), one work-group per row m = bh*NB + i (grid-stride).
 * The host includes this file twice: KVS = __local (the work space is the
 * last, __local, kernel argument) as vox_kv_select, and KVS = __global (the
 * work space is the `scratch` buffer, args.per_block words per work-group,
 * for rows too long for local memory) as vox_kv_select_global; KV_GLOBAL
 * is 0/1. Work space: 2*NBv+1 reals (scores, then probabilities), on f32
 * devices NBv order keys, then NB+16 flag bytes.
 * Ranks are computed by counting (no sort): block j's rank is the number of
 * blocks before it in the reference's order (p descending, NaN after every
 * number, index ascending), and the mass before it the sum of their p; the
 * reference's cumulative rule admits exactly the blocks whose mass before is
 * < tau. In `real` without contraction, as the reference. Row m's columns
 * go to kv_cols from kv_start[m] (the plan gives each row room for what its
 * rule admits).
 * (One file per op: device and host sections, cl_internal.h.) */
#ifdef __OPENCL_VERSION__

#pragma OPENCL FP_CONTRACT OFF

#ifndef VOX_KV_HELPERS
#define VOX_KV_HELPERS
#if VOX_USE_FP64
/* Does block k (probability pk) come before block j (pj) in the order:
 * p descending, NaN after every number, ties lower index? */
int vox_ranks_before(real pk, long k, real pj, long j)
{
    int kn = isnan(pk), jn = isnan(pj);
    if (kn != jn)
        return jn;
    return kn ? k < j : (pk > pj || (pk == pj && k < j));
}
#else
/* f32 devices. The scores are qbar.kbar without the scale, with qbar_i and
 * the head's kbar scaled by powers of two near their largest magnitudes
 * (exact, common.cl): huge or tiny means neither overflow nor underflow, and since
 * scale > 0 the order and the STAT rule are unchanged; the reference's
 * exponent (s - max s) * scale comes from vox_kv_expo. Blocks are ordered by
 * a key of the score (vox_kv_key): where the reference's f64 p cannot tell
 * scores apart (p 0, or exp 1) the ties go by index, as there; a row whose
 * sum of exp is NaN (so is every p of the reference) has every key 0: the
 * index order. */

/* (s - mx) * scale of the reference for scores scaled by 2^-esc (<= 0);
 * -1024 where it is below that (exp is 0 there in f32 and f64 alike) */
float vox_kv_expo(float s, float mx, float scale, int esc)
{
    float t = (s - mx) * scale;
    if (!(t < 0)) /* 0, or NaN */
        return t;
    return t < vox_pow2_scaled(-1024.0f, esc) ? -1024.0f : vox_pow2_scaled(t, -esc);
}

/* Order key (larger first, ties lower index): the score's order-preserving
 * bits; 0 where the reference's p = exp(x)/z is 0 in f64 (below 2^-1075),
 * ~0 where exp(x) rounds to 1 in f64 (x >= -2^-54) */
uint vox_kv_key(float s, float x, float logz)
{
    uint u = as_uint(s);
    if (x - logz < -745.1332f)
        return 0;
    if (x >= -0x1p-54f)
        return 0xffffffffu;
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
#endif
#endif

__kernel void KV_NAME(VOX_CL_BUF_PARAMS(VOX_KV_SELECT_BUFS) VOX_CL_ARG_PARAMS(VOX_KV_SELECT_ARGS),
                      __local uint *lscratch)
{
    __local real st[4];
    __local int cnt;
#if !VOX_USE_FP64
    __local uint kbits;
#endif
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
#if VOX_USE_FP64
    KVS uchar *pk = (KVS uchar *)(s + 2 * NBv + 1);
#else
    KVS uint *key = (KVS uint *)(s + 2 * NBv + 1);
    KVS uchar *pk = (KVS uchar *)(key + NBv);
#endif
    for (long m = get_group_id(0); m < nrows; m += get_num_groups(0)) {
        long bh = m / NB, i = m - bh * NB;
        /* global query rows (i >= NBv) are dense; every work-item passes
         * every barrier (no early exit inside the loop) */
        const int video = i < NBv;
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
#if VOX_USE_FP64
        for (long j = LID; video && j < NBv; j += LSZ) {
            real acc = 0;
            for (int e = 0; e < D; e++)
                acc += (real)qbar[m * D + e] * (real)kbar[(bh * NB + j) * D + e];
            s[j] = acc * scale;
        }
#else
        if (LID == 0)
            kbits = 0;
        barrier(CLK_LOCAL_MEM_FENCE);
        uint qb = 0, kb = 0;
        for (int e = 0; video && e < D; e++)
            qb = max(qb, as_uint(qbar[m * D + e]) & 0x7fffffffu);
        for (long j = LID; video && j < NBv; j += LSZ)
            for (int e = 0; e < D; e++)
                kb = max(kb, as_uint(kbar[(bh * NB + j) * D + e]) & 0x7fffffffu);
        atomic_max(&kbits, kb);
        barrier(CLK_LOCAL_MEM_FENCE);
        const int eq = vox_exponent(qb), ek = vox_exponent(kbits), esc = eq + ek;
        for (long j = LID; video && j < NBv; j += LSZ) {
            float acc = 0;
            for (int e = 0; e < D; e++)
                acc += vox_pow2_scaled(qbar[m * D + e], eq) * vox_pow2_scaled(kbar[(bh * NB + j) * D + e], ek);
            s[j] = acc + 0.0f; /* -0 -> +0 */
        }
#endif
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        if (LID == 0 && video) {
            real mx = -INFINITY, mean = 0, z = 0, var = 0;
            for (long j = 0; j < NBv; j++) {
                mx = s[j] > mx ? s[j] : mx;
                mean += s[j];
            }
            mean /= (real)NBv;
            for (long j = 0; j < NBv; j++) {
#if VOX_USE_FP64
                z += exp(s[j] - mx);
#else
                z += exp(vox_kv_expo(s[j], mx, scale, esc));
#endif
                var += (s[j] - mean) * (s[j] - mean);
            }
            st[0] = mx, st[1] = z, st[2] = mean, st[3] = sqrt(var / (real)NBv);
            cnt = 0;
        }
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        real mx = st[0], z = st[1], thr = st[2] + zth * st[3];
#if VOX_USE_FP64
        for (long j = LID; video && j < NBv; j += LSZ)
            p[j] = exp(s[j] - mx) / z;
#else
        const float logz = log(z);
        const int by_index = isnan(z);
        for (long j = LID; video && j < NBv; j += LSZ) {
            float x = vox_kv_expo(s[j], mx, scale, esc);
            p[j] = exp(x) / z;
            key[j] = by_index ? 0 : vox_kv_key(s[j], x, logz);
        }
#endif
        barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
        for (long j = LID; video && j < NBv; j += LSZ) {
            real pj = p[j], before = 0;
            long rank = 0;
            for (long k = 0; k < NBv; k++) {
                real pk_ = p[k];
#if VOX_USE_FP64
                if (vox_ranks_before(pk_, k, pj, j)) {
#else
                if (key[k] > key[j] || (key[k] == key[j] && k < j)) {
#endif
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
                    kv_cols[kv_start[m] + c++] = (int)j;
            kv_count[m] = c;
        }
    }
}

#endif /* __OPENCL_VERSION__ */
#ifndef __OPENCL_VERSION__
/* kv_select.cl goes in twice: work space in local memory, then in a global buffer */
#define KV_AS_LOCAL "\n#define KVS __local\n#define KV_NAME vox_kv_select\n#define KV_GLOBAL 0\n"
#define KV_AS_GLOBAL                                                                   \
    "\n#undef KVS\n#undef KV_NAME\n#undef KV_GLOBAL\n#define KVS __global\n"            \
    "#define KV_NAME vox_kv_select_global\n#define KV_GLOBAL 1\n"
#define CL_OP_kv_select(P, K, S, SUP) \
    K(PROG_OPS, K_KV_SELECT, "vox_kv_select") \
    K(PROG_OPS, K_KV_SELECT_GLOBAL, "vox_kv_select_global") \
    S(PROG_OPS, KV_AS_LOCAL) \
    S(PROG_OPS, "kv_select.cl") \
    S(PROG_OPS, KV_AS_GLOBAL) \
    S(PROG_OPS, "kv_select.cl")
#ifdef CL_OP_LAUNCHERS

/* The kv_select work space of each work-group row: 2*NBv+1 reals (and, on
 * devices without fp64, NBv order keys), then NB+16 flag bytes; in local
 * memory where it fits (vox_kv_select), else in d->scratch, a 256-byte-
 * aligned slice per work-group (vox_kv_select_global). */
static vox_status kv_scratch(cl_dev *d, size_t bytes)
{
    if (d->scratch_bytes >= bytes)
        return VOX_OK;
    if (d->scratch)
        g_cl.clReleaseMemObject(d->scratch);
    d->scratch_bytes = 0;
    cl_int e;
    d->scratch = g_cl.clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, bytes, NULL, &e);
    if (!d->scratch || e != CL_SUCCESS) {
        if (d->scratch)
            g_cl.clReleaseMemObject(d->scratch);
        d->scratch = NULL;
        return vox_fail(d->log, cl_status(e), "opencl: kv_select scratch of %zu bytes failed (%s, %d)", bytes,
                        cl_err_name(e), e);
    }
    d->scratch_bytes = bytes;
    return VOX_OK;
}

vox_status cl_kv_select(void *devp, const vox_op_dims *dm, const vox_op_kv_select *p)
{
    cl_dev *d = devp;
    vox_kv_select_args a;
    vox_kv_select_args_init(&a, dm, p);
    size_t ws = (d->fp64 ? 8 * (size_t)(2 * a.NBv + 1) : 4 * (size_t)(3 * a.NBv + 1)) + (size_t)a.NB + 16;
    /* keep 1 KiB of local memory for the kernel's own variables */
    int local = ws + 1024 <= d->local_mem;
    cl_kv_select_bufs b = {.qbar = p->qbar,
                           .kbar = p->kbar,
                           .kv_start = p->kv_start,
                           .kv_count = p->kv_count,
                           .kv_cols = p->kv_cols,
                           .scratch = none};
    /* the global variant's __local argument is unused: 4 bytes */
    cl_grid g = {.k = local ? K_KV_SELECT : K_KV_SELECT_GLOBAL, .groups = groups_for(a.BH * a.NB), .ls = 128,
                 .local = local ? ws : 4};
    cl_buf scratch = {0};
    if (!local) {
        if (g.groups > 1024)
            g.groups = 1024;
        size_t stride = (ws + 255) / 256 * 256;
        vox_status st = kv_scratch(d, g.groups * stride);
        if (st)
            return st;
        scratch.mem = d->scratch;
        b.scratch = (vox_bref){&scratch, 0};
        a.per_block = (int64_t)(stride / 4);
    }
    return cl_kv_select_launch(d, dm->dtype, &b, &a, &g);
}

#endif /* CL_OP_LAUNCHERS */
#endif /* !__OPENCL_VERSION__ */
