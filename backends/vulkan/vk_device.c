/* Vulkan backend: the device object. Instance creation (with the validation
 * layer on request), the compute queue family, feature checks (16-bit
 * storage, cooperative matrices, shaderFloat64), device open/close (own
 * instance and device, or the caller's), and the backend table.
 *
 * Execution model: ops are recorded into one command buffer (a compute ->
 * compute barrier after every dispatch); the buffer is submitted and waited
 * for with a fence at the next blocking point (buffer_read / buffer_write /
 * finish / timer_end), which also recycles the descriptor sets (vk_submit.c).
 *
 * Environment:
 *   VOXATTN_VULKAN_VALIDATION=1   enable VK_LAYER_KHRONOS_validation with a
 *                                 debug-utils messenger logging as errors
 *   VOXATTN_VULKAN_NO_16BIT=1     pretend storageBuffer16BitAccess is missing
 *                                 (f16/bf16 plans then get VOX_ERR_UNSUPPORTED)
 *   VOXATTN_VULKAN_PROFILE=1      run every dispatch alone and log its time (INFO); 2: device timestamps
 *                                 around each dispatch, tallied per pipeline, logged at close (INFO)
 *   VOXATTN_VULKAN_NO_COOPMAT=1   do not enable VK_NV_cooperative_matrix (f16/bf16
 *                                 attention then uses the scalar shader)
 *   VOXATTN_VULKAN_SR_NV2=0       SVG's sampled rows not on workgroup-scope matrices (sample_rows_nv2.comp,
 *                                 the default where the device has VK_KHR_cooperative_matrix and
 *                                 VK_NV_cooperative_matrix2, for bf16 VK_KHR_shader_bfloat16: the
 *                                 instance then asks for Vulkan 1.3 and the device enables them)
 *   VOXATTN_VULKAN_LIBRARY        see vk_loader.c
 *
 * Wrapping the caller's objects (vox_native_queue): instance, device
 * (VkPhysicalDevice), context (VkDevice), queue (VkQueue), queue_family and
 * get_proc_addr (PFN_vkGetInstanceProcAddr) are all required. The VkDevice
 * must have been created with storageBuffer16BitAccess enabled for f16/bf16
 * plans (when the physical device supports it); the caller serialises use of
 * the queue with its own submissions. Its enabled features cannot be queried,
 * so a wrapped device always uses the scalar attention shader and the float
 * svg_classify shader.
 * vox_buffer_wrap takes a VkBuffer created with STORAGE_BUFFER | TRANSFER_SRC |
 * TRANSFER_DST usage and bound to memory (device-local memory is expected for
 * speed); its `bytes` are trusted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "vk_internal.h"

/* ------------------------------------------------------------ instance */

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

/* Warnings and errors of every type, to debug_cb. */
static VkDebugUtilsMessengerCreateInfoEXT messenger_info(const vox_logger *log)
{
    VkDebugUtilsMessengerCreateInfoEXT mi = {
        VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT, NULL, 0,
        VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
            VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        debug_cb, (void *)log};
    return mi;
}

static int env_choice(const char *name, int dflt, int max);

/* VOXATTN_VULKAN_SR_NV2: 0 off, else the form of sample_rows_nv2 where the device can run it: 1 _nv2, 2 _nv2p,
 * 3 (unset) _nv2k */
static int sr_nv2_form(void) { return env_choice("VOXATTN_VULKAN_SR_NV2", 3, 3); }

/* Creates an instance (optionally with the validation layer + messenger): Vulkan 1.3 where the loader has it
 * and sample_rows_nv2 may run (its SPIR-V 1.6 needs it), else 1.2 or 1.1. */
VkResult vk_create_instance(const vk_global *g, int validation, const vox_logger *log, VkInstance *inst,
                            uint32_t *api)
{
    uint32_t ver = VK_API_VERSION_1_1;
    if (g->vkEnumerateInstanceVersion)
        g->vkEnumerateInstanceVersion(&ver);
    *api = ver >= VK_API_VERSION_1_2 ? VK_API_VERSION_1_2 : VK_API_VERSION_1_1;
    if (ver >= VK_API_VERSION_1_3 && sr_nv2_form())
        *api = VK_API_VERSION_1_3;
    VkApplicationInfo app = {VK_STRUCTURE_TYPE_APPLICATION_INFO, NULL, "voxattn", 1, "voxattn", 1, *api};
    const char *layers[1] = {"VK_LAYER_KHRONOS_validation"};
    const char *exts[1] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkInstanceCreateInfo ci = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, NULL, 0, &app, 0, NULL, 0, NULL};
    VkDebugUtilsMessengerCreateInfoEXT mi = messenger_info(log);
    if (validation) {
        if (vk_has_layer(g, layers[0])) {
            ci.enabledLayerCount = 1;
            ci.ppEnabledLayerNames = layers;
        } else {
            vox_log(log, VOX_LOG_WARN, "vulkan: VOXATTN_VULKAN_VALIDATION set but %s is not installed",
                    layers[0]);
        }
        if (vk_has_instance_ext(g, exts[0]) || ci.enabledLayerCount) {
            ci.enabledExtensionCount = 1;
            ci.ppEnabledExtensionNames = exts;
            ci.pNext = &mi; /* also covers vkCreateInstance / vkDestroyInstance */
        }
    }
    return g->vkCreateInstance(&ci, NULL, inst);
}

