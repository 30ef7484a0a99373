/* The CUDA/HIP host layer (private), shared by the CUDA driver-API backend
 * (backends/cuda/cuda_backend.c) and HIP's module-API backend
 * (backends/hip/hip_backend.c). The two APIs are nearly isomorphic: each
 * backend loads its runtime and fills a gpu_api (its entry points); the rest
 * is ordinary C compiled once for both:
 *   gpu_device.c  device open/close, buffers, transfers, timers, scratch
 *   gpu_launch.c  the kernel table, launching, launch-size helpers
 *   gpu_ops.c     the ops' launchers (gpu_permute_to ... gpu_mask_transpose),
 *                 each in its op file kernels/<op>.cuh, and their helpers
 * A backend may add a vendor attention path (gpu_api.attention_forward,
 * attention_backward) with
 * its own module and state (gpu_dev.vendor), launched with gpu_launch_fn.
 * Kernels: kernels/<op>.cuh, built as kernels/kernels.cu (their names:
 * gpu_kernels.h). */
#ifndef VOX_GPU_INTERNAL_H
#define VOX_GPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "gpu_kernels.h"
#include "kernel_args.h"
#include "log.h"

/* Kernel indices: GPU_FN_<name> for each kernel of gpu_kernels.h, in list
 * order; the first GPU_FN_REQUIRED are required. */
#define GPU_FN_ENUM(name) GPU_FN_##name,
#define GPU_FN_ONE(name) +1
enum { VOX_GPU_KERNELS(GPU_FN_ENUM) GPU_FN_COUNT, GPU_FN_REQUIRED = 0 VOX_GPU_KERNELS_REQUIRED(GPU_FN_ONE) };
#undef GPU_FN_ENUM
#undef GPU_FN_ONE
extern const char *const gpu_fn_names[GPU_FN_COUNT]; /* "vox_<name>" */

typedef struct gpu_api gpu_api;

/* A kernel of a module other than g->module (launched by gpu_launch_fn). */
typedef struct gpu_srw_fn {
    void *f;          /* NULL: absent */
    const char *name;
    int smem_raised;  /* its dynamic shared memory limit, raised to */
} gpu_srw_fn;

