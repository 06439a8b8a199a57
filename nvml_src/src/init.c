/*
 * nvmlInit* / nvmlShutdown: a reference count, as in the real library. The first init reads
 * the config and builds the device table; later ones only count. Getters never take the lock:
 * they test g_live, which is published after the table is complete.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

struct mock_config g_config;
struct nvmlDevice_st g_devices[MOCK_MAX_GPU];
unsigned g_device_count;
unsigned g_numa_count;
atomic_int g_live;

static pthread_mutex_t g_init_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_refcount;

/* Upper-case hex of v in exactly `digits` characters; returns the end. */
static char *put_hex(char *out, unsigned v, int digits)
{
    static const char hex[] = "0123456789ABCDEF";
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = hex[v & 0xf];
        v >>= 4;
    }
    return out + digits;
}

/* "%0*X:%02X:%02X.%X" without snprintf, which would dominate init on 128-GPU nodes. */
static void format_bus_id(char *out, int domain_digits, unsigned domain, unsigned bus,
                          unsigned device, unsigned function)
{
    out = put_hex(out, domain, domain_digits);
    *out++ = ':';
    out = put_hex(out, bus, 2);
    *out++ = ':';
    out = put_hex(out, device, 2);
    *out++ = '.';
    out = put_hex(out, function, 1);
    *out = '\0';
}

void mock_pci_info(nvmlPciInfo_t *pci, const struct mock_bus_id *id)
{
    memset(pci, 0, sizeof *pci);
    pci->domain = id->domain;
    pci->bus = id->bus;
    pci->device = id->device;
    pci->pciDeviceId = (unsigned)g_config.board.pci_device_id;
    pci->pciSubSystemId = (unsigned)g_config.board.pci_subsystem_id;
    format_bus_id(pci->busId, 8, id->domain, id->bus, id->device, id->function);
    format_bus_id(pci->busIdLegacy, 4, id->domain & 0xffff, id->bus, id->device, id->function);
}

/* A container sees its nodes under /dev whatever the host's dev root was: our CDI spec says so
 * through MOCK_NVML_DEV_ROOT, which wins over the config, and a config embedded in the library
 * file always says /dev (config_load.c). */
static const char *visible_dev_root(void)
{
    const char *env = getenv("MOCK_NVML_DEV_ROOT");
    return (env != NULL && env[0] != '\0') ? env : g_config.system.dev_root;
}

/*
 * Map the node's live state (live_state.h) for the getters, creating the file when it is missing
 * and its directory lets us, so that nvidia-mock-ctl's later changes reach this process. A
 * re-init of the same node keeps the mapping; a re-init with another config maps that node's
 * (no reference is held then, so no getter is reading the old one).
 */
static void map_live_state(const char *config_path)
{
    char path[sizeof g_live_path];
    if (mock_live_path(config_path, path, sizeof path) != 0)
        path[0] = '\0';
    if (g_live_file != NULL && strcmp(path, g_live_path) == 0)
        return;
    mock_live_unmap(g_live_file);
    g_live_file = path[0] != '\0' ? mock_live_map(path, 1) : NULL;
    memcpy(g_live_path, path, sizeof path);
}

static void build_devices(void)
{
    unsigned char present[MOCK_MAX_GPU];
    int all = g_config.system.visibility == MOCK_SYSTEM_VISIBILITY_ALL;
    if (!all)
        mock_visible_minors(visible_dev_root(), present);
    unsigned count = 0;
    unsigned numa_count = 0;
    for (unsigned i = 0; i < g_config.gpu_count; i++) {
        const struct mock_gpu *entry = &g_config.gpu[i];
        if (!all && !present[entry->minor])
            continue;
        struct nvmlDevice_st *dev = &g_devices[count];
        dev->index = count;
        dev->slot = i;
        dev->minor = (unsigned)entry->minor;
        dev->numa_node = (unsigned)entry->numa_node;
        /* Baseboard slot: stable whatever the container sees. */
        dev->module_id = (unsigned)entry->index + 1;
        dev->irq = 41 + (unsigned)entry->index;
        memcpy(dev->uuid, entry->uuid, sizeof dev->uuid);
        memcpy(dev->serial, entry->serial, sizeof dev->serial);
        mock_pci_info(&dev->pci, &entry->pci_bus_id);
        if (dev->numa_node + 1 > numa_count)
            numa_count = dev->numa_node + 1;
        count++;
    }
    g_device_count = count;
    g_numa_count = numa_count;
}

MOCK_API nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;                     /* NO_GPUS / NO_ATTACH change nothing for a mock */
    pthread_mutex_lock(&g_init_lock);
    if (g_refcount == 0) {
        char config_path[4096];
        nvmlReturn_t rc = mock_config_load(&g_config, config_path, sizeof config_path);
        if (rc != NVML_SUCCESS) {
            g_device_count = 0;
            pthread_mutex_unlock(&g_init_lock);
            return rc;
        }
        map_live_state(config_path);
        build_devices();
        mock_mig_init();
        atomic_store_explicit(&g_live, 1, memory_order_release);
    }
    g_refcount++;
    pthread_mutex_unlock(&g_init_lock);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlInit_v2(void)
{
    return nvmlInitWithFlags(0);
}

MOCK_API nvmlReturn_t nvmlInit(void)
{
    return nvmlInitWithFlags(0);
}

MOCK_API nvmlReturn_t nvmlShutdown(void)
{
    pthread_mutex_lock(&g_init_lock);
    if (g_refcount == 0) {
        pthread_mutex_unlock(&g_init_lock);
        return NVML_ERROR_UNINITIALIZED;
    }
    if (--g_refcount == 0) {
        atomic_store_explicit(&g_live, 0, memory_order_release);
        mock_events_free_all();
    }
    pthread_mutex_unlock(&g_init_lock);
    return NVML_SUCCESS;
}
