"""Specification of the nvidia_mock_node_labels module: labels returned, feature file, check/diff mode."""
import os

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.render import labels
from ansible_collections.gpumock.nvidia.plugins.modules import nvidia_mock_node_labels as M


MODULE = M


@pytest.fixture
def path(tmp_path):
    return tmp_path / "features.d" / "gpumock"


def test_returns_the_labels_and_writes_them_as_a_feature_file(run, path):
    result = run(profile="dgxh100", node_id="n1", path=str(path))
    assert result["changed"] is True
    assert result["labels"]["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert labels.parse_features_file(path.read_text()) == result["labels"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_second_run_reports_no_change(run, path):
    run(node_id="n1", path=str(path))
    assert run(node_id="n1", path=str(path))["changed"] is False


def test_labels_do_not_depend_on_the_node_id(run, path):
    run(node_id="n1", path=str(path))
    assert run(node_id="n2", path=str(path))["changed"] is False


def test_check_mode_reports_the_change_and_writes_nothing(run, path):
    result = run(check=True, path=str(path))
    assert result["changed"] is True
    assert "nvidia.com/gpu.count" in result["labels"]
    assert not path.parent.exists()


def test_diff_mode_shows_the_changed_line(run, path):
    run(node_id="n1", gpu_count=8, path=str(path))
    result = run(check=True, diff=True, node_id="n1", gpu_count=2, path=str(path))
    assert "nvidia.com/gpu.count=8" in result["diff"]["before"]
    assert "nvidia.com/gpu.count=2" in result["diff"]["after"]
    assert "nvidia.com/gpu.count=8" in path.read_text()


def test_absent_removes_the_file(run, path):
    run(path=str(path))
    result = run(path=str(path), state="absent")
    assert result["changed"] is True
    assert not path.exists()
    assert run(path=str(path), state="absent")["changed"] is False


def test_rewrite_leaves_no_temporary_file(run, path):
    run(gpu_count=1, path=str(path))
    run(gpu_count=2, path=str(path))
    assert os.listdir(path.parent) == ["gpumock"]


def test_relative_path_fails_naming_the_option(run, tmp_path):
    result = run(path="features.d/gpumock")
    assert result["failed"] is True
    assert result["msg"].startswith("path must be an absolute path")


def test_mig_enabled_with_single_strategy_fails_and_writes_nothing(run, path):
    result = run(profile="dgxa100", mig_enabled=True, mig_strategy="single", path=str(path))
    assert result["failed"] is True
    assert "mig_strategy" in result["msg"]
    assert not path.parent.exists()


def test_bad_driver_version_fails_naming_the_option(run, path):
    result = run(driver_version="latest", path=str(path))
    assert result["failed"] is True
    assert "driver_version" in result["msg"]
    assert not path.parent.exists()


@pytest.mark.parametrize("option,value", [("state", "present\nabsent"), ("mig_strategy", "none\x1b[31m"),
                                          ("profile", "t4\n")])
def test_ansibles_own_argument_checks_fail_in_one_line(run, tmp_path, option, value):
    result = run(path=str(tmp_path / "features"), **{option: value})
    assert result["failed"] is True
    assert result["msg"].startswith("value of %s must be one of" % option)
    assert "\n" not in result["msg"] and "\x1b" not in result["msg"]
    assert os.listdir(tmp_path) == []
