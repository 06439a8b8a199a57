/*
 * Compute instances of a GPU instance: their profiles and placements, create, destroy,
 * enumerate, look up, describe. A GPU instance of N compute slices offers compute instances of
 * 1 and 2 slices (when smaller than N), of 3 and 4 on a 7-slice GPU instance, and of all N (the
 * one the config's layout gives each GPU instance), as on NVIDIA's boards.
 */
#include <stdio.h>
#include <string.h>

#include "mig.h"

/* Compute slices of each NVML_COMPUTE_INSTANCE_PROFILE_* (the 8- and 6-slice and REV1 profiles
 * exist on no board the mock imitates). */
static const unsigned ci_slices[NVML_COMPUTE_INSTANCE_PROFILE_COUNT] = { 1, 2, 3, 4, 7, 8, 6, 1 };

int mock_ci_shape(unsigned gi_slices, unsigned ci_profile, struct mock_ci_shape *out)
{
    if (ci_profile > NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE || gi_slices == 0)
        return -1;
    unsigned c = ci_slices[ci_profile];
    if (!(c == gi_slices || (c < gi_slices && (c <= 2 || gi_slices == 7))))
        return -1;
    out->slices = c;
    out->count = gi_slices / c;
    return 0;
}

unsigned mock_ci_full_profile(unsigned slices)
{
    for (unsigned p = 0; p <= NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE; p++)
        if (ci_slices[p] == slices)
            return p;
    return NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE;
}

void mock_ci_name(const struct mock_mig_profile *gi, unsigned ci_slices_, char *out, size_t size)
{
    const char *base = strncmp(gi->name, "MIG ", 4) == 0 ? gi->name + 4 : gi->name;
    if (ci_slices_ == gi->slice_count)
        snprintf(out, size, "%s", gi->name);
    else
        snprintf(out, size, "MIG %uc.%s", ci_slices_, base);
}

/* A GPU instance's profile and the shape of a compute-instance profile in it. */
static nvmlReturn_t gi_and_shape(const struct mock_mig_state *st, unsigned gi, unsigned ci_profile,
                                 const struct mock_mig_profile **p, struct mock_ci_shape *shape)
{
    if (ci_profile >= NVML_COMPUTE_INSTANCE_PROFILE_COUNT)
        return NVML_ERROR_INVALID_ARGUMENT;
    *p = mock_mig_profile_by_id(st->gi[gi].profile_id);
    if (*p == NULL || mock_ci_shape((unsigned)(*p)->slice_count, ci_profile, shape) != 0)
        return NVML_ERROR_NOT_SUPPORTED;
    return NVML_SUCCESS;
}

static void fill_profile(nvmlComputeInstanceProfileInfo_t *info, const struct mock_mig_profile *p,
                         unsigned ci_profile, const struct mock_ci_shape *shape)
{
    info->id = ci_profile;
    info->sliceCount = shape->slices;
    info->instanceCount = shape->count;
    info->multiprocessorCount = (unsigned)(p->multiprocessor_count * shape->slices / p->slice_count);
    info->sharedCopyEngineCount = (unsigned)p->copy_engine_count;
    info->sharedDecoderCount = (unsigned)p->decoder_count;
    info->sharedEncoderCount = (unsigned)p->encoder_count;
    info->sharedJpegCount = (unsigned)p->jpeg_count;
    info->sharedOfaCount = (unsigned)p->ofa_count;
}

/* A profile query on the GPU instance a handle names: its profile and the compute-instance
 * profile's shape. `version` is the caller's struct version (NULL for the unversioned call). */
static nvmlReturn_t query_profile(nvmlGpuInstance_t gpuInstance, unsigned profile,
                                  unsigned engProfile, const void *info, const unsigned *version,
                                  const struct mock_mig_profile **p, struct mock_ci_shape *shape)
{
    struct nvmlDevice_st *dev;
    unsigned gi;
    struct mock_mig_state st;
    nvmlReturn_t rc = mock_gi_lookup(gpuInstance, &dev, &gi, &st);
    if (rc != NVML_SUCCESS)
        return rc;
    MOCK_REQUIRE(info != NULL && engProfile < NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_COUNT);
    /* 0 is accepted, as for the GPU-instance profiles (mig.c): pynvml passes it. */
    if (version != NULL && *version != 0 && *version != nvmlComputeInstanceProfileInfo_v2)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    return gi_and_shape(&st, gi, profile, p, shape);
}

