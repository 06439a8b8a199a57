"""Hostile input, class 1: nothing this collection did not write is overwritten or deleted.

For every module and every kind of path it writes or removes: with ``state: present`` a path
holding something that is not ours is refused, in check mode and in a real run alike, with one
line naming the option and the path, and the file system is unchanged; with ``state: absent``
it is left in place and named in a warning. What is ours (empty placeholders, files carrying the
collection's marker line, the mock NVML with its trailer, device nodes of no loaded NVIDIA
driver) is adopted. The rules: fsstate's docstring, driver_tree.adopt_rules, devnodes, cdi.
"""
import json
import os
import stat

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import cdi, containerd_config, devnodes, driver_tree, labels, nvml_config
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import node_jobs
from ansible_collections.gpumock.nvidia.plugins.modules import (
    nvidia_cdi_spec, nvidia_mock_containerd, nvidia_mock_devnodes, nvidia_mock_driver_tree, nvidia_mock_node,
    nvidia_mock_node_labels)

V = "550.54.15"
LIB = "usr/lib/x86_64-linux-gnu"
NODE = dict(node_id="unit-node", gpu_count=2)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod)")


@pytest.fixture
def refused(run_module, fs_snapshot, failure):
    """``refused(module, top, option, where, **args)``: the run fails in check mode and for real,
    in one line naming ``option`` and the path ``where``, and nothing below ``top`` changes."""
    def check(module, top, option, where, **args):
        before = fs_snapshot(top)
        for check_mode in (True, False):
            msg = failure(run_module(module, check=check_mode, **args), option)
            assert str(where) in msg and "did not make" in msg, msg
            assert fs_snapshot(top) == before
        return msg
    return check


@pytest.fixture
def kept(run_module, fs_snapshot):
    """``kept(module, where, **args)``: a state=absent run leaves ``where`` exactly as it is and warns naming it."""
    def check(module, where, **args):
        before = fs_snapshot(where)
        result = run_module(module, state="absent", **args)
        assert not result.get("failed"), result
        assert fs_snapshot(where) == before
        assert str(where) in json.dumps(result.get("warnings", [])), result.get("warnings")
        return result
    return check


def generated_texts():
    node = profiles.build_node("dgxa100", 2, "unit-node")
    nodes = devnodes.device_nodes(node, 238, 241)
    spec = cdi.build_spec(node, node.driver_version)
    return {
        "nvml.conf": nvml_config.render(node),
        "toolkit config": driver_tree.toolkit_config_text("/driver"),
        "tool placeholder": driver_tree.tool_placeholder_text("nvidia-smi"),
        "nvidia-mock-ctl placeholder": driver_tree.mock_ctl_placeholder_text(),
        "feature file": labels.features_file_text(labels.node_labels(node)),
        "boot rule": node_jobs.tmpfiles_text(nodes, "/dev", node_jobs.managed_header(node)),
        "loader entry": node_jobs.ld_so_conf_text("/driver", node_jobs.managed_header(node)),
        "cdi spec yaml": cdi.spec_text(spec, "/etc/cdi/nvidia.yaml"),
        "cdi spec json": cdi.spec_text(spec, "/etc/cdi/nvidia.json"),
        "containerd config": containerd_config.default_config(2),
    }


@pytest.mark.parametrize("name", sorted(generated_texts()))
def test_every_generated_file_is_recognised_as_ours(tmp_path, name):
    path = tmp_path / "file"
    path.write_text(generated_texts()[name])
    st = os.lstat(path)
    assert fsstate.marked(str(path), st) or (name == "cdi spec json" and cdi.written_by_us(str(path), st))


@pytest.fixture
def tree(tmp_path):
    return tmp_path / "driver"


