/* The OpenCL backend: libOpenCL (the ICD loader) is loaded at run time and
 * every cl* entry point used is resolved into a table; the Khronos headers
 * give only types and constants. Kernels (kernels/NAME.cl) are embedded at build
 * time and built per device at run time (OpenCL C 1.2), cached per opened
 * device. Ops are enqueued in order on one queue (the caller's when wrapped). */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "loader.h"
#include "vox_cl_kernels.h"

/* ------------------------------------------------------------ runtime table */

#define VOX_CL_FUNCS(X)                                                                        \
    X(clGetPlatformIDs, cl_int, (cl_uint, cl_platform_id *, cl_uint *))                        \
    X(clGetPlatformInfo, cl_int, (cl_platform_id, cl_platform_info, size_t, void *, size_t *)) \
    X(clGetDeviceIDs, cl_int, (cl_platform_id, cl_device_type, cl_uint, cl_device_id *, cl_uint *)) \
    X(clGetDeviceInfo, cl_int, (cl_device_id, cl_device_info, size_t, void *, size_t *))       \
    X(clCreateContext, cl_context,                                                             \
      (const cl_context_properties *, cl_uint, const cl_device_id *,                           \
       void(CL_CALLBACK *)(const char *, const void *, size_t, void *), void *, cl_int *))    \
    X(clRetainContext, cl_int, (cl_context))                                                   \
    X(clReleaseContext, cl_int, (cl_context))                                                  \
    X(clCreateCommandQueue, cl_command_queue,                                                  \
      (cl_context, cl_device_id, cl_command_queue_properties, cl_int *))                       \
    X(clRetainCommandQueue, cl_int, (cl_command_queue))                                        \
    X(clReleaseCommandQueue, cl_int, (cl_command_queue))                                       \
    X(clGetCommandQueueInfo, cl_int,                                                           \
      (cl_command_queue, cl_command_queue_info, size_t, void *, size_t *))                     \
    X(clCreateBuffer, cl_mem, (cl_context, cl_mem_flags, size_t, void *, cl_int *))            \
    X(clRetainMemObject, cl_int, (cl_mem))                                                     \
    X(clReleaseMemObject, cl_int, (cl_mem))                                                    \
    X(clGetMemObjectInfo, cl_int, (cl_mem, cl_mem_info, size_t, void *, size_t *))            \
    X(clEnqueueReadBuffer, cl_int,                                                             \
      (cl_command_queue, cl_mem, cl_bool, size_t, size_t, void *, cl_uint, const cl_event *,   \
       cl_event *))                                                                            \
    X(clEnqueueWriteBuffer, cl_int,                                                            \
      (cl_command_queue, cl_mem, cl_bool, size_t, size_t, const void *, cl_uint,               \
       const cl_event *, cl_event *))                                                          \
    X(clCreateProgramWithSource, cl_program,                                                   \
      (cl_context, cl_uint, const char **, const size_t *, cl_int *))                          \
    X(clBuildProgram, cl_int,                                                                  \
      (cl_program, cl_uint, const cl_device_id *, const char *,                                \
       void(CL_CALLBACK *)(cl_program, void *), void *))                                       \
    X(clGetProgramBuildInfo, cl_int,                                                           \
      (cl_program, cl_device_id, cl_program_build_info, size_t, void *, size_t *))             \
    X(clReleaseProgram, cl_int, (cl_program))                                                  \
    X(clCreateKernel, cl_kernel, (cl_program, const char *, cl_int *))                         \
    X(clReleaseKernel, cl_int, (cl_kernel))                                                    \
    X(clSetKernelArg, cl_int, (cl_kernel, cl_uint, size_t, const void *))                      \
    X(clGetKernelWorkGroupInfo, cl_int,                                                        \
      (cl_kernel, cl_device_id, cl_kernel_work_group_info, size_t, void *, size_t *))          \
    X(clEnqueueNDRangeKernel, cl_int,                                                          \
      (cl_command_queue, cl_kernel, cl_uint, const size_t *, const size_t *, const size_t *,   \
       cl_uint, const cl_event *, cl_event *))                                                 \
    X(clEnqueueMarkerWithWaitList, cl_int, (cl_command_queue, cl_uint, const cl_event *, cl_event *)) \
    X(clEnqueueBarrierWithWaitList, cl_int, (cl_command_queue, cl_uint, const cl_event *, cl_event *)) \
    X(clGetEventProfilingInfo, cl_int, (cl_event, cl_profiling_info, size_t, void *, size_t *)) \
    X(clReleaseEvent, cl_int, (cl_event))                                                      \
    X(clFinish, cl_int, (cl_command_queue))

#define X_MEMBER(name, ret, args) ret(CL_API_CALL *name) args;
#define X_NAME(name, ret, args) #name,
typedef struct cl_api {
    VOX_CL_FUNCS(X_MEMBER)
} cl_api;
static const char *const g_cl_names[] = {VOX_CL_FUNCS(X_NAME)};
#define N_CL_FUNCS (sizeof g_cl_names / sizeof g_cl_names[0])

static cl_api g_cl;
static void *g_cl_lib;
static int g_cl_ok;
static char g_cl_reason[256];

/* Devices found by probe, in backend_index order. */
#define CL_MAX_DEVICES 32
static cl_device_id g_devices[CL_MAX_DEVICES];
static int g_device_count;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static int cl_load(char *reason, size_t n)
{
    pthread_mutex_lock(&g_lock);
    if (!g_cl_ok && !g_cl_reason[0]) {
        static const char *const names[] = {"libOpenCL.so.1", "libOpenCL.so", NULL};
        g_cl_lib = vox_dl_open(names, "VOXATTN_OPENCL_LIBRARY", g_cl_reason, sizeof g_cl_reason);
        if (g_cl_lib) {
            void *slots[N_CL_FUNCS];
            if (vox_dl_resolve(g_cl_lib, g_cl_names, slots, N_CL_FUNCS, g_cl_reason, sizeof g_cl_reason)) {
                vox_dl_close(g_cl_lib);
                g_cl_lib = NULL;
            } else {
                memcpy(&g_cl, slots, sizeof g_cl);
                g_cl_ok = 1;
            }
        }
        if (!g_cl_ok && !g_cl_reason[0])
            snprintf(g_cl_reason, sizeof g_cl_reason, "cannot load the OpenCL ICD loader");
    }
    int ok = g_cl_ok;
    if (!ok && reason && n)
        snprintf(reason, n, "%s", g_cl_reason);
    pthread_mutex_unlock(&g_lock);
    return ok;
}

_Static_assert(sizeof(cl_api) == N_CL_FUNCS * sizeof(void *), "function table layout");

static const char *cl_err_name(cl_int e)
{
    switch (e) {
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_COMPILER_NOT_AVAILABLE: return "CL_COMPILER_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_PROFILING_INFO_NOT_AVAILABLE: return "CL_PROFILING_INFO_NOT_AVAILABLE";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case CL_INVALID_CONTEXT: return "CL_INVALID_CONTEXT";
    case CL_INVALID_COMMAND_QUEUE: return "CL_INVALID_COMMAND_QUEUE";
    case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
    case CL_INVALID_BUILD_OPTIONS: return "CL_INVALID_BUILD_OPTIONS";
    case CL_INVALID_PROGRAM: return "CL_INVALID_PROGRAM";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_ARG_INDEX: return "CL_INVALID_ARG_INDEX";
    case CL_INVALID_ARG_VALUE: return "CL_INVALID_ARG_VALUE";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_WORK_ITEM_SIZE: return "CL_INVALID_WORK_ITEM_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE: return "CL_INVALID_GLOBAL_WORK_SIZE";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_EVENT: return "CL_INVALID_EVENT";
    case CL_INVALID_OPERATION: return "CL_INVALID_OPERATION";
    case CL_INVALID_PLATFORM: return "CL_INVALID_PLATFORM";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL error";
    }
}

