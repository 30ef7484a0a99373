/* The CUDA backend's Hopper attention path: the sm_90a kernels of
 * backends/cuda/sm90/ (wgmma + TMA + mbarriers), built into their own fatbin
 * (sm_90a only, when the meson option nvcc_archs has 90a), loaded at device
 * open on compute capability 9.0 devices and tried first by
 * gpu_attention_forward (gpu_api.attention_forward) and, after the shared
 * preprocess, by gpu_attention_backward (gpu_api.attention_backward). Both
 * take f16/bf16, D 64 or 128, V a power of two >= 64 (the forward V <= the
 * CTA's rows; see cu_sm90_attention_forward / _backward) and decline
 * everything else, so the shared mma.sync kernels run. The host side of
 * sm90/attention_{forward,backward}_sm90_host.h lives here, over this
 * backend's own driver types (no <cuda.h>): the params structs, the tensor
 * maps, the device plan, the launches. VOXATTN_CUDA_NO_SM90=1 turns the path
 * off; VOXATTN_SM90_BWD_DQ=ordered|atomic forces the backward's dq mode (else bwd_atomic's rule). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"
#include "loader.h"
#include "sm90/sm90_args.h"
#include "sm90/sm90_smem.h"
#include "vox_cuda_config.h"
#if VOX_CUDA_SM90
#include "vox_cuda_sm90.h"
#include "vox_cuda_srw.h"
#endif


/* CUtensorMap: 128 opaque bytes (cuTensorMapEncodeTiled wants 64-byte
 * alignment; CUDA 13's cuda.h aligns it to 128). */
typedef struct cu_tensor_map {
    _Alignas(128) uint64_t opaque[16];
} cu_tensor_map;

/* cuTensorMapEncodeTiled's enum values (cuda.h, CUDA 12 and 13). */
enum {
    CU_TMAP_DATA_F16 = 6,       /* CU_TENSOR_MAP_DATA_TYPE_FLOAT16 */
    CU_TMAP_DATA_F32 = 7,       /* CU_TENSOR_MAP_DATA_TYPE_FLOAT32 */
    CU_TMAP_DATA_BF16 = 9,      /* CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 */
    CU_TMAP_INTERLEAVE_NONE = 0,
    CU_TMAP_SWIZZLE_128B = 3,
    CU_TMAP_L2_PROMOTION_256B = 3,
    CU_TMAP_OOB_FILL_NONE = 0,
};

/* The kernels this path uses: X(index, name, threads per CTA, rows per CTA
 * = the plan's maxrows; 0 for the backward's). D = 64 takes the
 * 3-consumer-warpgroup variant (+12% over the 2-warpgroup
 * vox_attn_sm90_*_d64, which is not used); D = 128 the 2- or the
 * 3-warpgroup one (Q in shared memory), see d128_kernel. */
#define CU_SM90_KERNELS(X)                                                   \
    X(SM90_BF16_D128, "vox_attn_sm90_bf16_d128", 384, 128)                   \
    X(SM90_BF16_D128_NF, "vox_attn_sm90_bf16_d128_nf", 384, 128)             \
    X(SM90_F16_D128, "vox_attn_sm90_f16_d128", 384, 128)                     \
    X(SM90_F16_D128_NF, "vox_attn_sm90_f16_d128_nf", 384, 128)               \
    X(SM90W3_BF16_D128, "vox_attn_sm90w3_bf16_d128", 512, 192)               \
    X(SM90W3_BF16_D128_NF, "vox_attn_sm90w3_bf16_d128_nf", 512, 192)         \
    X(SM90W3_F16_D128, "vox_attn_sm90w3_f16_d128", 512, 192)                 \
    X(SM90W3_F16_D128_NF, "vox_attn_sm90w3_f16_d128_nf", 512, 192)           \
    X(SM90_BF16_D64, "vox_attn_sm90w3_bf16_d64", 512, 192)                   \
    X(SM90_BF16_D64_NF, "vox_attn_sm90w3_bf16_d64_nf", 512, 192)             \
    X(SM90_F16_D64, "vox_attn_sm90w3_f16_d64", 512, 192)                     \
    X(SM90_F16_D64_NF, "vox_attn_sm90w3_f16_d64_nf", 512, 192)               \
    X(SM90W3_BF16_D128_UD0, "vox_attn_sm90w3_bf16_d128_ud0", 512, 192)       \
    X(SM90W3_BF16_D128_UD0_NF, "vox_attn_sm90w3_bf16_d128_ud0_nf", 512, 192) \
    X(SM90_PLAN, "vox_attn_sm90_plan", VOX_SM90_PLAN_WARPS * 32, 0)          \
    X(SM90_PLAN_OLD, "vox_attn_sm90_plan_old", 256, 0)                       \
    X(SM90_PERMUTE_V, "vox_attn_sm90_permute_v", 256, 0)                     \
    X(SM90_BWD_ROWS, "vox_attn_bwd_sm90_rows", 256, 0)                       \
    X(SM90_BWD_DQ_BF16_D128, "vox_attn_bwd_sm90_dq_bf16_d128", 384, 0)       \
    X(SM90_BWD_DQ_F16_D128, "vox_attn_bwd_sm90_dq_f16_d128", 384, 0)         \
    X(SM90_BWD_DQ_BF16_D64, "vox_attn_bwd_sm90_dq_bf16_d64", 384, 0)         \
    X(SM90_BWD_DQ_F16_D64, "vox_attn_bwd_sm90_dq_f16_d64", 384, 0)           \
    X(SM90_BWD_DKDV_BF16_D128, "vox_attn_bwd_sm90_dkdv_bf16_d128", 384, 0)   \
    X(SM90_BWD_DKDV_F16_D128, "vox_attn_bwd_sm90_dkdv_f16_d128", 384, 0)     \
    X(SM90_BWD_DKDV_BF16_D64, "vox_attn_bwd_sm90_dkdv_bf16_d64", 384, 0)     \
    X(SM90_BWD_DKDV_F16_D64, "vox_attn_bwd_sm90_dkdv_f16_d64", 384, 0)       \
    X(SM90_BWD_DKDVQ_BF16_D128, "vox_attn_bwd_sm90_dkdv_q_bf16_d128", 384, 0) \
    X(SM90_BWD_DKDVQ_F16_D128, "vox_attn_bwd_sm90_dkdv_q_f16_d128", 384, 0)   \
    X(SM90_BWD_DKDVQ_BF16_D64, "vox_attn_bwd_sm90_dkdv_q_bf16_d64", 384, 0)   \
    X(SM90_BWD_DKDVQ_F16_D64, "vox_attn_bwd_sm90_dkdv_q_f16_d64", 384, 0)     \
    X(SM90_BWD_DQCONV_BF16_D128, "vox_attn_bwd_sm90_dqconv_bf16_d128", 256, 0) \
    X(SM90_BWD_DQCONV_F16_D128, "vox_attn_bwd_sm90_dqconv_f16_d128", 256, 0)   \
    X(SM90_BWD_DQCONV_BF16_D64, "vox_attn_bwd_sm90_dqconv_bf16_d64", 256, 0)   \
    X(SM90_BWD_DQCONV_F16_D64, "vox_attn_bwd_sm90_dqconv_f16_d64", 256, 0)     \
    X(SM90_BWD_PREP_BF16, "vox_attn_bwd_sm90_prep_bf16", 256, 0)               \
    X(SM90_BWD_PREP_F16, "vox_attn_bwd_sm90_prep_f16", 256, 0)                 \
    X(SM90_BWD_RUNITS, "vox_attn_bwd_sm90_runits", 1024, 0)                    \
    X(SM90_BWD_ORDER, "vox_attn_bwd_sm90_order", 1024, 0)                      \
    X(SM90_BWD_DQ_BF16_D128_IS0, "vox_attn_bwd_sm90_dq_bf16_d128_is0", 384, 0) \
    X(SM90_BWD_DKDV_BF16_D128_IS0, "vox_attn_bwd_sm90_dkdv_bf16_d128_is0", 384, 0) \
    X(SM90_BWD_DQ_BF16_D128_PF0, "vox_attn_bwd_sm90_dq_bf16_d128_pf0", 384, 0) \
    X(SM90_BWD_DKDV_BF16_D128_P2, "vox_attn_bwd_sm90_dkdv_bf16_d128_p2", 384, 0)   \
    X(SM90_BWD_DKDV_BF16_D128_P2SA, "vox_attn_bwd_sm90_dkdv_bf16_d128_p2sa", 384, 0) \
    X(SM90_BWD_DKDVQ_RW_BF16_D128, "vox_attn_bwd_sm90_dkdv_q_rw_bf16_d128", 384, 0)   \
    X(SM90_BWD_DKDVQ_RW_F16_D128, "vox_attn_bwd_sm90_dkdv_q_rw_f16_d128", 384, 0)     \
    X(SM90_BWD_DKDVQ_RW_BF16_D64, "vox_attn_bwd_sm90_dkdv_q_rw_bf16_d64", 384, 0)     \
    X(SM90_BWD_DKDVQ_RW_F16_D64, "vox_attn_bwd_sm90_dkdv_q_rw_f16_d64", 384, 0)       \
    X(SM90_BWD_DKDVQ_RWU_BF16_D128, "vox_attn_bwd_sm90_dkdv_q_rwu_bf16_d128", 384, 0) \
    X(SM90_BWD_DKDVQ_RWU_F16_D128, "vox_attn_bwd_sm90_dkdv_q_rwu_f16_d128", 384, 0)   \
    X(SM90_BWD_DKDVQ_RWU_BF16_D64, "vox_attn_bwd_sm90_dkdv_q_rwu_bf16_d64", 384, 0)   \
    X(SM90_BWD_DKDVQ_RWU_F16_D64, "vox_attn_bwd_sm90_dkdv_q_rwu_f16_d64", 384, 0)     \
    X(SM90_BWD_DKDVQ_RWL_BF16_D128, "vox_attn_bwd_sm90_dkdv_q_rwl_bf16_d128", 384, 0) \
    X(SM90_BWD_DKDVQ_RWL_F16_D128, "vox_attn_bwd_sm90_dkdv_q_rwl_f16_d128", 384, 0)   \
    X(SM90_BWD_DKDVQ_RWL_BF16_D64, "vox_attn_bwd_sm90_dkdv_q_rwl_bf16_d64", 384, 0)   \
    X(SM90_BWD_DKDVQ_RWL_F16_D64, "vox_attn_bwd_sm90_dkdv_q_rwl_f16_d64", 384, 0)     \
    X(SM90_BWD_DKDVQ_RWBRK_BF16_D128, "vox_attn_bwd_sm90_dkdv_q_rwbrk_bf16_d128", 384, 0)

