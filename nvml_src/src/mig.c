/*
 * MIG: mode and the GPU-instance profiles of the board. The mock creates no GPU instances, so
 * a MIG-enabled GPU looks like one right after `nvidia-smi -mig 1`, before any are created.
 */
#include <string.h>

#include "mock.h"

static const struct mock_mig_profile *find_profile(unsigned index)
{
    for (unsigned i = 0; i < g_config.mig_profile_count; i++)
        if (g_config.mig_profile[i].index == index)
            return &g_config.mig_profile[i];
    return NULL;
}

static const struct mock_mig_profile *find_profile_id(unsigned id)
{
    for (unsigned i = 0; i < g_config.mig_profile_count; i++)
        if (g_config.mig_profile[i].profile_id == id)
            return &g_config.mig_profile[i];
    return NULL;
}

/* After the device check: a board without MIG supports none of the MIG queries. */
#define MOCK_MIG_SUPPORTED()                                                                 \
    if (!g_config.board.mig_capable)                                                         \
        return NVML_ERROR_NOT_SUPPORTED

MOCK_API nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
                                           unsigned int *pendingMode)
{
    MOCK_DEVICE(dev, device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(currentMode != NULL && pendingMode != NULL);
    *currentMode = dev->mig_mode;
    *pendingMode = dev->mig_mode;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    MOCK_DEVICE(dev, device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(count != NULL);
    unsigned most = 0;
    if (dev->mig_mode)
        for (unsigned i = 0; i < g_config.mig_profile_count; i++)
            if (g_config.mig_profile[i].instance_count > most)
                most = (unsigned)g_config.mig_profile[i].instance_count;
    *count = most;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(isMigDevice != NULL);
    *isMigDevice = 0;
    return NVML_SUCCESS;
}

/* The GPU-instance and compute-instance ids exist only for MIG device handles. */
MOCK_API nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
    MOCK_CHECK_DEVICE(device);
    (void)id;
    return NVML_ERROR_INVALID_ARGUMENT;
}

MOCK_API nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
    MOCK_CHECK_DEVICE(device);
    (void)id;
    return NVML_ERROR_INVALID_ARGUMENT;
}

MOCK_API nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t migDevice,
                                                                  nvmlDevice_t *device)
{
    MOCK_CHECK_DEVICE(migDevice);
    (void)device;
    return NVML_ERROR_INVALID_ARGUMENT;
}

MOCK_API nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                          nvmlDevice_t *migDevice)
{
    MOCK_DEVICE(dev, device);
    MOCK_MIG_SUPPORTED();
    (void)index;
    MOCK_REQUIRE(migDevice != NULL);
    if (!dev->mig_mode)
        return NVML_ERROR_INVALID_ARGUMENT;
    return NVML_ERROR_NOT_FOUND;
}

/* Full-board attributes are what a MIG device reports; a whole GPU has none. */
MOCK_API nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t device,
                                                 nvmlDeviceAttributes_t *attributes)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(attributes != NULL);
    return NVML_ERROR_NOT_SUPPORTED;
}

MOCK_API nvmlReturn_t nvmlDeviceGetAttributes(nvmlDevice_t device, nvmlDeviceAttributes_t *attributes)
{
    return nvmlDeviceGetAttributes_v2(device, attributes);
}

static void fill_v1(nvmlGpuInstanceProfileInfo_t *info, const struct mock_mig_profile *p)
{
    info->id = (unsigned)p->profile_id;
    info->isP2pSupported = 0;
    info->sliceCount = (unsigned)p->slice_count;
    info->instanceCount = (unsigned)p->instance_count;
    info->multiprocessorCount = (unsigned)p->multiprocessor_count;
    info->copyEngineCount = (unsigned)p->copy_engine_count;
    info->decoderCount = (unsigned)p->decoder_count;
    info->encoderCount = (unsigned)p->encoder_count;
    info->jpegCount = (unsigned)p->jpeg_count;
    info->ofaCount = (unsigned)p->ofa_count;
    info->memorySizeMB = p->memory_size_mb;
}

static void fill_v2(nvmlGpuInstanceProfileInfo_v2_t *info, const struct mock_mig_profile *p)
{
    nvmlGpuInstanceProfileInfo_t v1;
    fill_v1(&v1, p);
    info->id = v1.id;
    info->isP2pSupported = v1.isP2pSupported;
    info->sliceCount = v1.sliceCount;
    info->instanceCount = v1.instanceCount;
    info->multiprocessorCount = v1.multiprocessorCount;
    info->copyEngineCount = v1.copyEngineCount;
    info->decoderCount = v1.decoderCount;
    info->encoderCount = v1.encoderCount;
    info->jpegCount = v1.jpegCount;
    info->ofaCount = v1.ofaCount;
    info->memorySizeMB = v1.memorySizeMB;
    memset(info->name, 0, sizeof info->name);
    memcpy(info->name, p->name, strlen(p->name));
}

/* Real NVML answers profile queries even with MIG off: they describe what could be made. */
MOCK_API nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfo(nvmlDevice_t device, unsigned int profile,
                                                          nvmlGpuInstanceProfileInfo_t *info)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(info != NULL && profile < NVML_GPU_INSTANCE_PROFILE_COUNT);
    const struct mock_mig_profile *p = find_profile(profile);
    if (p == NULL)
        return NVML_ERROR_NOT_SUPPORTED;
    fill_v1(info, p);
    return NVML_SUCCESS;
}

