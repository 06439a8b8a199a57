"""Converge timings of the gpu_mock role on real node containers, printed as a table.

1. Full converge and idempotent re-run on a fresh container, side by side with
   bench/baseline_role, which makes the same files with builtin file/copy/command loops
   (its lists are taken from a node the real role provisioned).
2. N fresh node containers converged in parallel by one ansible-playbook (forks N): total time.

Wall times of whole `ansible-playbook` runs, one run each: numbers to compare, not to assert on.
Needs the Docker engine and the images (`make bench-converge` sees to both).
Usage: .venv/bin/python bench/converge_bench.py [--nodes 16]
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


def converge(workdir, play, hosts, extra_vars=None, forks=5):
    """Seconds of one ansible-playbook run, and the summed changed count of its recap."""
    playbook = os.path.join(workdir, "play.yml")
    with open(playbook, "w") as handle:
        handle.write(play)
    command = [PLAYBOOK_BIN, "-i", ",".join(hosts) + ",", "-c", "community.docker.docker", "-f", str(forks),
               "-e", "ansible_python_interpreter=/usr/bin/python3", playbook]
    if extra_vars:
        command += ["-e", "@" + extra_vars]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
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
    stats = json.loads(done.stdout)["stats"]
    return seconds, sum(s["changed"] for s in stats.values())


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


def single_node_rows(workdir):
    rows = []
    no_containerd = os.path.join(workdir, "no-containerd.json")
    with open(no_containerd, "w") as handle:
        json.dump({"gpu_mock_containerd": False}, handle)

    reference = PREFIX + "reference"
    start_nodes([reference], SINGLE_IMAGE)
    try:
        # Also fills the controller's NVML cache, so no run below includes the C build.
        converge(workdir, ROLE_PLAY, [reference], no_containerd)
        variables, entries = baseline_vars(workdir, reference)
    finally:
        remove_nodes([reference])

    cases = [
        ("gpu_mock role (containerd CDI + restart)", ROLE_PLAY, None),
        ("gpu_mock role, gpu_mock_containerd: false", ROLE_PLAY, no_containerd),
        ("baseline_role (builtin loops, %d paths)" % entries, BASELINE_PLAY, variables),
    ]
    for label, play, extra in cases:
        node = PREFIX + "single"
        start_nodes([node], SINGLE_IMAGE)
        try:
            first, first_changed = converge(workdir, play, [node], extra)
            second, second_changed = converge(workdir, play, [node], extra)
        finally:
            remove_nodes([node])
        rows.append((label, first, first_changed, second, second_changed))
    return rows


def parallel_row(workdir, count):
    names = ["%sparallel-%02d" % (PREFIX, i) for i in range(count)]
    start = time.monotonic()
    start_nodes(names, PARALLEL_IMAGE)
    boot = time.monotonic() - start
    try:
        seconds, changed = converge(workdir, ROLE_PLAY, names, forks=count)
        again, again_changed = converge(workdir, ROLE_PLAY, names, forks=count)
    finally:
        remove_nodes(names)
    return boot, seconds, changed, again, again_changed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=16, help="containers converged in parallel (default 16)")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="gpumock-converge-bench-")
    try:
        rows = single_node_rows(workdir)
        boot, seconds, changed, again, again_changed = parallel_row(workdir, args.nodes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print("One fresh node (%s), wall time of ansible-playbook, controller NVML cache warm" % SINGLE_IMAGE)
    print()
    print("| role | converge | changed | re-run | changed |")
    print("|---|---:|---:|---:|---:|")
    for label, first, first_changed, second, second_changed in rows:
        print("| %s | %.1f s | %d | %.1f s | %d |" % (label, first, first_changed, second, second_changed))
    print()
    print("%d fresh nodes (%s, python3 bootstrapped by the role) in one play, forks %d"
          % (args.nodes, PARALLEL_IMAGE, args.nodes))
    print()
    print("| nodes | boot (docker run → systemd running) | converge | changed | re-run | changed |")
    print("|---:|---:|---:|---:|---:|---:|")
    print("| %d | %.1f s | %.1f s | %d | %.1f s | %d |" % (args.nodes, boot, seconds, changed, again, again_changed))
    print()
    print("machine: %d CPUs; one run per cell" % os.cpu_count())


if __name__ == "__main__":
    main()