#define CU_SM90_ENUM(idx, name, threads, maxrows) idx,
enum { CU_SM90_KERNELS(CU_SM90_ENUM) SM90_COUNT };
#undef CU_SM90_ENUM
/* a forward kernel's _nf variant follows it (cu_sm90_attention_forward launches k, k + 1) */
_Static_assert(SM90_BF16_D128_NF == SM90_BF16_D128 + 1 && SM90_F16_D128_NF == SM90_F16_D128 + 1 &&
                   SM90W3_BF16_D128_NF == SM90W3_BF16_D128 + 1 && SM90W3_F16_D128_NF == SM90W3_F16_D128 + 1 &&
                   SM90_BF16_D64_NF == SM90_BF16_D64 + 1 && SM90_F16_D64_NF == SM90_F16_D64 + 1 &&
                   SM90W3_BF16_D128_UD0_NF == SM90W3_BF16_D128_UD0 + 1,
               "sm90 kernel table order");
/* the backward's dkdv, dkdv_q and dqconv kernels in the same type order (cu_sm90_attention_backward
 * maps one to the others by offset) */
_Static_assert(SM90_BWD_DKDV_F16_D64 - SM90_BWD_DKDV_BF16_D128 == 3 &&
                   SM90_BWD_DKDVQ_F16_D64 - SM90_BWD_DKDVQ_BF16_D128 == 3 &&
                   SM90_BWD_DKDVQ_RW_F16_D64 - SM90_BWD_DKDVQ_RW_BF16_D128 == 3 &&
                   SM90_BWD_DKDVQ_RWU_F16_D64 - SM90_BWD_DKDVQ_RWU_BF16_D128 == 3 &&
                   SM90_BWD_DKDVQ_RWL_F16_D64 - SM90_BWD_DKDVQ_RWL_BF16_D128 == 3 &&
                   SM90_BWD_DQCONV_F16_D64 - SM90_BWD_DQCONV_BF16_D128 == 3,
               "sm90 kernel table order");
#define CU_SM90_ROW(idx, name, threads, maxrows) {name, threads, maxrows},
static const struct {
    const char *name;
    int threads, maxrows;
} sm90_kernels[SM90_COUNT] = {CU_SM90_KERNELS(CU_SM90_ROW)};
#undef CU_SM90_ROW

typedef struct cu_sm90 {
    CUmodule module;
    CUfunction fn[SM90_COUNT];
    int fn_smem[SM90_COUNT]; /* dynamic shared memory limit raised to */
    int nwg128; /* VOXATTN_SM90_NWG (read at open): 2 or 3 forces the D = 128 forward's consumer
                   warpgroups; 0: the rule VOX_SM90_NWG_D128 */
    int pack_strip; /* VOXATTN_SM90_PACK=strip: 2 consumer warpgroups whenever forward rows are pruned
                       (session 10's choice) */
    int fwd_copies; /* VOXATTN_SM90_FWD_COPIES: the forward as in session 9 (block copies of q, k, v, o
                       made by the core, V scanned by the plan launch, one CTA per item) */
    int bwd_copies; /* VOXATTN_SM90_BWD_COPIES: the backward as in session 10 (the core's block copies of
                       q, k, v, o, dout, lse and of dq, dk, dv, the shared preprocess) */
    int plan_old;   /* VOXATTN_SM90_PLAN_OLD: the forward's device plan by session 11's kernel (serial
                       packing loop; same items) */
    int plan_mode; /* the device planner's VOX_SM90_PLAN_M_* bits (sm90_smem.h), VOXATTN_SM90_ORDER: unset
                      all three; plain 0 (the items holding a text block claimed with their head, last, as
                      before session 12); front: the front region only (session 12); edge / ragged: the
                      front region and that one */
    int split;      /* not VOXATTN_SM90_SPLIT=0 (session 14): unpruned V = 128 on 3 consumer warpgroups, items
                       that split a full block's rows (VOX_SM90_PLAN_M_SPLIT, sm90_smem.h); 2 (the default
                       since session 15; 1 with VOXATTN_SM90_SPLIT=edge): and VOX_SM90_PLAN_M_COLS (column cuts) */
    int bwd_asc;    /* not VOXATTN_SM90_BWD_ALTERNATE: the packed dkdv (and dkdv_q) stream their two units'
                       block lists in ascending order (session 8) instead of alternating one-unit blocks */
    int bwd_rchunk; /* not VOXATTN_SM90_BWD_RCHUNK=0: dense-mask backwards (full_lists, V = 64) run the packed
                       dkdv / dkdv_q over the key-unit table (blocks with <= 16 valid keys 4 per unit, built on
                       the device by vox_attn_bwd_sm90_runits; session 16) */
    int bwd_is0;    /* VOXATTN_SM90_BWD_ISSUE=0: the bf16 D = 128 dq and dkdv kernels with session 17's stage
                       code (VOX_SM90_BWD_IS 0: every wgmma's descriptors rebuilt in vector registers) */
    int bwd_pf0;    /* VOXATTN_SM90_BWD_DQ_PREFETCH=0: the bf16 D = 128 dq kernel whose producer reads one list
                       entry and one valid count per stage (session 18) instead of 32-entry windows */
    int bwd_p2;     /* not VOXATTN_SM90_BWD_PRODUCER=1: the bf16 D = 128 packed dkdv with its producer on two warps
                       (the merge and the rows' l2 / delta in one, the TMA copies in the other;
                       VOX_SM90_BWD_DKDV_KERNEL_SP; session 19) */
    int bwd_sa;     /* VOXATTN_SM90_BWD_SAFEALT=1: that kernel's meta warp alternates the one-unit blocks between the
                       units where no shared block is split (SP 3) */
    int bwd_qvar;   /* VOXATTN_SM90_BWD_DKDVQ_VAR (session 20), the atomic-dQ mode's dkdv_q kernels: 2 (the default)
                       _q_rwu_: the dQ reduce-adds issued by a producer-warpgroup warp (VOX_SM90_BWD_ATOMIC_RW: the
                       consumers meet once per stage, dsbar, instead of twice) and the dQ product's descriptors
                       advanced per k-step (VOX_SM90_BWD_XV_UQ); 0 (=0) dkdv_q, session 15's VOX_SM90_BWD_ATOMIC;
                       1 (=rw) _q_rw_ (no descriptor advance); 3 (=rwl) _q_rwl_, rwu with the staging's fence and stbar
                       arrival made at the next stage (VOX_SM90_BWD_XV_LATE); 4 (=brk, tests only) rwu with a break in
                       the bf16 D = 128 kernel (chunk 3 of every dQ tile dropped) */
    int bwd_front;  /* not VOXATTN_SM90_BWD_FRONT=0: the backward kernels launch the CTAs of every head's global
                       (text) blocks first (VoxSm90BwdParams.front; session 17) */
    int udesc0;     /* VOXATTN_SM90_UDESC=0: the bf16 D = 128 3-warpgroup forward runs session 18's kernels (_ud0,
                       every wgmma's descriptors rebuilt from byte addresses) instead of session 19's uniform
                       descriptors */
} cu_sm90;

/* VOXATTN_SM90_BWD_ORDER (session 21), the ordered backward's CTA order within a head (vox_attn_bwd_sm90_order):
 * 1 (default) by the middle block of each unit's list (dkdv: of its pair's first unit), tiled 4 x 4 (the CTAs that
 * stream the same blocks run side by side), 3 (=raster) the same by the middle block's index (untiled), 4 / 5
 * (=tile2 / =tile8) tiles of 2 x 2 / 8 x 8 places, 0 (=0) block order, 2 (=brk, tests only) not a permutation.
 * Logged at open, read at each call (sm90_bwd_order) so that `voxattn bench --ab` can interleave the values in one
 * process. */
static const char *const order_vals[] = {"0", "brk", "raster", "tile2", "tile8"};
static const int order_codes[] = {0, 2, 3, 4, 5};
/* The index of the value of variable `name` among vals[0..n), -1 when unset or another value. */
static int sm90_env_index(const char *name, int n, const char *const vals[])
{
    const char *e = getenv(name);
    for (int i = 0; e && i < n; i++)
        if (!strcmp(e, vals[i]))
            return i;
    return -1;
}
/* A switch of several values read at each call (no log): codes[i] where the variable is vals[i], else dflt. */
static int sm90_env_code(const char *name, int n, const char *const vals[], const int codes[], int dflt)
{
    const int i = sm90_env_index(name, n, vals);
    return i < 0 ? dflt : codes[i];
}
static int sm90_bwd_order(void) { return sm90_env_code("VOXATTN_SM90_BWD_ORDER", 5, order_vals, order_codes, 1); }
/* VOXATTN_SM90_BWD_QGROUP (session 22), dq's grouped units (VoxSm90BwdParams.qgrp): 1 (default) on, 0 (=0) off,
 * 2 (=brk, tests only) every chunk of a group takes every stage (wrong dq). Read at each call (bench --ab). */
