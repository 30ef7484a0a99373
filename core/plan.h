/* Plan internals (private). */
#ifndef VOX_CORE_PLAN_H
#define VOX_CORE_PLAN_H

#include "internal.h"
#include "layout.h"

/* A device buffer owned by a plan, with its size. */
typedef struct vox_dbuf {
    void *impl;
    size_t bytes;
} vox_dbuf;

struct vox_plan {
    vox_context *ctx;
    vox_plan_params p;
    vox_layout L;
    int64_t BH;
    double scale;
    vox_op_dims dims;

    int32_t *custom_row_ptr, *custom_cols; /* copies of the caller's CSR */

    /* index tables */
    vox_dbuf slot_token, token_slot, block_valid, block_coord, win_ptr, windows, sample_rows;
    /* block-layout working tensors */
    vox_dbuf qb, kb, vb, ob, lseb;
    /* masks: per row m = bh*NB+i: cols[start[m] .. start[m]+count[m]) */
    vox_dbuf kv_start, kv_count, kv_cols;
    /* query selection */
    vox_dbuf kept_count, kept_rows, fill_src;
    /* BSA means, SVG sample results */
    vox_dbuf qbar, kbar, sample_out;
    /* SVG on the device: pattern rows [4][NB] (h_svg_start), classes [BH], errors [BH][2] */
    vox_dbuf svg_pattern_start, svg_pattern_count, svg_class, svg_err;

    /* backward (core/backward.c), allocated on the first vox_attention_backward:
     * block-layout dO, dQ, dK, dV; the LSE plus work space (f32 [2][BH][S]);
     * the packed forward CSR and its transpose (BSA, SVG: rebuilt on the
     * device by the first backward after every build; DENSE, CUSTOM: once) */
    vox_dbuf dob, dqb, dkb, dvb, bwd_lse, bwd_mask;
    int bwd_mask_fresh;
    int64_t bwd_max_kv_count, bwd_max_q_count;
    double bwd_density; /* vox_op_attention_backward.density: the host's figure, -1 unknown */
    int bwd_full;       /* vox_op_attention_backward.full_lists: a host-built mask listing every pair */

    /* host mirrors */
    int32_t *h_kv_start, *h_kv_count; /* [BH*NB] */
    int32_t *h_cols;                  /* static cols (DENSE/CUSTOM/SVG) */
    int64_t h_cols_len;
    int32_t *h_bsa_cols;              /* BSA columns, read back lazily */
    int64_t bsa_cols_len;             /* BH * room of one head's rows */
    int32_t *h_kept_count;            /* [BH*NB] */
    int32_t *h_kept_rows;             /* lazily read back */
    int32_t *h_sample_slots;          /* [R] */
    int64_t n_sample_rows;
    /* SVG [4][NB] rows in h_cols: the spatial and temporal patterns, then their
     * transposes (KV block j -> the query blocks whose pattern row holds j; a
     * list of all NB blocks is the dense row [0,NB) at 0, stored once) */
    int32_t *h_svg_start, *h_svg_count;

    vox_head_class *classes;
    double *err_s, *err_t;

    int built;
    int counts_stale;  /* h_kv_count (BSA) / h_kept_count not read back since the build */
    int classes_stale; /* SVG classes, errors, kv_start/kv_count on the device only */
    double last_build_ms; /* < 0: the last build was not timed (vox_context_params.time_builds) */
};

/* Draws `count` distinct integers in [0, n) sorted ascending from `seed`. */
int vox_sample_distinct(uint64_t seed, int64_t n, int64_t count, int64_t *out);

/* Validates a tensor against the plan (shape, dtype, strides, span). */
vox_status vox_check_tensor(const vox_plan *plan, const vox_tensor *t, const char *name,
                            vox_dtype dtype, int64_t head_dim);

/* The same checks against an explicit shape, for calls without a plan
 * (vox_attention_merge); a wrong shape is logged as "<shape>, <wants> <shape>". */
vox_status vox_check_tensor_shape(const vox_context *ctx, const vox_tensor *t, const char *name, const char *wants,
                                  vox_dtype dtype, int64_t batch, int64_t heads, int64_t tokens, int64_t head_dim);
/* Whether two valid tensors may share a byte (core/backward.c): exact for
 * tensors of the same dtype, shape and strides, else any intersection of
 * their spans counts. */
int vox_tensors_overlap(const vox_tensor *a, const vox_tensor *b);

/* Host mirrors that need device reads, fetched on first use after a build:
 * the counts, BSA columns and kept rows (stats, export, evaluate). */
vox_status vox_plan_fetch_masks(vox_plan *plan);
/* Columns of row m (bh*NB+i) from the host mirrors (after the fetches). */
const int32_t *vox_plan_row_cols(const vox_plan *plan, int64_t m, int32_t *count);

/* Whether the plan's masks are built on the device (BSA, SVG), so that the
 * backward's packed mask is rebuilt after every build (BSA by mask_transpose,
 * SVG by svg_classify: core/backward.c). */
static inline int vox_plan_mask_on_device(const vox_plan *plan)
{
    return plan->p.mask_mode == VOX_MASK_BSA || plan->p.mask_mode == VOX_MASK_SVG;
}

/* Backward (core/backward.c): allocates the backward's working buffers on
 * first use and (re)builds the packed mask of vox_op_attention_backward when
 * the masks changed since it was last built: on the device for BSA and SVG,
 * else on the host (static masks, once). */
vox_status vox_plan_backward_prepare(vox_plan *plan);
/* The backward's tensors: in = q, k, v, out, lse, dout (lse f32 with head_dim
 * 1), outputs = dq, dk, dv; outputs may share no byte with any input or with
 * each other. */
vox_status vox_backward_validate(const vox_plan *plan, const vox_tensor *const in[6], const char *const in_names[6],
                                 const vox_tensor *const out[3], const char *const out_names[3]);

#endif
