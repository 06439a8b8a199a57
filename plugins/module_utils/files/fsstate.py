# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""The idempotent engine: desired file-system entries under a root -> plan -> apply.

A caller describes what should exist below a root directory as a list of ``Entry`` objects
(directories, files with content, empty files, symlinks, character devices and regular-file
stand-ins for devices, each with a mode and optionally an owner). ``plan()`` compares that list
with the disk and returns a ``Plan``: the actions needed, whether anything changes, and, when
asked for (``diff=True``), a before/after description of every entry that changes (for Ansible's
diff mode; only then is a changed file's old content read). ``apply()`` executes a plan. Check
mode is simply "plan, do not apply", so it reports exactly the ``changed`` that a real run would,
and refuses exactly what a real run would.

Ownership by content: nothing this collection did not write is overwritten or deleted. An object
found at an entry's path is *ours* when it is what the entry would make (the same content, the
same link target) or when one of the entry's ``adopt`` rules says so (an empty placeholder, a
file carrying the collection's marker line, a library carrying the mock's trailer, a device
node of no loaded NVIDIA driver; see the rule functions below). Then:

* ``present``: ours is brought up to date; anything else at the path (a non-empty file where an
  empty placeholder goes, a real device node with other numbers, a directory where a file goes,
  a FIFO) refuses the whole plan with one sentence naming the path, before anything is written.
  Two exceptions leave the object in place instead: a ``keep_content`` entry (create-only, so a
  real binary that replaced a placeholder stays as it is, mode and owner included), and a device
  node with the planned numbers that is not ours (it already serves; reported in ``Plan.kept``
  when its mode or owner differs);
* ``absent``: ours is removed; anything else is left in place and reported in ``Plan.kept``;
* directories are owned only when they are entries of the plan themselves. Parent directories
  that the engine creates implicitly (``implicit_parents``) and the root are never owned, so
  ``absent`` never removes ``/dev`` or ``/etc``. An owned directory is removed only when it is
  empty once the plan's other entries are gone: a file somebody else put inside keeps it. A
  directory is never replaced by anything, nor anything by a directory.

Safety. Entry paths are relative, normalised and may not contain ``..``; every existing parent
is resolved and must stay inside the root, so a symlink on the way that points outside the root
is refused before anything is written; a symlink *at* an entry's path is an object like any
other (replaced only when ours, never followed). Files are read without blocking (a FIFO or a
device where a file should be is refused, never opened for reading).

Writing (``apply``) has two phases, so that a failed run changes nothing and a killed one leaves
every target either old or new. First every directory is made and every new file, link and node
is staged at a temporary name beside its target (``.<name>.<8 characters>.tmp``: written,
fsynced, given its mode and owner); a failure there removes the staged objects and the
directories made, and says that nothing was changed. Then the staged objects are renamed over
their targets (atomic) and the removals and mode/owner fixes are made; a failure there (rare: an
I/O error) says how many of the changes were made before it.

