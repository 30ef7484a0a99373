/*
 * Kernel arguments of every op, defined once for every language that runs an
 * op: the C host code of each backend, CUDA/HIP kernels, OpenCL C kernels and
 * GLSL compute shaders all preprocess this file. Add a field here and it
 * reaches every backend (each host fills it through vox_<op>_args_init(),
 * each kernel reads it by name) or the build fails.
 *
 * Each op has two lists:
 *   VOX_<OP>_BUFS(B)  its buffers, in binding order: B(type, name)
 *   VOX_<OP>_ARGS(S)  its scalars, in struct order:  S(type, name)
 * Types: e (element of the plan dtype: f32, f16 or bf16), i32, u32, f32,
 * i64, f64. Scalars are ordered so that no field needs padding in C, OpenCL C
 * or std430 (all 8-byte fields first, then 4-byte fields, even count of
 * 4-byte fields so the struct size is a multiple of 8).
 *
 * What each language makes of it (the VOX_KA_* helpers below):
 *   C / CUDA / HIP   struct vox_<op>_args { scalars }; struct vox_<op>_bufs
 *                    { uint64_t <name>; } (device addresses, offsets applied)
 *   OpenCL C         kernel parameters VOX_CL_BUF_PARAMS(VOX_<OP>_BUFS) =
 *                    `__global T *name, ulong name_off,` per buffer, then
 *                    VOX_CL_ARG_PARAMS(VOX_<OP>_ARGS) = one scalar `arg_name`
 *                    per field (portable where struct arguments are not);
 *                    VOX_CL_APPLY_OFFSETS adds offsets, VOX_CL_ARGS gathers
 *                    the scalars into a local `args` struct
 *   GLSL             push constants VOX_GLSL_PC_HEAD(VOX_<OP>_BUFS) (shaders/
 *                    common.glsl) then VOX_GLSL_FIELDS(VOX_<OP>_ARGS); i64/f64
 *                    arrive as uvec2 (low word first): i64 read with
 *                    vox_u64lo(), f64 not read (shaders use the f32 mirrors)
 * The semantics of each op are in core/backend.h; the meaning of each field
 * is next to it below.
 */
#ifndef VOX_CORE_KERNEL_ARGS_H
#define VOX_CORE_KERNEL_ARGS_H

/* Every op with a kernel, one name per op in every layer, with its two lists
 * (below), in the order of enum vox_op. The lists take a macro M and one
 * argument x passed through: M(x, op, BUFS, ARGS). attention_backward,
 * attention_merge and mask_transpose (the backward's mask) are the optional
 * ops (core/backend.h) that only some backends have. */
#define VOX_FORWARD_OP_LIST(M, x)                                                    \
    M(x, permute_to, VOX_PERMUTE_TO_BUFS, VOX_PERMUTE_TO_ARGS)                       \
    M(x, permute_from, VOX_PERMUTE_FROM_BUFS, VOX_PERMUTE_FROM_ARGS)                 \
    M(x, block_means, VOX_BLOCK_MEANS_BUFS, VOX_BLOCK_MEANS_ARGS)                    \
    M(x, kv_select, VOX_KV_SELECT_BUFS, VOX_KV_SELECT_ARGS)                          \
    M(x, sample_rows, VOX_SAMPLE_ROWS_BUFS, VOX_SAMPLE_ROWS_ARGS)                    \
    M(x, query_select, VOX_QUERY_SELECT_BUFS, VOX_QUERY_SELECT_ARGS)                 \
    M(x, svg_classify, VOX_SVG_CLASSIFY_BUFS, VOX_SVG_CLASSIFY_ARGS)                 \
    M(x, attention_forward, VOX_ATTENTION_FORWARD_BUFS, VOX_ATTENTION_FORWARD_ARGS)
#define VOX_KERNEL_OP_LIST(M, x)                                                                   \
    VOX_FORWARD_OP_LIST(M, x) M(x, attention_backward, VOX_ATTENTION_BACKWARD_BUFS, VOX_ATTENTION_BACKWARD_ARGS) \
    M(x, attention_merge, VOX_ATTENTION_MERGE_BUFS, VOX_ATTENTION_MERGE_ARGS)                                   \
    M(x, mask_transpose, VOX_MASK_TRANSPOSE_BUFS, VOX_MASK_TRANSPOSE_ARGS)

/* The same lists for a one-macro X: VOX_KERNEL_OPS(X) gives X(op) per op,
 * VOX_KERNELS(X) and VOX_FORWARD_KERNELS(X) give X(op, BUFS, ARGS). */
