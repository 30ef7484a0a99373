/* Vulkan backend internals (private): the entry-point tables, the device
 * object, and what the backend's files share:
 *   vk_loader.c   libvulkan loading, entry-point tables, device probing
 *   vk_device.c   instance and device open/close, features, queues; the table
 *   vk_buffer.c   buffers, wrapping, staging, buffer_read / buffer_write
 *   vk_submit.c   command buffer, submission, timers, pipeline cache,
 *                 descriptor sets, vk_dispatch
 *   vk_ops.c      one launcher per op, named after it, and supports()
 * libvulkan is loaded at run time; the headers are used for types only
 * (VK_NO_PROTOTYPES). */
#ifndef VOX_VK_INTERNAL_H
#define VOX_VK_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <stddef.h>
#include <vulkan/vulkan.h>

#include "backend.h"
#include "kernel_args.h"

/* Instance-level functions. */
#define VK_INSTANCE_FUNCS(X)                                                                       \
    X(vkDestroyInstance)                                                                           \
    X(vkEnumeratePhysicalDevices)                                                                  \
    X(vkGetPhysicalDeviceProperties)                                                               \
    X(vkGetPhysicalDeviceProperties2)                                                              \
    X(vkGetPhysicalDeviceFeatures2)                                                                \
    X(vkGetPhysicalDeviceQueueFamilyProperties)                                                    \
    X(vkGetPhysicalDeviceMemoryProperties)                                                         \
    X(vkEnumerateDeviceExtensionProperties)                                                        \
    X(vkCreateDevice)                                                                              \
    X(vkGetDeviceProcAddr)

/* Device-level functions. */
#define VK_DEVICE_FUNCS(X)                                                                         \
    X(vkDestroyDevice)                                                                             \
    X(vkGetDeviceQueue)                                                                            \
    X(vkCreateBuffer)                                                                              \
    X(vkDestroyBuffer)                                                                             \
    X(vkGetBufferMemoryRequirements)                                                               \
    X(vkAllocateMemory)                                                                            \
    X(vkFreeMemory)                                                                                \
    X(vkBindBufferMemory)                                                                          \
    X(vkMapMemory)                                                                                 \
    X(vkUnmapMemory)                                                                               \
    X(vkCreateShaderModule)                                                                        \
    X(vkDestroyShaderModule)                                                                       \
    X(vkCreateDescriptorSetLayout)                                                                 \
    X(vkDestroyDescriptorSetLayout)                                                                \
    X(vkCreatePipelineLayout)                                                                      \
    X(vkDestroyPipelineLayout)                                                                     \
    X(vkCreateComputePipelines)                                                                    \
    X(vkDestroyPipeline)                                                                           \
    X(vkCreateDescriptorPool)                                                                      \
    X(vkDestroyDescriptorPool)                                                                     \
    X(vkResetDescriptorPool)                                                                       \
    X(vkAllocateDescriptorSets)                                                                    \
    X(vkUpdateDescriptorSets)                                                                      \
    X(vkCreateCommandPool)                                                                         \
    X(vkDestroyCommandPool)                                                                        \
    X(vkAllocateCommandBuffers)                                                                    \
    X(vkResetCommandBuffer)                                                                        \
    X(vkBeginCommandBuffer)                                                                        \
    X(vkEndCommandBuffer)                                                                          \
    X(vkCmdBindPipeline)                                                                           \
    X(vkCmdBindDescriptorSets)                                                                     \
    X(vkCmdPushConstants)                                                                          \
    X(vkCmdDispatch)                                                                               \
    X(vkCmdPipelineBarrier)                                                                        \
    X(vkCmdCopyBuffer)                                                                             \
    X(vkCmdResetQueryPool)                                                                         \
    X(vkCmdWriteTimestamp)                                                                         \
    X(vkCreateQueryPool)                                                                           \
    X(vkDestroyQueryPool)                                                                          \
    X(vkGetQueryPoolResults)                                                                       \
    X(vkCreateFence)                                                                               \
    X(vkDestroyFence)                                                                              \
    X(vkResetFences)                                                                               \
    X(vkWaitForFences)                                                                             \
    X(vkQueueSubmit)                                                                               \
    X(vkDeviceWaitIdle)

