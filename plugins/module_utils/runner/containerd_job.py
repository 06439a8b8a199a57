# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""containerd's config with CDI set (or unset) as a runner job (``_runner.Job``).

nvidia_mock_containerd runs this job alone; nvidia_mock_node runs it as the first part of a node
(its options ``containerd_config``, ``containerd_<option>``), so that a node that is already right
costs one module run.

Standard library only (shipped to targets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import stat

from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.render.containerd_config import (
    DEFAULT_CDI_SPEC_DIRS, disable_cdi, enable_cdi, render_path)
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import _runner, node_args

DEFAULT_PATH = "/etc/containerd/config.toml"


def containerd_argument_spec():
    """The options of the config edit, as nvidia_mock_containerd names them (nvidia_mock_node's
    names: NODE_OPTION_NAMES); the state comes from the module."""
    return dict(
        path=dict(type="path", default=DEFAULT_PATH),
        cdi_spec_dirs=dict(type="list", elements="path", default=list(DEFAULT_CDI_SPEC_DIRS)),
        new_file_version=dict(type="int", choices=[2, 3]),
        if_missing=dict(type="str", choices=["create", "skip", "fail"], default="create"),
        backup=dict(type="bool", default=False),
    )


def _node_option_name(name):
    return "containerd_config" if name == "path" else "containerd_" + name


# nvidia_mock_node's name of each option: containerd_<option>, the path as containerd_config.
NODE_OPTION_NAMES = dict((name, _node_option_name(name)) for name in containerd_argument_spec())


def node_argument_spec():
    """These options as nvidia_mock_node has them (NODE_OPTION_NAMES); containerd_config has no
    default there: unset, containerd is left alone."""
    spec = {}
    for name, entry in containerd_argument_spec().items():
        entry = dict(entry)
        if name == "path":
            del entry["default"]
        spec[NODE_OPTION_NAMES[name]] = entry
    return spec


def node_options(params):
    """The options (containerd_argument_spec names) within nvidia_mock_node's checked ``params``;
    None when containerd_config is unset."""
    if params.get("containerd_config") is None:
        return None
    return dict((name, params[option]) for name, option in NODE_OPTION_NAMES.items())


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

    def __init__(self, path, target, st, before, after, backup, result, option):
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
                                            diff_before=before or "", warn_kept=True, option=option)

    def apply(self, module, plan):
        if self.backup:
            self.result["backup_file"] = module.backup_local(self.path)
        return super(ContainerdJob, self).apply(module, plan)

    def results(self, plan, check_mode):
        result = super(ContainerdJob, self).results(plan, check_mode)
        # A part of nvidia_mock_node says itself whether it changed (a role restarts containerd on it).
        result["changed"] = plan.changed
        return result


def _named(names, name):
    """How an error names the option ``name``: as itself, or as ``names`` maps it (NODE_OPTION_NAMES)."""
    return name if names is None else names[name]


def read_config(path, option_name="path"):
    """``(file to edit, its stat or None, its text or None)`` of the config at ``path``.

    A symlink is followed; anything but a regular file (a directory, a FIFO, a device) is refused
    without being opened; a read error is one sentence naming the option.
    """
    target = node_args.file_target(path)
    try:
        st = os.stat(target)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return target, None, None
        raise node_args.PathError("%s %s cannot be read: %s." % (option_name, path, exc.strerror))
    if not stat.S_ISREG(st.st_mode):
        raise node_args.PathError("%s %s is %s, not a containerd config file." % (option_name, path, fsstate.kind_words(st)))
    try:
        text = fsstate.read_file(target).decode("utf-8")
    except (IOError, OSError) as exc:
        raise node_args.PathError("%s %s cannot be read: %s." % (option_name, path, exc.strerror))
    except UnicodeDecodeError as exc:
        raise node_args.PathError("%s %s could not be read as UTF-8 text (%s)." % (option_name, path, exc))
    return target, st, text


def check_options(options, names=None):
    """The config's path, once the options that need no disk are checked; else PathError naming the option."""
    path = node_args.check_file_path(_named(names, "path"), options["path"])
    if not options["cdi_spec_dirs"]:
        raise node_args.PathError("%s must name at least one directory." % _named(names, "cdi_spec_dirs"))
    for directory in options["cdi_spec_dirs"]:
        node_args.check_abs_path(_named(names, "cdi_spec_dirs"), directory)
    return path


def containerd_job(module, options, state, names=None):
    """The job that sets (``state`` present) or unsets CDI in the config ``options`` describe
    (``containerd_argument_spec``); ``names``: how errors name the options (NODE_OPTION_NAMES)."""
    path_option = _named(names, "path")
    path = check_options(options, names)
    target, st, before = read_config(path, path_option)
    binary = module.get_bin_path("containerd") if before is None else None
    if before is None and binary is None and options["if_missing"] == "fail" and state == "present":
        raise node_args.PathError("%s: the node has neither %s nor a containerd binary (if_missing is fail)."
                                  % (path_option, path))
    if before is None and binary is None and options["if_missing"] != "create":
        return _runner.Job(os.path.dirname(target), [], option=path_option, result=dict(
            path=path, config_version=None, section=None, created=False, removed=False, found=False, changed=False))
    if state == "present":
        version = options["new_file_version"]
        if before is None and version is None:
            version = detect_new_file_version(module, binary)
        after, version, section = enable_cdi(before, new_file_version=version,
                                             cdi_spec_dirs=options["cdi_spec_dirs"], path=path)
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
    return ContainerdJob(path, target, st, before, after, options["backup"] and before is not None, result, path_option)
