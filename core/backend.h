/*
 * The backend interface (private). A backend is a table of function pointers:
 * probing/opening devices, buffers, and the ops of docs/architecture.md. The core
 * validates every argument before calling a backend, so backends trust their
 * inputs (shapes, offsets and sizes are in range, buffers are large enough).
 *
 * Block layout (shared by every op)
 *   NB blocks of V slots; block j owns slots [j*V, (j+1)*V) and its valid
 *   (non-padding) tokens come first: slots [j*V, j*V + block_valid[j]).
 *   Blocks [0, n_video_blocks) are video blocks in (t,y,x) order, the rest
 *   are global (text) blocks. S = NB*V slots per (batch, head).
 *   Block-layout tensors are contiguous [BH][S][D] in the plan dtype, with
 *   bh = b*heads + h; LSE in block layout is f32 [BH][S].
 *   Index tables are int32 device buffers uploaded by the core.
 */
#ifndef VOX_CORE_BACKEND_H
#define VOX_CORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "voxattn.h"
#include "kernel_args.h"
#include "log.h"

/* The ops a backend may implement, one name per op in every layer. */
typedef enum vox_op {
#define VOX_OP_ENUM(name) VOX_OP_##name,
    VOX_KERNEL_OPS(VOX_OP_ENUM)
#undef VOX_OP_ENUM
    VOX_OP_COUNT
} vox_op;

/* A device buffer plus a byte offset into it. buf == NULL means "absent". */
typedef struct vox_bref {
    void *buf;
    size_t offset;
} vox_bref;

/* A tensor in the caller's layout (element strides, head_dim contiguous). */
typedef struct vox_strided {
    vox_bref ref;
    vox_dtype dtype;
    int64_t stride_batch, stride_head, stride_token;
} vox_strided;

/* Sizes common to every op. */
typedef struct vox_op_dims {
    int64_t batch, heads;   /* BH = batch*heads */
    int64_t head_dim;       /* D */
    int64_t tokens;         /* N valid tokens per (b,h) in caller order */
    int64_t n_blocks;       /* NB */
    int64_t n_video_blocks; /* NBv */
    int64_t block_volume;   /* V */
    vox_dtype dtype;        /* dtype of every block-layout tensor */
    vox_bref block_valid;   /* int32 [NB] valid tokens per block */
    int64_t grid_blocks[3]; /* video blocks along t, h, w (block i = (t*gh + h)*gw + w);
                               0 when unknown. A scheduling hint only (e.g. which
                               query blocks a kernel groups); no op's result depends on it */
    const int32_t *block_valid_host; /* the same [NB] counts in host memory (the plan's layout), or NULL:
                                        lets a backend size grids that depend on them without a read */
} vox_op_dims;

/* dst[bh][s][:] = slot_token[s] >= 0 ? src[b,h,slot_token[s],:] : 0
 * The backward also permutes the caller's LSE with it: d->dtype VOX_F32 and
 * d->head_dim 1 (the core asks supports() about those dims first). */
typedef struct vox_op_permute_to {
    vox_strided src;
    vox_bref dst;        /* [BH][S][D] */
    vox_bref slot_token; /* int32 [S]: caller token index, -1 for padding */
} vox_op_permute_to;

/* For every (b,h) and caller token t: s = token_slot[t],
 * f = fill_src ? fill_src[bh*S + s] : s,
 * dst[b,h,t,:] = src[bh][f][:] and, if lse_dst, lse_dst[b,h,t] = lse_src[bh*S+f]. */
typedef struct vox_op_permute_from {
    vox_bref src;        /* [BH][S][D] */
    vox_bref lse_src;    /* f32 [BH][S], may be absent (then lse_dst absent) */
    vox_strided dst;
    vox_strided lse_dst; /* f32, may be absent */
    vox_bref token_slot; /* int32 [N] */
    vox_bref fill_src;   /* int32 [BH][S], absolute slot; may be absent */
} vox_op_permute_from;

