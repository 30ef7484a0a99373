/* Contexts, buffers and timers: validation in front of the backend table. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

vox_status vox_context_defaults(vox_context_params *params)
{
    if (!params)
        return VOX_ERR_INVALID_ARGUMENT;
    memset(params, 0, sizeof *params);
    params->device_index = -1;
    params->log_level = VOX_LOG_WARN;
    return VOX_OK;
}

/* Resolves "cuda:0" / "cpu" / "opencl" (= opencl:0) to a global index. */
static int find_device_by_id(const char *id)
{
    int n = vox_registry_device_count();
    for (int i = 0; i < n; i++) {
        const vox_device_desc *d = vox_registry_device(i);
        if (strcmp(d->id, id) == 0)
            return i;
        if (strcmp(d->backend_name, id) == 0 && d->backend_index == 0)
            return i;
    }
    return -1;
}

static vox_status pick_device(const vox_context_params *p, const vox_logger *log, int *index)
{
    int n = vox_registry_device_count();
    if (p->native) {
        /* A wrapped queue selects the backend; its device is the caller's. */
        if ((int)p->native->backend < 0 || p->native->backend >= VOX_BACKEND_COUNT)
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "native queue: unknown backend");
        for (int i = 0; i < n; i++)
            if (vox_registry_device(i)->backend == p->native->backend) {
                *index = i;
                return VOX_OK;
            }
        return vox_fail(log, VOX_ERR_BACKEND_UNAVAILABLE,
                        "native queue given for an unavailable backend");
    }
    if (p->device_index >= 0) {
        if (p->device_index >= n)
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "device index %d out of range (%d devices)",
                            p->device_index, n);
        *index = p->device_index;
        return VOX_OK;
    }
    const char *id = p->device_id;
    const char *source = "device_id";
    if (!id || !*id) {
        id = getenv("VOXATTN_DEVICE");
        source = "VOXATTN_DEVICE";
    }
    if (id && *id) {
        int i = find_device_by_id(id);
        if (i < 0)
            return vox_fail(log, VOX_ERR_BACKEND_UNAVAILABLE, "%s=%s: no such device available", source,
                            id);
        *index = i;
        return VOX_OK;
    }
    if (n == 0)
        return vox_fail(log, VOX_ERR_BACKEND_UNAVAILABLE, "no devices");
    *index = 0;
    return VOX_OK;
}

vox_status vox_context_create(const vox_context_params *params, vox_context **out)
{
    if (!out)
        return VOX_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!params)
        return VOX_ERR_INVALID_ARGUMENT;
    vox_logger log = {params->log, params->log_user, params->log_level};
    if ((int)params->log_level < VOX_LOG_ERROR || params->log_level > VOX_LOG_DEBUG)
        return vox_fail(&log, VOX_ERR_INVALID_ARGUMENT, "bad log level %d", (int)params->log_level);
    int index = -1;
    vox_status st = pick_device(params, &log, &index);
    if (st)
        return st;
    vox_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return VOX_ERR_OUT_OF_MEMORY;
    ctx->log = log;
    ctx->time_builds = params->time_builds != 0;
    atomic_init(&ctx->refs, 1);
    ctx->desc = *vox_registry_device(index);
    ctx->be = vox_registry_backend(ctx->desc.backend);
    st = ctx->be->open(ctx->desc.backend_index, params->native, &ctx->log, &ctx->dev);
    if (st) {
        free(ctx);
        return st;
    }
    vox_log(&ctx->log, VOX_LOG_INFO, "voxattn: context on %s (%s)", ctx->desc.id, ctx->desc.name);
    *out = ctx;
    return VOX_OK;
}

void vox_context_retain(vox_context *ctx) { atomic_fetch_add(&ctx->refs, 1); }

void vox_context_release(vox_context *ctx)
{
    if (atomic_fetch_sub(&ctx->refs, 1) != 1)
        return;
    ctx->be->close(ctx->dev);
    free(ctx);
}

void vox_context_destroy(vox_context *ctx)
{
    if (!ctx)
        return;
    vox_context_release(ctx);
}