#define VOX_KA_PASS_NAME(X, op, BUFS, ARGS) X(op)
#define VOX_KA_PASS_LISTS(X, op, BUFS, ARGS) X(op, BUFS, ARGS)
#define VOX_KERNEL_OPS(X) VOX_KERNEL_OP_LIST(VOX_KA_PASS_NAME, X)
#define VOX_KERNELS(X) VOX_KERNEL_OP_LIST(VOX_KA_PASS_LISTS, X)
#define VOX_FORWARD_KERNELS(X) VOX_FORWARD_OP_LIST(VOX_KA_PASS_LISTS, X)

/* permute_to_blocks: dst[bh][s] = src[b,h,slot_token[s]] (zero for padding).
 * Copies move `row` units of the copy word per row; strides in copy words. */
#define VOX_PERMUTE_TO_BUFS(B) \
    B(e, src)                  \
    B(e, dst)                  \
    B(i32, slot_token)
#define VOX_PERMUTE_TO_ARGS(S) \
    S(i64, heads)              \
    S(i64, BH)                 \
    S(i64, slots)               \
    S(i64, row)                \
    S(i64, sb)                 \
    S(i64, sh)                 \
    S(i64, st)

/* permute_from_blocks: dst[b,h,t] = src[bh][fill_src ? fill_src[bh*S+s] : s]
 * with s = token_slot[t]; the LSE likewise when lse buffers are present. */
#define VOX_PERMUTE_FROM_BUFS(B) \
    B(e, src)                    \
    B(f32, lse_src)              \
    B(e, dst)                    \
    B(f32, lse_dst)              \
    B(i32, token_slot)           \
    B(i32, fill_src)
#define VOX_PERMUTE_FROM_ARGS(S) \
    S(i64, heads)                \
    S(i64, BH)                   \
    S(i64, slots)                 \
    S(i64, N)                    \
    S(i64, row)                  \
    S(i64, sb)                   \
    S(i64, sh)                   \
    S(i64, st)                   \
    S(i64, lsb)                  \
    S(i64, lsh)                  \
    S(i64, lst)                  \
    S(i32, has_lse)              \
    S(i32, has_fill)

/* block_means: out[bh][j] = mean of the valid (or kept) rows of block j,
 * read in the caller's layout: slot s of (b,h) is the row
 * x[b*sb + h*sh + slot_token[s]*st] (element strides). */
#define VOX_BLOCK_MEANS_BUFS(B) \
    B(e, x)                     \
    B(i32, slot_token)          \
    B(i32, kept_count)          \
    B(i32, kept_rows)           \
    B(i32, valid)               \
    B(f32, out)
#define VOX_BLOCK_MEANS_ARGS(S) \
    S(i64, BH)                  \
    S(i64, NB)                  \
    S(i64, heads)               \
    S(i64, sb)                  \
    S(i64, sh)                  \
    S(i64, st)                  \
    S(i32, V)                   \
    S(i32, D)                   \
    S(i32, has_kept)            \
    S(i32, pad0)

/* kv_select: per row m = bh*NB+i, kv_count[m] and the ascending kv_cols.
 * rule: 0 cumulative (tau), 1 top-k, 2 statistical (z). max_blocks, in
 * [1, NBv]: TOPK's count min(k, cap, NBv); CUMULATIVE's and STAT's cap (NBv:
 * none; CUMULATIVE admits the first min(c, max_blocks), STAT the first
 * max_blocks of the order when more than max_blocks pass its threshold).
 * room: the columns of a video row's room (vox_kv_select_room(); a global
 * row has NB). param_f: tau or z as f32 (devices without f64). tile0: the first
 * row tile of this launch, for backends that launch the tiles in waves (0
 * elsewhere); scratch/per_block: a backend's per-row work space. */
#define VOX_KV_SELECT_BUFS(B) \
    B(f32, qbar)              \
    B(f32, kbar)              \
    B(i32, kv_start)          \
    B(i32, kv_count)          \
    B(i32, kv_cols)           \
    B(u32, scratch)
#define VOX_KV_SELECT_ARGS(S) \
    S(f64, scale)             \
    S(f64, tau)               \
    S(f64, z)                 \
    S(i64, BH)                \
    S(i64, NB)                \
    S(i64, NBv)               \
    S(i64, D)                 \
    S(i64, tile0)             \
    S(i64, per_block)         \
    S(i32, rule)              \
    S(i32, max_blocks)        \
    S(i32, min_blocks)        \
    S(i32, room)              \
    S(f32, scale_f)           \
    S(f32, param_f)

