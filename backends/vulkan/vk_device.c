/* Vulkan backend: run-time loading of libvulkan, device enumeration, the
 * device object (own or the caller's instance/device/queue), buffers,
 * transfers, submission and timers. Ops are in vk_ops.c.
 *
 * Execution model: ops are recorded into one command buffer (a compute ->
 * compute barrier after every dispatch); the buffer is submitted and waited
 * for with a fence at the next blocking point (buffer_read / buffer_write /
 * finish / timer_end), which also recycles the descriptor sets.
 *
 * Environment:
 *   VOXATTN_VULKAN_LIBRARY=path   load this instead of libvulkan.so.1
 *   VOXATTN_VULKAN_VALIDATION=1   enable VK_LAYER_KHRONOS_validation with a
 *                                 debug-utils messenger logging as errors
 *   VOXATTN_VULKAN_NO_16BIT=1     pretend storageBuffer16BitAccess is missing
 *                                 (f16/bf16 plans then get VOX_ERR_UNSUPPORTED)
 *   VOXATTN_VULKAN_PROFILE=1      run every dispatch alone and log its time (INFO)
 *   VOXATTN_VULKAN_NO_COOPMAT=1   do not enable VK_NV_cooperative_matrix (f16/bf16
 *                                 attention then uses the scalar shader)
 *
 * Wrapping the caller's objects (vox_native_queue): instance, device
 * (VkPhysicalDevice), context (VkDevice), queue (VkQueue), queue_family and
 * get_proc_addr (PFN_vkGetInstanceProcAddr) are all required. The VkDevice
 * must have been created with storageBuffer16BitAccess enabled for f16/bf16
 * plans (when the physical device supports it); the caller serialises use of
 * the queue with its own submissions. Its enabled features cannot be queried,
 * so a wrapped device always uses the scalar attention shader.
 * vox_buffer_wrap takes a VkBuffer created with STORAGE_BUFFER | TRANSFER_SRC |
 * TRANSFER_DST usage and bound to memory (device-local memory is expected for
 * speed); its `bytes` are trusted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loader.h"
#include "vk_internal.h"
#include "vk_spirv.h"

#define VK_STAGING_MAX ((size_t)64 << 20)

static const char *const vk_lib_names[] = {"libvulkan.so.1", "libvulkan.so", NULL};

const char *vk_result_string(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    case VK_ERROR_INVALID_SHADER_NV: return "VK_ERROR_INVALID_SHADER_NV";
    default: return "VkResult error";
    }
}

/* Maps a failed VkResult to a status (with a log line). */
vox_status vk_status(vk_dev *d, VkResult r, const char *what)
{
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY)
        return vox_fail(d->log, VOX_ERR_DEVICE_OUT_OF_MEMORY, "vulkan: %s: %s", what, vk_result_string(r));
    if (r == VK_ERROR_OUT_OF_HOST_MEMORY)
        return vox_fail(d->log, VOX_ERR_OUT_OF_MEMORY, "vulkan: %s: %s", what, vk_result_string(r));
    return vox_fail(d->log, VOX_ERR_BACKEND, "vulkan: %s: %s (%d)", what, vk_result_string(r), (int)r);
}

/* ------------------------------------------------------------ loading */

typedef struct vk_global {
    PFN_vkCreateInstance vkCreateInstance;
    PFN_vkEnumerateInstanceVersion vkEnumerateInstanceVersion;
    PFN_vkEnumerateInstanceLayerProperties vkEnumerateInstanceLayerProperties;
    PFN_vkEnumerateInstanceExtensionProperties vkEnumerateInstanceExtensionProperties;
} vk_global;

static int load_library(void **lib, PFN_vkGetInstanceProcAddr *gipa, vk_global *g, char *reason,
                        size_t rsize)
{
    *lib = vox_dl_open(vk_lib_names, "VOXATTN_VULKAN_LIBRARY", reason, rsize);
    if (!*lib)
        return -1;
    const char *name = "vkGetInstanceProcAddr";
    void *sym = NULL;
    if (vox_dl_resolve(*lib, &name, &sym, 1, reason, rsize)) {
        vox_dl_close(*lib);
        *lib = NULL;
        return -1;
    }
    memcpy(gipa, &sym, sizeof sym);
    g->vkCreateInstance = (PFN_vkCreateInstance)(*gipa)(NULL, "vkCreateInstance");
    g->vkEnumerateInstanceVersion = (PFN_vkEnumerateInstanceVersion)(*gipa)(NULL, "vkEnumerateInstanceVersion");
    g->vkEnumerateInstanceLayerProperties =
        (PFN_vkEnumerateInstanceLayerProperties)(*gipa)(NULL, "vkEnumerateInstanceLayerProperties");
    g->vkEnumerateInstanceExtensionProperties =
        (PFN_vkEnumerateInstanceExtensionProperties)(*gipa)(NULL, "vkEnumerateInstanceExtensionProperties");
    if (!g->vkCreateInstance || !g->vkEnumerateInstanceLayerProperties ||
        !g->vkEnumerateInstanceExtensionProperties) {
        snprintf(reason, rsize, "libvulkan: loader lacks vkCreateInstance");
        vox_dl_close(*lib);
        *lib = NULL;
        return -1;
    }
    return 0;
}

