"""Specification of the modules' shared tail (plugins/module_utils/runner/_runner.py)."""
import json
import os

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import _runner
from ansible_collections.gpumock.nvidia.plugins.modules import nvidia_mock_node_labels

# Marked as the collection's (fsstate.marked), so the module that writes the file owns it.
OLD = "# gpumock.nvidia: old content, longer than the new one\n"
NEW = "new\n"


@pytest.fixture
def run_job(capsys):
    """Run a bare module whose prepare is ``prepare``; return its JSON result."""

    def _run(prepare, check=False, diff=False):
        args = dict(_ansible_check_mode=check, _ansible_diff=diff)
        with patch_module_args(args), pytest.raises(SystemExit):
            module = AnsibleModule(argument_spec={}, supports_check_mode=True)
            _runner.run(module, prepare)
        return json.loads(capsys.readouterr().out)

    return _run


@pytest.fixture
def reads(monkeypatch):
    """Every call of fsstate's file reader."""
    calls = []
    real = fsstate.read_file

    def counting(path, *args, **kwargs):
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(fsstate, "read_file", counting)
    return calls


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "a.conf"
    path.write_text(OLD)
    return path


def engine_job(root):
    return lambda module: _runner.Job(str(root), [fsstate.Entry("a.conf", fsstate.FILE, content=NEW,
                                                                adopt=(fsstate.marked,))])


def file_job(path):
    entry = fsstate.Entry(path.name, fsstate.FILE, content=NEW, adopt=(fsstate.marked,))
    return lambda module: _runner.Job(str(path.parent), [entry], diff_file=str(path), diff_after=NEW)


@pytest.mark.parametrize("job", [engine_job, file_job], ids=["engine diff", "whole-file diff"])
def test_without_diff_there_is_no_diff_and_no_file_is_read_for_one(run_job, reads, conf, job):
    prepare = job(conf.parent) if job is engine_job else job(conf)
    result = run_job(prepare, check=True)
    assert result["changed"] is True
    assert "diff" not in result
    assert reads == []


def test_with_diff_the_engine_describes_the_old_content(run_job, reads, conf):
    result = run_job(engine_job(conf.parent), check=True, diff=True)
    (item,) = result["diff"]
    assert item["before"].endswith(OLD) and item["after"].endswith(NEW)
    assert reads == [str(conf)]


def test_with_diff_a_whole_file_job_shows_the_file_before_and_after(run_job, conf):
    result = run_job(file_job(conf), check=True, diff=True)
    assert result["diff"] == dict(before_header=str(conf), after_header=str(conf), before=OLD, after=NEW)


def test_check_mode_reports_the_change_and_writes_nothing(run_job, conf, tmp_path):
    before = sorted(os.listdir(tmp_path))
    assert run_job(engine_job(tmp_path), check=True)["changed"] is True
    assert conf.read_text() == OLD
    assert sorted(os.listdir(tmp_path)) == before


def test_a_real_run_applies_and_a_second_changes_nothing(run_job, conf):
    assert run_job(engine_job(conf.parent))["changed"] is True
    assert conf.read_text() == NEW
    assert run_job(engine_job(conf.parent))["changed"] is False


def test_a_domain_error_of_prepare_is_one_fail_json_line(run_job, tmp_path):
    def prepare(module):
        raise profiles.ProfileError("profile must be one of a, b, got 'c'.")

    result = run_job(prepare)
    assert result["failed"] is True
    assert result["msg"] == "profile must be one of a, b, got 'c'."
    assert os.listdir(tmp_path) == []


def test_a_domain_error_while_planning_fails_and_writes_nothing(run_job, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "etc").symlink_to(outside)
    result = run_job(lambda module: _runner.Job(str(root), [fsstate.Entry("etc/x", fsstate.FILE)]))
    assert result["failed"] is True
    assert "\n" not in result["msg"] and result["msg"].count(". ") == 0 and "leaves the root" in result["msg"]
    assert os.listdir(outside) == []


def test_other_errors_are_not_swallowed(run_job):
    def prepare(module):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        run_job(prepare)


def test_kept_paths_are_warned_about_only_when_the_job_asks(run_job, tmp_path):
    (tmp_path / "a.conf").mkdir()
    entries = [fsstate.Entry("a.conf", fsstate.FILE)]
    quiet = run_job(lambda module: _runner.Job(str(tmp_path), entries, "absent"))
    warned = run_job(lambda module: _runner.Job(str(tmp_path), entries, "absent", warn_kept=True))
    # (Ansible keeps warnings of earlier runs in this process, so look for this one by its text.)
    warning = _runner.KEPT_WARNING % (tmp_path / "a.conf")
    assert warning not in json.dumps(quiet.get("warnings", []))
    assert warning in json.dumps(warned["warnings"])


def test_a_module_run_without_diff_reads_no_file_for_a_diff(reads, tmp_path, capsys):
    path = tmp_path / "features"
    path.write_text(OLD)
    args = dict(path=str(path), node_id="n", _ansible_check_mode=True, _ansible_diff=False)
    with patch_module_args(args), pytest.raises(SystemExit):
        nvidia_mock_node_labels.main()
    assert json.loads(capsys.readouterr().out)["changed"] is True
    assert reads == []
