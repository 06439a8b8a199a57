"""A real kind cluster made by playbooks/kind.yml, as a user makes it, for tests/kind.

The pieces are the project's own builds (no registry): kind, kubectl and the node image from
`make kind-cluster-pieces`, NVIDIA's device plugin and GPU feature discovery in one local image,
node-feature-discovery in another, and gpumock/gpu-probe for the pods. The cluster lives for the whole session; the tests of
test_real_cluster.py run in file order (create, converge, re-run, check, workloads, delete), and
the session's timings are printed as a table at the end.
"""
import glob
import json
import os
import re
import subprocess
import sys
import time

import pytest

from pins import pinned

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER = os.environ.get("GPUMOCK_TEST_CLUSTER", "gpumock-test")
NODES = (CLUSTER + "-control-plane", CLUSTER + "-worker", CLUSTER + "-worker2")
PROFILE = "dgxh100"
GPUS_PER_NODE = 8
PLUGIN_IMAGE = pinned("DEVICE_PLUGIN_IMAGE")
NFD_IMAGE = pinned("NODE_FEATURE_DISCOVERY_IMAGE")
# node-feature-discovery's CRDs, as scripts/deps/install.d/conformance.sh keeps them.
NFD_CRDS = os.path.join(os.path.dirname(pinned("CONFORMANCE_BIN")), "nfd-crds", "nfd-api-crds.yaml")
POD_IMAGE = "gpumock/gpu-probe:latest"
FEATURES_DIR = "/etc/kubernetes/node-feature-discovery/features.d"
TIMINGS = []


def timing(what, seconds):
    TIMINGS.append((what, seconds))


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    terminalreporter.write_line("")
    terminalreporter.write_line("| tests/kind, real kind cluster (1 control plane + 2 workers, %d x %s each) | seconds |"
                                % (GPUS_PER_NODE, PROFILE))
    terminalreporter.write_line("|---|---|")
    for what, seconds in TIMINGS:
        terminalreporter.write_line("| %s | %.1f |" % (what, seconds))


def run(argv, env, check=True, timeout=900, **kwargs):
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError("%s exited %d\n--- stdout\n%s\n--- stderr\n%s"
                             % (" ".join(argv), proc.returncode, proc.stdout[-6000:], proc.stderr[-3000:]))
    return proc