/* Memory errors of the runtime map to device out of memory. */
static vox_status cl_status(cl_int e)
{
    if (e == CL_MEM_OBJECT_ALLOCATION_FAILURE || e == CL_OUT_OF_RESOURCES || e == CL_INVALID_BUFFER_SIZE)
        return VOX_ERR_DEVICE_OUT_OF_MEMORY;
    if (e == CL_OUT_OF_HOST_MEMORY)
        return VOX_ERR_OUT_OF_MEMORY;
    return VOX_ERR_BACKEND;
}

/* ------------------------------------------------------------------- probe */

static void dev_string(cl_device_id d, cl_device_info what, char *out, size_t n)
{
    out[0] = 0;
    size_t len = 0;
    if (g_cl.clGetDeviceInfo(d, what, 0, NULL, &len) != CL_SUCCESS || !len)
        return;
    char *tmp = malloc(len + 1);
    if (!tmp)
        return;
    if (g_cl.clGetDeviceInfo(d, what, len, tmp, NULL) == CL_SUCCESS) {
        tmp[len] = 0;
        snprintf(out, n, "%s", tmp);
    }
    free(tmp);
}

static int dev_has_ext(cl_device_id d, const char *ext)
{
    size_t n = 0;
    if (g_cl.clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &n) != CL_SUCCESS || !n)
        return 0;
    char *s = malloc(n + 1);
    if (!s)
        return 0;
    int found = 0;
    if (g_cl.clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, n, s, NULL) == CL_SUCCESS) {
        s[n] = 0;
        size_t len = strlen(ext);
        for (const char *p = s; (p = strstr(p, ext)) != NULL; p += len)
            if ((p == s || p[-1] == ' ') && (p[len] == 0 || p[len] == ' ')) {
                found = 1;
                break;
            }
    }
    free(s);
    return found;
}

#define CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV_ 0x4000
#define CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV_ 0x4001
#define CL_DEVICE_WARP_SIZE_NV_ 0x4003
#define CL_DEVICE_WAVEFRONT_WIDTH_AMD_ 0x4043

static void describe(cl_device_id d, vox_device_desc *out)
{
    memset(out, 0, sizeof *out);
    dev_string(d, CL_DEVICE_NAME, out->name, sizeof out->name);
    dev_string(d, CL_DEVICE_VENDOR, out->vendor, sizeof out->vendor);
    char drv[48] = "", ver[64] = "";
    dev_string(d, CL_DRIVER_VERSION, drv, sizeof drv);
    dev_string(d, CL_DEVICE_VERSION, ver, sizeof ver);
    /* "OpenCL 3.0 <vendor text>": keep the first two words */
    char *sp = strchr(ver, ' ');
    if (sp && (sp = strchr(sp + 1, ' ')) != NULL)
        *sp = 0;
    snprintf(out->driver, sizeof out->driver, "%s, %s", drv, ver);
    cl_device_type type = 0;
    g_cl.clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    out->type = (type & CL_DEVICE_TYPE_GPU)   ? VOX_DEVICE_GPU
                : (type & CL_DEVICE_TYPE_CPU) ? VOX_DEVICE_CPU
                                              : VOX_DEVICE_OTHER;
    cl_ulong mem = 0, local = 0;
    cl_uint cu = 0;
    g_cl.clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    g_cl.clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
    g_cl.clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    out->memory_bytes = mem;
    out->shared_memory_bytes = local;
    out->compute_units = cu;
    /* f16 through vload_half/vstore_half and bf16 as ushort are core OpenCL 1.2 */
    out->caps = VOX_CAP_F16 | VOX_CAP_BF16 | VOX_CAP_TIMER;
    cl_uint warp = 0;
    if (dev_has_ext(d, "cl_nv_device_attribute_query"))
        g_cl.clGetDeviceInfo(d, CL_DEVICE_WARP_SIZE_NV_, sizeof warp, &warp, NULL);
    else if (dev_has_ext(d, "cl_amd_device_attribute_query"))
        g_cl.clGetDeviceInfo(d, CL_DEVICE_WAVEFRONT_WIDTH_AMD_, sizeof warp, &warp, NULL);
    out->subgroup_size = warp;
}

