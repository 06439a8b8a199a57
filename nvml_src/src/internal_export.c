/*
 * gpumock.nvidia mock NVML: nvmlInternalGetExportTable, the private entry point through which
 * NVIDIA's own tools reach driver-internal functions. No NVIDIA header declares it; what
 * follows is what the real nvidia-smi (535.261.03 and 550.163.01) does with it, found by
 * running it against probe libraries (details: docs/nvidia-smi.md).
 *
 * Right after nvmlInitWithFlags, nvidia-smi asks for one table by a 16-byte id. Any status but
 * NVML_SUCCESS makes it print "Mismatch in versions between nvidia-smi and NVML." and exit 255.
 * The table starts with its own size in bytes, followed by function pointers. Before calling
 * the entry at byte offset N, nvidia-smi checks size > N and that the entry is not NULL:
 *   - N beyond the size: the field it wanted prints "Uninitialized" (as with an older driver);
 *   - a NULL entry: "N/A", or nvidia-smi's own fallback (e.g. "%u" for a GPU's index, the
 *     public nvmlDeviceGetTemperatureThreshold for the temperature limits).
 * So the table is as long as the 550 driver's (2008 bytes) and every entry is NULL except
 *   - the one `nvidia-smi topo -m` cannot do without: with it missing the whole matrix fails
 *     ("Failed to run topology matrix", exit 255);
 *   - the `nvidia-smi -q` fields a real board shows and that no public NVML function of the
 *     535/550 drivers reports: GPU part number, GPU T.Limit temperature, addressing mode and
 *     sparse operation mode.
 *
 * As the real library does (550.163.01 and 535.261.03, without a driver loaded): the call works
 * before nvmlInit; a NULL argument or an id it does not know gives NVML_ERROR_INVALID_ARGUMENT,
 * and for an unknown id the table pointer is set to NULL.
 */
#include <stddef.h>
#include <string.h>

#include "mock.h"

#define EXPORT_TABLE_ID_SIZE 16
#define SMI_TABLE_BYTES 2008           /* sizeof the table of libnvidia-ml.so.550.163.01 */
#define SMI_PCIE_PATH_OFFSET 0xb8      /* byte offset of the entry `topo -m` calls */
/* Byte offsets of the entries `-q` calls for one field each. */
#define SMI_GPU_PART_NUMBER_OFFSET 0x738
#define SMI_TLIMIT_TEMP_OFFSET 0x780
#define SMI_ADDRESSING_MODE_OFFSET 0x790
#define SMI_SPARSE_MODE_535_OFFSET 0x798   /* nvidia-smi 535 reads sparse mode here, */
#define SMI_SPARSE_MODE_550_OFFSET 0x7c8   /* 550 here; neither build reads the other's offset */
#define SMI_ENTRY(offset) (((offset) - sizeof(size_t)) / sizeof(export_entry))

/* nvidia-smi's codes for a path between two GPUs, as it prints them in `topo -m`. */
enum smi_path {
    SMI_PATH_PIX = 0,
    SMI_PATH_PXB = 1,
    SMI_PATH_PHB = 2,
    SMI_PATH_NODE = 3,
    SMI_PATH_SYS = 4,                  /* 5 .. 22 are NV1 .. NV18, from nvidia-smi's own code */
};

/* The id nvidia-smi 535.261.03 and 550.163.01 pass, byte for byte as they pass it. */
static const unsigned char k_smi_table_id[EXPORT_TABLE_ID_SIZE] = {
    0xc4, 0xfe, 0x3e, 0x6c, 0xc9, 0x8f, 0x6c, 0x4e,
    0xa3, 0x27, 0xee, 0x69, 0x6e, 0x12, 0xf7, 0xc4,
};

typedef void (*export_entry)(void);

struct smi_export_table {
    size_t size;
    export_entry entries[(SMI_TABLE_BYTES - sizeof(size_t)) / sizeof(export_entry)];
};

/*
 * Each argument points at nvidia-smi's own record of one GPU, which begins with that GPU's
 * NVML bus id ("00000000:18:00.0") in a NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE buffer.
 */
