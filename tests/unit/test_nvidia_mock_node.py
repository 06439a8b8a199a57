"""Specification of nvidia_mock_node and its action plugin: a whole node in one module run.

The action plugin runs here with the module executed in this process (one call of
``_execute_module`` is one visit of the node) and a local directory as the node's temporary
directory.
"""
import json
import os
import shutil
import subprocess
import sys
from unittest import mock

import pytest
from ansible.module_utils import _internal
from ansible.module_utils.testing import patch_module_args

from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import driver_tree
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import module_code_cache, node_jobs
from ansible_collections.gpumock.nvidia.plugins.modules import nvidia_mock_node as M

# Importing an action plugin imports Ansible's controller code, which marks this process as the
# controller: modules would then warn through the controller's display rather than in their
# result, for every module test of the session. The modules here run as on a target.
_IS_CONTROLLER = _internal.is_controller
from ansible_collections.gpumock.nvidia.plugins.action import nvidia_mock_node as action_plugin  # noqa: E402
from ansible_collections.gpumock.nvidia.plugins.plugin_utils import node_look  # noqa: E402
_internal.is_controller = _IS_CONTROLLER

MODULE = M
LIB = "usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15"


@pytest.fixture(autouse=True)
def node_tools(monkeypatch):
    """The node has systemd-tmpfiles and ldconfig at fixed paths; ldconfig runs are recorded."""
    tools = {"systemd-tmpfiles": "/usr/bin/systemd-tmpfiles", "ldconfig": "/sbin/ldconfig"}
    monkeypatch.setattr(M.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: tools.get(name))
    calls = []
    monkeypatch.setattr(M.AnsibleModule, "run_command", lambda self, argv, **k: calls.append(argv) or (0, "", ""))
    return calls


@pytest.fixture
def paths(tmp_path):
    return dict(node_id="unit-node", gpu_count=2, dev_root=str(tmp_path / "dev"),
                driver_root=str(tmp_path / "driver"), cdi_path=str(tmp_path / "cdi" / "nvidia.yaml"),
                tmpfiles_path=str(tmp_path / "tmpfiles.d" / "nvidia-mock.conf"),
                ld_so_conf_path=str(tmp_path / "ld.so.conf.d" / "nvidia-mock.conf"))


@pytest.fixture
def built(tmp_path):
    """The built library and nvidia-mock-ctl on the 'controller'."""
    lib = tmp_path / "controller" / "libnvidia-ml.so"
    ctl = tmp_path / "controller" / "nvidia-mock-ctl"
    lib.parent.mkdir()
    lib.write_bytes(b"\x7fELF mock nvml")
    ctl.write_bytes(b"\x7fELF mock ctl")
    return lib, ctl


def execute(capsys, args, check, diff):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(SystemExit):
        M.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def node_python():
    """What the node's look finds as python3 ("" for none); a test may change it."""
    return {"path": "/usr/bin/python3"}


@pytest.fixture
def task(tmp_path, capsys, node_python):
    """Run the action plugin: returns (result, visits, transfers). The node is this process: its look
    answers with os.uname() (which a test may patch), node_python, no gcc and, asked for a launcher,
    the sha256 of that file; ``task.looks`` counts the looks, ``task.interpreters`` has the
    interpreter of each module run (None: the play's)."""
    looks, interpreters = [], []

    def look(cmd, **kwargs):
        assert cmd.startswith(node_look.LOOK_COMMAND)
        looks.append(cmd)
        stdout = "machine=%s\npython3=%s\nbuild=no\n" % (os.uname()[4], node_python["path"])
        if cmd != node_look.LOOK_COMMAND:
            done = subprocess.run(cmd[len(node_look.LOOK_COMMAND) + 1:], shell=True, capture_output=True, text=True,
                                  check=False)
            stdout += done.stdout
        return dict(rc=0, stdout=stdout, stderr="")

    def _task(check=False, diff=False, **args):
        visits, transfers = [], []
        shell = mock.Mock(tmpdir=None, join_path=os.path.join)
        connection = mock.Mock(_shell=shell)
        task_ = mock.Mock(args=args, async_val=0, check_mode=check)
        plugin = action_plugin.ActionModule(task_, connection, mock.Mock(), mock.Mock(), mock.Mock(), mock.Mock())

        def make_tmp(*a):
            shell.tmpdir = str(tmp_path / "remote-tmp")
            os.mkdir(shell.tmpdir)
            return shell.tmpdir

        def remove_tmp(path, *a):
            if path:
                shutil.rmtree(path)
            shell.tmpdir = None

        def run_module(module_name, module_args, task_vars):
            interpreters.append(task_vars.get("ansible_python_interpreter"))
            visits.append(dict(module_args))
            return execute(capsys, module_args, check, diff)

        # The play's variables hold no templates here.
        plugin._templar = mock.Mock(template=lambda value: value)
        plugin._make_tmp_path = make_tmp
        plugin._remove_tmp_path = remove_tmp
        plugin._transfer_file = lambda local, remote: transfers.append(local) or shutil.copy(local, remote)
        plugin._fixup_perms2 = lambda *a, **k: None
        plugin._find_needle = lambda kind, path: path
        plugin._execute_module = run_module
        plugin._low_level_execute_command = look
        # The payload of a real module run is Ansible's; here the module runs in this process.
        plugin._start_payload = lambda task_vars: mock.Mock()
        result = plugin.run(task_vars={"inventory_hostname": "unit-host", "ansible_python_interpreter": sys.executable})
        assert shell.tmpdir is None and not (tmp_path / "remote-tmp").exists()
        return result, visits, transfers
    _task.looks = looks
    _task.interpreters = interpreters
    return _task


