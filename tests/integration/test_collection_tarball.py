"""The collection tarball of `make collection` and the mock NVML each node architecture gets.

The tarball carries the mock NVML and nvidia-mock-ctl prebuilt for x86_64 and aarch64; installed
with ansible-galaxy, the role needs no compiler or make anywhere. From a checkout, an aarch64 node
gets the library cross-built on the controller. The role runs on this machine (-c local) into a
scratch root; an "aarch64 node" is this machine with a uname that says aarch64 on PATH (the node
task's look asks uname -m), so the driver tree, the CDI spec and the library follow that
architecture; a node without python3 is this machine with a PATH that has none.
"""
import json
import os
import re
import shutil
import subprocess
import tarfile

import pytest
import yaml

from ansible_collections.gpumock.nvidia.plugins.module_utils.render import driver_tree

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(REPO, ".venv", "bin")
TARBALL_DIR = os.path.join(REPO, ".build", "collection")
ELF_MACHINE = {"x86_64": 62, "aarch64": 183}
# What builds C: compilers, their drivers and make (Debian's names, versioned or not).
BUILD_TOOL = re.compile(r"(^|-)(gcc|g\+\+|cc|c\+\+|c89|c99|cpp|clang|clang\+\+|make|gmake|tcc)(-[0-9.]+)?$")
FAKE_UNAME = '#!/bin/sh\nif [ "$1" = -m ]; then echo %s; else exec /usr/bin/uname "$@"; fi\n'


@pytest.fixture(scope="module")
def tarball():
    found = sorted(p for p in os.listdir(TARBALL_DIR) if p.endswith(".tar.gz")) if os.path.isdir(TARBALL_DIR) else []
    assert found, "%s has no tarball: build it with `make collection`" % TARBALL_DIR
    return os.path.join(TARBALL_DIR, found[-1])


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory):
    """The tarball installed with ansible-galaxy: its collections path."""
    path = tmp_path_factory.mktemp("installed")
    # With the checkout on the collections path, ansible-galaxy would call it "already installed".
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "-p", str(path), tarball],
                   check=True, capture_output=True, env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(path)))
    return path


@pytest.fixture(scope="module")
def without_build_tools(tmp_path_factory):
    """A PATH with every command of this machine but compilers and make."""
    farm = tmp_path_factory.mktemp("no-build-tools")
    for directory in ("/usr/local/bin", "/usr/bin", "/usr/sbin"):
        for name in os.listdir(directory):
            if not BUILD_TOOL.search(name) and not (farm / name).exists():
                os.symlink(os.path.join(directory, name), str(farm / name))
    for tool in ("gcc", "cc", "make", "aarch64-linux-gnu-gcc", "x86_64-linux-gnu-gcc"):
        assert shutil.which(tool, path=str(farm)) is None
    return str(farm)


def uname_saying(tmp_path, machine):
    fake = tmp_path / "uname-bin"
    fake.mkdir()
    (fake / "uname").write_text(FAKE_UNAME % machine)
    (fake / "uname").chmod(0o755)
    return str(fake)


def run_role(tmp_path, collections, path, playbook="gpumock.nvidia.local", cache=None, **variables):
    """The role on this machine into tmp_path/root: (process, root)."""
    root = tmp_path / "root"
    values = {"gpu_mock_driver_root": str(root / "driver"), "gpu_mock_dev_root": str(root / "dev"),
              "gpu_mock_cdi_path": str(root / "cdi.yaml"), "gpu_mock_stage_dir": str(root / "stage"),
              "gpu_mock_containerd": False, "gpu_mock_tmpfiles": False, "gpu_mock_profile": "l40s",
              "gpu_mock_gpu_count": 2, "gpu_mock_nvml_cache_dir": str(cache or tmp_path / "cache")}
    values.update(variables)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR="1", PATH=path)
    done = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", playbook,
                           "-e", json.dumps(values)], env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    return done, root


def installed_library(root, arch):
    path = root / "driver" / driver_tree.nvml_library_path("550.54.15", arch)
    return driver_tree.strip_embedded_config(path.read_bytes())


def elf_machine(data):
    return int.from_bytes(data[18:20], "little")


def test_the_tarball_has_both_architectures_prebuilt_beside_their_sources(tarball):
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        for arch, machine in ELF_MACHINE.items():
            for name in ("libnvidia-ml.so", "nvidia-mock-ctl"):
                member = "files/prebuilt/%s/%s" % (arch, name)
                assert member in names
                assert elf_machine(tar.extractfile(member).read(20)) == machine, member
        assert re.fullmatch(r"[0-9a-f]{16}\n", tar.extractfile("files/prebuilt/SOURCE_HASH").read().decode())
    assert {"nvml_src/Makefile", "nvml_src/src/init.c", "nvml_src/nvml_build.py", "nvml_src/python-sources.txt",
            "plugins/module_utils/facts/profiles.py"} <= names


def test_the_tarball_carries_nothing_a_checkout_built_or_ignores(tarball):
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    leaked = [n for n in names if n.startswith(("nvml_src/build", ".build", ".venv", "tests/output", ".pytest_cache"))
              or "__pycache__" in n or n.endswith((".pyc", ".o"))]
    assert leaked == []


