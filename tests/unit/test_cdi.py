"""Specification of the CDI model (plugins/module_utils/render/cdi.py): spec content, minimum version,
validation and YAML output."""
import copy
import json
import os

import jsonschema
import pytest
import yaml

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import cdi, driver_tree
from ansible_collections.gpumock.nvidia.plugins.module_utils.render.cdi import CdiError

SCHEMA = json.load(open(os.path.join(os.path.dirname(__file__), "cdi_schema.json")))
DRIVER_ROOT = "/var/lib/nvidia-mock/driver"


def node(profile="dgxa100", gpu_count=None, mig_enabled=None, mig_layout=None):
    return profiles.build_node(profile=profile, gpu_count=gpu_count, node_id="unit-node", mig_enabled=mig_enabled,
                               mig_layout=mig_layout)


def mig_node():
    """Two H100 GPUs: GPU 0 with a 3g.40gb (GPU instance 1) and a 2g.20gb (5), GPU 1 with a 7g.80gb (0)."""
    return node("dgxh100", 2, True, {0: ["2g.20gb", "3g.40gb"], 1: ["7g.80gb"]})


def device(spec, name):
    (found,) = [d for d in spec["devices"] if d["name"] == name]
    return found


def spec_for(n=None, **kw):
    n = n or node()
    kw.setdefault("driver_root", DRIVER_ROOT)
    return cdi.build_spec(n, n.driver_version, **kw)


def minimal(**top):
    spec = {"cdiVersion": "0.3.0", "kind": "vendor.com/class",
            "devices": [{"name": "dev", "containerEdits": {"env": ["A=1"]}}]}
    spec.update(top)
    return spec


# --- content -------------------------------------------------------------------------------

def test_default_names_are_index_then_uuid_then_all():
    n = node()
    names = [d["name"] for d in spec_for(n)["devices"]]
    assert names == [str(i) for i in range(8)] + [g.uuid for g in n.gpus] + ["all"]


def test_type_index_strategy_names_gpus_gpu_n():
    names = [d["name"] for d in spec_for(strategies=["type-index"])["devices"]]
    assert names == ["gpu%d" % i for i in range(8)] + ["all"]


def test_unknown_name_strategy_is_refused_naming_the_option():
    with pytest.raises(CdiError, match="device_name_strategy"):
        spec_for(strategies=["index", "serial"])


def test_each_gpu_device_holds_its_own_char_node():
    spec = spec_for(node(gpu_count=2))
    assert spec["devices"][1]["containerEdits"]["deviceNodes"] == [
        {"path": "/dev/nvidia1", "type": "c", "major": 195, "minor": 1}]


def test_all_device_holds_every_gpu_node():
    spec = spec_for(node(gpu_count=3))
    assert [d["path"] for d in spec["devices"][-1]["containerEdits"]["deviceNodes"]] == [
        "/dev/nvidia0", "/dev/nvidia1", "/dev/nvidia2"]


def test_control_nodes_are_in_the_common_edits_with_their_majors():
    spec = spec_for(uvm_major=238)
    nodes = spec["containerEdits"]["deviceNodes"]
    assert [(d["path"], d["major"], d["minor"]) for d in nodes] == [
        ("/dev/nvidia-modeset", 195, 254), ("/dev/nvidia-uvm-tools", 238, 1),
        ("/dev/nvidia-uvm", 238, 0), ("/dev/nvidiactl", 195, 255)]


def test_env_sets_visible_devices_void():
    assert "NVIDIA_VISIBLE_DEVICES=void" in spec_for()["containerEdits"]["env"]


def test_nvml_config_is_mounted_where_the_mounted_library_looks_for_it():
    mounts = {m["containerPath"]: m["hostPath"] for m in spec_for()["containerEdits"]["mounts"]}
    library_dir = "/usr/lib/x86_64-linux-gnu"
    config = os.path.normpath(os.path.join(library_dir, "../../../etc/nvidia-mock/nvml.conf"))
    assert mounts[config] == DRIVER_ROOT + config


def test_a_custom_dev_root_tells_nvml_in_the_container_to_look_in_dev():
    env = spec_for(dev_root="/srv/node/dev")["containerEdits"]["env"]
    assert "MOCK_NVML_DEV_ROOT=/dev" in env


