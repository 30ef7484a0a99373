/* The HIP backend for AMD GPUs: HIP's module API, loaded at run time from
 * libamdhip64.so (never linked) through the entry-point table below, wrapped
 * into a gpu_api. Kernels: the device source shared with CUDA
 * (backends/gpu/kernels, through its portability header) compiled by hipcc
 * at build time into one code object bundle per AMD target, embedded; the one
 * matching the device's gcnArchName is loaded with hipModuleLoadData. The host
 * logic is shared with CUDA (backends/gpu). hip_runtime_api.h is used for
 * types only. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#ifndef __HIP_PLATFORM_AMD__
#define __HIP_PLATFORM_AMD__ 1
#endif
#include <hip/hip_runtime_api.h>

#include "gpu_internal.h"
#include "loader.h"
#include "vox_hip_config.h"
#include "vox_hip_objects.h"

typedef int herr;

/* Runtime entry points: X(member, return type, parameters, symbol). */
#define VOX_HIP_FUNCS(X)                                                                              \
    X(Init, herr, (unsigned), "hipInit")                                                              \
    X(RuntimeGetVersion, herr, (int *), "hipRuntimeGetVersion")                                       \
    X(GetDeviceCount, herr, (int *), "hipGetDeviceCount")                                             \
    X(SetDevice, herr, (int), "hipSetDevice")                                                         \
    X(GetDeviceProperties, herr, (void *, int), "hipGetDeviceProperties")                             \
    X(StreamCreateWithFlags, herr, (void **, unsigned), "hipStreamCreateWithFlags")                   \
    X(StreamDestroy, herr, (void *), "hipStreamDestroy")                                              \
    X(StreamSynchronize, herr, (void *), "hipStreamSynchronize")                                      \
    X(ModuleLoadData, herr, (void **, const void *), "hipModuleLoadData")                             \
    X(ModuleUnload, herr, (void *), "hipModuleUnload")                                                \
    X(ModuleGetFunction, herr, (void **, void *, const char *), "hipModuleGetFunction")               \
    X(ModuleLaunchKernel, herr,                                                                       \
      (void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void *, void **, \
       void **),                                                                                      \
      "hipModuleLaunchKernel")                                                                        \
    X(Malloc, herr, (void **, size_t), "hipMalloc")                                                   \
    X(Free, herr, (void *), "hipFree")                                                                \
    X(MemcpyHtoDAsync, herr, (void *, void *, size_t, void *), "hipMemcpyHtoDAsync")                  \
    X(MemcpyDtoHAsync, herr, (void *, void *, size_t, void *), "hipMemcpyDtoHAsync")                  \
    X(EventCreate, herr, (void **), "hipEventCreate")                                                 \
    X(EventRecord, herr, (void *, void *), "hipEventRecord")                                          \
    X(EventSynchronize, herr, (void *), "hipEventSynchronize")                                        \
    X(EventElapsedTime, herr, (float *, void *, void *), "hipEventElapsedTime")                       \
    X(EventDestroy, herr, (void *), "hipEventDestroy")                                                \
    X(GetErrorString, const char *, (herr), "hipGetErrorString")

#define HIP_MEMBER(member, ret, params, symbol) ret(*member) params;
#define HIP_SYMBOL(member, ret, params, symbol) symbol,
static struct {
    VOX_HIP_FUNCS(HIP_MEMBER)
} hip;
static const char *const hip_names[] = {VOX_HIP_FUNCS(HIP_SYMBOL)};
#undef HIP_MEMBER
#undef HIP_SYMBOL
#define HIP_N (sizeof hip_names / sizeof hip_names[0])
_Static_assert(sizeof hip == HIP_N * sizeof(void *), "function table layout");

static void *hip_lib;

/* hipDeviceProp_t of the headers' layout, with room for a larger runtime one. */
typedef union hip_props {
    hipDeviceProp_t p;
    unsigned char pad[8192];
} hip_props;

static const char *hip_error_string(int rc)
{
    const char *s = hip.GetErrorString ? hip.GetErrorString(rc) : NULL;
    return s ? s : "unknown HIP error";
}

/* "gfx90a:sramecc+:xnack-" -> "gfx90a" */
static void base_arch(const char *full, char *out, size_t n)
{
    size_t i = 0;
    for (; i + 1 < n && full[i] && full[i] != ':'; i++)
        out[i] = full[i];
    out[i] = 0;
}

