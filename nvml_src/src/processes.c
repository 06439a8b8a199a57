/*
 * Running processes and accounting. A mock GPU runs the compute processes nvidia-mock-ctl gave
 * it (none until then) and nothing else: the other lists are empty, answered with the count
 * protocol (*count = 0, SUCCESS), which also satisfies a size query.
 */
#include <string.h>

#include "mock.h"

/* Not in a MIG instance: the instance ids of a whole-GPU process. */
#define NO_INSTANCE 0xFFFFFFFFu

/* Size of the accounting ring buffer, as the driver reports it. */
#define ACCOUNTING_BUFFER_SIZE 4000

static nvmlReturn_t no_processes(nvmlDevice_t device, unsigned int *infoCount)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(infoCount != NULL);
    *infoCount = 0;
    return NVML_SUCCESS;
}

/*
 * The GPU's compute processes in the count protocol: INSUFFICIENT_SIZE with the count needed
 * when *infoCount is smaller; on SUCCESS the caller fills infos[0..*infoCount) from procs.
 */
static nvmlReturn_t compute_processes(nvmlDevice_t device, unsigned int *infoCount,
                                      const void *infos, struct mock_live_proc_info *procs)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(infoCount != NULL);
    unsigned n = mock_live_procs(dev->slot, procs, MOCK_LIVE_MAX_PROCS);
    if (*infoCount < n) {
        *infoCount = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    MOCK_REQUIRE(n == 0 || infos != NULL);
    *infoCount = n;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device,
                                                           unsigned int *infoCount,
                                                           nvmlProcessInfo_v1_t *infos)
{
    struct mock_live_proc_info procs[MOCK_LIVE_MAX_PROCS];
    nvmlReturn_t rc = compute_processes(device, infoCount, infos, procs);
    for (unsigned i = 0; rc == NVML_SUCCESS && i < *infoCount; i++)
        infos[i] = (nvmlProcessInfo_v1_t){ procs[i].pid, procs[i].used_mib << 20 };
    return rc;
}

MOCK_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
                                                              unsigned int *infoCount,
                                                              nvmlProcessInfo_t *infos)
{
    struct mock_live_proc_info procs[MOCK_LIVE_MAX_PROCS];
    nvmlReturn_t rc = compute_processes(device, infoCount, infos, procs);
    for (unsigned i = 0; rc == NVML_SUCCESS && i < *infoCount; i++)
        infos[i] = (nvmlProcessInfo_t){ procs[i].pid, procs[i].used_mib << 20, NO_INSTANCE,
                                        NO_INSTANCE };
    return rc;
}

/* v2 and v3 share one layout (nvmlProcessInfo_t is nvmlProcessInfo_v2_t). */
MOCK_API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device,
                                                              unsigned int *infoCount,
                                                              nvmlProcessInfo_v2_t *infos)
{
    return nvmlDeviceGetComputeRunningProcesses_v3(device, infoCount, infos);
}

int mock_live_process_name(unsigned pid, char out[MOCK_LIVE_NAME_MAX + 1])
{
    struct mock_live_proc_info procs[MOCK_LIVE_MAX_PROCS];
    for (unsigned d = 0; d < g_device_count; d++) {
        unsigned n = mock_live_procs(g_devices[d].slot, procs, MOCK_LIVE_MAX_PROCS);
        for (unsigned i = 0; i < n; i++) {
            if (procs[i].pid == pid) {
                memcpy(out, procs[i].name, sizeof procs[i].name);
                return 0;
            }
        }
    }
    return -1;
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