static int sm90_bwd_qgroup(void)
{
    static const char *const vals[] = {"0", "brk"};
    static const int codes[] = {0, 2};
    return sm90_env_code("VOXATTN_SM90_BWD_QGROUP", 2, vals, codes, 1);
}
/* VOXATTN_SM90_BWD_KGROUP (session 23), the packed dkdv's grouped key units (VoxSm90BwdParams.kgrp): 1 on, 0 off,
 * 2 (=brk, tests only) every chunk of a group takes every stage (wrong dk, dv). Read at each call (bench --ab). */
static int sm90_bwd_kgroup(void)
{
    static const char *const vals[] = {"0", "1", "brk"};
    static const int codes[] = {0, 1, 2};
    return sm90_env_code("VOXATTN_SM90_BWD_KGROUP", 3, vals, codes, 1);
}

#if VOX_CUDA_SM90
/* An on/off switch read at open (vox_env_flag); when on, logged with what it changes. */
static int sm90_switch(gpu_dev *g, const char *name, const char *what)
{
    const int on = vox_env_flag(name);
    if (on)
        vox_log(&g->log, VOX_LOG_INFO, "cuda: device %d: %s: %s", g->ordinal, name, what);
    return on;
}

/* A switch set by one value of its variable (name=value), logged as sm90_switch does. */
static int sm90_switch_is(gpu_dev *g, const char *name, const char *value, const char *what)
{
    const char *e = getenv(name);
    const int on = e && !strcmp(e, value);
    if (on)
        vox_log(&g->log, VOX_LOG_INFO, "cuda: device %d: %s=%s: %s", g->ordinal, name, value, what);
    return on;
}

/* A switch of several values: codes[i] where the variable is vals[i] (logged with whats[i], as sm90_switch_is
 * does), dflt otherwise. */
static int sm90_switch_pick(gpu_dev *g, const char *name, int n, const char *const vals[], const char *const whats[],
                            const int codes[], int dflt)
{
    const int i = sm90_env_index(name, n, vals);
    if (i < 0)
        return dflt;
    vox_log(&g->log, VOX_LOG_INFO, "cuda: device %d: %s=%s: %s", g->ordinal, name, vals[i], whats[i]);
    return codes[i];
}

#endif

/* Why the path is off for this device, or NULL when it can run. */
static const char *sm90_unavailable(const gpu_dev *g)
{
    if (!VOX_CUDA_SM90)
        return "this library was built without sm_90a (meson option nvcc_archs)";
    if (g->arch != 90)
        return "not a compute capability 9.0 device";
    if (vox_env_flag("VOXATTN_CUDA_NO_SM90"))
        return "VOXATTN_CUDA_NO_SM90 is set";
    if (!vox_cu.TensorMapEncodeTiled)
        return "the driver lacks cuTensorMapEncodeTiled";
    return NULL;
}

/* sample_rows' sm_90a wgmma kernels (sm90/sample_rows_sm90.cu: their own fatbin, no tensor maps) into
 * g->srw, on sm_90 devices of a library built with 90a; where absent the shared mma.sync kernels run
 * (VOXATTN_SAMPLE_ROWS_WG_OFF: those, the module loaded all the same). */
static void srw_open(gpu_dev *g)
{
#if VOX_CUDA_SM90
    static const char *const names[2][2] = {{"vox_sample_rows_wg_f16_d128", "vox_sample_rows_wg_bf16_d128"},
                                            {"vox_sample_rows_wg1_f16_d128", "vox_sample_rows_wg1_bf16_d128"}};
    if (g->arch != 90)
        return;
    CUmodule m = NULL;
    int rc = vox_cu.ModuleLoadData(&m, vox_cuda_srw_sample_rows_sm90);
    for (int v = 0; v < 2 && !rc; v++)
        for (int t = 0; t < 2 && !rc; t++) {
            g->srw[v][t].name = names[v][t];
            rc = vox_cu.ModuleGetFunction((CUfunction *)&g->srw[v][t].f, m, names[v][t]);
        }
    if (rc) {
        vox_log(&g->log, VOX_LOG_WARN, "cuda: device %d: sample_rows' sm_90a kernels off: %s (%d)", g->ordinal,
                cu_error_string(rc), rc);
        memset(g->srw, 0, sizeof g->srw);
        if (m)
            vox_cu.ModuleUnload(m);
        return;
    }
    g->srw_module = m;
#else
    (void)g;
#endif
}

void cu_sm90_open(gpu_dev *g)
{
    srw_open(g);
    const char *why = sm90_unavailable(g);
    if (why) {
        vox_log(&g->log, g->arch == 90 ? VOX_LOG_INFO : VOX_LOG_DEBUG, "cuda: device %d: sm_90a attention off: %s",
                g->ordinal, why);
        return;
    }
#if VOX_CUDA_SM90
    cu_sm90 *s = calloc(1, sizeof *s);
    if (!s) {
        vox_log(&g->log, VOX_LOG_WARN, "cuda: device %d: sm_90a attention off: out of host memory", g->ordinal);
        return;
    }
    int rc = vox_cu.ModuleLoadData(&s->module, vox_cuda_sm90_attention_sm90);
    for (int i = 0; i < SM90_COUNT && !rc; i++) {
        rc = vox_cu.ModuleGetFunction(&s->fn[i], s->module, sm90_kernels[i].name);
        if (rc)
            vox_log(&g->log, VOX_LOG_WARN, "cuda: device %d: sm_90a module lacks %s", g->ordinal,
                    sm90_kernels[i].name);
    }
    if (rc) {
        vox_log(&g->log, VOX_LOG_WARN, "cuda: device %d: sm_90a attention off: %s (%d)", g->ordinal,
                cu_error_string(rc), rc);
        if (s->module)
            vox_cu.ModuleUnload(s->module);
        free(s);
        return;
    }
    const char *nwg = getenv("VOXATTN_SM90_NWG");
    s->nwg128 = nwg && (!strcmp(nwg, "2") || !strcmp(nwg, "3")) ? nwg[0] - '0' : 0;
    if (s->nwg128)
        vox_log(&g->log, VOX_LOG_INFO,
                "cuda: device %d: VOXATTN_SM90_NWG=%d: the D=128 attention forward uses %d consumer "
                "warpgroups where the shape fits",
                g->ordinal, s->nwg128, s->nwg128);
    s->plan_mode = VOX_SM90_PLAN_M_FRONT | VOX_SM90_PLAN_M_EDGE | VOX_SM90_PLAN_M_RAGGED;
    if (sm90_switch_is(g, "VOXATTN_SM90_ORDER", "plain",
                       "the attention forward's items holding a global (text) block are claimed with their "
                       "head's (no front region), each head's items in position order"))
        s->plan_mode = 0;
    else if (sm90_switch_is(g, "VOXATTN_SM90_ORDER", "front",
                            "the attention forward's device plan as in session 12 (front region only: no edge "
                            "order, no ragged items first)"))
        s->plan_mode = VOX_SM90_PLAN_M_FRONT;
    else if (sm90_switch_is(g, "VOXATTN_SM90_ORDER", "edge",
                            "the attention forward's device plan: front region and edge order, no ragged items "
                            "first"))
        s->plan_mode = VOX_SM90_PLAN_M_FRONT | VOX_SM90_PLAN_M_EDGE;
    else if (sm90_switch_is(g, "VOXATTN_SM90_ORDER", "ragged",
                            "the attention forward's device plan: front region and ragged items first, no edge "
                            "order"))
        s->plan_mode = VOX_SM90_PLAN_M_FRONT | VOX_SM90_PLAN_M_RAGGED;
    s->pack_strip = sm90_switch_is(g, "VOXATTN_SM90_PACK", "strip",
                                   "the attention forward packs pruned query blocks for 2 consumer warpgroups "
                                   "whatever query_keep is");
    s->fwd_copies = sm90_switch(g, "VOXATTN_SM90_FWD_COPIES",
                                "the attention forward permutes q, k, v and o through block copies, one CTA per item");
    g->vendor_fwd_direct = !s->fwd_copies;
    s->bwd_copies = sm90_switch(g, "VOXATTN_SM90_BWD_COPIES",
                                "the attention backward permutes q, k, v, o, dout, lse and dq, dk, dv through "
                                "block copies");
    g->vendor_bwd_direct = !s->bwd_copies;
    s->plan_old = sm90_switch(g, "VOXATTN_SM90_PLAN_OLD",
                              "the attention forward's device plan runs session 11's kernel (serial packing)");
    /* the split items are the default: H200, hunyuan grid blocks 4,4,8 BSA 10% (6 heads), 9.201 / 9.207 ms
     * against 9.448 / 9.491 with one block per item on 2 warpgroups (NOTES.md, session 14); with the column
     * cuts (2): 8.943 / 8.869 / 8.914 ms against 9.108 / 9.085 / 9.058 with the edge partition (1), -1.9%
     * (session 15) */
    static const char *const split_vals[] = {"0", "edge"};
    static const char *const split_whats[] = {
        "the attention forward runs unpruned 128-slot blocks one per item on 2 consumer warpgroups (no split items)",
        "the attention forward's split items take session 14's edge partition (no column cuts)"};
    static const int split_codes[] = {0, 1};
    s->split = sm90_switch_pick(g, "VOXATTN_SM90_SPLIT", 2, split_vals, split_whats, split_codes, 2);
    /* ascending is the default: the alternating order measured ~3.7% slower in the library (session 12) */
    /* the key units are the default: H200 harness, hunyuan ragged dense atomic, dkdvq 1041.8 / 1044.4 ms
     * against 1179.2 / 1186.6 (off, on, off, on in one process; session 16) */
    s->bwd_rchunk = !sm90_switch_is(g, "VOXATTN_SM90_BWD_RCHUNK", "0",
                                    "dense-mask attention backwards give every block its own 64-key dK/dV unit "
                                    "(no key units)");
    /* the global blocks' CTAs first is the default: H200 harness, hunyuan 2160 + 4 text blocks BSA 10%, dkdv
     * 92.9 / 91.7 ms against 95.6 / 93.9 in the old order (off, on, off, on in one process; session 17) */
    s->bwd_front = !sm90_switch_is(g, "VOXATTN_SM90_BWD_FRONT", "0",
                                   "the attention backward kernels launch their CTAs head after head (the global "
                                   "blocks' long lists last, as before session 17)");
    /* the list order is the default: H200, hunyuan-720p BSA 10% backward, bench --ab in one process (12 runs each,
     * twice): raster keys 126.663 / 126.493 ms against 127.780 / 127.558 in block order; on another H200 tiled keys
     * 129.831 / 130.406 against 132.204 / 132.383; gradients bitwise equal (session 21, NOTES.md) */
    static const char *const order_whats[] = {
        "the attention backward's dq and dkdv CTAs run in block order within a head (before session 21)",
        "TESTS ONLY: the attention backward's CTA order is not a permutation (wrong gradients)",
        "the attention backward's CTAs run in the order of their lists' middle blocks' indices (untiled)",
        "the attention backward's CTA order tiles the places 2 x 2",
        "the attention backward's CTA order tiles the places 8 x 8"};
    (void)sm90_switch_pick(g, "VOXATTN_SM90_BWD_ORDER", 5, order_vals, order_whats, order_codes, 1); /* the log */
    /* the uniform descriptors are the default: H200, wan-14b grid 8 heads BSA 10% 5.039 / 5.021 ms against 5.165 /
     * 5.285, hunyuan grid blocks 4,4,8 6 heads 8.560 / 8.663 against 8.962 / 8.968 (NOTES.md, session 19) */
    s->udesc0 = sm90_switch_is(g, "VOXATTN_SM90_UDESC", "0",
                               "the bf16 D=128 3-warpgroup attention forward rebuilds every wgmma's descriptors "
                               "(session 18's kernel, vox_attn_sm90w3_bf16_d128_ud0)");
    s->bwd_is0 = sm90_switch_is(g, "VOXATTN_SM90_BWD_ISSUE", "0",
                                "the bf16 D=128 attention backward's dq and dkdv kernels rebuild every wgmma's "
                                "descriptors (session 17's stage code)");
    s->bwd_pf0 = sm90_switch_is(g, "VOXATTN_SM90_BWD_DQ_PREFETCH", "0",
                                "the bf16 D=128 attention backward's dq producer reads its list one entry per stage "
                                "(session 18)");
    /* the two-warp dkdv producer is the default: H200, hunyuan's grid with 4 heads, backward 21.219 / 21.267 ms
     * against 21.484 / 21.504 with one producer warp (interleaved, one process each; session 19) */
    s->bwd_p2 = !sm90_switch_is(g, "VOXATTN_SM90_BWD_PRODUCER", "1",
                                "the bf16 D=128 attention backward's dkdv kernel runs its producer on one warp "
                                "(list merge, row stats and TMA copies; session 18's)");
    s->bwd_sa = s->bwd_p2 && sm90_switch(g, "VOXATTN_SM90_BWD_SAFEALT",
                                         "the bf16 D=128 attention backward's dkdv producer alternates the blocks one "
                                         "unit lists between the consumers where no shared block splits");
    /* the reducer warp with the dQ descriptors advanced per k-step (rwu) is the default: H200, the dense hunyuan grid
     * with 4 heads + text 256, backward 143.013 / 143.843 ms against 158.109 / 157.963 (-9.2%; rwl 144.353 / 144.174;
     * interleaved, one process each; the same dk / dv hashes; session 20) */
    static const char *const qvar_vals[] = {"0", "rw", "rwl", "brk"};
    static const char *const qvar_whats[] = {
        "the atomic-dQ attention backward's dkdv_q issues its dQ reduce-adds from its first consumer thread, both "
        "consumers waiting for the staged dQ tile (session 15's kernel)",
        "the atomic-dQ attention backward's dkdv_q rebuilds the dQ product's descriptors per wgmma (the reducer warp "
        "without rwu's descriptor advance)",
        "the atomic-dQ attention backward's dkdv_q publishes each staged dQ tile at the next stage (after the S^T / "
        "dP^T issue)",
        "TEST ONLY: the bf16 D=128 dkdv_q (rwu) drops chunk 3 of every dQ tile"};
    static const int qvar_codes[] = {0, 1, 3, 4};
    s->bwd_qvar = sm90_switch_pick(g, "VOXATTN_SM90_BWD_DKDVQ_VAR", 4, qvar_vals, qvar_whats, qvar_codes, 2);
    s->bwd_asc = !sm90_switch(g, "VOXATTN_SM90_BWD_ALTERNATE",
                              "the packed attention backward kernels alternate the blocks only one unit lists "
                              "between the two consumers (session 12's order)");
    g->vendor = s;
    g->vendor_attention =
        "sm_90a wgmma/TMA kernels (vox_attn_sm90_*, vox_attn_bwd_sm90_*; VOXATTN_CUDA_NO_SM90=1 turns them off)";
#endif
}