static const struct vox_hip_blob *find_object(const char *arch)
{
    char want[80];
    snprintf(want, sizeof want, "vox_hip_%s.co", arch);
    for (size_t i = 0; i < vox_hip_count; i++)
        if (strcmp(vox_hip_table[i].name, want) == 0)
            return &vox_hip_table[i];
    return NULL;
}

static vox_status hip_probe(vox_device_desc *descs, int max, int *count, char *reason, size_t n)
{
    static const char *const libs[] = {"libamdhip64.so", "libamdhip64.so.6", "libamdhip64.so.5", NULL};
    *count = 0;
    if (!hip_lib) {
        void *lib = vox_dl_open(libs, "VOXATTN_HIP_LIBRARY", reason, n);
        if (!lib)
            return VOX_ERR_BACKEND_UNAVAILABLE;
        if (vox_dl_resolve(lib, hip_names, (void **)&hip, HIP_N, reason, n)) {
            vox_dl_close(lib);
            memset(&hip, 0, sizeof hip);
            return VOX_ERR_BACKEND_UNAVAILABLE;
        }
        hip_lib = lib;
    }
    int rc = hip.Init(0), ndev = 0;
    if (rc) {
        snprintf(reason, n, "hipInit failed: %s (%d)", hip_error_string(rc), rc);
        return VOX_ERR_BACKEND_UNAVAILABLE;
    }
    rc = hip.GetDeviceCount(&ndev);
    if (rc || ndev < 1) {
        snprintf(reason, n, "no AMD GPU (%s)", rc ? hip_error_string(rc) : "count 0");
        return VOX_ERR_BACKEND_UNAVAILABLE;
    }
    int ver = 0;
    hip.RuntimeGetVersion(&ver);
    for (int i = 0; i < ndev && *count < max; i++) {
        hip_props pr;
        memset(&pr, 0, sizeof pr);
        if (hip.GetDeviceProperties(&pr, i))
            continue;
        vox_device_desc *d = &descs[*count];
        memset(d, 0, sizeof *d);
        char arch[32];
        base_arch(pr.p.gcnArchName, arch, sizeof arch);
        snprintf(d->name, sizeof d->name, "%.80s (%.31s)", pr.p.name, arch);
        snprintf(d->vendor, sizeof d->vendor, "AMD");
        snprintf(d->driver, sizeof d->driver, "HIP runtime %d%s", ver,
                 find_object(arch) ? "" : ", no code object for this arch");
        d->type = VOX_DEVICE_GPU;
        d->memory_bytes = pr.p.totalGlobalMem;
        d->caps = VOX_CAP_F16 | VOX_CAP_BF16 | VOX_CAP_TIMER;
        d->subgroup_size = (uint32_t)pr.p.warpSize;
        d->shared_memory_bytes = pr.p.sharedMemPerBlock;
        d->compute_units = (uint32_t)pr.p.multiProcessorCount;
        (*count)++;
    }
    if (reason && n)
        snprintf(reason, n, "HIP runtime %d, %d device(s)", ver, ndev);
    return VOX_OK;
}

