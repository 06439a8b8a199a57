#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_mock_containerd
short_description: Enable CDI in containerd's config, changing nothing else
version_added: "0.1.0"
description:
  - Sets C(enable_cdi = true) and C(cdi_spec_dirs) in the table of the CRI plugin that the config's
    C(version) uses, so containerd injects CDI devices (C(cdi.k8s.io/*) annotations, the CRI
    C(CDI_devices) field).
  - Version 2 (containerd 1.7, and kind nodes even on containerd 2.x) uses
    C(plugins."io.containerd.grpc.v1.cri"); version 3 (containerd 2.x) uses
    C(plugins."io.containerd.cri.v1.runtime"); version 1 (no C(version) key) uses C(plugins.cri).
  - The file is edited as text, in place. Every other line stays as it was, comments and the lines
    that kind's entrypoint rewrites (C(snapshotter), C(restrict_oom_score_adj)) included; the result
    is re-parsed to prove it is valid TOML, has the CDI keys and keeps every other setting.
    Dotted keys, inline tables, and a CRI table that is absent or only implied by its sub-tables
    are handled.
  - When the file does not exist, a minimal one (containerd's defaults plus the CDI keys) is written.
  - A file that is not valid TOML is reported in one sentence and left as it is.
  - The module does not restart containerd; it reports C(changed) so that a handler can.
  - Needs Python 3.11 or later on the target (C(tomllib)).
author:
  - gpumock maintainers (@gpumock)
options:
  path:
    description: Absolute path of containerd's config file.
    type: path
    default: /etc/containerd/config.toml
  state:
    description:
      - V(present) enables CDI.
      - V(absent) removes the two keys again (containerd's default comes back); a file this module
        created and that holds nothing else is deleted.
    type: str
    choices: [present, absent]
    default: present
  cdi_spec_dirs:
    description: Directories containerd reads CDI specs from.
    type: list
    elements: path
    default: [/etc/cdi, /var/run/cdi]
  new_file_version:
    description:
      - Config version of a file that has to be created.
      - When not set, C(containerd --version) decides (2.x gives 3, older gives 2); without a
        containerd binary it is 2.
    type: int
    choices: [2, 3]
  if_missing:
    description:
      - What to do on a node that has neither the file at O(path) nor a C(containerd) binary.
      - V(create) writes the config as for any missing file; V(skip) changes nothing and returns RV(found=false), so
        one task both finds containerd and configures it; V(fail) fails, changing nothing (with O(state=absent)
        it changes nothing, as V(skip)).
    type: str
    choices: [create, skip, fail]
    default: create
  backup:
    description: Keep a timestamped copy of the file before changing it (returned as RV(backup_file)).
    type: bool
    default: false
extends_documentation_fragment:
  - gpumock.nvidia.attributes
  - gpumock.nvidia.attributes.platform
attributes:
  idempotent:
    support: full
    description: A second run with the same options changes nothing.
notes:
  - Restart containerd after a change (only then); the gpumock.nvidia.gpu_mock role does that, waits
    until it answers and restores the backup when it does not come back.
  - A symlink at O(path) is followed; the file it points to is edited atomically (a temporary file beside it,
    renamed over it) and the link stays. O(path) must be a regular file or missing; anything else fails in one line
    without being opened.
  - Writes are staged at temporary names beside their targets and renamed into place, so a failed run changes
    nothing (or says which changes it made) and a killed one leaves every file old or new; the next run removes
    the temporary files a killed run left. Errors are one line naming the option. See docs/what-the-modules-touch.md in the collection.
seealso:
  - name: containerd CRI plugin config
    description: containerd's documentation of the CRI plugin's C(enable_cdi) and C(cdi_spec_dirs).
    link: https://github.com/containerd/containerd/blob/main/docs/cri/config.md
"""

EXAMPLES = r"""
- name: Enable CDI in containerd
  gpumock.nvidia.nvidia_mock_containerd:
  register: containerd_cdi

- name: Restart containerd when its config changed
  ansible.builtin.systemd_service:
    name: containerd
    state: restarted
  when: containerd_cdi is changed

- name: Write a version 3 config on a node without one
  gpumock.nvidia.nvidia_mock_containerd:
    path: /etc/containerd/config.toml
    new_file_version: 3

- name: Give containerd its CDI default back
  gpumock.nvidia.nvidia_mock_containerd:
    state: absent
"""

RETURN = r"""
path:
  description: The config file.
  returned: always
  type: str
  sample: /etc/containerd/config.toml
config_version:
  description: The config's version (null when the file neither exists nor will exist).
  returned: always
  type: int
  sample: 2
section:
  description: Dotted path of the table that holds the CDI keys.
  returned: always
  type: str
  sample: plugins."io.containerd.grpc.v1.cri"
created:
  description: Whether the file did not exist and was (or in check mode would be) written.
  returned: always
  type: bool
  sample: false
removed:
  description: Whether the file was (or would be) deleted (V(state=absent) on a file this module created).
  returned: always
  type: bool
  sample: false
found:
  description: Whether the node has the config file or a containerd binary (with O(if_missing=skip) nothing was done when not).
  returned: always
  type: bool
  sample: true
backup_file:
  description: The copy made before the change.
  returned: when O(backup=true) and the file changed
  type: str
  sample: /etc/containerd/config.toml.1234.2026-11-23@01:02:03~
"""

from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import _runner, containerd_job
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner._runner import AnsibleModule


def main():
    spec = containerd_job.containerd_argument_spec()
    spec.update(state=dict(type="str", choices=["present", "absent"], default="present"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    _runner.run(module, lambda m: containerd_job.containerd_job(m, m.params, m.params["state"]),
                fail_result=dict(path=module.params["path"]))


if __name__ == "__main__":
    main()