/* out[bh][j][:] = mean over the rows of block j of the caller's row
 * x[b,h,slot_token[slot]][:] (bh = b*H + h; slot = j*V + local slot): the
 * valid rows (local slots 0 .. block_valid[j]-1), or, with kept_count, the
 * kept rows kept_rows[(bh*NB+j)*V + r] (local slots) for r <
 * kept_count[bh*NB+j]. Those slots always hold a token. Read in the caller's
 * layout, so that a build needs no permuted copy of q or k. Accumulate in f32
 * (f64 reference). */
typedef struct vox_op_block_means {
    vox_strided x;       /* the caller's [B,H,N,D] tensor (q or k), by strides */
    vox_bref slot_token; /* int32 [S]: caller token of each slot, -1 for padding */
    vox_bref kept_count; /* int32 [BH*NB], may be absent */
    vox_bref kept_rows;  /* int32 [BH*NB*V] */
    vox_bref out;        /* f32 [BH][NB][D] */
} vox_op_block_means;

/* Per row r = bh*NB + i (docs/algorithms.md, KV selection):
 * - global query block (i >= NBv): all NB blocks.
 * - video block: s_j = dot(qbar_i, kbar_j)*scale for j < NBv, p = softmax(s);
 *   order j by p descending, ties lower j first; with cap = max_blocks (0 or
 *   >= NBv: NBv) admit by rule:
 *     CUMULATIVE: the first min(c, cap) blocks of that order, where c counts
 *                 the blocks n admitted iff the sum of p of the n blocks
 *                 before it is < tau;
 *     TOPK: the first min(topk, cap, NBv);
 *     STAT: the c blocks j with s_j >= mean(s) + z*std(s) (population std)
 *           when c <= cap, else the first cap of the order;
 *   union with the first min(min_blocks, NBv) of the order, with block i and
 *   with every global block.
 * Writes kv_count[r] and kv_cols[kv_start[r] + c] (ascending) for
 * c < kv_count[r]; kv_start (read only) gives each row room for the most
 * blocks its rule can admit, vox_kv_select_room() (the plan sizes it: memory
 * follows the rule's bound and the cap, not n_blocks^2). p NaN counts as
 * less than any number. */
typedef struct vox_op_kv_select {
    vox_bref qbar; /* f32 [BH][NB][D] */
    vox_bref kbar; /* f32 [BH][NB][D] */
    double scale;
    vox_kv_rule rule;
    double tau;
    int topk;
    double z;
    int min_blocks;
    int max_blocks;    /* 0: no cap */
    vox_bref kv_start; /* int32 [BH*NB], read only */
    vox_bref kv_count; /* int32 [BH*NB] */
    vox_bref kv_cols;  /* int32 [kv_start[BH*NB-1] + its room] */
} vox_op_kv_select;

/* Head-classification rows. For every bh and sampled row slot rows[r] (a
 * valid video slot), the exact attention output over valid keys three ways:
 * o_d (all keys), o_s (spatial pattern), o_t (temporal pattern), where key
 * block jb is allowed for query block ib iff jb is global, or the sink rule
 * (sink && block_coord[jb].t == 0) holds, or
 *   spatial:  |t(jb)-t(ib)| <= frame_blocks
 *   temporal: |y(jb)-y(ib)| <= space_blocks && |x(jb)-x(ib)| <= space_blocks.
 * out[(bh*R + r)*3 + {0,1,2}] = ||o_s-o_d||^2, ||o_t-o_d||^2, ||o_d||^2.
 * q, k, v are block copies, or, with slot_token (only for a backend that
 * lists the op in caller_layout_ops), the caller's tensors cq, ck, cv, which
 * then share one set of strides: slot s of (b, h) is the row
 * x[b*sb + h*sh + slot_token[s]*st] (no block copy needed). */
