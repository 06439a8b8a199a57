"""Converge timings of the gpu_mock role on real node containers, printed as a table.

1. Full converge and idempotent re-run on a fresh container, of this checkout's role and of the
   role at an earlier git revision (--before, default main: today's numbers beside the new
   ones), side by side with bench/baseline_role, which makes the same files with builtin
   file/copy/command loops (its lists are taken from a node the real role provisioned). Besides
   the wall time: the remote task visits of the re-run (tasks that ran a module or command on
   the node; controller-side tasks and skipped ones not counted).
2. N fresh node containers converged in parallel by one ansible-playbook (forks N), then re-run:
   total times, for this checkout's role and the one at --before.

Wall times of whole `ansible-playbook` runs, one run each: numbers to compare, not to assert on.
Needs the Docker engine and the images (`make bench-converge` sees to both).
Usage: .venv/bin/python bench/converge_bench.py [--nodes 16] [--before main] [--single-only]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PLAYBOOK_BIN = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
SINGLE_IMAGE = "gpumock/trixie-systemd"      # has python3, containerd and podman
PARALLEL_IMAGE = "gpumock/bookworm-systemd"  # no python3: each node is bootstrapped too
PREFIX = "bench-gpu-"
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
# Actions that run on the controller only: never a visit of the node.
CONTROLLER_ACTIONS = {"ansible.builtin.set_fact", "ansible.builtin.assert", "ansible.builtin.fail",
                      "ansible.builtin.include_tasks", "ansible.builtin.import_tasks", "ansible.builtin.include_role",
                      "ansible.builtin.debug", "ansible.builtin.meta", "ansible.builtin.validate_argument_spec"}
# What the role makes, apart from containerd's config (the baseline does not touch containerd).
MADE_PATHS = ["/var/lib/nvidia-mock", "/etc/cdi/nvidia.yaml", "/etc/tmpfiles.d/nvidia-mock.conf"]

ROLE_PLAY = """
- hosts: all
  gather_facts: false
  roles:
    - role: gpumock.nvidia.gpu_mock
"""
BASELINE_PLAY = """
- hosts: all
  gather_facts: false
  roles:
    - role: baseline_role
"""


def sh(*command, check=True, **kwargs):
    return subprocess.run(list(command), check=check, capture_output=True, text=True, **kwargs)


def start_nodes(names, image):
    # Privileged: the project's Docker engine (scripts/dockerd.sh) drops what the machine cannot grant.
    flags = ["--privileged", "--network", "none", "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
             "--tmpfs", "/run", "--tmpfs", "/run/lock", "--stop-signal", "SIGRTMIN+3",
             "-v", "/var/lib/containerd", "-v", "/var/lib/containers"]
    for name in names:
        sh("docker", "rm", "-fv", name, check=False)
        sh("docker", "run", "-d", "--name", name, "--hostname", name, *flags, image, "/sbin/init")
    for name in names:
        for _attempt in range(240):
            state = sh("docker", "exec", name, "systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.25)
        else:
            raise SystemExit("node %s did not boot (state %r)" % (name, state))


def remove_nodes(names):
    for name in names:
        sh("docker", "rm", "-fv", name, check=False)


def remote_visits(report):
    """Task results of the json callback's report that visited a node (ran something there)."""
    visits = 0
    for play in report.get("plays", []):
        for task in play["tasks"]:
            for result in task["hosts"].values():
                # Delegated tasks (the NVML build on the controller) do not visit the node either.
                if result.get("skipped") or result.get("action") in CONTROLLER_ACTIONS \
                        or "_ansible_delegated_vars" in result:
                    continue
                visits += len(result["results"]) if "results" in result else 1
    return visits


def export_collection(workdir, ref):
    """The collection at git revision ``ref``, unpacked as a collections path; returns that path."""
    path = os.path.join(workdir, "before", "ansible_collections", "gpumock", "nvidia")
    os.makedirs(path)
    archive = subprocess.run(["git", "-C", ROOT, "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", path], input=archive, check=True)
    return os.path.join(workdir, "before")


