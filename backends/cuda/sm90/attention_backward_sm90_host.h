/* Host side of the Hopper attention backward (attention_backward_sm90.cuh):
 * shared-memory size, support check, the 16-row-box tensor maps and the
 * launch recipe. Plain C; 64-row-box tensor maps through vox_sm90_encode_kv
 * (attention_forward_sm90_host.h).
 *
 * Kernels (extern "C", attention_backward_sm90.cu):
 *   vox_attn_bwd_sm90_rows                      any grid (grid-stride), e.g. 1024 x 256
 *   vox_attn_bwd_sm90_{dq,dkdv}_{bf16,f16}_d{128,64}
 *                                               per kernel, with PACK = VOX_SM90_BWD_DQ_PACK
 *                                               or VOX_SM90_BWD_DKDV_PACK (dq: 0, the
 *                                               alternating scheme, one 64-row unit per CTA;
 *                                               dkdv: 1, two units per CTA):
 *                                               grid VOX_SM90_BWD_CTAS(BH, NB, V, PACK),
 *                                               384 threads,
 *                                               smem vox_sm90_bwd_smem_bytes(D, PACK)
 *   vox_attn_bwd_sm90_dkdv_q_{bf16,f16}_d{128,64} the atomic-dQ dkdv (scheme
 *                                               VOX_SM90_BWD_DKDVQ_PACK): grid
 *                                               VOX_SM90_BWD_CTAS(BH, NB, V, 1), 384
 *                                               threads, smem vox_sm90_bwd_smem_bytes(D,
 *                                               VOX_SM90_BWD_DKDVQ_PACK)
 *   vox_attn_bwd_sm90_dkdv_q_{rw,rwu,rwl}_{bf16,f16}_d{128,64} the same with scheme
 *                                               VOX_SM90_BWD_ATOMIC_RW (the library's default: rwu)
 *   vox_attn_bwd_sm90_dqconv_{bf16,f16}_d{128,64} any grid (grid-stride), e.g. 1024 x 256
 * Launch (after the shared preprocess, attention_backward_prep_*, has written
 * dO_eff over dout and delta into lse[BH*S ...]):
 *   1. tensor maps tmQ, tmK, tmV, tmG (G = dout, i.e. dO_eff), each
 *      vox_sm90_encode_kv(enc, &map, ptr, BH*S, D, bf16), and the chunk maps
 *      tmQc, tmKc, tmVc, tmGc of the same tensors with 16-row boxes, each
 *      vox_sm90_bwd_encode_chunk(enc, &map, ptr, BH*S, D, bf16) (the 16-row
 *      chunks of partial blocks; dq reads tmKc/tmVc, dkdv tmQc/tmGc); tmDq:
 *      vox_sm90_bwd_encode_dqacc over the f32 accumulator (atomic dQ; any map,
 *      e.g. zeroed, for the other kernels, which do not read it).
 *   2. params (VoxSm90BwdParams, by value): lse (2*BH*S floats), l2 (BH*S
 *      floats of scratch), dq, dk, dv, mask (packed), fill_src|NULL,
 *      block_valid, BH, NB, V, scale, scale_log2 = scale*log2(e), dqacc NULL,
 *      D.
 *   3. rows(params); dq(params, tmQ, tmK, tmV, tmG, tmQc, tmKc, tmVc, tmGc, tmDq);
 *      dkdv(same arguments), in stream
 *      order (dq and dkdv only read what rows wrote; they are independent of
 *      each other). cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES) first.
 *   Atomic dQ instead (FA3's 5 GEMMs; dq is not bitwise reproducible, dk and
 *   dv are): params.dqacc = BH*S*D floats of scratch (16-byte aligned);
 *   rows(params) (zeroes dqacc too); dkdv_q(same arguments as dkdv);
 *   dqconv(params).
 * Supported: f16/bf16, D in {64,128}, V a power of two >= 64, BH*S < 2^31,
 * 16-byte aligned q, k, v, dout and lse/l2 (vox_sm90_bwd_supported).
 */
#ifndef VOX_ATTN_BWD_SM90_HOST_H
#define VOX_ATTN_BWD_SM90_HOST_H
#include <stddef.h>
#include <stdint.h>
#include "attention_forward_sm90_host.h"

/* The chunk maps: boxes of 16 rows x 64 columns. */
static inline int vox_sm90_bwd_encode_chunk(vox_sm90_encode_fn enc, CUtensorMap *map, const void *ptr, int64_t rows,
                                            int D, int bf16)
{
    return vox_sm90_encode_kv(enc, map, ptr, rows, D, bf16, 16);
}

/* The atomic-dQ accumulator (f32 [rows][D]): boxes of 16 rows x 32 columns
 * (128 bytes), 128B swizzle, the staging layout of the dkdv_q kernels. */
static inline int vox_sm90_bwd_encode_dqacc(vox_sm90_encode_fn enc, CUtensorMap *map, const void *ptr, int64_t rows,
                                            int D)
{
    cuuint64_t dims[2] = {(cuuint64_t)D, (cuuint64_t)rows};
    cuuint64_t strides[1] = {(cuuint64_t)D * 4};
    cuuint32_t box[2] = {32, 16};
    cuuint32_t es[2] = {1, 1};
    CUresult r = enc(map, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, (void *)ptr, dims, strides, box, es,
                     CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                     CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    return r == CUDA_SUCCESS ? 0 : -1;
}

/* Dynamic shared memory of one dq/dkdv CTA of the scheme `pack` (VOX_SM90_BWD_{DQ,DKDV}_PACK). */
static inline size_t vox_sm90_bwd_smem_bytes(int D, int pack) { return VOX_SM90_BWD_SMEM_BYTES(D, pack); }

/* Whether the kernels take this shape. */
static inline int vox_sm90_bwd_supported(int64_t D, int64_t V, int64_t NB, int64_t BH, size_t max_smem_optin)
{
    if (D != 64 && D != 128)
        return 0;
    if (V < 64 || (V & (V - 1)))
        return 0;
    if (BH * NB * V >= ((int64_t)1 << 31))
        return 0; /* TMA row coordinates are int32 */
    return vox_sm90_bwd_smem_bytes((int)D, VOX_SM90_BWD_DQ_PACK) <= max_smem_optin &&
           vox_sm90_bwd_smem_bytes((int)D, VOX_SM90_BWD_DKDV_PACK) <= max_smem_optin;
}
#endif
