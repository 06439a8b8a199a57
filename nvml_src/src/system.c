/* System-wide queries: versions, process names, confidential computing, excluded GPUs. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mock.h"

MOCK_API nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    MOCK_REQUIRE_LIVE();
    return mock_copy_string(version, length, g_config.system.driver_version);
}

MOCK_API nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    MOCK_REQUIRE_LIVE();
    return mock_copy_string(version, length, g_config.system.nvml_version);
}

MOCK_API nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(cudaDriverVersion != NULL);
    *cudaDriverVersion = (int)g_config.system.cuda_driver_version;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
    return nvmlSystemGetCudaDriverVersion_v2(cudaDriverVersion);
}

/* "r<major>_<n>": the branch name the driver was cut from. */
MOCK_API nvmlReturn_t nvmlSystemGetDriverBranch(nvmlSystemDriverBranchInfo_t *branchInfo,
                                                unsigned int length)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(branchInfo != NULL);
    char branch[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
    unsigned major = 0;
    sscanf(g_config.system.driver_version, "%u", &major);
    snprintf(branch, sizeof branch, "r%u_00", major);
    unsigned room = length < sizeof branchInfo->branch ? length : sizeof branchInfo->branch;
    return mock_copy_string(branchInfo->branch, room, branch);
}

/* The command name of a process: the one nvidia-mock-ctl gave a GPU process of that pid, else
 * what /proc/<pid>/comm says. */
MOCK_API nvmlReturn_t nvmlSystemGetProcessName(unsigned int pid, char *name, unsigned int length)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(name != NULL && length > 0);
    char live[MOCK_LIVE_NAME_MAX + 1];
    if (mock_live_process_name(pid, live) == 0)
        return mock_copy_string(name, length, live);
    char path[64];
    snprintf(path, sizeof path, "/proc/%u/comm", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NVML_ERROR_NOT_FOUND;
    char comm[256];
    ssize_t n = read(fd, comm, sizeof comm - 1);
    close(fd);
    if (n <= 0)
        return NVML_ERROR_NOT_FOUND;
    comm[n] = '\0';
    comm[strcspn(comm, "\n")] = '\0';
    return mock_copy_string(name, length, comm);
}

/* No S-class host interface cards. */
MOCK_API nvmlReturn_t nvmlSystemGetHicVersion(unsigned int *hwbcCount, nvmlHwbcEntry_t *hwbcEntries)
{
    MOCK_REQUIRE_LIVE();
    (void)hwbcEntries;
    MOCK_REQUIRE(hwbcCount != NULL);
    *hwbcCount = 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlSystemGetNvlinkBwMode(unsigned int *nvlinkBwMode)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(nvlinkBwMode != NULL);
    *nvlinkBwMode = 0;               /* NVML_NVLINK_BW_MODE_FULL */
    return NVML_SUCCESS;
}

/* Confidential computing: the GPU is capable (Hopper and later), the system has it off. */
MOCK_API nvmlReturn_t nvmlSystemGetConfComputeCapabilities(nvmlConfComputeSystemCaps_t *capabilities)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(capabilities != NULL);
    capabilities->cpuCaps = 0;
    capabilities->gpusCaps = g_config.board.architecture >= 9 ? 1 : 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlSystemGetConfComputeState(nvmlConfComputeSystemState_t *state)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(state != NULL);
    state->environment = 0;
    state->ccFeature = 0;
    state->devToolsMode = 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlSystemGetConfComputeGpusReadyState(unsigned int *isAcceptingWork)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(isAcceptingWork != NULL);
    *isAcceptingWork = 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlSystemGetConfComputeKeyRotationThresholdInfo(
    nvmlConfComputeGetKeyRotationThresholdInfo_t *pKeyRotationThrInfo)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(pKeyRotationThrInfo != NULL);
    pKeyRotationThrInfo->attackerAdvantage = 60;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlGetExcludedDeviceCount(unsigned int *deviceCount)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(deviceCount != NULL);
    *deviceCount = 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlGetBlacklistDeviceCount(unsigned int *deviceCount)
{
    return nvmlGetExcludedDeviceCount(deviceCount);
}

MOCK_API nvmlReturn_t nvmlGetExcludedDeviceInfoByIndex(unsigned int index,
                                                       nvmlExcludedDeviceInfo_t *info)
{
    MOCK_REQUIRE_LIVE();
    (void)index;
    (void)info;
    return NVML_ERROR_INVALID_ARGUMENT;
}

MOCK_API nvmlReturn_t nvmlGetBlacklistDeviceInfoByIndex(unsigned int index,
                                                        nvmlExcludedDeviceInfo_t *info)
{
    return nvmlGetExcludedDeviceInfoByIndex(index, info);
}

/* No S-class units on a DGX: a count of zero, and no valid unit index. */
MOCK_API nvmlReturn_t nvmlUnitGetCount(unsigned int *unitCount)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(unitCount != NULL);
    *unitCount = 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlUnitGetHandleByIndex(unsigned int index, nvmlUnit_t *unit)
{
    MOCK_REQUIRE_LIVE();
    (void)index;
    (void)unit;
    return NVML_ERROR_INVALID_ARGUMENT;
}