def converge(workdir, play, hosts, extra_vars=None, forks=5, collections=COLLECTIONS, stats=False):
    """Seconds of one ansible-playbook run, and the summed changed count of its recap (and, with
    ``stats``, the number of remote task visits)."""
    playbook = os.path.join(workdir, "play.yml")
    with open(playbook, "w") as handle:
        handle.write(play)
    command = [PLAYBOOK_BIN, "-i", ",".join(hosts) + ",", "-c", "community.docker.docker", "-f", str(forks),
               "-e", "ansible_python_interpreter=/usr/bin/python3", playbook]
    if extra_vars:
        command += ["-e", "@" + extra_vars]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections,
               ANSIBLE_ROLES_PATH=os.path.join(ROOT, "bench"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_HOST_KEY_CHECKING="false")
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-2000:])
        for play in json.loads(done.stdout).get("plays", []):
            for task in play["tasks"]:
                for host, result in task["hosts"].items():
                    failed = [r for r in result.get("results", [result]) if r.get("failed")]
                    for item in failed[:3]:
                        sys.stderr.write("%s: %s: %s\n" % (host, task["task"]["name"], item.get("msg")))
        raise SystemExit("ansible-playbook failed (rc %d)" % done.returncode)
    report = json.loads(done.stdout)
    changed = sum(s["changed"] for s in report["stats"].values())
    if stats:
        return seconds, changed, remote_visits(report)
    return seconds, changed


def baseline_vars(workdir, node):
    """Lists for baseline_role, read from a node the real role provisioned; files copied locally."""
    listing = sh("docker", "exec", node, "find", *MADE_PATHS, "-printf", r"%y\t%m\t%p\t%l\n").stdout
    # /etc/cdi does not exist on a fresh node: the baseline makes it like the role's module does.
    directories, files, links = [{"path": "/etc/cdi", "mode": "0755"}], [], []
    local = os.path.join(workdir, "files")
    for line in listing.splitlines():
        kind, mode, path, target = line.split("\t")
        if kind == "d":
            directories.append({"path": path, "mode": "0" + mode})
        elif kind == "f":
            src = local + path
            os.makedirs(os.path.dirname(src), exist_ok=True)
            sh("docker", "cp", "%s:%s" % (node, path), src)
            files.append({"path": path, "src": src, "mode": "0" + mode})
        elif kind == "l":
            links.append({"path": path, "target": target})
    devices = []
    for line in sh("docker", "exec", node, "sh", "-c", "stat -c '%n %t %T %a' /dev/nvidia*").stdout.splitlines():
        path, major, minor, mode = line.split()
        devices.append({"path": path, "major": int(major, 16), "minor": int(minor, 16), "mode": "0" + mode})
    data = {"baseline_directories": directories, "baseline_files": files, "baseline_links": links,
            "baseline_devices": devices}
    path = os.path.join(workdir, "baseline-vars.json")
    with open(path, "w") as handle:
        json.dump(data, handle)
    return path, len(directories) + len(files) + len(links) + len(devices)


def vars_file(workdir, name, variables):
    path = os.path.join(workdir, name)
    with open(path, "w") as handle:
        json.dump(variables, handle)
    return path


def module_cache_vars(workdir):
    """The role's variables that keep the node module's code compiled on the node (as kind.yml does)."""
    return vars_file(workdir, "module-cache.json", {"gpu_mock_module_cache_dir": "/var/cache/gpumock-modules"})


