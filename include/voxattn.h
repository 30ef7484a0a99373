/*
 * voxattn — block-sparse attention planning and execution for video diffusion
 * transformers (Sparse VideoGen head classification, BSA query/KV selection)
 * on CUDA, HIP, OpenCL, Vulkan and a CPU reference.
 *
 * Conventions
 * - Every function returns vox_status (VOX_OK = 0, errors < 0) unless noted.
 *   Details of a failure go to the logger given at context creation. The
 *   library never prints, aborts or exits.
 * - Create functions take a params struct initialised by the matching
 *   *_defaults() function; destroy functions accept NULL.
 * - Tensors: buffer + byte offset + dtype + shape (batch, heads, tokens,
 *   head_dim) + element strides (batch, head, token); head_dim is contiguous.
 *
 * Thread safety
 * - vox_status_string, vox_dtype_size, vox_convert, vox_device_count,
 *   vox_device_info and vox_backend_info may be called from any thread at any
 *   time (device enumeration runs once, behind a lock).
 * - Distinct contexts are independent and may be used concurrently from
 *   different threads, also on the same device.
 * - One context, and every buffer and plan created from it, must be used by
 *   one thread at a time (the caller serialises). A plan owns scratch memory
 *   that vox_plan_build, vox_attention_forward and vox_attention_backward
 *   write, so a plan is never shared between threads running concurrently:
 *   create one plan per thread (plans are cheap) on one context per thread.
 */
#ifndef VOXATTN_H
#define VOXATTN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(VOXATTN_BUILDING_SHARED)
#define VOX_API __declspec(dllexport)
#elif defined(__GNUC__)
#define VOX_API __attribute__((visibility("default")))
#else
#define VOX_API
#endif

#define VOXATTN_VERSION_MAJOR 0
#define VOXATTN_VERSION_MINOR 1
#define VOXATTN_VERSION_PATCH 0

/* ------------------------------------------------------------------ status */

typedef enum vox_status {
    VOX_OK = 0,
    VOX_ERR_INVALID_ARGUMENT = -1,     /* NULL, bad shape/stride/size, bad mask */
    VOX_ERR_OUT_OF_MEMORY = -2,        /* host allocation failed */
    VOX_ERR_DEVICE_OUT_OF_MEMORY = -3, /* device allocation failed */
    VOX_ERR_UNSUPPORTED = -4,          /* valid request the device cannot do */
    VOX_ERR_BACKEND_UNAVAILABLE = -5,  /* runtime library or device missing */
    VOX_ERR_BACKEND = -6,              /* the vendor runtime reported an error */
    VOX_ERR_COMPILE = -7,              /* run-time kernel compilation failed */
    VOX_ERR_INVALID_STATE = -8,        /* e.g. forward before vox_plan_build */
    VOX_ERR_BUFFER_TOO_SMALL = -9      /* a tensor or copy exceeds its buffer */
} vox_status;

VOX_API const char *vox_status_string(vox_status status);

/* ------------------------------------------------------------------ dtypes */

typedef enum vox_dtype { VOX_F32 = 0, VOX_F16 = 1, VOX_BF16 = 2 } vox_dtype;

/* Bytes per element, 0 for an unknown dtype. */
VOX_API size_t vox_dtype_size(vox_dtype dtype);
/* Host conversion between dtypes (round to nearest even). */
VOX_API vox_status vox_convert(vox_dtype dst_dtype, void *dst, vox_dtype src_dtype,
                               const void *src, size_t count);

/* ----------------------------------------------------------------- logging */

typedef enum vox_log_level {
    VOX_LOG_ERROR = 0,
    VOX_LOG_WARN = 1,
    VOX_LOG_INFO = 2,
    VOX_LOG_DEBUG = 3
} vox_log_level;

typedef void (*vox_log_fn)(void *user, vox_log_level level, const char *message);

/* ----------------------------------------------------------------- devices */

