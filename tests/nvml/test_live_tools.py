"""Live values set with nvidia-mock-ctl, as unmodified monitoring tools show them: NVIDIA's real
nvidia-smi (535 and 550), nvitop and gpustat (PyPI), each started after the change and reading
the same state file the ctl wrote. (tests/nvml/test_live_state.py has the running-process case.)
"""
import csv
import importlib.util
import io
import json
import os
import subprocess
import sys

import pytest

from conftest import LIB, build_node
from live import ctl
from test_nvidia_smi import NVIDIA_SMI

VALUES = {"utilization.gpu": "83", "utilization.memory": "27", "memory.used": "4096",
          "temperature.gpu": "74", "power.draw": "287.25", "clocks.sm": "1290",
          "clocks.mem": "1100", "ecc.errors.corrected.volatile.total": "6"}
# nvidia-smi prints these query names for them; values come with their units.
SMI_HEADERS = {"clocks.sm": "clocks.current.sm", "clocks.mem": "clocks.current.memory"}


@pytest.fixture
def live_node(use_config):
    path = use_config(build_node(gpu_count=2))
    ctl("set", 1, *("%s=%s" % kv for kv in VALUES.items()))
    return path


def tool_env(config):
    return dict(os.environ, LD_LIBRARY_PATH=str(LIB.parent), MOCK_NVML_CONFIG=str(config),
                LC_ALL="C")


@pytest.mark.parametrize("version", sorted(NVIDIA_SMI))
def test_nvidia_smi_query_gpu_shows_live_values(live_node, version):
    fields = ",".join(["index"] + list(VALUES))
    res = subprocess.run([str(NVIDIA_SMI[version]), "--query-gpu=" + fields,
                          "--format=csv,nounits"], capture_output=True, text=True, timeout=60,
                         env=tool_env(live_node), check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout), skipinitialspace=True))
    gpu1 = {key.split(" [")[0]: value for key, value in rows[1].items()}
    for key, want in VALUES.items():
        got = gpu1[SMI_HEADERS.get(key, key)]
        assert float(got) == float(want), (key, got)
    assert float(rows[0]["utilization.gpu [%]"]) == 0


def run_python_tool(config, module, *args):
    if importlib.util.find_spec(module) is None:
        pytest.skip("%s is not installed (requirements-dev.txt)" % module)
    res = subprocess.run([sys.executable, "-m", module] + list(args), capture_output=True,
                         text=True, timeout=120, env=tool_env(config), check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_gpustat_shows_live_values_and_processes(live_node):
    ctl("set", 1, "processes=%d:pytest-worker:1536" % os.getpid())
    gpus = json.loads(run_python_tool(live_node, "gpustat", "--json"))["gpus"]
    gpu = gpus[1]
    assert (gpu["utilization.gpu"], gpu["temperature.gpu"], gpu["memory.used"]) == (83, 74, 1536)
    assert [(p["pid"], p["gpu_memory_usage"]) for p in gpu["processes"]] == [(os.getpid(), 1536)]


def test_nvitop_shows_live_values_and_processes(live_node):
    ctl("set", 1, "processes=%d:pytest-worker:1536" % os.getpid())
    out = run_python_tool(live_node, "nvitop", "--once", "--only", "1")
    assert "74C" in out and "83%" in out and "287W" in out
    assert str(os.getpid()) in out and "1536MiB" in out
