/*
 * NVLink: every link of the board is up. Links are spread over the other GPUs of the node as
 * the rounds of a round-robin tournament: link l belongs to round l mod R, and in each round
 * every GPU is paired with exactly one other (or, with an odd count, one GPU sits out and its
 * link reaches no GPU). So link l of GPU a reaches GPU b exactly when link l of b reaches a:
 * both ends count the same links between them, every pair of GPUs is joined by NVLink and P2P
 * over NVLink works between any two, as on an NVSwitch baseboard.
 */
#include "mock.h"

/*
 * A link number the NVML API allows but the board lacks (A100: 12 of NVML_NVLINK_MAX_LINKS)
 * is NOT_SUPPORTED: nvidia-smi topo -m asks for every link up to the maximum and gives up on
 * the whole matrix at any other error.
 */
#define MOCK_LINK_SUPPORTED(link)                                                            \
    if (g_config.board.nvlink_count == 0)                                                    \
        return NVML_ERROR_NOT_SUPPORTED;                                                     \
    if ((link) >= NVML_NVLINK_MAX_LINKS)                                                     \
        return NVML_ERROR_INVALID_ARGUMENT;                                                  \
    if ((link) >= g_config.board.nvlink_count)                                               \
        return NVML_ERROR_NOT_SUPPORTED

MOCK_API nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned int link,
                                               nvmlEnableState_t *isActive)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_LINK_SUPPORTED(link);
    MOCK_REQUIRE(isActive != NULL);
    *isActive = NVML_FEATURE_ENABLED;
    return NVML_SUCCESS;
}

/* nvmlNvlinkVersion_t: 4 = 3.0 (Ampere), 6 = 4.0 (Hopper), 7 = 5.0 (Blackwell). */
MOCK_API nvmlReturn_t nvmlDeviceGetNvLinkVersion(nvmlDevice_t device, unsigned int link,
                                                 unsigned int *version)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_LINK_SUPPORTED(link);
    MOCK_REQUIRE(version != NULL);
    unsigned long long arch = g_config.board.architecture;
    *version = arch >= 10 ? 7 : arch == 9 ? 6 : 4;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetNvLinkCapability(nvmlDevice_t device, unsigned int link,
                                                    nvmlNvLinkCapability_t capability,
                                                    unsigned int *capResult)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_LINK_SUPPORTED(link);
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

/*
 * The partner of GPU `self` in round `round` of the circle method for n GPUs: with m = n - 1
 * rounds (n even), GPU m meets GPU `round` and the others pair up as self + other = 2 round
 * (mod m); with n odd there are m = n rounds and the GPU that would meet itself sits out.
 * Returns n for "no partner".
 */
static unsigned round_robin_partner(unsigned n, unsigned round, unsigned self)
{
    unsigned m = n % 2 == 0 ? n - 1 : n;
    if (self == m)
        return round;
    unsigned other = (2 * round + m - self) % m;
    if (other != self)
        return other;
    return n % 2 == 0 ? m : n;
}

/* The config entry (all GPUs of the node, visible or not) at the far end of a link. */
static const struct mock_gpu *remote_gpu(const struct nvmlDevice_st *dev, unsigned link)
{
    unsigned n = g_config.gpu_count;
    unsigned self = dev->module_id - 1;
    if (n < 2)
        return NULL;
    unsigned rounds = n % 2 == 0 ? n - 1 : n;
    unsigned peer = round_robin_partner(n, link % rounds, self);
    return peer < n ? &g_config.gpu[peer] : NULL;
}

MOCK_API nvmlReturn_t nvmlDeviceGetNvLinkRemoteDeviceType(nvmlDevice_t device, unsigned int link,
                                                          nvmlIntNvLinkDeviceType_t *pNvLinkDeviceType)
{
    MOCK_DEVICE(dev, device);
    MOCK_LINK_SUPPORTED(link);
    MOCK_REQUIRE(pNvLinkDeviceType != NULL);
    *pNvLinkDeviceType = remote_gpu(dev, link) ? NVML_NVLINK_DEVICE_TYPE_GPU
                                               : NVML_NVLINK_DEVICE_TYPE_SWITCH;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t device, unsigned int link,
                                                          nvmlPciInfo_t *pci)
{
    MOCK_DEVICE(dev, device);
    MOCK_LINK_SUPPORTED(link);
    MOCK_REQUIRE(pci != NULL);
    const struct mock_gpu *remote = remote_gpu(dev, link);
    if (remote == NULL)
        return NVML_ERROR_NOT_SUPPORTED;
    mock_pci_info(pci, &remote->pci_bus_id);
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
    MOCK_CHECK_DEVICE(device);
    MOCK_LINK_SUPPORTED(link);
    MOCK_REQUIRE(counterValue != NULL && (unsigned)counter < NVML_NVLINK_ERROR_COUNT);
    *counterValue = 0;
    return NVML_SUCCESS;
}