typedef enum vox_backend_kind {
    VOX_BACKEND_CPU = 0,
    VOX_BACKEND_CUDA = 1,
    VOX_BACKEND_HIP = 2,
    VOX_BACKEND_OPENCL = 3,
    VOX_BACKEND_VULKAN = 4,
    VOX_BACKEND_COUNT = 5
} vox_backend_kind;

typedef enum vox_device_type {
    VOX_DEVICE_REFERENCE = 0, /* the CPU reference backend */
    VOX_DEVICE_GPU = 1,
    VOX_DEVICE_CPU = 2,       /* a CPU driver such as PoCL or lavapipe */
    VOX_DEVICE_OTHER = 3
} vox_device_type;

#define VOX_CAP_F16 (1u << 0)          /* f16 storage/arith supported */
#define VOX_CAP_BF16 (1u << 1)         /* bf16 storage supported */
#define VOX_CAP_MATRIX_UNITS (1u << 2) /* tensor cores / cooperative matrix */
#define VOX_CAP_TIMER (1u << 3)        /* device timestamps for benchmarks */

typedef struct vox_device_desc {
    vox_backend_kind backend;
    const char *backend_name; /* "cpu", "cuda", "hip", "opencl", "vulkan" */
    int backend_index;        /* N in "opencl:N" */
    char id[32];              /* "opencl:0", usable in VOXATTN_DEVICE */
    char name[128];
    char vendor[64];
    char driver[64];
    vox_device_type type;
    uint64_t memory_bytes;
    uint32_t caps;             /* VOX_CAP_* */
    uint32_t subgroup_size;    /* warp / wavefront / subgroup; 0 if unknown */
    uint64_t shared_memory_bytes;
    uint32_t compute_units;
} vox_device_desc;

/* Devices of every backend that loaded. Never fails for a missing runtime. */
VOX_API vox_status vox_device_count(int *count);
VOX_API vox_status vox_device_info(int index, vox_device_desc *info);

typedef struct vox_backend_desc {
    vox_backend_kind backend;
    const char *name;
    int compiled;      /* built into this library */
    int available;     /* runtime loaded and at least one device */
    int device_count;
    char reason[256];  /* why not available (or driver summary if available) */
} vox_backend_desc;

VOX_API vox_status vox_backend_info(vox_backend_kind backend, vox_backend_desc *info);

/* ----------------------------------------------------------------- context */

/* Native handles of the caller's runtime, for engines that own their queue.
 * Pointers are the vendor handles cast to void* (CUstream, hipStream_t,
 * cl_command_queue, VkDevice...). */
typedef struct vox_native_queue {
    vox_backend_kind backend;
    void *queue;            /* CUstream / hipStream_t / cl_command_queue / VkQueue */
    void *context;          /* CUcontext / - / cl_context / VkDevice */
    void *device;           /* - / - / cl_device_id / VkPhysicalDevice */
    void *instance;         /* - / - / - / VkInstance */
    void *get_proc_addr;    /* Vulkan: PFN_vkGetInstanceProcAddr of the caller */
    uint32_t queue_family;  /* Vulkan queue family index of `queue` */
} vox_native_queue;

typedef struct vox_context_params {
    /* Device by global index (vox_device_info), or -1: use `device_id`, then
     * the VOXATTN_DEVICE environment variable, then the best device. */
    int device_index;
    const char *device_id; /* "cuda:0", "vulkan:1", "opencl:0", "cpu"; NULL = unset */
    vox_log_fn log;        /* NULL: messages are dropped */
    void *log_user;
    vox_log_level log_level;
    const vox_native_queue *native; /* NULL: the library creates its own queue */
    /* Nonzero: every vox_plan_build is bracketed by device timestamps and
     * waits for the second, so vox_plan_last_build_ms can report it (for
     * benchmarks). 0 (default): builds only enqueue work and never make the
     * host wait, which CUDA-graph capture and overlap need; the build time is
     * then unavailable. */
    int time_builds;
} vox_context_params;

typedef struct vox_context vox_context;

VOX_API vox_status vox_context_defaults(vox_context_params *params);
VOX_API vox_status vox_context_create(const vox_context_params *params, vox_context **out);
/* Releases the caller's handle. Buffers and plans of the context may be
 * destroyed before or after it, in any order: the device is released when
 * the context and all of them are destroyed. After this call the handle
 * must not be used to create anything or be passed to other calls. */