/* The words at the scratch's head of a kv_select whose f32 selection lists
 * the rows it cannot certify for one fallback pass after its waves (Vulkan's
 * kv_select_sgw, OpenCL's kv_select_f32.cl): the count, then up to `rows`
 * (BH NB) row indices, rounded up to `align` words so that what follows
 * keeps the binding's alignment. One expression for C, OpenCL C and GLSL
 * (pass rows and align in the caller's integer type). */
#define VOX_KV_LIST_WORDS(rows, align) (((rows) + (align)) / (align) * (align))

/* sample_rows (head classification): out[(bh*R+r)*3 + {0,1,2}].
 * work, nsplit: a backend's work space and key split count (per-split
 * partial softmax states, merged after).
 * sb, sh, st, heads: how q, k, v are read: slot s of bh = b*heads + h at
 * x[b*sb + h*sh + slot*st] with slot = tok[s] (tok: the slot_token device
 * address, for the backends that read the caller's tensors: CUDA/HIP; on
 * OpenCL tok is a flag and the table is the kernels' last buffer), or s
 * itself (tok 0: block copies). Vulkan's 128 push-constant bytes are full. */
#define VOX_SAMPLE_ROWS_BUFS(B) \
    B(e, q)                     \
    B(e, k)                     \
    B(e, v)                     \
    B(i32, rows)                \
    B(i32, block_coord)         \
    B(i32, valid)               \
    B(f32, out)                 \
    B(f32, work)
#define VOX_SAMPLE_ROWS_ARGS(S) \
    S(i64, BH)                  \
    S(i64, R)                   \
    S(i64, NB)                  \
    S(i64, sb)                  \
    S(i64, sh)                  \
    S(i64, st)                  \
    S(i64, tok)                 \
    S(i32, V)                   \
    S(i32, D)                   \
    S(i32, frame_blocks)        \
    S(i32, space_blocks)        \
    S(i32, sink)                \
    S(f32, scale)               \
    S(i32, nsplit)              \
    S(i32, heads)
/* nsplit's upper bound (vox_sample_rows_splits, core/svg_classify.c): the
 * merge kernels that stage per-split factors size their local arrays by it */
#define VOX_SAMPLE_ROWS_MAX_SPLITS 64

/* query_select: keep flags, compaction and the pruned rows' sources. q is
 * read as in sample_rows (sb, sh, st, heads, tok). chunk (launch-specific):
 * block rows a CTA of CUDA/HIP's exact kernel scans per turn; for their
 * warp kernel, flags: 1 every window to its exact path (a test switch), 2
 * no L2 prefetch, 4 no L1 prefetch. */
#define VOX_QUERY_SELECT_BUFS(B) \
    B(e, q)                      \
    B(i32, win_ptr)              \
    B(i32, windows)              \
    B(i32, valid)                \
    B(i32, kept_count)           \
    B(i32, kept_rows)            \
    B(i32, fill_src)
#define VOX_QUERY_SELECT_ARGS(S) \
    S(i64, BH)                   \
    S(i64, NB)                   \
    S(i64, NBv)                  \
    S(i64, sb)                   \
    S(i64, sh)                   \
    S(i64, st)                   \
    S(i64, tok)                  \
    S(i32, V)                    \
    S(i32, D)                    \
    S(i32, heads)                \
    S(i32, chunk)

/* svg_classify: per head, the classification errors from sample_rows' sums
 * and the head's mask rows (kv_start/kv_count) from the pattern tables.
 * dense_above_f64: the threshold unrounded, for kernels that classify in f64;
 * base: added to every start written (vox_op_svg_classify). */
#define VOX_SVG_CLASSIFY_BUFS(B) \
    B(f32, sample_out)           \
    B(i32, pattern_start)        \
    B(i32, pattern_count)        \
    B(i32, kv_start)             \
    B(i32, kv_count)             \
    B(i32, classes)              \
    B(f32, errors)
#define VOX_SVG_CLASSIFY_ARGS(S) \
    S(f64, dense_above_f64)      \
    S(i64, BH)                   \
    S(i64, R)                    \
    S(i64, NB)                   \
    S(f32, dense_above)          \
    S(i32, base)

/* attention_forward over the CSR of kv_start/kv_count/kv_cols.
 * scale_log2 = scale * log2(e) (kernels work in the exp2 domain); scale_lo =
 * scale - (f32)scale, the rest of the scale for kernels that need it beyond
 * f32 (the backward's exp(q.k*scale - lse) with logits of hundreds); tiles:
 * work items per query block (launch-specific); log_v = log2(V). */
