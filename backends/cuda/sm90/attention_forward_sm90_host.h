/* Host side of the Hopper attention kernel (attention_forward_sm90.cuh):
 * tensor-map encoding through a caller-supplied cuTensorMapEncodeTiled pointer
 * (the library passes the one it resolved from libcuda with dlsym), and the
 * launch geometry. Plain C, no runtime API.
 *
 * Kernels (extern "C", in attention_forward_sm90.cu):
 *   vox_attn_sm90_{bf16,f16}_d128    2 consumer warpgroups: 384 threads, rows per CTA (maxrows) 128
 *   vox_attn_sm90w3_{bf16,f16}_d128  3 consumer warpgroups, Q in shared memory: 512 threads, maxrows
 *                                    192, 5 ring stages (VOX_SM90_NWG_D128(V): the default per V)
 *   vox_attn_sm90w3_{bf16,f16}_d64   3 consumer warpgroups: 512 threads, maxrows 192 (faster for D=64)
 *   vox_attn_sm90_{bf16,f16}_d64     2 consumer warpgroups: 384 threads, maxrows 128
 *   each of the above also as NAME_nf: the safe variant for heads whose V holds Inf/NaN
 *   vox_attn_sm90_plan               device planner + the non-finite V flags
 *   vox_attn_sm90_plan_old           session 11's planner (same args and results; VOX_SM90_PLAN_THREADS
 *                                    threads, VOX_SM90_PLAN_OLD_SMEM(NB) bytes), for comparison
 * Launch (driver API):
 *   1. vox_attn_sm90_plan, grid BH + BH*nw (nw = ceil(NB/32)) x
 *      VOX_SM90_PLAN_WARPS*32 threads, VOX_SM90_PLAN_SMEM(NB) bytes of dynamic shared memory
 *      (the attribute raised where that is above 48 KB; NB < 65535), args
 *      (kept_count|NULL, block_valid, kv_start, kv_count, kv_cols, (long long)NB,
 *      items, counter, maxrows, order, gt, gh, gw, (long long)BH, v, V, D, bf16,
 *      vbad, hflag|NULL, anyflag|NULL, mode (VOX_SM90_PLAN_M_* bits, sm90_smem.h: the front
 *      region, the edge order, ragged items first; not an argument of vox_attn_sm90_plan_old)); *counter zeroed first (and hflag[BH], *anyflag,
 *      set where a head has a flagged block, for persistent launches). Writes the device plan (items: room for
 *      BH*NB entries of 2 ints, order: BH*NB ints) and the non-finite V flags
 *      (vbad: BH*nw words), after V is final. Items may instead come from the
 *      host (vox_sm90_plan_host; then params.order = NULL, n_items_dev = NULL).
 *      The same maxrows must go with the kernel that is launched.
 *   2. vox_sm90_encode_kv(enc, &tmK, k, BH*S, D, bf16), same for V into tmV
 *      (enc = the cuTensorMapEncodeTiled the library resolved from libcuda).
 *   3. params (VoxSm90AttnParams, by value): q, o, lse, kv_start, kv_count,
 *      kv_cols, kept_count|NULL, kept_rows, block_valid, items,
 *      n_items_dev = counter (device plan) or NULL (host plan), NB, V,
 *      n_items (host plan count; with n_items_dev: vox_attn_sm90_plan's front region,
 *      VOX_SM90_PLAN_FRONT(BH, NB, gt, gh, gw) in sm90_smem.h, 0 for vox_attn_sm90_plan_old;
 *      the kernel's count is *n_items_dev + n_items),
 *      nb_pad = vox_sm90_nb_pad(NB), scale_log2 = scale*log2(e), vt_swap = 0,
 *      pingpong = 0 (1 was measured 1-2% slower), sweep_pos = NULL, vbad
 *      (NULL: every block counts as holding Inf/NaN: correct, slower).
 *   4. cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem)
 *      with smem = vox_sm90_smem_bytes(D, nwg, NB) (<= the opt-in limit, 232448 on H100/H200).
 *   5. cuLaunchKernel(f, grid = n_items (host plan) or BH*NB (device plan, CTAs past
 *      the count exit at once), 1, 1, block = 384 or 512 (see above), 1, 1, smem,
 *      stream, args = {&params, &tmK, &tmV, &tmK16, &tmV16}, NULL); tmK16/tmV16
 *      as tmK/tmV with box_rows 16 (chunks of partial blocks). Then the same launch
 *      of f's _nf variant (steps 4-5): a CTA runs in the fast kernel when no KV block
 *      of its head is flagged in vbad, else in _nf (each returns at once otherwise).
 *      Persistent instead (params.persist = 1, device plan only): grid = the SM count, params.work
 *      = 3 zeroed ints after the counter ([2] the any flag), params.hflag = [BH] zeroed ints; the
 *      plan (or vox_attn_sm90_permute_v) sets them. The library also reads q and writes o, lse
 *      in the caller's layout (params.qtok / otok and strides; see VoxSm90AttnParams).
 * Supported: D in {64,128}, V a power of two >= 64 and <= 64 * nwg, NB up to ~14000
 * (~6000 for the 3-warpgroup D=128 kernel; 16-bit membership map in shared memory), BH*S < 2^31 (vox_sm90_supported checks all of it).
 */
