"""NVIDIA's own CDI generator, `nvidia-ctk cdi generate`, accepts every built-in profile's mock node
and describes it with the same devices as the spec the nvidia_cdi_spec module wrote for it.

nvidia-ctk is pointed at the node the way the GPU Operator points it at a driver container:
--driver-root R (libraries, tools, firmware under R) and --dev-root R (device nodes in R/dev).
It loads the mock NVML from R's library directory and must find real character devices there.
Differences that remain between the two specs are listed in docs/conformance.md.
"""
import os

import pytest
import yaml

from ansible_collections.gpumock.nvidia.plugins.module_utils import profiles

from mocknodes import MIG_NODE, run, tool

PROFILES = profiles.PROFILE_NAMES


def our_spec(node):
    with open(node.spec_path) as handle:
        return yaml.safe_load(handle)


def device_nodes(edits):
    """(path, hostPath, major, minor) of each device node, sorted.

    nvidia-ctk leaves out a minor of 0 (Go's omitempty): the same node as an explicit 0.
    Order is not compared here (CDI gives it no meaning); docs/conformance.md lists where it differs.
    """
    return sorted((n["path"], n.get("hostPath", n["path"]), n.get("major"), n.get("minor", 0))
                  for n in (edits or {}).get("deviceNodes", []))


def devices_by_name(spec):
    return {d["name"]: device_nodes(d["containerEdits"]) for d in spec["devices"]}


def mounts(spec):
    return sorted((m["hostPath"], m["containerPath"], tuple(m["options"])) for m in spec["containerEdits"]["mounts"])


@pytest.fixture(scope="session")
def ctk_specs(mock_nodes, tmp_path_factory):
    """name -> the spec nvidia-ctk generated for that node (each node generated once)."""
    out_dir = tmp_path_factory.mktemp("nvidia-ctk")
    cache = {}

    def generate(name):
        if name not in cache:
            node = mock_nodes[name]
            out = os.path.join(str(out_dir), "%s.yaml" % name)
            run([tool("nvidia-ctk"), "cdi", "generate", "--driver-root", node.root, "--dev-root", node.root,
                 "--output", out], env=node.env())
            with open(out) as handle:
                cache[name] = yaml.safe_load(handle)
        return cache[name]
    return generate


@pytest.mark.parametrize("profile", PROFILES)
def test_nvidia_ctk_generates_a_spec_for_the_node(profile, ctk_specs):
    spec = ctk_specs(profile)
    assert spec["kind"] == "nvidia.com/gpu"
    assert spec["devices"]


@pytest.mark.parametrize("profile", PROFILES)
def test_nvidia_ctk_names_the_devices_our_spec_names(profile, mock_nodes, ctk_specs):
    ours = [d["name"] for d in our_spec(mock_nodes[profile])["devices"]]
    theirs = [d["name"] for d in ctk_specs(profile)["devices"]]
    assert sorted(theirs) == sorted(ours)


@pytest.mark.parametrize("profile", PROFILES)
def test_nvidia_ctk_gives_each_device_the_device_nodes_our_spec_gives(profile, mock_nodes, ctk_specs):
    assert devices_by_name(ctk_specs(profile)) == devices_by_name(our_spec(mock_nodes[profile]))


@pytest.mark.parametrize("profile", PROFILES)
def test_nvidia_ctk_puts_the_control_nodes_of_our_spec_in_the_common_edits(profile, mock_nodes, ctk_specs):
    ours = device_nodes(our_spec(mock_nodes[profile])["containerEdits"])
    assert device_nodes(ctk_specs(profile)["containerEdits"]) == ours


@pytest.mark.parametrize("profile", PROFILES)
def test_nvidia_ctk_declares_the_cdi_version_of_our_spec(profile, mock_nodes, ctk_specs):
    assert ctk_specs(profile)["cdiVersion"] == our_spec(mock_nodes[profile])["cdiVersion"]


@pytest.mark.parametrize("profile", PROFILES)
def test_nvidia_ctk_sets_the_environment_of_our_spec(profile, mock_nodes, ctk_specs):
    assert ctk_specs(profile)["containerEdits"]["env"] == our_spec(mock_nodes[profile])["containerEdits"]["env"]


@pytest.mark.parametrize("profile", PROFILES)
def test_nvidia_ctk_mounts_the_driver_files_our_spec_mounts(profile, mock_nodes, ctk_specs):
    assert mounts(ctk_specs(profile)) == mounts(our_spec(mock_nodes[profile]))


def test_nvidia_ctk_finds_no_full_gpu_devices_on_gpus_in_mig_mode(mock_nodes, tmp_path):
    """go-nvlib reads MIG mode on from the mock and skips the full GPUs; with no MIG devices
    created, nothing is left for the `all` device, and nvidia-ctk refuses to write the spec."""
    node = mock_nodes[MIG_NODE]
    proc = run([tool("nvidia-ctk"), "cdi", "generate", "--driver-root", node.root, "--dev-root", node.root,
                "--output", str(tmp_path / "nvidia.yaml")], env=node.env(), check=False)
    assert proc.returncode != 0
    # logrus quotes the message, so the device name appears as \"all\".
    assert 'failed add device \\"all\\": invalid device, empty device edits' in proc.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_nvidia_ctk_lists_the_devices_of_our_spec(profile, mock_nodes):
    node = mock_nodes[profile]
    proc = run([tool("nvidia-ctk"), "cdi", "list", "--spec-dir", os.path.dirname(node.spec_path)], env=node.env())
    names = ["nvidia.com/gpu=%s" % d["name"] for d in our_spec(node)["devices"]]
    assert sorted(proc.stdout.split()) == sorted(names)