Temporary files. While a run has staged objects in a directory it holds a shared ``flock`` on
that directory. A plan lists, beside every planned path, the temporary objects of this naming
pattern (``.<planned name>.<8 characters>.tmp``, nothing else) of runs that are gone: those in
directories on which no run holds that lock (a killed run's lock goes with its process). ``apply``
removes them (action ``cleanup``) under an exclusive lock, so a concurrent run's temporary
files are never touched. Directories are made with ``EEXIST`` tolerated, so concurrent runs on
one path do not fail.

``read_file()`` and ``write_file()`` are the collection's one file reader and one atomic writer;
modules that handle a file themselves use them rather than their own.

Standard library only: this file is shipped to targets with every module (Python 3.6+).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import random
import re
import stat
import tempfile

DIRECTORY = "directory"
FILE = "file"
LINK = "link"
CHARDEV = "chardev"
DEVFILE = "devfile"
KINDS = (DIRECTORY, FILE, LINK, CHARDEV, DEVFILE)

# A text diff of a file is shown only below this size; larger or binary content is summarised.
DIFF_CONTENT_LIMIT = 64 * 1024

# The collection's marker: a comment line naming it makes a generated text file ours.
MARKER = b"gpumock.nvidia"
# Where the marker line is looked for: the first lines of the file, up to this many bytes.
MARKER_SCAN_BYTES = 4096
# The largest file a content rule reads whole (a search in a built binary).
RULE_READ_LIMIT = 64 * 1024 * 1024

# Temporary names: ".<name>.<TEMP_TOKEN_LEN characters of TEMP_TOKEN_CHARS>.tmp", made and
# recognised here only, so a cleanup never matches another program's files.
TEMP_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
TEMP_TOKEN_LEN = 8
TEMP_SUFFIX = ".tmp"


class FsStateError(Exception):
    """A plan cannot be made or applied; the message is one sentence."""


class MknodError(FsStateError):
    """mknod(2) was refused (no CAP_MKNOD, or a user namespace): device nodes are impossible here."""


class NotRegularFileError(OSError):
    """A file that must be a regular file is something else; ``strerror`` says what it is."""


# ------------------------------------------------------------------------------------------------
# Reading without blocking.

_KIND_WORDS = (
    (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symlink"), (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
    (stat.S_ISREG, "a regular file"),
)


def kind_words(st):
    """What ``st`` is, in words ("a FIFO", "a directory", ...)."""
    for test, words in _KIND_WORDS:
        if test(st.st_mode):
            return words
    return "an unknown kind of file"


def _not_regular(path, st):
    return NotRegularFileError(errno.EINVAL, "it is %s, not a regular file" % kind_words(st), path)


def _open_regular(path):
    """A descriptor of the regular file ``path`` (links followed), opened without blocking.

    ``stat`` first, so a FIFO or a device is never opened (opening a device runs its driver);
    ``fstat`` after, in case the path was swapped in between.
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_file(path, limit=None):
    """The bytes of the regular file ``path`` (at most ``limit`` of them).

    Raises OSError; ``NotRegularFileError`` (an OSError whose strerror says what it is) for a
    FIFO, a device, a directory or a socket, which are never opened for reading.
    """
    fd = _open_regular(path)
    with os.fdopen(fd, "rb") as handle:
        return handle.read() if limit is None else handle.read(limit)


def _read_at(path, offset, size):
    fd = _open_regular(path)
    with os.fdopen(fd, "rb") as handle:
        handle.seek(offset)
        return handle.read(size)


def read_text(path):
    """The file's text for a diff's 'before' (undecodable bytes replaced); '' when it cannot be read."""
    try:
        return read_file(path).decode("utf-8", "replace")
    except (IOError, OSError):
        return ""


# ------------------------------------------------------------------------------------------------
# Adoption rules: ``rule(path, st) -> bool``, whether the object at ``path`` (``st``: its lstat)
# counts as this collection's. A rule that cannot read the file says no.

def _regular(st):
    return st is not None and stat.S_ISREG(st.st_mode)


def empty_file(path, st):
    """An empty regular file (a placeholder or a device stand-in)."""
    return _regular(st) and st.st_size == 0


def anything(path, st):
    """Whatever is there but a directory (for a file whose module edits other people's content)."""
    return st is not None and not stat.S_ISDIR(st.st_mode)


def marked(path, st):
    """A text file with a comment line (``#``) naming the collection (``MARKER``) among its first lines."""
    if not _regular(st):
        return False
    try:
        head = _read_at(path, 0, MARKER_SCAN_BYTES)
    except (IOError, OSError):
        return False
    return any(line.lstrip().startswith(b"#") and MARKER in line for line in head.splitlines())


def trailer(magic, length):
    """A rule: a regular file whose last ``length`` bytes start with ``magic``."""
    def rule(path, st):
        if not _regular(st) or st.st_size < length:
            return False
        try:
            return _read_at(path, st.st_size - length, len(magic)) == magic
        except (IOError, OSError):
            return False
    return rule


def starts_with(prefix):
    """A rule: a regular file whose content starts with ``prefix``."""
    def rule(path, st):
        if not _regular(st) or st.st_size < len(prefix):
            return False
        try:
            return _read_at(path, 0, len(prefix)) == prefix
        except (IOError, OSError):
            return False
    return rule


def contains(needle):
    """A rule: a regular file (at most ``RULE_READ_LIMIT`` bytes) whose content contains ``needle``."""
    def rule(path, st):
        if not _regular(st) or st.st_size > RULE_READ_LIMIT:
            return False
        try:
            return needle in read_file(path)
        except (IOError, OSError):
            return False
    return rule


def anchored(other, other_rule):
    """A rule: the object at the absolute path ``other`` satisfies ``other_rule`` (files that cannot
    carry a mark of their own belong to us when their anchor does)."""
    def rule(path, st):
        if not _regular(st):
            return False
        try:
            other_st = os.lstat(other)
        except OSError:
            return False
        return other_rule(other, other_st)
    return rule


def through_link(*rules):
    """A rule for a symlink: what it points to is missing or satisfies one of ``rules``."""
    def rule(path, st):
        if st is None or not stat.S_ISLNK(st.st_mode):
            return False
        target = os.path.join(os.path.dirname(path), os.readlink(path))
        try:
            target_st = os.stat(target)
        except OSError as exc:
            return exc.errno in (errno.ENOENT, errno.ENOTDIR)
        return any(r(target, target_st) for r in rules)
    return rule


def device_not_of(majors):
    """A rule: a character device whose major is none of ``majors`` (those of a loaded driver)."""
    majors = frozenset(majors)

    def rule(path, st):
        return st is not None and stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) not in majors
    return rule


# ------------------------------------------------------------------------------------------------
# Entries, actions, plans.

class Entry:
    """One desired object below the root.

    ``path`` is relative to the root (``usr/bin/nvidia-smi``). ``kind`` is one of ``KINDS``.
    ``content`` (bytes) is for files; ``target`` for links; ``major``/``minor`` for devices (and,
    optionally, for device stand-ins: a real device node with those numbers then satisfies the
    stand-in and is kept, rather than replaced by a regular file).
    ``uid``/``gid`` of ``None`` mean "not managed" (whatever the creating process gets).
    ``keep_content`` makes a file entry create-only: an existing file that is ours keeps its
    content (its mode and owner are still enforced), one that is not is left exactly as it is;
    this lets a later step put a real binary where the engine first put a placeholder.
    ``adopt``: rules (``rule(path, st)``) saying which other existing objects count as ours,
    beside the one the entry would make itself (see the module docstring).
    """

    __slots__ = ("path", "kind", "mode", "uid", "gid", "content", "target", "major", "minor",
                 "keep_content", "adopt")

    def __init__(self, path, kind, mode=None, uid=None, gid=None, content=None, target=None,
                 major=None, minor=None, keep_content=False, adopt=()):
        if kind not in KINDS:
            raise FsStateError("Entry kind must be one of %s, got %r." % (", ".join(KINDS), kind))
        self.path = normalize_relpath(path)
        self.kind = kind
        if mode is None:
            mode = {DIRECTORY: 0o755, LINK: None}.get(kind, 0o644)
        self.mode = mode
        self.uid = uid
        self.gid = gid
        if kind == FILE:
            if content is None:
                content = b""
            if not isinstance(content, bytes):
                content = content.encode("utf-8")
        self.content = content
        if kind == LINK and not target:
            raise FsStateError("The link entry %s needs a target." % self.path)
        self.target = target
        if kind == CHARDEV and (major is None or minor is None):
            raise FsStateError("The device entry %s needs a major and a minor number." % self.path)
        self.major = major
        self.minor = minor
        self.keep_content = keep_content
        self.adopt = tuple(adopt)

    def describe(self):
        """A one-line, human-readable description of the desired object (for diff mode)."""
        return _describe(self.kind, self.mode, self.uid, self.gid, self.target, self.major,
                         self.minor, self.content)

    def __repr__(self):
        return "Entry(%r, %r)" % (self.path, self.kind)


class Action:
    """One step of a plan: ``op`` is mkdir, create, update, replace, remove, rmdir or cleanup
    (a temporary object a gone run left)."""

    __slots__ = ("op", "path", "entry", "fix")

    def __init__(self, op, path, entry=None, fix=()):
        self.op = op
        self.path = path
        self.entry = entry
        self.fix = tuple(fix)  # for update: which of content/mode/owner/target differ

    def as_dict(self):
        data = {"op": self.op, "path": self.path}
        if self.entry is not None:
            data["kind"] = self.entry.kind
        if self.fix:
            data["fix"] = list(self.fix)
        return data

    def __repr__(self):
        return "Action(%r, %r, %r)" % (self.op, self.path, self.fix)


class Plan:
    """What ``apply`` would do: actions in execution order plus diff-mode material.

    ``diffs`` is the ``diff`` value for AnsibleModule.exit_json: one before/after item per
    changed path; None when the plan was made with ``diff=False``. ``kept``: paths (relative)
    holding something that is not ours, left as it is.
    """

    def __init__(self, root, state, actions, diffs, kept):
        self.root = root
        self.state = state
        self.actions = actions
        self.diffs = diffs
        self.kept = kept

    @property
    def changed(self):
        return bool(self.actions)

    def summary(self):
        return [a.as_dict() for a in self.actions]


def normalize_relpath(path):
    """Return ``path`` as a clean relative POSIX path or raise FsStateError."""
    if not isinstance(path, str) or not path:
        raise FsStateError("An entry path must be a non-empty string.")
    if path.startswith("/"):
        raise FsStateError("The entry path %s must be relative to the root." % path)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        raise FsStateError("The entry path %r names the root itself." % path)
    if ".." in parts:
        raise FsStateError("The entry path %s escapes the root with '..'." % path)
    if "\0" in path:
        raise FsStateError("The entry path %r contains a NUL byte." % path)
    return "/".join(parts)


def _describe(kind, mode, uid, gid, target, major, minor, content):
    bits = [kind]
    if kind == LINK:
        bits.append("-> %s" % target)
    if kind == CHARDEV:
        bits.append("%d:%d" % (major, minor))
    if mode is not None and kind != LINK:
        bits.append("mode=%04o" % mode)
    if uid is not None:
        bits.append("uid=%d" % uid)
    if gid is not None:
        bits.append("gid=%d" % gid)
    if kind == FILE and content is not None:
        bits.append("size=%d" % len(content))
    return " ".join(bits)


def _content_text(content):
    if content is None or len(content) > DIFF_CONTENT_LIMIT:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


class _Engine:
    def __init__(self, root):
        if not isinstance(root, str) or not root.startswith("/"):
            raise FsStateError("The root %r must be an absolute path." % (root,))
        if "\0" in root:
            raise FsStateError("The root %r contains a NUL byte." % (root,))
        self.root = os.path.normpath(root)
        self.real_root = os.path.realpath(self.root)

    def abspath(self, relpath):
        return os.path.join(self.root, relpath)

    def check_inside(self, relpath):
        """Refuse a path whose existing parents resolve outside the root (a symlink on the way)."""
        parent = os.path.dirname(self.abspath(relpath))
        # Walk up to the deepest existing ancestor: realpath resolves every symlink on the way.
        probe = parent
        while not os.path.lexists(probe) and probe != self.root and len(probe) > len(self.root):
            probe = os.path.dirname(probe)
        real = os.path.realpath(probe)
        if real != self.real_root and not real.startswith(self.real_root.rstrip("/") + "/"):
            raise FsStateError(
                "The path %s leaves the root %s through a symlink (it resolves to %s)."
                % (relpath, self.root, real))

    def check_root(self):
        """Refuse a root that is not a directory, or whose deepest existing ancestor is not one."""
        probe = self.root
        while not os.path.lexists(probe) and probe != "/":
            probe = os.path.dirname(probe)
        if os.path.isdir(probe):
            return
        if probe == self.root:
            raise FsStateError("%s is %s, not a directory." % (self.root, kind_words(os.lstat(probe))))
        raise FsStateError("%s cannot be made: %s is %s, not a directory."
                           % (self.root, probe, kind_words(os.lstat(probe))))

    @staticmethod
    def lstat(path):
        try:
            return os.lstat(path)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise


def _kind_on_disk(st):
    if st is None:
        return None
    if stat.S_ISDIR(st.st_mode):
        return DIRECTORY
    if stat.S_ISLNK(st.st_mode):
        return LINK
    if stat.S_ISCHR(st.st_mode):
        return CHARDEV
    if stat.S_ISREG(st.st_mode):
        return FILE
    return "other"


def _describe_disk(path, st):
    kind = _kind_on_disk(st)
    if kind is None:
        return "absent", None
    if kind == "other":
        return kind_words(st)[2:], None
    mode = stat.S_IMODE(st.st_mode)
    target = os.readlink(path) if kind == LINK else None
    major = os.major(st.st_rdev) if kind == CHARDEV else None
    minor = os.minor(st.st_rdev) if kind == CHARDEV else None
    content = None
    if kind == FILE and st.st_size <= DIFF_CONTENT_LIMIT:
        try:
            content = read_file(path)
        except (IOError, OSError):
            content = None
    text = _describe(kind, mode, st.st_uid, st.st_gid, target, major, minor,
                     content if content is not None else b"\0" * st.st_size)
    return text, content


def _same_rdev(entry, st):
    return (os.major(st.st_rdev), os.minor(st.st_rdev)) == (entry.major, entry.minor)


def _same_content(entry, path, st):
    """Whether the regular file ``st`` at ``path`` holds exactly the file entry's content."""
    if not stat.S_ISREG(st.st_mode) or st.st_size != len(entry.content):
        return False
    try:
        return read_file(path) == entry.content
    except (IOError, OSError):
        return False


def _ours(entry, path, st, same=None):
    """Whether the object ``st`` at ``path`` is what ``entry`` makes, or one its rules adopt.

    ``same``: whether the file already holds the entry's content, when the caller knows.
    """
    if stat.S_ISDIR(st.st_mode):
        return False
    if entry.kind == FILE and (_same_content(entry, path, st) if same is None else same):
        return True
    if entry.kind == LINK and stat.S_ISLNK(st.st_mode) and os.readlink(path) == entry.target:
        return True
    if entry.kind == DEVFILE and empty_file(path, st):
        return True     # exactly the stand-in the entry makes
    return any(rule(path, st) for rule in entry.adopt)


def _meta_differences(entry, st):
    fix = []
    if entry.kind != LINK and entry.mode is not None and stat.S_IMODE(st.st_mode) != entry.mode:
        fix.append("mode")
    if (entry.uid is not None and st.st_uid != entry.uid) or (entry.gid is not None and st.st_gid != entry.gid):
        fix.append("owner")
    return fix


def _refusal(path, st, entry):
    what = kind_words(st)
    if stat.S_ISREG(st.st_mode):
        what = "a file of %d bytes" % st.st_size
    elif stat.S_ISLNK(st.st_mode):
        what = "a symlink to %s" % os.readlink(path)
    elif stat.S_ISCHR(st.st_mode):
        what = "the character device %d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    planned = {DIRECTORY: "a directory", FILE: "a file", LINK: "a symlink", CHARDEV: "a device node",
               DEVFILE: "a device node"}[entry.kind]
    return FsStateError(
        "%s is %s that gpumock.nvidia did not make; it was left as it is and nothing was changed "
        "(move it away for this module to make %s there)." % (path, what, planned))


def _diff_item(engine, relpath, entry, st, removing=False):
    path = engine.abspath(relpath)
    before, before_content = _describe_disk(path, st)
    if removing:
        after, after_content = "absent", None
    else:
        after, after_content = entry.describe(), entry.content
        if entry.kind == FILE and entry.keep_content and before_content is not None:
            after_content = before_content
    before_text = before + "\n"
    after_text = after + "\n"
    b = _content_text(before_content)
    a = _content_text(after_content)
    if b is not None or a is not None:
        before_text += b or ""
        after_text += a or ""
    return {"before_header": path, "after_header": path, "before": before_text, "after": after_text}


def implicit_parents(entries):
    """Relative directories that some entry needs but that no entry declares (never owned)."""
    declared = set(e.path for e in entries if e.kind == DIRECTORY)
    needed = set()
    for entry in entries:
        parent = os.path.dirname(entry.path)
        while parent and parent not in declared and parent not in needed:
            needed.add(parent)
            parent = os.path.dirname(parent)
    return sorted(needed, key=lambda p: (p.count("/"), p))


def _check_unique(entries):
    seen = {}
    for entry in entries:
        if entry.path in seen:
            raise FsStateError("The path %s is planned twice." % entry.path)
        seen[entry.path] = entry
    for entry in entries:
        parent = os.path.dirname(entry.path)
        while parent:
            other = seen.get(parent)
            if other is not None and other.kind != DIRECTORY:
                raise FsStateError("The path %s needs %s to be a directory, but it is planned as a %s."
                                   % (entry.path, parent, other.kind))
            parent = os.path.dirname(parent)


def plan(root, entries, state="present", diff=True):
    """Compare ``entries`` below ``root`` with the disk; return a Plan (nothing is written).

    With ``diff=False`` the plan has no diff items (``Plan.diffs`` is None) and no file is read
    for one: only what deciding the actions (and whose the objects are) needs is looked at.
    Raises FsStateError, before anything is written, when a path holds something that is not ours.
    """
    if state not in ("present", "absent"):
        raise FsStateError("state must be present or absent, got %r." % (state,))
    engine = _Engine(root)
    entries = list(entries)
    _check_unique(entries)
    for entry in entries:
        engine.check_inside(entry.path)
    diffs = [] if diff else None
    stale = stale_temps(engine, entries)
    if state == "present":
        engine.check_root()
        result = _plan_present(engine, entries, diffs)
    else:
        result = _plan_absent(engine, entries, diffs, stale)
    cleanups = [Action("cleanup", relpath) for relpath in stale]
    if diffs is not None:
        for action in cleanups:
            path = engine.abspath(action.path)
            diffs.insert(0, {"before_header": path, "after_header": path,
                             "before": "temporary file of an interrupted run\n", "after": "absent\n"})
    result.actions[:0] = cleanups
    return result


def _add_diff(diffs, engine, relpath, entry, st, removing=False):
    if diffs is not None:
        diffs.append(_diff_item(engine, relpath, entry, st, removing))


def _plan_present(engine, entries, diffs):
    actions, kept = [], []
    for relpath in implicit_parents(entries):
        st = engine.lstat(engine.abspath(relpath))
        if st is None:
            actions.append(Action("mkdir", relpath))
            if diffs is not None:
                diffs.append({"before_header": engine.abspath(relpath), "after_header": engine.abspath(relpath),
                              "before": "absent\n", "after": "directory (created as a parent)\n"})
        elif not os.path.isdir(engine.abspath(relpath)):
            raise FsStateError("%s is %s, not a directory, so nothing can be made below it."
                               % (engine.abspath(relpath), kind_words(st)))
    ordered = sorted(entries, key=lambda e: (e.kind != DIRECTORY, e.path.count("/"), e.path))
    for entry in ordered:
        path = engine.abspath(entry.path)
        st = engine.lstat(path)
        if st is None:
            action = Action("create", entry.path, entry)
        else:
            action = _present_action(entry, path, st, kept)
        if action is not None:
            actions.append(action)
            _add_diff(diffs, engine, entry.path, entry, st)
    return Plan(engine.root, "present", actions, diffs, kept)


def _present_action(entry, path, st, kept):
    """The action that brings the existing object ``st`` at ``path`` to ``entry``, or None."""
    disk_kind = _kind_on_disk(st)
    if entry.kind == DIRECTORY:
        if disk_kind == DIRECTORY:
            fix = _meta_differences(entry, st)
            return Action("update", entry.path, entry, fix) if fix else None
        if disk_kind == LINK and os.path.isdir(path):
            # A symlink to a directory (``lib -> usr/lib``) already serves; it is not ours to replace.
            return None
        raise _refusal(path, st, entry)
    same = entry.kind == FILE and _same_content(entry, path, st)
    ours = _ours(entry, path, st, same)
    if entry.kind == FILE:
        if disk_kind == FILE and ours:
            fix = _meta_differences(entry, st)
            if not entry.keep_content and not same:
                fix.insert(0, "content")
            return Action("update", entry.path, entry, fix) if fix else None
        if ours:
            return Action("replace", entry.path, entry)
        if entry.keep_content:
            return None
        raise _refusal(path, st, entry)
    if entry.kind == LINK:
        if disk_kind == LINK and os.readlink(path) == entry.target:
            fix = _meta_differences(entry, st)
            return Action("update", entry.path, entry, fix) if fix else None
        if ours:
            return Action("replace", entry.path, entry, ["target"] if disk_kind == LINK else [])
        raise _refusal(path, st, entry)
    # A device node or its stand-in.
    if disk_kind == CHARDEV and entry.major is not None and _same_rdev(entry, st):
        fix = _meta_differences(entry, st)
        if fix and not ours:
            kept.append(entry.path)     # a node of a loaded driver serves as it is
            return None
        return Action("update", entry.path, entry, fix) if fix else None
    if not ours:
        raise _refusal(path, st, entry)
    if entry.kind == DEVFILE and disk_kind == FILE:
        fix = _meta_differences(entry, st)
        if st.st_size:
            fix.insert(0, "content")
        return Action("update", entry.path, entry, fix) if fix else None
    return Action("replace", entry.path, entry, ["rdev"] if disk_kind == CHARDEV else [])


def _plan_absent(engine, entries, diffs, stale):
    actions, kept = [], []
    others = [e for e in entries if e.kind != DIRECTORY]
    dirs = [e for e in entries if e.kind == DIRECTORY]
    removed = set(stale)
    for entry in sorted(others, key=lambda e: e.path):
        path = engine.abspath(entry.path)
        st = engine.lstat(path)
        if st is None:
            continue
        if not _ours(entry, path, st):
            kept.append(entry.path)
            continue
        actions.append(Action("remove", entry.path, entry))
        removed.add(entry.path)
        _add_diff(diffs, engine, entry.path, entry, st, removing=True)
    # Deepest first, so a directory is judged after everything planned inside it is gone.
    for entry in sorted(dirs, key=lambda e: (-e.path.count("/"), e.path)):
        path = engine.abspath(entry.path)
        st = engine.lstat(path)
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            kept.append(entry.path)
            continue
        remaining = [n for n in os.listdir(path)
                     if "%s/%s" % (entry.path, n) not in removed]
        if remaining:
            kept.append(entry.path)
            continue
        actions.append(Action("rmdir", entry.path, entry))
        removed.add(entry.path)
        _add_diff(diffs, engine, entry.path, entry, st, removing=True)
    return Plan(engine.root, "absent", actions, diffs, kept)


# ------------------------------------------------------------------------------------------------
# Temporary names and their cleanup.

def _temp_token():
    rng = random.SystemRandom()
    return "".join(rng.choice(TEMP_TOKEN_CHARS) for _i in range(TEMP_TOKEN_LEN))


def temp_pattern(names=None):
    """The regular expression of the temporary names of files called ``names`` (None: any name)."""
    alternatives = ".+" if names is None else "|".join(re.escape(n) for n in names)
    token = "[%s]{%d}" % (re.escape(TEMP_TOKEN_CHARS), TEMP_TOKEN_LEN)
    return re.compile(r"\.(?:%s)\.%s%s\Z" % (alternatives, token, re.escape(TEMP_SUFFIX)))


def _make_temp(directory, name, make):
    """Call ``make(temp_path)`` at a fresh temporary name beside ``name``; return the path."""
    for _attempt in range(100):
        tmp = os.path.join(directory, ".%s.%s%s" % (name, _temp_token(), TEMP_SUFFIX))
        try:
            make(tmp)
            return tmp
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
    raise FsStateError("No free temporary name beside %s." % os.path.join(directory, name))


def _open_dir(directory):
    return os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))