static vox_status cl_probe(vox_device_desc *descs, int max, int *count, char *reason, size_t rn)
{
    *count = 0;
    if (!cl_load(reason, rn))
        return VOX_ERR_BACKEND_UNAVAILABLE;
    cl_uint np = 0;
    cl_int e = g_cl.clGetPlatformIDs(0, NULL, &np);
    if (e != CL_SUCCESS || np == 0) {
        snprintf(reason, rn, "no OpenCL platforms (ICD loader found, no ICDs%s%s)",
                 e != CL_SUCCESS ? ": " : "", e != CL_SUCCESS ? cl_err_name(e) : "");
        return VOX_ERR_BACKEND_UNAVAILABLE;
    }
    cl_platform_id plats[16];
    if (np > 16)
        np = 16;
    if (g_cl.clGetPlatformIDs(np, plats, NULL) != CL_SUCCESS) {
        snprintf(reason, rn, "clGetPlatformIDs failed");
        return VOX_ERR_BACKEND_UNAVAILABLE;
    }
    int n = 0;
    char summary[256] = "";
    size_t used = 0;
    for (cl_uint p = 0; p < np; p++) {
        char pname[96] = "";
        if (g_cl.clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL) != CL_SUCCESS)
            pname[0] = 0;
        pname[sizeof pname - 1] = 0;
        cl_uint nd = 0;
        cl_device_id ids[CL_MAX_DEVICES];
        cl_device_type want = CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_CPU | CL_DEVICE_TYPE_ACCELERATOR;
        if (g_cl.clGetDeviceIDs(plats[p], want, CL_MAX_DEVICES, ids, &nd) != CL_SUCCESS)
            nd = 0;
        if (nd > CL_MAX_DEVICES)
            nd = CL_MAX_DEVICES;
        int kept = 0;
        for (cl_uint i = 0; i < nd && n < CL_MAX_DEVICES && n < max; i++) {
            cl_bool avail = CL_FALSE, comp = CL_FALSE;
            g_cl.clGetDeviceInfo(ids[i], CL_DEVICE_AVAILABLE, sizeof avail, &avail, NULL);
            g_cl.clGetDeviceInfo(ids[i], CL_DEVICE_COMPILER_AVAILABLE, sizeof comp, &comp, NULL);
            if (!avail || !comp)
                continue; /* kernels are built at run time: a compiler is needed */
            g_devices[n] = ids[i];
            describe(ids[i], &descs[n]);
            n++, kept++;
        }
        if (used < sizeof summary) {
            int w = snprintf(summary + used, sizeof summary - used, "%s%s: %d device(s)", used ? "; " : "",
                             pname[0] ? pname : "?", kept);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    g_device_count = n;
    *count = n;
    snprintf(reason, rn, "%s%s", n ? "" : "no usable OpenCL devices: ", summary);
    return n ? VOX_OK : VOX_ERR_BACKEND_UNAVAILABLE;
}

/* ------------------------------------------------------------------ device */

enum { PROG_OPS = 0, PROG_ATTN = 1, PROG_ATTN_MMA = 2 };

/* The tensor-core attention program (kernels/attention_mma.cl). */
enum { MMA_OFF = 0, MMA_PTX = 1, MMA_EMULATED = 2 };

enum {
    K_PERMUTE_TO,
    K_PERMUTE_FROM,
    K_BLOCK_MEANS,
    K_KV_LOCAL,
    K_KV_GLOBAL,
    K_SAMPLE_ROWS,
    K_QUERY_SELECT,
    K_OPS_COUNT
};
static const char *const g_ops_kernels[K_OPS_COUNT] = {
    "vox_permute_to",      "vox_permute_from", "vox_block_means", "vox_kv_select_local",
    "vox_kv_select_global", "vox_sample_rows",  "vox_query_select"};

typedef struct cl_prog {
    int kind;
    int dtype, hd, bm, bn, ls;
    cl_program program;
    cl_kernel kernels[K_OPS_COUNT];
} cl_prog;

#define CL_MAX_PROGS 32

typedef struct cl_dev {
    const vox_logger *log;
    cl_device_id device;
    cl_context ctx;
    cl_command_queue queue;
    int wrapped;
    int profiling;
    int out_of_order;
    int fp64;
    cl_ulong max_alloc;
    cl_ulong local_mem;
    size_t max_wg;
    cl_prog progs[CL_MAX_PROGS];
    int n_progs;
    cl_event t0;
    double t0_host;
    cl_mem scratch, scratch_u; /* kv_select rows that do not fit local memory */
    size_t scratch_bytes, scratch_u_bytes;
    int mma;         /* MMA_*: f16/bf16 attention on tensor cores; off for good after a failure */
    int nv_opts;     /* cl_nv_compiler_options */
    int mma_maxrreg; /* VOXATTN_OPENCL_MMA_MAXRREG (0: the compiler's choice) */
} cl_dev;

typedef struct cl_buf {
    cl_mem mem;
    size_t size;
} cl_buf;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void prog_release(cl_prog *p)
{
    for (int i = 0; i < K_OPS_COUNT; i++)
        if (p->kernels[i])
            g_cl.clReleaseKernel(p->kernels[i]);
    if (p->program)
        g_cl.clReleaseProgram(p->program);
    memset(p, 0, sizeof *p);
}

static void cl_close(void *devp)
{
    cl_dev *d = devp;
    if (!d)
        return;
    if (d->queue)
        g_cl.clFinish(d->queue);
    for (int i = 0; i < d->n_progs; i++)
        prog_release(&d->progs[i]);
    if (d->t0)
        g_cl.clReleaseEvent(d->t0);
    if (d->scratch)
        g_cl.clReleaseMemObject(d->scratch);
    if (d->scratch_u)
        g_cl.clReleaseMemObject(d->scratch_u);
    if (d->queue)
        g_cl.clReleaseCommandQueue(d->queue);
    if (d->ctx)
        g_cl.clReleaseContext(d->ctx);
    free(d);
}

/* Tensor-core attention through inline PTX mma.sync needs NVIDIA sm_80+.
 * VOXATTN_OPENCL_NO_MMA=1 turns it off; VOXATTN_OPENCL_MMA_EMULATE=1 runs
 * the same kernel with the PTX emulated, on any device (tests of its index
 * math, e.g. on PoCL; slow). */
static void mma_detect(cl_dev *d)
{
    char vendor[128] = "";
    cl_uint major = 0, minor = 0;
    dev_string(d->device, CL_DEVICE_VENDOR, vendor, sizeof vendor);
    int nv = strstr(vendor, "NVIDIA") != NULL && dev_has_ext(d->device, "cl_nv_device_attribute_query");
    if (nv && (g_cl.clGetDeviceInfo(d->device, CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV_, sizeof major, &major, NULL) !=
                   CL_SUCCESS ||
               g_cl.clGetDeviceInfo(d->device, CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV_, sizeof minor, &minor, NULL) !=
                   CL_SUCCESS))
        major = minor = 0;
    d->nv_opts = nv && dev_has_ext(d->device, "cl_nv_compiler_options");
    const char *rr = getenv("VOXATTN_OPENCL_MMA_MAXRREG");
    d->mma_maxrreg = rr && d->nv_opts ? atoi(rr) : 0;
    if (d->mma_maxrreg < 0 || d->mma_maxrreg > 255)
        d->mma_maxrreg = 0;
    const char *why = NULL;
    if (d->max_wg < 128)
        d->mma = MMA_OFF, why = "work-groups of 128 not supported";
    else if (vox_env_flag("VOXATTN_OPENCL_NO_MMA"))
        d->mma = MMA_OFF, why = "VOXATTN_OPENCL_NO_MMA is set";
    else if (vox_env_flag("VOXATTN_OPENCL_MMA_EMULATE"))
        d->mma = MMA_EMULATED;
    else if (major >= 8)
        d->mma = MMA_PTX;
    else
        d->mma = MMA_OFF, why = nv ? "NVIDIA below sm_80" : "not an NVIDIA device";
    if (d->mma == MMA_PTX)
        vox_log(d->log, VOX_LOG_DEBUG, "opencl: f16/bf16 attention on tensor cores (inline PTX mma.sync, sm_%u%u)",
                major, minor);
    else if (d->mma == MMA_EMULATED)
        vox_log(d->log, VOX_LOG_DEBUG,
                "opencl: f16/bf16 attention by the tensor-core kernel with its PTX emulated "
                "(VOXATTN_OPENCL_MMA_EMULATE; slow, for tests)");
    else
        vox_log(d->log, VOX_LOG_DEBUG, "opencl: attention uses the portable kernel only (%s)", why);
}

static vox_status cl_open(int index, const vox_native_queue *native, const vox_logger *log, void **out)
{
    *out = NULL;
    char why[256];
    if (!cl_load(why, sizeof why))
        return vox_fail(log, VOX_ERR_BACKEND_UNAVAILABLE, "opencl: %s", why);
    cl_dev *d = calloc(1, sizeof *d);
    if (!d)
        return VOX_ERR_OUT_OF_MEMORY;
    d->log = log;
    cl_int e;
    if (native && native->queue) {
        if (native->backend != VOX_BACKEND_OPENCL) {
            free(d);
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "opencl: native queue of another backend");
        }
        cl_command_queue q = (cl_command_queue)native->queue;
        cl_context qc = NULL;
        cl_device_id qd = NULL;
        cl_command_queue_properties props = 0;
        e = g_cl.clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof qc, &qc, NULL);
        if (e == CL_SUCCESS)
            e = g_cl.clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof qd, &qd, NULL);
        if (e == CL_SUCCESS)
            e = g_cl.clGetCommandQueueInfo(q, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL);
        if (e != CL_SUCCESS) {
            free(d);
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "opencl: the native queue is not a valid cl_command_queue (%s)",
                            cl_err_name(e));
        }
        if (native->context && (cl_context)native->context != qc) {
            free(d);
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT,
                            "opencl: the native queue belongs to another cl_context than the one given");
        }
        if (native->device && (cl_device_id)native->device != qd) {
            free(d);
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT,
                            "opencl: the native queue runs on another device than the one given");
        }
        g_cl.clRetainCommandQueue(q);
        g_cl.clRetainContext(qc);
        d->queue = q;
        d->ctx = qc;
        d->device = qd;
        d->wrapped = 1;
        d->profiling = (props & CL_QUEUE_PROFILING_ENABLE) != 0;
        d->out_of_order = (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) != 0;
    } else {
        if (index < 0 || index >= g_device_count) {
            free(d);
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "opencl: no device %d", index);
        }
        d->device = g_devices[index];
        d->ctx = g_cl.clCreateContext(NULL, 1, &d->device, NULL, NULL, &e);
        if (!d->ctx || e != CL_SUCCESS) {
            free(d);
            return vox_fail(log, cl_status(e),
                            "opencl: clCreateContext failed (%s, %d)", cl_err_name(e), e);
        }
        d->queue = g_cl.clCreateCommandQueue(d->ctx, d->device, CL_QUEUE_PROFILING_ENABLE, &e);
        d->profiling = 1;
        if (!d->queue) {
            d->queue = g_cl.clCreateCommandQueue(d->ctx, d->device, 0, &e);
            d->profiling = 0;
        }
        if (!d->queue) {
            cl_close(d);
            return vox_fail(log, cl_status(e), "opencl: clCreateCommandQueue failed (%s, %d)", cl_err_name(e), e);
        }
    }
    g_cl.clGetDeviceInfo(d->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof d->max_alloc, &d->max_alloc, NULL);
    g_cl.clGetDeviceInfo(d->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof d->local_mem, &d->local_mem, NULL);
    g_cl.clGetDeviceInfo(d->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof d->max_wg, &d->max_wg, NULL);
    cl_device_fp_config fp64 = 0;
    if (g_cl.clGetDeviceInfo(d->device, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp64, &fp64, NULL) != CL_SUCCESS)
        fp64 = 0;
    d->fp64 = fp64 != 0 && dev_has_ext(d->device, "cl_khr_fp64");
    if (d->max_wg < 64) {
        cl_close(d);
        return vox_fail(log, VOX_ERR_UNSUPPORTED, "opencl: work-groups of 64 items are needed (device max %zu)",
                        d->max_wg);
    }
    mma_detect(d);
    *out = d;
    return VOX_OK;
}

