/* The OpenCL backend's table of entry points. libOpenCL is loaded at run
 * time (cl_runtime.c); kernels (kernels/<op>.cl, after core/kernel_args.h
 * and kernels/common.cl) are embedded at build time and built per device at
 * run time (OpenCL C 1.2), cached per opened device (cl_program.c). Ops are
 * enqueued in order on one queue, the caller's when wrapped (cl_ops.c). */
#include "cl_internal.h"

static const vox_backend cl_backend = {
    .kind = VOX_BACKEND_OPENCL, .name = "opencl", .probe = cl_probe, .open = cl_open,
    .supports = cl_supports, VOX_BACKEND_DEVICE(cl_), .host_waits = cl_host_waits,
    .caller_layout_ops = cl_caller_layout_ops, VOX_BACKEND_TIMERS(cl_),
    VOX_BACKEND_ALL_OPS(cl_)
};

const vox_backend *vox_backend_opencl(void) { return &cl_backend; }
