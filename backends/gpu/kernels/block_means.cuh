/* block_means (core/backend.h): per (bh, block j), the mean of its valid
 * rows (or its kept rows) of x, read in the caller's layout through
 * slot_token and accumulated in f64: bitwise the reference's sequential sum
 * over the rows, then (float)(sum / n).
 *
 * A row is read in 16-byte chunks (8 f16/bf16 or 4 f32 elements) when x and
 * its strides allow it, else element by element (the same code, scalar
 * loads). One (bh, block) item takes a group of VOX_BM_GROUP threads, a
 * chunk each (the row's chunks rounded up to a power of two); a CTA takes
 * VOX_BM_THREADS / group items at a time, stages their rows' caller tokens
 * in shared memory (VOX_BM_TB rows at a time) and each thread then keeps
 * VOX_BM_ROWS rows' chunks in flight (64 bytes) and sums them in row order,
 * so every element's sum is the reference's. The grid is what stays
 * resident (VOX_BM_CTAS per multiprocessor, 64 registers: 1024 threads),
 * grid-stride: no tail wave. The pipelined kernels (vox_block_means_pipe_*,
 * the default) take 2 VOX_BM_ROWS rows at a time and issue the next ones'
 * loads before adding the current ones (up to 4 VOX_BM_ROWS rows, 256
 * bytes, in flight per thread; 124 registers, VOX_BM_PIPE_CTAS per
 * multiprocessor: twice the bytes in flight per multiprocessor).
 *
 * f16/bf16 elements are widened to f64 without a conversion instruction
 * (F2F.F64 runs on a low-throughput unit on NVIDIA): the element's bits, moved into an f64's
 * exponent and fraction fields, are the element times 2^-S (S = 896 for bf16,
 * 1008 for f16; subnormal elements become f64 subnormals, exactly). The sums
 * run on those scaled values and are scaled back by 2^S at the end. That is
 * bitwise the unscaled sum: every partial sum is a multiple of the smallest
 * scaled subnormal element (2^-1029, 2^-1032), so a sum in the f64
 * subnormal range is exact on both sides, and above it both sides round the
 * same 53-bit significand (no sum of at most 2^31 elements overflows). The
 * move makes Inf/NaN elements finite, so the rows of a token stage holding
 * one (found with a few integer operations per word as they are summed) are
 * read again to note which elements met a NaN, a +Inf or a -Inf (kept out
 * of the summing loop, whose registers it would double); such an element's
 * sum is then what the reference's is: NaN after a NaN or after both
 * infinities, else that infinity (the finite elements cannot overflow f64).
 * (One file per op: kernel names, device and host sections; ../gpu_kernels.h.) */

#define VOX_GPU_KERNELS_block_means(R, O, M)                                                      \
    R(block_means_f32) R(block_means_f16) R(block_means_bf16) R(block_means_pipe_f32) R(block_means_pipe_f16) \
        R(block_means_pipe_bf16) O(block_means_pf_f32) O(block_means_pf_f16) O(block_means_pf_bf16) \
        O(block_means_pf_brk_bf16) O(block_means_lean_f16) O(block_means_lean_bf16) \
            M(block_means_ring_f16) M(block_means_ring_bf16) M(block_means_ring_s4_bf16) M(block_means_ring_r4_bf16) \
            O(block_means_lean_v4_bf16) M(block_means_ring_wc_bf16)

/* Launch geometry the kernels and the launcher share. */
#define VOX_BM_THREADS 128  /* threads per CTA */
#define VOX_BM_CTAS 8       /* CTAs per multiprocessor (the kernels' launch bounds) */
#define VOX_BM_PIPE_CTAS 4  /* the same for the pipelined kernels (vox_block_means_pipe_*) */
/* The ring kernels (vox_block_means_ring*), once for the kernels and the launcher: X(NAME, DT, RB, S, CTAS,
 * ST) per kernel, RB rows per batch, S batches in the ring, CTAS CTAs per multiprocessor, ST the means'
 * store (vox_bm_store; 2: a warp's means as one span). Dynamic shared memory: the ring (VOX_BM_RING_BYTES),
 * then the token stage of VOX_BM_THREADS / 4 groups x VOX_BM_TB (64) rows. */
#define VOX_BM_RING_KERNELS(X)                                                                               \
    X(ring_f16, vox_t_f16, 8, 3, 4, 0) X(ring_bf16, vox_t_bf16, 8, 3, 4, 0)                                   \
        X(ring_s4_bf16, vox_t_bf16, 8, 4, 3, 0) X(ring_r4_bf16, vox_t_bf16, 4, 6, 4, 0)                       \
            X(ring_wc_bf16, vox_t_bf16, 8, 3, 4, 2)
#define VOX_BM_RING_BYTES(RB, S) ((S) * (RB) * VOX_BM_THREADS * 16)
#define VOX_BM_RING_SMEM(RB, S) (VOX_BM_RING_BYTES(RB, S) + VOX_BM_THREADS / 4 * 64 * 4)
/* Threads per item for a row of `chunks` chunks: a power of two from 4 to the CTA. */
#define VOX_BM_GROUP(chunks) \
    ((chunks) > 64 ? 128 : (chunks) > 32 ? 64 : (chunks) > 16 ? 32 : (chunks) > 8 ? 16 : (chunks) > 4 ? 8 : 4)

#ifdef VOX_GPU_DEVICE
#include "mma_sync.cuh" /* cp.async (the ring kernels), where VOX_HAVE_MMA_SYNC */
#include "half_bits.cuh"

