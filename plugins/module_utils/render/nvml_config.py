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

import re

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import nvml_schema
from ansible_collections.gpumock.nvidia.plugins.module_utils.facts.nvml_schema import (
    BOARD, BOOL, CHOICE, GPU, MIG_INSTANCE, MIG_PROFILE, STRING, SYSTEM, UINT)

VISIBILITY_MODES = SYSTEM.key("visibility").choices
MAX_GPUS = GPU.max_count


class NvmlConfigError(ValueError):
    """A node or option that cannot be written as an NVML config; the message names it."""


def _value(section, key, value):
    """One value in the file's syntax, refused here if the C parser would refuse it."""
    where = "NVML config value for %r in [%s]" % (key.name, section.name)
    if key.kind == BOOL:
        return "1" if value else "0"
    if key.kind == UINT:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= key.maximum:
            raise NvmlConfigError("%s must be an integer from 0 to %d, got %r." % (where, key.maximum, value))
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
    text = "\n".join(lines) + "\n"
    refused = problem(text)
    if refused:
        raise NvmlConfigError("The mock NVML would refuse the NVML config of node %s: %s."
                              % (_shown(node.node_id.encode("utf-8", "replace")), refused))
    return text


# The C parser's rules (nvml_src/src/config_parse.c), in the same order and with the same
# messages, from the same schema: render() checks what it wrote with them, so a file the modules
# write is never one the library refuses. tests/nvml/test_config_twin.py holds the two together.

_SPACE = b" \t\r"
_DECIMAL = re.compile(br"[0-9]+")
_HEX = re.compile(br"[0-9A-Fa-f]+")
_BUS_ID = re.compile(br"([0-9A-Fa-f]{1,8}):([0-9A-Fa-f]{1,2}):([0-9A-Fa-f]{1,2})\.([0-7])")
_SHOWN = 64                     # bytes of a value a message shows
_MIG_SLICES = 8                 # memory slices of a GPU (placements)
_SECTIONS = dict((section.name.encode("ascii"), section) for section in nvml_schema.SECTIONS)
_KEYS = dict((section.name, dict((key.name.encode("ascii"), key) for key in section.keys))
             for section in nvml_schema.SECTIONS)


class _Refused(Exception):
    """The parser's message, without its line number."""


def _shown(data):
    return data[:_SHOWN].decode("utf-8", "replace")


def _parse_uint(val):
    digits, base, pattern = val, 10, _DECIMAL
    if len(val) > 2 and val[:1] == b"0" and val[1:2] in (b"x", b"X"):
        digits, base, pattern = val[2:], 16, _HEX
    if not pattern.fullmatch(digits):
        return None
    value = int(digits, base)
    return value if value <= nvml_schema.MAX_UINT64 else None


def _store(section, key, val):
    """The value of ``key = val`` in ``section``, as the parser converts it; _Refused if it cannot."""
    where = "[%s] %s:" % (section.name, key.name)
    if key.kind == UINT:
        value = _parse_uint(val)
        if value is None:
            raise _Refused('%s expected an unsigned integer, got "%s"' % (where, _shown(val)))
        if value > key.maximum:
            raise _Refused("%s expected an unsigned integer up to %d, got %d" % (where, key.maximum, value))
        return value
    if key.kind == BOOL:
        if val not in (b"0", b"1"):
            raise _Refused('%s expected 0 or 1, got "%s"' % (where, _shown(val)))
        return val == b"1"
    if key.kind == CHOICE:
        for position, choice in enumerate(key.choices):
            if val == choice.encode("ascii"):
                return position
        raise _Refused('%s expected %s, got "%s"' % (where, " or ".join(key.choices), _shown(val)))
    if key.kind == nvml_schema.BUS_ID:
        match = _BUS_ID.fullmatch(val)
        if match is None or int(match.group(3), 16) > 0x1F:
            raise _Refused('%s expected a PCI bus id like 00000000:07:00.0, got "%s"' % (where, _shown(val)))
        return tuple(int(part, 16) for part in match.groups())
    if not 0 < len(val) <= key.max_len:
        raise _Refused("%s expected a string of 1 to %d characters, got %d" % (where, key.max_len, len(val)))
    return val


def _show(key, value):
    if key.kind == STRING:
        return _shown(value)
    if key.kind == nvml_schema.BUS_ID:
        return "%08X:%02X:%02X.%X" % value
    return "%d" % value