#define VOX_ATTENTION_FORWARD_BUFS(B) \
    B(e, q)                           \
    B(e, k)                           \
    B(e, v)                           \
    B(e, o)                           \
    B(f32, lse)                       \
    B(i32, kv_start)                  \
    B(i32, kv_count)                  \
    B(i32, kv_cols)                   \
    B(i32, kept_count)                \
    B(i32, kept_rows)                 \
    B(i32, valid)
/* The scalars of both attention ops; FLAG names the one flag that differs. */
#define VOX_ATTENTION_ARGS(S, FLAG) \
    S(i64, BH)                      \
    S(i64, NB)                      \
    S(i64, total)                   \
    S(i32, V)                       \
    S(i32, log_v)                   \
    S(i32, D)                       \
    S(i32, tiles)                   \
    S(i32, FLAG)                    \
    S(f32, scale)                   \
    S(f32, scale_log2)              \
    S(f32, scale_lo)
#define VOX_ATTENTION_FORWARD_ARGS(S) VOX_ATTENTION_ARGS(S, has_kept)

/* attention_backward: dQ, dK, dV of attention_forward (core/backend.h).
 * mask: the packed forward CSR and its transpose, R = BH*NB rows each
 * (header [4R], then columns); lse: f32 [2][BH][S], the LSE then work space;
 * fill_src: present iff has_fill. Same scalars as attention_forward, has_fill
 * in has_kept's place. */
#define VOX_ATTENTION_BACKWARD_BUFS(B) \
    B(e, q)                            \
    B(e, k)                            \
    B(e, v)                            \
    B(e, o)                            \
    B(e, dout)                         \
    B(f32, lse)                        \
    B(e, dq)                           \
    B(e, dk)                           \
    B(e, dv)                           \
    B(i32, mask)                       \
    B(i32, fill_src)                   \
    B(i32, valid)
#define VOX_ATTENTION_BACKWARD_ARGS(S) VOX_ATTENTION_ARGS(S, has_fill)

/* attention_merge: acc = the merge of acc and part through their LSEs, per
 * row of one batch entry (core/backend.h). Strides in elements: acc, acc_lse,
 * part, part_lse, each (head, token); rows = heads*N; accumulate 0: acc's
 * old contents are not read. No batch stride: the core runs the op once per
 * batch entry, which keeps the push constants within Vulkan's 128 bytes. */
#define VOX_ATTENTION_MERGE_BUFS(B) \
    B(e, acc)                       \
    B(f32, acc_lse)                 \
    B(e, part)                      \
    B(f32, part_lse)
#define VOX_ATTENTION_MERGE_ARGS(S) \
    S(i64, rows)                    \
    S(i64, N)                       \
    S(i64, ah)                      \
    S(i64, at)                      \
    S(i64, alh)                     \
    S(i64, alt)                     \
    S(i64, ph)                      \
    S(i64, pt)                      \
    S(i64, plh)                     \
    S(i64, plt)                     \
    S(i32, D)                       \
    S(i32, accumulate)

/* mask_transpose: attention_backward's packed mask from the forward's CSR
 * (kv_start/kv_count/kv_cols), R = BH*NB rows: the header and the rows'
 * columns copied in, then the transposes, head bh's from t0 + bh*head_room.
 * pass: 0 the header, the columns and the transpose's counts; 1 its starts
 * and lists (a backend launches both, in order; the reference ignores it). */
#define VOX_MASK_TRANSPOSE_BUFS(B) \
    B(i32, kv_start)               \
    B(i32, kv_count)               \
    B(i32, kv_cols)                \
    B(i32, mask)
#define VOX_MASK_TRANSPOSE_ARGS(S) \
    S(i64, BH)                     \
    S(i64, NB)                     \
    S(i64, t0)                     \
    S(i64, head_room)              \
    S(i32, pass)                   \
    S(i32, pad0)

/* ---- per-language expansion ---------------------------------------------- */
#define VOX_KA_ARGS_NAME(op) vox_##op##_args
#define VOX_KA_BUFS_NAME(op) vox_##op##_bufs

#if defined(VOX_GLSL)
/* GLSL: no structs are generated; a shader declares its push constants as
 *   layout(push_constant) uniform PC { VOX_GLSL_PC_HEAD VOX_GLSL_FIELDS(VOX_X_ARGS) } pc;
 */
