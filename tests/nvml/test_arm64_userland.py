"""An arm64 userland against the aarch64 mock NVML: Debian's arm64 python3 with pynvml, and
NVIDIA's arm64 nvidia-smi (bookworm non-free, 535), run here under qemu-aarch64 user emulation.

The arm64 packages are unpacked outside the checkout by scripts/deps/install.d/arm64-rootfs.sh
(`make deps` runs it; so does this module when they are missing). The module is skipped, saying
why, only when they cannot be fetched. The library is the cross-built one (`make nvml-aarch64`);
each program finds it through LD_LIBRARY_PATH and its config through MOCK_NVML_CONFIG, both set
inside the emulated process (qemu's -E), as on a real arm64 node with the driver tree's library.
"""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ARM_LIB, ROOT, build_node, write_config

FETCH = ROOT / "scripts" / "deps" / "install.d" / "arm64-rootfs.sh"
NVIDIA_SMI = "usr/lib/nvidia/current/nvidia-smi"
PYTHON = "usr/bin/python3.11"


@pytest.fixture(scope="module")
def rootfs():
    assert ARM_LIB.exists(), "build it with `make nvml-aarch64`"
    fetched = subprocess.run(["bash", str(FETCH)], capture_output=True, text=True, timeout=600, check=False)
    if fetched.returncode != 0:
        # apt's first warning or error says why (an unreachable mirror, a package gone).
        lines = fetched.stderr.strip().splitlines() or ["exit %d" % fetched.returncode]
        why = next((line for line in lines if line.startswith(("W:", "E:"))), lines[-1])
        pytest.skip("the arm64 packages could not be fetched (%s): %s" % (FETCH.name, why))
    return Path(subprocess.run(["bash", str(FETCH), "path"], capture_output=True, text=True, check=True).stdout.strip())


@pytest.fixture(scope="module")
def pynvml_dir(tmp_path_factory):
    """pynvml (pure Python, the version requirements-dev.txt installs) alone in a directory."""
    import pynvml
    where = tmp_path_factory.mktemp("pynvml")
    shutil.copy(pynvml.__file__, where / "pynvml.py")
    return where


def run_arm64(rootfs, program, args, config, env=()):
    """``program`` of the arm64 root filesystem under qemu-aarch64, with the aarch64 mock NVML."""
    cmd = ["qemu-aarch64", "-L", str(rootfs), "-E", "LD_LIBRARY_PATH=%s" % ARM_LIB.parent,
           "-E", "MOCK_NVML_CONFIG=%s" % config, "-E", "LC_ALL=C"]
    for item in env:
        cmd += ["-E", item]
    result = subprocess.run(cmd + [str(rootfs / program)] + list(args), capture_output=True, text=True,
                            timeout=180, check=False)
    assert result.returncode == 0, "%s exited %d:\n%s%s" % (program, result.returncode, result.stdout[-2000:],
                                                            result.stderr[-2000:])
    return result.stdout


# One emulated python per node (each start costs seconds): every answer as one JSON document.
PROBE = r"""
import json, platform, pynvml
pynvml.nvmlInit()
out = {"machine": platform.machine(), "driver": pynvml.nvmlSystemGetDriverVersion(), "gpus": []}
for i in range(pynvml.nvmlDeviceGetCount()):
    h = pynvml.nvmlDeviceGetHandleByIndex(i)
    gpu = {"name": pynvml.nvmlDeviceGetName(h), "uuid": pynvml.nvmlDeviceGetUUID(h),
           "bus_id": pynvml.nvmlDeviceGetPciInfo(h).busId,
           "memory": pynvml.nvmlDeviceGetMemoryInfo(h).total,
           "c2c": pynvml.nvmlDeviceGetC2cModeInfoV(h).isC2cEnabled,
           "mig": pynvml.nvmlDeviceGetMigMode(h)[0] if pynvml.nvmlDeviceGetMaxMigDeviceCount(h) else None,
           "mig_uuids": []}
    if gpu["mig"]:
        for m in range(pynvml.nvmlDeviceGetMaxMigDeviceCount(h)):
            try:
                gpu["mig_uuids"].append(pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetMigDeviceHandleByIndex(h, m)))
            except pynvml.NVMLError_NotFound:
                pass
    out["gpus"].append(gpu)
pynvml.nvmlShutdown()
print(json.dumps(out))
"""