void cu_sm90_close(gpu_dev *g)
{
    if (g->srw_module)
        vox_cu.ModuleUnload(g->srw_module);
    g->srw_module = NULL;
    memset(g->srw, 0, sizeof g->srw);
    cu_sm90 *s = g->vendor;
    if (!s)
        return;
    if (s->module)
        vox_cu.ModuleUnload(s->module);
    free(s);
    g->vendor = NULL;
}

/* A [rows][D] tensor at dptr of `type` (esize bytes per element), boxes of
 * box_rows rows x 128 bytes, 128B swizzle; 0 on success. */
static int encode_2d(cu_tensor_map *map, int type, int esize, uint64_t dptr, int64_t rows, int64_t D, unsigned box_rows)
{
    uint64_t dims[2] = {(uint64_t)D, (uint64_t)rows};
    uint64_t strides[1] = {(uint64_t)(D * esize)};
    unsigned box[2] = {128u / (unsigned)esize, box_rows};
    unsigned es[2] = {1, 1};
    return vox_cu.TensorMapEncodeTiled(map, type, 2, (void *)(uintptr_t)dptr, dims, strides, box, es,
                                       CU_TMAP_INTERLEAVE_NONE, CU_TMAP_SWIZZLE_128B, CU_TMAP_L2_PROMOTION_256B,
                                       CU_TMAP_OOB_FILL_NONE);
}

/* A [rows][D] f16/bf16 tensor at dptr, boxes of box_rows rows x 64 columns
 * (vox_sm90_encode_kv: 64 rows; vox_sm90_bwd_encode_chunk: 16). */
static int encode_rows(cu_tensor_map *map, uint64_t dptr, int64_t rows, int64_t D, int bf16, unsigned box_rows)
{
    return encode_2d(map, bf16 ? CU_TMAP_DATA_BF16 : CU_TMAP_DATA_F16, 2, dptr, rows, D, box_rows);
}

static int encode_kv(cu_tensor_map *map, uint64_t dptr, int64_t rows, int64_t D, int bf16)
{
    return encode_rows(map, dptr, rows, D, bf16, 64);
}

static int64_t nb_pad(int64_t NB) { return VOX_SM90_NB_PAD(NB); }

/* Dynamic shared memory of one CTA. */
static size_t smem_bytes(int64_t D, int nwg, int64_t NB) { return VOX_SM90_SMEM_BYTES(D, nwg, nb_pad(NB)); }

/* Whether the kernels take this shape (vox_sm90_supported, plus V <= the
 * CTA's rows: a CTA processes at most maxrows rows, so a block of more
 * processed rows than that would lose rows). */
static int shape_supported(int64_t D, int64_t V, int64_t NB, int64_t BH, int maxrows, size_t max_smem_optin)
{
    const int nwg = maxrows / 64;
    if (D != 64 && D != 128)
        return 0;
    if (V < 64 || (V & (V - 1)) || V > maxrows)
        return 0;
    if (BH * NB * V >= ((int64_t)1 << 31) || BH * NB >= ((int64_t)1 << 31))
        return 0; /* TMA row coordinates and item indices are int32 */
    return smem_bytes(D, nwg, NB) <= max_smem_optin;
}

/* The forward kernel (fast variant; its _nf follows) for D = 128: 3 consumer warpgroups (Q in
 * shared memory, 192 rows per CTA) or 2, by VOXATTN_SM90_NWG or else the rule VOX_SM90_NWG_D128;
 * the 2-warpgroup kernel where the 3-warpgroup one does not take the shape (its Q leaves room for
 * a byte map of about 6000 blocks, against about 14000). */
static int d128_kernel(const cu_sm90 *s, int bf16, int64_t V, int64_t NB, int64_t BH, size_t max_smem_optin,
                       int pruned, double keep, int split_ok)
{
    /* Without pruning the rule VOX_SM90_NWG_D128. With pruning, 3 when the kept rows of at most
     * VOX_SM90_GMAX (16) blocks, about keep * V each, fill 192 rows (BSA at V = 64: keep 0.5 six
     * blocks of 32 rows, keep 0.25 twelve of 16: one K/V stream for the lists of 6 or 12 blocks
     * instead of 4 or 8; H200, hunyuan-720p BSA 10%: keep 0.5 29.32 ms against 30.49 with 2,
     * keep 0.25 22.92 against 24.18; NOTES.md, session 11), else 2 (with 8 blocks per CTA at
     * most, session 9's harness measured keep.25 at 44.3 ms with 3, whose third warpgroup then
     * idled, against 42.0 with 2). VOXATTN_SM90_PACK=strip: 2 whenever pruned (session 10's
     * choice); keep unknown (0): 2. */
    const int fill3 = !s->pack_strip && keep > 0.0 && keep * (double)V * VOX_SM90_GMAX >= 192.0;
    /* VOXATTN_SM90_SPLIT: unpruned V = 128 on 3 (split items, VOX_SM90_PLAN_M_SPLIT) where the device
     * planner will split (split_ok: a video grid, the new planner) */
    const int split3 = split_ok && !pruned && VOX_SM90_PLAN_SPLIT_OK(V, 192, 0);
    const int nwg = s->nwg128 ? s->nwg128 : pruned ? (fill3 ? 3 : 2) : split3 ? 3 : VOX_SM90_NWG_D128(V);
    const int k3 = bf16 ? SM90W3_BF16_D128 : SM90W3_F16_D128;
    if (nwg == 3 && shape_supported(128, V, NB, BH, sm90_kernels[k3].maxrows, max_smem_optin))
        return bf16 && s->udesc0 ? SM90W3_BF16_D128_UD0 : k3;
    return bf16 ? SM90_BF16_D128 : SM90_F16_D128;
}

