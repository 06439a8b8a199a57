/* Clocks, performance states and clock event reasons of an idle GPU in P0. */
#include <stdio.h>
#include <string.h>

#include "mock.h"

/* Step between supported graphics clocks, as Ampere/Hopper boards list them. */
#define GRAPHICS_CLOCK_STEP_MHZ 15
#define MAX_PSTATES 16

/* The graphics clock follows the SM clock nvidia-mock-ctl sets, as on the real boards. */
static int current_clock(unsigned slot, nvmlClockType_t type, unsigned *out)
{
    const struct mock_board *b = &g_config.board;
    switch (type) {
    case NVML_CLOCK_GRAPHICS:
    case NVML_CLOCK_SM:
        *out = (unsigned)mock_live_value(slot, MOCK_LIVE_CLOCK_SM, b->clock_graphics_idle_mhz);
        return 0;
    case NVML_CLOCK_MEM:
        *out = (unsigned)mock_live_value(slot, MOCK_LIVE_CLOCK_MEM, b->clock_mem_idle_mhz);
        return 0;
    case NVML_CLOCK_VIDEO:
        *out = (unsigned)b->clock_video_idle_mhz;
        return 0;
    default:
        return -1;
    }
}

static int max_clock(nvmlClockType_t type, unsigned *out)
{
    const struct mock_board *b = &g_config.board;
    switch (type) {
    case NVML_CLOCK_GRAPHICS:
        *out = (unsigned)b->clock_graphics_max_mhz;
        return 0;
    case NVML_CLOCK_SM:
        *out = (unsigned)b->clock_sm_max_mhz;
        return 0;
    case NVML_CLOCK_MEM:
        *out = (unsigned)b->clock_mem_max_mhz;
        return 0;
    case NVML_CLOCK_VIDEO:
        *out = (unsigned)b->clock_video_max_mhz;
        return 0;
    default:
        return -1;
    }
}

MOCK_API nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type,
                                             unsigned int *clock)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(clock != NULL);
    return current_clock(dev->slot, type, clock) ? NVML_ERROR_INVALID_ARGUMENT : NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, nvmlClockType_t type,
                                                unsigned int *clock)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(clock != NULL);
    return max_clock(type, clock) ? NVML_ERROR_INVALID_ARGUMENT : NVML_SUCCESS;
}

/* Applications clocks are the maximum clocks; the video clock has none (as on the H100). */
static nvmlReturn_t applications_clock(nvmlDevice_t device, nvmlClockType_t type,
                                       unsigned int *clockMHz)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(clockMHz != NULL);
    if (type == NVML_CLOCK_VIDEO)
        return NVML_ERROR_NOT_SUPPORTED;
    return max_clock(type, clockMHz) ? NVML_ERROR_INVALID_ARGUMENT : NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetApplicationsClock(nvmlDevice_t device, nvmlClockType_t clockType,
                                                     unsigned int *clockMHz)
{
    return applications_clock(device, clockType, clockMHz);
}

MOCK_API nvmlReturn_t nvmlDeviceGetDefaultApplicationsClock(nvmlDevice_t device,
                                                            nvmlClockType_t clockType,
                                                            unsigned int *clockMHz)
{
    return applications_clock(device, clockType, clockMHz);
}

MOCK_API nvmlReturn_t nvmlDeviceGetMaxCustomerBoostClock(nvmlDevice_t device,
                                                         nvmlClockType_t clockType,
                                                         unsigned int *clockMHz)
{
    return applications_clock(device, clockType, clockMHz);
}