/* ------------------------------------------------------------ queues and features */

int vk_compute_family(const vk_ifn *fi, VkPhysicalDevice pd, uint32_t *family, uint32_t *ts_bits)
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

int vk_has_16bit_storage(const vk_ifn *fi, VkPhysicalDevice pd)
{
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &s16};
    fi->vkGetPhysicalDeviceFeatures2(pd, &f2);
    return s16.storageBuffer16BitAccess == VK_TRUE;
}

/* Whether shaders/attention_forward_cm.comp can run: VK_NV_cooperative_matrix
 * with a 16x16x16 f16 x f16 -> f32 subgroup-scope entry, subgroups of 32 with
 * basic/arithmetic/shuffle ops in compute, shaderFloat16 (f16 shared memory
 * and matrices), vulkanMemoryModel (glslang emits the Vulkan memory model for
 * coop-matrix shaders) and 48 KiB of shared memory. The 1.2 features are
 * taken as core, so the instance and device must both be 1.2+. Returns NULL
 * or why not. */
static const char *coopmat_missing(const vk_ifn *fi, PFN_vkGetInstanceProcAddr gipa, VkInstance inst,
                                   VkPhysicalDevice pd, uint32_t api)
{
    if (!vk_has_device_ext(fi, pd, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME))
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

/* VK_KHR_cooperative_matrix, VK_NV_cooperative_matrix2 and VK_KHR_shader_bfloat16 came after the Vulkan
 * headers this builds against (Debian 12: 1.3.239): their structures as the registry defines them. */
#define VK_ST_CM_KHR_FEATURES ((VkStructureType)1000506000)
#define VK_ST_CM2_FEATURES ((VkStructureType)1000593000)
#define VK_ST_CM2_FLEX ((VkStructureType)1000593001)
#define VK_ST_CM2_PROPS ((VkStructureType)1000593002)
#define VK_ST_BF16_FEATURES ((VkStructureType)1000141000)
#define VK_CT_BF16 1000141000 /* VK_COMPONENT_TYPE_BFLOAT16_KHR (float16 0, float32 1) */
typedef struct {
    VkStructureType sType;
    void *pNext;
    VkBool32 cooperativeMatrix, robustBufferAccess;
} vk_cm_khr_features;
typedef struct {
    VkStructureType sType;
    void *pNext;
    VkBool32 workgroupScope, flexibleDimensions, reductions, conversions, perElementOperations, tensorAddressing,
        blockLoads;
} vk_cm2_features;
typedef struct {
    VkStructureType sType;
    void *pNext;
    uint32_t wgMaxWorkgroupSize, flexMaxDimension, wgReservedSharedMemory;
} vk_cm2_props;
typedef struct {
    VkStructureType sType;
    void *pNext;
    uint32_t MGranularity, NGranularity, KGranularity;
    int32_t AType, BType, CType, ResultType;
    VkBool32 saturatingAccumulation;
    int32_t scope; /* VK_SCOPE_WORKGROUP_KHR 2 */
    uint32_t workgroupInvocations;
} vk_cm2_flex;
typedef struct {
    VkStructureType sType;
    void *pNext;
    VkBool32 type, dotProduct, cooperativeMatrix;
} vk_bf16_features;
typedef VkResult(VKAPI_PTR *vk_get_cm2_flex)(VkPhysicalDevice, uint32_t *, vk_cm2_flex *);

#define NV2_SHARED 40000u /* sample_rows_nv2.comp's shared memory (35,876 bytes) */
#define NV2_WG 256u       /* and its workgroup */

/* Which dtypes sample_rows_nv2.comp can run on (bit 0 f16, bit 1 bf16): Vulkan 1.3 (SPIR-V 1.6), the three
 * extensions' features it uses (workgroup scope, flexible dimensions, reductions, conversions, per-element
 * operations; bf16 types and matrices), a workgroup-scope f16 or bf16 x same -> f32 entry for its NV2_WG
 * invocations whose granularities divide 32 x 64 x 128 and 32 x 128 x 64, and room for its shared memory
 * beside the driver's reserve. 0 with *why set when none. (Session 43: NVIDIA's driver 580 allows 256
 * invocations at workgroup scope, so a 512-invocation form with 64 rows, which would stream each key tile
 * once per head instead of twice, cannot run there.) */
static int nv2_dtypes(const vk_dev *d, uint32_t api, const char **why)
{
    VkPhysicalDeviceProperties props;
    d->fi.vkGetPhysicalDeviceProperties(d->pd, &props);
    const char *need[3] = {"VK_KHR_cooperative_matrix", "VK_NV_cooperative_matrix2", "VK_KHR_shader_bfloat16"};
    *why = NULL;
    if (api < VK_API_VERSION_1_3 || props.apiVersion < VK_API_VERSION_1_3)
        *why = "needs Vulkan 1.3";
    for (int i = 0; i < 2 && !*why; i++)
        if (!vk_has_device_ext(&d->fi, d->pd, need[i]))
            *why = need[i];
    if (*why)
        return 0;
    int bf16_ext = vk_has_device_ext(&d->fi, d->pd, need[2]);
    vk_bf16_features bf = {.sType = VK_ST_BF16_FEATURES};
    vk_cm2_features cm2 = {.sType = VK_ST_CM2_FEATURES, .pNext = bf16_ext ? &bf : NULL};
    vk_cm_khr_features cmk = {.sType = VK_ST_CM_KHR_FEATURES, .pNext = &cm2};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &cmk};
    d->fi.vkGetPhysicalDeviceFeatures2(d->pd, &f2);
    vk_cm2_props cp = {.sType = VK_ST_CM2_PROPS};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &cp};
    d->fi.vkGetPhysicalDeviceProperties2(d->pd, &p2);
    if (!cmk.cooperativeMatrix || !cm2.workgroupScope || !cm2.flexibleDimensions || !cm2.reductions ||
        !cm2.conversions || !cm2.perElementOperations)
        *why = "a cooperative_matrix2 feature off";
    else if (cp.wgMaxWorkgroupSize < NV2_WG || cp.flexMaxDimension < 128)
        *why = "workgroup-scope matrices too small";
    else if ((uint64_t)props.limits.maxComputeSharedMemorySize < (uint64_t)NV2_SHARED + cp.wgReservedSharedMemory)
        *why = "shared memory";
    vk_get_cm2_flex get =
        (vk_get_cm2_flex)d->gipa(d->inst, "vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV");
    uint32_t n = 0;
    if (!*why && (!get || get(d->pd, &n, NULL) != VK_SUCCESS || !n))
        *why = "no flexible-dimension matrix types";
    if (*why)
        return 0;
    vk_cm2_flex *fp = calloc(n, sizeof *fp);
    if (!fp) {
        *why = "out of memory";
        return 0;
    }
    for (uint32_t i = 0; i < n; i++)
        fp[i].sType = VK_ST_CM2_FLEX;
    int mask = 0;
    if (get(d->pd, &n, fp) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++) {
            const vk_cm2_flex *e = &fp[i];
            int t = e->AType == 0 ? 1 : e->AType == VK_CT_BF16 && bf16_ext && bf.type && bf.cooperativeMatrix ? 2 : 0;
            if (t && e->BType == e->AType && e->CType == 1 && e->ResultType == 1 && e->scope == 2 &&
                (e->workgroupInvocations == 0 || e->workgroupInvocations == NV2_WG) && e->MGranularity &&
                e->NGranularity && e->KGranularity && 32 % e->MGranularity == 0 && 64 % e->NGranularity == 0 &&
                128 % e->NGranularity == 0 && 64 % e->KGranularity == 0 && 128 % e->KGranularity == 0)
                mask |= t;
        }
    free(fp);
    if (!mask)
        *why = "no workgroup-scope f16/bf16 -> f32 matrices for its workgroup in these shapes";
    return mask;
}

