/* sample_rows (core/backend.h), the SVG head classification: for sampled
 * query rows, the exact attention output under the dense, spatial and
 * temporal masks, reduced to ||o_s-o_d||^2, ||o_t-o_d||^2, ||o_d||^2.
 * Launch: VOX_SR_THREADS threads, one block per (bh, row), grid-stride. */

#define VOX_SR_THREADS 256
#define VOX_SR_NW (VOX_SR_THREADS / VOX_WARP_SIZE)
#define VOX_SR_C (256 / VOX_WARP_SIZE)

__device__ __forceinline__ int vox_allows(const int *coord, i64 ib, i64 jb, int temporal, int fb, int sb, int sink)
{
    const int *ci = coord + 3 * ib, *cj = coord + 3 * jb;
    if (cj[0] < 0 || ci[0] < 0)
        return 1;
    if (sink && cj[0] == 0)
        return 1;
    if (!temporal)
        return abs(cj[0] - ci[0]) <= fb;
    return abs(cj[1] - ci[1]) <= sb && abs(cj[2] - ci[2]) <= sb;
}

/* One block per (bh, r); each warp streams whole key blocks with an online
 * softmax for the three masks; warps are merged at the end. */
template <class DT>
__device__ void sample_rows(const typename DT::T *q, const typename DT::T *k, const typename DT::T *v,
                            const int *rows, i64 R, const int *coord, const int *valid, i64 NB, i64 V, i64 D,
                            int fb, int sb, int sink, float scale, float *out, i64 BH)
{
    __shared__ float sm_m[VOX_SR_NW][3], sm_z[VOX_SR_NW][3];
    __shared__ float sm_acc[VOX_SR_NW][3][256];
    __shared__ double red[VOX_MAX_WARPS];
    const int tid = threadIdx.x, lane = tid % VOX_WARP_SIZE, warp = tid / VOX_WARP_SIZE;
    i64 S = NB * V;
    for (i64 pr = blockIdx.x; pr < BH * R; pr += gridDim.x) {
        i64 bh = pr / R, r = pr - bh * R;
        i64 qs = rows[r], ib = qs / V;
        float qv[VOX_SR_C], acc[3][VOX_SR_C], mm[3], zz[3];
#pragma unroll
        for (int c = 0; c < VOX_SR_C; c++) {
            i64 e = lane + (i64)c * VOX_WARP_SIZE;
            qv[c] = e < D ? DT::ld(q, (bh * S + qs) * D + e) : 0.f;
            acc[0][c] = acc[1][c] = acc[2][c] = 0.f;
        }
        for (int w = 0; w < 3; w++)
            mm[w] = -VOX_INF, zz[w] = 0.f;
        for (i64 jb = warp; jb < NB; jb += VOX_SR_NW) {
            int al[3] = {1, vox_allows(coord, ib, jb, 0, fb, sb, sink), vox_allows(coord, ib, jb, 1, fb, sb, sink)};
            for (int t = 0; t < valid[jb]; t++) {
                i64 row = (bh * S + jb * V + t) * D;
                float d = 0.f, vv[VOX_SR_C];
#pragma unroll
                for (int c = 0; c < VOX_SR_C; c++) {
                    i64 e = lane + (i64)c * VOX_WARP_SIZE;
                    d += e < D ? qv[c] * DT::ld(k, row + e) : 0.f;
                    vv[c] = e < D ? DT::ld(v, row + e) : 0.f;
                }
                d = vox_warp_sum(d) * scale;
#pragma unroll
                for (int w = 0; w < 3; w++) {
                    if (!al[w])
                        continue;
                    if (d > mm[w]) {
                        float a = VOX_EXPF(mm[w] - d);
                        zz[w] *= a;
#pragma unroll
                        for (int c = 0; c < VOX_SR_C; c++)
                            acc[w][c] *= a;
                        mm[w] = d;
                    }
                    float p = VOX_EXPF(d - mm[w]);
                    zz[w] += p;
#pragma unroll
                    for (int c = 0; c < VOX_SR_C; c++)
                        acc[w][c] += p * vv[c];
                }
            }
        }
        __syncthreads();
        if (lane == 0)
            for (int w = 0; w < 3; w++)
                sm_m[warp][w] = mm[w], sm_z[warp][w] = zz[w];
#pragma unroll
        for (int c = 0; c < VOX_SR_C; c++) {
            i64 e = lane + (i64)c * VOX_WARP_SIZE;
            if (e < D)
                for (int w = 0; w < 3; w++)
                    sm_acc[warp][w][e] = acc[w][c];
        }
        __syncthreads();
        double es = 0, et = 0, nd = 0;
        for (i64 e = tid; e < D; e += blockDim.x) {
            double o[3];
            for (int w = 0; w < 3; w++) {
                float M = -VOX_INF;
                for (int x = 0; x < VOX_SR_NW; x++)
                    M = sm_m[x][w] > M ? sm_m[x][w] : M;
                double Z = 0, A = 0;
                for (int x = 0; x < VOX_SR_NW; x++) {
                    if (sm_z[x][w] == 0.f)
                        continue;
                    double f = exp((double)sm_m[x][w] - (double)M);
                    Z += f * sm_z[x][w];
                    A += f * sm_acc[x][w][e];
                }
                o[w] = (Z > 0 || Z != Z) ? A / Z : 0.0; /* NaN scores propagate */
            }
            es += (o[1] - o[0]) * (o[1] - o[0]);
            et += (o[2] - o[0]) * (o[2] - o[0]);
            nd += o[0] * o[0];
        }
        es = block_reduce<false>(es, red);
        et = block_reduce<false>(et, red);
        nd = block_reduce<false>(nd, red);
        if (tid == 0) {
            float *res = out + pr * 3;
            res[0] = (float)es, res[1] = (float)et, res[2] = (float)nd;
        }
        __syncthreads();
    }
}

#define VOX_SAMPLE_ROWS_KERNEL(NAME, DT, BOUNDS)                                                         \
    VOX_KERNEL void __launch_bounds__ BOUNDS                                                             \
        vox_sample_rows_##NAME(vox_sample_rows_bufs b, vox_sample_rows_args a)                           \
    {                                                                                                    \
        sample_rows<DT>(vox_ptr<const DT::T>(b.q), vox_ptr<const DT::T>(b.k), vox_ptr<const DT::T>(b.v), \
                        vox_ptr<const int>(b.rows), a.R, vox_ptr<const int>(b.block_coord),              \
                        vox_ptr<const int>(b.valid), a.NB, vox_i64(a.V), vox_i64(a.D), a.frame_blocks,   \
                        a.space_blocks, a.sink, a.scale, vox_ptr<float>(b.out), a.BH);                   \
    }
/* f16 asks for 3 blocks per multiprocessor: ptxas then allocates 79-80
 * registers, as it did when the kernel took scalar parameters (it otherwise
 * takes 105-117 since they became the two structs, and 2 blocks fit). */
VOX_SAMPLE_ROWS_KERNEL(f32, vox_t_f32, (VOX_SR_THREADS))
VOX_SAMPLE_ROWS_KERNEL(f16, vox_t_f16, (VOX_SR_THREADS, 3))
VOX_SAMPLE_ROWS_KERNEL(bf16, vox_t_bf16, (VOX_SR_THREADS))
