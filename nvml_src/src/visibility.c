/*
 * Per-container visibility: real NVML only enumerates GPUs whose /dev/nvidia<minor> the
 * process can see, so a container given one GPU sees one GPU, as index 0. One directory scan
 * at init instead of a stat per GPU keeps init cheap on 128-GPU nodes.
 */
#define _DEFAULT_SOURCE         /* DT_DIR */
#include <dirent.h>
#include <string.h>

#include "mock.h"

void mock_visible_minors(const char *dev_root, unsigned char present[MOCK_MAX_GPU])
{
    memset(present, 0, MOCK_MAX_GPU);
    DIR *dir = opendir(dev_root);
    if (dir == NULL)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        const char *name = entry->d_name;
        if (strncmp(name, "nvidia", 6) != 0)
            continue;
        const char *digits = name + 6;
        if (digits[0] < '0' || digits[0] > '9' || (digits[0] == '0' && digits[1] != '\0'))
            continue;
        unsigned minor = 0;
        int ok = 1;
        for (const char *c = digits; *c != '\0'; c++) {
            if (*c < '0' || *c > '9' || minor >= MOCK_MAX_GPU) {
                ok = 0;
                break;
            }
            minor = minor * 10 + (unsigned)(*c - '0');
        }
        /* Directories and other non-device entries of that name do not make a GPU. */
        if (ok && minor < MOCK_MAX_GPU && entry->d_type != DT_DIR)
            present[minor] = 1;
    }
    closedir(dir);
}
