"""Specification of the nvidia_cdi_spec module, run through Ansible's module harness."""
import json
import os
import stat

import pytest
import yaml

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import cdi
from ansible_collections.gpumock.nvidia.plugins.modules import nvidia_cdi_spec as M
from ansible_collections.gpumock.nvidia.plugins.modules import nvidia_mock_devnodes


MODULE = M
MODULE_DEFAULTS = {"node_id": "unit-node", "uvm_major": 238, "caps_major": 241}


@pytest.fixture
def spec_path(tmp_path):
    return tmp_path / "cdi" / "nvidia.yaml"


def test_writes_the_spec_as_yaml_with_mode_0644(run, spec_path):
    result = run(path=str(spec_path))
    assert result["changed"] is True
    assert stat.S_IMODE(os.stat(spec_path).st_mode) == 0o644
    assert yaml.safe_load(spec_path.read_text()) == result["spec"]


def test_written_yaml_is_the_models_yaml_after_the_marker_line(run, spec_path):
    run(path=str(spec_path), gpu_count=2)
    node = profiles.build_node("dgxa100", 2, "unit-node")
    expected = cdi.build_spec(node, node.driver_version, driver_root="/var/lib/nvidia-mock/driver",
                              uvm_major=238, caps_major=241)
    assert spec_path.read_text() == cdi.YAML_HEADER + cdi.to_yaml(expected)


def test_returns_qualified_device_names_and_version(run, spec_path):
    result = run(path=str(spec_path), gpu_count=1)
    node = profiles.build_node("dgxa100", 1, "unit-node")
    assert result["devices"] == ["nvidia.com/gpu=0", "nvidia.com/gpu=%s" % node.gpus[0].uuid, "nvidia.com/gpu=all"]
    assert result["cdi_version"] == "0.5.0"


MIG = dict(profile="dgxh100", gpu_count=2, mig_enabled=True,
           mig_layout={"0": ["3g.40gb", "1g.10gb"], "1": ["7g.80gb"]})


def test_a_mig_layout_adds_each_mig_device_by_index_and_uuid(run, spec_path):
    result = run(path=str(spec_path), **MIG)
    node = profiles.build_node(node_id="unit-node", **MIG)
    migs = [m for g in node.gpus for m in g.mig_devices]
    assert [d for d in result["devices"] if "=MIG-" in d or ":" in d.split("=", 1)[1]] == (
        ["nvidia.com/gpu=0:0", "nvidia.com/gpu=0:1", "nvidia.com/gpu=1:0"]
        + ["nvidia.com/gpu=%s" % m.uuid for m in migs])


def test_the_spec_of_a_mig_layout_lists_the_device_nodes_the_devnodes_module_makes(
        run, spec_path, tmp_path, monkeypatch):
    dev = tmp_path / "dev"
    result = run(path=str(spec_path), dev_root=str(dev), **MIG)
    monkeypatch.setitem(globals(), "MODULE", nvidia_mock_devnodes)
    run(dev_root=str(dev), **MIG)
    listed = {n["hostPath"] for d in result["spec"]["devices"] for n in d["containerEdits"]["deviceNodes"]}
    made = {os.path.join(d, name) for d, _dirs, names in os.walk(str(dev)) for name in names}
    assert listed == made - {str(dev / name) for name in ("nvidiactl", "nvidia-modeset", "nvidia-uvm",
                                                          "nvidia-uvm-tools")}


def test_second_run_with_a_mig_layout_is_unchanged(run, spec_path):
    run(path=str(spec_path), **MIG)
    assert run(path=str(spec_path), **MIG)["changed"] is False


def test_json_path_writes_json(run, tmp_path):
    path = tmp_path / "nvidia.json"
    result = run(path=str(path), gpu_count=1)
    assert json.loads(path.read_text()) == result["spec"]


def test_kind_option_sets_vendor_and_class(run, spec_path):
    result = run(path=str(spec_path), gpu_count=1, kind="example.com/device")
    assert result["spec"]["kind"] == "example.com/device"
    assert result["devices"][0] == "example.com/device=0"


def test_name_strategy_option_selects_device_names(run, spec_path):
    result = run(path=str(spec_path), gpu_count=2, device_name_strategy=["type-index"])
    assert result["devices"] == ["nvidia.com/gpu=gpu0", "nvidia.com/gpu=gpu1", "nvidia.com/gpu=all"]
    assert result["cdi_version"] == "0.3.0"


def test_existing_hook_path_adds_hooks(run, spec_path, tmp_path):
    hook = tmp_path / "nvidia-cdi-hook"
    hook.write_text("#!/bin/sh\n")
    result = run(path=str(spec_path), gpu_count=1, hook_path=str(hook))
    assert {h["path"] for h in result["spec"]["containerEdits"]["hooks"]} == {str(hook)}


def test_dev_root_gives_host_paths(run, spec_path):
    result = run(path=str(spec_path), gpu_count=1, dev_root="/run/mock/dev")
    assert result["spec"]["devices"][0]["containerEdits"]["deviceNodes"][0]["hostPath"] == "/run/mock/dev/nvidia0"


def test_second_run_is_unchanged(run, spec_path):
    run(path=str(spec_path))
    assert run(path=str(spec_path))["changed"] is False


