/* Vulkan backend: buffers. Device buffers (one allocation each, device-local
 * memory preferred), the caller's wrapped VkBuffers, and buffer_read /
 * buffer_write through a host-visible staging buffer (up to 64 MiB, reused;
 * larger transfers go in pieces). Transfers are blocking: each piece is
 * recorded after the pending work and flushed. */
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

#define VK_STAGING_MAX ((size_t)64 << 20)

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

/* A storage + transfer buffer of `bytes`, in host-visible (staging) or
 * device memory. */
vox_status vk_buffer_create(vk_dev *d, size_t bytes, int host, vk_buf *b)
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

void vk_buffer_destroy(vk_dev *d, vk_buf *b)
{
    if (!b->wrapped) {
        if (b->buf)
            d->fd.vkDestroyBuffer(d->device, b->buf, NULL);
        if (b->mem)
            d->fd.vkFreeMemory(d->device, b->mem, NULL);
    }
    memset(b, 0, sizeof *b);
}

vox_status vk_alloc(void *dev, size_t bytes, void **out)
{
    vk_dev *d = dev;
    vk_buf *b = calloc(1, sizeof *b);
    if (!b)
        return VOX_ERR_OUT_OF_MEMORY;
    vox_status st = vk_buffer_create(d, bytes, 0, b);
    if (st) {
        free(b);
        return st;
    }
    *out = b;
    return VOX_OK;
}

vox_status vk_wrap(void *dev, uint64_t native, size_t bytes, void **out)
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

void vk_free(void *dev, void *buf)
{
    vk_dev *d = dev;
    vk_buf *b = buf;
    if (!b)
        return;
    vk_flush(d); /* recorded or submitted work may still use it (nothing pending: no wait) */
    vk_buffer_destroy(d, b);
    free(b);
}

/* ------------------------------------------------------------ staging */

void vk_staging_destroy(vk_dev *d)
{
    if (d->staging_map)
        d->fd.vkUnmapMemory(d->device, d->staging.mem);
    d->staging_map = NULL;
    vk_buffer_destroy(d, &d->staging);
}

static vox_status ensure_staging(vk_dev *d, size_t want)
{
    if (want > VK_STAGING_MAX)
        want = VK_STAGING_MAX;
    if (d->staging.buf && d->staging.size >= want)
        return VOX_OK;
    vk_staging_destroy(d);
    size_t size = want < ((size_t)1 << 20) ? ((size_t)1 << 20) : want;
    vox_status st = vk_buffer_create(d, size, 1, &d->staging);
    if (st)
        return st;
    VkResult r = d->fd.vkMapMemory(d->device, d->staging.mem, 0, VK_WHOLE_SIZE, 0, &d->staging_map);
    if (r != VK_SUCCESS) {
        d->staging_map = NULL;
        vk_buffer_destroy(d, &d->staging);
        return vk_status(d, r, "vkMapMemory");
    }
    return VOX_OK;
}

/* A blocking copy between `b` at byte `off` and host memory (src -> b, or
 * b -> dst), through the staging buffer in pieces of its size. */
static vox_status transfer(vk_dev *d, vk_buf *b, size_t off, const void *src, void *dst, size_t bytes)
{
    int to_device = src != NULL;
    vox_status st = ensure_staging(d, bytes);
    for (size_t done = 0; !st && done < bytes;) {
        size_t n = bytes - done < d->staging.size ? bytes - done : d->staging.size;
        st = vk_begin(d);
        if (st)
            break;
        if (to_device)
            memcpy(d->staging_map, (const unsigned char *)src + done, n);
        /* after every earlier write to b (by a shader or a copy) */
        vk_barrier(d, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                   VK_PIPELINE_STAGE_TRANSFER_BIT,
                   VK_ACCESS_TRANSFER_WRITE_BIT | (to_device ? 0 : VK_ACCESS_TRANSFER_READ_BIT));
        VkBufferCopy cp = {to_device ? 0 : off + done, to_device ? off + done : 0, n};
        d->fd.vkCmdCopyBuffer(d->cmd, to_device ? d->staging.buf : b->buf, to_device ? b->buf : d->staging.buf, 1,
                              &cp);
        if (to_device) /* before everything later */
            vk_barrier(d, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                       VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                       VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                           VK_ACCESS_TRANSFER_WRITE_BIT);
        else /* before the host reads the staging buffer */
            vk_barrier(d, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                       VK_ACCESS_HOST_READ_BIT);
        st = vk_flush(d);
        if (!st && !to_device)
            memcpy((unsigned char *)dst + done, d->staging_map, n);
        done += n;
    }
    return st;
}

vox_status vk_write(void *dev, void *buf, size_t off, const void *src, size_t bytes)
{
    return transfer(dev, buf, off, src, NULL, bytes);
}

vox_status vk_read(void *dev, void *buf, size_t off, void *dst, size_t bytes)
{
    return transfer(dev, buf, off, NULL, dst, bytes);
}
