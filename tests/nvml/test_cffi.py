"""What pynvml does not reach, called through cffi: bad handles, size protocols, V-structs,
functions pynvml has no wrapper for, and the errors the real H100 gives for unsupported ones."""
import os

import pytest
from cffi import FFI

from conftest import LIB, build_node

ffi = FFI()
ffi.cdef("""
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlEventSet_st *nvmlEventSet_t;
typedef struct { char busIdLegacy[16]; unsigned domain, bus, device, pciDeviceId, pciSubSystemId;
                 char busId[32]; } nvmlPciInfo_t;
typedef struct { unsigned version, domain, bus, device, pciDeviceId, pciSubSystemId, baseClass,
                 subClass; char busId[32]; } nvmlPciInfoExt_t;
typedef struct { unsigned version; unsigned type; union { char str[41]; unsigned char bytes[16]; } value; } nvmlUUID_t;
typedef struct { unsigned fieldId, scopeId; long long timestamp, latencyUsec; int valueType;
                 int nvmlReturn; unsigned long long value; } nvmlFieldValue_t;
typedef struct { unsigned version, id, isP2pSupported, sliceCount, instanceCount, multiprocessorCount,
                 copyEngineCount, decoderCount, encoderCount, jpegCount, ofaCount;
                 unsigned long long memorySizeMB; char name[96]; } nvmlGpuInstanceProfileInfo_v2_t;
typedef struct { unsigned version, id, sliceCount, instanceCount, multiprocessorCount,
                 copyEngineCount, decoderCount, encoderCount, jpegCount, ofaCount;
                 unsigned long long memorySizeMB; char name[96]; unsigned capabilities;
               } nvmlGpuInstanceProfileInfo_v3_t;
int nvmlDeviceGetGpuInstanceProfileInfoV(nvmlDevice_t, unsigned, void *);
int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlDeviceGetHandleByIndex_v2(unsigned, nvmlDevice_t *);
int nvmlDeviceGetHandleByUUIDV(const nvmlUUID_t *, nvmlDevice_t *);
int nvmlDeviceGetIndex(nvmlDevice_t, unsigned *);
int nvmlDeviceGetUUID(nvmlDevice_t, char *, unsigned);
int nvmlDeviceGetName(nvmlDevice_t, char *, unsigned);
int nvmlDeviceGetPowerUsage(nvmlDevice_t, unsigned *);
int nvmlDeviceGetMemoryBusWidth(nvmlDevice_t, unsigned *);
int nvmlDeviceGetPciInfo_v3(nvmlDevice_t, nvmlPciInfo_t *);
int nvmlDeviceGetPciInfoExt(nvmlDevice_t, nvmlPciInfoExt_t *);
int nvmlDeviceGetSupportedGraphicsClocks(nvmlDevice_t, unsigned, unsigned *, unsigned *);
int nvmlDeviceGetSupportedMemoryClocks(nvmlDevice_t, unsigned *, unsigned *);
int nvmlDeviceGetSupportedPerformanceStates(nvmlDevice_t, int *, unsigned);
int nvmlDeviceGetConfComputeGpuCertificate(nvmlDevice_t, void *);
int nvmlDeviceGetLastBBXFlushTime(nvmlDevice_t, unsigned long long *, unsigned long *);
int nvmlDeviceGetAutoBoostedClocksEnabled(nvmlDevice_t, int *, int *);
int nvmlDeviceGetFieldValues(nvmlDevice_t, int, nvmlFieldValue_t *);
typedef struct { unsigned version; unsigned long long aggregateUncParity, aggregateUncSecDed,
                 aggregateCor, volatileUncParity, volatileUncSecDed, volatileCor, aggregateUncBucketL2,
                 aggregateUncBucketSm, aggregateUncBucketPcie, aggregateUncBucketMcu,
                 aggregateUncBucketOther; unsigned bThresholdExceeded; } nvmlEccSramErrorStatus_t;
int nvmlDeviceGetSramEccErrorStatus(nvmlDevice_t, nvmlEccSramErrorStatus_t *);
int nvmlSystemGetProcessName(unsigned, char *, unsigned);
int nvmlDeviceGetTopologyNearestGpus(nvmlDevice_t, int, unsigned *, nvmlDevice_t *);
int nvmlEventSetCreate(nvmlEventSet_t *);
int nvmlEventSetFree(nvmlEventSet_t);
int nvmlUnitGetCount(unsigned *);
int nvmlGetExcludedDeviceCount(unsigned *);
""")
lib = ffi.dlopen(str(LIB))

