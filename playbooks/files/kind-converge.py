"""Brings the kind cluster's Kubernetes side to what playbooks/kind.yml asks, in one process, so a
re-run that finds everything right costs one task and a few reads:

1. waits until the API server answers, reading every node (its labels);
2. puts the GPU labels on the nodes where one is missing or differs (kubectl label); after a run
   that restarted a node's containerd (which restarts the containers of kube-system's pods on it),
   waits until every kube-system pod is Ready again, so the cluster answers DNS when the playbook
   returns;
3. all the while, loads the local images into the nodes that lack that image ID under that name
   (one look into every node, all at once; one `kind load docker-image` per set of nodes that
   lack the same images) and reads whether the workloads are applied as given and rolled out
   (kind_workloads_current.py; read again once the API server answers if it did not at first);
4. only then, when they are not current, applies the workloads (kind-apply.sh) and waits for
   their rollout, so their pods start with the images in place.

With "check": true it changes nothing and reports what a real run would change.

usage: python3 kind-converge.py < JSON
  {"kubectl", "context", "timeout", "kind", "cluster", "nodes": [...], "labels": {node: {k: v}},
   "images": [...], "manifest": "...", "crds": [...], "namespace", "containerd_restarted": bool,
   "check": bool}
Prints one JSON object: {"labelled": [node...], "images": [line...], "workloads": [line...],
"changed": bool}. Exit status 1 with the reason on stderr when a step fails.
"""
import json
import os
import subprocess
import sys
import threading
import time

import kind_workloads_current

HERE = os.path.dirname(os.path.abspath(__file__))
# Seconds between two reads while the API server does not answer yet.
RETRY_SECONDS = 2


class StepError(Exception):
    """A step failed; the message says which and why."""


def run(argv, stdin=None):
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def kubectl(config, *args):
    return [config["kubectl"], "--context", config["context"]] + list(args)


def read_nodes(config):
    """Every Kubernetes node, once the API server answers (within the timeout), and whether it
    answered the first read."""
    deadline = time.monotonic() + int(config["timeout"])
    first = True
    while True:
        rc, out, err = run(kubectl(config, "get", "nodes", "--output", "json"))
        if rc == 0:
            return json.loads(out)["items"], first
        first = False
        if time.monotonic() >= deadline:
            raise StepError("the API server of %s did not answer within %ss: %s"
                            % (config["context"], config["timeout"], err.strip()))
        time.sleep(RETRY_SECONDS)


def label_nodes(config, nodes):
    """Labels each node where one of its wanted labels is missing or differs; the nodes labelled."""
    have = dict((node["metadata"]["name"], node["metadata"].get("labels") or {}) for node in nodes)
    labelled = []
    for name in config["nodes"]:
        want = config["labels"].get(name) or {}
        current = have.get(name, {})
        if all(current.get(key) == value for key, value in want.items()):
            continue
        labelled.append(name)
        if config["check"]:
            continue
        pairs = ["%s=%s" % item for item in sorted(want.items())]
        rc, dummy, err = run(kubectl(config, "label", "node", name, "--overwrite", *pairs))
        if rc != 0:
            raise StepError("kubectl label node %s failed: %s" % (name, err.strip()))
    return labelled


def not_ready(pods):
    """The names of the pods that are not Ready (a pod that ran to completion is done)."""
    return sorted(pod["metadata"]["name"] for pod in pods
                  if (pod.get("status") or {}).get("phase") != "Succeeded"
                  and not any(condition.get("type") == "Ready" and condition.get("status") == "True"
                              for condition in (pod.get("status") or {}).get("conditions") or []))


def wait_system_pods(config):
    """Until every kube-system pod is Ready (within the timeout): after containerd restarted, the
    API server and CoreDNS come back a few seconds after their containers run again."""
    deadline = time.monotonic() + int(config["timeout"])
    while True:
        rc, out, err = run(kubectl(config, "get", "pods", "--namespace", "kube-system", "--output", "json"))
        waiting = not_ready(json.loads(out)["items"]) if rc == 0 else [err.strip()]
        if not waiting:
            return
        if time.monotonic() >= deadline:
            raise StepError("kube-system's pods were not Ready within %ss after containerd restarted: %s"
                            % (config["timeout"], ", ".join(waiting)))
        time.sleep(RETRY_SECONDS)


def reference(name):
    """The name containerd keeps for a Docker image name (docker.io/library/..., :latest)."""
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    if ":" not in name.rsplit("/", 1)[1]:
        name += ":latest"
    return name


