/* CUDA/HIP host layer: the launchers of the ops of core/backend.h, one per
 * op, each in its op file kernels/<op>.cuh (its VOX_GPU_HOST section),
 * included here with the helpers they share. A launcher fills the op's
 * kernel arguments (core/kernel_args.h) with vox_<op>_args_init() plus the
 * launch-specific fields (copy word units, tiles, work space), the buffers
 * with their device addresses, picks the kernel variant and the launch
 * geometry, and launches the op's kernels. */
#include <string.h>

#include "gpu_internal.h"

/* The kernel of an op for the plan dtype, given its f32, f16, bf16 variants. */
static int by_dtype(vox_dtype t, int f32, int f16, int bf16)
{
    return t == VOX_F32 ? f32 : t == VOX_F16 ? f16 : bf16;
}

/* by_dtype() of the kernels GPU_FN_<op>_f32, _f16, _bf16 for the dims d. */
#define BY_DTYPE(op) by_dtype(d->dtype, GPU_FN_##op##_f32, GPU_FN_##op##_f16, GPU_FN_##op##_bf16)

/* The permute kernel GPU_FN_<op>_b16, _b4 or _b2 for copy unit u (bytes). */
#define BY_COPY_UNIT(op, u) ((u) == 16 ? GPU_FN_##op##_b16 : (u) == 4 ? GPU_FN_##op##_b4 : GPU_FN_##op##_b2)

/* The kernel arguments a of `op` from the launcher's parameters d and p. */
#define GPU_OP_ARGS(op)  \
    vox_##op##_args a;   \
    vox_##op##_args_init(&a, d, p)

/* Largest copy unit (16, 4 or 2 bytes) dividing every address and stride. */
static int copy_unit(uint64_t a, uint64_t b, int64_t row, int64_t s0, int64_t s1, int64_t s2)
{
    static const int units[3] = {16, 4, 2};
    for (int u = 0; u < 3; u++) {
        int64_t x = units[u];
        if (a % x == 0 && b % x == 0 && row % x == 0 && s0 % x == 0 && s1 % x == 0 && s2 % x == 0)
            return units[u];
    }
    return 2;
}

/* Row and the three strides from elements to copy units; returns the unit. */
static int to_copy_units(const vox_op_dims *d, uint64_t src, uint64_t dst, int64_t *row, int64_t *sb, int64_t *sh,
                         int64_t *st)
{
    int64_t es = (int64_t)vox_dtype_size(d->dtype);
    int u = copy_unit(src, dst, es * *row, es * *sb, es * *sh, es * *st);
    *row = es * *row / u, *sb = es * *sb / u, *sh = es * *sh / u, *st = es * *st / u;
    return u;
}

/* The op files' launchers (gpu_internal.h has already seen their kernel
 * names). */
#define VOX_GPU_HOST
#include "gpu_op_files.h"