SUCCESS, UNINITIALIZED, INVALID_ARGUMENT, NOT_SUPPORTED, NOT_FOUND = 0, 1, 2, 3, 6
INSUFFICIENT_SIZE, NOT_READY, VERSION_MISMATCH, UNKNOWN = 7, 27, 25, 999


@pytest.fixture
def gpus(use_config):
    node = build_node("dgxh100")
    use_config(node)
    assert lib.nvmlInit_v2() == SUCCESS
    handles = []
    for i in range(len(node.gpus)):
        h = ffi.new("nvmlDevice_t *")
        assert lib.nvmlDeviceGetHandleByIndex_v2(i, h) == SUCCESS
        handles.append(h[0])
    yield node, handles
    while lib.nvmlShutdown() == SUCCESS:
        pass


junk = ffi.new("int[4]")
FAKE_HANDLES = [ffi.NULL, ffi.cast("nvmlDevice_t", 0x1), ffi.cast("nvmlDevice_t", junk),
                ffi.cast("nvmlDevice_t", 0xFFFFFFFFFFFFFFF0)]


@pytest.mark.parametrize("fake", range(len(FAKE_HANDLES)))
def test_handles_that_are_not_ours_are_invalid_arguments(gpus, fake):
    out = ffi.new("unsigned *")
    handle = FAKE_HANDLES[fake]
    assert lib.nvmlDeviceGetIndex(handle, out) == INVALID_ARGUMENT
    assert lib.nvmlDeviceGetPowerUsage(handle, out) == INVALID_ARGUMENT
    assert lib.nvmlDeviceGetMemoryBusWidth(handle, out) == INVALID_ARGUMENT


def test_a_pointer_inside_a_handle_is_not_a_handle(gpus):
    handles = gpus[1]
    inside = ffi.cast("nvmlDevice_t", int(ffi.cast("uintptr_t", handles[1])) + 4)
    assert lib.nvmlDeviceGetIndex(inside, ffi.new("unsigned *")) == INVALID_ARGUMENT


def test_null_output_pointer_is_invalid_argument(gpus):
    handles = gpus[1]
    assert lib.nvmlDeviceGetIndex(handles[0], ffi.NULL) == INVALID_ARGUMENT
    assert lib.nvmlDeviceGetPciInfo_v3(handles[0], ffi.NULL) == INVALID_ARGUMENT


def test_handle_by_uuid_v_finds_a_gpu_by_its_ascii_uuid(gpus):
    node, handles = gpus
    uuid = ffi.new("nvmlUUID_t *")
    uuid.type = 1
    uuid.value.str = node.gpus[3].uuid.encode()
    out = ffi.new("nvmlDevice_t *")
    assert lib.nvmlDeviceGetHandleByUUIDV(uuid, out) == SUCCESS
    assert out[0] == handles[3]


def test_handle_by_uuid_v_finds_a_gpu_by_its_binary_uuid(gpus):
    node, handles = gpus
    uuid = ffi.new("nvmlUUID_t *")
    uuid.type = 2
    raw = bytes.fromhex(node.gpus[5].uuid[4:].replace("-", ""))
    for i, b in enumerate(raw):
        uuid.value.bytes[i] = b
    out = ffi.new("nvmlDevice_t *")
    assert lib.nvmlDeviceGetHandleByUUIDV(uuid, out) == SUCCESS
    assert out[0] == handles[5]


def test_handle_by_uuid_v_with_an_unknown_type_is_invalid_argument(gpus):
    uuid = ffi.new("nvmlUUID_t *")
    uuid.type = 9
    assert lib.nvmlDeviceGetHandleByUUIDV(uuid, ffi.new("nvmlDevice_t *")) == INVALID_ARGUMENT


def test_supported_graphics_clocks_follow_the_count_protocol(gpus):
    node, handles = gpus
    count = ffi.new("unsigned *", 0)
    mem = node.board.clock_mem_max_mhz
    assert lib.nvmlDeviceGetSupportedGraphicsClocks(handles[0], mem, count, ffi.NULL) == INSUFFICIENT_SIZE
    n = count[0]
    clocks = ffi.new("unsigned[]", n)
    assert lib.nvmlDeviceGetSupportedGraphicsClocks(handles[0], mem, count, clocks) == SUCCESS
    assert clocks[0] == node.board.clock_graphics_max_mhz
    assert list(clocks) == sorted(clocks, reverse=True)


def test_supported_graphics_clocks_of_an_unknown_memory_clock_are_not_found(gpus):
    handles = gpus[1]
    count = ffi.new("unsigned *", 16)
    clocks = ffi.new("unsigned[16]")
    assert lib.nvmlDeviceGetSupportedGraphicsClocks(handles[0], 1, count, clocks) == NOT_FOUND


