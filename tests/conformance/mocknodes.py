"""Mock nodes made by the collection's modules, and how the real NVIDIA clients are run against them.

One scratch root per built-in profile (plus one MIG-enabled node) is provisioned once per test
session by tests/conformance/provision.yml through ansible-playbook, the way a user would make a
node; the nodes with MIG layouts (MIG_LAYOUT_NODES) and the FAULT_NODE only in sessions with a
test that uses them.
The clients ($CONFORMANCE_BIN, built by `make conformance-tools`) load the mock NVML the way they
load the real one: dlopen("libnvidia-ml.so.1") through the library search path, here
LD_LIBRARY_PATH pointing at the node's R/usr/lib/x86_64-linux-gnu. The library then finds its
config at R/etc/nvidia-mock/nvml.conf, next to itself.
"""
import dataclasses
import glob
import json
import os
import subprocess
import sys

import pytest

from pins import pinned
from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = pinned("CONFORMANCE_BIN")
LIB_DIR = "usr/lib/x86_64-linux-gnu"
SPEC = "etc/cdi/nvidia.yaml"
SPEC_WITH_HOOKS = "etc/cdi-with-hooks/nvidia.yaml"
HOOK = "usr/bin/nvidia-cdi-hook"  # where the container toolkit package installs it
MIG_NODE = "dgxh100-mig"
# A node of its own for tests that post XIDs: every process on a node sees them, so they would
# reach the other tests' processes on a shared node.
FAULT_NODE = "dgxh100-faults"
# Nodes with MIG instances (docs/mig.md), provisioned only when a test asks for them: name ->
# (profile, gpu_count, mig_layout). The device plugin's `single` strategy needs one profile
# everywhere; `mixed` makes one resource per profile.
MIG_LAYOUT_NODES = {
    "dgxh100-mig-uniform": ("dgxh100", 2, ["2g.20gb", "2g.20gb", "2g.20gb"]),
    "dgxh100-mig-mixed": ("dgxh100", 2, ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]),
}
# The MIG node's layout: every GPU-instance size, on several GPUs; GPU 7 is in MIG mode without
# instances. Keys are text, as YAML and JSON give them.
MIG_LAYOUT = {
    "0": ["3g.40gb", "2g.20gb", "1g.10gb"],
    "1": ["7g.80gb"],
    "2": ["1g.10gb"] * 7,
    "3": ["4g.40gb", "3g.40gb"],
    "4": ["1g.20gb"] * 4,
    "5": ["2g.20gb", "2g.20gb", "2g.20gb", "1g.10gb+me"],
    "6": ["3g.40gb", "1g.20gb", "1g.10gb", "1g.10gb"],
}
# The root holds the node's /proc/driver as the driver tree has it: clients that read the host's
# /proc/driver (nvidia-ctk's MIG capabilities) are run with it mounted there (with_proc_driver).
PROC_DRIVER = "proc/driver"


@dataclasses.dataclass(frozen=True)
class MockNode:
    """One provisioned node: its scratch root and the profile Node it was made from."""

    name: str            # the profile, or MIG_NODE
    root: str
    node: profiles.Node

    @property
    def lib_dir(self):
        return os.path.join(self.root, LIB_DIR)

    @property
    def spec_path(self):
        return os.path.join(self.root, SPEC)

    @property
    def spec_with_hooks_path(self):
        """The same node's spec written with hook_path (the stand-in hook at HOOK)."""
        return os.path.join(self.root, SPEC_WITH_HOOKS)

    @property
    def hook_path(self):
        return os.path.join(self.root, HOOK)

    def env(self, **extra):
        """The environment a client runs in: the node's library dir first on the search path."""
        env = {k: v for k, v in os.environ.items() if k not in ("MOCK_NVML_CONFIG", "LD_PRELOAD")}
        env["LD_LIBRARY_PATH"] = self.lib_dir
        env.update(extra)
        return env


def tool(name):
    """Absolute path of a conformance tool; the suite cannot say anything without it."""
    path = os.path.join(BIN, name)
    if not os.access(path, os.X_OK):
        pytest.fail("%s is not built at %s: run `make conformance-tools` (scripts/deps/install.d/conformance.sh)."
                    % (name, path), pytrace=False)
    return path


