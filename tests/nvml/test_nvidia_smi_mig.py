"""The real nvidia-smi (535 and 550) on MIG nodes: the layout's MIG devices, GPU and compute
instances, and an instance nvidia-smi creates being what NVML then sees."""
import os
import subprocess

import pytest

from conftest import LIB, ROOT, build_node, write_config
from test_mig import LAYOUT, gpu, mig_devices

NVIDIA_SMI = {"535": ROOT / ".build" / "nvidia" / "bookworm" / "nvidia-smi",
              "550": ROOT / ".build" / "nvidia" / "trixie" / "nvidia-smi"}


@pytest.fixture
def mig_node():
    return build_node("dgxa100", gpu_count=2, mig_enabled=True, mig_layout=LAYOUT)


def run_smi(version, config, *args):
    binary = NVIDIA_SMI[version]
    if not binary.exists():
        pytest.fail("%s is missing: run scripts/deps/install.d/nvidia-debs.sh" % binary)
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "LD_LIBRARY_PATH": str(LIB.parent), "MOCK_NVML_CONFIG": str(config)}
    return subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def smi(version, config, *args):
    res = run_smi(version, config, *args)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


@pytest.fixture
def root():
    if os.geteuid() != 0:
        pytest.skip("nvidia-smi changes MIG mode and instances only as root")


@pytest.mark.parametrize("version", sorted(NVIDIA_SMI))
def test_nvidia_smi_lists_the_mig_devices_of_the_layout(version, mig_node, pynvml, use_config):
    out = smi(version, use_config(mig_node), "-L")
    pynvml.nvmlInit()
    uuid = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetMigDeviceHandleByIndex(gpu(pynvml), 0))
    assert "  MIG 3g.20gb     Device  0: (UUID: %s)" % uuid in out.splitlines()


@pytest.mark.parametrize("version", sorted(NVIDIA_SMI))
def test_nvidia_smi_lists_the_gpu_instances(version, mig_node, tmp_path):
    out = smi(version, write_config(tmp_path, mig_node, name="smi.conf"), "mig", "-lgi")
    rows = [line.split()[2:7] for line in out.splitlines() if line.startswith("|   0  MIG")]
    assert sorted(rows) == [["MIG", "1g.5gb", "19", "13", "6:1"], ["MIG", "2g.10gb", "14", "5", "4:2"],
                            ["MIG", "3g.20gb", "9", "1", "0:4"]]


@pytest.mark.parametrize("version", sorted(NVIDIA_SMI))
def test_nvidia_smi_lists_the_compute_instances(version, mig_node, tmp_path):
    out = smi(version, write_config(tmp_path, mig_node, name="smi.conf"), "mig", "-lci")
    rows = [line.split()[2:7] for line in out.splitlines() if line.startswith("|   1 ")]
    assert sorted(rows) == [["1", "MIG", "3g.20gb", "2", "0"], ["13", "MIG", "1g.5gb", "0", "0"],
                            ["5", "MIG", "2g.10gb", "1", "0"]]


@pytest.mark.parametrize("version", sorted(NVIDIA_SMI))
def test_gpu_instance_nvidia_smi_creates_is_seen_by_nvml(version, pynvml, use_config):
    if os.geteuid() != 0:
        pytest.skip("nvidia-smi changes MIG instances only as root")
    config = use_config(build_node("dgxa100", gpu_count=1, mig_enabled=True))
    smi(version, config, "mig", "-i", "0", "-cgi", "2g.10gb", "-C")
    pynvml.nvmlInit()
    assert [pynvml.nvmlDeviceGetName(m) for m in mig_devices(pynvml, gpu(pynvml))] == [
        "NVIDIA A100-SXM4-40GB MIG 2g.10gb"]


# --- nvidia-smi -mig: the MIG mode ------------------------------------------------------------

def mig_modes(version, config):
    out = smi(version, config, "--query-gpu=mig.mode.current,mig.mode.pending", "--format=csv,noheader")
    return [line.split(", ") for line in out.splitlines()]


@pytest.mark.parametrize("version", sorted(NVIDIA_SMI))
def test_nvidia_smi_enables_mig_mode_on_one_gpu(version, root, tmp_path):
    config = write_config(tmp_path, build_node("dgxa100", gpu_count=2))
    out = smi(version, config, "-i", "0", "-mig", "1")
    assert "Enabled MIG Mode for GPU 00000000:07:00.0" in out.splitlines()
    assert mig_modes(version, config) == [["Enabled", "Enabled"], ["Disabled", "Disabled"]]


@pytest.mark.parametrize("version", sorted(NVIDIA_SMI))
def test_gpu_nvidia_smi_put_in_mig_mode_takes_instances_nvidia_smi_lists(version, root, tmp_path):
    config = write_config(tmp_path, build_node("dgxa100", gpu_count=1))
    smi(version, config, "-i", "0", "-mig", "1")
    smi(version, config, "mig", "-i", "0", "-cgi", "3g.20gb", "-C")
    assert "  MIG 3g.20gb     Device  0:" in smi(version, config, "-L")
    rows = [line.split()[2:7] for line in smi(version, config, "mig", "-lgi").splitlines()
            if line.startswith("|   0  MIG")]
    assert rows == [["MIG", "3g.20gb", "9", "1", "0:4"]]


@pytest.mark.parametrize("version", sorted(NVIDIA_SMI))
def test_nvidia_smi_cannot_disable_mig_mode_while_gpu_instances_exist(version, root, mig_node, tmp_path):
    config = write_config(tmp_path, mig_node)
    res = run_smi(version, config, "-i", "0", "-mig", "0")
    assert res.returncode != 0
    assert "Unable to disable MIG Mode for GPU 00000000:07:00.0: In use by another client" in res.stdout
    assert mig_modes(version, config)[0] == ["Enabled", "Enabled"]


@pytest.mark.parametrize("version", sorted(NVIDIA_SMI))
def test_nvidia_smi_disables_mig_mode_once_the_instances_are_destroyed(version, root, mig_node, tmp_path):
    config = write_config(tmp_path, mig_node)
    smi(version, config, "mig", "-i", "0", "-dci")
    smi(version, config, "mig", "-i", "0", "-dgi")
    out = smi(version, config, "-i", "0", "-mig", "0")
    assert "Disabled MIG Mode for GPU 00000000:07:00.0" in out.splitlines()
    query = smi(version, config, "-q", "-i", "0").splitlines()
    at = query.index("    MIG Mode")
    assert [line.split(":")[1].strip() for line in query[at + 1:at + 3]] == ["Disabled", "Disabled"]


@pytest.mark.parametrize("version", sorted(NVIDIA_SMI))
def test_nvidia_smi_mig_mode_on_a_board_without_mig_is_not_supported(version, root, tmp_path):
    config = write_config(tmp_path, build_node("t4", gpu_count=1))
    out = smi(version, config, "-i", "0", "-mig", "1")
    assert "Unable to enable MIG Mode for GPU 00000000:00:1E.0: Not Supported" in out.splitlines()
