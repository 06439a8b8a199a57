"""Specification of the module code cache's launcher (module_utils/runner/module_code_cache.py):
a payload run through it takes its code from a compiled entry of the cache directory.

The payload here is shaped as AnsiballZ's: a script that writes its zip as
``ansible_<name>_payload.zip`` in a temporary directory, adds sitecustomize.py to it, puts it on
sys.path and imports the module from it. The launcher runs as the node module writes it, with a
real python3, the payload on stdin.
"""
import base64
import io
import os
import subprocess
import sys
import time
import zipfile

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import module_code_cache

WRAPPER = """
import base64, os, sys, tempfile, zipfile
temp = tempfile.mkdtemp(prefix="ansible_probe_payload_")
path = os.path.join(temp, "ansible_probe_payload.zip")
with open(path, "wb") as stream:
    stream.write(base64.b64decode(%r))
with zipfile.ZipFile(path, "a") as archive:
    archive.writestr("sitecustomize.py", "import sys\\nsys.path.insert(0, %%r)\\n" %% path)
sys.path.insert(0, path)
import probe_pkg.probe
print(probe_pkg.probe.__file__)
"""


def payload(version="1"):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("probe_pkg/__init__.py", "")
        archive.writestr("probe_pkg/probe.py", "VERSION = %r\n" % version)
    return WRAPPER % base64.b64encode(data.getvalue()).decode("ascii")


@pytest.fixture
def cache(tmp_path):
    """The cache directory, holding the launcher as the node module writes it for this Python."""
    directory = tmp_path / "modules"
    directory.mkdir(mode=0o755)
    launcher = directory / module_code_cache.LAUNCHER
    launcher.write_text(module_code_cache.launcher_text(sys.executable))
    launcher.chmod(0o755)
    return directory


def launch(cache, source):
    """Runs ``source`` through the launcher; the file the probe module was imported from."""
    done = subprocess.run([str(cache / module_code_cache.LAUNCHER)], input=source, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def entries(cache):
    return sorted(name for name in os.listdir(cache) if module_code_cache.ENTRY_NAME.match(name))


def test_the_launcher_is_this_source_run_by_the_given_interpreter():
    text = module_code_cache.launcher_text("/usr/bin/python3")
    assert text.startswith("#!/usr/bin/python3\n")
    assert "gpumock.nvidia" in text.splitlines()[1]
    with open(module_code_cache.__file__) as stream:
        assert text.endswith(stream.read())


def test_a_payload_run_through_the_launcher_imports_its_code_from_a_compiled_entry(cache):
    imported = launch(cache, payload())
    [entry] = entries(cache)
    assert imported == str(cache / entry / "probe_pkg" / "probe.py")
    assert os.listdir(cache / entry / "probe_pkg" / "__pycache__")
    assert not os.path.exists(cache / entry / "sitecustomize.py")


def test_a_second_run_uses_the_same_entry_and_writes_nothing_into_it(cache):
    launch(cache, payload())
    [entry] = entries(cache)
    before = sorted((path, os.stat(os.path.join(path, name)).st_mtime_ns) for path, _dirs, names in os.walk(cache / entry)
                    for name in names)
    assert launch(cache, payload()) == str(cache / entry / "probe_pkg" / "probe.py")
    after = sorted((path, os.stat(os.path.join(path, name)).st_mtime_ns) for path, _dirs, names in os.walk(cache / entry)
                   for name in names)
    assert entries(cache) == [entry] and before == after


def test_other_code_gets_an_entry_of_its_own(cache):
    launch(cache, payload("1"))
    launch(cache, payload("2"))
    assert len(entries(cache)) == 2


def test_a_directory_others_can_write_to_is_not_used(cache):
    cache.chmod(0o777)
    imported = launch(cache, payload())
    assert "ansible_probe_payload.zip" in imported
    assert entries(cache) == []


def test_only_the_entries_used_last_are_kept(cache):
    for version in range(module_code_cache.KEEP + 2):
        launch(cache, payload(str(version)))
        # A second apart, as the entries' times tell them apart.
        for name in entries(cache):
            os.utime(cache / name, (time.time() - 100, time.time() - 100))
    assert len(entries(cache)) == module_code_cache.KEEP


def test_a_pending_entry_a_dead_run_left_is_removed_once_old_and_never_used(cache):
    old = cache / (module_code_cache.PENDING_PREFIX + "old")
    young = cache / (module_code_cache.PENDING_PREFIX + "young")
    for pending in (old, young):
        (pending / "probe_pkg").mkdir(parents=True)
        (pending / "probe_pkg" / "__init__.py").write_text("")
    os.utime(old, (time.time() - 2 * module_code_cache.PENDING_MAX_AGE,) * 2)
    launch(cache, payload())
    assert not old.exists() and young.exists()
    assert module_code_cache.entries(str(cache)) == sorted([young.name] + entries(cache))


def test_an_entry_that_cannot_be_made_leaves_the_payload_to_zipimport(monkeypatch, tmp_path):
    def refuse(*args):
        raise OSError(30, "Read-only file system")
    monkeypatch.setattr(module_code_cache, "entry_for", refuse)
    monkeypatch.setattr(sys, "path_hooks", list(sys.path_hooks))
    monkeypatch.setattr(sys, "dont_write_bytecode", sys.dont_write_bytecode)
    module_code_cache.install(str(tmp_path))
    with pytest.raises(ImportError):
        sys.path_hooks[0](str(tmp_path / "ansible_probe_payload.zip"))
