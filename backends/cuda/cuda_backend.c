/* The CUDA backend: the driver API, loaded at run time from libcuda.so.1
 * (never linked; no libcudart) through the entry-point tables of
 * cuda_internal.h, wrapped into a gpu_api. Kernels: backends/gpu/kernels
 * built by nvcc into a fatbin at build time, embedded, loaded with
 * cuModuleLoadData; on sm_90 devices also the Hopper attention (cuda_sm90.c).
 * The host logic is shared with HIP (backends/gpu). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "cuda_internal.h"
#include "loader.h"
#include "vox_cuda_config.h"
#include "vox_cuda_fatbin.h"

#define CU_SYMBOL(member, ret, params, symbol) symbol,
cu_driver vox_cu;
static const char *const cu_names[] = {VOX_CU_FUNCS(CU_SYMBOL)};
static const char *const cu_optional_names[] = {VOX_CU_OPTIONAL_FUNCS(CU_SYMBOL)};
#undef CU_SYMBOL
#define CU_N_REQUIRED (sizeof cu_names / sizeof cu_names[0])
#define CU_N_OPTIONAL (sizeof cu_optional_names / sizeof cu_optional_names[0])
_Static_assert(sizeof vox_cu == (CU_N_REQUIRED + CU_N_OPTIONAL) * sizeof(void *), "function table layout");

static void *cu_lib;

const char *cu_error_string(int rc)
{
    const char *s = NULL;
    if (vox_cu.GetErrorString && vox_cu.GetErrorString(rc, &s) == 0 && s)
        return s;
    return "unknown CUDA error";
}

static vox_status cu_probe(vox_device_desc *descs, int max, int *count, char *reason, size_t n)
{
    static const char *const libs[] = {"libcuda.so.1", "libcuda.so", NULL};
    *count = 0;
    if (!cu_lib) {
        void *lib = vox_dl_open(libs, "VOXATTN_CUDA_LIBRARY", reason, n);
        if (!lib)
            return VOX_ERR_BACKEND_UNAVAILABLE;
        void *slots[CU_N_REQUIRED + CU_N_OPTIONAL];
        if (vox_dl_resolve(lib, cu_names, slots, CU_N_REQUIRED, reason, n)) {
            vox_dl_close(lib);
            return VOX_ERR_BACKEND_UNAVAILABLE;
        }
        for (size_t i = 0; i < CU_N_OPTIONAL; i++)
            slots[CU_N_REQUIRED + i] = dlsym(lib, cu_optional_names[i]);
        memcpy(&vox_cu, slots, sizeof vox_cu);
        if (vox_cu.EventElapsedTime_v2)
            vox_cu.EventElapsedTime = vox_cu.EventElapsedTime_v2;
        if (!vox_cu.EventElapsedTime) {
            snprintf(reason, n, "runtime lacks symbol cuEventElapsedTime");
            memset(&vox_cu, 0, sizeof vox_cu);
            vox_dl_close(lib);
            return VOX_ERR_BACKEND_UNAVAILABLE;
        }
        cu_lib = lib;
    }
    int rc = vox_cu.Init(0), ndev = 0;
    if (rc) {
        snprintf(reason, n, "cuInit failed: %s (%d)", cu_error_string(rc), rc);
        return VOX_ERR_BACKEND_UNAVAILABLE;
    }
    rc = vox_cu.DeviceGetCount(&ndev);
    if (rc || ndev < 1) {
        snprintf(reason, n, "no CUDA device (%s)", rc ? cu_error_string(rc) : "count 0");
        return VOX_ERR_BACKEND_UNAVAILABLE;
    }
    int ver = 0;
    vox_cu.DriverGetVersion(&ver);
    for (int i = 0; i < ndev && *count < max; i++) {
        CUdevice dev;
        if (vox_cu.DeviceGet(&dev, i))
            continue;
        vox_device_desc *d = &descs[*count];
        memset(d, 0, sizeof *d);
        vox_cu.DeviceGetName(d->name, (int)sizeof d->name, dev);
        size_t mem = 0;
        vox_cu.DeviceTotalMem(&mem, dev);
        int sm = 0, warp = 0, smem = 0, optin = 0, major = 0, minor = 0;
        vox_cu.DeviceGetAttribute(&sm, CU_ATTR_SM_COUNT, dev);
        vox_cu.DeviceGetAttribute(&warp, CU_ATTR_WARP_SIZE, dev);
        vox_cu.DeviceGetAttribute(&smem, CU_ATTR_MAX_SHARED_PER_BLOCK, dev);
        vox_cu.DeviceGetAttribute(&optin, CU_ATTR_MAX_SHARED_OPTIN, dev);
        vox_cu.DeviceGetAttribute(&major, CU_ATTR_CC_MAJOR, dev);
        vox_cu.DeviceGetAttribute(&minor, CU_ATTR_CC_MINOR, dev);
        snprintf(d->vendor, sizeof d->vendor, "NVIDIA");
        snprintf(d->driver, sizeof d->driver, "CUDA driver %d.%d, sm_%d%d", ver / 1000, ver % 1000 / 10, major,
                 minor);
        d->type = VOX_DEVICE_GPU;
        d->memory_bytes = mem;
        d->caps = VOX_CAP_F16 | VOX_CAP_BF16 | VOX_CAP_TIMER | (major >= 8 ? VOX_CAP_MATRIX_UNITS : 0);
        d->subgroup_size = (uint32_t)warp;
        d->shared_memory_bytes = (uint64_t)(optin > smem ? optin : smem);
        d->compute_units = (uint32_t)sm;
        (*count)++;
    }
    if (reason && n)
        snprintf(reason, n, "CUDA driver %d.%d, %d device(s)", ver / 1000, ver % 1000 / 10, ndev);
    return VOX_OK;
}

static vox_status cu_open_dev(gpu_dev *g, int ordinal, const vox_native_queue *native)
{
    CUdevice dev;
    int rc = vox_cu.DeviceGet(&dev, ordinal);
    if (rc)
        return vox_fail(&g->log, VOX_ERR_BACKEND, "cuda: cuDeviceGet(%d): %s", ordinal, cu_error_string(rc));
    if (native && native->context) {
        g->ctx = native->context;
    } else {
        rc = vox_cu.PrimaryCtxRetain((CUcontext *)&g->ctx, dev);
        if (rc)
            return vox_fail(&g->log, rc == CU_OOM ? VOX_ERR_DEVICE_OUT_OF_MEMORY : VOX_ERR_BACKEND,
                            "cuda: cuDevicePrimaryCtxRetain: %s", cu_error_string(rc));
        g->own_ctx = 1;
    }
    vox_cu.DeviceGetAttribute(&g->sm_count, CU_ATTR_SM_COUNT, dev);
    vox_cu.DeviceGetAttribute(&g->warp, CU_ATTR_WARP_SIZE, dev);
    vox_cu.DeviceGetAttribute(&g->max_smem, CU_ATTR_MAX_SHARED_PER_BLOCK, dev);
    vox_cu.DeviceGetAttribute(&g->max_smem_optin, CU_ATTR_MAX_SHARED_OPTIN, dev);
    int major = 0, minor = 0;
    vox_cu.DeviceGetAttribute(&major, CU_ATTR_CC_MAJOR, dev);
    vox_cu.DeviceGetAttribute(&minor, CU_ATTR_CC_MINOR, dev);
    g->arch = major * 10 + minor;
    if (g->max_smem_optin < g->max_smem)
        g->max_smem_optin = g->max_smem;
    rc = vox_cu.CtxPush(g->ctx);
    if (rc) {
        vox_status st = vox_fail(&g->log, VOX_ERR_BACKEND, "cuda: cuCtxPushCurrent: %s", cu_error_string(rc));
        if (g->own_ctx)
            vox_cu.PrimaryCtxRelease(dev);
        return st;
    }
    vox_status st = VOX_OK;
    if (native) {
        g->stream = native->queue;
    } else {
        rc = vox_cu.StreamCreate((CUstream *)&g->stream, CU_STREAM_NON_BLOCKING);
        if (rc)
            st = vox_fail(&g->log, VOX_ERR_BACKEND, "cuda: cuStreamCreate: %s", cu_error_string(rc));
        else
            g->own_stream = 1;
    }
    if (!st) {
        rc = vox_cu.ModuleLoadData((CUmodule *)&g->module, vox_cuda_kernels);
        if (rc)
            st = vox_fail(&g->log, rc == CU_OOM ? VOX_ERR_DEVICE_OUT_OF_MEMORY : VOX_ERR_UNSUPPORTED,
                          "cuda: cuModuleLoadData (fatbin for %s): %s", VOX_CUDA_ARCHS, cu_error_string(rc));
    }
    if (!st)
        cu_sm90_open(g);
    if (st) {
        if (g->own_stream)
            vox_cu.StreamDestroy(g->stream);
        CUcontext dummy;
        vox_cu.CtxPop(&dummy);
        if (g->own_ctx)
            vox_cu.PrimaryCtxRelease(dev);
        return st;
    }
    CUcontext dummy;
    vox_cu.CtxPop(&dummy);
    return VOX_OK;
}

static void cu_close_dev(gpu_dev *g)
{
    if (vox_cu.CtxPush(g->ctx) == 0) {
        cu_sm90_close(g);
        if (g->module)
            vox_cu.ModuleUnload(g->module);
        if (g->own_stream)
            vox_cu.StreamDestroy(g->stream);
        CUcontext dummy;
        vox_cu.CtxPop(&dummy);
    }
    CUdevice dev;
    if (g->own_ctx && vox_cu.DeviceGet(&dev, g->ordinal) == 0)
        vox_cu.PrimaryCtxRelease(dev);
}

static int cu_push(gpu_dev *g) { return vox_cu.CtxPush(g->ctx); }
static void cu_pop(gpu_dev *g)
{
    (void)g;
    CUcontext dummy;
    vox_cu.CtxPop(&dummy);
}
static int cu_alloc(uint64_t *p, size_t n)
{
    CUdeviceptr d = 0;
    int rc = vox_cu.MemAlloc(&d, n);
    *p = d;
    return rc;
}
static int cu_free(uint64_t p) { return vox_cu.MemFree(p); }
static int cu_htod(uint64_t d, const void *s, size_t n, void *st) { return vox_cu.MemcpyHtoDAsync(d, s, n, st); }
static int cu_dtoh(void *d, uint64_t s, size_t n, void *st) { return vox_cu.MemcpyDtoHAsync(d, s, n, st); }
static int cu_sync(void *st) { return vox_cu.StreamSynchronize(st); }
static int cu_getfn(void **f, void *m, const char *name) { return vox_cu.ModuleGetFunction((CUfunction *)f, m, name); }
static int cu_setsmem(void *f, int bytes) { return vox_cu.FuncSetAttribute(f, CU_FUNC_MAX_DYNAMIC_SHARED, bytes); }
static int cu_launch(void *f, unsigned gx, unsigned bx, unsigned by, unsigned smem, void *st, void **args)
{
    return vox_cu.LaunchKernel(f, gx, 1, 1, bx, by, 1, smem, st, args, NULL);
}
static int cu_ev_create(void **e) { return vox_cu.EventCreate((CUevent *)e, 0); }
static int cu_ev_record(void *e, void *st) { return vox_cu.EventRecord(e, st); }
static int cu_ev_sync(void *e) { return vox_cu.EventSynchronize(e); }
static int cu_ev_elapsed(float *ms, void *a, void *b) { return vox_cu.EventElapsedTime(ms, a, b); }
static void cu_ev_destroy(void *e) { vox_cu.EventDestroy(e); }

static const gpu_api cuda_api = {
    .name = "cuda",
    .oom_code = CU_OOM,
    .open_dev = cu_open_dev,
    .close_dev = cu_close_dev,
    .push = cu_push,
    .pop = cu_pop,
    .mem_alloc = cu_alloc,
    .mem_free = cu_free,
    .htod = cu_htod,
    .dtoh = cu_dtoh,
    .sync = cu_sync,
    .get_function = cu_getfn,
    .set_max_smem = cu_setsmem,
    .launch = cu_launch,
    .event_create = cu_ev_create,
    .event_record = cu_ev_record,
    .event_sync = cu_ev_sync,
    .event_elapsed = cu_ev_elapsed,
    .event_destroy = cu_ev_destroy,
    .error_string = cu_error_string,
    .attention_forward = cu_sm90_attention_forward, /* sm_90a wgmma/TMA (cuda_sm90.c) */
    .attention_backward = cu_sm90_attention_backward,
};

static vox_status cu_open(int index, const vox_native_queue *native, const vox_logger *log, void **dev)
{
    return gpu_open(&cuda_api, index, native, log, dev);
}

static const vox_backend cuda_backend = GPU_BACKEND_TABLE(VOX_BACKEND_CUDA, "cuda", cu_probe, cu_open);

const vox_backend *vox_backend_cuda(void) { return &cuda_backend; }