static vox_status hip_open_dev(gpu_dev *g, int ordinal, const vox_native_queue *native)
{
    int rc = hip.SetDevice(ordinal);
    if (rc)
        return vox_fail(&g->log, VOX_ERR_BACKEND, "hip: hipSetDevice(%d): %s", ordinal, hip_error_string(rc));
    hip_props pr;
    memset(&pr, 0, sizeof pr);
    rc = hip.GetDeviceProperties(&pr, ordinal);
    if (rc)
        return vox_fail(&g->log, VOX_ERR_BACKEND, "hip: hipGetDeviceProperties: %s", hip_error_string(rc));
    char arch[32];
    base_arch(pr.p.gcnArchName, arch, sizeof arch);
    const struct vox_hip_blob *obj = find_object(arch);
    if (!obj)
        return vox_fail(&g->log, VOX_ERR_UNSUPPORTED,
                        "hip: this library has no code object for %s (built for %s; meson option amd_targets)",
                        arch[0] ? arch : "(unknown arch)", VOX_HIP_TARGETS);
    g->sm_count = pr.p.multiProcessorCount;
    g->warp = pr.p.warpSize;
    g->max_smem = (int)pr.p.sharedMemPerBlock;
    g->max_smem_optin = g->max_smem;
    vox_status st = VOX_OK;
    if (native) {
        g->stream = native->queue;
    } else {
        rc = hip.StreamCreateWithFlags(&g->stream, hipStreamNonBlocking);
        if (rc)
            return vox_fail(&g->log, VOX_ERR_BACKEND, "hip: hipStreamCreateWithFlags: %s", hip_error_string(rc));
        g->own_stream = 1;
    }
    rc = hip.ModuleLoadData(&g->module, obj->data);
    if (rc) {
        st = vox_fail(&g->log, rc == hipErrorOutOfMemory ? VOX_ERR_DEVICE_OUT_OF_MEMORY : VOX_ERR_UNSUPPORTED,
                      "hip: hipModuleLoadData (%s): %s", obj->name, hip_error_string(rc));
        g->module = NULL;
        if (g->own_stream)
            hip.StreamDestroy(g->stream);
        return st;
    }
    return VOX_OK;
}

static void hip_close_dev(gpu_dev *g)
{
    if (hip.SetDevice(g->ordinal) == 0) {
        if (g->module)
            hip.ModuleUnload(g->module);
        if (g->own_stream)
            hip.StreamDestroy(g->stream);
    }
}

static int h_push(gpu_dev *g) { return hip.SetDevice(g->ordinal); }
static void h_pop(gpu_dev *g) { (void)g; }
static int h_alloc(uint64_t *p, size_t n)
{
    void *d = NULL;
    int rc = hip.Malloc(&d, n);
    *p = (uint64_t)(uintptr_t)d;
    return rc;
}
static int h_free(uint64_t p) { return hip.Free((void *)(uintptr_t)p); }
static int h_htod(uint64_t d, const void *s, size_t n, void *st)
{
    return hip.MemcpyHtoDAsync((void *)(uintptr_t)d, (void *)(uintptr_t)s, n, st);
}
static int h_dtoh(void *d, uint64_t s, size_t n, void *st)
{
    return hip.MemcpyDtoHAsync(d, (void *)(uintptr_t)s, n, st);
}
static int h_sync(void *st) { return hip.StreamSynchronize(st); }
static int h_getfn(void **f, void *m, const char *name) { return hip.ModuleGetFunction(f, m, name); }
static int h_launch(void *f, unsigned gx, unsigned bx, unsigned by, unsigned smem, void *st, void **args)
{
    return hip.ModuleLaunchKernel(f, gx, 1, 1, bx, by, 1, smem, st, args, NULL);
}
static int h_ev_create(void **e) { return hip.EventCreate(e); }
static int h_ev_record(void *e, void *st) { return hip.EventRecord(e, st); }
static int h_ev_sync(void *e) { return hip.EventSynchronize(e); }
static int h_ev_elapsed(float *ms, void *a, void *b) { return hip.EventElapsedTime(ms, a, b); }
static void h_ev_destroy(void *e) { hip.EventDestroy(e); }

static const gpu_api hip_api = {
    .name = "hip",
    .oom_code = hipErrorOutOfMemory,
    .open_dev = hip_open_dev,
    .close_dev = hip_close_dev,
    .push = h_push,
    .pop = h_pop,
    .mem_alloc = h_alloc,
    .mem_free = h_free,
    .htod = h_htod,
    .dtoh = h_dtoh,
    .sync = h_sync,
    .get_function = h_getfn,
    .set_max_smem = NULL, /* AMD: the whole LDS is available without opt-in */
    .launch = h_launch,
    .event_create = h_ev_create,
    .event_record = h_ev_record,
    .event_sync = h_ev_sync,
    .event_elapsed = h_ev_elapsed,
    .event_destroy = h_ev_destroy,
    .error_string = hip_error_string,
};

static vox_status hip_open(int index, const vox_native_queue *native, const vox_logger *log, void **dev)
{
    return gpu_open(&hip_api, index, native, log, dev);
}

static const vox_backend hip_backend = GPU_BACKEND_TABLE(VOX_BACKEND_HIP, "hip", hip_probe, hip_open);

const vox_backend *vox_backend_hip(void) { return &hip_backend; }