static int load_instance_fns(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, vk_ifn *f, char *reason,
                             size_t rsize)
{
#define VK_LOAD_I(name)                                                                            \
    f->name = (PFN_##name)gipa(inst, #name);                                                       \
    if (!f->name) {                                                                                \
        snprintf(reason, rsize, "vulkan: instance lacks %s", #name);                               \
        return -1;                                                                                 \
    }
    VK_INSTANCE_FUNCS(VK_LOAD_I)
#undef VK_LOAD_I
    return 0;
}

static int load_device_fns(const vk_ifn *fi, VkDevice dev, vk_dfn *f, char *reason, size_t rsize)
{
#define VK_LOAD_D(name)                                                                            \
    f->name = (PFN_##name)fi->vkGetDeviceProcAddr(dev, #name);                                     \
    if (!f->name) {                                                                                \
        snprintf(reason, rsize, "vulkan: device lacks %s", #name);                                 \
        goto fail;                                                                                 \
    }
    VK_DEVICE_FUNCS(VK_LOAD_D)
#undef VK_LOAD_D
    return 0;
fail:;
    /* all or nothing (vk_close relies on it); keep what destroys the device */
    PFN_vkDestroyDevice destroy = f->vkDestroyDevice;
    memset(f, 0, sizeof *f);
    f->vkDestroyDevice = destroy;
    return -1;
}

static int has_layer(const vk_global *g, const char *name)
{
    uint32_t n = 0;
    if (g->vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || !n)
        return 0;
    VkLayerProperties *p = calloc(n, sizeof *p);
    int found = 0;
    if (p && g->vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            found |= !strcmp(p[i].layerName, name);
    free(p);
    return found;
}

static int has_instance_ext(const vk_global *g, const char *name)
{
    uint32_t n = 0;
    if (g->vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS || !n)
        return 0;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    int found = 0;
    if (p && g->vkEnumerateInstanceExtensionProperties(NULL, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            found |= !strcmp(p[i].extensionName, name);
    free(p);
    return found;
}

static int has_device_ext(const vk_ifn *fi, VkPhysicalDevice pd, const char *name)
{
    uint32_t n = 0;
    if (fi->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || !n)
        return 0;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    int found = 0;
    if (p && fi->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            found |= !strcmp(p[i].extensionName, name);
    free(p);
    return found;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL debug_cb(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                               VkDebugUtilsMessageTypeFlagsEXT types,
                                               const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    (void)types;
    const vox_logger *log = user;
    vox_log(log, VOX_LOG_ERROR, "vulkan validation (%s): %s",
            severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning",
            data && data->pMessage ? data->pMessage : "?");
    return VK_FALSE;
}

/* Creates an instance (optionally with the validation layer + messenger). */
static VkResult create_instance(const vk_global *g, int validation, const vox_logger *log, VkInstance *inst,
                                uint32_t *api)
{
    uint32_t ver = VK_API_VERSION_1_1;
    if (g->vkEnumerateInstanceVersion)
        g->vkEnumerateInstanceVersion(&ver);
    *api = ver >= VK_API_VERSION_1_2 ? VK_API_VERSION_1_2 : VK_API_VERSION_1_1;
    VkApplicationInfo app = {VK_STRUCTURE_TYPE_APPLICATION_INFO, NULL, "voxattn", 1, "voxattn", 1, *api};
    const char *layers[1] = {"VK_LAYER_KHRONOS_validation"};
    const char *exts[1] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkInstanceCreateInfo ci = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, NULL, 0, &app, 0, NULL, 0, NULL};
    VkDebugUtilsMessengerCreateInfoEXT mi = {
        VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT, NULL, 0,
        VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
            VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        debug_cb, (void *)log};
    if (validation) {
        if (has_layer(g, layers[0])) {
            ci.enabledLayerCount = 1;
            ci.ppEnabledLayerNames = layers;
        } else {
            vox_log(log, VOX_LOG_WARN, "vulkan: VOXATTN_VULKAN_VALIDATION set but %s is not installed",
                    layers[0]);
        }
        if (has_instance_ext(g, exts[0]) || ci.enabledLayerCount) {
            ci.enabledExtensionCount = 1;
            ci.ppEnabledExtensionNames = exts;
            ci.pNext = &mi; /* also covers vkCreateInstance / vkDestroyInstance */
        }
    }
    return g->vkCreateInstance(&ci, NULL, inst);
}

/* ------------------------------------------------------------ probing */

#define VK_MAX_PHYS 32
/* backend index -> physical device index in enumeration order (set by probe) */
static uint32_t g_phys_of[VK_MAX_PHYS];
static int g_nphys;

static int compute_family(const vk_ifn *fi, VkPhysicalDevice pd, uint32_t *family, uint32_t *ts_bits)
{
    uint32_t n = 0;
    fi->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties *q = calloc(n ? n : 1, sizeof *q);
    if (!q)
        return 0;
    fi->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    int found = 0;
    for (uint32_t i = 0; i < n && !found; i++)
        if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && q[i].queueCount > 0) {
            *family = i;
            *ts_bits = q[i].timestampValidBits;
            found = 1;
        }
    free(q);
    return found;
}

static int has_16bit_storage(const vk_ifn *fi, VkPhysicalDevice pd)
{
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &s16};
    fi->vkGetPhysicalDeviceFeatures2(pd, &f2);
    return s16.storageBuffer16BitAccess == VK_TRUE;
}

/* Whether shaders/attention_cm.comp can run: VK_NV_cooperative_matrix with a
 * 16x16x16 f16 x f16 -> f32 subgroup-scope entry, subgroups of 32 with
 * basic/arithmetic/shuffle ops in compute, shaderFloat16 (f16 shared memory
 * and matrices), vulkanMemoryModel (glslang emits the Vulkan memory model for
 * coop-matrix shaders) and 48 KiB of shared memory. The 1.2 features are
 * taken as core, so the instance and device must both be 1.2+. Returns NULL
 * or why not. */
static const char *coopmat_missing(const vk_ifn *fi, PFN_vkGetInstanceProcAddr gipa, VkInstance inst,
                                   VkPhysicalDevice pd, uint32_t api)
{
    if (!has_device_ext(fi, pd, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME))
        return "no " VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    VkPhysicalDeviceProperties props;
    fi->vkGetPhysicalDeviceProperties(pd, &props);
    if (api < VK_API_VERSION_1_2 || props.apiVersion < VK_API_VERSION_1_2)
        return "needs Vulkan 1.2";
    if (props.limits.maxComputeSharedMemorySize < 49152)
        return "maxComputeSharedMemorySize below 48 KiB";
    VkPhysicalDeviceCooperativeMatrixFeaturesNV cmf = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES, .pNext = &cmf};
    VkPhysicalDeviceVulkanMemoryModelFeatures vmm = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES, .pNext = &f16};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &vmm};
    fi->vkGetPhysicalDeviceFeatures2(pd, &f2);
    if (!cmf.cooperativeMatrix)
        return "cooperativeMatrix feature off";
    if (!f16.shaderFloat16)
        return "no shaderFloat16";
    if (!vmm.vulkanMemoryModel)
        return "no vulkanMemoryModel";
    VkPhysicalDeviceCooperativeMatrixPropertiesNV cmp = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_NV};
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
                                              .pNext = &cmp};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub};
    fi->vkGetPhysicalDeviceProperties2(pd, &p2);
    if (!(cmp.cooperativeMatrixSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT))
        return "cooperative matrices not in compute";
    VkSubgroupFeatureFlags ops =
        VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT | VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
    if (sub.subgroupSize != 32 || !(sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ||
        (sub.supportedOperations & ops) != ops)
        return "needs subgroups of 32 with arithmetic and shuffle in compute";
    const char *getname = "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV";
    PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV get =
        (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)gipa(inst, getname);
    uint32_t n = 0;
    if (!get || get(pd, &n, NULL) != VK_SUCCESS || !n)
        return "no cooperative matrix properties";
    VkCooperativeMatrixPropertiesNV *p = calloc(n, sizeof *p);
    if (!p)
        return "out of memory";
    for (uint32_t i = 0; i < n; i++)
        p[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
    int found = 0;
    if (get(pd, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            found |= p[i].MSize == 16 && p[i].NSize == 16 && p[i].KSize == 16 &&
                     p[i].AType == VK_COMPONENT_TYPE_FLOAT16_NV && p[i].BType == VK_COMPONENT_TYPE_FLOAT16_NV &&
                     p[i].CType == VK_COMPONENT_TYPE_FLOAT32_NV && p[i].DType == VK_COMPONENT_TYPE_FLOAT32_NV &&
                     p[i].scope == VK_SCOPE_SUBGROUP_NV;
    free(p);
    return found ? NULL : "no 16x16x16 f16 -> f32 subgroup matrix type";
}

static const char *vendor_name(uint32_t id)
{
    switch (id) {
    case 0x10DE: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x8086: return "Intel";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x106B: return "Apple";
    case 0x10005: return "Mesa";
    default: return NULL;
    }
}

static void describe(const vk_ifn *fi, VkPhysicalDevice pd, uint32_t ts_bits, vox_device_desc *d)
{
    VkPhysicalDeviceProperties props;
    fi->vkGetPhysicalDeviceProperties(pd, &props);
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceShaderSMBuiltinsPropertiesNV sm = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
    VkPhysicalDeviceShaderCorePropertiesAMD amd = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub};
    void **tail = &sub.pNext;
    int has_drv = props.apiVersion >= VK_API_VERSION_1_2 || has_device_ext(fi, pd, "VK_KHR_driver_properties");
    int has_sm = has_device_ext(fi, pd, "VK_NV_shader_sm_builtins");
    int has_amd = has_device_ext(fi, pd, "VK_AMD_shader_core_properties");
    if (has_drv)
        *tail = &drv, tail = &drv.pNext;
    if (has_sm)
        *tail = &sm, tail = &sm.pNext;
    if (has_amd)
        *tail = &amd, tail = &amd.pNext;
    fi->vkGetPhysicalDeviceProperties2(pd, &p2);

    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%.127s", props.deviceName);
    const char *vn = vendor_name(props.vendorID);
    if (vn)
        snprintf(d->vendor, sizeof d->vendor, "%s", vn);
    else
        snprintf(d->vendor, sizeof d->vendor, "0x%04x", (unsigned)props.vendorID);
    char drvs[192];
    unsigned vmaj = VK_API_VERSION_MAJOR(props.apiVersion), vmin = VK_API_VERSION_MINOR(props.apiVersion);
    if (has_drv)
        snprintf(drvs, sizeof drvs, "%.32s %.64s, Vulkan %u.%u", drv.driverName, drv.driverInfo, vmaj, vmin);
    else
        snprintf(drvs, sizeof drvs, "driver 0x%x, Vulkan %u.%u", (unsigned)props.driverVersion, vmaj, vmin);
    snprintf(d->driver, sizeof d->driver, "%.63s", drvs);
    switch (props.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_CPU: d->type = VOX_DEVICE_CPU; break;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: d->type = VOX_DEVICE_GPU; break;
    default: d->type = VOX_DEVICE_OTHER; break;
    }
    VkPhysicalDeviceMemoryProperties mp;
    fi->vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t h = 0; h < mp.memoryHeapCount; h++)
        if ((mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) && mp.memoryHeaps[h].size > d->memory_bytes)
            d->memory_bytes = mp.memoryHeaps[h].size;
    if (has_16bit_storage(fi, pd) && !vox_env_flag("VOXATTN_VULKAN_NO_16BIT"))
        d->caps |= VOX_CAP_F16 | VOX_CAP_BF16;
    if (has_device_ext(fi, pd, "VK_KHR_cooperative_matrix") || has_device_ext(fi, pd, "VK_NV_cooperative_matrix"))
        d->caps |= VOX_CAP_MATRIX_UNITS;
    if (ts_bits > 0 && props.limits.timestampPeriod > 0)
        d->caps |= VOX_CAP_TIMER;
    d->subgroup_size = sub.subgroupSize;
    d->shared_memory_bytes = props.limits.maxComputeSharedMemorySize;
    if (has_sm)
        d->compute_units = sm.shaderSMCount;
    else if (has_amd)
        d->compute_units = amd.shaderEngineCount * amd.shaderArraysPerEngineCount * amd.computeUnitsPerShaderArray;
}

static vox_status vk_probe(vox_device_desc *descs, int max, int *count, char *reason, size_t rsize)
{
    *count = 0;
    g_nphys = 0;
    void *lib;
    PFN_vkGetInstanceProcAddr gipa;
    vk_global g;
    if (load_library(&lib, &gipa, &g, reason, rsize))
        return VOX_ERR_BACKEND_UNAVAILABLE;
    VkInstance inst = VK_NULL_HANDLE;
    uint32_t api;
    VkResult r = create_instance(&g, 0, NULL, &inst, &api);
    if (r != VK_SUCCESS) {
        snprintf(reason, rsize, "vkCreateInstance: %s%s", vk_result_string(r),
                 r == VK_ERROR_INCOMPATIBLE_DRIVER ? " (no Vulkan driver / ICD installed)" : "");
        vox_dl_close(lib);
        return VOX_ERR_BACKEND_UNAVAILABLE;
    }
    vk_ifn fi;
    vox_status st = VOX_OK;
    VkPhysicalDevice *pds = NULL;
    uint32_t n = 0;
    if (load_instance_fns(gipa, inst, &fi, reason, rsize)) {
        PFN_vkDestroyInstance destroy = (PFN_vkDestroyInstance)gipa(inst, "vkDestroyInstance");
        if (destroy)
            destroy(inst, NULL);
        vox_dl_close(lib);
        return VOX_ERR_BACKEND_UNAVAILABLE;
    }
    r = fi.vkEnumeratePhysicalDevices(inst, &n, NULL);
    if (r == VK_SUCCESS && n) {
        pds = calloc(n, sizeof *pds);
        if (!pds)
            st = VOX_ERR_OUT_OF_MEMORY;
        else
            r = fi.vkEnumeratePhysicalDevices(inst, &n, pds);
    }
    char skipped[200] = "";
    if (!st && r != VK_SUCCESS && r != VK_INCOMPLETE) {
        snprintf(reason, rsize, "vkEnumeratePhysicalDevices: %s", vk_result_string(r));
        st = VOX_ERR_BACKEND_UNAVAILABLE;
    }
    for (uint32_t i = 0; !st && i < n && *count < max && g_nphys < VK_MAX_PHYS; i++) {
        VkPhysicalDeviceProperties props;
        fi.vkGetPhysicalDeviceProperties(pds[i], &props);
        uint32_t fam, ts_bits = 0;
        const char *why = NULL;
        if (props.apiVersion < VK_API_VERSION_1_1)
            why = "needs Vulkan 1.1";
        else if (!compute_family(&fi, pds[i], &fam, &ts_bits))
            why = "no compute queue";
        if (why) {
            size_t len = strlen(skipped);
            snprintf(skipped + len, sizeof skipped - len, "%s%.60s: %s", len ? "; " : "", props.deviceName, why);
            continue;
        }
        describe(&fi, pds[i], ts_bits, &descs[*count]);
        g_phys_of[g_nphys++] = i;
        (*count)++;
    }
    if (!st && *count == 0) {
        snprintf(reason, rsize, "no Vulkan device with a compute queue%s%s", skipped[0] ? " (skipped: " : "",
                 skipped[0] ? skipped : "");
        if (skipped[0] && strlen(reason) + 2 < rsize)
            strcat(reason, ")");
        st = VOX_ERR_BACKEND_UNAVAILABLE;
    } else if (!st && skipped[0]) {
        snprintf(reason, rsize, "skipped: %s", skipped);
    }
    free(pds);
    fi.vkDestroyInstance(inst, NULL);
    vox_dl_close(lib);
    return st;
}

/* ------------------------------------------------------------ device */

static void vk_close(void *dev);

static int find_memory_type(const vk_dev *d, uint32_t bits, VkMemoryPropertyFlags want, VkMemoryPropertyFlags prefer)
{
    int fallback = -1;
    for (uint32_t i = 0; i < d->memprops.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = d->memprops.memoryTypes[i].propertyFlags;
        if (!(bits & (1u << i)) || (f & want) != want)
            continue;
        if ((f & prefer) == prefer)
            return (int)i;
        if (fallback < 0)
            fallback = (int)i;
    }
    return fallback;
}

static vox_status create_buffer(vk_dev *d, size_t bytes, int host, vk_buf *b)
{
    memset(b, 0, sizeof *b);
    if ((VkDeviceSize)bytes > d->max_alloc)
        return vox_fail(d->log, VOX_ERR_DEVICE_OUT_OF_MEMORY,
                        "vulkan: %zu bytes exceed maxMemoryAllocationSize (%llu)", bytes,
                        (unsigned long long)d->max_alloc);
    VkBufferCreateInfo ci = {VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, NULL, 0, bytes,
                             VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                 VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                             VK_SHARING_MODE_EXCLUSIVE, 0, NULL};
    VkResult r = d->fd.vkCreateBuffer(d->device, &ci, NULL, &b->buf);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkCreateBuffer");
    VkMemoryRequirements req;
    d->fd.vkGetBufferMemoryRequirements(d->device, b->buf, &req);
    int type = host ? find_memory_type(d, req.memoryTypeBits,
                                       VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                                       VK_MEMORY_PROPERTY_HOST_CACHED_BIT)
                    : find_memory_type(d, req.memoryTypeBits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    vox_status st = VOX_OK;
    if (type < 0) {
        st = vox_fail(d->log, VOX_ERR_BACKEND, "vulkan: no suitable memory type for a %s buffer",
                      host ? "staging" : "device");
    } else {
        uint32_t heap = d->memprops.memoryTypes[type].heapIndex;
        if (req.size > d->memprops.memoryHeaps[heap].size) {
            st = vox_fail(d->log, VOX_ERR_DEVICE_OUT_OF_MEMORY, "vulkan: %zu bytes exceed the memory heap (%llu)",
                          bytes, (unsigned long long)d->memprops.memoryHeaps[heap].size);
        } else {
            VkMemoryAllocateInfo ai = {VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, NULL, req.size, (uint32_t)type};
            r = d->fd.vkAllocateMemory(d->device, &ai, NULL, &b->mem);
            if (r == VK_SUCCESS)
                r = d->fd.vkBindBufferMemory(d->device, b->buf, b->mem, 0);
            if (r != VK_SUCCESS)
                st = r == VK_ERROR_OUT_OF_HOST_MEMORY ? vk_status(d, VK_ERROR_OUT_OF_DEVICE_MEMORY, "vkAllocateMemory")
                                                      : vk_status(d, r, "vkAllocateMemory");
        }
    }
    if (st) {
        if (b->mem)
            d->fd.vkFreeMemory(d->device, b->mem, NULL);
        d->fd.vkDestroyBuffer(d->device, b->buf, NULL);
        memset(b, 0, sizeof *b);
        return st;
    }
    b->size = bytes;
    return VOX_OK;
}

static void destroy_buffer(vk_dev *d, vk_buf *b)
{
    if (!b->wrapped) {
        if (b->buf)
            d->fd.vkDestroyBuffer(d->device, b->buf, NULL);
        if (b->mem)
            d->fd.vkFreeMemory(d->device, b->mem, NULL);
    }
    memset(b, 0, sizeof *b);
}

static vox_status setup_device_objects(vk_dev *d)
{
    VkDescriptorSetLayoutBinding binds[VK_NBIND];
    for (uint32_t i = 0; i < VK_NBIND; i++)
        binds[i] = (VkDescriptorSetLayoutBinding){i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1,
                                                  VK_SHADER_STAGE_COMPUTE_BIT, NULL};
    VkDescriptorSetLayoutCreateInfo dci = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, NULL, 0,
                                           VK_NBIND, binds};
    VkResult r = d->fd.vkCreateDescriptorSetLayout(d->device, &dci, NULL, &d->dsl);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkCreateDescriptorSetLayout");
    VkPushConstantRange pcr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, 128};
    VkPipelineLayoutCreateInfo pci = {VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, NULL, 0, 1, &d->dsl, 1, &pcr};
    r = d->fd.vkCreatePipelineLayout(d->device, &pci, NULL, &d->layout);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkCreatePipelineLayout");
    VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 256 * VK_NBIND};
    VkDescriptorPoolCreateInfo poci = {VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, NULL, 0, 256, 1, &ps};
    r = d->fd.vkCreateDescriptorPool(d->device, &poci, NULL, &d->pool);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkCreateDescriptorPool");
    VkCommandPoolCreateInfo cpci = {VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, NULL,
                                    VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT, d->qfam};
    r = d->fd.vkCreateCommandPool(d->device, &cpci, NULL, &d->cmdpool);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkCreateCommandPool");
    VkCommandBufferAllocateInfo cai = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, NULL, d->cmdpool,
                                       VK_COMMAND_BUFFER_LEVEL_PRIMARY, 1};
    r = d->fd.vkAllocateCommandBuffers(d->device, &cai, &d->cmd);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkAllocateCommandBuffers");
    VkFenceCreateInfo fci = {VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, NULL, 0};
    r = d->fd.vkCreateFence(d->device, &fci, NULL, &d->fence);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkCreateFence");
    if (d->ts_valid_bits) {
        VkQueryPoolCreateInfo qci = {VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, NULL, 0, VK_QUERY_TYPE_TIMESTAMP, 2, 0};
        r = d->fd.vkCreateQueryPool(d->device, &qci, NULL, &d->qpool);
        if (r != VK_SUCCESS)
            return vk_status(d, r, "vkCreateQueryPool");
    }
    return create_buffer(d, 256, 0, &d->dummy);
}

