"""Hostile input, class 3: one line naming the option and the OS error, never a traceback.

Every option that names where a module writes (a tree's root, a file) is tried on a read-only
file system, below a regular file, on a full file system, empty, relative and ``//``; every
option that names a file the module reads is tried with ``/dev/zero`` and a directory. Each run
fails with one line that starts with the option's name and holds the system's words for the
error, and changes nothing on disk.
"""
import os
import subprocess

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.modules import (
    nvidia_cdi_spec, nvidia_mock_containerd, nvidia_mock_devnodes, nvidia_mock_driver_tree, nvidia_mock_node,
    nvidia_mock_node_labels)

NODE = dict(node_id="unit-node", gpu_count=2)
MAJORS = dict(uvm_major=238, caps_major=241)

# (module, option, where below a base directory, other arguments).
OUTPUTS = [
    (nvidia_mock_driver_tree, "root", "driver", NODE),
    (nvidia_mock_devnodes, "dev_root", "dev", dict(NODE, fallback="files")),
    (nvidia_cdi_spec, "path", "cdi/nvidia.yaml", dict(NODE, **MAJORS)),
    (nvidia_mock_node_labels, "path", "features.d/gpumock", NODE),
    (nvidia_mock_containerd, "path", "containerd/config.toml", dict(new_file_version=2)),
] + [(nvidia_mock_node, option, where, NODE) for option, where in [
    ("dev_root", "dev"), ("driver_root", "driver"), ("cdi_path", "cdi/nvidia.yaml"),
    ("features_file", "features.d/gpumock"), ("tmpfiles_path", "tmpfiles.d/mock.conf"),
    ("ld_so_conf_path", "ld.so.conf.d/mock.conf")]]
FILE_OPTIONS = [o for o in OUTPUTS if o[1] not in ("root", "dev_root", "driver_root")]


def ids(case):
    return "%s-%s" % (case[0].__name__.rsplit(".", 1)[1].replace("nvidia_", ""), case[1])


@pytest.fixture(autouse=True)
def node_tools(monkeypatch):
    """The node has systemd-tmpfiles and ldconfig (so the boot rule and the loader entry are written)."""
    tools = {"systemd-tmpfiles": "/usr/bin/systemd-tmpfiles", "ldconfig": "/sbin/ldconfig"}
    monkeypatch.setattr(nvidia_mock_node.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: tools.get(name))
    monkeypatch.setattr(nvidia_mock_node.AnsibleModule, "run_command", lambda self, argv, **k: (0, "", ""))


def arguments(case, base, scratch):
    """The case's arguments: its option at ``base/where``; a node module's other paths in ``scratch``."""
    module, option, where, extra = case
    args = dict(extra)
    if module is nvidia_mock_node:
        for other, other_where in [o[1:3] for o in OUTPUTS if o[0] is nvidia_mock_node]:
            args[other] = str(scratch / other_where)
        args.update(register_ldconfig=True, tmpfiles=True)
    args[option] = str(base / where)
    return args


@pytest.fixture
def mount(tmp_path):
    """``mount(name, options)``: a fresh tmpfs at tmp_path/name (unmounted afterwards)."""
    mounted = []

    def _mount(name, options, fill=False):
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,nr_inodes=64," + options, "tmpfs", str(point)],
                              capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip("cannot mount a tmpfs here: %s" % done.stderr.decode().strip())
        mounted.append(point)
        if fill:
            _fill(point)
        return point

    yield _mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


def _fill(point):
    """Use up the file system's blocks and inodes."""
    with open(point / "ballast", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    n = 0
    try:
        while True:
            open(point / ("inode%d" % n), "wb").close()
            n += 1
    except OSError:
        pass


@pytest.fixture
def fails(run_module, fs_snapshot, failure):
    """``fails(case, args, top, words)``: a real run (and, with ``check_too``, a check-mode run) fails in one
    line naming the option and holding ``words``; nothing below ``top`` changes."""
    def check(case, args, top, words, check_too=True):
        before = fs_snapshot(top)
        msgs = []
        for check_mode in (False, True) if check_too else (False,):
            msg = failure(run_module(case[0], check=check_mode, **args), case[1])
            assert words in msg, msg
            msgs.append(msg)
            assert fs_snapshot(top) == before
        return msgs
    return check


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount)")
@pytest.mark.parametrize("case", OUTPUTS, ids=ids)
def test_a_read_only_file_system_fails_in_one_line_naming_the_option(fails, mount, tmp_path, case):
    ro = mount("ro", "ro")
    args = arguments(case, ro, tmp_path / "scratch")
    # (A check-mode run writes nothing, so it cannot learn that writing fails.)
    msg = fails(case, args, ro, "Read-only file system", check_too=False)[0]
    assert msg.endswith("nothing was changed.") or "before it this run made" in msg, msg


@pytest.mark.parametrize("case", OUTPUTS, ids=ids)
def test_a_path_below_a_regular_file_fails_in_one_line_naming_the_option(fails, tmp_path, case):
    (tmp_path / "plain").write_text("a regular file")
    args = arguments(case, tmp_path / "plain", tmp_path / "scratch")
    fails(case, args, tmp_path / "plain", "not a directory")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount)")