/* Whether the rows of a caller tensor (base address, element strides of esize bytes) are all
 * `align`-byte aligned. */
static int rows_aligned(const vox_strided *t, int esize, uint64_t align)
{
    uint64_t x = gpu_dptr(t->ref) | (uint64_t)(t->stride_batch * esize) | (uint64_t)(t->stride_head * esize) |
                 (uint64_t)(t->stride_token * esize);
    return x % align == 0;
}

/* Whether the byte spans of caller tensors a and b (esize bytes per element; row length
 * d->head_dim for f16/bf16, 1 for the f32 lse) meet, unless they are the same tensor (an in-place
 * forward, out = q: the kernel reads a row's q and writes its o in the same CTA, q first). */
static int spans_meet(const vox_op_dims *d, const vox_strided *a, int ea, int64_t rowa, const vox_strided *b,
                      int eb, int64_t rowb)
{
    uint64_t pa = gpu_dptr(a->ref), pb = gpu_dptr(b->ref);
    if (!pa || !pb)
        return 0;
    if (pa == pb && ea == eb && rowa == rowb && a->stride_batch == b->stride_batch &&
        a->stride_head == b->stride_head && a->stride_token == b->stride_token)
        return 0;
    uint64_t la = (uint64_t)(((d->batch - 1) * a->stride_batch + (d->heads - 1) * a->stride_head +
                              (d->tokens - 1) * a->stride_token + rowa) * ea);
    uint64_t lb = (uint64_t)(((d->batch - 1) * b->stride_batch + (d->heads - 1) * b->stride_head +
                              (d->tokens - 1) * b->stride_token + rowb) * eb);
    return pa < pb + lb && pb < pa + la;
}

/* The block-layout op of a call in the caller's layout (its caller fields cleared). */
static vox_op_attention_forward block_op(const vox_op_attention_forward *p)
{
    vox_op_attention_forward b = *p;
    const vox_strided none = {{NULL, 0}, VOX_F32, 0, 0, 0};
    b.cq = b.ck = b.cv = b.co = b.clse = none;
    b.slot_token = b.token_slot = b.fill_src = (vox_bref){NULL, 0};
    return b;
}

/* The caller's tensor t permuted into the block buffer dst (permute_to). */
static vox_status permute_in(gpu_dev *g, const vox_op_dims *d, const vox_op_attention_forward *p,
                             const vox_strided *t, vox_bref dst)
{
    vox_op_permute_to op = {*t, dst, p->slot_token};
    return gpu_permute_to(g, d, &op);
}

/* o (and lse where the caller passed one) from the block buffers into the caller's (permute_from). */
static vox_status permute_out(gpu_dev *g, const vox_op_dims *d, const vox_op_attention_forward *p)
{
    const int has_lse = gpu_dptr(p->clse.ref) != 0;
    vox_op_permute_from pf = {.src = p->o, .lse_src = has_lse ? p->lse : (vox_bref){NULL, 0}, .dst = p->co,
                              .lse_dst = p->clse, .token_slot = p->token_slot, .fill_src = p->fill_src};
    return gpu_permute_from(g, d, &pf);
}

/* A call in the caller's layout that the sm_90a kernels do not take: the core's sequence (permute
 * q, k, v, the shared kernels, permute o and lse back). */
static vox_status forward_copies(gpu_dev *g, const vox_op_dims *d, const vox_op_attention_forward *p)
{
    vox_op_attention_forward b = block_op(p);
    vox_status st = permute_in(g, d, p, &p->cq, p->q);
    if (!st)
        st = permute_in(g, d, p, &p->ck, p->k);
    if (!st)
        st = permute_in(g, d, p, &p->cv, p->v);
    if (!st)
        st = gpu_attention_forward(g, d, &b);
    if (!st)
        st = permute_out(g, d, p);
    return st;
}

/* gpu_api.attention_forward: 0 (declined) unless the sm_90a path is loaded and takes the shape;
 * then the device plan (items in the device's scratch, counters zeroed first) and the kernel, 1
 * with the status in *st. A call in the caller's layout (p->slot_token, only when
 * vendor_fwd_direct is set) is never declined: forward_copies where the kernels do not take it;
 * else the kernel reads q through slot_token (rows 16-byte aligned), V is permuted and scanned for
 * Inf/NaN in one pass (vox_attn_sm90_permute_v, rows 16-byte aligned), K by permute_to, and
 * without query pruning the kernel writes o and lse into the caller's tensors (rows 4-byte
 * aligned); whatever is not aligned goes through the block copies as before. */
