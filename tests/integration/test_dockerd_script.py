"""scripts/dockerd.sh: the project's Docker engine is found by its own socket and started and
stopped by its own PIDs; another program's dockerd neither blocks it nor is touched by it."""
import os
import shutil
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "dockerd.sh")
SOCKET = "unix:///run/gpumock-docker/docker.sock"


def dockerd_sh(*args, timeout=120):
    return subprocess.run(["bash", SCRIPT] + list(args), capture_output=True, text=True, timeout=timeout,
                          check=False)


def engine_answers():
    env = dict(os.environ, DOCKER_HOST=SOCKET)
    return subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], env=env,
                          capture_output=True, text=True, check=False).returncode == 0


@pytest.fixture
def other_dockerd(tmp_path):
    """A process named dockerd that is not ours (as another program's engine would be)."""
    fake = tmp_path / "dockerd"
    shutil.copy("/bin/sleep", fake)
    proc = subprocess.Popen([str(fake), "600"])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def engine_installed():
    if shutil.which("dockerd", path=os.environ.get("PATH", "") + ":/usr/sbin") is None:
        pytest.skip("Debian's docker.io is not installed (make deps installs it)")


def test_the_engine_is_named_by_the_projects_own_socket():
    done = dockerd_sh("host")
    assert (done.returncode, done.stdout.strip()) == (0, SOCKET)


def test_another_dockerd_neither_blocks_the_start_nor_is_touched(engine_installed, other_dockerd):
    done = dockerd_sh("start")
    assert done.returncode == 0, done.stderr
    assert engine_answers()
    assert other_dockerd.poll() is None


def test_stop_ends_only_the_projects_engine_and_start_brings_it_back(engine_installed, other_dockerd):
    assert dockerd_sh("start").returncode == 0
    running = subprocess.run(["docker", "ps", "-q"], env=dict(os.environ, DOCKER_HOST=SOCKET),
                             capture_output=True, text=True, check=True).stdout.split()
    if running:
        pytest.skip("the project's engine runs %d containers now; stopping it would end them" % len(running))
    done = dockerd_sh("stop")
    assert done.returncode == 0, done.stderr
    assert not engine_answers()
    assert other_dockerd.poll() is None
    start = time.monotonic()
    done = dockerd_sh("start")
    assert done.returncode == 0, done.stderr
    assert engine_answers(), "no answer %.0f s after start" % (time.monotonic() - start)


def test_the_engine_runs_its_own_copy_of_the_runtime_wrapper_so_it_outlives_the_checkout(engine_installed):
    assert dockerd_sh("start").returncode == 0
    running = subprocess.run(["docker", "ps", "-q"], env=dict(os.environ, DOCKER_HOST=SOCKET),
                             capture_output=True, text=True, check=True).stdout.split()
    if running:
        pytest.skip("the project's engine runs %d containers now; restarting it would end them" % len(running))
    assert dockerd_sh("stop").returncode == 0
    assert dockerd_sh("start").returncode == 0
    with open("/run/gpumock-docker/runc-capfix") as stub:
        text = stub.read()
    assert REPO not in text
    (copy,) = [word for word in text.split() if word.endswith("runc-capfix.py")]
    with open(copy, "rb") as engine_copy, open(os.path.join(REPO, "scripts", "docker", "runc-capfix.py"), "rb") as source:
        assert engine_copy.read() == source.read()
