"""Specification of the idempotent engine (plugins/module_utils/files/fsstate.py)."""
import os
import stat

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.files.fsstate import (
    CHARDEV, DEVFILE, DIRECTORY, FILE, LINK, Entry, FsStateError)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod, chown)")


def converge(root, entries, state="present"):
    plan = fsstate.plan(str(root), entries, state)
    fsstate.apply(plan)
    return plan


def sample_entries():
    """A config file the caller edits whatever it holds, an empty file, a link and a stand-in."""
    return [
        Entry("etc", DIRECTORY, mode=0o755),
        Entry("etc/app.conf", FILE, content="key = 1\n", mode=0o640, adopt=(fsstate.anything,)),
        Entry("etc/empty", FILE, mode=0o600),
        Entry("etc/link", LINK, target="app.conf", adopt=(fsstate.through_link(fsstate.empty_file),)),
        Entry("dev/standin", DEVFILE, mode=0o666),
    ]


def test_plan_on_empty_root_creates_every_entry_and_reports_changed(tmp_path):
    plan = fsstate.plan(str(tmp_path), sample_entries())
    assert plan.changed
    assert sorted(a.path for a in plan.actions if a.op == "create") == sorted(e.path for e in sample_entries())


def test_plan_writes_nothing(tmp_path):
    fsstate.plan(str(tmp_path), sample_entries())
    assert os.listdir(tmp_path) == []


def test_apply_makes_files_links_dirs_and_standins_with_their_modes(tmp_path):
    converge(tmp_path, sample_entries())
    assert (tmp_path / "etc/app.conf").read_text() == "key = 1\n"
    assert stat.S_IMODE(os.stat(tmp_path / "etc/app.conf").st_mode) == 0o640
    assert (tmp_path / "etc/empty").read_bytes() == b""
    assert os.readlink(tmp_path / "etc/link") == "app.conf"
    assert stat.S_ISREG(os.lstat(tmp_path / "dev/standin").st_mode)
    assert stat.S_IMODE(os.stat(tmp_path / "dev/standin").st_mode) == 0o666


def test_second_plan_after_apply_is_unchanged(tmp_path):
    converge(tmp_path, sample_entries())
    assert not fsstate.plan(str(tmp_path), sample_entries()).changed


def test_changed_content_is_planned_as_update_and_rewritten(tmp_path):
    converge(tmp_path, sample_entries())
    (tmp_path / "etc/app.conf").write_text("edited\n")
    plan = fsstate.plan(str(tmp_path), sample_entries())
    assert [(a.op, a.path, a.fix) for a in plan.actions] == [("update", "etc/app.conf", ("content",))]
    fsstate.apply(plan)
    assert (tmp_path / "etc/app.conf").read_text() == "key = 1\n"


def test_wrong_mode_is_enforced_without_rewriting_content(tmp_path):
    converge(tmp_path, sample_entries())
    os.chmod(tmp_path / "etc/app.conf", 0o777)
    inode = os.stat(tmp_path / "etc/app.conf").st_ino
    plan = converge(tmp_path, sample_entries())
    assert [a.fix for a in plan.actions] == [("mode",)]
    assert stat.S_IMODE(os.stat(tmp_path / "etc/app.conf").st_mode) == 0o640
    assert os.stat(tmp_path / "etc/app.conf").st_ino == inode


@needs_root
def test_wrong_owner_is_enforced(tmp_path):
    entries = [Entry("f", FILE, content="x", uid=0, gid=0)]
    converge(tmp_path, entries)
    os.chown(tmp_path / "f", 1234, 1234)
    plan = converge(tmp_path, entries)
    assert [a.fix for a in plan.actions] == [("owner",)]
    assert (os.stat(tmp_path / "f").st_uid, os.stat(tmp_path / "f").st_gid) == (0, 0)


