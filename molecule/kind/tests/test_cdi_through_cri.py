"""CDI through CRI: pods started through containerd's CRI API, as kubelet starts them after NVIDIA's
device plugin answered Allocate with a CDI request.

cri-probe (tools/cri-probe) plays kubelet: it runs a pod sandbox with the locally built pause image
and a container from gpumock/tiny-nvml-probe (busybox, glibc, nvml-probe), asking for GPU 1 either
by a cdi.k8s.io/* annotation (the device plugin's cdi-annotations strategy) or by the CRI
CDI_devices field (cdi-cri). The node's own GPU 1 must appear in the container, and nothing else.
"""
import time

import pytest

from conftest import NODE_NAMES, device, expected_node, node_name, run_pod

import testinfra

ANNOTATION = ("-annotation", "cdi.k8s.io/gpumock-check=nvidia.com/gpu=1")
FIELD = ("-cdi-device", "nvidia.com/gpu=1")
# Each exec prints one thing, so a failure names what is missing.
LIST_DEVICES = "for d in /dev/nvidia*; do [ -e \"$d\" ] && stat -c '%n %F %t:%T' \"$d\"; done; true"
NVML = "nvml-probe"
ENV = "echo NVIDIA_VISIBLE_DEVICES=${NVIDIA_VISIBLE_DEVICES-unset}"


def devices_in(report):
    """{path: (kind, major, minor)} of the /dev/nvidia* entries the container sees."""
    seen = {}
    for line in report["execs"][0]["stdout"].splitlines():
        path, rest = line.split(" ", 1)
        kind, numbers = rest.rsplit(" ", 1)
        major, minor = numbers.split(":")
        seen[path] = ("char" if kind == "character special file" else kind, int(major, 16), int(minor, 16))
    return seen


def nvml_view(report):
    """nvml-probe's tab-separated report: {'count': n, 'gpus': [(index, minor, uuid, name)], ...}."""
    out = {"gpus": []}
    result = report["execs"][1]
    out["exit_code"] = result["exit_code"]
    out["stderr"] = result["stderr"]
    for line in result["stdout"].splitlines():
        fields = line.split("\t")
        if fields[0] == "gpu":
            out["gpus"].append((int(fields[1]), int(fields[2]), fields[3], fields[4]))
        elif fields[0] in ("count", "library", "driver"):
            out[fields[0]] = fields[1]
    return out


def pod_with_gpu_1(host, how=ANNOTATION, key="annotation"):
    return run_pod(host, *how, execs=(LIST_DEVICES, NVML, ENV), key=key)


def test_pod_asking_for_gpu_1_by_annotation_gets_dev_nvidia1_as_a_char_device(host):
    seen = devices_in(pod_with_gpu_1(host))
    assert seen["/dev/nvidia1"] == ("char", 195, 1)
    assert "/dev/nvidia0" not in seen
    assert not [path for path in seen if path[len("/dev/nvidia"):].isdigit() and path != "/dev/nvidia1"]


def test_pod_asking_for_gpu_1_gets_the_control_nodes(host):
    seen = devices_in(pod_with_gpu_1(host))
    assert seen["/dev/nvidiactl"] == ("char", 195, 255)
    assert seen["/dev/nvidia-uvm"] == ("char",) + device(host, "/dev/nvidia-uvm")[1:]
    assert "/dev/nvidia-uvm-tools" in seen


def test_pod_gets_the_mock_nvml_library_and_the_cdi_environment(host):
    report = pod_with_gpu_1(host)
    node = expected_node(node_name(host))
    assert "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.%s" % node.driver_version in report["spec_mounts"]
    assert "NVIDIA_VISIBLE_DEVICES=void" in report["spec_env"]
    assert report["execs"][2]["stdout"].strip() == "NVIDIA_VISIBLE_DEVICES=void"


def test_nvml_in_the_pod_shows_exactly_gpu_1_of_this_node(host):
    view = nvml_view(pod_with_gpu_1(host))
    gpu1 = expected_node(node_name(host)).gpus[1]
    assert view["exit_code"] == 0, view["stderr"]
    # The mock NVML reads the node's GPUs from its config; a container that has the library but
    # not the config falls back to the built-in default machine.
    assert view["count"] == "1", (
        "NVML in the pod sees %s GPUs (%s): is the node's NVML config (<driver root>/etc/nvidia-mock/nvml.conf) "
        "mounted into the container at /etc/nvidia-mock/nvml.conf by the CDI spec?" % (
            view["count"], ", ".join(sorted(set(g[3] for g in view["gpus"])))))
    assert [(minor, uuid) for _index, minor, uuid, _name in view["gpus"]] == [(1, gpu1.uuid)]
    assert view["gpus"][0][3] == gpu1.board.name


def test_pod_asking_by_the_cri_cdi_devices_field_gets_gpu_1(host):
    report = pod_with_gpu_1(host, how=FIELD, key="field")
    seen = devices_in(report)
    assert seen["/dev/nvidia1"] == ("char", 195, 1)
    assert "/dev/nvidia0" not in seen


def test_pod_without_a_cdi_request_gets_no_gpu(host):
    report = run_pod(host, execs=(LIST_DEVICES, NVML, ENV), key="none")
    assert devices_in(report) == {}
    assert report["execs"][2]["stdout"].strip() == "NVIDIA_VISIBLE_DEVICES=unset"


def test_pod_sandboxes_are_removed_after_each_run(host):
    assert host.check_output("ctr --namespace k8s.io containers list --quiet") == ""


# The negative case changes containerd's config, so it runs on one node and puts it back.
CONFIG = "/etc/containerd/config.toml"
SAVED = "/run/gpumock-config-with-cdi.toml"


def _restart_containerd(node):
    node.check_output("systemctl restart containerd")
    deadline = time.monotonic() + 30
    while node.run("ctr version").rc != 0:
        assert time.monotonic() < deadline, "containerd did not answer within 30 s of its restart"
        time.sleep(0.2)


def _cri_config_line(node):
    lines = node.check_output("journalctl -u containerd -o cat --no-pager | grep 'Start cri plugin with config'")
    return lines.splitlines()[-1]


@pytest.fixture
def node_with_cdi_off():
    node = testinfra.get_host("docker://" + NODE_NAMES[0])
    node.check_output("cp -p %s %s", CONFIG, SAVED)
    try:
        node.check_output("sed -i 's/^\\([[:space:]]*\\)enable_cdi = true/\\1enable_cdi = false/' %s", CONFIG)
        _restart_containerd(node)
        yield node
    finally:
        node.check_output("mv %s %s", SAVED, CONFIG)
        _restart_containerd(node)
        assert "EnableCDI:true" in _cri_config_line(node)


def test_with_cdi_disabled_the_same_pod_gets_no_gpu(node_with_cdi_off):
    assert "EnableCDI:false" in _cri_config_line(node_with_cdi_off)
    report = run_pod(node_with_cdi_off, *ANNOTATION, execs=(LIST_DEVICES, NVML, ENV))
    assert report["spec_devices"] == []
    assert devices_in(report) == {}
    assert report["execs"][2]["stdout"].strip() == "NVIDIA_VISIBLE_DEVICES=unset"
