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

/* A PCI location, as the config parser reads it from a bus id (mock_parse_bus_id). */
struct mock_bus_id {
    unsigned domain, bus, device, function;
};

/*
 * The config's structs (struct mock_system, mock_board, mock_mig_profile, mock_gpu and
 * mock_config), generated into the build directory from plugins/module_utils/facts/nvml_schema.py
 * by gen_schema.py. MOCK_MAX_GPU is 254: minors 0..253; 254 and 255 are modeset and ctl.
 */
#include "config_schema.h"
#include "live_state.h"

/* One enumerated GPU: what every getter reads, precomputed at init. */
struct nvmlDevice_st {
    unsigned index;                  /* NVML index after visibility filtering */
    unsigned slot;                   /* position in g_config.gpu: its record in the live state */
    unsigned minor;
    unsigned numa_node;
    unsigned module_id;
    unsigned irq;
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    char serial[NVML_DEVICE_SERIAL_BUFFER_SIZE];
    nvmlPciInfo_t pci;
};

/* The loaded state. Written only under the init lock while no reference is held. */
extern struct mock_config g_config;
extern struct nvmlDevice_st g_devices[MOCK_MAX_GPU];
extern unsigned g_device_count;
extern unsigned g_numa_count;        /* highest numa_node + 1 over the enumerated GPUs */
extern atomic_int g_live;            /* 1 while the init reference count is above zero */

/* Built-in configuration text (generated at build time from the Python default profile). */
extern const char mock_default_config[];
extern const size_t mock_default_config_len;

/* Parse config text. On failure fill err ("LINE: message") and return -1; *out is garbage. */
int mock_config_parse(const char *text, size_t len, struct mock_config *out,
                      char *err, size_t err_len);

/* The value of a hex digit of either case, or -1. */
int mock_hex_digit(char c);

/*
 * Parse a PCI bus id of len bytes: DDDDDDDD:BB:DD.F (a domain of 1 to 8 hex digits), any case,
 * and with allow_short also the domain-less BB:DD.F some tools pass. 0, or -1 for anything else.
 */
int mock_parse_bus_id(const char *text, size_t len, int allow_short, struct mock_bus_id *out);

/* Fill an NVML PCI info (ids from the board, busId and busIdLegacy formatted) for a location. */
void mock_pci_info(nvmlPciInfo_t *pci, const struct mock_bus_id *id);

/* Find and parse the config that applies to this process (see docs/nvml-config.md); path gets
 * the file it came from ("" for a config embedded in the library or built in). */
nvmlReturn_t mock_config_load(struct mock_config *out, char *path, size_t path_size);

/* Read a whole regular file (at most MOCK_CONFIG_MAX_BYTES) into a NUL-terminated buffer to
 * free; NULL on failure, with errno set and why saying it ("it is a directory, not a regular
 * file", or strerror's text). Never blocks on a FIFO or reads a device. */
char *mock_read_file(const char *path, size_t *len_out, char *why, size_t why_size);

/* Fill a bitmap of the minors whose <dev_root>/nvidia<minor> exists. */
void mock_visible_minors(const char *dev_root, unsigned char present[MOCK_MAX_GPU]);

/* The name nvidia-mock-ctl gave a process of pid on any enumerated GPU: 0, or -1 if none. */
int mock_live_process_name(unsigned pid, char out[MOCK_LIVE_NAME_MAX + 1]);

/* What a MIG device handle names (mig_device.c). */
struct mock_mig_device {
    struct nvmlDevice_st *parent;
    unsigned gi, ci;                 /* GPU- and compute-instance ids */
    unsigned gi_slices, ci_slices;
    unsigned long long memory_bytes; /* the GPU instance's */
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    nvmlDeviceAttributes_t attributes;
};

/*
 * 1 when `handle` is a MIG device handle, with *rc NVML_SUCCESS and *out filled while its compute
 * instance exists (else the error a getter returns for it); 0 for any other handle. The getters
 * that answer for MIG devices too ask this first.
 */
int mock_mig_device(nvmlDevice_t handle, struct mock_mig_device *out, nvmlReturn_t *rc);

/* The MIG device of a MIG-… UUID on any enumerated GPU: NVML_SUCCESS or NOT_FOUND. */
nvmlReturn_t mock_mig_device_by_uuid(const char *uuid, nvmlDevice_t *device);

/* Derive the MIG layout keys and initial instances from the config (mig_state.c); at init. */
void mock_mig_init(void);

/* Free every event set (events.c): at the last nvmlShutdown, under the init lock. */
void mock_events_free_all(void);

/* Copy a string into a caller's buffer, NVML style. */
nvmlReturn_t mock_copy_string(char *dst, unsigned int length, const char *src);

/*
 * Getters shared by a public function and an nvmlInternalGetExportTable entry that nvidia-smi
 * calls as (device, pointer to the value): the T.Limit margin (C) and the addressing mode.
 */
nvmlReturn_t mock_margin_temperature(nvmlDevice_t device, int *margin);
nvmlReturn_t mock_addressing_mode(nvmlDevice_t device, unsigned int *mode);

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
 * handle that is not ours, GPU_IS_LOST for a GPU nvidia-mock-ctl marked lost. MOCK_DEVICE names
 * the device for the getter; MOCK_CHECK_DEVICE is for a getter whose answer is the same for
 * every GPU.
 */
#define MOCK_DEVICE(var, handle)                                                             \
    MOCK_REQUIRE_LIVE();                                                                     \
    struct nvmlDevice_st *var = mock_device(handle);                                         \
    if (var == NULL)                                                                         \
        return NVML_ERROR_INVALID_ARGUMENT;                                                  \
    if (mock_live_lost(var->slot))                                                           \
        return NVML_ERROR_GPU_IS_LOST

#define MOCK_CHECK_DEVICE(handle)                                                            \
    MOCK_DEVICE(mock_checked_device_, handle);                                               \
    (void)mock_checked_device_

#endif /* GPUMOCK_NVML_MOCK_H */
