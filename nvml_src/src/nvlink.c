/*
 * NVLink: every link of the board is up. Links are spread over the other GPUs of the node in
 * turn (link l of GPU k reaches GPU k + 1 + l mod (N - 1)), so every pair of GPUs is joined
 * by NVLink and P2P over NVLink works between any two, as on an NVSwitch baseboard.
 */
#include <string.h>

#include "mock.h"

/*
 * A link number the NVML API allows but the board lacks (A100: 12 of NVML_NVLINK_MAX_LINKS)
 * is NOT_SUPPORTED: nvidia-smi topo -m asks for every link up to the maximum and gives up on
 * the whole matrix at any other error.
 */
#define MOCK_LINK(var, handle, link)                                                         \
    MOCK_DEVICE(var, handle);                                                                \
    if (g_config.board.nvlink_count == 0)                                                    \
        return NVML_ERROR_NOT_SUPPORTED;                                                     \
    if ((link) >= NVML_NVLINK_MAX_LINKS)                                                     \
        return NVML_ERROR_INVALID_ARGUMENT;                                                  \
    if ((link) >= g_config.board.nvlink_count)                                               \
        return NVML_ERROR_NOT_SUPPORTED

MOCK_API nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned int link,
                                               nvmlEnableState_t *isActive)
{
    MOCK_LINK(dev, device, link);
    (void)dev;
    MOCK_REQUIRE(isActive != NULL);
    *isActive = NVML_FEATURE_ENABLED;
    return NVML_SUCCESS;
}

/* nvmlNvlinkVersion_t: 4 = 3.0 (Ampere), 6 = 4.0 (Hopper), 7 = 5.0 (Blackwell). */
MOCK_API nvmlReturn_t nvmlDeviceGetNvLinkVersion(nvmlDevice_t device, unsigned int link,
                                                 unsigned int *version)
{
    MOCK_LINK(dev, device, link);
    (void)dev;
    MOCK_REQUIRE(version != NULL);
    unsigned long long arch = g_config.board.architecture;
    *version = arch >= 10 ? 7 : arch == 9 ? 6 : 4;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetNvLinkCapability(nvmlDevice_t device, unsigned int link,
                                                    nvmlNvLinkCapability_t capability,
                                                    unsigned int *capResult)
{
    MOCK_LINK(dev, device, link);
    (void)dev;
    MOCK_REQUIRE(capResult != NULL);
    switch (capability) {
    case NVML_NVLINK_CAP_P2P_SUPPORTED:
    case NVML_NVLINK_CAP_P2P_ATOMICS:
    case NVML_NVLINK_CAP_VALID:
        *capResult = 1;
        return NVML_SUCCESS;
    case NVML_NVLINK_CAP_SYSMEM_ACCESS:
    case NVML_NVLINK_CAP_SYSMEM_ATOMICS:
    case NVML_NVLINK_CAP_SLI_BRIDGE:
        *capResult = 0;
        return NVML_SUCCESS;
    default:
        return NVML_ERROR_INVALID_ARGUMENT;
    }
}

/* The config entry (all GPUs of the node, visible or not) at the far end of a link. */
static const struct mock_gpu_entry *remote_gpu(const struct nvmlDevice_st *dev, unsigned link)
{
    unsigned n = g_config.gpu_count;
    unsigned self = dev->module_id - 1;
    if (n < 2)
        return NULL;
    unsigned offset = 1 + link % (n - 1);
    return &g_config.gpu[(self + offset) % n];
}

MOCK_API nvmlReturn_t nvmlDeviceGetNvLinkRemoteDeviceType(nvmlDevice_t device, unsigned int link,
                                                          nvmlIntNvLinkDeviceType_t *pNvLinkDeviceType)
{
    MOCK_LINK(dev, device, link);
    MOCK_REQUIRE(pNvLinkDeviceType != NULL);
    *pNvLinkDeviceType = remote_gpu(dev, link) ? NVML_NVLINK_DEVICE_TYPE_GPU
                                               : NVML_NVLINK_DEVICE_TYPE_SWITCH;
    return NVML_SUCCESS;
}

static unsigned hex_part(const char **s)
{
    unsigned v = 0;
    for (;; (*s)++) {
        char c = **s;
        if (c >= '0' && c <= '9')
            v = v * 16 + (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v = v * 16 + (unsigned)(c - 'A' + 10);
        else
            return v;
    }
}

MOCK_API nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t device, unsigned int link,
                                                          nvmlPciInfo_t *pci)
{
    MOCK_LINK(dev, device, link);
    MOCK_REQUIRE(pci != NULL);
    const struct mock_gpu_entry *remote = remote_gpu(dev, link);
    if (remote == NULL)
        return NVML_ERROR_NOT_SUPPORTED;
    const char *s = remote->pci_bus_id;
    unsigned domain = hex_part(&s);
    s++;
    unsigned bus = hex_part(&s);
    s++;
    unsigned devno = hex_part(&s);
    memset(pci, 0, sizeof *pci);
    pci->domain = domain;
    pci->bus = bus;
    pci->device = devno;
    pci->pciDeviceId = (unsigned)g_config.board.pci_device_id;
    pci->pciSubSystemId = (unsigned)g_config.board.pci_subsystem_id;
    memcpy(pci->busId, remote->pci_bus_id, strlen(remote->pci_bus_id) + 1);
    /* Legacy form: 4-digit domain. */
    static const char hex[] = "0123456789ABCDEF";
    char *l = pci->busIdLegacy;
    for (int shift = 12; shift >= 0; shift -= 4)
        *l++ = hex[(domain >> shift) & 0xf];
    *l++ = ':';
    *l++ = hex[(bus >> 4) & 0xf];
    *l++ = hex[bus & 0xf];
    *l++ = ':';
    *l++ = hex[(devno >> 4) & 0xf];
    *l++ = hex[devno & 0xf];
    *l++ = '.';
    *l++ = '0';
    *l = '\0';
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo(nvmlDevice_t device, unsigned int link,
                                                       nvmlPciInfo_t *pci)
{
    return nvmlDeviceGetNvLinkRemotePciInfo_v2(device, link, pci);
}

MOCK_API nvmlReturn_t nvmlDeviceGetNvLinkErrorCounter(nvmlDevice_t device, unsigned int link,
                                                      nvmlNvLinkErrorCounter_t counter,
                                                      unsigned long long *counterValue)
{
    MOCK_LINK(dev, device, link);
    (void)dev;
    MOCK_REQUIRE(counterValue != NULL && (unsigned)counter < NVML_NVLINK_ERROR_COUNT);
    *counterValue = 0;
    return NVML_SUCCESS;
}
