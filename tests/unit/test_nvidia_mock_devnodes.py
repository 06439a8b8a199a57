"""Specification of the nvidia_mock_devnodes module, run through Ansible's module harness."""
import json
import os
import stat

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.modules import nvidia_mock_devnodes as M


MODULE = M
MODULE_DEFAULTS = {"node_id": "unit-node"}


@pytest.fixture
def dev(tmp_path):
    return tmp_path / "dev"


def refuse_mknod(monkeypatch):
    def refuse(*args):
        raise OSError(1, "Operation not permitted")
    monkeypatch.setattr(fsstate.os, "mknod", refuse)


def test_creates_char_devices_for_every_gpu_and_control_node(run, dev):
    result = run(dev_root=str(dev), gpu_count=2, uvm_major=238)
    assert result["changed"] is True
    st = os.lstat(dev / "nvidia-uvm-tools")
    assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (238, 1)
    assert sorted(os.listdir(dev)) == ["nvidia-modeset", "nvidia-uvm", "nvidia-uvm-tools", "nvidia0", "nvidia1",
                                       "nvidiactl"]


def test_reports_each_node_as_a_real_char_device(run, dev):
    result = run(dev_root=str(dev), gpu_count=1)
    assert result["fallback_used"] is False
    assert {n["path"]: n["char_device"] for n in result["nodes"]}[str(dev / "nvidia0")] is True
    assert result["nodes"][0] == {"path": str(dev / "nvidia0"), "major": 195, "minor": 0, "mode": "0666",
                                  "char_device": True}


def test_second_run_is_unchanged(run, dev):
    run(dev_root=str(dev))
    assert run(dev_root=str(dev))["changed"] is False


def test_check_mode_reports_changed_and_creates_nothing(run, dev):
    result = run(check=True, dev_root=str(dev))
    assert result["changed"] is True
    assert not dev.exists()


def test_diff_mode_describes_each_new_node(run, dev):
    result = run(check=True, diff=True, dev_root=str(dev), gpu_count=1, uvm_major=238)
    after = dict((d["after_header"], d["after"]) for d in result["diff"])
    assert after[str(dev / "nvidia-uvm")].startswith("chardev 238:0 mode=0666")


def test_mode_option_sets_the_permissions(run, dev):
    run(dev_root=str(dev), gpu_count=1, mode="0660")
    assert stat.S_IMODE(os.lstat(dev / "nvidia0").st_mode) == 0o660


def test_mig_enabled_creates_the_capability_nodes(run, dev):
    run(dev_root=str(dev), profile="dgxh100", gpu_count=1, mig_enabled=True, caps_major=241)
    st = os.lstat(dev / "nvidia-caps/nvidia-cap2")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 241 and stat.S_IMODE(st.st_mode) == 0o444


# GPU 0: a 3g.40gb (GPU instance 1, capability minors 12 and 13) and a 1g.10gb (11: 102, 103);
# GPU 1: a 7g.80gb (0: 138, 139).
MIG = dict(profile="dgxh100", gpu_count=2, mig_enabled=True,
           mig_layout={"0": ["3g.40gb", "1g.10gb"], "1": ["7g.80gb"]})


def test_a_mig_layout_creates_a_readable_access_node_for_each_gpu_and_compute_instance(run, dev):
    run(dev_root=str(dev), caps_major=241, **MIG)
    assert sorted(os.listdir(dev / "nvidia-caps")) == sorted(
        "nvidia-cap%d" % minor for minor in (1, 2, 12, 13, 102, 103, 138, 139))
    st = os.lstat(dev / "nvidia-caps/nvidia-cap103")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 241 and os.minor(st.st_rdev) == 103
    assert stat.S_IMODE(st.st_mode) == 0o444


def test_second_run_with_a_mig_layout_is_unchanged(run, dev):
    run(dev_root=str(dev), **MIG)
    assert run(dev_root=str(dev), **MIG)["changed"] is False


def test_check_mode_with_a_mig_layout_reports_the_actions_of_the_run(run, dev):
    predicted = run(check=True, dev_root=str(dev), **MIG)
    assert not dev.exists()
    assert predicted["actions"] == run(dev_root=str(dev), **MIG)["actions"]


