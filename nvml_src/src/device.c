/* Enumeration (count, handles by index, UUID, serial, PCI bus id) and identity getters. */
#include <string.h>

#include "mock.h"

nvmlReturn_t mock_copy_string(char *dst, unsigned int length, const char *src)
{
    if (dst == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    size_t need = strlen(src) + 1;
    if (length < need)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, need);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(deviceCount != NULL);
    *deviceCount = g_device_count;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount)
{
    return nvmlDeviceGetCount_v2(deviceCount);
}

MOCK_API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(device != NULL && index < g_device_count);
    /* As for a real GPU that fell off the bus: nvidia-smi then prints "[GPU is lost]". */
    if (mock_live_lost(g_devices[index].slot))
        return NVML_ERROR_GPU_IS_LOST;
    *device = &g_devices[index];
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

MOCK_API nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(uuid != NULL && device != NULL);
    for (unsigned i = 0; i < g_device_count; i++) {
        if (strcmp(g_devices[i].uuid, uuid) == 0) {
            *device = &g_devices[i];
            return NVML_SUCCESS;
        }
    }
    if (strncmp(uuid, "MIG-", 4) == 0)
        return mock_mig_device_by_uuid(uuid, device);
    return NVML_ERROR_NOT_FOUND;
}

/* The 16 bytes of "GPU-xxxxxxxx-xxxx-...": hex digits after the prefix, dashes skipped. */
static int uuid_bytes(const char *uuid, unsigned char out[NVML_DEVICE_UUID_BINARY_LEN])
{
    const char *p = strchr(uuid, '-');
    if (p == NULL)
        return -1;
    unsigned n = 0;
    for (p++; *p != '\0' && n < 2 * NVML_DEVICE_UUID_BINARY_LEN; p++) {
        if (*p == '-')
            continue;
        int d = mock_hex_digit(*p);
        if (d < 0)
            return -1;
        if (n % 2 == 0)
            out[n / 2] = (unsigned char)(d << 4);
        else
            out[n / 2] |= (unsigned char)d;
        n++;
    }
    return n == 2 * NVML_DEVICE_UUID_BINARY_LEN ? 0 : -1;
}

