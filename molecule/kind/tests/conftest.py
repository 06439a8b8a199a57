"""Shared helpers of the molecule/kind verify suite (testinfra, docker backend).

The nodes are the scenario's three kind-like containers; the role ran with profile dgxh100 and
node id = container name, so every expected value comes from the collection's own profiles.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra
import yaml

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / ".build" / "collections"))

from ansible_collections.gpumock.nvidia.plugins.module_utils import labels, profiles  # noqa: E402

CLUSTER = os.environ.get("GPUMOCK_KIND_CLUSTER", "gpumock-kind")
NODE_NAMES = (CLUSTER + "-control-plane", CLUSTER + "-worker", CLUSTER + "-worker2")
PROFILE = "dgxh100"
DRIVER_ROOT = "/var/lib/nvidia-mock/driver"
LIBRARY_DIR = DRIVER_ROOT + "/usr/lib/x86_64-linux-gnu"
CDI_SPEC = "/etc/cdi/nvidia.yaml"
FEATURES_FILE = "/etc/kubernetes/node-feature-discovery/features.d/gpumock"
POD_IMAGE = "docker.io/gpumock/tiny-nvml-probe:latest"
CRI_PROBE = REPO / ".build" / "kind" / "cri-probe"
GFD = Path(os.environ.get("CONFORMANCE_BIN", REPO / ".build" / "conformance" / "bin")) / "gpu-feature-discovery"

# An NVML client in the node's own python3 (bootstrapped by the playbook): the mock library is
# loaded from the driver root by path, as the device plugin loads it from /driver-root.
NVML_CLIENT = r"""
import ctypes, json, sys
lib = ctypes.CDLL(sys.argv[1])
class Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]
def check(rc, call):
    if rc != 0:
        sys.exit("%s returned %d" % (call, rc))
check(lib.nvmlInit_v2(), "nvmlInit_v2")
count = ctypes.c_uint()
check(lib.nvmlDeviceGetCount_v2(ctypes.byref(count)), "nvmlDeviceGetCount_v2")
text = ctypes.create_string_buffer(96)
check(lib.nvmlSystemGetDriverVersion(text, 96), "nvmlSystemGetDriverVersion")
out = {"driver": text.value.decode(), "gpus": []}
for index in range(count.value):
    handle = ctypes.c_void_p()
    check(lib.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle)), "nvmlDeviceGetHandleByIndex_v2")
    gpu = {"index": index}
    check(lib.nvmlDeviceGetUUID(handle, text, 96), "nvmlDeviceGetUUID")
    gpu["uuid"] = text.value.decode()
    check(lib.nvmlDeviceGetName(handle, text, 96), "nvmlDeviceGetName")
    gpu["name"] = text.value.decode()
    memory = Memory()
    check(lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory)), "nvmlDeviceGetMemoryInfo")
    gpu["memory_total"] = memory.total
    major, minor = ctypes.c_int(), ctypes.c_int()
    check(lib.nvmlDeviceGetCudaComputeCapability(handle, ctypes.byref(major), ctypes.byref(minor)),
          "nvmlDeviceGetCudaComputeCapability")
    gpu["compute"] = [major.value, minor.value]
    number = ctypes.c_uint()
    check(lib.nvmlDeviceGetMinorNumber(handle, ctypes.byref(number)), "nvmlDeviceGetMinorNumber")
    gpu["minor"] = number.value
    out["gpus"].append(gpu)
lib.nvmlShutdown()
print(json.dumps(out))
"""


def node_name(host):
    return host.backend.get_hostname()


def expected_node(name):
    return profiles.build_node(profile=PROFILE, node_id=name)


def docker(*args):
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


def nvml_on_node(host):
    return json.loads(host.check_output("python3 -c %s %s", NVML_CLIENT, LIBRARY_DIR + "/libnvidia-ml.so.1"))


def device(host, path):
    """(kind, major, minor) of a path: kind is 'char' for a character device, else stat's file type."""
    out = host.run("stat -c %s %s", "%F:%t:%T", path)
    if out.rc != 0:
        return None
    kind, major, minor = out.stdout.strip().rsplit(":", 2)
    return ("char" if kind == "character special file" else kind), int(major, 16), int(minor, 16)


def proc_uuids(host):
    """{minor: uuid} from the driver root's /proc/driver/nvidia/gpus/*/information files."""
    found = {}
    listing = host.check_output("cat %s/proc/driver/nvidia/gpus/*/information", DRIVER_ROOT)
    minor = uuid = None
    for line in listing.splitlines():
        key, _sep, value = line.partition(":")
        if key.strip() == "GPU UUID":
            uuid = value.strip()
        elif key.strip() == "Device Minor":
            minor = int(value.strip())
        if minor is not None and uuid is not None:
            found[minor] = uuid
            minor = uuid = None
    return found


def cdi_spec(host):
    return yaml.safe_load(host.file(CDI_SPEC).content_string)


def cdi_uuids(spec):
    """{minor: uuid} from the CDI spec's UUID-named devices and their /dev/nvidia<minor> node."""
    found = {}
    for device in spec["devices"]:
        if device["name"].startswith("GPU-"):
            path = device["containerEdits"]["deviceNodes"][0]["path"]
            found[int(path[len("/dev/nvidia"):])] = device["name"]
    return found


def copy_into_node(name, source, dest):
    if not Path(source).is_file():
        raise FileNotFoundError("%s is missing; build it first (make cri-probe / make conformance-tools)" % source)
    docker("cp", str(source), "%s:%s" % (name, dest))


_pods = {}


def run_pod(host, *request, execs=(), key=None):
    """Run one pod through CRI in the node with cri-probe; returns its JSON report (cached by key)."""
    name = node_name(host)
    cache_key = (name, key) if key else None
    if cache_key in _pods:
        return _pods[cache_key]
    if not host.file("/usr/local/bin/cri-probe").exists:
        copy_into_node(name, CRI_PROBE, "/usr/local/bin/cri-probe")
    argv = ["cri-probe", "run-pod", "-image", POD_IMAGE, *request]
    for command in execs:
        argv += ["-exec", command]
    result = host.run(" ".join(["%s"] * len(argv)), *argv)
    assert result.rc == 0, result.stderr
    report = json.loads(result.stdout)
    if cache_key:
        _pods[cache_key] = report
    return report


def exec_output(report, index):
    return report["execs"][index]


@pytest.fixture(scope="module")
def host(_testinfra_host):
    """The node reached with docker exec directly (the molecule inventory would route every
    command through Ansible's connection layer, about three times slower)."""
    return testinfra.get_host("docker://" + _testinfra_host.backend.get_hostname())


def all_nodes():
    return [testinfra.get_host("docker://" + n) for n in NODE_NAMES]


__all__ = [
    "REPO", "testinfra",
    "CDI_SPEC", "CLUSTER", "DRIVER_ROOT", "FEATURES_FILE", "GFD", "LIBRARY_DIR", "NODE_NAMES", "PROFILE",
    "all_nodes", "cdi_spec", "cdi_uuids", "copy_into_node", "device", "docker", "exec_output", "expected_node",
    "labels", "node_name", "nvml_on_node", "proc_uuids", "profiles", "run_pod",
]
