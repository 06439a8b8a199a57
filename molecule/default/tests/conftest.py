"""Shared fixtures of the molecule/default checks (testinfra over `docker exec`).

The expected GPUs come from the same Python profiles the modules use, computed on the controller
from the host's inventory variables (profile, node id), so every check compares the node with what
that node must be, not with numbers copied into the test.
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles  # noqa: E402

DRIVER_ROOT = "/var/lib/nvidia-mock/driver"
PROBE_SOURCE = os.path.join(ROOT, "images", "nvml-probe", "nvml_probe.c")
PROBE_IN_NODE = "/usr/local/bin/nvml-probe"


@pytest.fixture(scope="module")
def node_vars(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def container(node_vars):
    """The Docker container name of the node."""
    return node_vars["inventory_hostname"]


@pytest.fixture(scope="module")
def expected(node_vars):
    """The profiles.Node this node must have been given."""
    return profiles.build_node(profile=node_vars["gpu_mock_profile"], gpu_count=node_vars.get("gpu_mock_gpu_count"),
                               node_id=node_vars["inventory_hostname"])


@pytest.fixture(scope="session")
def probe_binary(tmp_path_factory):
    """images/nvml-probe built for this machine (the nodes' glibc is the same or newer)."""
    out = tmp_path_factory.mktemp("probe") / "nvml-probe"
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-o", str(out), PROBE_SOURCE],
                   check=True)
    return out


@pytest.fixture(scope="module")
def probe_in_node(container, probe_binary):
    subprocess.run(["docker", "cp", str(probe_binary), "%s:%s" % (container, PROBE_IN_NODE)], check=True)
    return PROBE_IN_NODE


def parse_probe(stdout):
    """nvml-probe's lines → {"driver": str, "count": int, "gpus": [(index, minor, uuid, name)]}."""
    result = {"gpus": []}
    for line in stdout.splitlines():
        fields = line.split("\t")
        if fields[0] == "gpu":
            result["gpus"].append((int(fields[1]), int(fields[2]), fields[3], fields[4]))
        elif fields[0] == "count":
            result["count"] = int(fields[1])
        elif fields[0] in ("driver", "library"):
            result[fields[0]] = fields[1]
    return result


def char_device(host, path):
    """(major, minor, mode) of a character device, or None when path is something else or absent."""
    cmd = host.run("stat -c '%%F %%t %%T %%a' %s" % path)
    if cmd.rc != 0 or not cmd.stdout.startswith("character special file"):
        return None
    major, minor, mode = cmd.stdout.split()[-3:]
    return int(major, 16), int(minor, 16), mode


def run_converge(*args, limit=None):
    """Run this scenario's converge playbook again (molecule's inventory and ansible.cfg).

    Returns (completed process, {host: {"ok": n, "changed": n, "failed": n, ...}}) from the recap.
    """
    import re

    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
               os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml")]
    if limit:
        command += ["--limit", limit]
    # molecule exports ANSIBLE_FORCE_COLOR; the recap is parsed, so no colour codes.
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    done = subprocess.run(command + list(args), capture_output=True, text=True, env=env, check=False)
    recap = {}
    for match in re.finditer(r"^(\S+)\s+: ((?:\w+=\d+\s*)+)$", done.stdout, re.M):
        recap[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return done, recap
