"""containerd and podman inside the trixie node: CDI enabled, and a CDI device really injected."""
import subprocess
import tomllib

import pytest
from conftest import parse_probe, run_converge

from ansible_collections.gpumock.nvidia.plugins.module_utils.render import containerd_config

# Only the trixie node has containerd 1.7 and a podman that reads cdiVersion 0.5+ specs.
testinfra_hosts = ["molecule-gpu-trixie"]

TINY_IMAGE = "gpumock/tiny-nvml-probe"


def test_containerd_runs_with_cdi_enabled(host):
    assert host.service("containerd").is_running
    dump = tomllib.loads(host.check_output("containerd config dump"))
    cri = dump["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["enable_cdi"] is True
    assert cri["cdi_spec_dirs"] == ["/etc/cdi", "/var/run/cdi"]


def test_containerd_config_dump_differs_from_the_original_only_in_cdi(host):
    current = host.file("/etc/containerd/config.toml").content_string
    original, _version, _section = containerd_config.disable_cdi(current)
    host.run("cat > /tmp/config-without-cdi.toml <<'EOF'\n%sEOF" % original)
    # The dump names the file it read (`imports = [...]`): not a setting, left out.
    before = [line for line in host.check_output("containerd --config /tmp/config-without-cdi.toml config dump")
              .splitlines() if not line.startswith("imports = ")]
    after = [line for line in host.check_output("containerd config dump").splitlines()
             if not line.startswith("imports = ")]
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after)
    # cdi_spec_dirs already has containerd 1.7's default value, so only enable_cdi differs.
    assert changed == [("    enable_cdi = false", "    enable_cdi = true")]


@pytest.fixture(scope="module")
def podman_image(host, container):
    """The tiny probe image, loaded into the node's podman (the node has no registry either)."""
    save = subprocess.Popen(["docker", "save", TINY_IMAGE], stdout=subprocess.PIPE)
    load = subprocess.run(["docker", "exec", "-i", container, "podman", "load", "-q"], stdin=save.stdout,
                          capture_output=True, text=True, check=False)
    save.wait()
    assert load.returncode == 0, load.stderr
    return "localhost/" + TINY_IMAGE


def podman_run(host, image, device, command):
    return host.run("PODMAN_IGNORE_CGROUPSV1_WARNING=1 podman run --rm --network none --device %s %s sh -c %s"
                    % (device, image, "'%s'" % command))


def test_podman_injects_gpu_0_and_the_control_nodes_by_cdi(host, podman_image):
    cmd = podman_run(host, podman_image, "nvidia.com/gpu=0",
                     "stat -c \"%n %F %t:%T\" /dev/nvidia0 /dev/nvidiactl /dev/nvidia-uvm; ls /dev/nvidia1")
    lines = cmd.stdout.splitlines()
    assert "/dev/nvidia0 character special file c3:0" in lines
    assert "/dev/nvidiactl character special file c3:ff" in lines
    assert "/dev/nvidia-uvm character special file ee:0" in lines
    assert "No such file" in cmd.stderr  # GPU 1 was not given


def test_nvml_in_a_podman_container_given_gpu_0_sees_only_gpu_0(host, expected, podman_image):
    cmd = podman_run(host, podman_image, "nvidia.com/gpu=0", "nvml-probe")
    assert cmd.rc == 0, cmd.stdout + cmd.stderr
    seen = parse_probe(cmd.stdout)
    # The mock NVML learns the node's GPUs from its config; a container given the library but not
    # the config falls back to the library's built-in default machine.
    assert seen["count"] == 1, (
        "NVML in the container sees %d GPUs: does the CDI spec mount <driver root>/etc/nvidia-mock/nvml.conf "
        "at /etc/nvidia-mock/nvml.conf?" % seen["count"])
    assert seen["gpus"][0][2] == expected.gpus[0].uuid


def test_podman_refuses_a_gpu_the_spec_does_not_define(host, expected, podman_image):
    cmd = podman_run(host, podman_image, "nvidia.com/gpu=%d" % len(expected.gpus), "true")
    assert cmd.rc != 0
    assert "unresolvable CDI devices" in cmd.stderr


def test_containerd_config_that_is_not_toml_fails_before_the_node_changes(host):
    name = host.backend.get_hostname()
    host.run("cp -a /etc/containerd/config.toml /root/config.toml.good")
    host.run("printf 'version = 2\\n[plugins\\n' > /etc/containerd/config.toml")
    host.run("rm -f /dev/nvidia2")
    try:
        done, recap = run_converge(limit=name)
        assert done.returncode != 0
        assert "/etc/containerd/config.toml is not valid TOML" in done.stdout + done.stderr
        assert recap[name]["changed"] == 0
        assert not host.file("/dev/nvidia2").exists
        assert host.file("/etc/containerd/config.toml").content_string == "version = 2\n[plugins\n"
    finally:
        host.run("mv /root/config.toml.good /etc/containerd/config.toml")
        host.run("mknod -m 0666 /dev/nvidia2 c 195 2")


REFUSE_CDI_DROP_IN = "/etc/systemd/system/containerd.service.d/refuse-cdi.conf"


def test_containerd_that_does_not_come_back_gets_its_previous_config(host):
    name = host.backend.get_hostname()
    with_cdi = host.file("/etc/containerd/config.toml").content_string
    without_cdi, _version, _section = containerd_config.disable_cdi(with_cdi)
    # A containerd that will not start with CDI on: the role's restart fails and it must roll back.
    host.run("mkdir -p %s" % REFUSE_CDI_DROP_IN.rsplit("/", 1)[0])
    host.run("cat > %s <<'EOF'\n[Service]\n"
             "ExecStartPre=/bin/sh -c '! grep -q \"enable_cdi = true\" /etc/containerd/config.toml'\nEOF"
             % REFUSE_CDI_DROP_IN)
    host.run("cat > /etc/containerd/config.toml <<'EOF'\n%sEOF" % without_cdi)
    host.run("systemctl daemon-reload && systemctl restart containerd")
    try:
        assert host.service("containerd").is_running
        done, recap = run_converge("-e", "gpu_mock_containerd_ready_timeout=3", limit=name)
        assert done.returncode != 0
        assert "so the previous config was put back" in done.stdout + done.stderr
        assert host.file("/etc/containerd/config.toml").content_string == without_cdi
        assert host.service("containerd").is_running
        assert host.run("ctr version").rc == 0
        assert not host.run("ls /etc/containerd/config.toml.*~").stdout  # no backup left behind
    finally:
        host.run("rm -f %s && systemctl daemon-reload" % REFUSE_CDI_DROP_IN)
        host.run("cat > /etc/containerd/config.toml <<'EOF'\n%sEOF" % with_cdi)
        host.run("systemctl restart containerd")
