/* Backends that this build leaves out resolve to NULL here, so the registry
 * can list them as "not built". */
#include "backend.h"
#include "vox_config.h"

#if !VOX_HAVE_CUDA
const vox_backend *vox_backend_cuda(void) { return NULL; }
#endif
#if !VOX_HAVE_HIP
const vox_backend *vox_backend_hip(void) { return NULL; }
#endif
#if !VOX_HAVE_OPENCL
const vox_backend *vox_backend_opencl(void) { return NULL; }
#endif
#if !VOX_HAVE_VULKAN
const vox_backend *vox_backend_vulkan(void) { return NULL; }
#endif
