"""Hostile input, class 6: symlinks.

A module that writes one file named by an option (the containerd config, the CDI spec, the feature
file, the boot rule, the loader entry) follows a symlink at that path, to wherever it points,
and replaces the file it points to atomically: the link stays the same link. A tree (driver root,
dev root) never follows a link at one of its paths (it is refused like any object that is not
ours) nor a link on the way that leaves the root.
"""
import os
import stat

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import cdi
from ansible_collections.gpumock.nvidia.plugins.modules import (
    nvidia_cdi_spec, nvidia_mock_containerd, nvidia_mock_driver_tree, nvidia_mock_node, nvidia_mock_node_labels)

NODE = dict(node_id="unit-node", gpu_count=2)
MAJORS = dict(uvm_major=238, caps_major=241)
CONTAINERD = '# kind\'s config\nversion = 2\n\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  snapshotter = "overlayfs"\n'


def no_temp_files(*dirs):
    pattern = fsstate.temp_pattern()
    return all(not pattern.match(n) for d in dirs for n in os.listdir(str(d)))


@pytest.fixture
def linked(tmp_path):
    """``linked(name, content, relative=False)``: (link in tmp_path/etc, its target in tmp_path/opt/cfg)."""
    def make(name, content=None, relative=False):
        link, target = tmp_path / "etc" / name, tmp_path / "opt" / "cfg" / ("real-" + name)
        link.parent.mkdir(parents=True, exist_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            target.write_text(content)
            os.chmod(target, 0o600)
        os.symlink(os.path.relpath(str(target), str(link.parent)) if relative else str(target), link)
        return link, target
    return make


# containerd.

@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_a_symlinked_containerd_config_gets_cdi_in_the_file_it_points_to(run_module, linked, relative):
    link, target = linked("config.toml", CONTAINERD, relative)
    link_target = os.readlink(link)
    result = run_module(nvidia_mock_containerd, path=str(link))
    assert result["changed"] is True and result["path"] == str(link)
    assert os.readlink(link) == link_target
    assert "enable_cdi = true" in target.read_text() and 'snapshotter = "overlayfs"' in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert no_temp_files(link.parent, target.parent)
    assert run_module(nvidia_mock_containerd, path=str(link))["changed"] is False


def test_check_mode_through_a_symlink_changes_nothing(run_module, fs_snapshot, linked, tmp_path):
    link, target = linked("config.toml", CONTAINERD)
    before = fs_snapshot(tmp_path)
    assert run_module(nvidia_mock_containerd, check=True, diff=True, path=str(link))["changed"] is True
    assert fs_snapshot(tmp_path) == before


def test_absent_through_a_symlink_takes_cdi_out_of_the_file_it_points_to(run_module, linked):
    link, target = linked("config.toml", CONTAINERD)
    run_module(nvidia_mock_containerd, path=str(link))
    run_module(nvidia_mock_containerd, path=str(link), state="absent")
    text = target.read_text()
    assert os.path.islink(link) and "cdi" not in text and 'snapshotter = "overlayfs"' in text


def test_a_backup_through_a_symlink_keeps_the_old_text(run_module, linked):
    link, target = linked("config.toml", CONTAINERD)
    result = run_module(nvidia_mock_containerd, path=str(link), backup=True)
    assert open(result["backup_file"]).read() == CONTAINERD and os.path.islink(link)


def test_a_dangling_symlink_gets_the_file_it_names(run_module, linked):
    link, target = linked("config.toml")
    run_module(nvidia_mock_containerd, path=str(link), new_file_version=2)
    assert os.path.islink(link) and "enable_cdi = true" in target.read_text()


def test_a_symlink_loop_fails_in_one_line_naming_the_option(run_module, failure, fs_snapshot, tmp_path):
    os.symlink("b.toml", tmp_path / "a.toml")
    os.symlink("a.toml", tmp_path / "b.toml")
    before = fs_snapshot(tmp_path)
    failure(run_module(nvidia_mock_containerd, path=str(tmp_path / "a.toml")), "path")
    assert fs_snapshot(tmp_path) == before


def test_a_symlink_to_a_directory_fails_in_one_line_naming_the_option(run_module, failure, tmp_path):
    (tmp_path / "dir").mkdir()
    os.symlink("dir", tmp_path / "config.toml")
    assert "is a directory" in failure(run_module(nvidia_mock_containerd, path=str(tmp_path / "config.toml")), "path")


# The other single files.

def test_a_symlinked_cdi_spec_is_written_where_it_points(run_module, linked):
    link, target = linked("nvidia.yaml")
    run_module(nvidia_cdi_spec, path=str(link), **dict(NODE, **MAJORS))
    assert os.path.islink(link) and target.read_text().startswith(cdi.YAML_HEADER)
    assert run_module(nvidia_cdi_spec, path=str(link), **dict(NODE, **MAJORS))["changed"] is False
    run_module(nvidia_cdi_spec, path=str(link), state="absent")
    assert os.path.islink(link) and not target.exists()


def test_a_symlinked_cdi_spec_that_is_not_ours_is_refused(run_module, failure, linked):
    link, target = linked("nvidia.yaml", "---\ncdiVersion: 0.5.0\n")
    assert str(target) in failure(run_module(nvidia_cdi_spec, path=str(link), **dict(NODE, **MAJORS)), "path")
    assert target.read_text() == "---\ncdiVersion: 0.5.0\n"


def test_a_symlinked_feature_file_is_written_where_it_points(run_module, linked):
    link, target = linked("gpumock")
    result = run_module(nvidia_mock_node_labels, path=str(link), **NODE)
    assert os.path.islink(link) and "nvidia.com/gpu.present=true" in target.read_text()
    assert result["path"] == str(link)


@pytest.mark.parametrize("option", ["cdi_path", "tmpfiles_path", "ld_so_conf_path", "features_file"])
def test_the_node_module_writes_each_symlinked_file_where_it_points(run_module, linked, tmp_path, monkeypatch,
                                                                    option):
    tools = {"systemd-tmpfiles": "/usr/bin/systemd-tmpfiles", "ldconfig": "/sbin/ldconfig"}
    monkeypatch.setattr(nvidia_mock_node.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: tools.get(name))
    monkeypatch.setattr(nvidia_mock_node.AnsibleModule, "run_command", lambda self, argv, **k: (0, "", ""))
    link, target = linked("file.yaml" if option == "cdi_path" else "file.conf")
    args = dict(NODE, dev_root=str(tmp_path / "dev"), driver_root=str(tmp_path / "driver"),
                cdi_path=str(tmp_path / "cdi.yaml"), tmpfiles_path=str(tmp_path / "tmpfiles.conf"),
                ld_so_conf_path=str(tmp_path / "ld.conf"), features_file=str(tmp_path / "features"),
                register_ldconfig=True)
    args[option] = str(link)
    result = run_module(nvidia_mock_node, **args)
    assert not result.get("failed"), result
    assert os.path.islink(link) and fsstate.marked(str(target), os.lstat(target))


# Trees.

def test_a_tree_refuses_a_symlink_on_the_way_out_of_its_root_naming_the_option(
        run_module, failure, fs_snapshot, tmp_path):
    tree, outside = tmp_path / "driver", tmp_path / "outside"
    tree.mkdir()
    outside.mkdir()
    os.symlink(str(outside), tree / "etc")
    before = fs_snapshot(tmp_path)
    msg = failure(run_module(nvidia_mock_driver_tree, root=str(tree), **NODE), "root")
    assert "leaves the root" in msg and fs_snapshot(tmp_path) == before


def test_a_tree_follows_a_symlink_that_stays_inside_its_root(run_module, tmp_path):
    tree = tmp_path / "driver"
    (tree / "usr/lib").mkdir(parents=True)
    os.symlink("usr/lib", tree / "lib")
    assert not run_module(nvidia_mock_driver_tree, root=str(tree), **NODE).get("failed")
    assert os.path.islink(tree / "lib") and (tree / "usr/lib/firmware/nvidia").is_dir()
