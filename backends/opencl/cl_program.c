/* OpenCL programs: the kernel sources embedded at build time
 * (core/kernel_args.h, then kernels/common.cl, then the sources each op file
 * lists for the program) built per device and cached per context (oldest evicted first), kernel
 * lookup; then the kernel-argument helper and the launch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_internal.h"
#include "vox_cl_kernels.h"

/* Every kernel {program, name}, by K_*, and every program source {program,
 * file or text}, in op-table order: the op files' lists (cl_internal.h). */
#define CL_K_ROW(prog, e, name) [e] = {prog, name},
static const struct {
    int prog;
    const char *name;
} g_kernels[K_COUNT] = {CL_ALL_KERNELS(CL_K_ROW)};
#undef CL_K_ROW
#define CL_PART_ROW(prog, part) {prog, part},
static const struct {
    int prog;
    const char *part; /* an embedded file's name, or source text where it starts with '\n' */
} g_parts[] = {CL_ALL_PARTS(CL_PART_ROW)};
#undef CL_PART_ROW
/* What each program is (for the log) and its extra build options. */
#define CL_PROG_WHAT(e, what, options) [e] = what,
static const char *const g_prog_what[PROG_COUNT] = {[PROG_OPS] = "op", CL_ALL_PROGRAMS(CL_PROG_WHAT)};
#undef CL_PROG_WHAT
#define CL_PROG_OPTIONS(e, what, options) [e] = options,
static const char *const g_prog_options[PROG_COUNT] = {[PROG_OPS] = "", CL_ALL_PROGRAMS(CL_PROG_OPTIONS)};
#undef CL_PROG_OPTIONS
#define CL_MAX_SOURCES 24

/* Ahead of everything: core/kernel_args.h picks its OpenCL section by
 * __OPENCL_VERSION__, which device compilers define; an OpenCL C compiler
 * that defines only __OPENCL_C_VERSION__ (clang on its own) gets it too. */
static const char g_prelude[] = "\n#if !defined(__OPENCL_VERSION__) && defined(__OPENCL_C_VERSION__)\n"
                                "#define __OPENCL_VERSION__ __OPENCL_C_VERSION__\n#endif\n";

static const struct vox_cl_blob *blob(const char *name)
{
    for (size_t i = 0; i < vox_cl_count; i++)
        if (!strcmp(vox_cl_table[i].name, name))
            return &vox_cl_table[i];
    return NULL;
}

void cl_prog_release(cl_prog *p)
{
    for (int i = 0; i < K_COUNT; i++)
        if (p->kernels[i])
            g_cl.clReleaseKernel(p->kernels[i]);
    if (p->program)
        g_cl.clReleaseProgram(p->program);
    memset(p, 0, sizeof *p);
}

const char *cl_kernel_name(int k) { return g_kernels[k].name; }

vox_status cl_mma_give_up(cl_dev *d, int *mode, const char *what, vox_status why)
{
    vox_log(d->log, VOX_LOG_WARN, "opencl: tensor-core %s failed (%s); the portable kernel runs from now on", what,
            vox_status_string(why));
    *mode = MMA_OFF;
    return VOX_ERR_UNSUPPORTED;
}