def single_node_rows(workdir, before):
    rows = []
    no_containerd = vars_file(workdir, "no-containerd.json", {"gpu_mock_containerd": False})

    reference = PREFIX + "reference"
    start_nodes([reference], SINGLE_IMAGE)
    try:
        # Also fills the controller's NVML cache, so no run below includes the C build.
        converge(workdir, ROLE_PLAY, [reference], no_containerd)
        variables, entries = baseline_vars(workdir, reference)
    finally:
        remove_nodes([reference])

    revisions = [("this checkout", COLLECTIONS)]
    if before:
        revisions.insert(0, (before, export_collection(workdir, before)))
    cases = []
    for revision, collections in revisions:
        cases += [
            ("gpu_mock role @ %s (containerd CDI + restart)" % revision, ROLE_PLAY, None, collections),
            ("gpu_mock role @ %s, gpu_mock_containerd: false" % revision, ROLE_PLAY, no_containerd, collections),
        ]
    cases.append(("gpu_mock role @ this checkout (containerd CDI + restart), gpu_mock_module_cache_dir", ROLE_PLAY,
                  module_cache_vars(workdir), COLLECTIONS))
    cases.append(("baseline_role (builtin loops, %d paths)" % entries, BASELINE_PLAY, variables, COLLECTIONS))
    for label, play, extra, collections in cases:
        node = PREFIX + "single"
        start_nodes([node], SINGLE_IMAGE)
        try:
            first, first_changed, first_visits = converge(workdir, play, [node], extra, collections=collections,
                                                          stats=True)
            second, second_changed, second_visits = converge(workdir, play, [node], extra,
                                                             collections=collections, stats=True)
        finally:
            remove_nodes([node])
        rows.append((label, first, first_changed, first_visits, second, second_changed, second_visits))
    return rows


def parallel_rows(workdir, count, before):
    """(label, boot, converge, changed, re-run, changed) of ``count`` fresh nodes for this
    checkout's role and, with ``before``, for the role at that revision (fresh nodes each)."""
    cases = [("this checkout", COLLECTIONS, None),
             ("this checkout, gpu_mock_module_cache_dir", COLLECTIONS, module_cache_vars(workdir))]
    if before:
        cases.insert(0, ("gpu_mock at %s" % before, os.path.join(workdir, "before"), None))
    rows = []
    for label, collections, extra in cases:
        names = ["%sparallel-%02d" % (PREFIX, i) for i in range(count)]
        start = time.monotonic()
        try:
            start_nodes(names, PARALLEL_IMAGE)
            boot = time.monotonic() - start
            seconds, changed = converge(workdir, ROLE_PLAY, names, extra, forks=count, collections=collections)
            again, again_changed = converge(workdir, ROLE_PLAY, names, extra, forks=count, collections=collections)
        finally:
            remove_nodes(names)
        rows.append((label, boot, seconds, changed, again, again_changed))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=16, help="containers converged in parallel (default 16)")
    parser.add_argument("--before", default="main",
                        help="git revision whose role runs beside this checkout's (default main; '' for none)")
    parser.add_argument("--single-only", action="store_true", help="only the one-node table")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="gpumock-converge-bench-")
    try:
        rows = single_node_rows(workdir, args.before)
        # Printed before the parallel part starts: a failure there keeps this table.
        print()
        print("One fresh node (%s), wall time of ansible-playbook, controller NVML cache warm" % SINGLE_IMAGE)
        print()
        print("| role | converge | changed | node visits | re-run | changed | node visits |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, first, first_changed, first_visits, second, second_changed, second_visits in rows:
            print("| %s | %.1f s | %d | %d | %.1f s | %d | %d |"
                  % (label, first, first_changed, first_visits, second, second_changed, second_visits))
        print(flush=True)
        if not args.single_only:
            parallel = parallel_rows(workdir, args.nodes, args.before)
            print("%d fresh nodes (%s, python3 bootstrapped by the role) in one play, forks %d"
                  % (args.nodes, PARALLEL_IMAGE, args.nodes))
            print()
            print("| role | nodes | boot (docker run → systemd running) | converge | changed | re-run | changed |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            for label, boot, seconds, changed, again, again_changed in parallel:
                print("| %s | %d | %.1f s | %.1f s | %d | %.1f s | %d |"
                      % (label, args.nodes, boot, seconds, changed, again, again_changed))
            print()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("machine: %d CPUs; one run per cell" % os.cpu_count())


if __name__ == "__main__":
    main()
