"""Hostile input, class 5: concurrent runs, killed runs, and runs that fail halfway.

* Concurrent runs of a module on one path all succeed and leave a valid file.
* A run removes the temporary files that gone runs of this collection left beside the paths it
  plans (``.<name>.<8 characters>.tmp``, only in directories no live run holds), and nothing else.
* A run that fails changes nothing, or says which changes it made before the failure.
* Kill -9 at random points of a 128-GPU write (device node stand-ins, driver tree, CDI spec):
  every target is the old or the new complete content, never truncated, and the next run leaves
  no temporary file.
"""
import fcntl
import json
import os
import random
import subprocess
import sys
import textwrap
import time
import tomllib

import pytest
import yaml

from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import driver_tree
from ansible_collections.gpumock.nvidia.plugins.modules import (
    nvidia_cdi_spec, nvidia_mock_containerd, nvidia_mock_devnodes, nvidia_mock_driver_tree)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
NODE = dict(node_id="unit-node", gpu_count=2)
MAJORS = dict(uvm_major=238, caps_major=241)


def temp_files(top):
    """Every temporary object of the engine's naming pattern below ``top``."""
    pattern = fsstate.temp_pattern()
    return sorted(os.path.join(d, n) for d, dirs, files in os.walk(str(top)) for n in dirs + files
                  if pattern.match(n))


def python(script, *args, **kwargs):
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)] + [str(a) for a in args],
                            env=env, **kwargs)


# Concurrency.

CDI_WORKER = """
    import io, json, os, sys, time, traceback
    from contextlib import redirect_stdout
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.gpumock.nvidia.plugins.modules import nvidia_cdi_spec

    base, worker, workers, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    failures = []
    for i in range(runs):
        # A gate: every round starts in all workers at once (a worker that died is waited for 20 s at most).
        gate = "%s/gate%d" % (base, i)
        os.makedirs(gate, exist_ok=True)
        open("%s/%d" % (gate, worker), "w").close()
        waited = time.monotonic() + 20
        while len(os.listdir(gate)) < workers and time.monotonic() < waited:
            time.sleep(0.0005)
        # The shared path, and a fresh directory that all workers make at once.
        for path in ("%s/shared/nvidia.yaml" % base, "%s/round%d/cdi/nvidia.yaml" % (base, i)):
            args = dict(path=path, node_id="node-%d" % (worker % 2), gpu_count=2, uvm_major=238, caps_major=241)
            out = io.StringIO()
            try:
                with patch_module_args(args), redirect_stdout(out):
                    nvidia_cdi_spec.main()
            except SystemExit:
                result = json.loads(out.getvalue())
                if result.get("failed"):
                    failures.append(result["msg"])
            except Exception:
                failures.append(traceback.format_exc(limit=-2))
    print(json.dumps(failures))
"""


