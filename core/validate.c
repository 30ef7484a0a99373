/* Tensor validation against a plan: every public entry checks its tensors
 * here before any device work. */
#include "plan.h"

#include <stdlib.h>

typedef struct dim_span {
    int64_t extent, stride;
} dim_span;

static int cmp_stride(const void *a, const void *b)
{
    const dim_span *x = a, *y = b;
    return (x->stride > y->stride) - (x->stride < y->stride);
}

vox_status vox_check_tensor(const vox_plan *plan, const vox_tensor *t, const char *name,
                            vox_dtype dtype, int64_t head_dim)
{
    const vox_plan_params *p = &plan->p;
    return vox_check_tensor_shape(plan->ctx, t, name, "plan wants", dtype, p->batch, p->heads, plan->L.n_tokens,
                                  head_dim);
}

vox_status vox_check_tensor_shape(const vox_context *ctx, const vox_tensor *t, const char *name, const char *wants,
                                  vox_dtype dtype, int64_t batch, int64_t heads, int64_t tokens, int64_t head_dim)
{
    const vox_logger *log = &ctx->log;
    if (!t)
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "%s: NULL tensor", name);
    if (!t->buffer)
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "%s: NULL buffer", name);
    if (t->buffer->ctx != ctx)
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "%s: buffer belongs to another context", name);
    if (t->dtype != dtype)
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "%s: dtype %d, expected %d", name,
                        (int)t->dtype, (int)dtype);
    if (t->batch != batch || t->heads != heads || t->tokens != tokens || t->head_dim != head_dim)
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "%s: shape [%lld,%lld,%lld,%lld], %s [%lld,%lld,%lld,%lld]",
                        name, (long long)t->batch, (long long)t->heads, (long long)t->tokens, (long long)t->head_dim, wants,
                        (long long)batch, (long long)heads, (long long)tokens, (long long)head_dim);
    if (t->stride_batch < 0 || t->stride_head < 0 || t->stride_token < 0)
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "%s: negative stride", name);
    size_t es = vox_dtype_size(dtype);
    if (t->offset % es)
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "%s: offset %zu not aligned to %zu bytes", name,
                        t->offset, es);
    /* No two elements may share memory: sort dims by stride, each stride must
     * cover the span of all smaller dims (head_dim is contiguous). */
    dim_span dims[3] = {{t->batch, t->stride_batch}, {t->heads, t->stride_head},
                        {t->tokens, t->stride_token}};
    qsort(dims, 3, sizeof dims[0], cmp_stride);
    size_t span = (size_t)head_dim; /* elements spanned so far */
    for (int i = 0; i < 3; i++) {
        if (dims[i].extent <= 1)
            continue;
        if ((size_t)dims[i].stride < span)
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "%s: strides overlap (stride %lld < span %zu)",
                            name, (long long)dims[i].stride, span);
        size_t last, add;
        if (!vox_mul_size((size_t)dims[i].stride, (size_t)(dims[i].extent - 1), &last) ||
            !vox_add_size(last, span, &add))
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "%s: size overflows", name);
        span = add;
    }
    size_t bytes, end;
    if (!vox_mul_size(span, es, &bytes))
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "%s: size overflows", name);
    if (!vox_add_size(bytes, t->offset, &end) || end > t->buffer->size)
        return vox_fail(log, VOX_ERR_BUFFER_TOO_SMALL, "%s: %zu bytes at offset %zu exceed the buffer's %zu",
                        name, bytes, t->offset, t->buffer->size);
    return VOX_OK;
}

size_t vox_tensor_span_bytes(const vox_tensor *t)
{
    if (!t || t->batch < 1 || t->heads < 1 || t->tokens < 1 || t->head_dim < 1 || !vox_dtype_size(t->dtype))
        return 0;
    int64_t s[3] = {t->stride_batch, t->stride_head, t->stride_token};
    int64_t e[3] = {t->batch, t->heads, t->tokens};
    size_t span = (size_t)t->head_dim;
    for (int i = 0; i < 3; i++) {
        size_t last, add;
        if (s[i] < 0 || !vox_mul_size((size_t)s[i], (size_t)(e[i] - 1), &last) ||
            !vox_add_size(span, last, &add))
            return 0;
        span = add;
    }
    size_t bytes;
    return vox_mul_size(span, vox_dtype_size(t->dtype), &bytes) ? bytes : 0;
}

/* a*b*c, or -1 (an invalid stride that validation rejects) on overflow or
 * negative sizes */
static int64_t stride_of(int64_t a, int64_t b, int64_t c)
{
    int64_t ab, abc;
    if (a < 0 || b < 0 || c < 0 || __builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, &abc))
        return -1;
    return abc;
}

vox_tensor vox_tensor_bhnd(vox_buffer *buf, vox_dtype dtype, int64_t batch, int64_t heads,
                           int64_t tokens, int64_t head_dim)
{
    vox_tensor t = {buf, 0, dtype, batch, heads, tokens, head_dim,
                    stride_of(heads, tokens, head_dim), stride_of(1, tokens, head_dim), head_dim};
    return t;
}

vox_tensor vox_tensor_bnhd(vox_buffer *buf, vox_dtype dtype, int64_t batch, int64_t heads,
                           int64_t tokens, int64_t head_dim)
{
    vox_tensor t = {buf, 0, dtype, batch, heads, tokens, head_dim,
                    stride_of(heads, tokens, head_dim), head_dim, stride_of(1, heads, head_dim)};
    return t;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int vox_sample_distinct(uint64_t seed, int64_t n, int64_t count, int64_t *out)
{
    /* splitmix64 draws + bitmap rejection; a final sweep sorts */
    if (count > n || count < 0)
        return 0;
    unsigned char *seen = calloc((size_t)(n + 7) / 8, 1);
    if (!seen)
        return 0;
    uint64_t x = seed;
    int64_t got = 0;
    /* when asking for most of the range, take every index instead */
    if (count * 2 > n) {
        for (int64_t i = 0; i < n; i++)
            seen[i >> 3] |= (unsigned char)(1u << (i & 7));
        int64_t extra = n - count;
        while (extra > 0) {
            int64_t i = (int64_t)(splitmix64(&x) % (uint64_t)n);
            if (seen[i >> 3] & (1u << (i & 7))) {
                seen[i >> 3] &= (unsigned char)~(1u << (i & 7));
                extra--;
            }
        }
    } else {
        while (got < count) {
            int64_t i = (int64_t)(splitmix64(&x) % (uint64_t)n);
            if (!(seen[i >> 3] & (1u << (i & 7)))) {
                seen[i >> 3] |= (unsigned char)(1u << (i & 7));
                got++;
            }
        }
    }
    got = 0;
    for (int64_t i = 0; i < n; i++)
        if (seen[i >> 3] & (1u << (i & 7)))
            out[got++] = i;
    free(seen);
    return 1;
}
