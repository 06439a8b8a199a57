"""Hostile input through real ansible-playbook runs: the driver tree and the CDI spec modules, one
case per class (what the module did not write, a path below a regular file, a FIFO as an input,
a temporary file a killed run left, a symlink), in one playbook into a temp root.

Each failing task fails alone (the play goes on) with one line naming the option; the file
system is unchanged where a task failed, or exactly the documented result where it did not.
"""
import json
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
TARGET_PYTHON = "/usr/bin/python3"
NODE = dict(node_id="integration-node", gpu_count=2)
MAJORS = dict(uvm_major=238, caps_major=241)
TEMP = "zzzzzzzz.tmp"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs the modules as root, as on a node")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    (base / "plain").write_text("a regular file")
    os.mkfifo(base / "fifo")
    foreign_lib = base / "foreign/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15"
    foreign_lib.parent.mkdir(parents=True)
    foreign_lib.write_bytes(b"\x7fELF the host's real libcuda")
    (base / "foreign-cdi").mkdir()
    (base / "foreign-cdi/nvidia.yaml").write_text("---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\n")
    (base / "stale/etc/nvidia-mock").mkdir(parents=True)
    (base / "stale/etc/nvidia-mock" / (".nvml.conf." + TEMP)).write_text("half a config")
    (base / "stale-cdi").mkdir()
    (base / "stale-cdi" / (".nvidia.yaml." + TEMP)).write_text("half a spec")
    (base / "outside").mkdir()
    (base / "escape").mkdir()
    os.symlink(str(base / "outside"), base / "escape/etc")
    (base / "etc/cdi").mkdir(parents=True)
    (base / "opt").mkdir()
    os.symlink(str(base / "opt/nvidia.yaml"), base / "etc/cdi/nvidia.yaml")
    tree = "gpumock.nvidia.nvidia_mock_driver_tree"
    spec = "gpumock.nvidia.nvidia_cdi_spec"
    tasks = [
        ("1 tree foreign", tree, dict(NODE, root=str(base / "foreign"))),
        ("1 cdi foreign", spec, dict(NODE, **MAJORS, path=str(base / "foreign-cdi/nvidia.yaml"))),
        ("3 tree below a file", tree, dict(NODE, root=str(base / "plain/driver"))),
        ("3 cdi below a file", spec, dict(NODE, **MAJORS, path=str(base / "plain/cdi/nvidia.yaml"))),
        ("4 tree fifo library", tree, dict(NODE, root=str(base / "fifo-tree"), nvml_library=str(base / "fifo"))),
        ("4 cdi fifo hook", spec, dict(NODE, **MAJORS, path=str(base / "fifo-cdi/nvidia.yaml"),
                                       hook_path=str(base / "fifo"))),
        ("5 tree stale temp", tree, dict(NODE, root=str(base / "stale"))),
        ("5 cdi stale temp", spec, dict(NODE, **MAJORS, path=str(base / "stale-cdi/nvidia.yaml"))),
        ("6 tree link out of the root", tree, dict(NODE, root=str(base / "escape"))),
        ("6 cdi symlinked spec", spec, dict(NODE, **MAJORS, path=str(base / "etc/cdi/nvidia.yaml"))),
    ]
    play = base / "hostile.yml"
    play.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": name, module: args, "ignore_errors": True} for name, module, args in tasks]}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % TARGET_PYTHON, str(play)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    out = json.loads(proc.stdout)
    results = dict((t["task"]["name"], t["hosts"]["localhost"]) for play_ in out["plays"] for t in play_["tasks"])
    return base, results


def failed_naming(result, option, *words):
    msg = result["msg"]
    assert result.get("failed") is True and "\n" not in msg and "Traceback" not in msg, result
    assert msg.split(" ", 1)[0].rstrip(":") == option, msg
    assert all(w in msg for w in words), msg


def test_class_1_what_the_module_did_not_write_is_refused_and_kept(hostile):
    base, results = hostile
    failed_naming(results["1 tree foreign"], "root", "libcuda.so.550.54.15", "did not make")
    failed_naming(results["1 cdi foreign"], "path", "nvidia.yaml", "did not make")
    lib = base / "foreign/usr/lib/x86_64-linux-gnu"
    assert os.listdir(lib) == ["libcuda.so.550.54.15"]
    assert (lib / "libcuda.so.550.54.15").read_bytes() == b"\x7fELF the host's real libcuda"
    assert (base / "foreign-cdi/nvidia.yaml").read_text().startswith("---\ncdiVersion: 0.5.0\n")


def test_class_3_a_path_below_a_regular_file_fails_in_one_line(hostile):
    base, results = hostile
    failed_naming(results["3 tree below a file"], "root", "not a directory")
    failed_naming(results["3 cdi below a file"], "path", "not a directory")
    assert (base / "plain").read_text() == "a regular file"


def test_class_4_a_fifo_as_an_input_is_refused_without_blocking(hostile):
    base, results = hostile
    failed_naming(results["4 tree fifo library"], "nvml_library", "FIFO")
    failed_naming(results["4 cdi fifo hook"], "hook_path", "FIFO")
    assert not (base / "fifo-tree").exists() and not (base / "fifo-cdi").exists()


def test_class_5_a_killed_runs_temporary_file_is_removed(hostile):
    base, results = hostile
    assert results["5 tree stale temp"]["changed"] and results["5 cdi stale temp"]["changed"]
    assert {"op": "cleanup", "path": "etc/nvidia-mock/.nvml.conf." + TEMP} in results["5 tree stale temp"]["actions"]
    assert os.listdir(base / "stale-cdi") == ["nvidia.yaml"]
    assert not (base / "stale/etc/nvidia-mock" / (".nvml.conf." + TEMP)).exists()


def test_class_6_links(hostile):
    base, results = hostile
    failed_naming(results["6 tree link out of the root"], "root", "leaves the root")
    assert os.listdir(base / "outside") == []
    assert not results["6 cdi symlinked spec"].get("failed")
    assert os.readlink(base / "etc/cdi/nvidia.yaml") == str(base / "opt/nvidia.yaml")
    assert yaml.safe_load((base / "opt/nvidia.yaml").read_text())["kind"] == "nvidia.com/gpu"
