/* OpenCL programs: the kernel sources embedded at build time
 * (core/kernel_args.h, then kernels/common.cl, then each program's op files)
 * built per device and cached per context (oldest evicted first), kernel
 * lookup; then the kernel-argument helper and the launch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_internal.h"
#include "vox_cl_kernels.h"

#define CL_K_NAME(e, name) name,
static const char *const g_ops_kernels[K_OPS_COUNT] = {CL_OPS_KERNELS(CL_K_NAME)};
#undef CL_K_NAME

/* kv_select.cl goes in twice: work space in local memory, then in a global buffer */
#define KV_AS_LOCAL "\n#define KVS __local\n#define KV_NAME vox_kv_select\n#define KV_GLOBAL 0\n"
#define KV_AS_GLOBAL                                                                   \
    "\n#undef KVS\n#undef KV_NAME\n#undef KV_GLOBAL\n#define KVS __global\n"            \
    "#define KV_NAME vox_kv_select_global\n#define KV_GLOBAL 1\n"
#define CL_MAX_PARTS 12

/* Ahead of everything: core/kernel_args.h picks its OpenCL section by
 * __OPENCL_VERSION__, which device compilers define; an OpenCL C compiler
 * that defines only __OPENCL_C_VERSION__ (clang on its own) gets it too. */
static const char g_prelude[] = "\n#if !defined(__OPENCL_VERSION__) && defined(__OPENCL_C_VERSION__)\n"
                                "#define __OPENCL_VERSION__ __OPENCL_C_VERSION__\n#endif\n";

/* Each program's sources after kernel_args.h and common.cl: file names,
 * or source text where a part starts with '\n'. */
static const struct {
    const char *what;                     /* for the log */
    const char *kernels[CL_MAX_KERNELS]; /* the kernels of an attention program, in launch order */
    const char *parts[CL_MAX_PARTS];
} g_programs[] = {
    [PROG_OPS] = {"op",
                  {NULL},
                  {"attention_merge.cl", "permute.cl", "block_means.cl", KV_AS_LOCAL, "kv_select.cl", KV_AS_GLOBAL, "kv_select.cl",
                   "sample_rows.cl", "query_select.cl", "svg_classify.cl", "mask_transpose.cl"}},
    [PROG_ATTN] = {"attention", {"vox_attention_forward"}, {"attention_forward.cl"}},
    [PROG_ATTN_MMA] = {"tensor-core attention", {"vox_attention_forward_mma"}, {"attention_forward_mma.cl"}},
    [PROG_BWD_Q] = {"attention backward (dQ)",
                    {"vox_attention_backward_prep", "vox_attention_backward_dq"},
                    {"\n#define VOX_BWD_KV 0\n", "attention_backward.cl"}},
    [PROG_BWD_KV] = {"attention backward (dK, dV)",
                     {"vox_attention_backward_dkdv"},
                     {"\n#define VOX_BWD_KV 1\n", "attention_backward.cl"}},
};

static const struct vox_cl_blob *blob(const char *name)
{
    for (size_t i = 0; i < vox_cl_count; i++)
        if (!strcmp(vox_cl_table[i].name, name))
            return &vox_cl_table[i];
    return NULL;
}

void cl_prog_release(cl_prog *p)
{
    for (int i = 0; i < K_OPS_COUNT; i++)
        if (p->kernels[i])
            g_cl.clReleaseKernel(p->kernels[i]);
    if (p->program)
        g_cl.clReleaseProgram(p->program);
    memset(p, 0, sizeof *p);
}

const char *cl_kernel_name(const cl_prog *p, int k)
{
    return p->kind == PROG_OPS ? g_ops_kernels[k] : g_programs[p->kind].kernels[k];
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
    const vox_log_level fail_level = kind == PROG_ATTN_MMA ? VOX_LOG_WARN : VOX_LOG_ERROR;
    const char *src[3 + CL_MAX_PARTS];
    size_t len[3 + CL_MAX_PARTS];
    cl_uint n = 0;
    const char *files[3 + CL_MAX_PARTS] = {g_prelude, "kernel_args.h", "common.cl"};
    memcpy(files + 3, g_programs[kind].parts, sizeof g_programs[kind].parts);
    for (int i = 0; i < 3 + CL_MAX_PARTS && files[i]; i++, n++) {
        int text = files[i][0] == '\n';
        const struct vox_cl_blob *b = text ? NULL : blob(files[i]);
        if (!text && !b)
            return vox_fail(d->log, VOX_ERR_BACKEND, "opencl: embedded kernel source %s missing", files[i]);
        src[n] = b ? (const char *)b->data : files[i];
        len[n] = b ? b->size : strlen(files[i]);
    }
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
    double t = cl_now_ms();
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
                g_programs[kind].what, opts, cl_err_name(e), e, blog ? blog : "(unavailable)");
        free(blog);
        g_cl.clReleaseProgram(prog);
        return e == CL_BUILD_PROGRAM_FAILURE || e == CL_INVALID_BUILD_OPTIONS || e == CL_COMPILER_NOT_AVAILABLE
                   ? VOX_ERR_COMPILE
                   : cl_status(e);
    }
    vox_log(d->log, VOX_LOG_DEBUG, "opencl: built %s kernels (%s) in %.0f ms", g_programs[kind].what, opts,
            cl_now_ms() - t);
    if (blog && blog[0])
        vox_log(d->log, VOX_LOG_DEBUG, "opencl: build log:\n%s", blog);
    free(blog);
    cl_prog *p = &d->progs[d->n_progs];
    memset(p, 0, sizeof *p);
    p->kind = kind, p->dtype = dtype, p->hd = hd, p->bm = bm, p->bn = bn, p->ls = ls;
    p->program = prog;
    int nk = K_OPS_COUNT;
    if (kind != PROG_OPS)
        for (nk = 0; nk < CL_MAX_KERNELS && g_programs[kind].kernels[nk];)
            nk++;
    for (int i = 0; i < nk; i++) {
        const char *name = cl_kernel_name(p, i);
        p->kernels[i] = g_cl.clCreateKernel(prog, name, &e);
        if (!p->kernels[i] || e != CL_SUCCESS) {
            cl_prog_release(p);
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
                "opencl: vox_attention_forward_mma hd %d: max work-group %zu, local %llu bytes, private %llu bytes",
                hd, wg, (unsigned long long)lm, (unsigned long long)pm);
        if (wg < 128) {
            cl_prog_release(p);
            vox_log(d->log, fail_level,
                    "opencl: vox_attention_forward_mma allows work-groups of %zu only (128 needed)", wg);
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
    cl_int e = g_cl.clEnqueueNDRangeKernel(d->queue, ka->kernel, 1, NULL, &global, &ls, 0, NULL, NULL);
    if (e == CL_SUCCESS && d->out_of_order)
        e = g_cl.clEnqueueBarrierWithWaitList(d->queue, 0, NULL, NULL);
    if (e != CL_SUCCESS) {
        vox_log(d->log, level, "opencl: %s: launch of %zu groups x %zu failed (%s, %d)", name, groups, ls,
                cl_err_name(e), e);
        return cl_status(e);
    }
    return VOX_OK;
}