typedef struct vox_op_sample_rows {
    vox_bref q, k, v;      /* [BH][S][D]; absent with slot_token */
    vox_bref rows;         /* int32 [R] absolute slots */
    int64_t n_rows;        /* R */
    vox_bref block_coord;  /* int32 [NB*3] (t,y,x) of video blocks; -1 for global */
    int frame_blocks, space_blocks, sink;
    double scale;
    vox_bref out;          /* f32 [BH*R*3] */
    vox_strided cq, ck, cv; /* with slot_token: the caller's [B,H,N,D] q, k, v */
    vox_bref slot_token;   /* int32 [S], -1 for padding; absent: block copies */
} vox_op_sample_rows;

/* The key split count of a GPU backend's sample_rows for `units`
 * work-groups per split and `slots` resident ones (core/svg_classify.c):
 * at least enough splits to fill the slots once, then the count (up to 4
 * times that, <= 64, <= NB) with the least time in waves, ceil(work-groups
 * / slots) / splits (a work-group's time goes as 1 / splits), the smallest
 * such count (the merge reads every split). */
int64_t vox_sample_rows_splits(int64_t units, int64_t slots, int64_t NB);

/* Query selection (docs/algorithms.md). Windows of video block j are windows
 * [win_ptr[j], win_ptr[j+1]); window w = windows[4w..4w+3] =
 * {first slot (absolute), length m, centre slot (absolute), keep count k}.
 * Per bh and window: c[t] = cos(q_t, q_centre), where cos(q_a, q_b) is NaN
 * when q_a or q_b holds a NaN or an Inf (its norm is NaN or Inf), else 0 when
 * a norm is 0, else dot/sqrt(na*nb); keep the centre and the k-1 other tokens
 * of smallest c, a NaN c counting as smaller than any number (ties: lower
 * slot).
 * Each pruned t gets fill_src = the kept u of its window maximising
 * cos(q_t, q_u) over the kept u whose cosine is not NaN (ties: lower slot),
 * or the window centre when none is; kept and padding slots map to themselves.
 * kept_rows of block j lists its kept local slots ascending; global blocks
 * keep all valid rows. q is a block copy or, with slot_token (only for a
 * backend that lists the op in caller_layout_ops), the caller's tensor cq read
 * as in sample_rows. */
typedef struct vox_op_query_select {
    vox_bref q;          /* [BH][S][D]; absent with slot_token */
    vox_bref win_ptr;    /* int32 [NBv+1] */
    vox_bref windows;    /* int32 [n_windows*4] */
    vox_bref kept_count; /* int32 [BH*NB] */
    vox_bref kept_rows;  /* int32 [BH*NB*V] */
    vox_bref fill_src;   /* int32 [BH*S] */
    vox_strided cq;      /* with slot_token: the caller's [B,H,N,D] q */
    vox_bref slot_token; /* int32 [S], -1 for padding; absent: block copy */
    /* Optional (BSA builds pass them; a backend may ignore them): qbar, block_means' output for q over
     * the kept rows (f32 [BH][NB][D], bitwise block_means' contract: the f64 sum over kept_rows in
     * order, then (float)(sum / n), 0 without a kept row); a backend that wrote it sets *wrote_qbar = 1
     * and the core then skips block_means(q). CUDA/HIP's staged kernel only, with
     * VOXATTN_QUERY_SELECT_MEANS=1 (docs/environment.md). */
    vox_bref qbar;
    int *wrote_qbar;
} vox_op_query_select;

/* SVG head classification from sample_rows' output (R rows per head): per
 * bh, e_k = sum over r of out[(bh*R + r)*3 + k] (k = 0, 1, 2), den = e_2 (or
 * 1e-300 when e_2 <= 0), err_s = e_0/den, err_t = e_1/den; the class is
 * spatial if err_s <= err_t, else temporal, and dense when !(min(err_s,
 * err_t) <= dense_above) (NaN errors too). Writes classes[bh]
 * (vox_head_class), errors[2bh], errors[2bh+1] = err_s, err_t, and for every
 * query block i, m = bh*NB + i: dense: kv_start[m] = base, kv_count[m] = NB;
 * else kv_start[m] = base + pattern_start[c*NB + i], kv_count[m] =
 * pattern_count[c*NB + i] with c = 0 spatial, 1 temporal. The build passes
 * base 0 and the forward's pattern rows; the backward passes base 4R, the
 * packed mask's header as kv_start/kv_count, and once more the transposed
 * pattern rows (core/backward.c), so that a head's packed mask follows its
 * class with no n_blocks x n_blocks list. Optional: without it the core
 * classifies on the host (one blocking read per build). */