MOCK_API nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfo(
    nvmlGpuInstance_t gpuInstance, unsigned int profile, unsigned int engProfile,
    nvmlComputeInstanceProfileInfo_t *info)
{
    const struct mock_mig_profile *p;
    struct mock_ci_shape shape;
    nvmlReturn_t rc = query_profile(gpuInstance, profile, engProfile, info, NULL, &p, &shape);
    if (rc == NVML_SUCCESS)
        fill_profile(info, p, profile, &shape);
    return rc;
}

MOCK_API nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfoV(
    nvmlGpuInstance_t gpuInstance, unsigned int profile, unsigned int engProfile,
    nvmlComputeInstanceProfileInfo_v2_t *info)
{
    const struct mock_mig_profile *p;
    struct mock_ci_shape shape;
    nvmlReturn_t rc = query_profile(gpuInstance, profile, engProfile, info,
                                    info != NULL ? &info->version : NULL, &p, &shape);
    if (rc != NVML_SUCCESS)
        return rc;
    nvmlComputeInstanceProfileInfo_t v1;
    fill_profile(&v1, p, profile, &shape);
    info->id = v1.id;
    info->sliceCount = v1.sliceCount;
    info->instanceCount = v1.instanceCount;
    info->multiprocessorCount = v1.multiprocessorCount;
    info->sharedCopyEngineCount = v1.sharedCopyEngineCount;
    info->sharedDecoderCount = v1.sharedDecoderCount;
    info->sharedEncoderCount = v1.sharedEncoderCount;
    info->sharedJpegCount = v1.sharedJpegCount;
    info->sharedOfaCount = v1.sharedOfaCount;
    memset(info->name, 0, sizeof info->name);
    mock_ci_name(p, shape.slices, info->name, sizeof info->name);
    return NVML_SUCCESS;
}

/* Compute slices of a GPU instance its compute instances take (bit mask). */
static unsigned used_slices(const struct mock_mig_gi *gi)
{
    unsigned used = 0;
    for (unsigned c = 0; c < MOCK_MIG_MAX_CI; c++) {
        if (gi->ci_mask >> c & 1) {
            unsigned profile = gi->ci[c].profile < NVML_COMPUTE_INSTANCE_PROFILE_COUNT
                                   ? gi->ci[c].profile : 0;
            used |= ((1u << ci_slices[profile]) - 1) << gi->ci[c].start;
        }
    }
    return used;
}

/* Compute instances start at a multiple of their size rounded up to a power of two (a 3-slice
 * one of a 7-slice GPU instance at 0 or 4), and end inside the GPU instance. */
static unsigned alignment(unsigned slices)
{
    unsigned align = 1;
    while (align < slices)
        align *= 2;
    return align;
}

static int start_allowed(const struct mock_ci_shape *shape, unsigned gi_slices, unsigned start)
{
    return start % alignment(shape->slices) == 0 && start + shape->slices <= gi_slices;
}

struct create_ctx {
    unsigned gi, profile, gi_slices;
    struct mock_ci_shape shape;
    int placed;
    unsigned start;
    unsigned id;                     /* out */
};

static int fits(const struct mock_mig_gi *gi, const struct create_ctx *c, unsigned start)
{
    unsigned span = ((1u << c->shape.slices) - 1) << start;
    return start_allowed(&c->shape, c->gi_slices, start) && !(used_slices(gi) & span) &&
           gi->ci_mask != (1u << MOCK_MIG_MAX_CI) - 1;
}

static nvmlReturn_t create(struct mock_mig_state *st, void *ctx)
{
    struct create_ctx *c = ctx;
    struct mock_mig_gi *gi = &st->gi[c->gi];
    if (!(st->gi_mask >> c->gi & 1))
        return NVML_ERROR_INVALID_ARGUMENT;     /* destroyed meanwhile */
    if (!c->placed)
        for (c->start = 0; c->start < c->gi_slices && !fits(gi, c, c->start); c->start++)
            ;
    if (!fits(gi, c, c->start))
        return NVML_ERROR_INSUFFICIENT_RESOURCES;
    for (c->id = 0; gi->ci_mask >> c->id & 1; c->id++)
        ;
    gi->ci_mask |= 1u << c->id;
    gi->ci[c->id].profile = (unsigned char)c->profile;
    gi->ci[c->id].start = (unsigned char)c->start;
    return NVML_SUCCESS;
}

