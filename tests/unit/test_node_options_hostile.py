"""Hostile node options, through every node module: refused before anything is written.

Each node module (the doc fragment gpumock.nvidia.node) gets the same node options. A value that
any consumer of what they become cannot carry (the mock NVML's config, the driver tree's file
names and /proc text, Kubernetes label values, the comment lines of the boot rule and loader
entry), or that is of the wrong type or size, fails the run with one line naming the option, and
the run leaves the tree exactly as it was: the limits are checked at the module boundary
(profiles.build_node), not by the consumer after the files are written.
"""
import re
import sys

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.modules import (
    nvidia_cdi_spec, nvidia_mock_devnodes, nvidia_mock_driver_tree, nvidia_mock_node, nvidia_mock_node_labels)

MODULE = None       # set for each case (the run fixture reads it at each call)


def devnodes_args(root):
    return dict(dev_root=str(root / "dev"))


def driver_tree_args(root):
    return dict(root=str(root / "driver"), nvml_library=str(root / "built" / "libnvidia-ml.so"))


def cdi_spec_args(root):
    return dict(path=str(root / "cdi" / "nvidia.yaml"), uvm_major=238, caps_major=241)


def labels_args(root):
    return dict(path=str(root / "features.d" / "gpumock"))


def node_args(root):
    return dict(dev_root=str(root / "dev"), driver_root=str(root / "driver"),
                cdi_path=str(root / "cdi" / "nvidia.yaml"),
                tmpfiles_path=str(root / "tmpfiles.d" / "nvidia-mock.conf"),
                ld_so_conf_path=str(root / "ld.so.conf.d" / "nvidia-mock.conf"),
                features_file=str(root / "features.d" / "gpumock"), mig_strategy="none",
                nvml_library=str(root / "built" / "libnvidia-ml.so"),
                mock_ctl=str(root / "built" / "nvidia-mock-ctl"))


NODE_MODULES = {
    "nvidia_mock_devnodes": (nvidia_mock_devnodes, devnodes_args),
    "nvidia_mock_driver_tree": (nvidia_mock_driver_tree, driver_tree_args),
    "nvidia_cdi_spec": (nvidia_cdi_spec, cdi_spec_args),
    "nvidia_mock_node_labels": (nvidia_mock_node_labels, labels_args),
    "nvidia_mock_node": (nvidia_mock_node, node_args),
}

MIG = dict(profile="dgxa100", mig_enabled=True)

