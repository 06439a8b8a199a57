"""Specification of the nvidia_mock_driver_tree module, run through Ansible's module harness."""
import os
import stat
import struct

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import driver_tree, nvml_config
from ansible_collections.gpumock.nvidia.plugins.modules import nvidia_mock_driver_tree as M

LIB = "usr/lib/x86_64-linux-gnu"


MODULE = M
MODULE_DEFAULTS = {"node_id": "unit-node"}


@pytest.fixture
def root(tmp_path):
    return tmp_path / "driver"


@pytest.fixture
def fake_nvml(tmp_path):
    path = tmp_path / "libnvidia-ml.so.build"
    path.write_bytes(b"\x7fELF mock nvml")
    return path


def test_creates_every_library_with_its_links(run, root):
    run(root=str(root), gpu_count=1)
    assert os.readlink(root / LIB / "libcuda.so.1") == "libcuda.so.550.54.15"
    assert os.readlink(root / LIB / "libcuda.so") == "libcuda.so.1"
    assert (root / LIB / "libcuda.so.550.54.15").read_bytes() == b""
    assert os.readlink(root / LIB / "vdpau/libvdpau_nvidia.so.1") == "libvdpau_nvidia.so.550.54.15"


def test_every_returned_file_exists_in_the_tree(run, root):
    result = run(root=str(root), gpu_count=1)
    assert result["files"] and all((root / f).is_file() for f in result["files"])


def installed_library(root, version="550.54.15"):
    """(library bytes, embedded config text) of the tree's NVML library."""
    library, config = driver_tree.split_embedded_config((root / LIB / ("libnvidia-ml.so." + version)).read_bytes())
    return library, config.decode() if config is not None else None


def test_installs_the_mock_nvml_under_the_driver_version(run, root, fake_nvml):
    result = run(root=str(root), gpu_count=1, nvml_library=str(fake_nvml), driver_version="580.159.04")
    assert installed_library(root, "580.159.04")[0] == b"\x7fELF mock nvml"
    assert os.readlink(root / LIB / "libnvidia-ml.so.1") == "libnvidia-ml.so.580.159.04"
    assert result["nvml_library"] == str(root / LIB / "libnvidia-ml.so.580.159.04")


def test_a_rebuilt_nvml_is_installed_again(run, root, fake_nvml):
    run(root=str(root), gpu_count=1, nvml_library=str(fake_nvml))
    fake_nvml.write_bytes(b"\x7fELF rebuilt")
    assert run(root=str(root), gpu_count=1, nvml_library=str(fake_nvml))["changed"] is True
    assert installed_library(root)[0] == b"\x7fELF rebuilt"


def test_without_nvml_library_an_installed_library_is_kept(run, root, fake_nvml):
    run(root=str(root), gpu_count=1, nvml_library=str(fake_nvml))
    assert run(root=str(root), gpu_count=1)["changed"] is False
    assert installed_library(root)[0] == b"\x7fELF mock nvml"


def test_the_library_file_is_the_library_then_the_nvml_config_then_the_trailer(run, root, fake_nvml):
    run(root=str(root), profile="l40s", gpu_count=2, nvml_library=str(fake_nvml))
    config = (root / "etc/nvidia-mock/nvml.conf").read_bytes()
    trailer = driver_tree.EMBED_MAGIC + struct.pack("<Q", len(config))
    assert (root / LIB / "libnvidia-ml.so.550.54.15").read_bytes() == b"\x7fELF mock nvml" + config + trailer


def test_an_installed_library_given_as_nvml_library_gives_the_same_file(run, root, tmp_path, fake_nvml):
    run(root=str(root), gpu_count=2, nvml_library=str(fake_nvml))
    installed = tmp_path / "installed.so"
    installed.write_bytes((root / LIB / "libnvidia-ml.so.550.54.15").read_bytes())
    other = tmp_path / "other"
    assert run(root=str(other), gpu_count=2, nvml_library=str(installed))["changed"] is True
    assert (other / LIB / "libnvidia-ml.so.550.54.15").read_bytes() == installed.read_bytes()