#ifndef VOX_ATTN_SM90_HOST_H
#define VOX_ATTN_SM90_HOST_H
#include <cuda.h>
#include <stdint.h>
#include "sm90_smem.h"

typedef CUresult (*vox_sm90_encode_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *, const cuuint64_t *,
                                       const cuuint64_t *, const cuuint32_t *, const cuuint32_t *,
                                       CUtensorMapInterleave, CUtensorMapSwizzle, CUtensorMapL2promotion,
                                       CUtensorMapFloatOOBfill);

/* A [rows][D] f16/bf16 tensor (rows = BH*S), boxes of box_rows (64: whole
 * tiles, 16: chunks) rows x 64 columns, 128B swizzle. */
static inline int vox_sm90_encode_kv(vox_sm90_encode_fn enc, CUtensorMap *map, const void *ptr, int64_t rows, int D,
                                     int bf16, int box_rows)
{
    cuuint64_t dims[2] = {(cuuint64_t)D, (cuuint64_t)rows};
    cuuint64_t strides[1] = {(cuuint64_t)D * 2};
    cuuint32_t box[2] = {64, (cuuint32_t)box_rows};
    cuuint32_t es[2] = {1, 1};
    CUresult r = enc(map, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, (void *)ptr,
                     dims, strides, box, es, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                     CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    return r == CUDA_SUCCESS ? 0 : -1;
}

static inline int vox_sm90_nb_pad(int64_t NB) { return (int)VOX_SM90_NB_PAD(NB); }

/* Dynamic shared memory of one CTA of the kernel with nwg consumer warpgroups. */
static inline size_t vox_sm90_smem_bytes(int D, int nwg, int64_t NB)
{
    return VOX_SM90_SMEM_BYTES(D, nwg, vox_sm90_nb_pad(NB));
}

/* Whether the kernel with nwg consumer warpgroups handles this shape (otherwise use the
 * other one or the sm_80 kernel). A block's processed rows must fit one CTA (V <= 64 * nwg). */
static inline int vox_sm90_supported(int64_t D, int64_t V, int64_t NB, int64_t BH, int nwg, size_t max_smem_optin)
{
    if (D != 64 && D != 128)
        return 0;
    if (V < 64 || (V & (V - 1)) || V > 64 * nwg)
        return 0;
    if (BH * NB * V >= ((int64_t)1 << 31) || BH * NB >= ((int64_t)1 << 31))
        return 0; /* TMA row coordinates and item indices are int32 */
    return vox_sm90_smem_bytes((int)D, nwg, NB) <= max_smem_optin;
}

/* vox_sm90_plan_host (the host plan, same packing as the device plan kernel) is in sm90_smem.h. */
#endif