class _Parse:
    """One pass over the file, as mock_config_parse makes it."""

    def __init__(self):
        self.records = dict((section.name, []) for section in nvml_schema.SECTIONS)
        self.section = None     # the open section; its record is the last of its list
        self.seen = set()

    def end_section(self):
        section = self.section
        if section is None:
            return
        record = self.records[section.name][-1]
        for key in section.keys:
            if key.default is None and key.name not in self.seen:
                raise _Refused("[%s] is missing the required key %s" % (section.name, key.name))
        for name, limit in section.not_above:
            if record[name] > record[limit]:
                raise _Refused("[%s] %s %d is above %s %d" % (section.name, name, record[name], limit, record[limit]))
        if section is GPU:
            position = len(self.records["gpu"]) - 1
            if record["index"] != position:
                raise _Refused("[gpu] index is %d but this is GPU %d of the file; indexes must be 0, 1, ... "
                               "in file order" % (record["index"], position))
            if record["minor"] >= GPU.max_count:
                raise _Refused("[gpu] minor %d is out of range 0..%d" % (record["minor"], GPU.max_count - 1))

    def open_section(self, name):
        self.end_section()
        section = _SECTIONS.get(name)
        if section is None:
            raise _Refused("unknown section [%s]" % _shown(name))
        records = self.records[section.name]
        if len(records) >= section.max_count:
            if section.max_count == 1:
                raise _Refused("[%s] appears twice" % section.name)
            raise _Refused("more than %d [%s] sections" % (section.max_count, section.name))
        records.append(dict((key.name, _store(section, key, key.default.encode("ascii")))
                            for key in section.keys if key.default is not None))
        self.section = section
        self.seen = set()

    def set_value(self, name, val):
        section = self.section
        if section is None:
            raise _Refused("%s: every key must be inside a section such as [system]" % _shown(name))
        key = _KEYS[section.name].get(name)
        if key is None:
            raise _Refused("[%s] has no key %s" % (section.name, _shown(name)))
        if key.name in self.seen:
            raise _Refused("[%s] %s is given twice" % (section.name, key.name))
        self.seen.add(key.name)
        self.records[section.name][-1][key.name] = _store(section, key, val)

    def check_file(self):
        for section in nvml_schema.SECTIONS:
            if section.required and not self.records[section.name]:
                if section.max_count == 1:
                    raise _Refused("the [%s] section is missing" % section.name)
                raise _Refused("there is no [%s] section" % section.name)
        for section in nvml_schema.SECTIONS:
            records = self.records[section.name]
            for name in section.unique:
                first = {}      # value: the first record with it (the one the parser names)
                for i, record in enumerate(records):
                    j = first.setdefault(record[name], i)
                    if j != i:
                        raise _Refused("[%s] %d reuses %s %s of [%s] %d" % (
                            section.name, i, name, _show(section.key(name), record[name]), section.name, j))
        self.check_mig_instances()

    def check_mig_instances(self):
        gpus, profiles = self.records["gpu"], self.records["mig_profile"]
        used = {}
        for i, instance in enumerate(self.records["mig_instance"]):
            gpu, start = instance["gpu"], instance["start"]
            if gpu >= len(gpus):
                raise _Refused("[mig_instance] %d: gpu %d is not a [gpu] of the file" % (i, gpu))
            if not gpus[gpu]["mig_mode"]:
                raise _Refused("[mig_instance] %d: GPU %d is not in MIG mode" % (i, gpu))
            profile = next((p for p in profiles if p["profile_id"] == instance["profile_id"]), None)
            if profile is None:
                raise _Refused("[mig_instance] %d: no [mig_profile] has profile_id %d" % (i, instance["profile_id"]))
            size = profile["placement_size"]
            if start >= _MIG_SLICES or not 0 < size <= _MIG_SLICES or size & (size - 1) \
                    or start + size > _MIG_SLICES or not profile["placement_starts"] >> start & 1 or start % size:
                raise _Refused("[mig_instance] %d: %s cannot start at memory slice %d"
                               % (i, _shown(profile["name"]), start))
            span = ((1 << size) - 1) << start
            if used.get(gpu, 0) & span:
                raise _Refused("[mig_instance] %d: %s at memory slice %d overlaps another instance of GPU %d"
                               % (i, _shown(profile["name"]), start, gpu))
            used[gpu] = used.get(gpu, 0) | span


def problem(text):
    """What the mock NVML would say refusing this config text ("line N: ..."); "" if it takes it.

    The twin of the C parser (mock_config_parse), checking the same rules of nvml_schema.
    """
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if len(data) > nvml_schema.MAX_CONFIG_BYTES:
        return "it is larger than %d bytes" % nvml_schema.MAX_CONFIG_BYTES
    parse = _Parse()
    line = 0
    have_format = False
    try:
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()         # the end of the last line, not a line
        for raw in lines:
            line += 1
            if len(raw) > nvml_schema.MAX_LINE:
                raise _Refused("line is longer than %d characters" % nvml_schema.MAX_LINE)
            if b"\0" in raw:
                raise _Refused("the line contains a NUL byte")
            body = raw.strip(_SPACE)
            if not body or body.startswith(b"#"):
                continue
            if body.startswith(b"["):
                if not body.endswith(b"]") or len(body) < 3:
                    raise _Refused("a section header must look like [name]")
                if not have_format:
                    raise _Refused("the file must start with format = %d" % nvml_schema.FORMAT_VERSION)
                parse.open_section(body[1:-1])
                continue
            name, eq, val = body.partition(b"=")
            if not eq:
                raise _Refused("expected key = value, [section], a comment or a blank line")
            name, val = name.rstrip(_SPACE), val.lstrip(_SPACE)
            if not name:
                raise _Refused("a key is missing before =")
            if not have_format:
                if name != b"format":
                    raise _Refused("the file must start with format = %d" % nvml_schema.FORMAT_VERSION)
                if _parse_uint(val) != nvml_schema.FORMAT_VERSION:
                    raise _Refused("format %s is not supported by this library (it reads %d)"
                                   % (val[:32].decode("utf-8", "replace"), nvml_schema.FORMAT_VERSION))
                have_format = True
                continue
            parse.set_value(name, val)
        parse.end_section()
        line += 1
        if not have_format:
            raise _Refused("the file must start with format = %d" % nvml_schema.FORMAT_VERSION)
        parse.check_file()
    except _Refused as exc:
        return "line %d: %s" % (line, exc)
    return ""