def node_args(paths, built):
    lib, ctl = built
    return dict(paths, nvml_library_src=str(lib), mock_ctl_src=str(ctl))


def test_a_first_run_makes_the_whole_node_in_one_task(task, paths, built):
    result, visits, transfers = task(**node_args(paths, built))
    assert result["changed"] is True
    assert len(visits) == 2 and transfers == [str(built[0]), str(built[1])]
    assert result["transferred"] == ["nvml_library", "mock_ctl"]
    assert os.path.exists(os.path.join(paths["dev_root"], "nvidia1"))
    assert os.path.isfile(paths["cdi_path"])
    installed = fsstate.read_file(os.path.join(paths["driver_root"], LIB))
    assert driver_tree.strip_embedded_config(installed) == b"\x7fELF mock nvml"
    assert fsstate.read_file(os.path.join(paths["driver_root"], driver_tree.MOCK_CTL)) == b"\x7fELF mock ctl"


def test_steady_state_is_one_visit_and_no_change(task, paths, built):
    task(**node_args(paths, built))
    result, visits, transfers = task(**node_args(paths, built))
    assert result["changed"] is False
    assert len(visits) == 1 and transfers == []
    assert "transferred" not in result


def test_a_changed_library_is_transferred_and_installed(task, paths, built):
    task(**node_args(paths, built))
    built[0].write_bytes(b"\x7fELF rebuilt nvml")
    result, visits, transfers = task(**node_args(paths, built))
    assert result["changed"] is True
    assert transfers == [str(built[0])] and result["transferred"] == ["nvml_library"]
    installed = fsstate.read_file(os.path.join(paths["driver_root"], LIB))
    assert driver_tree.strip_embedded_config(installed) == b"\x7fELF rebuilt nvml"


def test_check_mode_writes_nothing_and_reports_the_change(task, paths, built, tmp_path):
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result, visits, transfers = task(check=True, **node_args(paths, built))
    assert result["changed"] is True
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_check_mode_reports_a_changed_library_on_a_converged_node(task, paths, built):
    task(**node_args(paths, built))
    built[0].write_bytes(b"\x7fELF rebuilt nvml")
    result, _visits, _transfers = task(check=True, **node_args(paths, built))
    assert result["changed"] is True
    installed = fsstate.read_file(os.path.join(paths["driver_root"], LIB))
    assert driver_tree.strip_embedded_config(installed) == b"\x7fELF mock nvml"


def test_diff_mode_shows_each_changed_file(task, paths, built):
    task(**node_args(paths, built))
    os.unlink(os.path.join(paths["dev_root"], "nvidia1"))
    os.unlink(paths["cdi_path"])
    result, _visits, _transfers = task(diff=True, **node_args(paths, built))
    headers = [item["before_header"] for item in result["diff"]]
    assert headers == [os.path.join(paths["dev_root"], "nvidia1"), paths["cdi_path"]]


def test_no_diff_is_made_without_diff_mode(task, paths, built):
    result, _visits, _transfers = task(**node_args(paths, built))
    assert "diff" not in result


