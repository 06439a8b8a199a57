/* Framebuffer, BAR1, ECC and row-remapping getters: an idle board with no errors. */
#include <string.h>

#include "mock.h"

/* What applications use: nvidia-mock-ctl's memory.used (MiB), else nothing. */
static unsigned long long live_used_bytes(const struct nvmlDevice_st *dev)
{
    return mock_live_value(dev->slot, MOCK_LIVE_MEM_USED, 0) << 20;
}

/* The ECC counter nvidia-mock-ctl sets for a kind of error and counter (0 until it does). */
static unsigned long long live_ecc(const struct nvmlDevice_st *dev,
                                   nvmlMemoryErrorType_t errorType,
                                   nvmlEccCounterType_t counterType)
{
    static const enum mock_live_key keys[NVML_MEMORY_ERROR_TYPE_COUNT][NVML_ECC_COUNTER_TYPE_COUNT] = {
        [NVML_MEMORY_ERROR_TYPE_CORRECTED] = { [NVML_VOLATILE_ECC] = MOCK_LIVE_ECC_CORR_VOL,
                                               [NVML_AGGREGATE_ECC] = MOCK_LIVE_ECC_CORR_AGG },
        [NVML_MEMORY_ERROR_TYPE_UNCORRECTED] = { [NVML_VOLATILE_ECC] = MOCK_LIVE_ECC_UNC_VOL,
                                                 [NVML_AGGREGATE_ECC] = MOCK_LIVE_ECC_UNC_AGG },
    };
    return mock_live_value(dev->slot, keys[errorType][counterType], 0);
}

/* A MIG device's memory is its GPU instance's, all free. */
static nvmlReturn_t mig_memory(const struct mock_mig_device *mig, unsigned long long *total)
{
    *total = mig->memory_bytes;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    struct mock_mig_device mig;
    nvmlReturn_t rc;
    if (mock_mig_device(device, &mig, &rc)) {
        if (rc != NVML_SUCCESS)
            return rc;
        MOCK_REQUIRE(memory != NULL);
        mig_memory(&mig, &memory->total);
        memory->free = memory->total;
        memory->used = 0;
        return NVML_SUCCESS;
    }
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(memory != NULL);
    const struct mock_board *b = &g_config.board;
    unsigned long long used = live_used_bytes(dev);
    /* v1 counts the driver's reservation as used, as the real library does. */
    memory->total = b->memory_total_bytes;
    memory->used = b->memory_reserved_bytes + used;
    memory->free = b->memory_total_bytes - b->memory_reserved_bytes - used;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    struct mock_mig_device mig;
    nvmlReturn_t rc;
    if (mock_mig_device(device, &mig, &rc)) {
        if (rc != NVML_SUCCESS)
            return rc;
        MOCK_REQUIRE(memory != NULL);
        if (memory->version != nvmlMemory_v2)
            return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
        mig_memory(&mig, &memory->total);
        memory->reserved = 0;
        memory->free = memory->total;
        memory->used = 0;
        return NVML_SUCCESS;
    }
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(memory != NULL);
    if (memory->version != nvmlMemory_v2)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    const struct mock_board *b = &g_config.board;
    unsigned long long used = live_used_bytes(dev);
    memory->total = b->memory_total_bytes;
    memory->reserved = b->memory_reserved_bytes;
    memory->used = used;
    memory->free = b->memory_total_bytes - b->memory_reserved_bytes - used;
    return NVML_SUCCESS;
}

/* What the driver maps through BAR1 on an idle GPU (read off the H100 reference). */
#define BAR1_USED_BYTES 1703936ULL

MOCK_API nvmlReturn_t nvmlDeviceGetBAR1MemoryInfo(nvmlDevice_t device, nvmlBAR1Memory_t *bar1Memory)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(bar1Memory != NULL);
    unsigned long long total = g_config.board.bar1_total_bytes;
    /* A BAR1 smaller than what an idle driver maps is all used, not a wrapped free size. */
    unsigned long long used = total < BAR1_USED_BYTES ? total : BAR1_USED_BYTES;
    bar1Memory->bar1Total = total;
    bar1Memory->bar1Used = used;
    bar1Memory->bar1Free = total - used;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetMemoryBusWidth(nvmlDevice_t device, unsigned int *busWidth)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(busWidth != NULL);
    *busWidth = (unsigned)g_config.board.memory_bus_width;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetConfComputeMemSizeInfo(nvmlDevice_t device,
                                                          nvmlConfComputeMemSizeInfo_t *memInfo)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(memInfo != NULL);
    const struct mock_board *b = &g_config.board;
    memInfo->protectedMemSizeKib = 0;
    memInfo->unprotectedMemSizeKib = (b->memory_total_bytes - b->memory_reserved_bytes) / 1024;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetConfComputeProtectedMemoryUsage(nvmlDevice_t device,
                                                                   nvmlMemory_t *memory)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(memory != NULL);
    memset(memory, 0, sizeof *memory);
    return NVML_SUCCESS;
}

#define MOCK_ECC_DEVICE(var, handle)                                                         \
    MOCK_DEVICE(var, handle);                                                                \
    if (!g_config.board.ecc_supported)                                                       \
        return NVML_ERROR_NOT_SUPPORTED