#define VOX_GLSL_T_i32 int
#define VOX_GLSL_T_u32 uint
#define VOX_GLSL_T_f32 float
#define VOX_GLSL_T_i64 uvec2
#define VOX_GLSL_T_f64 uvec2
#define VOX_GLSL_FIELD(t, n) VOX_GLSL_T_##t n;
#define VOX_GLSL_FIELDS(LIST) LIST(VOX_GLSL_FIELD)
#elif defined(__OPENCL_VERSION__)
#define VOX_CL_T_e stor
#define VOX_CL_T_i32 int
#define VOX_CL_T_u32 uint
#define VOX_CL_T_f32 float
#define VOX_CL_T_i64 long
#define VOX_CL_T_f64 double_bits
typedef ulong double_bits; /* f64 scalars travel as bits; read with as_double */
#define VOX_CL_FIELD(t, n) VOX_CL_T_##t n;
#define VOX_CL_BUF_PARAM(t, n) __global VOX_CL_T_##t *n, ulong n##_off,
#define VOX_CL_BUF_PARAMS(LIST) LIST(VOX_CL_BUF_PARAM)
#define VOX_CL_OFFSET(t, n) n += n##_off;
#define VOX_CL_APPLY_OFFSETS(LIST) LIST(VOX_CL_OFFSET)
/* scalars: `T arg_name,` each, closed by one `uint vox_args_end` parameter
 * (the host sets it to 0) because a parameter list takes no trailing comma
 * and OpenCL C has no variadic macros to drop it (NVIDIA's compiler refuses
 * them) */
#define VOX_CL_ARG_PARAM(t, n) VOX_CL_T_##t arg_##n,
#define VOX_CL_ARG_PARAMS(LIST) LIST(VOX_CL_ARG_PARAM) uint vox_args_end
/* in the kernel body: const vox_<op>_args args = {arg_<field>, ...}; */
#define VOX_CL_ARG_INIT(t, n) arg_##n,
#define VOX_CL_ARGS(op, LIST) const VOX_KA_ARGS_NAME(op) args = {LIST(VOX_CL_ARG_INIT)};
#define VOX_KA_STRUCT(op, BUFS, ARGS) typedef struct { ARGS(VOX_CL_FIELD) } VOX_KA_ARGS_NAME(op);
VOX_KERNELS(VOX_KA_STRUCT)
#undef VOX_KA_STRUCT
#else
/* C, CUDA, HIP */
#include <stdint.h>
#define VOX_C_T_i32 int32_t
#define VOX_C_T_u32 uint32_t
#define VOX_C_T_f32 float
#define VOX_C_T_i64 int64_t
#define VOX_C_T_f64 double
#define VOX_C_FIELD(t, n) VOX_C_T_##t n;
#define VOX_C_BUF(t, n) uint64_t n;
#define VOX_KA_STRUCTS(op, BUFS, ARGS)                                   \
    typedef struct VOX_KA_ARGS_NAME(op) { ARGS(VOX_C_FIELD) } VOX_KA_ARGS_NAME(op); \
    typedef struct VOX_KA_BUFS_NAME(op) { BUFS(VOX_C_BUF) } VOX_KA_BUFS_NAME(op);
VOX_KERNELS(VOX_KA_STRUCTS)
#undef VOX_KA_STRUCTS

/* Same layout in every language: 8-byte fields first, size a multiple of 8. */
#if !defined(__CUDACC__) && !defined(__HIPCC__) && !defined(__cplusplus)
#define VOX_KA_PADDING(op, BUFS, ARGS) \
    _Static_assert(sizeof(VOX_KA_ARGS_NAME(op)) % 8 == 0, #op ": kernel args padding");
VOX_KERNELS(VOX_KA_PADDING)
#undef VOX_KA_PADDING
#endif
#endif

/* Host side: the common scalar fields of each op from its description
 * (core/kernel_args.c); launch-specific fields are the backend's. */
#if !defined(VOX_GLSL) && !defined(__OPENCL_VERSION__) && !defined(__CUDACC__) && !defined(__HIPCC__)
struct vox_op_dims;
#define VOX_KA_INIT_DECL(op, BUFS, ARGS)                                                      \
    struct vox_op_##op;                                                                       \
    void vox_##op##_args_init(VOX_KA_ARGS_NAME(op) *a, const struct vox_op_dims *d, const struct vox_op_##op *p);
VOX_KERNELS(VOX_KA_INIT_DECL)
#undef VOX_KA_INIT_DECL

/* Columns kv_select may write for a video query row (its room): the rule's
 * picks (TOPK min(k, cap), CUMULATIVE the cap, STAT the cap with the
 * kv_min_blocks top-up beside it; each at least min_blocks, at most NBv),
 * its own block and the NB - NBv global blocks. max_blocks 0: no cap. */
#ifdef __cplusplus
extern "C"
#endif
long long vox_kv_select_room(int rule, long long topk, long long min_blocks, long long max_blocks, long long NB,
                             long long NBv);
#endif

#endif