def test_a_bad_option_fails_on_the_controller_in_one_sentence_naming_it_before_the_node_is_visited(task, paths, built):
    with pytest.raises(action_plugin.AnsibleActionFail) as failed:
        task(**dict(node_args(paths, built), cdi_path="/etc/cdi/nvidia.conf"))
    assert str(failed.value) == ("cdi_path must end in .yaml or .json (CDI runtimes read no other files), "
                                 "got '/etc/cdi/nvidia.conf'.")
    assert not os.path.exists(paths["dev_root"]) and not os.path.exists(paths["driver_root"])


def test_option_prefix_names_the_variable_a_role_sets_the_option_from(task, paths, built):
    with pytest.raises(action_plugin.AnsibleActionFail, match=r"^gpu_mock_gpu_count must be an integer from 1 to 128, got 200\.$"):
        task(**dict(node_args(paths, built), gpu_count=200, option_prefix="gpu_mock_"))


def test_an_architecture_no_driver_tree_has_is_named_as_the_option_without_the_prefix(task, paths, built):
    with pytest.raises(action_plugin.AnsibleActionFail, match=r"^value of architecture must be one of: x86_64, aarch64, got: ppc64le$"):
        task(**dict(node_args(paths, built), architecture="ppc64le", option_prefix="gpu_mock_"))


def test_a_bad_containerd_option_fails_before_the_node_is_visited_naming_the_role_variable(task, paths, built):
    with pytest.raises(action_plugin.AnsibleActionFail, match=r"^gpu_mock_containerd_config must be an absolute path, got 'etc/x'\.$"):
        task(**dict(node_args(paths, built), containerd_config="etc/x", option_prefix="gpu_mock_"))
    assert not os.path.exists(paths["dev_root"])


def test_an_unreadable_source_fails_on_the_controller(task, paths, built, tmp_path):
    with pytest.raises(action_plugin.AnsibleActionFail, match="nvml_library_src .*/missing cannot be read"):
        task(**dict(node_args(paths, built), nvml_library_src=str(tmp_path / "missing")))


def test_without_the_action_a_differing_library_changes_nothing_and_is_named(run, paths):
    result = run(**dict(paths, nvml_library_sha256="0" * 64))
    assert result["changed"] is False and result["transfer"] == ["nvml_library"]
    assert not os.path.exists(paths["dev_root"])


def test_the_boot_rule_lists_every_device_node(run, paths):
    run(**paths)
    rule = open(paths["tmpfiles_path"]).read()
    assert "c %s/nvidia1 0666 root root - 195:1" % paths["dev_root"] in rule.splitlines()
    assert run(**paths)["changed"] is False


MIG = dict(profile="dgxh100", mig_enabled=True, mig_layout={"0": ["3g.40gb", "1g.10gb"], "1": ["7g.80gb"]})


def test_the_boot_rule_lists_the_capability_nodes_of_the_mig_layout(run, paths):
    run(**dict(paths, **MIG))
    rule = open(paths["tmpfiles_path"]).read().splitlines()
    caps = os.path.join(paths["dev_root"], "nvidia-caps")
    assert "d %s 0755 root root -" % caps in rule
    assert [line.split()[1] for line in rule if line.startswith("c %s/" % caps)] == [
        "%s/nvidia-cap%d" % (caps, minor) for minor in (1, 2, 12, 13, 102, 103, 138, 139)]


def test_a_node_with_a_mig_layout_makes_its_capability_files_nodes_and_cdi_devices_in_one_run(run, paths):
    result = run(**dict(paths, **MIG))
    assert os.path.exists(os.path.join(paths["dev_root"], "nvidia-caps", "nvidia-cap139"))
    assert os.path.exists(os.path.join(paths["driver_root"], "proc/driver/nvidia/capabilities/gpu1/mig/gi0/ci0/access"))
    assert "nvidia.com/gpu=1:0" in result["cdi_spec"]["devices"]


def test_second_run_with_a_mig_layout_is_unchanged(run, paths):
    run(**dict(paths, **MIG))
    assert run(**dict(paths, **MIG))["changed"] is False


def test_check_mode_with_a_mig_layout_reports_the_actions_of_the_run(run, paths, tmp_path):
    predicted = run(check=True, **dict(paths, **MIG))
    assert not os.path.exists(paths["dev_root"]) and not os.path.exists(paths["driver_root"])
    done = run(**dict(paths, **MIG))
    for part in ("devnodes", "driver_tree"):
        assert predicted[part]["actions"] == done[part]["actions"], part
    assert predicted["cdi_spec"]["devices"] == done["cdi_spec"]["devices"]


