"""Hostile input, class 4: nothing blocks.

A FIFO (which blocks whoever opens it for reading until a writer comes) is put wherever a
module reads a file: as every input option, as the containerd config, and at every path the
engine reads to compare or to decide whose a file is. Every run ends within a deadline (so a
regression fails instead of hanging the suite): refused in one line naming the option, or, with
``state: absent``, left in place. Inputs are checked with stat before they are opened.
"""
import json
import os

import pytest
from ansible.module_utils import _internal

from ansible_collections.gpumock.nvidia.plugins.module_utils.render import driver_tree
from ansible_collections.gpumock.nvidia.plugins.modules import (
    nvidia_cdi_spec, nvidia_mock_containerd, nvidia_mock_devnodes, nvidia_mock_driver_tree, nvidia_mock_node,
    nvidia_mock_node_labels)

# Importing an action plugin marks this process as Ansible's controller; the modules here run as
# on a target (see test_nvidia_mock_node.py).
_IS_CONTROLLER = _internal.is_controller
from ansible_collections.gpumock.nvidia.plugins.action import nvidia_mock_node as action_plugin  # noqa: E402
_internal.is_controller = _IS_CONTROLLER

NODE = dict(node_id="unit-node", gpu_count=2)
LIB = "usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15"


@pytest.fixture
def fifo(tmp_path):
    """``fifo(path)``: a FIFO at ``path`` (parents made); nobody ever writes to it."""
    def make(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        return path
    return make


@pytest.fixture(autouse=True)
def node_tools(monkeypatch):
    tools = {"systemd-tmpfiles": "/usr/bin/systemd-tmpfiles", "ldconfig": "/sbin/ldconfig"}
    monkeypatch.setattr(nvidia_mock_node.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: tools.get(name))
    monkeypatch.setattr(nvidia_mock_node.AnsibleModule, "run_command", lambda self, argv, **k: (0, "", ""))


@pytest.fixture
def ends(run_module, deadline):
    """``ends(module, **args)``: the run's result, which must come within 5 seconds."""
    def run(module, check=False, diff=False, **args):
        with deadline(5):
            return run_module(module, check=check, diff=diff, **args)
    return run


def node_paths(tmp_path):
    return dict(NODE, dev_root=str(tmp_path / "dev"), driver_root=str(tmp_path / "driver"),
                cdi_path=str(tmp_path / "cdi/nvidia.yaml"), tmpfiles_path=str(tmp_path / "tmpfiles.d/mock.conf"),
                ld_so_conf_path=str(tmp_path / "ld.so.conf.d/mock.conf"), features_file=str(tmp_path / "features"),
                register_ldconfig=True)


# Input options.

@pytest.mark.parametrize("module, option", [
    (nvidia_mock_driver_tree, "nvml_library"), (nvidia_mock_driver_tree, "mock_ctl"),
    (nvidia_mock_node, "nvml_library"), (nvidia_mock_node, "mock_ctl"), (nvidia_cdi_spec, "hook_path"),
], ids=["driver_tree-nvml_library", "driver_tree-mock_ctl", "node-nvml_library", "node-mock_ctl", "cdi-hook_path"])
@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
def test_a_fifo_as_an_input_is_refused_without_blocking(ends, failure, fifo, tmp_path, module, option, check):
    pipe = fifo(tmp_path / "pipe")
    args = dict(NODE, root=str(tmp_path / "driver")) if module is nvidia_mock_driver_tree else \
        dict(NODE, path=str(tmp_path / "cdi/nvidia.yaml")) if module is nvidia_cdi_spec else node_paths(tmp_path)
    args[option] = str(pipe)
    msg = failure(ends(module, check=check, **args), option)
    assert "FIFO" in msg and str(pipe) in msg, msg
    assert sorted(os.listdir(tmp_path)) == ["pipe"]


@pytest.mark.parametrize("option", ["nvml_library_src", "mock_ctl_src"])
@pytest.mark.parametrize("what", ["fifo", "/dev/zero"])
def test_a_fifo_or_a_device_as_a_controller_source_is_refused_without_blocking(deadline, fifo, tmp_path, option, what):
    source = str(fifo(tmp_path / "pipe")) if what == "fifo" else "/dev/zero"
    plugin = action_plugin.ActionModule.__new__(action_plugin.ActionModule)
    plugin._find_needle = lambda kind, path: path
    with deadline(5), pytest.raises(action_plugin.AnsibleActionFail) as raised:
        plugin._sources({option: source})
    msg = str(raised.value)
    assert msg.startswith("%s %s cannot be read on the controller" % (option, source)) and "\n" not in msg, msg
    assert ("FIFO" if what == "fifo" else "character device") in msg


@pytest.mark.parametrize("state", ["present", "absent"])
@pytest.mark.parametrize("diff", [False, True], ids=["plain", "diff"])
def test_a_fifo_as_the_containerd_config_is_refused_without_blocking(ends, failure, fifo, tmp_path, state, diff):
    pipe = fifo(tmp_path / "config.toml")
    msg = failure(ends(nvidia_mock_containerd, diff=diff, path=str(pipe), state=state), "path")
    assert "is a FIFO" in msg


# Paths the engine reads to compare, or to decide whose a file is.

@pytest.mark.parametrize("module, option, where", [
    (nvidia_cdi_spec, "path", "cdi/nvidia.yaml"),
    (nvidia_cdi_spec, "path", "cdi/nvidia.json"),
    (nvidia_mock_node_labels, "path", "features.d/gpumock"),
    (nvidia_mock_devnodes, "dev_root", "dev/nvidia0"),
    (nvidia_mock_driver_tree, "root", "driver/" + driver_tree.NVML_CONFIG),
    (nvidia_mock_driver_tree, "root", "driver/" + LIB),     # with nvml_library: it must be written
    (nvidia_mock_driver_tree, "root", "driver/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15"),
    (nvidia_mock_driver_tree, "root", "driver/proc/driver/nvidia/version"),
    (nvidia_mock_node, "tmpfiles_path", "tmpfiles.d/mock.conf"),
    (nvidia_mock_node, "ld_so_conf_path", "ld.so.conf.d/mock.conf"),
], ids=["cdi-yaml", "cdi-json", "labels", "devnodes", "tree-nvml.conf", "tree-nvml", "tree-library", "tree-proc",
        "node-tmpfiles", "node-ld.so.conf"])
@pytest.mark.parametrize("diff", [False, True], ids=["plain", "diff"])
def test_a_fifo_where_a_file_is_planned_is_refused_without_blocking(
        ends, failure, fifo, tmp_path, module, option, where, diff):
    pipe = fifo(tmp_path / where)
    if module is nvidia_mock_node:
        args = node_paths(tmp_path)
    else:
        base = {"path": tmp_path / where, "dev_root": tmp_path / "dev", "root": tmp_path / "driver"}[option]
        args = dict(NODE, fallback="files") if module is nvidia_mock_devnodes else dict(NODE)
        args[option] = str(base)
        if where.endswith(LIB):
            (tmp_path / "built.so").write_bytes(b"\x7fELF mock nvml")
            args["nvml_library"] = str(tmp_path / "built.so")
    msg = failure(ends(module, diff=diff, **args), option)
    assert str(pipe) in msg and "a FIFO" in msg, msg
    assert os.path.exists(pipe)


def test_a_fifo_at_a_proc_anchor_refuses_the_proc_files_without_blocking(ends, failure, fifo, tmp_path):
    tree = tmp_path / "driver"
    (tree / "proc/driver/nvidia").mkdir(parents=True)
    (tree / "proc/driver/nvidia/params").write_text("EnableMSI: 1\n")
    fifo(tree / "proc/driver/nvidia/version")
    failure(ends(nvidia_mock_driver_tree, root=str(tree), **NODE), "root")


def test_a_fifo_behind_a_library_link_refuses_the_link_without_blocking(ends, failure, fifo, tmp_path):
    lib = tmp_path / "driver/usr/lib/x86_64-linux-gnu"
    fifo(lib / "libcuda.so.535.104.05")
    os.symlink("libcuda.so.535.104.05", lib / "libcuda.so.1")
    msg = failure(ends(nvidia_mock_driver_tree, root=str(tmp_path / "driver"), **NODE), "root")
    assert "libcuda.so.1 is a symlink" in msg


def test_a_fifo_where_the_installed_library_is_compared_by_sha256_does_not_block(ends, fifo, tmp_path):
    fifo(tmp_path / "driver" / LIB)
    result = ends(nvidia_mock_node, nvml_library_sha256="0" * 64, **node_paths(tmp_path))
    assert result["transfer"] == ["nvml_library"] and not result.get("failed")


@pytest.mark.parametrize("module, option, where", [
    (nvidia_cdi_spec, "path", "cdi/nvidia.yaml"),
    (nvidia_mock_node_labels, "path", "features.d/gpumock"),
    (nvidia_mock_driver_tree, "root", "driver/" + driver_tree.NVML_CONFIG),
], ids=["cdi", "labels", "tree"])
def test_a_fifo_is_left_in_place_by_state_absent_without_blocking(ends, fifo, tmp_path, module, option, where):
    pipe = fifo(tmp_path / where)
    base = {"path": pipe, "root": tmp_path / "driver"}[option]
    result = ends(module, diff=True, state="absent", **dict(NODE, **{option: str(base)}))
    assert not result.get("failed") and str(pipe) in json.dumps(result["warnings"])
    assert os.path.exists(pipe)