#define VOX_BM_ROWS 4 /* rows in flight per thread with 16-byte loads (scalar loads: 2) */
#define VOX_BM_TB 64  /* rows per token stage */
#if VOX_GPU_HIP
#define VOX_BM_BOUNDS(CTAS) __launch_bounds__(VOX_BM_THREADS)
#else
#define VOX_BM_BOUNDS(CTAS) __launch_bounds__(VOX_BM_THREADS, CTAS)
#endif

/* The 16-bit element types (EXP: the exponent field's mask, MANT: the
 * fraction's, S: the scale exponent; half_bits.cuh: scale, is_nan,
 * is_special): widen(w, d) sets d[0], d[1] to the word's two elements (the
 * low one first) times 2^-S by moving bits (wrong for Inf/NaN); special(w)
 * is nonzero when one of the two is Inf or NaN. */
template <unsigned EXP, unsigned MANT, int S> struct vox_bm_half : vox_half_bits<EXP, MANT, S> {
    typedef vox_half_bits<EXP, MANT, S> B;
    typedef u16 T;
    enum { VEC = 8, PER_WORD = 2, SHIFT = B::SHIFT };
    using B::hi;
    static __device__ __forceinline__ void widen(unsigned w, double *d)
    {
        d[0] = B::widen1(w);
        d[1] = hi(((w >> (16 - SHIFT)) & (0x7fffu << SHIFT)) | (w & 0x80000000u));
    }
    static __device__ __forceinline__ unsigned special(unsigned w)
    {
        /* adding the exponent's lowest bit carries into bit 15 only from all ones */
        return ((w & (EXP * 0x10001u)) + (EXP & ~(EXP << 1)) * 0x10001u) & 0x80008000u;
    }
    /* Session 18 (LEAN): widen's two values with fewer integer operations: an element's 16 bits at the
     * word's top, shifted arithmetically by 16 - SHIFT (the sign fills the bits above the exponent field's
     * used part), masked to the sign and the moved bits: per word 5 operations instead of 7. */
    static __device__ __forceinline__ void widen_lean(unsigned w, double *d)
    {
        const unsigned M = 0x80000000u | (0x7fffu << SHIFT);
        d[0] = hi((unsigned)((int)(w << 16) >> (16 - SHIFT)) & M);
        d[1] = hi((unsigned)((int)w >> (16 - SHIFT)) & M);
    }
    /* LEAN's Inf/NaN test: t = w * 0 + t on the word's two elements (0 * Inf and 0 * NaN are NaN, a NaN
     * stays, every other product and sum is +-0): one instruction per word instead of ~2.3; a half of t
     * is NaN iff one of the words it took held an Inf or NaN element (nan_any). HIP: special(). */
    static __device__ __forceinline__ unsigned zfma(unsigned w, unsigned t)
    {
#if VOX_GPU_HIP
        return t | special(w) >> 1; /* a bit nan_any sees */
#else
        unsigned r;
        if (MANT == 0x7fu)
            asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(w), "r"(0u), "r"(t));
        else
            asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(w), "r"(0u), "r"(t));
        return r;
#endif
    }
    static __device__ __forceinline__ unsigned nan_any(unsigned t) { return t & 0x7fff7fffu; }
};
typedef vox_bm_half<0x7f80u, 0x7fu, 896> vox_bm_bf16;
typedef vox_bm_half<0x7c00u, 0x3ffu, 1008> vox_bm_f16;
/* f32: the ordinary conversion (exact, Inf/NaN included), no scaling. */
struct vox_bm_f32 {
    typedef float T;
    enum { VEC = 4, PER_WORD = 1 };
    static __device__ __forceinline__ double scale() { return 1.0; }
    static __device__ __forceinline__ void widen(unsigned w, double *d) { d[0] = (double)__uint_as_float(w); }
    static __device__ __forceinline__ unsigned special(unsigned) { return 0; }
    static __device__ __forceinline__ bool is_nan(unsigned) { return false; }
    static __device__ __forceinline__ bool is_special(unsigned) { return false; }
    static __device__ __forceinline__ void widen_lean(unsigned w, double *d) { widen(w, d); }
    static __device__ __forceinline__ unsigned zfma(unsigned, unsigned t) { return t; }
    static __device__ __forceinline__ unsigned nan_any(unsigned t) { return t; }
};
template <class DT> struct vox_bm_of;
template <> struct vox_bm_of<vox_t_f32> { typedef vox_bm_f32 C; };
template <> struct vox_bm_of<vox_t_f16> { typedef vox_bm_f16 C; };
template <> struct vox_bm_of<vox_t_bf16> { typedef vox_bm_bf16 C; };

/* Which elements of a thread's chunk met a NaN, a +Inf, a -Inf (bit e:
 * element e). */
struct vox_bm_specials {
    unsigned nan, pinf, ninf;
};

/* sp with the Inf/NaN elements of the 16-bit chunk w noted. */
template <class C> __device__ __forceinline__ vox_bm_specials vox_bm_note(uint4 w, vox_bm_specials sp)
{
    const unsigned words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int e = 0; e < 8; e++) {
        const unsigned h = (words[e / 2] >> (16 * (e % 2))) & 0xffffu;
        if (C::is_special(h))
            (C::is_nan(h) ? sp.nan : h & 0x8000u ? sp.ninf : sp.pinf) |= 1u << e;
    }
    return sp;
}

/* Element e's sum: s unless the element met an Inf or NaN. */
__device__ __forceinline__ double vox_bm_sum(double s, int e, const vox_bm_specials &sp)
{
    if (((sp.nan | (sp.pinf & sp.ninf)) >> e) & 1)
        return VOX_NAN_F64;
    if ((sp.pinf >> e) & 1)
        return (double)VOX_INF;
    if ((sp.ninf >> e) & 1)
        return -(double)VOX_INF;
    return s;
}