typedef struct vox_op_svg_classify {
    vox_bref sample_out;    /* f32 [BH*R*3] */
    int64_t n_rows;         /* R */
    double dense_above;
    vox_bref pattern_start; /* int32 [2*NB] */
    vox_bref pattern_count; /* int32 [2*NB] */
    vox_bref kv_start;      /* int32 [BH*NB] */
    vox_bref kv_count;      /* int32 [BH*NB] */
    vox_bref classes;       /* int32 [BH] */
    vox_bref errors;        /* f32 [2*BH] */
    int32_t base;           /* added to every start written */
} vox_op_svg_classify;

/* The classification arithmetic above on host arrays (the CPU reference and
 * the core's fallback share it). */
void vox_svg_classify_host(const vox_op_dims *d, const float *sample_out, int64_t R, double dense_above,
                           const int32_t *pattern_start, const int32_t *pattern_count, int32_t base,
                           int32_t *kv_start, int32_t *kv_count, int32_t *classes, double *err_s, double *err_t);
/* Its last step for one head of class c: the head's NB rows (kv_start,
 * kv_count from the head's first row) from the pattern tables, plus base. */
void vox_svg_head_rows(int64_t NB, vox_head_class c, const int32_t *pattern_start, const int32_t *pattern_count,
                       int32_t base, int32_t *kv_start, int32_t *kv_count);

/* Padding slots of k and v hold zeros (permute_to writes them): kernels may
 * load whole tiles including them (the Hopper kernel loads 64-key boxes by
 * TMA) as long as padding keys get no weight; padding rows of q are never
 * read.
 * For every bh, query block i, and row r of the block (valid rows, or the
 * kept rows if kept_count is present), with row index m = bh*NB + i:
 *   keys = valid slots of blocks kv_cols[kv_start[m] + c], c < kv_count[m]
 *   o[bh][r] = softmax(q.k * scale) v over keys, lse = log(sum exp(q.k*scale))
 *   (no keys: o = 0, lse = -inf). Rows not listed are not written. */
typedef struct vox_op_attention_forward {
    vox_bref q, k, v, o; /* [BH][S][D] */
    vox_bref lse;        /* f32 [BH][S] */
    vox_bref kv_start;   /* int32 [BH*NB] */
    vox_bref kv_count;   /* int32 [BH*NB] */
    vox_bref kv_cols;    /* int32 */
    vox_bref kept_count; /* int32 [BH*NB], may be absent */
    vox_bref kept_rows;  /* int32 [BH*NB*V] */
    double scale;
    int64_t max_kv_count; /* upper bound of kv_count (for launch sizing) */
    double query_keep;    /* the plan's query_keep when kept_count is present (a scheduling hint
                             only: roughly that fraction of a block's valid rows is kept; no
                             result depends on it); 0: unknown */
    /* Caller layout (only for a backend that lists attention_forward in
     * caller_layout_ops; present when slot_token is): q, k, v, o, lse above
     * then hold nothing on entry and are the backend's scratch of their
     * sizes, and the op leaves in co (and clse when present) exactly what
     * permute_to of cq, ck, cv into q, k, v, the op above and permute_from of
     * o, lse (token_slot, fill_src) would: the backend may read the caller's
     * tensors and write the caller's output directly where that gives the
     * same values. Each tensor has its own strides (head_dim contiguous). */
    vox_strided cq, ck, cv, co, clse; /* clse: f32, may be absent */
    vox_bref slot_token;              /* int32 [S]; absent: block layout only */
    vox_bref token_slot;              /* int32 [N] */
    vox_bref fill_src;                /* int32 [BH][S], absolute slot; may be absent */
} vox_op_attention_forward;

