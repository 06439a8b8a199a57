"""Specification of the nvidia_mock_containerd module: check/diff mode, atomic write, idempotence."""
import json
import os
import tomllib

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.gpumock.nvidia.plugins.modules import nvidia_mock_containerd as M

DEBIAN_V2 = """version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
"""


def run(capsys, check=False, diff=False, **args):
    args.update(_ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(SystemExit):
        M.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(DEBIAN_V2)
    path.chmod(0o600)
    return path


def test_present_writes_cdi_keys_and_reports_changed(capsys, config):
    result = run(capsys, path=str(config))
    assert result["changed"] is True
    assert result["config_version"] == 2
    assert result["section"] == 'plugins."io.containerd.grpc.v1.cri"'
    assert tomllib.loads(config.read_text())["plugins"]["io.containerd.grpc.v1.cri"]["enable_cdi"] is True


def test_second_run_reports_no_change(capsys, config):
    run(capsys, path=str(config))
    assert run(capsys, path=str(config))["changed"] is False


def test_check_mode_reports_the_change_and_writes_nothing(capsys, config):
    result = run(capsys, check=True, path=str(config))
    assert result["changed"] is True
    assert config.read_text() == DEBIAN_V2


def test_diff_mode_shows_before_and_after(capsys, config):
    result = run(capsys, check=True, diff=True, path=str(config))
    assert result["diff"]["before"] == DEBIAN_V2
    assert "enable_cdi = true" in result["diff"]["after"]


def test_write_keeps_the_files_mode_and_leaves_no_temporary_file(capsys, config):
    run(capsys, path=str(config))
    assert config.stat().st_mode & 0o777 == 0o600
    assert os.listdir(config.parent) == ["config.toml"]


def test_backup_keeps_the_old_file(capsys, config):
    result = run(capsys, path=str(config), backup=True)
    assert open(result["backup_file"]).read() == DEBIAN_V2


def test_missing_file_is_created_with_the_requested_version(capsys, tmp_path):
    path = tmp_path / "etc" / "containerd" / "config.toml"
    result = run(capsys, path=str(path), new_file_version=3)
    assert result["created"] is True
    data = tomllib.loads(path.read_text())
    assert data["version"] == 3
    assert data["plugins"]["io.containerd.cri.v1.runtime"]["enable_cdi"] is True
    assert path.stat().st_mode & 0o777 == 0o644


def test_missing_file_without_containerd_binary_defaults_to_version_2(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    path = tmp_path / "config.toml"
    run(capsys, path=str(path))
    assert tomllib.loads(path.read_text())["version"] == 2


def test_version_comes_from_the_containerd_binary_when_creating(capsys, tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "containerd"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'containerd github.com/containerd/containerd/v2 v2.1.4 abc'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    path = tmp_path / "config.toml"
    run(capsys, path=str(path))
    assert tomllib.loads(path.read_text())["version"] == 3


def test_not_toml_fails_with_one_sentence_and_writes_nothing(capsys, config):
    config.write_text("version = 2\n[plugins\n")
    result = run(capsys, path=str(config))
    assert result["failed"] is True
    assert result["msg"].startswith("%s is not valid TOML" % config)
    assert config.read_text() == "version = 2\n[plugins\n"


def test_empty_spec_dirs_are_refused(capsys, config):
    result = run(capsys, path=str(config), cdi_spec_dirs=[])
    assert result["msg"] == "cdi_spec_dirs must name at least one directory."


def test_absent_restores_the_original_text(capsys, config):
    run(capsys, path=str(config))
    result = run(capsys, path=str(config), state="absent")
    assert result["changed"] is True
    assert config.read_text() == DEBIAN_V2


def test_absent_deletes_a_file_the_module_created(capsys, tmp_path):
    path = tmp_path / "config.toml"
    run(capsys, path=str(path), new_file_version=2)
    result = run(capsys, path=str(path), state="absent")
    assert result["removed"] is True
    assert not path.exists()


def test_absent_on_a_missing_file_changes_nothing(capsys, tmp_path):
    assert run(capsys, path=str(tmp_path / "none.toml"), state="absent")["changed"] is False
