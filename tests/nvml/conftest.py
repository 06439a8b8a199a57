"""Fixtures for the mock NVML tests: the built library, configs rendered from profiles, pynvml.

The library under test is $MOCK_NVML_LIB, or nvml_src/build/libnvidia-ml.so.1 (`make nvml`).
It is loaded once per pytest process with RTLD_GLOBAL before pynvml first asks for
"libnvidia-ml.so.1", so pynvml binds to it (the dynamic loader matches the SONAME of an
already-loaded object). Each test points the library at its own config through
$MOCK_NVML_CONFIG, which the library reads on the first nvmlInit after a full shutdown.
"""
import ctypes
import os
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIB = Path(os.environ.get("MOCK_NVML_LIB", ROOT / "nvml_src" / "build" / "libnvidia-ml.so.1"))
# The library cross-built for aarch64 (`make nvml-aarch64`; nvml_src/Makefile says why build/arch/).
ARM_LIB = ROOT / "nvml_src" / "build" / "arch" / "aarch64" / "libnvidia-ml.so.1"
HEADER = ROOT / "nvml_src" / "include" / "nvml.h"
SYMBOLS = ROOT / "nvml_src" / "api" / "nvml-symbols-580.txt"
# pynvml on a real H100 80GB HBM3, driver 580.159.04 (copied from shared/reference).
REFERENCE = Path(__file__).resolve().parent / "reference" / "h100-80gb-hbm3-nvml-getters.json"

# tests/conftest.py has put .build/collections on sys.path.
from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles  # noqa: E402
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config  # noqa: E402


def pytest_configure(config):
    if not LIB.exists():
        raise pytest.UsageError("%s is missing: build it with `make nvml`" % LIB)


@pytest.fixture(scope="session")
def libnvml():
    """The mock library as a ctypes CDLL (RTLD_GLOBAL, so pynvml binds to the same copy)."""
    return ctypes.CDLL(str(LIB), mode=ctypes.RTLD_GLOBAL)


def build_node(profile="dgxa100", **kwargs):
    kwargs.setdefault("node_id", "nvml-test-node")
    return profiles.build_node(profile=profile, **kwargs)


def write_config(tmp_path, node, visibility="all", dev_root="/dev", name="nvml.conf"):
    path = tmp_path / name
    path.write_text(nvml_config.render(node, visibility=visibility, dev_root=dev_root))
    return path


@pytest.fixture
def use_config(monkeypatch, tmp_path):
    """Point the library at a config: a Node (rendered) or literal text. Returns the path."""

    def _use(node_or_text, visibility="all", dev_root="/dev"):
        if isinstance(node_or_text, str):
            path = tmp_path / "nvml.conf"
            path.write_text(node_or_text)
        else:
            path = write_config(tmp_path, node_or_text, visibility, dev_root)
        monkeypatch.setenv("MOCK_NVML_CONFIG", str(path))
        return path

    return _use


@pytest.fixture
def pynvml(libnvml):
    """pynvml bound to the mock; every test leaves the library fully shut down."""
    import pynvml as module

    yield module
    while libnvml.nvmlShutdown() == 0:
        pass


# Built by `make test-nvml` (mk/nvml.mk) next to the library.
PROBE = Path(os.environ.get("MOCK_NVML_PROBE", LIB.parent / "tests" / "nvml_probe"))


def probe(lib=LIB, env_extra=None, unset=("MOCK_NVML_CONFIG",), wrap=None):
    """Run nvml_probe on a library in a fresh process: (parsed stdout fields, stderr)."""
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(env_extra or {})
    cmd = [str(PROBE), str(lib)]
    if wrap:
        cmd = wrap(cmd)
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    fields = dict(line.split("=", 1) for line in res.stdout.splitlines())
    return fields, res.stderr


def in_private_tmpfs(directory, setup):
    """Wrap a command to run with a private, empty ``directory`` (a tmpfs in its own mount
    namespace), after the shell command ``setup``."""
    def wrap(cmd):
        script = "mount -t tmpfs gpumock-tmpfs %s && %s && exec %s" % (
            shlex.quote(directory), setup, " ".join(shlex.quote(c) for c in cmd))
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
    return wrap


def in_private_etc(setup):
    """Wrap a command to run with a private, empty /etc."""
    return in_private_tmpfs("/etc", setup)


@pytest.fixture
def dev_root(tmp_path):
    """A container's /dev with the control nodes every GPU container gets, and no GPU yet."""
    root = tmp_path / "dev"
    root.mkdir()
    for name in ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"):
        (root / name).touch()
    (root / "nvidia-caps").mkdir()
    return root
