"""Baking mock GPUs into an image: playbooks/local.yml through the chroot connection.

A root filesystem made by debootstrap (the gpumock/bookworm-systemd image exported: no python3,
its .debs only in the apt cache) is provisioned with the chroot connection, imported into Docker,
booted with systemd, and the mock NVML answers inside with the GPUs baked in. The device nodes
come back at boot from the systemd-tmpfiles rule, since Docker gives the container a fresh /dev.
"""
import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles  # noqa: E402

BASE_IMAGE = "gpumock/bookworm-systemd"
NODE_ID = "baked-image-a"
PROFILE = "t4"
GPU_COUNT = 2
# systemd as PID 1 in a privileged container; the project's Docker engine (scripts/dockerd.sh)
# drops the capabilities these machines keep out of every bounding set.
NODE_FLAGS = [
    "--privileged", "--network", "none", "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--stop-signal", "SIGRTMIN+3",
]


def run(*command, check=True, **kwargs):
    return subprocess.run(list(command), capture_output=True, text=True, check=check, **kwargs)


def playbook(rootfs, *extra):
    done = run(os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", rootfs + ",",
               "-c", "community.general.chroot", os.path.join(ROOT, "playbooks", "local.yml"),
               "-e", "gpu_mock_node_id=" + NODE_ID, "-e", "gpu_mock_profile=" + PROFILE,
               "-e", "gpu_mock_gpu_count=%d" % GPU_COUNT, "-e", "gpu_mock_register_ldconfig=true",
               "-e", "ansible_python_interpreter=/usr/bin/python3", *extra, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    recap = re.search(r"changed=(\d+)", done.stdout)
    return int(recap.group(1))


@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    """(changes of the first bake, changes of the second, name of the running baked container)."""
    rootfs = str(tmp_path_factory.mktemp("rootfs"))
    tag = "bake-%s" % uuid.uuid4().hex[:8]
    created = run("docker", "create", BASE_IMAGE).stdout.strip()
    try:
        export = subprocess.Popen(["docker", "export", created], stdout=subprocess.PIPE)
        run("tar", "-C", rootfs, "-x", stdin=export.stdout)
        assert export.wait() == 0
    finally:
        run("docker", "rm", created)
    assert not os.path.exists(os.path.join(rootfs, "usr/bin/python3"))

    first = playbook(rootfs)
    second = playbook(rootfs)

    image = "gpumock/bake-test:%s" % tag
    tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
    run("docker", "import", "--change", 'CMD ["/sbin/init"]', "--change", "ENV container=docker", "-", image,
        stdin=tar.stdout)
    assert tar.wait() == 0
    shutil.rmtree(rootfs, ignore_errors=True)
    container = "bake-test-" + tag
    try:
        run("docker", "run", "-d", "--name", container, *NODE_FLAGS, image)
        # Right after `docker run` systemd may not answer yet ("offline"): ask until it has booted.
        for _attempt in range(120):
            state = run("docker", "exec", container, "systemctl", "is-system-running", "--wait",
                        check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        yield first, second, container, state
    finally:
        run("docker", "rm", "-fv", container, check=False)
        run("docker", "rmi", image, check=False)


@pytest.fixture(scope="module")
def expected():
    return profiles.build_node(profile=PROFILE, gpu_count=GPU_COUNT, node_id=NODE_ID)


@pytest.fixture(scope="module")
def probe(baked, tmp_path_factory):
    binary = tmp_path_factory.mktemp("probe") / "nvml-probe"
    run("gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-o", str(binary),
        os.path.join(ROOT, "images", "nvml-probe", "nvml_probe.c"))
    run("docker", "cp", str(binary), "%s:/usr/local/bin/nvml-probe" % baked[2])
    return "/usr/local/bin/nvml-probe"


def test_baking_changes_the_rootfs_and_a_second_bake_changes_nothing(baked):
    first, second, _container, _state = baked
    assert first > 0
    assert second == 0


def test_baked_image_boots_with_systemd(baked):
    assert baked[3] == "running"


def test_device_nodes_are_recreated_at_boot_by_tmpfiles(baked, expected):
    out = run("docker", "exec", baked[2], "stat", "-c", "%n %F %t:%T",
              *["/dev/nvidia%d" % g.index for g in expected.gpus], "/dev/nvidiactl").stdout.splitlines()
    assert out == ["/dev/nvidia%d character special file c3:%x" % (g.index, g.minor) for g in expected.gpus] \
        + ["/dev/nvidiactl character special file c3:ff"]


def test_mock_nvml_answers_inside_with_the_baked_gpus_by_soname(baked, expected, probe):
    # No path given: the probe loads libnvidia-ml.so.1 through the loader cache the bake registered.
    done = run("docker", "exec", baked[2], probe, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "library\tlibnvidia-ml.so.1"
    assert "count\t%d" % GPU_COUNT in lines
    gpus = [line.split("\t")[1:] for line in lines if line.startswith("gpu\t")]
    assert gpus == [[str(g.index), str(g.minor), g.uuid, g.board.name] for g in expected.gpus]
