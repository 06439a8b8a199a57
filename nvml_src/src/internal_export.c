/*
 * gpumock.nvidia mock NVML: nvmlInternalGetExportTable, the private entry point through which
 * NVIDIA's own tools reach driver-internal functions. No NVIDIA header declares it; what
 * follows is what the real nvidia-smi (535 and 550) does with it (details: docs/nvidia-smi.md).
 *
 * Right after nvmlInitWithFlags, nvidia-smi asks for the table with one 16-byte id. Any status
 * but NVML_SUCCESS makes it print "Mismatch in versions between nvidia-smi and NVML." and exit
 * 255, so the mock must answer that id. The table starts with its own size in bytes; before
 * calling the entry at byte offset N, nvidia-smi checks size > N and that the entry is not NULL,
 * and otherwise uses code of its own (e.g. "%u" to print a GPU's index). A table that holds
 * only its size therefore sends every caller to its own code: nvidia-smi then needs nothing
 * beyond the public NVML functions, and never jumps into an entry whose meaning is unknown.
 *
 * As the real library does (550.163.01 and 535.261.03, without a driver loaded): the call works
 * before nvmlInit; a NULL argument or an id it does not know gives NVML_ERROR_INVALID_ARGUMENT,
 * and for an unknown id the table pointer is set to NULL.
 */
#include <stddef.h>
#include <string.h>

#include "mock.h"

#define EXPORT_TABLE_ID_SIZE 16

/* The id nvidia-smi 535.261.03 and 550.163.01 pass, byte for byte as they pass it. */
static const unsigned char k_smi_table_id[EXPORT_TABLE_ID_SIZE] = {
    0xc4, 0xfe, 0x3e, 0x6c, 0xc9, 0x8f, 0x6c, 0x4e,
    0xa3, 0x27, 0xee, 0x69, 0x6e, 0x12, 0xf7, 0xc4,
};

/* Only the size member: see above for why no entry follows it. */
struct export_table {
    size_t size;
};

static const struct export_table k_smi_table = {
    .size = sizeof(struct export_table),
};

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
