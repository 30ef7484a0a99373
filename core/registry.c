/* Device registry: probes every compiled backend once and numbers devices
 * globally, best first (GPUs by backend preference, then the CPU reference,
 * then CPU drivers such as PoCL and lavapipe). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "vox_config.h"

#define VOX_MAX_DEVICES 64

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static vox_device_desc g_devices[VOX_MAX_DEVICES];
static int g_device_count;
static vox_backend_desc g_backends[VOX_BACKEND_COUNT];

#if VOX_HAVE_CUDA
#define VOX_GET_CUDA vox_backend_cuda
#else
#define VOX_GET_CUDA NULL
#endif
#if VOX_HAVE_HIP
#define VOX_GET_HIP vox_backend_hip
#else
#define VOX_GET_HIP NULL
#endif
#if VOX_HAVE_OPENCL
#define VOX_GET_OPENCL vox_backend_opencl
#else
#define VOX_GET_OPENCL NULL
#endif
#if VOX_HAVE_VULKAN
#define VOX_GET_VULKAN vox_backend_vulkan
#else
#define VOX_GET_VULKAN NULL
#endif

/* One row per backend, indexed by vox_backend_kind: its name, its table
 * (NULL where this build leaves it out) and its rank among GPU devices
 * (lower sorts first). */
static const struct {
    vox_backend_kind kind;
    const char *name;
    const vox_backend *(*get)(void);
    int gpu_rank;
} g_rows[VOX_BACKEND_COUNT] = {
    [VOX_BACKEND_CPU] = {VOX_BACKEND_CPU, "cpu", vox_backend_cpu, 9},
    [VOX_BACKEND_CUDA] = {VOX_BACKEND_CUDA, "cuda", VOX_GET_CUDA, 0},
    [VOX_BACKEND_HIP] = {VOX_BACKEND_HIP, "hip", VOX_GET_HIP, 1},
    [VOX_BACKEND_OPENCL] = {VOX_BACKEND_OPENCL, "opencl", VOX_GET_OPENCL, 3},
    [VOX_BACKEND_VULKAN] = {VOX_BACKEND_VULKAN, "vulkan", VOX_GET_VULKAN, 2},
};

static const vox_backend *backend_of(vox_backend_kind kind)
{
    if ((int)kind < 0 || kind >= VOX_BACKEND_COUNT || !g_rows[kind].get)
        return NULL;
    return g_rows[kind].get();
}

/* Lower rank sorts first: GPUs by backend preference, then the CPU reference,
 * then CPU drivers. */
static int rank(const vox_device_desc *d)
{
    if (d->type == VOX_DEVICE_GPU)
        return g_rows[d->backend].gpu_rank;
    if (d->type == VOX_DEVICE_REFERENCE)
        return 10;
    return 20 + (int)d->backend;
}

static void probe_all(void)
{
    vox_device_desc found[VOX_MAX_DEVICES];
    int total = 0;
    for (int k = 0; k < VOX_BACKEND_COUNT; k++) {
        vox_backend_desc *b = &g_backends[k];
        memset(b, 0, sizeof *b);
        b->backend = (vox_backend_kind)k;
        b->name = g_rows[k].name;
        const vox_backend *be = backend_of((vox_backend_kind)k);
        if (!be) {
            snprintf(b->reason, sizeof b->reason, "not built into this library (meson option -D%s)",
                     g_rows[k].name);
            continue;
        }
        b->compiled = 1;
        int count = 0;
        vox_status st = be->probe(found + total, VOX_MAX_DEVICES - total, &count, b->reason,
                                  sizeof b->reason);
        if (st != VOX_OK || count <= 0) {
            if (!b->reason[0])
                snprintf(b->reason, sizeof b->reason, "%s", st ? vox_status_string(st) : "no devices");
            continue;
        }
        for (int i = 0; i < count; i++) {
            vox_device_desc *d = &found[total + i];
            d->backend = (vox_backend_kind)k;
            d->backend_name = g_rows[k].name;
            d->backend_index = i;
            if (k == VOX_BACKEND_CPU)
                snprintf(d->id, sizeof d->id, "cpu");
            else
                snprintf(d->id, sizeof d->id, "%s:%d", g_rows[k].name, i);
        }
        b->available = 1;
        b->device_count = count;
        total += count;
    }
    /* stable insertion sort by rank */
    for (int i = 0; i < total; i++) {
        vox_device_desc cur = found[i];
        int j = i;
        while (j > 0 && rank(&found[j - 1]) > rank(&cur)) {
            found[j] = found[j - 1];
            j--;
        }
        found[j] = cur;
    }
    memcpy(g_devices, found, sizeof(vox_device_desc) * (size_t)total);
    g_device_count = total;
}

static void ensure_probed(void) { pthread_once(&g_once, probe_all); }

int vox_registry_device_count(void)
{
    ensure_probed();
    return g_device_count;
}

const vox_device_desc *vox_registry_device(int index)
{
    ensure_probed();
    if (index < 0 || index >= g_device_count)
        return NULL;
    return &g_devices[index];
}

const vox_backend *vox_registry_backend(vox_backend_kind kind) { return backend_of(kind); }

vox_status vox_device_count(int *count)
{
    if (!count)
        return VOX_ERR_INVALID_ARGUMENT;
    *count = vox_registry_device_count();
    return VOX_OK;
}

vox_status vox_device_info(int index, vox_device_desc *info)
{
    if (!info)
        return VOX_ERR_INVALID_ARGUMENT;
    const vox_device_desc *d = vox_registry_device(index);
    if (!d)
        return VOX_ERR_INVALID_ARGUMENT;
    *info = *d;
    return VOX_OK;
}

vox_status vox_backend_info(vox_backend_kind backend, vox_backend_desc *info)
{
    if (!info || (int)backend < 0 || backend >= VOX_BACKEND_COUNT)
        return VOX_ERR_INVALID_ARGUMENT;
    ensure_probed();
    *info = g_backends[backend];
    return VOX_OK;
}