/* One token stage of item m (block j, n rows): the caller tokens of its rows r0 .. r0 + VOX_BM_TB - 1 into
 * tok (-1: no row), written by the item's G threads between two CTA barriers (the CTA's items run in step);
 * returns the stage's row count for a thread whose chunk holds nv > 0 elements, else 0. */
__device__ __forceinline__ int vox_bm_stage_tokens(int *tok, const int *slot_token, const int *kc, const int *kr,
                                                   i64 m, i64 j, i64 V, int r0, int n, int nv,
                                                   int lane, int G)
{
    __syncthreads();
    for (int t = lane; t < VOX_BM_TB; t += G)
        tok[t] = r0 + t < n ? slot_token[j * V + (kc ? kr[m * V + r0 + t] : r0 + t)] : -1;
    __syncthreads();
    return nv > 0 && n > r0 ? (n - r0 < VOX_BM_TB ? n - r0 : VOX_BM_TB) : 0;
}

__device__ __forceinline__ unsigned vox_bm_bits(float v) { return __float_as_uint(v); }
__device__ __forceinline__ unsigned vox_bm_bits(u16 v) { return v; }

/* The chunk of VEC elements at p (the first `valid` of them; the rest 0) as
 * four words: one 16-byte load when ALIGNED (valid == VEC), else scalar. */
template <class C, bool ALIGNED> __device__ __forceinline__ uint4 vox_bm_load(const typename C::T *p, int valid)
{
    if (ALIGNED)
        return *(const uint4 *)p;
    unsigned w[4] = {0, 0, 0, 0};
#pragma unroll
    for (int e = 0; e < C::VEC; e++)
        if (e < valid)
            w[e / C::PER_WORD] |= vox_bm_bits(p[e]) << (16 * (e % C::PER_WORD));
    return make_uint4(w[0], w[1], w[2], w[3]);
}

/* w[i] = the chunk of the row of token tok[i] (-1: no row, zeros), i < ROWS. */
template <class C, bool ALIGNED, int ROWS>
__device__ __forceinline__ void vox_bm_fetch(uint4 *w, const typename C::T *xe, const int *tok, int nv, i64 st)
{
#pragma unroll
    for (int i = 0; i < ROWS; i++)
        w[i] = tok[i] >= 0 ? vox_bm_load<C, ALIGNED>(xe + tok[i] * st, nv) : make_uint4(0, 0, 0, 0);
}

/* acc[0..VEC) += the ROWS chunks w (a missing row's zeros add +0, a no-op as
 * the sum is never -0), in row order; returns nonzero when one of the
 * elements is Inf or NaN (then moved wrongly). LEAN (session 18): widen_lean,
 * and the Inf/NaN test accumulated in t[4] (zfma; the caller tests nan_any
 * once per stage; LEAN 2: the tests' deliberate break, no test). */
template <class C, int ROWS, int LEAN = 0>
__device__ __forceinline__ unsigned vox_bm_add(double *acc, const uint4 *w, unsigned *t = 0)
{
    unsigned any = 0;
#pragma unroll
    for (int i = 0; i < ROWS; i++) {
        if (LEAN == 1) {
            t[0] = C::zfma(w[i].x, t[0]), t[1] = C::zfma(w[i].y, t[1]);
            t[2] = C::zfma(w[i].z, t[2]), t[3] = C::zfma(w[i].w, t[3]);
        } else if (!LEAN)
            any |= C::special(w[i].x) | C::special(w[i].y) | C::special(w[i].z) | C::special(w[i].w);
    }
#pragma unroll
    for (int i = 0; i < ROWS; i++) {
        const unsigned words[4] = {w[i].x, w[i].y, w[i].z, w[i].w};
#pragma unroll
        for (int k = 0; k < 4; k++) {
            double d[C::PER_WORD];
            if (LEAN)
                C::widen_lean(words[k], d);
            else
                C::widen(words[k], d);
#pragma unroll
            for (int e = 0; e < C::PER_WORD; e++)
                acc[k * C::PER_WORD + e] += d[e];
        }
    }
    return any;
}

/* acc += the chunks of the rn rows of tokens tok, in row order (rows past rn
 * within the token stage have token -1). PIPE: the next ROWS rows' loads are
 * issued before the current ones are added (2 ROWS in flight, twice the
 * registers); else load ROWS, add them. */
template <class C, bool ALIGNED, int ROWS, bool PIPE, int LEAN = 0>
__device__ __forceinline__ unsigned vox_bm_stage(double *acc, const typename C::T *xe, const int *tok, int rn, int nv,
                                                 i64 st)
{
    unsigned any = 0, t[4] = {0, 0, 0, 0};
    uint4 w[ROWS], wn[ROWS];
    if (!PIPE) {
        for (int r = 0; r < rn; r += ROWS) { /* VOX_BM_TB is a multiple of ROWS */
            vox_bm_fetch<C, ALIGNED, ROWS>(w, xe, tok + r, nv, st);
            any |= vox_bm_add<C, ROWS>(acc, w);
        }
        return any;
    }
    if (rn > 0)
        vox_bm_fetch<C, ALIGNED, ROWS>(w, xe, tok, nv, st);
    for (int r = 0; r < rn; r += 2 * ROWS) { /* VOX_BM_TB is a multiple of 2 ROWS */
        if (r + ROWS < rn)
            vox_bm_fetch<C, ALIGNED, ROWS>(wn, xe, tok + r + ROWS, nv, st);
        any |= vox_bm_add<C, ROWS, LEAN>(acc, w, t);
        if (r + 2 * ROWS < rn)
            vox_bm_fetch<C, ALIGNED, ROWS>(w, xe, tok + r + 2 * ROWS, nv, st);
        if (r + ROWS < rn)
            any |= vox_bm_add<C, ROWS, LEAN>(acc, wn, t);
    }
    return LEAN ? C::nan_any(t[0] | t[1] | t[2] | t[3]) : any;
}