def test_supported_performance_states_need_room_for_every_state(gpus):
    handles = gpus[1]
    states = ffi.new("int[16]")
    assert lib.nvmlDeviceGetSupportedPerformanceStates(handles[0], states, 1) == INSUFFICIENT_SIZE
    assert lib.nvmlDeviceGetSupportedPerformanceStates(handles[0], states, 16) == SUCCESS
    assert 0 in list(states)


def test_pci_info_ext_checks_its_struct_version(gpus):
    node, handles = gpus
    info = ffi.new("nvmlPciInfoExt_t *")
    info.version = 0
    assert lib.nvmlDeviceGetPciInfoExt(handles[0], info) == VERSION_MISMATCH
    info.version = ffi.sizeof("nvmlPciInfoExt_t") | (1 << 24)
    assert lib.nvmlDeviceGetPciInfoExt(handles[0], info) == SUCCESS
    assert ffi.string(info.busId).decode() == node.gpus[0].pci_bus_id
    assert (info.baseClass, info.subClass) == (3, 2)


def test_unsupported_query_is_not_supported_on_a_valid_handle(gpus):
    handles = gpus[1]
    a, b = ffi.new("int *"), ffi.new("int *")
    assert lib.nvmlDeviceGetAutoBoostedClocksEnabled(handles[0], a, b) == NOT_SUPPORTED


def test_unsupported_query_reports_a_bad_handle_first(gpus):
    a, b = ffi.new("int *"), ffi.new("int *")
    assert lib.nvmlDeviceGetAutoBoostedClocksEnabled(FAKE_HANDLES[2], a, b) == INVALID_ARGUMENT


def test_unsupported_query_before_init_is_uninitialized():
    a, b = ffi.new("int *"), ffi.new("int *")
    assert lib.nvmlDeviceGetAutoBoostedClocksEnabled(ffi.NULL, a, b) == UNINITIALIZED


def test_gpu_certificate_fails_like_the_real_h100(gpus):
    handles = gpus[1]
    assert lib.nvmlDeviceGetConfComputeGpuCertificate(handles[0], ffi.new("char[8192]")) == UNKNOWN


def test_bbx_flush_time_is_not_ready_like_the_real_h100(gpus):
    handles = gpus[1]
    assert lib.nvmlDeviceGetLastBBXFlushTime(handles[0], ffi.new("unsigned long long *"),
                                             ffi.new("unsigned long *")) == NOT_READY


def test_field_values_succeed_with_each_value_not_supported(gpus):
    handles = gpus[1]
    values = ffi.new("nvmlFieldValue_t[3]")
    for i, field in enumerate((1, 54, 90)):
        values[i].fieldId = field
    assert lib.nvmlDeviceGetFieldValues(handles[0], 3, values) == SUCCESS
    assert [v.nvmlReturn for v in values] == [NOT_SUPPORTED] * 3
    assert all(v.timestamp > 0 for v in values)


# nvmlDeviceGetFieldValues ids and power scopes (nvml.h) that nvidia-smi -q reads.
FI_MEMORY_TEMP, FI_POWER_AVERAGE, FI_POWER_INSTANT, FI_POWER_CURRENT_LIMIT = 82, 185, 186, 190
FI_SHUTDOWN_TLIMIT, FI_SLOWDOWN_TLIMIT = 193, 194
SCOPE_GPU, SCOPE_MODULE, SCOPE_MEMORY = 0, 1, 2
VALUE_TYPE_SIGNED_INT = 5


def _fields(handle, *requests):
    values = ffi.new("nvmlFieldValue_t[%d]" % len(requests))
    for value, (field, scope) in zip(values, requests):
        value.fieldId, value.scopeId = field, scope
    assert lib.nvmlDeviceGetFieldValues(handle, len(requests), values) == SUCCESS
    return values


def test_power_fields_answer_for_the_gpu_and_its_memory_but_not_a_module(gpus):
    node, handles = gpus
    values = _fields(handles[0], (FI_POWER_INSTANT, SCOPE_GPU), (FI_POWER_CURRENT_LIMIT, SCOPE_GPU),
                     (FI_POWER_AVERAGE, SCOPE_MEMORY), (FI_POWER_INSTANT, SCOPE_MODULE))
    assert [v.nvmlReturn for v in values] == [SUCCESS, SUCCESS, SUCCESS, NOT_SUPPORTED]
    assert [v.value & 0xFFFFFFFF for v in values[0:3]] == [
        node.board.power_idle_mw, node.board.power_default_limit_mw, node.board.power_memory_idle_mw]