static vox_status vk_open(int index, const vox_native_queue *native, const vox_logger *log, void **out)
{
    *out = NULL;
    vk_dev *d = calloc(1, sizeof *d);
    if (!d)
        return VOX_ERR_OUT_OF_MEMORY;
    d->log = log;
    d->profile = vox_env_flag("VOXATTN_VULKAN_PROFILE");
    char reason[256] = "";
    vox_status st = VOX_OK;
    int no16 = vox_env_flag("VOXATTN_VULKAN_NO_16BIT");
    if (native) {
        if (!native->instance || !native->device || !native->context || !native->queue || !native->get_proc_addr) {
            free(d);
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT,
                            "vulkan: a native queue needs instance, device (VkPhysicalDevice), context "
                            "(VkDevice), queue and get_proc_addr");
        }
        memcpy(&d->gipa, &native->get_proc_addr, sizeof d->gipa);
        d->inst = (VkInstance)native->instance;
        d->pd = (VkPhysicalDevice)native->device;
        d->device = (VkDevice)native->context;
        d->queue = (VkQueue)native->queue;
        d->qfam = native->queue_family;
        if (load_instance_fns(d->gipa, d->inst, &d->fi, reason, sizeof reason) ||
            load_device_fns(&d->fi, d->device, &d->fd, reason, sizeof reason)) {
            free(d);
            return vox_fail(log, VOX_ERR_BACKEND, "%s", reason);
        }
        uint32_t n = 0;
        d->fi.vkGetPhysicalDeviceQueueFamilyProperties(d->pd, &n, NULL);
        VkQueueFamilyProperties *q = calloc(n ? n : 1, sizeof *q);
        if (!q) {
            free(d);
            return VOX_ERR_OUT_OF_MEMORY;
        }
        d->fi.vkGetPhysicalDeviceQueueFamilyProperties(d->pd, &n, q);
        if (d->qfam >= n || !(q[d->qfam].queueFlags & VK_QUEUE_COMPUTE_BIT)) {
            free(q);
            free(d);
            return vox_fail(log, VOX_ERR_INVALID_ARGUMENT, "vulkan: queue family %u has no compute queue",
                            native->queue_family);
        }
        d->ts_valid_bits = q[d->qfam].timestampValidBits;
        free(q);
        d->has16 = has_16bit_storage(&d->fi, d->pd) && !no16;
    } else {
        vk_global g;
        if (load_library(&d->lib, &d->gipa, &g, reason, sizeof reason)) {
            free(d);
            return vox_fail(log, VOX_ERR_BACKEND_UNAVAILABLE, "vulkan: %s", reason);
        }
        int validation = vox_env_flag("VOXATTN_VULKAN_VALIDATION");
        uint32_t api;
        VkResult r = create_instance(&g, validation, log, &d->inst, &api);
        if (r != VK_SUCCESS) {
            vox_dl_close(d->lib);
            free(d);
            return vox_fail(log, VOX_ERR_BACKEND_UNAVAILABLE, "vulkan: vkCreateInstance: %s", vk_result_string(r));
        }
        d->own_instance = 1;
        if (load_instance_fns(d->gipa, d->inst, &d->fi, reason, sizeof reason)) {
            st = vox_fail(log, VOX_ERR_BACKEND, "%s", reason);
            goto fail;
        }
        if (validation) {
            PFN_vkCreateDebugUtilsMessengerEXT create =
                (PFN_vkCreateDebugUtilsMessengerEXT)d->gipa(d->inst, "vkCreateDebugUtilsMessengerEXT");
            d->destroy_messenger =
                (PFN_vkDestroyDebugUtilsMessengerEXT)d->gipa(d->inst, "vkDestroyDebugUtilsMessengerEXT");
            VkDebugUtilsMessengerCreateInfoEXT mi = {
                VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT, NULL, 0,
                VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
                VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
                debug_cb, (void *)log};
            if (create && d->destroy_messenger && create(d->inst, &mi, NULL, &d->messenger) == VK_SUCCESS)
                vox_log(log, VOX_LOG_INFO, "vulkan: validation layer enabled");
            else
                d->messenger = VK_NULL_HANDLE;
        }
        uint32_t n = 0;
        VkPhysicalDevice pds[64];
        r = d->fi.vkEnumeratePhysicalDevices(d->inst, &n, NULL);
        if (r == VK_SUCCESS) {
            if (n > 64)
                n = 64;
            r = d->fi.vkEnumeratePhysicalDevices(d->inst, &n, pds);
        }
        if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || index < 0 || index >= g_nphys || g_phys_of[index] >= n) {
            st = vox_fail(log, VOX_ERR_BACKEND_UNAVAILABLE, "vulkan: device %d not found", index);
            goto fail;
        }
        d->pd = pds[g_phys_of[index]];
        if (!compute_family(&d->fi, d->pd, &d->qfam, &d->ts_valid_bits)) {
            st = vox_fail(log, VOX_ERR_BACKEND_UNAVAILABLE, "vulkan: device %d has no compute queue", index);
            goto fail;
        }
        d->has16 = has_16bit_storage(&d->fi, d->pd) && !no16;
        /* the coop-matrix shaders are f16/bf16 only, so they need 16-bit storage too */
        const char *no_cm;
        if (!d->has16)
            no_cm = "no 16-bit storage";
        else if (vox_env_flag("VOXATTN_VULKAN_NO_COOPMAT"))
            no_cm = "VOXATTN_VULKAN_NO_COOPMAT set";
        else
            no_cm = coopmat_missing(&d->fi, d->gipa, d->inst, d->pd, api);
        d->coopmat = !no_cm;
        float prio = 1.0f;
        VkDeviceQueueCreateInfo qci = {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, NULL, 0, d->qfam, 1, &prio};
        VkPhysicalDeviceVulkanMemoryModelFeatures vmm = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES, .vulkanMemoryModel = VK_TRUE};
        VkPhysicalDeviceShaderFloat16Int8Features f16 = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES, .pNext = &vmm,
            .shaderFloat16 = VK_TRUE};
        VkPhysicalDeviceCooperativeMatrixFeaturesNV cmf = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV, .pNext = &f16,
            .cooperativeMatrix = VK_TRUE};
        VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
        s16.storageBuffer16BitAccess = d->has16 ? VK_TRUE : VK_FALSE;
        const char *cm_ext[1] = {VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME};
        VkDeviceCreateInfo dci = {VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, &s16, 0, 1, &qci, 0, NULL, 0, NULL, NULL};
        if (d->coopmat) {
            s16.pNext = &cmf;
            dci.enabledExtensionCount = 1;
            dci.ppEnabledExtensionNames = cm_ext;
        }
        r = d->fi.vkCreateDevice(d->pd, &dci, NULL, &d->device);
        if (r != VK_SUCCESS && d->coopmat) {
            /* keep the device usable through the scalar shaders */
            vox_log(log, VOX_LOG_WARN, "vulkan: vkCreateDevice with %s failed (%s), retrying without",
                    VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME, vk_result_string(r));
            no_cm = "device creation with it failed";
            d->coopmat = 0;
            s16.pNext = NULL;
            dci.enabledExtensionCount = 0;
            dci.ppEnabledExtensionNames = NULL;
            r = d->fi.vkCreateDevice(d->pd, &dci, NULL, &d->device);
        }
        if (r != VK_SUCCESS) {
            st = vk_status(d, r, "vkCreateDevice");
            goto fail;
        }
        if (d->coopmat)
            vox_log(log, VOX_LOG_DEBUG, "vulkan: %s enabled: f16/bf16 attention with D <= 128 on matrix units",
                    VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
        else
            vox_log(log, VOX_LOG_DEBUG, "vulkan: scalar attention shaders (cooperative matrix: %s)", no_cm);
        d->own_device = 1;
        if (load_device_fns(&d->fi, d->device, &d->fd, reason, sizeof reason)) {
            st = vox_fail(log, VOX_ERR_BACKEND, "%s", reason);
            goto fail;
        }
        d->fd.vkGetDeviceQueue(d->device, d->qfam, 0, &d->queue);
    }
    VkPhysicalDeviceProperties props;
    d->fi.vkGetPhysicalDeviceProperties(d->pd, &props);
    d->limits = props.limits;
    if (d->limits.timestampPeriod <= 0)
        d->ts_valid_bits = 0;
    d->fi.vkGetPhysicalDeviceMemoryProperties(d->pd, &d->memprops);
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    d->fi.vkGetPhysicalDeviceProperties2(d->pd, &p2);
    d->max_alloc = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : (VkDeviceSize)1 << 30;
    st = setup_device_objects(d);
    if (st)
        goto fail;
    *out = d;
    return VOX_OK;
