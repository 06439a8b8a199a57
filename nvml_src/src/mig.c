/*
 * MIG: the mode and the GPU-instance profiles of the board, with their placements. The
 * instances themselves: gpu_instance.c, compute_instance.c, mig_device.c (mig.h).
 */
#include <string.h>

#include "mig.h"

const struct mock_mig_profile *mock_mig_profile_by_index(unsigned index)
{
    for (unsigned i = 0; i < g_config.mig_profile_count; i++)
        if (g_config.mig_profile[i].index == index)
            return &g_config.mig_profile[i];
    return NULL;
}

const struct mock_mig_profile *mock_mig_profile_by_id(unsigned id)
{
    for (unsigned i = 0; i < g_config.mig_profile_count; i++)
        if (g_config.mig_profile[i].profile_id == id)
            return &g_config.mig_profile[i];
    return NULL;
}

/* Sizes 8, 4, 2 and 1 memory slices, and the first id of each. */
static const unsigned gi_sizes[] = { 8, 4, 2, 1 };
static const unsigned gi_first_id[] = { 0, 1, 3, 7 };

unsigned mock_mig_gi_id(unsigned start, unsigned size)
{
    for (unsigned i = 0; i < 4; i++)
        if (size == gi_sizes[i] && start % size == 0 && start + size <= MOCK_MIG_MEMORY_SLICES)
            return gi_first_id[i] + start / size;
    return ~0u;
}

nvmlGpuInstancePlacement_t mock_mig_gi_placement(unsigned id)
{
    nvmlGpuInstancePlacement_t out = { 0, 0 };
    for (unsigned i = 4; i-- > 0;) {
        if (id >= gi_first_id[i]) {
            out.size = gi_sizes[i];
            out.start = (id - gi_first_id[i]) * gi_sizes[i];
            return out;
        }
    }
    return out;
}

int mock_mig_start_allowed(const struct mock_mig_profile *p, unsigned start)
{
    return start < MOCK_MIG_MEMORY_SLICES && (p->placement_starts >> start & 1) &&
           start + p->placement_size <= MOCK_MIG_MEMORY_SLICES;
}

MOCK_API nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
                                           unsigned int *pendingMode)
{
    MOCK_DEVICE(dev, device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(currentMode != NULL && pendingMode != NULL);
    unsigned mode = mock_mig_mode(dev->slot);
    *currentMode = mode;
    *pendingMode = mode;
    return NVML_SUCCESS;
}

static nvmlReturn_t set_mode(struct mock_mig_state *st, void *ctx)
{
    unsigned mode = *(const unsigned *)ctx;
    /* The driver refuses to leave MIG mode while GPU instances exist ("In use by another
     * client"); they are destroyed first. */
    if (mode == NVML_DEVICE_MIG_DISABLE && st->gi_mask != 0)
        return NVML_ERROR_IN_USE;
    st->mode = mode;
    return NVML_SUCCESS;
}

/*
 * As on an idle GPU of a real node: the pending mode is set and the GPU is reset into it at
 * once, so the current mode follows and the activation succeeds. The mode is kept with the
 * GPU's instances in the live state, for every process of the node.
 */
MOCK_API nvmlReturn_t nvmlDeviceSetMigMode(nvmlDevice_t device, unsigned int mode,
                                           nvmlReturn_t *activationStatus)
{
    MOCK_DEVICE(dev, device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(activationStatus != NULL);
    MOCK_REQUIRE(mode == NVML_DEVICE_MIG_DISABLE || mode == NVML_DEVICE_MIG_ENABLE);
    nvmlReturn_t rc = mock_mig_change(dev->slot, set_mode, &mode);
    if (rc == NVML_SUCCESS)
        *activationStatus = NVML_SUCCESS;
    return rc;
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
    const struct mock_mig_profile *p = mock_mig_profile_by_index(profile);
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
    const struct mock_mig_profile *p = mock_mig_profile_by_index(profile);
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
    const struct mock_mig_profile *p = mock_mig_profile_by_id(profileId);
    if (p == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    fill_versioned(info, p);
    return NVML_SUCCESS;
}

nvmlReturn_t mock_mig_placements(unsigned starts, unsigned size, void *out, unsigned *count,
                                 void (*put)(void *out, unsigned i, unsigned start, unsigned size))
{
    unsigned n = 0;
    for (unsigned start = 0; start < 32; start++)
        n += starts >> start & 1;
    if (out != NULL && *count < n) {
        *count = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (unsigned start = 0, i = 0; out != NULL && start < 32; start++)
        if (starts >> start & 1)
            put(out, i++, start, size);
    *count = n;
    return NVML_SUCCESS;
}

static void put_placement(void *out, unsigned i, unsigned start, unsigned size)
{
    nvmlGpuInstancePlacement_t *placements = out;
    placements[i].start = start;
    placements[i].size = size;
}

/* Every placement of the profile, whatever exists now (as the real call answers). */
static nvmlReturn_t placements(nvmlDevice_t device, unsigned int profileId,
                               nvmlGpuInstancePlacement_t *out, unsigned int *count)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(count != NULL);
    const struct mock_mig_profile *p = mock_mig_profile_by_id(profileId);
    if (p == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned starts = 0;
    for (unsigned start = 0; start < MOCK_MIG_MEMORY_SLICES; start++)
        starts |= (unsigned)mock_mig_start_allowed(p, start) << start;
    return mock_mig_placements(starts, (unsigned)p->placement_size, out, count, put_placement);
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