int cu_sm90_attention_forward(gpu_dev *g, const vox_op_dims *d, const vox_op_attention_forward *p, vox_status *st)
{
    cu_sm90 *s = g->vendor;
    const int direct = gpu_dptr(p->slot_token) != 0;
    if (!s || (d->dtype != VOX_F16 && d->dtype != VOX_BF16)) {
        if (!direct)
            return 0;
        *st = forward_copies(g, d, p);
        return 1;
    }
    int64_t D = d->head_dim, V = d->block_volume, NB = d->n_blocks, BH = d->batch * d->heads;
    int bf16 = d->dtype == VOX_BF16;
    /* VOXATTN_SM90_SPLIT applies where the new device planner runs with a video grid (see below) */
    const int split_ok = s && s->split && !s->plan_old && NB < 65535 &&
                         VOX_SM90_PLAN_SMEM(NB) + 256 <= (size_t)g->max_smem_optin &&
                         VOX_SM90_PLAN_GRID_OK(NB, d->grid_blocks[0], d->grid_blocks[1], d->grid_blocks[2]);
    int k = D == 128 ? d128_kernel(s, bf16, V, NB, BH, (size_t)g->max_smem_optin, gpu_dptr(p->kept_count) != 0,
                                   p->query_keep, split_ok)
                     : (bf16 ? SM90_BF16_D64 : SM90_F16_D64);
    int maxrows = sm90_kernels[k].maxrows;
    VoxSm90AttnParams a = {.q = gpu_dptr(p->q), .o = gpu_dptr(p->o), .lse = gpu_dptr(p->lse),
                           .kv_start = gpu_dptr(p->kv_start), .kv_count = gpu_dptr(p->kv_count),
                           .kv_cols = gpu_dptr(p->kv_cols), .kept_count = gpu_dptr(p->kept_count),
                           .kept_rows = gpu_dptr(p->kept_rows), .block_valid = gpu_dptr(d->block_valid),
                           .NB = NB, .V = (int)V, .nb_pad = (int)nb_pad(NB), .heads = (int)d->heads};
    uint64_t kk = gpu_dptr(p->k), vv = gpu_dptr(p->v);
    /* TMA needs 16-byte aligned bases; q and o rows are read and written 16 bytes at a time */
    if (!shape_supported(D, V, NB, BH, maxrows, (size_t)g->max_smem_optin) || !a.q || !a.o || !a.lse || !kk ||
        !vv || ((a.q | a.o | kk | vv) & 15)) {
        if (!direct)
            return 0;
        *st = forward_copies(g, d, p);
        return 1;
    }
    if (!a.kept_count)
        a.kept_rows = 0;
    vox_attention_forward_args fa;
    vox_attention_forward_args_init(&fa, d, p);
    a.scale_log2 = fa.scale_log2; /* the mma.sync kernel's rounding of scale * log2(e) */
    cu_tensor_map tmK, tmV, tmK16, tmV16; /* whole 64-key tiles; 16-key chunks of partial blocks */
    vox_status ps = gpu_push(g); /* the encoder wants the context current */
    if (ps) {
        if (!direct)
            return 0;
        *st = ps;
        return 1;
    }
    int bad = encode_kv(&tmK, kk, BH * NB * V, D, bf16) || encode_kv(&tmV, vv, BH * NB * V, D, bf16) ||
              encode_rows(&tmK16, kk, BH * NB * V, D, bf16, 16) || encode_rows(&tmV16, vv, BH * NB * V, D, bf16, 16);
    g->api->pop(g);
    if (bad) {
        vox_log(&g->log, VOX_LOG_DEBUG, "cuda: tensor map encoding failed; attention takes mma.sync");
        if (!direct)
            return 0;
        *st = forward_copies(g, d, p);
        return 1;
    }
    /* scratch: 4 counters (the plan's item count; the persistent kernels' work: fast, _nf, any head
     * flagged), the head flags (BH words), then 16-byte aligned the items (BH*NB pairs {m0, G}),
     * the order (BH*NB), the non-finite V flags (BH*nw words) */
    int64_t nw = (NB + 31) / 32;
    size_t head = 16 + ((size_t)BH * sizeof(uint32_t) + 15) / 16 * 16;
    *st = gpu_ensure_scratch(g, head + (size_t)(BH * NB) * 3 * sizeof(int32_t) + (size_t)(BH * nw) * sizeof(uint32_t));
    if (*st)
        return 1;
    uint64_t counter = g->scratch, hflag = g->scratch + 16, items = g->scratch + head,
             order = items + (uint64_t)(BH * NB) * 2 * sizeof(int32_t);
    uint64_t vbad = order + (uint64_t)(BH * NB) * sizeof(int32_t), anyflag = counter + 12;
    a.items = items, a.n_items_dev = counter, a.order = order, a.vbad = vbad;
    const int persist = !s->fwd_copies;
    if (persist)
        a.persist = 1, a.work = counter + 4, a.hflag = hflag;
    uint64_t hflag_arg = persist ? hflag : 0, anyflag_arg = persist ? anyflag : 0;

    *st = gpu_push(g);
    if (*st)
        return 1;
    int rc = vox_cu.MemsetD32Async(counter, 0, 4 + (size_t)BH, g->stream);
    g->api->pop(g);
    if (rc) {
        *st = gpu_err(g, rc, "cuMemsetD32Async");
        return 1;
    }
    long long nb_ll = NB, bh_ll = BH;
    int v_i = (int)V, d_i = (int)D;
    int vscan = 1; /* the plan launch scans V (block layout) for Inf/NaN */
    if (direct) {
        /* K: permute_to; V: permuted and scanned in one pass where its rows are 16-byte aligned */
        *st = permute_in(g, d, p, &p->ck, p->k);
        if (!*st && rows_aligned(&p->cv, 2, 16)) {
            uint64_t cv = gpu_dptr(p->cv.ref), tok = gpu_dptr(p->slot_token);
            long long sb = p->cv.stride_batch, sh = p->cv.stride_head, stt = p->cv.stride_token;
            int heads = (int)d->heads;
            void *vargs[] = {&cv, &sb, &sh, &stt, &heads, &tok, &vv, &nb_ll, &v_i, &d_i, &bf16, &vbad,
                             &hflag, &anyflag};
            *st = gpu_launch_fn(g, VOX_OP_permute_to, s->fn[SM90_PERMUTE_V], sm90_kernels[SM90_PERMUTE_V].name,
                                &s->fn_smem[SM90_PERMUTE_V], BH * nw, (unsigned)sm90_kernels[SM90_PERMUTE_V].threads,
                                1, 0, vargs);
            vscan = 0;
        } else if (!*st) {
            *st = permute_in(g, d, p, &p->cv, p->v);
        }
        /* Q: read through slot_token where its rows are 16-byte aligned and no output shares its
         * memory (but an in-place out = q) */
        if (!*st && rows_aligned(&p->cq, 2, 16) && !spans_meet(d, &p->cq, 2, D, &p->co, 2, D) &&
            !spans_meet(d, &p->cq, 2, D, &p->clse, 4, 1)) {
            a.q = gpu_dptr(p->cq.ref), a.qtok = gpu_dptr(p->slot_token);
            a.q_sb = p->cq.stride_batch, a.q_sh = p->cq.stride_head, a.q_st = p->cq.stride_token;
        } else if (!*st) {
            *st = permute_in(g, d, p, &p->cq, p->q);
        }
        if (*st)
            return 1;
        /* O, LSE: written into the caller's tensors when every valid row is computed (no pruned
         * rows, whose output copies their source's) and the rows are 4-byte aligned */
        const int has_lse = gpu_dptr(p->clse.ref) != 0;
        if (!gpu_dptr(p->fill_src) && !a.kept_count && rows_aligned(&p->co, 2, 4) &&
            (!has_lse || rows_aligned(&p->clse, 4, 4))) {
            a.o = gpu_dptr(p->co.ref), a.otok = gpu_dptr(p->slot_token);
            a.o_sb = p->co.stride_batch, a.o_sh = p->co.stride_head, a.o_st = p->co.stride_token;
            a.lse = has_lse ? gpu_dptr(p->clse.ref) : 0;
            a.l_sb = p->clse.stride_batch, a.l_sh = p->clse.stride_head, a.l_st = p->clse.stride_token;
        }
    }
    int gt = (int)d->grid_blocks[0], gh = (int)d->grid_blocks[1], gw = (int)d->grid_blocks[2];
    /* grid: BH planning CTAs, then (vscan) one V-flag CTA per vbad word (the same launch: they overlap).
     * The planner's positions are 16-bit: session 11's kernel past that (and where its shared memory
     * does not fit; the forward's byte map keeps NB below ~14000 anyway) or by VOXATTN_SM90_PLAN_OLD */
    const int old_plan = s->plan_old || NB >= 65535 || VOX_SM90_PLAN_SMEM(NB) + 256 > (size_t)g->max_smem_optin;
    const int kpl = old_plan ? SM90_PLAN_OLD : SM90_PLAN;
    const size_t plan_smem = old_plan ? VOX_SM90_PLAN_OLD_SMEM(NB) : VOX_SM90_PLAN_SMEM(NB);
    /* the new planner puts the items holding global (text) blocks into a front region, claimed first
     * (sm90_smem.h); the kernel counts *counter + n_items. Its other mode bits (VOX_SM90_PLAN_M_EDGE,
     * _RAGGED) move items and partial blocks only */
    int mode = old_plan ? 0
                        : s->plan_mode | (s->split ? VOX_SM90_PLAN_M_SPLIT : 0) |
                              (s->split == 2 ? VOX_SM90_PLAN_M_COLS : 0);
    a.n_items = (mode & VOX_SM90_PLAN_M_FRONT) ? (int)VOX_SM90_PLAN_FRONT(BH, NB, gt, gh, gw) : 0;
    void *plan_args[] = {&a.kept_count, &a.block_valid, &a.kv_start, &a.kv_count, &a.kv_cols, &nb_ll, &items,
                         &counter, &maxrows, &order, &gt, &gh, &gw, &bh_ll, &vv, &v_i, &d_i, &bf16, &vbad,
                         &hflag_arg, &anyflag_arg, &mode}; /* (the old kernel has no mode) */
    *st = gpu_launch_fn(g, VOX_OP_attention_forward, s->fn[kpl], sm90_kernels[kpl].name, &s->fn_smem[kpl],
                        BH + (vscan ? BH * nw : 0), (unsigned)sm90_kernels[kpl].threads, 1, plan_smem, plan_args);
    if (*st)
        return 1;
    /* The fast kernel k takes the heads whose V is finite, k + 1 (its _nf variant) the others
     * (decided on the device from the V flags). persist: a grid of one CTA per SM each (their
     * shared memory allows one), looping over the items; the _nf grid returns at once when no head
     * is flagged. Else the upper bound of the item count, CTAs past the count exiting at once, and
     * the same grid for _nf, whose CTAs read their head's flag words and return */
    void *args[] = {&a, &tmK, &tmV, &tmK16, &tmV16};
    const int64_t grid = persist ? gpu_cap_grid(g, BH * NB, 1) : BH * NB;
    for (int f = k; f <= k + 1 && !*st; f++)
        *st = gpu_launch_fn(g, VOX_OP_attention_forward, s->fn[f], sm90_kernels[f].name, &s->fn_smem[f], grid,
                            (unsigned)sm90_kernels[f].threads, 1, smem_bytes(D, maxrows / 64, NB), args);
    if (!*st && direct && !a.otok)
        *st = permute_out(g, d, p);
    return 1;
}


/* The grid of a backward kernel of scheme pk (0 dq, 1 the packed dkdv) per head: P CTA positions, the last F of
 * them the front CTAs (vox_sm90_bwd_front, the kernels' own rule). */
static void bwd_grid_pf(int64_t NB, int64_t V, int pk, int front, int64_t *P, int64_t *F)
{
    const int64_t U = NB * (V / 64);
    *P = pk ? (U + 1) / 2 : U;
    *F = vox_sm90_bwd_front(*P, U, pk, front, (int)V);
}

/* Dynamic shared memory of a dq / dkdv CTA of the scheme `pack` (VOX_SM90_BWD_{DQ,DKDV}_PACK). */
static size_t bwd_smem_bytes(int64_t D, int pack) { return VOX_SM90_BWD_SMEM_BYTES(D, pack); }

/* The atomic-dQ accumulator (f32 [rows][D]) as the dkdv_q kernels reduce into it: boxes of 16 rows
 * x 32 columns (vox_sm90_bwd_encode_dqacc). */
static int encode_dqacc(cu_tensor_map *map, uint64_t dptr, int64_t rows, int64_t D)
{
    return encode_2d(map, CU_TMAP_DATA_F32, 4, dptr, rows, D, 16);
}

/* Grouped units for a call (ordered mode; dq's, pack 0, and the packed dkdv's, pack 1): the small video blocks
 * (VOX_SM90_BWD_QGRP_SMALL) among the nu units before the front ones, from the host copy of block_valid; 0 when the
 * call cannot take them (V != 64, no host copy, fewer than 2 such blocks, more than 4096 units for the order
 * kernel, or the membership bytes do not fit); else their count, and *P the kernel's grid positions per head: dq the
 * other units, the groups and the F front units; dkdv the other units and the groups paired anew, then the F front
 * pairs. */
static int64_t bwd_groups(const gpu_dev *g, const vox_op_dims *d, int pack, int64_t nu, int64_t F, int64_t *P)
{
    const int64_t V = d->block_volume, NB = d->n_blocks;
    if (V != 64 || !d->block_valid_host || nu > 4096 ||
        bwd_smem_bytes(d->head_dim, pack) + VOX_SM90_BWD_QGRP_BYTES(NB) > (size_t)g->max_smem_optin)
        return 0;
    int64_t ns = 0;
    for (int64_t i = 0; i < nu && i < d->n_video_blocks; i++)
        ns += VOX_SM90_BWD_QGRP_SMALL(d->block_valid_host[i]);
    if (ns < 2)
        return 0;
    const int64_t n = nu - ns + (ns + 3) / 4;
    *P = (pack ? (n + 1) / 2 : n) + F;
    return ns;
}

