/* Helpers every kernel file may use: the dynamic shared memory symbol, the
 * cast of a kernel's buffer address (vox_<op>_bufs field) to a typed
 * pointer, and block-wide reductions. Included once, by kernels.cu. */
#ifndef VOX_GPU_COMMON_CUH
#define VOX_GPU_COMMON_CUH

#include "kernel_args.h" /* core/: vox_<op>_bufs, vox_<op>_args */
#include "vox_gpu_port.h"

/* K(NAME, DT) once per element type: an op's f32, f16 and bf16 kernels from
 * its kernel-defining macro K (kernels vox_<op>_f32, _f16, _bf16). */
#define VOX_EACH_DTYPE(K) K(f32, vox_t_f32) K(f16, vox_t_f16) K(bf16, vox_t_bf16)
/* K(NAME, U) once per copy word of the permutes (kernels _b2, _b4, _b16). */
#define VOX_EACH_COPY_UNIT(K) K(b2, u16) K(b4, unsigned) K(b16, uint4)

/* Dynamic shared memory of every kernel that sizes it at launch. */
extern __shared__ __align__(16) unsigned char vox_dyn_smem[];

/* A buffer field of vox_<op>_bufs (device address, offset applied; 0 when
 * absent) as a typed pointer (NULL when absent). */
template <typename T> __device__ __forceinline__ T *vox_ptr(unsigned long long a)
{
    return (T *)(uintptr_t)a;
}

/* An i32 field of vox_<op>_args widened to the kernel's 64-bit index type
 * without telling the compiler its range: the kernels were tuned with 64-bit
 * V and D parameters, and a known 32-bit range changes their unrolling and
 * register allocation (with a plain cast the scalar attention kernel spills
 * 0.6-3 KB per thread). */
__device__ __forceinline__ i64 vox_i64(int x)
{
#if VOX_GPU_CUDA
    i64 r;
    asm("cvt.s64.s32 %0, %1;" : "=l"(r) : "r"(x));
    return r;
#else
    return (i64)x;
#endif
}

#define VOX_NAN_F64 __longlong_as_double(0x7ff8000000000000ll)

/* Block-wide sum (MAX = false) or max of v; red: VOX_MAX_WARPS doubles of
 * shared memory. Every thread calls it and gets the result. */
#define VOX_MAX_WARPS 32
template <bool MAX> __device__ double block_reduce(double v, double *red)
{
    int lane = threadIdx.x % VOX_WARP_SIZE, w = threadIdx.x / VOX_WARP_SIZE;
    int nw = (blockDim.x + VOX_WARP_SIZE - 1) / VOX_WARP_SIZE;
    v = MAX ? vox_warp_max(v) : vox_warp_sum(v);
    __syncthreads();
    if (lane == 0)
        red[w] = v;
    __syncthreads();
    double r = red[0];
    for (int i = 1; i < nw; i++)
        r = MAX ? (red[i] > r ? red[i] : r) : r + red[i];
    return r;
}

/* The permutes' row copy (permute_to.cuh, permute_from.cuh). rows rows of ru
 * copy words U each; map(row, u, in, out) names the source row (in: NULL for
 * a zero row) and the destination row of `row`, and may do per-row side work
 * for word u. Launch: blockDim (32, 8), grid-stride. When a row is at most a
 * warp wide and its word count divides 32 (D = 64/128 in 16-byte words), a
 * warp copies 32 / ru rows at once and VOX_ROWS_INFLIGHT such groups per pass,
 * loading all of them before storing any (several rows in flight per lane: a
 * copy is latency-bound otherwise); other widths take a warp per row. */
#define VOX_ROWS_INFLIGHT 4
template <typename U> __device__ __forceinline__ U vox_zero();
template <> __device__ __forceinline__ u16 vox_zero<u16>() { return 0; }
template <> __device__ __forceinline__ unsigned vox_zero<unsigned>() { return 0u; }
template <> __device__ __forceinline__ uint4 vox_zero<uint4>() { return make_uint4(0, 0, 0, 0); }

template <typename U, typename Map> __device__ __forceinline__ void vox_copy_rows(i64 rows, i64 ru, const Map &map)
{
    const int lane = threadIdx.x;
    const i64 nw = (i64)gridDim.x * blockDim.y, w0 = (i64)blockIdx.x * blockDim.y + threadIdx.y;
    if (ru <= 32 && 32 % ru == 0) {
        const int rpw = 32 / (int)ru, sub = lane / (int)ru, u = lane - sub * (int)ru;
        const i64 group = (i64)rpw * VOX_ROWS_INFLIGHT;
        for (i64 base = w0 * group + sub; base < rows; base += nw * group) {
            U v[VOX_ROWS_INFLIGHT];
            U *o[VOX_ROWS_INFLIGHT];
#pragma unroll
            for (int k = 0; k < VOX_ROWS_INFLIGHT; k++) {
                const i64 row = base + (i64)k * rpw;
                const U *in = 0;
                o[k] = 0;
                v[k] = vox_zero<U>();
                if (row < rows) {
                    map(row, u, in, o[k]);
                    if (in)
                        v[k] = in[u];
                }
            }
#pragma unroll
            for (int k = 0; k < VOX_ROWS_INFLIGHT; k++)
                if (o[k])
                    o[k][u] = v[k];
        }
        return;
    }
    for (i64 row = w0; row < rows; row += nw) {
        const U *in;
        U *o;
        map(row, lane, in, o);
        for (i64 u = lane; u < ru; u += 32)
            o[u] = in ? in[u] : vox_zero<U>();
    }
}

/* q = a / b, r = a - q b for 0 <= a, 0 < b, in 32 bits when both fit (a 64-bit
 * division is a long software sequence on GPUs). */
__device__ __forceinline__ void vox_divmod(i64 a, i64 b, i64 &q, i64 &r)
{
    if (((unsigned long long)a | (unsigned long long)b) < (1ull << 32)) {
        const unsigned qq = (unsigned)a / (unsigned)b;
        q = qq, r = (i64)((unsigned)a - qq * (unsigned)b);
    } else {
        q = a / b, r = a - q * b;
    }
}

#endif
