/*
 * gpumock.nvidia mock NVML: MIG internals shared by the MIG files (not installed, not exported).
 *
 * mig.c            MIG mode, GPU-instance profiles and their placements
 * mig_handles.c    the handle tables
 * mig_state.c      the instances of each GPU: the config's layout, then the live state's records
 * gpu_instance.c   GPU instances: create, destroy, enumerate, info
 * compute_instance.c  compute instances: profiles, placements, create, destroy, enumerate, info
 * mig_device.c     MIG device handles (one per compute instance) and what they answer
 *
 * Handles of GPU instances, compute instances and MIG devices are addresses inside static byte
 * tables, one byte per (GPU, GPU-instance id[, compute-instance id]): decoding one is a range
 * check that never dereferences the caller's pointer, and the instance it names exists only
 * while the GPU's state (mock_mig_read) says so.
 */
#ifndef GPUMOCK_NVML_MIG_H
#define GPUMOCK_NVML_MIG_H

#include "mock.h"

#define MOCK_MIG_MEMORY_SLICES 8

/* One compute instance: its NVML_COMPUTE_INSTANCE_PROFILE_* and first compute slice. */
struct mock_mig_ci {
    unsigned char profile;
    unsigned char start;
};

struct mock_mig_gi {
    unsigned profile_id;             /* [mig_profile] profile_id */
    unsigned ci_mask;                /* bit per compute-instance id that exists */
    struct mock_mig_ci ci[MOCK_MIG_MAX_CI];
};

/* The MIG mode and instances of one GPU, as a plain copy. */
struct mock_mig_state {
    unsigned mode;                   /* NVML_DEVICE_MIG_ENABLE or NVML_DEVICE_MIG_DISABLE */
    unsigned gi_mask;                /* bit per GPU-instance id that exists */
    struct mock_mig_gi gi[MOCK_MIG_MAX_GI];
};

/* The shape of a compute-instance profile inside a GPU instance of `slices` compute slices. */
struct mock_ci_shape {
    unsigned slices;
    unsigned count;                  /* how many fit (instanceCount) */
};

/* After the device check: a board without MIG supports none of the MIG queries. */
#define MOCK_MIG_SUPPORTED()                                                                 \
    if (!g_config.board.mig_capable)                                                         \
        return NVML_ERROR_NOT_SUPPORTED

const struct mock_mig_profile *mock_mig_profile_by_index(unsigned index);
const struct mock_mig_profile *mock_mig_profile_by_id(unsigned id);

/* GPU-instance ids follow the placement, as the driver numbers them: the whole GPU is 0, the
 * halves 1-2, the quarters 3-6, the eighths 7-14. ~0u for a placement that is none of these. */
unsigned mock_mig_gi_id(unsigned start, unsigned size);
nvmlGpuInstancePlacement_t mock_mig_gi_placement(unsigned id);

/* Whether `start` is one of the profile's placements. */
int mock_mig_start_allowed(const struct mock_mig_profile *p, unsigned start);

/* The mode and instances of the GPU at config slot `slot` now. Reads only memory. */
void mock_mig_read(unsigned slot, struct mock_mig_state *out);
/* Its MIG mode alone (fewer loads). */
unsigned mock_mig_mode(unsigned slot);

/* Change mode or instances under the state file's lock: `change` edits a copy and returns NVML_SUCCESS to
 * publish it (any other code publishes nothing and is returned). NO_PERMISSION when the node has
 * no live state file to keep them in. */
nvmlReturn_t mock_mig_change(unsigned slot, nvmlReturn_t (*change)(struct mock_mig_state *, void *),
                             void *ctx);

/* The GPU instance a handle names, if it exists now: its device and id, and the GPU's state;
 * INVALID_ARGUMENT for a handle that is not one, or names an instance destroyed since. */
nvmlReturn_t mock_gi_lookup(nvmlGpuInstance_t handle, struct nvmlDevice_st **dev, unsigned *id,
                            struct mock_mig_state *st);

/* Compute-instance profiles (compute_instance.c): 0, or -1 when the GPU instance has none such. */
int mock_ci_shape(unsigned gi_slices, unsigned ci_profile, struct mock_ci_shape *out);
/* The name of a compute instance: "MIG 1c.3g.20gb", or the GPU instance's for one spanning it. */
void mock_ci_name(const struct mock_mig_profile *gi, unsigned ci_slices, char *out, size_t size);
/* The compute-instance profile that spans a GPU instance of `slices` compute slices. */
unsigned mock_ci_full_profile(unsigned slices);

/* Handles (mig_handles.c). The decoders check only the range and the device index; see above. */
nvmlGpuInstance_t mock_gi_handle(unsigned device, unsigned gi);
int mock_gi_decode(nvmlGpuInstance_t handle, unsigned *device, unsigned *gi);
nvmlComputeInstance_t mock_ci_handle(unsigned device, unsigned gi, unsigned ci);
int mock_ci_decode(nvmlComputeInstance_t handle, unsigned *device, unsigned *gi, unsigned *ci);
nvmlDevice_t mock_mig_device_handle(unsigned device, unsigned gi, unsigned ci);
int mock_mig_device_decode(nvmlDevice_t handle, unsigned *device, unsigned *gi, unsigned *ci);
/* The enumerated GPU of a decoded handle and its instances now; GPU_IS_LOST for a lost GPU. */
nvmlReturn_t mock_mig_gpu(unsigned device, struct nvmlDevice_st **dev, struct mock_mig_state *st);

/* Answer a placements query, NVML style, from the bit mask of allowed starts: the count alone
 * when out is NULL, INSUFFICIENT_SIZE when *count is short; put() writes the i-th placement. */
nvmlReturn_t mock_mig_placements(unsigned starts, unsigned size, void *out, unsigned *count,
                                 void (*put)(void *out, unsigned i, unsigned start, unsigned size));

#endif /* GPUMOCK_NVML_MIG_H */
