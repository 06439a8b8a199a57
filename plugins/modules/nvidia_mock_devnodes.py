#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_mock_devnodes
short_description: Create the device nodes of mock NVIDIA GPUs
version_added: "0.1.0"
description:
  - Creates the character devices a node with NVIDIA GPUs has under O(dev_root) —
    C(nvidia<i>) (195:i), C(nvidiactl) (195:255), C(nvidia-modeset) (195:254),
    C(nvidia-uvm) (U:0), C(nvidia-uvm-tools) (U:1) and, with O(mig_enabled=true),
    C(nvidia-caps/nvidia-cap1) (config, mode 0400) and C(nvidia-caps/nvidia-cap2) (monitor, mode 0444).
  - With O(mig_layout), also the C(nvidia-caps/nvidia-cap<n>) access node (mode 0444) of each GPU instance
    and of its compute instance, numbered as the driver's C(/proc/driver/nvidia-caps/mig-minors) numbers
    them (C(gpu0/gi1/access) is 12, C(gpu0/gi1/ci0/access) 13). Instances NVML creates later get none.
  - Where C(mknod) is refused (an unprivileged container, a user namespace) the nodes can be made
    as regular files instead, see O(fallback); the result says which each node is.
  - With O(state=absent) removes exactly the nodes (and the C(nvidia-caps) directory, if empty) that
    this module would create; O(dev_root) itself is never removed.
author:
  - gpumock maintainers (@gpumock)
options:
  dev_root:
    description: Absolute directory that holds the nodes (C(/dev) on a real node).
    type: path
    default: /dev
  uvm_major:
    description:
      - Major number of C(nvidia-uvm) and C(nvidia-uvm-tools) (1 to 4095, not 195).
      - Defaults to the C(nvidia-uvm) entry of C(/proc/devices) if there is one, else 238 (what a real H100 node shows).
    type: int
  caps_major:
    description:
      - Major number of the C(nvidia-caps) nodes (1 to 4095, not 195).
      - Defaults to the C(nvidia-caps) entry of C(/proc/devices) if there is one, else 241 (what a real H100 node shows).
    type: int
  mode:
    description:
      - Permissions of the GPU and control nodes (the MIG capability nodes keep the driver's 0400/0444).
      - A quoted octal string such as V("0660"), or a number; as with M(ansible.builtin.file), an unquoted
        V(0660) in YAML is already an octal number.
    type: raw
    default: "0666"
  fallback:
    description:
      - What to do when this host refuses C(mknod).
      - V(auto) makes real character devices where possible and regular files otherwise (and says so in a warning and in RV(fallback_used)).
      - V(files) always makes regular files.
      - V(never) fails when character devices cannot be made.
    type: str
    default: auto
    choices: [auto, files, never]
  state:
    description: Whether the nodes should exist.
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - gpumock.nvidia.node
  - gpumock.nvidia.attributes
  - gpumock.nvidia.attributes.platform
notes:
  - To learn whether C(mknod) works the module creates and removes one device node in a private
    temporary directory, also in check mode; nothing under O(dev_root) is touched in check mode.
  - A character device whose major belongs to an NVIDIA driver the running kernel has loaded (its C(nvidia*) lines in
    C(/proc/devices)) is never replaced, removed or given another mode or owner; a node with the planned numbers
    serves as it is. A non-empty regular file, a symlink or a directory at a node's path makes the run fail before
    anything is written; with O(state=absent) it is left in place and named in a warning.
  - Writes are staged at temporary names beside their targets and renamed into place, so a failed run changes
    nothing (or says which changes it made) and a killed one leaves every file old or new; the next run removes
    the temporary files a killed run left. Errors are one line naming the option. See docs/what-the-modules-touch.md in the collection.
seealso:
  - module: gpumock.nvidia.nvidia_mock_driver_tree
  - module: gpumock.nvidia.nvidia_cdi_spec
"""

EXAMPLES = r"""
- name: Device nodes of a DGX A100 in a scratch directory, as regular files if mknod is refused
  gpumock.nvidia.nvidia_mock_devnodes:
    dev_root: /tmp/gpumock-example/dev
    node_id: example-node

- name: Two H100 GPUs in MIG mode with explicit majors, real device nodes only
  gpumock.nvidia.nvidia_mock_devnodes:
    profile: dgxh100
    gpu_count: 2
    mig_enabled: true
    node_id: example-node
    dev_root: /tmp/gpumock-example/dev-mig
    uvm_major: 238
    caps_major: 241
    fallback: never

- name: Remove the nodes again
  gpumock.nvidia.nvidia_mock_devnodes:
    dev_root: /tmp/gpumock-example/dev
    node_id: example-node
    state: absent
"""

RETURN = r"""
nodes:
  description: Every node the module manages, with what is on disk after the run (or would be, in check mode); empty with O(state=absent).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: Absolute path of the node.
      type: str
      sample: /dev/nvidia0
    major:
      description: Device major number.
      type: int
      sample: 195
    minor:
      description: Device minor number.
      type: int
      sample: 0
    mode:
      description: Octal permissions.
      type: str
      sample: "0666"
    char_device:
      description: Whether the node is (or will be) a real character device rather than a regular file.
      type: bool
      sample: true
fallback_used:
  description: Whether regular files stand in for character devices.
  returned: always
  type: bool
  sample: false
actions:
  description: What was (or, in check mode, would be) done, one item per path.
  returned: always
  type: list
  elements: dict
  sample: [{"op": "create", "path": "nvidia0", "kind": "chardev"}]
"""


from ansible_collections.gpumock.nvidia.plugins.module_utils.render import devnodes
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import _runner, node_args, node_jobs
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner._runner import AnsibleModule


def prepare(module):
    p = module.params
    dev_root = node_args.check_abs_path("dev_root", p["dev_root"])
    mode = devnodes.check_mode("mode", p["mode"])
    uvm_major, caps_major = node_jobs.majors(p)
    node = node_args.build_node(p)
    return node_jobs.devnodes_job(node, dev_root, mode, uvm_major, caps_major, p["fallback"], p["state"])


def main():
    argument_spec = node_args.node_argument_spec()
    argument_spec.update(
        dev_root=dict(type="path", default="/dev"),
        uvm_major=dict(type="int"),
        caps_major=dict(type="int"),
        mode=dict(type="raw", default="0666"),
        fallback=dict(type="str", default="auto", choices=["auto", "files", "never"]),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    _runner.run(AnsibleModule(argument_spec=argument_spec, supports_check_mode=True), prepare)


if __name__ == "__main__":
    main()
