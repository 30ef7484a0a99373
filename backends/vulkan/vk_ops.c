/* Vulkan ops (core/backend.h semantics): the helpers the launchers share,
 * then every op file's host section (shaders/<op>.comp through the generated
 * vk_op_files.h, in op-table order: the launcher vk_<op>() and the op's
 * shader variants), then the variant table and the capability query.
 * Each launcher fills its op's kernel arguments with vox_<op>_args_init()
 * (core/kernel_args.c), sets the launch-specific ones, binds its buffers by
 * name (vk_<op>_binds, in the order of VOX_<OP>_BUFS) and records one compute
 * dispatch of one of its shader variants (VK_VARIANTS_<op> in its file).
 * Every index the shaders compute must fit 32 bits (check_u32). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

static const char *dtname(vox_dtype t) { return t == VOX_F32 ? "f32" : t == VOX_F16 ? "f16" : "bf16"; }

static const vox_bref none = {NULL, 0};

/* bytes = 0: from the offset to the end of the buffer */
static vk_bind bind(vox_bref r, size_t bytes, size_t es)
{
    vk_bind b = {r.buf, r.offset, bytes, (unsigned)es, 0};
    if (r.buf && !bytes) {
        b.bytes = ((const vk_buf *)r.buf)->size - r.offset;
        b.open_end = 1;
    }
    return b;
}

/* Bytes a caller tensor spans (core-validated, so no overflow). */
static size_t strided_bytes(const vox_op_dims *d, const vox_strided *s, int64_t D, size_t es)
{
    int64_t span = (d->batch - 1) * s->stride_batch + (d->heads - 1) * s->stride_head +
                   (d->tokens - 1) * s->stride_token + D;
    return (size_t)span * es;
}

static vox_status check_dtype(vk_dev *v, vox_dtype dt, const char *op)
{
    if (dt != VOX_F32 && !v->has16)
        return vox_fail(v->log, VOX_ERR_UNSUPPORTED, "vulkan: %s: %s needs storageBuffer16BitAccess", op,
                        dtname(dt));
    return VOX_OK;
}