/* Gradients of attention_forward (the exact gradient of the function the
 * forward computes with these masks). Per bh, with dO the incoming gradient:
 * 1. dO_eff[u] = sum of dout[s] over the valid slots s with f(s) = u, where
 *    f(s) = fill_src[bh*S + s] if fill_src is present, else s (a pruned row's
 *    output is a copy of its source's, so its dO adds to the source's);
 *    slots with f(s) < 0 contribute nothing.
 * 2. The computed rows are the valid slots r with f(r) == r (all valid rows
 *    without fill_src). For each, with row m = bh*NB + i of its block i, over
 *    the valid key slots k of blocks cols(m) (the forward's CSR below):
 *      P_rk = exp(q_r.k_k*scale - lse[r]), delta_r = dO_eff[r].o[r],
 *      dS_rk = P_rk * (dO_eff[r].v_k - delta_r),
 *      dq[r] = scale * sum_k dS_rk k_k, dk[k] += scale * dS_rk q_r,
 *      dv[k] += P_rk dO_eff[r].
 *    A row with lse = -inf (no keys) contributes nothing.
 * 3. Every slot of dq, dk, dv is written: 0 for padding, for rows not
 *    computed (dq) and for keys no computed row attends (dk, dv).
 * mask (int32, R = BH*NB, absolute indices into mask):
 *   [0,R) row_start, [R,2R) row_count: the key blocks of row m are
 *     mask[row_start[m] + c], c < row_count[m], ascending;
 *   [2R,3R) col_start, [3R,4R) col_count: the transpose, the query blocks
 *     i whose row bh*NB+i holds key block j are mask[col_start[m'] + c],
 *     c < col_count[m'], m' = bh*NB + j, ascending (a KV block's walk).
 * lse has 2*BH*S floats: [0, BH*S) the forward's LSE, the rest work space
 * the op may overwrite; dout may be overwritten too (the core reads neither
 * afterwards). The reference accumulates in f64. The core builds the mask
 * with mask_transpose (below) on BSA plans, with svg_classify on SVG plans
 * (the patterns' transposes are static), on the host for the static DENSE
 * and CUSTOM masks (core/backward.c). */
typedef struct vox_op_attention_backward {
    vox_bref q, k, v, o;  /* [BH][S][D] */
    vox_bref dout;        /* [BH][S][D] */
    vox_bref lse;         /* f32 [2][BH][S] */
    vox_bref dq, dk, dv;  /* [BH][S][D] */
    vox_bref mask;        /* int32, packed as above */
    vox_bref fill_src;    /* int32 [BH*S], absolute slot; may be absent */
    double scale;
    int64_t max_kv_count; /* upper bound of row_count (launch sizing) */
    int64_t max_q_count;  /* upper bound of col_count */
    int deterministic;    /* nonzero: results bitwise reproducible run to run (the plan's
                           * deterministic_backward); 0 lets a backend add dq by atomics */
    double density;       /* listed (query block, KV block) pairs / (BH * NB * NB) as the host
                           * knows it without reading the device: exact for host-built masks
                           * (DENSE, CUSTOM), the rows' room for BSA top-k and for a BSA rule with
                           * kv_max_blocks (picks + own block + global blocks per row); -1 where
                           * unknown (uncapped BSA tau/stat, SVG).
                           * Only a choice of kernels may depend on it, never a result's meaning. */
    int full_lists;       /* nonzero: the host built the mask and every (query block, KV block) pair
                           * is listed (every transposed list is all NB blocks, ascending); 0 where
                           * not or unknown (density 1 as a top-k bound is not enough). A choice of
                           * kernels only (the sm90 backward's key units, VOXATTN_SM90_BWD_RCHUNK). */
    /* Caller layout (only for a backend that lists attention_backward in
     * caller_layout_ops; present when slot_token is): q, k, v, o, dout, lse,
     * dq, dk, dv above then hold nothing on entry and are the backend's
     * scratch of their sizes, and the op leaves in cdq, cdk, cdv exactly what
     * permute_to of cq, ck, cv, co, cdout (and of clse into lse's first half,
     * f32 rows of one element), the op above and permute_from of dq, dk, dv
     * (token_slot, no fill) would: the backend may read the caller's tensors
     * and write the caller's gradients directly where that gives the same
     * values. Each tensor has its own strides (head_dim contiguous). */
    vox_strided cq, ck, cv, co, cdout, clse; /* clse: f32 [B,H,N,1] */
    vox_strided cdq, cdk, cdv;
    vox_bref slot_token; /* int32 [S]; absent: block layout only */
    vox_bref token_slot; /* int32 [N] */
} vox_op_attention_backward;

