"""Specification of the nvidia_mock_containerd module: check/diff mode, atomic write, idempotence."""
import os
import tomllib

import pytest

from ansible_collections.gpumock.nvidia.plugins.modules import nvidia_mock_containerd as M

DEBIAN_V2 = """version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
"""


MODULE = M


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(DEBIAN_V2)
    path.chmod(0o600)
    return path


def test_present_writes_cdi_keys_and_reports_changed(run, config):
    result = run(path=str(config))
    assert result["changed"] is True
    assert result["config_version"] == 2
    assert result["section"] == 'plugins."io.containerd.grpc.v1.cri"'
    assert tomllib.loads(config.read_text())["plugins"]["io.containerd.grpc.v1.cri"]["enable_cdi"] is True


def test_second_run_reports_no_change(run, config):
    run(path=str(config))
    assert run(path=str(config))["changed"] is False


def test_check_mode_reports_the_change_and_writes_nothing(run, config):
    result = run(check=True, path=str(config))
    assert result["changed"] is True
    assert config.read_text() == DEBIAN_V2


def test_diff_mode_shows_before_and_after(run, config):
    result = run(check=True, diff=True, path=str(config))
    assert result["diff"]["before"] == DEBIAN_V2
    assert "enable_cdi = true" in result["diff"]["after"]


def test_write_keeps_the_files_mode_and_leaves_no_temporary_file(run, config):
    run(path=str(config))
    assert config.stat().st_mode & 0o777 == 0o600
    assert os.listdir(config.parent) == ["config.toml"]


def test_backup_keeps_the_old_file(run, config):
    result = run(path=str(config), backup=True)
    assert open(result["backup_file"]).read() == DEBIAN_V2


def test_missing_file_is_created_with_the_requested_version(run, tmp_path):
    path = tmp_path / "etc" / "containerd" / "config.toml"
    result = run(path=str(path), new_file_version=3)
    assert result["created"] is True
    data = tomllib.loads(path.read_text())
    assert data["version"] == 3
    assert data["plugins"]["io.containerd.cri.v1.runtime"]["enable_cdi"] is True
    assert path.stat().st_mode & 0o777 == 0o644


def test_missing_file_without_containerd_binary_defaults_to_version_2(run, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    path = tmp_path / "config.toml"
    run(path=str(path))
    assert tomllib.loads(path.read_text())["version"] == 2


def fake_containerd(tmp_path, monkeypatch, version):
    """A containerd binary that prints ``version``, alone on PATH."""
    fake = tmp_path / "bin" / "containerd"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'containerd github.com/containerd/containerd %s abc'\n" % version)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))


def test_version_comes_from_the_containerd_binary_when_creating(run, tmp_path, monkeypatch):
    fake_containerd(tmp_path, monkeypatch, "v2.1.4")
    path = tmp_path / "config.toml"
    run(path=str(path))
    assert tomllib.loads(path.read_text())["version"] == 3


def test_if_missing_skip_changes_nothing_on_a_node_without_containerd(run, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    path = tmp_path / "config.toml"
    result = run(path=str(path), if_missing="skip")
    assert (result["changed"], result["found"]) == (False, False)
    assert not path.exists()


def test_if_missing_skip_still_writes_the_config_where_containerd_is_installed(run, tmp_path, monkeypatch):
    fake_containerd(tmp_path, monkeypatch, "v1.7.24")
    path = tmp_path / "config.toml"
    result = run(path=str(path), if_missing="skip")
    assert (result["changed"], result["found"], result["created"]) == (True, True, True)


def test_not_toml_fails_with_one_sentence_and_writes_nothing(run, config):
    config.write_text("version = 2\n[plugins\n")
    result = run(path=str(config))
    assert result["failed"] is True
    assert result["msg"].startswith("%s is not valid TOML" % config)
    assert config.read_text() == "version = 2\n[plugins\n"


def test_empty_spec_dirs_are_refused(run, config):
    result = run(path=str(config), cdi_spec_dirs=[])
    assert result["msg"] == "cdi_spec_dirs must name at least one directory."


def test_absent_restores_the_original_text(run, config):
    run(path=str(config))
    result = run(path=str(config), state="absent")
    assert result["changed"] is True
    assert config.read_text() == DEBIAN_V2


def test_absent_deletes_a_file_the_module_created(run, tmp_path):
    path = tmp_path / "config.toml"
    run(path=str(path), new_file_version=2)
    result = run(path=str(path), state="absent")
    assert result["removed"] is True
    assert not path.exists()


def test_absent_on_a_missing_file_changes_nothing(run, tmp_path):
    assert run(path=str(tmp_path / "none.toml"), state="absent")["changed"] is False


@pytest.mark.parametrize("directory", ["/etc/cdi\x01", "/etc/cdi\n", "etc/cdi", "/etc/\x9bcdi"])
def test_an_unusable_cdi_spec_dir_fails_naming_the_option_and_leaves_the_config(run, config, directory):
    result = run(path=str(config), cdi_spec_dirs=["/etc/cdi", directory])
    assert result["failed"] is True
    assert result["msg"].startswith("cdi_spec_dirs must")
    assert config.read_text() == DEBIAN_V2


@pytest.mark.parametrize("created", [False, True])
def test_cdi_spec_dirs_with_quotes_backslashes_and_any_script_round_trip_through_toml(run, tmp_path, created):
    path = tmp_path / "config.toml"
    if not created:
        path.write_text(DEBIAN_V2)
    dirs = ['/srv/cdi "quoted"', "/srv/back\\slash", "/srv/\u00e9t\u00e9", "/srv/\U0001F600"]
    run(path=str(path), cdi_spec_dirs=dirs, new_file_version=2)
    cri = tomllib.loads(path.read_text())["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["cdi_spec_dirs"] == dirs