/* ------------------------------------------------------------ open / close */

static void vk_close(void *dev);

/* The caller's instance, device and queue (vox_native_queue). */
static vox_status open_native(vk_dev *d, const vox_native_queue *native, int no16)
{
    char reason[256] = "";
    if (!native->instance || !native->device || !native->context || !native->queue || !native->get_proc_addr)
        return vox_fail(d->log, VOX_ERR_INVALID_ARGUMENT,
                        "vulkan: a native queue needs instance, device (VkPhysicalDevice), context "
                        "(VkDevice), queue and get_proc_addr");
    memcpy(&d->gipa, &native->get_proc_addr, sizeof d->gipa);
    d->inst = (VkInstance)native->instance;
    d->pd = (VkPhysicalDevice)native->device;
    d->device = (VkDevice)native->context;
    d->queue = (VkQueue)native->queue;
    d->qfam = native->queue_family;
    if (vk_load_instance_fns(d->gipa, d->inst, &d->fi, reason, sizeof reason) ||
        vk_load_device_fns(&d->fi, d->device, &d->fd, reason, sizeof reason)) {
        d->device = VK_NULL_HANDLE; /* not ours: vk_close leaves it alone */
        return vox_fail(d->log, VOX_ERR_BACKEND, "%s", reason);
    }
    uint32_t n = 0;
    d->fi.vkGetPhysicalDeviceQueueFamilyProperties(d->pd, &n, NULL);
    VkQueueFamilyProperties *q = calloc(n ? n : 1, sizeof *q);
    if (!q)
        return VOX_ERR_OUT_OF_MEMORY;
    d->fi.vkGetPhysicalDeviceQueueFamilyProperties(d->pd, &n, q);
    int ok = d->qfam < n && (q[d->qfam].queueFlags & VK_QUEUE_COMPUTE_BIT);
    if (ok)
        d->ts_valid_bits = q[d->qfam].timestampValidBits;
    free(q);
    if (!ok)
        return vox_fail(d->log, VOX_ERR_INVALID_ARGUMENT, "vulkan: queue family %u has no compute queue",
                        native->queue_family);
    d->has16 = vk_has_16bit_storage(&d->fi, d->pd) && !no16;
    return VOX_OK;
}

