/* PCI identity and PCIe link getters. */
#include <string.h>

#include "mock.h"

MOCK_API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(pci != NULL);
    *pci = dev->pci;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    return nvmlDeviceGetPciInfo_v3(device, pci);
}

MOCK_API nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    return nvmlDeviceGetPciInfo_v3(device, pci);
}

MOCK_API nvmlReturn_t nvmlDeviceGetPciInfoExt(nvmlDevice_t device, nvmlPciInfoExt_t *pci)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(pci != NULL);
    if (pci->version != nvmlPciInfoExt_v1)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    pci->domain = dev->pci.domain;
    pci->bus = dev->pci.bus;
    pci->device = dev->pci.device;
    pci->pciDeviceId = dev->pci.pciDeviceId;
    pci->pciSubSystemId = dev->pci.pciSubSystemId;
    pci->baseClass = 0x3;            /* display controller */
    pci->subClass = 0x2;             /* 3D controller, as data-centre GPUs enumerate */
    memcpy(pci->busId, dev->pci.busId, sizeof pci->busId);
    return NVML_SUCCESS;
}

static nvmlReturn_t board_uint(nvmlDevice_t device, unsigned int *out, unsigned long long value)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(out != NULL);
    *out = (unsigned int)value;
    return NVML_SUCCESS;
}

/* The mock's links run at their maximum, as an idle data-centre GPU in P0 does. */
MOCK_API nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t device,
                                                          unsigned int *currLinkGen)
{
    return board_uint(device, currLinkGen, g_config.board.pcie_max_gen);
}

MOCK_API nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t device,
                                                     unsigned int *currLinkWidth)
{
    return board_uint(device, currLinkWidth, g_config.board.pcie_max_width);
}

MOCK_API nvmlReturn_t nvmlDeviceGetMaxPcieLinkGeneration(nvmlDevice_t device,
                                                         unsigned int *maxLinkGen)
{
    return board_uint(device, maxLinkGen, g_config.board.pcie_max_gen);
}

MOCK_API nvmlReturn_t nvmlDeviceGetGpuMaxPcieLinkGeneration(nvmlDevice_t device,
                                                            unsigned int *maxLinkGenDevice)
{
    return board_uint(device, maxLinkGenDevice, g_config.board.pcie_max_gen);
}

MOCK_API nvmlReturn_t nvmlDeviceGetMaxPcieLinkWidth(nvmlDevice_t device,
                                                    unsigned int *maxLinkWidth)
{
    return board_uint(device, maxLinkWidth, g_config.board.pcie_max_width);
}

/* nvmlPcieLinkMaxSpeed_t numbers generations 1..6 as 1..6. */
MOCK_API nvmlReturn_t nvmlDeviceGetPcieLinkMaxSpeed(nvmlDevice_t device, unsigned int *maxSpeed)
{
    unsigned long long gen = g_config.board.pcie_max_gen;
    return board_uint(device, maxSpeed, gen <= 6 ? gen : 0);
}

/* Per-lane transfer rate in MT/s of the current generation. */
MOCK_API nvmlReturn_t nvmlDeviceGetPcieSpeed(nvmlDevice_t device, unsigned int *pcieSpeed)
{
    static const unsigned rate[] = { 0, 2500, 5000, 8000, 16000, 32000, 64000 };
    unsigned long long gen = g_config.board.pcie_max_gen;
    return board_uint(device, pcieSpeed, gen <= 6 ? rate[gen] : 0);
}

MOCK_API nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t device, unsigned int *value)
{
    return board_uint(device, value, 0);
}

MOCK_API nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t device,
                                                  nvmlPcieUtilCounter_t counter,
                                                  unsigned int *value)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(value != NULL);
    MOCK_REQUIRE(counter == NVML_PCIE_UTIL_TX_BYTES || counter == NVML_PCIE_UTIL_RX_BYTES);
    *value = 0;
    return NVML_SUCCESS;
}
