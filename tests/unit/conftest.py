"""Fixtures of the unit tests: a module run through Ansible's module harness, file-system
snapshots, and the checks every hostile-input case makes."""
import hashlib
import json
import os
import signal
import stat

import pytest
from ansible.module_utils.testing import patch_module_args


def _run_module(module, capsys, args, check=False, diff=False):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def run(request, capsys):
    """Run the test file's MODULE with these arguments (over its MODULE_DEFAULTS, if any).

    check and diff set check and diff mode. Returns the module's JSON result, whether it
    exited or failed. MODULE and MODULE_DEFAULTS are read at each call, so a test that runs
    several modules may set them (monkeypatch) first.
    """
    def _run(check=False, diff=False, **args):
        defaults = getattr(request.module, "MODULE_DEFAULTS", {})
        return _run_module(request.module.MODULE, capsys, dict(defaults, **args), check, diff)

    return _run


@pytest.fixture
def run_module(capsys):
    """Run ``module`` (a module of plugins/modules) with these arguments; its JSON result."""
    def _run(module, check=False, diff=False, **args):
        return _run_module(module, capsys, args, check, diff)
    return _run


def _snapshot_item(path, st):
    kind = stat.S_IFMT(st.st_mode)
    item = {"type": kind, "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
    if stat.S_ISDIR(st.st_mode):
        return item
    # Not a directory: a rewrite with the same bytes still shows (inode, mtime).
    item.update(ino=st.st_ino, mtime_ns=st.st_mtime_ns)
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as handle:
            item["sha256"] = hashlib.sha256(handle.read()).hexdigest()
    elif stat.S_ISLNK(st.st_mode):
        item["target"] = os.readlink(path)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        item["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
    return item


@pytest.fixture
def fs_snapshot():
    """``fs_snapshot(top)``: every object below ``top`` (``top`` itself as ".") by relative path,
    with its type, mode, owner and, but for directories, inode, mtime and content (digest, link
    target or device numbers). Two snapshots are equal when nothing was written, replaced or
    removed; FIFOs and sockets are listed but never opened."""
    def snapshot(top):
        top = str(top)
        state = {}
        if not os.path.lexists(top):
            return state
        state["."] = _snapshot_item(top, os.lstat(top))
        for directory, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(directory, name)
                state[os.path.relpath(path, top)] = _snapshot_item(path, os.lstat(path))
        return state
    return snapshot


@pytest.fixture
def failure():
    """``failure(result, option)``: assert a failed run whose message is one line naming ``option``
    (its first word) and no traceback; return the message."""
    def check(result, option):
        assert result.get("failed") is True, result
        msg = result["msg"]
        assert "\n" not in msg and "Traceback" not in msg and "exception" not in result, result
        assert msg.split(" ", 1)[0].rstrip(":") == option, msg
        return msg
    return check


@pytest.fixture
def deadline():
    """``with deadline(seconds):`` fails the test with TimeoutError instead of letting a blocked
    call (an open of a FIFO) hang the suite."""
    class Deadline:
        def __init__(self, seconds=5):
            self.seconds = seconds

        def __enter__(self):
            def expired(signum, frame):
                raise TimeoutError("blocked for %d s" % self.seconds)
            self.previous = signal.signal(signal.SIGALRM, expired)
            signal.alarm(self.seconds)

        def __exit__(self, *exc):
            signal.alarm(0)
            signal.signal(signal.SIGALRM, self.previous)
    return Deadline
