/* The CUDA backend: the driver API, loaded at run time from libcuda.so.1
 * (never linked; no libcudart). Kernels: a fatbin built by nvcc at build time
 * (backends/cuda/kernels), embedded, loaded with cuModuleLoadData. The host
 * logic is shared with HIP in gpu_host.h. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "gpu_host.h"
#include "loader.h"
#include "vox_cuda_config.h"
#include "vox_cuda_fatbin.h"

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void *CUcontext, *CUstream, *CUmodule, *CUfunction, *CUevent;

enum {
    CU_ATTR_MAX_SHARED_PER_BLOCK = 8,
    CU_ATTR_WARP_SIZE = 10,
    CU_ATTR_SM_COUNT = 16,
    CU_ATTR_CC_MAJOR = 75,
    CU_ATTR_CC_MINOR = 76,
    CU_ATTR_MAX_SHARED_OPTIN = 97,
    CU_FUNC_MAX_DYNAMIC_SHARED = 8,
    CU_OOM = 2,
    CU_STREAM_NON_BLOCKING = 1,
};

static struct {
    CUresult (*Init)(unsigned);
    CUresult (*DriverGetVersion)(int *);
    CUresult (*DeviceGetCount)(int *);
    CUresult (*DeviceGet)(CUdevice *, int);
    CUresult (*DeviceGetName)(char *, int, CUdevice);
    CUresult (*DeviceTotalMem)(size_t *, CUdevice);
    CUresult (*DeviceGetAttribute)(int *, int, CUdevice);
    CUresult (*PrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*PrimaryCtxRelease)(CUdevice);
    CUresult (*CtxPush)(CUcontext);
    CUresult (*CtxPop)(CUcontext *);
    CUresult (*StreamCreate)(CUstream *, unsigned);
    CUresult (*StreamDestroy)(CUstream);
    CUresult (*StreamSynchronize)(CUstream);
    CUresult (*ModuleLoadData)(CUmodule *, const void *);
    CUresult (*ModuleUnload)(CUmodule);
    CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
    CUresult (*FuncSetAttribute)(CUfunction, int, int);
    CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             CUstream, void **, void **);
    CUresult (*MemAlloc)(CUdeviceptr *, size_t);
    CUresult (*MemFree)(CUdeviceptr);
    CUresult (*MemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
    CUresult (*MemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
    CUresult (*EventCreate)(CUevent *, unsigned);
    CUresult (*EventRecord)(CUevent, CUstream);
    CUresult (*EventSynchronize)(CUevent);
    CUresult (*EventDestroy)(CUevent);
    CUresult (*GetErrorString)(CUresult, const char **);
    CUresult (*EventElapsedTime)(float *, CUevent, CUevent);
} cu;

static const char *const cu_names[] = {
    "cuInit", "cuDriverGetVersion", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetName", "cuDeviceTotalMem_v2",
    "cuDeviceGetAttribute", "cuDevicePrimaryCtxRetain", "cuDevicePrimaryCtxRelease_v2", "cuCtxPushCurrent_v2",
    "cuCtxPopCurrent_v2", "cuStreamCreate", "cuStreamDestroy_v2", "cuStreamSynchronize", "cuModuleLoadData",
    "cuModuleUnload", "cuModuleGetFunction", "cuFuncSetAttribute", "cuLaunchKernel", "cuMemAlloc_v2",
    "cuMemFree_v2", "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2", "cuEventCreate", "cuEventRecord",
    "cuEventSynchronize", "cuEventDestroy_v2", "cuGetErrorString",
};
#define CU_N_REQUIRED (sizeof cu_names / sizeof cu_names[0])

static void *cu_lib;

static const char *cu_error_string(int rc)
{
    const char *s = NULL;
    if (cu.GetErrorString && cu.GetErrorString(rc, &s) == 0 && s)
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
        void *slots[CU_N_REQUIRED + 1];
        if (vox_dl_resolve(lib, cu_names, slots, CU_N_REQUIRED, reason, n)) {
            vox_dl_close(lib);
            return VOX_ERR_BACKEND_UNAVAILABLE;
        }
        slots[CU_N_REQUIRED] = dlsym(lib, "cuEventElapsedTime_v2");
        if (!slots[CU_N_REQUIRED])
            slots[CU_N_REQUIRED] = dlsym(lib, "cuEventElapsedTime");
        if (!slots[CU_N_REQUIRED]) {
            snprintf(reason, n, "runtime lacks symbol cuEventElapsedTime");
            vox_dl_close(lib);
            return VOX_ERR_BACKEND_UNAVAILABLE;
        }
        memcpy(&cu, slots, sizeof cu);
        cu_lib = lib;
    }
    int rc = cu.Init(0), ndev = 0;
    if (rc) {
        snprintf(reason, n, "cuInit failed: %s (%d)", cu_error_string(rc), rc);
        return VOX_ERR_BACKEND_UNAVAILABLE;
    }
    rc = cu.DeviceGetCount(&ndev);
    if (rc || ndev < 1) {
        snprintf(reason, n, "no CUDA device (%s)", rc ? cu_error_string(rc) : "count 0");
        return VOX_ERR_BACKEND_UNAVAILABLE;
    }
    int ver = 0;
    cu.DriverGetVersion(&ver);
    for (int i = 0; i < ndev && *count < max; i++) {
        CUdevice dev;
        if (cu.DeviceGet(&dev, i))
            continue;
        vox_device_desc *d = &descs[*count];
        memset(d, 0, sizeof *d);
        cu.DeviceGetName(d->name, (int)sizeof d->name, dev);
        size_t mem = 0;
        cu.DeviceTotalMem(&mem, dev);
        int sm = 0, warp = 0, smem = 0, optin = 0, major = 0, minor = 0;
        cu.DeviceGetAttribute(&sm, CU_ATTR_SM_COUNT, dev);
        cu.DeviceGetAttribute(&warp, CU_ATTR_WARP_SIZE, dev);
        cu.DeviceGetAttribute(&smem, CU_ATTR_MAX_SHARED_PER_BLOCK, dev);
        cu.DeviceGetAttribute(&optin, CU_ATTR_MAX_SHARED_OPTIN, dev);
        cu.DeviceGetAttribute(&major, CU_ATTR_CC_MAJOR, dev);
        cu.DeviceGetAttribute(&minor, CU_ATTR_CC_MINOR, dev);
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
    int rc = cu.DeviceGet(&dev, ordinal);
    if (rc)
        return vox_fail(&g->log, VOX_ERR_BACKEND, "cuda: cuDeviceGet(%d): %s", ordinal, cu_error_string(rc));
    if (native && native->context) {
        g->ctx = native->context;
    } else {
        rc = cu.PrimaryCtxRetain((CUcontext *)&g->ctx, dev);
        if (rc)
            return vox_fail(&g->log, rc == CU_OOM ? VOX_ERR_DEVICE_OUT_OF_MEMORY : VOX_ERR_BACKEND,
                            "cuda: cuDevicePrimaryCtxRetain: %s", cu_error_string(rc));
        g->own_ctx = 1;
    }
    cu.DeviceGetAttribute(&g->sm_count, CU_ATTR_SM_COUNT, dev);
    cu.DeviceGetAttribute(&g->warp, CU_ATTR_WARP_SIZE, dev);
    cu.DeviceGetAttribute(&g->max_smem, CU_ATTR_MAX_SHARED_PER_BLOCK, dev);
    cu.DeviceGetAttribute(&g->max_smem_optin, CU_ATTR_MAX_SHARED_OPTIN, dev);
    if (g->max_smem_optin < g->max_smem)
        g->max_smem_optin = g->max_smem;
    rc = cu.CtxPush(g->ctx);
    if (rc) {
        vox_status st = vox_fail(&g->log, VOX_ERR_BACKEND, "cuda: cuCtxPushCurrent: %s", cu_error_string(rc));
        if (g->own_ctx)
            cu.PrimaryCtxRelease(dev);
        return st;
    }
    vox_status st = VOX_OK;
    if (native) {
        g->stream = native->queue;
    } else {
        rc = cu.StreamCreate((CUstream *)&g->stream, CU_STREAM_NON_BLOCKING);
        if (rc)
            st = vox_fail(&g->log, VOX_ERR_BACKEND, "cuda: cuStreamCreate: %s", cu_error_string(rc));
        else
            g->own_stream = 1;
    }
    if (!st) {
        rc = cu.ModuleLoadData((CUmodule *)&g->module, vox_cuda_kernels);
        if (rc)
            st = vox_fail(&g->log, rc == CU_OOM ? VOX_ERR_DEVICE_OUT_OF_MEMORY : VOX_ERR_UNSUPPORTED,
                          "cuda: cuModuleLoadData (fatbin for %s): %s", VOX_CUDA_ARCHS, cu_error_string(rc));
    }
    if (st) {
        if (g->own_stream)
            cu.StreamDestroy(g->stream);
        CUcontext dummy;
        cu.CtxPop(&dummy);
        if (g->own_ctx)
            cu.PrimaryCtxRelease(dev);
        return st;
    }
    CUcontext dummy;
    cu.CtxPop(&dummy);
    return VOX_OK;
}

static void cu_close_dev(gpu_dev *g)
{
    if (cu.CtxPush(g->ctx) == 0) {
        if (g->module)
            cu.ModuleUnload(g->module);
        if (g->own_stream)
            cu.StreamDestroy(g->stream);
        CUcontext dummy;
        cu.CtxPop(&dummy);
    }
    CUdevice dev;
    if (g->own_ctx && cu.DeviceGet(&dev, g->ordinal) == 0)
        cu.PrimaryCtxRelease(dev);
}

static int cu_push(gpu_dev *g) { return cu.CtxPush(g->ctx); }
static void cu_pop(gpu_dev *g)
{
    (void)g;
    CUcontext dummy;
    cu.CtxPop(&dummy);
}
static int cu_alloc(uint64_t *p, size_t n)
{
    CUdeviceptr d = 0;
    int rc = cu.MemAlloc(&d, n);
    *p = d;
    return rc;
}
static int cu_free(uint64_t p) { return cu.MemFree(p); }
static int cu_htod(uint64_t d, const void *s, size_t n, void *st) { return cu.MemcpyHtoDAsync(d, s, n, st); }
static int cu_dtoh(void *d, uint64_t s, size_t n, void *st) { return cu.MemcpyDtoHAsync(d, s, n, st); }
static int cu_sync(void *st) { return cu.StreamSynchronize(st); }
static int cu_getfn(void **f, void *m, const char *name) { return cu.ModuleGetFunction((CUfunction *)f, m, name); }
static int cu_setsmem(void *f, int bytes) { return cu.FuncSetAttribute(f, CU_FUNC_MAX_DYNAMIC_SHARED, bytes); }
static int cu_launch(void *f, unsigned gx, unsigned bx, unsigned by, unsigned smem, void *st, void **args)
{
    return cu.LaunchKernel(f, gx, 1, 1, bx, by, 1, smem, st, args, NULL);
}
static int cu_ev_create(void **e) { return cu.EventCreate((CUevent *)e, 0); }
static int cu_ev_record(void *e, void *st) { return cu.EventRecord(e, st); }
static int cu_ev_sync(void *e) { return cu.EventSynchronize(e); }
static int cu_ev_elapsed(float *ms, void *a, void *b) { return cu.EventElapsedTime(ms, a, b); }
static void cu_ev_destroy(void *e) { cu.EventDestroy(e); }

static const gpu_api cuda_api = {
    .name = "cuda",
    .kind = VOX_BACKEND_CUDA,
    .oom_code = CU_OOM,
    .probe = cu_probe,
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
};
static const gpu_api *const G = &cuda_api;

#define VOX_GPU_HOST_IMPL
#include "gpu_host.h"

static const vox_backend cuda_backend = VOX_GPU_BACKEND_TABLE(VOX_BACKEND_CUDA, "cuda", cu_probe);

const vox_backend *vox_backend_cuda(void) { return &cuda_backend; }