# name: (the option the message must name, the options of the run)
HOSTILE = {
    "node_id with a newline": ("node_id", dict(node_id="node\nid")),
    "node_id with a carriage return": ("node_id", dict(node_id="node\rid")),
    "node_id with a NUL": ("node_id", dict(node_id="node\0id")),
    "node_id with an escape character": ("node_id", dict(node_id="node\x1b[2Jid")),
    "node_id with a tab": ("node_id", dict(node_id="node\tid")),
    "node_id with a line separator": ("node_id", dict(node_id="node\u2028id")),
    "node_id of 1000 characters": ("node_id", dict(node_id="n" * 1000)),
    "node_id of 256 bytes": ("node_id", dict(node_id="n" * (profiles.NODE_ID_MAX_BYTES + 1))),
    "node_id of 128 two-byte characters": ("node_id", dict(node_id="\u00e9" * 128)),
    "node_id of spaces": ("node_id", dict(node_id="   ")),
    "node_id empty": ("node_id", dict(node_id="")),
    "driver_version of 92 characters": ("driver_version", dict(driver_version="580." + "1" * 88)),
    "driver_version one past the limit": (
        "driver_version", dict(driver_version="1." + "2" * (profiles.DRIVER_VERSION_MAX_LEN - 1))),
    "driver_version in Arabic-Indic digits": ("driver_version", dict(driver_version="\u0665\u0668\u0660.\u0661\u0662.\u0660\u0664")),
    "driver_version with a superscript digit": ("driver_version", dict(driver_version="5\u00b20.54.15")),
    "driver_version in fullwidth digits": ("driver_version", dict(driver_version="\uff15\uff15\uff10.54.15")),
    "driver_version with a newline": ("driver_version", dict(driver_version="550.54.15\n")),
    "driver_version with a NUL": ("driver_version", dict(driver_version="550.54\x0015")),
    "driver_version with a suffix": ("driver_version", dict(driver_version="550.54.15-beta")),
    "driver_version with a leading space": ("driver_version", dict(driver_version=" 550.54.15")),
    "driver_version with one group": ("driver_version", dict(driver_version="550")),
    "driver_version with four groups": ("driver_version", dict(driver_version="550.54.15.1")),
    "driver_version with an empty group": ("driver_version", dict(driver_version="550..15")),
    "driver_version a path": ("driver_version", dict(driver_version="../../etc")),
    "driver_version a list": ("driver_version", dict(driver_version=["550.54.15"])),
    "gpu_count of 10**30": ("gpu_count", dict(gpu_count=10 ** 30)),
    "gpu_count 0": ("gpu_count", dict(gpu_count=0)),
    "gpu_count negative": ("gpu_count", dict(gpu_count=-1)),
    "gpu_count 129": ("gpu_count", dict(gpu_count=profiles.MAX_GPU_COUNT + 1)),
    "gpu_count a word": ("gpu_count", dict(gpu_count="four")),
    "gpu_count a fraction": ("gpu_count", dict(gpu_count=2.5)),
    "gpu_count a list": ("gpu_count", dict(gpu_count=[2])),
    "gpu_count a dictionary": ("gpu_count", dict(gpu_count={"count": 2})),
    "gpu_count true": ("gpu_count", dict(gpu_count=True)),
    "profile unknown": ("profile", dict(profile="dgx9")),
    "profile a list": ("profile", dict(profile=["dgxa100"])),
    "profile a dictionary": ("profile", dict(profile={"name": "dgxa100"})),
    "mig_enabled a word": ("mig_enabled", dict(mig_enabled="maybe")),
    "mig_enabled on a board without MIG": ("mig_enabled", dict(profile="t4", mig_enabled=True)),
    "mig_layout without mig_enabled": ("mig_layout", dict(mig_layout=["1g.5gb"])),
    "mig_layout a string": ("mig_layout", dict(MIG, mig_layout="1g.5gb")),
    "mig_layout a number": ("mig_layout", dict(MIG, mig_layout=5)),
    "mig_layout a list of dictionaries": ("mig_layout", dict(MIG, mig_layout=[{"name": "1g.5gb"}])),
    "mig_layout a list of lists": ("mig_layout", dict(MIG, mig_layout=[["1g.5gb"]])),
    "mig_layout nested dictionaries": ("mig_layout", dict(MIG, mig_layout={"0": {"1g.5gb": 1}})),
    "mig_layout of 100000 names": ("mig_layout", dict(MIG, mig_layout=["1g.5gb"] * 100000)),
    "mig_layout a name with a newline": ("mig_layout", dict(MIG, mig_layout=["1g.5gb\n"])),
    "mig_layout a name of 10000 characters": ("mig_layout", dict(MIG, mig_layout=["x" * 10000])),
    "mig_layout GPU index a fraction": ("mig_layout", dict(MIG, mig_layout={"1.5": ["1g.5gb"]})),
    "mig_layout GPU index huge": ("mig_layout", dict(MIG, mig_layout={"9" * 40: ["1g.5gb"]})),
    "mig_layout GPU index negative": ("mig_layout", dict(MIG, mig_layout={"-1": ["1g.5gb"]})),
    "mig_layout GPU index in Arabic-Indic digits": ("mig_layout", dict(MIG, mig_layout={"\u0660": ["1g.5gb"]})),
    "mig_layout GPU given twice": ("mig_layout", dict(MIG, mig_layout={"0": ["1g.5gb"], "00": ["2g.10gb"]})),
}


@pytest.fixture
def node_module(request, monkeypatch, tmp_path):
    """The module of the case as the test file's MODULE; returns its arguments for a tree in tmp_path."""
    module, args = NODE_MODULES[request.param]
    monkeypatch.setattr(sys.modules[__name__], "MODULE", module)
    # nvidia_mock_node looks for systemd-tmpfiles and ldconfig: the node has neither.
    monkeypatch.setattr(module.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    built = tmp_path / "built"
    built.mkdir()
    (built / "libnvidia-ml.so").write_bytes(b"\x7fELF mock nvml")
    (built / "nvidia-mock-ctl").write_bytes(b"\x7fELF mock ctl")
    return args(tmp_path)


def names_option(message, option):
    return re.search(r"(?<![\w])%s(?![\w])" % option, message) is not None


@pytest.mark.parametrize("node_module", sorted(NODE_MODULES), indirect=True)
def test_good_node_options_write_the_tree(run, node_module, fs_snapshot, tmp_path):
    before = fs_snapshot(tmp_path)
    result = run(node_id="node-1", driver_version="580.159.04", **node_module)
    assert not result.get("failed"), result.get("msg")
    assert fs_snapshot(tmp_path) != before


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("node_module", sorted(NODE_MODULES), indirect=True)
def test_a_hostile_node_option_fails_in_one_line_naming_it_and_writes_nothing(run, node_module, case,
                                                                              fs_snapshot, tmp_path):
    option, options = HOSTILE[case]
    before = fs_snapshot(tmp_path)
    result = run(**dict(dict(node_id="node-1"), **dict(node_module, **options)))
    assert result.get("failed") is True, result
    message = result["msg"]
    assert "\n" not in message and "\r" not in message, message
    assert names_option(message, option), message
    assert "Traceback" not in message and "exception" not in result
    assert fs_snapshot(tmp_path) == before