#define VK_DECLARE_FN(name) PFN_##name name;
#define VK_RING 4 /* batches of recorded work in flight at most (vk_dev.ring) */
#define VK_POOL_SETS 256 /* descriptor sets (dispatches) per batch */
#define VK_PROF_Q 2048   /* VOXATTN_VULKAN_PROFILE=2: timestamp queries (two a dispatch) between collections */
#define VK_PROF_ROWS 64  /* VOXATTN_VULKAN_PROFILE=2: pipelines tallied */
typedef struct vk_prof_row { /* VOXATTN_VULKAN_PROFILE=2: one pipeline's dispatches */
    const char *name;
    double ms;
    uint64_t n;
} vk_prof_row;

typedef struct vk_ifn {
    VK_INSTANCE_FUNCS(VK_DECLARE_FN)
} vk_ifn;
typedef struct vk_dfn {
    VK_DEVICE_FUNCS(VK_DECLARE_FN)
} vk_dfn;

/* Loader-level functions (before any instance exists). */
typedef struct vk_global {
    PFN_vkCreateInstance vkCreateInstance;
    PFN_vkEnumerateInstanceVersion vkEnumerateInstanceVersion;
    PFN_vkEnumerateInstanceLayerProperties vkEnumerateInstanceLayerProperties;
    PFN_vkEnumerateInstanceExtensionProperties vkEnumerateInstanceExtensionProperties;
} vk_global;

/* ---- push constants: kernel arguments of core/kernel_args.h --------------
 * Every pipeline's push-constant block is a head followed by its op's
 * vox_<op>_args, byte for byte (shaders/common.glsl, VOX_GLSL_PC_HEAD):
 *   uint wg_base, wg_count  linear workgroup offset and count (large
 *                      launches are split into several 2D dispatches)
 *   uint off[n]        element offset of each binding (the host binds at an
 *                      aligned byte offset and passes the remainder here);
 *                      n = the op's buffer count rounded up to even, so the
 *                      args start 8-byte aligned
 * Bindings follow the order of VOX_<OP>_BUFS. */
#define VK_OPS(X) VOX_KERNELS(X) /* core/kernel_args.h: X(op, BUFS, ARGS) per op */

#define VK_ONE(t, n) +1
#define VK_NBUFS(BUFS) (0 BUFS(VK_ONE))
#define VK_NOFF(nbufs) (((nbufs) + 1) / 2 * 2)
#define VK_PC_HEAD_BYTES(nbufs) (8 + 4 * VK_NOFF(nbufs))

/* One storage-buffer binding of a dispatch: a buffer (NULL: unused binding),
 * byte offset, the bytes the shader may touch from there, element size. */
typedef struct vk_buf vk_buf;
typedef struct vk_bind {
    const vk_buf *b;
    size_t off, bytes;
    unsigned es;
    int open_end; /* extent not known on the host: up to the buffer's end */
} vk_bind;

/* Per op: vk_<op>_binds, the bindings by buffer name (and as an array), and
 * vk_pc_<op>, the push-constant block as std430 lays it out (8-byte fields
 * 8-aligned), for the layout checks below. */
#define VK_BIND_MEMBER(t, n) vk_bind n;
#define VK_STD430_i32(n) int32_t n;
#define VK_STD430_u32(n) uint32_t n;
#define VK_STD430_f32(n) float n;
#define VK_STD430_i64(n) _Alignas(8) uint32_t n[2];
#define VK_STD430_f64(n) _Alignas(8) uint32_t n[2];
#define VK_STD430_FIELD(t, n) VK_STD430_##t(n)
#define VK_OP_TYPES(op, BUFS, ARGS)                                                                \
    typedef union vk_##op##_binds {                                                                \
        struct {                                                                                   \
            BUFS(VK_BIND_MEMBER)                                                                   \
        };                                                                                         \
        vk_bind at[VK_NBUFS(BUFS)];                                                                \
    } vk_##op##_binds;                                                                             \
    typedef struct vk_pc_##op {                                                                    \
        uint32_t wg_base, wg_count, off[VK_NOFF(VK_NBUFS(BUFS))];                                        \
        ARGS(VK_STD430_FIELD)                                                                      \
    } vk_pc_##op;
VK_OPS(VK_OP_TYPES)

/* The C args have no padding and neither has their std430 mirror after the
 * head: the field sizes are the same in both, so every offset matches. */
