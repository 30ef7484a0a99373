/* The CPU reference backend: its one device, host-memory buffers and the
 * backend table. The ops are one file each beside this one (see cpu_ops.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_ops.h"

typedef struct cpu_buffer {
    unsigned char *data;
    int wrapped;
} cpu_buffer;

static vox_status cpu_probe(vox_device_desc *descs, int max, int *count, char *reason, size_t n)
{
    (void)reason, (void)n;
    *count = 0;
    if (max < 1)
        return VOX_OK;
    vox_device_desc *d = &descs[0];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "CPU reference (fp64 accumulation)");
    snprintf(d->vendor, sizeof d->vendor, "voxattn");
    snprintf(d->driver, sizeof d->driver, "reference");
    d->type = VOX_DEVICE_REFERENCE;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    d->memory_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    d->caps = VOX_CAP_F16 | VOX_CAP_BF16;
    d->compute_units = 1;
    *count = 1;
    return VOX_OK;
}

static vox_status cpu_open(int index, const vox_native_queue *native, const vox_logger *log, void **dev)
{
    (void)index, (void)log;
    if (native && native->queue)
        return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "cpu: no native queue to wrap");
    *dev = (void *)1; /* stateless */
    return VOX_OK;
}

static void cpu_close(void *dev) { (void)dev; }

static vox_status cpu_alloc(void *dev, size_t bytes, void **out)
{
    (void)dev;
    cpu_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return VOX_ERR_DEVICE_OUT_OF_MEMORY;
    b->data = malloc(bytes);
    if (!b->data) {
        free(b);
        return VOX_ERR_DEVICE_OUT_OF_MEMORY;
    }
    *out = b;
    return VOX_OK;
}

static vox_status cpu_wrap(void *dev, uint64_t native, size_t bytes, void **out)
{
    (void)dev, (void)bytes;
    cpu_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return VOX_ERR_OUT_OF_MEMORY;
    b->data = (unsigned char *)(uintptr_t)native;
    b->wrapped = 1;
    *out = b;
    return VOX_OK;
}

static void cpu_free(void *dev, void *buf)
{
    (void)dev;
    cpu_buffer *b = buf;
    if (!b)
        return;
    if (!b->wrapped)
        free(b->data);
    free(b);
}

static vox_status cpu_write(void *dev, void *buf, size_t off, const void *src, size_t bytes)
{
    (void)dev;
    memcpy(((cpu_buffer *)buf)->data + off, src, bytes);
    return VOX_OK;
}

static vox_status cpu_read(void *dev, void *buf, size_t off, void *dst, size_t bytes)
{
    (void)dev;
    memcpy(dst, ((cpu_buffer *)buf)->data + off, bytes);
    return VOX_OK;
}

static vox_status cpu_finish(void *dev)
{
    (void)dev;
    return VOX_OK;
}

/* The device is stateless and every op has one implementation, so the
 * kernel of an op's last launch is always vox_cpu_<op> (cpu_ops.h). */
static const char *cpu_last_kernel(void *dev, vox_op op)
{
    (void)dev;
#define CPU_KERNEL_NAME(name) "vox_cpu_" #name,
    static const char *const names[VOX_OP_COUNT] = {VOX_KERNEL_OPS(CPU_KERNEL_NAME)};
#undef CPU_KERNEL_NAME
    return op >= 0 && op < VOX_OP_COUNT ? names[op] : NULL;
}

void *vox_cpu_ptr(vox_bref r)
{
    return r.buf ? ((cpu_buffer *)r.buf)->data + r.offset : NULL;
}

static const vox_backend cpu_backend = {
    .kind = VOX_BACKEND_CPU, .name = "cpu", .probe = cpu_probe, .open = cpu_open,
    VOX_BACKEND_DEVICE(cpu_),
    .timer_begin = NULL, .timer_end = NULL,
    .supports = NULL, /* the reference runs every op at every size */
    VOX_BACKEND_ALL_OPS(vox_cpu_)
};

const vox_backend *vox_backend_cpu(void) { return &cpu_backend; }
