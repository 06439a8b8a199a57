"""Session fixtures of the conformance suite (helpers and the node layout: mocknodes.py; the
device plugin under the test kubelet: deviceplugin.py)."""
import json
import subprocess

import pytest

import deviceplugin
from mocknodes import FAULT_NODE, fault_node_specs, mig_layout_node_specs, node_specs, provision, run, tool


@pytest.fixture(scope="session")
def mock_nodes(tmp_path_factory):
    """name -> MockNode for every built-in profile and the MIG node, provisioned by ansible-playbook."""
    return provision(tmp_path_factory.mktemp("conformance-nodes"), node_specs())


@pytest.fixture(scope="session")
def mig_layout_nodes(tmp_path_factory):
    """name -> MockNode of mocknodes.MIG_LAYOUT_NODES: GPUs in MIG mode with MIG devices."""
    return provision(tmp_path_factory.mktemp("conformance-mig-nodes"), mig_layout_node_specs())


@pytest.fixture(scope="session")
def fault_node(tmp_path_factory):
    """The MockNode of mocknodes.FAULT_NODE, for tests that post XIDs."""
    return provision(tmp_path_factory.mktemp("conformance-fault-node"), fault_node_specs())[FAULT_NODE]


@pytest.fixture(scope="session")
def gonvml_reports(mock_nodes):
    """name -> the go-nvml probe's JSON report of that node (each node probed once)."""
    probe = tool("gonvml-probe")
    cache = {}

    def report(name):
        if name not in cache:
            node = mock_nodes[name]
            cache[name] = json.loads(run([probe], env=node.env()).stdout)
        return cache[name]
    return report


@pytest.fixture(scope="session")
def device_plugin_namespace(mock_nodes, tmp_path_factory):
    """The device plugin's private mount namespace (deviceplugin.py); where this machine cannot
    make one (no CAP_SYS_ADMIN, no overlayfs), say so and skip."""
    workdir = tmp_path_factory.mktemp("device-plugin-probe")
    node = mock_nodes["dgxh100"]
    deviceplugin.prepare(workdir, node)
    proc = subprocess.run(deviceplugin.namespace_argv(workdir, node, ["true"]),
                          capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        pytest.skip("the device plugin needs a private mount namespace with overlays over /var/lib and "
                    "/run, and making one failed here: %s" % proc.stderr.strip())


def _start_plugin(runs, base, node, flags):
    plugin = deviceplugin.DevicePluginRun(node, base / ("run%d" % len(runs)), flags)
    runs.append(plugin)  # before start: a start that fails half-way is still stopped
    return plugin.start()


@pytest.fixture(scope="module")
def shared_device_plugin(device_plugin_namespace, tmp_path_factory):
    """plugin(node, **strategies) -> a DevicePluginRun under a test kubelet, started once per
    module for each node and strategy (for tests that change nothing in it), stopped at its end."""
    base = tmp_path_factory.mktemp("device-plugin")
    runs = []
    cache = {}

    def plugin(node, **strategies):
        key = (node.root, tuple(sorted(strategies.items())))
        if key not in cache:
            cache[key] = _start_plugin(runs, base, node, deviceplugin.strategy_flags(node, **strategies))
        return cache[key]
    yield plugin
    for run_ in runs:
        run_.stop()


@pytest.fixture
def device_plugin(device_plugin_namespace, tmp_path):
    """plugin(node, **strategies) -> a fresh DevicePluginRun, stopped when the test ends (for
    tests that change its devices' health)."""
    runs = []

    def plugin(node, **strategies):
        return _start_plugin(runs, tmp_path, node, deviceplugin.strategy_flags(node, **strategies))
    yield plugin
    for run_ in runs:
        run_.stop()


@pytest.fixture(scope="session")
def gonvlib_report():
    """MockNode -> the go-nvlib probe's JSON report of that node (each node probed once)."""
    probe = tool("gonvlib-probe")
    cache = {}

    def report(node):
        if node.root not in cache:
            cache[node.root] = json.loads(run([probe], env=node.env()).stdout)
        return cache[node.root]
    return report
