/*
 * Running processes and accounting. A mock GPU runs nothing: every list is empty, answered
 * with the count protocol (*count = 0, SUCCESS), which also satisfies a size query.
 */
#include "mock.h"

/* Size of the accounting ring buffer, as the driver reports it. */
#define ACCOUNTING_BUFFER_SIZE 4000

static nvmlReturn_t no_processes(nvmlDevice_t device, unsigned int *infoCount)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(infoCount != NULL);
    *infoCount = 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device,
                                                           unsigned int *infoCount,
                                                           nvmlProcessInfo_v1_t *infos)
{
    (void)infos;
    return no_processes(device, infoCount);
}

MOCK_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device,
                                                              unsigned int *infoCount,
                                                              nvmlProcessInfo_v2_t *infos)
{
    (void)infos;
    return no_processes(device, infoCount);
}

MOCK_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
                                                              unsigned int *infoCount,
                                                              nvmlProcessInfo_t *infos)
{
    (void)infos;
    return no_processes(device, infoCount);
}

MOCK_API nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses(nvmlDevice_t device,
                                                            unsigned int *infoCount,
                                                            nvmlProcessInfo_v1_t *infos)
{
    (void)infos;
    return no_processes(device, infoCount);
}

MOCK_API nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v2(nvmlDevice_t device,
                                                               unsigned int *infoCount,
                                                               nvmlProcessInfo_v2_t *infos)
{
    (void)infos;
    return no_processes(device, infoCount);
}

MOCK_API nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device,
                                                               unsigned int *infoCount,
                                                               nvmlProcessInfo_t *infos)
{
    (void)infos;
    return no_processes(device, infoCount);
}

MOCK_API nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses(nvmlDevice_t device,
                                                              unsigned int *infoCount,
                                                              nvmlProcessInfo_v1_t *infos)
{
    (void)infos;
    return no_processes(device, infoCount);
}

MOCK_API nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses_v2(nvmlDevice_t device,
                                                                 unsigned int *infoCount,
                                                                 nvmlProcessInfo_v2_t *infos)
{
    (void)infos;
    return no_processes(device, infoCount);
}

MOCK_API nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses_v3(nvmlDevice_t device,
                                                                 unsigned int *infoCount,
                                                                 nvmlProcessInfo_t *infos)
{
    (void)infos;
    return no_processes(device, infoCount);
}

MOCK_API nvmlReturn_t nvmlDeviceGetRunningProcessDetailList(nvmlDevice_t device,
                                                            nvmlProcessDetailList_t *plist)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(plist != NULL);
    if (plist->version != nvmlProcessDetailList_v1)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    plist->numProcArrayEntries = 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetAccountingBufferSize(nvmlDevice_t device,
                                                        unsigned int *bufferSize)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(bufferSize != NULL);
    *bufferSize = ACCOUNTING_BUFFER_SIZE;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetAccountingPids(nvmlDevice_t device, unsigned int *count,
                                                  unsigned int *pids)
{
    (void)pids;
    return no_processes(device, count);
}

MOCK_API nvmlReturn_t nvmlDeviceGetAccountingStats(nvmlDevice_t device, unsigned int pid,
                                                   nvmlAccountingStats_t *stats)
{
    MOCK_CHECK_DEVICE(device);
    (void)pid;
    MOCK_REQUIRE(stats != NULL);
    return NVML_ERROR_NOT_FOUND;
}
