/*
 * nvmlDeviceGetFieldValues: the generic field interface. The mock publishes one field id,
 * below; every other requested value comes back with its own NOT_SUPPORTED status while the
 * call succeeds, which is how the real library answers ids a board lacks.
 */
#include <time.h>

#include "mock.h"

/*
 * NVML_FI_DEV_NVSWITCH_CONNECTED_LINK_COUNT: NVLinks of this GPU that end at an NVSwitch. The
 * NVLink boards of the profiles are DGX baseboards, where every link goes to a switch;
 * nvidia-smi topo -m reads this field to print NV<links> for every pair of such GPUs (NV18 on
 * a DGX H100), instead of counting GPU-to-GPU links.
 */
#define FI_NVSWITCH_CONNECTED_LINK_COUNT 147

MOCK_API nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount,
                                               nvmlFieldValue_t *values)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(values != NULL && valuesCount >= 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long usec = (long long)now.tv_sec * 1000000LL + now.tv_nsec / 1000;
    for (int i = 0; i < valuesCount; i++) {
        values[i].timestamp = usec;
        values[i].latencyUsec = 0;
        values[i].nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
        if (values[i].fieldId == FI_NVSWITCH_CONNECTED_LINK_COUNT &&
            g_config.board.nvlink_count > 0) {
            values[i].valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
            values[i].value.uiVal = (unsigned int)g_config.board.nvlink_count;
            values[i].nvmlReturn = NVML_SUCCESS;
        }
    }
    return NVML_SUCCESS;
}