static nvmlReturn_t smi_gpu_from_record(const void *record, nvmlDevice_t *device)
{
    char bus_id[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
    if (record == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    memcpy(bus_id, record, sizeof bus_id);
    if (memchr(bus_id, '\0', sizeof bus_id) == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    return nvmlDeviceGetHandleByPciBusId_v2(bus_id, device);
}

/*
 * The PCIe part of one `topo -m` cell: how the two GPUs' PCIe paths meet. nvidia-smi itself
 * replaces the answer with NV<n> where NVLinks join the pair (nvmlDeviceGetNvLinkRemotePciInfo).
 */
static nvmlReturn_t smi_pcie_path(const void *gpu_a, const void *gpu_b, unsigned int *path)
{
    nvmlDevice_t a, b;
    nvmlGpuTopologyLevel_t level;
    nvmlReturn_t ret;

    if (path == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if ((ret = smi_gpu_from_record(gpu_a, &a)) != NVML_SUCCESS)
        return ret;
    if ((ret = smi_gpu_from_record(gpu_b, &b)) != NVML_SUCCESS)
        return ret;
    if ((ret = nvmlDeviceGetTopologyCommonAncestor(a, b, &level)) != NVML_SUCCESS)
        return ret;
    switch (level) {
    case NVML_TOPOLOGY_INTERNAL:
    case NVML_TOPOLOGY_SINGLE:
        *path = SMI_PATH_PIX;
        break;
    case NVML_TOPOLOGY_MULTIPLE:
        *path = SMI_PATH_PXB;
        break;
    case NVML_TOPOLOGY_HOSTBRIDGE:
        *path = SMI_PATH_PHB;
        break;
    case NVML_TOPOLOGY_NODE:
        *path = SMI_PATH_NODE;
        break;
    default:
        *path = SMI_PATH_SYS;
        break;
    }
    return NVML_SUCCESS;
}

/*
 * `nvidia-smi -q` "GPU Part Number" (XML gpu_part_number): called as (device, buffer, 80),
 * the shape of nvmlDeviceGetBoardPartNumber.
 */
static nvmlReturn_t smi_gpu_part_number(nvmlDevice_t device, char *partNumber,
                                        unsigned int length)
{
    MOCK_CHECK_DEVICE(device);
    return mock_copy_string(partNumber, length, g_config.board.gpu_part_number);
}

/*
 * "GPU T.Limit Temp" is mock_margin_temperature: (device, int *), the margin in degrees C below
 * the GPU's T.Limit, what NVML 580 publishes as nvmlDeviceGetMarginTemperature. When it succeeds
 * nvidia-smi prints the temperature limits as T.Limit offsets; NOT_SUPPORTED gives the absolute
 * thresholds of nvmlDeviceGetTemperatureThreshold instead.
 * "Addressing Mode" is mock_addressing_mode: (device, unsigned *), 0 None, 1 HMM, 2 ATS (NVML
 * 580's nvmlDeviceGetAddressingMode values).
 */

/*
 * "Sparse Operation Mode": called as (device, unsigned *), 0 printed as Disabled and anything
 * else as Enabled. Structured sparsity came with Ampere's tensor cores; the mode is off unless
 * an application asks for it, as on the reference H100.
 */
static nvmlReturn_t smi_sparse_mode(nvmlDevice_t device, unsigned int *enabled)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(enabled != NULL);
    if (g_config.board.architecture < NVML_DEVICE_ARCH_AMPERE)
        return NVML_ERROR_NOT_SUPPORTED;
    *enabled = 0;
    return NVML_SUCCESS;
}

static const struct smi_export_table k_smi_table = {
    .size = sizeof(struct smi_export_table),
    .entries = {
        [SMI_ENTRY(SMI_PCIE_PATH_OFFSET)] = (export_entry)smi_pcie_path,
        [SMI_ENTRY(SMI_GPU_PART_NUMBER_OFFSET)] = (export_entry)smi_gpu_part_number,
        [SMI_ENTRY(SMI_TLIMIT_TEMP_OFFSET)] = (export_entry)mock_margin_temperature,
        [SMI_ENTRY(SMI_ADDRESSING_MODE_OFFSET)] = (export_entry)mock_addressing_mode,
        [SMI_ENTRY(SMI_SPARSE_MODE_535_OFFSET)] = (export_entry)smi_sparse_mode,
        [SMI_ENTRY(SMI_SPARSE_MODE_550_OFFSET)] = (export_entry)smi_sparse_mode,
    },
};

_Static_assert(sizeof(struct smi_export_table) == SMI_TABLE_BYTES,
               "the table must be exactly as long as the 550 driver's");
_Static_assert(offsetof(struct smi_export_table, entries) == sizeof(size_t),
               "entries must follow the size member without padding, at the offsets read");

MOCK_API nvmlReturn_t nvmlInternalGetExportTable(const void **ppExportTable,
                                                 const void *pExportTableId)
{
    if (ppExportTable == NULL || pExportTableId == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (memcmp(pExportTableId, k_smi_table_id, EXPORT_TABLE_ID_SIZE) != 0) {
        *ppExportTable = NULL;
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    *ppExportTable = &k_smi_table;
    return NVML_SUCCESS;
}
