"""go-nvml (NVIDIA's Go bindings, what the device plugin, GFD and nvidia-ctk are built on) reads
every built-in profile's GPUs from the mock NVML exactly as the profile describes them.

The probe (tests/conformance/gonvml) prints each query's value, or its NVML error code.
"""
import json
import os

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config

from mocknodes import MIG_NODE, run, tool

NVML_ERROR_NOT_SUPPORTED = 3
PROFILES = profiles.PROFILE_NAMES


def devices(report):
    return report["devices"]


def values(device):
    """The device's answered queries; a refused one fails here with its NVML error.

    The MIG queries are the ones a board may refuse (NOT_SUPPORTED without MIG); their own tests
    check them.
    """
    refused = {k: v for k, v in device["errors"].items() if k not in ("mig_mode", "max_mig_device_count")}
    assert refused == {}, "go-nvml queries refused by the mock: %s" % refused
    return device["values"]


@pytest.mark.parametrize("profile", PROFILES)
def test_gonvml_initialises_and_counts_every_gpu_of_the_profile(profile, mock_nodes, gonvml_reports):
    report = gonvml_reports(profile)
    assert report["system"]["errors"] == {}
    assert report["system"]["values"]["device_count"] == len(mock_nodes[profile].node.gpus)
    assert len(devices(report)) == len(mock_nodes[profile].node.gpus)


@pytest.mark.parametrize("profile", PROFILES)
def test_gonvml_reads_driver_nvml_and_cuda_versions_of_the_profile(profile, mock_nodes, gonvml_reports):
    node = mock_nodes[profile].node
    system = gonvml_reports(profile)["system"]["values"]
    assert system["driver_version"] == node.driver_version
    assert system["nvml_version"] == node.nvml_version
    assert system["cuda_driver_version"] == node.cuda_driver_version


@pytest.mark.parametrize("profile", PROFILES)
def test_gonvml_reads_name_uuid_serial_and_minor_of_each_gpu(profile, mock_nodes, gonvml_reports):
    node = mock_nodes[profile].node
    seen = [(d["name"], d["uuid"], d["serial"], d["index"], d["minor"])
            for d in map(values, devices(gonvml_reports(profile)))]
    assert seen == [(node.board.name, g.uuid, g.serial, g.index, g.minor) for g in node.gpus]


@pytest.mark.parametrize("profile", PROFILES)
def test_gonvml_reads_brand_and_architecture_of_the_board(profile, mock_nodes, gonvml_reports):
    board = mock_nodes[profile].node.board
    for device in map(values, devices(gonvml_reports(profile))):
        assert (device["brand"], device["architecture"]) == (board.brand, board.architecture)


@pytest.mark.parametrize("profile", PROFILES)
def test_gonvml_reads_pci_info_of_each_gpu(profile, mock_nodes, gonvml_reports):
    node = mock_nodes[profile].node
    seen = [values(d)["pci"] for d in devices(gonvml_reports(profile))]
    assert seen == [{
        "bus_id": g.pci_bus_id,
        # Real NVML writes the legacy id in upper-case hex too (pynvml shows b'0000:00:0A.0' on a
        # T4); the profile's lower-case form is the sysfs and /proc spelling.
        "bus_id_legacy": g.pci_bus_id_legacy.upper(),
        "domain": g.pci_domain,
        "bus": g.pci_bus,
        "device": g.pci_device,
        "pci_device_id": node.board.pci_device_id,
        "pci_subsystem_id": node.board.pci_subsystem_id,
    } for g in node.gpus]


@pytest.mark.parametrize("profile", PROFILES)
def test_gonvml_reads_framebuffer_memory_of_the_board(profile, mock_nodes, gonvml_reports):
    board = mock_nodes[profile].node.board
    for device in map(values, devices(gonvml_reports(profile))):
        assert device["memory"] == {
            "total": board.memory_total_bytes,
            "used": board.memory_reserved_bytes,
            "free": board.memory_total_bytes - board.memory_reserved_bytes,
        }


@pytest.mark.parametrize("profile", PROFILES)
def test_gonvml_reads_compute_capability_of_the_board(profile, mock_nodes, gonvml_reports):
    board = mock_nodes[profile].node.board
    for device in map(values, devices(gonvml_reports(profile))):
        assert device["compute_capability"] == [board.cc_major, board.cc_minor]


@pytest.mark.parametrize("profile", PROFILES)
def test_gonvml_reads_mig_mode_disabled_or_not_supported_as_the_board_says(profile, mock_nodes, gonvml_reports):
    board = mock_nodes[profile].node.board
    for device in devices(gonvml_reports(profile)):
        if board.mig_capable:
            assert "mig_mode" not in device["errors"]
            assert device["values"]["mig_mode"] == {"current": 0, "pending": 0}
        else:
            # go-nvlib and GFD read NOT_SUPPORTED as "this GPU cannot do MIG".
            assert device["errors"]["mig_mode"]["code"] == NVML_ERROR_NOT_SUPPORTED
            assert device["values"]["mig_profiles"] == {"v1": [], "v3": []}


def test_gonvml_reads_mig_mode_enabled_on_a_mig_node(gonvml_reports):
    for device in map(values, devices(gonvml_reports(MIG_NODE))):
        assert device["mig_mode"] == {"current": 1, "pending": 1}


MIG_PROFILES = [p for p in PROFILES if profiles.PROFILES[p].board.mig_capable]