VOX_API void vox_context_destroy(vox_context *ctx);
/* The device this context runs on. */
VOX_API vox_status vox_context_device(const vox_context *ctx, vox_device_desc *info);
/* Wait for all work submitted by this context. */
VOX_API vox_status vox_context_finish(vox_context *ctx);

/* ----------------------------------------------------------------- buffers */

typedef struct vox_buffer vox_buffer;

/* Contents of a new buffer are undefined until written. */
VOX_API vox_status vox_buffer_create(vox_context *ctx, size_t bytes, vox_buffer **out);
/* Wrap a native allocation (CUdeviceptr / hipDeviceptr_t / cl_mem / VkBuffer
 * passed as uint64) of `bytes` bytes; the caller keeps ownership. On the cpu
 * backend `native` is a host pointer. */
VOX_API vox_status vox_buffer_wrap(vox_context *ctx, uint64_t native, size_t bytes,
                                   vox_buffer **out);
VOX_API void vox_buffer_destroy(vox_buffer *buf);
VOX_API size_t vox_buffer_size(const vox_buffer *buf);
/* Blocking copies between host memory and a buffer. */
VOX_API vox_status vox_buffer_write(vox_buffer *buf, size_t offset, const void *src,
                                    size_t bytes);
VOX_API vox_status vox_buffer_read(vox_buffer *buf, size_t offset, void *dst, size_t bytes);

/* ----------------------------------------------------------------- tensors */

typedef struct vox_tensor {
    vox_buffer *buffer;
    size_t offset; /* bytes */
    vox_dtype dtype;
    int64_t batch, heads, tokens, head_dim;
    int64_t stride_batch, stride_head, stride_token; /* elements */
} vox_tensor;

/* [B,H,N,D] contiguous. Sizes whose strides overflow int64 give stride -1,
 * which every call rejects. */
VOX_API vox_tensor vox_tensor_bhnd(vox_buffer *buf, vox_dtype dtype, int64_t batch,
                                   int64_t heads, int64_t tokens, int64_t head_dim);
/* [B,N,H,D] contiguous (the layout of most DiT implementations). */
VOX_API vox_tensor vox_tensor_bnhd(vox_buffer *buf, vox_dtype dtype, int64_t batch,
                                   int64_t heads, int64_t tokens, int64_t head_dim);
/* Bytes a tensor spans from its offset (0 if invalid). */
VOX_API size_t vox_tensor_span_bytes(const vox_tensor *t);

/* ------------------------------------------------------------------- plans */

typedef enum vox_mask_mode {
    VOX_MASK_DENSE = 0,
    VOX_MASK_CUSTOM = 1,
    VOX_MASK_SVG = 2,
    VOX_MASK_BSA = 3
} vox_mask_mode;

typedef enum vox_text_position { VOX_TEXT_AFTER = 0, VOX_TEXT_BEFORE = 1 } vox_text_position;

typedef enum vox_kv_rule {
    VOX_KV_CUMULATIVE = 0, /* admit by descending p while mass before < tau */
    VOX_KV_TOPK = 1,       /* the k most probable blocks */
    VOX_KV_STAT = 2        /* s >= mean + z * std */
} vox_kv_rule;

typedef enum vox_head_class {
    VOX_HEAD_DENSE = 0,
    VOX_HEAD_SPATIAL = 1,
    VOX_HEAD_TEMPORAL = 2
} vox_head_class;

