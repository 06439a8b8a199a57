"""playbooks/files/kind-converge.py, the kind playbook's Kubernetes side: what it decides from
what it read (the real cluster runs in tests/kind)."""
import importlib.util
import pathlib
import sys

import pytest

FILES = pathlib.Path(__file__).resolve().parents[2] / "playbooks" / "files"


@pytest.fixture(scope="module")
def converge():
    sys.path.insert(0, str(FILES))
    try:
        spec = importlib.util.spec_from_file_location("kind_converge", FILES / "kind-converge.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(FILES))


def node(name, labels):
    return {"metadata": {"name": name, "labels": labels}}


def config(**more):
    return dict(dict(kubectl="/nonexistent/kubectl", context="kind-x", nodes=["n1", "n2"], labels={}, check=True), **more)


@pytest.mark.parametrize("name, containerd", [
    ("gpumock/gpu-probe", "docker.io/gpumock/gpu-probe:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("registry.k8s.io/nfd/node-feature-discovery:v0.18.3", "registry.k8s.io/nfd/node-feature-discovery:v0.18.3"),
    ("localhost/probe", "localhost/probe:latest"),
    ("localhost:5000/probe:1", "localhost:5000/probe:1"),
])
def test_a_docker_image_name_is_compared_under_the_name_containerd_keeps(converge, name, containerd):
    assert converge.reference(name) == containerd


def test_a_node_whose_wanted_labels_are_all_there_is_not_labelled(converge):
    nodes = [node("n1", {"nvidia.com/gpu.count": "8", "other": "x"}), node("n2", {})]
    assert converge.label_nodes(config(labels={"n1": {"nvidia.com/gpu.count": "8"}}), nodes) == []


def test_a_node_with_a_missing_or_different_label_is_labelled(converge):
    nodes = [node("n1", {"nvidia.com/gpu.count": "4"}), node("n2", {})]
    wanted = {"n1": {"nvidia.com/gpu.count": "8"}, "n2": {"nvidia.com/gpu.present": "true"}}
    # check mode: decided, not run (the kubectl named does not exist).
    assert converge.label_nodes(config(labels=wanted), nodes) == ["n1", "n2"]


def test_a_failing_step_in_the_background_is_raised_to_the_caller(converge):
    def fails():
        raise converge.StepError("no")
    with pytest.raises(converge.StepError, match="no"):
        converge.in_background(fails)()


def pod(name, ready, phase="Running"):
    return {"metadata": {"name": name},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_a_pod_without_a_true_ready_condition_is_waited_for_and_a_completed_one_is_not(converge):
    pods = [pod("coredns-a", False), pod("etcd", True), pod("job-done", False, "Succeeded"),
            {"metadata": {"name": "just-created"}, "status": {"phase": "Pending"}}]
    assert converge.not_ready(pods) == ["coredns-a", "just-created"]