def test_without_systemd_tmpfiles_there_is_no_boot_rule(run, paths, monkeypatch):
    monkeypatch.setattr(M.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    result = run(**paths)
    assert result["host"]["systemd_tmpfiles"] is None
    assert not os.path.exists(paths["tmpfiles_path"])


def test_the_loader_entry_is_written_and_ldconfig_runs_once(run, paths, node_tools):
    run(register_ldconfig=True, **paths)
    assert open(paths["ld_so_conf_path"]).read().splitlines()[-1] == os.path.join(
        paths["driver_root"], "usr/lib/x86_64-linux-gnu")
    assert run(register_ldconfig=True, **paths)["changed"] is False
    assert node_tools == [["/sbin/ldconfig"]]


def test_the_features_file_holds_the_returned_labels(run, paths, tmp_path):
    features = tmp_path / "features.d" / "gpumock"
    result = run(features_file=str(features), **paths)
    assert result["labels"]["nvidia.com/gpu.count"] == "2"
    assert "nvidia.com/gpu.count=2" in features.read_text().splitlines()


def test_absent_removes_everything_it_made(run, paths, tmp_path):
    run(register_ldconfig=True, features_file=str(tmp_path / "features"), **paths)
    result = run(state="absent", register_ldconfig=True, features_file=str(tmp_path / "features"), **paths)
    assert result["changed"] is True
    for path in (paths["cdi_path"], paths["tmpfiles_path"], paths["ld_so_conf_path"], str(tmp_path / "features"),
                 os.path.join(paths["dev_root"], "nvidia0"), os.path.join(paths["driver_root"], LIB)):
        assert not os.path.lexists(path), path
    assert run(state="absent", **paths)["changed"] is False


def test_the_module_cache_dir_gets_the_launcher_for_the_module_s_python_once(run, paths, tmp_path):
    cache = tmp_path / "modules"
    result = run(module_cache_dir=str(cache), **paths)
    assert result["changed"] is True
    launcher = cache / "launcher"
    assert launcher.read_text() == module_code_cache.launcher_text(sys.executable)
    assert os.access(str(launcher), os.X_OK)
    assert run(module_cache_dir=str(cache), **paths)["changed"] is False


def test_absent_removes_the_launcher_the_entries_and_then_the_module_cache_dir(run, paths, tmp_path):
    cache = tmp_path / "modules"
    run(module_cache_dir=str(cache), **paths)
    (cache / ("0" * 32) / "pkg").mkdir(parents=True)
    (cache / ("0" * 32) / "pkg" / "m.py").write_text("")
    result = run(state="absent", module_cache_dir=str(cache), **paths)
    assert result["changed"] is True and not cache.exists()
    assert run(state="absent", module_cache_dir=str(cache), **paths)["changed"] is False


def test_absent_keeps_what_others_put_in_the_module_cache_dir_and_says_so(run, paths, tmp_path):
    cache = tmp_path / "modules"
    run(module_cache_dir=str(cache), **paths)
    (cache / "notes.txt").write_text("mine")
    (cache / ("0" * 32)).mkdir()
    result = run(state="absent", module_cache_dir=str(cache), **paths)
    assert sorted(os.listdir(cache)) == ["notes.txt"]
    assert str(cache) in json.dumps(result["warnings"])


def test_absent_keeps_a_launcher_it_did_not_write_and_the_module_cache_dir(run, paths, tmp_path):
    cache = tmp_path / "modules"
    cache.mkdir()
    (cache / "launcher").write_text("#!/bin/sh\nexec python3 \"$@\"\n")
    (cache / ("0" * 32)).mkdir()
    run(state="absent", module_cache_dir=str(cache), **paths)
    assert sorted(os.listdir(cache)) == ["launcher"]


def test_check_mode_with_a_module_cache_dir_writes_nothing(run, paths, tmp_path):
    cache = tmp_path / "modules"
    assert run(check=True, module_cache_dir=str(cache), **paths)["changed"] is True
    assert not cache.exists()


def test_the_module_runs_through_the_launcher_once_the_look_finds_the_current_one(task, paths, built, tmp_path):
    cache = tmp_path / "modules"
    task(module_cache_dir=str(cache), **node_args(paths, built))
    assert set(task.interpreters) == set([sys.executable])
    task(module_cache_dir=str(cache), **node_args(paths, built))
    assert task.interpreters[-1] == str(cache / "launcher")


def test_a_launcher_of_another_python_or_version_is_not_used(task, paths, built, tmp_path):
    cache = tmp_path / "modules"
    cache.mkdir()
    (cache / "launcher").write_text(module_code_cache.launcher_text("/opt/other/python3"))
    task(module_cache_dir=str(cache), **node_args(paths, built))
    assert set(task.interpreters) == set([sys.executable])


def test_check_mode_and_absent_run_without_the_launcher(task, paths, built, tmp_path):
    cache = tmp_path / "modules"
    task(module_cache_dir=str(cache), **node_args(paths, built))
    first = len(task.interpreters)
    task(check=True, module_cache_dir=str(cache), **node_args(paths, built))
    task(state="absent", module_cache_dir=str(cache), **paths)
    assert task.interpreters[first:] == [sys.executable] * 2


def test_node_problem_names_the_prefixed_variable():
    assert node_jobs.node_problem({"cdi_path": "/etc/cdi/x.conf"}, prefix="gpu_mock_").startswith(
        "gpu_mock_cdi_path must end in .yaml or .json")
    assert node_jobs.node_problem({"mig_enabled": True, "features_file": "/f", "mig_strategy": "single"},
                                  prefix="gpu_mock_").startswith("gpu_mock_mig_strategy single needs every GPU in MIG mode")
    assert node_jobs.node_problem({"profile": "dgxh100", "cdi_path": "/etc/cdi/nvidia.yaml"}) == ""


def test_null_node_paths_beside_controller_sources_count_as_unset(task, paths, built):
    result, _visits, _transfers = task(nvml_library=None, mock_ctl=None, **node_args(paths, built))
    assert result.get("failed") is not True and result["changed"] is True


def test_a_driver_root_with_a_hash_fails_when_the_loader_entry_is_wanted_and_writes_nothing(run, paths, tmp_path):
    paths = dict(paths, driver_root=str(tmp_path / "drv#1"))
    result = run(register_ldconfig=True, **paths)
    assert result["failed"] is True
    assert result["msg"].startswith("driver_root must not contain '#' when register_ldconfig is true")
    assert sorted(os.listdir(tmp_path)) == []


def test_the_boot_rule_is_read_back_by_the_real_systemd_tmpfiles_whatever_dev_root_holds(run, paths, tmp_path):
    tmpfiles = shutil.which("systemd-tmpfiles")
    if tmpfiles is None:
        pytest.skip("systemd-tmpfiles is not installed on this machine")
    dev_root = str(tmp_path / 'my dev %h "q" \\b')
    run(**dict(paths, dev_root=dev_root))
    boot = tmp_path / "boot"
    subprocess.run([tmpfiles, "--create", "--root", str(boot), paths["tmpfiles_path"]], check=True)
    made = boot / dev_root.lstrip("/")
    assert sorted(os.listdir(made)) == sorted(os.listdir(dev_root))
    assert os.stat(made / "nvidia1").st_rdev == os.stat(os.path.join(dev_root, "nvidia1")).st_rdev


@pytest.mark.parametrize("overlap", [dict(tmpfiles_path="dev_root"), dict(features_file="ld_so_conf_path"),
                                     dict(cdi_path="driver_root")])
def test_options_that_place_two_parts_on_one_path_fail_naming_both_and_write_nothing(run, paths, tmp_path, overlap):
    ((option, other),) = overlap.items()
    paths = dict(paths, register_ldconfig=True, features_file=str(tmp_path / "features"))
    if option == "cdi_path":
        paths[other] = paths[option]
    else:
        paths[option] = paths[other]
    result = run(**paths)
    assert result["failed"] is True
    assert option in result["msg"] and other in result["msg"] and "must not overlap" in result["msg"]
    assert os.listdir(tmp_path) == []


# An aarch64 node: one option places the libraries, and everything naming them follows.

ARM_LIB = "usr/lib/aarch64-linux-gnu/libnvidia-ml.so.550.54.15"


def test_an_aarch64_node_installs_the_library_where_its_spec_and_loader_entry_say(task, paths, built):
    result, _visits, _transfers = task(architecture="aarch64", register_ldconfig=True, **node_args(paths, built))
    assert result["changed"] is True and result["driver_tree"]["architecture"] == "aarch64"
    installed = fsstate.read_file(os.path.join(paths["driver_root"], ARM_LIB))
    assert driver_tree.strip_embedded_config(installed) == b"\x7fELF mock nvml"
    mounts = result["cdi_spec"]["spec"]["containerEdits"]["mounts"]
    assert all(os.path.isfile(m["hostPath"]) for m in mounts)
    assert "/" + ARM_LIB in [m["containerPath"] for m in mounts]
    assert open(paths["ld_so_conf_path"]).read().splitlines()[-1] == os.path.join(
        paths["driver_root"], "usr/lib/aarch64-linux-gnu")
    assert not os.path.exists(os.path.join(paths["driver_root"], "usr/lib/x86_64-linux-gnu"))


def test_an_aarch64_node_that_is_already_right_is_one_visit(task, paths, built):
    task(architecture="aarch64", **node_args(paths, built))
    result, visits, transfers = task(architecture="aarch64", **node_args(paths, built))
    assert result["changed"] is False and len(visits) == 1 and transfers == []


# The Grace profiles are aarch64 machines, but the profile does not pick the node's architecture:
# its programs load the library, so the tree follows the node (its own, or the option).

def test_a_grace_profile_on_an_x86_64_node_gets_the_x86_64_tree(task, paths, built, monkeypatch):
    monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "n", "6.1", "#1", "x86_64")))
    result, _visits, _transfers = task(profile="gh200", **node_args(paths, built))
    assert result["changed"] is True and result["driver_tree"]["architecture"] == "x86_64"
    assert os.path.isfile(os.path.join(paths["driver_root"], "usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.127.05"))
    assert not os.path.exists(os.path.join(paths["driver_root"], "usr/lib/aarch64-linux-gnu"))


