#include "half.h"
#include "voxattn.h"

size_t vox_dtype_size(vox_dtype dtype)
{
    switch (dtype) {
    case VOX_F32: return 4;
    case VOX_F16:
    case VOX_BF16: return 2;
    }
    return 0;
}

vox_status vox_convert(vox_dtype dst_dtype, void *dst, vox_dtype src_dtype, const void *src,
                       size_t count)
{
    if (!vox_dtype_size(dst_dtype) || !vox_dtype_size(src_dtype))
        return VOX_ERR_INVALID_ARGUMENT;
    if (count && (!dst || !src))
        return VOX_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < count; i++)
        vox_store(dst, dst_dtype, (int64_t)i, vox_load(src, src_dtype, (int64_t)i));
    return VOX_OK;
}
