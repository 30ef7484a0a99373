/* vox_attention_merge: the checks of its tensors and its lowering to the
 * attention_merge op (core/backend.h), one pass per input pair and batch
 * entry, in place in the output. No plan: the tensors are the caller's. */
#include <stdio.h>

#include "plan.h"

/* Exactly the same tensor (buffer, offset, dtype, shape, strides). */
static int same_tensor(const vox_tensor *a, const vox_tensor *b)
{
    return a->buffer == b->buffer && a->offset == b->offset && a->dtype == b->dtype && a->batch == b->batch &&
           a->heads == b->heads && a->tokens == b->tokens && a->head_dim == b->head_dim &&
           a->stride_batch == b->stride_batch && a->stride_head == b->stride_head &&
           a->stride_token == b->stride_token;
}

static vox_status validate(vox_context *ctx, int n, const vox_tensor *parts, const vox_tensor *lses,
                           const vox_tensor *out, const vox_tensor *lse)
{
    const vox_logger *log = &ctx->log;
    if (n < 1 || !parts || !lses)
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "merge: %s", n < 1 ? "n < 1 (nothing to merge)"
                                                                            : "NULL parts or part_lses array");
    if (!out || !lse)
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "merge: NULL %s", out ? "lse" : "out");
    if (out->batch < 1 || out->heads < 1 || out->tokens < 1 || out->head_dim < 1 || !vox_dtype_size(out->dtype))
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "merge: out: shape [%lld,%lld,%lld,%lld] or dtype %d invalid",
                        (long long)out->batch, (long long)out->heads, (long long)out->tokens,
                        (long long)out->head_dim, (int)out->dtype);
    int64_t B = out->batch, H = out->heads, N = out->tokens, D = out->head_dim;
    vox_status st = vox_check_tensor_shape(ctx, out, "merge: out", "expected", out->dtype, B, H, N, D);
    if (!st)
        st = vox_check_tensor_shape(ctx, lse, "merge: lse", "out wants", VOX_F32, B, H, N, 1);
    char name[48];
    for (int i = 0; !st && i < n; i++) {
        snprintf(name, sizeof name, "merge: parts[%d]", i);
        st = vox_check_tensor_shape(ctx, &parts[i], name, "out wants", out->dtype, B, H, N, D);
        snprintf(name, sizeof name, "merge: part_lses[%d]", i);
        if (!st)
            st = vox_check_tensor_shape(ctx, &lses[i], name, "out wants", VOX_F32, B, H, N, 1);
    }
    if (st)
        return st;
    if (vox_tensors_overlap(out, lse))
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "merge: out and lse share memory");
    /* an output may be its first input itself (merged first, in place);
     * else it shares no byte with any input */
    for (int i = 0; i < n; i++) {
        const vox_tensor *in[2] = {&parts[i], &lses[i]};
        const char *in_name[2] = {"parts", "part_lses"};
        for (int o = 0; o < 2; o++)
            for (int j = 0; j < 2; j++) {
                const vox_tensor *t = o ? lse : out;
                if (i == 0 && o == j && same_tensor(t, in[j]))
                    continue;
                if (vox_tensors_overlap(t, in[j]))
                    return vox_fail(log, VOX_ERR_INVALID_ARGUMENT,
                                    "merge: %s shares memory with %s[%d] (only %s[0] itself may be given as %s)",
                                    o ? "lse" : "out", in_name[j], i, o ? "part_lses" : "parts", o ? "lse" : "out");
            }
    }
    return VOX_OK;
}

/* The part of tensor t of batch entry b as an op tensor (stride_batch kept,
 * unused by the op). */
static vox_strided entry(const vox_tensor *t, int64_t b)
{
    size_t es = vox_dtype_size(t->dtype);
    vox_strided s = {{t->buffer->impl, t->offset + (size_t)(b * t->stride_batch) * es}, t->dtype, t->stride_batch,
                     t->stride_head, t->stride_token};
    return s;
}

vox_status vox_attention_merge(vox_context *ctx, int n, const vox_tensor *parts, const vox_tensor *part_lses,
                               const vox_tensor *out, const vox_tensor *lse)
{
    if (!ctx)
        return VOX_ERR_INVALID_ARGUMENT;
    vox_status st = validate(ctx, n, parts, part_lses, out, lse);
    if (st)
        return st;
    if (!ctx->be->attention_merge)
        return vox_fail(&ctx->log, VOX_ERR_UNSUPPORTED, "merge: the %s backend has no attention_merge",
                        ctx->be->name);
    vox_op_dims d = {.batch = 1, .heads = out->heads, .head_dim = out->head_dim, .tokens = out->tokens,
                     .dtype = out->dtype};
    for (int i = 0; !st && i < n; i++)
        for (int64_t b = 0; !st && b < out->batch; b++) {
            vox_op_attention_merge op = {.acc = entry(out, b), .acc_lse = entry(lse, b),
                                         .part = entry(&parts[i], b), .part_lse = entry(&part_lses[i], b),
                                         .accumulate = i > 0};
            st = ctx->be->attention_merge(ctx->dev, &d, &op);
        }
    if (st && st != VOX_ERR_UNSUPPORTED)
        return vox_fail(&ctx->log, st, "merge: the %s backend failed (%s)", ctx->be->name, vox_status_string(st));
    return st;
}
