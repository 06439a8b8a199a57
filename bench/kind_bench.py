"""Timings of playbooks/kind.yml on three kind-like nodes (one control plane, two workers), printed as a table.

Each round starts three fresh node containers from gpumock/kind-node (images/kind-node/nodes.sh),
then times:
  converge  the first run: python3 bootstrap from the apt cache, the gpu_mock role, containerd
            restart, GFD labels (nodes provisioned in parallel, forks 5);
  re-run    the second run, which must change nothing;
  check     a --check run of the converged nodes.
Wall times of whole `ansible-playbook` runs, as a user sees them: numbers to compare, never
asserted on. Needs the Docker engine and the node image (`make bench-kind` sees to both).

Usage: python bench/kind_bench.py [--cluster gpumock-kbench] [--rounds 1] [--profile dgxh100] [--keep]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PLAYBOOK_BIN = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
NODES_SH = os.path.join(ROOT, "images", "kind-node", "nodes.sh")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def run(argv, **kwargs):
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    return time.monotonic() - start, done


def playbook(cluster, profile, *extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
               ANSIBLE_FORKS="5", ANSIBLE_NOCOLOR="1")
    seconds, done = run([PLAYBOOK_BIN, os.path.join(ROOT, "playbooks", "kind.yml"),
                         "-e", "gpumock_kind_cluster_name=" + cluster, "-e", "gpumock_kind_nodes_premade=true",
                         "-e", "gpu_mock_profile=" + profile, *extra], env=env, cwd=ROOT)
    recap = {m.group(1): (int(m.group(3)), int(m.group(4)) + int(m.group(5))) for m in RECAP.finditer(done.stdout)}
    nodes = {host: v for host, v in recap.items() if host != "localhost"}
    if done.returncode != 0 or len(nodes) != 3 or any(failures for _changed, failures in nodes.values()):
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-2000:])
        raise SystemExit("kind_bench: ansible-playbook %s failed (rc %d)" % (" ".join(extra), done.returncode))
    return seconds, sum(changed for changed, _failures in nodes.values())


def nodes(action, cluster):
    argv = [NODES_SH, action, cluster] + (["2"] if action == "create" else [])
    seconds, done = run(argv)
    if done.returncode != 0:
        raise SystemExit("kind_bench: nodes.sh %s failed: %s" % (action, done.stderr.strip()))
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", default="gpumock-kbench")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", default="dgxh100")
    parser.add_argument("--keep", action="store_true", help="leave the last round's nodes running")
    args = parser.parse_args()

    rows = {"start 3 nodes (systemd running)": [], "converge (first run)": [],
            "re-run (idempotent)": [], "check mode run": []}
    changed = {"converge (first run)": [], "re-run (idempotent)": [], "check mode run": []}
    for round_no in range(args.rounds):
        nodes("delete", args.cluster)
        rows["start 3 nodes (systemd running)"].append(nodes("create", args.cluster))
        for label, extra in (("converge (first run)", ()), ("re-run (idempotent)", ()),
                             ("check mode run", ("--check",))):
            seconds, n = playbook(args.cluster, args.profile, *extra)
            rows[label].append(seconds)
            changed[label].append(n)
        if not (args.keep and round_no == args.rounds - 1):
            nodes("delete", args.cluster)

    # Other work on the machine stretches every step (each task is several docker execs per node),
    # so the load is printed with the numbers.
    print("playbooks/kind.yml on 3 kind-like nodes (profile %s, 8 GPUs each), %d round(s), %d CPUs, "
          "load average %.1f at the end" % (args.profile, args.rounds, os.cpu_count(), os.getloadavg()[0]))
    print("| step | median s | min s | max s | tasks changed (all nodes) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, values in rows.items():
        moved = changed.get(label)
        print("| %s | %.1f | %.1f | %.1f | %s |" % (
            label, statistics.median(values), min(values), max(values),
            "/".join(str(n) for n in moved) if moved is not None else "-"))


if __name__ == "__main__":
    main()