typedef struct gpu_dev {
    const gpu_api *api;
    vox_logger log;
    int ordinal;
    void *ctx;    /* CUcontext (CUDA); unused by HIP */
    void *stream; /* CUstream / hipStream_t */
    void *module;
    int own_ctx, own_stream;
    int sm_count, max_smem, max_smem_optin, warp;
    int arch; /* CUDA: compute capability major*10+minor (sm_90 = 90); HIP: 0 */
    int force_scalar;
    int kv_cum_f32; /* VOXATTN_KV_SELECT_CUMULATIVE_F32: the CUMULATIVE rule on the f32 kv_select kernel */
    int kv_mma_inline; /* VOXATTN_KV_SELECT_MMA_INLINE: kv_select's tensor-core kernel splits the keys itself */
    int kv_fast_old;   /* VOXATTN_KV_SELECT_FAST_OLD: TOPK's old phase 2 (exp sweep, radix passes over w) */
    int kv_fast_break; /* VOXATTN_KV_SELECT_FAST_BREAK: TOPK's phase 2 without its certificate (tests only) */
    int kv_tp;         /* VOXATTN_KV_SELECT_TP: TOPK by the three-pass kernel (kv_select_tp.cuh) */
    int kv_fast_abl;   /* VOXATTN_KV_SELECT_FAST_ABL: kv_select's timing ablations in turn (tests only) */
    int kv_p1_old;     /* VOXATTN_KV_SELECT_P1_OLD: phase 1 by mma.sync at D 128 on sm_90 too (not by wgmma) */
    int kv_wg_abl;     /* VOXATTN_KV_SELECT_WG_ABL: wgmma vs mma.sync phase 1 in turn (timing, tests only) */
    int kv_wg_break;   /* VOXATTN_KV_SELECT_WG_BREAK: the wgmma kernel after the mma.sync key layout (tests only) */
    int kv_wg_areg;    /* VOXATTN_KV_SELECT_WG_AREG: the wgmma phase 1 with its A fragments in registers (session 14's) */
    int kv_wg_serial;  /* VOXATTN_KV_SELECT_WG_SERIAL: A in shared memory, one wgmma step in flight (not two) */
    int kv_wgs_abl;    /* VOXATTN_KV_SELECT_WGS_ABL: session 16's wgmma kernels and session 14's in turn (timing) */
    int kv_wgs_p1;     /* VOXATTN_KV_SELECT_WGS_P1: the default (_ss) kernel's phase 1 alone (timing, no lists) */
    int kv_wg_lda;     /* VOXATTN_KV_SELECT_WG_LDA: A fragments loaded into registers per step (_wgs2), not read by wgmma */
    int kv_ss_abl;     /* VOXATTN_KV_SELECT_SS_ABL: _ss and _wgs2 in turn (timing) */
    int kv_cum_bins;   /* VOXATTN_KV_SELECT_CUM_BINS: _ss with CUMULATIVE on vox_kf_topk's bins (_ss_cb; slower) */
    int kv_cum_abl;    /* VOXATTN_KV_SELECT_CUM_ABL: _ss and _ss_cb in turn (timing) */
    int kv_abl_n;      /* their turn */
    gpu_srw_fn srw[2][2]; /* CUDA on sm_90 with sm_90a code (cuda_sm90.c): sample_rows' wgmma kernels
                             [wg, wg1][f16, bf16] at D 128 (backends/cuda/sm90/sample_rows_sm90.cuh) */
    void *srw_module;     /* their module */
    int srm_wg_off; /* VOXATTN_SAMPLE_ROWS_WG_OFF: sample_rows not on the sm_90a wgmma kernel (backends/cuda/sm90/sample_rows_sm90.cuh) */
    int srm_wg_pv2; /* VOXATTN_SAMPLE_ROWS_WG_PV2: the wgmma kernel's P V with two fresh accumulators in turn (vox_sample_rows_wg_*)
                       instead of one (vox_sample_rows_wg1_*, the default) */
    int srm_wg_break; /* VOXATTN_SAMPLE_ROWS_WG_BREAK: the wgmma kernel given a wider spatial pattern (tests only) */
    int srm_rotate, srm_calls; /* VOXATTN_SAMPLE_ROWS_ROTATE: call n takes wg, wg1, mma16la as n % 3 (A/B) */
    int kv_rows_old;   /* VOXATTN_KV_SELECT_ROWS_OLD: the exact rows by session 14's vox_ks_row (vox_kv_select_rows_old) */
    int kv_exact_all;  /* VOXATTN_KV_SELECT_EXACT_ALL: every rule on the exact tile kernel vox_kv_select (tests) */
    int kv_rows_break; /* VOXATTN_KV_SELECT_ROWS_BREAK: the same with vox_ks_row's deliberate break (tests only) */
    int kv_rows_abl, kv_rows_n; /* VOXATTN_KV_SELECT_ROWS_ABL: vox_kv_select_rows and _old in turn (timing); the turn */
    int srm_w8;     /* VOXATTN_SAMPLE_ROWS_W8: sample_rows on the 8-warp tensor-core kernel */
    int srm16;      /* the 16-warp sample_rows kernel: bit 0 late merges, bit 1 allowance table (VOXATTN_SAMPLE_ROWS_OLD, _NO_LATE, _NO_ATAB clear them) */
    int block_copies; /* VOXATTN_GPU_BLOCK_COPIES: sample_rows, query_select on block copies (caller_layout_ops 0) */
    int qs_chunk128;  /* VOXATTN_QUERY_SELECT_CHUNK128: query_select's exact kernel in turns of 128 block rows */
    int qs_cta;       /* VOXATTN_QUERY_SELECT_CTA: query_select's CTA kernel (one CTA per block) instead of the warp kernel */
    int qs_exact_all; /* VOXATTN_QUERY_SELECT_EXACT_ALL: the warp kernel's exact path for every window (tests) */
    int qs_no_prefetch; /* VOXATTN_QUERY_SELECT_NO_PREFETCH: the warp kernel without its L2 and L1 prefetches */
    int qs_warp;        /* VOXATTN_QUERY_SELECT_WARP: the warp kernel instead of the staged one (A/B) */
    int qs_stage_bufs2; /* VOXATTN_QUERY_SELECT_STAGE_BUFS2: the staged kernel with two row buffers per warp */
    int qs_heads_together; /* VOXATTN_QUERY_SELECT_HEADS_TOGETHER: the staged kernel's walk j-major (heads of a block together) */
    int qs_stage_break; /* VOXATTN_QUERY_SELECT_STAGE_BREAK: the staged kernel's deliberate break (tests only) */
    int qs_means;       /* VOXATTN_QUERY_SELECT_MEANS: the staged kernel writes the q means of the kept rows, the core
                           skips block_means(q) (off by default: unmeasured, backends/cuda/NOTES.md session 17) */
    int qs_means_abl, qs_means_n; /* VOXATTN_QUERY_SELECT_MEANS_ABL: every other staged call with the means (timing) */
    int qs_rotate, qs_rotate_run, qs_calls; /* VOXATTN_QUERY_SELECT_ROTATE=K, _ROTATE_RUN=R (A/B in one process):
                                             * call n takes variant (n / R) % K (gpu_query_select); the calls so far */
    int bm_nopipe;    /* VOXATTN_BLOCK_MEANS_NOPIPE: block_means without its next rows' loads in flight */
    int bm_pf;        /* VOXATTN_BLOCK_MEANS_PF: the next item's tokens in flight (vox_block_means_pf_*; opt-in) */
    int bm_abl;       /* VOXATTN_BLOCK_MEANS_ABL: vox_block_means_pf_* and _pipe_* in turn, two calls each (timing) */
    int bm_abl_n;     /* its call counter */
    int bm_pf_break;  /* VOXATTN_BLOCK_MEANS_PF_BREAK: vox_block_means_pf_bf16's deliberate break (tests only) */
    int bm_lean;      /* VOXATTN_BLOCK_MEANS_LEAN: 0 _pipe, 1 _lean, 2 _ring, 3 _ring_s4, 4 _ring_r4, 5 _lean_v4, 6 _ring_wc */
    char bm_lean_abl[12]; /* VOXATTN_BLOCK_MEANS_LEAN_ABL: those variants in turn, two calls each (timing; "" off) */
    int bm_lean_n;    /* its call counter */
    int profile; /* VOXATTN_GPU_PROFILE: every launch run alone, its time logged (INFO); blocks */
    void *vendor;                 /* the backend's own state (CUDA: the sm_90a path), or NULL */
    const char *vendor_attention; /* the vendor attention path's name for the open log, or NULL */
    int vendor_fwd_direct; /* the vendor attention_forward takes every call in the caller's layout (its
                              caller layout fields, any shape and dtype): caller_layout_ops lists it */
    int vendor_bwd_direct; /* the vendor attention_backward may take calls in the caller's layout
                              (declining sends them through block copies): caller_layout_ops lists it */
    const char *last_kernel[VOX_OP_COUNT]; /* per op, the kernel its last call launched */
    void *fn[GPU_FN_COUNT];
    int fn_smem[GPU_FN_COUNT]; /* dynamic shared memory limit already raised to */
    void *ev[2];
    uint64_t scratch;
    size_t scratch_bytes;
    uint64_t host_waits; /* vox_backend.host_waits */
} gpu_dev;

