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
        one task both finds containerd and configures it.
    type: str
    choices: [create, skip]
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

import errno
import os
import re
import stat

from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import _runner, node_args, node_jobs
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner._runner import AnsibleModule
from ansible_collections.gpumock.nvidia.plugins.module_utils.render.containerd_config import (
    DEFAULT_CDI_SPEC_DIRS, disable_cdi, enable_cdi, render_path)


def detect_new_file_version(module, binary):
    """Version for a new file: 3 for containerd 2.x, else 2 (also when containerd is missing)."""
    if binary is None:
        return 2
    rc, out, dummy = module.run_command([binary, "--version"])
    match = re.search(r"\bv?(\d+)\.(\d+)", out) if rc == 0 else None
    return 3 if match and int(match.group(1)) >= 2 else 2


class ContainerdJob(_runner.Job):
    """The config file as one entry: its text edited in place, its mode (and, as root, owner) kept.

    ``target`` is the file to write: ``path``, or the file a symlink at ``path`` points to (the
    link stays). The file is the module's to edit whatever it holds (``fsstate.anything``): the
    edit keeps every other line, and only a file this module created holding nothing else is deleted.
    """

    def __init__(self, path, target, st, before, after, backup, result):
        self.path = path
        self.backup = backup
        mode, uid, gid = 0o644, None, None
        if st is not None:
            mode = stat.S_IMODE(st.st_mode)
            if os.geteuid() == 0:
                uid, gid = st.st_uid, st.st_gid
        directory, name = os.path.split(target)
        entry = fsstate.Entry(name, fsstate.FILE, mode=mode, uid=uid, gid=gid, content=after or "",
                              adopt=(fsstate.anything,))
        super(ContainerdJob, self).__init__(directory, [entry], "absent" if after is None else "present",
                                            result=result, diff_file=path, diff_after=after or "",
                                            diff_before=before or "", warn_kept=True, option="path")

    def apply(self, module, plan):
        if self.backup:
            self.result["backup_file"] = module.backup_local(self.path)
        return super(ContainerdJob, self).apply(module, plan)


def read_config(path):
    """``(file to edit, its stat or None, its text or None)`` of the config at ``path``.

    A symlink is followed; anything but a regular file (a directory, a FIFO, a device) is refused
    without being opened; a read error is one sentence naming the option.
    """
    target = node_jobs.file_target(path)
    try:
        st = os.stat(target)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return target, None, None
        raise node_args.PathError("path %s cannot be read: %s." % (path, exc.strerror))
    if not stat.S_ISREG(st.st_mode):
        raise node_args.PathError("path %s is %s, not a containerd config file." % (path, fsstate.kind_words(st)))
    try:
        text = fsstate.read_file(target).decode("utf-8")
    except (IOError, OSError) as exc:
        raise node_args.PathError("path %s cannot be read: %s." % (path, exc.strerror))
    except UnicodeDecodeError as exc:
        raise node_args.PathError("path %s could not be read as UTF-8 text (%s)." % (path, exc))
    return target, st, text


def prepare(module):
    p = module.params
    path = node_jobs.check_file_path("path", p["path"])
    if not p["cdi_spec_dirs"]:
        module.fail_json(msg="cdi_spec_dirs must name at least one directory.")
    for directory in p["cdi_spec_dirs"]:
        node_args.check_abs_path("cdi_spec_dirs", directory)
    target, st, before = read_config(path)
    binary = module.get_bin_path("containerd") if before is None else None
    if before is None and binary is None and p["if_missing"] == "skip":
        return _runner.Job(os.path.dirname(target), [], result=dict(
            path=path, config_version=None, section=None, created=False, removed=False, found=False))
    if p["state"] == "present":
        version = p["new_file_version"]
        if before is None and version is None:
            version = detect_new_file_version(module, binary)
        after, version, section = enable_cdi(before, new_file_version=version,
                                             cdi_spec_dirs=p["cdi_spec_dirs"], path=path)
    else:
        after, version, section = disable_cdi(before, path=path)
    result = dict(
        path=path,
        config_version=version,
        section=render_path(section) if section else None,
        created=before is None and after is not None,
        removed=before is not None and after is None,
        found=before is not None or binary is not None,
    )
    return ContainerdJob(path, target, st, before, after, p["backup"] and before is not None, result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/containerd/config.toml"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            cdi_spec_dirs=dict(type="list", elements="path", default=list(DEFAULT_CDI_SPEC_DIRS)),
            new_file_version=dict(type="int", choices=[2, 3]),
            if_missing=dict(type="str", choices=["create", "skip"], default="create"),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    _runner.run(module, prepare, fail_result=dict(path=module.params["path"]))


if __name__ == "__main__":
    main()
