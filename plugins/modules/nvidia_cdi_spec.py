#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_cdi_spec
short_description: Write the CDI spec of a mock NVIDIA node
version_added: "0.1.0"
description:
  - Writes a Container Device Interface spec for the mock GPUs, matching what
    C(nvidia-ctk cdi generate) writes for such a node, so that CDI-aware runtimes (containerd,
    podman, Docker) inject the GPUs with C(--device nvidia.com/gpu=0) and the like.
  - One device per GPU and naming strategy (O(device_name_strategy)), one per MIG device of
    O(mig_layout) and naming strategy (C(<gpu>:<mig device>), C(MIG-<uuid>) or C(mig<gpu>:<mig device>),
    as nvidia-ctk names them, holding the GPU's node and the access nodes of its GPU and compute
    instance), plus V(all), which holds every device's nodes and, with O(mig_enabled=true), the MIG
    config and monitor capability nodes; the control
    nodes, C(NVIDIA_VISIBLE_DEVICES=void), hooks (only with O(hook_path)) and a read-only mount of
    every library, tool and firmware file of the driver tree in the common edits.
  - GPUs in MIG mode keep their full-GPU devices (nvidia-ctk leaves them out).
  - Device nodes carry C(type), C(major) and C(minor), and C(hostPath) when O(dev_root) is not C(/dev).
  - C(cdiVersion) is the lowest version the content needs (0.5.0 with index names). The spec is
    validated with the rules CDI loaders apply before it is written, atomically, mode 0644.
  - YAML when O(path) ends in C(.yaml), JSON when it ends in C(.json) (CDI reads no other names).
author:
  - gpumock maintainers (@gpumock)
options:
  driver_root:
    description: Absolute directory of the driver tree (see M(gpumock.nvidia.nvidia_mock_driver_tree)); mounts come from there.
    type: path
    default: /var/lib/nvidia-mock/driver
  dev_root:
    description: Absolute directory holding the device nodes (see M(gpumock.nvidia.nvidia_mock_devnodes)).
    type: path
    default: /dev
  uvm_major:
    description:
      - Major number of C(nvidia-uvm) and C(nvidia-uvm-tools) (1 to 4095, not 195).
      - Defaults to the C(nvidia-uvm) entry of C(/proc/devices) if there is one, else 238.
    type: int
  caps_major:
    description:
      - Major number of the C(nvidia-caps) nodes (1 to 4095, not 195).
      - Defaults to the C(nvidia-caps) entry of C(/proc/devices) if there is one, else 241.
    type: int
  path:
    description: Absolute path of the spec file; must end in C(.yaml) or C(.json).
    type: path
    default: /etc/cdi/nvidia.yaml
  kind:
    description: CDI kind C(vendor/class) of the devices.
    type: str
    default: nvidia.com/gpu
  device_name_strategy:
    description:
      - How devices are named, one device per GPU (and per MIG device) and strategy.
      - V(index) gives C(0) (C(0:1) for MIG device 1 of GPU 0), V(uuid) gives C(GPU-...) (C(MIG-...)),
        V(type-index) gives C(gpu0) (C(mig0:1)).
    type: list
    elements: str
    choices: [index, uuid, type-index]
    default: [index, uuid]
  hook_path:
    description:
      - Path of the C(nvidia-cdi-hook) (or C(nvidia-ctk)) binary on the host; when set, the spec carries the
        C(createContainer) hooks nvidia-ctk writes (create-symlinks, enable-cuda-compat, update-ldcache,
        disable-device-node-modification). The file must exist.
      - When unset, the spec has no hooks.
    type: path
  state:
    description: Whether the spec file should exist.
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - gpumock.nvidia.node
  - gpumock.nvidia.node.architecture
  - gpumock.nvidia.attributes
  - gpumock.nvidia.attributes.platform
notes:
  - An existing spec at O(path) is replaced or removed only when this collection wrote it (YAML carrying the
    collection's marker line, or a spec mounting the mock's C(/etc/nvidia-mock/nvml.conf)); another tool's spec makes
    the run fail, in check mode too, and is left in place by O(state=absent).
  - A symlink at O(path) is followed, and the file it points to is replaced atomically; the link stays.
  - O(hook_path) must be a regular file.
  - Writes are staged at temporary names beside their targets and renamed into place, so a failed run changes
    nothing (or says which changes it made) and a killed one leaves every file old or new; the next run removes
    the temporary files a killed run left. Errors are one line naming the option. See docs/what-the-modules-touch.md in the collection.