/* ----------------------------------------------------------------- buffers */

static vox_status cl_alloc(void *devp, size_t bytes, void **out)
{
    cl_dev *d = devp;
    if (d->max_alloc && bytes > d->max_alloc)
        return vox_fail(d->log, VOX_ERR_DEVICE_OUT_OF_MEMORY,
                        "opencl: %zu bytes exceed the device's largest allocation (%llu bytes)", bytes,
                        (unsigned long long)d->max_alloc);
    cl_buf *b = calloc(1, sizeof *b);
    if (!b)
        return VOX_ERR_OUT_OF_MEMORY;
    cl_int e;
    b->mem = g_cl.clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, bytes, NULL, &e);
    if (!b->mem || e != CL_SUCCESS) {
        free(b);
        return vox_fail(d->log, cl_status(e), "opencl: clCreateBuffer(%zu bytes) failed (%s, %d)", bytes,
                        cl_err_name(e), e);
    }
    b->size = bytes;
    *out = b;
    return VOX_OK;
}

static vox_status cl_wrap(void *devp, uint64_t native, size_t bytes, void **out)
{
    cl_dev *d = devp;
    cl_mem m = (cl_mem)(uintptr_t)native;
    cl_context mc = NULL;
    size_t size = 0;
    cl_mem_object_type type = 0;
    cl_int e = g_cl.clGetMemObjectInfo(m, CL_MEM_CONTEXT, sizeof mc, &mc, NULL);
    if (e == CL_SUCCESS)
        e = g_cl.clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (e == CL_SUCCESS)
        e = g_cl.clGetMemObjectInfo(m, CL_MEM_TYPE, sizeof type, &type, NULL);
    if (e != CL_SUCCESS)
        return vox_fail(d->log, VOX_ERR_INVALID_ARGUMENT, "opencl: wrapped handle is not a valid cl_mem (%s)",
                        cl_err_name(e));
    if (type != CL_MEM_OBJECT_BUFFER)
        return vox_fail(d->log, VOX_ERR_INVALID_ARGUMENT, "opencl: wrapped cl_mem is not a buffer");
    if (mc != d->ctx)
        return vox_fail(d->log, VOX_ERR_INVALID_ARGUMENT,
                        "opencl: wrapped cl_mem belongs to another cl_context than this context's queue");
    if (size < bytes)
        return vox_fail(d->log, VOX_ERR_INVALID_ARGUMENT, "opencl: wrapped cl_mem has %zu bytes, %zu claimed",
                        size, bytes);
    cl_buf *b = calloc(1, sizeof *b);
    if (!b)
        return VOX_ERR_OUT_OF_MEMORY;
    g_cl.clRetainMemObject(m);
    b->mem = m;
    b->size = bytes;
    *out = b;
    return VOX_OK;
}

static void cl_free(void *devp, void *bufp)
{
    (void)devp;
    cl_buf *b = bufp;
    if (!b)
        return;
    if (b->mem)
        g_cl.clReleaseMemObject(b->mem);
    free(b);
}

static vox_status cl_write(void *devp, void *bufp, size_t off, const void *src, size_t bytes)
{
    cl_dev *d = devp;
    cl_int e = g_cl.clEnqueueWriteBuffer(d->queue, ((cl_buf *)bufp)->mem, CL_TRUE, off, bytes, src, 0, NULL, NULL);
    if (e != CL_SUCCESS)
        return vox_fail(d->log, cl_status(e), "opencl: write of %zu bytes failed (%s, %d)", bytes, cl_err_name(e), e);
    return VOX_OK;
}

static vox_status cl_read(void *devp, void *bufp, size_t off, void *dst, size_t bytes)
{
    cl_dev *d = devp;
    cl_int e = g_cl.clEnqueueReadBuffer(d->queue, ((cl_buf *)bufp)->mem, CL_TRUE, off, bytes, dst, 0, NULL, NULL);
    if (e != CL_SUCCESS)
        return vox_fail(d->log, cl_status(e), "opencl: read of %zu bytes failed (%s, %d)", bytes, cl_err_name(e), e);
    return VOX_OK;
}

static vox_status cl_finish(void *devp)
{
    cl_dev *d = devp;
    cl_int e = g_cl.clFinish(d->queue);
    if (e != CL_SUCCESS)
        return vox_fail(d->log, cl_status(e), "opencl: clFinish failed (%s, %d)", cl_err_name(e), e);
    return VOX_OK;
}

/* ------------------------------------------------------------------ timers */

static vox_status cl_timer_begin(void *devp)
{
    cl_dev *d = devp;
    vox_status st = cl_finish(d);
    if (st)
        return st;
    if (d->t0) {
        g_cl.clReleaseEvent(d->t0);
        d->t0 = NULL;
    }
    d->t0_host = now_ms();
    if (d->profiling && g_cl.clEnqueueMarkerWithWaitList(d->queue, 0, NULL, &d->t0) != CL_SUCCESS)
        d->t0 = NULL;
    return VOX_OK;
}

static vox_status cl_timer_end(void *devp, double *ms)
{
    cl_dev *d = devp;
    cl_event t1 = NULL;
    if (d->t0 && g_cl.clEnqueueMarkerWithWaitList(d->queue, 0, NULL, &t1) != CL_SUCCESS)
        t1 = NULL;
    vox_status st = cl_finish(d);
    double host = now_ms() - d->t0_host;
    *ms = host;
    if (!st && d->t0 && t1) {
        cl_ulong a = 0, b = 0;
        if (g_cl.clGetEventProfilingInfo(d->t0, CL_PROFILING_COMMAND_END, sizeof a, &a, NULL) == CL_SUCCESS &&
            g_cl.clGetEventProfilingInfo(t1, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL) == CL_SUCCESS &&
            b >= a && a != 0)
            *ms = (double)(b - a) * 1e-6;
    }
    if (t1)
        g_cl.clReleaseEvent(t1);
    if (d->t0) {
        g_cl.clReleaseEvent(d->t0);
        d->t0 = NULL;
    }
    return st;
}