def test_an_installed_library_given_as_nvml_library_changes_nothing(run, root, tmp_path, fake_nvml):
    run(root=str(root), gpu_count=2, nvml_library=str(fake_nvml))
    installed = tmp_path / "installed.so"
    installed.write_bytes((root / LIB / "libnvidia-ml.so.550.54.15").read_bytes())
    assert run(root=str(root), gpu_count=2, nvml_library=str(installed))["changed"] is False


def test_second_run_with_nvml_library_is_unchanged(run, root, fake_nvml):
    run(root=str(root), gpu_count=2, nvml_library=str(fake_nvml))
    assert run(root=str(root), gpu_count=2, nvml_library=str(fake_nvml))["changed"] is False


def test_check_mode_with_nvml_library_writes_nothing(run, root, fake_nvml):
    run(root=str(root), gpu_count=1, nvml_library=str(fake_nvml))
    before = (root / LIB / "libnvidia-ml.so.550.54.15").read_bytes()
    assert run(check=True, root=str(root), gpu_count=3, nvml_library=str(fake_nvml))["changed"] is True
    assert (root / LIB / "libnvidia-ml.so.550.54.15").read_bytes() == before


def test_the_embedded_config_is_the_trees_nvml_config(run, root, fake_nvml):
    run(root=str(root), profile="l40s", gpu_count=3, dev_root="/run/mock/dev", nvml_library=str(fake_nvml))
    assert installed_library(root)[1] == (root / "etc/nvidia-mock/nvml.conf").read_text()


def test_without_nvml_library_the_embedded_config_follows_the_node(run, root, fake_nvml):
    run(root=str(root), gpu_count=1, nvml_library=str(fake_nvml))
    assert run(root=str(root), gpu_count=2)["changed"] is True
    assert installed_library(root) == (b"\x7fELF mock nvml", (root / "etc/nvidia-mock/nvml.conf").read_text())


def test_without_nvml_library_a_library_without_embedded_config_is_left_alone(run, root):
    (root / LIB).mkdir(parents=True)
    (root / LIB / "libnvidia-ml.so.550.54.15").write_bytes(b"\x7fELF someone else's")
    run(root=str(root), gpu_count=1)
    assert (root / LIB / "libnvidia-ml.so.550.54.15").read_bytes() == b"\x7fELF someone else's"


def test_tools_are_executable(run, root):
    run(root=str(root), gpu_count=1)
    for tool in driver_tree.TOOLS:
        assert os.stat(root / "usr/bin" / tool).st_mode & stat.S_IXUSR


def test_a_real_tool_installed_later_is_left_alone(run, root):
    run(root=str(root), gpu_count=1)
    (root / "usr/bin/nvidia-smi").write_bytes(b"\x7fELF real nvidia-smi")
    assert run(root=str(root), gpu_count=1)["changed"] is False
    assert (root / "usr/bin/nvidia-smi").read_bytes() == b"\x7fELF real nvidia-smi"


def test_proc_tree_has_version_params_and_one_information_file_per_gpu(run, root):
    run(root=str(root), profile="dgxa100", gpu_count=2)
    gpus = profiles.build_node("dgxa100", 2, "unit-node").gpus
    assert sorted(os.listdir(root / "proc/driver/nvidia/gpus")) == sorted(g.pci_bus_id_legacy for g in gpus)
    info = (root / "proc/driver/nvidia/gpus" / gpus[1].pci_bus_id_legacy / "information").read_text()
    assert "Device Minor: \t 1\n" in info
    assert "550.54.15" in (root / "proc/driver/nvidia/version").read_text()
    assert (root / "proc/driver/nvidia/params").read_text().startswith("ResmanDebugLevel: ")


MIG = dict(profile="dgxh100", gpu_count=2, mig_enabled=True,
           mig_layout={"0": ["3g.40gb", "1g.10gb"], "1": ["7g.80gb"]})
CAPS = "proc/driver/nvidia/capabilities"


def test_every_tree_has_the_drivers_mig_minors_table(run, root):
    run(root=str(root), profile="l40s", gpu_count=1)
    minors = (root / "proc/driver/nvidia-caps/mig-minors").read_text().splitlines()
    assert minors[:2] == ["config 1", "monitor 2"] and minors[-1] == "gpu31/gi14/ci7/access 4322"
    assert not (root / CAPS).exists()


