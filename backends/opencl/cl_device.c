/* The OpenCL devices: probe (every platform's available devices that have
 * a compiler, described for the registry), open on a new or the caller's
 * queue (device limits, fp64, the tensor-core attention decision) and
 * close. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_internal.h"
#include "loader.h"

/* Devices found by probe, in backend_index order. */
#define CL_MAX_DEVICES 32
static cl_device_id g_devices[CL_MAX_DEVICES];
static int g_device_count;

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

vox_status cl_probe(vox_device_desc *descs, int max, int *count, char *reason, size_t rn)
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

void cl_close(void *devp)
{
    cl_dev *d = devp;
    if (!d)
        return;
    if (d->queue)
        g_cl.clFinish(d->queue);
    for (int i = 0; i < d->n_progs; i++)
        cl_prog_release(&d->progs[i]);
    if (d->t0)
        g_cl.clReleaseEvent(d->t0);
    if (d->scratch)
        g_cl.clReleaseMemObject(d->scratch);
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
    /* kv_select's scans by warp shuffles (shfl.sync: sm_70+); "0" off, "emu"
     * emulated on any device (tests) */
    const char *ks = getenv("VOXATTN_OPENCL_KV_SHFL");
    if (ks && !strcmp(ks, "emu"))
        d->kv_shfl = 2;
    else
        d->kv_shfl = (ks && *ks && !strcmp(ks, "0")) || !nv || major < 7 ? 0 : 1;
    /* kv_select's TOPK by a warp per row (f64 devices; warp ops by inline
     * PTX, sm_70+); "0" off, "emu" emulated on any device (tests) */
    const char *kw = getenv("VOXATTN_OPENCL_KV_WARP");
    if (kw && !strcmp(kw, "emu"))
        d->kv_warp = 2;
    else
        d->kv_warp = (kw && *kw && !strcmp(kw, "0")) || !nv || major < 7 ? 0 : 1;
    /* where the warp per row runs, TOPK on f32 scores with a certificate (kv_select_f32.cl); "1": the
     * exact f64 scores of every row (kv_select_warp.cl, session 14's); VOXATTN_OPENCL_KV_FALLBACK (tests
     * only): every row the certificate would take to its exact fallback */
    d->kv_f32k = !vox_env_flag("VOXATTN_OPENCL_KV_TOPK_F64");
    d->kv_fs_gemm = vox_env_flag("VOXATTN_OPENCL_KV_FS_GEMM"); /* A/B: vox_kv_select_fs in register tiles (KF_GEMM) */
    /* CUMULATIVE too, unless "0" (the default since session 35: H200, hunyuan-720p tau 0.9 build 4.629 ms
     * against 11.374 on the exact work-group kernel, wan-1.3b-480p 0.379 against 0.797) */
    const char *kc = getenv("VOXATTN_OPENCL_KV_CUM_F32");
    d->kv_cum_f32 = !(kc && *kc && !strcmp(kc, "0"));
    d->kv_fallback = vox_env_flag("VOXATTN_OPENCL_KV_FALLBACK");
    const char *kwv = getenv("VOXATTN_OPENCL_KV_WAVE"); /* tests: several waves at the test cases' sizes */
    d->kv_wave = kwv && *kwv ? atoi(kwv) : 0;
    d->kv_wave = d->kv_wave > 0 ? d->kv_wave : 0;
    vox_log(d->log, VOX_LOG_DEBUG, "opencl: kv_select scans %s",
            d->kv_shfl == 1 ? "by warp shuffles (inline PTX shfl.sync)"
            : d->kv_shfl == 2 ? "by warp shuffles emulated (VOXATTN_OPENCL_KV_SHFL=emu)"
                              : "in local memory (portable)");
    if (d->mma == MMA_PTX)
        vox_log(d->log, VOX_LOG_DEBUG, "opencl: f16/bf16 attention on tensor cores (inline PTX mma.sync, sm_%u%u)",
                major, minor);
    else if (d->mma == MMA_EMULATED)
        vox_log(d->log, VOX_LOG_DEBUG,
                "opencl: f16/bf16 attention by the tensor-core kernel with its PTX emulated "
                "(VOXATTN_OPENCL_MMA_EMULATE; slow, for tests)");
    else
        vox_log(d->log, VOX_LOG_DEBUG, "opencl: attention uses the portable kernel only (%s)", why);
    /* sample_rows on tensor cores wherever the attention kernel may run
     * (also emulated); VOXATTN_OPENCL_SR_MMA=0: the portable kernel */
    const char *sm = getenv("VOXATTN_OPENCL_SR_MMA"), *srr = getenv("VOXATTN_OPENCL_SRM_MAXRREG");
    d->srm = sm && *sm && !strcmp(sm, "0") ? MMA_OFF : d->mma;
    d->srm_maxrreg = srr && d->nv_opts ? atoi(srr) : 0;
    /* unset or "2": a tile's loads issued during the previous tile's products, with the tile walk run ahead
     * (SRM_WALK: each tile's slot-table rows a tile early, the next block's valid count a block early; H100,
     * hunyuan-720p SVG build 3.085 ms against 3.603, session 44); "1": the loads as before, with the walk's
     * loads waited for in turn (H200, wan-1.3b, profiled: 0.518 ms against 0.569 for "0"); "0": a tile's loads
     * after its first barrier */
    const char *spf = getenv("VOXATTN_OPENCL_SRM_PREFETCH");
    d->srm_prefetch = spf && *spf && !strcmp(spf, "0") ? 0 : spf && !strcmp(spf, "1") ? 1 : 2;
    if (d->srm_maxrreg < 0 || d->srm_maxrreg > 255)
        d->srm_maxrreg = 0;
}

