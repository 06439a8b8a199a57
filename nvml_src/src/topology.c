/*
 * PCIe/NUMA topology: common ancestors, nearest GPUs, CPU and memory affinity, P2P status.
 * GPUs on one NUMA node meet at that node's host bridges (NODE); others cross the SMP
 * interconnect (SYSTEM). CPUs are shared out evenly among the NUMA nodes that hold GPUs.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "mock.h"

static pthread_once_t g_cpu_once = PTHREAD_ONCE_INIT;
static unsigned g_cpus;

static void count_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    g_cpus = n > 0 ? (unsigned)n : 1;
}

/* CPUs [first, first + count) belong to NUMA node `node`. */
static void numa_cpus(unsigned node, unsigned *first, unsigned *count)
{
    pthread_once(&g_cpu_once, count_cpus);
    unsigned nodes = g_numa_count ? g_numa_count : 1;
    unsigned per = g_cpus / nodes;
    if (per == 0) {
        /* Fewer CPUs than nodes: every node shares them all. */
        *first = 0;
        *count = g_cpus;
        return;
    }
    *first = node * per;
    *count = per;
}

static nvmlGpuTopologyLevel_t level_between(const struct nvmlDevice_st *a,
                                            const struct nvmlDevice_st *b)
{
    if (a == b)
        return NVML_TOPOLOGY_INTERNAL;
    return a->numa_node == b->numa_node ? NVML_TOPOLOGY_NODE : NVML_TOPOLOGY_SYSTEM;
}

MOCK_API nvmlReturn_t nvmlDeviceGetTopologyCommonAncestor(nvmlDevice_t device1, nvmlDevice_t device2,
                                                          nvmlGpuTopologyLevel_t *pathInfo)
{
    MOCK_DEVICE(a, device1);
    struct nvmlDevice_st *b = mock_device(device2);
    MOCK_REQUIRE(b != NULL && pathInfo != NULL);
    *pathInfo = level_between(a, b);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetTopologyNearestGpus(nvmlDevice_t device,
                                                       nvmlGpuTopologyLevel_t level,
                                                       unsigned int *count,
                                                       nvmlDevice_t *deviceArray)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(count != NULL);
    MOCK_REQUIRE(level > NVML_TOPOLOGY_INTERNAL && level <= NVML_TOPOLOGY_SYSTEM);
    unsigned n = 0;
    for (unsigned i = 0; i < g_device_count; i++)
        if (&g_devices[i] != dev && level_between(dev, &g_devices[i]) <= level)
            n++;
    if (*count == 0) {
        *count = n;
        return NVML_SUCCESS;
    }
    MOCK_REQUIRE(deviceArray != NULL);
    unsigned filled = 0;
    for (unsigned i = 0; i < g_device_count && filled < *count; i++)
        if (&g_devices[i] != dev && level_between(dev, &g_devices[i]) <= level)
            deviceArray[filled++] = &g_devices[i];
    *count = filled;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlSystemGetTopologyGpuSet(unsigned int cpuNumber, unsigned int *count,
                                                  nvmlDevice_t *deviceArray)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(count != NULL);
    unsigned n = 0, filled = 0;
    for (unsigned i = 0; i < g_device_count; i++) {
        unsigned first, cpus;
        numa_cpus(g_devices[i].numa_node, &first, &cpus);
        if (cpuNumber < first || cpuNumber >= first + cpus)
            continue;
        n++;
        if (*count != 0 && deviceArray != NULL && filled < *count)
            deviceArray[filled++] = &g_devices[i];
    }
    if (*count == 0) {
        *count = n;
        return NVML_SUCCESS;
    }
    MOCK_REQUIRE(deviceArray != NULL);
    *count = filled;
    return NVML_SUCCESS;
}

static void set_bits(unsigned long *set, unsigned words, unsigned first, unsigned count)
{
    const unsigned bits = 8 * sizeof(unsigned long);
    memset(set, 0, words * sizeof(unsigned long));
    for (unsigned c = first; c < first + count && c / bits < words; c++)
        set[c / bits] |= 1UL << (c % bits);
}

MOCK_API nvmlReturn_t nvmlDeviceGetCpuAffinityWithinScope(nvmlDevice_t device,
                                                          unsigned int cpuSetSize,
                                                          unsigned long *cpuSet,
                                                          nvmlAffinityScope_t scope)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(cpuSet != NULL && cpuSetSize > 0);
    MOCK_REQUIRE(scope == NVML_AFFINITY_SCOPE_NODE || scope == NVML_AFFINITY_SCOPE_SOCKET);
    unsigned first, count;
    numa_cpus(dev->numa_node, &first, &count);
    set_bits(cpuSet, cpuSetSize, first, count);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetCpuAffinity(nvmlDevice_t device, unsigned int cpuSetSize,
                                               unsigned long *cpuSet)
{
    return nvmlDeviceGetCpuAffinityWithinScope(device, cpuSetSize, cpuSet,
                                               NVML_AFFINITY_SCOPE_NODE);
}

MOCK_API nvmlReturn_t nvmlDeviceGetMemoryAffinity(nvmlDevice_t device, unsigned int nodeSetSize,
                                                  unsigned long *nodeSet, nvmlAffinityScope_t scope)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(nodeSet != NULL && nodeSetSize > 0);
    MOCK_REQUIRE(scope == NVML_AFFINITY_SCOPE_NODE || scope == NVML_AFFINITY_SCOPE_SOCKET);
    set_bits(nodeSet, nodeSetSize, dev->numa_node, 1);
    return NVML_SUCCESS;
}

/* GPU memory is not a NUMA node on x86 systems (only on coherent C2C systems). */
MOCK_API nvmlReturn_t nvmlDeviceGetNumaNodeId(nvmlDevice_t device, unsigned int *node)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(node != NULL);
    return NVML_ERROR_NOT_SUPPORTED;
}

MOCK_API nvmlReturn_t nvmlDeviceGetP2PStatus(nvmlDevice_t device1, nvmlDevice_t device2,
                                             nvmlGpuP2PCapsIndex_t p2pIndex,
                                             nvmlGpuP2PStatus_t *p2pStatus)
{
    MOCK_DEVICE(a, device1);
    struct nvmlDevice_st *b = mock_device(device2);
    MOCK_REQUIRE(b != NULL && p2pStatus != NULL);
    MOCK_REQUIRE((unsigned)p2pIndex < NVML_P2P_CAPS_INDEX_UNKNOWN);
    int nvlink = g_config.board.nvlink_count > 0;
    if (p2pIndex == NVML_P2P_CAPS_INDEX_NVLINK)
        *p2pStatus = nvlink && a != b ? NVML_P2P_STATUS_OK : NVML_P2P_STATUS_NOT_SUPPORTED;
    else if (nvlink || a->numa_node == b->numa_node)
        *p2pStatus = NVML_P2P_STATUS_OK;
    else
        *p2pStatus = NVML_P2P_STATUS_CHIPSET_NOT_SUPPORTED;
    return NVML_SUCCESS;
}