static void fill_v3(nvmlGpuInstanceProfileInfo_v3_t *info, const struct mock_mig_profile *p)
{
    nvmlGpuInstanceProfileInfo_t v1;
    fill_v1(&v1, p);
    info->id = v1.id;
    info->sliceCount = v1.sliceCount;
    info->instanceCount = v1.instanceCount;
    info->multiprocessorCount = v1.multiprocessorCount;
    info->copyEngineCount = v1.copyEngineCount;
    info->decoderCount = v1.decoderCount;
    info->encoderCount = v1.encoderCount;
    info->jpegCount = v1.jpegCount;
    info->ofaCount = v1.ofaCount;
    info->memorySizeMB = v1.memorySizeMB;
    memset(info->name, 0, sizeof info->name);
    memcpy(info->name, p->name, strlen(p->name));
    info->capabilities = v1.isP2pSupported ? NVML_GPU_INSTANCE_PROFILE_CAPS_P2P : 0;
}

/* 0 is accepted as the real library does, and then means the v2 layout. */
static int profile_version_ok(unsigned version)
{
    return version == 0 || (version >> 24) == 2 || (version >> 24) == 3;
}

/* The caller's version picks the layout: v3 is not a v2 prefix (isP2pSupported moved). */
static void fill_versioned(nvmlGpuInstanceProfileInfo_v2_t *info, const struct mock_mig_profile *p)
{
    if ((info->version >> 24) == 3)
        fill_v3((nvmlGpuInstanceProfileInfo_v3_t *)(void *)info, p);
    else
        fill_v2(info, p);
}

MOCK_API nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoV(nvmlDevice_t device, unsigned int profile,
                                                           nvmlGpuInstanceProfileInfo_v2_t *info)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(info != NULL && profile < NVML_GPU_INSTANCE_PROFILE_COUNT);
    if (!profile_version_ok(info->version))
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    const struct mock_mig_profile *p = find_profile(profile);
    if (p == NULL)
        return NVML_ERROR_NOT_SUPPORTED;
    fill_versioned(info, p);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoByIdV(nvmlDevice_t device,
                                                               unsigned int profileId,
                                                               nvmlGpuInstanceProfileInfo_v2_t *info)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(info != NULL);
    if (!profile_version_ok(info->version))
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    const struct mock_mig_profile *p = find_profile_id(profileId);
    if (p == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    fill_versioned(info, p);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetGpuInstanceRemainingCapacity(nvmlDevice_t device,
                                                                unsigned int profileId,
                                                                unsigned int *count)
{
    MOCK_DEVICE(dev, device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(count != NULL);
    const struct mock_mig_profile *p = find_profile_id(profileId);
    if (p == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!dev->mig_mode)
        return NVML_ERROR_INVALID_STATE;
    *count = (unsigned)p->instance_count;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetGpuInstances(nvmlDevice_t device, unsigned int profileId,
                                                nvmlGpuInstance_t *gpuInstances, unsigned int *count)
{
    MOCK_DEVICE(dev, device);
    MOCK_MIG_SUPPORTED();
    (void)gpuInstances;
    MOCK_REQUIRE(count != NULL);
    if (find_profile_id(profileId) == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!dev->mig_mode)
        return NVML_ERROR_INVALID_STATE;
    *count = 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetGpuInstanceById(nvmlDevice_t device, unsigned int id,
                                                   nvmlGpuInstance_t *gpuInstance)
{
    MOCK_DEVICE(dev, device);
    MOCK_MIG_SUPPORTED();
    (void)id;
    MOCK_REQUIRE(gpuInstance != NULL);
    if (!dev->mig_mode)
        return NVML_ERROR_INVALID_STATE;
    return NVML_ERROR_NOT_FOUND;
}

/* Placements: the instances of a profile spread evenly over the GPU's 8 memory slices. */
static nvmlReturn_t placements(nvmlDevice_t device, unsigned int profileId,
                               nvmlGpuInstancePlacement_t *out, unsigned int *count)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(count != NULL);
    const struct mock_mig_profile *p = find_profile_id(profileId);
    if (p == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned size = p->slice_count == 7 ? 8 : (unsigned)p->slice_count;
    unsigned n = (unsigned)p->instance_count;
    if (n == 0 || n > 8)
        n = 0;
    if (out == NULL) {
        *count = n;
        return NVML_SUCCESS;
    }
    if (*count < n) {
        *count = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (unsigned i = 0; i < n; i++) {
        out[i].start = i * (8 / n);
        out[i].size = size;
    }
    *count = n;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetGpuInstancePossiblePlacements_v2(
    nvmlDevice_t device, unsigned int profileId, nvmlGpuInstancePlacement_t *placementsOut,
    unsigned int *count)
{
    return placements(device, profileId, placementsOut, count);
}

MOCK_API nvmlReturn_t nvmlDeviceGetGpuInstancePossiblePlacements(
    nvmlDevice_t device, unsigned int profileId, nvmlGpuInstancePlacement_t *placementsOut,
    unsigned int *count)
{
    return placements(device, profileId, placementsOut, count);
}