def test_the_default_dev_root_adds_no_nvml_dev_root_override():
    assert not any(e.startswith("MOCK_NVML_DEV_ROOT=") for e in spec_for()["containerEdits"]["env"])


def test_mounts_are_exactly_the_driver_trees_files_and_nvml_config_read_only():
    n = node()
    mounts = spec_for(n)["containerEdits"]["mounts"]
    files = driver_tree.driver_files(n.driver_version)
    assert [m["containerPath"] for m in mounts] == ["/" + f.path for f in files] + [
        "/etc/nvidia-mock/nvml.conf"]
    assert all(m["hostPath"] == DRIVER_ROOT + m["containerPath"] for m in mounts)
    assert all(m["options"] == ["ro", "nosuid", "nodev", "rbind", "rprivate"] for m in mounts)


def test_mounts_cover_libraries_tools_and_firmware():
    paths = [m["containerPath"] for m in spec_for()["containerEdits"]["mounts"]]
    assert "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15" in paths
    assert "/usr/bin/nvidia-smi" in paths
    assert "/lib/firmware/nvidia/550.54.15/gsp_ga10x.bin" in paths


def test_driver_root_slash_gives_identical_host_and_container_paths():
    mounts = spec_for(driver_root="/")["containerEdits"]["mounts"]
    assert all(m["hostPath"] == m["containerPath"] for m in mounts)


def test_default_dev_root_writes_no_host_path():
    spec = spec_for()
    nodes = [d for dev in spec["devices"] for d in dev["containerEdits"]["deviceNodes"]]
    assert all("hostPath" not in d for d in nodes)


def test_other_dev_root_writes_host_paths_under_it():
    spec = spec_for(dev_root="/run/mock/dev")
    assert spec["devices"][0]["containerEdits"]["deviceNodes"][0]["hostPath"] == "/run/mock/dev/nvidia0"
    assert spec["containerEdits"]["deviceNodes"][-1]["hostPath"] == "/run/mock/dev/nvidiactl"


def test_no_hooks_without_hook_path():
    assert "hooks" not in spec_for()["containerEdits"]


def test_hooks_follow_nvidia_cdi_hook_conventions():
    hooks = spec_for(hook_path="/usr/bin/nvidia-cdi-hook")["containerEdits"]["hooks"]
    assert [h["args"][1] for h in hooks] == [
        "create-symlinks", "enable-cuda-compat", "update-ldcache", "disable-device-node-modification"]
    assert all(h["hookName"] == "createContainer" and h["path"] == "/usr/bin/nvidia-cdi-hook"
               and h["args"][0] == "nvidia-cdi-hook" and h["env"] == ["NVIDIA_CTK_DEBUG=false"] for h in hooks)
    assert "libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so" in hooks[0]["args"]
    assert hooks[1]["args"][2] == "--host-driver-version=550.54.15"


def test_hooks_through_nvidia_ctk_use_the_hook_subcommand():
    hooks = spec_for(hook_path="/usr/bin/nvidia-ctk")["containerEdits"]["hooks"]
    assert all(h["args"][:2] == ["nvidia-ctk", "hook"] for h in hooks)


def test_mig_enabled_adds_capability_nodes_to_all():
    spec = spec_for(node("dgxh100", gpu_count=1, mig_enabled=True), caps_major=241)
    all_nodes = spec["devices"][-1]["containerEdits"]["deviceNodes"]
    assert {"path": "/dev/nvidia-caps/nvidia-cap1", "type": "c", "major": 241, "minor": 1} in all_nodes


def test_each_mig_device_is_named_gpu_colon_mig_index_and_by_its_uuid():
    n = mig_node()
    names = [d["name"] for d in spec_for(n)["devices"]]
    migs = [m for g in n.gpus for m in g.mig_devices]
    assert names == ["0", "1", "0:0", "0:1", "1:0", n.gpus[0].uuid, n.gpus[1].uuid] + [m.uuid for m in migs] + ["all"]


def test_type_index_strategy_names_mig_devices_mig_gpu_colon_index():
    names = [d["name"] for d in spec_for(mig_node(), strategies=["type-index"])["devices"]]
    assert names == ["gpu0", "gpu1", "mig0:0", "mig0:1", "mig1:0", "all"]