/* Merge of attention over two disjoint key sets through their LSEs (the
 * ring-attention combine), in place in acc, over the caller's tensors of one
 * batch entry: d->batch is 1 (the core runs the op once per batch entry,
 * offsets advanced), rows (h, t) for h < d->heads, t < d->tokens, head_dim
 * d->head_dim, every out tensor of dtype d->dtype (strides in elements,
 * stride_batch unused; lse f32 with head_dim 1). Per row, with
 * la = accumulate ? acc_lse : -inf, lb = part_lse:
 *   NaN in la or lb:    acc = NaN (every element), acc_lse = NaN;
 *   else m = max(la, lb); m = -inf: acc = 0, acc_lse = -inf (no keys);
 *   m = +inf:           acc = NaN, acc_lse = +inf;
 *   else with w_x = exp(l_x - m) for each x whose l_x > -inf (a side with
 *   l_x = -inf has no keys: its out is not read), s = w_a + w_b:
 *   acc = sum_x (w_x / s) out_x, acc_lse = m + log(s), in f32 (f64 in the
 *   reference), rounded once to the dtype.
 * acc is read (when accumulate) and written element by element by the same
 * work item; part may not share memory with acc unless it is acc itself
 * (accumulate 0: a normalizing copy in place). Optional: without it
 * vox_attention_merge returns VOX_ERR_UNSUPPORTED. */
typedef struct vox_op_attention_merge {
    vox_strided acc, acc_lse;   /* read (accumulate) and written */
    vox_strided part, part_lse; /* read */
    int accumulate;
} vox_op_attention_merge;

/* The packed mask of attention_backward (above) from the forward's CSR, R =
 * BH*NB rows, for masks selected on the device (BSA). For every row m:
 *   mask[m] = 4R + kv_start[m], mask[R + m] = kv_count[m],
 *   mask[4R + kv_start[m] + c] = kv_cols[kv_start[m] + c], c < kv_count[m]
 * (each row's columns copied to the same place; the entries of [4R, t0) no
 * row covers are left as they are), and for every head bh and KV block j,
 * m' = bh*NB + j:
 *   mask[3R + m'] = the number of rows i of head bh whose list holds j,
 *   mask[2R + m'] = t0 + bh*head_room + the sum of those numbers over j' < j,
 *   the list there: those i, ascending.
 * The caller guarantees: each row's columns are distinct, ascending and in
 * [0, NB); head bh's rows hold at most head_room entries in all; kv_start[m]
 * + kv_count[m] <= t0 - 4R; t0 + BH*head_room fits int32. Deterministic:
 * no entry depends on the order of parallel work. */
typedef struct vox_op_mask_transpose {
    vox_bref kv_start; /* int32 [R] */
    vox_bref kv_count; /* int32 [R] */
    vox_bref kv_cols;  /* int32 */
    int64_t t0;        /* where the transposes start (>= 4R + the column array's length) */
    int64_t head_room; /* entries of each head's transpose */
    vox_bref mask;     /* int32 [t0 + BH*head_room] */
} vox_op_mask_transpose;

