"""The NVML config embedded in the library file (written by the driver tree module).

A container started from NVIDIA's device plugin gets the installed library file and its device
nodes, nothing else of ours: no nvml.conf, no MOCK_NVML_DEV_ROOT. The library then reads the
config from its own file and filters the GPUs by the device nodes under /dev.
"""
import json
import os
import struct
import subprocess
import sys

import pytest

from conftest import LIB, build_node, in_private_etc, in_private_tmpfs, probe, write_config
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import driver_tree, nvml_config

VERSION = "550.54.15"
UNKNOWN = "999"

# pynvml in a fresh process, bound to the library given as argv[1] (as conftest.py does).
PYNVML_UUIDS = """
import ctypes, json, sys
ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)
import pynvml
pynvml.nvmlInit()
print(json.dumps([pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))
                  for i in range(pynvml.nvmlDeviceGetCount())]))
pynvml.nvmlShutdown()
"""


def library_bytes():
    return LIB.resolve().read_bytes()


def node_config(node, dev_root="/dev"):
    return nvml_config.render(node, visibility="devnodes", dev_root=dev_root)


def install_alone(directory, content):
    """The library file alone in a directory with nothing of ours around it, as a container sees it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ("libnvidia-ml.so." + VERSION)
    path.write_bytes(content)
    return path


def embedded_library(directory, node, dev_root="/dev"):
    return install_alone(directory, driver_tree.embed_nvml_config(library_bytes(), node_config(node, dev_root)))


def pynvml_uuids(library, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k not in ("MOCK_NVML_CONFIG", "MOCK_NVML_DEV_ROOT")}
    env.update(env_extra or {})
    res = subprocess.run([sys.executable, "-c", PYNVML_UUIDS, str(library)], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_library_alone_enumerates_the_gpus_of_its_device_nodes(tmp_path, dev_root):
    node = build_node("dgxh100")
    library = embedded_library(tmp_path / "lib", node, dev_root="/host/dev")
    (dev_root / "nvidia1").touch()
    (dev_root / "nvidia3").touch()
    uuids = pynvml_uuids(library, {"MOCK_NVML_DEV_ROOT": str(dev_root)})
    assert uuids == [node.gpus[1].uuid, node.gpus[3].uuid]


def test_library_alone_without_device_nodes_enumerates_no_gpu(tmp_path, dev_root):
    library = embedded_library(tmp_path / "lib", build_node("dgxh100"))
    assert pynvml_uuids(library, {"MOCK_NVML_DEV_ROOT": str(dev_root)}) == []


def test_embedded_config_looks_for_device_nodes_under_dev_whatever_its_dev_root(tmp_path):
    node = build_node("dgxh100")
    library = embedded_library(tmp_path / "lib", node, dev_root=str(tmp_path / "host-dev"))
    (tmp_path / "host-dev").mkdir()
    (tmp_path / "host-dev" / "nvidia0").touch()
    fields = probe(lib=library, unset=("MOCK_NVML_CONFIG", "MOCK_NVML_DEV_ROOT"),
                   wrap=in_private_tmpfs("/dev", "touch /dev/nvidia2"))[0]
    assert (fields["init"], fields["count"], fields["uuid"]) == ("0", "1", node.gpus[2].uuid)


def test_driver_root_config_beside_the_library_wins_over_the_embedded_one(tmp_path):
    root = tmp_path / "root"
    library = embedded_library(root / "usr" / "lib" / "x86_64-linux-gnu", build_node("dgxh100"))
    (root / "etc" / "nvidia-mock").mkdir(parents=True)
    beside = build_node("l40s")
    write_config(root / "etc" / "nvidia-mock", beside)
    fields = probe(lib=library)[0]
    assert (fields["count"], fields["uuid"]) == ("4", beside.gpus[0].uuid)


def test_env_variable_wins_over_the_beside_and_the_embedded_config(tmp_path):
    root = tmp_path / "root"
    library = embedded_library(root / "usr" / "lib" / "x86_64-linux-gnu", build_node("dgxh100"))
    (root / "etc" / "nvidia-mock").mkdir(parents=True)
    write_config(root / "etc" / "nvidia-mock", build_node("l40s"))
    env_node = build_node("t4")
    env_path = write_config(tmp_path, env_node, name="env.conf")
    fields = probe(lib=library, env_extra={"MOCK_NVML_CONFIG": str(env_path)})[0]
    assert (fields["count"], fields["uuid"]) == ("1", env_node.gpus[0].uuid)


def test_embedded_config_wins_over_the_system_config(tmp_path, dev_root):
    node = build_node("dgxh100")
    library = embedded_library(tmp_path / "lib", node)
    system = write_config(tmp_path, build_node("t4"), name="system.conf")
    setup = "mkdir /etc/nvidia-mock && cp %s /etc/nvidia-mock/nvml.conf" % system
    (dev_root / "nvidia5").touch()
    fields = probe(lib=library, env_extra={"MOCK_NVML_DEV_ROOT": str(dev_root)},
                   wrap=in_private_etc(setup))[0]
    assert (fields["init"], fields["count"], fields["uuid"]) == ("0", "1", node.gpus[5].uuid)


def trailer(length, magic=driver_tree.EMBED_MAGIC):
    return magic + struct.pack("<Q", length)


# Library files whose end is not a valid embedded config: each loads the built-in default.
NOT_EMBEDDED = {
    "no trailer": lambda lib, conf: lib,
    "corrupt magic": lambda lib, conf: lib + conf + trailer(len(conf), b"GPUMOCK-NVMLCFG0"),
    "length larger than the file": lambda lib, conf: lib + conf + trailer(len(lib) + len(conf) + 1),
    "largest length": lambda lib, conf: lib + conf + trailer(2 ** 64 - 1),
    "length over the config size limit": lambda lib, conf: lib + b"x" * (4 * 1024 * 1024 + 1)
    + trailer(4 * 1024 * 1024 + 1),
    "magic cut short": lambda lib, conf: lib + conf + trailer(len(conf))[:20],
}


@pytest.mark.parametrize("case", sorted(NOT_EMBEDDED))
def test_library_without_a_valid_trailer_falls_back_to_the_built_in_default(tmp_path, case):
    conf = node_config(build_node("t4")).encode()
    library = install_alone(tmp_path / "lib", NOT_EMBEDDED[case](library_bytes(), conf))
    fields, stderr = probe(lib=library, wrap=in_private_etc("true"))
    default = build_node("dgxa100", node_id="gpumock-default")
    assert (fields["init"], fields["count"], fields["uuid"]) == ("0", "8", default.gpus[0].uuid)
    assert stderr == ""


def test_embedded_config_that_does_not_parse_fails_init_naming_the_library(tmp_path):
    text = node_config(build_node("t4")).replace("format = 1", "format = 2", 1)
    library = install_alone(tmp_path / "lib", driver_tree.embed_nvml_config(library_bytes(), text))
    fields, stderr = probe(lib=library, wrap=in_private_etc("true"))
    assert (fields["init"], fields["count"]) == (UNKNOWN, "0")
    line = text[:text.index("format = 2")].count("\n") + 1
    assert stderr.startswith("mock NVML: %s (embedded config):%d: " % (library, line)), stderr
    assert stderr.count("\n") == 1


def test_installed_library_from_the_driver_tree_module_works_alone(tmp_path, dev_root):
    """The file the driver tree plans, alone in a directory as a device plugin's CDI spec mounts it."""
    node = build_node("dgxa100", gpu_count=4, driver_version=VERSION)
    entries = driver_tree.tree_entries(node, VERSION, str(tmp_path / "tree"), node_config(node),
                                       library_bytes())
    (entry,) = [e for e in entries if e.path == driver_tree.nvml_library_path(VERSION)]
    library = install_alone(tmp_path / "container-lib", entry.content)
    (dev_root / "nvidia2").touch()
    assert pynvml_uuids(library, {"MOCK_NVML_DEV_ROOT": str(dev_root)}) == [node.gpus[2].uuid]
