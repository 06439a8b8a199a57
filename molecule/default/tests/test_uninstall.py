"""gpu_mock_state: absent undoes everything (runs last: file order, after every other check)."""
import pytest
from conftest import DRIVER_ROOT, run_converge


@pytest.fixture(scope="module")
def removal():
    """Two absent runs of every node: the removal, then a run that must find nothing to do."""
    return run_converge("-e", "gpu_mock_state=absent"), run_converge("-e", "gpu_mock_state=absent")


def test_absent_run_succeeds_and_a_second_one_changes_nothing(host, removal):
    name = host.backend.get_hostname()
    (first, first_recap), (second, second_recap) = removal
    assert first_recap[name]["failed"] == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert first_recap[name]["changed"] > 0
    assert second_recap[name]["changed"] == 0, second.stdout[-3000:]


def test_absent_leaves_no_device_node_spec_driver_root_or_boot_rule(host, removal):
    assert host.run("ls /dev/nvidia*").rc != 0
    for path in ("/etc/cdi/nvidia.yaml", DRIVER_ROOT, "/var/lib/nvidia-mock", "/etc/tmpfiles.d/nvidia-mock.conf",
                 "/etc/ld.so.conf.d/nvidia-mock.conf"):
        assert not host.file(path).exists, path


def test_absent_gives_containerd_its_cdi_default_back_and_never_creates_its_config(host, removal):
    if not host.exists("containerd"):
        # gpu_mock_containerd: auto found no containerd here: it must not have written a config.
        assert not host.file("/etc/containerd/config.toml").exists
        return
    assert "enable_cdi" not in host.file("/etc/containerd/config.toml").content_string
    assert host.service("containerd").is_running
    assert "    enable_cdi = false" in host.check_output("containerd config dump").splitlines()