/* A thread's chunk of item row bh: its element count nv (<= 0: no chunk; < VEC at a ragged head
 * dim), its accumulators zeroed; returns the chunk's first element in the caller's row layout. */
template <class C>
__device__ __forceinline__ const typename C::T *vox_bm_chunk(const typename C::T *x, const vox_block_means_args &a,
                                                           i64 bh, i64 e0, i64 D, int *nv, double *acc)
{
    *nv = D - e0 < C::VEC ? (int)(D - e0) : C::VEC;
#pragma unroll
    for (int e = 0; e < C::VEC; e++)
        acc[e] = 0;
    return x + (bh / a.heads) * a.sb + (bh % a.heads) * a.sh + e0;
}

/* Item m's means of the thread's chunk (nv elements at e0; v: their values) into out: one float a store,
 * or (ST >= 1, a whole 8-element chunk, out 16-byte aligned, D a multiple of 4) two 16-byte stores (session 18:
 * e18's ncu of the pipelined kernel: its 8 scalar stores, lanes 32 bytes apart, are 6.6 M L2 sector writes of
 * its 29.9 M sectors, 5.8 M of them partial). */
template <int VEC, int ST>
__device__ __forceinline__ void vox_bm_store(float *out, i64 m, i64 items, i64 D, i64 e0, int nv, const float *v)
{
    if (m >= items)
        return;
    if (ST >= 1 && VEC == 8 && nv == 8 && D % 4 == 0 && (unsigned long long)out % 16 == 0) {
        float4 *o = (float4 *)(out + m * D + e0);
        o[0] = make_float4(v[0], v[1], v[2], v[3]);
        o[1] = make_float4(v[4 % VEC], v[5 % VEC], v[6 % VEC], v[7 % VEC]);
        return;
    }
#pragma unroll
    for (int e = 0; e < VEC; e++)
        if (e < nv)
            out[m * D + e0 + e] = v[e];
}

/* Session 16 (PF, vox_block_means_pf_*): where an item is one token stage and one chunk group (V <=
 * VOX_BM_TB, chunks <= G, G >= 16: at most 4 tokens a thread) and the rows are the valid ones (no kept
 * rows: their tokens would need a dependent load), the next item's caller tokens and valid count are
 * loaded into registers while the current item's rows are summed, so a stage no longer starts with
 * their round trip (e16's ncu of the pipelined kernel: ~10% of its stall samples on the token stores'
 * wait, ~7% on the two barriers around them). The same rows summed in the same order: the same means
 * bit for bit. Returns false (nothing done) where it does not apply. */
template <class DT, bool ALIGNED, bool PIPE, bool BRK = false>
__device__ bool block_means_pf(const typename DT::T *x, const int *slot_token, const int *valid, float *out,
                               int (*tok)[VOX_BM_TB], const vox_block_means_args &a)
{
    typedef typename vox_bm_of<DT>::C C;
    enum { ROWS = ALIGNED ? (PIPE ? 2 * VOX_BM_ROWS : VOX_BM_ROWS) : 2 };
    const i64 NB = a.NB, V = a.V, D = a.D, items = a.BH * NB;
    const int chunks = (int)((D + C::VEC - 1) / C::VEC), G = VOX_BM_GROUP(chunks), per_cta = VOX_BM_THREADS / G;
    if (!(V <= VOX_BM_TB && chunks <= G && G >= 16))
        return false;
    const int g = threadIdx.x / G, lane = threadIdx.x % G, tpt = VOX_BM_TB / G; /* tokens a thread: <= 4 */
    const i64 step = (i64)gridDim.x * per_cta;
    int pt[4], pn = 0;
    i64 m0 = (i64)blockIdx.x * per_cta;
    { /* the first item's tokens and count */
        const i64 m = m0 + g, j = m % (NB > 0 ? NB : 1);
        pn = m < items ? valid[j] : 0;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int t = lane + i * G;
            pt[i] = i < tpt && t < V && m < items ? slot_token[j * V + t] : -1;
        }
    }
    for (; m0 < items; m0 += step) {
        const i64 m = m0 + g, bh = m / NB;
        const int n = BRK && m0 > (i64)blockIdx.x * per_cta && pn > 1 ? pn - 1 : pn; /* BRK: a prefetched count one short */
        __syncthreads(); /* the previous item's tokens read */
#pragma unroll
        for (int i = 0; i < 4; i++)
            if (i < tpt)
                tok[g][lane + i * G] = lane + i * G < n ? pt[i] : -1;
        __syncthreads();
        if (m0 + step < items) { /* the next item's, in flight while this one is summed */
            const i64 mn = m0 + step + g, jn = mn % NB;
            pn = mn < items ? valid[jn] : 0;
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int t = lane + i * G;
                pt[i] = i < tpt && t < V && mn < items ? slot_token[jn * V + t] : -1;
            }
        }
        const i64 e0 = (i64)lane * C::VEC;
        int nv;
        double acc[C::VEC];
        const typename C::T *xe = vox_bm_chunk<C>(x, a, bh, e0, D, &nv, acc);
        vox_bm_specials sp = {0, 0, 0};
        const int rn = nv > 0 && n > 0 ? (n < VOX_BM_TB ? n : VOX_BM_TB) : 0;
        const unsigned any = vox_bm_stage<C, ALIGNED, ROWS, PIPE>(acc, xe, tok[g], rn, nv, a.st);
        for (int r = 0; any && r < rn; r++) /* rare: the rows again, to note their Inf/NaN elements */
            sp = vox_bm_note<C>(vox_bm_load<C, ALIGNED>(xe + tok[g][r] * a.st, nv), sp);