/* A create of a compute-instance profile in the GPU instance a handle names (out: not NULL). */
static nvmlReturn_t prepare(nvmlGpuInstance_t gpuInstance, unsigned profile, const void *out,
                            struct nvmlDevice_st **dev, struct mock_mig_state *st,
                            struct create_ctx *c)
{
    nvmlReturn_t rc = mock_gi_lookup(gpuInstance, dev, &c->gi, st);
    if (rc != NVML_SUCCESS)
        return rc;
    MOCK_REQUIRE(out != NULL);
    const struct mock_mig_profile *p;
    rc = gi_and_shape(st, c->gi, profile, &p, &c->shape);
    c->profile = profile;
    c->gi_slices = rc == NVML_SUCCESS ? (unsigned)p->slice_count : 0;
    return rc;
}

static nvmlReturn_t create_ci(nvmlGpuInstance_t gpuInstance, unsigned profile,
                              const nvmlComputeInstancePlacement_t *placement,
                              nvmlComputeInstance_t *out)
{
    struct nvmlDevice_st *dev;
    struct mock_mig_state st;
    struct create_ctx c = { .placed = 0 };
    nvmlReturn_t rc = prepare(gpuInstance, profile, out, &dev, &st, &c);
    if (rc != NVML_SUCCESS)
        return rc;
    if (placement != NULL) {
        if (placement->size != c.shape.slices ||
            !start_allowed(&c.shape, c.gi_slices, placement->start))
            return NVML_ERROR_INVALID_ARGUMENT;
        c.placed = 1;
        c.start = placement->start;
    }
    rc = mock_mig_change(dev->slot, create, &c);
    if (rc == NVML_SUCCESS)
        *out = mock_ci_handle(dev->index, c.gi, c.id);
    return rc;
}

MOCK_API nvmlReturn_t nvmlGpuInstanceCreateComputeInstance(nvmlGpuInstance_t gpuInstance,
                                                           unsigned int profileId,
                                                           nvmlComputeInstance_t *computeInstance)
{
    return create_ci(gpuInstance, profileId, NULL, computeInstance);
}

