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

import os
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpumock.nvidia.plugins.module_utils import _runner, devnodes, fsstate, node_args


def _report(dev_root, nodes, as_files, check_mode):
    report = []
    for n in nodes:
        path = os.path.join(dev_root, n.name)
        try:
            st = os.lstat(path)
            is_char = stat.S_ISCHR(st.st_mode)
        except OSError:
            st, is_char = None, False
        if check_mode or st is None:
            # What the run would leave: an existing real node is kept, otherwise the planned kind.
            is_char = is_char or not as_files
        report.append(dict(path=path, major=n.major, minor=n.minor, mode="%04o" % n.mode, char_device=is_char))
    return report


class DevnodesJob(_runner.Job):
    """Device nodes, or regular-file stand-ins where mknod is refused (fallback)."""

    def __init__(self, params, dev_root, nodes, as_files):
        self.params = params
        self.dev_root = dev_root
        self.nodes = nodes
        self.as_files = as_files
        self.owner = node_args.owner_ids()
        super(DevnodesJob, self).__init__(dev_root, self.node_entries(), params["state"],
                                          report_actions=True, warn_kept=True)

    def node_entries(self):
        return devnodes.entries(self.nodes, self.as_files, *self.owner)

    def apply(self, module, plan):
        try:
            fsstate.apply(plan)
            return plan
        except fsstate.MknodError as exc:
            if self.params["fallback"] != "auto":
                raise
            # Refused although the probe passed (e.g. a seccomp rule on this directory's device):
            # redo the remainder with stand-ins.
            self.as_files = True
            self.warnings.append("%s Falling back to regular files (fallback=auto)." % exc)
            plan = self.plan(self.node_entries())
            fsstate.apply(plan)
            return plan

    def results(self, plan, check_mode):
        result = super(DevnodesJob, self).results(plan, check_mode)
        present = self.params["state"] == "present"
        result["nodes"] = _report(self.dev_root, self.nodes, self.as_files, check_mode) if present else []
        result["fallback_used"] = self.as_files and present
        return result


def prepare(module):
    p = module.params
    dev_root = node_args.check_abs_path("dev_root", p["dev_root"])
    mode = devnodes.check_mode("mode", p["mode"])
    uvm_major = devnodes.check_major(
        "uvm_major", devnodes.default_uvm_major() if p["uvm_major"] is None else p["uvm_major"])
    caps_major = devnodes.check_major(
        "caps_major", devnodes.default_caps_major() if p["caps_major"] is None else p["caps_major"])
    node = node_args.build_node(p)
    nodes = devnodes.device_nodes(node, uvm_major, caps_major, mode)
    as_files = p["fallback"] == "files"
    warning = None
    if p["state"] == "present" and not as_files and not fsstate.can_mknod():
        if p["fallback"] == "never":
            raise devnodes.DevnodesError(
                "fallback=never: this host refuses mknod (no CAP_MKNOD or a user namespace), "
                "so character devices cannot be created under %s." % dev_root)
        as_files = True
        warning = "mknod is refused here; the device nodes under %s are regular files (fallback=auto)." % dev_root
    job = DevnodesJob(p, dev_root, nodes, as_files)
    if warning:
        job.warnings.append(warning)
    return job


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
