# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""Kubernetes node labels that NVIDIA's GPU feature discovery (GFD) would set for a mock node.

GFD reads them from NVML; here they are computed from the same ``profiles.Node`` the mock NVML's
config is written from, so a label can never disagree with what NVML reports on the node:

* ``gpu.product``  nvmlDeviceGetName, characters outside ``[A-Za-z0-9-_. ]`` dropped and every
  run of spaces turned into one ``-`` (GFD's sanitising);
* ``gpu.memory``   nvmlDeviceGetMemoryInfo total, in MiB;
* ``gpu.family``, ``gpu.compute.major/minor``  nvmlDeviceGetCudaComputeCapability and GFD's
  family table;
* ``cuda.driver.*`` and ``cuda.driver-version.*``  nvmlSystemGetDriverVersion split on dots
  (GFD's historical naming: these are the *driver's* version, not CUDA's);
* ``cuda.runtime.*`` and ``cuda.runtime-version.*``  nvmlSystemGetCudaDriverVersion;
* ``mig.capable``  whether the board has MIG; ``mig.strategy`` the device plugin's MIG strategy;
* ``vgpu.present`` ``false``: these nodes imitate bare-metal GPUs, not vGPU guests.

``nvidia.com/gpu.present`` is not GFD's own: the GPU Operator's node-feature-discovery rule sets it
on nodes with an NVIDIA PCI device, and the operator's components select nodes by it.

Labels GFD derives from things these nodes do not imitate (``gpu.mode`` from PCI sysfs,
``gpu.machine`` from DMI, ``gfd.timestamp``) are left out.

Standard library only: shipped to targets with the module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts.profiles import (
    LABEL_VALUE_MAX_LEN, MIB, mig_profile_name, shown)

PREFIX = "nvidia.com/"
MIG_STRATEGIES = ("none", "single", "mixed")
# Where node-feature-discovery's "local" source reads feature files; GFD writes its own file
# (named gfd) into the same directory.
NFD_FEATURES_DIR = "/etc/kubernetes/node-feature-discovery/features.d"
DEFAULT_FEATURES_FILE = NFD_FEATURES_DIR + "/gpumock"

_PRODUCT_DROP = re.compile(r"[^A-Za-z0-9\-_. ]")
_SPACES = re.compile(r"\s+")
# A Kubernetes label value: empty, or alphanumerics at both ends and -_. between them, at most
# LABEL_VALUE_MAX_LEN characters (the limit profiles holds driver_version to).
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


class LabelError(ValueError):
    """Labels cannot be computed; the message is one sentence naming the option."""


def sanitize_product(name):
    """GFD's gpu.product form of an NVML device name: 'NVIDIA H100 80GB HBM3' -> 'NVIDIA-H100-80GB-HBM3'."""
    return _SPACES.sub("-", _PRODUCT_DROP.sub("", name).strip())


def arch_family(cc_major, cc_minor):
    """GFD's gpu.family for a compute capability ('undefined' where GFD knows none)."""
    if cc_major == 7:
        return "volta" if cc_minor < 5 else "turing"
    if cc_major == 8:
        return "ampere" if cc_minor < 9 else "ada-lovelace"
    return {
        1: "tesla", 2: "fermi", 3: "kepler", 5: "maxwell", 6: "pascal",
        9: "hopper", 10: "blackwell", 12: "blackwell", 13: "rubin",
    }.get(cc_major, "undefined")


def mig_label_name(profile):
    """A MIG profile's name in labels and resource names: GFD writes '1g.10gb+me' as '1g.10gb.me'."""
    return mig_profile_name(profile).replace("+", ".")


def _mig_labels(key, product, profile, count):
    """GFD's labels under ``key`` (``gpu`` or ``mig-<profile>``) for ``count`` MIG devices of
    ``profile``, each a GPU instance with the compute instance that spans it."""
    return {
        key + ".count": str(count),
        key + ".product": "%s-MIG-%s" % (product, mig_label_name(profile)),
        key + ".memory": str(profile.memory_size_mb),
        key + ".multiprocessors": str(profile.multiprocessor_count),
        key + ".slices.gi": str(profile.slice_count),
        key + ".slices.ci": str(profile.slice_count),
        key + ".engines.copy": str(profile.copy_engine_count),
        key + ".engines.decoder": str(profile.decoder_count),
        key + ".engines.encoder": str(profile.encoder_count),
        key + ".engines.jpeg": str(profile.jpeg_count),
        key + ".engines.ofa": str(profile.ofa_count),
        key + ".replicas": "1",
        key + ".sharing-strategy": "none",
    }


def node_labels(node, mig_strategy="single"):
    """The label dict (sorted by key, every value a string) for a ``profiles.Node``.

    MIG devices (the node's ``mig_layout``) are labelled as GFD labels them: under ``single`` the
    ``gpu.*`` labels describe the MIG devices, which must all be of one profile on GPUs that are
    all in MIG mode (GFD labels any other node ``MIG-INVALID``); under ``mixed`` each profile gets
    its ``mig-<profile>.*`` labels beside the full GPUs' ``gpu.*``. Raises LabelError for a MIG
    strategy GFD does not know, or for a node that ``single`` cannot describe.
    """
    if mig_strategy not in MIG_STRATEGIES:
        raise LabelError("mig_strategy must be one of %s, got %r." % (", ".join(MIG_STRATEGIES), mig_strategy))
    devices = [device for gpu in node.gpus for device in gpu.mig_devices]
    if mig_strategy == "single" and any(gpu.mig_enabled for gpu in node.gpus):
        kinds = sorted(set(mig_profile_name(d.profile) for d in devices))
        if len(kinds) != 1 or not all(gpu.mig_enabled and gpu.mig_devices for gpu in node.gpus):
            raise LabelError("mig_strategy single needs every GPU in MIG mode with MIG devices of one profile "
                             "(GFD labels this node MIG-INVALID; its MIG devices are %s); use mig_strategy mixed."
                             % (", ".join(kinds) or "none"))
    board = node.board
    parts = node.driver_version.split(".")
    driver_major, driver_minor = parts[0], parts[1]
    driver_rev = parts[2] if len(parts) > 2 else ""
    cuda_major, cuda_minor = node.cuda_version

    labels = {
        "gpu.present": "true",
        "gpu.count": str(len(node.gpus)),
        "gpu.product": sanitize_product(board.name),
        # GFD counts no shareable replicas on GPUs in MIG mode (strategy none): they have no
        # full-GPU resource to hand out.
        "gpu.replicas": "0" if any(gpu.mig_enabled for gpu in node.gpus) else "1",
        "gpu.sharing-strategy": "none",
        "gpu.family": arch_family(board.cc_major, board.cc_minor),
        "gpu.compute.major": str(board.cc_major),
        "gpu.compute.minor": str(board.cc_minor),
        "cuda.driver.major": driver_major,
        "cuda.driver.minor": driver_minor,
        "cuda.driver.rev": driver_rev,
        "cuda.driver-version.major": driver_major,
        "cuda.driver-version.minor": driver_minor,
        "cuda.driver-version.revision": driver_rev,
        "cuda.driver-version.full": node.driver_version,
        "cuda.runtime.major": str(cuda_major),
        "cuda.runtime.minor": str(cuda_minor),
        "cuda.runtime-version.major": str(cuda_major),
        "cuda.runtime-version.minor": str(cuda_minor),
        "cuda.runtime-version.full": node.cuda_version_string,
        "mig.capable": "true" if board.mig_capable else "false",
        "mps.capable": "false",
        # GFD scans PCI sysfs for vGPU functions; these nodes imitate bare-metal GPUs.
        "vgpu.present": "false",
    }
    memory_mib = board.memory_total_bytes // MIB
    if memory_mib > 0:
        # GFD leaves the label out when NVML reports no memory.
        labels["gpu.memory"] = str(memory_mib)
    if mig_strategy != "none":
        labels["mig.strategy"] = mig_strategy
    product = labels["gpu.product"]
    if mig_strategy == "single" and devices:
        labels.update(_mig_labels("gpu", product, devices[0].profile, len(devices)))
    elif mig_strategy == "mixed":
        for name in sorted(set(mig_label_name(d.profile) for d in devices)):
            same = [d for d in devices if mig_label_name(d.profile) == name]
            labels.update(_mig_labels("mig-" + name, product, same[0].profile, len(same)))
    for key, value in labels.items():
        if len(value) > LABEL_VALUE_MAX_LEN or not _LABEL_VALUE.fullmatch(value):
            raise LabelError("The label %s%s cannot be %s: a Kubernetes label value is at most %d letters, digits, "
                             "'-', '_' or '.', starting and ending with a letter or digit."
                             % (PREFIX, key, shown(value), LABEL_VALUE_MAX_LEN))
    return dict(sorted((PREFIX + key, value) for key, value in labels.items()))


def features_file_text(labels):
    """The node-feature-discovery local feature file: a comment, then one key=value per line."""
    lines = ["# GPU feature discovery labels of a gpumock.nvidia mock GPU node (written by nvidia_mock_node_labels)."]
    lines.extend("%s=%s" % (key, value) for key, value in sorted(labels.items()))
    return "\n".join(lines) + "\n"


def parse_features_file(text):
    """The labels of a feature file written by features_file_text (comments and blank lines skipped)."""
    labels = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if sep:
            labels[key] = value
    return labels
