# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: node_problem
short_description: What is wrong with a mock node's options, in one sentence
version_added: "0.2.0"
description:
  - Checks the options that name a mock node (O(_input)) the way the node modules do, on the
    controller, without running a module.
  - Returns an empty string when the node can be built, else the modules' one-sentence error with
    the option's name prefixed by O(prefix), so that a role can name its own variable.
options:
  _input:
    description:
      - The node options, as the node modules take them
        (C(profile), C(gpu_count), C(node_id), C(mig_enabled), C(driver_version)), and any other option of
        M(gpumock.nvidia.nvidia_mock_node) (C(cdi_path), C(features_file), C(mig_strategy) and so on), which are
        checked as that module checks them before it looks at the node.
      - An omitted or null option takes the modules' default.
    type: dict
    required: true
  prefix:
    description: Put before an option's name in the sentence (for example C(gpu_mock_)).
    type: str
    default: ""
author:
  - gpumock.nvidia contributors
"""

EXAMPLES = r"""
- name: Stop before any node changes when the GPU options are wrong
  ansible.builtin.assert:
    that: gpumock_problem | length == 0
    fail_msg: "{{ gpumock_problem }}"
    quiet: true
  vars:
    gpumock_problem: >-
      {{ {'profile': 'dgxh100', 'gpu_count': 200} | gpumock.nvidia.node_problem(prefix='gpu_mock_') }}
  # fails with: gpu_mock_gpu_count must be an integer from 1 to 128, got 200.
"""

RETURN = r"""
_value:
  description: The problem in one sentence, or an empty string.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import node_args, node_jobs


def node_problem(options, prefix=""):
    try:
        return node_jobs.node_problem(options, prefix)
    except node_args.NodeOptionsError as exc:
        raise AnsibleFilterError("node_problem: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"node_problem": node_problem}