def test_wrong_link_target_is_replaced(tmp_path):
    converge(tmp_path, sample_entries())
    os.unlink(tmp_path / "etc/link")
    os.symlink("elsewhere", tmp_path / "etc/link")
    plan = converge(tmp_path, sample_entries())
    assert [(a.op, a.path) for a in plan.actions] == [("replace", "etc/link")]
    assert os.readlink(tmp_path / "etc/link") == "app.conf"


def test_file_where_a_link_is_planned_is_refused(tmp_path):
    converge(tmp_path, sample_entries())
    os.unlink(tmp_path / "etc/link")
    (tmp_path / "etc/link").write_text("not a link")
    with pytest.raises(FsStateError, match="link is a file of 10 bytes that gpumock.nvidia did not make"):
        converge(tmp_path, sample_entries())
    assert (tmp_path / "etc/link").read_text() == "not a link"


def test_non_empty_directory_where_a_file_is_planned_is_refused(tmp_path):
    (tmp_path / "etc/app.conf").mkdir(parents=True)
    (tmp_path / "etc/app.conf/keep").write_text("x")
    with pytest.raises(FsStateError, match="app.conf is a directory"):
        fsstate.plan(str(tmp_path), sample_entries())


def test_keep_content_creates_a_missing_file_but_leaves_a_foreign_one_exactly_as_it_is(tmp_path):
    entries = [Entry("bin/tool", FILE, content="#!/bin/sh\n", mode=0o755, keep_content=True)]
    converge(tmp_path, entries)
    assert (tmp_path / "bin/tool").read_text() == "#!/bin/sh\n"
    (tmp_path / "bin/tool").write_text("real binary")
    os.chmod(tmp_path / "bin/tool", 0o700)
    assert not fsstate.plan(str(tmp_path), entries).changed
    assert (tmp_path / "bin/tool").read_text() == "real binary"
    assert stat.S_IMODE(os.stat(tmp_path / "bin/tool").st_mode) == 0o700


def test_keep_content_still_enforces_the_mode_of_its_own_file(tmp_path):
    entries = [Entry("bin/tool", FILE, content="#!/bin/sh\n", mode=0o755, keep_content=True)]
    converge(tmp_path, entries)
    os.chmod(tmp_path / "bin/tool", 0o600)
    assert [a.fix for a in converge(tmp_path, entries).actions] == [("mode",)]
    assert stat.S_IMODE(os.stat(tmp_path / "bin/tool").st_mode) == 0o755


def test_file_write_is_atomic_rename_of_a_temp_file_in_the_same_directory(tmp_path, monkeypatch):
    converge(tmp_path, sample_entries())
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        renames.append((os.path.dirname(src), os.path.basename(src), dst))
        return real_replace(src, dst)

    monkeypatch.setattr(fsstate.os, "replace", spy)
    (tmp_path / "etc/app.conf").write_text("old\n")
    converge(tmp_path, sample_entries())
    assert renames == [(str(tmp_path / "etc"), renames[0][1], str(tmp_path / "etc/app.conf"))]
    assert renames[0][1].startswith(".app.conf.")
    assert [n for n in os.listdir(tmp_path / "etc") if n.endswith(".tmp")] == []


def test_failed_write_leaves_old_content_and_no_temp_file(tmp_path, monkeypatch):
    converge(tmp_path, sample_entries())
    (tmp_path / "etc/app.conf").write_text("old\n")

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fsstate.os, "fsync", broken_fsync)
    with pytest.raises(FsStateError, match="app.conf"):
        converge(tmp_path, sample_entries())
    assert (tmp_path / "etc/app.conf").read_text() == "old\n"
    assert [n for n in os.listdir(tmp_path / "etc") if n.endswith(".tmp")] == []


@pytest.mark.parametrize("path", ["../outside", "a/../../outside", "/etc/passwd"])
def test_paths_escaping_the_root_are_refused(tmp_path, path):
    with pytest.raises(FsStateError):
        fsstate.plan(str(tmp_path), [Entry(path, FILE, content="x")])