NODES = {
    "gh200": dict(profile="gh200"),
    "gb200": dict(profile="gb200"),
    "gb200-mig": dict(profile="gb200", mig_enabled=True, mig_layout={0: ["3g.93gb", "2g.47gb", "1g.23gb"]}),
    "dgxh100": dict(profile="dgxh100", gpu_count=2),
}


@pytest.fixture(scope="module", params=sorted(NODES))
def node(request, tmp_path_factory):
    node = build_node(**NODES[request.param])
    return node, write_config(tmp_path_factory.mktemp(request.param), node)


@pytest.fixture(scope="module")
def python_view(rootfs, pynvml_dir, node):
    """What the arm64 python with pynvml reads of the node (PROBE's JSON)."""
    _node, config = node
    return json.loads(run_arm64(rootfs, PYTHON, ["-c", PROBE], config, ["PYTHONPATH=%s" % pynvml_dir]))


def test_arm64_python_with_pynvml_sees_every_gpu_of_the_node(python_view, node):
    node, _config = node
    got = python_view
    assert got["machine"] == "aarch64" and got["driver"] == node.driver_version
    assert [(g["name"], g["uuid"], g["bus_id"], g["memory"], g["c2c"]) for g in got["gpus"]] == [
        (gpu.board.name, gpu.uuid, gpu.pci_bus_id, gpu.board.memory_total_bytes, int(gpu.board.c2c_mode))
        for gpu in node.gpus]


def test_arm64_python_with_pynvml_sees_the_mig_devices_of_the_layout(python_view, node):
    node, _config = node
    assert [g["mig_uuids"] for g in python_view["gpus"]] == [[m.uuid for m in gpu.mig_devices] for gpu in node.gpus]


def test_arm64_nvidia_smi_lists_every_gpu_with_its_uuid(rootfs, node):
    node, config = node
    out = run_arm64(rootfs, NVIDIA_SMI, ["-L"], config)
    gpu_lines = [line for line in out.splitlines() if line.startswith("GPU ")]
    assert gpu_lines == ["GPU %d: %s (UUID: %s)" % (g.index, g.board.name, g.uuid) for g in node.gpus]
    mig_uuids = re.findall(r"^\s+MIG .* Device\s+\d+: \(UUID: (MIG-[0-9a-f-]+)\)$", out, re.M)
    assert mig_uuids == [m.uuid for g in node.gpus for m in g.mig_devices]


def test_arm64_nvidia_smi_query_describes_every_gpu(rootfs, node):
    node, config = node
    out = run_arm64(rootfs, NVIDIA_SMI, ["-q"], config)
    assert re.search(r"^Driver Version\s+: %s$" % re.escape(node.driver_version), out, re.M)
    sections = re.split(r"^GPU ([0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.[0-9A-F])$", out, flags=re.M)
    assert sections[1::2] == [g.pci_bus_id for g in node.gpus]
    for gpu, text in zip(node.gpus, sections[2::2]):
        assert re.search(r"^\s+Product Name\s+: %s$" % re.escape(gpu.board.name), text, re.M)
        assert re.search(r"^\s+GPU UUID\s+: %s$" % gpu.uuid, text, re.M)
        assert re.search(r"^\s+Device Id\s+: 0x%08X$" % gpu.board.pci_device_id, text, re.M)


def test_arm64_nvidia_smi_csv_query_reports_the_profiles_memory(rootfs, node):
    node, config = node
    out = run_arm64(rootfs, NVIDIA_SMI, ["--query-gpu=index,pci.bus_id,memory.total",
                                         "--format=csv,noheader,nounits"], config)
    assert [line.split(", ") for line in out.splitlines()] == [
        [str(g.index), g.pci_bus_id, str(g.board.memory_total_bytes // 2**20)] for g in node.gpus]
