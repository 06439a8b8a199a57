/* Power readings and limits of an idle board at its default limit. */
#include <time.h>

#include "mock.h"

static nvmlReturn_t power_value(nvmlDevice_t device, unsigned int *out, unsigned long long v)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(out != NULL);
    *out = (unsigned int)v;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
    MOCK_DEVICE(dev, device);
    return power_value(device, power,
                       mock_live_value(dev->slot, MOCK_LIVE_POWER, g_config.board.power_idle_mw));
}

MOCK_API nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned int *limit)
{
    return power_value(device, limit, g_config.board.power_default_limit_mw);
}

MOCK_API nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t device,
                                                               unsigned int *defaultLimit)
{
    return power_value(device, defaultLimit, g_config.board.power_default_limit_mw);
}

MOCK_API nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit)
{
    return power_value(device, limit, g_config.board.power_default_limit_mw);
}

MOCK_API nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t device,
                                                                   unsigned int *minLimit,
                                                                   unsigned int *maxLimit)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(minLimit != NULL && maxLimit != NULL);
    *minLimit = (unsigned)g_config.board.power_min_limit_mw;
    *maxLimit = (unsigned)g_config.board.power_max_limit_mw;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetPowerManagementMode(nvmlDevice_t device, nvmlEnableState_t *mode)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(mode != NULL);
    *mode = NVML_FEATURE_ENABLED;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetPowerSource(nvmlDevice_t device, nvmlPowerSource_t *powerSource)
{
    return power_value(device, powerSource, NVML_POWER_SOURCE_AC);
}

/*
 * Energy in mJ since the driver loaded: idle power times the time since boot, so the counter
 * only ever grows, as monitoring agents that take differences expect. clock_gettime is a vDSO
 * call, not a syscall.
 */
MOCK_API nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
                                                          unsigned long long *energy)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(energy != NULL);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    unsigned long long ms = (unsigned long long)now.tv_sec * 1000ULL +
                            (unsigned long long)now.tv_nsec / 1000000ULL;
    *energy = g_config.board.power_idle_mw * ms / 1000ULL;
    return NVML_SUCCESS;
}