vox_status cl_get_prog(cl_dev *d, int kind, int dtype, int hd, int bm, int bn, int ls, cl_prog **out)
{
    for (int i = 0; i < d->n_progs; i++) {
        cl_prog *p = &d->progs[i];
        if (p->kind == kind && p->dtype == dtype && p->hd == hd && p->bm == bm && p->bn == bn && p->ls == ls) {
            *out = p;
            return VOX_OK;
        }
    }
    if (d->n_progs == CL_MAX_PROGS) { /* evict the oldest */
        cl_prog_release(&d->progs[0]);
        memmove(&d->progs[0], &d->progs[1], sizeof(cl_prog) * (CL_MAX_PROGS - 1));
        memset(&d->progs[CL_MAX_PROGS - 1], 0, sizeof(cl_prog));
        d->n_progs--;
    }
    const int tc = kind == PROG_ATTN_MMA || kind == PROG_SR_MMA; /* a tensor-core program */
    /* those with a fallback: the tensor-core programs, kv_select's warp-per-row one */
    const vox_log_level fail_level =
        tc || kind == PROG_KVW || kind == PROG_KVF || kind == PROG_KVC ? VOX_LOG_WARN : VOX_LOG_ERROR;
    const char *src[CL_MAX_SOURCES];
    size_t len[CL_MAX_SOURCES];
    const char *files[CL_MAX_SOURCES] = {g_prelude, "kernel_args.h", "common.cl"};
    cl_uint n = 3;
    for (size_t i = 0; i < sizeof g_parts / sizeof g_parts[0]; i++)
        if (g_parts[i].prog == kind) {
            if (n == CL_MAX_SOURCES)
                return vox_fail(d->log, VOX_ERR_BACKEND, "opencl: the %s program has over %d sources",
                                g_prog_what[kind], CL_MAX_SOURCES);
            files[n++] = g_parts[i].part;
        }
    for (cl_uint i = 0; i < n; i++) {
        int text = files[i][0] == '\n';
        const struct vox_cl_blob *b = text ? NULL : blob(files[i]);
        if (!text && !b)
            return vox_fail(d->log, VOX_ERR_BACKEND, "opencl: embedded kernel source %s missing", files[i]);
        src[i] = b ? (const char *)b->data : files[i];
        len[i] = b ? b->size : strlen(files[i]);
    }
    char opts[384];
    if (tc) {
        /* -cl-nv-verbose: the build log then reports registers and spills */
        char rr[40] = "";
        const int maxrreg = kind == PROG_ATTN_MMA ? d->mma_maxrreg : d->srm_maxrreg;
        const int emu = (kind == PROG_ATTN_MMA ? d->mma : d->srm) == MMA_EMULATED;
        if (maxrreg > 0)
            snprintf(rr, sizeof rr, " -cl-nv-maxrregcount=%d", maxrreg);
        snprintf(opts, sizeof opts, "-cl-std=CL1.2 -DVOX_DTYPE=%d -DVOX_USE_FP64=0 -DHD=%d -DVOX_MMA_EMU=%d%s%s%s",
                 dtype, hd, emu,
                 kind != PROG_SR_MMA ? ""
                 : d->srm_prefetch == 2 ? " -DSRM_PREFETCH=1 -DSRM_WALK=1"
                 : d->srm_prefetch ? " -DSRM_PREFETCH=1"
                                   : "",
                 d->nv_opts ? " -cl-nv-verbose" : "", rr);
    } else {
        /* the op programs (PROG_OPS, kv_select's PROG_KV) use fp64 where the device has it */
        const int f32k = kind == PROG_KVF || kind == PROG_KVC; /* kv_select_f32.cl's programs */
        const int kv = kind == PROG_KV || kind == PROG_KVW || f32k, ops = kind == PROG_OPS || kv;
        const int warp = kind == PROG_KVW || f32k; /* the programs with kv_select_warp.cl */
        const int maxrreg = kind == PROG_OPS ? d->ops_maxrreg
                            : kind == PROG_KV ? d->kv_maxrreg
                            : kind == PROG_KVW ? d->kvw_maxrreg
                            : f32k ? d->kvf_maxrreg
                                               : 0;
        char rr[40] = "", shfl[96] = "", bmu[96] = "";
        if (maxrreg > 0)
            snprintf(rr, sizeof rr, " -cl-nv-maxrregcount=%d", maxrreg);
        if (kv)
            snprintf(shfl, sizeof shfl, "%s%s%s%s%s%s%s", d->kv_shfl == 1 ? " -DKV_SHFL=1" : d->kv_shfl == 2 ? " -DKV_SHFL=2" : "",
                     (d->kv_fma < 0 ? kind == PROG_KVW : d->kv_fma) ? " -DKV_FMA=1" : "",
                     (d->kv_prefetch < 0 ? kind == PROG_KVW : d->kv_prefetch) ? " -DKV_PREFETCH=1" : "",
                     warp && d->kv_warp == 1 ? " -DKV_WARP=1" : "",
                     warp && d->kv_warp == 2 ? " -DKV_WARP=2" : "",
                     f32k && d->kv_fallback ? " -DKF_FALLALL=1" : "", f32k && d->kv_fs_gemm ? " -DKF_GEMM=1" : "");
        if (kind == PROG_OPS && d->bm_unroll)
            snprintf(bmu, sizeof bmu, " -DBM_UNROLL=%d -DQS_UNROLL=%d -DQS_CERT=%d -DQS_RSQ=%d", d->bm_unroll,
                     d->qs_unroll, d->qs_cert, d->qs_rsq);
        else if (kind == PROG_OPS)
            snprintf(bmu, sizeof bmu, " -DQS_UNROLL=%d -DQS_CERT=%d -DQS_RSQ=%d", d->qs_unroll, d->qs_cert, d->qs_rsq);
        snprintf(opts, sizeof opts, "-cl-std=CL1.2 -DVOX_DTYPE=%d -DVOX_USE_FP64=%d -DHD=%d -DBM=%d -DBN=%d -DLS=%d%s%s%s%s%s%s%s%s%s%s",
                 dtype, ops ? d->fp64 : 0, hd, bm, bn, ls, g_prog_options[kind], bmu,
                 kv && d->kv_rowread ? " -DKV_ROWREAD=1" : "", shfl,
                 kind == PROG_OPS && d->qs_global ? " -DQS_GLOBAL=1" : "",
                 kind == PROG_OPS && d->qs_old ? " -DQS_NORMS=0" : "",
                 kind == PROG_OPS && d->sr_unroll ? " -DSR_UNROLLED=1" : "",
                 kind == PROG_OPS && d->sr_merge_old ? " -DSR_MERGE_OLD=1" : "", d->nv_verbose ? " -cl-nv-verbose" : "", rr);
    }
    cl_int e;
    cl_program prog = g_cl.clCreateProgramWithSource(d->ctx, n, src, len, &e);
    if (!prog || e != CL_SUCCESS)
        return vox_fail(d->log, cl_status(e), "opencl: clCreateProgramWithSource failed (%s, %d)", cl_err_name(e), e);
    double t = cl_now_ms();
    e = g_cl.clBuildProgram(prog, 1, &d->device, opts, NULL, NULL);
    /* the build log on failure, and of the tensor-core program always (debug) */
    char *blog = NULL;
    if (e != CL_SUCCESS || tc || d->nv_verbose) {
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
                g_prog_what[kind], opts, cl_err_name(e), e, blog ? blog : "(unavailable)");
        free(blog);
        g_cl.clReleaseProgram(prog);
        return e == CL_BUILD_PROGRAM_FAILURE || e == CL_INVALID_BUILD_OPTIONS || e == CL_COMPILER_NOT_AVAILABLE
                   ? VOX_ERR_COMPILE
                   : cl_status(e);
    }
    vox_log(d->log, VOX_LOG_DEBUG, "opencl: built %s kernels (%s) in %.0f ms", g_prog_what[kind], opts,
            cl_now_ms() - t);
    if (blog && blog[0])
        vox_log(d->log, VOX_LOG_DEBUG, "opencl: build log:\n%s", blog);
    free(blog);
    cl_prog *p = &d->progs[d->n_progs];
    memset(p, 0, sizeof *p);
    p->kind = kind, p->dtype = dtype, p->hd = hd, p->bm = bm, p->bn = bn, p->ls = ls;
    p->program = prog;
    for (int i = 0; i < K_COUNT; i++) {
        if (g_kernels[i].prog != kind)
            continue;
        const char *name = g_kernels[i].name;
        p->kernels[i] = g_cl.clCreateKernel(prog, name, &e);
        if (!p->kernels[i] || e != CL_SUCCESS) {
            cl_prog_release(p);
            vox_log(d->log, fail_level, "opencl: kernel %s missing (%s, %d)", name, cl_err_name(e), e);
            return VOX_ERR_COMPILE;
        }
    }
    if (tc) {
        /* the kernel needs exactly its work-group (reqd_work_group_size) */
        const int k = kind == PROG_ATTN_MMA ? K_ATTENTION_FORWARD_MMA : K_SAMPLE_ROWS_MMA;
        const size_t need = kind == PROG_ATTN_MMA ? 128 : 256;
        size_t wg = 0;
        cl_ulong lm = 0, pm = 0;
        if (g_cl.clGetKernelWorkGroupInfo(p->kernels[k], d->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) !=
            CL_SUCCESS)
            wg = 0;
        if (g_cl.clGetKernelWorkGroupInfo(p->kernels[k], d->device, CL_KERNEL_LOCAL_MEM_SIZE, sizeof lm, &lm, NULL) !=
            CL_SUCCESS)
            lm = 0;
        if (g_cl.clGetKernelWorkGroupInfo(p->kernels[k], d->device, CL_KERNEL_PRIVATE_MEM_SIZE, sizeof pm, &pm, NULL) !=
            CL_SUCCESS)
            pm = 0;
        vox_log(d->log, VOX_LOG_DEBUG, "opencl: %s hd %d: max work-group %zu, local %llu bytes, private %llu bytes",
                g_kernels[k].name, hd, wg, (unsigned long long)lm, (unsigned long long)pm);
        if (wg < need) {
            cl_prog_release(p);
            vox_log(d->log, fail_level, "opencl: %s allows work-groups of %zu only (%zu needed)", g_kernels[k].name,
                    wg, need);
            return VOX_ERR_COMPILE;
        }
    }
    d->n_progs++;
    *out = p;
    return VOX_OK;
}

