"""Session fixtures of the conformance suite (helpers and the node layout: mocknodes.py)."""
import json
import os
import sys

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils import profiles

from mocknodes import REPO, MockNode, built_nvml_library, node_specs, run, tool


@pytest.fixture(scope="session")
def mock_nodes(tmp_path_factory):
    """name -> MockNode for every built-in profile and the MIG node, provisioned by ansible-playbook."""
    base = tmp_path_factory.mktemp("conformance-nodes")
    nodes = {}
    entries = []
    for name, profile, mig, layout in node_specs():
        root = str(base / name)
        node_id = "conformance-%s" % name
        nodes[name] = MockNode(name, root, profiles.build_node(profile=profile, node_id=node_id, mig_enabled=mig,
                                                               mig_layout=layout))
        entries.append({"profile": profile, "node_id": node_id, "root": root, "mig_enabled": mig,
                        "mig_layout": layout})
    extra_vars = base / "vars.json"
    # Modules run under the suite's own Python rather than whatever interpreter discovery finds.
    extra_vars.write_text(json.dumps({"conformance_nodes": entries,
                                      "conformance_nvml_library": built_nvml_library(),
                                      "ansible_python_interpreter": sys.executable}))
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(REPO, ".build", "collections")
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    playbook = os.path.join(REPO, "tests", "conformance", "provision.yml")
    ansible_playbook = os.path.join(REPO, ".venv", "bin", "ansible-playbook")
    run([ansible_playbook, "-i", "localhost,", playbook, "-e", "@%s" % extra_vars], env=env, timeout=600)
    return nodes


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
