/*
 * MIG devices: one per compute instance, with a device handle of its own. Enumerated per GPU in
 * GPU-instance id, then compute-instance id order. Their UUIDs (MIG-…) are a hash of the GPU's
 * UUID and the two ids, so every process on the node derives the same ones.
 */
#include <stdio.h>
#include <string.h>

#include "mig.h"

static uint64_t fnv1a(uint64_t hash, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        hash ^= *p;
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

/* MIG-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx from the GPU's UUID and the instance ids. The CDI spec
 * names MIG devices with its Python twin, profiles.mig_device_uuid (tests/nvml/test_mig.py holds
 * the two to the same UUIDs). */
static void mig_uuid(const char *gpu_uuid, unsigned gi, unsigned ci, char *out, size_t size)
{
    char material[NVML_DEVICE_UUID_V2_BUFFER_SIZE + 32];
    snprintf(material, sizeof material, "%s/gi%u/ci%u", gpu_uuid, gi, ci);
    uint64_t hi = fnv1a(0xcbf29ce484222325ULL, material);
    uint64_t lo = fnv1a(hi ^ 0x9e3779b97f4a7c15ULL, material);
    snprintf(out, size, "MIG-%08x-%04x-%04x-%04x-%04x%08x", (unsigned)(hi >> 32),
             (unsigned)(hi >> 16) & 0xffff, (unsigned)hi & 0xffff, (unsigned)(lo >> 48),
             (unsigned)(lo >> 32) & 0xffff, (unsigned)lo);
}

static void describe(struct nvmlDevice_st *parent, const struct mock_mig_state *st, unsigned gi,
                     unsigned ci, struct mock_mig_device *out)
{
    const struct mock_mig_profile *p = mock_mig_profile_by_id(st->gi[gi].profile_id);
    struct mock_ci_shape shape = { 1, 1 };
    memset(out, 0, sizeof *out);
    out->parent = parent;
    out->gi = gi;
    out->ci = ci;
    mig_uuid(parent->uuid, gi, ci, out->uuid, sizeof out->uuid);
    if (p == NULL)
        return;
    if (mock_ci_shape((unsigned)p->slice_count, st->gi[gi].ci[ci].profile, &shape) != 0)
        shape.slices = (unsigned)p->slice_count;
    char ci_name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    mock_ci_name(p, shape.slices, ci_name, sizeof ci_name);
    snprintf(out->name, sizeof out->name, "%.40s %.50s", g_config.board.name, ci_name);
    out->gi_slices = (unsigned)p->slice_count;
    out->ci_slices = shape.slices;
    out->memory_bytes = p->memory_size_mb << 20;
    nvmlDeviceAttributes_t *a = &out->attributes;
    a->multiprocessorCount = (unsigned)(p->multiprocessor_count * shape.slices / p->slice_count);
    a->sharedCopyEngineCount = (unsigned)p->copy_engine_count;
    a->sharedDecoderCount = (unsigned)p->decoder_count;
    a->sharedEncoderCount = (unsigned)p->encoder_count;
    a->sharedJpegCount = (unsigned)p->jpeg_count;
    a->sharedOfaCount = (unsigned)p->ofa_count;
    a->gpuInstanceSliceCount = out->gi_slices;
    a->computeInstanceSliceCount = shape.slices;
    a->memorySizeMB = p->memory_size_mb;
}

static int exists(const struct mock_mig_state *st, unsigned gi, unsigned ci)
{
    return (st->gi_mask >> gi & 1) && (st->gi[gi].ci_mask >> ci & 1);
}

int mock_mig_device(nvmlDevice_t handle, struct mock_mig_device *out, nvmlReturn_t *rc)
{
    unsigned index, gi, ci;
    if (mock_mig_device_decode(handle, &index, &gi, &ci) != 0)
        return 0;
    *rc = NVML_ERROR_UNINITIALIZED;
    if (!mock_live())
        return 1;
    struct nvmlDevice_st *parent;
    struct mock_mig_state st;
    *rc = mock_mig_gpu(index, &parent, &st);
    if (*rc == NVML_SUCCESS && !exists(&st, gi, ci))
        *rc = NVML_ERROR_INVALID_ARGUMENT;
    if (*rc != NVML_SUCCESS)
        return 1;
    describe(parent, &st, gi, ci, out);
    *rc = NVML_SUCCESS;
    return 1;
}

nvmlReturn_t mock_mig_device_by_uuid(const char *uuid, nvmlDevice_t *device)
{
    for (unsigned d = 0; d < g_device_count; d++) {
        struct mock_mig_state st;
        mock_mig_read(g_devices[d].slot, &st);
        if (st.mode != NVML_DEVICE_MIG_ENABLE)
            continue;
        for (unsigned gi = 0; gi < MOCK_MIG_MAX_GI; gi++) {
            for (unsigned ci = 0; ci < MOCK_MIG_MAX_CI; ci++) {
                char text[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
                if (!exists(&st, gi, ci))
                    continue;
                mig_uuid(g_devices[d].uuid, gi, ci, text, sizeof text);
                if (strcmp(text, uuid) == 0) {
                    *device = mock_mig_device_handle(d, gi, ci);
                    return NVML_SUCCESS;
                }
            }
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

MOCK_API nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    MOCK_DEVICE(dev, device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(count != NULL);
    unsigned most = 0;
    if (mock_mig_mode(dev->slot) == NVML_DEVICE_MIG_ENABLE)
        for (unsigned i = 0; i < g_config.mig_profile_count; i++)
            if (g_config.mig_profile[i].instance_count > most)
                most = (unsigned)g_config.mig_profile[i].instance_count;
    *count = most;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                          nvmlDevice_t *migDevice)
{
    MOCK_DEVICE(dev, device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(migDevice != NULL);
    struct mock_mig_state st;
    mock_mig_read(dev->slot, &st);
    if (st.mode != NVML_DEVICE_MIG_ENABLE)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned n = 0;
    for (unsigned gi = 0; gi < MOCK_MIG_MAX_GI; gi++) {
        for (unsigned ci = 0; ci < MOCK_MIG_MAX_CI; ci++) {
            if (exists(&st, gi, ci) && n++ == index) {
                *migDevice = mock_mig_device_handle(dev->index, gi, ci);
                return NVML_SUCCESS;
            }
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

MOCK_API nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
    struct mock_mig_device mig;
    nvmlReturn_t rc;
    if (mock_mig_device(device, &mig, &rc)) {
        if (rc == NVML_SUCCESS && isMigDevice == NULL)
            return NVML_ERROR_INVALID_ARGUMENT;
        if (rc == NVML_SUCCESS)
            *isMigDevice = 1;
        return rc;
    }
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(isMigDevice != NULL);
    *isMigDevice = 0;
    return NVML_SUCCESS;
}

/* The MIG device a handle names; a whole GPU's handle is an INVALID_ARGUMENT here. */
static nvmlReturn_t mig_only(nvmlDevice_t device, struct mock_mig_device *mig)
{
    nvmlReturn_t rc;
    if (mock_mig_device(device, mig, &rc))
        return rc;
    MOCK_CHECK_DEVICE(device);
    return NVML_ERROR_INVALID_ARGUMENT;
}

/* The GPU-instance (compute = 0) or compute-instance id of a MIG device. */
static nvmlReturn_t instance_id(nvmlDevice_t device, unsigned int *id, int compute)
{
    struct mock_mig_device mig;
    nvmlReturn_t rc = mig_only(device, &mig);
    if (rc != NVML_SUCCESS)
        return rc;
    MOCK_REQUIRE(id != NULL);
    *id = compute ? mig.ci : mig.gi;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
    return instance_id(device, id, 0);
}

MOCK_API nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
    return instance_id(device, id, 1);
}

MOCK_API nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t migDevice,
                                                                  nvmlDevice_t *device)
{
    struct mock_mig_device mig;
    nvmlReturn_t rc = mig_only(migDevice, &mig);
    if (rc != NVML_SUCCESS)
        return rc;
    MOCK_REQUIRE(device != NULL);
    *device = mig.parent;
    return NVML_SUCCESS;
}

/* What a MIG device is made of; a whole GPU has no such attributes. */
MOCK_API nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t device,
                                                 nvmlDeviceAttributes_t *attributes)
{
    struct mock_mig_device mig;
    nvmlReturn_t rc;
    if (mock_mig_device(device, &mig, &rc)) {
        if (rc != NVML_SUCCESS)
            return rc;
        MOCK_REQUIRE(attributes != NULL);
        *attributes = mig.attributes;
        return NVML_SUCCESS;
    }
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(attributes != NULL);
    return NVML_ERROR_NOT_SUPPORTED;
}

MOCK_API nvmlReturn_t nvmlDeviceGetAttributes(nvmlDevice_t device, nvmlDeviceAttributes_t *attributes)
{
    return nvmlDeviceGetAttributes_v2(device, attributes);
}