/* ---------------------------------------------------------------- arguments */

void cl_kargs_begin(cl_kargs *ka, cl_kernel k, vox_dtype dt)
{
    memset(ka, 0, sizeof *ka);
    ka->kernel = k;
    ka->esize = dt == VOX_F32 ? 4 : 2;
}

void cl_karg_val(cl_kargs *ka, const void *value, size_t size)
{
    cl_int e = g_cl.clSetKernelArg(ka->kernel, ka->n, size, value);
    if (e != CL_SUCCESS && ka->err == CL_SUCCESS)
        ka->err = e, ka->err_at = ka->n;
    ka->n++;
}

/* A buffer reference: the cl_mem (NULL when absent), then its offset in elements. */
void cl_karg_buf(cl_kargs *ka, vox_bref r, size_t esize)
{
    cl_mem m = r.buf ? ((cl_buf *)r.buf)->mem : NULL;
    cl_ulong off = r.buf ? (cl_ulong)(r.offset / esize) : 0;
    if (r.buf && r.offset % esize)
        ka->misaligned = 1;
    cl_karg_val(ka, &m, sizeof m);
    cl_karg_val(ka, &off, sizeof off);
}

/* __local memory of `bytes` (at least 4) */
void cl_karg_local(cl_kargs *ka, size_t bytes) { cl_karg_val(ka, NULL, bytes ? bytes : 4); }