/* ---------------------------------------------------------------- programs */

static const struct vox_cl_blob *blob(const char *name)
{
    for (size_t i = 0; i < vox_cl_count; i++)
        if (!strcmp(vox_cl_table[i].name, name))
            return &vox_cl_table[i];
    return NULL;
}

static const char *prog_what(int kind)
{
    return kind == PROG_OPS ? "op" : kind == PROG_ATTN ? "attention" : "tensor-core attention";
}

/* Builds (or finds) a program. kind PROG_OPS: dtype; PROG_ATTN: dtype, hd,
 * bm, bn, ls; PROG_ATTN_MMA: dtype, hd. A failed PROG_ATTN_MMA build is
 * logged as a warning only: the caller falls back to PROG_ATTN. */
static vox_status get_prog(cl_dev *d, int kind, int dtype, int hd, int bm, int bn, int ls, cl_prog **out)
{
    for (int i = 0; i < d->n_progs; i++) {
        cl_prog *p = &d->progs[i];
        if (p->kind == kind && p->dtype == dtype && p->hd == hd && p->bm == bm && p->bn == bn && p->ls == ls) {
            *out = p;
            return VOX_OK;
        }
    }
    if (d->n_progs == CL_MAX_PROGS) { /* evict the oldest */
        prog_release(&d->progs[0]);
        memmove(&d->progs[0], &d->progs[1], sizeof(cl_prog) * (CL_MAX_PROGS - 1));
        memset(&d->progs[CL_MAX_PROGS - 1], 0, sizeof(cl_prog));
        d->n_progs--;
    }
    const vox_log_level fail_level = kind == PROG_ATTN_MMA ? VOX_LOG_WARN : VOX_LOG_ERROR;
    const struct vox_cl_blob *common = blob("common.cl"), *ops = blob("ops.cl"), *kv = blob("kv_select.cl"),
                             *attn = blob(kind == PROG_ATTN_MMA ? "attention_mma.cl" : "attention.cl");
    if (!common || !ops || !kv || !attn)
        return vox_fail(d->log, VOX_ERR_BACKEND, "opencl: embedded kernel sources missing");
    const char *src[8];
    size_t len[8];
    cl_uint n = 0;
#define ADD_SRC(s, l) (src[n] = (const char *)(s), len[n] = (l), n++)
    ADD_SRC(common->data, common->size);
    if (kind == PROG_OPS) {
        static const char kv_local[] = "\n#define KVS __local\n#define KV_NAME vox_kv_select_local\n#define KV_GLOBAL 0\n";
        static const char kv_global[] = "\n#undef KVS\n#undef KV_NAME\n#undef KV_GLOBAL\n#define KVS __global\n"
                                        "#define KV_NAME vox_kv_select_global\n#define KV_GLOBAL 1\n";
        ADD_SRC(ops->data, ops->size);
        ADD_SRC(kv_local, sizeof kv_local - 1);
        ADD_SRC(kv->data, kv->size);
        ADD_SRC(kv_global, sizeof kv_global - 1);
        ADD_SRC(kv->data, kv->size);
    } else {
        ADD_SRC(attn->data, attn->size);
    }
#undef ADD_SRC
    char opts[320];
    if (kind == PROG_ATTN_MMA) {
        /* -cl-nv-verbose: the build log then reports registers and spills */
        char rr[40] = "";
        if (d->mma_maxrreg > 0)
            snprintf(rr, sizeof rr, " -cl-nv-maxrregcount=%d", d->mma_maxrreg);
        snprintf(opts, sizeof opts, "-cl-std=CL1.2 -DVOX_DTYPE=%d -DVOX_USE_FP64=0 -DHD=%d -DVOX_MMA_EMU=%d%s%s",
                 dtype, hd, d->mma == MMA_EMULATED, d->nv_opts ? " -cl-nv-verbose" : "", rr);
    } else {
        snprintf(opts, sizeof opts, "-cl-std=CL1.2 -DVOX_DTYPE=%d -DVOX_USE_FP64=%d -DHD=%d -DBM=%d -DBN=%d -DLS=%d%s",
                 dtype, kind == PROG_OPS ? d->fp64 : 0, hd, bm, bn, ls, kind == PROG_ATTN ? " -cl-mad-enable" : "");
    }
    cl_int e;
    cl_program prog = g_cl.clCreateProgramWithSource(d->ctx, n, src, len, &e);
    if (!prog || e != CL_SUCCESS)
        return vox_fail(d->log, cl_status(e), "opencl: clCreateProgramWithSource failed (%s, %d)", cl_err_name(e), e);
    double t = now_ms();
    e = g_cl.clBuildProgram(prog, 1, &d->device, opts, NULL, NULL);
    /* the build log on failure, and of the tensor-core program always (debug) */
    char *blog = NULL;
    if (e != CL_SUCCESS || kind == PROG_ATTN_MMA) {
        size_t ln = 0;
        if (g_cl.clGetProgramBuildInfo(prog, d->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &ln) != CL_SUCCESS)
            ln = 0;
        blog = malloc(ln + 1);
        if (blog) {
            blog[0] = 0;
            if (ln && g_cl.clGetProgramBuildInfo(prog, d->device, CL_PROGRAM_BUILD_LOG, ln, blog, NULL) != CL_SUCCESS)
                blog[0] = 0;
            blog[ln] = 0;
        }
    }
    if (e != CL_SUCCESS) {
        vox_log(d->log, fail_level, "opencl: building the %s kernels (%s) failed (%s, %d); build log:\n%s",
                prog_what(kind), opts, cl_err_name(e), e, blog ? blog : "(unavailable)");
        free(blog);
        g_cl.clReleaseProgram(prog);
        return e == CL_BUILD_PROGRAM_FAILURE || e == CL_INVALID_BUILD_OPTIONS || e == CL_COMPILER_NOT_AVAILABLE
                   ? VOX_ERR_COMPILE
                   : cl_status(e);
    }
    vox_log(d->log, VOX_LOG_DEBUG, "opencl: built %s kernels (%s) in %.0f ms", prog_what(kind), opts, now_ms() - t);
    if (blog && blog[0])
        vox_log(d->log, VOX_LOG_DEBUG, "opencl: build log:\n%s", blog);
    free(blog);
    cl_prog *p = &d->progs[d->n_progs];
    memset(p, 0, sizeof *p);
    p->kind = kind, p->dtype = dtype, p->hd = hd, p->bm = bm, p->bn = bn, p->ls = ls;
    p->program = prog;
    int nk = kind == PROG_OPS ? K_OPS_COUNT : 1;
    for (int i = 0; i < nk; i++) {
        const char *name = kind == PROG_OPS   ? g_ops_kernels[i]
                           : kind == PROG_ATTN ? "vox_attention_fwd"
                                               : "vox_attention_mma";
        p->kernels[i] = g_cl.clCreateKernel(prog, name, &e);
        if (!p->kernels[i] || e != CL_SUCCESS) {
            prog_release(p);
            vox_log(d->log, fail_level, "opencl: kernel %s missing (%s, %d)", name, cl_err_name(e), e);
            return VOX_ERR_COMPILE;
        }
    }
    if (kind == PROG_ATTN_MMA) {
        /* the kernel needs exactly 128 work-items (reqd_work_group_size) */
        size_t wg = 0;
        cl_ulong lm = 0, pm = 0;
        if (g_cl.clGetKernelWorkGroupInfo(p->kernels[0], d->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg,
                                          NULL) != CL_SUCCESS)
            wg = 0;
        if (g_cl.clGetKernelWorkGroupInfo(p->kernels[0], d->device, CL_KERNEL_LOCAL_MEM_SIZE, sizeof lm, &lm,
                                          NULL) != CL_SUCCESS)
            lm = 0;
        if (g_cl.clGetKernelWorkGroupInfo(p->kernels[0], d->device, CL_KERNEL_PRIVATE_MEM_SIZE, sizeof pm, &pm,
                                          NULL) != CL_SUCCESS)
            pm = 0;
        vox_log(d->log, VOX_LOG_DEBUG,
                "opencl: vox_attention_mma hd %d: max work-group %zu, local %llu bytes, private %llu bytes", hd, wg,
                (unsigned long long)lm, (unsigned long long)pm);
        if (wg < 128) {
            prog_release(p);
            vox_log(d->log, fail_level, "opencl: vox_attention_mma allows work-groups of %zu only (128 needed)", wg);
            return VOX_ERR_COMPILE;
        }
    }
    d->n_progs++;
    *out = p;
    return VOX_OK;
}