def load_images(config):
    """Loads each local image (by ID under its name) into the nodes whose containerd lacks it, as
    `kind load docker-image` does; one line "IMAGE -> NODE" for each (only planned with check)."""
    images = config["images"]
    if not images:
        return []
    rc, out, err = run(["docker", "image", "inspect", "--format", "{{.Id}}"] + images)
    if rc != 0:
        for image in images:
            if run(["docker", "image", "inspect", image])[0] != 0:
                raise StepError("gpumock_kind_images names %s, which is not an image of the local Docker engine." % image)
        raise StepError("docker image inspect failed: %s" % err.strip())
    wanted = dict(zip(images, out.split()))
    # What every node's containerd has, read from all nodes at once.
    reads = dict((node, subprocess.Popen(["docker", "exec", node, "crictl", "images", "--output", "json"],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
                 for node in config["nodes"])
    lacking = {}    # image -> [node...]
    lines = []
    for node, proc in reads.items():
        listed = json.loads(proc.communicate()[0] or '{"images": []}')
        have = set((tag, image["id"]) for image in listed.get("images") or [] for tag in image.get("repoTags") or [])
        for image in images:
            if (reference(image), wanted[image]) not in have:
                lacking.setdefault(image, []).append(node)
                lines.append("%s -> %s" % (image, node))
    if config["check"]:
        return lines
    # One `kind load` per set of nodes that lack the same images (kind saves those images once).
    groups = {}
    for image, nodes in lacking.items():
        groups.setdefault(",".join(nodes), []).append(image)
    for nodes, group in sorted(groups.items()):
        rc, dummy, err = run([config["kind"], "load", "docker-image", "--name", config["cluster"], "--nodes", nodes] + group)
        if rc != 0:
            raise StepError("kind load docker-image %s failed: %s" % (" ".join(group), err.strip()))
    return lines


def workloads_current(config):
    """Whether the workloads are applied as given and rolled out (kind_workloads_current.py), and
    why it cannot tell (None when it can). Not knowing costs an apply, never a skipped one."""
    try:
        return kind_workloads_current.not_current(config["kubectl"], config["context"], config["crds"],
                                                  config["manifest"]) is None, None
    except (OSError, ValueError, RuntimeError, kind_workloads_current.yaml.YAMLError) as exc:
        return False, "cannot tell whether the workloads are current: %s" % exc


def apply_workloads(config):
    """kind-apply.sh, then (in a real run) the rollout wait; kubectl's lines."""
    argv = ["bash", os.path.join(HERE, "kind-apply.sh")] + (["--check"] if config["check"] else [])
    argv += [config["kubectl"], config["context"], str(config["timeout"])] + config["crds"]
    rc, out, err = run(argv, stdin=config["manifest"])
    if rc != 0:
        raise StepError("applying the workloads failed: %s" % (err.strip() or out.strip()))
    lines = out.splitlines()
    if lines and not config["check"]:
        rc, dummy, err = run(kubectl(config, "--namespace", config["namespace"], "rollout", "status",
                                     "daemonset,deployment", "--selector", "app.kubernetes.io/managed-by=gpumock.nvidia",
                                     "--timeout", "%ss" % config["timeout"]))
        if rc != 0:
            raise StepError("the workloads did not roll out within %ss: %s" % (config["timeout"], err.strip()))
    return lines


def in_background(function, *args):
    """Starts ``function(*args)`` in a thread; the returned call gives its result or raises its error."""
    box = {}

    def target():
        try:
            box["value"] = function(*args)
        except Exception as exc:  # pylint: disable=broad-except  # handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()

    def result():
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]
    return result


def converge(config):
    # The images need only Docker, and the workloads' read is kept when the API server answered
    # the nodes' first read: all three reads run at once.
    images = in_background(load_images, config)
    current = in_background(workloads_current, config) if config["manifest"] else (lambda: (True, None))
    nodes, answered_at_once = read_nodes(config)
    if not answered_at_once:
        current()
        current = in_background(workloads_current, config)
    labelled = label_nodes(config, nodes)
    if config.get("containerd_restarted") and not config["check"]:
        wait_system_pods(config)
    loaded = images()
    is_current, unknown = current()
    if unknown:
        sys.stderr.write(unknown + "\n")
    workloads = [] if is_current else apply_workloads(config)
    # kubectl apply says "unchanged" for every object that already matched.
    changed = bool(labelled or loaded or [line for line in workloads if not line.endswith(" unchanged")])
    return dict(labelled=labelled, images=loaded, workloads=workloads, changed=changed)


def main():
    config = json.load(sys.stdin)
    try:
        result = converge(config)
    except (StepError, OSError, ValueError) as exc:
        sys.stderr.write("%s\n" % exc)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