typedef struct gpu_buf {
    uint64_t ptr;
    size_t bytes;
    int wrapped;
} gpu_buf;

/* Vendor entry points; every int is the runtime's status, 0 = success. */
struct gpu_api {
    const char *name; /* "cuda" / "hip" */
    int oom_code;
    /* Opens device `ordinal`: context, stream, module; fills g->ctx, stream,
     * module, sm_count, max_smem, max_smem_optin, warp, arch (and optionally
     * vendor, vendor_attention). Logs on failure. close_dev frees it all. */
    vox_status (*open_dev)(gpu_dev *g, int ordinal, const vox_native_queue *native);
    void (*close_dev)(gpu_dev *g);
    int (*push)(gpu_dev *g);
    void (*pop)(gpu_dev *g);
    int (*mem_alloc)(uint64_t *p, size_t bytes);
    int (*mem_free)(uint64_t p);
    int (*htod)(uint64_t dst, const void *src, size_t bytes, void *stream);
    int (*dtoh)(void *dst, uint64_t src, size_t bytes, void *stream);
    int (*sync)(void *stream);
    int (*get_function)(void **f, void *module, const char *name);
    int (*set_max_smem)(void *f, int bytes); /* NULL: no opt-in needed */
    int (*launch)(void *f, unsigned gx, unsigned bx, unsigned by, unsigned smem, void *stream, void **args);
    int (*event_create)(void **e);
    int (*event_record)(void *e, void *stream);
    int (*event_sync)(void *e);
    int (*event_elapsed)(float *ms, void *a, void *b);
    void (*event_destroy)(void *e);
    const char *(*error_string)(int code);
    /* Optional vendor path of attention_forward, tried before the shared
     * kernels unless VOXATTN_GPU_SCALAR is set (NULL: none). Returns 0 to
     * decline (the shared mma.sync / scalar kernels run), or 1 after
     * launching, with the status in *st. Its kernels (own module, own
     * argument lists) are launched with gpu_launch_fn. A call in the caller's
     * layout (p->slot_token present: only when vendor_fwd_direct is set) is
     * never declined. */
    int (*attention_forward)(gpu_dev *g, const vox_op_dims *d, const vox_op_attention_forward *p,
                             vox_status *st);
    /* The same for attention_backward's main kernels, tried after the shared
     * preprocess (dO_eff over dout, delta in the LSE work half) has been
     * launched and before the mma.sync / scalar kernels (NULL: none). A call
     * in the caller's layout (p->slot_token present: only when
     * vendor_bwd_direct is set) comes first, before any preprocess: the
     * vendor does the whole op (1) or declines (0: block copies, then the
     * block-layout op). */
    int (*attention_backward)(gpu_dev *g, const vox_op_dims *d, const vox_op_attention_backward *p,
                              vox_status *st);
};