def test_a_grace_profile_on_an_aarch64_node_gets_the_aarch64_tree(task, paths, built, monkeypatch):
    monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "n", "6.1", "#1", "aarch64")))
    result, _visits, _transfers = task(profile="gb200", **node_args(paths, built))
    assert result["changed"] is True and result["driver_tree"]["architecture"] == "aarch64"
    assert os.path.isfile(os.path.join(paths["driver_root"], "usr/lib/aarch64-linux-gnu/libnvidia-ml.so.570.124.06"))


def test_a_node_of_another_architecture_fails_before_anything_is_written(task, paths, built, monkeypatch):
    monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "power", "6.1", "#1", "ppc64le")))
    with pytest.raises(action_plugin.AnsibleActionFail, match=r"^unit-host is a 'ppc64le' node \(uname -m\): "
                       r"value of architecture must be one of: x86_64, aarch64, got: ppc64le$"):
        task(**node_args(paths, built))
    assert not os.path.exists(paths["dev_root"]) and not os.path.exists(paths["driver_root"])


def test_the_module_alone_on_a_node_of_another_architecture_fails_before_anything_is_written(
        capsys, paths, built, monkeypatch):
    monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "power", "6.1", "#1", "ppc64le")))
    result = execute(capsys, dict(paths, state="present"), check=False, diff=False)
    assert result["failed"] is True and result["msg"].startswith("architecture must be set on this ppc64le node")
    assert not os.path.exists(paths["dev_root"]) and not os.path.exists(paths["driver_root"])