/* --------------------------------------------------------------- launching */

typedef struct karg {
    size_t size;
    const void *ptr; /* NULL with size > 0: __local memory of `size` bytes */
} karg;

typedef struct argbuf {
    karg a[40];
    int n;
    cl_mem mems[40];
    cl_ulong u64[40];
    cl_long i64[40];
    cl_int i32[40];
    double f64[8];
    float f32[8];
    int nm, nu, nl, ni, nd, nf;
    int bad;
} argbuf;

static void arg_raw(argbuf *b, size_t size, const void *ptr)
{
    if (b->n < 40)
        b->a[b->n++] = (karg){size, ptr};
    else
        b->bad = 1;
}

/* A buffer reference: the cl_mem (NULL when absent) and its offset in elements. */
static void arg_ref(argbuf *b, vox_bref r, size_t esize)
{
    cl_mem m = r.buf ? ((cl_buf *)r.buf)->mem : NULL;
    b->mems[b->nm] = m;
    arg_raw(b, sizeof(cl_mem), &b->mems[b->nm++]);
    b->u64[b->nu] = r.buf ? (cl_ulong)(r.offset / esize) : 0;
    if (r.buf && r.offset % esize)
        b->bad = 1;
    arg_raw(b, sizeof(cl_ulong), &b->u64[b->nu++]);
}

static void arg_long(argbuf *b, int64_t v)
{
    b->i64[b->nl] = v;
    arg_raw(b, sizeof(cl_long), &b->i64[b->nl++]);
}

static void arg_int(argbuf *b, int v)
{
    b->i32[b->ni] = v;
    arg_raw(b, sizeof(cl_int), &b->i32[b->ni++]);
}

static void arg_float(argbuf *b, double v)
{
    b->f32[b->nf] = (float)v;
    arg_raw(b, sizeof(float), &b->f32[b->nf++]);
}

/* The `real` type of the op kernels: double where the device has fp64. */
static void arg_real(argbuf *b, const cl_dev *d, double v)
{
    if (d->fp64) {
        b->f64[b->nd] = v;
        arg_raw(b, sizeof(double), &b->f64[b->nd++]);
    } else {
        arg_float(b, v);
    }
}

static void arg_local(argbuf *b, size_t bytes) { arg_raw(b, bytes ? bytes : 4, NULL); }

/* Sets the arguments and enqueues; failures are logged at `level` (the
 * tensor-core attention falls back quietly) and returned. */
static vox_status launch_at(cl_dev *d, cl_kernel k, const char *name, const argbuf *b, size_t groups, size_t ls,
                            vox_log_level level)
{
    if (b->bad) {
        vox_log(d->log, level, "opencl: %s: bad kernel arguments (misaligned offset)", name);
        return VOX_ERR_BACKEND;
    }
    for (int i = 0; i < b->n; i++) {
        cl_int e = g_cl.clSetKernelArg(k, (cl_uint)i, b->a[i].size, b->a[i].ptr);
        if (e != CL_SUCCESS) {
            vox_log(d->log, level, "opencl: %s: clSetKernelArg(%d) failed (%s, %d)", name, i, cl_err_name(e), e);
            return VOX_ERR_BACKEND;
        }
    }
    if (groups == 0)
        return VOX_OK;
    size_t global = groups * ls;
    cl_int e = g_cl.clEnqueueNDRangeKernel(d->queue, k, 1, NULL, &global, &ls, 0, NULL, NULL);
    if (e == CL_SUCCESS && d->out_of_order)
        e = g_cl.clEnqueueBarrierWithWaitList(d->queue, 0, NULL, NULL);
    if (e != CL_SUCCESS) {
        vox_log(d->log, level, "opencl: %s: launch of %zu groups x %zu failed (%s, %d)", name, groups, ls,
                cl_err_name(e), e);
        return cl_status(e);
    }
    return VOX_OK;
}

static vox_status launch(cl_dev *d, cl_kernel k, const char *name, const argbuf *b, size_t groups, size_t ls)
{
    return launch_at(d, k, name, b, groups, ls, VOX_LOG_ERROR);
}

/* Work-groups for a grid-stride loop over `rows`. */
static size_t groups_for(int64_t rows)
{
    const int64_t cap = (int64_t)1 << 20;
    return rows <= 0 ? 0 : (size_t)(rows < cap ? rows : cap);
}

static size_t row_ls(int64_t D) { return D >= 128 ? 128 : D >= 64 ? 64 : 32; }

static size_t esz(vox_dtype t) { return t == VOX_F32 ? 4 : 2; }

static vox_status ops_prog(cl_dev *d, vox_dtype dt, cl_prog **p)
{
    return get_prog(d, PROG_OPS, (int)dt, 0, 0, 0, 0, p);
}

/* --------------------------------------------------------------------- ops */

static vox_status cl_permute_to(void *devp, const vox_op_dims *dm, const vox_op_permute_to *p)
{
    cl_dev *d = devp;
    cl_prog *pr = NULL;
    vox_status st = ops_prog(d, dm->dtype, &pr);
    if (st)
        return st;
    int64_t S = dm->n_blocks * dm->block_volume, rows = dm->batch * dm->heads * S;
    size_t es = esz(dm->dtype);
    argbuf b = {0};
    arg_ref(&b, p->src.ref, es);
    arg_long(&b, p->src.stride_batch);
    arg_long(&b, p->src.stride_head);
    arg_long(&b, p->src.stride_token);
    arg_ref(&b, p->dst, es);
    arg_ref(&b, p->slot_token, 4);
    arg_long(&b, dm->heads);
    arg_long(&b, S);
    arg_int(&b, (int)dm->head_dim);
    arg_long(&b, rows);
    return launch(d, pr->kernels[K_PERMUTE_TO], "permute_to_blocks", &b, groups_for(rows), row_ls(dm->head_dim));
}

