/* The OpenCL backend's private header: the runtime's entry-point table, the
 * opened device, buffers, the program cache and the kernel-argument helper
 * shared by cl_runtime.c (loading libOpenCL), cl_device.c (probe, open,
 * close), cl_buffer.c (buffers, transfers, timers), cl_program.c (program
 * build and cache, argument setting, launch) and cl_ops.c (the op launchers,
 * one per op in kernels/<op>.cl). cl_backend.c holds the backend table. */
#ifndef VOX_CL_INTERNAL_H
#define VOX_CL_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <stddef.h>

#include "backend.h"

/* ------------------------------------------------------- runtime (cl_runtime.c) */

/* Every cl* entry point used, resolved from libOpenCL at run time. */
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

#define VOX_CL_MEMBER(name, ret, params) ret(CL_API_CALL *name) params;
typedef struct cl_api {
    VOX_CL_FUNCS(VOX_CL_MEMBER)
} cl_api;
#undef VOX_CL_MEMBER

extern cl_api g_cl;

/* Loads libOpenCL once (thread-safe); 0 with the reason when unavailable. */
int cl_load(char *reason, size_t n);
const char *cl_err_name(cl_int e);
/* Memory errors of the runtime map to device out of memory. */
vox_status cl_status(cl_int e);
double cl_now_ms(void);

/* --------------------------------------------------------- device (cl_device.c) */

/* The tensor-core attention program (kernels/attention_forward_mma.cl). */
enum { MMA_OFF = 0, MMA_PTX = 1, MMA_EMULATED = 2 };

/* The op files (kernels/<op>.cl, through the generated cl_op_files.h; their
 * host sections without the launchers here) each declare one list,
 *   CL_OP_<op>(P, K, S, SUP) with entries
 *     P(PROG_*, what, options)  a program of the op's own besides PROG_OPS
 *                               (options: extra build options)
 *     K(program, K_*, name)     a kernel, by program
 *     S(program, file or text)  a program source, in order
 *     SUP(op)                   the op file has cl_<op>_supports()
 * aggregated here over the op table (core/kernel_args.h), one kind of entry
 * at a time. PROG_OPS, one program per dtype, holds every op that has no
 * program of its own. */
#include "kernel_args.h"
#include "cl_op_files.h"

#define CL_SKIP(...)
#define CL_AGG_PROGRAMS(X, op, BUFS, ARGS) CL_OP_##op(X, CL_SKIP, CL_SKIP, CL_SKIP)
#define CL_AGG_KERNELS(X, op, BUFS, ARGS) CL_OP_##op(CL_SKIP, X, CL_SKIP, CL_SKIP)
#define CL_AGG_PARTS(X, op, BUFS, ARGS) CL_OP_##op(CL_SKIP, CL_SKIP, X, CL_SKIP)
#define CL_AGG_SUPPORTS(X, op, BUFS, ARGS) CL_OP_##op(CL_SKIP, CL_SKIP, CL_SKIP, X)
#define CL_ALL_PROGRAMS(X) VOX_KERNEL_OP_LIST(CL_AGG_PROGRAMS, X)
#define CL_ALL_KERNELS(X) VOX_KERNEL_OP_LIST(CL_AGG_KERNELS, X)
#define CL_ALL_PARTS(X) VOX_KERNEL_OP_LIST(CL_AGG_PARTS, X)
#define CL_ALL_SUPPORTS(X) VOX_KERNEL_OP_LIST(CL_AGG_SUPPORTS, X)

#define CL_PROG_ENUM(e, what, options) e,
enum { PROG_OPS = 0, CL_ALL_PROGRAMS(CL_PROG_ENUM) PROG_COUNT };
#undef CL_PROG_ENUM
#define CL_K_ENUM(prog, e, name) e,
enum { CL_ALL_KERNELS(CL_K_ENUM) K_COUNT };
#undef CL_K_ENUM

typedef struct cl_prog {
    int kind;
    int dtype, hd, bm, bn, ls;
    cl_program program;
    cl_kernel kernels[K_COUNT]; /* by K_*: those of this program (others NULL) */
} cl_prog;

#define CL_MAX_PROGS 32
/* kv_select's -cl-nv-maxrregcount on NVIDIA when VOXATTN_OPENCL_KV_MAXRREG is unset */
#define CL_NV_KV_MAXRREG 80

