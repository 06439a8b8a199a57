"""Session fixtures of the conformance suite (helpers and the node layout: mocknodes.py)."""
import json

import pytest

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