typedef struct vox_plan_params {
    /* shape */
    int64_t batch, heads, head_dim;
    int64_t frames, height, width; /* latent video grid, frame-major tokens */
    int64_t text_tokens;           /* global tokens */
    vox_text_position text_position;
    int block_t, block_h, block_w; /* volume a power of two in [16,256] */
    vox_dtype dtype;
    double scale; /* 0: 1/sqrt(head_dim) */
    vox_mask_mode mask_mode;

    /* CUSTOM: block CSR over query blocks in block order (video blocks ordered
     * (t,y,x), then global blocks). custom_masks is 1 (shared by every batch
     * and head) or batch*heads (mask m for b*heads+h). custom_row_ptr has
     * custom_masks*n_blocks+1 entries, starts at 0, non-decreasing;
     * custom_kv_block has custom_row_ptr[last] entries, each row ascending,
     * unique, in [0, n_blocks). Used exactly as given (own and global blocks
     * are not added); a row with no keys yields zero output and LSE -inf.
     * The arrays are copied at plan creation. */
    int64_t custom_masks;
    const int32_t *custom_row_ptr;
    const int32_t *custom_kv_block;

    /* SVG */
    int svg_sample_rows;       /* rows sampled per head, default 64 */
    int svg_frame_blocks;      /* spatial: |tb'-tb| <= this, default 0 */
    int svg_space_blocks;      /* temporal: |yb'-yb|,|xb'-xb| <= this, default 1 */
    int svg_first_frame_sink;  /* first frame-block always allowed */
    double svg_dense_above;    /* min error above this -> dense; default never */

    /* BSA */
    vox_kv_rule kv_rule;
    double kv_tau;  /* CUMULATIVE, (0,1], default 0.9 */
    int kv_topk;    /* TOPK, >= 1 */
    double kv_z;    /* STAT */
    int kv_min_blocks; /* default 4 */
    /* At most this many blocks a video query block's rule admits (before the
     * kv_min_blocks top-up, its own block and the global blocks); 0 (default)
     * = no cap. CUMULATIVE: the first min(c, cap) of the rule's c; TOPK:
     * k becomes min(k, cap); STAT: its c blocks when c <= cap, else the cap
     * most probable. The mask's device memory follows it: a row has room for
     * about cap + 1 + globals columns. CUMULATIVE and STAT without a cap may
     * admit any block, so their rows get n_blocks of room (O(n_blocks^2) per
     * head): set a cap for long videos. */
    int kv_max_blocks;
    double query_keep; /* (0,1], 1 = no query pruning */
    int window_t, window_h, window_w; /* query windows, default (2,2,2); must fit
                                       * the block when query_keep < 1 (else clipped) */

    uint64_t seed; /* sampling seed (SVG rows, evaluation rows) */

    /* vox_attention_backward: 0 (default) = the backend picks the fastest
     * kernels; on the CUDA sm_90a path that may add dq in f32 by reduce-adds in
     * an order that varies run to run (dq may differ in the last bits; dk, dv
     * do not). Nonzero = bitwise reproducible dq there too (a separate dq
     * kernel that recomputes the scores: 7 instead of 5 GEMM-equivalents).
     * Every other backend and path is deterministic either way. */
    int deterministic_backward;
} vox_plan_params;

typedef struct vox_plan vox_plan;

VOX_API vox_status vox_plan_defaults(vox_plan_params *params);
VOX_API vox_status vox_plan_create(vox_context *ctx, const vox_plan_params *params,
                                   vox_plan **out);
VOX_API void vox_plan_destroy(vox_plan *plan);

/* Builds the masks of an SVG or BSA plan from this step's queries and keys on
 * the plan's device (head classification, query selection, KV selection).
 * v is read only by SVG classification (NULL is fine for BSA). DENSE and
 * CUSTOM plans with query_keep = 1 need no build (it succeeds, does nothing). */
VOX_API vox_status vox_plan_build(vox_plan *plan, const vox_tensor *q, const vox_tensor *k,
                                  const vox_tensor *v);

/* out = blocksparse softmax(q k^T * scale) v in the caller's layout and dtype.
 * lse (optional, NULL) is an f32 tensor with head_dim 1: natural-log
 * sum-exp of the scaled scores of each row. Pruned query rows (query_keep < 1)
 * receive the output and LSE of their source row. */
VOX_API vox_status vox_attention_forward(vox_plan *plan, const vox_tensor *q,
                                         const vox_tensor *k, const vox_tensor *v,
                                         const vox_tensor *out, const vox_tensor *lse);