/* Whether a call takes the atomic-dQ mode (rows, dkdv_q, dqconv: FA3's 5 GEMMs, dq not bitwise
 * reproducible) instead of the ordered one (rows, dq, dkdv: 7): never for a plan that asked for a
 * deterministic backward; VOXATTN_SM90_BWD_DQ=atomic|ordered forces one; else atomic where the
 * host's density figure (p->density: exact for DENSE/CUSTOM, the rows' room for BSA top-k or a
 * capped rule, -1 unknown) is at least VOX_SM90_BWD_ATOMIC_DENSITY. H200 harness, session 15 (ms, ordered vs
 * atomic in the VOX_SM90_BWD_ATOMIC scheme): dense 1105 vs 1057, ragged hunyuan 50% (correlated
 * lists) 584 vs 561, 25% 324 vs 315; at BSA 10% atomic loses (session 9, library: 164 vs 147,
 * ~283 GB of reduce-adds). 0.5: the lowest density measured as a win with random-list data missing
 * between 10% and 50%; an unknown density (BSA tau/stat, SVG: lists on the device) stays ordered. */
#define VOX_SM90_BWD_ATOMIC_DENSITY 0.5
static int bwd_atomic(const vox_op_attention_backward *p)
{
    static const char *const vals[] = {"ordered", "atomic"};
    static const int codes[] = {1, 2};
    const int dq = sm90_env_code("VOXATTN_SM90_BWD_DQ", 2, vals, codes, 0); /* at each call: `voxattn bench --ab` */
    if (p->deterministic || dq == 1)
        return 0;
    return dq == 2 || p->density >= VOX_SM90_BWD_ATOMIC_DENSITY;
}

/* gpu_api.attention_backward: 0 (declined) unless the sm_90a path is loaded
 * and takes the shape (vox_sm90_bwd_supported); then, in the ordered mode, the
 * rows kernel (l2 in the device's scratch), dq and dkdv; in the atomic-dQ mode
 * (bwd_atomic) rows (also zeroing the f32 dQ accumulator after l2 in the
 * scratch), dkdv_q and dqconv; 1 with the status in *st. Called after the
 * shared preprocess, on the same stream; or, for a call in the caller's
 * layout (p->slot_token), first: declined where a pruned row's dO must be
 * folded (fill_src) or a gradient's rows are not 4-byte aligned; else
 * permute_to of q, k, v into their block scratch, the prep kernel (dout's
 * block copy, the LSE and delta from the caller's dout, o and lse: no copy of
 * o, no separate preprocess pass) and the kernels above writing dq, dk, dv
 * into the caller's tensors through slot_token (no permute_from). */
