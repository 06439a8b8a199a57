/*
 * GPU instances: create (anywhere or at a placement), destroy, enumerate, look up, describe.
 * A GPU instance is created without compute instances, as with the real driver; the config's
 * layout gives each of its instances the compute instance that spans it (mig_state.c).
 */
#include <string.h>

#include "mig.h"

#define MOCK_MIG_COMPUTE_SLICES 7

/* Memory slices the GPU's instances take (bit mask), and their compute slices. */
static unsigned used_memory(const struct mock_mig_state *st)
{
    unsigned used = 0;
    for (unsigned g = 0; g < MOCK_MIG_MAX_GI; g++) {
        if (st->gi_mask >> g & 1) {
            nvmlGpuInstancePlacement_t pl = mock_mig_gi_placement(g);
            used |= ((1u << pl.size) - 1) << pl.start;
        }
    }
    return used;
}

static unsigned used_compute(const struct mock_mig_state *st)
{
    unsigned used = 0;
    for (unsigned g = 0; g < MOCK_MIG_MAX_GI; g++) {
        const struct mock_mig_profile *p = mock_mig_profile_by_id(st->gi[g].profile_id);
        if ((st->gi_mask >> g & 1) && p != NULL)
            used += (unsigned)p->slice_count;
    }
    return used;
}

static unsigned instances_of(const struct mock_mig_state *st, unsigned profile_id)
{
    unsigned n = 0;
    for (unsigned g = 0; g < MOCK_MIG_MAX_GI; g++)
        n += (st->gi_mask >> g & 1) && st->gi[g].profile_id == profile_id;
    return n;
}

/* Whether one more instance of p fits at start (count, compute slices, memory slices). */
static int fits(const struct mock_mig_state *st, const struct mock_mig_profile *p, unsigned start)
{
    unsigned span = ((1u << p->placement_size) - 1) << start;
    return instances_of(st, (unsigned)p->profile_id) < p->instance_count &&
           used_compute(st) + p->slice_count <= MOCK_MIG_COMPUTE_SLICES &&
           !(used_memory(st) & span) && mock_mig_start_allowed(p, start);
}

struct create_ctx {
    const struct mock_mig_profile *profile;
    int placed;                      /* start is the caller's */
    unsigned start;
    unsigned id;                     /* out: the new instance */
};

static nvmlReturn_t create(struct mock_mig_state *st, void *ctx)
{
    struct create_ctx *c = ctx;
    if (st->mode != NVML_DEVICE_MIG_ENABLE)
        return NVML_ERROR_NOT_SUPPORTED;     /* MIG turned off meanwhile */
    if (!c->placed) {
        for (c->start = 0; c->start < MOCK_MIG_MEMORY_SLICES; c->start++)
            if (fits(st, c->profile, c->start))
                break;
    }
    if (c->start >= MOCK_MIG_MEMORY_SLICES || !fits(st, c->profile, c->start))
        return NVML_ERROR_INSUFFICIENT_RESOURCES;
    c->id = mock_mig_gi_id(c->start, (unsigned)c->profile->placement_size);
    if (c->id >= MOCK_MIG_MAX_GI)
        return NVML_ERROR_INSUFFICIENT_RESOURCES;
    st->gi_mask |= 1u << c->id;
    memset(&st->gi[c->id], 0, sizeof st->gi[c->id]);
    st->gi[c->id].profile_id = (unsigned)c->profile->profile_id;
    return NVML_SUCCESS;
}

/* The profile an instance of a GPU in MIG mode `mode` is asked for: INVALID_ARGUMENT for an
 * unknown id, NOT_SUPPORTED on a GPU out of MIG mode. */
