"""playbooks/kind.yml on a real kind cluster, as a user runs it: create and provision a 1 control
plane + 2 workers cluster on the first run, change nothing on the second or in check mode, run
NVIDIA's device plugin, GPU feature discovery and node-feature-discovery, give pods exactly the GPUs they asked for,
delete everything, and stop in one sentence at a cluster whose nodes are all stopped. The tests run in file order on
one cluster (conftest.py).
"""
import json
import re
import time

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import labels

from conftest import CLUSTER, FEATURES_DIR, GPUS_PER_NODE, NODES, POD_IMAGE, PROFILE, pod_manifest, timing

# GFD labels that come from the host rather than from NVML (the labels module leaves them out),
# and the one label GFD does not set (node-feature-discovery's rule in the GPU Operator does).
HOST_LABELS = ("nvidia.com/gpu.machine", "nvidia.com/gpu.mode", "nvidia.com/gfd.timestamp")
NOT_GFD_LABELS = ("nvidia.com/gpu.present",)
STRATEGIES = ("cdi-annotations", "cdi-cri")
# The node annotation in which nfd-master lists the labels it put on the node.
NFD_MANAGED_LABELS = "nfd.node.kubernetes.io/feature-labels"


def node_uuids(node):
    return [gpu.uuid for gpu in profiles.build_node(profile=PROFILE, node_id=node).gpus]


def gpumock_versions(text):
    """The name=value words of the playbook's own objects."""
    return sorted(word for word in text.split() if word.startswith("gpumock-"))


def test_first_run_creates_and_provisions_the_cluster(cluster):
    assert not cluster.exists()
    start = time.monotonic()
    proc, changed = cluster.playbook()
    timing("first converge of playbooks/kind.yml (kind create, 3 nodes, plugin and GFD rollout)",
           time.monotonic() - start)
    assert changed > 0
    assert "failed=0" in proc.stdout
    names = cluster.docker("ps", "--filter", "label=io.x-k8s.kind.cluster=" + CLUSTER,
                           "--format", "{{.Names}}").stdout.split()
    assert sorted(names) == sorted(NODES)