class Cluster:
    """The session's cluster: how to run the playbooks, kubectl and docker against it."""

    def __init__(self, env, kubeconfig_dir):
        self.pieces = os.path.join(pinned("KUBE_PIECES_DIR"), "bin")
        self.kind = os.path.join(self.pieces, "kind")
        self.kubectl_bin = os.path.join(self.pieces, "kubectl")
        self.node_image = pinned("KIND_NODE_IMAGE")
        self.env = dict(env)
        self.env["KUBECONFIG"] = os.path.join(kubeconfig_dir, "config")
        self.env["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(REPO, ".build", "collections")
        self.env["ANSIBLE_NOCOLOR"] = "1"
        self.env.pop("ANSIBLE_CONFIG", None)
        self.strategy = "cdi-annotations"

    def extra_vars(self, **more):
        values = {
            "gpumock_kind_cluster_name": CLUSTER,
            "gpumock_kind_node_image": self.node_image,
            "gpumock_kind_binary": self.kind,
            "gpumock_kind_kubectl": self.kubectl_bin,
            "gpumock_kind_images": [PLUGIN_IMAGE, NFD_IMAGE, POD_IMAGE],
            "gpumock_kind_device_plugin": True,
            "gpumock_kind_device_plugin_image": PLUGIN_IMAGE,
            "gpumock_kind_device_plugin_strategy": self.strategy,
            "gpumock_kind_gpu_feature_discovery": True,
            "gpumock_kind_node_feature_discovery": True,
            "gpumock_kind_node_feature_discovery_image": NFD_IMAGE,
            "gpumock_kind_node_feature_discovery_crds": NFD_CRDS,
            "gpu_mock_profile": PROFILE,
        }
        values.update(more)
        return json.dumps(values)

    def playbook(self, name="kind.yml", *args, check=True, **more):
        """Runs playbooks/<name>; returns (process, changed count of the recap)."""
        argv = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), os.path.join(REPO, "playbooks", name),
                "-e", self.extra_vars(**more)] + list(args)
        proc = run(argv, self.env, check=check)
        changed = sum(int(n) for n in re.findall(r"changed=(\d+)", proc.stdout))
        return proc, changed

    def kubectl(self, *args, check=True, **kwargs):
        return run([self.kubectl_bin, "--context", "kind-" + CLUSTER] + list(args), self.env, check=check, **kwargs)

    def kubectl_json(self, *args):
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def docker(self, *args, check=True, **kwargs):
        return run(["docker"] + list(args), self.env, check=check, **kwargs)

    def node_file(self, node, path):
        return self.docker("exec", node, "cat", path).stdout

    def exists(self):
        return CLUSTER in run([self.kind, "get", "clusters"], self.env).stdout.split()

    def delete(self):
        run([self.kind, "delete", "cluster", "--name", CLUSTER], self.env, check=False)

    def wait(self, what, predicate, timeout=240, interval=2):
        """Polls predicate() until it returns a true value; returns it, or fails naming `what`."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError("%s: not true within %d s (last: %r)" % (what, timeout, last))

    def allocatable_gpus(self):
        nodes = self.kubectl_json("get", "nodes")["items"]
        return {n["metadata"]["name"]: int(n["status"].get("allocatable", {}).get("nvidia.com/gpu", "0"))
                for n in nodes}


def record_build_times(made):
    """Cold build times the build scripts kept, and the warm (cached) run of each, measured now."""
    pieces = pinned("KUBE_PIECES_DIR")
    try:
        with open(os.path.join(pieces, "build-seconds"), encoding="utf-8") as f:
            for line in f:
                name, seconds = line.split()
                timing("cold build of %s (Go module proxy, recorded when built)" % name, float(seconds))
    except OSError:
        pass
    # Every Go tool install.d/conformance.sh built from the proxy (it records each build).
    for record in sorted(glob.glob(os.path.join(pinned("CONFORMANCE_BIN"), "*.build-seconds"))):
        with open(record, encoding="utf-8") as f:
            timing("cold build of %s (Go module proxy, recorded when built)"
                   % os.path.basename(record)[:-len(".build-seconds")], float(f.read()))
    label = made.docker("image", "inspect", made.node_image, "--format",
                        '{{ index .Config.Labels "gpumock.build-inputs" }}').stdout.strip()
    try:
        with open(os.path.join(pinned("GPUMOCK_CACHE"), "kind-node", label + ".build-seconds"), encoding="utf-8") as f:
            timing("cold build of the node image (recorded when built)", float(f.read()))
    except OSError:
        pass
    for what, script in (("Kubernetes pieces", "scripts/deps/install.d/kubernetes.sh"),
                         ("node image", "images/kind-node/build.sh")):
        start = time.monotonic()
        run(["bash", os.path.join(REPO, script)], made.env)
        timing("warm build of the %s (cached: checked, nothing built)" % what, time.monotonic() - start)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    env = dict(os.environ)
    if "DOCKER_HOST" not in env:
        env["DOCKER_HOST"] = run(["bash", os.path.join(REPO, "scripts", "dockerd.sh"), "host"], env).stdout.strip()
    made = Cluster(env, str(tmp_path_factory.mktemp("kubeconfig")))
    for image in (made.node_image, PLUGIN_IMAGE, NFD_IMAGE, POD_IMAGE):
        if made.docker("image", "inspect", image, check=False).returncode != 0:
            pytest.fail("%s is not built; run the suite with `make test-kind`, which builds it" % image)
    record_build_times(made)
    if made.exists():
        made.delete()           # left over from an interrupted run of this suite
    yield made
    if made.exists():
        made.delete()


def pod_manifest(name, gpus=None, command=None):
    container = {
        "name": "probe",
        "image": POD_IMAGE,
        "imagePullPolicy": "Never",
        "command": command or ["sh", "-c", "nvml-probe; echo nvml-probe-exit=$?; nvidia-smi -L; echo smi-exit=$?; "
                                           "ls /dev | grep '^nvidia[0-9]' | sed 's/^/devnode /'; true"],
    }
    if gpus is not None:
        container["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"restartPolicy": "Never", "containers": [container],
                     "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                                      "effect": "NoSchedule"}]}}


sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
