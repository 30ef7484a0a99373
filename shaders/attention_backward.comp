/* attention_backward (core/backend.h): the gradients of attention_forward
 * over the packed mask, in three passes (prep, dQ, dK/dV).
 *
 * One file per op: the GLSL compute shader (compiled by glslc with
 * -DVOX_GLSL and -std=450, so no #version line here), and in a section
 * glslc skips the host side, compiled into vk_ops.c through the generated
 * vk_op_files.h: the op's shader variants VK_VARIANTS_attention_backward (one
 * X(name, source, defines) per line; backends/vulkan/meson.build reads these
 * lines to build the SPIR-V, the launcher reads the defines), the
 * launcher vk_attention_backward() and VK_SUPPORTS_attention_backward.
 * Its GLSL is in three pass files, attention_backward_{prep,dq,dkdv}.comp
 * (sharing attention_backward.glsl), that the variants below compile.
 */
#ifndef VOX_GLSL
#define VK_VARIANTS_attention_backward(X) \
    X("attention_backward_prep_f32", "attention_backward_prep.comp", "-DDT_F32=1") \
    X("attention_backward_dq_f32_d64", "attention_backward_dq.comp", "-DDT_F32=1 -DDMAX=64 -DBQ=32 -DBK=32") \
    X("attention_backward_dq_f32_d128", "attention_backward_dq.comp", "-DDT_F32=1 -DDMAX=128 -DBQ=16 -DBK=16") \
    X("attention_backward_dq_f32_d256", "attention_backward_dq.comp", "-DDT_F32=1 -DDMAX=256 -DBQ=8 -DBK=8") \
    X("attention_backward_dq_f32_d64_smem32", "attention_backward_dq.comp", "-DDT_F32=1 -DDMAX=64 -DBQ=32 -DBK=16") \
    X("attention_backward_dq_f32_d128_smem32", "attention_backward_dq.comp", "-DDT_F32=1 -DDMAX=128 -DBQ=16 -DBK=8") \
    X("attention_backward_dq_f32_d256_smem32", "attention_backward_dq.comp", "-DDT_F32=1 -DDMAX=256 -DBQ=8 -DBK=4") \
    X("attention_backward_dkdv_f32_d64", "attention_backward_dkdv.comp", "-DDT_F32=1 -DDMAX=64 -DBKV=64 -DBQ=8") \
    X("attention_backward_dkdv_f32_d128", "attention_backward_dkdv.comp", "-DDT_F32=1 -DDMAX=128 -DBKV=32 -DBQ=8") \
    X("attention_backward_dkdv_f32_d256", "attention_backward_dkdv.comp", "-DDT_F32=1 -DDMAX=256 -DBKV=16 -DBQ=4") \
    X("attention_backward_dkdv_f32_d64_smem32", "attention_backward_dkdv.comp", "-DDT_F32=1 -DDMAX=64 -DBKV=32 -DBQ=16") \
    X("attention_backward_dkdv_f32_d128_smem32", "attention_backward_dkdv.comp", "-DDT_F32=1 -DDMAX=128 -DBKV=16 -DBQ=8") \
    X("attention_backward_dkdv_f32_d256_smem32", "attention_backward_dkdv.comp", "-DDT_F32=1 -DDMAX=256 -DBKV=8 -DBQ=4") \
    X("attention_backward_prep_f16", "attention_backward_prep.comp", "-DDT_F16=1") \
    X("attention_backward_dq_f16_d64", "attention_backward_dq.comp", "-DDT_F16=1 -DDMAX=64 -DBQ=32 -DBK=32") \
    X("attention_backward_dq_f16_d128", "attention_backward_dq.comp", "-DDT_F16=1 -DDMAX=128 -DBQ=16 -DBK=16") \
    X("attention_backward_dq_f16_d256", "attention_backward_dq.comp", "-DDT_F16=1 -DDMAX=256 -DBQ=8 -DBK=8") \
    X("attention_backward_dq_f16_d64_smem32", "attention_backward_dq.comp", "-DDT_F16=1 -DDMAX=64 -DBQ=32 -DBK=16") \
    X("attention_backward_dq_f16_d128_smem32", "attention_backward_dq.comp", "-DDT_F16=1 -DDMAX=128 -DBQ=16 -DBK=8") \
    X("attention_backward_dq_f16_d256_smem32", "attention_backward_dq.comp", "-DDT_F16=1 -DDMAX=256 -DBQ=8 -DBK=4") \
    X("attention_backward_dkdv_f16_d64", "attention_backward_dkdv.comp", "-DDT_F16=1 -DDMAX=64 -DBKV=64 -DBQ=8") \
    X("attention_backward_dkdv_f16_d128", "attention_backward_dkdv.comp", "-DDT_F16=1 -DDMAX=128 -DBKV=32 -DBQ=8") \
    X("attention_backward_dkdv_f16_d256", "attention_backward_dkdv.comp", "-DDT_F16=1 -DDMAX=256 -DBKV=16 -DBQ=4") \
    X("attention_backward_dkdv_f16_d64_smem32", "attention_backward_dkdv.comp", "-DDT_F16=1 -DDMAX=64 -DBKV=32 -DBQ=16") \
    X("attention_backward_dkdv_f16_d128_smem32", "attention_backward_dkdv.comp", "-DDT_F16=1 -DDMAX=128 -DBKV=16 -DBQ=8") \
    X("attention_backward_dkdv_f16_d256_smem32", "attention_backward_dkdv.comp", "-DDT_F16=1 -DDMAX=256 -DBKV=8 -DBQ=4") \
    X("attention_backward_prep_bf16", "attention_backward_prep.comp", "-DDT_BF16=1") \
    X("attention_backward_dq_bf16_d64", "attention_backward_dq.comp", "-DDT_BF16=1 -DDMAX=64 -DBQ=32 -DBK=32") \
    X("attention_backward_dq_bf16_d128", "attention_backward_dq.comp", "-DDT_BF16=1 -DDMAX=128 -DBQ=16 -DBK=16") \
    X("attention_backward_dq_bf16_d256", "attention_backward_dq.comp", "-DDT_BF16=1 -DDMAX=256 -DBQ=8 -DBK=8") \
    X("attention_backward_dq_bf16_d64_smem32", "attention_backward_dq.comp", "-DDT_BF16=1 -DDMAX=64 -DBQ=32 -DBK=16") \
    X("attention_backward_dq_bf16_d128_smem32", "attention_backward_dq.comp", "-DDT_BF16=1 -DDMAX=128 -DBQ=16 -DBK=8") \
    X("attention_backward_dq_bf16_d256_smem32", "attention_backward_dq.comp", "-DDT_BF16=1 -DDMAX=256 -DBQ=8 -DBK=4") \
    X("attention_backward_dkdv_bf16_d64", "attention_backward_dkdv.comp", "-DDT_BF16=1 -DDMAX=64 -DBKV=64 -DBQ=8") \
    X("attention_backward_dkdv_bf16_d128", "attention_backward_dkdv.comp", "-DDT_BF16=1 -DDMAX=128 -DBKV=32 -DBQ=8") \
    X("attention_backward_dkdv_bf16_d256", "attention_backward_dkdv.comp", "-DDT_BF16=1 -DDMAX=256 -DBKV=16 -DBQ=4") \
    X("attention_backward_dkdv_bf16_d64_smem32", "attention_backward_dkdv.comp", "-DDT_BF16=1 -DDMAX=64 -DBKV=32 -DBQ=16") \
    X("attention_backward_dkdv_bf16_d128_smem32", "attention_backward_dkdv.comp", "-DDT_BF16=1 -DDMAX=128 -DBKV=16 -DBQ=8") \
    X("attention_backward_dkdv_bf16_d256_smem32", "attention_backward_dkdv.comp", "-DDT_BF16=1 -DDMAX=256 -DBKV=8 -DBQ=4")