@pytest.mark.parametrize("case", [c for c in OUTPUTS if c[1] != "dev_root"], ids=ids)
def test_a_full_file_system_fails_in_one_line_naming_the_option(
        run_module, fs_snapshot, failure, mount, tmp_path, case):
    full = mount("full", "rw", fill=True)
    args = arguments(case, full, tmp_path / "scratch")
    before = fs_snapshot(full)
    msg = failure(run_module(case[0], **args), case[1])
    assert "No space left on device" in msg, msg
    assert fs_snapshot(full) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount)")
def test_device_nodes_without_free_inodes_fail_in_one_line(run_module, fs_snapshot, failure, mount):
    full = mount("full", "rw", fill=True)
    before = fs_snapshot(full)
    msg = failure(run_module(nvidia_mock_devnodes, dev_root=str(full / "dev"), fallback="files", **NODE), "dev_root")
    assert "No space left on device" in msg and fs_snapshot(full) == before


@pytest.mark.parametrize("value", ["", "relative/path", "./x"])
@pytest.mark.parametrize("case", OUTPUTS, ids=ids)
def test_an_empty_or_relative_path_fails_in_one_line_naming_the_option(fails, tmp_path, case, value):
    args = arguments(case, tmp_path, tmp_path / "scratch")
    args[case[1]] = value
    fails(case, args, tmp_path, "absolute")


@pytest.mark.parametrize("case", FILE_OPTIONS, ids=ids)
def test_a_path_of_two_slashes_fails_in_one_line_naming_the_option(fails, tmp_path, case):
    args = arguments(case, tmp_path, tmp_path / "scratch")
    args[case[1]] = "//"
    fails(case, args, tmp_path, "'//'")


# Files a module reads.

INPUTS = [
    (nvidia_mock_driver_tree, "nvml_library", dict(NODE)),
    (nvidia_mock_driver_tree, "mock_ctl", dict(NODE)),
    (nvidia_mock_node, "nvml_library", dict(NODE, tmpfiles=False)),
    (nvidia_mock_node, "mock_ctl", dict(NODE, tmpfiles=False)),
    (nvidia_cdi_spec, "hook_path", dict(NODE, **MAJORS)),
]


def input_arguments(case, tmp_path, value):
    module, option, extra = case
    args = dict(extra)
    if module is nvidia_mock_driver_tree:
        args["root"] = str(tmp_path / "driver")
    elif module is nvidia_cdi_spec:
        args["path"] = str(tmp_path / "cdi/nvidia.yaml")
    else:
        args.update(dev_root=str(tmp_path / "dev"), driver_root=str(tmp_path / "driver"),
                    cdi_path=str(tmp_path / "cdi/nvidia.yaml"))
    args[option] = value
    return args


@pytest.mark.parametrize("case", INPUTS, ids=lambda c: "%s-%s" % (c[0].__name__.rsplit(".", 1)[1].replace("nvidia_", ""), c[1]))
@pytest.mark.parametrize("what, words", [("/dev/zero", "character device"), ("directory", "directory"),
                                         ("missing", "No such file or directory")])
def test_an_input_that_is_not_a_regular_file_fails_in_one_line_naming_the_option(
        run_module, fs_snapshot, failure, deadline, tmp_path, case, what, words):
    value = {"/dev/zero": "/dev/zero", "directory": str(tmp_path), "missing": str(tmp_path / "missing")}[what]
    if case[1] == "hook_path" and what == "missing":
        words = "does not exist"
    before = fs_snapshot(tmp_path)
    with deadline(10):
        msg = failure(run_module(case[0], **input_arguments(case, tmp_path, value)), case[1])
    assert value in msg and words in msg, msg
    assert fs_snapshot(tmp_path) == before


def test_a_directory_as_the_containerd_config_fails_in_one_line(fails, tmp_path):
    (tmp_path / "config.toml").mkdir()
    fails((nvidia_mock_containerd, "path"), dict(path=str(tmp_path / "config.toml")), tmp_path, "is a directory")


def test_a_directory_as_the_cdi_spec_is_refused_in_one_line(fails, tmp_path):
    (tmp_path / "nvidia.yaml").mkdir()
    fails((nvidia_cdi_spec, "path"), dict(path=str(tmp_path / "nvidia.yaml"), **NODE), tmp_path, "is a directory")


def test_an_unreadable_containerd_config_fails_in_one_line(fails, tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xff\xfe not UTF-8")
    fails((nvidia_mock_containerd, "path"), dict(path=str(path)), tmp_path, "UTF-8")


def test_a_node_names_the_parts_it_made_before_a_failing_one(run_module, failure, mount, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root (mount)")
    ro = mount("ro", "ro")
    case = (nvidia_mock_node, "cdi_path", "cdi/nvidia.yaml", NODE)
    msg = failure(run_module(nvidia_mock_node, **arguments(case, ro, tmp_path / "scratch")), "cdi_path")
    assert "Read-only file system" in msg and "before it this run made devnodes, driver_tree" in msg, msg


def test_a_temp_dir_where_the_mknod_probe_cannot_be_made_fails_in_one_line(run_module, monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(fsstate.tempfile, "mkdtemp", refuse)
    result = run_module(nvidia_mock_devnodes, dev_root=str(tmp_path / "dev"), **NODE)
    assert result["failed"] and "\n" not in result["msg"] and "Read-only file system" in result["msg"], result
    assert "mknod" in result["msg"] and not (tmp_path / "dev").exists()