def test_check_mode_reports_changed_and_writes_nothing(run, spec_path):
    assert run(check=True, path=str(spec_path))["changed"] is True
    assert not spec_path.parent.exists()


def test_diff_mode_shows_the_yaml_before_and_after(run, spec_path):
    run(path=str(spec_path), gpu_count=1)
    before = spec_path.read_text()
    result = run(check=True, diff=True, path=str(spec_path), gpu_count=2)
    assert result["diff"]["before"] == before
    assert "nvidia1" in result["diff"]["after"] and "nvidia1" not in before
    assert result["diff"]["before_header"] == str(spec_path)


def test_changed_node_rewrites_the_spec(run, spec_path):
    run(path=str(spec_path), gpu_count=1)
    assert run(path=str(spec_path), gpu_count=1, node_id="other-node")["changed"] is True


def test_absent_removes_the_file_only(run, spec_path):
    run(path=str(spec_path))
    result = run(path=str(spec_path), state="absent")
    assert result["changed"] is True
    assert not spec_path.exists() and spec_path.parent.is_dir()
    assert run(path=str(spec_path), state="absent")["changed"] is False


@pytest.mark.parametrize("args, option", [
    ({"gpu_count": 0}, "gpu_count"),
    ({"gpu_count": 129}, "gpu_count"),
    ({"profile": "dgx9000"}, "profile"),
    ({"path": "cdi/nvidia.yaml"}, "path"),
    ({"path": "/etc/cdi/nvidia.yml"}, "path"),
    ({"driver_root": "/opt/../../driver"}, "driver_root"),
    ({"dev_root": "dev"}, "dev_root"),
    ({"device_name_strategy": ["index", "serial"]}, "device_name_strategy"),
    ({"uvm_major": 4096}, "uvm_major"),
    ({"caps_major": 195}, "caps_major"),
    ({"kind": "nvidia.com"}, "kind"),
    ({"hook_path": "/nonexistent/nvidia-cdi-hook"}, "hook_path"),
])
def test_bad_input_fails_naming_the_option_and_writes_nothing(run, tmp_path, args, option):
    args.setdefault("path", str(tmp_path / "cdi" / "nvidia.yaml"))
    result = run(**args)
    assert result["failed"] is True
    assert option in result["msg"]
    assert os.listdir(tmp_path) == []


def test_a_driver_root_beyond_the_basic_plane_is_written_as_yaml_escapes(run, spec_path):
    driver_root = "/opt/drv-\U0001F600"
    run(path=str(spec_path), gpu_count=1, driver_root=driver_root)
    text = spec_path.read_text()
    assert text.isascii() and "\\U0001F600" in text
    mounts = yaml.safe_load(text)["containerEdits"]["mounts"]
    assert all(m["hostPath"].startswith(driver_root + "/") for m in mounts)


@pytest.mark.parametrize("option", ["driver_root", "dev_root", "hook_path"])
@pytest.mark.parametrize("value", ["/opt/a\nb", "/opt/a\x01b", "/opt/a\x7fb", "/opt/a\x85b"])
def test_a_path_option_with_a_control_character_fails_naming_it_and_writes_nothing(run, spec_path, option, value):
    result = run(path=str(spec_path), gpu_count=1, **{option: value})
    assert result["failed"] is True
    assert result["msg"].startswith(option + " must not contain control characters")
    assert "\n" not in result["msg"]
    assert not spec_path.parent.exists()


def test_equal_uvm_and_caps_majors_fail_and_write_nothing(run, spec_path):
    result = run(path=str(spec_path), gpu_count=1, uvm_major=240, caps_major=240)
    assert result["failed"] is True
    assert result["msg"] == "uvm_major and caps_major must differ, both are 240."
    assert not spec_path.parent.exists()


def test_an_aarch64_spec_mounts_the_libraries_from_the_aarch64_directory(run, spec_path, tmp_path):
    hook = tmp_path / "nvidia-cdi-hook"
    hook.write_text("")
    run(path=str(spec_path), gpu_count=1, driver_root="/drv", architecture="aarch64", hook_path=str(hook))
    edits = yaml.safe_load(spec_path.read_text())["containerEdits"]
    libraries = [m["containerPath"] for m in edits["mounts"] if ".so." in m["containerPath"]]
    assert libraries and all(p.startswith("/usr/lib/aarch64-linux-gnu/") for p in libraries)
    assert {"hostPath": "/drv/usr/lib/aarch64-linux-gnu/libnvidia-ml.so.550.54.15",
            "containerPath": "/usr/lib/aarch64-linux-gnu/libnvidia-ml.so.550.54.15"}.items() <= edits["mounts"][16].items()
    assert "NVIDIA_CTK_LIBCUDA_DIR=/usr/lib/aarch64-linux-gnu" in edits["env"]
    ldcache = [h["args"] for h in edits["hooks"] if "update-ldcache" in h["args"]][0]
    assert ldcache[-4:] == ["--folder", "/usr/lib/aarch64-linux-gnu", "--folder", "/usr/lib/aarch64-linux-gnu/vdpau"]
    assert "x86_64" not in spec_path.read_text()