#pragma unroll
        for (int e = 0; e < C::VEC; e++)
            if (e < nv && m < items)
                out[m * D + e0 + e] = (float)(n ? vox_bm_sum(acc[e] * C::scale(), e, sp) / (double)n : 0.0);
    }
    return true;
}

template <class DT, bool ALIGNED, bool PIPE, bool PF = false, bool BRK = false, int LEAN = 0, int ST = 0>
__device__ void block_means(const typename DT::T *x, const int *slot_token, const int *kc, const int *kr,
                            const int *valid, float *out, int (*tok)[VOX_BM_TB], const vox_block_means_args &a)
{
    typedef typename vox_bm_of<DT>::C C;
    enum { ROWS = ALIGNED ? (PIPE ? 2 * VOX_BM_ROWS : VOX_BM_ROWS) : 2 }; /* VOX_BM_TB: a multiple of 2 ROWS */
    if (PF && !kc && block_means_pf<DT, ALIGNED, PIPE, BRK>(x, slot_token, valid, out, tok, a))
        return;
    const i64 NB = a.NB, V = a.V, D = a.D, items = a.BH * NB;
    const int chunks = (int)((D + C::VEC - 1) / C::VEC), G = VOX_BM_GROUP(chunks), per_cta = VOX_BM_THREADS / G;
    const int g = threadIdx.x / G, lane = threadIdx.x % G;
    /* every thread runs the same loops (the CTA's items in step: one barrier per token stage) */
    for (i64 m0 = (i64)blockIdx.x * per_cta; m0 < items; m0 += (i64)gridDim.x * per_cta) {
        const i64 m = m0 + g, bh = m / NB, j = m - bh * NB;
        const int n = m < items ? (kc ? kc[m] : valid[j]) : 0;
        for (int c0 = 0; c0 < chunks; c0 += G) {
            const i64 e0 = (i64)(c0 + lane) * C::VEC;
            int nv;
            double acc[C::VEC];
            const typename C::T *xe = vox_bm_chunk<C>(x, a, bh, e0, D, &nv, acc);
            vox_bm_specials sp = {0, 0, 0};
            for (int r0 = 0; r0 < V; r0 += VOX_BM_TB) {
                const int rn = vox_bm_stage_tokens(tok[g], slot_token, kc, kr, m, j, V, r0, n, nv, lane, G);
                const unsigned any = vox_bm_stage<C, ALIGNED, ROWS, PIPE, LEAN>(acc, xe, tok[g], rn, nv, a.st);
                /* rare: the stage's rows again, to note their Inf/NaN elements */
                for (int r = 0; any && r < rn; r++)
                    sp = vox_bm_note<C>(vox_bm_load<C, ALIGNED>(xe + tok[g][r] * a.st, nv), sp);
            }
            if (ST) {
                float v[C::VEC];
#pragma unroll
                for (int e = 0; e < C::VEC; e++)
                    v[e] = (float)(n ? vox_bm_sum(acc[e] * C::scale(), e, sp) / (double)n : 0.0);
                vox_bm_store<C::VEC, ST>(out, m, items, D, e0, nv, v);
            } else {
#pragma unroll
                for (int e = 0; e < C::VEC; e++)
                    if (e < nv && m < items)
                        out[m * D + e0 + e] = (float)(n ? vox_bm_sum(acc[e] * C::scale(), e, sp) / (double)n : 0.0);
            }
        }
    }
}

#define VOX_BLOCK_MEANS_KERNEL(NAME, DT, PIPE, CTAS, PF, BRK, LEAN, ST)                                    \
    VOX_KERNEL void VOX_BM_BOUNDS(CTAS)                                                                    \
        vox_block_means_##NAME(vox_block_means_bufs b, vox_block_means_args a)                            \
    {                                                                                                      \
        typedef vox_bm_of<DT>::C C;                                                                        \
        __shared__ int tok[VOX_BM_THREADS / 4][VOX_BM_TB];                                                 \
        const bool aligned = b.x % 16 == 0 && a.D % C::VEC == 0 && a.st % C::VEC == 0 &&                   \
                             a.sh % C::VEC == 0 && a.sb % C::VEC == 0;                                     \
        const int *slot_token = vox_ptr<const int>(b.slot_token), *kc = vox_ptr<const int>(b.kept_count), \
                  *kr = vox_ptr<const int>(b.kept_rows), *valid = vox_ptr<const int>(b.valid);             \
        if (aligned)                                                                                       \
            block_means<DT, true, PIPE, PF, BRK, LEAN, ST>(vox_ptr<const DT::T>(b.x), slot_token, kc, kr, valid, \
                                        vox_ptr<float>(b.out), tok, a);                                   \
        else                                                                                               \
            block_means<DT, false, PIPE, PF, BRK, LEAN, ST>(vox_ptr<const DT::T>(b.x), slot_token, kc, kr, valid, \
                                         vox_ptr<float>(b.out), tok, a);                                  \
    }