def run(argv, env=None, timeout=120, check=True):
    """Run a client; on failure the test fails with its exit status and output."""
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        pytest.fail("%s exited %d\n--- stdout\n%s\n--- stderr\n%s"
                    % (" ".join(argv), proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:]), pytrace=False)
    return proc


def built_nvml_library():
    """The mock NVML built by `make nvml` (the real file, not its links), or $CONFORMANCE_NVML_LIBRARY."""
    override = os.environ.get("CONFORMANCE_NVML_LIBRARY")
    if override:
        return override
    candidates = [p for p in glob.glob(os.path.join(REPO, "nvml_src", "build", "libnvidia-ml.so.*"))
                  if os.path.isfile(p) and not os.path.islink(p)]
    if not candidates:
        pytest.fail("the mock NVML is not built (nvml_src/build/libnvidia-ml.so.<version>): run `make nvml`.",
                    pytrace=False)
    return sorted(candidates)[-1]


def built_mock_ctl(library):
    """The nvidia-mock-ctl built with library (`make nvml` puts them side by side)."""
    ctl = os.path.join(os.path.dirname(library), "nvidia-mock-ctl")
    if not os.access(ctl, os.X_OK):
        pytest.fail("nvidia-mock-ctl is not built next to %s: run `make nvml`." % library, pytrace=False)
    return ctl


def node_specs():
    """(name, profile, node options) of every node the suite provisions for every session."""
    specs = [(name, name, {"mig_enabled": False}) for name in profiles.PROFILE_NAMES]
    specs.append((MIG_NODE, "dgxh100", {"mig_enabled": True, "mig_layout": MIG_LAYOUT}))
    return specs


def fault_node_specs():
    """(name, profile, node options) of FAULT_NODE."""
    return [(FAULT_NODE, "dgxh100", {"mig_enabled": False, "gpu_count": 4})]


def mig_layout_node_specs():
    """(name, profile, node options) of the MIG_LAYOUT_NODES."""
    return [(name, profile, {"mig_enabled": True, "gpu_count": count, "mig_layout": layout})
            for name, (profile, count, layout) in MIG_LAYOUT_NODES.items()]


def provision(base, specs, timeout=600):
    """name -> MockNode of every (name, profile, options) in specs, provisioned under base by
    tests/conformance/provision.yml through ansible-playbook, as a user would make them."""
    nodes = {}
    entries = []
    for name, profile, options in specs:
        root = os.path.join(str(base), name)
        node_id = "conformance-%s" % name
        nodes[name] = MockNode(name, root, profiles.build_node(profile=profile, node_id=node_id, **options))
        entries.append(dict(options, profile=profile, node_id=node_id, root=root))
    extra_vars = os.path.join(str(base), "vars.json")
    with open(extra_vars, "w") as out:
        # Modules run under the suite's own Python rather than whatever interpreter discovery finds.
        library = built_nvml_library()
        json.dump({"conformance_nodes": entries, "conformance_nvml_library": library,
                   "conformance_mock_ctl": built_mock_ctl(library),
                   "ansible_python_interpreter": sys.executable}, out)
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(REPO, ".build", "collections")
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    playbook = os.path.join(REPO, "tests", "conformance", "provision.yml")
    ansible_playbook = os.path.join(REPO, ".venv", "bin", "ansible-playbook")
    run([ansible_playbook, "-i", "localhost,", playbook, "-e", "@%s" % extra_vars], env=env, timeout=timeout)
    return nodes


# Run "$@" with the node's proc/driver (first argument) over the host's /proc/driver.
MOUNT_PROC_DRIVER = 'mount --bind "$1" /proc/driver && shift && exec "$@"'


def with_proc_driver(node, argv):
    """``argv`` run in a private mount namespace whose /proc/driver is the node's: the driver tree's
    proc/driver is what a real node's procfs shows, and some clients read only the host's."""
    return ["unshare", "--mount", "--", "sh", "-c", MOUNT_PROC_DRIVER, "with-proc-driver",
            os.path.join(node.root, PROC_DRIVER)] + list(argv)
