/* tools/vk_probe: lists a Vulkan device's extensions whose names contain argv[1..] (all without arguments) and,
 * where present, VK_NV_cooperative_matrix2's features, properties and flexible shapes and VK_KHR_cooperative_matrix's
 * shapes; these structures are
 * newer than Debian 12's Vulkan headers (239), so they are declared here by hand. Build and run:
 *   cc -O1 -Wall -o /tmp/vk_probe tools/vk_probe/vk_probe.c -ldl && /tmp/vk_probe cooperative bfloat16
 * (session 41: the H100's driver 580 has both, bf16 operands included; backends/vulkan/NOTES.md) */
#include <vulkan/vulkan.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef struct { VkStructureType sType; void *pNext; VkBool32 f[7]; } cm2_features;
#define ST_CM2_FEATURES ((VkStructureType)1000593000)
typedef struct { VkStructureType sType; void *pNext; uint32_t M, N, K; int A, B, C, R; VkBool32 sat; int scope; } khr_props;
#define ST_KHR_PROPS ((VkStructureType)1000506001)
/* VK_NV_cooperative_matrix2's properties and flexible-dimension entries (session 42: what sample_rows_nv2's
 * host check reads, backends/vulkan/vk_device.c nv2_dtypes) */
typedef struct { VkStructureType sType; void *pNext; uint32_t wg_max, flex_max, wg_reserved; } cm2_props;
#define ST_CM2_PROPS ((VkStructureType)1000593002)
typedef struct { VkStructureType sType; void *pNext; uint32_t Mg, Ng, Kg; int A, B, C, R; VkBool32 sat; int scope; uint32_t inv; } cm2_flex;
#define ST_CM2_FLEX ((VkStructureType)1000593001)
/* PRINT for each entry x[i] of the array of T (sType ST) that the instance function NAME lists for pd[d] */
#define LIST(T, NAME, ST, PRINT)                                                                \
    do {                                                                                        \
        typedef VkResult (*PFN_list)(VkPhysicalDevice, uint32_t *, T *);                        \
        PFN_list get = (PFN_list)gipa(inst, NAME);                                              \
        uint32_t cnt = 0;                                                                       \
        if (get)                                                                                \
            get(pd[d], &cnt, NULL);                                                             \
        T *x = calloc(cnt ? cnt : 1, sizeof *x);                                                \
        for (uint32_t i = 0; i < cnt; i++)                                                      \
            x[i].sType = ST;                                                                    \
        if (get && cnt)                                                                         \
            get(pd[d], &cnt, x);                                                                \
        for (uint32_t i = 0; i < cnt; i++)                                                      \
            PRINT;                                                                              \
        free(x);                                                                                \
    } while (0)
int main(int argc, char **argv)
{
    void *lib = dlopen("libvulkan.so.1", RTLD_NOW);
    if (!lib) { printf("no libvulkan\n"); return 1; }
    PFN_vkGetInstanceProcAddr gipa = (PFN_vkGetInstanceProcAddr)dlsym(lib, "vkGetInstanceProcAddr");
    PFN_vkCreateInstance ci = (PFN_vkCreateInstance)gipa(NULL, "vkCreateInstance");
    VkApplicationInfo ai = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "vk_probe", .apiVersion = VK_API_VERSION_1_3};
    VkInstanceCreateInfo ii = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &ai};
    VkInstance inst;
    if (ci(&ii, NULL, &inst)) { printf("no instance\n"); return 1; }
#define G(n) PFN_##n n = (PFN_##n)gipa(inst, #n)
    G(vkEnumeratePhysicalDevices); G(vkEnumerateDeviceExtensionProperties); G(vkGetPhysicalDeviceProperties);
    G(vkGetPhysicalDeviceFeatures2);
    uint32_t n = 8; VkPhysicalDevice pd[8];
    vkEnumeratePhysicalDevices(inst, &n, pd);
    for (uint32_t d = 0; d < n; d++) {
        VkPhysicalDeviceProperties p; vkGetPhysicalDeviceProperties(pd[d], &p);
        printf("device %u: %s driver 0x%x api %u.%u.%u\n", d, p.deviceName, p.driverVersion, VK_VERSION_MAJOR(p.apiVersion),
               VK_VERSION_MINOR(p.apiVersion), VK_VERSION_PATCH(p.apiVersion));
        uint32_t ne = 0; vkEnumerateDeviceExtensionProperties(pd[d], NULL, &ne, NULL);
        VkExtensionProperties *e = calloc(ne, sizeof *e); vkEnumerateDeviceExtensionProperties(pd[d], NULL, &ne, e);
        int cm2 = 0, khr = 0;
        for (uint32_t i = 0; i < ne; i++) {
            int show = argc < 2;
            for (int a = 1; a < argc; a++) show |= strstr(e[i].extensionName, argv[a]) != NULL;
            if (show) printf("  %s v%u\n", e[i].extensionName, e[i].specVersion);
            cm2 |= !strcmp(e[i].extensionName, "VK_NV_cooperative_matrix2");
            khr |= !strcmp(e[i].extensionName, "VK_KHR_cooperative_matrix");
        }
        if (cm2) {
            cm2_features f = {.sType = ST_CM2_FEATURES};
            VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f};
            vkGetPhysicalDeviceFeatures2(pd[d], &f2);
            printf("  cm2 features: workgroupScope %u flexibleDims %u reductions %u conversions %u perElement %u tensorAddressing %u blockLoads %u\n",
                   f.f[0], f.f[1], f.f[2], f.f[3], f.f[4], f.f[5], f.f[6]);
            G(vkGetPhysicalDeviceProperties2);
            cm2_props cp = {.sType = ST_CM2_PROPS};
            VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &cp};
            vkGetPhysicalDeviceProperties2(pd[d], &p2);
            printf("  cm2 properties: workgroup scope max %u invocations, flexible max dimension %u, reserved shared %u bytes"
                   " (maxComputeSharedMemorySize %u)\n", cp.wg_max, cp.flex_max, cp.wg_reserved,
                   p2.properties.limits.maxComputeSharedMemorySize);
            LIST(cm2_flex, "vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV", ST_CM2_FLEX,
                 printf("  cm2 flexible: granularity %ux%ux%u A%d B%d C%d R%d scope %d invocations %u\n", x[i].Mg,
                        x[i].Ng, x[i].Kg, x[i].A, x[i].B, x[i].C, x[i].R, x[i].scope, x[i].inv));
        }
        if (khr) {
            LIST(khr_props, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR", ST_KHR_PROPS,
                 printf("  khr cm %ux%ux%u A%d B%d C%d R%d scope %d\n", x[i].M, x[i].N, x[i].K, x[i].A, x[i].B, x[i].C,
                        x[i].R, x[i].scope));
        }
        free(e);
    }
    return 0;
}
