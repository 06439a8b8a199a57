"""Fixtures of the unit tests: a module run through Ansible's module harness, a tree's snapshot."""
import json
import os
import stat

import pytest
from ansible.module_utils.testing import patch_module_args


@pytest.fixture
def run(request, capsys):
    """Run the test file's MODULE with these arguments (over its MODULE_DEFAULTS, if any).

    check and diff set check and diff mode. Returns the module's JSON result, whether it
    exited or failed. MODULE and MODULE_DEFAULTS are read at each call, so a test that runs
    several modules may set them (monkeypatch) first.
    """
    def _run(check=False, diff=False, **args):
        module = request.module.MODULE
        defaults = getattr(request.module, "MODULE_DEFAULTS", {})
        args = dict(defaults, **args)
        args.update(_ansible_check_mode=check, _ansible_diff=diff)
        with patch_module_args(args), pytest.raises(SystemExit):
            module.main()
        return json.loads(capsys.readouterr().out)

    return _run


def _entry(path):
    st = os.lstat(path)
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return ("link", mode, os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return ("dir", mode, None)
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            return ("file", mode, f.read())
    return ("special %o" % stat.S_IFMT(st.st_mode), mode, st.st_rdev)


@pytest.fixture
def tree_snapshot():
    """snapshot(root): {path relative to root: (type, mode, bytes)} of every entry below root
    (a link's target as its bytes, a device's numbers): equal snapshots, an untouched tree."""
    def snapshot(root):
        root = str(root)
        out = {}
        for directory, dirs, files in os.walk(root):
            for name in dirs + files:
                path = os.path.join(directory, name)
                out[os.path.relpath(path, root)] = _entry(path)
        return out
    return snapshot