VOX_BLOCK_MEANS_KERNEL(f32, vox_t_f32, false, VOX_BM_CTAS, false, false, 0, 0)
VOX_BLOCK_MEANS_KERNEL(f16, vox_t_f16, false, VOX_BM_CTAS, false, false, 0, 0)
VOX_BLOCK_MEANS_KERNEL(bf16, vox_t_bf16, false, VOX_BM_CTAS, false, false, 0, 0)
VOX_BLOCK_MEANS_KERNEL(pipe_f32, vox_t_f32, true, VOX_BM_PIPE_CTAS, false, false, 0, 0)
VOX_BLOCK_MEANS_KERNEL(pipe_f16, vox_t_f16, true, VOX_BM_PIPE_CTAS, false, false, 0, 0)
VOX_BLOCK_MEANS_KERNEL(pipe_bf16, vox_t_bf16, true, VOX_BM_PIPE_CTAS, false, false, 0, 0)
/* session 16: the next item's tokens in flight (block_means_pf), where it applies */
VOX_BLOCK_MEANS_KERNEL(pf_f32, vox_t_f32, true, VOX_BM_PIPE_CTAS, true, false, 0, 0)
VOX_BLOCK_MEANS_KERNEL(pf_f16, vox_t_f16, true, VOX_BM_PIPE_CTAS, true, false, 0, 0)
VOX_BLOCK_MEANS_KERNEL(pf_bf16, vox_t_bf16, true, VOX_BM_PIPE_CTAS, true, false, 0, 0)
/* its deliberate break (tests only, VOXATTN_BLOCK_MEANS_PF_BREAK): a CTA's later items one row short */
VOX_BLOCK_MEANS_KERNEL(pf_brk_bf16, vox_t_bf16, true, VOX_BM_PIPE_CTAS, true, true, 0, 0)
/* session 18: the pipelined kernels with widen_lean and the one-instruction Inf/NaN test (LEAN; 16-bit
 * elements only: f32's conversion is already one instruction). Their deliberate break (LEAN 2: no Inf/NaN
 * test, so an Inf or NaN element's sum is a finite value) is instantiated by tools/bm_emu only (no library
 * build time) */
VOX_BLOCK_MEANS_KERNEL(lean_f16, vox_t_f16, true, VOX_BM_PIPE_CTAS, false, false, 1, 0)
VOX_BLOCK_MEANS_KERNEL(lean_bf16, vox_t_bf16, true, VOX_BM_PIPE_CTAS, false, false, 1, 0)
/* lean with 16-byte stores of the means (vox_bm_store's ST 1) */
VOX_BLOCK_MEANS_KERNEL(lean_v4_bf16, vox_t_bf16, true, VOX_BM_PIPE_CTAS, false, false, 1, 1)

/* Session 18 (RING, vox_block_means_ring*; NVIDIA sm_80+, aligned 16-byte chunks): a thread's row
 * chunks go by cp.async into its own column of a shared ring of S batches of RB rows (S - 1 batches in
 * flight while one is added; no registers held by the copies, no barrier: each thread reads back only
 * what it copied), then LDS.128 and the same adds in row order (lean widening and Inf/NaN test): the
 * same means bit for bit. Rows past the stage's count are copied as
 * zeros (cp.async's zero fill: +0, a no-op). _ring (RB 8, S 3, 4 CTAs per multiprocessor): 4 x 128 threads x
 * 2 batches x 8 rows x 16 B = 128 KB in flight per multiprocessor, against the pipelined kernel's 64-128 KB
 * held in registers; _ring_s4 (8, 4, 3 CTAs) 144 KB, _ring_r4 (4, 6, 4 CTAs) 160 KB. */
#if VOX_HAVE_MMA_SYNC
static_assert(VOX_BM_TB == 64, "VOX_BM_RING_SMEM counts 64-row token stages");
/* (the ring's geometry: S batches of RB rows, S - 1 of them in flight; RB divides VOX_BM_TB) */

/* batch b's rows (those below rn) into ring slot s (zeros past rn) */
template <class C, int RB>
__device__ __forceinline__ void vox_bm_ring_issue(uint4 *slot, const typename C::T *xe, const int *tok, int b, int rn,
                                                  i64 st)
{
#pragma unroll
    for (int i = 0; i < RB; i++) {
        const int r = b * RB + i;
        const bool ok = r < rn;
        vox_cp_async16(slot + i * VOX_BM_THREADS, ok ? (const void *)(xe + tok[ok ? r : 0] * st) : (const void *)xe,
                       ok ? 16 : 0);
    }
}

template <class C, int LEAN, int RB, int S>
__device__ __forceinline__ unsigned vox_bm_ring_stage(double *acc, const typename C::T *xe, const int *tok, int rn,
                                                      i64 st, uint4 *mine)
{
    unsigned any = 0, t[4] = {0, 0, 0, 0};
    const int nb = (rn + RB - 1) / RB;
#pragma unroll
    for (int b = 0; b < S - 1; b++) {
        if (b < nb)
            vox_bm_ring_issue<C, RB>(mine + b * RB * VOX_BM_THREADS, xe, tok, b, rn, st);
        vox_cp_commit();
    }
    for (int b = 0; b < nb; b++) {
        /* (the empty asm statements with a memory clobber keep the compiler from moving the ring's reads
         * across the copies and the wait, which it does not see as memory operations) */
        asm volatile("" ::: "memory");
        if (b + S - 1 < nb) /* into the slot read by the previous batch (its values already added) */
            vox_bm_ring_issue<C, RB>(mine + (b + S - 1) % S * RB * VOX_BM_THREADS, xe, tok, b + S - 1, rn, st);
        vox_cp_commit();
        vox_cp_wait<S - 1>(); /* batch b's copies landed */
        asm volatile("" ::: "memory");
        uint4 w[RB];
        const uint4 *slot = mine + b % S * RB * VOX_BM_THREADS;
#pragma unroll
        for (int i = 0; i < RB; i++)
            w[i] = slot[i * VOX_BM_THREADS];
        any |= vox_bm_add<C, RB, LEAN>(acc, w, t);
    }
    return LEAN ? C::nan_any(t[0] | t[1] | t[2] | t[3]) : any;
}