def _try_exclusive(fd):
    """Whether an exclusive flock on ``fd`` was taken without waiting (False: a run holds it, or
    the file system has no flock, in which case nobody can tell whose the temporary files are)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except (IOError, OSError):
        return False


def _stale_in(directory, names):
    """Temporary objects of ``names`` in ``directory`` whose run is gone (no run holds its lock)."""
    try:
        listing = os.listdir(directory)
    except OSError:
        return []
    # Cheap test first: most directories have no temporary file, and need no lock and no pattern.
    candidates = [n for n in listing if n.startswith(".") and n.endswith(TEMP_SUFFIX)]
    if not candidates:
        return []
    pattern = temp_pattern(sorted(names))
    matches = sorted(n for n in candidates if pattern.match(n))
    if not matches:
        return []
    try:
        fd = _open_dir(directory)
    except OSError:
        return []
    try:
        # Taken after listing: a run that made one of these since is gone again if the lock is free,
        # and a name that vanished meanwhile is skipped when it is removed.
        return matches if _try_exclusive(fd) else []
    finally:
        os.close(fd)


def stale_temps(root, entries):
    """Relative paths of the temporary objects beside ``entries`` that gone runs left (see the docstring)."""
    engine = root if isinstance(root, _Engine) else _Engine(root)
    by_dir = {}
    for entry in entries:
        parent, name = os.path.split(entry.path)
        by_dir.setdefault(parent, set()).add(name)
    found = []
    for parent in sorted(by_dir):
        directory = engine.abspath(parent) if parent else engine.root
        if not os.path.isdir(directory):
            continue
        found.extend(os.path.join(parent, n) if parent else n for n in _stale_in(directory, by_dir[parent]))
    return found


# ------------------------------------------------------------------------------------------------
# Applying.

def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _set_meta(path, mode, uid, gid, is_link=False):
    if uid is not None or gid is not None:
        os.lchown(path, -1 if uid is None else uid, -1 if gid is None else gid)
    if not is_link and mode is not None:
        os.chmod(path, mode)


def _set_entry_meta(path, entry, is_link=False):
    _set_meta(path, entry.mode, entry.uid, entry.gid, is_link)


def _mkdir(path, mode=0o755):
    """Make the directory ``path`` (its mode whatever the umask); False when another run made it first."""
    try:
        os.mkdir(path, mode)
    except OSError as exc:
        if exc.errno == errno.EEXIST and os.path.isdir(path):
            return False
        raise
    # mkdir's mode is filtered by the umask; a parent such as /etc/cdi must end up world-readable.
    os.chmod(path, mode)
    return True


def _remove_each(paths, remove):
    """Calls remove on each path; the paths that are still there afterwards."""
    left = []
    for path in paths:
        try:
            remove(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                left.append(path)
    return left


class _Transaction:
    """One ``apply``: directory locks, what was staged and made, and how to undo phase one."""

    def __init__(self, engine):
        self.engine = engine
        self.locks = {}         # directory -> descriptor holding a shared flock
        self.temps = []         # staged objects not renamed yet
        self.made_dirs = []     # directories this run made, in order
        self.done = []          # action dicts carried out

    def close(self):
        for fd in self.locks.values():
            os.close(fd)
        self.locks = {}

    def hold(self, directory):
        """Hold a shared lock on ``directory`` while this run has temporary objects there."""
        if directory in self.locks:
            return
        fd = _open_dir(directory)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except (IOError, OSError):
            pass    # no flock here: nobody can take the exclusive lock that a cleanup needs either
        self.locks[directory] = fd

    def cleanup(self, path):
        """Remove a gone run's temporary object, if still nobody holds its directory; True if removed."""
        directory = os.path.dirname(path)
        try:
            fd = _open_dir(directory)
        except OSError:
            return False
        try:
            if not _try_exclusive(fd) or not temp_pattern().match(os.path.basename(path)):
                return False
            try:
                os.unlink(path)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return False
                raise
            return True
        finally:
            os.close(fd)    # releases the lock

    def make_dirs(self, path, mode=0o755):
        missing = []
        while not os.path.isdir(path):
            missing.append(path)
            path = os.path.dirname(path)
        for directory in reversed(missing):
            if _mkdir(directory, mode):
                self.made_dirs.append(directory)

    def stage(self, path, entry):
        """Make the object of ``entry`` at a temporary name beside ``path``; return that name."""
        directory, name = os.path.split(path)
        self.hold(directory)
        if entry.kind in (FILE, DEVFILE):
            content = entry.content if entry.kind == FILE else b""
            fds = []

            def make(tmp):
                fds.append(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600))
            tmp = _make_temp(directory, name, make)
            self.temps.append(tmp)
            with os.fdopen(fds[0], "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            _set_entry_meta(tmp, entry)
        elif entry.kind == LINK:
            tmp = _make_temp(directory, name, lambda t: os.symlink(entry.target, t))
            self.temps.append(tmp)
            _set_entry_meta(tmp, entry, is_link=True)
        else:
            tmp = _make_temp(directory, name, lambda t: os.mknod(t, stat.S_IFCHR | (entry.mode or 0o600),
                                                                 os.makedev(entry.major, entry.minor)))
            self.temps.append(tmp)
            _set_entry_meta(tmp, entry)
        return tmp

    def undo(self):
        """Remove what phase one made; the paths that could not be removed."""
        left = _remove_each(self.temps, os.unlink) + _remove_each(reversed(self.made_dirs), os.rmdir)
        self.temps = []
        self.made_dirs = []
        return left


def _os_reason(exc):
    return exc.strerror or str(exc)


def _phase_one_failure(tx, verb, path, exc):
    left = tx.undo()
    if left:
        tail = "; nothing was changed but these could not be removed again: %s" % ", ".join(left)
    else:
        tail = "; nothing was changed"
    return "Could not %s %s: %s%s." % (verb, path, _os_reason(exc), tail)


def _phase_two_failure(tx, verb, path, exc, total):
    for tmp in tx.temps:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    tx.temps = []
    changed = [d["path"] for d in tx.done if d["op"] != "cleanup"]
    shown = ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
    if changed:
        made = "%d of the %d changes below %s were made before it (%s), the others were not" % (
            len(changed), total, tx.engine.root, shown)
    else:
        made = "nothing was changed"
    return "Could not %s %s: %s; %s." % (verb, path, _os_reason(exc), made)


def apply(plan_):
    """Execute a plan made by ``plan()``; return the list of action dicts that were carried out.

    Raises FsStateError naming the path that failed and what the run left (see the module
    docstring). A device node that cannot be created raises ``MknodError`` (nothing changed) so
    callers can fall back to regular files.
    """
    engine = _Engine(plan_.root)
    tx = _Transaction(engine)
    try:
        _apply(plan_, engine, tx)
    finally:
        tx.close()
    for directory in sorted(set(os.path.dirname(engine.abspath(a.path)) for a in plan_.actions)):
        if os.path.isdir(directory):
            _fsync_dir(directory)
    return tx.done


def _apply(plan_, engine, tx):
    total = len([a for a in plan_.actions if a.op != "cleanup"])
    for action in plan_.actions:
        if action.op == "cleanup":
            path = engine.abspath(action.path)
            try:
                if tx.cleanup(path):
                    tx.done.append(action.as_dict())
            except OSError as exc:
                raise FsStateError("Could not remove the temporary file %s: %s; nothing else was changed."
                                   % (path, _os_reason(exc)))
    work = [a for a in plan_.actions if a.op != "cleanup"]
    staged = {}
    # Phase one: directories, and every new object at a temporary name.
    try:
        _stage_all(plan_, engine, tx, work, staged)
    except BaseException:
        tx.undo()
        raise
    # Phase two: renames, mode and owner fixes, removals, in plan order.
    for action in work:
        path = engine.abspath(action.path)
        entry = action.entry
        verb = "rename into place" if id(action) in staged else \
            {"update": "update", "remove": "remove", "rmdir": "remove"}.get(action.op, action.op)
        try:
            if id(action) in staged:
                tmp = staged[id(action)]
                os.replace(tmp, path)
                tx.temps.remove(tmp)
                tx.done.append(action.as_dict())
            elif action.op == "update":
                _set_entry_meta(path, entry, is_link=entry.kind == LINK)
                tx.done.append(action.as_dict())
            elif action.op in ("remove", "rmdir"):
                _remove(path)
                tx.done.append(action.as_dict())
        except OSError as exc:
            raise FsStateError(_phase_two_failure(tx, verb, path, exc, total))


def _stage_all(plan_, engine, tx, work, staged):
    path, entry, verb = engine.root, None, "create"
    try:
        if plan_.state == "present" and work and not os.path.isdir(engine.root):
            tx.make_dirs(engine.root)
        for action in work:
            path = engine.abspath(action.path)
            entry = action.entry
            verb = "create"
            if action.op == "mkdir":
                if _mkdir(path):
                    tx.made_dirs.append(path)
                tx.done.append(action.as_dict())
            elif entry is not None and entry.kind == DIRECTORY and action.op == "create":
                if _mkdir(path, entry.mode):
                    tx.made_dirs.append(path)
                    _set_entry_meta(path, entry)
                tx.done.append(action.as_dict())
            elif action.op in ("create", "replace") or (action.op == "update" and "content" in action.fix):
                verb = "write" if entry.kind in (FILE, DEVFILE) else "create"
                staged[id(action)] = tx.stage(path, entry)
    except OSError as exc:
        if entry is not None and entry.kind == CHARDEV and exc.errno in (errno.EPERM, errno.EACCES):
            tx.undo()
            raise MknodError("Creating the device node %s failed: %s." % (path, exc.strerror))
        raise FsStateError(_phase_one_failure(tx, verb, path, exc))


def _remove(path):
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        os.rmdir(path)
    else:
        os.unlink(path)


def write_file(path, content, mode=None, uid=None, gid=None):
    """Write ``content`` (bytes) to ``path`` atomically: a temporary file in the same directory,
    written, fsynced, given ``mode`` and owner (None: not set), then renamed over ``path``."""
    directory, name = os.path.split(path)
    entry = Entry(name, FILE, uid=uid, gid=gid, content=content)
    entry.mode = mode
    tx = _Transaction(None)
    try:
        tmp = tx.stage(os.path.join(directory or ".", name), entry)
        os.replace(tmp, path)
        tx.temps.remove(tmp)
    finally:
        tx.undo()
        tx.close()


def can_mknod():
    """Whether this process may create character devices: try one in a private temp directory.

    A real attempt is the only reliable test (capabilities, user namespaces and seccomp all
    matter). It happens in a fresh directory of the system temp dir and is removed at once, so
    it never touches the managed tree, and it is safe in check mode. Raises FsStateError when
    no such directory can be made.
    """
    try:
        scratch = tempfile.mkdtemp(prefix="gpumock-mknod-")
    except (IOError, OSError) as exc:
        raise FsStateError("Could not make a scratch directory in %s to learn whether mknod works here: %s."
                           % (tempfile.gettempdir(), _os_reason(exc)))
    probe = os.path.join(scratch, "probe")
    try:
        os.mknod(probe, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        return True
    except OSError:
        return False
    finally:
        if os.path.lexists(probe):
            os.unlink(probe)
        os.rmdir(scratch)