MOCK_API nvmlReturn_t nvmlGpuInstanceCreateComputeInstanceWithPlacement(
    nvmlGpuInstance_t gpuInstance, unsigned int profileId,
    const nvmlComputeInstancePlacement_t *placement, nvmlComputeInstance_t *computeInstance)
{
    if (placement == NULL) {
        MOCK_REQUIRE_LIVE();
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    return create_ci(gpuInstance, profileId, placement, computeInstance);
}

MOCK_API nvmlReturn_t nvmlGpuInstanceGetComputeInstanceRemainingCapacity(
    nvmlGpuInstance_t gpuInstance, unsigned int profileId, unsigned int *count)
{
    struct nvmlDevice_st *dev;
    struct mock_mig_state st;
    struct create_ctx c = { .placed = 0 };
    nvmlReturn_t rc = prepare(gpuInstance, profileId, count, &dev, &st, &c);
    if (rc != NVML_SUCCESS)
        return rc;
    unsigned n = 0;
    while (create(&st, &c) == NVML_SUCCESS)
        n++;
    *count = n;
    return NVML_SUCCESS;
}

static void put_placement(void *out, unsigned i, unsigned start, unsigned size)
{
    nvmlComputeInstancePlacement_t *placements = out;
    placements[i].start = start;
    placements[i].size = size;
}

MOCK_API nvmlReturn_t nvmlGpuInstanceGetComputeInstancePossiblePlacements(
    nvmlGpuInstance_t gpuInstance, unsigned int profileId,
    nvmlComputeInstancePlacement_t *placements, unsigned int *count)
{
    struct nvmlDevice_st *dev;
    unsigned gi;
    struct mock_mig_state st;
    nvmlReturn_t rc = mock_gi_lookup(gpuInstance, &dev, &gi, &st);
    if (rc != NVML_SUCCESS)
        return rc;
    MOCK_REQUIRE(count != NULL);
    const struct mock_mig_profile *p;
    struct mock_ci_shape shape;
    rc = gi_and_shape(&st, gi, profileId, &p, &shape);
    if (rc != NVML_SUCCESS)
        return rc;
    unsigned gi_slices = (unsigned)p->slice_count, starts = 0;
    for (unsigned start = 0; start < gi_slices; start++)
        starts |= (unsigned)start_allowed(&shape, gi_slices, start) << start;
    return mock_mig_placements(starts, shape.slices, placements, count, put_placement);
}

/* The compute instance a handle names, if it exists now. */
static nvmlReturn_t existing_ci(nvmlComputeInstance_t handle, struct nvmlDevice_st **dev,
                                unsigned *gi, unsigned *ci, struct mock_mig_state *st)
{
    unsigned index;
    MOCK_REQUIRE_LIVE();
    if (mock_ci_decode(handle, &index, gi, ci) != 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvmlReturn_t rc = mock_mig_gpu(index, dev, st);
    if (rc == NVML_SUCCESS && (!(st->gi_mask >> *gi & 1) || !(st->gi[*gi].ci_mask >> *ci & 1)))
        rc = NVML_ERROR_INVALID_ARGUMENT;
    return rc;
}

struct ci_ref {
    unsigned gi, ci;
};

static nvmlReturn_t destroy(struct mock_mig_state *st, void *ctx)
{
    const struct ci_ref *r = ctx;
    if (!(st->gi_mask >> r->gi & 1) || !(st->gi[r->gi].ci_mask >> r->ci & 1))
        return NVML_ERROR_INVALID_ARGUMENT;     /* destroyed meanwhile */
    st->gi[r->gi].ci_mask &= ~(1u << r->ci);
    memset(&st->gi[r->gi].ci[r->ci], 0, sizeof st->gi[r->gi].ci[r->ci]);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlComputeInstanceDestroy(nvmlComputeInstance_t computeInstance)
{
    struct nvmlDevice_st *dev;
    struct ci_ref r;
    struct mock_mig_state st;
    nvmlReturn_t rc = existing_ci(computeInstance, &dev, &r.gi, &r.ci, &st);
    if (rc != NVML_SUCCESS)
        return rc;
    return mock_mig_change(dev->slot, destroy, &r);
}

MOCK_API nvmlReturn_t nvmlComputeInstanceGetInfo_v2(nvmlComputeInstance_t computeInstance,
                                                    nvmlComputeInstanceInfo_t *info)
{
    struct nvmlDevice_st *dev;
    unsigned gi, ci;
    struct mock_mig_state st;
    nvmlReturn_t rc = existing_ci(computeInstance, &dev, &gi, &ci, &st);
    if (rc != NVML_SUCCESS)
        return rc;
    MOCK_REQUIRE(info != NULL);
    unsigned profile = st.gi[gi].ci[ci].profile;
    info->device = dev;
    info->gpuInstance = mock_gi_handle(dev->index, gi);
    info->id = ci;
    info->profileId = profile;
    info->placement.start = st.gi[gi].ci[ci].start;
    info->placement.size = profile < NVML_COMPUTE_INSTANCE_PROFILE_COUNT ? ci_slices[profile] : 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlComputeInstanceGetInfo(nvmlComputeInstance_t computeInstance,
                                                 nvmlComputeInstanceInfo_t *info)
{
    return nvmlComputeInstanceGetInfo_v2(computeInstance, info);
}

MOCK_API nvmlReturn_t nvmlGpuInstanceGetComputeInstances(nvmlGpuInstance_t gpuInstance,
                                                         unsigned int profileId,
                                                         nvmlComputeInstance_t *computeInstances,
                                                         unsigned int *count)
{
    struct nvmlDevice_st *dev;
    unsigned gi;
    struct mock_mig_state st;
    nvmlReturn_t rc = mock_gi_lookup(gpuInstance, &dev, &gi, &st);
    if (rc != NVML_SUCCESS)
        return rc;
    MOCK_REQUIRE(computeInstances != NULL && count != NULL);
    const struct mock_mig_profile *p;
    struct mock_ci_shape shape;
    rc = gi_and_shape(&st, gi, profileId, &p, &shape);
    if (rc != NVML_SUCCESS)
        return rc;
    unsigned n = 0;
    for (unsigned c = 0; c < MOCK_MIG_MAX_CI; c++)
        if ((st.gi[gi].ci_mask >> c & 1) && st.gi[gi].ci[c].profile == profileId)
            computeInstances[n++] = mock_ci_handle(dev->index, gi, c);
    *count = n;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlGpuInstanceGetComputeInstanceById(nvmlGpuInstance_t gpuInstance,
                                                            unsigned int id,
                                                            nvmlComputeInstance_t *computeInstance)
{
    struct nvmlDevice_st *dev;
    unsigned gi;
    struct mock_mig_state st;
    nvmlReturn_t rc = mock_gi_lookup(gpuInstance, &dev, &gi, &st);
    if (rc != NVML_SUCCESS)
        return rc;
    MOCK_REQUIRE(computeInstance != NULL && id < MOCK_MIG_MAX_CI);
    if (!(st.gi[gi].ci_mask >> id & 1))
        return NVML_ERROR_NOT_FOUND;
    *computeInstance = mock_ci_handle(dev->index, gi, id);
    return NVML_SUCCESS;
}
