"""go-nvlib (pkg/nvlib/device, what nvidia-ctk, the device plugin and GFD handle MIG with) lists
the MIG devices each node declares: per GPU through VisitMigDevices and for the node through
GetMigDevices, with their UUIDs, profiles and instance ids; and none on a node out of MIG mode.

The probe (tests/conformance/gonvlib) prints what go-nvlib found, or exits 1 with go-nvlib's error.
"""
import json
import os
import sys

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config

from mocknodes import MIG_LAYOUT_NODES, MIG_NODE, built_nvml_library, run, tool

PROFILES = profiles.PROFILE_NAMES


def declared(gpu):
    """The MIG devices of a profile Gpu as the probe prints them."""
    return [{"parent": gpu.index, "index": m.index, "uuid": m.uuid, "profile": profiles.mig_profile_name(m.profile),
             "gpu_instance": m.gpu_instance, "compute_instance": m.compute_instance} for m in gpu.mig_devices]


def visited(report):
    return [g["mig_devices"] for g in report["gpus"]]


def test_gonvlib_visits_the_mig_devices_of_every_gpu_of_the_mig_node(mock_nodes, gonvlib_report):
    node = mock_nodes[MIG_NODE]
    assert visited(gonvlib_report(node)) == [declared(g) for g in node.node.gpus]


def test_gonvlib_sees_every_gpu_of_the_mig_node_in_mig_mode(mock_nodes, gonvlib_report):
    gpus = gonvlib_report(mock_nodes[MIG_NODE])["gpus"]
    assert [(g["mig_capable"], g["mig_enabled"]) for g in gpus] == [(True, True)] * 8


def test_gonvlib_lists_every_mig_device_of_the_mig_node_with_its_parent(mock_nodes, gonvlib_report):
    node = mock_nodes[MIG_NODE]
    listed = gonvlib_report(node)["listed"]
    expected = [m for g in node.node.gpus for m in declared(g)]
    # The probe numbers GetMigDevices' list 0..n-1 across the GPUs; the rest is each device's own.
    assert [dict(m, index=None) for m in listed] == [dict(m, index=None) for m in expected]
    assert [m["index"] for m in listed] == list(range(3 + 1 + 7 + 2 + 4 + 4 + 4))   # GPU 7 has none


@pytest.mark.parametrize("name", sorted(MIG_LAYOUT_NODES))
def test_gonvlib_visits_the_mig_devices_of_a_layout_node(name, mig_layout_nodes, gonvlib_report):
    node = mig_layout_nodes[name]
    assert visited(gonvlib_report(node)) == [declared(g) for g in node.node.gpus]


@pytest.mark.parametrize("profile", PROFILES)
def test_gonvlib_finds_no_mig_device_on_a_node_out_of_mig_mode(profile, mock_nodes, gonvlib_report):
    node = mock_nodes[profile]
    report = gonvlib_report(node)
    capable = node.node.board.mig_capable
    assert [(g["mig_capable"], g["mig_enabled"], g["mig_devices"]) for g in report["gpus"]] == \
        [(capable, False, [])] * len(node.node.gpus)
    assert report["listed"] == []


# A GPU turned to MIG mode through NVML at run time, with one 1g.10gb and its compute instance.
ENABLE_AND_CREATE = r'''
import ctypes, sys
nvml = ctypes.CDLL(sys.argv[1])
dev, gi, ci, status = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_int()
steps = [nvml.nvmlInit_v2(), nvml.nvmlDeviceGetHandleByIndex_v2(1, ctypes.byref(dev)),
         nvml.nvmlDeviceSetMigMode(dev, 1, ctypes.byref(status))]
steps += [nvml.nvmlDeviceCreateGpuInstance(dev, 19, ctypes.byref(gi)),     # 1g.10gb
          nvml.nvmlGpuInstanceCreateComputeInstance(gi, 0, ctypes.byref(ci))]
sys.exit(max(steps))
'''


def test_gonvlib_visits_a_mig_device_made_after_nvml_set_mig_mode(tmp_path):
    node = profiles.build_node(profile="dgxh100", gpu_count=2, node_id="conformance-runtime")
    config = tmp_path / "nvml.conf"               # its state file goes beside it
    config.write_text(nvml_config.render(node, visibility="all"))
    library = built_nvml_library()
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env.update(MOCK_NVML_CONFIG=str(config), LD_LIBRARY_PATH=os.path.dirname(library))
    run([sys.executable, "-c", ENABLE_AND_CREATE, library], env=env)
    report = json.loads(run([tool("gonvlib-probe")], env=env).stdout)
    uuid = profiles.mig_device_uuid(node.gpus[1].uuid, 7, 0)
    assert [(g["mig_enabled"], [(m["uuid"], m["profile"]) for m in g["mig_devices"]]) for g in report["gpus"]] == \
        [(False, []), (True, [(uuid, "1g.10gb")])]
