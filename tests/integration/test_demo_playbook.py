"""playbooks/demo.yml (`make demo`) changes nothing on this host outside its demo directory."""
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NVIDIA_SMI = os.path.join(REPO, ".build", "nvidia", "trixie", "nvidia-smi")
# What the role writes on a node whose root is / (docs: roles/gpu_mock/meta/argument_specs.yml).
HOST_PATHS = ("/var/lib/nvidia-mock", "/etc/cdi/nvidia.yaml", "/etc/tmpfiles.d/nvidia-mock.conf",
              "/etc/ld.so.conf.d/nvidia-mock.conf")


@pytest.fixture
def demo_run(tmp_path):
    if not os.path.exists(NVIDIA_SMI):
        pytest.skip("NVIDIA's nvidia-smi is not fetched (scripts/install-deps.sh nvidia-debs)")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "collections"),
               ANSIBLE_NOCOLOR="1")
    before = {path: os.path.lexists(path) for path in HOST_PATHS}
    demo_root = tmp_path / "demo"
    done = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", "localhost,",
                           "-c", "local", os.path.join(REPO, "playbooks", "demo.yml"),
                           "-e", "demo_root=%s" % demo_root], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    after = {path: os.path.lexists(path) for path in HOST_PATHS}
    return done, before, after, demo_root


def test_demo_writes_nothing_on_the_host_outside_its_directory(demo_run):
    done, before, after, demo_root = demo_run
    assert done.returncode == 0, done.stdout[-3000:]
    assert after == before
    # The library built on the controller went straight into the driver root: nothing is staged.
    assert (demo_root / "driver" / "usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1").stat().st_size > 0
    assert not (demo_root / "stage").exists()
