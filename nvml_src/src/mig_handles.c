/*
 * Handles of GPU instances, compute instances and MIG devices (mig.h): addresses of bytes in
 * static tables, one byte per (GPU, GPU-instance id[, compute-instance id]). A handle is
 * decoded by its offset alone, so a caller's garbage is never dereferenced.
 */
#include "mig.h"

static unsigned char g_gi_handles[MOCK_MAX_GPU][MOCK_MIG_MAX_GI];
static unsigned char g_ci_handles[MOCK_MAX_GPU][MOCK_MIG_MAX_GI][MOCK_MIG_MAX_CI];
static unsigned char g_mig_handles[MOCK_MAX_GPU][MOCK_MIG_MAX_GI][MOCK_MIG_MAX_CI];

/* The ids of a byte of `table` (`size` bytes, `per_gi` bytes per GPU instance) on an enumerated
 * GPU: 0, or -1 for an address outside it. */
static int decode(const void *table, size_t size, unsigned per_gi, const void *handle,
                  unsigned *device, unsigned *gi, unsigned *ci)
{
    uintptr_t base = (uintptr_t)table, addr = (uintptr_t)handle;
    if (addr < base || addr - base >= size)
        return -1;
    uintptr_t offset = addr - base, per_gpu = (uintptr_t)MOCK_MIG_MAX_GI * per_gi;
    if (offset / per_gpu >= g_device_count)
        return -1;
    *device = (unsigned)(offset / per_gpu);
    *gi = (unsigned)(offset / per_gi % MOCK_MIG_MAX_GI);
    *ci = (unsigned)(offset % per_gi);
    return 0;
}

nvmlGpuInstance_t mock_gi_handle(unsigned device, unsigned gi)
{
    return (nvmlGpuInstance_t)(void *)&g_gi_handles[device][gi];
}

int mock_gi_decode(nvmlGpuInstance_t handle, unsigned *device, unsigned *gi)
{
    unsigned unused;
    return decode(g_gi_handles, sizeof g_gi_handles, 1, handle, device, gi, &unused);
}

nvmlComputeInstance_t mock_ci_handle(unsigned device, unsigned gi, unsigned ci)
{
    return (nvmlComputeInstance_t)(void *)&g_ci_handles[device][gi][ci];
}

int mock_ci_decode(nvmlComputeInstance_t handle, unsigned *device, unsigned *gi, unsigned *ci)
{
    return decode(g_ci_handles, sizeof g_ci_handles, MOCK_MIG_MAX_CI, handle, device, gi, ci);
}

nvmlDevice_t mock_mig_device_handle(unsigned device, unsigned gi, unsigned ci)
{
    return (nvmlDevice_t)(void *)&g_mig_handles[device][gi][ci];
}

int mock_mig_device_decode(nvmlDevice_t handle, unsigned *device, unsigned *gi, unsigned *ci)
{
    return decode(g_mig_handles, sizeof g_mig_handles, MOCK_MIG_MAX_CI, handle, device, gi, ci);
}

nvmlReturn_t mock_mig_gpu(unsigned device, struct nvmlDevice_st **dev, struct mock_mig_state *st)
{
    *dev = &g_devices[device];
    if (mock_live_lost((*dev)->slot))
        return NVML_ERROR_GPU_IS_LOST;
    mock_mig_read((*dev)->slot, st);
    return NVML_SUCCESS;
}
