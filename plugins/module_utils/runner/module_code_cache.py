# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""Runs an Ansible module's payload (AnsiballZ) with the module's code kept, compiled, in a
directory on the node: nvidia_mock_node's ``module_cache_dir``.

Python imports the code of a payload from a zip file, and zipimport compiles every source it
imports again on every run: for a node that is already right that is more than half of the module
run. The node module writes this file's source, after a ``#!`` line naming its interpreter, as
``DIRECTORY/launcher`` (``launcher_text``); its action plugin then runs the module with that file
as the interpreter. The payload comes on stdin (pipelining) or as a file argument. An import hook
takes the payload's zip: its code (every file but the wrapper's own sitecustomize.py) is keyed by
its sha256, the entry ``DIRECTORY/<key>`` holds it extracted and compiled, and the imports come
from there. An entry it does not find is made (extracted and compiled in a pending directory, then
renamed, so a half-made entry never counts); each entry used is marked and the ``KEEP`` used last
are kept. A directory that other users could write to is never used. Whatever goes wrong leaves
the payload to zipimport, as without the cache. The node module that writes the launcher also
makes the entry of its own code (``keep_own_code``), so the next run is the fast one; with
state=absent it removes the launcher and the entries (``entries``).

Standard library only; it runs on the node before any of the collection's code.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import importlib.machinery
import os
import re
import stat
import sys
import zipfile

# The launcher's file name in the directory.
LAUNCHER = "launcher"
# An entry's name: the first 32 hex digits of its code's sha256.
ENTRY_NAME = re.compile(r"^[0-9a-f]{32}$")
# An entry being made; one left by a run that died is removed once it is an hour old.
PENDING_PREFIX = ".pending-"
PENDING_MAX_AGE = 3600
# The entries kept: one per version of the collection and of ansible-core a node meets.
KEEP = 4
# The zip the AnsiballZ wrapper writes and puts on sys.path, and the file it adds to it for this run only.
PAYLOAD_ZIP = re.compile(r"^ansible_.+_payload\.zip$")
WRAPPER_FILE = "sitecustomize.py"
LOADERS = ((importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES),
           (importlib.machinery.SourcelessFileLoader, importlib.machinery.BYTECODE_SUFFIXES))


def entries(directory):
    """The names in ``directory`` that this cache made: entries and pending entries."""
    return sorted(name for name in os.listdir(directory)
                  if ENTRY_NAME.match(name) or name.startswith(PENDING_PREFIX))


def private(directory):
    """Whether ``directory`` is a directory of this user that no one else can write to."""
    st = os.lstat(directory)
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def code_names(archive):
    return sorted(name for name in archive.namelist() if name != WRAPPER_FILE and not name.endswith("/"))


def code_key(archive):
    """The entry name of a payload zip's code."""
    digest = hashlib.sha256()
    for name in code_names(archive):
        data = archive.read(name)
        digest.update(("%s\0%d\0" % (name, len(data))).encode("utf-8"))
        digest.update(data)
    return digest.hexdigest()[:32]


def make_entry(archive, directory, key):
    """Extracts and compiles the code in a pending directory, then renames it to ``key``."""
    # Imported here, as in prune: a run that finds its entry needs none of them (compileall alone
    # costs 20 ms of every run's imports).
    import compileall
    import shutil
    import tempfile
    pending = tempfile.mkdtemp(prefix=PENDING_PREFIX, dir=directory)
    try:
        for name in code_names(archive):
            archive.extract(name, pending)
        compileall.compile_dir(pending, quiet=2, workers=1)
        os.chmod(pending, 0o755)
        os.rename(pending, os.path.join(directory, key))
    except OSError:
        shutil.rmtree(pending, ignore_errors=True)
        # Another run made the same entry first.
        if not os.path.isdir(os.path.join(directory, key)):
            raise


def prune(directory):
    """Keeps the ``KEEP`` entries used last; removes the others and old pending entries."""
    import shutil
    import time
    now = time.time()
    used = []
    for name in entries(directory):
        path = os.path.join(directory, name)
        age = now - os.lstat(path).st_mtime
        if name.startswith(PENDING_PREFIX):
            if age > PENDING_MAX_AGE:
                shutil.rmtree(path, ignore_errors=True)
        else:
            used.append((age, path))
    for dummy, path in sorted(used)[KEEP:]:
        shutil.rmtree(path, ignore_errors=True)


def entry_for(payload_zip, directory):
    """The entry directory of ``payload_zip``'s code, made when missing and marked as used; None in
    a directory that others can write to."""
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    if not private(directory):
        return None
    with zipfile.ZipFile(payload_zip) as archive:
        key = code_key(archive)
        path = os.path.join(directory, key)
        if not os.path.isdir(path):
            make_entry(archive, directory, key)
            prune(directory)
    os.utime(path, None)
    return path


def install(directory):
    """Puts the import hook in place: the payload's zip path is read from its entry."""
    busy = []

    def hook(path):
        # Not while making an entry: an import there (compileall) asks for the same zip again.
        if PAYLOAD_ZIP.match(os.path.basename(path)) and not busy:
            busy.append(path)
            try:
                found = entry_for(path, directory)
            except (OSError, ValueError, zipfile.BadZipFile):
                found = None
            finally:
                busy.pop()
            if found is not None:
                return importlib.machinery.FileFinder(found, *LOADERS)
        raise ImportError("not a payload with cached code: %s" % path)
    sys.path_hooks.insert(0, hook)
    # The entries are compiled when made: imports never write into them.
    sys.dont_write_bytecode = True


def launcher_text(interpreter):
    """The launcher the node module writes: this source, run by ``interpreter``."""
    source = __loader__.get_source(__name__)
    # Ansible's collection loader on the controller gives bytes.
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    return "#!%s\n# Managed by gpumock.nvidia (nvidia_mock_node): its modules' code, kept compiled.\n%s" % (
        interpreter, source)


def keep_own_code(directory):
    """Makes the entry of the payload this code runs from (nothing when it runs from an entry)."""
    archive = getattr(__loader__, "archive", None)
    if archive is not None and PAYLOAD_ZIP.match(os.path.basename(archive)):
        entry_for(archive, directory)


def main(argv):
    """As ``python3 [PAYLOAD-FILE [ARGS]]``: the payload from the file, or from stdin."""
    payload = (argv[1:] or [None])[0]
    if payload is None:
        source = sys.stdin.read()
    else:
        with open(payload) as stream:
            source = stream.read()
    install(os.path.dirname(os.path.abspath(__file__)))
    # As `python3 PAYLOAD ARGS` would set them (the wrapper reads its command from them).
    sys.argv = [payload or ""] + argv[2:]
    exec(compile(source, payload or "<stdin>", "exec"), dict(__name__="__main__", __builtins__=__builtins__))


if __name__ == "__main__":
    main(sys.argv)
