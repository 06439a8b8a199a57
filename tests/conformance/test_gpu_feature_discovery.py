"""NVIDIA's GPU feature discovery, run once against every built-in profile's mock node, labels it
exactly as the collection's labels module (plugins/module_utils/render/labels.py) says it will.

GFD runs standalone: --oneshot writes its label file and exits; --use-node-feature-api=false
keeps it away from a Kubernetes API; --no-timestamp drops the only label that changes per run.
It loads libnvidia-ml.so.1 through the library search path (LD_LIBRARY_PATH at the node's tree).

GFD also looks each GPU's bus id up in /sys/bus/pci/devices (for gpu.mode). A mock GPU has no
entry there, but the host's own devices may sit at the same address: GFD v0.19.0 then crashes
(nil pointer in GetPCIClass when the device there is not NVIDIA's, e.g. the t4 profile's
0000:00:04.0 is a virtio device on many VMs). So GFD runs in a private mount namespace with an
empty /sys/bus/pci/devices, which makes the result independent of the host's PCI layout.
"""
import subprocess

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import labels

from mocknodes import MIG_NODE, run, tool

PROFILES = profiles.PROFILE_NAMES

# GFD labels that come from the host rather than from NVML, and that the labels module leaves
# out on purpose (see its docstring): gpu.machine is read from DMI (here: --machine-type-file),
# gpu.mode from the GPU's PCI class in sysfs, which a mock node has no entry for.
HOST_LABELS = ("nvidia.com/gpu.machine", "nvidia.com/gpu.mode")
# Set by the GPU Operator's node-feature-discovery rule, not by GFD.
NOT_GFD_LABELS = ("nvidia.com/gpu.present",)
# Run "$@" with the host's PCI devices hidden (see the module docstring).
HIDE_HOST_PCI = 'mount -t tmpfs -o size=64k,mode=0755 no-pci /sys/bus/pci/devices && exec "$@"'


@pytest.fixture(scope="session")
def private_mount_namespace():
    """GFD needs one (module docstring); where this machine cannot make one, say so and skip."""
    proc = subprocess.run(["unshare", "--mount", "--", "sh", "-c", HIDE_HOST_PCI, "probe", "true"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip("GFD runs need a private mount namespace to hide the host's PCI devices, and "
                    "`unshare --mount` failed here: %s" % proc.stderr.strip())


def gfd_labels(node, tmp_path, mig_strategy):
    machine_type = tmp_path / "product_name"
    machine_type.write_text(node.node.system_name + "\n")
    output = tmp_path / "gfd"
    run(["unshare", "--mount", "--", "sh", "-c", HIDE_HOST_PCI, "gfd",
         tool("gpu-feature-discovery"), "--oneshot", "--no-timestamp", "--use-node-feature-api=false",
         "--output-file", str(output), "--machine-type-file", str(machine_type),
         "--mig-strategy", mig_strategy],
        env=node.env(NODE_NAME="conformance-%s" % node.name))
    return labels.parse_features_file(output.read_text())


def expected_labels(node, mig_strategy):
    computed = labels.node_labels(node.node, mig_strategy=mig_strategy)
    return {k: v for k, v in computed.items() if k not in NOT_GFD_LABELS}


@pytest.mark.usefixtures("private_mount_namespace")
@pytest.mark.parametrize("mig_strategy", ["none", "single"])
@pytest.mark.parametrize("profile", PROFILES)
def test_gfd_labels_the_node_as_the_labels_module_computes(profile, mig_strategy, mock_nodes, tmp_path):
    node = mock_nodes[profile]
    seen = gfd_labels(node, tmp_path, mig_strategy)
    assert {k: v for k, v in seen.items() if k not in HOST_LABELS} == expected_labels(node, mig_strategy)


@pytest.mark.usefixtures("private_mount_namespace")
def test_gfd_labels_a_mig_mode_node_as_the_labels_module_computes(mock_nodes, tmp_path):
    """GPUs in MIG mode without MIG devices, under the only strategy the labels module allows for them."""
    node = mock_nodes[MIG_NODE]
    seen = gfd_labels(node, tmp_path, "none")
    assert {k: v for k, v in seen.items() if k not in HOST_LABELS} == expected_labels(node, "none")


@pytest.mark.usefixtures("private_mount_namespace")
def test_gfd_labels_the_machine_from_the_dmi_product_name(mock_nodes, tmp_path):
    node = mock_nodes["dgxh100"]
    assert gfd_labels(node, tmp_path, "none")["nvidia.com/gpu.machine"] == "NVIDIA-DGX-H100"


def test_gfd_labels_uniform_mig_devices_under_single_as_the_labels_module_computes(mig_layout_nodes, tmp_path):
    node = mig_layout_nodes["dgxh100-mig-uniform"]
    seen = gfd_labels(node, tmp_path, "single")
    assert seen["nvidia.com/gpu.product"].endswith("-MIG-2g.20gb")
    assert {k: v for k, v in seen.items() if k not in HOST_LABELS} == expected_labels(node, "single")


@pytest.mark.parametrize("name", ["dgxh100-mig-mixed", MIG_NODE])
def test_gfd_labels_each_mig_profile_under_mixed_as_the_labels_module_computes(name, mig_layout_nodes, mock_nodes,
                                                                               tmp_path):
    node = mig_layout_nodes[name] if name in mig_layout_nodes else mock_nodes[name]
    seen = gfd_labels(node, tmp_path, "mixed")
    assert any(k.startswith("nvidia.com/mig-") for k in seen)
    assert {k: v for k, v in seen.items() if k not in HOST_LABELS} == expected_labels(node, "mixed")
