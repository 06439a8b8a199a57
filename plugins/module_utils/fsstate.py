# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""The idempotent engine: desired file-system entries under a root -> plan -> apply.

A caller describes what should exist below a root directory as a list of ``Entry`` objects
(directories, files with content, empty files, symlinks, character devices and regular-file
stand-ins for devices, each with a mode and optionally an owner). ``plan()`` compares that list
with the disk and returns a ``Plan``: the actions needed, whether anything changes, and, when
asked for (``diff=True``), a before/after description of every entry that changes (for Ansible's
diff mode; only then is a changed file's old content read). ``apply()`` executes a plan. Check mode is simply "plan, do not apply", so it reports exactly the
``changed`` that a real run would.

Ownership (what ``state=absent`` removes). A plan owns exactly the paths of its entries, and
nothing else:

* files, stand-ins, device nodes and symlinks at an entry's path are removed when the object on
  disk is of the entry's type class (a regular file for a file entry, a symlink for a link
  entry, a character device or a regular file for a device entry). Anything else found at that
  path (say a directory where a file was planned) was not made by us and is left alone and
  reported in ``Plan.kept``;
* directories are owned only when they are entries of the plan themselves. Parent directories
  that the engine creates implicitly (``implicit_parents``) and the root are never owned, so
  ``absent`` never removes ``/dev`` or ``/etc``. An owned directory is removed only when it is
  empty once the plan's other entries are gone: a file somebody else put inside keeps it.

Safety. Entry paths are relative, normalised and may not contain ``..``; every existing parent
is resolved and must stay inside the root, so a symlink on the way that points outside the root
is refused before anything is written. Files are written atomically: a temporary file in the
same directory, written, fsynced, given its mode and owner, then ``os.replace``d over the
target, so a reader sees either the old or the new content, never a partial one.

``read_file()`` and ``write_file()`` are the collection's one file reader and one atomic writer;
modules that handle a file themselves use them rather than their own.

Standard library only: this file is shipped to targets with every module (Python 3.6+).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
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


class FsStateError(Exception):
    """A plan cannot be made or applied; the message is one sentence."""


class Entry:
    """One desired object below the root.

    ``path`` is relative to the root (``usr/bin/nvidia-smi``). ``kind`` is one of ``KINDS``.
    ``content`` (bytes) is for files; ``target`` for links; ``major``/``minor`` for devices (and,
    optionally, for device stand-ins: a real device node with those numbers then satisfies the
    stand-in and is kept, rather than replaced by a regular file).
    ``uid``/``gid`` of ``None`` mean "not managed" (whatever the creating process gets).
    ``keep_content`` makes a file entry create-only as far as content goes: an existing regular
    file keeps its content (its mode and owner are still enforced); this lets a later step put a
    real binary where the engine first put a placeholder without the engine undoing it.
    """

    __slots__ = ("path", "kind", "mode", "uid", "gid", "content", "target", "major", "minor",
                 "keep_content")

    def __init__(self, path, kind, mode=None, uid=None, gid=None, content=None, target=None,
                 major=None, minor=None, keep_content=False):
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

    def describe(self):
        """A one-line, human-readable description of the desired object (for diff mode)."""
        return _describe(self.kind, self.mode, self.uid, self.gid, self.target, self.major,
                         self.minor, self.content)

    def __repr__(self):
        return "Entry(%r, %r)" % (self.path, self.kind)


class Action:
    """One step of a plan: ``op`` is create, update, replace, remove or rmdir."""

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
    changed path; None when the plan was made with ``diff=False``.
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


def read_file(path, limit=None):
    """The bytes of the file ``path`` (at most ``limit`` of them); raises OSError."""
    with open(path, "rb") as handle:
        return handle.read() if limit is None else handle.read(limit)


def read_text(path):
    """The file's text for a diff's 'before' (undecodable bytes replaced); '' when it cannot be read."""
    try:
        return read_file(path).decode("utf-8", "replace")
    except (IOError, OSError):
        return ""


def _describe_disk(path, st):
    kind = _kind_on_disk(st)
    if kind is None:
        return "absent", None
    mode = stat.S_IMODE(st.st_mode)
    target = os.readlink(path) if kind == LINK else None
    major = os.major(st.st_rdev) if kind == CHARDEV else None
    minor = os.minor(st.st_rdev) if kind == CHARDEV else None
    content = None
    if kind == FILE and st.st_size <= DIFF_CONTENT_LIMIT:
        content = read_file(path)
    text = _describe(kind, mode, st.st_uid, st.st_gid, target, major, minor,
                     content if content is not None else b"\0" * st.st_size)
    return text, content