MOCK_API nvmlReturn_t nvmlDeviceGetHandleByUUIDV(const nvmlUUID_t *uuid, nvmlDevice_t *device)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(uuid != NULL && device != NULL);
    if (uuid->type == NVML_UUID_TYPE_ASCII) {
        char text[NVML_DEVICE_UUID_ASCII_LEN + 1];
        memcpy(text, uuid->value.str, NVML_DEVICE_UUID_ASCII_LEN);
        text[NVML_DEVICE_UUID_ASCII_LEN] = '\0';
        return nvmlDeviceGetHandleByUUID(text, device);
    }
    if (uuid->type != NVML_UUID_TYPE_BINARY)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned i = 0; i < g_device_count; i++) {
        unsigned char bytes[NVML_DEVICE_UUID_BINARY_LEN];
        if (uuid_bytes(g_devices[i].uuid, bytes) == 0 &&
            memcmp(bytes, uuid->value.bytes, sizeof bytes) == 0) {
            *device = &g_devices[i];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

MOCK_API nvmlReturn_t nvmlDeviceGetHandleBySerial(const char *serial, nvmlDevice_t *device)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(serial != NULL && device != NULL);
    for (unsigned i = 0; i < g_device_count; i++) {
        if (strcmp(g_devices[i].serial, serial) == 0) {
            *device = &g_devices[i];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

MOCK_API nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId, nvmlDevice_t *device)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(pciBusId != NULL && device != NULL);
    /* Both NVML forms ("00000000:07:00.0", the legacy "0000:07:00.0") and the domain-less
     * "07:00.0" that some tools pass. */
    struct mock_bus_id want;
    if (mock_parse_bus_id(pciBusId, strlen(pciBusId), 1, &want) != 0)
        return NVML_ERROR_NOT_FOUND;
    for (unsigned i = 0; i < g_device_count; i++) {
        const nvmlPciInfo_t *pci = &g_devices[i].pci;
        if (pci->domain == want.domain && pci->bus == want.bus && pci->device == want.device &&
            want.function == 0) {
            *device = &g_devices[i];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

MOCK_API nvmlReturn_t nvmlDeviceGetHandleByPciBusId(const char *pciBusId, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByPciBusId_v2(pciBusId, device);
}

MOCK_API nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(index != NULL);
    *index = dev->index;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber)
{
    struct mock_mig_device mig;
    nvmlReturn_t rc;
    if (mock_mig_device(device, &mig, &rc)) {      /* a MIG device: its GPU's /dev/nvidia<minor> */
        if (rc == NVML_SUCCESS)
            device = mig.parent;
        else
            return rc;
    }
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(minorNumber != NULL);
    *minorNumber = dev->minor;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    struct mock_mig_device mig;
    nvmlReturn_t rc;
    if (mock_mig_device(device, &mig, &rc))
        return rc != NVML_SUCCESS ? rc : mock_copy_string(uuid, length, mig.uuid);
    MOCK_DEVICE(dev, device);
    return mock_copy_string(uuid, length, dev->uuid);
}

MOCK_API nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t device, char *serial, unsigned int length)
{
    MOCK_DEVICE(dev, device);
    return mock_copy_string(serial, length, dev->serial);
}

MOCK_API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    struct mock_mig_device mig;
    nvmlReturn_t rc;
    if (mock_mig_device(device, &mig, &rc))
        return rc != NVML_SUCCESS ? rc : mock_copy_string(name, length, mig.name);
    MOCK_CHECK_DEVICE(device);
    return mock_copy_string(name, length, g_config.board.name);
}

MOCK_API nvmlReturn_t nvmlDeviceGetBrand(nvmlDevice_t device, nvmlBrandType_t *type)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(type != NULL);
    *type = (nvmlBrandType_t)g_config.board.brand;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device, nvmlDeviceArchitecture_t *arch)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(arch != NULL);
    *arch = (nvmlDeviceArchitecture_t)g_config.board.architecture;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(major != NULL && minor != NULL);
    *major = (int)g_config.board.cc_major;
    *minor = (int)g_config.board.cc_minor;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetBoardPartNumber(nvmlDevice_t device, char *partNumber,
                                                   unsigned int length)
{
    MOCK_CHECK_DEVICE(device);
    return mock_copy_string(partNumber, length, g_config.board.board_part_number);
}

MOCK_API nvmlReturn_t nvmlDeviceGetBoardId(nvmlDevice_t device, unsigned int *boardId)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(boardId != NULL);
    /* One board per GPU on SXM baseboards; the id follows the PCI location like the driver's. */
    *boardId = (dev->pci.bus << 8) | (dev->pci.device << 3);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetMultiGpuBoard(nvmlDevice_t device, unsigned int *multiGpuBool)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(multiGpuBool != NULL);
    *multiGpuBool = 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetModuleId(nvmlDevice_t device, unsigned int *moduleId)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(moduleId != NULL);
    *moduleId = dev->module_id;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetVbiosVersion(nvmlDevice_t device, char *version,
                                                unsigned int length)
{
    MOCK_CHECK_DEVICE(device);
    return mock_copy_string(version, length, g_config.board.vbios_version);
}

MOCK_API nvmlReturn_t nvmlDeviceGetInforomImageVersion(nvmlDevice_t device, char *version,
                                                       unsigned int length)
{
    MOCK_CHECK_DEVICE(device);
    return mock_copy_string(version, length, g_config.board.inforom_image_version);
}

MOCK_API nvmlReturn_t nvmlDeviceGetInforomVersion(nvmlDevice_t device, nvmlInforomObject_t object,
                                                  char *version, unsigned int length)
{
    MOCK_CHECK_DEVICE(device);
    /* The object versions a real H100 reports (nvidia-smi -q: OEM 2.1, ECC 7.16, power N/A). */
    switch (object) {
    case NVML_INFOROM_OEM:
        return mock_copy_string(version, length, "2.1");
    case NVML_INFOROM_ECC:
        return mock_copy_string(version, length, "7.16");
    case NVML_INFOROM_POWER:
    case NVML_INFOROM_DEN:
        return NVML_ERROR_NOT_SUPPORTED;
    default:
        return NVML_ERROR_INVALID_ARGUMENT;
    }
}

MOCK_API nvmlReturn_t nvmlDeviceGetInforomConfigurationChecksum(nvmlDevice_t device,
                                                                unsigned int *checksum)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(checksum != NULL);
    *checksum = 0;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetNumGpuCores(nvmlDevice_t device, unsigned int *numCores)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(numCores != NULL);
    *numCores = (unsigned)g_config.board.cuda_cores;
    return NVML_SUCCESS;
}

static nvmlReturn_t enable_state(nvmlDevice_t device, nvmlEnableState_t *out,
                                 nvmlEnableState_t value)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(out != NULL);
    *out = value;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t device, nvmlEnableState_t *mode)
{
    return enable_state(device, mode, NVML_FEATURE_ENABLED);
}

MOCK_API nvmlReturn_t nvmlDeviceGetDisplayMode(nvmlDevice_t device, nvmlEnableState_t *display)
{
    return enable_state(device, display, NVML_FEATURE_ENABLED);
}