static vox_status cl_permute_from(void *devp, const vox_op_dims *dm, const vox_op_permute_from *p)
{
    cl_dev *d = devp;
    cl_prog *pr = NULL;
    vox_status st = ops_prog(d, dm->dtype, &pr);
    if (st)
        return st;
    int64_t S = dm->n_blocks * dm->block_volume, rows = dm->batch * dm->heads * dm->tokens;
    int has_lse = p->lse_src.buf && p->lse_dst.ref.buf;
    size_t es = esz(dm->dtype);
    argbuf b = {0};
    arg_ref(&b, p->src, es);
    arg_ref(&b, has_lse ? p->lse_src : (vox_bref){NULL, 0}, 4);
    arg_ref(&b, p->dst.ref, es);
    arg_long(&b, p->dst.stride_batch);
    arg_long(&b, p->dst.stride_head);
    arg_long(&b, p->dst.stride_token);
    arg_ref(&b, has_lse ? p->lse_dst.ref : (vox_bref){NULL, 0}, 4);
    arg_long(&b, has_lse ? p->lse_dst.stride_batch : 0);
    arg_long(&b, has_lse ? p->lse_dst.stride_head : 0);
    arg_long(&b, has_lse ? p->lse_dst.stride_token : 0);
    arg_ref(&b, p->token_slot, 4);
    arg_ref(&b, p->fill_src, 4);
    arg_int(&b, has_lse);
    arg_int(&b, p->fill_src.buf != NULL);
    arg_long(&b, dm->heads);
    arg_long(&b, dm->tokens);
    arg_long(&b, S);
    arg_int(&b, (int)dm->head_dim);
    arg_long(&b, rows);
    return launch(d, pr->kernels[K_PERMUTE_FROM], "permute_from_blocks", &b, groups_for(rows), row_ls(dm->head_dim));
}

static vox_status cl_block_means(void *devp, const vox_op_dims *dm, const vox_op_block_means *p)
{
    cl_dev *d = devp;
    cl_prog *pr = NULL;
    vox_status st = ops_prog(d, dm->dtype, &pr);
    if (st)
        return st;
    int64_t rows = dm->batch * dm->heads * dm->n_blocks;
    int has_kept = p->kept_count.buf != NULL;
    argbuf b = {0};
    arg_ref(&b, p->x, esz(dm->dtype));
    arg_ref(&b, dm->block_valid, 4);
    arg_ref(&b, has_kept ? p->kept_count : (vox_bref){NULL, 0}, 4);
    arg_ref(&b, has_kept ? p->kept_rows : (vox_bref){NULL, 0}, 4);
    arg_int(&b, has_kept);
    arg_ref(&b, p->out, 4);
    arg_long(&b, dm->n_blocks);
    arg_int(&b, (int)dm->block_volume);
    arg_int(&b, (int)dm->head_dim);
    arg_long(&b, rows);
    return launch(d, pr->kernels[K_BLOCK_MEANS], "block_means", &b, groups_for(rows), row_ls(dm->head_dim));
}

static vox_status cl_kv_select(void *devp, const vox_op_dims *dm, const vox_op_kv_select *p)
{
    cl_dev *d = devp;
    cl_prog *pr = NULL;
    vox_status st = ops_prog(d, dm->dtype, &pr);
    if (st)
        return st;
    int64_t NB = dm->n_blocks, NBv = dm->n_video_blocks, rows = dm->batch * dm->heads * NB;
    size_t rs = d->fp64 ? 8 : 4;
    size_t real_bytes = rs * (size_t)(2 * NBv + 1), uchar_bytes = (size_t)NB + 16;
    size_t ls = 128;
    /* keep 1 KiB of local memory for the kernel's own variables */
    int local = real_bytes + uchar_bytes + 1024 <= d->local_mem;
    size_t groups = groups_for(rows);
    argbuf b = {0};
    arg_ref(&b, p->qbar, 4);
    arg_ref(&b, p->kbar, 4);
    arg_ref(&b, p->kv_count, 4);
    arg_ref(&b, p->kv_cols, 4);
    if (local) {
        arg_local(&b, real_bytes);
        arg_local(&b, uchar_bytes);
        arg_long(&b, 0);
        arg_long(&b, 0);
    } else {
        if (groups > 1024)
            groups = 1024;
        size_t stride_r = (real_bytes + 255) / 256 * 256, stride_u = (uchar_bytes + 255) / 256 * 256;
        if (d->scratch_bytes < groups * stride_r || d->scratch_u_bytes < groups * stride_u) {
            if (d->scratch)
                g_cl.clReleaseMemObject(d->scratch);
            if (d->scratch_u)
                g_cl.clReleaseMemObject(d->scratch_u);
            d->scratch = d->scratch_u = NULL;
            d->scratch_bytes = d->scratch_u_bytes = 0;
            cl_int e, e2 = CL_SUCCESS;
            d->scratch = g_cl.clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, groups * stride_r, NULL, &e);
            if (d->scratch)
                d->scratch_u = g_cl.clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, groups * stride_u, NULL, &e2);
            if (!d->scratch || !d->scratch_u) {
                cl_int err = e != CL_SUCCESS ? e : e2;
                if (d->scratch)
                    g_cl.clReleaseMemObject(d->scratch);
                d->scratch = NULL;
                return vox_fail(d->log, cl_status(err), "opencl: kv_select scratch of %zu bytes failed (%s, %d)",
                                groups * (stride_r + stride_u), cl_err_name(err), err);
            }
            d->scratch_bytes = groups * stride_r;
            d->scratch_u_bytes = groups * stride_u;
        }
        b.mems[b.nm] = d->scratch;
        arg_raw(&b, sizeof(cl_mem), &b.mems[b.nm++]);
        b.mems[b.nm] = d->scratch_u;
        arg_raw(&b, sizeof(cl_mem), &b.mems[b.nm++]);
        arg_long(&b, (int64_t)(stride_r / rs));
        arg_long(&b, (int64_t)stride_u);
    }
    arg_real(&b, d, p->scale);
    arg_int(&b, (int)p->rule);
    arg_real(&b, d, p->tau);
    arg_int(&b, p->topk);
    arg_real(&b, d, p->z);
    arg_int(&b, p->min_blocks);
    arg_long(&b, NB);
    arg_long(&b, NBv);
    arg_int(&b, (int)dm->head_dim);
    arg_long(&b, rows);
    return launch(d, pr->kernels[local ? K_KV_LOCAL : K_KV_GLOBAL], "kv_select", &b, groups, ls);
}

static vox_status cl_sample_rows(void *devp, const vox_op_dims *dm, const vox_op_sample_rows *p)
{
    cl_dev *d = devp;
    cl_prog *pr = NULL;
    vox_status st = ops_prog(d, dm->dtype, &pr);
    if (st)
        return st;
    int64_t total = dm->batch * dm->heads * p->n_rows;
    size_t es = esz(dm->dtype);
    argbuf b = {0};
    arg_ref(&b, p->q, es);
    arg_ref(&b, p->k, es);
    arg_ref(&b, p->v, es);
    arg_ref(&b, p->rows, 4);
    arg_ref(&b, p->block_coord, 4);
    arg_ref(&b, dm->block_valid, 4);
    arg_long(&b, p->n_rows);
    arg_long(&b, dm->n_blocks);
    arg_int(&b, (int)dm->block_volume);
    arg_int(&b, (int)dm->head_dim);
    arg_int(&b, p->frame_blocks);
    arg_int(&b, p->space_blocks);
    arg_int(&b, p->sink);
    arg_real(&b, d, p->scale);
    arg_ref(&b, p->out, 4);
    arg_long(&b, total);
    return launch(d, pr->kernels[K_SAMPLE_ROWS], "sample_rows_attention", &b, groups_for(total), 64);
}

