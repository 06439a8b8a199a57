"""Baking an arm64 image from this x86_64 controller: playbooks/local.yml through the
community.general.chroot connection into an arm64 root filesystem, its programs run under qemu.

The root filesystem is Debian bookworm's arm64 packages, unpacked, never installed
(scripts/deps/install.d/arm64-rootfs.sh: dash, coreutils, python3, ldconfig, nvidia-smi), copied
for this module. The kernel runs its programs through the aarch64 binfmt_misc entry of
scripts/deps/install.d/arm64-binfmt.sh (qemu-aarch64-static with flag F): the role's probe finds
aarch64, the controller cross-builds the mock NVML for it, and the node module and ldconfig run
emulated. Afterwards the rootfs's own python3 with pynvml and NVIDIA's arm64 nvidia-smi, run in
the chroot, find the mock by its soname and list the GPUs of the gh200 profile.
The module skips, saying why in one line, only when the aarch64 binfmt entry cannot be had or the
packages cannot be fetched.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPS = os.path.join(ROOT, "scripts", "deps", "install.d")
NODE_ID = "arm64-image"
PROFILE = "gh200"
GPU_COUNT = 1
DRIVER_ROOT = "/var/lib/nvidia-mock/driver"
LIBRARY = DRIVER_ROOT + "/usr/lib/aarch64-linux-gnu/libnvidia-ml.so.1"
EM_AARCH64 = 183

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: binfmt_misc, chroot, mknod")


def script(name, *args):
    """(exit status, its last line of output) of a scripts/deps/install.d script."""
    done = subprocess.run(["bash", os.path.join(DEPS, name)] + list(args), capture_output=True, text=True,
                          timeout=600, check=False)
    lines = (done.stdout + done.stderr).strip().splitlines() or ["exit %d" % done.returncode]
    return done.returncode, lines[-1]


def playbook(rootfs):
    """One run of local.yml into ``rootfs``: the stats of its one host."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    done = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", rootfs + ",",
         "-c", "community.general.chroot", os.path.join(ROOT, "playbooks", "local.yml"),
         "-e", json.dumps({"gpu_mock_node_id": NODE_ID, "gpu_mock_profile": PROFILE, "gpu_mock_gpu_count": GPU_COUNT,
                           "gpu_mock_register_ldconfig": True, "gpu_mock_driver_root": DRIVER_ROOT,
                           "ansible_python_interpreter": "/usr/bin/python3"})],
        env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return json.loads(done.stdout)["stats"][rootfs]


def in_chroot(rootfs, *command):
    done = subprocess.run(["chroot", rootfs] + list(command), capture_output=True, text=True, timeout=300,
                          check=False, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})
    assert done.returncode == 0, "%s exited %d:\n%s%s" % (command[0], done.returncode, done.stdout[-2000:],
                                                          done.stderr[-2000:])
    return done.stdout


@pytest.fixture(scope="module")
def baked(request, tmp_path_factory):
    """(the arm64 rootfs the role provisioned twice, stats of the first run, stats of the second)."""
    timings = []
    start = time.monotonic()
    status, why = script("arm64-binfmt.sh")
    if status != 0:
        pytest.skip("no aarch64 binfmt entry for chroot: %s" % why)
    status, why = script("arm64-rootfs.sh")
    if status != 0:
        pytest.skip("the arm64 packages could not be fetched: %s" % why)
    cached = subprocess.run(["bash", os.path.join(DEPS, "arm64-rootfs.sh"), "path"], capture_output=True,
                            text=True, check=True).stdout.strip()
    rootfs = str(tmp_path_factory.mktemp("arm64") / "rootfs")
    # A copy: the cached rootfs stays as fetched (cp -a keeps /dev/null and the links).
    subprocess.run(["cp", "-a", cached, rootfs], check=True)
    timings.append(("binfmt, packages, copy", time.monotonic() - start))
    runs = []
    for name in ("first run", "second run"):
        start = time.monotonic()
        runs.append(playbook(rootfs))
        timings.append((name, time.monotonic() - start))
    yield rootfs, runs[0], runs[1]
    # Shown on success too (the cold cost of this module in CI): outside pytest's capture.
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print("\narm64 chroot bake: " + ", ".join("%s %.0f s" % t for t in timings))
    shutil.rmtree(rootfs, ignore_errors=True)


@pytest.fixture(scope="module")
def expected():
    return profiles.build_node(profile=PROFILE, gpu_count=GPU_COUNT, node_id=NODE_ID)


def test_the_role_provisions_the_arm64_rootfs_from_the_x86_64_controller(baked):
    _rootfs, first, _second = baked
    assert first["failures"] == 0 and first["unreachable"] == 0
    assert first["changed"] > 0


def test_a_second_run_changes_nothing(baked):
    assert baked[2]["changed"] == 0


def test_the_driver_tree_has_the_aarch64_mock_nvml(baked):
    with open(baked[0] + LIBRARY, "rb") as elf:
        header = elf.read(20)
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == EM_AARCH64


def test_arm64_python_with_pynvml_in_the_chroot_lists_the_profiles_gpus(baked, expected):
    import pynvml
    rootfs = baked[0]
    os.makedirs(rootfs + "/tmp/pynvml", exist_ok=True)
    shutil.copy(pynvml.__file__, rootfs + "/tmp/pynvml/pynvml.py")
    # No library path and no config given: the loader cache and the driver tree's defaults.
    out = in_chroot(rootfs, "/usr/bin/python3", "-c", (
        "import json, platform, sys; sys.path.insert(0, '/tmp/pynvml'); import pynvml; pynvml.nvmlInit(); "
        "hs = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]; "
        "print(json.dumps([platform.machine(), [[pynvml.nvmlDeviceGetName(h), pynvml.nvmlDeviceGetUUID(h)] "
        "for h in hs]]))"))
    machine, gpus = json.loads(out)
    assert machine == "aarch64"
    assert gpus == [[g.board.name, g.uuid] for g in expected.gpus]


def test_arm64_nvidia_smi_in_the_chroot_lists_the_profiles_gpus(baked, expected):
    out = in_chroot(baked[0], "/usr/lib/nvidia/current/nvidia-smi", "-L")
    assert out.splitlines() == ["GPU %d: %s (UUID: %s)" % (g.index, g.board.name, g.uuid) for g in expected.gpus]