typedef struct cl_dev {
    const vox_logger *log;
    cl_device_id device;
    cl_context ctx;
    cl_command_queue queue;
    int wrapped;
    int profiling;
    int sr_slots; /* VOXATTN_OPENCL_SR_SLOTS: sample_rows' resident work-groups (0: two per compute unit) */
    int kv_rowread; /* kv_select built with -DKV_ROWREAD=1 (CPU devices; VOXATTN_OPENCL_KV_ROWREAD) */
    int qs_global; /* query_select built with -DQS_GLOBAL=1 (VOXATTN_OPENCL_QS_GLOBAL) */
    int qs_rsq;  /* query_select built with -DQS_RSQ=1: the certified cosines without f64 division or square root (VOXATTN_OPENCL_QS_RSQ) */
    int qs_cert; /* query_select built with -DQS_CERT=n: 1 the certified f32 kernel, 0 the exact one, 2 certified with every decision exact (VOXATTN_OPENCL_QS_CERT) */
    int qs_old; /* query_select built with -DQS_NORMS=0: as session 11 (VOXATTN_OPENCL_QS_OLD) */
    int qs_unroll; /* query_select's norm and dot loops unrolled this many times, -DQS_UNROLL (VOXATTN_OPENCL_QS_UNROLL; 0: the compiler's choice) */
    int permute_narrow; /* permutes copy element by element, never 16-byte words (VOXATTN_OPENCL_PERMUTE_NARROW) */
    int sr_merge_old; /* sample_rows' merge built with -DSR_MERGE_OLD=1: factors per element (VOXATTN_OPENCL_SR_MERGE_OLD) */
    int qs_copies;  /* query_select reads a block copy of q, not the caller's tensor (VOXATTN_OPENCL_QS_COPIES) */
    int sr_copies;  /* sample_rows reads block copies, not the caller's tensors (VOXATTN_OPENCL_SR_COPIES) */
    int sr_unroll;  /* sample_rows built with -DSR_UNROLLED=1 (VOXATTN_OPENCL_SR_UNROLL) */
    int bm_unroll;  /* block_means' rows per batch of loads, -DBM_UNROLL (VOXATTN_OPENCL_BM_UNROLL; 0: the default, 8) */
    int ops_maxrreg; /* VOXATTN_OPENCL_OPS_MAXRREG: -cl-nv-maxrregcount of PROG_OPS (0: none) */
    int kv_maxrreg;  /* VOXATTN_OPENCL_KV_MAXRREG: -cl-nv-maxrregcount of kv_select's PROG_KV (0: none) */
    int kv_shfl;     /* kv_select's scans by warp shuffles: 0 off, 1 inline PTX (NVIDIA sm_70+), 2 emulated (VOXATTN_OPENCL_KV_SHFL) */
    int kv_warp;     /* kv_select's TOPK by a warp per row (f64 devices): 0 off, 1 inline PTX (NVIDIA sm_70+), 2 emulated (VOXATTN_OPENCL_KV_WARP); off for good after a failure */
    int kv_f32k;     /* kv_select's TOPK (where kv_warp runs) on f32 scores with a certificate, kernels/kv_select_f32.cl (0: VOXATTN_OPENCL_KV_TOPK_F64, or off for good after a failure) */
    int kv_fs_gemm;  /* VOXATTN_OPENCL_KV_FS_GEMM (A/B): vox_kv_select_fs in register tiles (KF_GEMM) */
    int kv_cum_f32;  /* kv_select's CUMULATIVE (where kv_warp runs) on f32 scores too, PROG_KVC (VOXATTN_OPENCL_KV_CUM_F32, default; "0" off; off for good after a failure) */
    int kv_fallback; /* tests only: kv_select_f32.cl sends every row with 0 < n < NBv to the fallback (VOXATTN_OPENCL_KV_FALLBACK) */
    int kv_wave;     /* tests: kv_select_f32.cl's tiles per wave at most (VOXATTN_OPENCL_KV_WAVE; 0: as many as the scratch holds) */
    int kvf_maxrreg; /* VOXATTN_OPENCL_KVF_MAXRREG: -cl-nv-maxrregcount of PROG_KVF (0: none) */
    int kv_fma;      /* kv_select's phase 1 by fma on f64 devices (the same sums; VOXATTN_OPENCL_KV_FMA; -1 unset: PROG_KVW only) */
    int kv_prefetch; /* kv_select's staged phase 1 loads the next kbar chunk ahead (VOXATTN_OPENCL_KV_PREFETCH; -1 unset: PROG_KVW only) */
    int kvw_maxrreg; /* VOXATTN_OPENCL_KVW_MAXRREG: -cl-nv-maxrregcount of PROG_KVW (0: none) */
    int nv_verbose; /* every program built with -cl-nv-verbose (VOXATTN_OPENCL_NV_VERBOSE, NVIDIA) */
    int profile; /* VOXATTN_OPENCL_PROFILE: every kernel run alone, its device time logged (INFO); blocks */
    int out_of_order;
    int fp64;
    cl_ulong max_alloc;
    cl_ulong local_mem;
    size_t max_wg;
    cl_prog progs[CL_MAX_PROGS]; /* per-context program cache, oldest first */
    int n_progs;
    cl_event t0;
    double t0_host;
    cl_mem scratch; /* work space of kv_select (rows that do not fit local memory) and sample_rows */
    size_t scratch_bytes;
    int mma;         /* MMA_*: f16/bf16 attention on tensor cores; off for good after a failure */
    int nv_opts;     /* cl_nv_compiler_options */
    int mma_maxrreg; /* VOXATTN_OPENCL_MMA_MAXRREG (0: the compiler's choice) */
    int srm;         /* MMA_*: f16/bf16 sample_rows on tensor cores (VOXATTN_OPENCL_SR_MMA); off for good after a failure */
    int srm_maxrreg; /* VOXATTN_OPENCL_SRM_MAXRREG: -cl-nv-maxrregcount of PROG_SR_MMA (0: the compiler's choice) */
    int srm_prefetch; /* PROG_SR_MMA built with -DSRM_PREFETCH=1 -DSRM_WALK=1 (2, the default), -DSRM_PREFETCH=1 (1), neither (0): VOXATTN_OPENCL_SRM_PREFETCH */
    const char *last_kernel[VOX_OP_COUNT]; /* per op, the kernel its last launch ran (static names) */
    uint64_t host_waits; /* blocking transfers and finishes (vox_backend.host_waits) */
} cl_dev;