vox_status vox_context_device(const vox_context *ctx, vox_device_desc *info)
{
    if (!ctx || !info)
        return VOX_ERR_INVALID_ARGUMENT;
    *info = ctx->desc;
    return VOX_OK;
}

vox_status vox_context_finish(vox_context *ctx)
{
    if (!ctx)
        return VOX_ERR_INVALID_ARGUMENT;
    return ctx->be->finish(ctx->dev);
}

static vox_status buffer_new(vox_context *ctx, size_t bytes, vox_buffer **out, int wrapped,
                             uint64_t native)
{
    if (!out)
        return VOX_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!ctx)
        return VOX_ERR_INVALID_ARGUMENT;
    if (bytes == 0)
        return vox_fail(&ctx->log, VOX_ERR_INVALID_ARGUMENT, "buffer of 0 bytes");
    if (wrapped && !native)
        return vox_fail(&ctx->log, VOX_ERR_INVALID_ARGUMENT, "wrap of a null native handle");
    vox_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return VOX_ERR_OUT_OF_MEMORY;
    vox_status st = wrapped ? ctx->be->buffer_wrap(ctx->dev, native, bytes, &b->impl)
                            : ctx->be->buffer_alloc(ctx->dev, bytes, &b->impl);
    if (st) {
        free(b);
        return st;
    }
    b->ctx = ctx;
    vox_context_retain(ctx);
    b->size = bytes;
    b->wrapped = wrapped;
    *out = b;
    return VOX_OK;
}

vox_status vox_buffer_create(vox_context *ctx, size_t bytes, vox_buffer **out)
{
    return buffer_new(ctx, bytes, out, 0, 0);
}

vox_status vox_buffer_wrap(vox_context *ctx, uint64_t native, size_t bytes, vox_buffer **out)
{
    return buffer_new(ctx, bytes, out, 1, native);
}

void vox_buffer_destroy(vox_buffer *buf)
{
    if (!buf)
        return;
    vox_context *ctx = buf->ctx;
    ctx->be->buffer_free(ctx->dev, buf->impl);
    free(buf);
    vox_context_release(ctx);
}

size_t vox_buffer_size(const vox_buffer *buf) { return buf ? buf->size : 0; }

static vox_status check_range(vox_buffer *buf, size_t offset, const void *host, size_t bytes)
{
    if (!buf || (!host && bytes))
        return VOX_ERR_INVALID_ARGUMENT;
    size_t end;
    if (!vox_add_size(offset, bytes, &end) || end > buf->size)
        return vox_fail(&buf->ctx->log, VOX_ERR_BUFFER_TOO_SMALL,
                        "copy of %zu bytes at offset %zu exceeds buffer of %zu bytes", bytes, offset,
                        buf->size);
    return VOX_OK;
}

vox_status vox_buffer_write(vox_buffer *buf, size_t offset, const void *src, size_t bytes)
{
    vox_status st = check_range(buf, offset, src, bytes);
    if (st || !bytes)
        return st;
    return buf->ctx->be->buffer_write(buf->ctx->dev, buf->impl, offset, src, bytes);
}

vox_status vox_buffer_read(vox_buffer *buf, size_t offset, void *dst, size_t bytes)
{
    vox_status st = check_range(buf, offset, dst, bytes);
    if (st || !bytes)
        return st;
    return buf->ctx->be->buffer_read(buf->ctx->dev, buf->impl, offset, dst, bytes);
}

/* Host wall clock, for backends without device timestamps. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}



vox_status vox_timer_begin(vox_context *ctx)
{
    if (!ctx)
        return VOX_ERR_INVALID_ARGUMENT;
    if (ctx->be->timer_begin)
        return ctx->be->timer_begin(ctx->dev);
    vox_status st = ctx->be->finish(ctx->dev);
    ctx->timer_start_ms = now_ms();
    return st;
}

vox_status vox_timer_end(vox_context *ctx, double *ms)
{
    if (!ctx || !ms)
        return VOX_ERR_INVALID_ARGUMENT;
    if (ctx->be->timer_end)
        return ctx->be->timer_end(ctx->dev, ms);
    vox_status st = ctx->be->finish(ctx->dev);
    *ms = now_ms() - ctx->timer_start_ms;
    return st;
}