fail:
    vk_close(d);
    return st;
}

static vox_status flush(vk_dev *d);

static void vk_close(void *dev)
{
    vk_dev *d = dev;
    if (!d)
        return;
    if (d->device) {
        if (d->recording)
            flush(d);
        if (d->fd.vkDeviceWaitIdle && d->own_device)
            d->fd.vkDeviceWaitIdle(d->device);
        if (d->fd.vkDestroyBuffer) {
            if (d->staging_map)
                d->fd.vkUnmapMemory(d->device, d->staging.mem);
            destroy_buffer(d, &d->staging);
            destroy_buffer(d, &d->dummy);
            for (int i = 0; i < d->npipes; i++)
                d->fd.vkDestroyPipeline(d->device, d->pipes[i].pipe, NULL);
            if (d->qpool)
                d->fd.vkDestroyQueryPool(d->device, d->qpool, NULL);
            if (d->fence)
                d->fd.vkDestroyFence(d->device, d->fence, NULL);
            if (d->cmdpool)
                d->fd.vkDestroyCommandPool(d->device, d->cmdpool, NULL);
            if (d->pool)
                d->fd.vkDestroyDescriptorPool(d->device, d->pool, NULL);
            if (d->layout)
                d->fd.vkDestroyPipelineLayout(d->device, d->layout, NULL);
            if (d->dsl)
                d->fd.vkDestroyDescriptorSetLayout(d->device, d->dsl, NULL);
        }
        if (d->own_device && d->fd.vkDestroyDevice)
            d->fd.vkDestroyDevice(d->device, NULL);
    }
    if (d->own_instance && d->inst) {
        if (d->messenger && d->destroy_messenger)
            d->destroy_messenger(d->inst, d->messenger, NULL);
        PFN_vkDestroyInstance destroy = d->fi.vkDestroyInstance;
        if (!destroy)
            destroy = (PFN_vkDestroyInstance)d->gipa(d->inst, "vkDestroyInstance");
        if (destroy)
            destroy(d->inst, NULL);
    }
    vox_dl_close(d->lib);
    free(d);
}

