/* The OpenCL op launchers: the helpers they share, then every op file's
 * host section (kernels/<op>.cl through the generated cl_op_files.h, in
 * op-table order), then the capability query. core/backend.h has each op's
 * contract. Each launcher fills the op's scalars with
 * vox_<op>_args_init() (core/kernel_args.c), sets the launch-specific ones,
 * and sets the kernel arguments by walking the op's VOX_<OP>_BUFS and
 * VOX_<OP>_ARGS lists (core/kernel_args.h), the same lists that generate
 * the kernel's parameters: nothing is matched by hand. */
#include <stdio.h>

#include "cl_internal.h"
#include "kernel_args.h"

/* One launch: kernel K_* `k` of program `prog` (NULL: the dtype's PROG_OPS
 * program), the grid, an optional int32 buffer `tail` after the scalars (a
 * kernel's own trailing `__global const int *, ulong` parameters: sample_rows'
 * slot_token), an optional __local work space of `local` bytes after those,
 * and the name and level that failures are logged with (NULL: the op's
 * name; VOX_LOG_ERROR). */
typedef struct cl_grid {
    const cl_prog *prog;
    int k;
    const vox_bref *tail;
    size_t groups, ls, local;
    const char *name;
    vox_log_level level;
} cl_grid;

/* The kernel of a launch and its name (for last_kernel). */
static vox_status grid_kargs(cl_dev *d, vox_dtype dt, const cl_grid *g, cl_kargs *ka, const char **kname)
{
    const cl_prog *pr = g->prog;
    if (!pr) {
        cl_prog *ops = NULL;
        vox_status st = cl_get_prog(d, PROG_OPS, (int)dt, 0, 0, 0, 0, &ops);
        if (st)
            return st;
        pr = ops;
    }
    cl_kargs_begin(ka, pr->kernels[g->k], dt);
    *kname = ka->kname = cl_kernel_name(g->k);
    return VOX_OK;
}

const char *cl_last_kernel(void *devp, vox_op op)
{
    const cl_dev *d = devp;
    return op >= 0 && op < VOX_OP_COUNT ? d->last_kernel[op] : NULL;
}

/* Per op: cl_<op>_bufs, one vox_bref per buffer of the list, and
 * cl_<op>_launch(), which sets every buffer (cl_mem, element offset), then
 * every scalar, in list order, and launches; a launch that was enqueued
 * records its kernel's name as the op's last kernel. */