vox_status cl_open(int index, const vox_native_queue *native, const vox_logger *log, void **out)
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
    d->profile = d->profiling && vox_env_flag("VOXATTN_OPENCL_PROFILE");
    /* kv_select's staged kbar reads pay on GPUs; on CPU devices (PoCL) the
     * row reads are as fast and the staged kernel takes 4x as long to build */
    const char *rr = getenv("VOXATTN_OPENCL_KV_ROWREAD");
    cl_device_type type = 0;
    if (g_cl.clGetDeviceInfo(d->device, CL_DEVICE_TYPE, sizeof type, &type, NULL) != CL_SUCCESS)
        type = 0;
    d->kv_rowread = rr && *rr ? atoi(rr) != 0 : (type & CL_DEVICE_TYPE_CPU) != 0;
    d->qs_global = vox_env_flag("VOXATTN_OPENCL_QS_GLOBAL");
    d->qs_old = vox_env_flag("VOXATTN_OPENCL_QS_OLD");
    /* query_select's kernel on f64 devices: unset or 1 the certified f32 one, 0 the exact f64 one
     * (session 14's), 2 (or "exact") the certified one with every decision on its exact path (tests) */
    const char *qsc = getenv("VOXATTN_OPENCL_QS_CERT");
    d->qs_cert = !qsc || !*qsc ? 1 : strcmp(qsc, "exact") == 0 ? 2 : atoi(qsc) == 0 ? 0 : atoi(qsc) == 2 ? 2 : 1;
    d->qs_rsq = vox_env_flag("VOXATTN_OPENCL_QS_RSQ"); /* the certified cosines without f64 division or sqrt */
    /* "N": query_select's norm and dot loops unrolled N times (the loads of later elements ahead of the
     * sequential f64 sums); unset or 0: the compiler's choice (H200, session 14: 8 made no measurable
     * difference to the keep .5 build) */
    const char *qsu = getenv("VOXATTN_OPENCL_QS_UNROLL");
    d->qs_unroll = qsu && *qsu ? atoi(qsu) : 0;
    d->qs_unroll = d->qs_unroll >= 0 && d->qs_unroll <= 32 ? d->qs_unroll : 0;
    d->sr_unroll = vox_env_flag("VOXATTN_OPENCL_SR_UNROLL");
    d->sr_copies = vox_env_flag("VOXATTN_OPENCL_SR_COPIES");
    d->qs_copies = vox_env_flag("VOXATTN_OPENCL_QS_COPIES");
    d->sr_merge_old = vox_env_flag("VOXATTN_OPENCL_SR_MERGE_OLD");
    const char *bmu = getenv("VOXATTN_OPENCL_BM_UNROLL");
    d->bm_unroll = bmu ? atoi(bmu) : 0;
    d->bm_unroll = d->bm_unroll >= 1 && d->bm_unroll <= 32 ? d->bm_unroll : 0;
    d->permute_narrow = vox_env_flag("VOXATTN_OPENCL_PERMUTE_NARROW");
    d->nv_verbose = d->nv_opts && vox_env_flag("VOXATTN_OPENCL_NV_VERBOSE");
    const char *orr = getenv("VOXATTN_OPENCL_OPS_MAXRREG"), *krr = getenv("VOXATTN_OPENCL_KV_MAXRREG");
    d->ops_maxrreg = orr && d->nv_opts ? atoi(orr) : 0;
    if (d->ops_maxrreg < 0 || d->ops_maxrreg > 255)
        d->ops_maxrreg = 0;
    /* unset on NVIDIA: 80 registers, three work-groups of 256 per multiprocessor
     * (H200, session 12, wan-1.3b: kv_select 0.595 ms against 0.698 at the
     * compiler's 126 registers, 56 bytes spilled); "0": the compiler's choice */
    d->kv_maxrreg = !d->nv_opts ? 0 : krr && *krr ? atoi(krr) : CL_NV_KV_MAXRREG;
    if (d->kv_maxrreg < 0 || d->kv_maxrreg > 255)
        d->kv_maxrreg = 0;
    /* PROG_KVF (TOPK on f32 scores): the compiler's choice unless set (its scores pass holds 64 f32
     * accumulators per item) */
    const char *frr = getenv("VOXATTN_OPENCL_KVF_MAXRREG");
    d->kvf_maxrreg = d->nv_opts && frr && *frr ? atoi(frr) : 0;
    if (d->kvf_maxrreg < 0 || d->kvf_maxrreg > 255)
        d->kvf_maxrreg = 0;
    const char *wrr = getenv("VOXATTN_OPENCL_KVW_MAXRREG"), *fma = getenv("VOXATTN_OPENCL_KV_FMA");
    d->kvw_maxrreg = !d->nv_opts ? 0 : wrr && *wrr ? atoi(wrr) : CL_NV_KV_MAXRREG;
    if (d->kvw_maxrreg < 0 || d->kvw_maxrreg > 255)
        d->kvw_maxrreg = 0;
    /* phase 1's f64 products are exact (two floats), so fma gives the same
     * sums with half the f64 operations ("1"; "0": a product and a sum), and
     * the staged phase 1 may load the next kbar chunk during this chunk's
     * products (VOXATTN_OPENCL_KV_PREFETCH "1"; "0": after the barrier).
     * Unset (-1): each program as measured on an H200 in session 14: both in
     * vox_kv_select_warp (top-k build 0.578 ms), neither in vox_kv_select
     * (both there: tau build 0.835 ms against 0.780) */
    const char *kpf = getenv("VOXATTN_OPENCL_KV_PREFETCH");
    d->kv_fma = fma && *fma ? strcmp(fma, "0") != 0 : -1;
    d->kv_prefetch = kpf && *kpf ? strcmp(kpf, "0") != 0 : -1;
    const char *sr = getenv("VOXATTN_OPENCL_SR_SLOTS");
    d->sr_slots = sr ? atoi(sr) : 0;
    d->sr_slots = d->sr_slots > 0 && d->sr_slots <= 65536 ? d->sr_slots : 0;
    if (vox_env_flag("VOXATTN_OPENCL_PROFILE") && !d->profiling)
        vox_log(log, VOX_LOG_WARN, "opencl: VOXATTN_OPENCL_PROFILE ignored: the queue has no profiling");
    *out = d;
    return VOX_OK;
}

