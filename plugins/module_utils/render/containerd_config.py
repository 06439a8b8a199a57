# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""Enable CDI in a containerd config file by editing its text in place.

The standard library reads TOML (tomllib) but cannot write it, and re-serialising containerd's
config would lose comments, ordering and the lines that other tools (kind's entrypoint, kubespray,
the GPU Operator) own. So the file is edited as text: a small scanner finds where every key of
the document is defined and where each value starts and ends; the edit replaces or inserts only the
CDI keys; tomllib then re-parses the result to prove that it is valid TOML, that the CDI keys have
the wanted values and that every other setting is exactly what it was.

Standard library only (tomllib: Python 3.11+): shipped to targets with the module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    import tomllib
except ImportError:  # pragma: no cover - targets have Python 3.11+
    tomllib = None

DEFAULT_CDI_SPEC_DIRS = ("/etc/cdi", "/var/run/cdi")

# The table that holds the CRI plugin's enable_cdi / cdi_spec_dirs, by config version.
# Version 1 (containerd 1.x's legacy layout) names plugins by their short id.
CRI_SECTIONS = {
    1: ("plugins", "cri"),
    2: ("plugins", "io.containerd.grpc.v1.cri"),
    3: ("plugins", "io.containerd.cri.v1.runtime"),
}

CREATED_HEADER = ("# containerd config written by gpumock.nvidia.nvidia_mock_containerd: "
                  "containerd's defaults plus CDI.\n")

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}$")
_TIME_START = re.compile(r" \d{2}:")


class ContainerdConfigError(ValueError):
    """The config cannot be handled; the message is one sentence naming the file or option."""


# ------------------------------------------------------------------------------------------------
# Scanner: where is each key defined, where does each value start and end.


class Entry:
    """One `key = value` of the document or of an inline table."""

    def __init__(self, path, start, value_start, value_end, inline=None):
        self.path = path                # full key path (table path + dotted key), decoded
        self.start = start              # offset of the key's first character
        self.value_start = value_start
        self.value_end = value_end
        self.inline = inline            # InlineTable when the value is an inline table


class InlineTable:
    def __init__(self, open_at, close_at, entries):
        self.open_at = open_at          # offset of "{"
        self.close_at = close_at        # offset of "}"
        self.entries = entries


class Table:
    """A `[header]` (or the root, header None) and the statements of its body."""

    def __init__(self, path, is_array, header_start, header_end):
        self.path = path
        self.is_array = is_array
        self.header_start = header_start
        self.header_end = header_end    # offset just past the header line's newline
        self.entries = []
        self.body_end = header_end      # offset just past the last statement of the body


