#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_mock_node_labels
short_description: Compute the GPU feature discovery labels of a mock NVIDIA node
version_added: "0.1.0"
description:
  - Computes the Kubernetes node labels NVIDIA's GPU feature discovery (GFD) would set on a node
    with these mock GPUs (C(nvidia.com/gpu.count), C(gpu.product), C(gpu.memory), C(gpu.family),
    C(gpu.compute.major)/C(minor), C(cuda.driver.major)/C(minor)/C(rev) and their
    C(cuda.driver-version.*) forms, C(cuda.runtime.*), C(mig.capable), C(mig.strategy)), plus
    C(nvidia.com/gpu.present), which the GPU Operator's feature rule sets.
  - The values come from the same machine profile the mock NVML is configured from, so they equal
    what GFD would read from NVML on the node.
  - Writes them as a node-feature-discovery local feature file (C(key=value) lines) at O(path),
    atomically, mode 0644, so node-feature-discovery publishes them and tests can read them without
    a cluster. Returns them as a dictionary for C(kubectl label).
  - Labels GFD derives from PCI sysfs or DMI (C(gpu.mode), C(gpu.machine)) and its timestamp are not
    produced.
author:
  - gpumock maintainers (@gpumock)
options:
  node_id:
    description:
      - Identity of the node. Labels do not depend on it; it is accepted so the module takes the same node
        options as the other node modules.
      - Defaults to the content of C(/etc/machine-id), else the host name.
    type: str
  mig_strategy:
    description:
      - The MIG strategy the device plugin and GFD run with. V(single) and V(mixed) add
        C(nvidia.com/mig.strategy); V(none) leaves it out, as GFD does.
      - With O(mig_enabled=true) the MIG devices of O(mig_layout) are labelled as GFD labels them. V(single)
        describes them as the node's C(nvidia.com/gpu.*) and needs every GPU in MIG mode with MIG devices of
        one profile; V(mixed) adds C(nvidia.com/mig-<profile>.*) per profile beside the full GPUs' labels.
      - V(single) is the GPU Operator's default.
    type: str
    default: single
    choices: [none, single, mixed]
  path:
    description:
      - Absolute path of the feature file. Parent directories are created.
      - node-feature-discovery reads every file in C(/etc/kubernetes/node-feature-discovery/features.d/);
        GFD's own file there is named C(gfd), so the default name does not collide with a real GFD.
    type: path
    default: /etc/kubernetes/node-feature-discovery/features.d/gpumock
  state:
    description: V(present) writes the feature file; V(absent) removes it (the labels are still returned).
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - gpumock.nvidia.node
  - gpumock.nvidia.attributes
  - gpumock.nvidia.attributes.platform
notes:
  - The feature file is replaced or removed only when it carries the collection's marker line (every file this
    module writes does); another file there makes the run fail, in check mode too, and is left in place by
    O(state=absent). A symlink at O(path) is followed, and the file it points to is replaced atomically; the link
    stays.
  - Writes are staged at temporary names beside their targets and renamed into place, so a failed run changes
    nothing (or says which changes it made) and a killed one leaves every file old or new; the next run removes
    the temporary files a killed run left. Errors are one line naming the option. See docs/what-the-modules-touch.md in the collection.
seealso:
  - module: gpumock.nvidia.nvidia_cdi_spec
  - name: GPU feature discovery
    description: NVIDIA's labeller, whose label set this module reproduces.
    link: https://github.com/NVIDIA/k8s-device-plugin
"""

EXAMPLES = r"""
- name: Labels of a DGX H100 node, written where node-feature-discovery reads them
  gpumock.nvidia.nvidia_mock_node_labels:
    profile: dgxh100
  register: gpu_labels

- name: Put them on the Kubernetes node (from the controller)
  ansible.builtin.command:
    argv: "{{ ['kubectl', 'label', 'node', inventory_hostname, '--overwrite']
              + (gpu_labels.labels.keys() | zip(gpu_labels.labels.values()) | map('join', '=') | list) }}"
  delegate_to: localhost
  changed_when: true

- name: Labels of two T4 GPUs, into a scratch file, without the MIG strategy label
  gpumock.nvidia.nvidia_mock_node_labels:
    profile: t4
    gpu_count: 2
    mig_strategy: none
    path: /tmp/gpumock-example/features.d/gpumock
"""

RETURN = r"""
labels:
  description: The node labels, every value a string.
  returned: always
  type: dict
  sample:
    nvidia.com/gpu.present: "true"
    nvidia.com/gpu.count: "8"
    nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3
    nvidia.com/gpu.memory: "81559"
    nvidia.com/gpu.family: hopper
    nvidia.com/gpu.compute.major: "9"
    nvidia.com/gpu.compute.minor: "0"
    nvidia.com/cuda.driver.major: "550"
    nvidia.com/cuda.driver.minor: "54"
    nvidia.com/cuda.driver.rev: "15"
    nvidia.com/mig.capable: "true"
    nvidia.com/mig.strategy: single
path:
  description: The feature file.
  returned: always
  type: str
  sample: /etc/kubernetes/node-feature-discovery/features.d/gpumock
"""


from ansible_collections.gpumock.nvidia.plugins.module_utils.render import labels
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import _runner, node_args, node_jobs
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner._runner import AnsibleModule


def prepare(module):
    p = module.params
    path = node_args.check_file_path("path", p["path"])
    node = node_args.build_node(p, driver_version=p["driver_version"])
    return node_jobs.labels_job(labels.node_labels(node, mig_strategy=p["mig_strategy"]), path, p["state"])


def main():
    argument_spec = node_args.node_argument_spec()
    argument_spec.update(
        mig_strategy=dict(type="str", default="single", choices=list(labels.MIG_STRATEGIES)),
        path=dict(type="path", default=labels.DEFAULT_FEATURES_FILE),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    _runner.run(AnsibleModule(argument_spec=argument_spec, supports_check_mode=True), prepare)


if __name__ == "__main__":
    main()