/* Gradients of vox_attention_forward (training): given the forward's inputs
 * q, k, v, its output `out` and its `lse` (required here: the f32 tensor with
 * head_dim 1 the forward wrote) and dout = dL/d(out), writes dq = dL/dq,
 * dk = dL/dk, dv = dL/dv in the caller's layout and the plan's dtype (same
 * shape as q; any strides). It is the exact gradient of the forward this plan
 * computes with the masks of its last build (call it after that step's
 * vox_plan_build and vox_attention_forward; masks are not rebuilt and their
 * selection is not differentiated):
 * - global (text) blocks are ordinary rows and columns;
 * - a row without keys (empty CUSTOM row) passes no gradient;
 * - pruned query rows (query_keep < 1): a pruned row's output is a copy of
 *   its source row's, so its dout is added to the source row's, and its own
 *   dq is 0 (its query is not used by the forward).
 * dq, dk and dv may not share memory with any input or with each other;
 * tensors of the same strides interleaved in one buffer without sharing an
 * element (a packed [B,N,3,H,D] gradient) are fine, other tensors whose byte
 * spans intersect are refused. Errors, with nothing written and a log line:
 * VOX_ERR_INVALID_ARGUMENT (NULL, shape, dtype, strides, overlap),
 * VOX_ERR_BUFFER_TOO_SMALL, VOX_ERR_INVALID_STATE (masks never built),
 * VOX_ERR_UNSUPPORTED (the device has no backward; plans never require it).
 * The plan allocates its backward buffers (dO, dQ, dK, dV in block layout,
 * the mask's transpose) on the first call. */
VOX_API vox_status vox_attention_backward(vox_plan *plan, const vox_tensor *q, const vox_tensor *k,
                                          const vox_tensor *v, const vox_tensor *out, const vox_tensor *lse,
                                          const vox_tensor *dout, const vox_tensor *dq, const vox_tensor *dk,
                                          const vox_tensor *dv);

/* Merges partial attention results computed over disjoint key sets (the
 * ring-attention combine, and the split of one plan's keys into shards):
 * given n >= 1 pairs (parts[i], part_lses[i]) of the same shape [B,H,N,D]
 * (each any layout vox_attention_forward accepts; dtype that of `out`) and
 * f32 LSEs [B,H,N,1], writes per row, with L = log(sum_i exp(lse_i)),
 *   out = sum_i exp(lse_i - L) * parts[i],  lse = L
 * max-subtracted, accumulated in f32 on the devices (f64 on the cpu
 * reference). Defined results per row: a pair with lse_i = -inf (a shard
 * with no keys for the row) contributes nothing and its part is not read;
 * all -inf: out = 0, lse = -inf; a NaN lse_i: out and lse NaN; an lse_i of
 * +inf: out NaN, lse +inf. The pairs are merged one after another into out
 * (n passes): for f16/bf16 `out` is rounded to its dtype after each pair, so
 * merge many shards in f32 (or in one call from f32 parts) where that matters.
 * In place: `out` may be parts[0] itself (same buffer, offset and strides)
 * and `lse` part_lses[0] itself, to accumulate shard after shard
 * (vox_attention_merge(ctx, 2, {acc, new}, {acc_lse, new_lse}, acc, acc_lse));
 * any other sharing of memory between an output and an input, or between out
 * and lse, is refused. The call takes a context, not a plan: it works on the
 * caller's tensors as they are (no block layout), and shards often come from
 * different plans. Asynchronous like vox_attention_forward. Errors, with
 * nothing written and a log line: VOX_ERR_INVALID_ARGUMENT (NULL, n < 1,
 * shape, dtype, strides, overlap), VOX_ERR_BUFFER_TOO_SMALL,
 * VOX_ERR_UNSUPPORTED (the device has no merge, or its index range). */
VOX_API vox_status vox_attention_merge(vox_context *ctx, int n, const vox_tensor *parts, const vox_tensor *part_lses,
                                       const vox_tensor *out, const vox_tensor *lse);