vox_status cl_probe(vox_device_desc *descs, int max, int *count, char *reason, size_t rn);
vox_status cl_open(int index, const vox_native_queue *native, const vox_logger *log, void **out);
void cl_close(void *devp);

/* -------------------------------------------------------- buffers (cl_buffer.c) */

typedef struct cl_buf {
    cl_mem mem;
    size_t size;
} cl_buf;

VOX_BACKEND_DECLARE_BUFFERS(cl_)
vox_status cl_finish(void *devp);
vox_status cl_timer_begin(void *devp);
vox_status cl_timer_end(void *devp, double *ms);

/* ------------------------------------------------------ programs (cl_program.c) */

/* Builds (or finds in the cache) a program. PROG_OPS: dtype; PROG_KV: none
 * (kv_select reads f32 only; callers pass VOX_F32); PROG_ATTN,
 * PROG_BWD_Q, PROG_BWD_KV: dtype, hd, bm, bn, ls; PROG_ATTN_MMA,
 * PROG_SR_MMA: dtype, hd (and ls, the work-group it needs). A failed
 * tensor-core build is logged as a warning only: the caller falls back to
 * the portable kernel. Building a program may evict the oldest cached
 * one and move the others: a cl_prog pointer is good until the next call. */
vox_status cl_get_prog(cl_dev *d, int kind, int dtype, int hd, int bm, int bn, int ls, cl_prog **out);
void cl_prog_release(cl_prog *p);
/* The name of kernel K_* (static storage). */
const char *cl_kernel_name(int k);

/* Kernel arguments, set in order as they are given: each buffer as its
 * cl_mem (NULL when absent) and element offset, then the scalars
 * (the launchers walk the VOX_<OP>_BUFS / VOX_<OP>_ARGS lists of
 * core/kernel_args.h). The first failure is kept and reported by cl_launch. */
typedef struct cl_kargs {
    cl_kernel kernel;
    const char *kname; /* the kernel's name (for the profile log) */
    size_t esize; /* element size of the plan dtype (`e` buffers) */
    cl_uint n;    /* next argument index */
    cl_int err;   /* first clSetKernelArg failure, at argument err_at */
    cl_uint err_at;
    int misaligned;
} cl_kargs;

void cl_kargs_begin(cl_kargs *ka, cl_kernel k, vox_dtype dt);
void cl_karg_buf(cl_kargs *ka, vox_bref r, size_t esize);
void cl_karg_val(cl_kargs *ka, const void *value, size_t size);
void cl_karg_local(cl_kargs *ka, size_t bytes);

/* Enqueues `groups` work-groups of `ls` items after the arguments of ka;
 * failures are logged at `level` (the tensor-core attention falls back
 * quietly) and returned. */
vox_status cl_launch(cl_dev *d, const cl_kargs *ka, const char *name, size_t groups, size_t ls, vox_log_level level);

/* A tensor-core kernel (attention, sample_rows) that could not build or
 * launch: logs why and sets its mode (d->mma, d->srm) to MMA_OFF for good,
 * so the portable kernel runs from now on; returns VOX_ERR_UNSUPPORTED. */
vox_status cl_mma_give_up(cl_dev *d, int *mode, const char *what, vox_status why);

/* ------------------------------------------------------------ ops (cl_ops.c) */

VOX_BACKEND_DECLARE_ALL_OPS(cl_) /* core/backend.h */
/* The kernel the last launch of `op` on this device ran (NULL: none yet). */
const char *cl_last_kernel(void *devp, vox_op op);
uint64_t cl_host_waits(void *devp);
/* Whether the device can run `op` on these sizes (the backward's tiles). */
vox_status cl_supports(void *devp, const vox_op_dims *d, vox_op op, char *reason, size_t n);
/* vox_backend.caller_layout_ops: sample_rows and query_select unless VOXATTN_OPENCL_SR_COPIES /
 * VOXATTN_OPENCL_QS_COPIES (cl_ops.c) */
uint32_t cl_caller_layout_ops(void *devp);

#endif