#define VK_C_SIZE(t, n) +sizeof(VOX_C_T_##t)
#define VK_OP_CHECKS(op, BUFS, ARGS)                                                               \
    _Static_assert(sizeof(vox_##op##_args) == 0 ARGS(VK_C_SIZE), #op ": padding in the C args");  \
    _Static_assert(sizeof(vk_pc_##op) == VK_PC_HEAD_BYTES(VK_NBUFS(BUFS)) + sizeof(vox_##op##_args), \
                   #op ": args are not laid out as std430 (8-byte fields first)");                 \
    _Static_assert(sizeof(vk_##op##_binds) == sizeof(vk_bind) * VK_NBUFS(BUFS), #op ": binds");
VK_OPS(VK_OP_CHECKS)

#define VK_OP_COUNT(op, BUFS, ARGS) +1
_Static_assert(0 VK_OPS(VK_OP_COUNT) == VOX_OP_COUNT, "VK_OPS lists every op of VOX_KERNEL_OPS");

/* The largest push-constant block of any op (the pipeline layout's range). */
#define VK_PC_MEMBER(op, BUFS, ARGS) vk_pc_##op op;
typedef union vk_pc_any {
    VK_OPS(VK_PC_MEMBER)
} vk_pc_any;
#define VK_PC_MAX sizeof(vk_pc_any)

#define VK_NBIND 12 /* storage-buffer bindings of the one descriptor-set layout */
#define VK_BIND_FITS(op, BUFS, ARGS) _Static_assert(VK_NBUFS(BUFS) <= VK_NBIND, #op ": too many buffers");
VK_OPS(VK_BIND_FITS)

#define VK_MAX_PIPES 64

/* ---- the device ---------------------------------------------------------- */
struct vk_buf {
    VkBuffer buf;
    VkDeviceMemory mem; /* VK_NULL_HANDLE when wrapped */
    size_t size;
    int wrapped;
};

typedef struct vk_pipe {
    char name[64]; /* the shader variant, e.g. attention_forward_bf16_d128 (meson.build) */
    VkPipeline pipe;
} vk_pipe;

typedef struct vk_dev {
    const vox_logger *log;
    void *lib; /* libvulkan handle (NULL when only the caller's loader is used) */
    PFN_vkGetInstanceProcAddr gipa;
    vk_ifn fi;
    vk_dfn fd;
    VkInstance inst;
    VkPhysicalDevice pd;
    VkDevice device;
    VkQueue queue;
    uint32_t qfam;
    int own_instance, own_device;
    VkDebugUtilsMessengerEXT messenger;
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger;

    VkPhysicalDeviceLimits limits;
    VkPhysicalDeviceMemoryProperties memprops;
    VkDeviceSize max_alloc;
    uint32_t ts_valid_bits;
    uint32_t pc_bytes; /* push-constant range of the pipeline layout */
    int has16;
    int coopmat; /* VK_NV_cooperative_matrix enabled: attention_forward_cm_* pipelines (f16/bf16, D <= 128) */
    int fp64;    /* shaderFloat64 enabled: svg_classify_f64 */
    int sr_nv2_form; /* VOXATTN_VULKAN_SR_NV2: 0 off, 1 sample_rows_nv2, 2 _nv2p (the tile walk ahead), 3 (default) _nv2k (_nv2p with the next K in flight across S, the next V across the merge) */
    int sr_nv2;  /* VK_NV_cooperative_matrix2 enabled for sample_rows_nv2 (sr_nv2_form): f16 (bit 0), bf16 (bit 1) */
    /* VOXATTN_VULKAN_PIPELINE_STATS: VK_KHR_pipeline_executable_properties enabled, each pipeline's
     * statistics (registers, shared memory, spills where the driver reports them) logged at creation */
    int pstats;
    PFN_vkGetPipelineExecutablePropertiesKHR get_pexec;
    PFN_vkGetPipelineExecutableStatisticsKHR get_pstats;

    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    /* A ring of VK_RING batches, each a command buffer, the descriptor pool of its dispatches and a fence: a
     * batch whose pool runs out is submitted without waiting and recording goes on in the next one (the host
     * waits only for a batch still running when the ring comes round to it, or in vk_flush). cmd below: the
     * current batch's (ring[cur].cmd), kept beside it for the many recording sites. */
    struct {
        VkCommandBuffer cmd;
        VkDescriptorPool pool;
        VkFence fence;
        int busy; /* submitted, its fence not yet waited */
        int sets; /* descriptor sets allocated from its pool */
    } ring[VK_RING];
    int cur;
    int pool_sets;    /* sets a batch takes before the next one (VK_POOL_SETS; VOXATTN_VULKAN_POOL_SETS, tests) */
    VkCommandPool cmdpool;
    VkCommandBuffer cmd;
    int recording;
    vk_pipe pipes[VK_MAX_PIPES];
    int npipes;
    const char *last_kernel[VOX_OP_COUNT]; /* per op, its last dispatch's pipeline (a pipes[].name) */
    uint64_t host_waits; /* fence waits (vox_backend.host_waits) */

    vk_buf staging;
    void *staging_map;
    vk_buf dummy;
    vk_buf scratch; /* work space of kv_select and sample_rows (vk_ops.c), grown as needed */

    VkQueryPool qpool;
    int timer_started;
    int profile; /* VOXATTN_VULKAN_PROFILE: 1 each dispatch alone, host-timed; 2 device timestamps, no flush */
    /* VOXATTN_VULKAN_PROFILE=2: timestamps before and after each dispatch (prof_name[q / 2] its pipeline),
     * read at each vk_flush and tallied per pipeline, logged when the device closes */
    VkQueryPool prof_pool;
    uint32_t prof_n;
    const char *prof_name[VK_PROF_Q / 2];
    vk_prof_row prof[VK_PROF_ROWS];
    int nprof;
    int kv_rowread; /* kv_select reads kbar row by row (default; VOXATTN_VULKAN_KV_STAGED=1 stages it) */
    int kv_f32;     /* VOXATTN_VULKAN_KV_F32: kv_select's f32-only variants even with fp64 */
    int bm_serial;  /* VOXATTN_VULKAN_BM_SERIAL: block_means loads one row at a time (before session 12) */
    int kv_flush;   /* VOXATTN_VULKAN_KV_FLUSH: run the recorded work before kv_select's dispatch (diagnosis) */
    int kv_scalar;  /* VOXATTN_VULKAN_KV_SCALAR: kv_select's row reads one float at a time (no _v4) */
    int kv_f64_row; /* VOXATTN_VULKAN_KV_F64_ROW: kv_select's f64 re-scoring row by row (the _f64 variants) */
    int kv_qfloat;  /* VOXATTN_VULKAN_KV_QFLOAT: the _f64t tile pass converts qbar to f64 per key (no _f64d) */
    int kv_topk_f64t; /* VOXATTN_VULKAN_KV_TOPK_F64T: TOPK rows take the _f64t variants (no f32 certification) */
    int kv_sgw; /* kv_select's TOPK with a subgroup per row (kv_select_sgw; off: VOXATTN_VULKAN_KV_SGW=0) */
    int kv_sg; /* kv_select's collectives through subgroup operations (_sg; off: VOXATTN_VULKAN_KV_NO_SG) */
    int kv_shrow; /* VOXATTN_VULKAN_KV_SHROW: -1 unset (per-variant defaults), 0 every kv_select variant _sg, 1 _sgs */
    int kv_tq;    /* kv_select's _tq tile pass (loads ahead, 16-byte qbar reads; off: VOXATTN_VULKAN_KV_TQ=0) */
    int bm_w2;    /* block_means' _w2 variants for 16-bit types (off: VOXATTN_VULKAN_BM_W2=0) */
    int kv_lean;  /* kv_select's rows: 2 _lx where it exists, else _ln (default); 1 _ln; 0 session 16's (VOXATTN_VULKAN_KV_LEAN) */
    int kv_stop;  /* VOXATTN_VULKAN_KV_STOP (timing only): 1 `tile` the tile pass alone, 2 `row1` (kv_select_sgw: rows up to p), 3 `row2` (kv_select_sgw: up to T) */
    int kv_wave;  /* VOXATTN_VULKAN_KV_WAVE (tests): kv_select_sgw's tiles per wave at most; 0 the scratch's */
    int kv_no_replay; /* VOXATTN_VULKAN_KV_NO_REPLAY (tests): kv_select_sgw_cum without the replay */
    int kv_topk_f64;  /* VOXATTN_VULKAN_KV_TOPK_F64: kv_select_sgw's TOPK on exact f64 scores (session 25's) */
    int64_t kv_scratch_max; /* kv_select's scratch cap, bytes (vk_open: from the device-local heap, or VOXATTN_VULKAN_KV_SCRATCH_MB) */
    int kv_cum_f32;   /* VOXATTN_VULKAN_KV_CUM_F32: kv_select_sgw's CUMULATIVE on f32 scores (default; 0: exact f64) */
    int kv_fs_split;  /* VOXATTN_VULKAN_KV_FS_SPLIT: -1 (unset) _c16h only, 0 none, 1 kv_select_sgw_fs_h / _c16h / _s_h
                       * (half the rows, twice the keys), 2 _s_q */
    int kv_debug;     /* VOXATTN_VULKAN_KV_DEBUG: kv_select_sgw_f's fallback reasons logged (a blocking read) */
    int kv_fb_stop;   /* VOXATTN_VULKAN_KV_FB_STOP (timing): kv_select_sgw_fb_cum up to its scores (1), p (2), T (3) */
    int kv_f_stop;    /* VOXATTN_VULKAN_KV_F_STOP (timing): kv_select_sgw_f_cum up to the weights (1), the count (2) */
    int kv_f_slots;   /* VOXATTN_VULKAN_KV_F_SLOTS (A/B): 8 the f32 selection as in session 38 (unset: 4 rows a workgroup) */
    int kv_f_wfuse;   /* VOXATTN_VULKAN_KV_F_WFUSE (unset = 1; 0: A/B): the weights' sweep fills the first radix pass */
    int kv_fb_wg;     /* VOXATTN_VULKAN_KV_FB_WG (unset = 1; 0: a subgroup a row): the fallback a workgroup a row (kv_select_sgw_fb_wg, _fb_cum_wg) */
    int kv_fb_pre;    /* VOXATTN_VULKAN_KV_FB_PRE (unset = 1): kv_select_sgw_fb_pre scores the fallback's first round of rows */
    int kv_fallback;  /* VOXATTN_VULKAN_KV_FALLBACK (tests): every f32 TOPK row through kv_select_sgw_fb */
    int sr_cm;     /* sample_rows' coop-matrix tile pass where the device has it (off: VOXATTN_VULKAN_SR_SCALAR) */
    int sr_cm2;    /* VOXATTN_VULKAN_SR_CM2: 1 sample_rows_cm2 (one barrier fewer per tile, block coordinates read
                      ahead), 7 _cm8 (cm2, the next tile's loads after the merge), 8 _cm9 (_cm8 in tiles of 64
                      keys); 0 sample_rows_cm. Default 8 */
    int sr_stop;   /* VOXATTN_VULKAN_SR_STOP (tests only, wrong sums): timing ablations of the bf16 coop-matrix tile
                      pass, stopped after the softmax (1), S (2), the K/V stage (3); sample_rows_nv2.comp's own
                      stops 1-4 where that pass runs (docs/environment.md) */
    int sr_copies; /* VOXATTN_VULKAN_SR_COPIES: sample_rows on block copies (off: the caller's q, k, v through slot_token) */
    int qs_copies; /* VOXATTN_VULKAN_QS_COPIES: query_select on a block copy of q (off: the caller's q through slot_token) */
    int sr_merge_wg; /* sample_rows' merge with the factors once per workgroup (VOXATTN_VULKAN_SR_MERGE_WG; off: per element) */
    int sr_slots;  /* VOXATTN_VULKAN_SR_SLOTS: sample_rows' resident workgroups (0: VK_SR_SLOTS) */
    int permute_narrow; /* permutes copy element by element (VOXATTN_VULKAN_PERMUTE_NARROW), never 16-byte words */
    int qs_stop; /* VOXATTN_VULKAN_QS_STOP 1-3 (timing only, wrong decisions): the certified bf16 query_select without its sources (1), also without its keep flags (2, every row kept), also without its norms (3) */
    int qs_rows; /* how _certr reads its rows (VOXATTN_VULKAN_QS_ROWS): 0 from q as needed, 1 (default) four chunks at a time (_certu) */
    int qs_rsq; /* the certified query_select's cosines without f64 division or square root (_certr; VOXATTN_VULKAN_QS_RSQ=0: _cert) */
    int qs_cert; /* query_select on f64 devices: 1 (default) the certified variants, 0 the exact ones, 2 certified with every decision exact (VOXATTN_VULKAN_QS_CERT) */
    int qs_element; /* query_select's global path reads element by element (VOXATTN_VULKAN_QS_ELEMENT), not 16 bytes */
    int qs_global; /* query_select reads q rows from global memory (default; VOXATTN_VULKAN_QS_STAGED=1 stages them) */
    double timer_host_ms;
} vk_dev;

/* vk_loader.c */
const char *vk_result_string(VkResult r);
vox_status vk_status(vk_dev *d, VkResult r, const char *what);
int vk_load_library(void **lib, PFN_vkGetInstanceProcAddr *gipa, vk_global *g, char *reason, size_t rsize);
int vk_load_instance_fns(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, vk_ifn *f, char *reason, size_t rsize);
int vk_load_device_fns(const vk_ifn *fi, VkDevice dev, vk_dfn *f, char *reason, size_t rsize);
int vk_has_layer(const vk_global *g, const char *name);
int vk_has_instance_ext(const vk_global *g, const char *name);
int vk_has_device_ext(const vk_ifn *fi, VkPhysicalDevice pd, const char *name);
/* The physical device (index in enumeration order) of backend device `index`
 * as the last probe numbered them; -1 if there is none. */
int vk_probed_physical(int index);
vox_status vk_probe(vox_device_desc *descs, int max, int *count, char *reason, size_t rsize);

/* vk_device.c */
VkResult vk_create_instance(const vk_global *g, int validation, const vox_logger *log, VkInstance *inst,
                            uint32_t *api);
int vk_compute_family(const vk_ifn *fi, VkPhysicalDevice pd, uint32_t *family, uint32_t *ts_bits);
int vk_has_16bit_storage(const vk_ifn *fi, VkPhysicalDevice pd);

/* vk_buffer.c */
vox_status vk_buffer_create(vk_dev *d, size_t bytes, int host, vk_buf *b);
void vk_buffer_destroy(vk_dev *d, vk_buf *b);
void vk_staging_destroy(vk_dev *d);
VOX_BACKEND_DECLARE_BUFFERS(vk_)

/* vk_submit.c */
vox_status vk_submit_init(vk_dev *d);
void vk_submit_destroy(vk_dev *d);
vox_status vk_begin(vk_dev *d);
/* Submits the recorded work and waits for it; recycles descriptor sets. */
vox_status vk_flush(vk_dev *d);
void vk_barrier(vk_dev *d, VkPipelineStageFlags src, VkAccessFlags src_access, VkPipelineStageFlags dst,
                VkAccessFlags dst_access);
/* Records one compute pass of `groups` workgroups (split into 2D
 * dispatches as the device limits require), followed by a barrier, and
 * the pipeline as `op`'s last kernel. The push constants are the head
 * (base, total, binding offsets) and then `args`. */
vox_status vk_dispatch(vk_dev *d, vox_op op, const char *pipe_name, const vk_bind *binds, int nbinds,
                       const void *args, size_t args_bytes, uint64_t groups);
/* vk_dispatch with bindings [nhead, nbinds) beyond the op's offset table:
 * bound like the others, but their element offset below the device's
 * offset alignment (vk_bind_rem) is not in the push-constant head; the
 * caller passes it to the shader in its args. */
vox_status vk_dispatch_ex(vk_dev *d, vox_op op, const char *pipe_name, const vk_bind *binds, int nbinds, int nhead,
                          const void *args, size_t args_bytes, uint64_t groups);
uint32_t vk_bind_rem(const vk_dev *d, const vk_bind *b);
/* vk_dispatch of op's vk_<op>_binds and vox_<op>_args */
#define VK_DISPATCH(d, op, pipe_name, binds, args, groups)                                          \
    vk_dispatch(d, VOX_OP_##op, pipe_name, (binds).at,                                              \
                (int)(sizeof((binds).at) / sizeof((binds).at[0])), &(args), sizeof(args), groups)
vox_status vk_finish(void *dev);
vox_status vk_timer_begin(void *dev);
vox_status vk_timer_end(void *dev, double *ms);
/* The pipeline of op's last dispatch on this device (NULL: none yet). */
const char *vk_last_kernel(void *dev, vox_op op);
uint64_t vk_host_waits(void *dev);

/* vk_ops.c */
VOX_BACKEND_DECLARE_ALL_OPS(vk_) /* core/backend.h: every op */
vox_status vk_supports(void *dev, const vox_op_dims *d, vox_op op, char *reason, size_t reason_size);
uint32_t vk_caller_layout_ops(void *dev);

#endif
