# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""Render the mock NVML configuration file (format: docs/nvml-config.md) from a profiles Node.

Standard library only: this runs on targets, shipped with the modules that write
``<driver root>/etc/nvidia-mock/nvml.conf``. Which sections and keys the file has, and each
value's syntax and limits, come from nvml_schema, from which the C parser is generated too; the
library's built-in default is this renderer's output for the default profile
(nvml_src/gen_default.py), so the Python profile stays the single source of truth.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gpumock.nvidia.plugins.module_utils import nvml_schema
from ansible_collections.gpumock.nvidia.plugins.module_utils.nvml_schema import (
    BOARD, BOOL, CHOICE, GPU, MIG_INSTANCE, MIG_PROFILE, STRING, SYSTEM, UINT)

VISIBILITY_MODES = SYSTEM.key("visibility").choices
MAX_GPUS = GPU.max_count
MAX_UINT = (1 << 64) - 1


class NvmlConfigError(ValueError):
    """A node or option that cannot be written as an NVML config; the message names it."""


def _value(section, key, value):
    """One value in the file's syntax, refused here if the C parser would refuse it."""
    where = "NVML config value for %r in [%s]" % (key.name, section.name)
    if key.kind == BOOL:
        return "1" if value else "0"
    if key.kind == UINT:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UINT:
            raise NvmlConfigError("%s must be an integer from 0 to %d, got %r." % (where, MAX_UINT, value))
        return ("0x%08X" % value) if key.hexadecimal else str(value)
    text = str(value)
    if key.kind == CHOICE and text not in key.choices:
        raise NvmlConfigError("%s must be one of %s, got %r." % (where, ", ".join(key.choices), text))
    limit = key.max_len if key.kind == STRING else nvml_schema.MAX_STRING
    if not text or "\n" in text or "\r" in text or len(text) > limit or text != text.strip():
        raise NvmlConfigError(
            "%s must be one line of 1 to %d characters without leading or trailing spaces, "
            "got %r." % (where, limit, text))
    return text


def _section(lines, section, obj, given=None):
    """Append ``[name]`` and one line per key: from ``given`` or the key's attribute of ``obj``."""
    lines.append("")
    lines.append("[%s]" % section.name)
    for key in section.keys:
        if given is not None and key.name in given:
            value = given[key.name]
        else:
            attr = key.attr or key.name
            try:
                value = getattr(obj, attr)
            except AttributeError:
                raise NvmlConfigError("%s has no attribute %r needed by the NVML config."
                                      % (type(obj).__name__, attr))
        lines.append("%s = %s" % (key.name, _value(section, key, value)))


def render(node, visibility="devnodes", dev_root="/dev"):
    """Return the text of nvml.conf describing ``node`` (a profiles.Node).

    ``visibility`` is "devnodes" (enumerate only GPUs whose <dev_root>/nvidia<minor> exists, as
    real NVML does in a container) or "all"; ``dev_root`` is where those device nodes live.
    """
    if visibility not in VISIBILITY_MODES:
        raise NvmlConfigError("visibility must be one of %s, got %r."
                              % (", ".join(VISIBILITY_MODES), visibility))
    if not isinstance(dev_root, str) or not dev_root.startswith("/"):
        raise NvmlConfigError("dev_root must be an absolute path, got %r." % (dev_root,))
    gpus = list(node.gpus)
    if not 1 <= len(gpus) <= MAX_GPUS:
        raise NvmlConfigError("gpu_count must be between 1 and %d for the mock NVML, got %d."
                              % (MAX_GPUS, len(gpus)))
    if len(node.board.mig_profiles) > MIG_PROFILE.max_count:
        raise NvmlConfigError("a board may have at most %d MIG profiles for the mock NVML, got %d."
                              % (MIG_PROFILE.max_count, len(node.board.mig_profiles)))
    lines = [
        "# Mock NVML configuration for node %s (profile %s)." % (node.node_id, node.profile),
        "# Written by gpumock.nvidia; format: docs/nvml-config.md.",
        "format = %d" % nvml_schema.FORMAT_VERSION,
    ]
    _section(lines, SYSTEM, node, given={"visibility": visibility, "dev_root": dev_root})
    _section(lines, BOARD, node.board)
    for profile in node.board.mig_profiles:
        _section(lines, MIG_PROFILE, profile)
    for gpu in gpus:
        _section(lines, GPU, gpu)
    for gpu in gpus:
        for instance in gpu.mig_instances:
            _section(lines, MIG_INSTANCE, instance)
    return "\n".join(lines) + "\n"