int cu_sm90_attention_backward(gpu_dev *g, const vox_op_dims *d, const vox_op_attention_backward *p, vox_status *st)
{
    cu_sm90 *s = g->vendor;
    if (!s || (d->dtype != VOX_F16 && d->dtype != VOX_BF16))
        return 0;
    const int direct = gpu_dptr(p->slot_token) != 0;
    if (direct && (s->bwd_copies || gpu_dptr(p->fill_src) || !gpu_dptr(p->clse.ref) || !rows_aligned(&p->cdq, 2, 4) ||
                   !rows_aligned(&p->cdk, 2, 4) || !rows_aligned(&p->cdv, 2, 4)))
        return 0;
    int64_t D = d->head_dim, V = d->block_volume, NB = d->n_blocks, BH = d->batch * d->heads;
    if ((D != 64 && D != 128) || V < 64 || (V & (V - 1)) || BH * NB * V >= ((int64_t)1 << 31) ||
        bwd_smem_bytes(D, VOX_SM90_BWD_DQ_PACK) > (size_t)g->max_smem_optin ||
        bwd_smem_bytes(D, VOX_SM90_BWD_DKDV_PACK) > (size_t)g->max_smem_optin)
        return 0;
    int bf16 = d->dtype == VOX_BF16;
    int kq = D == 128 ? (bf16 ? SM90_BWD_DQ_BF16_D128 : SM90_BWD_DQ_F16_D128)
                      : (bf16 ? SM90_BWD_DQ_BF16_D64 : SM90_BWD_DQ_F16_D64);
    int kkv = D == 128 ? (bf16 ? SM90_BWD_DKDV_BF16_D128 : SM90_BWD_DKDV_F16_D128)
                       : (bf16 ? SM90_BWD_DKDV_BF16_D64 : SM90_BWD_DKDV_F16_D64);
    uint64_t q = gpu_dptr(p->q), k = gpu_dptr(p->k), v = gpu_dptr(p->v), g_ = gpu_dptr(p->dout);
    VoxSm90BwdParams a = {.lse = gpu_dptr(p->lse), .dq = gpu_dptr(p->dq), .dk = gpu_dptr(p->dk),
                          .dv = gpu_dptr(p->dv), .mask = gpu_dptr(p->mask), .fill_src = gpu_dptr(p->fill_src),
                          .block_valid = gpu_dptr(d->block_valid), .BH = BH, .NB = NB, .V = (int)V, .D = (int)D};
    /* TMA and the bulk copies of lse rows want 16-byte aligned bases; dq/dk/dv take 4-byte stores */
    if (!q || !k || !v || !g_ || !a.lse || !a.dq || !a.dk || !a.dv || ((q | k | v | g_ | a.lse) & 15) ||
        ((a.dq | a.dk | a.dv) & 3))
        return 0;
    vox_attention_backward_args ba;
    vox_attention_backward_args_init(&ba, d, p);
    a.scale = ba.scale, a.scale_log2 = ba.scale_log2;
    a.asc = s->bwd_asc;
    int64_t rows = BH * NB * V;
    /* scratch: l2 (one float per slot), then (atomic dQ) the accumulator, 256-byte aligned (rows is a
     * multiple of 64); an atomic call that cannot get it runs ordered */
    const int pq = s->bwd_qvar ? VOX_SM90_BWD_ATOMIC_RW : VOX_SM90_BWD_DKDVQ_PACK; /* dkdv_q's scheme */
    int atomic = bwd_atomic(p) && bwd_smem_bytes(D, pq) <= (size_t)g->max_smem_optin;
    /* the key-unit table after them (a count and 4 NB ints): a host-built mask listing every pair (so the
     * blocks of a unit share their lists), V = 64, not VOXATTN_SM90_BWD_RCHUNK=0 */
    const size_t ru_bytes = s->bwd_rchunk && p->full_lists && V == 64 ? (size_t)(4 + NB * 4) * sizeof(int) : 0;
    /* the global blocks (the last NB - NBv: every row lists them, their rows list every block) first; the key
     * units keep their order (every list is all blocks: no long units) */
    a.front = s->bwd_front && !ru_bytes && d->n_video_blocks > 0 && d->n_video_blocks < NB
                  ? (int)(NB - d->n_video_blocks)
                  : 0;
    /* the CTA orders (no key units; sm90_bwd_order) after l2, the accumulator and the key-unit table: dq's (ordered
     * mode) and the packed dkdv's, which dkdv_q's grid shares */
    int64_t Pq = 0, Fq = 0, Pk = 0, Fk = 0;
    bwd_grid_pf(NB, V, VOX_SM90_BWD_DQ_PACK, a.front, &Pq, &Fq);
    bwd_grid_pf(NB, V, VOX_SM90_BWD_DKDV_PACK, a.front, &Pk, &Fk);
    const int order = sm90_bwd_order(), qgm = sm90_bwd_qgroup(), kgm = sm90_bwd_kgroup();
    /* dq's grouped units (ordered mode): Pq becomes their grid; the order kernel runs for them in any order */
    int64_t Pg = 0;
    const int64_t nsm = !atomic && !ru_bytes && qgm && VOX_SM90_BWD_DQ_PACK == 0
                            ? bwd_groups(g, d, 0, NB * (V / 64) - Fq, Fq, &Pg)
                            : 0;
    if (nsm)
        Pq = Pg;
    /* the packed dkdv's grouped key units (ordered mode): Pk becomes their grid, likewise */
    const int64_t ksm = !atomic && !ru_bytes && kgm && VOX_SM90_BWD_DKDV_PACK == 1
                            ? bwd_groups(g, d, 1, vox_sm90_bwd_kgrp_units(NB, Fk), Fk, &Pg)
                            : 0;
    if (ksm)
        Pk = Pg;
    const size_t grp_bytes = (size_t)((nsm + 3) / 4 * 4 + (ksm + 3) / 4 * 4) * sizeof(int);
    const size_t ord_bytes = !ru_bytes && (order || nsm || ksm)
                                 ? ((size_t)(BH * (Pq + 2 * Pk)) * sizeof(int) + grp_bytes + 255) / 256 * 256
                                 : 0;
    if (atomic && gpu_ensure_scratch(g, (size_t)rows * sizeof(float) * (size_t)(1 + D) + ru_bytes + ord_bytes)) {
        vox_log(&g->log, VOX_LOG_INFO, "cuda: no scratch for the atomic-dQ backward; attention_backward runs ordered");
        atomic = 0;
    }
    if (!atomic) {
        *st = gpu_ensure_scratch(g, (size_t)rows * sizeof(float) + ru_bytes + ord_bytes);
        if (*st)
            return 1;
    }
    a.l2 = g->scratch;
    a.dqacc = atomic ? g->scratch + (uint64_t)rows * sizeof(float) : 0;
    uint64_t ru = 0; /* the key-unit table (count, then units): vox_attn_bwd_sm90_runits after rows */
    if (ru_bytes) {
        ru = g->scratch + (uint64_t)rows * sizeof(float) * (uint64_t)(atomic ? 1 + D : 1);
        a.runit = ru + 4 * sizeof(int), a.nunit = -1; /* the count on the device; the usual grid */
    }
    if (ord_bytes) {
        a.ordq = g->scratch + (uint64_t)rows * sizeof(float) * (uint64_t)(atomic ? 1 + D : 1);
        a.ordkv = a.ordq + (uint64_t)(BH * Pq) * sizeof(int);
        if (nsm) {
            a.qgrp = a.ordkv + (uint64_t)(2 * BH * Pk) * sizeof(int);
            a.nqu = (int)Pq, a.qbrk = qgm == 2;
        }
        if (ksm) {
            a.kgrp = a.ordkv + (uint64_t)(2 * BH * Pk + (nsm + 3) / 4 * 4) * sizeof(int);
            a.nku = (int)Pk, a.kbrk = kgm == 2;
        }
    }
    cu_tensor_map tmQ, tmK, tmV, tmG, tmQc, tmKc, tmVc, tmGc; /* 64-row boxes; 16-row boxes (chunks) */
    cu_tensor_map tmDq = {{0}};                                /* atomic dQ: the accumulator */
    if (gpu_push(g)) /* the encoder wants the context current */
        return 0;
    int bad = encode_kv(&tmQ, q, rows, D, bf16) || encode_kv(&tmK, k, rows, D, bf16) ||
              encode_kv(&tmV, v, rows, D, bf16) || encode_kv(&tmG, g_, rows, D, bf16) ||
              encode_rows(&tmQc, q, rows, D, bf16, 16) || encode_rows(&tmKc, k, rows, D, bf16, 16) ||
              encode_rows(&tmVc, v, rows, D, bf16, 16) || encode_rows(&tmGc, g_, rows, D, bf16, 16) ||
              (atomic && encode_dqacc(&tmDq, a.dqacc, rows, D));
    g->api->pop(g);
    if (bad) {
        vox_log(&g->log, VOX_LOG_DEBUG, "cuda: tensor map encoding failed; attention_backward takes mma.sync");
        return 0;
    }
    if (direct) {
        const vox_strided *in[3] = {&p->cq, &p->ck, &p->cv};
        const vox_bref blk[3] = {p->q, p->k, p->v};
        for (int i = 0; i < 3; i++) {
            vox_op_permute_to op = {*in[i], blk[i], p->slot_token};
            if ((*st = gpu_permute_to(g, d, &op)))
                return 1;
        }
        uint64_t cg = gpu_dptr(p->cdout.ref), co = gpu_dptr(p->co.ref), cl = gpu_dptr(p->clse.ref),
                 tok = gpu_dptr(p->slot_token), valid = gpu_dptr(d->block_valid), lseb = a.lse;
        long long gsb = p->cdout.stride_batch, gsh = p->cdout.stride_head, gst = p->cdout.stride_token;
        long long osb = p->co.stride_batch, osh = p->co.stride_head, ost = p->co.stride_token;
        long long lsb = p->clse.stride_batch, lsh = p->clse.stride_head, lst = p->clse.stride_token;
        int heads = (int)d->heads, v_i = (int)V, d_i = (int)D;
        long long bh_ll = BH, nb_ll = NB;
        void *pargs[] = {&cg, &gsb, &gsh, &gst, &co, &osb, &osh, &ost, &cl, &lsb, &lsh, &lst, &tok, &valid,
                         &heads, &bh_ll, &nb_ll, &v_i, &d_i, &g_, &lseb};
        const int kp = bf16 ? SM90_BWD_PREP_BF16 : SM90_BWD_PREP_F16; /* 8 rows per warp and step */
        *st = gpu_launch_fn(g, VOX_OP_attention_backward, s->fn[kp], sm90_kernels[kp].name, &s->fn_smem[kp],
                            gpu_cap_grid(g, (rows + 63) / 64, 8), (unsigned)sm90_kernels[kp].threads, 1, 0, pargs);
        if (*st)
            return 1;
        a.heads = heads, a.tok = tok;
        a.dq = gpu_dptr(p->cdq.ref), a.dk = gpu_dptr(p->cdk.ref), a.dv = gpu_dptr(p->cdv.ref);
        const vox_strided *out[3] = {&p->cdq, &p->cdk, &p->cdv};
        for (int i = 0; i < 3; i++) {
            a.ostr[3 * i] = out[i]->stride_batch;
            a.ostr[3 * i + 1] = out[i]->stride_head;
            a.ostr[3 * i + 2] = out[i]->stride_token;
        }
    }
    void *rargs[] = {&a};
    *st = gpu_launch_fn(g, VOX_OP_attention_backward, s->fn[SM90_BWD_ROWS], sm90_kernels[SM90_BWD_ROWS].name,
                        &s->fn_smem[SM90_BWD_ROWS], gpu_cap_grid(g, (rows + 255) / 256, 8),
                        (unsigned)sm90_kernels[SM90_BWD_ROWS].threads, 1, 0, rargs);
    if (!*st && ru) {
        uint64_t bv = gpu_dptr(d->block_valid);
        long long nb_ll = NB;
        void *uargs[] = {&bv, &nb_ll, &ru};
        *st = gpu_launch_fn(g, VOX_OP_attention_backward, s->fn[SM90_BWD_RUNITS], sm90_kernels[SM90_BWD_RUNITS].name,
                            &s->fn_smem[SM90_BWD_RUNITS], 1, (unsigned)sm90_kernels[SM90_BWD_RUNITS].threads, 1, 0,
                            uargs);
    }
    if (!*st && ord_bytes) {
        long long pq_ll = Pq, fq_ll = Fq, pk_ll = Pk, fk_ll = Fk;
        int brk = order == 2, tiled = order != 3 && d->grid_blocks[0] > 0;
        int gt = tiled ? (int)d->grid_blocks[0] : 0, gh = (int)d->grid_blocks[1], gw = (int)d->grid_blocks[2];
        int tsh = order == 4 ? 1 : order == 5 ? 3 : 2, nbv = (int)d->n_video_blocks, keyed = order != 0;
        void *oargs[] = {&a, &pq_ll, &fq_ll, &pk_ll, &fk_ll, &brk, &gt, &gh, &gw, &tsh, &nbv, &keyed};
        *st = gpu_launch_fn(g, VOX_OP_attention_backward, s->fn[SM90_BWD_ORDER], sm90_kernels[SM90_BWD_ORDER].name,
                            &s->fn_smem[SM90_BWD_ORDER], 2 * BH, (unsigned)sm90_kernels[SM90_BWD_ORDER].threads, 1, 0,
                            oargs);
    }
    void *args[] = {&a, &tmQ, &tmK, &tmV, &tmG, &tmQc, &tmKc, &tmVc, &tmGc, &tmDq};
    if (atomic) {
        int kkq = kkv - SM90_BWD_DKDV_BF16_D128 +
                  (s->bwd_qvar == 1   ? SM90_BWD_DKDVQ_RW_BF16_D128
                   : s->bwd_qvar == 3 ? SM90_BWD_DKDVQ_RWL_BF16_D128
                   : s->bwd_qvar >= 2 ? SM90_BWD_DKDVQ_RWU_BF16_D128
                                      : SM90_BWD_DKDVQ_BF16_D128);
        if (s->bwd_qvar == 4 && kkq == SM90_BWD_DKDVQ_RWU_BF16_D128) /* the tests' break */
            kkq = SM90_BWD_DKDVQ_RWBRK_BF16_D128;
        int kc = kkv - SM90_BWD_DKDV_BF16_D128 + SM90_BWD_DQCONV_BF16_D128;
        if (!*st)
            *st = gpu_launch_fn(g, VOX_OP_attention_backward, s->fn[kkq], sm90_kernels[kkq].name, &s->fn_smem[kkq],
                                VOX_SM90_BWD_CTAS(BH, NB, V, pq), (unsigned)sm90_kernels[kkq].threads, 1,
                                bwd_smem_bytes(D, pq), args);
        if (!*st)
            *st = gpu_launch_fn(g, VOX_OP_attention_backward, s->fn[kc], sm90_kernels[kc].name, &s->fn_smem[kc],
                                gpu_cap_grid(g, (rows * (D / 8) + 255) / 256, 8), (unsigned)sm90_kernels[kc].threads,
                                1, 0, rargs);
        return 1;
    }
    /* each kernel its scheme's grid and shared memory: dq one unit per CTA, dkdv two */
    if (s->bwd_is0 && kq == SM90_BWD_DQ_BF16_D128) /* session 17's stage code (A/B) */
        kq = SM90_BWD_DQ_BF16_D128_IS0, kkv = SM90_BWD_DKDV_BF16_D128_IS0;
    else if (s->bwd_pf0 && kq == SM90_BWD_DQ_BF16_D128) /* session 18's producer (A/B) */
        kq = SM90_BWD_DQ_BF16_D128_PF0;
    if (s->bwd_p2 && kkv == SM90_BWD_DKDV_BF16_D128) /* the two-warp producer (the default; _p2sa: A/B) */
        kkv = s->bwd_sa ? SM90_BWD_DKDV_BF16_D128_P2SA : SM90_BWD_DKDV_BF16_D128_P2;
    if (!*st)
        *st = gpu_launch_fn(g, VOX_OP_attention_backward, s->fn[kq], sm90_kernels[kq].name, &s->fn_smem[kq],
                            nsm ? BH * Pq : VOX_SM90_BWD_CTAS(BH, NB, V, VOX_SM90_BWD_DQ_PACK),
                            (unsigned)sm90_kernels[kq].threads, 1,
                            bwd_smem_bytes(D, VOX_SM90_BWD_DQ_PACK) + (nsm ? VOX_SM90_BWD_QGRP_BYTES(NB) : 0), args);
    if (!*st)
        *st = gpu_launch_fn(g, VOX_OP_attention_backward, s->fn[kkv], sm90_kernels[kkv].name, &s->fn_smem[kkv],
                            ksm ? BH * Pk : VOX_SM90_BWD_CTAS(BH, NB, V, VOX_SM90_BWD_DKDV_PACK),
                            (unsigned)sm90_kernels[kkv].threads, 1,
                            bwd_smem_bytes(D, VOX_SM90_BWD_DKDV_PACK) + (ksm ? VOX_SM90_BWD_QGRP_BYTES(NB) : 0), args);
    return 1;
}