MOCK_API nvmlReturn_t nvmlDeviceGetClock(nvmlDevice_t device, nvmlClockType_t clockType,
                                         nvmlClockId_t clockId, unsigned int *clockMHz)
{
    switch (clockId) {
    case NVML_CLOCK_ID_CURRENT:
        return nvmlDeviceGetClockInfo(device, clockType, clockMHz);
    case NVML_CLOCK_ID_APP_CLOCK_TARGET:
    case NVML_CLOCK_ID_APP_CLOCK_DEFAULT:
    case NVML_CLOCK_ID_CUSTOMER_BOOST_MAX:
        return applications_clock(device, clockType, clockMHz);
    default: {
        MOCK_CHECK_DEVICE(device);
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    }
}

/* The memory clocks a board offers: its maximum, and its idle clock when that differs. */
static unsigned memory_clocks(unsigned out[2])
{
    const struct mock_board *b = &g_config.board;
    out[0] = (unsigned)b->clock_mem_max_mhz;
    if (b->clock_mem_idle_mhz != b->clock_mem_max_mhz && b->clock_mem_idle_mhz != 0) {
        out[1] = (unsigned)b->clock_mem_idle_mhz;
        return 2;
    }
    return 1;
}

MOCK_API nvmlReturn_t nvmlDeviceGetSupportedMemoryClocks(nvmlDevice_t device, unsigned int *count,
                                                         unsigned int *clocksMHz)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(count != NULL);
    unsigned clocks[2];
    unsigned n = memory_clocks(clocks);
    if (*count < n || clocksMHz == NULL) {
        *count = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    memcpy(clocksMHz, clocks, n * sizeof clocks[0]);
    *count = n;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetSupportedGraphicsClocks(nvmlDevice_t device,
                                                           unsigned int memoryClockMHz,
                                                           unsigned int *count,
                                                           unsigned int *clocksMHz)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(count != NULL);
    unsigned mem[2];
    unsigned n_mem = memory_clocks(mem);
    int known = 0;
    for (unsigned i = 0; i < n_mem; i++)
        known |= mem[i] == memoryClockMHz;
    if (!known)
        return NVML_ERROR_NOT_FOUND;
    const struct mock_board *b = &g_config.board;
    unsigned top = (unsigned)b->clock_graphics_max_mhz;
    unsigned bottom = (unsigned)b->clock_graphics_idle_mhz;
    unsigned n = top >= bottom ? (top - bottom) / GRAPHICS_CLOCK_STEP_MHZ + 1 : 1;
    if (*count < n || clocksMHz == NULL) {
        *count = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (unsigned i = 0; i < n; i++)
        clocksMHz[i] = top - i * GRAPHICS_CLOCK_STEP_MHZ;
    *count = n;
    return NVML_SUCCESS;
}

static nvmlReturn_t reasons(nvmlDevice_t device, unsigned long long *out, unsigned long long v)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(out != NULL);
    *out = v;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device,
                                                             unsigned long long *clocksEventReasons)
{
    return reasons(device, clocksEventReasons, nvmlClocksEventReasonGpuIdle);
}

MOCK_API nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(
    nvmlDevice_t device, unsigned long long *clocksThrottleReasons)
{
    return reasons(device, clocksThrottleReasons, nvmlClocksEventReasonGpuIdle);
}

MOCK_API nvmlReturn_t nvmlDeviceGetSupportedClocksEventReasons(
    nvmlDevice_t device, unsigned long long *supportedClocksEventReasons)
{
    return reasons(device, supportedClocksEventReasons, nvmlClocksEventReasonAll);
}

MOCK_API nvmlReturn_t nvmlDeviceGetSupportedClocksThrottleReasons(
    nvmlDevice_t device, unsigned long long *supportedClocksThrottleReasons)
{
    return reasons(device, supportedClocksThrottleReasons, nvmlClocksEventReasonAll);
}

/* The "nvclock=..., memclock=..." description the driver gives of one performance level. */
static int describe_level(char *buf, size_t size, unsigned mem_mhz)
{
    const struct mock_board *b = &g_config.board;
    unsigned lo = (unsigned)b->clock_graphics_idle_mhz, hi = (unsigned)b->clock_graphics_max_mhz;
    return snprintf(buf, size,
                    "nvclock=%u, nvclockmin=%u, nvclockmax=%u, nvclockeditable=0, "
                    "memclock=%u, memclockmin=%u, memclockmax=%u, memclockeditable=0, "
                    "memTransferRate=%u, memTransferRatemin=%u, memTransferRatemax=%u, "
                    "memTransferRateeditable=0",
                    lo, lo, hi, mem_mhz, mem_mhz, mem_mhz, 2 * mem_mhz, 2 * mem_mhz,
                    2 * mem_mhz);
}

MOCK_API nvmlReturn_t nvmlDeviceGetCurrentClockFreqs(nvmlDevice_t device,
                                                     nvmlDeviceCurrentClockFreqs_t *currentClockFreqs)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(currentClockFreqs != NULL);
    describe_level(currentClockFreqs->str, sizeof currentClockFreqs->str,
                   (unsigned)g_config.board.clock_mem_max_mhz);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetPerformanceModes(nvmlDevice_t device,
                                                    nvmlDevicePerfModes_t *perfModes)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(perfModes != NULL);
    unsigned mem[2];
    unsigned n = memory_clocks(mem);
    char *out = perfModes->str;
    size_t left = sizeof perfModes->str;
    /* Lowest level first, as the driver lists them. */
    for (unsigned level = 0; level < n; level++) {
        int w = snprintf(out, left, "%sperf=%u, ", level ? " ; " : "", level);
        if (w < 0 || (size_t)w >= left)
            break;
        out += w;
        left -= (size_t)w;
        w = describe_level(out, left, mem[n - 1 - level]);
        if (w < 0 || (size_t)w >= left)
            break;
        out += w;
        left -= (size_t)w;
    }
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetAdaptiveClockInfoStatus(nvmlDevice_t device,
                                                           unsigned int *adaptiveClockStatus)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(adaptiveClockStatus != NULL);
    *adaptiveClockStatus = 1;        /* NVML_ADAPTIVE_CLOCKING_INFO_STATUS_ENABLED */
    return NVML_SUCCESS;
}

