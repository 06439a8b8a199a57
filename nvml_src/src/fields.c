/*
 * nvmlDeviceGetFieldValues: the generic field interface. The mock publishes no field ids, so
 * each requested value comes back with its own NOT_SUPPORTED status while the call succeeds,
 * which is how the real library answers ids a board lacks.
 */
#include <time.h>

#include "mock.h"

MOCK_API nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount,
                                               nvmlFieldValue_t *values)
{
    MOCK_DEVICE(dev, device);
    (void)dev;
    MOCK_REQUIRE(values != NULL && valuesCount >= 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long usec = (long long)now.tv_sec * 1000000LL + now.tv_nsec / 1000;
    for (int i = 0; i < valuesCount; i++) {
        values[i].timestamp = usec;
        values[i].latencyUsec = 0;
        values[i].nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
    }
    return NVML_SUCCESS;
}