def test_every_node_is_ready(cluster):
    nodes = cluster.kubectl_json("get", "nodes")["items"]
    ready = {n["metadata"]["name"]: [c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"][0]
             for n in nodes}
    assert ready == {name: "True" for name in NODES}


def test_no_control_plane_pod_is_restarting_after_the_first_run(cluster):
    pods = cluster.kubectl_json("get", "pods", "--namespace", "kube-system")["items"]
    not_ready = [p["metadata"]["name"] for p in pods
                 if not all(s.get("ready") for s in p["status"].get("containerStatuses", []))]
    assert not_ready == []


def test_second_run_changes_nothing(cluster):
    start = time.monotonic()
    changed = cluster.playbook()[1]
    timing("re-run of playbooks/kind.yml (changed=0)", time.monotonic() - start)
    assert changed == 0


def test_the_rerun_ran_each_node_s_module_from_the_code_kept_on_that_node(cluster):
    # The first converge writes the launcher and keeps the module's code (one entry); the re-run's
    # module went through the launcher, which marks the entry it ran from: later than the launcher.
    for node in NODES:
        listing = cluster.docker("exec", node, "sh", "-c",
                                 "cd /var/cache/gpumock-modules && stat -c '%n %Y' launcher [0-9a-f]*").stdout
        # Seconds are enough: the first converge's rollouts lie between the two.
        times = dict((line.split()[0], int(line.split()[1])) for line in listing.splitlines())
        entries = [name for name in times if name != "launcher"]
        assert len(entries) == 1, (node, listing)
        assert times[entries[0]] > times["launcher"], (node, listing)


def managed_state(cluster):
    """What the playbook manages: each workload's spec generation, each node's labels but the
    GFD timestamp (GFD rewrites it every minute and node-feature-discovery publishes it)."""
    workloads = cluster.kubectl("get", "daemonsets,deployments", "--all-namespaces", "-o",
                                "jsonpath={range .items[*]}{.metadata.name}={.metadata.generation} {end}").stdout
    nodes = {n["metadata"]["name"]: {k: v for k, v in n["metadata"]["labels"].items() if k != "nvidia.com/gfd.timestamp"}
             for n in cluster.kubectl_json("get", "nodes")["items"]}
    return gpumock_versions(workloads), nodes


def test_check_mode_on_the_converged_cluster_changes_nothing(cluster):
    before = managed_state(cluster)
    start = time.monotonic()
    changed = cluster.playbook("kind.yml", "--check")[1]
    timing("check-mode run of playbooks/kind.yml (changed=0)", time.monotonic() - start)
    assert changed == 0
    assert managed_state(cluster) == before


def test_a_rerun_puts_back_a_workload_that_was_deleted(cluster):
    # A re-run skips kubectl apply only when one read shows every object applied as given
    # (playbooks/files/kind-workloads-current.py): a missing DaemonSet is not current.
    cluster.kubectl("delete", "daemonset", "--all-namespaces", "--selector",
                    "app.kubernetes.io/name=gpu-feature-discovery", "--wait=true")
    assert gpumock_daemonsets(cluster, "gpu-feature-discovery") == []
    changed = cluster.playbook()[1]
    assert changed > 0
    assert len(gpumock_daemonsets(cluster, "gpu-feature-discovery")) == 1
    assert cluster.playbook()[1] == 0


def gpumock_daemonsets(cluster, name):
    return cluster.kubectl("get", "daemonsets", "--all-namespaces", "--selector", "app.kubernetes.io/name=" + name,
                           "-o", "name").stdout.split()


@pytest.mark.parametrize("node", NODES)
def test_node_carries_the_labels_the_playbook_computed(cluster, node):
    computed = labels.parse_features_file(cluster.node_file(node, FEATURES_DIR + "/gpumock"))
    have = cluster.kubectl_json("get", "node", node)["metadata"]["labels"]
    assert {k: have.get(k) for k in computed} == computed
    assert computed["nvidia.com/gpu.count"] == str(GPUS_PER_NODE)


def test_each_gpu_node_offers_all_its_gpus_through_the_device_plugin(cluster):
    start = time.monotonic()
    cluster.wait("nvidia.com/gpu allocatable on every node",
                 lambda: cluster.allocatable_gpus() == {n: GPUS_PER_NODE for n in NODES})
    timing("device plugin: rollout done to all GPUs allocatable", time.monotonic() - start)


def gfd_labels(cluster, node):
    """The labels GPU feature discovery wrote on the node (waits for its first file)."""
    path = FEATURES_DIR + "/gfd"
    cluster.wait("GFD's feature file on " + node,
                 lambda: cluster.docker("exec", node, "test", "-s", path, check=False).returncode == 0)
    return labels.parse_features_file(cluster.node_file(node, path))


@pytest.mark.parametrize("node", NODES)
def test_gpu_feature_discovery_in_the_cluster_labels_like_the_playbook(cluster, node):
    gfd = gfd_labels(cluster, node)
    ours = labels.parse_features_file(cluster.node_file(node, FEATURES_DIR + "/gpumock"))
    assert {k: v for k, v in gfd.items() if k not in HOST_LABELS} == \
        {k: v for k, v in ours.items() if k not in NOT_GFD_LABELS}


@pytest.mark.parametrize("node", NODES)
def test_node_feature_discovery_puts_gpu_feature_discoverys_labels_on_the_node(cluster, node):
    gfd = gfd_labels(cluster, node)

    missing = []

    def published():
        meta = cluster.kubectl_json("get", "node", node)["metadata"]
        managed = meta.get("annotations", {}).get(NFD_MANAGED_LABELS, "").split(",")
        missing[:] = sorted(k for k in gfd if k not in managed)
        return meta if not missing else None

    start = time.monotonic()
    # nfd-worker reads the feature files once a minute (its default sleep interval).
    try:
        meta = cluster.wait("node-feature-discovery manages GFD's labels on " + node, published, timeout=300)
    except AssertionError as exc:
        raise AssertionError("%s; not managed: %s" % (exc, ", ".join(missing))) from None
    timing("node-feature-discovery: GFD's labels on %s" % node, time.monotonic() - start)
    # GFD-only: the playbook never computes a timestamp.
    assert meta["labels"]["nvidia.com/gfd.timestamp"].isdigit()
    assert {k: meta["labels"].get(k) for k in gfd if k != "nvidia.com/gfd.timestamp"} == \
        {k: v for k, v in gfd.items() if k != "nvidia.com/gfd.timestamp"}


def use_strategy(cluster, strategy):
    """Runs the device plugin with this device-list strategy (the playbook switches it)."""
    if cluster.strategy == strategy:
        return
    cluster.strategy = strategy
    start = time.monotonic()
    changed = cluster.playbook()[1]
    assert changed > 0
    cluster.wait("nvidia.com/gpu allocatable on every node after the switch to " + strategy,
                 lambda: cluster.allocatable_gpus() == {n: GPUS_PER_NODE for n in NODES})
    timing("switch the device plugin to %s (playbook + rollout)" % strategy, time.monotonic() - start)


def run_pod(cluster, name, gpus=None, expect="Succeeded"):
    """Creates the pod, waits for its phase; returns (pod object, its log, seconds to Running)."""
    cluster.kubectl("delete", "pod", name, "--ignore-not-found", "--wait=true")
    start = time.monotonic()
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod_manifest(name, gpus)))
    started = cluster.wait(name + " started", lambda: cluster.kubectl(
        "get", "pod", name, "-o", "jsonpath={.status.phase}").stdout in ("Running", "Succeeded", "Failed")
        and time.monotonic(), interval=0.2)
    cluster.wait(name + " " + expect, lambda: cluster.kubectl(
        "get", "pod", name, "-o", "jsonpath={.status.phase}").stdout == expect)
    pod = cluster.kubectl_json("get", "pod", name)
    log = cluster.kubectl("logs", name).stdout
    cluster.kubectl("delete", "pod", name, "--wait=false")
    return pod, log, started - start


