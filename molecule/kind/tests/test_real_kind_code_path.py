"""The part of playbooks/kind.yml that only runs with real kind: cluster creation, kubectl labels,
the device plugin manifest, and playbooks/kind-delete.yml.

kind and kubectl cannot be installed where molecule/kind runs, so stand-ins in molecule/kind/fakes
record the commands the playbook runs. What these tests establish is the playbook's side of the
contract: which commands it runs, when, and with what content. Whether kind and kubectl then do the
right thing is not tested here (docs/kind.md, "What that leaves untested"). The GPU part of each
run is the real one, on the scenario's real nodes.
"""
import json
import os
import re
import subprocess

import pytest
import yaml

from conftest import CLUSTER, FEATURES_FILE, NODE_NAMES, REPO, labels, testinfra

FAKES = REPO / "molecule" / "kind" / "fakes"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def playbook(name, tmp, clusters, *extra):
    # A user's environment: none of the settings molecule exports for its own runs (colour, config).
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "MOLECULE_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(REPO / ".build" / "collections"), ANSIBLE_NOCOLOR="1",
               FAKE_KIND_LOG=str(tmp / "kind.log"), FAKE_KIND_CLUSTERS=clusters,
               FAKE_KUBECTL_STATE=str(tmp / "kubectl"))
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(REPO / "playbooks" / name),
         "-e", "gpumock_kind_cluster_name=" + CLUSTER, "-e", "gpu_mock_profile=dgxh100",
         "-e", "gpumock_kind_binary=" + str(FAKES / "kind"), "-e", "gpumock_kind_kubectl=" + str(FAKES / "kubectl"),
         *extra],
        capture_output=True, text=True, check=False, env=env, cwd=str(REPO))
    recap = {m.group(1): int(m.group(2)) for m in RECAP.finditer(done.stdout)}
    return done, recap


def kubectl_calls(tmp, verb):
    path = tmp / "kubectl" / "calls"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line for line in lines if line.split()[2:3] == [verb]]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """First run: kind does not list the cluster yet; second run: it does. Device plugin on."""
    tmp = tmp_path_factory.mktemp("real-kind")
    first = playbook("kind.yml", tmp, "", "-e", "gpumock_kind_device_plugin=true")
    labels_after_first = len(kubectl_calls(tmp, "label"))
    second = playbook("kind.yml", tmp, "other " + CLUSTER, "-e", "gpumock_kind_device_plugin=true")
    return tmp, first, labels_after_first, second


@pytest.fixture(scope="module")
def check_run(two_runs):
    """A --check --diff run after the two real ones."""
    tmp = two_runs[0]
    calls_before = len((tmp / "kubectl" / "calls").read_text().splitlines())
    done, recap = playbook("kind.yml", tmp, CLUSTER, "-e", "gpumock_kind_device_plugin=true", "--check", "--diff")
    calls = (tmp / "kubectl" / "calls").read_text().splitlines()[calls_before:]
    return done, recap, calls


def test_both_runs_succeed(two_runs):
    first, second = two_runs[1], two_runs[3]
    assert first[0].returncode == 0, first[0].stdout[-3000:]
    assert second[0].returncode == 0, second[0].stdout[-3000:]


def test_missing_cluster_is_created_with_one_control_plane_and_two_workers(two_runs):
    tmp = two_runs[0]
    creates = [line for line in (tmp / "kind.log").read_text().splitlines() if line.startswith("create cluster")]
    assert len(creates) == 1
    assert creates[0].startswith("create cluster --name %s --wait 180s --config " % CLUSTER)
    config = yaml.safe_load((tmp / "kind.log.config").read_text())
    assert config["kind"] == "Cluster"
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker", "worker"]


def test_every_node_gets_the_labels_its_feature_file_holds(two_runs):
    tmp = two_runs[0]
    for name in NODE_NAMES:
        applied = json.loads((tmp / "kubectl" / (name + ".json")).read_text())
        written = labels.parse_features_file(testinfra.get_host("docker://" + name).file(FEATURES_FILE).content_string)
        assert {key: applied[key] for key in written} == written


def test_first_run_labels_each_node_once_and_second_run_not_at_all(two_runs):
    tmp, labels_after_first = two_runs[0], two_runs[2]
    assert labels_after_first == 3
    assert len(kubectl_calls(tmp, "label")) == 3


def test_second_run_creates_nothing_and_changes_nothing(two_runs):
    tmp, second = two_runs[0], two_runs[3]
    kind_calls = (tmp / "kind.log").read_text().splitlines()
    assert [line for line in kind_calls if line.startswith("create")] == [kind_calls[1]]
    assert set(second[1]) == {"localhost", *NODE_NAMES}
    assert sum(second[1].values()) == 0


def test_device_plugin_manifest_asks_for_cdi_on_gpu_nodes(two_runs):
    tmp = two_runs[0]
    manifest = yaml.safe_load((tmp / "kubectl" / "applied.yaml").read_text())
    assert manifest["kind"] == "DaemonSet"
    pod = manifest["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    args = pod["containers"][0]["args"]
    assert "--device-list-strategy=cdi-annotations" in args
    assert "--driver-root=/var/lib/nvidia-mock/driver" in args
    mounts = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"]}
    assert mounts["driver-root"] == "/var/lib/nvidia-mock/driver"
    assert mounts["cdi-specs"] == "/var/run/cdi"


def test_kind_delete_removes_a_listed_cluster(tmp_path):
    done, recap = playbook("kind-delete.yml", tmp_path, CLUSTER)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "delete cluster --name %s" % CLUSTER in (tmp_path / "kind.log").read_text().splitlines()
    assert recap["localhost"] == 1


def test_kind_delete_of_an_absent_cluster_changes_nothing(tmp_path):
    done, recap = playbook("kind-delete.yml", tmp_path, "other")
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "kind.log").read_text().splitlines() == ["get clusters"]
    assert recap["localhost"] == 0


def test_playbook_without_kind_stops_with_one_clear_sentence(tmp_path):
    done = playbook("kind.yml", tmp_path, "", "-e", "gpumock_kind_binary=/nonexistent/kind")[0]
    assert done.returncode != 0
    assert "/nonexistent/kind was not found on the controller; install kind" in done.stdout


def test_bad_worker_count_stops_before_anything_runs(tmp_path):
    done = playbook("kind.yml", tmp_path, "", "-e", "gpumock_kind_workers=many")[0]
    assert done.returncode != 0
    assert 'gpumock_kind_workers must be a whole number from 0 to 32, got \\"many\\".' in done.stdout
    assert not (tmp_path / "kind.log").exists()


def test_check_mode_on_a_converged_cluster_reports_no_change(check_run):
    done, recap, _calls = check_run
    assert done.returncode == 0, done.stdout[-3000:]
    assert set(recap) == {"localhost", *NODE_NAMES}
    assert sum(recap.values()) == 0


def test_check_mode_only_reads_from_kubernetes(check_run):
    calls = check_run[2]
    assert calls
    assert all(call.split()[2] == "get" for call in calls)
