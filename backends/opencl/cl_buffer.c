/* OpenCL buffers (allocated, or the caller's cl_mem wrapped after checks),
 * blocking transfers, finish, and the timers (queue markers with profiling
 * where the queue has it, host time otherwise). */
#include <stdint.h>
#include <stdlib.h>

#include "cl_internal.h"

vox_status cl_alloc(void *devp, size_t bytes, void **out)
{
    cl_dev *d = devp;
    if (d->max_alloc && bytes > d->max_alloc)
        return vox_fail(d->log, VOX_ERR_DEVICE_OUT_OF_MEMORY,
                        "opencl: %zu bytes exceed the device's largest allocation (%llu bytes)", bytes,
                        (unsigned long long)d->max_alloc);
    cl_buf *b = calloc(1, sizeof *b);
    if (!b)
        return VOX_ERR_OUT_OF_MEMORY;
    cl_int e;
    b->mem = g_cl.clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, bytes, NULL, &e);
    if (!b->mem || e != CL_SUCCESS) {
        free(b);
        return vox_fail(d->log, cl_status(e), "opencl: clCreateBuffer(%zu bytes) failed (%s, %d)", bytes,
                        cl_err_name(e), e);
    }
    b->size = bytes;
    *out = b;
    return VOX_OK;
}

vox_status cl_wrap(void *devp, uint64_t native, size_t bytes, void **out)
{
    cl_dev *d = devp;
    cl_mem m = (cl_mem)(uintptr_t)native;
    cl_context mc = NULL;
    size_t size = 0;
    cl_mem_object_type type = 0;
    cl_int e = g_cl.clGetMemObjectInfo(m, CL_MEM_CONTEXT, sizeof mc, &mc, NULL);
    if (e == CL_SUCCESS)
        e = g_cl.clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (e == CL_SUCCESS)
        e = g_cl.clGetMemObjectInfo(m, CL_MEM_TYPE, sizeof type, &type, NULL);
    if (e != CL_SUCCESS)
        return vox_fail(d->log, VOX_ERR_INVALID_ARGUMENT, "opencl: wrapped handle is not a valid cl_mem (%s)",
                        cl_err_name(e));
    if (type != CL_MEM_OBJECT_BUFFER)
        return vox_fail(d->log, VOX_ERR_INVALID_ARGUMENT, "opencl: wrapped cl_mem is not a buffer");
    if (mc != d->ctx)
        return vox_fail(d->log, VOX_ERR_INVALID_ARGUMENT,
                        "opencl: wrapped cl_mem belongs to another cl_context than this context's queue");
    if (size < bytes)
        return vox_fail(d->log, VOX_ERR_INVALID_ARGUMENT, "opencl: wrapped cl_mem has %zu bytes, %zu claimed",
                        size, bytes);
    cl_buf *b = calloc(1, sizeof *b);
    if (!b)
        return VOX_ERR_OUT_OF_MEMORY;
    g_cl.clRetainMemObject(m);
    b->mem = m;
    b->size = bytes;
    *out = b;
    return VOX_OK;
}

void cl_free(void *devp, void *bufp)
{
    (void)devp;
    cl_buf *b = bufp;
    if (!b)
        return;
    if (b->mem)
        g_cl.clReleaseMemObject(b->mem);
    free(b);
}

/* A blocking transfer between a buffer and host memory (buffer_write/read). */
static vox_status cl_copy(cl_dev *d, cl_buf *b, size_t off, void *host, size_t bytes, int to_device)
{
    d->host_waits++;
    cl_int e = to_device ? g_cl.clEnqueueWriteBuffer(d->queue, b->mem, CL_TRUE, off, bytes, host, 0, NULL, NULL)
                         : g_cl.clEnqueueReadBuffer(d->queue, b->mem, CL_TRUE, off, bytes, host, 0, NULL, NULL);
    if (e != CL_SUCCESS)
        return vox_fail(d->log, cl_status(e), "opencl: %s of %zu bytes failed (%s, %d)", to_device ? "write" : "read",
                        bytes, cl_err_name(e), e);
    return VOX_OK;
}

vox_status cl_write(void *devp, void *bufp, size_t off, const void *src, size_t bytes)
{
    return cl_copy(devp, bufp, off, (void *)(uintptr_t)src, bytes, 1);
}

vox_status cl_read(void *devp, void *bufp, size_t off, void *dst, size_t bytes)
{
    return cl_copy(devp, bufp, off, dst, bytes, 0);
}

vox_status cl_finish(void *devp)
{
    cl_dev *d = devp;
    d->host_waits++;
    cl_int e = g_cl.clFinish(d->queue);
    if (e != CL_SUCCESS)
        return vox_fail(d->log, cl_status(e), "opencl: clFinish failed (%s, %d)", cl_err_name(e), e);
    return VOX_OK;
}

uint64_t cl_host_waits(void *devp) { return ((const cl_dev *)devp)->host_waits; }

/* Timers: markers with profiling where the queue has it, else host time. */
vox_status cl_timer_begin(void *devp)
{
    cl_dev *d = devp;
    vox_status st = cl_finish(d);
    if (st)
        return st;
    if (d->t0) {
        g_cl.clReleaseEvent(d->t0);
        d->t0 = NULL;
    }
    d->t0_host = cl_now_ms();
    if (d->profiling && g_cl.clEnqueueMarkerWithWaitList(d->queue, 0, NULL, &d->t0) != CL_SUCCESS)
        d->t0 = NULL;
    return VOX_OK;
}

vox_status cl_timer_end(void *devp, double *ms)
{
    cl_dev *d = devp;
    cl_event t1 = NULL;
    if (d->t0 && g_cl.clEnqueueMarkerWithWaitList(d->queue, 0, NULL, &t1) != CL_SUCCESS)
        t1 = NULL;
    vox_status st = cl_finish(d);
    double host = cl_now_ms() - d->t0_host;
    *ms = host;
    if (!st && d->t0 && t1) {
        cl_ulong a = 0, b = 0;
        if (g_cl.clGetEventProfilingInfo(d->t0, CL_PROFILING_COMMAND_END, sizeof a, &a, NULL) == CL_SUCCESS &&
            g_cl.clGetEventProfilingInfo(t1, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL) == CL_SUCCESS &&
            b >= a && a != 0)
            *ms = (double)(b - a) * 1e-6;
    }
    if (t1)
        g_cl.clReleaseEvent(t1);
    if (d->t0) {
        g_cl.clReleaseEvent(d->t0);
        d->t0 = NULL;
    }
    return st;
}
