/* The CUDA driver API as the tests that own their CUDA streams use it (test_cuda_graph, test_cuda_pressure): libcuda
 * loaded at run time, no CUDA header; one TU per test includes it. */
#pragma once
#include <dlfcn.h>

#include "testutil.h"

typedef int CUresult;
typedef void *CUstream;
typedef void *CUgraph;
typedef void *CUgraphExec;
typedef void *CUcontext;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

static struct {
    CUresult (*Init)(unsigned);
    CUresult (*DeviceGet)(CUdevice *, int);
    CUresult (*PrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*CtxPushCurrent)(CUcontext);
    CUresult (*StreamCreate)(CUstream *, unsigned);
    CUresult (*StreamDestroy)(CUstream);
    CUresult (*StreamSynchronize)(CUstream);
    CUresult (*StreamBeginCapture)(CUstream, int);
    CUresult (*StreamEndCapture)(CUstream, CUgraph *);
    CUresult (*GraphInstantiate)(CUgraphExec *, CUgraph, unsigned long long);
    CUresult (*GraphLaunch)(CUgraphExec, CUstream);
    CUresult (*GraphExecDestroy)(CUgraphExec);
    CUresult (*GraphDestroy)(CUgraph);
    CUresult (*GraphGetNodes)(CUgraph, void **, size_t *);
    CUresult (*MemAlloc)(CUdeviceptr *, size_t);
    CUresult (*MemFree)(CUdeviceptr);
    CUresult (*MemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
} cu;

/* libcuda's entry points into cu; 0 where the library or a symbol is missing. */
static inline int tu_cuda_load(void)
{
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return 0;
#define SYM(field, name) (*(void **)&cu.field = dlsym(lib, name)) != NULL
    return SYM(Init, "cuInit") && SYM(DeviceGet, "cuDeviceGet") &&
           SYM(PrimaryCtxRetain, "cuDevicePrimaryCtxRetain") && SYM(CtxPushCurrent, "cuCtxPushCurrent_v2") &&
           SYM(StreamCreate, "cuStreamCreate") && SYM(StreamDestroy, "cuStreamDestroy_v2") &&
           SYM(StreamSynchronize, "cuStreamSynchronize") && SYM(StreamBeginCapture, "cuStreamBeginCapture_v2") &&
           SYM(StreamEndCapture, "cuStreamEndCapture") && SYM(GraphInstantiate, "cuGraphInstantiateWithFlags") &&
           SYM(GraphLaunch, "cuGraphLaunch") && SYM(GraphExecDestroy, "cuGraphExecDestroy") &&
           SYM(GraphDestroy, "cuGraphDestroy") && SYM(GraphGetNodes, "cuGraphGetNodes") &&
           SYM(MemAlloc, "cuMemAlloc_v2") && SYM(MemFree, "cuMemFree_v2") &&
           SYM(MemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2");
#undef SYM
}

/* Device 0's primary context made current and n non-blocking streams in it; 0 where any step fails (no CUDA
 * device: the caller skips). */
static inline int tu_cuda_open(CUcontext *ctx, CUstream *streams, int n)
{
    CUdevice dev;
    if (!tu_cuda_load() || cu.Init(0) || cu.DeviceGet(&dev, 0) || cu.PrimaryCtxRetain(ctx, dev) ||
        cu.CtxPushCurrent(*ctx))
        return 0;
    for (int i = 0; i < n; i++)
        if (cu.StreamCreate(&streams[i], 1 /* non-blocking */))
            return 0;
    return 1;
}

/* A voxattn context on cuda:0 whose queue is the caller's stream (the native queue), logging to tu_log with
 * *errs counting errors; NULL where it cannot open. */
static inline vox_context *tu_cuda_context(CUcontext cctx, CUstream stream, int *errs)
{
    vox_native_queue nq = {VOX_BACKEND_CUDA, stream, cctx, NULL, NULL, NULL, 0};
    vox_context_params cp;
    tu_context_params(&cp, "cuda:0", errs);
    cp.native = &nq;
    vox_context *ctx = NULL;
    return vox_context_create(&cp, &ctx) ? NULL : ctx;
}