def expected_mig_profiles(board, with_names):
    """The board's GPU-instance profiles in the probe's form, by NVML profile index."""
    expected = []
    for p in sorted(board.mig_profiles, key=lambda p: p.index):
        entry = {"index": p.index, "profile_id": p.profile_id, "slice_count": p.slice_count,
                 "instance_count": p.instance_count, "multiprocessor_count": p.multiprocessor_count,
                 "memory_size_mb": p.memory_size_mb, "copy_engine_count": p.copy_engine_count,
                 "decoder_count": p.decoder_count, "encoder_count": p.encoder_count,
                 "jpeg_count": p.jpeg_count, "ofa_count": p.ofa_count}
        if with_names:
            entry["name"] = p.name
        expected.append(entry)
    return expected


@pytest.mark.parametrize("profile", MIG_PROFILES)
def test_gonvml_reads_the_boards_mig_profiles_through_the_v1_query(profile, mock_nodes, gonvml_reports):
    board = mock_nodes[profile].node.board
    for device in map(values, devices(gonvml_reports(profile))):
        assert device["mig_profiles"]["v1"] == expected_mig_profiles(board, with_names=False)


@pytest.mark.parametrize("profile", MIG_PROFILES)
def test_gonvml_reads_the_boards_mig_profiles_through_the_v3_query(profile, mock_nodes, gonvml_reports):
    board = mock_nodes[profile].node.board
    for device in map(values, devices(gonvml_reports(profile))):
        assert device["mig_profiles"]["v3"] == expected_mig_profiles(board, with_names=True)


@pytest.mark.parametrize("profile", MIG_PROFILES)
def test_gonvml_reads_no_mig_devices_on_a_gpu_out_of_mig_mode(profile, gonvml_reports):
    for device in map(values, devices(gonvml_reports(profile))):
        assert device["max_mig_device_count"] == 0


@pytest.mark.parametrize("profile", PROFILES)
def test_gonvml_reads_idle_and_maximum_clocks_of_the_board(profile, mock_nodes, gonvml_reports):
    board = mock_nodes[profile].node.board
    for device in map(values, devices(gonvml_reports(profile))):
        clocks = {k: v for k, v in device.items() if k.startswith("clock_")}
        # An idle board: the SM clock runs with the graphics clock, as on the real H100.
        assert clocks == {
            "clock_graphics_mhz": board.clock_graphics_idle_mhz,
            "clock_sm_mhz": board.clock_graphics_idle_mhz,
            "clock_mem_mhz": board.clock_mem_idle_mhz,
            "clock_video_mhz": board.clock_video_idle_mhz,
            "clock_graphics_max_mhz": board.clock_graphics_max_mhz,
            "clock_sm_max_mhz": board.clock_sm_max_mhz,
            "clock_mem_max_mhz": board.clock_mem_max_mhz,
            "clock_video_max_mhz": board.clock_video_max_mhz,
        }


@pytest.mark.parametrize("profile", PROFILES)
def test_gonvml_reads_power_draw_and_limits_of_the_board(profile, mock_nodes, gonvml_reports):
    board = mock_nodes[profile].node.board
    for device in map(values, devices(gonvml_reports(profile))):
        power = {k: v for k, v in device.items() if k.startswith("power_")}
        assert power == {
            "power_usage_mw": board.power_idle_mw,
            "power_limit_mw": board.power_default_limit_mw,
            "power_default_limit_mw": board.power_default_limit_mw,
            "power_enforced_limit_mw": board.power_default_limit_mw,
            "power_limit_constraints_mw": [board.power_min_limit_mw, board.power_max_limit_mw],
        }


@pytest.mark.parametrize("profile", PROFILES)
def test_gonvml_finds_each_gpu_again_by_uuid_and_by_pci_bus_id(profile, gonvml_reports):
    for index, device in enumerate(map(values, devices(gonvml_reports(profile)))):
        assert (device["index_by_uuid"], device["index_by_pci_bus_id"]) == (index, index)


def test_gonvml_sees_only_the_gpus_whose_device_nodes_exist(mock_nodes, tmp_path):
    """What a container given /dev/nvidia1 and /dev/nvidia3 sees: two GPUs, renumbered 0 and 1."""
    node = mock_nodes["dgxh100"]
    dev_root = tmp_path / "dev"
    dev_root.mkdir()
    for minor in (1, 3):
        original = os.stat(os.path.join(node.root, "dev", "nvidia%d" % minor))
        os.mknod(str(dev_root / ("nvidia%d" % minor)), original.st_mode, original.st_rdev)
    config = tmp_path / "nvml.conf"
    config.write_text(nvml_config.render(node.node, visibility="devnodes", dev_root=str(dev_root)))

    report = json.loads(run([tool("gonvml-probe")], env=node.env(MOCK_NVML_CONFIG=str(config))).stdout)

    seen = [(d["index"], d["minor"], d["uuid"]) for d in map(values, devices(report))]
    assert seen == [(0, 1, node.node.gpus[1].uuid), (1, 3, node.node.gpus[3].uuid)]


NVML_ERROR_TIMEOUT = 10
NVML_EVENT_TYPE_XID_CRITICAL_ERROR = 0x8


@pytest.mark.parametrize("profile", PROFILES)
def test_gonvml_health_check_round_registers_every_gpu_and_times_out(profile, mock_nodes, gonvml_reports):
    """One round of the device plugin's health loop: register each GPU for the critical events,
    then wait. With nothing pending the wait must end in NVML_ERROR_TIMEOUT (any other error
    makes the plugin mark every GPU unhealthy)."""
    health = gonvml_reports(profile)["health"]
    gpus = mock_nodes[profile].node.gpus
    assert health["errors"] == {}
    assert health["values"]["registered"] == len(gpus)
    for gpu in gpus:
        assert health["values"]["supported_event_types_%d" % gpu.index] & NVML_EVENT_TYPE_XID_CRITICAL_ERROR
    assert health["values"]["wait_return"] == NVML_ERROR_TIMEOUT