def test_a_mig_device_holds_its_gpus_node_then_its_gpu_and_compute_instance_capability_nodes():
    nodes = device(spec_for(mig_node(), caps_major=241), "0:1")["containerEdits"]["deviceNodes"]
    assert nodes == [{"path": "/dev/nvidia0", "type": "c", "major": 195, "minor": 0},
                     {"path": "/dev/nvidia-caps/nvidia-cap48", "type": "c", "major": 241, "minor": 48},
                     {"path": "/dev/nvidia-caps/nvidia-cap49", "type": "c", "major": 241, "minor": 49}]


def test_a_mig_device_by_uuid_holds_the_same_nodes_as_by_index():
    n = mig_node()
    spec = spec_for(n)
    assert device(spec, n.gpus[1].mig_devices[0].uuid)["containerEdits"] == device(spec, "1:0")["containerEdits"]


def test_mig_device_nodes_name_their_host_path_below_the_dev_root():
    nodes = device(spec_for(mig_node(), dev_root="/x/dev"), "1:0")["containerEdits"]["deviceNodes"]
    assert [(d["path"], d["hostPath"]) for d in nodes] == [
        ("/dev/nvidia1", "/x/dev/nvidia1"), ("/dev/nvidia-caps/nvidia-cap138", "/x/dev/nvidia-caps/nvidia-cap138"),
        ("/dev/nvidia-caps/nvidia-cap139", "/x/dev/nvidia-caps/nvidia-cap139")]


def test_gpus_in_mig_mode_keep_their_full_gpu_device():
    assert device(spec_for(mig_node()), "1")["containerEdits"]["deviceNodes"] == [
        {"path": "/dev/nvidia1", "type": "c", "major": 195, "minor": 1}]


def test_all_device_holds_every_node_of_every_device_and_the_config_and_monitor_capabilities():
    spec = spec_for(mig_node())
    every = {d["path"] for d in spec["devices"][:-1] for d in d["containerEdits"]["deviceNodes"]}
    paths = [d["path"] for d in device(spec, "all")["containerEdits"]["deviceNodes"]]
    assert len(paths) == len(set(paths))
    assert set(paths) == every | {"/dev/nvidia-caps/nvidia-cap1", "/dev/nvidia-caps/nvidia-cap2"}


def test_built_spec_matches_the_cdi_schema():
    for kw in ({}, {"hook_path": "/usr/bin/nvidia-cdi-hook", "dev_root": "/x/dev"}, {"strategies": ["uuid"]},
               {"n": mig_node(), "strategies": ["index", "uuid", "type-index"]}):
        jsonschema.validate(spec_for(**kw), SCHEMA)


def test_spec_for_128_gpus_has_unique_names():
    spec = spec_for(node(gpu_count=128))
    names = [d["name"] for d in spec["devices"]]
    assert len(names) == len(set(names)) == 257


# --- minimum version -------------------------------------------------------------------------

def test_index_names_need_0_5_0():
    assert spec_for()["cdiVersion"] == "0.5.0"


def test_uuid_names_on_default_dev_root_need_only_0_3_0():
    assert spec_for(strategies=["uuid"])["cdiVersion"] == "0.3.0"


def test_host_paths_need_0_5_0():
    assert spec_for(strategies=["uuid"], dev_root="/x/dev")["cdiVersion"] == "0.5.0"


@pytest.mark.parametrize("change, version", [
    (lambda s: None, "0.3.0"),
    (lambda s: s["containerEdits"].update(mounts=[{"hostPath": "/a", "containerPath": "/a", "type": "bind"}]), "0.4.0"),
    (lambda s: s["devices"][0].update(name="0"), "0.5.0"),
    (lambda s: s["containerEdits"].update(deviceNodes=[{"path": "/dev/x", "hostPath": "/y"}]), "0.5.0"),
    (lambda s: s.update(annotations={"a": "b"}), "0.6.0"),
    (lambda s: s["devices"][0].update(annotations={"a": "b"}), "0.6.0"),
    (lambda s: s.update(kind="vendor.com/cl.ass"), "0.6.0"),
    (lambda s: s["devices"][0]["containerEdits"].update(additionalGids=[44]), "0.7.0"),
    (lambda s: s["containerEdits"].update(intelRdt={"closID": "x"}), "0.7.0"),
    (lambda s: s["containerEdits"].update(netDevices=[{"hostInterfaceName": "eth0", "name": "e"}]), "1.1.0"),
    (lambda s: s["containerEdits"].update(intelRdt={"enableMonitoring": True}), "1.1.0"),
])
def test_minimum_version_is_the_lowest_version_with_every_used_feature(change, version):
    spec = minimal(containerEdits={})
    change(spec)
    assert cdi.minimum_version(spec) == version


