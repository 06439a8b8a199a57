#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_mock_driver_tree
short_description: Create the driver root of a mock NVIDIA node
version_added: "0.1.0"
description:
  - Creates, below O(root), a directory shaped like the root file system of a node with the NVIDIA
    driver installed (as the GPU Operator's driver container root is), so that tools given
    C(--driver-root) find everything where they look on a real node.
  - C(usr/lib/<architecture>-linux-gnu/lib*.so.<version>) (C(usr/lib/x86_64-linux-gnu) on an x86_64 node) for
    every library the real driver installs, with
    SONAME and C(.so) links; C(libnvidia-ml.so.<version>) is the mock NVML from O(nvml_library),
    the other libraries are empty placeholders.
  - The installed C(libnvidia-ml.so.<version>) carries a copy of the node's NVML config after its ELF
    image (a trailer the dynamic loader ignores), so a container that is given only that file and
    its device nodes, as by NVIDIA's device plugin and its own CDI spec, still sees this node's GPUs.
    A config embedded in O(nvml_library) itself is replaced, so the result does not depend on it.
  - C(usr/bin/nvidia-smi) and the other driver tools as executable placeholder scripts, created
    only where no file exists (a real tool installed later is left alone).
  - C(usr/bin/nvidia-mock-ctl), the mock's control tool (faults and live values at run time), from
    O(mock_ctl); the CDI spec does not mount it.
  - C(lib/firmware/nvidia/<version>/gsp_*.bin) placeholders;
    C(proc/driver/nvidia/{version,params,registry,gpus/<bus>/information}) in the real format.
  - C(proc/driver/nvidia-caps/mig-minors), the driver's table of MIG capability minors; with
    O(mig_enabled=true) the capability files C(proc/driver/nvidia/capabilities/mig/{config,monitor}) and,
    for each GPU instance and compute instance of O(mig_layout),
    C(proc/driver/nvidia/capabilities/gpu<minor>/mig/gi<id>/access) and C(.../gi<id>/ci<id>/access)
    (C(DeviceFileMinor), C(DeviceFileMode), C(DeviceFileModify), as the driver prints them).
  - C(etc/nvidia-mock/nvml.conf), the config the mock NVML reads (written from the profile), and
    C(etc/nvidia-container-runtime/config.toml), the container toolkit's config.
  - With O(state=absent) removes exactly those files and links, the live state file
    C(etc/nvidia-mock/nvml.state) that C(nvidia-mock-ctl) creates, and the driver's own directories
    when they are empty; shared directories such as C(usr/lib/<architecture>-linux-gnu) are never removed,
    so O(root=/) is safe.
author:
  - gpumock maintainers (@gpumock)
options:
  root:
    description: Absolute directory of the tree (V(/) installs into the host itself).
    type: path
    default: /var/lib/nvidia-mock/driver
  nvml_library:
    description:
      - Path of a built mock NVML (C(nvml_src/build/libnvidia-ml.so.<version>)) on the target, installed as
        C(usr/lib/<architecture>-linux-gnu/libnvidia-ml.so.<driver_version>); it must be built for O(architecture).
      - When unset, an existing library there is kept (only the NVML config embedded in it, if it has
        one, is brought up to date) and an empty placeholder is created if there is none.
    type: path
  mock_ctl:
    description:
      - Path of a built C(nvidia-mock-ctl) (C(nvml_src/build/nvidia-mock-ctl)) on the target, installed as
        C(usr/bin/nvidia-mock-ctl).
      - When unset, an existing file there is kept, and a placeholder that says it is missing is created if
        there is none.
    type: path
  dev_root:
    description: Directory where the mock NVML looks for C(nvidia<i>) nodes to decide which GPUs are visible (written to the NVML config).
    type: path
    default: /dev
  state:
    description: Whether the tree should exist.
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - gpumock.nvidia.node
  - gpumock.nvidia.node.architecture
  - gpumock.nvidia.attributes
  - gpumock.nvidia.attributes.platform
notes:
  - Nothing this collection did not write is overwritten or deleted. It adopts empty placeholders, a
    C(libnvidia-ml.so.<version>) carrying the mock's embedded-config trailer, files carrying the collection's marker
    line, and the C(proc/driver/nvidia) files of a tree whose C(version) file has the mock's build signature. Anything
    else at one of its paths (a real library, real firmware, a real toolkit config, a directory, a FIFO, a symlink)
    makes the run fail before anything is written, in check mode too; a real tool or library where only a
    create-only placeholder goes is left exactly as it is. With O(state=absent) it is left in place and named in a
    warning.
  - O(nvml_library) and O(mock_ctl) must be regular files; a FIFO, a device or a directory is refused without being
    opened.
  - Writes are staged at temporary names beside their targets and renamed into place, so a failed run changes
    nothing (or says which changes it made) and a killed one leaves every file old or new; the next run removes
    the temporary files a killed run left. Errors are one line naming the option. See docs/what-the-modules-touch.md in the collection.
seealso:
  - module: gpumock.nvidia.nvidia_mock_devnodes
  - module: gpumock.nvidia.nvidia_cdi_spec
"""

EXAMPLES = r"""
- name: Driver tree of a DGX A100 in a scratch directory
  gpumock.nvidia.nvidia_mock_driver_tree:
    root: /tmp/gpumock-example/driver
    node_id: example-node

- name: Driver tree of four H100 GPUs with a chosen driver version
  gpumock.nvidia.nvidia_mock_driver_tree:
    root: /tmp/gpumock-example/driver-h100
    profile: dgxh100
    gpu_count: 4
    driver_version: 580.159.04
    node_id: example-node

- name: Remove the tree again
  gpumock.nvidia.nvidia_mock_driver_tree:
    root: /tmp/gpumock-example/driver
    node_id: example-node
    state: absent
"""

RETURN = r"""
root:
  description: The tree's directory.
  returned: always
  type: str
  sample: /var/lib/nvidia-mock/driver
driver_version:
  description: Driver version the tree imitates.
  returned: always
  type: str
  sample: 550.54.15
nvml_library:
  description: Path of the NVML library in the tree.
  returned: always
  type: str
  sample: /var/lib/nvidia-mock/driver/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15
mock_ctl:
  description: Path of nvidia-mock-ctl in the tree.
  returned: always
  type: str
  sample: /var/lib/nvidia-mock/driver/usr/bin/nvidia-mock-ctl
nvml_config:
  description: Path of the NVML config in the tree.
  returned: always
  type: str
  sample: /var/lib/nvidia-mock/driver/etc/nvidia-mock/nvml.conf
architecture:
  description: The node's architecture the tree is laid out for (O(architecture)).
  returned: always
  type: str
  sample: x86_64
files:
  description: Tree-relative paths of the libraries, tools and firmware (what the CDI spec mounts).
  returned: always
  type: list
  elements: str
  sample: [usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15, usr/bin/nvidia-smi]
actions:
  description: What was (or, in check mode, would be) done, one item per path.
  returned: always
  type: list
  elements: dict
  sample: [{"op": "create", "path": "usr/bin/nvidia-smi", "kind": "file"}]
"""


from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import _runner, node_args, node_jobs
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner._runner import AnsibleModule


def prepare(module):
    p = module.params
    root = node_args.check_abs_path("root", p["root"])
    dev_root = node_args.check_abs_path("dev_root", p["dev_root"])
    node = node_args.build_node(p, driver_version=p["driver_version"])
    library = mock_ctl = None
    if p["state"] == "present":
        library = node_jobs.read_source("nvml_library", p["nvml_library"])
        mock_ctl = node_jobs.read_source("mock_ctl", p["mock_ctl"])
    return node_jobs.driver_tree_job(node, root, dev_root, library, mock_ctl, p["state"],
                                     arch=node_args.node_architecture(p["architecture"]))


def main():
    argument_spec = node_args.node_argument_spec()
    argument_spec.update(
        root=dict(type="path", default="/var/lib/nvidia-mock/driver"),
        nvml_library=dict(type="path"),
        mock_ctl=dict(type="path"),
        dev_root=dict(type="path", default="/dev"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    argument_spec.update(node_args.architecture_argument_spec())
    _runner.run(AnsibleModule(argument_spec=argument_spec, supports_check_mode=True), prepare)


if __name__ == "__main__":
    main()
