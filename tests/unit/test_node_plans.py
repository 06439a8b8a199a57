"""Specification of the device-node plan (devnodes.py) and the driver-tree plan (driver_tree.py)."""
import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import devnodes, driver_tree


def node(profile="dgxa100", gpu_count=None, mig_enabled=None, mig_layout=None):
    return profiles.build_node(profile=profile, gpu_count=gpu_count, node_id="unit-node", mig_enabled=mig_enabled,
                               mig_layout=mig_layout)


# Two H100 GPUs: a 3g.40gb (GPU instance 1) and a 1g.10gb (11, at slice 4) on GPU 0, a 7g.80gb (0) on GPU 1.
MIG_LAYOUT = {0: ["1g.10gb", "3g.40gb"], 1: ["7g.80gb"]}


def mig_node():
    return node("dgxh100", 2, True, MIG_LAYOUT)


def numbers(nodes):
    return dict((n.name, (n.major, n.minor)) for n in nodes)


# --- device nodes ----------------------------------------------------------------------------

def test_gpu_and_control_nodes_have_the_drivers_numbers():
    assert numbers(devnodes.device_nodes(node(gpu_count=2), 238, 241)) == {
        "nvidia0": (195, 0), "nvidia1": (195, 1), "nvidiactl": (195, 255), "nvidia-modeset": (195, 254),
        "nvidia-uvm": (238, 0), "nvidia-uvm-tools": (238, 1)}


def test_mig_enabled_adds_config_and_monitor_capabilities_with_the_drivers_modes():
    caps = [n for n in devnodes.device_nodes(node("dgxh100", 1, True), 238, 241) if n.role == "cap"]
    assert [(n.name, n.major, n.minor, oct(n.mode)) for n in caps] == [
        ("nvidia-caps/nvidia-cap1", 241, 1, "0o400"), ("nvidia-caps/nvidia-cap2", 241, 2, "0o444")]


def test_no_capability_nodes_without_mig():
    assert not [n for n in devnodes.device_nodes(node("dgxh100", 1), 238, 241) if n.role == "cap"]


@pytest.mark.parametrize("gpu, gi, ci, minor", [
    (0, 0, None, 3), (0, 0, 0, 4), (0, 0, 7, 11), (0, 1, None, 12), (1, 0, None, 138), (7, 14, 7, 1082),
    (31, 14, 6, 4321), (31, 14, 7, 4322)])
def test_mig_capability_minors_follow_the_drivers_numbering(gpu, gi, ci, minor):
    assert devnodes.mig_cap_minor(gpu, gi, ci) == minor


def test_the_mig_capability_table_is_the_drivers_for_32_gpus_of_15_gpu_and_8_compute_instances():
    table = devnodes.mig_capabilities()
    assert table[:5] == [("config", 1), ("monitor", 2), ("gpu0/gi0/access", 3), ("gpu0/gi0/ci0/access", 4),
                         ("gpu0/gi0/ci1/access", 5)]
    assert table[-1] == ("gpu31/gi14/ci7/access", 4322)
    assert [minor for _name, minor in table] == list(range(1, 4323))


def test_each_gpu_and_compute_instance_of_the_layout_gets_a_readable_access_capability_node():
    caps = [n for n in devnodes.device_nodes(mig_node(), 238, 241) if n.role == "cap"]
    assert [(n.capability, n.name, n.major, n.minor, oct(n.mode)) for n in caps][2:] == [
        ("gpu0/gi1/access", "nvidia-caps/nvidia-cap12", 241, 12, "0o444"),
        ("gpu0/gi1/ci0/access", "nvidia-caps/nvidia-cap13", 241, 13, "0o444"),
        ("gpu0/gi11/access", "nvidia-caps/nvidia-cap102", 241, 102, "0o444"),
        ("gpu0/gi11/ci0/access", "nvidia-caps/nvidia-cap103", 241, 103, "0o444"),
        ("gpu1/gi0/access", "nvidia-caps/nvidia-cap138", 241, 138, "0o444"),
        ("gpu1/gi0/ci0/access", "nvidia-caps/nvidia-cap139", 241, 139, "0o444")]


def test_every_capability_node_has_the_minor_the_drivers_table_gives_its_capability():
    table = dict(devnodes.mig_capabilities())
    caps = [n for n in devnodes.device_nodes(mig_node(), 238, 241) if n.role == "cap"]
    assert [n.minor for n in caps] == [table[n.capability] for n in caps]
    assert [n.name for n in caps] == ["nvidia-caps/nvidia-cap%d" % n.minor for n in caps]


