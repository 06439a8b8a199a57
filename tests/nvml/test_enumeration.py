"""Enumeration and identity: every profile's GPUs, found every way NVML offers."""
import ctypes

import pytest

from conftest import build_node
from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles

NOT_FOUND, INVALID_ARGUMENT, INSUFFICIENT_SIZE = 6, 2, 7


@pytest.fixture(params=profiles.PROFILE_NAMES)
def node(request, use_config, pynvml):
    node = build_node(request.param)
    use_config(node)
    pynvml.nvmlInit()
    return node


def test_count_is_the_profiles_gpu_count(node, pynvml):
    assert pynvml.nvmlDeviceGetCount() == len(node.gpus)


def test_identity_of_every_gpu_is_the_profiles(node, pynvml):
    for gpu in node.gpus:
        h = pynvml.nvmlDeviceGetHandleByIndex(gpu.index)
        pci = pynvml.nvmlDeviceGetPciInfo_v3(h)
        assert pynvml.nvmlDeviceGetIndex(h) == gpu.index
        assert pynvml.nvmlDeviceGetMinorNumber(h) == gpu.minor
        assert pynvml.nvmlDeviceGetUUID(h) == gpu.uuid
        assert pynvml.nvmlDeviceGetSerial(h) == gpu.serial
        assert pynvml.nvmlDeviceGetName(h) == node.board.name
        assert pci.busId == gpu.pci_bus_id
        assert pci.busIdLegacy.lower() == gpu.pci_bus_id_legacy
        assert (pci.domain, pci.bus, pci.device) == (gpu.pci_domain, gpu.pci_bus, gpu.pci_device)
        assert pci.pciDeviceId == node.board.pci_device_id
        assert pci.pciSubSystemId == node.board.pci_subsystem_id


def test_handle_by_uuid_finds_each_gpu(node, pynvml):
    for gpu in node.gpus:
        h = pynvml.nvmlDeviceGetHandleByUUID(gpu.uuid)
        assert pynvml.nvmlDeviceGetIndex(h) == gpu.index


def test_handle_by_serial_finds_each_gpu(node, pynvml):
    for gpu in node.gpus:
        h = pynvml.nvmlDeviceGetHandleBySerial(gpu.serial)
        assert pynvml.nvmlDeviceGetIndex(h) == gpu.index


@pytest.mark.parametrize("form", ["pci_bus_id", "pci_bus_id_legacy"])
def test_handle_by_pci_bus_id_accepts_both_formats(node, pynvml, form):
    for gpu in node.gpus:
        h = pynvml.nvmlDeviceGetHandleByPciBusId(getattr(gpu, form))
        assert pynvml.nvmlDeviceGetIndex(h) == gpu.index


def test_handle_by_pci_bus_id_ignores_case(node, pynvml):
    gpu = node.gpus[-1]
    h = pynvml.nvmlDeviceGetHandleByPciBusId(gpu.pci_bus_id.lower())
    assert pynvml.nvmlDeviceGetIndex(h) == gpu.index


def test_index_past_the_count_is_invalid_argument(node, pynvml):
    with pytest.raises(pynvml.NVMLError) as err:
        pynvml.nvmlDeviceGetHandleByIndex(len(node.gpus))
    assert err.value.value == INVALID_ARGUMENT


@pytest.mark.parametrize("uuid", ["GPU-00000000-0000-0000-0000-000000000000", "bogus", ""])
def test_unknown_uuid_is_not_found(node, pynvml, uuid):
    with pytest.raises(pynvml.NVMLError) as err:
        pynvml.nvmlDeviceGetHandleByUUID(uuid)
    assert err.value.value == NOT_FOUND


@pytest.mark.parametrize("bus_id", ["0000:FF:1F.0", "bogus", "00000000:07:00.7x"])
def test_unknown_pci_bus_id_is_not_found(node, pynvml, bus_id):
    with pytest.raises(pynvml.NVMLError) as err:
        pynvml.nvmlDeviceGetHandleByPciBusId(bus_id)
    assert err.value.value == NOT_FOUND


@pytest.mark.parametrize("getter", ["nvmlDeviceGetUUID", "nvmlDeviceGetSerial",
                                    "nvmlDeviceGetName", "nvmlDeviceGetVbiosVersion",
                                    "nvmlDeviceGetBoardPartNumber"])
def test_short_string_buffer_is_insufficient_size(node, pynvml, libnvml, getter):
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    buf = ctypes.create_string_buffer(4)
    assert getattr(libnvml, getter)(h, buf, ctypes.c_uint(4)) == INSUFFICIENT_SIZE


def test_driver_and_nvml_versions_are_the_profiles(node, pynvml):
    assert pynvml.nvmlSystemGetDriverVersion() == node.driver_version
    assert pynvml.nvmlSystemGetNVMLVersion() == node.nvml_version
    assert pynvml.nvmlSystemGetCudaDriverVersion() == node.cuda_driver_version
    assert pynvml.nvmlSystemGetCudaDriverVersion_v2() == node.cuda_driver_version


def test_board_values_are_the_profiles(node, pynvml):
    b = node.board
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    mem = pynvml.nvmlDeviceGetMemoryInfo(h)
    assert mem.total == b.memory_total_bytes
    assert mem.used == b.memory_reserved_bytes
    assert mem.free == b.memory_total_bytes - b.memory_reserved_bytes
    assert pynvml.nvmlDeviceGetCudaComputeCapability(h) == (b.cc_major, b.cc_minor)
    assert pynvml.nvmlDeviceGetArchitecture(h) == b.architecture
    assert pynvml.nvmlDeviceGetBrand(h) == b.brand
    assert pynvml.nvmlDeviceGetNumGpuCores(h) == b.cuda_cores
    assert pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_GRAPHICS) == b.clock_graphics_max_mhz
    assert pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_MEM) == b.clock_mem_max_mhz
    assert pynvml.nvmlDeviceGetPowerManagementLimit(h) == b.power_default_limit_mw
    assert pynvml.nvmlDeviceGetPowerManagementLimitConstraints(h) == [
        b.power_min_limit_mw, b.power_max_limit_mw]
    assert pynvml.nvmlDeviceGetPowerUsage(h) == b.power_idle_mw
    assert pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU) == b.temp_idle_c
    assert pynvml.nvmlDeviceGetVbiosVersion(h) == b.vbios_version
    assert pynvml.nvmlDeviceGetCurrPcieLinkGeneration(h) == b.pcie_max_gen
    assert pynvml.nvmlDeviceGetMemoryBusWidth(h) == b.memory_bus_width