def put(path, data, mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


# Driver tree, state=present: refused.

@pytest.mark.parametrize("relpath, data", [
    ("%s/libcuda.so.%s" % (LIB, V), b"\x7fELF the host's real libcuda"),
    ("lib/firmware/nvidia/%s/gsp_ga10x.bin" % V, b"real GSP firmware"),
    ("etc/nvidia-mock/nvml.conf", b"[system]\ndriver_version = \"1.2.3\"\n"),
    ("etc/nvidia-container-runtime/config.toml", b"[nvidia-container-cli]\nroot = \"/\"\n"),
    ("proc/driver/nvidia/version", b"NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  (buildmeister@x)\n"),
], ids=["library", "firmware", "nvml.conf", "toolkit config", "proc version"])
def test_driver_tree_refuses_a_file_it_did_not_write(refused, tree, relpath, data):
    path = put(tree / relpath, data)
    refused(nvidia_mock_driver_tree, tree, "root", path, root=str(tree), **NODE)


def test_driver_tree_refuses_a_real_nvml_library_when_installing_the_mock(refused, tree, tmp_path):
    path = put(tree / LIB / ("libnvidia-ml.so.%s" % V), b"\x7fELF the real NVML, no trailer", 0o755)
    built = put(tmp_path / "built.so", b"\x7fELF mock nvml")
    refused(nvidia_mock_driver_tree, tree, "root", path, root=str(tree), nvml_library=str(built), **NODE)


def test_driver_tree_refuses_a_library_link_to_a_real_library(refused, tree):
    put(tree / LIB / "libcuda.so.535.104.05", b"\x7fELF the host's real libcuda 535")
    os.symlink("libcuda.so.535.104.05", tree / LIB / "libcuda.so.1")
    refused(nvidia_mock_driver_tree, tree, "root", tree / LIB / "libcuda.so.1", root=str(tree), **NODE)


def test_driver_tree_refuses_a_foreign_nvidia_mock_ctl_when_installing_one(refused, tree, tmp_path):
    path = put(tree / driver_tree.MOCK_CTL, b"#!/bin/sh\necho somebody else's tool\n", 0o755)
    built = put(tmp_path / "ctl", b"\x7fELF nvidia-mock-ctl")
    refused(nvidia_mock_driver_tree, tree, "root", path, root=str(tree), mock_ctl=str(built), **NODE)


def test_driver_tree_refuses_a_proc_file_of_a_tree_whose_version_file_is_not_ours(refused, tree):
    put(tree / "proc/driver/nvidia/params", b"EnableMSI: 1\n")
    put(tree / "proc/driver/nvidia/version", b"NVRM version: (buildmeister@x)\n")
    refused(nvidia_mock_driver_tree, tree, "root", tree / "proc/driver/nvidia", root=str(tree), **NODE)


@pytest.mark.parametrize("make", ["directory", "fifo", "symlink"])
def test_driver_tree_refuses_another_kind_of_object_where_a_file_goes(refused, tree, tmp_path, make):
    path = tree / "etc/nvidia-mock/nvml.conf"
    path.parent.mkdir(parents=True)
    if make == "directory":
        path.mkdir()
    elif make == "fifo":
        os.mkfifo(path)
    else:
        put(tmp_path / "elsewhere.conf", b"# gpumock.nvidia\n")
        os.symlink(str(tmp_path / "elsewhere.conf"), path)
    refused(nvidia_mock_driver_tree, tree, "root", path, root=str(tree), **NODE)


# Driver tree: what is ours is adopted.

def test_driver_tree_adopts_its_own_tree_of_another_node_and_driver_version(run_module, tree, tmp_path):
    built = put(tmp_path / "built.so", b"\x7fELF mock nvml")
    run_module(nvidia_mock_driver_tree, root=str(tree), nvml_library=str(built), **NODE)
    result = run_module(nvidia_mock_driver_tree, root=str(tree), nvml_library=str(built), node_id="other",
                        gpu_count=3)
    assert result["changed"] is True and not result.get("failed")
    assert "other" in (tree / "etc/nvidia-mock/nvml.conf").read_text()


def test_driver_tree_adopts_empty_placeholders_of_its_paths(run_module, tree):
    put(tree / LIB / ("libcuda.so.%s" % V), b"")
    put(tree / "usr/bin/nvidia-smi", b"")
    result = run_module(nvidia_mock_driver_tree, root=str(tree), **NODE)
    assert result["changed"] is True and not result.get("failed")


def test_driver_tree_leaves_a_real_tool_as_it_is_mode_included(run_module, tree, fs_snapshot):
    run_module(nvidia_mock_driver_tree, root=str(tree), **NODE)
    tool = tree / "usr/bin/nvidia-smi"
    tool.unlink()
    put(tool, b"\x7fELF real nvidia-smi", 0o700)
    before = fs_snapshot(tool)
    assert run_module(nvidia_mock_driver_tree, root=str(tree), **NODE)["changed"] is False
    assert fs_snapshot(tool) == before


# Driver tree, state=absent: kept and reported.

@pytest.mark.parametrize("relpath, data", [
    ("usr/bin/nvidia-smi", b"\x7fELF real nvidia-smi"),
    ("%s/libcuda.so.%s" % (LIB, V), b"\x7fELF real libcuda"),
    ("%s/libnvidia-ml.so.%s" % (LIB, V), b"\x7fELF real NVML without the mock's trailer"),
    (driver_tree.LIVE_STATE, b"somebody's state"),
    ("etc/nvidia-container-runtime/config.toml", b"[nvidia-container-cli]\n"),
], ids=["tool", "library", "nvml", "live state", "toolkit config"])
def test_driver_tree_absent_leaves_a_file_it_did_not_write(run_module, kept, tree, relpath, data):
    run_module(nvidia_mock_driver_tree, root=str(tree), **NODE)
    path = tree / relpath
    if path.exists():
        path.unlink()
    put(path, data, 0o755)
    kept(nvidia_mock_driver_tree, path, root=str(tree), **NODE)
    assert not (tree / LIB / ("libnvidia-cfg.so.%s" % V)).exists()


def test_driver_tree_absent_leaves_a_library_link_to_a_real_library(run_module, kept, tree):
    run_module(nvidia_mock_driver_tree, root=str(tree), **NODE)
    put(tree / LIB / "libcuda.so.535.104.05", b"\x7fELF real libcuda 535")
    (tree / LIB / "libcuda.so.1").unlink()
    os.symlink("libcuda.so.535.104.05", tree / LIB / "libcuda.so.1")
    kept(nvidia_mock_driver_tree, tree / LIB / "libcuda.so.1", root=str(tree), **NODE)


# Device nodes.

@pytest.fixture
def dev(tmp_path):
    path = tmp_path / "dev"
    path.mkdir()
    return path


@pytest.fixture
def loaded_driver(tmp_path, monkeypatch):
    """/proc/devices of a kernel with NVIDIA's driver loaded (195, nvidia-uvm 238, nvidia-caps 241)."""
    proc = tmp_path / "devices"
    proc.write_text("Character devices:\n  1 mem\n195 nvidia-frontend\n238 nvidia-uvm\n241 nvidia-caps\n\n"
                    "Block devices:\n  7 loop\n")
    monkeypatch.setattr(devnodes, "PROC_DEVICES", str(proc))


@pytest.mark.parametrize("fallback", ["files", pytest.param("never", marks=needs_root)])
def test_devnodes_refuse_a_non_empty_regular_file_at_a_node_path(refused, dev, fallback):
    path = put(dev / "nvidia0", b"an admin's notes")
    refused(nvidia_mock_devnodes, dev, "dev_root", path, dev_root=str(dev), fallback=fallback, **NODE)


def test_devnodes_absent_leave_a_non_empty_regular_file(run_module, kept, dev):
    run_module(nvidia_mock_devnodes, dev_root=str(dev), fallback="files", **NODE)
    path = dev / "nvidia0"
    path.write_bytes(b"an admin's notes")
    kept(nvidia_mock_devnodes, path, dev_root=str(dev), fallback="files", **NODE)
    assert not (dev / "nvidia1").exists()


@needs_root
def test_devnodes_leave_a_node_of_a_loaded_driver_with_its_mode_and_warn(run_module, fs_snapshot, dev, loaded_driver):
    os.mknod(dev / "nvidia0", stat.S_IFCHR | 0o600, os.makedev(195, 0))
    before = fs_snapshot(dev / "nvidia0")
    result = run_module(nvidia_mock_devnodes, dev_root=str(dev), **NODE)
    assert not result.get("failed") and fs_snapshot(dev / "nvidia0") == before
    assert str(dev / "nvidia0") in json.dumps(result["warnings"])
    assert stat.S_ISCHR(os.lstat(dev / "nvidia1").st_mode)


@needs_root
def test_devnodes_refuse_to_replace_a_node_of_a_loaded_driver_with_other_numbers(refused, dev, loaded_driver):
    os.mknod(dev / "nvidia-uvm", stat.S_IFCHR | 0o666, os.makedev(238, 5))
    refused(nvidia_mock_devnodes, dev, "dev_root", dev / "nvidia-uvm", dev_root=str(dev), uvm_major=238, **NODE)


@needs_root
def test_devnodes_absent_leave_the_nodes_of_a_loaded_driver(run_module, kept, dev, loaded_driver):
    os.mknod(dev / "nvidia0", stat.S_IFCHR | 0o666, os.makedev(195, 0))
    kept(nvidia_mock_devnodes, dev / "nvidia0", dev_root=str(dev), **NODE)


@needs_root
def test_devnodes_replace_their_own_node_with_wrong_numbers(run_module, dev):
    os.mknod(dev / "nvidia0", stat.S_IFCHR | 0o666, os.makedev(195, 9))
    run_module(nvidia_mock_devnodes, dev_root=str(dev), **NODE)
    assert os.minor(os.lstat(dev / "nvidia0").st_rdev) == 0


def test_devnodes_refuse_a_symlink_at_a_node_path(refused, dev, tmp_path):
    os.symlink(str(tmp_path / "elsewhere"), dev / "nvidia0")
    refused(nvidia_mock_devnodes, dev, "dev_root", dev / "nvidia0", dev_root=str(dev), fallback="files", **NODE)


# CDI spec.

NVIDIA_CTK_SPEC = (b"---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n  - name: \"0\"\n"
                   b"    containerEdits:\n      deviceNodes:\n        - path: /dev/nvidia0\n")


@pytest.mark.parametrize("name, data", [
    ("nvidia.yaml", NVIDIA_CTK_SPEC),
    ("nvidia.json", b'{"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu", "devices": []}\n'),
])
def test_cdi_spec_refuses_a_spec_it_did_not_write(refused, tmp_path, name, data):
    path = put(tmp_path / "cdi" / name, data)
    refused(nvidia_cdi_spec, tmp_path, "path", path, path=str(path), uvm_major=238, caps_major=241, **NODE)


def test_cdi_spec_absent_leaves_a_spec_it_did_not_write(kept, tmp_path):
    path = put(tmp_path / "cdi" / "nvidia.yaml", NVIDIA_CTK_SPEC)
    kept(nvidia_cdi_spec, path, path=str(path))


@pytest.mark.parametrize("name", ["nvidia.yaml", "nvidia.json"])
def test_cdi_spec_adopts_its_own_spec_of_another_node(run_module, tmp_path, name):
    path = tmp_path / "cdi" / name
    run_module(nvidia_cdi_spec, path=str(path), uvm_major=238, caps_major=241, **NODE)
    result = run_module(nvidia_cdi_spec, path=str(path), uvm_major=238, caps_major=241, node_id="other", gpu_count=1)
    assert result["changed"] is True and not result.get("failed")


def test_cdi_spec_adopts_a_spec_written_before_the_marker_line(run_module, tmp_path):
    path = tmp_path / "cdi" / "nvidia.yaml"
    run_module(nvidia_cdi_spec, path=str(path), uvm_major=238, caps_major=241, **NODE)
    path.write_text(path.read_text().replace(cdi.YAML_HEADER, ""))
    assert run_module(nvidia_cdi_spec, path=str(path), uvm_major=238, caps_major=241, **NODE)["changed"] is True
    assert path.read_text().startswith(cdi.YAML_HEADER)


# Feature file, boot rule, loader entry.

def test_labels_refuse_a_feature_file_they_did_not_write(refused, tmp_path):
    path = put(tmp_path / "features.d" / "gpumock", b"nvidia.com/gpu.present=true\n")
    refused(nvidia_mock_node_labels, tmp_path, "path", path, path=str(path), **NODE)


def test_labels_absent_leave_a_feature_file_they_did_not_write(kept, tmp_path):
    path = put(tmp_path / "features.d" / "gpumock", b"nvidia.com/gpu.present=true\n")
    kept(nvidia_mock_node_labels, path, path=str(path), **NODE)


@pytest.fixture
def node_paths(tmp_path, monkeypatch):
    tools = {"systemd-tmpfiles": "/usr/bin/systemd-tmpfiles", "ldconfig": "/sbin/ldconfig"}
    monkeypatch.setattr(nvidia_mock_node.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: tools.get(name))
    monkeypatch.setattr(nvidia_mock_node.AnsibleModule, "run_command", lambda self, argv, **k: (0, "", ""))
    return dict(NODE, dev_root=str(tmp_path / "dev"), driver_root=str(tmp_path / "driver"),
                cdi_path=str(tmp_path / "cdi" / "nvidia.yaml"), tmpfiles_path=str(tmp_path / "tmpfiles.d" / "mock.conf"),
                ld_so_conf_path=str(tmp_path / "ld.so.conf.d" / "mock.conf"),
                features_file=str(tmp_path / "features.d" / "gpumock"))


@pytest.mark.parametrize("option", ["tmpfiles_path", "features_file", "cdi_path"])
def test_node_refuses_a_foreign_file_before_it_writes_any_part(refused, node_paths, tmp_path, option):
    path = put(tmp_path / node_paths[option], b"somebody else's file\n")
    refused(nvidia_mock_node, tmp_path, option, path, **node_paths)


def test_node_absent_leaves_a_foreign_loader_entry(run_module, node_paths, fs_snapshot, tmp_path):
    path = put(tmp_path / node_paths["ld_so_conf_path"], b"/opt/vendor/lib\n")
    before = fs_snapshot(path)
    result = run_module(nvidia_mock_node, **node_paths)
    assert not result.get("failed") and fs_snapshot(path) == before
    assert str(path) in json.dumps(result["warnings"])


# containerd: the module edits a config it did not write by design (every other line kept), and
# deletes a config only when it created it and it holds nothing else.

def test_containerd_absent_keeps_a_config_it_did_not_create(run_module, tmp_path):
    path = put(tmp_path / "config.toml", b"version = 2\n")
    run_module(nvidia_mock_containerd, path=str(path))
    run_module(nvidia_mock_containerd, path=str(path), state="absent")
    assert path.exists() and "version = 2\n" in path.read_text() and "cdi" not in path.read_text()


def test_the_live_state_magic_is_the_one_the_library_writes():
    header = os.path.join(os.path.dirname(__file__), "..", "..", "nvml_src", "src", "live_state.h")
    with open(header) as handle:
        assert '#define MOCK_LIVE_MAGIC "%s"' % driver_tree.LIVE_STATE_MAGIC.decode() in handle.read()