def test_a_node_in_mig_mode_without_a_layout_has_only_the_config_and_monitor_capabilities():
    caps = [n.capability for n in devnodes.device_nodes(node("dgxh100", 2, True), 238, 241) if n.role == "cap"]
    assert caps == ["config", "monitor"]


def test_proc_devices_major_reads_character_devices_only(tmp_path):
    proc = tmp_path / "devices"
    proc.write_text("Character devices:\n195 nvidia\n511 nvidia-uvm\n\nBlock devices:\n  7 nvidia-caps\n")
    assert devnodes.proc_devices_major("nvidia-uvm", str(proc)) == 511
    assert devnodes.proc_devices_major("nvidia-caps", str(proc)) is None


def test_default_majors_come_from_proc_devices_else_the_h100_values(tmp_path):
    proc = tmp_path / "devices"
    proc.write_text("Character devices:\n509 nvidia-uvm\n")
    assert devnodes.default_uvm_major(str(proc)) == 509
    assert devnodes.default_caps_major(str(proc)) == 241
    assert devnodes.default_uvm_major(str(tmp_path / "missing")) == 238


@pytest.mark.parametrize("value", [0, 4096, 195, -1, True, "238"])
def test_majors_out_of_range_are_refused_naming_the_option(value):
    with pytest.raises(devnodes.DevnodesError, match="^uvm_major must be"):
        devnodes.check_major("uvm_major", value)


@pytest.mark.parametrize("value, mode", [("0666", 0o666), ("660", 0o660), (0o600, 0o600)])
def test_modes_are_read_as_octal(value, mode):
    assert devnodes.check_mode("mode", value) == mode


@pytest.mark.parametrize("value", ["rw", "0999", "1777", True])
def test_bad_modes_are_refused_naming_the_option(value):
    with pytest.raises(devnodes.DevnodesError, match="^mode must be"):
        devnodes.check_mode("mode", value)


def test_entries_as_files_are_standins_that_remember_their_numbers():
    entries = devnodes.entries(devnodes.device_nodes(node(gpu_count=1), 238, 241), as_files=True)
    assert {e.kind for e in entries} == {fsstate.DEVFILE}
    assert [(e.path, e.major, e.minor) for e in entries][0] == ("nvidia0", 195, 0)


# --- driver tree -----------------------------------------------------------------------------

def test_every_library_of_the_real_580_driver_is_in_the_tree():
    names = {f.path.rsplit("/", 1)[1].split(".so")[0] for f in driver_tree.driver_files("580.159.04")
             if f.role == "library"}
    assert len(names) == 26
    assert {"libcuda", "libnvidia-ml", "libnvidia-ptxjitcompiler", "libvdpau_nvidia", "libnvoptix"} <= names


def test_libraries_carry_soname_and_dev_links_like_the_real_driver():
    files = dict((f.path, f) for f in driver_tree.driver_files("550.54.15"))
    cuda = files["usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15"]
    assert cuda.links == (("usr/lib/x86_64-linux-gnu/libcuda.so.1", "libcuda.so.550.54.15"),
                          ("usr/lib/x86_64-linux-gnu/libcuda.so", "libcuda.so.1"))
    tls = files["usr/lib/x86_64-linux-gnu/libnvidia-tls.so.550.54.15"]
    assert tls.links == (("usr/lib/x86_64-linux-gnu/libnvidia-tls.so", "libnvidia-tls.so.550.54.15"),)


def test_vdpau_library_lives_in_its_subdirectory():
    assert "usr/lib/x86_64-linux-gnu/vdpau/libvdpau_nvidia.so.550.54.15" in [
        f.path for f in driver_tree.driver_files("550.54.15")]
    assert driver_tree.library_dirs("550.54.15") == ["usr/lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu/vdpau"]


def test_version_file_has_the_open_kernel_module_format():
    first = driver_tree.version_text("550.54.15").splitlines()[0]
    assert first.startswith("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.15  Release Build")


def test_params_file_lists_every_field_of_the_real_node_in_order():
    lines = driver_tree.params_text().splitlines()
    assert lines[0] == "ResmanDebugLevel: 4294967295"
    assert lines[5] == "DeviceFileMode: 438"
    assert lines[-1] == 'ExcludedGpus: ""'
    assert len(lines) == 42


