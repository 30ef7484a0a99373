/* mask_transpose (core/backend.h): attention_backward's packed mask from the
 * forward's CSR, on the device so that the backward reads nothing back. One
 * block of MT_T threads per (head, tile of MT_T KV blocks), grid-stride. The
 * block walks the head's rows in chunks of MT_T: thread r binary-searches row
 * i0 + r for the tile's first column, walks its columns inside the tile and
 * sets bit r of each column's word in shared memory (atomicOr: one bit per
 * row, so the words do not depend on the order); then thread t reads column
 * j0 + t's words. Pass 0 counts them (popc) and copies the header and the
 * columns; pass 1 computes the column's start (the head's counts before the
 * tile, reduced, plus a scan over the tile) and writes its rows in bit
 * order, i.e. ascending. No global atomics: each column is one thread's, so
 * the output is deterministic. Launch: MT_T threads, no dynamic shared
 * memory, twice (pass 0, then pass 1).
 * (One file per op: kernel names, device and host sections; ../gpu_kernels.h.) */

#define VOX_GPU_KERNELS_mask_transpose(R, O, M) O(mask_transpose)

#ifdef VOX_GPU_DEVICE

#define MT_T 256
#define MT_W (MT_T / 32) /* words per column (one bit per row of a chunk) */

__device__ __forceinline__ void mask_transpose(const int *kv_start, const int *kv_count, const int *kv_cols,
                                               int *mask, i64 BH, i64 NB, i64 t0, i64 head_room, int pass)
{
    __shared__ unsigned bits[MT_W * MT_T]; /* word w of column t at bits[w*MT_T + t] */
    __shared__ int sum[MT_T];
    const i64 R = BH * NB, tiles = (NB + MT_T - 1) / MT_T;
    const int t = threadIdx.x;
    for (i64 wg = blockIdx.x; wg < BH * tiles; wg += gridDim.x) {
        const i64 bh = wg / tiles, j0 = (wg % tiles) * MT_T, j = j0 + t;
        int at = 0; /* pass 1: where column j's list goes */
        if (pass == 1) {
            int s = 0;
            for (i64 c = t; c < j0; c += MT_T)
                s += mask[3 * R + bh * NB + c];
            sum[t] = s;
            __syncthreads();
            for (int w = MT_T / 2; w > 0; w >>= 1) {
                if (t < w)
                    sum[t] += sum[t + w];
                __syncthreads();
            }
            const int before = sum[0];
            __syncthreads();
            const int own = j < NB ? mask[3 * R + bh * NB + j] : 0;
            sum[t] = own;
            __syncthreads();
            for (int off = 1; off < MT_T; off <<= 1) { /* inclusive scan */
                const int v = t >= off ? sum[t - off] : 0;
                __syncthreads();
                sum[t] += v;
                __syncthreads();
            }
            at = (int)(t0 + bh * head_room) + before + sum[t] - own;
            if (j < NB)
                mask[2 * R + bh * NB + j] = at;
        }
        for (int w = 0; w < MT_W; w++)
            bits[w * MT_T + t] = 0;
        __syncthreads();
        int n = 0;
        for (i64 i0 = 0; i0 < NB; i0 += MT_T) {
            const i64 i = i0 + t;
            if (i < NB) {
                const i64 m = bh * NB + i;
                const int s = kv_start[m], cnt = kv_count[m];
                if (pass == 0 && j0 == 0) {
                    mask[m] = (int)(4 * R) + s;
                    mask[R + m] = cnt;
                }
                int lo = 0, hi = cnt; /* the first column >= j0 */
                while (lo < hi) {
                    const int mid = (lo + hi) >> 1;
                    if (kv_cols[s + mid] < j0)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                for (int c = lo; c < cnt; c++) {
                    const int col = kv_cols[s + c];
                    if (col >= j0 + MT_T)
                        break;
                    atomicOr(&bits[(t >> 5) * MT_T + (col - j0)], 1u << (t & 31));
                    if (pass == 0)
                        mask[4 * R + s + c] = col;
                }
            }
            __syncthreads();
            for (int w = 0; w < MT_W; w++) {
                unsigned b = bits[w * MT_T + t];
                bits[w * MT_T + t] = 0;
                if (pass == 0)
                    n += __popc(b);
                else
                    for (; b; b &= b - 1) /* lowest set bit first: ascending rows */
                        mask[at + n++] = (int)(i0 + w * 32) + __ffs(b) - 1;
            }
            __syncthreads();
        }
        if (pass == 0 && j < NB)
            mask[3 * R + bh * NB + j] = n;
    }
}

VOX_KERNEL void vox_mask_transpose(vox_mask_transpose_bufs b, vox_mask_transpose_args a)
{
    mask_transpose(vox_ptr<const int>(b.kv_start), vox_ptr<const int>(b.kv_count), vox_ptr<const int>(b.kv_cols),
                   vox_ptr<int>(b.mask), a.BH, a.NB, a.t0, a.head_room, a.pass);
}

#endif

#ifdef VOX_GPU_HOST

/* Two launches of vox_mask_transpose, 256 threads per (head, tile of
 * 256 KV blocks), grid-stride: counts, then starts and lists. */
vox_status gpu_mask_transpose(void *dev, const vox_op_dims *d, const vox_op_mask_transpose *p)
{
    gpu_dev *g = dev;
    vox_mask_transpose_bufs b = {.kv_start = gpu_dptr(p->kv_start), .kv_count = gpu_dptr(p->kv_count),
                                 .kv_cols = gpu_dptr(p->kv_cols), .mask = gpu_dptr(p->mask)};
    GPU_OP_ARGS(mask_transpose);
    int64_t grid = gpu_cap_grid(g, a.BH * ((a.NB + 255) / 256), 8);
    vox_status st = gpu_launch_op(g, VOX_OP_mask_transpose, GPU_FN_mask_transpose, grid, 256, 1, 0, &b, &a);
    a.pass = 1;
    return st ? st : gpu_launch_op(g, VOX_OP_mask_transpose, GPU_FN_mask_transpose, grid, 256, 1, 0, &b, &a);
}

#endif
