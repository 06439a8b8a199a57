/* Utilization, encoder/decoder and frame-buffer-capture statistics: an idle GPU. */
#include <string.h>

#include "mock.h"

/* The sampling period the driver reports for engine utilization, in microseconds. */
#define SAMPLING_PERIOD_US 100000

MOCK_API nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
                                                    nvmlUtilization_t *utilization)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(utilization != NULL);
    static const enum mock_live_key keys[] = { MOCK_LIVE_GPU_UTIL, MOCK_LIVE_MEM_UTIL };
    uint64_t rates[] = { 0, 0 };     /* an idle GPU */
    mock_live_values(dev->slot, 2, keys, rates);
    utilization->gpu = (unsigned)rates[0];
    utilization->memory = (unsigned)rates[1];
    return NVML_SUCCESS;
}

static nvmlReturn_t engine_utilization(nvmlDevice_t device, unsigned int *utilization,
                                       unsigned int *samplingPeriodUs)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(utilization != NULL && samplingPeriodUs != NULL);
    *utilization = 0;
    *samplingPeriodUs = SAMPLING_PERIOD_US;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t device, unsigned int *utilization,
                                                      unsigned int *samplingPeriodUs)
{
    return engine_utilization(device, utilization, samplingPeriodUs);
}

MOCK_API nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t device, unsigned int *utilization,
                                                      unsigned int *samplingPeriodUs)
{
    return engine_utilization(device, utilization, samplingPeriodUs);
}

MOCK_API nvmlReturn_t nvmlDeviceGetJpgUtilization(nvmlDevice_t device, unsigned int *utilization,
                                                  unsigned int *samplingPeriodUs)
{
    return engine_utilization(device, utilization, samplingPeriodUs);
}

MOCK_API nvmlReturn_t nvmlDeviceGetOfaUtilization(nvmlDevice_t device, unsigned int *utilization,
                                                  unsigned int *samplingPeriodUs)
{
    return engine_utilization(device, utilization, samplingPeriodUs);
}

MOCK_API nvmlReturn_t nvmlDeviceGetEncoderStats(nvmlDevice_t device, unsigned int *sessionCount,
                                                unsigned int *averageFps,
                                                unsigned int *averageLatency)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(sessionCount != NULL && averageFps != NULL && averageLatency != NULL);
    *sessionCount = *averageFps = *averageLatency = 0;
    return NVML_SUCCESS;
}

/* Session lists: none, in the count protocol (a count query and a fill are the same here). */
MOCK_API nvmlReturn_t nvmlDeviceGetEncoderSessions(nvmlDevice_t device, unsigned int *sessionCount,
                                                   nvmlEncoderSessionInfo_t *sessionInfos)
{
    MOCK_CHECK_DEVICE(device);
    (void)sessionInfos;
    MOCK_REQUIRE(sessionCount != NULL);
    *sessionCount = 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetFBCStats(nvmlDevice_t device, nvmlFBCStats_t *fbcStats)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(fbcStats != NULL);
    memset(fbcStats, 0, sizeof *fbcStats);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetFBCSessions(nvmlDevice_t device, unsigned int *sessionCount,
                                               nvmlFBCSessionInfo_t *sessionInfo)
{
    MOCK_CHECK_DEVICE(device);
    (void)sessionInfo;
    MOCK_REQUIRE(sessionCount != NULL);
    *sessionCount = 0;
    return NVML_SUCCESS;
}