def test_a_mig_layout_writes_a_capability_file_for_each_gpu_and_compute_instance(run, root):
    run(root=str(root), **MIG)
    files = sorted(os.path.relpath(os.path.join(d, f), str(root / CAPS))
                   for d, _dirs, names in os.walk(str(root / CAPS)) for f in names)
    assert files == ["gpu0/mig/gi1/access", "gpu0/mig/gi1/ci0/access", "gpu0/mig/gi11/access",
                     "gpu0/mig/gi11/ci0/access", "gpu1/mig/gi0/access", "gpu1/mig/gi0/ci0/access",
                     "mig/config", "mig/monitor"]
    assert (root / CAPS / "gpu0/mig/gi11/ci0/access").read_text() == (
        "DeviceFileMinor: 103\nDeviceFileMode: 292\nDeviceFileModify: 1\n")


def test_the_config_capability_file_is_readable_by_root_only(run, root):
    run(root=str(root), **MIG)
    assert stat.S_IMODE(os.lstat(root / CAPS / "mig/config").st_mode) == 0o400
    assert (root / CAPS / "mig/config").read_text().startswith("DeviceFileMinor: 1\nDeviceFileMode: 256\n")


def test_second_run_with_a_mig_layout_is_unchanged(run, root):
    run(root=str(root), **MIG)
    assert run(root=str(root), **MIG)["changed"] is False


def test_check_mode_with_a_mig_layout_reports_the_actions_of_the_run(run, root):
    predicted = run(check=True, root=str(root), **MIG)
    assert not root.exists()
    assert predicted["actions"] == run(root=str(root), **MIG)["actions"]


def test_absent_removes_the_capability_files_and_the_nvidia_caps_directory(run, root):
    run(root=str(root), **MIG)
    run(root=str(root), state="absent", **MIG)
    assert os.listdir(root / "proc/driver") == []


def test_firmware_is_under_the_driver_version(run, root):
    run(root=str(root), gpu_count=1, driver_version="580.159.04")
    assert sorted(os.listdir(root / "lib/firmware/nvidia/580.159.04")) == ["gsp_ga10x.bin", "gsp_tu10x.bin"]


def test_nvml_config_is_rendered_from_the_profile(run, root):
    result = run(root=str(root), profile="l40s", gpu_count=3, dev_root="/run/mock/dev")
    node = profiles.build_node("l40s", 3, "unit-node")
    assert (root / "etc/nvidia-mock/nvml.conf").read_text() == nvml_config.render(node, "devnodes", "/run/mock/dev")
    assert result["nvml_config"] == str(root / "etc/nvidia-mock/nvml.conf")


def test_toolkit_config_names_the_tree_as_driver_root(run, root):
    run(root=str(root), gpu_count=1)
    assert 'root = "%s"' % root in (root / "etc/nvidia-container-runtime/config.toml").read_text()


def test_second_run_is_unchanged(run, root):
    run(root=str(root))
    assert run(root=str(root))["changed"] is False


def test_check_mode_reports_changed_and_writes_nothing(run, root):
    assert run(check=True, root=str(root))["changed"] is True
    assert not root.exists()


def test_diff_mode_shows_a_changed_config_text(run, root):
    run(root=str(root), gpu_count=1)
    (root / "etc/nvidia-container-runtime/config.toml").write_text("# gpumock.nvidia\nedited\n")
    result = run(check=True, diff=True, root=str(root), gpu_count=1)
    (item,) = result["diff"]
    assert item["before"].endswith("edited\n")
    assert 'mode = "cdi"' in item["after"]


def test_changing_gpu_count_changes_the_tree(run, root):
    run(root=str(root), gpu_count=1)
    assert run(root=str(root), gpu_count=2)["changed"] is True


def test_absent_removes_the_tree_but_keeps_shared_directories(run, root):
    run(root=str(root), gpu_count=1)
    result = run(root=str(root), gpu_count=1, state="absent")
    assert result["changed"] is True
    assert not (root / "proc/driver/nvidia").exists()
    assert os.listdir(root / LIB) == ["vdpau"]
    assert os.listdir(root / LIB / "vdpau") == []
    assert run(root=str(root), gpu_count=1, state="absent")["changed"] is False