# containerd's config, as the first part of the node's run

def containerd(tmp_path, **more):
    """The containerd options of a config in ``tmp_path``; ``more`` as containerd_<option>."""
    return dict(containerd_config=str(tmp_path / "containerd" / "config.toml"),
                **dict(("containerd_" + name, value) for name, value in more.items()))


def test_containerd_cdi_is_set_in_the_same_run_and_reported_as_changed(run, paths, tmp_path):
    result = run(**containerd(tmp_path), **paths)
    assert result["changed"] is True
    assert result["containerd"]["changed"] is True and result["containerd"]["created"] is True
    assert "enable_cdi = true" in (tmp_path / "containerd" / "config.toml").read_text()
    assert os.path.exists(os.path.join(paths["dev_root"], "nvidia0"))


def test_a_converged_node_with_containerd_reports_no_change_of_either(run, paths, tmp_path):
    run(**containerd(tmp_path), **paths)
    result = run(**containerd(tmp_path), **paths)
    assert result["changed"] is False and result["containerd"]["changed"] is False


def test_a_changed_containerd_config_alone_makes_the_run_changed(run, paths, tmp_path):
    run(**paths)
    result = run(**containerd(tmp_path), **paths)
    assert result["changed"] is True and result["containerd"]["changed"] is True
    assert result["devnodes"]["actions"] == []


def test_without_containerd_and_its_config_skip_changes_nothing_of_containerd(run, paths, tmp_path):
    result = run(**containerd(tmp_path, if_missing="skip"), **paths)
    assert result["containerd"]["found"] is False and result["containerd"]["changed"] is False
    assert not (tmp_path / "containerd").exists()