/* The debug-utils messenger of VOXATTN_VULKAN_VALIDATION (best effort). */
static void create_messenger(vk_dev *d)
{
    PFN_vkCreateDebugUtilsMessengerEXT create =
        (PFN_vkCreateDebugUtilsMessengerEXT)d->gipa(d->inst, "vkCreateDebugUtilsMessengerEXT");
    d->destroy_messenger = (PFN_vkDestroyDebugUtilsMessengerEXT)d->gipa(d->inst, "vkDestroyDebugUtilsMessengerEXT");
    VkDebugUtilsMessengerCreateInfoEXT mi = messenger_info(d->log);
    if (create && d->destroy_messenger && create(d->inst, &mi, NULL, &d->messenger) == VK_SUCCESS)
        vox_log(d->log, VOX_LOG_INFO, "vulkan: validation layer enabled");
    else
        d->messenger = VK_NULL_HANDLE;
}

/* Creates the VkDevice of d->pd: one compute queue, 16-bit storage and
 * shaderFloat64 where available, and VK_NV_cooperative_matrix (with
 * shaderFloat16 and the Vulkan memory model) unless `no_cm` says why not. */
static vox_status create_device(vk_dev *d, const char *no_cm)
{
    d->coopmat = !no_cm;
    VkPhysicalDeviceFeatures2 avail = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    d->fi.vkGetPhysicalDeviceFeatures2(d->pd, &avail);
    VkPhysicalDeviceFeatures enable = {.shaderFloat64 = avail.features.shaderFloat64};
    d->fp64 = enable.shaderFloat64 == VK_TRUE;
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
    VkDeviceCreateInfo dci = {VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, &s16, 0, 1, &qci, 0, NULL, 0, NULL, &enable};
    /* VOXATTN_VULKAN_PIPELINE_STATS (diagnosis): the pipelines' statistics where the device has
     * VK_KHR_pipeline_executable_properties with pipelineExecutableInfo */
    VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR pef = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
    int ps = 0;
    if (vox_env_flag("VOXATTN_VULKAN_PIPELINE_STATS") &&
        vk_has_device_ext(&d->fi, d->pd, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME)) {
        VkPhysicalDeviceFeatures2 pf = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &pef};
        d->fi.vkGetPhysicalDeviceFeatures2(d->pd, &pf);
        ps = pef.pipelineExecutableInfo == VK_TRUE;
        pef.pNext = &s16;
    }
    const char *exts[5];
    uint32_t next = 0;
    if (ps) {
        dci.pNext = &pef;
        exts[next++] = VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
    }
    if (d->coopmat) { /* after the others: the retries below drop it */
        s16.pNext = &cmf;
        exts[next++] = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    }
    /* sample_rows_nv2 (VOXATTN_VULKAN_SR_NV2, nv2_dtypes): last, the first retry drops it */
    vk_bf16_features bf = {.sType = VK_ST_BF16_FEATURES, .pNext = &f16, .type = VK_TRUE, .cooperativeMatrix = VK_TRUE};
    vk_cm2_features cm2 = {.sType = VK_ST_CM2_FEATURES,
                           .pNext = (d->sr_nv2 & 2) ? (void *)&bf : (void *)&f16,
                           .workgroupScope = VK_TRUE,
                           .flexibleDimensions = VK_TRUE,
                           .reductions = VK_TRUE,
                           .conversions = VK_TRUE,
                           .perElementOperations = VK_TRUE};
    vk_cm_khr_features cmk = {.sType = VK_ST_CM_KHR_FEATURES, .pNext = &cm2, .cooperativeMatrix = VK_TRUE};
    const uint32_t before_nv2 = next;
    if (d->coopmat && d->sr_nv2) {
        cmf.pNext = &cmk;
        exts[next++] = "VK_KHR_cooperative_matrix";
        exts[next++] = "VK_NV_cooperative_matrix2";
        if (d->sr_nv2 & 2)
            exts[next++] = "VK_KHR_shader_bfloat16";
    } else
        d->sr_nv2 = 0;
    dci.enabledExtensionCount = next;
    dci.ppEnabledExtensionNames = next ? exts : NULL;
    VkResult r = d->fi.vkCreateDevice(d->pd, &dci, NULL, &d->device);
    if (r != VK_SUCCESS && d->sr_nv2) {
        vox_log(d->log, VOX_LOG_WARN, "vulkan: vkCreateDevice with VK_NV_cooperative_matrix2 failed (%s), retrying "
                                      "without", vk_result_string(r));
        d->sr_nv2 = 0;
        cmf.pNext = &f16;
        dci.enabledExtensionCount = next = before_nv2;
        r = d->fi.vkCreateDevice(d->pd, &dci, NULL, &d->device);
    }
    if (r != VK_SUCCESS && d->coopmat) {
        /* keep the device usable through the scalar shaders */
        vox_log(d->log, VOX_LOG_WARN, "vulkan: vkCreateDevice with %s failed (%s), retrying without",
                VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME, vk_result_string(r));
        no_cm = "device creation with it failed";
        d->coopmat = 0;
        s16.pNext = NULL;
        dci.enabledExtensionCount = --next;
        dci.ppEnabledExtensionNames = next ? exts : NULL;
        r = d->fi.vkCreateDevice(d->pd, &dci, NULL, &d->device);
    }
    if (r != VK_SUCCESS)
        return vk_status(d, r, "vkCreateDevice");
    if (ps) {
        d->get_pexec = (PFN_vkGetPipelineExecutablePropertiesKHR)d->fi.vkGetDeviceProcAddr(
            d->device, "vkGetPipelineExecutablePropertiesKHR");
        d->get_pstats = (PFN_vkGetPipelineExecutableStatisticsKHR)d->fi.vkGetDeviceProcAddr(
            d->device, "vkGetPipelineExecutableStatisticsKHR");
        d->pstats = d->get_pexec && d->get_pstats;
        vox_log(d->log, VOX_LOG_INFO, "vulkan: pipeline statistics %s", d->pstats ? "on" : "unavailable");
    }
    if (d->coopmat)
        vox_log(d->log, VOX_LOG_DEBUG, "vulkan: %s enabled: f16/bf16 attention with D <= 128 on matrix units",
                VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
    else
        vox_log(d->log, VOX_LOG_DEBUG, "vulkan: scalar attention shaders (cooperative matrix: %s)", no_cm);
    if (d->sr_nv2)
        vox_log(d->log, VOX_LOG_INFO, "vulkan: VK_NV_cooperative_matrix2 enabled: SVG's sampled rows on "
                                      "workgroup-scope matrices (%s%s)",
                (d->sr_nv2 & 1) ? "f16" : "", d->sr_nv2 == 3 ? ", bf16" : (d->sr_nv2 & 2) ? "bf16" : "");
    d->own_device = 1;
    return VOX_OK;
}