typedef struct vox_plan_stats {
    int64_t tokens, video_tokens, global_tokens;
    int64_t n_blocks, n_video_blocks, n_global_blocks;
    int64_t grid_blocks_t, grid_blocks_h, grid_blocks_w;
    int block_volume;
    double padded_fraction;  /* padding slots / all slots */
    int built;               /* masks available */
    double density;          /* allowed blocks / all blocks, over all heads */
    double kept_query_fraction;
    double flops_dense;      /* 4*N*N*D per head, all heads */
    double flops;            /* 4*kept_q*allowed_k*D summed (valid tokens) */
    int64_t n_heads_total;   /* batch*heads */
    int64_t n_spatial, n_temporal, n_dense; /* SVG classes */
    int64_t device_bytes;    /* device memory the plan owns (tables, masks, block-layout
                                working tensors): O(N*D) plus the mask's capacity: about
                                min(k, kv_max_blocks)+1 columns per query block for TOPK,
                                kv_max_blocks+1 for CUMULATIVE and STAT with a cap, and
                                n_blocks without one (any block may be admitted:
                                O(n_blocks^2) per head) */
} vox_plan_stats;

/* Reads the built masks back from the device the first time after a build
 * (a blocking read) and checks them: a row's count beyond its room, a listed
 * block or a kept row out of range returns VOX_ERR_BACKEND (logged, the row
 * named) and nothing is walked; so do vox_plan_export_mask,
 * vox_plan_head_classes and vox_plan_evaluate. */
VOX_API vox_status vox_plan_stats_get(const vox_plan *plan, vox_plan_stats *stats);

/* Per (batch, head) class and errors (SVG); arrays of batch*heads entries,
 * each may be NULL. For other modes classes are DENSE and errors 0. */
VOX_API vox_status vox_plan_head_classes(const vox_plan *plan, vox_head_class *classes,
                                         double *err_spatial, double *err_temporal);

/* Export mask m (0 <= m < batch*heads) as block CSR: row_ptr gets n_blocks+1
 * entries; kv_block must hold kv_capacity entries (n_blocks*n_blocks always
 * suffices); *nnz receives the count. keep (optional) gets one flag per
 * block-layout slot (n_blocks*block_volume): 1 kept query, 0 pruned, -1 padding. */
VOX_API vox_status vox_plan_export_mask(const vox_plan *plan, int64_t m, int32_t *row_ptr,
                                        int32_t *kv_block, int64_t kv_capacity, int64_t *nnz,
                                        int8_t *keep);

/* Block-layout slot of each token (tokens entries; caller order: text before
 * or after video per the plan). */
VOX_API vox_status vox_plan_token_slots(const vox_plan *plan, int32_t *slot_of_token);

typedef struct vox_eval_result {
    double recall;     /* mean over sampled rows of the dense attention mass inside the mask */
    double rel_error;  /* sum ||o - o_dense||^2 / sum ||o_dense||^2 over sampled rows */
    int64_t rows;      /* rows evaluated (per head, times heads) */
} vox_eval_result;

/* Evaluation on the host in fp64: for `rows_per_head` video rows drawn with
 * the plan's seed, compare `out` (a forward result) with dense attention and
 * measure the attention mass the plan's mask captures. Reads the tensors back. */
VOX_API vox_status vox_plan_evaluate(const vox_plan *plan, const vox_tensor *q,
                                     const vox_tensor *k, const vox_tensor *v,
                                     const vox_tensor *out, int rows_per_head,
                                     vox_eval_result *result);

/* Device timing for benchmarks: returns milliseconds measured with the
 * backend's own timestamps between begin and end (falls back to host time). */
VOX_API vox_status vox_timer_begin(vox_context *ctx);
VOX_API vox_status vox_timer_end(vox_context *ctx, double *ms);

/* Time spent in the last vox_plan_build, in ms (device events where the
 * backend has them). Only for contexts created with time_builds set: else
 * VOX_ERR_INVALID_STATE (builds are not timed, so that they never wait). */
VOX_API vox_status vox_plan_last_build_ms(const vox_plan *plan, double *ms);

#ifdef __cplusplus
}
#endif
#endif /* VOXATTN_H */