/* X(op) where this file has vk_<op>_supports() (vk_supports) */
#define VK_SUPPORTS_attention_backward(X) X(attention_backward)

/* The pass variants come in two sets by the shared memory they declare:
 * within 48 KiB, and within 32 KiB (suffix _smem32) for devices with less. */
#define BWD_DMAX 256
#define BWD_VMAX 256 /* the prep pass's per-block lists (shaders/attention_backward_prep.comp) */
#define BWD_SMEM_LARGE 49152u
#define BWD_SMEM_SMALL 32768u

/* Limits beyond the launcher's own checks (vk_supports): the storage type,
 * tile bounds, 32-bit indices and shared memory. */
static vox_status vk_attention_backward_supports(const vk_dev *v, const vox_op_dims *d, char *reason,
                                                 size_t reason_size)
{
    int64_t rows = d->batch * d->heads * d->n_blocks * d->block_volume;
    if (d->dtype != VOX_F32 && !v->has16)
        snprintf(reason, reason_size, "%s needs storageBuffer16BitAccess", dtname(d->dtype));
    else if (d->head_dim > BWD_DMAX)
        snprintf(reason, reason_size, "head_dim %lld above %d (the shaders' tiles)", (long long)d->head_dim, BWD_DMAX);
    else if (d->block_volume > BWD_VMAX)
        snprintf(reason, reason_size, "block volume %lld above %d", (long long)d->block_volume, BWD_VMAX);
    else if (rows * d->head_dim > (int64_t)UINT32_MAX || 2 * rows > (int64_t)UINT32_MAX)
        snprintf(reason, reason_size, "%lld block-layout rows of %lld: indices exceed 32 bits", (long long)rows,
                 (long long)d->head_dim);
    else if (v->limits.maxComputeSharedMemorySize < BWD_SMEM_SMALL)
        snprintf(reason, reason_size, "needs %u bytes of shared memory, the device has %u (maxComputeSharedMemorySize)",
                 BWD_SMEM_SMALL, v->limits.maxComputeSharedMemorySize);
    else
        return VOX_OK;
    return VOX_ERR_UNSUPPORTED;
}

