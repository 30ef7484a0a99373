/* Core objects shared by the core's files (private). */
#ifndef VOX_CORE_INTERNAL_H
#define VOX_CORE_INTERNAL_H

#include <stdatomic.h>

#include "backend.h"
#include "log.h"

struct vox_context {
    const vox_backend *be;
    void *dev;
    vox_device_desc desc;
    vox_logger log;
    double timer_start_ms; /* host timer fallback */
    int time_builds;       /* vox_context_params.time_builds */
    atomic_int refs;       /* 1 for the caller's handle + 1 per live buffer and plan */
};

/* A buffer or plan holds its context: the device is closed and the context
 * freed when the caller's handle and every child are gone, in any order. */
void vox_context_retain(vox_context *ctx);
void vox_context_release(vox_context *ctx);

struct vox_buffer {
    vox_context *ctx;
    void *impl;
    size_t size;
    int wrapped;
};

/* Registry: every backend compiled in, probed once. */
int vox_registry_device_count(void);
const vox_device_desc *vox_registry_device(int index);
const vox_backend *vox_registry_backend(vox_backend_kind kind);

/* Overflow-checked size arithmetic: returns 0 on overflow. */
static inline int vox_mul_size(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

static inline int vox_add_size(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a)
        return 0;
    *out = a + b;
    return 1;
}

#endif
