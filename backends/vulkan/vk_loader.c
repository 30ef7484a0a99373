/* Vulkan backend: run-time loading of libvulkan (never linked), the
 * loader-, instance- and device-level entry-point tables, layer and extension
 * queries, VkResult names, and probing (one vox_device_desc per physical
 * device with Vulkan 1.1 and a compute queue).
 *
 * Environment:
 *   VOXATTN_VULKAN_LIBRARY=path   load this instead of libvulkan.so.1
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "vk_internal.h"

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

int vk_load_library(void **lib, PFN_vkGetInstanceProcAddr *gipa, vk_global *g, char *reason, size_t rsize)
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

int vk_load_instance_fns(PFN_vkGetInstanceProcAddr gipa, VkInstance inst, vk_ifn *f, char *reason, size_t rsize)
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

int vk_load_device_fns(const vk_ifn *fi, VkDevice dev, vk_dfn *f, char *reason, size_t rsize)
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

/* found = whether `name` is in the property list that `call_with` fills in
 * (the usual Vulkan two-call enumeration: count first, then the entries). */
#define VK_LISTED(found, Type, field, call_with, name)                                             \
    do {                                                                                           \
        uint32_t n_ = 0;                                                                           \
        Type *p_ = NULL;                                                                           \
        found = 0;                                                                                 \
        if (call_with(&n_, NULL) != VK_SUCCESS || !n_)                                             \
            break;                                                                                 \
        p_ = calloc(n_, sizeof *p_);                                                               \
        if (p_ && call_with(&n_, p_) == VK_SUCCESS)                                                \
            for (uint32_t i_ = 0; i_ < n_; i_++)                                                   \
                found |= !strcmp(p_[i_].field, name);                                              \
        free(p_);                                                                                  \
    } while (0)

int vk_has_layer(const vk_global *g, const char *name)
{
    int found;
#define VK_CALL(n, p) g->vkEnumerateInstanceLayerProperties(n, p)
    VK_LISTED(found, VkLayerProperties, layerName, VK_CALL, name);
#undef VK_CALL
    return found;
}

int vk_has_instance_ext(const vk_global *g, const char *name)
{
    int found;
#define VK_CALL(n, p) g->vkEnumerateInstanceExtensionProperties(NULL, n, p)
    VK_LISTED(found, VkExtensionProperties, extensionName, VK_CALL, name);
#undef VK_CALL
    return found;
}

int vk_has_device_ext(const vk_ifn *fi, VkPhysicalDevice pd, const char *name)
{
    int found;
#define VK_CALL(n, p) fi->vkEnumerateDeviceExtensionProperties(pd, NULL, n, p)
    VK_LISTED(found, VkExtensionProperties, extensionName, VK_CALL, name);
#undef VK_CALL
    return found;
}

/* ------------------------------------------------------------ probing */

#define VK_MAX_PHYS 32
/* backend index -> physical device index in enumeration order (set by probe) */
static uint32_t g_phys_of[VK_MAX_PHYS];
static int g_nphys;

int vk_probed_physical(int index) { return index >= 0 && index < g_nphys ? (int)g_phys_of[index] : -1; }

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
    int has_drv = props.apiVersion >= VK_API_VERSION_1_2 || vk_has_device_ext(fi, pd, "VK_KHR_driver_properties");
    int has_sm = vk_has_device_ext(fi, pd, "VK_NV_shader_sm_builtins");
    int has_amd = vk_has_device_ext(fi, pd, "VK_AMD_shader_core_properties");
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
    if (vk_has_16bit_storage(fi, pd) && !vox_env_flag("VOXATTN_VULKAN_NO_16BIT"))
        d->caps |= VOX_CAP_F16 | VOX_CAP_BF16;
    if (vk_has_device_ext(fi, pd, "VK_KHR_cooperative_matrix") || vk_has_device_ext(fi, pd, "VK_NV_cooperative_matrix"))
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

vox_status vk_probe(vox_device_desc *descs, int max, int *count, char *reason, size_t rsize)
{
    *count = 0;
    g_nphys = 0;
    void *lib;
    PFN_vkGetInstanceProcAddr gipa;
    vk_global g;
    if (vk_load_library(&lib, &gipa, &g, reason, rsize))
        return VOX_ERR_BACKEND_UNAVAILABLE;
    VkInstance inst = VK_NULL_HANDLE;
    uint32_t api;
    VkResult r = vk_create_instance(&g, 0, NULL, &inst, &api);
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
    if (vk_load_instance_fns(gipa, inst, &fi, reason, rsize)) {
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
        else if (!vk_compute_family(&fi, pds[i], &fam, &ts_bits))
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