template <class DT, int LEAN, int RB, int S, int ST>
__device__ void block_means_ring(const typename DT::T *x, const int *slot_token, const int *kc, const int *kr,
                                 const int *valid, float *out, int (*tok)[VOX_BM_TB], uint4 *ring,
                                 const vox_block_means_args &a)
{
    typedef typename vox_bm_of<DT>::C C;
    const i64 NB = a.NB, V = a.V, D = a.D, items = a.BH * NB;
    const int chunks = (int)((D + C::VEC - 1) / C::VEC), G = VOX_BM_GROUP(chunks), per_cta = VOX_BM_THREADS / G;
    const int g = threadIdx.x / G, lane = threadIdx.x % G;
    uint4 *mine = ring + threadIdx.x;
    for (i64 m0 = (i64)blockIdx.x * per_cta; m0 < items; m0 += (i64)gridDim.x * per_cta) {
        const i64 m = m0 + g, bh = m / NB, j = m - bh * NB;
        const int n = m < items ? (kc ? kc[m] : valid[j]) : 0;
        for (int c0 = 0; c0 < chunks; c0 += G) {
            const i64 e0 = (i64)(c0 + lane) * C::VEC;
            int nv;
            double acc[C::VEC];
            const typename C::T *xe = vox_bm_chunk<C>(x, a, bh, e0, D, &nv, acc);
            vox_bm_specials sp = {0, 0, 0};
            for (int r0 = 0; r0 < V; r0 += VOX_BM_TB) {
                const int rn = vox_bm_stage_tokens(tok[g], slot_token, kc, kr, m, j, V, r0, n, nv, lane, G);
                const unsigned any = vox_bm_ring_stage<C, LEAN, RB, S>(acc, xe, tok[g], rn, a.st, mine);
                for (int r = 0; any && r < rn; r++)
                    sp = vox_bm_note<C>(vox_bm_load<C, true>(xe + tok[g][r] * a.st, nv), sp);
            }
            float v[C::VEC];
#pragma unroll
            for (int e = 0; e < C::VEC; e++)
                v[e] = (float)(n ? vox_bm_sum(acc[e] * C::scale(), e, sp) / (double)n : 0.0);
            if (ST == 2 && C::VEC == 8 && D == (i64)G * 8 && G <= 32 && (unsigned long long)out % 16 == 0) {
                /* the warp's means are one span of 32 x 8 floats (its items' rows of out, one after the other;
                 * lane l's chunk at 8 l): through the lanes' first two ring slots (free: every copy landed),
                 * then each 16-byte store of the warp writes 512 contiguous bytes */
                const int wl = threadIdx.x & 31, wb = threadIdx.x & ~31;
                mine[0] = make_uint4(__float_as_uint(v[0]), __float_as_uint(v[1 % C::VEC]),
                                     __float_as_uint(v[2 % C::VEC]), __float_as_uint(v[3 % C::VEC]));
                mine[VOX_BM_THREADS] = make_uint4(__float_as_uint(v[4 % C::VEC]), __float_as_uint(v[5 % C::VEC]),
                                                  __float_as_uint(v[6 % C::VEC]), __float_as_uint(v[7 % C::VEC]));
                VOX_SYNCWARP();
                const i64 mw = m0 + wb / G; /* the warp's first item */
#pragma unroll
                for (int k = 0; k < 2; k++) {
                    const int f4 = 32 * k + wl; /* float4 f4 of the span: lane f4 / 2's half f4 % 2 */
                    const uint4 q = ring[(f4 % 2) * VOX_BM_THREADS + wb + f4 / 2];
                    if (mw + f4 * 4 / D < items)
                        ((uint4 *)(out + mw * D))[f4] = q;
                }
                VOX_SYNCWARP();
            } else
                vox_bm_store<C::VEC, ST>(out, m, items, D, e0, nv, v);
        }
    }
}

/* unaligned inputs take the pipelined code (static token stage) */
#define VOX_BLOCK_MEANS_RING_KERNEL(NAME, DT, LEAN, RB, S, CTAS, ST)                                         \
    VOX_KERNEL void __launch_bounds__(VOX_BM_THREADS, CTAS)                                                \
        vox_block_means_##NAME(vox_block_means_bufs b, vox_block_means_args a)                            \
    {                                                                                                      \
        typedef vox_bm_of<DT>::C C;                                                                        \
        const bool aligned = b.x % 16 == 0 && a.D % C::VEC == 0 && a.st % C::VEC == 0 &&                   \
                             a.sh % C::VEC == 0 && a.sb % C::VEC == 0;                                     \
        const int *slot_token = vox_ptr<const int>(b.slot_token), *kc = vox_ptr<const int>(b.kept_count), \
                  *kr = vox_ptr<const int>(b.kept_rows), *valid = vox_ptr<const int>(b.valid);             \
        uint4 *ring = (uint4 *)vox_dyn_smem;                                                               \
        int(*tok)[VOX_BM_TB] = (int(*)[VOX_BM_TB])(vox_dyn_smem + VOX_BM_RING_BYTES(RB, S));                \
        if (aligned)                                                                                       \
            block_means_ring<DT, LEAN, RB, S, ST>(vox_ptr<const DT::T>(b.x), slot_token, kc, kr, valid,              \
                                       vox_ptr<float>(b.out), tok, ring, a);                              \
        else                                                                                               \
            block_means<DT, false, true, false, false, LEAN, ST>(vox_ptr<const DT::T>(b.x), slot_token, kc, kr, \
                                                             valid, vox_ptr<float>(b.out), tok, a);        \
    }