def probe_gpus(log):
    """UUIDs the pod's NVML enumerated, and UUIDs nvidia-smi -L listed."""
    nvml = [line.split("\t")[3] for line in log.splitlines() if line.startswith("gpu\t")]
    smi = re.findall(r"^GPU \d+: .* \(UUID: (GPU-[0-9a-f-]+)\)$", log, re.M)
    return nvml, smi


def allocated(cluster, pod):
    """The device IDs the kubelet gave the pod's container (the kubelet's device checkpoint)."""
    node = pod["spec"]["nodeName"]
    data = json.loads(cluster.node_file(node, "/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint"))
    ids = []
    for entry in data["Data"]["PodDeviceEntries"]:
        if entry["PodUID"] == pod["metadata"]["uid"] and entry["ResourceName"] == "nvidia.com/gpu":
            for per_numa in entry["DeviceIDs"].values():
                ids.extend(per_numa)
    return sorted(ids)


@pytest.mark.parametrize("strategy,gpus", [(s, n) for s in STRATEGIES for n in (1, 2)])
def test_pod_sees_exactly_the_gpus_it_was_given(cluster, strategy, gpus):
    use_strategy(cluster, strategy)
    pod, log, to_running = run_pod(cluster, "gpu%d-%s" % (gpus, strategy), gpus=gpus)
    if gpus == 1:
        timing("1-GPU pod (%s): created to running" % strategy, to_running)
    given = allocated(cluster, pod)
    nvml, smi = probe_gpus(log)
    assert len(given) == gpus, log
    assert sorted(nvml) == given, log
    assert sorted(smi) == given, log
    assert set(given) <= set(node_uuids(pod["spec"]["nodeName"]))


def test_pod_asking_for_more_gpus_than_a_node_has_stays_pending(cluster):
    name = "gpu-too-many"
    cluster.kubectl("delete", "pod", name, "--ignore-not-found", "--wait=true")
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod_manifest(name, GPUS_PER_NODE + 1)))
    reason = cluster.wait("FailedScheduling for " + name, lambda: cluster.kubectl(
        "get", "events", "--field-selector", "involvedObject.name=" + name, "-o",
        "jsonpath={range .items[*]}{.reason}: {.message}{'\\n'}{end}").stdout)
    phase = cluster.kubectl("get", "pod", name, "-o", "jsonpath={.status.phase}").stdout
    cluster.kubectl("delete", "pod", name, "--wait=false")
    assert phase == "Pending"
    assert "Insufficient nvidia.com/gpu" in reason


def test_pod_without_a_gpu_request_sees_no_gpu(cluster):
    log = run_pod(cluster, "no-gpu")[1]
    nvml, smi = probe_gpus(log)
    assert nvml == [] and smi == []
    assert "devnode" not in log


def test_delete_removes_the_cluster(cluster):
    changed = cluster.playbook("kind-delete.yml")[1]
    assert changed == 1
    assert not cluster.exists()
    left = cluster.docker("ps", "-a", "--filter", "label=io.x-k8s.kind.cluster=" + CLUSTER, "-q").stdout
    assert left == ""
    changed = cluster.playbook("kind-delete.yml")[1]
    assert changed == 0


def test_a_cluster_whose_nodes_are_all_stopped_stops_the_playbook_in_one_sentence(cluster):
    # kind lists a cluster by its containers' label, running or not: a stopped node container is
    # a cluster kind knows, which the playbook must neither create again nor provision.
    cluster.docker("create", "--name", CLUSTER + "-control-plane", "--label", "io.x-k8s.kind.cluster=" + CLUSTER,
                   "--label", "io.x-k8s.kind.role=control-plane", POD_IMAGE, "true")
    try:
        proc, changed = cluster.playbook(check=False)
        assert proc.returncode != 0 and changed == 0
        assert ("No running container carries the label io.x-k8s.kind.cluster=%s; start the cluster's node containers "
                "(docker start), or delete it with playbooks/kind-delete.yml." % CLUSTER) in proc.stdout
        assert cluster.docker("ps", "-a", "--filter", "label=io.x-k8s.kind.cluster=" + CLUSTER,
                              "--format", "{{.Names}} {{.State}}").stdout.split() == [CLUSTER + "-control-plane", "created"]
    finally:
        cluster.docker("rm", CLUSTER + "-control-plane")