typedef struct vox_backend {
    vox_backend_kind kind;
    const char *name;

    /* Enumerate devices (fill descs up to max, set *count). On a missing
     * runtime return VOX_ERR_BACKEND_UNAVAILABLE with a reason. Called once,
     * under the registry lock. */
    vox_status (*probe)(vox_device_desc *descs, int max, int *count, char *reason,
                        size_t reason_size);

    /* Open device backend_index (optionally on the caller's queue). */
    vox_status (*open)(int backend_index, const vox_native_queue *native,
                       const vox_logger *log, void **dev);
    void (*close)(void *dev);

    vox_status (*buffer_alloc)(void *dev, size_t bytes, void **buf);
    vox_status (*buffer_wrap)(void *dev, uint64_t native, size_t bytes, void **buf);
    void (*buffer_free)(void *dev, void *buf);
    /* Blocking transfers (they order after all submitted work). */
    vox_status (*buffer_write)(void *dev, void *buf, size_t offset, const void *src,
                               size_t bytes);
    vox_status (*buffer_read)(void *dev, void *buf, size_t offset, void *dst, size_t bytes);
    vox_status (*finish)(void *dev);
    /* Device timestamps around the work submitted in between (may be NULL). */
    vox_status (*timer_begin)(void *dev);
    vox_status (*timer_end)(void *dev, double *ms);

    /* May this device run `op` on these sizes? VOX_OK, or VOX_ERR_UNSUPPORTED
     * with a reason (e.g. an index range, a local-memory tile, a storage
     * type). Called by vox_plan_create for every op the plan will run, before
     * any device work. NULL: every op the table has is supported. */
    vox_status (*supports)(void *dev, const vox_op_dims *d, vox_op op, char *reason, size_t reason_size);

    /* The kernel (or path) the last launch of `op` on this device used, e.g.
     * "vox_attention_forward_mma", so tests can assert that a specific kernel
     * ran; NULL if unknown. May be NULL. */
    const char *(*last_kernel)(void *dev, vox_op op);

    /* How many times this device has made the host wait for it since it was
     * opened: blocking transfers, finishes, fence/event waits, synchronizing
     * frees and scratch growth. Tests read it around vox_plan_build and
     * vox_attention_forward to prove they only enqueue work. NULL where the
     * device is synchronous by nature (the cpu reference). */
    uint64_t (*host_waits)(void *dev);

    /* The ops (bits 1 << VOX_OP_<op>) that this device also runs on the
     * caller's tensors through slot_token in place of block copies
     * (sample_rows, query_select: see their slot_token field), so that a
     * build permutes nothing for them; attention_forward: the core hands it
     * the caller's q, k, v, out, lse and permutes nothing (the op's caller
     * layout fields). NULL: block copies only. */
    uint32_t (*caller_layout_ops)(void *dev);

    /* Ops: asynchronous with respect to the host, ordered among themselves.
     * Every op entry may be NULL (the backend lacks it): plans that need it
     * are refused at creation with VOX_ERR_UNSUPPORTED. */
    vox_status (*permute_to)(void *dev, const vox_op_dims *d, const vox_op_permute_to *p);
    vox_status (*permute_from)(void *dev, const vox_op_dims *d,
                                      const vox_op_permute_from *p);
    vox_status (*block_means)(void *dev, const vox_op_dims *d, const vox_op_block_means *p);
    vox_status (*kv_select)(void *dev, const vox_op_dims *d, const vox_op_kv_select *p);
    vox_status (*sample_rows)(void *dev, const vox_op_dims *d,
                                        const vox_op_sample_rows *p);
    vox_status (*query_select)(void *dev, const vox_op_dims *d, const vox_op_query_select *p);
    vox_status (*svg_classify)(void *dev, const vox_op_dims *d, const vox_op_svg_classify *p);
    vox_status (*attention_forward)(void *dev, const vox_op_dims *d, const vox_op_attention_forward *p);
    /* Optional: plans never require them; without attention_backward
     * vox_attention_backward returns VOX_ERR_UNSUPPORTED, and so it does
     * without mask_transpose on BSA and SVG plans. */
    vox_status (*attention_backward)(void *dev, const vox_op_dims *d, const vox_op_attention_backward *p);
    vox_status (*mask_transpose)(void *dev, const vox_op_dims *d, const vox_op_mask_transpose *p);
    /* Optional: vox_attention_merge only (no plan uses it). */
    vox_status (*attention_merge)(void *dev, const vox_op_dims *d, const vox_op_attention_merge *p);
} vox_backend;