/* ------------------------------------------------------------ submission */

static double host_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}


static vox_status begin(vk_dev *d)
{
    if (d->recording)
        return VOX_OK;
    VkCommandBufferBeginInfo bi = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, NULL,
                                   VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT, NULL};
    VkResult r = d->fd.vkBeginCommandBuffer(d->cmd, &bi);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkBeginCommandBuffer");
    d->recording = 1;
    return VOX_OK;
}

/* Submits the recorded work and waits for it; recycles descriptor sets. */
static vox_status flush(vk_dev *d)
{
    if (!d->recording)
        return VOX_OK;
    d->recording = 0;
    VkResult r = d->fd.vkEndCommandBuffer(d->cmd);
    vox_status st = VOX_OK;
    if (r != VK_SUCCESS) {
        st = vk_status(d, r, "vkEndCommandBuffer");
    } else {
        VkSubmitInfo si = {VK_STRUCTURE_TYPE_SUBMIT_INFO, NULL, 0, NULL, NULL, 1, &d->cmd, 0, NULL};
        r = d->fd.vkQueueSubmit(d->queue, 1, &si, d->fence);
        if (r != VK_SUCCESS) {
            st = vk_status(d, r, "vkQueueSubmit");
        } else {
            r = d->fd.vkWaitForFences(d->device, 1, &d->fence, VK_TRUE, UINT64_MAX);
            if (r != VK_SUCCESS)
                st = vk_status(d, r, "vkWaitForFences");
            d->fd.vkResetFences(d->device, 1, &d->fence);
        }
    }
    d->fd.vkResetCommandBuffer(d->cmd, 0);
    d->fd.vkResetDescriptorPool(d->device, d->pool, 0);
    return st;
}

