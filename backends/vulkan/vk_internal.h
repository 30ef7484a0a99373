/* Vulkan backend internals (private). libvulkan is loaded at run time; the
 * headers are used for types only (VK_NO_PROTOTYPES). */
#ifndef VOX_VK_INTERNAL_H
#define VOX_VK_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "backend.h"

/* Instance-level functions. */
#define VK_INSTANCE_FUNCS(X)                                                                       \
    X(vkDestroyInstance)                                                                           \
    X(vkEnumeratePhysicalDevices)                                                                  \
    X(vkGetPhysicalDeviceProperties)                                                               \
    X(vkGetPhysicalDeviceProperties2)                                                              \
    X(vkGetPhysicalDeviceFeatures2)                                                                \
    X(vkGetPhysicalDeviceQueueFamilyProperties)                                                    \
    X(vkGetPhysicalDeviceMemoryProperties)                                                         \
    X(vkEnumerateDeviceExtensionProperties)                                                        \
    X(vkCreateDevice)                                                                              \
    X(vkGetDeviceProcAddr)

/* Device-level functions. */
#define VK_DEVICE_FUNCS(X)                                                                         \
    X(vkDestroyDevice)                                                                             \
    X(vkGetDeviceQueue)                                                                            \
    X(vkCreateBuffer)                                                                              \
    X(vkDestroyBuffer)                                                                             \
    X(vkGetBufferMemoryRequirements)                                                               \
    X(vkAllocateMemory)                                                                            \
    X(vkFreeMemory)                                                                                \
    X(vkBindBufferMemory)                                                                          \
    X(vkMapMemory)                                                                                 \
    X(vkUnmapMemory)                                                                               \
    X(vkCreateShaderModule)                                                                        \
    X(vkDestroyShaderModule)                                                                       \
    X(vkCreateDescriptorSetLayout)                                                                 \
    X(vkDestroyDescriptorSetLayout)                                                                \
    X(vkCreatePipelineLayout)                                                                      \
    X(vkDestroyPipelineLayout)                                                                     \
    X(vkCreateComputePipelines)                                                                    \
    X(vkDestroyPipeline)                                                                           \
    X(vkCreateDescriptorPool)                                                                      \
    X(vkDestroyDescriptorPool)                                                                     \
    X(vkResetDescriptorPool)                                                                       \
    X(vkAllocateDescriptorSets)                                                                    \
    X(vkUpdateDescriptorSets)                                                                      \
    X(vkCreateCommandPool)                                                                         \
    X(vkDestroyCommandPool)                                                                        \
    X(vkAllocateCommandBuffers)                                                                    \
    X(vkResetCommandBuffer)                                                                        \
    X(vkBeginCommandBuffer)                                                                        \
    X(vkEndCommandBuffer)                                                                          \
    X(vkCmdBindPipeline)                                                                           \
    X(vkCmdBindDescriptorSets)                                                                     \
    X(vkCmdPushConstants)                                                                          \
    X(vkCmdDispatch)                                                                               \
    X(vkCmdPipelineBarrier)                                                                        \
    X(vkCmdCopyBuffer)                                                                             \
    X(vkCmdResetQueryPool)                                                                         \
    X(vkCmdWriteTimestamp)                                                                         \
    X(vkCreateQueryPool)                                                                           \
    X(vkDestroyQueryPool)                                                                          \
    X(vkGetQueryPoolResults)                                                                       \
    X(vkCreateFence)                                                                               \
    X(vkDestroyFence)                                                                              \
    X(vkResetFences)                                                                               \
    X(vkWaitForFences)                                                                             \
    X(vkQueueSubmit)                                                                               \
    X(vkDeviceWaitIdle)

#define VK_DECLARE_FN(name) PFN_##name name;
typedef struct vk_ifn {
    VK_INSTANCE_FUNCS(VK_DECLARE_FN)
} vk_ifn;
typedef struct vk_dfn {
    VK_DEVICE_FUNCS(VK_DECLARE_FN)
} vk_dfn;

#define VK_NBIND 12   /* storage-buffer bindings of the one descriptor-set layout */
#define VK_NPARAM 18  /* op parameters in the push constants */
#define VK_MAX_PIPES 64

typedef struct vk_buf {
    VkBuffer buf;
    VkDeviceMemory mem; /* VK_NULL_HANDLE when wrapped */
    size_t size;
    int wrapped;
} vk_buf;

typedef struct vk_pipe {
    const char *name;
    VkPipeline pipe;
} vk_pipe;

typedef struct vk_dev {
    const vox_logger *log;
    void *lib; /* libvulkan handle (NULL when only the caller's loader is used) */
    PFN_vkGetInstanceProcAddr gipa;
    vk_ifn fi;
    vk_dfn fd;
    VkInstance inst;
    VkPhysicalDevice pd;
    VkDevice device;
    VkQueue queue;
    uint32_t qfam;
    int own_instance, own_device;
    VkDebugUtilsMessengerEXT messenger;
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger;

    VkPhysicalDeviceLimits limits;
    VkPhysicalDeviceMemoryProperties memprops;
    VkDeviceSize max_alloc;
    uint32_t ts_valid_bits;
    int has16;
    int coopmat; /* VK_NV_cooperative_matrix enabled: attention_cm_* pipelines (f16/bf16, D <= 128) */

    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkDescriptorPool pool;
    VkCommandPool cmdpool;
    VkCommandBuffer cmd;
    VkFence fence;
    int recording;
    vk_pipe pipes[VK_MAX_PIPES];
    int npipes;

    vk_buf staging;
    void *staging_map;
    vk_buf dummy;

    VkQueryPool qpool;
    int timer_started;
    int profile; /* VOXATTN_VULKAN_PROFILE */
    double timer_host_ms;
} vk_dev;

/* One storage-buffer binding of a dispatch: a buffer (NULL: unused binding),
 * byte offset, the bytes the shader may touch from there, element size. */
typedef struct vk_bind {
    const vk_buf *b;
    size_t off, bytes;
    unsigned es;
    int open_end; /* extent not known on the host: up to the buffer's end */
} vk_bind;

const char *vk_result_string(VkResult r);
vox_status vk_status(vk_dev *d, VkResult r, const char *what);
/* Records one compute pass of `groups` workgroups (split into 2D
 * dispatches as the device limits require), followed by a barrier. */
vox_status vk_dispatch(vk_dev *d, const char *pipe_name, const vk_bind *binds, int nbinds,
                       const uint32_t *params, int nparams, uint64_t groups);

vox_status vk_permute_to_blocks(void *dev, const vox_op_dims *d, const vox_op_permute_to *p);
vox_status vk_permute_from_blocks(void *dev, const vox_op_dims *d, const vox_op_permute_from *p);
vox_status vk_block_means(void *dev, const vox_op_dims *d, const vox_op_block_means *p);
vox_status vk_kv_select(void *dev, const vox_op_dims *d, const vox_op_kv_select *p);
vox_status vk_sample_rows_attention(void *dev, const vox_op_dims *d, const vox_op_sample_rows *p);
vox_status vk_query_select(void *dev, const vox_op_dims *d, const vox_op_query_select *p);
vox_status vk_attention_forward(void *dev, const vox_op_dims *d, const vox_op_attention_forward *p);

#endif