def test_concurrent_runs_of_the_cdi_spec_module_on_one_path_all_succeed(tmp_path, run_module):
    workers = [python(CDI_WORKER, tmp_path, n, 8, 20, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for n in range(8)]
    failures = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode()[-2000:]
        failures += json.loads(out)
    assert failures == []
    specs = [run_module(nvidia_cdi_spec, check=True, path=str(tmp_path / "x.yaml"), node_id="node-%d" % n,
                        gpu_count=2, **MAJORS)["spec"] for n in (0, 1)]
    for path in [tmp_path / "shared/nvidia.yaml"] + [tmp_path / ("round%d/cdi/nvidia.yaml" % i) for i in range(20)]:
        assert yaml.safe_load(path.read_text()) in specs
    assert temp_files(tmp_path) == []


def test_concurrent_runs_of_the_driver_tree_module_on_one_root_all_succeed(tmp_path):
    worker = """
        import sys
        from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
        from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
        from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import node_jobs
        node = profiles.build_node("dgxa100", 8, "node-%s" % sys.argv[2])
        for _ in range(5):
            job = node_jobs.driver_tree_job(node, sys.argv[1], "/dev")
            plan = job.plan()
            if plan.changed:
                job.apply(None, plan)
    """
    workers = [python(worker, tmp_path / "driver", n % 2, stderr=subprocess.PIPE) for n in range(4)]
    for w in workers:
        assert w.wait(timeout=300) == 0, w.stderr.read().decode()[-2000:]
    assert temp_files(tmp_path) == []
    assert "node-" in (tmp_path / "driver" / driver_tree.NVML_CONFIG).read_text()


def test_a_directory_made_by_another_run_after_planning_is_no_error(tmp_path):
    entries = [fsstate.Entry("etc/cdi/nvidia.yaml", fsstate.FILE, content="x")]
    plan = fsstate.plan(str(tmp_path), entries)
    (tmp_path / "etc/cdi").mkdir(parents=True)
    fsstate.apply(plan)
    assert (tmp_path / "etc/cdi/nvidia.yaml").read_text() == "x"


# Temporary files of gone runs.

GONE = ".nvidia.yaml.a1b2c3d_.tmp"
NOT_OURS = [".nvidia.yaml.tmp", ".nvidia.yaml.abc.tmp", "nvidia.yaml.a1b2c3d_.tmp", ".other.yaml.a1b2c3d_.tmp",
            ".nvidia.yaml.A1B2C3D_.tmp", ".nvidia.yaml.a1b2c3d_.tmp~"]


def test_a_run_removes_a_temporary_file_a_gone_run_left_and_check_mode_reports_it(run_module, tmp_path):
    path = tmp_path / "cdi/nvidia.yaml"
    run_module(nvidia_cdi_spec, path=str(path), **dict(NODE, **MAJORS))
    (path.parent / GONE).write_text("half a spec")
    assert run_module(nvidia_cdi_spec, check=True, path=str(path), **dict(NODE, **MAJORS))["changed"] is True
    assert (path.parent / GONE).exists()
    assert run_module(nvidia_cdi_spec, path=str(path), **dict(NODE, **MAJORS))["changed"] is True
    assert not (path.parent / GONE).exists()
    assert run_module(nvidia_cdi_spec, path=str(path), **dict(NODE, **MAJORS))["changed"] is False


def test_a_run_leaves_other_programs_files_that_look_like_temporary_files(run_module, fs_snapshot, tmp_path):
    path = tmp_path / "cdi/nvidia.yaml"
    run_module(nvidia_cdi_spec, path=str(path), **dict(NODE, **MAJORS))
    for name in NOT_OURS:
        (path.parent / name).write_text("not ours")
    before = fs_snapshot(path.parent)
    assert run_module(nvidia_cdi_spec, path=str(path), **dict(NODE, **MAJORS))["changed"] is False
    assert fs_snapshot(path.parent) == before


def test_a_run_leaves_the_temporary_files_of_a_live_run(run_module, tmp_path):
    path = tmp_path / "cdi/nvidia.yaml"
    run_module(nvidia_cdi_spec, path=str(path), **dict(NODE, **MAJORS))
    (path.parent / GONE).write_text("being written")
    # A live run holds a shared lock on the directory while its temporary files exist.
    fd = os.open(str(path.parent), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        assert run_module(nvidia_cdi_spec, path=str(path), **dict(NODE, **MAJORS))["changed"] is False
        assert (path.parent / GONE).exists()
    finally:
        os.close(fd)


@pytest.mark.parametrize("state", ["present", "absent"])
def test_every_module_removes_the_temporary_files_gone_runs_left(run_module, tmp_path, state):
    tree, dev, conf = tmp_path / "driver", tmp_path / "dev", tmp_path / "containerd/config.toml"
    run_module(nvidia_mock_driver_tree, root=str(tree), **NODE)
    run_module(nvidia_mock_devnodes, dev_root=str(dev), fallback="files", **NODE)
    run_module(nvidia_mock_containerd, path=str(conf), new_file_version=2)
    left = [tree / "etc/nvidia-mock/.nvml.conf.zzzzzzzz.tmp", tree / "usr/bin/.nvidia-smi.zzzzzzzz.tmp",
            tree / "usr/lib/x86_64-linux-gnu/.libcuda.so.1.zzzzzzzz.tmp", dev / ".nvidia0.zzzzzzzz.tmp",
            conf.parent / ".config.toml.zzzzzzzz.tmp"]
    for path in left:
        path.write_text("left by a killed run")
    run_module(nvidia_mock_driver_tree, root=str(tree), state=state, **NODE)
    run_module(nvidia_mock_devnodes, dev_root=str(dev), fallback="files", state=state, **NODE)
    run_module(nvidia_mock_containerd, path=str(conf), state=state)
    assert temp_files(tmp_path) == []
    if state == "absent":
        assert not (tree / "etc/nvidia-mock").exists()


# Runs that fail.

@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount)")
def test_a_full_disk_halfway_through_a_driver_tree_changes_nothing_and_says_so(
        run_module, fs_snapshot, failure, tmp_path):
    point = tmp_path / "small"
    point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(point)], capture_output=True,
                          check=False)
    if done.returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        built = tmp_path / "built.so"
        built.write_bytes(b"\x7fELF" + b"\0" * 200 * 1024)
        args = dict(root=str(point / "driver"), nvml_library=str(built), node_id="unit-node", gpu_count=8)
        before = fs_snapshot(point)
        msg = failure(run_module(nvidia_mock_driver_tree, **args), "root")
        assert "No space left on device; nothing was changed." in msg
        assert fs_snapshot(point) == before
    finally:
        subprocess.run(["umount", str(point)], check=True)


def test_a_run_failing_after_some_renames_names_the_changes_it_made(run_module, failure, tmp_path, monkeypatch):
    tree = tmp_path / "driver"
    run_module(nvidia_mock_driver_tree, root=str(tree), **NODE)
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(fsstate.os, "replace", replace)
    msg = failure(run_module(nvidia_mock_driver_tree, root=str(tree), node_id="other", gpu_count=2), "root")
    assert "Could not rename into place %s: Input/output error; 2 of the" % calls[2] in msg, msg
    assert "(%s, %s)" % (os.path.relpath(calls[0], str(tree)), os.path.relpath(calls[1], str(tree))) in msg
    assert temp_files(tmp_path) == []