def test_without_containerd_and_its_config_fail_stops_before_any_part_is_written(run, paths, tmp_path):
    result = run(**containerd(tmp_path, if_missing="fail"), **paths)
    assert result["failed"] is True
    assert result["msg"].startswith("containerd_config: the node has neither ")
    assert not os.path.exists(paths["dev_root"]) and not os.path.exists(paths["driver_root"])


def test_a_containerd_config_that_is_not_toml_fails_before_any_part_is_written(run, paths, tmp_path):
    config = tmp_path / "containerd" / "config.toml"
    config.parent.mkdir()
    config.write_text("version = [\n")
    result = run(**containerd(tmp_path), **paths)
    assert result["failed"] is True and "\n" not in result["msg"]
    assert config.read_text() == "version = [\n"
    assert not os.path.exists(paths["dev_root"])


def test_a_backup_of_the_previous_config_is_returned_when_it_changed(run, paths, tmp_path):
    config = tmp_path / "containerd" / "config.toml"
    config.parent.mkdir()
    config.write_text("version = 2\n")
    result = run(**containerd(tmp_path, backup=True), **paths)
    assert open(result["containerd"]["backup_file"]).read() == "version = 2\n"


def test_check_mode_reports_the_containerd_change_and_writes_nothing(run, paths, tmp_path):
    result = run(check=True, **containerd(tmp_path), **paths)
    assert result["changed"] is True and result["containerd"]["changed"] is True
    assert not (tmp_path / "containerd").exists()


def test_absent_gives_containerd_its_default_back_first(run, paths, tmp_path):
    run(**containerd(tmp_path), **paths)
    result = run(state="absent", **containerd(tmp_path), **paths)
    assert result["containerd"]["removed"] is True and result["containerd"]["changed"] is True
    assert not (tmp_path / "containerd" / "config.toml").exists()
    assert not os.path.exists(os.path.join(paths["dev_root"], "nvidia0"))


# Without architecture: the action plugin looks at the node first, and with nvml_source takes the
# mock NVML of the node's architecture from nvml_build.py (a stub here, that records its calls).

NVML_BUILD_STUB = '''
import json
import os

class BuildError(Exception):
    pass

def select(root, cache_dir, architectures, mode):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "plan.json")) as f:
        plan = json.load(f)
    with open(os.path.join(here, "calls"), "a") as f:
        f.write(json.dumps([architectures, mode]) + "\\n")
    if plan.get("fail"):
        raise BuildError(plan["fail"])
    found = dict((arch, plan["found"]) for arch in architectures if mode != "target")
    return dict(hash="0123456789abcdef", pack=plan.get("pack"), architectures=found)
'''


@pytest.fixture
def nvml_source(tmp_path, built):
    """A stub nvml_src: plan(found=..., fail=..., pack=...) sets what its select answers; calls() lists them."""
    source = tmp_path / "collection" / "nvml_src"
    source.mkdir(parents=True)
    (source / "nvml_build.py").write_text(NVML_BUILD_STUB)

    def plan(**answer):
        (source / "plan.json").write_text(json.dumps(answer))
    plan(found=dict(library=str(built[0]), mock_ctl=str(built[1]), origin="cache"))
    plan.options = dict(nvml_source=str(source), nvml_cache_dir=str(tmp_path / "cache"))
    plan.calls = lambda: [json.loads(line) for line in (source / "calls").read_text().splitlines()] \
        if (source / "calls").exists() else []
    return plan


def test_without_architecture_the_node_is_looked_at_once_and_its_architecture_used(task, paths, built):
    result, visits, _transfers = task(**node_args(paths, built))
    machine = os.uname()[4]
    assert result["look"] == dict(machine=machine, python3="/usr/bin/python3", build=False)
    assert len(task.looks) == 1 and visits[0]["architecture"] == machine


def test_with_architecture_the_node_is_not_looked_at(task, paths, built):
    result, visits, _transfers = task(architecture="x86_64", **node_args(paths, built))
    assert task.looks == [] and "look" not in result and visits


def test_a_node_without_python3_fails_in_one_sentence_before_anything_is_written(task, paths, built, node_python):
    node_python["path"] = ""
    with pytest.raises(action_plugin.AnsibleActionFail, match=r"^unit-host has no python3 \(command -v python3 finds "
                       r"none\), which the module needs; install it there\.$"):
        task(**node_args(paths, built))
    assert not os.path.exists(paths["dev_root"])