def test_absent_with_a_mig_layout_removes_its_capability_nodes(run, dev):
    run(dev_root=str(dev), **MIG)
    run(dev_root=str(dev), state="absent", **MIG)
    assert os.listdir(dev) == []


def test_fallback_files_makes_regular_files_and_reports_it(run, dev):
    result = run(dev_root=str(dev), gpu_count=1, fallback="files")
    assert stat.S_ISREG(os.lstat(dev / "nvidia0").st_mode)
    assert result["fallback_used"] is True
    assert not any(n["char_device"] for n in result["nodes"])


def test_fallback_auto_uses_files_where_mknod_is_refused_and_warns(run, dev, monkeypatch):
    refuse_mknod(monkeypatch)
    result = run(dev_root=str(dev), gpu_count=1)
    assert result["fallback_used"] is True
    assert stat.S_ISREG(os.lstat(dev / "nvidiactl").st_mode)
    assert "regular files" in json.dumps(result["warnings"])


def test_fallback_auto_is_idempotent_where_mknod_is_refused(run, dev, monkeypatch):
    refuse_mknod(monkeypatch)
    run(dev_root=str(dev), gpu_count=1)
    assert run(dev_root=str(dev), gpu_count=1)["changed"] is False


def test_fallback_never_fails_where_mknod_is_refused_and_writes_nothing(run, dev, monkeypatch):
    refuse_mknod(monkeypatch)
    result = run(dev_root=str(dev), gpu_count=1, fallback="never")
    assert result["failed"] is True
    assert "fallback=never" in result["msg"]
    assert not dev.exists()


def test_absent_removes_the_nodes_but_not_the_dev_root(run, dev):
    run(dev_root=str(dev), profile="dgxh100", mig_enabled=True)
    (dev / "null").write_text("someone else's")
    result = run(dev_root=str(dev), profile="dgxh100", mig_enabled=True, state="absent")
    assert result["changed"] is True
    assert sorted(os.listdir(dev)) == ["null"]


@pytest.mark.parametrize("args, option", [
    ({"gpu_count": 0}, "gpu_count"),
    ({"gpu_count": 129}, "gpu_count"),
    ({"profile": "dgx9000"}, "profile"),
    ({"dev_root": "relative/dev"}, "dev_root"),
    ({"dev_root": "/tmp/../etc"}, "dev_root"),
    ({"uvm_major": 5000}, "uvm_major"),
    ({"caps_major": 0}, "caps_major"),
    ({"mode": "rw-rw-rw-"}, "mode"),
    ({"fallback": "sometimes"}, "fallback"),
    ({"mig_enabled": True, "profile": "t4"}, "mig_enabled"),
])
def test_bad_input_fails_naming_the_option_and_writes_nothing(run, tmp_path, args, option):
    args.setdefault("dev_root", str(tmp_path / "dev"))
    result = run(**args)
    assert result["failed"] is True
    assert option in result["msg"]
    assert os.listdir(tmp_path) == []


def test_unquoted_yaml_octal_mode_means_the_same_permissions(run, dev):
    run(dev_root=str(dev), gpu_count=1, mode=0o660)
    assert stat.S_IMODE(os.lstat(dev / "nvidia0").st_mode) == 0o660


@pytest.mark.parametrize("mode", [6.6, True, "0o666", " 666", "0x1b6", "0999", "", 0o1777, -1])
def test_a_mode_that_is_not_an_octal_file_mode_fails_naming_it_and_creates_nothing(run, dev, mode):
    result = run(dev_root=str(dev), mode=mode)
    assert result["failed"] is True
    assert result["msg"].startswith("mode must be an octal file mode")
    assert not dev.exists()


@pytest.mark.parametrize("mode,expected", [("0640", 0o640), ("640", 0o640), (0o640, 0o640)])
def test_mode_accepts_octal_text_and_integers(run, dev, mode, expected):
    run(dev_root=str(dev), gpu_count=1, mode=mode)
    assert stat.S_IMODE(os.stat(os.path.join(dev, "nvidia0")).st_mode) == expected


def test_equal_uvm_and_caps_majors_fail_and_create_nothing(run, dev):
    result = run(dev_root=str(dev), uvm_major=240, caps_major=240)
    assert result["failed"] is True
    assert "uvm_major and caps_major must differ" in result["msg"]
    assert not dev.exists()
