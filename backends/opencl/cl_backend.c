/* The OpenCL backend's table of entry points. libOpenCL is loaded at run
 * time (cl_runtime.c); kernels (kernels/<op>.cl, after core/kernel_args.h
 * and kernels/common.cl) are embedded at build time and built per device at
 * run time (OpenCL C 1.2), cached per opened device (cl_program.c). Ops are
 * enqueued in order on one queue, the caller's when wrapped (cl_ops.c). */
#include "cl_internal.h"

static const vox_backend cl_backend = {
    .kind = VOX_BACKEND_OPENCL,
    .name = "opencl",
    .probe = cl_probe,
    .open = cl_open,
    .close = cl_close,
    .buffer_alloc = cl_alloc,
    .buffer_wrap = cl_wrap,
    .buffer_free = cl_free,
    .buffer_write = cl_write,
    .buffer_read = cl_read,
    .finish = cl_finish,
    .timer_begin = cl_timer_begin,
    .timer_end = cl_timer_end,
    .last_kernel = cl_last_kernel,
    .permute_to = cl_permute_to,
    .permute_from = cl_permute_from,
    .block_means = cl_block_means,
    .kv_select = cl_kv_select,
    .sample_rows = cl_sample_rows,
    .query_select = cl_query_select,
    .svg_classify = cl_svg_classify,
    .attention_forward = cl_attention_forward,
};

const vox_backend *vox_backend_opencl(void) { return &cl_backend; }