def test_tlimit_threshold_fields_are_negative_offsets(gpus):
    node, handles = gpus
    values = _fields(handles[0], (FI_SHUTDOWN_TLIMIT, SCOPE_GPU), (FI_SLOWDOWN_TLIMIT, SCOPE_GPU))
    assert [v.valueType for v in values] == [VALUE_TYPE_SIGNED_INT] * 2
    shown = [ffi.cast("int", v.value & 0xFFFFFFFF) for v in values]
    assert [int(x) for x in shown] == [-node.board.tlimit_shutdown_c, -node.board.tlimit_slowdown_c]


def test_memory_temperature_field_is_not_supported_without_a_memory_sensor(use_config):
    use_config(build_node("l40s"))
    assert lib.nvmlInit_v2() == SUCCESS
    try:
        handle = ffi.new("nvmlDevice_t *")
        assert lib.nvmlDeviceGetHandleByIndex_v2(0, handle) == SUCCESS
        assert _fields(handle[0], (FI_MEMORY_TEMP, SCOPE_GPU))[0].nvmlReturn == NOT_SUPPORTED
    finally:
        lib.nvmlShutdown()


SRAM_ECC_V1 = ffi.sizeof("nvmlEccSramErrorStatus_t") | (1 << 24)


def test_sram_ecc_status_of_an_idle_board_is_all_zero(gpus):
    status = ffi.new("nvmlEccSramErrorStatus_t *", {"version": SRAM_ECC_V1, "volatileCor": 7,
                                                    "bThresholdExceeded": 1})
    assert lib.nvmlDeviceGetSramEccErrorStatus(gpus[1][0], status) == SUCCESS
    assert (status.volatileCor, status.aggregateUncBucketOther, status.bThresholdExceeded) == (0, 0, 0)


def test_sram_ecc_status_with_another_struct_version_is_a_version_mismatch(gpus):
    status = ffi.new("nvmlEccSramErrorStatus_t *", {"version": SRAM_ECC_V1 + 1})
    assert lib.nvmlDeviceGetSramEccErrorStatus(gpus[1][0], status) == VERSION_MISMATCH


def test_process_name_is_the_command_name(gpus):
    name = ffi.new("char[64]")
    assert lib.nvmlSystemGetProcessName(os.getpid(), name, 64) == SUCCESS
    with open("/proc/self/comm") as f:
        assert ffi.string(name).decode() == f.read().strip()


def test_process_name_of_a_missing_process_is_not_found(gpus):
    assert lib.nvmlSystemGetProcessName(0x7FFFFFF0, ffi.new("char[64]"), 64) == NOT_FOUND


def test_nearest_gpus_count_query_then_fill(gpus):
    handles = gpus[1]
    count = ffi.new("unsigned *", 0)
    assert lib.nvmlDeviceGetTopologyNearestGpus(handles[0], 50, count, ffi.NULL) == SUCCESS
    assert count[0] == 7
    out = ffi.new("nvmlDevice_t[7]")
    assert lib.nvmlDeviceGetTopologyNearestGpus(handles[0], 50, count, out) == SUCCESS
    assert set(out) == set(handles[1:])


def test_a_freed_event_set_is_no_longer_valid(gpus):
    events = ffi.new("nvmlEventSet_t *")
    assert lib.nvmlEventSetCreate(events) == SUCCESS
    assert lib.nvmlEventSetFree(events[0]) == SUCCESS
    assert lib.nvmlEventSetFree(events[0]) == INVALID_ARGUMENT


def test_a_dgx_has_no_units_and_no_excluded_gpus(gpus):
    n = ffi.new("unsigned *", 5)
    assert lib.nvmlUnitGetCount(n) == SUCCESS and n[0] == 0
    n[0] = 5
    assert lib.nvmlGetExcludedDeviceCount(n) == SUCCESS and n[0] == 0


def _struct_version(ctype, version):
    return ffi.sizeof(ctype) | (version << 24)


@pytest.mark.parametrize("version", [2, 3])
def test_gpu_instance_profile_info_v_fills_the_layout_of_the_callers_version(gpus, version):
    node, handles = gpus
    ctype = "nvmlGpuInstanceProfileInfo_v%d_t" % version
    info = ffi.new(ctype + " *")
    info.version = _struct_version(ctype, version)
    assert lib.nvmlDeviceGetGpuInstanceProfileInfoV(handles[0], 0, info) == SUCCESS
    want = node.board.mig_profiles[0]
    assert (info.id, info.sliceCount, info.instanceCount, info.multiprocessorCount) == (
        want.profile_id, want.slice_count, want.instance_count, want.multiprocessor_count)
    assert info.memorySizeMB == want.memory_size_mb
    assert ffi.string(info.name).decode() == want.name