def _entry_matches_kind(entry, disk_kind):
    if entry.kind == DIRECTORY:
        return disk_kind == DIRECTORY
    if entry.kind == DEVFILE and disk_kind == CHARDEV and entry.major is not None:
        # A real device node with the right numbers serves better than the stand-in would.
        return True
    if entry.kind in (FILE, DEVFILE):
        return disk_kind == FILE
    if entry.kind == LINK:
        return disk_kind == LINK
    return disk_kind == CHARDEV


def _differences(engine, entry, st):
    """What differs between ``entry`` and the object ``st`` of the right kind: a list of names."""
    path = engine.abspath(entry.path)
    fix = []
    if entry.kind == LINK:
        if os.readlink(path) != entry.target:
            fix.append("target")
    else:
        if stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) != (entry.major, entry.minor):
            fix.append("rdev")
        if entry.kind == FILE and not entry.keep_content:
            if st.st_size != len(entry.content) or read_file(path) != entry.content:
                fix.append("content")
        if entry.kind == DEVFILE and stat.S_ISREG(st.st_mode) and st.st_size != 0:
            fix.append("content")
        if entry.mode is not None and stat.S_IMODE(st.st_mode) != entry.mode:
            fix.append("mode")
    if (entry.uid is not None and st.st_uid != entry.uid) or (entry.gid is not None and st.st_gid != entry.gid):
        fix.append("owner")
    return fix


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
    for one: only what deciding the actions needs is looked at.
    """
    if state not in ("present", "absent"):
        raise FsStateError("state must be present or absent, got %r." % (state,))
    engine = _Engine(root)
    entries = list(entries)
    _check_unique(entries)
    for entry in entries:
        engine.check_inside(entry.path)
    diffs = [] if diff else None
    if state == "present":
        return _plan_present(engine, entries, diffs)
    return _plan_absent(engine, entries, diffs)


def _add_diff(diffs, engine, relpath, entry, st, removing=False):
    if diffs is not None:
        diffs.append(_diff_item(engine, relpath, entry, st, removing))


def _plan_present(engine, entries, diffs):
    actions, kept = [], []
    root_st = engine.lstat(engine.root)
    if root_st is not None and not stat.S_ISDIR(os.stat(engine.root).st_mode):
        raise FsStateError("The root %s exists and is not a directory." % engine.root)
    for relpath in implicit_parents(entries):
        st = engine.lstat(engine.abspath(relpath))
        if st is None:
            actions.append(Action("mkdir", relpath))
            if diffs is not None:
                diffs.append({"before_header": engine.abspath(relpath), "after_header": engine.abspath(relpath),
                              "before": "absent\n", "after": "directory (created as a parent)\n"})
        elif not stat.S_ISDIR(os.stat(engine.abspath(relpath)).st_mode):
            raise FsStateError("The path %s must be a directory to hold planned entries, but it is not."
                               % engine.abspath(relpath))
    ordered = sorted(entries, key=lambda e: (e.kind != DIRECTORY, e.path.count("/"), e.path))
    for entry in ordered:
        path = engine.abspath(entry.path)
        st = engine.lstat(path)
        disk_kind = _kind_on_disk(st)
        if st is None:
            actions.append(Action("create", entry.path, entry))
        elif entry.kind == DIRECTORY and disk_kind == LINK and os.path.isdir(path):
            # A symlink to a directory (``lib -> usr/lib``) already serves; it is not ours to replace.
            continue
        elif not _entry_matches_kind(entry, disk_kind):
            if disk_kind == DIRECTORY and os.listdir(path):
                raise FsStateError("The path %s is a non-empty directory where a %s is planned; "
                                   "remove it first." % (path, entry.kind))
            actions.append(Action("replace", entry.path, entry))
        else:
            fix = _differences(engine, entry, st)
            if not fix:
                continue
            # A device with the wrong numbers or a link with the wrong target is made anew.
            op = "replace" if ("rdev" in fix or "target" in fix) else "update"
            actions.append(Action(op, entry.path, entry, fix))
        _add_diff(diffs, engine, entry.path, entry, st)
    return Plan(engine.root, "present", actions, diffs, kept)


def _plan_absent(engine, entries, diffs):
    actions, kept = [], []
    others = [e for e in entries if e.kind != DIRECTORY]
    dirs = [e for e in entries if e.kind == DIRECTORY]
    removed = set()
    for entry in sorted(others, key=lambda e: e.path):
        path = engine.abspath(entry.path)
        st = engine.lstat(path)
        if st is None:
            continue
        disk_kind = _kind_on_disk(st)
        owned = _entry_matches_kind(entry, disk_kind) or (entry.kind == CHARDEV and disk_kind == FILE) \
            or (entry.kind == DEVFILE and disk_kind == CHARDEV)
        if not owned:
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


def _temp_name(directory, name):
    fd, tmp = tempfile.mkstemp(prefix=".%s." % name, suffix=".tmp", dir=directory)
    return fd, tmp


def write_file(path, content, mode=None, uid=None, gid=None):
    """Write ``content`` (bytes) to ``path`` atomically: a temporary file in the same directory,
    written, fsynced, given ``mode`` and owner (None: not set), then renamed over ``path``."""
    directory, name = os.path.split(path)
    fd, tmp = _temp_name(directory, name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        _set_meta(tmp, mode, uid, gid)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def _write_entry(path, entry):
    write_file(path, entry.content if entry.kind == FILE else b"", entry.mode, entry.uid, entry.gid)


def _make_special(path, entry):
    """Create a link or a device node at a temporary name, then rename it into place."""
    directory, name = os.path.split(path)
    fd, tmp = _temp_name(directory, name)
    os.close(fd)
    os.unlink(tmp)
    try:
        if entry.kind == LINK:
            os.symlink(entry.target, tmp)
            _set_entry_meta(tmp, entry, is_link=True)
        else:
            os.mknod(tmp, stat.S_IFCHR | (entry.mode or 0o600), os.makedev(entry.major, entry.minor))
            _set_entry_meta(tmp, entry)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def _mkdir(path, mode):
    """mkdir that accepts a directory made since the plan (an earlier part of the run, or a
    concurrent run): only a directory at ``path`` counts as done."""
    try:
        os.mkdir(path, mode)
    except OSError as exc:
        if exc.errno != errno.EEXIST or os.path.islink(path) or not os.path.isdir(path):
            raise


def _mkdir_0755(path):
    # mkdir's mode is filtered by the umask; a parent such as /etc/cdi must end up world-readable.
    _mkdir(path, 0o755)
    os.chmod(path, 0o755)


def _make_dirs(path):
    """Create ``path`` and its missing ancestors, each 0755 whatever the umask."""
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        _mkdir_0755(directory)


def _remove(path):
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        os.rmdir(path)
    else:
        os.unlink(path)


def _create(engine, entry):
    path = engine.abspath(entry.path)
    if entry.kind == DIRECTORY:
        _mkdir(path, entry.mode)
        _set_entry_meta(path, entry)
    elif entry.kind in (FILE, DEVFILE):
        _write_entry(path, entry)
    else:
        _make_special(path, entry)


def apply(plan_):
    """Execute a plan made by ``plan()``; return the list of action dicts that were carried out.

    Raises FsStateError (wrapping the OSError) naming the path that failed. A device node that
    cannot be created raises ``MknodError`` so callers can fall back to regular files.
    """
    engine = _Engine(plan_.root)
    done = []
    if plan_.state == "present" and plan_.actions and not os.path.isdir(engine.root):
        _make_dirs(engine.root)
    for action in plan_.actions:
        path = engine.abspath(action.path)
        entry = action.entry
        try:
            if action.op == "mkdir":
                _mkdir_0755(path)
            elif action.op == "create":
                _create(engine, entry)
            elif action.op == "replace":
                # Files, links and nodes are renamed over the old object (atomic); only a
                # directory on either side has to be removed first, as rename(2) cannot.
                if os.path.isdir(path) and not os.path.islink(path):
                    os.rmdir(path)
                elif entry.kind == DIRECTORY:
                    os.unlink(path)
                _create(engine, entry)
            elif action.op == "update":
                if "content" in action.fix:
                    _write_entry(path, entry)
                else:
                    _set_entry_meta(path, entry, is_link=entry.kind == LINK)
            elif action.op in ("remove", "rmdir"):
                _remove(path)
        except OSError as exc:
            if entry is not None and entry.kind == CHARDEV and exc.errno in (errno.EPERM, errno.EACCES) \
                    and action.op in ("create", "replace"):
                raise MknodError("Creating the device node %s failed: %s." % (path, exc.strerror))
            raise FsStateError("Could not %s %s: %s." % (action.op, path, exc.strerror or exc))
        done.append(action.as_dict())
    for directory in sorted(set(os.path.dirname(engine.abspath(a.path)) for a in plan_.actions)):
        if os.path.isdir(directory):
            _fsync_dir(directory)
    return done


class MknodError(FsStateError):
    """mknod(2) was refused (no CAP_MKNOD, or a user namespace): device nodes are impossible here."""


def can_mknod():
    """Whether this process may create character devices: try one in a private temp directory.

    A real attempt is the only reliable test (capabilities, user namespaces and seccomp all
    matter). It happens in a fresh directory of the system temp dir and is removed at once, so
    it never touches the managed tree, and it is safe in check mode.
    """
    scratch = tempfile.mkdtemp(prefix="gpumock-mknod-")
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
