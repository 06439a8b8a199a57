"""Wall time of the three node modules for 8 and 128 GPUs: first apply, idempotent re-run, check.

Two views per case:
  module  the module's own work, run in this process through Ansible's module harness (median of
          several runs, each on a fresh temp root for "first apply");
  ansible the whole `ansible localhost -m <module>` round trip (AnsiballZ packing, a new Python,
          the module, result parsing), one run, as a user sees it.
Prints a table; never asserts on time. Run with `make bench-modules` (as root: device nodes).
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from ansible.module_utils.testing import patch_module_args

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
sys.path.insert(0, COLLECTIONS)

from ansible_collections.gpumock.nvidia.plugins.modules import (  # noqa: E402
    nvidia_cdi_spec, nvidia_mock_devnodes, nvidia_mock_driver_tree)

REPEATS = 5
GPU_COUNTS = (8, 128)


def module_args(name, scratch, gpus):
    common = dict(profile="dgxa100", gpu_count=gpus, node_id="bench-node")
    if name == "nvidia_mock_devnodes":
        return dict(common, dev_root=os.path.join(scratch, "dev"), uvm_major=238, caps_major=241)
    if name == "nvidia_mock_driver_tree":
        return dict(common, root=os.path.join(scratch, "driver"))
    return dict(common, path=os.path.join(scratch, "cdi/nvidia.yaml"), driver_root=os.path.join(scratch, "driver"),
                uvm_major=238, caps_major=241)


MODULES = (("nvidia_mock_devnodes", nvidia_mock_devnodes), ("nvidia_mock_driver_tree", nvidia_mock_driver_tree),
           ("nvidia_cdi_spec", nvidia_cdi_spec))


def run_in_process(module, args, check=False):
    args = dict(args, _ansible_check_mode=check)
    devnull = open(os.devnull, "w")
    stdout = sys.stdout
    sys.stdout = devnull
    start = time.perf_counter()
    try:
        with patch_module_args(args):
            module.main()
    except SystemExit:
        pass
    finally:
        elapsed = time.perf_counter() - start
        sys.stdout = stdout
        devnull.close()
    return elapsed


def run_ansible(name, args, check=False):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_LOCALHOST_WARNING="0")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-c", "local",
           "-e", "ansible_python_interpreter=/usr/bin/python3", "-m", "gpumock.nvidia." + name,
           "-a", json.dumps(args)] + (["--check"] if check else [])
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit("%s failed: %s" % (name, proc.stdout[-2000:]))
    return elapsed


def measure(name, module, gpus):
    first, rerun, check = [], [], []
    for _repeat in range(REPEATS):
        scratch = tempfile.mkdtemp(prefix="gpumock-bench-")
        try:
            args = module_args(name, scratch, gpus)
            first.append(run_in_process(module, args))
            rerun.append(run_in_process(module, args))
            check.append(run_in_process(module, args, check=True))
        finally:
            shutil.rmtree(scratch)
    scratch = tempfile.mkdtemp(prefix="gpumock-bench-")
    try:
        args = module_args(name, scratch, gpus)
        e2e = (run_ansible(name, args), run_ansible(name, args), run_ansible(name, args, check=True))
    finally:
        shutil.rmtree(scratch)
    return [statistics.median(first), statistics.median(rerun), statistics.median(check)], e2e


def main():
    os.makedirs(os.path.join(COLLECTIONS, "ansible_collections", "gpumock"), exist_ok=True)
    link = os.path.join(COLLECTIONS, "ansible_collections", "gpumock", "nvidia")
    if not os.path.islink(link):
        os.symlink(ROOT, link)
    header = "%-24s %5s | %-28s | %-28s" % (
        "module", "GPUs", "module (ms): apply/rerun/check", "ansible (ms): apply/rerun/check")
    print(header)
    print("-" * len(header))
    for name, module in MODULES:
        for gpus in GPU_COUNTS:
            inproc, e2e = measure(name, module, gpus)
            print("%-24s %5d | %8.1f %8.1f %8.1f  | %8.0f %8.0f %8.0f" % (
                (name, gpus) + tuple(t * 1000 for t in inproc) + tuple(t * 1000 for t in e2e)))
    print("\nmodule: median of %d runs in-process (fresh temp root per first apply); "
          "ansible: one `ansible localhost -m` run each." % REPEATS)


if __name__ == "__main__":
    main()