MOCK_API nvmlReturn_t nvmlDeviceGetDisplayActive(nvmlDevice_t device, nvmlEnableState_t *isActive)
{
    return enable_state(device, isActive, NVML_FEATURE_DISABLED);
}

MOCK_API nvmlReturn_t nvmlDeviceGetAccountingMode(nvmlDevice_t device, nvmlEnableState_t *mode)
{
    return enable_state(device, mode, NVML_FEATURE_DISABLED);
}

MOCK_API nvmlReturn_t nvmlDeviceGetComputeMode(nvmlDevice_t device, nvmlComputeMode_t *mode)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(mode != NULL);
    *mode = NVML_COMPUTEMODE_DEFAULT;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetVirtualizationMode(nvmlDevice_t device,
                                                      nvmlGpuVirtualizationMode_t *pVirtualMode)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(pVirtualMode != NULL);
    /* A mock node is bare metal, not the pass-through VM the H100 reference was read on. */
    *pVirtualMode = NVML_GPU_VIRTUALIZATION_MODE_NONE;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetGspFirmwareMode(nvmlDevice_t device, unsigned int *isEnabled,
                                                   unsigned int *defaultMode)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(isEnabled != NULL && defaultMode != NULL);
    *isEnabled = (unsigned)g_config.board.gsp_firmware;
    *defaultMode = (unsigned)g_config.board.gsp_firmware;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetGspFirmwareVersion(nvmlDevice_t device, char *version)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(version != NULL);
    if (!g_config.board.gsp_firmware)
        return NVML_ERROR_NOT_SUPPORTED;
    return mock_copy_string(version, NVML_GSP_FIRMWARE_VERSION_BUF_SIZE,
                            g_config.system.driver_version);
}

MOCK_API nvmlReturn_t nvmlDeviceGetIrqNum(nvmlDevice_t device, unsigned int *irqNum)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(irqNum != NULL);
    *irqNum = dev->irq;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetBusType(nvmlDevice_t device, nvmlBusType_t *type)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(type != NULL);
    *type = (nvmlBusType_t)g_config.board.bus_type;
    return NVML_SUCCESS;
}

nvmlReturn_t mock_addressing_mode(nvmlDevice_t device, unsigned int *mode)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(mode != NULL);
    *mode = 0;                       /* NVML_DEVICE_ADDRESSING_MODE_NONE */
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetAddressingMode(nvmlDevice_t device,
                                                  nvmlDeviceAddressingMode_t *mode)
{
    return mock_addressing_mode(device, mode == NULL ? NULL : &mode->value);
}

MOCK_API nvmlReturn_t nvmlDeviceGetPdi(nvmlDevice_t device, nvmlPdi_t *pdi)
{
    MOCK_DEVICE(dev, device);
    MOCK_REQUIRE(pdi != NULL);
    /* A per-GPU identifier; derive it from the UUID so it is stable and distinct. */
    unsigned long long v = 1469598103934665603ULL;
    for (const char *c = dev->uuid; *c != '\0'; c++)
        v = (v ^ (unsigned char)*c) * 1099511628211ULL;
    pdi->value = v;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetC2cModeInfoV(nvmlDevice_t device,
                                                nvmlC2cModeInfo_v1_t *c2cModeInfo)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(c2cModeInfo != NULL);
    /* Boards without NVLink-C2C say disabled, as a real H100 does (its nvidia-smi -q: Disabled). */
    c2cModeInfo->isC2cEnabled = (unsigned)g_config.board.c2c_mode;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetGridLicensableFeatures_v4(
    nvmlDevice_t device, nvmlGridLicensableFeatures_t *pGridLicensableFeatures)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(pGridLicensableFeatures != NULL);
    memset(pGridLicensableFeatures, 0, sizeof *pGridLicensableFeatures);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlDeviceGetGridLicensableFeatures_v3(
    nvmlDevice_t device, nvmlGridLicensableFeatures_t *pGridLicensableFeatures)
{
    return nvmlDeviceGetGridLicensableFeatures_v4(device, pGridLicensableFeatures);
}

MOCK_API nvmlReturn_t nvmlDeviceGetGridLicensableFeatures_v2(
    nvmlDevice_t device, nvmlGridLicensableFeatures_t *pGridLicensableFeatures)
{
    return nvmlDeviceGetGridLicensableFeatures_v4(device, pGridLicensableFeatures);
}

MOCK_API nvmlReturn_t nvmlDeviceGetGridLicensableFeatures(
    nvmlDevice_t device, nvmlGridLicensableFeatures_t *pGridLicensableFeatures)
{
    return nvmlDeviceGetGridLicensableFeatures_v4(device, pGridLicensableFeatures);
}
