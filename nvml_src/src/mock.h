/*
 * gpumock.nvidia mock NVML: shared internals of the library (not installed, not exported).
 *
 * All device data lives in static tables that outlive init/shutdown cycles, so a handle is
 * just an address inside g_devices: validating one is a range check that never dereferences
 * garbage, and a getter is a flag test, a range check and a copy.
 */
#ifndef GPUMOCK_NVML_MOCK_H
#define GPUMOCK_NVML_MOCK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "nvml.h"

/* Exported NVML entry points; everything else stays hidden (-fvisibility=hidden). */
#define MOCK_API __attribute__((visibility("default")))

#define MOCK_MAX_GPUS 254           /* minors 0..253; 254 and 255 are modeset and ctl */
#define MOCK_MAX_MIG_PROFILES 16
#define MOCK_STR 256                /* longest string value a config may hold, plus NUL */

struct mock_system {
    char driver_version[MOCK_STR];
    char nvml_version[MOCK_STR];
    unsigned long long cuda_driver_version;
    int visibility_all;              /* 0: only GPUs whose <dev_root>/nvidia<minor> exists */
    char dev_root[MOCK_STR];
};

struct mock_board {
    char name[MOCK_STR];
    unsigned long long brand, architecture, cc_major, cc_minor, cuda_cores, sm_count;
    unsigned long long memory_bus_width, memory_total_bytes, memory_reserved_bytes;
    unsigned long long bar1_total_bytes, pci_device_id, pci_subsystem_id;
    unsigned long long pcie_max_gen, pcie_max_width, bus_type;
    unsigned long long power_default_limit_mw, power_min_limit_mw, power_max_limit_mw;
    unsigned long long power_idle_mw;
    unsigned long long clock_graphics_max_mhz, clock_sm_max_mhz, clock_mem_max_mhz;
    unsigned long long clock_video_max_mhz, clock_graphics_idle_mhz, clock_mem_idle_mhz;
    unsigned long long clock_video_idle_mhz;
    unsigned long long temp_idle_c, temp_mem_idle_c, temp_shutdown_c, temp_slowdown_c;
    unsigned long long temp_gpu_max_c, temp_mem_max_c;
    char vbios_version[MOCK_STR];
    char board_part_number[MOCK_STR];
    char gpu_part_number[MOCK_STR];
    char inforom_image_version[MOCK_STR];
    unsigned long long num_fans, nvlink_count, gsp_firmware, ecc_supported, mig_capable;
};

struct mock_mig_profile {
    unsigned long long index, profile_id;
    char name[MOCK_STR];
    unsigned long long slice_count, instance_count, multiprocessor_count, memory_size_mb;
    unsigned long long copy_engine_count, decoder_count, encoder_count, jpeg_count, ofa_count;
};

struct mock_gpu_entry {
    unsigned long long index, minor;
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    char serial[NVML_DEVICE_SERIAL_BUFFER_SIZE];
    char pci_bus_id[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
    unsigned long long numa_node, mig_mode;
};

/* Everything one config file says; filled by mock_config_parse, consumed by init. */
struct mock_config {
    struct mock_system system;
    struct mock_board board;
    struct mock_mig_profile mig[MOCK_MAX_MIG_PROFILES];
    unsigned mig_count;
    struct mock_gpu_entry gpu[MOCK_MAX_GPUS];
    unsigned gpu_count;
};

/* One enumerated GPU: what every getter reads, precomputed at init. */
struct nvmlDevice_st {
    unsigned index;                  /* NVML index after visibility filtering */
    unsigned minor;
    unsigned numa_node;
    unsigned mig_mode;
    unsigned module_id;
    unsigned irq;
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    char serial[NVML_DEVICE_SERIAL_BUFFER_SIZE];
    nvmlPciInfo_t pci;
};

/* The loaded state. Written only under the init lock while no reference is held. */
extern struct mock_config g_config;
extern struct nvmlDevice_st g_devices[MOCK_MAX_GPUS];
extern unsigned g_device_count;
extern unsigned g_numa_count;        /* highest numa_node + 1 over the enumerated GPUs */
extern unsigned g_host_cpus;         /* CPUs shared out among NUMA nodes for affinity masks */
extern atomic_int g_live;            /* 1 while the init reference count is above zero */

/* Built-in configuration text (generated at build time from the Python default profile). */
extern const char mock_default_config[];
extern const size_t mock_default_config_len;

/* Parse config text. On failure fill err ("LINE: message") and return -1; *out is garbage. */
int mock_config_parse(const char *text, size_t len, struct mock_config *out,
                      char *err, size_t err_len);

/* Find and parse the config that applies to this process (see docs/nvml-config.md). */
nvmlReturn_t mock_config_load(struct mock_config *out);

/* Fill a bitmap of the minors whose <dev_root>/nvidia<minor> exists. */
void mock_visible_minors(const char *dev_root, unsigned char present[MOCK_MAX_GPUS]);

/* Copy a string into a caller's buffer, NVML style. */
nvmlReturn_t mock_copy_string(char *dst, unsigned int length, const char *src);

static inline int mock_live(void)
{
    return atomic_load_explicit(&g_live, memory_order_acquire);
}

/* A handle is valid only if it points exactly at one enumerated device. */
static inline struct nvmlDevice_st *mock_device(nvmlDevice_t handle)
{
    uintptr_t base = (uintptr_t)g_devices;
    uintptr_t addr = (uintptr_t)handle;
    if (addr < base)
        return NULL;
    uintptr_t offset = addr - base;
    if (offset % sizeof(struct nvmlDevice_st) != 0)
        return NULL;
    if (offset / sizeof(struct nvmlDevice_st) >= g_device_count)
        return NULL;
    return (struct nvmlDevice_st *)handle;
}

#define MOCK_REQUIRE(cond)                                                                   \
    if (!(cond))                                                                             \
        return NVML_ERROR_INVALID_ARGUMENT

#define MOCK_REQUIRE_LIVE()                                                                  \
    if (!mock_live())                                                                        \
        return NVML_ERROR_UNINITIALIZED

/*
 * The preamble of every device getter: UNINITIALIZED before init, INVALID_ARGUMENT for a
 * handle that is not ours. MOCK_DEVICE names the device for the getter; MOCK_CHECK_DEVICE is
 * for a getter whose answer is the same for every GPU.
 */
#define MOCK_DEVICE(var, handle)                                                             \
    MOCK_REQUIRE_LIVE();                                                                     \
    struct nvmlDevice_st *var = mock_device(handle);                                         \
    if (var == NULL)                                                                         \
        return NVML_ERROR_INVALID_ARGUMENT

#define MOCK_CHECK_DEVICE(handle)                                                            \
    MOCK_REQUIRE_LIVE();                                                                     \
    if (mock_device(handle) == NULL)                                                         \
        return NVML_ERROR_INVALID_ARGUMENT

#endif /* GPUMOCK_NVML_MOCK_H */
