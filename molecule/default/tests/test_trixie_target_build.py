"""gpu_mock_nvml_build: target — the NVML built on the node itself (the trixie image has gcc/make).

Runs after the other trixie checks (file order): it leaves the node with the node-built library.
"""
import pytest
from conftest import DRIVER_ROOT, parse_probe, run_converge

testinfra_hosts = ["molecule-gpu-trixie"]


@pytest.fixture(scope="module")
def target_build(host):
    name = host.backend.get_hostname()
    first = run_converge("-e", "gpu_mock_nvml_build=target", limit=name)
    second = run_converge("-e", "gpu_mock_nvml_build=target", limit=name)
    return name, first, second


def test_target_build_converges_and_installs_the_node_built_library(host, target_build):
    name, (done, recap), _second = target_build
    assert recap[name]["failed"] == 0, done.stdout[-3000:] + done.stderr[-2000:]
    built = host.run("ls /var/lib/nvidia-mock/stage/build-*/libnvidia-ml.so").stdout.split()
    assert len(built) == 1
    installed = host.file(DRIVER_ROOT + "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1")
    # The installed file is the built library with the node's config appended (docs/nvml-config.md).
    size = host.file(built[0]).size
    prefix = host.run("head -c %d %s | sha256sum" % (size, installed.linked_to))
    assert prefix.stdout.split()[0] == host.file(built[0]).sha256sum


def test_target_build_is_not_repeated_on_the_next_run(target_build):
    name, _first, (done, recap) = target_build
    assert recap[name]["changed"] == 0, done.stdout[-3000:]


def test_node_built_nvml_answers_with_the_profiles_gpus(host, expected, probe_in_node, target_build):
    cmd = host.run("%s %s/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1" % (probe_in_node, DRIVER_ROOT))
    assert cmd.rc == 0, cmd.stderr
    assert [gpu[2] for gpu in parse_probe(cmd.stdout)["gpus"]] == [g.uuid for g in expected.gpus]
