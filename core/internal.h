/* Core objects shared by the core's files (private). */
#ifndef VOX_CORE_INTERNAL_H
#define VOX_CORE_INTERNAL_H

#include "backend.h"
#include "log.h"

struct vox_context {
    const vox_backend *be;
    void *dev;
    vox_device_desc desc;
    vox_logger log;
    double timer_start_ms; /* host timer fallback */
};

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
