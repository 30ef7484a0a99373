/* permute_to and permute_from (core/backend.h): caller layout <-> block
 * layout. Rows are copied in units of the widest copy word (2, 4 or 16 bytes)
 * that divides every address and stride; the host picks the variant
 * (b2/b4/b16) and gives row and strides in those units. Launch: blockDim
 * (32, 8), grid-stride over rows. */

template <typename U> __device__ __forceinline__ U vox_zero();
template <> __device__ __forceinline__ u16 vox_zero<u16>() { return 0; }
template <> __device__ __forceinline__ unsigned vox_zero<unsigned>() { return 0u; }
template <> __device__ __forceinline__ uint4 vox_zero<uint4>() { return make_uint4(0, 0, 0, 0); }

/* threadIdx.y picks a row, x walks the row's units. */
template <typename U>
__device__ void permute_to(const U *src, U *dst, const int *slot_token, i64 heads, i64 BH, i64 S, i64 ru,
                           i64 sb, i64 sh, i64 st)
{
    i64 rows = BH * S;
    for (i64 row = (i64)blockIdx.x * blockDim.y + threadIdx.y; row < rows; row += (i64)gridDim.x * blockDim.y) {
        i64 bh = row / S, s = row - bh * S, b = bh / heads, h = bh - b * heads;
        int t = slot_token[s];
        U *o = dst + row * ru;
        if (t < 0) {
            for (i64 u = threadIdx.x; u < ru; u += blockDim.x)
                o[u] = vox_zero<U>();
        } else {
            const U *in = src + b * sb + h * sh + (i64)t * st;
            for (i64 u = threadIdx.x; u < ru; u += blockDim.x)
                o[u] = in[u];
        }
    }
}

template <typename U>
__device__ void permute_from(const U *src, const float *lse_src, U *dst, float *lse_dst, const int *token_slot,
                             const int *fill, i64 heads, i64 BH, i64 S, i64 N, i64 ru, i64 sb, i64 sh, i64 st,
                             i64 lsb, i64 lsh, i64 lst)
{
    i64 rows = BH * N;
    for (i64 row = (i64)blockIdx.x * blockDim.y + threadIdx.y; row < rows; row += (i64)gridDim.x * blockDim.y) {
        i64 bh = row / N, t = row - bh * N, b = bh / heads, h = bh - b * heads;
        i64 s = token_slot[t];
        i64 f = fill ? (i64)fill[bh * S + s] : s;
        const U *in = src + (bh * S + f) * ru;
        U *o = dst + b * sb + h * sh + t * st;
        for (i64 u = threadIdx.x; u < ru; u += blockDim.x)
            o[u] = in[u];
        if (lse_dst && lse_src && threadIdx.x == 0)
            lse_dst[b * lsb + h * lsh + t * lst] = lse_src[bh * S + f];
    }
}

/* Absent buffers (fill_src, the LSE pair) arrive as 0: NULL pointers. */
#define VOX_PERMUTE_KERNELS(NAME, U)                                                                        \
    VOX_KERNEL void vox_permute_to_##NAME(VOX_PARAM vox_permute_to_bufs b, VOX_PARAM vox_permute_to_args a) \
    {                                                                                                       \
        permute_to<U>(vox_ptr<const U>(b.src), vox_ptr<U>(b.dst), vox_ptr<const int>(b.slot_token),         \
                      a.heads, a.BH, a.slots, a.row, a.sb, a.sh, a.st);                                     \
    }                                                                                                       \
    VOX_KERNEL void vox_permute_from_##NAME(VOX_PARAM vox_permute_from_bufs b,                              \
                                            VOX_PARAM vox_permute_from_args a)                              \
    {                                                                                                       \
        permute_from<U>(vox_ptr<const U>(b.src), vox_ptr<const float>(b.lse_src), vox_ptr<U>(b.dst),        \
                        vox_ptr<float>(b.lse_dst), vox_ptr<const int>(b.token_slot),                        \
                        vox_ptr<const int>(b.fill_src), a.heads, a.BH, a.slots, a.N, a.row, a.sb, a.sh,     \
                        a.st, a.lsb, a.lsh, a.lst);                                                         \
    }
VOX_PERMUTE_KERNELS(b2, u16)
VOX_PERMUTE_KERNELS(b4, unsigned)
VOX_PERMUTE_KERNELS(b16, uint4)