/* Three passes over the same bindings (shaders/attention_backward.glsl): prep
 * (dO_eff into dout, delta into the LSE's work half), then dQ per tile of
 * query rows and dK/dV per tile of keys, which both read prep's output. */
vox_status vk_attention_backward(void *dev, const vox_op_dims *d, const vox_op_attention_backward *p)
{
    VK_OP_ARGS(attention_backward);
    int64_t BH = a.BH, NB = a.NB, V = a.V, S = NB * V, D = a.D;
    vox_status st = check_blocks(v, d, "attention_backward");
    if (!st) st = check_u32(v, "attention_backward", 2 * BH * S);
    if (st)
        return st;
    const char *set = v->limits.maxComputeSharedMemorySize < BWD_SMEM_LARGE ? "_smem32" : "";
    const char *dt = dtname(d->dtype);
    int dmax = D <= 64 ? 64 : D <= 128 ? 128 : 256;
    /* the passes' variants and their tiles: rows per dQ workgroup (BQ), keys
     * per dK/dV workgroup (BKV) */
    char prep[64], dq[64], dkdv[64];
    snprintf(prep, sizeof prep, "attention_backward_prep_%s", dt);
    snprintf(dq, sizeof dq, "attention_backward_dq_%s_d%d%s", dt, dmax, set);
    snprintf(dkdv, sizeof dkdv, "attention_backward_dkdv_%s_d%d%s", dt, dmax, set);
    int dq_rows = variant_define(dq, "BQ"), dkdv_keys = variant_define(dkdv, "BKV");
    if (dq_rows <= 0 || dkdv_keys <= 0)
        return vox_fail(v->log, VOX_ERR_BACKEND, "vulkan: attention_backward: no tiles for %s / %s", dq, dkdv);
    size_t qkv = (size_t)(BH * S * D) * es;
    vk_attention_backward_binds b = {.q = bind(p->q, qkv, es),
                                     .k = bind(p->k, qkv, es),
                                     .v = bind(p->v, qkv, es),
                                     .o = bind(p->o, qkv, es),
                                     .dout = bind(p->dout, qkv, es),
                                     .lse = bind(p->lse, (size_t)(2 * BH * S) * 4, 4),
                                     .dq = bind(p->dq, qkv, es),
                                     .dk = bind(p->dk, qkv, es),
                                     .dv = bind(p->dv, qkv, es),
                                     .mask = bind(p->mask, 0, 4),
                                     .fill_src = bind(a.has_fill ? p->fill_src : none, (size_t)(BH * S) * 4, 4),
                                     .valid = bind(d->block_valid, (size_t)NB * 4, 4)};
    st = VK_DISPATCH(v, attention_backward, prep, b, a, (uint64_t)(BH * NB));
    if (st)
        return st;
    a.tiles = (int32_t)((V + dq_rows - 1) / dq_rows);
    a.total = BH * NB * a.tiles;
    st = VK_DISPATCH(v, attention_backward, dq, b, a, (uint64_t)a.total);
    if (st)
        return st;
    a.tiles = (int32_t)((V + dkdv_keys - 1) / dkdv_keys);
    a.total = BH * NB * a.tiles;
    return VK_DISPATCH(v, attention_backward, dkdv, b, a, (uint64_t)a.total);
}
#endif /* !VOX_GLSL */