class _Scanner:
    def __init__(self, text):
        self.text = text
        self.n = len(text)

    def skip_ws(self, i):
        while i < self.n and self.text[i] in " \t":
            i += 1
        return i

    def skip_ws_comment_newlines(self, i):
        while i < self.n:
            c = self.text[i]
            if c in " \t\r\n":
                i += 1
            elif c == "#":
                i = self.line_end(i)
            else:
                break
        return i

    def line_end(self, i):
        j = self.text.find("\n", i)
        return self.n if j < 0 else j

    def after_line(self, i):
        """Offset just past the newline that ends the line holding offset i."""
        j = self.text.find("\n", i)
        return self.n if j < 0 else j + 1

    # keys -------------------------------------------------------------------------------------

    def simple_key(self, i):
        c = self.text[i]
        if c == '"':
            end = self.basic_string(i)
            return tomllib.loads("k = " + self.text[i:end])["k"], end
        if c == "'":
            end = self.text.index("'", i + 1) + 1
            return self.text[i + 1:end - 1], end
        m = _BARE_KEY.match(self.text, i)
        return m.group(0), m.end()

    def dotted_key(self, i):
        parts = []
        while True:
            i = self.skip_ws(i)
            part, i = self.simple_key(i)
            parts.append(part)
            i = self.skip_ws(i)
            if i < self.n and self.text[i] == ".":
                i += 1
                continue
            return parts, i

    # values -----------------------------------------------------------------------------------

    def basic_string(self, i):
        i += 1
        while self.text[i] != '"':
            i += 2 if self.text[i] == "\\" else 1
        return i + 1

    def multiline_string(self, i, quote):
        delimiter = quote * 3
        i += 3
        while True:
            if quote == '"' and self.text[i] == "\\":
                i += 2
                continue
            if self.text.startswith(delimiter, i):
                run = 3
                while run < 5 and i + run < self.n and self.text[i + run] == quote:
                    run += 1
                return i + run
            i += 1

    def value(self, i, path):
        """Return (end offset, InlineTable or None) for the value starting at i."""
        text = self.text
        if text.startswith('"""', i):
            return self.multiline_string(i, '"'), None
        if text.startswith("'''", i):
            return self.multiline_string(i, "'"), None
        c = text[i]
        if c == '"':
            return self.basic_string(i), None
        if c == "'":
            return text.index("'", i + 1) + 1, None
        if c == "[":
            return self.array(i, path), None
        if c == "{":
            return self.inline_table(i, path)
        j = i
        while j < self.n and text[j] not in ",]}# \t\r\n":
            j += 1
        # A local date-time may separate date and time with a space.
        if _DATE_PREFIX.match(text[i:j]) and _TIME_START.match(text, j):
            j += 1
            while j < self.n and text[j] not in ",]}# \t\r\n":
                j += 1
        return j, None

    def array(self, i, path):
        i += 1
        while True:
            i = self.skip_ws_comment_newlines(i)
            if self.text[i] == "]":
                return i + 1
            i = self.value(i, path)[0]
            i = self.skip_ws_comment_newlines(i)
            if self.text[i] == ",":
                i += 1

    def inline_table(self, i, path):
        open_at = i
        entries = []
        i += 1
        while True:
            i = self.skip_ws_comment_newlines(i)
            if self.text[i] == "}":
                return i + 1, InlineTable(open_at, i, entries)
            key_start = i
            parts, i = self.dotted_key(i)
            i = self.skip_ws(i)  # at "="
            value_start = self.skip_ws(i + 1)
            value_end, inline = self.value(value_start, path + parts)
            entries.append(Entry(path + parts, key_start, value_start, value_end, inline))
            i = self.skip_ws_comment_newlines(value_end)
            if self.text[i] == ",":
                i += 1

    # document ---------------------------------------------------------------------------------

    def document(self):
        root = Table([], False, 0, 0)
        tables = [root]
        current = root
        i = 0
        while True:
            i = self.skip_ws_comment_newlines(i)
            if i >= self.n:
                return tables
            line_start = self.text.rfind("\n", 0, i) + 1
            if self.text[i] == "[":
                is_array = self.text.startswith("[[", i)
                parts, j = self.dotted_key(i + (2 if is_array else 1))
                current = Table(parts, is_array, line_start, self.after_line(j))
                tables.append(current)
                i = current.header_end
                continue
            parts, j = self.dotted_key(i)
            j = self.skip_ws(j)
            value_start = self.skip_ws(j + 1)
            value_end, inline = self.value(value_start, current.path + parts)
            current.entries.append(Entry(current.path + parts, i, value_start, value_end, inline))
            current.body_end = self.after_line(value_end)
            i = current.body_end


def _walk_entries(entries):
    for entry in entries:
        yield entry
        if entry.inline is not None:
            yield from _walk_entries(entry.inline.entries)


# ------------------------------------------------------------------------------------------------
# Parsing and rendering helpers.


