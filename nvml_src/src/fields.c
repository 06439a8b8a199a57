/*
 * nvmlDeviceGetFieldValues: the generic field interface. The call succeeds and each value
 * carries its own status: the ids below are answered from the profile, every other id comes
 * back NOT_SUPPORTED, which is how the real library answers ids a board lacks.
 *
 * nvidia-smi -q reads the power readings and limits (GPU, module and memory scope), the memory
 * temperature, the T.Limit thresholds and the PCIe replay rollovers here, not through the
 * older single-value getters.
 */
#include <time.h>

#include "mock.h"

/* One field: fill v->value and v->valueType, or return why not. */
typedef nvmlReturn_t (*field_getter)(nvmlFieldValue_t *v);

static nvmlReturn_t put_uint(nvmlFieldValue_t *v, unsigned long long value)
{
    v->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
    v->value.uiVal = (unsigned int)value;
    return NVML_SUCCESS;
}

static nvmlReturn_t put_int(nvmlFieldValue_t *v, int value)
{
    v->valueType = NVML_VALUE_TYPE_SIGNED_INT;
    v->value.siVal = value;
    return NVML_SUCCESS;
}

/* A board value that is 0 where the board has no such sensor. */
static nvmlReturn_t put_sensor(nvmlFieldValue_t *v, unsigned long long value)
{
    return value == 0 ? NVML_ERROR_NOT_SUPPORTED : put_uint(v, value);
}

/* The GPU scope of a power field; the module (Grace-Hopper style) scope no profile has. */
static nvmlReturn_t put_gpu_power(nvmlFieldValue_t *v, unsigned long long milliwatts)
{
    if (v->scopeId != NVML_POWER_SCOPE_GPU)
        return NVML_ERROR_NOT_SUPPORTED;
    return put_uint(v, milliwatts);
}

static nvmlReturn_t memory_temp(nvmlFieldValue_t *v)
{
    return put_sensor(v, g_config.board.temp_mem_idle_c);
}

/* An idle board has never replayed a PCIe packet. */
static nvmlReturn_t pcie_replays(nvmlFieldValue_t *v)
{
    return put_uint(v, 0);
}

/*
 * NVLinks of this GPU that end at an NVSwitch. The NVLink boards of the profiles are DGX
 * baseboards, where every link goes to a switch; nvidia-smi topo -m reads this field to print
 * NV<links> for every pair of such GPUs (NV18 on a DGX H100), instead of counting GPU-to-GPU
 * links.
 */
static nvmlReturn_t nvswitch_links(nvmlFieldValue_t *v)
{
    return put_sensor(v, g_config.board.nvlink_count);
}

static nvmlReturn_t power_average(nvmlFieldValue_t *v)
{
    if (v->scopeId == NVML_POWER_SCOPE_MEMORY)
        return put_sensor(v, g_config.board.power_memory_idle_mw);
    if (!g_config.board.power_average_supported)
        return NVML_ERROR_NOT_SUPPORTED;
    return put_gpu_power(v, g_config.board.power_idle_mw);
}

static nvmlReturn_t power_instant(nvmlFieldValue_t *v)
{
    return put_gpu_power(v, g_config.board.power_idle_mw);
}

static nvmlReturn_t power_min_limit(nvmlFieldValue_t *v)
{
    return put_gpu_power(v, g_config.board.power_min_limit_mw);
}

static nvmlReturn_t power_max_limit(nvmlFieldValue_t *v)
{
    return put_gpu_power(v, g_config.board.power_max_limit_mw);
}

/* Default, current and requested limit: a board runs at its default until someone sets one. */
static nvmlReturn_t power_default_limit(nvmlFieldValue_t *v)
{
    return put_gpu_power(v, g_config.board.power_default_limit_mw);
}

/* T.Limit thresholds: degrees of margin left at each limit, so past T.Limit is negative. */
static nvmlReturn_t tlimit_shutdown(nvmlFieldValue_t *v)
{
    return put_int(v, -(int)g_config.board.tlimit_shutdown_c);
}

static nvmlReturn_t tlimit_slowdown(nvmlFieldValue_t *v)
{
    return put_int(v, -(int)g_config.board.tlimit_slowdown_c);
}

/* T.Limit is the maximum operating temperature: its own threshold is 0 by definition. */
static nvmlReturn_t tlimit_gpu_max(nvmlFieldValue_t *v)
{
    return put_int(v, 0);
}

static nvmlReturn_t tlimit_mem_max(nvmlFieldValue_t *v)
{
    if (g_config.board.temp_mem_max_c == 0)
        return NVML_ERROR_NOT_SUPPORTED;
    return put_int(v, 0);
}

static const struct {
    unsigned int id;
    field_getter get;
} k_fields[] = {
    {NVML_FI_DEV_MEMORY_TEMP, memory_temp},
    {NVML_FI_DEV_PCIE_REPLAY_COUNTER, pcie_replays},
    {NVML_FI_DEV_PCIE_REPLAY_ROLLOVER_COUNTER, pcie_replays},
    {NVML_FI_DEV_NVSWITCH_CONNECTED_LINK_COUNT, nvswitch_links},
    {NVML_FI_DEV_POWER_AVERAGE, power_average},
    {NVML_FI_DEV_POWER_INSTANT, power_instant},
    {NVML_FI_DEV_POWER_MIN_LIMIT, power_min_limit},
    {NVML_FI_DEV_POWER_MAX_LIMIT, power_max_limit},
    {NVML_FI_DEV_POWER_DEFAULT_LIMIT, power_default_limit},
    {NVML_FI_DEV_POWER_CURRENT_LIMIT, power_default_limit},
    {NVML_FI_DEV_POWER_REQUESTED_LIMIT, power_default_limit},
    {NVML_FI_DEV_TEMPERATURE_SHUTDOWN_TLIMIT, tlimit_shutdown},
    {NVML_FI_DEV_TEMPERATURE_SLOWDOWN_TLIMIT, tlimit_slowdown},
    {NVML_FI_DEV_TEMPERATURE_MEM_MAX_TLIMIT, tlimit_mem_max},
    {NVML_FI_DEV_TEMPERATURE_GPU_MAX_TLIMIT, tlimit_gpu_max},
};

static nvmlReturn_t field_value(nvmlFieldValue_t *v)
{
    for (size_t i = 0; i < sizeof k_fields / sizeof k_fields[0]; i++)
        if (k_fields[i].id == v->fieldId)
            return k_fields[i].get(v);
    return NVML_ERROR_NOT_SUPPORTED;
}

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
        values[i].nvmlReturn = field_value(&values[i]);
    }
    return NVML_SUCCESS;
}