static nvmlReturn_t zero_offsets(nvmlDevice_t device, int *a, int *b)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(a != NULL && b != NULL);
    *a = 0;
    *b = 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetGpcClkVfOffset(nvmlDevice_t device, int *offset)
{
    return zero_offsets(device, offset, offset);
}

MOCK_API nvmlReturn_t nvmlDeviceGetMemClkVfOffset(nvmlDevice_t device, int *offset)
{
    return zero_offsets(device, offset, offset);
}

MOCK_API nvmlReturn_t nvmlDeviceGetGpcClkMinMaxVfOffset(nvmlDevice_t device, int *minOffset,
                                                        int *maxOffset)
{
    return zero_offsets(device, minOffset, maxOffset);
}

MOCK_API nvmlReturn_t nvmlDeviceGetMemClkMinMaxVfOffset(nvmlDevice_t device, int *minOffset,
                                                        int *maxOffset)
{
    return zero_offsets(device, minOffset, maxOffset);
}

MOCK_API nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t device, nvmlPstates_t *pState)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(pState != NULL);
    *pState = NVML_PSTATE_0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetPowerState(nvmlDevice_t device, nvmlPstates_t *pState)
{
    return nvmlDeviceGetPerformanceState(device, pState);
}

MOCK_API nvmlReturn_t nvmlDeviceGetSupportedPerformanceStates(nvmlDevice_t device,
                                                              nvmlPstates_t *pstates,
                                                              unsigned int size)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(pstates != NULL);
    /* The order the real H100 reports them in. */
    static const nvmlPstates_t supported[] = { NVML_PSTATE_2, NVML_PSTATE_0 };
    unsigned n = sizeof supported / sizeof supported[0];
    if (size < n)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    /* Callers pass either an element count or a byte size; never write past 16 entries. */
    unsigned slots = size < MAX_PSTATES ? size : MAX_PSTATES;
    for (unsigned i = 0; i < slots; i++)
        pstates[i] = i < n ? supported[i] : NVML_PSTATE_UNKNOWN;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetDynamicPstatesInfo(nvmlDevice_t device,
                                                      nvmlGpuDynamicPstatesInfo_t *pDynamicPstatesInfo)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(pDynamicPstatesInfo != NULL);
    memset(pDynamicPstatesInfo, 0, sizeof *pDynamicPstatesInfo);
    /* GPU, frame buffer, video and bus utilization domains are present, all idle. */
    for (unsigned i = 0; i < 4; i++)
        pDynamicPstatesInfo->utilization[i].bIsPresent = 1;
    return NVML_SUCCESS;
}
