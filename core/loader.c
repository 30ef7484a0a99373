#include "loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *vox_dl_open(const char *const *names, const char *env_override, char *reason,
                  size_t reason_size)
{
    const char *override = env_override ? getenv(env_override) : NULL;
    const char *single[2] = {override, NULL};
    if (override && *override)
        names = single;
    char last[200] = "no library name given";
    for (size_t i = 0; names && names[i]; i++) {
        void *lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (lib)
            return lib;
        const char *err = dlerror();
        snprintf(last, sizeof last, "%s", err ? err : names[i]);
    }
    if (reason && reason_size)
        snprintf(reason, reason_size, "cannot load %s: %s", names && names[0] ? names[0] : "?",
                 last);
    return NULL;
}

int vox_dl_resolve(void *lib, const char *const *names, void **slots, size_t count,
                   char *reason, size_t reason_size)
{
    for (size_t i = 0; i < count; i++) {
        slots[i] = dlsym(lib, names[i]);
        if (!slots[i]) {
            if (reason && reason_size)
                snprintf(reason, reason_size, "runtime lacks symbol %s", names[i]);
            return -1;
        }
    }
    return 0;
}

void vox_dl_close(void *lib)
{
    if (lib)
        dlclose(lib);
}

int vox_env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}