/* gpu_device.c: the vox_backend entries but probe and the ops. */
vox_status gpu_open(const gpu_api *api, int index, const vox_native_queue *native, const vox_logger *log,
                    void **out);
void gpu_close(void *dev);
VOX_BACKEND_DECLARE_BUFFERS(gpu_)
vox_status gpu_finish(void *dev);
vox_status gpu_timer_begin(void *dev);
vox_status gpu_timer_end(void *dev, double *ms);
/* Makes the device's context current (CUDA) or selects its device (HIP);
 * logs on failure. Pair with g->api->pop(g). */
vox_status gpu_push(gpu_dev *g);
/* The runtime's status rc as a vox_status, logged ("<api>: <what> failed"). */
vox_status gpu_err(gpu_dev *g, int rc, const char *what);
/* The device's global scratch (g->scratch) grown to at least `bytes`. */
vox_status gpu_ensure_scratch(gpu_dev *g, size_t bytes);

/* gpu_launch.c */
/* Device address of r (offset applied), 0 when absent. */
uint64_t gpu_dptr(vox_bref r);
/* Launches kernel f (named `name`) for op on the device's stream: grid
 * blocks of bx*by threads, smem bytes of dynamic shared memory (raising the
 * kernel's limit where needed; *smem_raised: the limit it has, kept by the
 * caller per kernel), args as the runtime takes them (one pointer per
 * parameter). Records name as the op's last kernel (gpu_last_kernel). */
vox_status gpu_launch_fn(gpu_dev *g, vox_op op, void *f, const char *name, int *smem_raised, int64_t grid,
                         unsigned bx, unsigned by, size_t smem, void **args);
/* The same for kernel fn of the shared module. */
vox_status gpu_launch(gpu_dev *g, vox_op op, int fn, int64_t grid, unsigned bx, unsigned by, size_t smem,
                      void **args);
/* The same for a kernel of kernels.cu: its two parameters (vox_<op>_bufs,
 * vox_<op>_args). */
vox_status gpu_launch_op(gpu_dev *g, vox_op op, int fn, int64_t grid, unsigned bx, unsigned by, size_t smem,
                         const void *bufs, const void *args);
/* vox_backend.last_kernel: the kernel the last call of op launched, or NULL. */
const char *gpu_last_kernel(void *dev, vox_op op);
/* vox_backend.host_waits. */
uint64_t gpu_host_waits(void *dev);
/* vox_backend.caller_layout_ops. */
uint32_t gpu_caller_layout_ops(void *dev);
/* attention_backward in the caller's layout (p->slot_token present): the
 * vendor path where it takes the call, else block copies of the inputs, the
 * block-layout op and permute_from of the gradients. */
vox_status gpu_attention_backward_caller(gpu_dev *g, const vox_op_dims *d, const vox_op_attention_backward *p);
/* min(work, blocks per_sm on each multiprocessor) */
int64_t gpu_cap_grid(const gpu_dev *g, int64_t work, int per_sm);

/* gpu_ops.c (the launchers of kernels/<op>.cuh): the ops of core/backend.h */
VOX_BACKEND_DECLARE_ALL_OPS(gpu_) /* core/backend.h */

/* A backend's table: its probe and open (a wrapper passing its gpu_api to
 * gpu_open); every other entry is the shared implementation. */
#define GPU_BACKEND_TABLE(KIND, NAME, PROBE, OPEN)                                                    \
    {                                                                                                 \
        .kind = (KIND), .name = (NAME), .probe = (PROBE), .open = (OPEN), VOX_BACKEND_DEVICE(gpu_),   \
        .host_waits = gpu_host_waits, VOX_BACKEND_TIMERS(gpu_), VOX_BACKEND_ALL_OPS(gpu_)             \
        .caller_layout_ops = gpu_caller_layout_ops                                                     \
    }

#endif