static void barrier(vk_dev *d, VkPipelineStageFlags src, VkAccessFlags src_access, VkPipelineStageFlags dst,
                    VkAccessFlags dst_access)
{
    VkMemoryBarrier mb = {VK_STRUCTURE_TYPE_MEMORY_BARRIER, NULL, src_access, dst_access};
    d->fd.vkCmdPipelineBarrier(d->cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

static vox_status get_pipeline(vk_dev *d, const char *name, VkPipeline *out)
{
    char file[96];
    snprintf(file, sizeof file, "%s.spv", name);
    for (int i = 0; i < d->npipes; i++)
        if (!strcmp(d->pipes[i].name, file)) {
            *out = d->pipes[i].pipe;
            return VOX_OK;
        }
    const struct vox_vk_spirv_blob *blob = NULL;
    for (size_t i = 0; i < vox_vk_spirv_count; i++)
        if (!strcmp(vox_vk_spirv_table[i].name, file))
            blob = &vox_vk_spirv_table[i];
    if (!blob)
        return vox_fail(d->log, VOX_ERR_BACKEND, "vulkan: no embedded shader %s", file);
    if (d->npipes >= VK_MAX_PIPES)
        return vox_fail(d->log, VOX_ERR_BACKEND, "vulkan: pipeline cache full");
    VkShaderModuleCreateInfo smci = {VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, NULL, 0, blob->size,
                                     (const uint32_t *)(const void *)blob->data};
    VkShaderModule mod;
    VkResult r = d->fd.vkCreateShaderModule(d->device, &smci, NULL, &mod);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkCreateShaderModule");
    VkComputePipelineCreateInfo ci = {
        VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO, NULL, 0,
        {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, NULL, 0, VK_SHADER_STAGE_COMPUTE_BIT, mod, "main", NULL},
        d->layout, VK_NULL_HANDLE, -1};
    VkPipeline pipe;
    r = d->fd.vkCreateComputePipelines(d->device, VK_NULL_HANDLE, 1, &ci, NULL, &pipe);
    d->fd.vkDestroyShaderModule(d->device, mod, NULL);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkCreateComputePipelines");
    d->pipes[d->npipes].name = blob->name; /* static storage */
    d->pipes[d->npipes].pipe = pipe;
    d->npipes++;
    *out = pipe;
    return VOX_OK;
}

vox_status vk_dispatch(vk_dev *d, const char *pipe_name, const vk_bind *binds, int nbinds, const uint32_t *params,
                       int nparams, uint64_t groups)
{
    if (!groups)
        return VOX_OK;
    if (groups > UINT32_MAX)
        return vox_fail(d->log, VOX_ERR_UNSUPPORTED, "vulkan: %s: launch of %llu workgroups is too large", pipe_name,
                        (unsigned long long)groups);
    uint32_t pcw[32] = {0};
    VkDescriptorBufferInfo infos[VK_NBIND];
    VkDeviceSize align = d->limits.minStorageBufferOffsetAlignment ? d->limits.minStorageBufferOffsetAlignment : 1;
    for (int i = 0; i < VK_NBIND; i++) {
        const vk_bind *b = i < nbinds ? &binds[i] : NULL;
        if (!b || !b->b) {
            infos[i] = (VkDescriptorBufferInfo){d->dummy.buf, 0, VK_WHOLE_SIZE};
            continue;
        }
        VkDeviceSize start = (VkDeviceSize)b->off / align * align;
        VkDeviceSize rem = (VkDeviceSize)b->off - start;
        VkDeviceSize range = rem + b->bytes;
        range = (range + 3) & ~(VkDeviceSize)3;
        if (start + range > b->b->size)
            range = b->b->size - start;
        if (b->open_end && range > d->limits.maxStorageBufferRange)
            range = d->limits.maxStorageBufferRange; /* extent unknown on the host: bind what the device allows */
        if (range > d->limits.maxStorageBufferRange)
            return vox_fail(d->log, VOX_ERR_UNSUPPORTED,
                            "vulkan: %s: binding %d spans %llu bytes, above maxStorageBufferRange %u", pipe_name, i,
                            (unsigned long long)range, d->limits.maxStorageBufferRange);
        if (rem % b->es)
            return vox_fail(d->log, VOX_ERR_UNSUPPORTED, "vulkan: %s: offset %zu not aligned to %u bytes", pipe_name,
                            b->off, b->es);
        infos[i] = (VkDescriptorBufferInfo){b->b->buf, start, range};
        pcw[2 + i] = (uint32_t)(rem / b->es);
    }
    for (int i = 0; i < nparams && i < VK_NPARAM; i++)
        pcw[2 + VK_NBIND + i] = params[i];
    VkPipeline pipe = VK_NULL_HANDLE;
    vox_status st = get_pipeline(d, pipe_name, &pipe);
    if (!st)
        st = begin(d);
    if (st)
        return st;
    double t0 = 0;
    if (d->profile) {
        st = flush(d); /* time this dispatch alone */
        if (!st)
            st = begin(d);
        if (st)
            return st;
        t0 = host_ms();
    }
    VkDescriptorSetAllocateInfo ai = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, NULL, d->pool, 1, &d->dsl};
    VkDescriptorSet set;
    VkResult r = d->fd.vkAllocateDescriptorSets(d->device, &ai, &set);
    if (r == VK_ERROR_OUT_OF_POOL_MEMORY || r == VK_ERROR_FRAGMENTED_POOL) {
        /* pool exhausted: run what is recorded (recycles the pool), go on */
        st = flush(d);
        if (!st)
            st = begin(d);
        if (st)
            return st;
        r = d->fd.vkAllocateDescriptorSets(d->device, &ai, &set);
    }
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkAllocateDescriptorSets");
    VkWriteDescriptorSet w[VK_NBIND];
    for (uint32_t i = 0; i < VK_NBIND; i++)
        w[i] = (VkWriteDescriptorSet){VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, NULL, set, i, 0, 1,
                                      VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, NULL, &infos[i], NULL};
    d->fd.vkUpdateDescriptorSets(d->device, VK_NBIND, w, 0, NULL);
    d->fd.vkCmdBindPipeline(d->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
    d->fd.vkCmdBindDescriptorSets(d->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, d->layout, 0, 1, &set, 0, NULL);
    uint64_t maxx = d->limits.maxComputeWorkGroupCount[0], maxy = d->limits.maxComputeWorkGroupCount[1];
    uint64_t gx = groups < maxx ? groups : maxx;
    uint64_t per = gx * maxy;
    pcw[1] = (uint32_t)groups;
    for (uint64_t base = 0; base < groups; base += per) {
        uint64_t n = groups - base < per ? groups - base : per;
        uint64_t gy = (n + gx - 1) / gx;
        pcw[0] = (uint32_t)base;
        d->fd.vkCmdPushConstants(d->cmd, d->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof pcw, pcw);
        d->fd.vkCmdDispatch(d->cmd, (uint32_t)gx, (uint32_t)gy, 1);
    }
    barrier(d, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT);
    if (d->profile) {
        st = flush(d);
        vox_log(d->log, VOX_LOG_INFO, "vulkan profile: %s %llu workgroups %.3f ms (host, incl. submit)", pipe_name,
                (unsigned long long)groups, host_ms() - t0);
        return st;
    }
    return VOX_OK;
}

/* ------------------------------------------------------------ buffers */

static vox_status vk_alloc(void *dev, size_t bytes, void **out)
{
    vk_dev *d = dev;
    vk_buf *b = calloc(1, sizeof *b);
    if (!b)
        return VOX_ERR_OUT_OF_MEMORY;
    vox_status st = create_buffer(d, bytes, 0, b);
    if (st) {
        free(b);
        return st;
    }
    *out = b;
    return VOX_OK;
}

static vox_status vk_wrap(void *dev, uint64_t native, size_t bytes, void **out)
{
    (void)dev;
    vk_buf *b = calloc(1, sizeof *b);
    if (!b)
        return VOX_ERR_OUT_OF_MEMORY;
    b->buf = (VkBuffer)(uintptr_t)native;
    b->size = bytes; /* trusted: the caller's VkBuffer holds at least this many bytes */
    b->wrapped = 1;
    *out = b;
    return VOX_OK;
}

static void vk_free(void *dev, void *buf)
{
    vk_dev *d = dev;
    vk_buf *b = buf;
    if (!b)
        return;
    if (d->recording)
        flush(d); /* recorded work may still use it */
    destroy_buffer(d, b);
    free(b);
}

static vox_status ensure_staging(vk_dev *d, size_t want)
{
    if (want > VK_STAGING_MAX)
        want = VK_STAGING_MAX;
    if (d->staging.buf && d->staging.size >= want)
        return VOX_OK;
    if (d->staging_map)
        d->fd.vkUnmapMemory(d->device, d->staging.mem);
    d->staging_map = NULL;
    destroy_buffer(d, &d->staging);
    size_t size = want < ((size_t)1 << 20) ? ((size_t)1 << 20) : want;
    vox_status st = create_buffer(d, size, 1, &d->staging);
    if (st)
        return st;
    VkResult r = d->fd.vkMapMemory(d->device, d->staging.mem, 0, VK_WHOLE_SIZE, 0, &d->staging_map);
    if (r != VK_SUCCESS) {
        d->staging_map = NULL;
        destroy_buffer(d, &d->staging);
        return vk_status(d, r, "vkMapMemory");
    }
    return VOX_OK;
}

static vox_status vk_write(void *dev, void *buf, size_t off, const void *src, size_t bytes)
{
    vk_dev *d = dev;
    vk_buf *b = buf;
    vox_status st = ensure_staging(d, bytes);
    for (size_t done = 0; !st && done < bytes;) {
        size_t n = bytes - done < d->staging.size ? bytes - done : d->staging.size;
        st = begin(d);
        if (st)
            break;
        memcpy(d->staging_map, (const unsigned char *)src + done, n);
        barrier(d, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
        VkBufferCopy cp = {0, off + done, n};
        d->fd.vkCmdCopyBuffer(d->cmd, d->staging.buf, b->buf, 1, &cp);
        barrier(d, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                    VK_ACCESS_TRANSFER_WRITE_BIT);
        st = flush(d);
        done += n;
    }
    return st;
}

static vox_status vk_read(void *dev, void *buf, size_t off, void *dst, size_t bytes)
{
    vk_dev *d = dev;
    vk_buf *b = buf;
    vox_status st = ensure_staging(d, bytes);
    for (size_t done = 0; !st && done < bytes;) {
        size_t n = bytes - done < d->staging.size ? bytes - done : d->staging.size;
        st = begin(d);
        if (st)
            break;
        barrier(d, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
        VkBufferCopy cp = {off + done, 0, n};
        d->fd.vkCmdCopyBuffer(d->cmd, b->buf, d->staging.buf, 1, &cp);
        barrier(d, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                VK_ACCESS_HOST_READ_BIT);
        st = flush(d);
        if (!st)
            memcpy((unsigned char *)dst + done, d->staging_map, n);
        done += n;
    }
    return st;
}

static vox_status vk_finish(void *dev) { return flush(dev); }

/* ------------------------------------------------------------ timers */


static vox_status vk_timer_begin(void *dev)
{
    vk_dev *d = dev;
    d->timer_started = 1;
    if (!d->qpool) {
        vox_status st = flush(d);
        d->timer_host_ms = host_ms();
        return st;
    }
    vox_status st = begin(d);
    if (st)
        return st;
    d->fd.vkCmdResetQueryPool(d->cmd, d->qpool, 0, 2);
    d->fd.vkCmdWriteTimestamp(d->cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, d->qpool, 0);
    return VOX_OK;
}

static vox_status vk_timer_end(void *dev, double *ms)
{
    vk_dev *d = dev;
    *ms = 0;
    if (!d->timer_started)
        return flush(d);
    d->timer_started = 0;
    if (!d->qpool) {
        vox_status st = flush(d);
        *ms = host_ms() - d->timer_host_ms;
        return st;
    }
    vox_status st = begin(d);
    if (st)
        return st;
    d->fd.vkCmdWriteTimestamp(d->cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, d->qpool, 1);
    st = flush(d);
    if (st)
        return st;
    uint64_t t[2];
    VkResult r = d->fd.vkGetQueryPoolResults(d->device, d->qpool, 0, 2, sizeof t, t, sizeof t[0],
                                             VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkGetQueryPoolResults");
    uint64_t mask = d->ts_valid_bits >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << d->ts_valid_bits) - 1);
    uint64_t ticks = ((t[1] & mask) - (t[0] & mask)) & mask;
    *ms = (double)ticks * (double)d->limits.timestampPeriod * 1e-6;
    return VOX_OK;
}

static const vox_backend vulkan_backend = {
    .kind = VOX_BACKEND_VULKAN,
    .name = "vulkan",
    .probe = vk_probe,
    .open = vk_open,
    .close = vk_close,
    .buffer_alloc = vk_alloc,
    .buffer_wrap = vk_wrap,
    .buffer_free = vk_free,
    .buffer_write = vk_write,
    .buffer_read = vk_read,
    .finish = vk_finish,
    .timer_begin = vk_timer_begin,
    .timer_end = vk_timer_end,
    .permute_to = vk_permute_to_blocks,
    .permute_from = vk_permute_from_blocks,
    .block_means = vk_block_means,
    .kv_select = vk_kv_select,
    .sample_rows = vk_sample_rows_attention,
    .query_select = vk_query_select,
    .attention_forward = vk_attention_forward,
};

const vox_backend *vox_backend_vulkan(void) { return &vulkan_backend; }