def test_with_report_needs_a_node_without_python3_gets_no_module_run_and_needs_python3(
        task, paths, built, node_python):
    node_python["path"] = ""
    result, visits, transfers = task(report_needs=True, **node_args(paths, built))
    assert result["changed"] is False and result["needs"] == ["python3"] and "failed" not in result
    assert visits == [] and transfers == [] and not os.path.exists(paths["dev_root"])


def test_with_nvml_source_the_node_gets_the_library_built_for_its_architecture(task, paths, built, nvml_source):
    result, _visits, transfers = task(**dict(paths, **nvml_source.options))
    machine = os.uname()[4]
    assert nvml_source.calls() == [[[machine], "auto"]]
    assert result["nvml"]["architectures"][machine]["library"] == str(built[0])
    assert result["changed"] is True and transfers == [str(built[0]), str(built[1])]
    lib = os.path.join(paths["driver_root"], "usr/lib/%s-linux-gnu/libnvidia-ml.so.550.54.15" % machine)
    assert driver_tree.strip_embedded_config(fsstate.read_file(lib)) == built[0].read_bytes()


def test_a_node_that_is_to_build_the_library_itself_fails_in_one_sentence_naming_the_options(
        task, paths, nvml_source):
    nvml_source(found=dict(problem="this controller has no make"))
    with pytest.raises(action_plugin.AnsibleActionFail, match=r"^unit-host has no mock NVML for %s on the controller "
                       r"\(this controller has no make\); build it on the node and give its path as nvml_library, "
                       r"or give nvml_library_src\.$" % os.uname()[4]):
        task(**dict(paths, **nvml_source.options))
    assert not os.path.exists(paths["dev_root"])


def test_with_report_needs_a_node_that_is_to_build_the_library_gets_no_module_run_and_needs_nvml_build(
        task, paths, nvml_source):
    nvml_source(found=dict(problem="this controller has no make"), pack="/cache/0123456789abcdef/nvml_src.tar.gz")
    result, visits, _transfers = task(report_needs=True, **dict(paths, **nvml_source.options))
    assert result["changed"] is False and result["needs"] == ["nvml_build"] and visits == []
    assert result["nvml"]["pack"] == "/cache/0123456789abcdef/nvml_src.tar.gz" and "nvml_problem" not in result
    assert not os.path.exists(paths["dev_root"])


def test_nvml_build_target_is_handed_to_nvml_build_and_leaves_the_build_to_the_node(task, paths, nvml_source):
    result, visits, _transfers = task(nvml_build="target", report_needs=True, **dict(paths, **nvml_source.options))
    assert nvml_source.calls() == [[[os.uname()[4]], "target"]]
    assert result["needs"] == ["nvml_build"] and visits == []


def test_a_failing_build_fails_the_task_with_its_output(task, paths, nvml_source):
    nvml_source(fail="building the mock NVML for x86_64 with cc failed (make rc 2):\ninit.c:1: error: boom")
    with pytest.raises(action_plugin.AnsibleActionFail, match="init.c:1: error: boom"):
        task(**dict(paths, **nvml_source.options))
    assert not os.path.exists(paths["dev_root"])


def test_nvml_source_without_a_cache_directory_fails_in_one_sentence(task, paths, nvml_source):
    with pytest.raises(action_plugin.AnsibleActionFail, match=r"^nvml_cache_dir must be set with nvml_source: "):
        task(nvml_source=nvml_source.options["nvml_source"], **paths)


def test_nvml_source_that_is_not_an_nvml_src_directory_fails_in_one_sentence(task, paths, tmp_path):
    with pytest.raises(action_plugin.AnsibleActionFail, match=r"^nvml_source .* has no nvml_build.py: "):
        task(nvml_source=str(tmp_path), nvml_cache_dir=str(tmp_path / "cache"), **paths)


def test_a_library_given_wins_over_nvml_source(task, paths, built, nvml_source):
    result, _visits, transfers = task(**dict(node_args(paths, built), **nvml_source.options))
    assert nvml_source.calls() == [] and "nvml" not in result and transfers == [str(built[0]), str(built[1])]


def test_removing_a_node_takes_no_library(task, paths, built, nvml_source):
    task(**node_args(paths, built))
    result, _visits, _transfers = task(state="absent", **dict(paths, **nvml_source.options))
    assert nvml_source.calls() == [] and result["changed"] is True
    assert not os.path.exists(os.path.join(paths["driver_root"], LIB))