# Kill -9 campaign.

KILL_WORKER = """
    import sys, time
    from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
    from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import node_jobs
    base, node_id, mode = sys.argv[1], sys.argv[2], int(sys.argv[3], 8)
    library = open(sys.argv[4], "rb").read()
    node = profiles.build_node("dgxh100", 128, node_id)
    dev, driver = base + "/dev", base + "/driver"
    jobs = [node_jobs.devnodes_job(node, dev, mode, 238, 241, fallback="files"),
            node_jobs.driver_tree_job(node, driver, dev, library),
            node_jobs.cdi_spec_job(node, base + "/cdi/nvidia.yaml", driver, dev, 238, 241, ["index", "uuid"])]
    plans = [job.plan() for job in jobs]
    print("planned", flush=True)
    sys.stdin.readline()    # go
    start = time.monotonic()
    for job, plan in zip(jobs, plans):
        if plan.changed:
            job.apply(None, plan)
    print("applied %f" % (time.monotonic() - start), flush=True)
"""
VERSIONS = {"node-a": "0666", "node-b": "0660"}


def contents(top):
    """{relative path: (kind, bytes or link target, mode)} of everything below ``top`` but temporary files."""
    state = {}
    pattern = fsstate.temp_pattern()
    for directory, dirs, files in os.walk(str(top)):
        for name in files:
            path = os.path.join(directory, name)
            if pattern.match(name):
                continue
            st = os.lstat(path)
            data = os.readlink(path) if os.path.islink(path) else open(path, "rb").read()
            state[os.path.relpath(path, str(top))] = (os.path.islink(path), data, st.st_mode & 0o777)
    return state


class Writer:
    """One 128-GPU write in a worker process: it plans at once, writes on ``go``."""

    def __init__(self, base, node_id, library):
        self.process = python(KILL_WORKER, base, node_id, VERSIONS[node_id], library, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def go(self, kill_after=None):
        """Let it write; with ``kill_after``, SIGKILL it that many seconds later. Its apply time, or None."""
        process = self.process
        assert process.stdout.readline().strip() == "planned", process.stderr.read()
        process.stdin.write("go\n")
        process.stdin.flush()
        if kill_after is None:
            line = process.stdout.readline()
            assert process.wait(timeout=120) == 0, process.stderr.read()
            result = float(line.split()[1])
        else:
            time.sleep(kill_after)
            process.kill()
            process.wait(timeout=60)
            result = None
        self.close()
        return result

    def stop(self):
        """Kill it before it writes."""
        self.process.kill()
        self.process.wait(timeout=60)
        self.close()

    def close(self):
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            stream.close()


def write(base, node_id, library):
    return Writer(base, node_id, library).go()


def test_kill_9_at_random_points_of_a_128_gpu_write_leaves_old_or_new_content_and_no_temp_file(tmp_path):
    library = tmp_path / "libnvidia-ml.so.built"
    library.write_bytes(b"\x7fELF mock nvml " + os.urandom(2 * 1024 * 1024))
    base = tmp_path / "node"
    write(base, "node-a", library)
    expected = {"node-a": contents(base)}
    apply_time = write(base, "node-b", library)
    expected["node-b"] = contents(base)
    changed = [p for p in expected["node-a"] if expected["node-a"][p] != expected["node-b"][p]]
    assert len(changed) > 200 and set(expected["node-a"]) == set(expected["node-b"])

    rng = random.Random(11)
    deadline = time.monotonic() + 40
    kills = mixed = with_temps = 0
    writer = Writer(base, rng.choice(sorted(VERSIONS)), library)
    while kills < 30 and time.monotonic() < deadline:
        writer.go(kill_after=rng.uniform(0, apply_time * 1.2))
        kills += 1
        # The next writer starts (and plans from what the kill left) while this state is checked.
        writer = Writer(base, rng.choice(sorted(VERSIONS)), library)
        now = contents(base)
        assert set(now) == set(expected["node-a"]), "a target is missing or extra after kill %d" % kills
        for path, item in now.items():
            assert item in (expected["node-a"][path], expected["node-b"][path]), \
                "%s is neither old nor new after kill %d" % (path, kills)
        yaml.safe_load(now["cdi/nvidia.yaml"][1])
        tomllib.loads(now["driver/" + driver_tree.TOOLKIT_CONFIG][1].decode())
        mixed += len(set(now[p] == expected["node-a"][p] for p in changed)) == 2
        with_temps += bool(temp_files(base))
    writer.stop()
    # The campaign hit the writes: some kills left a mix of old and new files, or temporary files.
    print("kills %d, leaving a mix of old and new %d, leaving temporary files %d" % (kills, mixed, with_temps))
    assert kills >= 8 and mixed + with_temps >= 3, (kills, mixed, with_temps)
    write(base, "node-a", library)
    assert temp_files(base) == []
    assert contents(base) == expected["node-a"]