static vox_status cl_query_select(void *devp, const vox_op_dims *dm, const vox_op_query_select *p)
{
    cl_dev *d = devp;
    cl_prog *pr = NULL;
    vox_status st = ops_prog(d, dm->dtype, &pr);
    if (st)
        return st;
    int64_t total = dm->batch * dm->heads * dm->n_blocks;
    argbuf b = {0};
    arg_ref(&b, p->q, esz(dm->dtype));
    arg_ref(&b, p->win_ptr, 4);
    arg_ref(&b, p->windows, 4);
    arg_ref(&b, dm->block_valid, 4);
    arg_ref(&b, p->kept_count, 4);
    arg_ref(&b, p->kept_rows, 4);
    arg_ref(&b, p->fill_src, 4);
    arg_long(&b, dm->n_blocks);
    arg_long(&b, dm->n_video_blocks);
    arg_int(&b, (int)dm->block_volume);
    arg_int(&b, (int)dm->head_dim);
    arg_long(&b, total);
    size_t ls = dm->block_volume < 64 ? (size_t)dm->block_volume : 64;
    return launch(d, pr->kernels[K_QUERY_SELECT], "query_select", &b, groups_for(total), ls < 32 ? 32 : ls);
}

/* Attention tile shape for head dim hd that fits the device's local memory. */
static int attn_tiles(const cl_dev *d, int hd, int V, int *bm, int *bn, int *ls)
{
    static const int cand[][2] = {{32, 32}, {32, 16}, {16, 16}};
    int L = 128;
    if (d->max_wg < (size_t)L)
        L = 64;
    for (size_t c = 0; c < sizeof cand / sizeof cand[0]; c++) {
        int m = cand[c][0] < V ? cand[c][0] : V, n = cand[c][1];
        int tpr = L / m;
        if (tpr < 1 || n % tpr || hd % tpr)
            continue;
        size_t bytes = 4 * ((size_t)(m + n) * (size_t)(hd + 1) + (size_t)m * (size_t)(n + 1) + (size_t)L) +
                       4 * (size_t)(m + n) + 512;
        if (bytes > d->local_mem)
            continue;
        *bm = m, *bn = n, *ls = L;
        return 1;
    }
    return 0;
}

/* The attention arguments, shared by both kernels. */
static void attn_args(argbuf *b, const vox_op_dims *dm, const vox_op_attention_forward *p, int tiles, int64_t total)
{
    int has_kept = p->kept_count.buf != NULL;
    size_t es = esz(dm->dtype);
    arg_ref(b, p->q, es);
    arg_ref(b, p->k, es);
    arg_ref(b, p->v, es);
    arg_ref(b, p->o, es);
    arg_ref(b, p->lse, 4);
    arg_ref(b, p->kv_start, 4);
    arg_ref(b, p->kv_count, 4);
    arg_ref(b, p->kv_cols, 4);
    arg_ref(b, has_kept ? p->kept_count : (vox_bref){NULL, 0}, 4);
    arg_ref(b, has_kept ? p->kept_rows : (vox_bref){NULL, 0}, 4);
    arg_int(b, has_kept);
    arg_ref(b, dm->block_valid, 4);
    arg_long(b, dm->n_blocks);
    arg_int(b, (int)dm->block_volume);
    arg_int(b, tiles);
    arg_long(b, total);
    arg_float(b, p->scale);
}

static size_t attn_groups(int64_t total)
{
    const int64_t cap = (int64_t)1 << 22;
    return (size_t)(total < cap ? total : cap);
}

/* Tensor-core attention (kernels/attention_mma.cl): f16/bf16, head dim <= 128,
 * q/k/v/o rows 16-byte aligned (the kernel copies 16 bytes at a time).
 * Returns VOX_ERR_UNSUPPORTED where the portable kernel has to run: not
 * applicable, or the fast path failed (then it stays off for this device). */
static vox_status attn_mma(cl_dev *d, const vox_op_dims *dm, const vox_op_attention_forward *p)
{
    int hd = (int)dm->head_dim, V = (int)dm->block_volume;
    if (!d->mma || dm->dtype == VOX_F32 || hd > 128 || hd % 8)
        return VOX_ERR_UNSUPPORTED;
    const vox_bref *rows[] = {&p->q, &p->k, &p->v, &p->o};
    for (int i = 0; i < 4; i++)
        if (rows[i]->offset % 16)
            return VOX_ERR_UNSUPPORTED;
    /* local memory as declared by the kernel: Q/K tile, V^T tile, slots */
    size_t dp = hd <= 16 ? 16 : hd <= 32 ? 32 : hd <= 64 ? 64 : 128;
    size_t bytes = 2 * (64 * (dp + 8) + (size_t)hd * 72) + 4 * 64 + 8 * 64 + (d->mma == MMA_EMULATED ? 3072 : 0);
    if (bytes > d->local_mem)
        return VOX_ERR_UNSUPPORTED;
    cl_prog *pr = NULL;
    vox_status st = get_prog(d, PROG_ATTN_MMA, (int)dm->dtype, hd, 64, 64, 128, &pr);
    if (!st) {
        int tiles = (V + 63) / 64;
        int64_t total = dm->batch * dm->heads * dm->n_blocks * tiles;
        argbuf b = {0};
        attn_args(&b, dm, p, tiles, total);
        st = launch_at(d, pr->kernels[0], "attention_forward (tensor cores)", &b, attn_groups(total), 128,
                       VOX_LOG_WARN);
        if (!st)
            return VOX_OK;
    }
    vox_log(d->log, VOX_LOG_WARN, "opencl: tensor-core attention failed (%s); the portable kernel runs from now on",
            vox_status_string(st));
    d->mma = MMA_OFF;
    return VOX_ERR_UNSUPPORTED;
}

static vox_status cl_attention(void *devp, const vox_op_dims *dm, const vox_op_attention_forward *p)
{
    cl_dev *d = devp;
    if (attn_mma(d, dm, p) == VOX_OK)
        return VOX_OK;
    int bm, bn, ls, hd = (int)dm->head_dim, V = (int)dm->block_volume;
    if (!attn_tiles(d, hd, V, &bm, &bn, &ls))
        return vox_fail(d->log, VOX_ERR_UNSUPPORTED, "opencl: head_dim %d does not fit local memory (%llu bytes)", hd,
                        (unsigned long long)d->local_mem);
    cl_prog *pr = NULL;
    vox_status st = get_prog(d, PROG_ATTN, (int)dm->dtype, hd, bm, bn, ls, &pr);
    if (st)
        return st;
    int tiles = (V + bm - 1) / bm;
    int64_t total = dm->batch * dm->heads * dm->n_blocks * tiles;
    argbuf b = {0};
    attn_args(&b, dm, p, tiles, total);
    return launch(d, pr->kernels[0], "attention_forward", &b, attn_groups(total), (size_t)ls);
}

static const vox_backend cl_backend = {
    .kind = VOX_BACKEND_OPENCL,
    .name = "opencl",
    .probe = cl_probe,
    .open = cl_open,
    .close = cl_close,
    .buffer_alloc = cl_alloc,
    .buffer_wrap = cl_wrap,
    .buffer_free = cl_free,
    .buffer_write = cl_write,
    .buffer_read = cl_read,
    .finish = cl_finish,
    .timer_begin = cl_timer_begin,
    .timer_end = cl_timer_end,
    .permute_to = cl_permute_to,
    .permute_from = cl_permute_from,
    .block_means = cl_block_means,
    .kv_select = cl_kv_select,
    .sample_rows = cl_sample_rows,
    .query_select = cl_query_select,
    .attention_forward = cl_attention,
};

const vox_backend *vox_backend_opencl(void) { return &cl_backend; }