#define CL_ESIZE_e(ka) ((ka)->esize)
#define CL_ESIZE_i32(ka) 4
#define CL_ESIZE_u32(ka) 4
#define CL_ESIZE_f32(ka) 4
#define CL_BREF_FIELD(t, n) vox_bref n;
#define CL_SET_BUF(t, n) cl_karg_buf(&ka, b->n, CL_ESIZE_##t(&ka));
#define CL_SET_ARG(t, n) cl_karg_val(&ka, &a->n, sizeof a->n);
#define CL_OP_LAUNCH(op, BUFS, ARGS)                                                                         \
    typedef struct cl_##op##_bufs {                                                                         \
        BUFS(CL_BREF_FIELD)                                                                                  \
    } cl_##op##_bufs;                                                                                        \
    static vox_status cl_##op##_launch(cl_dev *d, vox_dtype dt, const cl_##op##_bufs *b,                     \
                                       const vox_##op##_args *a, const cl_grid *g)                           \
    {                                                                                                        \
        cl_kargs ka;                                                                                         \
        const char *kname = NULL;                                                                            \
        vox_status st = grid_kargs(d, dt, g, &ka, &kname);                                                   \
        if (st)                                                                                              \
            return st;                                                                                       \
        BUFS(CL_SET_BUF)                                                                                     \
        ARGS(CL_SET_ARG)                                                                                     \
        cl_karg_val(&ka, &(const cl_uint){0}, sizeof(cl_uint)); /* vox_args_end */                           \
        if (g->tail)                                                                                         \
            cl_karg_buf(&ka, *g->tail, 4);                                                                   \
        if (g->local)                                                                                        \
            cl_karg_local(&ka, g->local);                                                                    \
        st = cl_launch(d, &ka, g->name ? g->name : #op, g->groups, g->ls, g->level);                         \
        if (!st)                                                                                             \
            d->last_kernel[VOX_OP_##op] = kname;                                                             \
        return st;                                                                                           \
    }
VOX_KERNELS(CL_OP_LAUNCH)

static const vox_bref none = {NULL, 0};

/* Work-groups for a grid-stride loop over `rows`. */
static size_t groups_for(int64_t rows)
{
    const int64_t cap = (int64_t)1 << 20;
    return rows <= 0 ? 0 : (size_t)(rows < cap ? rows : cap);
}

static size_t row_ls(int64_t D) { return D >= 128 ? 128 : D >= 64 ? 64 : 32; }

/* The launcher of an op that is one launch of one PROG_OPS kernel: its
 * scalars from vox_<op>_args_init(), then its buffers (designated
 * initializers of cl_<op>_bufs, which may read a, dm and p), the kernel, the
 * work-groups and their size. */
#define CL_SIMPLE_LAUNCHER(op, kernel, groups_, ls_, ...)                                                     \
    vox_status cl_##op(void *devp, const vox_op_dims *dm, const vox_op_##op *p)                              \
    {                                                                                                        \
        vox_##op##_args a;                                                                                   \
        vox_##op##_args_init(&a, dm, p);                                                                     \
        const cl_##op##_bufs b = {__VA_ARGS__};                                                              \
        const cl_grid g = {.k = (kernel), .groups = (groups_), .ls = (ls_)};                                 \
        return cl_##op##_launch(devp, dm->dtype, &b, &a, &g);                                                \
    }

/* The device's scratch buffer, grown to `bytes` (the work space of
 * kv_select and sample_rows; work enqueued before keeps the old one). */
static vox_status cl_scratch(cl_dev *d, size_t bytes, const char *op)
{
    if (d->scratch_bytes >= bytes)
        return VOX_OK;
    if (d->scratch)
        g_cl.clReleaseMemObject(d->scratch);
    d->scratch_bytes = 0;
    cl_int e;
    d->scratch = g_cl.clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, bytes, NULL, &e);
    if (!d->scratch || e != CL_SUCCESS) {
        if (d->scratch)
            g_cl.clReleaseMemObject(d->scratch);
        d->scratch = NULL;
        return vox_fail(d->log, cl_status(e), "opencl: %s scratch of %zu bytes failed (%s, %d)", op, bytes,
                        cl_err_name(e), e);
    }
    d->scratch_bytes = bytes;
    return VOX_OK;
}

#define CL_OP_LAUNCHERS
#include "cl_op_files.h"

/* sample_rows reads the caller's q, k, v through slot_token (no block
 * copies: three permutes fewer per SVG build) unless
 * VOXATTN_OPENCL_SR_COPIES=1; query_select the caller's q (one permute fewer
 * per query_keep < 1 build where its blocks stage in local memory) unless
 * VOXATTN_OPENCL_QS_COPIES=1. */
uint32_t cl_caller_layout_ops(void *devp)
{
    const cl_dev *d = devp;
    return (d->sr_copies ? 0 : 1u << VOX_OP_sample_rows) | (d->qs_copies ? 0 : 1u << VOX_OP_query_select);
}

/* Whether the device runs `op` on these sizes: the limits of the op files
 * that have any (SUP entries of CL_OP_<op>, cl_<op>_supports). */
vox_status cl_supports(void *devp, const vox_op_dims *dm, vox_op op, char *reason, size_t n)
{
    const cl_dev *d = devp;
    switch (op) {
#define CL_SUPPORTS_CASE(o)                                                                                  \
    case VOX_OP_##o:                                                                                         \
        return cl_##o##_supports(d, dm, reason, n);
        CL_ALL_SUPPORTS(CL_SUPPORTS_CASE)
#undef CL_SUPPORTS_CASE
    default:
        return VOX_OK;
    }
}