/* every ring kernel with the lean adds (LEAN 1) */
#define VOX_BM_RING_LEAN(NAME, DT, RB, S, CTAS, ST) VOX_BLOCK_MEANS_RING_KERNEL(NAME, DT, 1, RB, S, CTAS, ST)
VOX_BM_RING_KERNELS(VOX_BM_RING_LEAN)
#endif

#endif

#ifdef VOX_GPU_HOST

/* VOX_BM_THREADS threads per CTA, a group of VOX_BM_GROUP per (bh, block),
 * as many CTAs as stay resident (grid-stride): the pipelined kernels
 * (vox_block_means_pipe_*, the next 2 VOX_BM_ROWS rows in flight per thread
 * while it adds the current ones, VOX_BM_PIPE_CTAS per multiprocessor), or
 * with VOXATTN_BLOCK_MEANS_NOPIPE=1 the others (load VOX_BM_ROWS rows, add
 * them; VOX_BM_CTAS per multiprocessor). */
vox_status gpu_block_means(void *dev, const vox_op_dims *d, const vox_op_block_means *p)
{
    gpu_dev *g = dev;
    vox_block_means_bufs b = {.x = gpu_dptr(p->x.ref), .slot_token = gpu_dptr(p->slot_token),
                              .kept_count = gpu_dptr(p->kept_count),
                              .kept_rows = gpu_dptr(p->kept_rows), .valid = gpu_dptr(d->block_valid),
                              .out = gpu_dptr(p->out)};
    if (!b.kept_count)
        b.kept_rows = 0;
    GPU_OP_ARGS(block_means);
    /* session 16: the next item's tokens in flight (vox_block_means_pf_*; opt-in, VOXATTN_BLOCK_MEANS_PF=1: not
     * measured as a win, NOTES.md), else the pipelined kernels; VOXATTN_BLOCK_MEANS_ABL=1: the two in turn, two
     * calls each (a build's q and k); VOXATTN_BLOCK_MEANS_PF_BREAK=1 (tests) implies PF */
    int pf = g->fn[BY_DTYPE(block_means_pf)] &&
             (g->bm_abl ? !(g->bm_abl_n++ / 2 % 2) : g->bm_pf || g->bm_pf_break);
    int fn = g->bm_nopipe ? BY_DTYPE(block_means) : pf ? BY_DTYPE(block_means_pf) : BY_DTYPE(block_means_pipe);
    if (pf && !g->bm_nopipe && g->bm_pf_break && d->dtype == VOX_BF16 && g->fn[GPU_FN_block_means_pf_brk_bf16])
        fn = GPU_FN_block_means_pf_brk_bf16;
    /* session 18 (f16/bf16, opt-in), VOXATTN_BLOCK_MEANS_LEAN: 1: the pipelined kernels with fewer integer
     * operations per element (vox_block_means_lean_*); 5: bf16 with 16-byte stores of the means (_lean_v4_bf16);
     * 2, 3, 4, 6: the same sums from a cp.async ring in shared memory (vox_block_means_ring_*: 8 rows x 3 batches,
     * _ring_s4_bf16: 8 x 4, _ring_r4_bf16: 4 x 6, _ring_wc_bf16: 8 x 3 and each warp's means stored as one span;
     * sm_80+, else lean; f16: 2). _LEAN_ABL: the listed variants in turn, two calls each */
    const char *abl = g->bm_lean_abl;
    int lean = pf || g->bm_nopipe || d->dtype == VOX_F32 ? 0
               : abl[0]                                  ? abl[g->bm_lean_n++ / 2 % (int)strlen(abl)] - '0'
                                                         : g->bm_lean;
    int bf = d->dtype == VOX_BF16;
    int lean_fn = !bf ? GPU_FN_block_means_lean_f16 : lean == 5 ? GPU_FN_block_means_lean_v4_bf16
                                                          : GPU_FN_block_means_lean_bf16;
    int64_t vec = d->dtype == VOX_F32 ? 4 : 8, chunks = (a.D + vec - 1) / vec;
    int64_t per_cta = VOX_BM_THREADS / VOX_BM_GROUP(chunks);
    int64_t ctas = (a.BH * a.NB + per_cta - 1) / per_cta;
    if (lean >= 2 && lean != 5) {
#define VOX_BM_RING_GEO(NAME, DT, RB, S, CTAS, ST) {GPU_FN_block_means_##NAME, CTAS, VOX_BM_RING_SMEM(RB, S)},
        static const struct { int fn, ctas, smem; } geo[] = {VOX_BM_RING_KERNELS(VOX_BM_RING_GEO)};
#undef VOX_BM_RING_GEO
        /* VOX_BM_RING_KERNELS' order: f16 _ring, then bf16's _ring (2), _ring_s4 (3), _ring_r4 (4), _ring_wc (6) */
        const int v = !bf ? 0 : lean == 6 ? 4 : lean - 1;
        if (g->fn[geo[v].fn])
            return gpu_launch_op(g, VOX_OP_block_means, geo[v].fn, gpu_cap_grid(g, ctas, geo[v].ctas), VOX_BM_THREADS,
                                 1, (size_t)geo[v].smem, &b, &a);
    }
    if (lean && g->fn[lean_fn])
        fn = lean_fn;
    return gpu_launch_op(g, VOX_OP_block_means, fn, gpu_cap_grid(g, ctas, g->bm_nopipe ? VOX_BM_CTAS : VOX_BM_PIPE_CTAS),
                         VOX_BM_THREADS, 1, 0, &b, &a);
}

#endif