def parse(text, path="the containerd config"):
    """Parse TOML text; raise ContainerdConfigError with one sentence when it is not TOML."""
    if tomllib is None:  # pragma: no cover
        raise ContainerdConfigError("Reading %s needs Python 3.11 or later (tomllib)." % path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ContainerdConfigError("%s is not valid TOML (%s), so it was left unchanged." % (path, exc))


def config_version(data, path="the containerd config"):
    """The config's `version` (containerd reads a file without one as version 1)."""
    version = data.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version not in CRI_SECTIONS:
        raise ContainerdConfigError(
            "%s has version = %r; only config versions %s are supported."
            % (path, version, ", ".join(str(v) for v in sorted(CRI_SECTIONS))))
    return version


def render_key(part):
    return part if _BARE_KEY.fullmatch(part) else toml_basic_string(part)


def render_path(parts):
    return ".".join(render_key(p) for p in parts)


def toml_basic_string(text):
    """``text`` as a TOML basic string: quote, backslash and every control character escaped
    (TOML allows only the tab raw; escaping it too keeps one rule)."""
    return '"%s"' % "".join(
        "\\" + char if char in '"\\' else
        char if not (char < " " or "\x7f" <= char <= "\x9f") else "\\u%04X" % ord(char)
        for char in text)


def render_value(value):
    """TOML text of the few value types the CDI keys use."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_basic_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    raise TypeError("cannot render %r" % (value,))


def _lookup(data, path):
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None, False
        data = data[part]
    return data, True


def _without(data, paths):
    """Deep copy of parsed TOML with the given key paths removed (for the preservation check)."""
    if not isinstance(data, dict):
        return data
    copy = {}
    for key, value in data.items():
        if [key] in paths:
            continue
        sub = [p[1:] for p in paths if len(p) > 1 and p[0] == key]
        if not sub:
            copy[key] = value
            continue
        # A table that held only removed keys counts as absent: an empty table sets nothing.
        pruned = _without(value, sub)
        if pruned != {} or not isinstance(value, dict):
            copy[key] = pruned
    return copy


def _indent_of(text, offset):
    line_start = text.rfind("\n", 0, offset) + 1
    return text[line_start:offset] if text[line_start:offset].strip() == "" else ""


# ------------------------------------------------------------------------------------------------
# Edits.


def _set_key(text, section, key, value):
    """Return text with section.key = value, changing nothing else."""
    target = list(section) + [key]
    tables = _Scanner(text).document()
    entries = [e for t in tables for e in _walk_entries(t.entries)]
    value_text = render_value(value)

    # 1. The key is already defined somewhere: replace its value only.
    for entry in entries:
        if entry.path == target:
            return text[:entry.value_start] + value_text + text[entry.value_end:]

    # 2. The section (or an ancestor of it) is an inline table: add a dotted key inside it.
    holders = [e for e in entries if e.inline is not None and e.path == target[:len(e.path)]]
    if holders:
        deepest = max(holders, key=lambda e: len(e.path))
        holder = deepest.inline
        relative = render_path(target[len(deepest.path):])
        before = text[holder.open_at + 1:holder.close_at]
        if before.strip():
            insert = "%s, %s = %s " % (before.rstrip(), relative, value_text)
        else:
            insert = " %s = %s " % (relative, value_text)
        return text[:holder.open_at + 1] + insert + text[holder.close_at:]

    # 3. A [section] header exists: append the key to the end of that table's body.
    for table in tables:
        if table.path == list(section) and not table.is_array:
            if table.entries:
                indent = _indent_of(text, table.entries[-1].start)
            else:
                indent = _indent_of(text, text.find("[", table.header_start)) + "  "
            at = table.body_end
            prefix = "" if at == 0 or text[at - 1] == "\n" else "\n"
            return text[:at] + prefix + "%s%s = %s\n" % (indent, key, value_text) + text[at:]

    # 4. The section exists only through dotted keys (`"io.containerd.grpc.v1.cri".x = ...` under
    #    [plugins]): TOML forbids adding a header for it, so add one more dotted key next to them.
    for table in reversed(tables):
        if table.is_array or len(table.path) >= len(section):
            continue
        for entry in table.entries:
            if entry.path[:len(section)] == list(section) and len(entry.path) > len(section):
                relative = render_path(target[len(table.path):])
                indent = _indent_of(text, entry.start)
                at = table.body_end
                prefix = "" if at == 0 or text[at - 1] == "\n" else "\n"
                return text[:at] + prefix + "%s%s = %s\n" % (indent, relative, value_text) + text[at:]

    # 5. No trace of the section: add a table for it. It goes before its first sub-table when one
    #    exists (TOML allows defining a parent after its children; placing it first reads better).
    header = "[%s]\n  %s = %s\n" % (render_path(section), key, value_text)
    for table in tables:
        if table.path[:len(section)] == list(section) and table.header_start > 0:
            at = table.header_start
            return text[:at] + header + "\n" + text[at:]
    body = text if text.endswith("\n") or not text else text + "\n"
    separator = "\n" if body.strip() else ""
    return body + separator + header


def _remove_key(text, section, key):
    """Return text without section.key (its whole statement), or text itself when absent."""
    target = list(section) + [key]
    tables = _Scanner(text).document()
    for table in tables:
        for entry in table.entries:
            if entry.path == target:
                start = text.rfind("\n", 0, entry.start) + 1
                end = text.find("\n", entry.value_end)
                end = len(text) if end < 0 else end + 1
                return text[:start] + text[end:]
            if entry.inline is None:
                continue
            for owner in _walk_entries([entry]):
                if owner.inline is None:
                    continue
                siblings = owner.inline.entries
                for index, nested in enumerate(siblings):
                    if nested.path != target:
                        continue
                    if index + 1 < len(siblings):
                        start, end = nested.start, siblings[index + 1].start
                    elif index > 0:
                        start, end = siblings[index - 1].value_end, nested.value_end
                    else:
                        start, end = owner.inline.open_at + 1, owner.inline.close_at
                        return text[:start] + text[end:]
                    return text[:start] + text[end:]
    return text


def _verify(original, result, section, wanted, path, created=False):
    """Prove that result parses, has the wanted CDI values, and keeps every other setting
    (``created``: a new file, whose other settings are its own)."""
    try:
        after = tomllib.loads(result)
    except tomllib.TOMLDecodeError as exc:  # pragma: no cover - a scanner bug, not user input
        raise ContainerdConfigError("Editing %s produced invalid TOML (%s); nothing was written." % (path, exc))
    keys = [list(section) + [k] for k in wanted]
    for key_path, value in zip(keys, wanted.values()):
        got, found = _lookup(after, key_path)
        if value is None and found or value is not None and (not found or got != value):
            raise ContainerdConfigError(  # pragma: no cover - a scanner bug, not user input
                "Editing %s did not give %s the wanted value; nothing was written." % (path, render_path(key_path)))
    if not created and _without(after, keys) != _without(original, keys):
        raise ContainerdConfigError(  # pragma: no cover - a scanner bug, not user input
            "Editing %s would have changed other settings; nothing was written." % path)
    return after


def default_config(version, cdi_spec_dirs=DEFAULT_CDI_SPEC_DIRS):
    """The file written when there is none: containerd's defaults plus the CDI keys."""
    section = CRI_SECTIONS[version]
    return "%sversion = %d\n\n[%s]\n  enable_cdi = true\n  cdi_spec_dirs = %s\n" % (
        CREATED_HEADER, version, render_path(section), render_value(list(cdi_spec_dirs)))


def enable_cdi(text, new_file_version=2, cdi_spec_dirs=DEFAULT_CDI_SPEC_DIRS, path="the containerd config"):
    """Return (new text, version, section) with CDI enabled.

    text None means the file does not exist: a minimal config of new_file_version is returned.
    Raises ContainerdConfigError (nothing to write) when text is not TOML or has an unknown version.
    """
    dirs = list(cdi_spec_dirs)
    if text is None:
        result = default_config(new_file_version, dirs)
        section = CRI_SECTIONS[new_file_version]
        _verify({}, result, section, {"enable_cdi": True, "cdi_spec_dirs": dirs}, path, created=True)
        return result, new_file_version, section
    original = parse(text, path)
    version = config_version(original, path)
    section = CRI_SECTIONS[version]
    result = text
    for key, value in (("enable_cdi", True), ("cdi_spec_dirs", dirs)):
        current, found = _lookup(original, list(section) + [key])
        if not found or current != value:
            result = _set_key(result, section, key, value)
    _verify(original, result, section, {"enable_cdi": True, "cdi_spec_dirs": dirs}, path)
    return result, version, section


def disable_cdi(text, path="the containerd config"):
    """Return (new text or None to delete the file, version, section) without the CDI keys.

    A file this module created and that holds nothing else is deleted (None); otherwise only the
    two keys are removed, which gives containerd's default back.
    """
    if text is None:
        return None, None, None
    original = parse(text, path)
    version = config_version(original, path)
    section = CRI_SECTIONS[version]
    result = text
    for key in ("enable_cdi", "cdi_spec_dirs"):
        result = _remove_key(result, section, key)
    _verify(original, result, section, {"enable_cdi": None, "cdi_spec_dirs": None}, path)
    if result.startswith(CREATED_HEADER) and tomllib.loads(result) == {"version": version, section[0]: {section[1]: {}}}:
        return None, version, section
    return result, version, section