/* Our own instance and device on the probed device `index`. */
static vox_status open_own(vk_dev *d, int index, int no16)
{
    char reason[256] = "";
    vk_global g;
    if (vk_load_library(&d->lib, &d->gipa, &g, reason, sizeof reason))
        return vox_fail(d->log, VOX_ERR_BACKEND_UNAVAILABLE, "vulkan: %s", reason);
    int validation = vox_env_flag("VOXATTN_VULKAN_VALIDATION");
    uint32_t api;
    VkResult r = vk_create_instance(&g, validation, d->log, &d->inst, &api);
    if (r != VK_SUCCESS) {
        d->inst = VK_NULL_HANDLE;
        return vox_fail(d->log, VOX_ERR_BACKEND_UNAVAILABLE, "vulkan: vkCreateInstance: %s", vk_result_string(r));
    }
    d->own_instance = 1;
    if (vk_load_instance_fns(d->gipa, d->inst, &d->fi, reason, sizeof reason))
        return vox_fail(d->log, VOX_ERR_BACKEND, "%s", reason);
    if (validation)
        create_messenger(d);
    uint32_t n = 0;
    VkPhysicalDevice pds[64];
    r = d->fi.vkEnumeratePhysicalDevices(d->inst, &n, NULL);
    if (r == VK_SUCCESS) {
        if (n > 64)
            n = 64;
        r = d->fi.vkEnumeratePhysicalDevices(d->inst, &n, pds);
    }
    int phys = vk_probed_physical(index);
    if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || phys < 0 || (uint32_t)phys >= n)
        return vox_fail(d->log, VOX_ERR_BACKEND_UNAVAILABLE, "vulkan: device %d not found", index);
    d->pd = pds[phys];
    if (!vk_compute_family(&d->fi, d->pd, &d->qfam, &d->ts_valid_bits))
        return vox_fail(d->log, VOX_ERR_BACKEND_UNAVAILABLE, "vulkan: device %d has no compute queue", index);
    d->has16 = vk_has_16bit_storage(&d->fi, d->pd) && !no16;
    /* the coop-matrix shaders are f16/bf16 only, so they need 16-bit storage too */
    const char *no_cm;
    if (!d->has16)
        no_cm = "no 16-bit storage";
    else if (vox_env_flag("VOXATTN_VULKAN_NO_COOPMAT"))
        no_cm = "VOXATTN_VULKAN_NO_COOPMAT set";
    else
        no_cm = coopmat_missing(&d->fi, d->gipa, d->inst, d->pd, api);
    d->sr_nv2_form = sr_nv2_form();
    if (d->sr_nv2_form) { /* asked for by name: a warning where it cannot run; by default a debug line */
        const char *why = no_cm;
        d->sr_nv2 = no_cm ? 0 : nv2_dtypes(d, api, &why);
        if (!d->sr_nv2)
            vox_log(d->log, vox_env_flag("VOXATTN_VULKAN_SR_NV2") ? VOX_LOG_WARN : VOX_LOG_DEBUG,
                    "vulkan: sample_rows_nv2 cannot run (%s): SVG's tile pass on VK_NV_cooperative_matrix or "
                    "scalar",
                    why);
    }
    vox_status st = create_device(d, no_cm);
    if (st)
        return st;
    if (vk_load_device_fns(&d->fi, d->device, &d->fd, reason, sizeof reason))
        return vox_fail(d->log, VOX_ERR_BACKEND, "%s", reason);
    d->fd.vkGetDeviceQueue(d->device, d->qfam, 0, &d->queue);
    return VOX_OK;
}

/* A numbered switch: unset or empty gives dflt, a number 0..max itself, anything else dflt (text reads as
 * 0, as atoi does). */
static int env_choice(const char *name, int dflt, int max)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    const int n = atoi(v);
    return n >= 0 && n <= max ? n : dflt;
}

