/* Every kernel of the CUDA/HIP module, gathered from the op files. Each op of
 * the op table (VOX_KERNEL_OP_LIST, core/kernel_args.h) has one file
 * kernels/<op>.cuh; gpu_op_files.h, generated at build time by
 * tools/op_files.py, includes them in table order. An op file holds
 *   its kernel names, seen by every includer (C and C++), as one list
 *   VOX_GPU_KERNELS_<op>(R, O, M) of entries
 *     R(name)  required: every module has it, the host refuses to open a
 *              device without it
 *     O(name)  optional, built for every target: a module without it only
 *              lacks the op
 *     M(name)  optional, built only where mma.sync is (VOX_HAVE_MMA_SYNC:
 *              NVIDIA sm_80+; absent from HIP code objects); the launcher
 *              falls back to the portable kernels
 *   its device code under #ifdef VOX_GPU_DEVICE (kernels/kernels.cu)
 *   its launcher gpu_<op>() under #ifdef VOX_GPU_HOST (gpu_ops.c)
 * The name list may be seen more than once (an identical redefinition); each
 * section is included once. The host's kernel enum and name table
 * (gpu_internal.h, gpu_launch.c) and the check in kernels/kernels.cu that
 * each listed kernel is defined expand the lists below, so a kernel listed
 * and not defined (or misspelt) fails the build.
 * X(name): kernel `vox_<name>`, host index GPU_FN_<name>. */
#ifndef VOX_GPU_KERNELS_H
#define VOX_GPU_KERNELS_H

#include "gpu_op_files.h" /* generated: #include "kernels/<op>.cuh" per op */
#include "kernel_args.h"  /* the op table */

#define VOX_GPU_SKIP(name)
#define VOX_GPU_OP_REQUIRED(X, op, BUFS, ARGS) VOX_GPU_KERNELS_##op(X, VOX_GPU_SKIP, VOX_GPU_SKIP)
#define VOX_GPU_OP_OPTIONAL(X, op, BUFS, ARGS) VOX_GPU_KERNELS_##op(VOX_GPU_SKIP, X, VOX_GPU_SKIP)
#define VOX_GPU_OP_MMA(X, op, BUFS, ARGS) VOX_GPU_KERNELS_##op(VOX_GPU_SKIP, VOX_GPU_SKIP, X)

/* The kernels of every op, by kind, in op table order. */
#define VOX_GPU_KERNELS_REQUIRED(X) VOX_KERNEL_OP_LIST(VOX_GPU_OP_REQUIRED, X)
#define VOX_GPU_KERNELS_OPTIONAL(X) VOX_KERNEL_OP_LIST(VOX_GPU_OP_OPTIONAL, X)
#define VOX_GPU_KERNELS_MMA(X) VOX_KERNEL_OP_LIST(VOX_GPU_OP_MMA, X)

/* All of them, the required ones first. */
#define VOX_GPU_KERNELS(X) VOX_GPU_KERNELS_REQUIRED(X) VOX_GPU_KERNELS_OPTIONAL(X) VOX_GPU_KERNELS_MMA(X)

#endif