/* ------------------------------------------------------------------- launch */

/* VOXATTN_OPENCL_PROFILE: waits for the kernel of event ev (a host wait)
 * and logs its device time (the event's START to END) at INFO. */
static vox_status profile_log(cl_dev *d, cl_event ev, const char *op, const char *kname, size_t groups, size_t ls)
{
    cl_int e = g_cl.clFinish(d->queue);
    d->host_waits++;
    cl_ulong t0 = 0, t1 = 0;
    if (e == CL_SUCCESS)
        e = g_cl.clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
    if (e == CL_SUCCESS)
        e = g_cl.clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
    g_cl.clReleaseEvent(ev);
    if (e != CL_SUCCESS)
        return vox_fail(d->log, cl_status(e), "opencl: %s: profiling %s failed (%s, %d)", op, kname,
                        cl_err_name(e), e);
    vox_log(d->log, VOX_LOG_INFO, "opencl profile: %s %s %zu groups x %zu %.3f ms (device)", op,
            kname ? kname : "?", groups, ls, (double)(t1 - t0) * 1e-6);
    return VOX_OK;
}

vox_status cl_launch(cl_dev *d, const cl_kargs *ka, const char *name, size_t groups, size_t ls, vox_log_level level)
{
    if (ka->misaligned) {
        vox_log(d->log, level, "opencl: %s: bad kernel arguments (misaligned offset)", name);
        return VOX_ERR_BACKEND;
    }
    if (ka->err != CL_SUCCESS) {
        vox_log(d->log, level, "opencl: %s: clSetKernelArg(%u) failed (%s, %d)", name, ka->err_at,
                cl_err_name(ka->err), ka->err);
        return VOX_ERR_BACKEND;
    }
    if (groups == 0)
        return VOX_OK;
    size_t global = groups * ls;
    cl_event ev = NULL;
    cl_int e = g_cl.clEnqueueNDRangeKernel(d->queue, ka->kernel, 1, NULL, &global, &ls, 0, NULL,
                                           d->profile ? &ev : NULL);
    if (e == CL_SUCCESS && d->out_of_order)
        e = g_cl.clEnqueueBarrierWithWaitList(d->queue, 0, NULL, NULL);
    if (e != CL_SUCCESS) {
        if (ev)
            g_cl.clReleaseEvent(ev);
        vox_log(d->log, level, "opencl: %s: launch of %zu groups x %zu failed (%s, %d)", name, groups, ls,
                cl_err_name(e), e);
        return cl_status(e);
    }
    return ev ? profile_log(d, ev, name, ka->kname, groups, ls) : VOX_OK;
}