/* Members of a vox_backend table named after one prefix p, for a backend
 * table's initializer: VOX_BACKEND_DEVICE(p) the device and buffer entries
 * (p##close, p##alloc, ..., p##last_kernel); VOX_BACKEND_TIMERS(p) the
 * timer entries p##timer_begin, p##timer_end; VOX_BACKEND_FORWARD_OPS(p) the
 * op entries p##<op> of every op but the optional ones (attention_backward,
 * attention_merge, mask_transpose), VOX_BACKEND_ALL_OPS(p) all of them
 * (core/kernel_args.h lists the ops). */
#define VOX_BACKEND_DEVICE(p)                                                                    \
    .close = p##close, .buffer_alloc = p##alloc, .buffer_wrap = p##wrap, .buffer_free = p##free, \
    .buffer_write = p##write, .buffer_read = p##read, .finish = p##finish, .last_kernel = p##last_kernel
#define VOX_BACKEND_TIMERS(p) .timer_begin = p##timer_begin, .timer_end = p##timer_end
#define VOX_BACKEND_OP_ENTRY(p, op, BUFS, ARGS) .op = p##op,
#define VOX_BACKEND_FORWARD_OPS(p) VOX_FORWARD_OP_LIST(VOX_BACKEND_OP_ENTRY, p)
#define VOX_BACKEND_ALL_OPS(p) VOX_KERNEL_OP_LIST(VOX_BACKEND_OP_ENTRY, p)
/* The prototypes of those entries, for a backend's internal header:
 * VOX_BACKEND_DECLARE_BUFFERS(p) p##alloc, p##wrap, p##free, p##write,
 * p##read; VOX_BACKEND_DECLARE_FORWARD_OPS(p), VOX_BACKEND_DECLARE_ALL_OPS(p)
 * the op entries as above. */
#define VOX_BACKEND_DECLARE_BUFFERS(p)                                                     \
    vox_status p##alloc(void *dev, size_t bytes, void **out);                              \
    vox_status p##wrap(void *dev, uint64_t native, size_t bytes, void **out);              \
    void p##free(void *dev, void *buf);                                                    \
    vox_status p##write(void *dev, void *buf, size_t off, const void *src, size_t bytes);  \
    vox_status p##read(void *dev, void *buf, size_t off, void *dst, size_t bytes);
#define VOX_BACKEND_OP_DECL(p, op, BUFS, ARGS) \
    vox_status p##op(void *dev, const vox_op_dims *d, const vox_op_##op *op_desc);
#define VOX_BACKEND_DECLARE_FORWARD_OPS(p) VOX_FORWARD_OP_LIST(VOX_BACKEND_OP_DECL, p)
#define VOX_BACKEND_DECLARE_ALL_OPS(p) VOX_KERNEL_OP_LIST(VOX_BACKEND_OP_DECL, p)

/* The op's name ("kv_select") and whether `be` has it. */
const char *vox_op_name(vox_op op);
int vox_backend_has_op(const vox_backend *be, vox_op op);
/* VOX_OK if the device can run `op` on `d`; else UNSUPPORTED, reason logged. */
vox_status vox_backend_check_op(const vox_backend *be, void *dev, const vox_logger *log,
                                const vox_op_dims *d, vox_op op);

/* Backends compiled into this library (NULL where not built). */
const vox_backend *vox_backend_cpu(void);
const vox_backend *vox_backend_cuda(void);
const vox_backend *vox_backend_hip(void);
const vox_backend *vox_backend_opencl(void);
const vox_backend *vox_backend_vulkan(void);

#endif