static vox_status check_u32_list(vk_dev *v, const char *op, const int64_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (x[i] < 0 || x[i] > (int64_t)UINT32_MAX)
            return vox_fail(v->log, VOX_ERR_UNSUPPORTED, "vulkan: %s: index range %lld exceeds 32 bits", op,
                            (long long)x[i]);
    return VOX_OK;
}
/* check_u32(v, op, x, ...): every x fits 32 bits, checked in order. */
#define check_u32(v, op, ...) \
    check_u32_list((v), (op), (const int64_t[]){__VA_ARGS__}, sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

/* The dtype is storable and the [BH][S][D] block-layout tensors index in 32 bits. */
static vox_status check_blocks(vk_dev *v, const vox_op_dims *d, const char *op)
{
    vox_status st = check_dtype(v, d->dtype, op);
    if (!st)
        st = check_u32(v, op, d->batch * d->heads * d->n_blocks * d->block_volume * d->head_dim);
    return st;
}

/* The copy word of a permute: 16 bytes where the row, the caller's strides
 * and both tensors' offsets are 16-byte aligned (row and strides then
 * rescaled to words), unless VOXATTN_VULKAN_PERMUTE_NARROW; else the element
 * (es). */
static size_t vk_permute_words(const vk_dev *v, size_t es, int64_t *row, int64_t *sb, int64_t *sh, int64_t *st,
                               size_t off_a, size_t off_b)
{
    const int64_t w = 16 / (int64_t)es;
    if (v->permute_narrow || *row % w || *sb % w || *sh % w || *st % w || off_a % 16 || off_b % 16)
        return es;
    *row /= w, *sb /= w, *sh /= w, *st /= w;
    return 16;
}

/* "<op>_<dtype>" */
static const char *pipe_name(char *buf, size_t n, const char *op, vox_dtype t)
{
    snprintf(buf, n, "%s_%s", op, dtname(t));
    return buf;
}

/* The start of each launcher below: the device v, the element size es and
 * the kernel arguments a of `op` from the entry's parameters dev, d and p. */
#define VK_OP_ARGS(op)                     \
    vk_dev *v = dev;                       \
    size_t es = vox_dtype_size(d->dtype);  \
    vox_##op##_args a;                     \
    vox_##op##_args_init(&a, d, p)

/* An op that reads rows through rows_view.glsl (sample_rows, query_select): its nb bindings, then the slot
 * table at binding nb, past the offset table (absent: the op reads block copies); *tok (in args) is set to 1
 * + the table's element offset below the offset alignment, or 0. */
static vox_status vk_dispatch_rows(vk_dev *v, vox_op op, const char *name, const vk_bind *at, int nb, vox_bref table,
                                   size_t table_bytes, int64_t *tok, const void *args, size_t args_bytes,
                                   uint64_t groups)
{
    vk_bind tb[VK_NBIND];
    if (nb + 1 > VK_NBIND)
        return vox_fail(v->log, VOX_ERR_INVALID_ARGUMENT, "vulkan: %s: %d bindings and a slot table", name, nb);
    memcpy(tb, at, (size_t)nb * sizeof *at);
    tb[nb] = bind(table, table_bytes, 4);
    *tok = table.buf ? 1 + (int64_t)vk_bind_rem(v, &tb[nb]) : 0;
    return vk_dispatch_ex(v, op, name, tb, nb + 1, nb, args, args_bytes, groups);
}

/* The device's scratch (the work space of kv_select and sample_rows), grown
 * to `bytes`: the work recorded so far, which may use the old one, runs
 * first. */
static vox_status vk_scratch(vk_dev *v, size_t bytes)
{
    if (v->scratch.buf && v->scratch.size >= bytes)
        return VOX_OK;
    vox_status st = vk_flush(v); /* the batches that may use the old one (nothing pending: no wait) */
    if (st)
        return st;
    vk_buffer_destroy(v, &v->scratch);
    return vk_buffer_create(v, bytes, 0, &v->scratch);
}

/* The integer value of -D<define>=N in shader variant `variant`'s defines
 * (the op files' VK_VARIANTS_<op> tables); -1 where the variant or the define
 * is missing. */
static int variant_define(const char *variant, const char *define);

#include "vk_op_files.h"

/* Every shader variant {name, defines} of every op, from the op files. */
#define VK_VARIANT_ROW(name, source, defines) {name, defines},
#define VK_OP_VARIANTS(op, BUFS, ARGS) VK_VARIANTS_##op(VK_VARIANT_ROW)
static const struct {
    const char *name, *defines;
} g_variants[] = {VOX_KERNELS(VK_OP_VARIANTS)};
#undef VK_OP_VARIANTS
#undef VK_VARIANT_ROW

static int variant_define(const char *variant, const char *define)
{
    char key[32];
    snprintf(key, sizeof key, "-D%s=", define);
    for (size_t i = 0; i < sizeof g_variants / sizeof g_variants[0]; i++) {
        if (strcmp(g_variants[i].name, variant))
            continue;
        for (const char *s = g_variants[i].defines; (s = strstr(s, key)) != NULL; s++)
            if (s == g_variants[i].defines || s[-1] == ' ')
                return atoi(s + strlen(key));
        return -1;
    }
    return -1;
}

/* Limits of the ops beyond the launchers' own checks: vk_<op>_supports() of
 * the op files that have one (VK_SUPPORTS_<op>). */
/* sample_rows reads the caller's q, k, v through slot_token (no block
 * copies: three permutes fewer per SVG build) unless
 * VOXATTN_VULKAN_SR_COPIES=1; query_select the caller's q (one permute fewer
 * per query_keep < 1 build) unless VOXATTN_VULKAN_QS_COPIES=1. */
uint32_t vk_caller_layout_ops(void *dev)
{
    const vk_dev *v = dev;
    return (v->sr_copies ? 0 : 1u << VOX_OP_sample_rows) | (v->qs_copies ? 0 : 1u << VOX_OP_query_select);
}

vox_status vk_supports(void *dev, const vox_op_dims *d, vox_op op, char *reason, size_t reason_size)
{
    switch (op) {
#define VK_SUPPORTS_CASE(o)                                                                                  \
    case VOX_OP_##o:                                                                                         \
        return vk_##o##_supports(dev, d, reason, reason_size);
#define VK_OP_SUPPORTS(op, BUFS, ARGS) VK_SUPPORTS_##op(VK_SUPPORTS_CASE)
        VOX_KERNELS(VK_OP_SUPPORTS)
#undef VK_OP_SUPPORTS
#undef VK_SUPPORTS_CASE
    default:
        return VOX_OK;
    }
}