def test_newest_feature_decides_when_several_are_used():
    spec = minimal(annotations={"a": "b"})
    spec["devices"][0]["name"] = "0"
    assert cdi.minimum_version(spec) == "0.6.0"


# --- validation ------------------------------------------------------------------------------

def test_valid_minimal_spec_passes():
    assert cdi.validate(minimal()) is not None


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s.update(cdiVersion="0.9.0"), "not a known CDI version"),
    (lambda s: s["devices"][0].update(name="0"), "must be at least 0.5.0"),
    (lambda s: s.update(kind="vendorclass"), "kind must look like"),
    (lambda s: s.update(kind="1vendor/class"), "invalid vendor part"),
    (lambda s: s.update(kind="vendor/class-"), "invalid class part"),
    (lambda s: s.update(devices=[]), "no devices"),
    (lambda s: s["devices"].append(copy.deepcopy(s["devices"][0])), "appears twice"),
    (lambda s: s["devices"][0].update(name="-bad"), "device name"),
    (lambda s: s["devices"][0].update(containerEdits={}), "empty"),
    (lambda s: s["devices"][0]["containerEdits"].update(env=["=x"]), "NAME=value"),
    (lambda s: s["devices"][0]["containerEdits"].update(deviceNodes=[{"path": ""}]), "no path"),
    (lambda s: s["devices"][0]["containerEdits"].update(deviceNodes=[{"path": "/d", "type": "x"}]), "type"),
    (lambda s: s["devices"][0]["containerEdits"].update(deviceNodes=[{"path": "/d", "permissions": "rx"}]),
     "permissions"),
    (lambda s: s["devices"][0]["containerEdits"].update(hooks=[{"hookName": "later", "path": "/h"}]), "hook name"),
    (lambda s: s["devices"][0]["containerEdits"].update(hooks=[{"hookName": "poststop", "path": ""}]), "no path"),
    (lambda s: s["devices"][0]["containerEdits"].update(mounts=[{"hostPath": "/a"}]), "containerPath"),
    (lambda s: s.update(extra=1), "unknown field extra"),
    (lambda s: s["devices"][0]["containerEdits"].update(deviceNodes=[{"path": "/d", "mode": 1}]),
     "unknown field mode"),
])
def test_invalid_specs_are_refused_with_a_reason(mutate, message):
    spec = minimal()
    mutate(spec)
    with pytest.raises(CdiError, match=message):
        cdi.validate(spec)


def test_mig_style_device_names_with_colons_are_valid():
    spec = minimal(cdiVersion="0.5.0")
    spec["devices"][0]["name"] = "0:1"
    cdi.validate(spec)


# --- YAML ------------------------------------------------------------------------------------

def test_yaml_parses_back_to_the_same_spec():
    spec = spec_for(hook_path="/usr/bin/nvidia-cdi-hook", dev_root="/x/dev")
    assert yaml.safe_load(cdi.to_yaml(spec)) == spec


def test_yaml_starts_with_the_document_marker_and_version():
    assert cdi.to_yaml(spec_for()).startswith("---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n")


def test_yaml_quotes_index_names_so_they_stay_strings():
    text = cdi.to_yaml(spec_for(node(gpu_count=1)))
    assert '  - name: "0"\n' in text
    assert yaml.safe_load(text)["devices"][0]["name"] == "0"


@pytest.mark.parametrize("value", ["yes", "No", "null", "1.5", "0:1", "12", "-x", "a: b", "x #y", "", "ü", "on",
                                   "1e3", "0x1F", "trailing:"])
def test_yaml_scalars_that_would_change_type_or_meaning_round_trip(value):
    spec = {"v": value, "l": [value]}
    assert yaml.safe_load(cdi.to_yaml(spec)) == spec


def test_yaml_is_deterministic():
    assert cdi.to_yaml(spec_for()) == cdi.to_yaml(spec_for())


def test_yaml_writes_empty_containers_in_flow_style():
    assert yaml.safe_load(cdi.to_yaml({"a": [], "b": {}, "c": [[1, 2], {"d": 1}]})) == {
        "a": [], "b": {}, "c": [[1, 2], {"d": 1}]}
