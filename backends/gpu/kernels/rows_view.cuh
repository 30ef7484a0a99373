/* How sample_rows and query_select read q, k, v (core/kernel_args.h: heads,
 * sb, sh, st, tok): the rows of one (b, h) of a tensor, slot s at x + slot *
 * st, slot = tok[s] when the kernel reads the caller's tensor through
 * slot_token, s itself for a block copy (tok absent). Padding slots (tok -1)
 * are never read. Included by the op files that use it. */
#ifndef VOX_GPU_ROWS_VIEW_CUH
#define VOX_GPU_ROWS_VIEW_CUH

template <class T> struct vox_rows_view {
    const T *x;     /* (b, h)'s slot-0 origin */
    const int *tok; /* slot -> caller token; NULL: identity */
    i64 st;
    __device__ __forceinline__ i64 slot(i64 s) const { return tok ? (i64)tok[s] : s; }
    __device__ __forceinline__ const T *row(i64 s) const { return x + slot(s) * st; }
};

/* The view of x for bh = b*heads + h, from an op's arguments a. */
template <class T, class A> __device__ __forceinline__ vox_rows_view<T> vox_rows_of(const T *x, i64 bh, const A &a)
{
    const i64 heads = vox_i64(a.heads);
    return {x + (bh / heads) * a.sb + (bh % heads) * a.sh, vox_ptr<const int>((unsigned long long)a.tok), a.st};
}

#endif
