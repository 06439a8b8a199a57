"""The role run again on a provisioned node: check mode changes nothing; bad input stops early."""
import pytest
from conftest import run_converge


@pytest.fixture(scope="module")
def check_run():
    """One check-mode converge of every node (as molecule's check step, but with its recap)."""
    return run_converge("--check", "--diff")


def test_check_mode_on_a_converged_node_reports_no_change(host, check_run):
    done, recap = check_run
    name = host.backend.get_hostname()
    assert recap[name]["failed"] == 0, done.stdout[-3000:]
    assert recap[name]["changed"] == 0, done.stdout[-3000:]


def test_check_mode_reports_a_missing_device_node_without_creating_it(host):
    name = host.backend.get_hostname()
    host.run("rm -f /dev/nvidia1")
    done, recap = run_converge("--check", "--diff", limit=name)
    assert recap[name]["changed"] >= 1, done.stdout[-3000:]
    assert "nvidia1" in done.stdout
    assert not host.file("/dev/nvidia1").exists
    host.run("mknod -m 0666 /dev/nvidia1 c 195 1")


@pytest.mark.parametrize("extra, message", [
    ("gpu_mock_gpu_count=500", "gpu_mock_gpu_count must be an integer from 1 to 128, got 500."),
    ("gpu_mock_profile=dgx9000", "value of gpu_mock_profile must be one of"),
])
def test_bad_variables_fail_before_the_node_changes(host, extra, message):
    name = host.backend.get_hostname()
    # A node that needs work: if the role went past validation it would re-create this.
    host.run("rm -f /dev/nvidia2")
    try:
        done, recap = run_converge("-e", extra, limit=name)
        assert done.returncode != 0
        assert message in done.stdout + done.stderr  # molecule sets display_failed_stderr
        assert recap[name]["changed"] == 0
        assert not host.file("/dev/nvidia2").exists
    finally:
        host.run("mknod -m 0666 /dev/nvidia2 c 195 2")
