/* Temperatures, thresholds and fans. */
#include "mock.h"

MOCK_API nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device,
                                               nvmlTemperatureSensors_t sensorType,
                                               unsigned int *temp)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(temp != NULL);
    MOCK_REQUIRE(sensorType == NVML_TEMPERATURE_GPU);
    *temp = (unsigned)mock_live_value(dev->slot, MOCK_LIVE_TEMP, g_config.board.temp_idle_c);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_t *temperature)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(temperature != NULL);
    MOCK_REQUIRE(temperature->sensorType == NVML_TEMPERATURE_GPU);
    temperature->temperature =
        (int)mock_live_value(dev->slot, MOCK_LIVE_TEMP, g_config.board.temp_idle_c);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetTemperatureThreshold(nvmlDevice_t device,
                                                        nvmlTemperatureThresholds_t thresholdType,
                                                        unsigned int *temp)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(temp != NULL);
    const struct mock_board *b = &g_config.board;
    unsigned long long v;
    switch (thresholdType) {
    case NVML_TEMPERATURE_THRESHOLD_SHUTDOWN:
        v = b->temp_shutdown_c;
        break;
    case NVML_TEMPERATURE_THRESHOLD_SLOWDOWN:
        v = b->temp_slowdown_c;
        break;
    case NVML_TEMPERATURE_THRESHOLD_MEM_MAX:
        v = b->temp_mem_max_c;
        break;
    case NVML_TEMPERATURE_THRESHOLD_GPU_MAX:
        v = b->temp_gpu_max_c;
        break;
    case NVML_TEMPERATURE_THRESHOLD_ACOUSTIC_MIN:
    case NVML_TEMPERATURE_THRESHOLD_ACOUSTIC_CURR:
    case NVML_TEMPERATURE_THRESHOLD_ACOUSTIC_MAX:
    case NVML_TEMPERATURE_THRESHOLD_GPS_CURR:
        return NVML_ERROR_NOT_SUPPORTED;
    default:
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    /* A board without a memory sensor (GDDR boards) reports 0 in the profile. */
    if (v == 0)
        return NVML_ERROR_NOT_SUPPORTED;
    *temp = (unsigned)v;
    return NVML_SUCCESS;
}

nvmlReturn_t mock_margin_temperature(nvmlDevice_t device, int *margin)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(margin != NULL);
    const struct mock_board *b = &g_config.board;
    *margin = (int)b->temp_gpu_max_c - (int)b->temp_idle_c;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetMarginTemperature(nvmlDevice_t device,
                                                     nvmlMarginTemperature_t *marginTempInfo)
{
    return mock_margin_temperature(device, marginTempInfo == NULL
                                               ? NULL : &marginTempInfo->marginTemperature);
}

MOCK_API nvmlReturn_t nvmlDeviceGetNumFans(nvmlDevice_t device, unsigned int *numFans)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(numFans != NULL);
    *numFans = (unsigned)g_config.board.num_fans;
    return NVML_SUCCESS;
}

/* Passively cooled boards (every built-in profile) have no fan to report on. */
MOCK_API nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t device, unsigned int *speed)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(speed != NULL);
    if (g_config.board.num_fans == 0)
        return NVML_ERROR_NOT_SUPPORTED;
    *speed = 30;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetFanSpeed_v2(nvmlDevice_t device, unsigned int fan,
                                               unsigned int *speed)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(speed != NULL && fan < g_config.board.num_fans);
    *speed = 30;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetFanSpeedRPM(nvmlDevice_t device, nvmlFanSpeedInfo_t *fanSpeed)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(fanSpeed != NULL && fanSpeed->fan < g_config.board.num_fans);
    fanSpeed->speed = 1500;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetMinMaxFanSpeed(nvmlDevice_t device, unsigned int *minSpeed,
                                                  unsigned int *maxSpeed)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(minSpeed != NULL && maxSpeed != NULL && g_config.board.num_fans > 0);
    *minSpeed = 30;
    *maxSpeed = 100;
    return NVML_SUCCESS;
}