seealso:
  - module: gpumock.nvidia.nvidia_mock_devnodes
  - module: gpumock.nvidia.nvidia_mock_driver_tree
"""

EXAMPLES = r"""
- name: CDI spec of a DGX A100 whose nodes and driver tree live in a scratch directory
  gpumock.nvidia.nvidia_cdi_spec:
    path: /tmp/gpumock-example/cdi/nvidia.yaml
    driver_root: /tmp/gpumock-example/driver
    dev_root: /tmp/gpumock-example/dev
    node_id: example-node

- name: Two L40S by UUID and type-index, as JSON, with explicit majors
  gpumock.nvidia.nvidia_cdi_spec:
    profile: l40s
    gpu_count: 2
    node_id: example-node
    path: /tmp/gpumock-example/cdi/nvidia.json
    device_name_strategy: [uuid, type-index]
    uvm_major: 238
    caps_major: 241

- name: Remove the spec again
  gpumock.nvidia.nvidia_cdi_spec:
    path: /tmp/gpumock-example/cdi/nvidia.yaml
    state: absent
"""

RETURN = r"""
path:
  description: The spec file.
  returned: always
  type: str
  sample: /etc/cdi/nvidia.yaml
cdi_version:
  description: The spec's cdiVersion (the lowest its content needs).
  returned: when O(state=present)
  type: str
  sample: 0.5.0
devices:
  description: Fully qualified names of the devices the spec defines.
  returned: when O(state=present)
  type: list
  elements: str
  sample: [nvidia.com/gpu=0, nvidia.com/gpu=GPU-4a7e0c2d-5b1f-8e3a-9c6d-0f1e2d3c4b5a, nvidia.com/gpu=all]
spec:
  description: The spec as data.
  returned: when O(state=present)
  type: dict
"""


from ansible_collections.gpumock.nvidia.plugins.module_utils.render import cdi
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import _runner, node_args, node_jobs
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner._runner import AnsibleModule


def prepare(module):
    p = module.params
    path = node_jobs.check_spec_path("path", p["path"])
    if p["state"] == "absent":
        return node_jobs.cdi_spec_job(None, path, None, None, None, None, None, state="absent")
    driver_root = node_args.check_abs_path("driver_root", p["driver_root"])
    dev_root = node_args.check_abs_path("dev_root", p["dev_root"])
    hook_path = None
    if p["hook_path"] is not None:
        hook_path = node_jobs.check_input_file(
            "hook_path", node_args.check_abs_path("hook_path", p["hook_path"]),
            "install the hook binary there or leave hook_path unset for a spec without hooks")
    uvm_major, caps_major = node_jobs.majors(p)
    node = node_args.build_node(p, driver_version=p["driver_version"])
    return node_jobs.cdi_spec_job(node, path, driver_root, dev_root, uvm_major, caps_major,
                                  p["device_name_strategy"], kind=p["kind"], hook_path=hook_path,
                                  arch=node_args.node_architecture(p["architecture"]))


def main():
    argument_spec = node_args.node_argument_spec()
    argument_spec.update(
        driver_root=dict(type="path", default="/var/lib/nvidia-mock/driver"),
        dev_root=dict(type="path", default="/dev"),
        uvm_major=dict(type="int"),
        caps_major=dict(type="int"),
        path=dict(type="path", default="/etc/cdi/nvidia.yaml"),
        kind=dict(type="str", default=cdi.DEFAULT_KIND),
        device_name_strategy=dict(type="list", elements="str", default=["index", "uuid"],
                                  choices=list(cdi.NAME_STRATEGIES)),
        hook_path=dict(type="path"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    argument_spec.update(node_args.architecture_argument_spec())
    _runner.run(AnsibleModule(argument_spec=argument_spec, supports_check_mode=True), prepare)


if __name__ == "__main__":
    main()