MOCK_API nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t device, nvmlEnableState_t *current,
                                           nvmlEnableState_t *pending)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(current != NULL && pending != NULL);
    if (!g_config.board.ecc_supported)
        return NVML_ERROR_NOT_SUPPORTED;
    *current = NVML_FEATURE_ENABLED;
    *pending = NVML_FEATURE_ENABLED;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetDefaultEccMode(nvmlDevice_t device,
                                                  nvmlEnableState_t *defaultMode)
{
    MOCK_ECC_DEVICE(dev, device);
    MOCK_REQUIRE(defaultMode != NULL);
    *defaultMode = NVML_FEATURE_ENABLED;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device,
                                                  nvmlMemoryErrorType_t errorType,
                                                  nvmlEccCounterType_t counterType,
                                                  unsigned long long *eccCounts)
{
    MOCK_ECC_DEVICE(dev, device);
    MOCK_REQUIRE(eccCounts != NULL);
    MOCK_REQUIRE((unsigned)errorType < NVML_MEMORY_ERROR_TYPE_COUNT);
    MOCK_REQUIRE((unsigned)counterType < NVML_ECC_COUNTER_TYPE_COUNT);
    *eccCounts = live_ecc(dev, errorType, counterType);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetDetailedEccErrors(nvmlDevice_t device,
                                                     nvmlMemoryErrorType_t errorType,
                                                     nvmlEccCounterType_t counterType,
                                                     nvmlEccErrorCounts_t *eccCounts)
{
    MOCK_ECC_DEVICE(dev, device);
    MOCK_REQUIRE(eccCounts != NULL);
    MOCK_REQUIRE((unsigned)errorType < NVML_MEMORY_ERROR_TYPE_COUNT);
    MOCK_REQUIRE((unsigned)counterType < NVML_ECC_COUNTER_TYPE_COUNT);
    memset(eccCounts, 0, sizeof *eccCounts);
    eccCounts->deviceMemory = live_ecc(dev, errorType, counterType);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetMemoryErrorCounter(nvmlDevice_t device,
                                                      nvmlMemoryErrorType_t errorType,
                                                      nvmlEccCounterType_t counterType,
                                                      nvmlMemoryLocation_t locationType,
                                                      unsigned long long *count)
{
    MOCK_ECC_DEVICE(dev, device);
    MOCK_REQUIRE(count != NULL);
    MOCK_REQUIRE((unsigned)errorType < NVML_MEMORY_ERROR_TYPE_COUNT);
    MOCK_REQUIRE((unsigned)counterType < NVML_ECC_COUNTER_TYPE_COUNT);
    MOCK_REQUIRE((unsigned)locationType < NVML_MEMORY_LOCATION_COUNT);
    /* Every error nvidia-mock-ctl counts is in device memory (DRAM). */
    *count = locationType == NVML_MEMORY_LOCATION_DEVICE_MEMORY ?
             live_ecc(dev, errorType, counterType) : 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned int *corrRows,
                                                unsigned int *uncRows, unsigned int *isPending,
                                                unsigned int *failureOccurred)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(corrRows != NULL && uncRows != NULL && isPending != NULL &&
                 failureOccurred != NULL);
    *corrRows = *uncRows = *isPending = *failureOccurred = 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetRemappedRows_v2(nvmlDevice_t device,
                                                   nvmlRemappedRowsInfo_v2_t *info)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(info != NULL);
    memset(info, 0, sizeof *info);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetRowRemapperHistogram(nvmlDevice_t device,
                                                        nvmlRowRemapperHistogramValues_t *values)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(values != NULL);
    memset(values, 0, sizeof *values);
    /* Every bank has all its spare rows; HBM boards have one bank per two bits of bus. */
    values->max = (unsigned)(g_config.board.memory_bus_width / 2);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetRepairStatus(nvmlDevice_t device,
                                                nvmlRepairStatus_t *repairStatus)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(repairStatus != NULL);
    repairStatus->bChannelRepairPending = 0;
    repairStatus->bTpcRepairPending = 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetUnrepairableMemoryFlag_v1(
    nvmlDevice_t device, nvmlUnrepairableMemoryStatus_v1_t *unrepairableMemoryStatus)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(unrepairableMemoryStatus != NULL);
    unrepairableMemoryStatus->bUnrepairableMemory = 0;
    return NVML_SUCCESS;
}

/*
 * SRAM ECC counters and the field-diagnostic threshold (Ampere and newer, with ECC): an idle
 * board has none, as the reference H100 shows.
 */
MOCK_API nvmlReturn_t nvmlDeviceGetSramEccErrorStatus(nvmlDevice_t device,
                                                      nvmlEccSramErrorStatus_t *status)
{
    MOCK_ECC_DEVICE(dev, device);
    MOCK_REQUIRE(status != NULL);
    if (g_config.board.architecture < NVML_DEVICE_ARCH_AMPERE)
        return NVML_ERROR_NOT_SUPPORTED;
    if (status->version != nvmlEccSramErrorStatus_v1)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    memset(status, 0, sizeof *status);
    status->version = nvmlEccSramErrorStatus_v1;
    return NVML_SUCCESS;
}