def test_gpu_information_has_every_field_of_the_real_node():
    gpu = node("dgxh100", 1).gpus[0]
    text = driver_tree.gpu_information_text(gpu, "580.159.04")
    fields = [line.split(":")[0] for line in text.splitlines()]
    assert fields == ["Model", "IRQ", "GPU UUID", "Video BIOS", "Bus Type", "DMA Size", "DMA Mask", "Bus Location",
                      "Device Minor", "GPU Firmware", "GPU Excluded"]
    assert "Model: \t\t NVIDIA H100 80GB HBM3\n" in text
    assert "GPU UUID: \t %s\n" % gpu.uuid in text
    assert "DMA Mask: \t 0xfffffffffffff\n" in text
    assert "Bus Location: \t %s\n" % gpu.pci_bus_id_legacy in text
    assert "GPU Firmware: \t 580.159.04\n" in text


def test_tree_entries_own_only_the_drivers_directories():
    n = node(gpu_count=1)
    dirs = [e.path for e in driver_tree.tree_entries(n, n.driver_version, "/", "conf") if e.kind == fsstate.DIRECTORY]
    assert "usr" not in dirs and "lib" not in dirs and "etc" not in dirs
    assert "usr/lib/x86_64-linux-gnu" not in dirs
    assert "proc/driver/nvidia" in dirs and "lib/firmware/nvidia/550.54.15" in dirs


def test_tools_are_executable_placeholders_that_keep_a_real_binary():
    n = node(gpu_count=1)
    smi = [e for e in driver_tree.tree_entries(n, n.driver_version, "/", "conf") if e.path == "usr/bin/nvidia-smi"][0]
    assert smi.mode == 0o755 and smi.keep_content and smi.content.startswith(b"#!/bin/sh\n")


def test_mig_minors_lists_every_capability_of_the_drivers_table_as_name_and_minor():
    lines = driver_tree.mig_minors_text().splitlines()
    assert lines[:3] == ["config 1", "monitor 2", "gpu0/gi0/access 3"]
    assert lines[-2:] == ["gpu31/gi14/ci6/access 4321", "gpu31/gi14/ci7/access 4322"]
    assert len(lines) == 4322


@pytest.mark.parametrize("capability, path", [
    ("config", "proc/driver/nvidia/capabilities/mig/config"),
    ("monitor", "proc/driver/nvidia/capabilities/mig/monitor"),
    ("gpu0/gi1/access", "proc/driver/nvidia/capabilities/gpu0/mig/gi1/access"),
    ("gpu12/gi13/ci0/access", "proc/driver/nvidia/capabilities/gpu12/mig/gi13/ci0/access")])
def test_capability_files_sit_where_the_drivers_procfs_has_them(capability, path):
    assert driver_tree.capability_path(capability) == path


def test_a_capability_file_gives_minor_decimal_mode_and_modify_as_the_driver_prints_them():
    assert driver_tree.capability_text(12, 0o444) == "DeviceFileMinor: 12\nDeviceFileMode: 292\nDeviceFileModify: 1\n"


def tree_files(n):
    return dict((e.path, e) for e in driver_tree.tree_entries(n, n.driver_version, "/", "conf")
                if e.kind == fsstate.FILE)


def test_every_node_has_the_mig_minors_table_even_without_mig():
    files = tree_files(node("t4"))
    assert files["proc/driver/nvidia-caps/mig-minors"].content == driver_tree.mig_minors_text().encode()
    assert not [path for path in files if "/capabilities/" in path]


def test_a_mig_node_has_a_capability_file_for_config_monitor_and_each_instance_of_its_layout():
    files = tree_files(mig_node())
    caps = dict((path, (oct(e.mode), e.content)) for path, e in files.items() if "/capabilities/" in path)
    assert sorted(caps) == sorted(driver_tree.capability_path(n.capability)
                                  for n in devnodes.device_nodes(mig_node(), 238, 241) if n.role == "cap")
    assert caps["proc/driver/nvidia/capabilities/mig/config"] == ("0o400", driver_tree.capability_text(1, 0o400).encode())
    assert caps["proc/driver/nvidia/capabilities/gpu0/mig/gi11/ci0/access"] == (
        "0o444", driver_tree.capability_text(103, 0o444).encode())


def test_the_tree_owns_the_nvidia_caps_proc_directory():
    n = node(gpu_count=1)
    dirs = [e.path for e in driver_tree.tree_entries(n, n.driver_version, "/", "conf") if e.kind == fsstate.DIRECTORY]
    assert "proc/driver/nvidia-caps" in dirs


def test_toolkit_config_points_at_the_tree_and_cdi_mode():
    text = driver_tree.toolkit_config_text("/var/lib/nvidia-mock/driver")
    assert 'root = "/var/lib/nvidia-mock/driver"' in text
    assert 'mode = "cdi"' in text