def test_symlink_on_the_way_out_of_the_root_is_refused_and_nothing_written(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(str(outside), root / "etc")
    with pytest.raises(FsStateError, match="leaves the root"):
        fsstate.plan(str(root), [Entry("etc/app.conf", FILE, content="x")])
    assert os.listdir(outside) == []


def test_symlink_inside_the_root_is_followed(tmp_path):
    (tmp_path / "usr/lib").mkdir(parents=True)
    os.symlink("usr/lib", tmp_path / "lib")
    converge(tmp_path, [Entry("lib/firmware/blob", FILE, content="x")])
    assert (tmp_path / "usr/lib/firmware/blob").read_text() == "x"


def test_directory_entry_satisfied_by_a_symlink_to_a_directory_is_left_alone(tmp_path):
    (tmp_path / "usr/lib").mkdir(parents=True)
    os.symlink("usr/lib", tmp_path / "lib")
    assert not fsstate.plan(str(tmp_path), [Entry("lib", DIRECTORY)]).changed


def test_duplicate_paths_are_refused(tmp_path):
    with pytest.raises(FsStateError, match="twice"):
        fsstate.plan(str(tmp_path), [Entry("a", FILE), Entry("a", FILE)])


def test_relative_root_is_refused():
    with pytest.raises(FsStateError, match="absolute"):
        fsstate.plan("relative/root", [Entry("a", FILE)])


def test_absent_removes_owned_files_links_and_directories(tmp_path):
    converge(tmp_path, sample_entries())
    plan = converge(tmp_path, sample_entries(), "absent")
    assert plan.changed
    assert not (tmp_path / "etc").exists()
    assert not (tmp_path / "dev/standin").exists()


def test_absent_keeps_implicit_parent_directories(tmp_path):
    converge(tmp_path, sample_entries())
    converge(tmp_path, sample_entries(), "absent")
    assert (tmp_path / "dev").is_dir()


def test_absent_keeps_an_owned_directory_holding_foreign_files(tmp_path):
    converge(tmp_path, sample_entries())
    (tmp_path / "etc/foreign").write_text("not ours")
    plan = converge(tmp_path, sample_entries(), "absent")
    assert (tmp_path / "etc/foreign").read_text() == "not ours"
    assert not (tmp_path / "etc/app.conf").exists()
    assert "etc" in plan.kept


def test_absent_leaves_a_directory_found_where_a_file_was_planned(tmp_path):
    (tmp_path / "etc/app.conf").mkdir(parents=True)
    plan = converge(tmp_path, [Entry("etc/app.conf", FILE)], "absent")
    assert (tmp_path / "etc/app.conf").is_dir()
    assert plan.kept == ["etc/app.conf"]


def test_absent_twice_is_unchanged(tmp_path):
    converge(tmp_path, sample_entries())
    converge(tmp_path, sample_entries(), "absent")
    assert not fsstate.plan(str(tmp_path), sample_entries(), "absent").changed


def test_diff_items_describe_before_and_after_with_text_content(tmp_path):
    plan = fsstate.plan(str(tmp_path), [Entry("a.conf", FILE, content="x = 1\n")])
    (item,) = plan.diffs
    assert item["before_header"] == str(tmp_path / "a.conf")
    assert item["before"] == "absent\n"
    assert item["after"].startswith("file mode=0644")
    assert item["after"].endswith("x = 1\n")


def test_unchanged_entries_have_no_diff_items(tmp_path):
    converge(tmp_path, sample_entries())
    assert fsstate.plan(str(tmp_path), sample_entries()).diffs == []


@needs_root
def test_char_device_is_created_with_its_numbers(tmp_path):
    converge(tmp_path, [Entry("nvidia0", CHARDEV, major=195, minor=7, mode=0o666)])
    st = os.lstat(tmp_path / "nvidia0")
    assert stat.S_ISCHR(st.st_mode)
    assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (195, 7)
    assert stat.S_IMODE(st.st_mode) == 0o666


@needs_root
def test_char_device_with_wrong_numbers_is_replaced(tmp_path):
    os.mknod(tmp_path / "nvidia0", stat.S_IFCHR | 0o666, os.makedev(195, 9))
    os.chmod(tmp_path / "nvidia0", 0o666)
    plan = converge(tmp_path, [Entry("nvidia0", CHARDEV, major=195, minor=0, mode=0o666,
                                     adopt=(fsstate.device_not_of(()),))])
    assert [(a.op, a.fix) for a in plan.actions] == [("replace", ("rdev",))]
    assert os.minor(os.lstat(tmp_path / "nvidia0").st_rdev) == 0


@needs_root
def test_regular_file_where_a_device_is_planned_is_replaced_by_a_device(tmp_path):
    (tmp_path / "nvidia0").write_text("")
    converge(tmp_path, [Entry("nvidia0", CHARDEV, major=195, minor=0, adopt=(fsstate.empty_file,))])
    assert stat.S_ISCHR(os.lstat(tmp_path / "nvidia0").st_mode)


@needs_root
def test_real_device_with_the_right_numbers_satisfies_a_standin(tmp_path):
    os.mknod(tmp_path / "nvidia0", stat.S_IFCHR | 0o666, os.makedev(195, 0))
    os.chmod(tmp_path / "nvidia0", 0o666)
    assert not fsstate.plan(str(tmp_path), [Entry("nvidia0", DEVFILE, major=195, minor=0, mode=0o666)]).changed


def test_refused_mknod_raises_mknod_error(tmp_path, monkeypatch):
    def refuse(*args):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(fsstate.os, "mknod", refuse)
    with pytest.raises(fsstate.MknodError, match="nvidia0"):
        converge(tmp_path, [Entry("nvidia0", CHARDEV, major=195, minor=0)])
    assert os.listdir(tmp_path) == []


def test_can_mknod_is_false_when_mknod_is_refused(monkeypatch):
    def refuse(*args):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(fsstate.os, "mknod", refuse)
    assert fsstate.can_mknod() is False


@needs_root
def test_can_mknod_is_true_for_root_outside_user_namespaces():
    assert fsstate.can_mknod() is True


def test_apply_creates_a_missing_root(tmp_path):
    root = tmp_path / "new/root"
    converge(root, [Entry("a", FILE, content="x")])
    assert (root / "a").read_text() == "x"


def test_created_parents_and_root_are_0755_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        converge(tmp_path / "new/root", [Entry("etc/cdi/nvidia.yaml", FILE, content="x")])
    finally:
        os.umask(old)
    for path in ("new", "new/root", "new/root/etc", "new/root/etc/cdi"):
        assert stat.S_IMODE(os.stat(tmp_path / path).st_mode) == 0o755


def test_a_plan_without_diff_has_no_diff_items_and_reads_no_file_for_one(tmp_path, monkeypatch):
    (tmp_path / "a.conf").write_text("old, longer content\n")
    reads = []
    real_read = fsstate.read_file
    monkeypatch.setattr(fsstate, "read_file", lambda *a, **k: reads.append(a) or real_read(*a, **k))
    entry = Entry("a.conf", FILE, content="new\n", adopt=(fsstate.anything,))
    plan = fsstate.plan(str(tmp_path), [entry], diff=False)
    assert plan.changed and plan.diffs is None
    assert reads == []
    assert fsstate.plan(str(tmp_path), [entry]).diffs[0]["before"].endswith(
        "old, longer content\n")
    assert len(reads) == 1


def test_write_file_replaces_atomically_with_the_given_mode(tmp_path):
    target = tmp_path / "x.conf"
    target.write_text("old")
    fsstate.write_file(str(target), b"new", mode=0o600)
    assert fsstate.read_file(str(target)) == b"new"
    assert target.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["x.conf"]
