/* Run-time loading of vendor runtimes (private). Backends never link their
 * runtime: they dlopen it here and resolve every symbol they use, so a
 * missing or broken runtime becomes a reason string, not a load failure. */
#ifndef VOX_CORE_LOADER_H
#define VOX_CORE_LOADER_H

#include <stddef.h>

/* Opens the first library of `names` (NULL-terminated) that loads. The
 * environment variable `env_override` (e.g. VOXATTN_OPENCL_LIBRARY), when set,
 * replaces the list (tests use it to simulate a missing runtime). On failure
 * returns NULL and writes why into reason. */
void *vox_dl_open(const char *const *names, const char *env_override, char *reason,
                  size_t reason_size);

/* Resolves `count` symbols named in `names` into `slots`. Returns 0 on
 * success; on failure names the first missing symbol in reason. */
int vox_dl_resolve(void *lib, const char *const *names, void **slots, size_t count,
                   char *reason, size_t reason_size);

void vox_dl_close(void *lib);

/* A backend switch from the environment (VOXATTN_VULKAN_NO_COOPMAT, ...):
 * on when set, non-empty and not "0". */
int vox_env_flag(const char *name);

#endif