static nvmlReturn_t profile_on(unsigned mode, unsigned profileId, const struct mock_mig_profile **out)
{
    *out = mock_mig_profile_by_id(profileId);
    if (*out == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    return mode == NVML_DEVICE_MIG_ENABLE ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
}

static nvmlReturn_t create_gi(nvmlDevice_t device, unsigned profileId,
                              const nvmlGpuInstancePlacement_t *placement, nvmlGpuInstance_t *out)
{
    MOCK_DEVICE(dev, device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(out != NULL);
    struct create_ctx c = { .placed = 0 };
    nvmlReturn_t rc = profile_on(mock_mig_mode(dev->slot), profileId, &c.profile);
    if (rc != NVML_SUCCESS)
        return rc;
    if (placement != NULL) {
        if (placement->size != c.profile->placement_size ||
            !mock_mig_start_allowed(c.profile, placement->start))
            return NVML_ERROR_INVALID_ARGUMENT;
        c.placed = 1;
        c.start = placement->start;
    }
    rc = mock_mig_change(dev->slot, create, &c);
    if (rc == NVML_SUCCESS)
        *out = mock_gi_handle(dev->index, c.id);
    return rc;
}

MOCK_API nvmlReturn_t nvmlDeviceCreateGpuInstance(nvmlDevice_t device, unsigned int profileId,
                                                  nvmlGpuInstance_t *gpuInstance)
{
    return create_gi(device, profileId, NULL, gpuInstance);
}

MOCK_API nvmlReturn_t nvmlDeviceCreateGpuInstanceWithPlacement(
    nvmlDevice_t device, unsigned int profileId, const nvmlGpuInstancePlacement_t *placement,
    nvmlGpuInstance_t *gpuInstance)
{
    if (placement == NULL) {
        MOCK_REQUIRE_LIVE();
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    return create_gi(device, profileId, placement, gpuInstance);
}

static nvmlReturn_t destroy(struct mock_mig_state *st, void *ctx)
{
    unsigned id = *(const unsigned *)ctx;
    if (!(st->gi_mask >> id & 1))
        return NVML_ERROR_INVALID_ARGUMENT;     /* destroyed meanwhile */
    if (st->gi[id].ci_mask != 0)
        return NVML_ERROR_IN_USE;
    st->gi_mask &= ~(1u << id);
    memset(&st->gi[id], 0, sizeof st->gi[id]);
    return NVML_SUCCESS;
}

nvmlReturn_t mock_gi_lookup(nvmlGpuInstance_t handle, struct nvmlDevice_st **dev, unsigned *id,
                            struct mock_mig_state *st)
{
    unsigned index;
    MOCK_REQUIRE_LIVE();
    if (mock_gi_decode(handle, &index, id) != 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = mock_mig_gpu(index, dev, st);
    if (rc == NVML_SUCCESS && !(st->gi_mask >> *id & 1))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    return rc;
}

MOCK_API nvmlReturn_t nvmlGpuInstanceDestroy(nvmlGpuInstance_t gpuInstance)
{
    struct nvmlDevice_st *dev;
    unsigned id;
    struct mock_mig_state st;
    nvmlReturn_t rc = mock_gi_lookup(gpuInstance, &dev, &id, &st);
    if (rc != NVML_SUCCESS)
        return rc;
    return mock_mig_change(dev->slot, destroy, &id);
}

MOCK_API nvmlReturn_t nvmlGpuInstanceGetInfo(nvmlGpuInstance_t gpuInstance, nvmlGpuInstanceInfo_t *info)
{
    struct nvmlDevice_st *dev;
    unsigned id;
    struct mock_mig_state st;
    nvmlReturn_t rc = mock_gi_lookup(gpuInstance, &dev, &id, &st);
    if (rc != NVML_SUCCESS)
        return rc;
    MOCK_REQUIRE(info != NULL);
    info->device = dev;
    info->id = id;
    info->profileId = st.gi[id].profile_id;
    info->placement = mock_mig_gi_placement(id);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetGpuInstances(nvmlDevice_t device, unsigned int profileId,
                                                nvmlGpuInstance_t *gpuInstances, unsigned int *count)
{
    MOCK_DEVICE(dev, device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(count != NULL && gpuInstances != NULL);
    const struct mock_mig_profile *profile;
    struct mock_mig_state st;
    mock_mig_read(dev->slot, &st);
    nvmlReturn_t rc = profile_on(st.mode, profileId, &profile);
    if (rc != NVML_SUCCESS)
        return rc;
    unsigned n = 0;
    for (unsigned g = 0; g < MOCK_MIG_MAX_GI; g++)
        if ((st.gi_mask >> g & 1) && st.gi[g].profile_id == profileId)
            gpuInstances[n++] = mock_gi_handle(dev->index, g);
    *count = n;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetGpuInstanceById(nvmlDevice_t device, unsigned int id,
                                                   nvmlGpuInstance_t *gpuInstance)
{
    MOCK_DEVICE(dev, device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(gpuInstance != NULL);
    struct mock_mig_state st;
    mock_mig_read(dev->slot, &st);
    if (st.mode != NVML_DEVICE_MIG_ENABLE)
        return NVML_ERROR_NOT_SUPPORTED;
    MOCK_REQUIRE(id < MOCK_MIG_MAX_GI);
    if (!(st.gi_mask >> id & 1))
        return NVML_ERROR_NOT_FOUND;
    *gpuInstance = mock_gi_handle(dev->index, id);
    return NVML_SUCCESS;
}

/* How many more instances of the profile could be created, each at its first free start. */
MOCK_API nvmlReturn_t nvmlDeviceGetGpuInstanceRemainingCapacity(nvmlDevice_t device,
                                                                unsigned int profileId,
                                                                unsigned int *count)
{
    MOCK_DEVICE(dev, device);
    MOCK_MIG_SUPPORTED();
    MOCK_REQUIRE(count != NULL);
    struct create_ctx c = { .placed = 0 };
    struct mock_mig_state st;
    mock_mig_read(dev->slot, &st);
    nvmlReturn_t rc = profile_on(st.mode, profileId, &c.profile);
    if (rc != NVML_SUCCESS)
        return rc;
    unsigned n = 0;
    while (create(&st, &c) == NVML_SUCCESS)
        n++;
    *count = n;
    return NVML_SUCCESS;
}