@pytest.mark.parametrize("args, option", [
    ({"gpu_count": 0}, "gpu_count"),
    ({"gpu_count": 129}, "gpu_count"),
    ({"profile": "dgx9000"}, "profile"),
    ({"root": "relative/driver"}, "root"),
    ({"root": "/var/lib/../../etc"}, "root"),
    ({"driver_version": "latest"}, "driver_version"),
    ({"nvml_library": "/nonexistent/libnvidia-ml.so"}, "nvml_library"),
    ({"state": "gone"}, "state"),
])
def test_bad_input_fails_naming_the_option_and_writes_nothing(run, tmp_path, args, option):
    args.setdefault("root", str(tmp_path / "driver"))
    result = run(**args)
    assert result["failed"] is True
    assert option in result["msg"]
    assert os.listdir(tmp_path) == []


def test_merged_usr_symlinks_of_a_root_filesystem_are_kept(run, root):
    (root / "usr/lib").mkdir(parents=True)
    os.symlink("usr/lib", root / "lib")
    run(root=str(root), gpu_count=1)
    assert os.readlink(root / "lib") == "usr/lib"
    assert (root / "usr/lib/firmware/nvidia/550.54.15/gsp_ga10x.bin").is_file()
    assert run(root=str(root), gpu_count=1)["changed"] is False
    run(root=str(root), gpu_count=1, state="absent")
    assert os.readlink(root / "lib") == "usr/lib"


@pytest.fixture
def fake_ctl(tmp_path):
    path = tmp_path / "nvidia-mock-ctl.build"
    path.write_bytes(b"\x7fELF nvidia-mock-ctl build")
    return path


CTL = driver_tree.MOCK_CTL


def test_installs_nvidia_mock_ctl_beside_the_tools(run, root, fake_ctl):
    result = run(root=str(root), gpu_count=1, mock_ctl=str(fake_ctl))
    assert (root / CTL).read_bytes() == b"\x7fELF nvidia-mock-ctl build"
    assert stat.S_IMODE((root / CTL).stat().st_mode) == 0o755
    assert result["mock_ctl"] == str(root / CTL)


def test_a_rebuilt_nvidia_mock_ctl_is_installed_again(run, root, fake_ctl):
    run(root=str(root), gpu_count=1, mock_ctl=str(fake_ctl))
    fake_ctl.write_bytes(b"\x7fELF rebuilt nvidia-mock-ctl")
    assert run(check=True, root=str(root), gpu_count=1, mock_ctl=str(fake_ctl))["changed"] is True
    assert (root / CTL).read_bytes() == b"\x7fELF nvidia-mock-ctl build"
    assert run(root=str(root), gpu_count=1, mock_ctl=str(fake_ctl))["changed"] is True
    assert (root / CTL).read_bytes() == b"\x7fELF rebuilt nvidia-mock-ctl"
    assert run(root=str(root), gpu_count=1, mock_ctl=str(fake_ctl))["changed"] is False


def test_without_mock_ctl_an_installed_one_is_kept(run, root, fake_ctl):
    run(root=str(root), gpu_count=1, mock_ctl=str(fake_ctl))
    assert run(root=str(root), gpu_count=1)["changed"] is False
    assert (root / CTL).read_bytes() == b"\x7fELF nvidia-mock-ctl build"


def test_without_mock_ctl_a_placeholder_says_it_is_missing(run, root):
    run(root=str(root), gpu_count=1)
    assert "not installed" in (root / CTL).read_text()


def test_nvidia_mock_ctl_is_not_a_driver_file_the_cdi_spec_mounts(run, root, fake_ctl):
    result = run(root=str(root), gpu_count=1, mock_ctl=str(fake_ctl))
    assert CTL not in result["files"]


def test_unreadable_mock_ctl_is_named(run, root, tmp_path):
    result = run(root=str(root), gpu_count=1, mock_ctl=str(tmp_path / "missing"))
    assert result["failed"] and result["msg"].startswith("mock_ctl %s cannot be read" % (tmp_path / "missing"))


