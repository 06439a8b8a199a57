# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""What the node module's action plugin finds out on the controller before the module runs:
what the node is, and the mock NVML built for its architecture.

The look is one shell command through the connection alone, as ``raw`` runs it, so it works on a
node without Python. The mock NVML and nvidia-mock-ctl come from the collection's
nvml_src/nvml_build.py (``select``), imported from the ``nvml_source`` directory into the calling
process: a node that is already right costs no process of its own for it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os
import shlex
import sys

# uname -m picks the mock NVML; python3 runs the modules; gcc and make let the node build it.
LOOK_COMMAND = (
    'echo "machine=$(uname -m)"; echo "python3=$(command -v python3)"; '
    'if command -v gcc >/dev/null && command -v make >/dev/null; then echo build=yes; else echo build=no; fi'
)


def look_command(launcher=None):
    """LOOK_COMMAND, and with ``launcher`` (a path on the node) the sha256 of that file ("" when none)."""
    if launcher is None:
        return LOOK_COMMAND
    return LOOK_COMMAND + '; echo "launcher=$(sha256sum < %s 2>/dev/null)"' % shlex.quote(launcher)


class NvmlSelectError(Exception):
    """nvml_build.py could not be loaded, or a build of the sources failed; the message says which."""


def parse_look(stdout):
    """{"machine": uname -m, "python3": its path or "", "build": bool} from look_command's output,
    with "launcher": its sha256 or "" when the command looked at one."""
    found = {}
    for line in stdout.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep:
            found[name] = value.strip()
    look = dict(machine=found.get("machine", ""), python3=found.get("python3", ""), build=found.get("build") == "yes")
    if "launcher" in found:
        look["launcher"] = (found["launcher"].split() or [""])[0]
    return look


def _nvml_build(source):
    """nvml_src/nvml_build.py of ``source``, imported (it imports pysources beside it)."""
    path = os.path.join(source, "nvml_build.py")
    if not os.path.isfile(path):
        raise NvmlSelectError("nvml_source %s has no nvml_build.py: it must be the collection's nvml_src directory."
                              % source)
    spec = importlib.util.spec_from_file_location("gpumock_nvml_build", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, source)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(source)
    return module


def nvml_select(source, cache_dir, arch, mode):
    """nvml_build's select for one architecture: {"hash", "pack", "architectures": {arch: {library,
    mock_ctl, origin} or {problem}}} (no entry in mode target; "pack" when the node is to build)."""
    nvml_build = _nvml_build(source)
    try:
        return nvml_build.select(os.path.dirname(os.path.abspath(source)), os.path.abspath(cache_dir), [arch], mode)
    except nvml_build.BuildError as exc:
        raise NvmlSelectError(str(exc))
