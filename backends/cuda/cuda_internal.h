/* The CUDA backend's private interface (backends/cuda): the driver API
 * types and constants it uses (declared here, never from <cuda.h>), the
 * table of driver entry points resolved from libcuda at probe
 * (cuda_backend.c), and the Hopper attention path (cuda_sm90.c). */
#ifndef VOX_CUDA_INTERNAL_H
#define VOX_CUDA_INTERNAL_H

#include <stdint.h>

#include "gpu_internal.h"

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void *CUcontext, *CUstream, *CUmodule, *CUfunction, *CUevent;

enum {
    CU_ATTR_MAX_SHARED_PER_BLOCK = 8,
    CU_ATTR_WARP_SIZE = 10,
    CU_ATTR_SM_COUNT = 16,
    CU_ATTR_CC_MAJOR = 75,
    CU_ATTR_CC_MINOR = 76,
    CU_ATTR_MAX_SHARED_OPTIN = 97,
    CU_FUNC_MAX_DYNAMIC_SHARED = 8,
    CU_OOM = 2,
    CU_STREAM_NON_BLOCKING = 1,
};

/* Driver entry points: X(member, return type, parameters, symbol). */
#define VOX_CU_FUNCS(X)                                                                                 \
    X(Init, CUresult, (unsigned), "cuInit")                                                             \
    X(DriverGetVersion, CUresult, (int *), "cuDriverGetVersion")                                        \
    X(DeviceGetCount, CUresult, (int *), "cuDeviceGetCount")                                            \
    X(DeviceGet, CUresult, (CUdevice *, int), "cuDeviceGet")                                            \
    X(DeviceGetName, CUresult, (char *, int, CUdevice), "cuDeviceGetName")                              \
    X(DeviceTotalMem, CUresult, (size_t *, CUdevice), "cuDeviceTotalMem_v2")                            \
    X(DeviceGetAttribute, CUresult, (int *, int, CUdevice), "cuDeviceGetAttribute")                     \
    X(PrimaryCtxRetain, CUresult, (CUcontext *, CUdevice), "cuDevicePrimaryCtxRetain")                  \
    X(PrimaryCtxRelease, CUresult, (CUdevice), "cuDevicePrimaryCtxRelease_v2")                          \
    X(CtxPush, CUresult, (CUcontext), "cuCtxPushCurrent_v2")                                            \
    X(CtxPop, CUresult, (CUcontext *), "cuCtxPopCurrent_v2")                                            \
    X(StreamCreate, CUresult, (CUstream *, unsigned), "cuStreamCreate")                                 \
    X(StreamDestroy, CUresult, (CUstream), "cuStreamDestroy_v2")                                        \
    X(StreamSynchronize, CUresult, (CUstream), "cuStreamSynchronize")                                   \
    X(ModuleLoadData, CUresult, (CUmodule *, const void *), "cuModuleLoadData")                         \
    X(ModuleUnload, CUresult, (CUmodule), "cuModuleUnload")                                             \
    X(ModuleGetFunction, CUresult, (CUfunction *, CUmodule, const char *), "cuModuleGetFunction")       \
    X(FuncSetAttribute, CUresult, (CUfunction, int, int), "cuFuncSetAttribute")                         \
    X(LaunchKernel, CUresult,                                                                           \
      (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,      \
       void **, void **),                                                                               \
      "cuLaunchKernel")                                                                                 \
    X(MemAlloc, CUresult, (CUdeviceptr *, size_t), "cuMemAlloc_v2")                                     \
    X(MemFree, CUresult, (CUdeviceptr), "cuMemFree_v2")                                                 \
    X(MemcpyHtoDAsync, CUresult, (CUdeviceptr, const void *, size_t, CUstream), "cuMemcpyHtoDAsync_v2") \
    X(MemcpyDtoHAsync, CUresult, (void *, CUdeviceptr, size_t, CUstream), "cuMemcpyDtoHAsync_v2")       \
    X(MemsetD32Async, CUresult, (CUdeviceptr, unsigned, size_t, CUstream), "cuMemsetD32Async")          \
    X(EventCreate, CUresult, (CUevent *, unsigned), "cuEventCreate")                                    \
    X(EventRecord, CUresult, (CUevent, CUstream), "cuEventRecord")                                      \
    X(EventSynchronize, CUresult, (CUevent), "cuEventSynchronize")                                      \
    X(EventDestroy, CUresult, (CUevent), "cuEventDestroy_v2")                                           \
    X(GetErrorString, CUresult, (CUresult, const char **), "cuGetErrorString")

/* Entry points a driver may lack (NULL then), same columns. The event timer
 * takes cuEventElapsedTime_v2 (CUDA 12.8+) or else cuEventElapsedTime (one of
 * them is required); cuTensorMapEncodeTiled (CUDA 12+) is for TMA kernels
 * (sm_90a): CUtensorMap is 128 opaque bytes, its enums are ints. */
#define VOX_CU_OPTIONAL_FUNCS(X)                                                            \
    X(EventElapsedTime_v2, CUresult, (float *, CUevent, CUevent), "cuEventElapsedTime_v2")  \
    X(EventElapsedTime, CUresult, (float *, CUevent, CUevent), "cuEventElapsedTime")        \
    X(TensorMapEncodeTiled, CUresult,                                                       \
      (void *, int, unsigned, void *, const uint64_t *, const uint64_t *, const unsigned *, \
       const unsigned *, int, int, int, int),                                               \
      "cuTensorMapEncodeTiled")

#define CU_MEMBER(member, ret, params, symbol) ret(*member) params;
typedef struct cu_driver {
    VOX_CU_FUNCS(CU_MEMBER)
    VOX_CU_OPTIONAL_FUNCS(CU_MEMBER)
} cu_driver;
#undef CU_MEMBER
/* The entry points (cuda_backend.c; optional ones NULL where the driver lacks them). */
extern cu_driver vox_cu;
const char *cu_error_string(int rc);

/* cuda_sm90.c: the sm_90a (wgmma + TMA) attention of backends/cuda/sm90/.
 * cu_sm90_open: with the context current and g->arch known, loads its
 * module where it applies (sm_90 device, built with 90a, the driver's tensor
 * map encoder, VOXATTN_CUDA_NO_SM90 unset) into g->vendor and names it in
 * g->vendor_attention; never fails the open (logs why the path is off).
 * Also loads sample_rows' sm_90a wgmma kernels (sm90/sample_rows_sm90.cu) into
 * g->srw on sm_90 devices of a 90a build.
 * cu_sm90_close: frees both (context current). cu_sm90_attention_forward,
 * cu_sm90_attention_backward: gpu_api.attention_forward, attention_backward. */
void cu_sm90_open(gpu_dev *g);
void cu_sm90_close(gpu_dev *g);
int cu_sm90_attention_forward(gpu_dev *g, const vox_op_dims *d, const vox_op_attention_forward *p, vox_status *st);
int cu_sm90_attention_backward(gpu_dev *g, const vox_op_dims *d, const vox_op_attention_backward *p,
                               vox_status *st);

#endif
