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
struct nvmlDevice_st g_devices[MOCK_MAX_GPUS];
unsigned g_device_count;
unsigned g_numa_count;
atomic_int g_live;

static pthread_mutex_t g_init_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_refcount;

static unsigned hex_value(const char *s, const char **end)
{
    unsigned v = 0;
    for (;; s++) {
        char c = *s;
        if (c >= '0' && c <= '9')
            v = v * 16 + (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v = v * 16 + (unsigned)(c - 'A' + 10);
        else
            break;
    }
    *end = s;
    return v;
}

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

/* The parser has already checked the DDDDDDDD:BB:DD.F shape. */
static void fill_pci(nvmlPciInfo_t *pci, const char *bus_id, const struct mock_board *board)
{
    const char *p;
    unsigned domain = hex_value(bus_id, &p);
    unsigned bus = hex_value(p + 1, &p);
    unsigned device = hex_value(p + 1, &p);
    unsigned function = hex_value(p + 1, &p);
    memset(pci, 0, sizeof *pci);
    pci->domain = domain;
    pci->bus = bus;
    pci->device = device;
    pci->pciDeviceId = (unsigned)board->pci_device_id;
    pci->pciSubSystemId = (unsigned)board->pci_subsystem_id;
    format_bus_id(pci->busId, 8, domain, bus, device, function);
    format_bus_id(pci->busIdLegacy, 4, domain & 0xffff, bus, device, function);
}

/* A container sees its nodes under /dev whatever the host's dev root was: our CDI spec says so
 * through MOCK_NVML_DEV_ROOT, which wins over the config, and a config embedded in the library
 * file always says /dev (config_load.c). */
static const char *visible_dev_root(void)
{
    const char *env = getenv("MOCK_NVML_DEV_ROOT");
    return (env != NULL && env[0] != '\0') ? env : g_config.system.dev_root;
}

static void build_devices(void)
{
    unsigned char present[MOCK_MAX_GPUS];
    if (!g_config.system.visibility_all)
        mock_visible_minors(visible_dev_root(), present);
    unsigned count = 0;
    unsigned numa_count = 0;
    for (unsigned i = 0; i < g_config.gpu_count; i++) {
        const struct mock_gpu_entry *entry = &g_config.gpu[i];
        if (!g_config.system.visibility_all && !present[entry->minor])
            continue;
        struct nvmlDevice_st *dev = &g_devices[count];
        dev->index = count;
        dev->minor = (unsigned)entry->minor;
        dev->numa_node = (unsigned)entry->numa_node;
        dev->mig_mode = (unsigned)entry->mig_mode;
        /* Baseboard slot: stable whatever the container sees. */
        dev->module_id = (unsigned)entry->index + 1;
        dev->irq = 41 + (unsigned)entry->index;
        memcpy(dev->uuid, entry->uuid, sizeof dev->uuid);
        memcpy(dev->serial, entry->serial, sizeof dev->serial);
        fill_pci(&dev->pci, entry->pci_bus_id, &g_config.board);
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
        nvmlReturn_t rc = mock_config_load(&g_config);
        if (rc != NVML_SUCCESS) {
            g_device_count = 0;
            pthread_mutex_unlock(&g_init_lock);
            return rc;
        }
        build_devices();
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
    if (--g_refcount == 0)
        atomic_store_explicit(&g_live, 0, memory_order_release);
    pthread_mutex_unlock(&g_init_lock);
    return NVML_SUCCESS;
}