def test_absent_removes_the_live_state_file_and_its_directory(run, root, fake_ctl):
    run(root=str(root), gpu_count=1, mock_ctl=str(fake_ctl))
    (root / driver_tree.LIVE_STATE).write_bytes(b"GPUMOCK-LIVE state")
    run(root=str(root), gpu_count=1, state="absent")
    assert not (root / "etc" / "nvidia-mock").exists()
    assert not (root / CTL).exists()


# The node's architecture (aarch64: GH200, GB200, arm64 kind nodes).

ARM_LIB = "usr/lib/aarch64-linux-gnu"


def test_an_aarch64_tree_has_every_library_in_the_aarch64_directory_and_none_in_x86_64s(run, root, fake_nvml):
    result = run(root=str(root), gpu_count=1, nvml_library=str(fake_nvml), architecture="aarch64")
    assert result["architecture"] == "aarch64"
    libraries = [f for f in result["files"] if "/lib" in f and not f.startswith("lib/firmware")]
    assert libraries and all(f.startswith(ARM_LIB + "/") for f in libraries)
    assert all((root / f).is_file() for f in result["files"])
    assert os.readlink(root / ARM_LIB / "libnvidia-ml.so.1") == "libnvidia-ml.so.550.54.15"
    assert result["nvml_library"] == str(root / ARM_LIB / "libnvidia-ml.so.550.54.15")
    assert installed_library_at(root / ARM_LIB)[0] == b"\x7fELF mock nvml"
    assert not (root / LIB).exists()


def installed_library_at(libdir, version="550.54.15"):
    return driver_tree.split_embedded_config((libdir / ("libnvidia-ml.so." + version)).read_bytes())


def test_the_nvml_config_is_where_the_library_looks_on_either_architecture(run, root):
    # nvml_src/src/config_load.c: <library directory>/../../../etc/nvidia-mock/nvml.conf.
    for arch in driver_tree.ARCHITECTURES:
        found = os.path.normpath(os.path.join(str(root), driver_tree.lib_dir(arch), "../../..", driver_tree.NVML_CONFIG))
        assert found == str(root / "etc/nvidia-mock/nvml.conf")
    run(root=str(root), gpu_count=1, architecture="aarch64")
    assert (root / "etc/nvidia-mock/nvml.conf").is_file()


def test_an_aarch64_tree_says_aarch64_in_proc_version(run, root):
    run(root=str(root), gpu_count=1, architecture="aarch64")
    assert (root / "proc/driver/nvidia/version").read_text().startswith(
        "NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  550.54.15  Release Build")


def test_without_architecture_the_tree_is_the_targets_own(run, root, monkeypatch):
    monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "arm-node", "6.1", "#1", "aarch64")))
    assert run(root=str(root), gpu_count=1)["architecture"] == "aarch64"
    assert (root / ARM_LIB / "libcuda.so.550.54.15").is_file()


def test_x86_64_named_is_the_default_tree_on_x86_64_byte_for_byte(run, root, fs_snapshot, monkeypatch):
    monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "node", "6.1", "#1", "x86_64")))
    run(root=str(root), gpu_count=2)
    before = fs_snapshot(root)
    assert run(root=str(root), gpu_count=2, architecture="x86_64")["changed"] is False
    assert fs_snapshot(root) == before


def test_a_target_of_another_architecture_must_name_one_and_nothing_is_written(run, root, monkeypatch):
    monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "power", "6.1", "#1", "ppc64le")))
    result = run(root=str(root), gpu_count=1)
    assert result["failed"] is True
    assert result["msg"] == ("architecture must be set on this ppc64le node: a driver tree has the layout of "
                             "x86_64 or aarch64.")
    assert not root.exists()


def test_an_unknown_architecture_fails_naming_the_option(run, root):
    result = run(root=str(root), gpu_count=1, architecture="arm64")
    assert result["failed"] is True and "architecture" in result["msg"] and "aarch64" in result["msg"]
    assert not root.exists()


def test_absent_removes_an_aarch64_tree(run, root):
    run(root=str(root), gpu_count=1, architecture="aarch64")
    assert run(root=str(root), gpu_count=1, architecture="aarch64", state="absent")["changed"] is True
    assert os.listdir(root / ARM_LIB) == ["vdpau"] and not (root / "proc/driver/nvidia").exists()