static vox_status vk_open(int index, const vox_native_queue *native, const vox_logger *log, void **out)
{
    *out = NULL;
    vk_dev *d = calloc(1, sizeof *d);
    if (!d)
        return VOX_ERR_OUT_OF_MEMORY;
    d->log = log;
    d->profile = env_choice("VOXATTN_VULKAN_PROFILE", 0, 2);
    d->kv_rowread = !vox_env_flag("VOXATTN_VULKAN_KV_STAGED"); /* staged: slower on NVIDIA (H200, session 9) */
    d->kv_f32 = vox_env_flag("VOXATTN_VULKAN_KV_F32"); /* A/B: kv_select without the f64 CUMULATIVE check */
    d->bm_serial = vox_env_flag("VOXATTN_VULKAN_BM_SERIAL");
    d->bm_w2 = env_choice("VOXATTN_VULKAN_BM_W2", 1, 1); /* A/B: 0 block_means' 16-bit loads before session 17 */
    d->kv_flush = vox_env_flag("VOXATTN_VULKAN_KV_FLUSH");
    d->kv_scalar = vox_env_flag("VOXATTN_VULKAN_KV_SCALAR");
    d->kv_f64_row = vox_env_flag("VOXATTN_VULKAN_KV_F64_ROW"); /* A/B: session 10's f64 re-scoring per row */
    d->kv_qfloat = vox_env_flag("VOXATTN_VULKAN_KV_QFLOAT"); /* A/B: the _f64t tile pass before _f64d */
    d->kv_topk_f64t = vox_env_flag("VOXATTN_VULKAN_KV_TOPK_F64T"); /* A/B: TOPK without the f32 certification */
    const char *shrow = getenv("VOXATTN_VULKAN_KV_SHROW"); /* A/B: kv_select's row in shared memory (_sgs) */
    d->kv_shrow = shrow && *shrow ? (atoi(shrow) != 0) : -1;
    /* A/B: 0 kv_select's tile pass before session 16; 2 _tq2 where it exists */
    d->kv_tq = env_choice("VOXATTN_VULKAN_KV_TQ", 1, 2);
    /* kv_select's rows: unset or 2 TOPK _lx / CUMULATIVE _ln (H200, session 17: wan-1.3b-480p top-k build 0.774
     * against 0.956 ms), 1 _ln for both, 0 session 16's */
    d->kv_lean = env_choice("VOXATTN_VULKAN_KV_LEAN", 2, 2);
    const char *stop = getenv("VOXATTN_VULKAN_KV_STOP"); /* timing only: wrong lists */
    d->kv_stop = !stop ? 0 : !strcmp(stop, "tile") ? 1 : !strcmp(stop, "row1") ? 2 : !strcmp(stop, "row2") ? 3 : 0;
    /* the f32 path's fallback rows scored a workgroup a row first (unset or 1; 0: each row scored by its own
     * subgroup in the fallback dispatch). The default since session 39: H100, library 97e2b45, hunyuan-720p
     * tau 0.9 build 6.381 / 6.374 ms against 6.657, tau keep 0.5 7.668 / 7.681 against 7.951 */
    d->kv_fb_pre = env_choice("VOXATTN_VULKAN_KV_FB_PRE", 1, 1);
    /* the f32 path's fallback a workgroup a row, its scores and selection in one dispatch (kv_select_sgw_fb_wg,
     * _fb_cum_wg; 0: a subgroup a row after kv_select_sgw_fb_pre). The default since session 41: H100, library
     * 8869b67, tau 0.9 builds at hunyuan-720p 5.893 ms against 6.087 / 6.075, keep 0.5 7.179 against 7.384 /
     * 7.355; at wan-1.3b-480p 0.453 / 0.452 against 0.473 */
    d->kv_fb_wg = env_choice("VOXATTN_VULKAN_KV_FB_WG", 1, 1);
    /* the f32 selection (kv_select_sgw_f, _f_cum): 4 rows a workgroup of 128 (unset; 8: session 38's 8 in 256,
     * unfused), CUMULATIVE's weights sweep filling its mass descent's first pass (unset or 1; 0: apart). Since
     * session 39: H100, hunyuan-720p tau 0.9 build 6.043 ms with both against 6.409 / 6.338 without, 6.266 with
     * the shape alone, 6.225 with the fusion alone; top-k 3.215 against 3.269 / 3.252 */
    d->kv_f_slots = env_choice("VOXATTN_VULKAN_KV_F_SLOTS", 4, 8);
    d->kv_f_wfuse = env_choice("VOXATTN_VULKAN_KV_F_WFUSE", 1, 1);
    const char *fstop = getenv("VOXATTN_VULKAN_KV_F_STOP"); /* timing only: wrong lists */
    d->kv_f_stop = !fstop ? 0 : !strcmp(fstop, "w") ? 1 : !strcmp(fstop, "count") ? 2 : 0;
    const char *fbstop = getenv("VOXATTN_VULKAN_KV_FB_STOP"); /* timing only: wrong lists */
    d->kv_fb_stop = !fbstop ? 0 : !strcmp(fbstop, "scores") ? 1 : !strcmp(fbstop, "p") ? 2 : !strcmp(fbstop, "t") ? 3 : 0;
    /* tests: kv_select_sgw's tiles per wave at most (unset or 0: as many as the scratch holds) */
    d->kv_wave = env_choice("VOXATTN_VULKAN_KV_WAVE", 0, 1 << 30);
    d->kv_no_replay = vox_env_flag("VOXATTN_VULKAN_KV_NO_REPLAY"); /* tests: kv_select_sgw_cum's candidates bare */
    d->kv_topk_f64 = vox_env_flag("VOXATTN_VULKAN_KV_TOPK_F64"); /* A/B: kv_select_sgw's TOPK on exact f64 scores */
    /* kv_select_sgw's CUMULATIVE on f32 scores with a certificate, the refused rows re-scored exactly once a build
     * (unset or 1; 0: every row's exact f64 scores). The default since session 35: H200, hunyuan-720p tau 0.9
     * build 6.899 ms against 10.435 exact (7.192 with the unsplit scores pass), wan-1.3b-480p 0.527 against
     * 0.543; before session 34's one fallback a build it was 10.29 against 10.32 (session 30) */
    d->kv_cum_f32 = env_choice("VOXATTN_VULKAN_KV_CUM_F32", 1, 1);
    /* kv_select's scores passes with each half of the workgroup half the tile's rows. Unset: the f32 CUMULATIVE's
     * pass split (_c16h: twice the keys an invocation, half the shared-memory reads of q a product; H200,
     * session 35, above), TOPK's and the exact one's not (hunyuan-720p top-k 3.250 split against 3.207, tau
     * exact 10.880 / 11.371 against 10.435). 0 none, 1 all three (kv_select_sgw_fs_h, _c16h, _s_h), 2 the exact
     * scores pass with the same keys (_s_q: half the accumulators) */
    d->kv_fs_split = env_choice("VOXATTN_VULKAN_KV_FS_SPLIT", -1, 2);
    /* tests: dispatches per batch of recorded work (unset: VK_POOL_SETS), so that small cases switch batches */
    d->pool_sets = env_choice("VOXATTN_VULKAN_POOL_SETS", VK_POOL_SETS, VK_POOL_SETS);
    d->pool_sets = d->pool_sets < 1 ? 1 : d->pool_sets;
    d->kv_debug = vox_env_flag("VOXATTN_VULKAN_KV_DEBUG"); /* diagnosis: a blocking read of the fallback reasons */
    d->kv_fallback = vox_env_flag("VOXATTN_VULKAN_KV_FALLBACK"); /* tests: every f32 TOPK row to the fallback */
    d->permute_narrow = vox_env_flag("VOXATTN_VULKAN_PERMUTE_NARROW");
    d->qs_global = !vox_env_flag("VOXATTN_VULKAN_QS_STAGED"); /* staged: 4.80 against 2.84 ms (wan keep 0.5 build, H200) */
    d->qs_element = vox_env_flag("VOXATTN_VULKAN_QS_ELEMENT");
    /* query_select on shaderFloat64 devices: unset or 1 the certified variants (H200, wan-1.3b-480p keep 0.5
     * builds: top-k 1.361 against 1.416 ms, tau 2.250 against 2.294), 0 the exact f64 ones, 2 (or "exact")
     * the certified ones with every decision on the exact path (tests) */
    const char *qsc = getenv("VOXATTN_VULKAN_QS_CERT");
    d->qs_cert = qsc && !strcmp(qsc, "exact") ? 2 : env_choice("VOXATTN_VULKAN_QS_CERT", 1, 2);
    /* _certr (the default since session 42: H100, hunyuan-720p keep 0.5 builds tau 7.125 / top-k 4.428 ms against
     * _cert's 7.170 / 4.491, the same decisions) or _cert (0) */
    d->qs_rsq = env_choice("VOXATTN_VULKAN_QS_RSQ", 1, 1);
    d->qs_rows = env_choice("VOXATTN_VULKAN_QS_ROWS", 1, 1); /* _certu: session 43, H100, hunyuan-720p keep 0.5 builds 6.990 / 4.277 ms against 7.159 / 4.453 */
    d->qs_stop = env_choice("VOXATTN_VULKAN_QS_STOP", 0, 3); /* timing only: query_select's phases, wrong decisions */
    d->sr_cm = !vox_env_flag("VOXATTN_VULKAN_SR_SCALAR"); /* A/B: the scalar f32 tile pass */
    const char *sr = getenv("VOXATTN_VULKAN_SR_SLOTS");
    /* opt-in: H200 mid call of session 16, SVG build 1.167 against 1.179 ms, within noise */
    d->sr_merge_wg = vox_env_flag("VOXATTN_VULKAN_SR_MERGE_WG");
    /* 0 sample_rows_cm, 1 _cm2 (same sums, one barrier fewer a tile), 7 _cm8 (cm2 with the next tile's loads
     * issued after the merge; session 33's default: 7.4% off hunyuan-720p's SVG build against _cm), 8 _cm9
     * (_cm8 in 64-key tiles with the accumulators in registers; the default since session 35: H200,
     * hunyuan-720p SVG build 5.522 ms against _cm8's 6.309, wan-1.3b-480p 0.892 against 1.012). 2-6 (session
     * 18's _cm3, _cm64, _cm5, _cm6, _cm7, all measured slower) were removed in session 34: the default runs */
    d->sr_cm2 = env_choice("VOXATTN_VULKAN_SR_CM2", 8, 8);
    if (d->sr_cm2 >= 2 && d->sr_cm2 <= 6) {
        vox_log(d->log, VOX_LOG_WARN, "vulkan: VOXATTN_VULKAN_SR_CM2=%d: that sample_rows variant was removed "
                                      "(session 34); the default (8) runs", d->sr_cm2);
        d->sr_cm2 = 8;
    }
    d->sr_stop = env_choice("VOXATTN_VULKAN_SR_STOP", 0, 4); /* 4: sample_rows_nv2stop4 only */
    d->sr_copies = vox_env_flag("VOXATTN_VULKAN_SR_COPIES"); /* A/B: SVG's three permutes before sample_rows */
    d->qs_copies = vox_env_flag("VOXATTN_VULKAN_QS_COPIES"); /* A/B: the permute of q before query_select */
    d->sr_slots = sr ? atoi(sr) : 0;
    d->sr_slots = d->sr_slots > 0 && d->sr_slots <= 65536 ? d->sr_slots : 0;
    int no16 = vox_env_flag("VOXATTN_VULKAN_NO_16BIT");
    vox_status st = native ? open_native(d, native, no16) : open_own(d, index, no16);
    if (st)
        goto fail;
    VkPhysicalDeviceProperties props;
    d->fi.vkGetPhysicalDeviceProperties(d->pd, &props);
    d->limits = props.limits;
    if (d->limits.timestampPeriod <= 0)
        d->ts_valid_bits = 0;
    d->fi.vkGetPhysicalDeviceMemoryProperties(d->pd, &d->memprops);
    { /* kv_select's scratch cap, so its waves of tiles: 1/128 of the largest device-local heap within 128-512 MiB
       * (a 24 GB card: 192 MiB; the H200: 512: at hunyuan-720p's tau 2 waves instead of 4, 6.708 against 6.881
       * ms, session 35); a build allocates only what its tiles need. VOXATTN_VULKAN_KV_SCRATCH_MB (timing): the
       * cap in MiB */
        const int64_t mib = (int64_t)1 << 20, mb = env_choice("VOXATTN_VULKAN_KV_SCRATCH_MB", 0, 2048);
        uint64_t heap = 0;
        for (uint32_t h = 0; h < d->memprops.memoryHeapCount; h++)
            if ((d->memprops.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) && d->memprops.memoryHeaps[h].size > heap)
                heap = d->memprops.memoryHeaps[h].size;
        const int64_t cap = (int64_t)(heap / 128) / mib * mib;
        d->kv_scratch_max = mb > 0 ? mb * mib : cap < 128 * mib ? 128 * mib : cap > 512 * mib ? 512 * mib : cap;
    }
    { /* kv_select's _sg variants: subgroups of 4..256 dividing its workgroup of 256, with arithmetic and
       * shuffle in compute */
        VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
        VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub};
        d->fi.vkGetPhysicalDeviceProperties2(d->pd, &p2);
        const int sized = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) && sub.subgroupSize >= 4 &&
                          sub.subgroupSize <= 256 && 256 % sub.subgroupSize == 0;
        const VkSubgroupFeatureFlags common = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
        const VkSubgroupFeatureFlags ops = common | VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
        d->kv_sg = !vox_env_flag("VOXATTN_VULKAN_KV_NO_SG") && sized && (sub.supportedOperations & ops) == ops;
        /* kv_select_sgw (TOPK and CUMULATIVE, a subgroup per row): ballots instead of shuffles, the same sizes */
        const VkSubgroupFeatureFlags wops = common | VK_SUBGROUP_FEATURE_BALLOT_BIT;
        d->kv_sgw = env_choice("VOXATTN_VULKAN_KV_SGW", 1, 1) && sized && (sub.supportedOperations & wops) == wops;
        vox_log(d->log, VOX_LOG_DEBUG, "vulkan: kv_select subgroups of %u (ops 0x%x): %s", sub.subgroupSize,
                (unsigned)sub.supportedOperations,
                !d->kv_sg            ? "no _sg variants"
                : d->kv_shrow == 0   ? "_sg variants"
                : d->kv_shrow == 1   ? "_sgs variants"
                                     : "_sgs for TOPK (c64), _sg for CUMULATIVE (f64d), none for f32");
    }
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    d->fi.vkGetPhysicalDeviceProperties2(d->pd, &p2);
    d->max_alloc = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : (VkDeviceSize)1 << 30;
    st = vk_submit_init(d);
    if (st)
        goto fail;
    *out = d;
    return VOX_OK;
fail:
    vk_close(d);
    return st;
}

static void vk_close(void *dev)
{
    vk_dev *d = dev;
    if (!d)
        return;
    if (d->device) {
        vk_flush(d); /* every batch recorded or in flight (nothing: no wait) */
        if (d->fd.vkDeviceWaitIdle && d->own_device)
            d->fd.vkDeviceWaitIdle(d->device);
        if (d->fd.vkDestroyBuffer) {
            vk_staging_destroy(d);
            vk_submit_destroy(d);
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

static const vox_backend vulkan_backend = {
    .kind = VOX_BACKEND_VULKAN, .name = "vulkan", .probe = vk_probe, .open = vk_open, .supports = vk_supports,
    VOX_BACKEND_DEVICE(vk_), .host_waits = vk_host_waits,
    .caller_layout_ops = vk_caller_layout_ops, VOX_BACKEND_TIMERS(vk_), VOX_BACKEND_ALL_OPS(vk_)
};

const vox_backend *vox_backend_vulkan(void) { return &vulkan_backend; }