def test_the_stamp_is_the_hash_of_the_sources_the_tarball_ships(installed):
    collection = installed / "ansible_collections" / "gpumock" / "nvidia"
    out = subprocess.run(["python3", str(collection / "nvml_src" / "nvml_build.py"), "hash"], check=True,
                         capture_output=True, text=True).stdout
    assert out == (collection / "files" / "prebuilt" / "SOURCE_HASH").read_text()


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_the_installed_role_gives_each_node_the_prebuilt_library_of_its_architecture_without_gcc_or_make(
        installed, without_build_tools, tmp_path, arch):
    done, root = run_role(tmp_path, installed, uname_saying(tmp_path, arch) + ":" + without_build_tools)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    prebuilt = installed / "ansible_collections/gpumock/nvidia/files/prebuilt" / arch
    assert installed_library(root, arch) == (prebuilt / "libnvidia-ml.so").read_bytes()
    assert (root / "driver/usr/bin/nvidia-mock-ctl").read_bytes() == (prebuilt / "nvidia-mock-ctl").read_bytes()
    mounts = [m["containerPath"] for m in yaml.safe_load((root / "cdi.yaml").read_text())["containerEdits"]["mounts"]]
    assert "/" + driver_tree.nvml_library_path("550.54.15", arch) in mounts
    assert not (tmp_path / "cache").exists()


def test_from_a_checkout_an_aarch64_node_gets_the_library_cross_built_on_the_controller(tmp_path):
    path = uname_saying(tmp_path, "aarch64") + ":" + os.environ["PATH"]
    done, root = run_role(tmp_path, os.path.join(REPO, ".build", "collections"), path,
                          playbook=os.path.join(REPO, "playbooks", "local.yml"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    (built,) = (tmp_path / "cache").glob("*/aarch64/libnvidia-ml.so")
    assert installed_library(root, "aarch64") == built.read_bytes()
    assert elf_machine(built.read_bytes()) == ELF_MACHINE["aarch64"]
    assert not (root / "driver/usr/lib/x86_64-linux-gnu").exists()


def test_from_a_checkout_without_any_compiler_the_role_stops_naming_the_variables_and_writes_nothing(
        without_build_tools, tmp_path):
    path = uname_saying(tmp_path, "aarch64") + ":" + without_build_tools
    done, root = run_role(tmp_path, os.path.join(REPO, ".build", "collections"), path,
                          playbook=os.path.join(REPO, "playbooks", "local.yml"))
    assert done.returncode != 0
    message = failure_message(done)
    assert message.startswith("gpu_mock_nvml_build: this controller (Linux x86_64) has no aarch64-linux-gnu-gcc to "
                              "build Linux code for aarch64, and localhost has no gcc and make to build the mock NVML")
    assert "gpu_mock_nvml_library" in message and "make collection" in message and "\n" not in message
    assert not root.exists()


def failure_message(done):
    (failed,) = [line for line in done.stdout.splitlines() if line.startswith("fatal: [localhost]: FAILED! => ")]
    return json.loads(failed.split(" => ", 1)[1])["msg"]


@pytest.mark.parametrize("machine, build, message", [
    ("ppc64le", "auto", "localhost is a 'ppc64le' node (uname -m): value of architecture must be one of: "
                        "x86_64, aarch64, got: ppc64le"),
    ("x86_64", "target", "gpu_mock_nvml_build is target, but localhost has no gcc and make to build the mock NVML; "
                         "install them there or set gpu_mock_nvml_build to auto."),
    ("x86_64", "controller", "gpu_mock_nvml_build is controller, but this x86_64 Linux controller has no cc for "
                             "localhost; set gpu_mock_nvml_build to auto (a node with gcc and make builds it) or "
                             "gpu_mock_nvml_library to a mock NVML built for x86_64."),
])
def test_a_node_nothing_can_serve_stops_in_one_sentence_naming_the_variable_and_nothing_is_written(
        without_build_tools, tmp_path, machine, build, message):
    path = uname_saying(tmp_path, machine) + ":" + without_build_tools
    done, root = run_role(tmp_path, os.path.join(REPO, ".build", "collections"), path,
                          playbook=os.path.join(REPO, "playbooks", "local.yml"), gpu_mock_nvml_build=build)
    assert done.returncode != 0 and failure_message(done) == message
    assert not root.exists()


@pytest.fixture(scope="module")
def without_python3(tmp_path_factory):
    """A PATH with every command of this machine but python3 (Ansible runs from its venv by full path)."""
    farm = tmp_path_factory.mktemp("no-python3")
    for directory in ("/usr/local/bin", "/usr/bin", "/usr/sbin", "/bin"):
        for name in os.listdir(directory):
            if not name.startswith("python3") and not (farm / name).exists():
                os.symlink(os.path.join(directory, name), str(farm / name))
    assert shutil.which("python3", path=str(farm)) is None
    return str(farm)


def test_a_node_without_python3_and_no_bootstrap_stops_in_one_sentence_naming_the_variable(without_python3, tmp_path):
    done, root = run_role(tmp_path, os.path.join(REPO, ".build", "collections"), without_python3,
                          playbook=os.path.join(REPO, "playbooks", "local.yml"), gpu_mock_python_bootstrap=False)
    assert done.returncode != 0
    assert failure_message(done) == ("localhost has no python3 (command -v python3 finds none), which the node module "
                                     "needs; install it there or set gpu_mock_python_bootstrap to true.")
    assert not root.exists()
