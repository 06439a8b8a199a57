"""What a node provisioned by the gpu_mock role shows: /dev, the driver root, CDI, containerd, NVML."""
import yaml
from conftest import DRIVER_ROOT, char_device, parse_probe

from ansible_collections.gpumock.nvidia.plugins.module_utils.render import cdi

LIB_DIR = DRIVER_ROOT + "/usr/lib/x86_64-linux-gnu"


def test_systemd_runs_the_node_as_pid_1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"
    assert host.run("systemctl is-system-running").stdout.strip() == "running"


def test_python3_was_installed_by_the_role_offline_where_the_image_had_none(host):
    # The bookworm image ships without python3 (its .debs are in the apt cache) and the node has
    # no network: python3 being there now is the role's raw bootstrap.
    assert host.run("python3 -c 'import sys; print(sys.version_info[0])'").stdout.strip() == "3"


def test_every_gpu_has_a_char_device_195_index_mode_0666(host, expected):
    for gpu in expected.gpus:
        assert char_device(host, "/dev/nvidia%d" % gpu.index) == (195, gpu.minor, "666")


def test_there_is_no_device_node_beyond_the_profiles_gpus(host, expected):
    assert not host.file("/dev/nvidia%d" % len(expected.gpus)).exists


def test_control_nodes_have_the_driver_numbers(host):
    assert char_device(host, "/dev/nvidiactl") == (195, 255, "666")
    assert char_device(host, "/dev/nvidia-modeset") == (195, 254, "666")
    assert char_device(host, "/dev/nvidia-uvm") == (238, 0, "666")
    assert char_device(host, "/dev/nvidia-uvm-tools") == (238, 1, "666")


def test_driver_root_holds_the_mock_nvml_under_its_soname(host, expected):
    library = host.file("%s/libnvidia-ml.so.%s" % (LIB_DIR, expected.driver_version))
    assert library.is_file and library.size > 0
    soname = host.file(LIB_DIR + "/libnvidia-ml.so.1")
    assert soname.is_symlink and soname.linked_to == library.path


def test_driver_root_proc_version_names_the_profiles_driver(host, expected):
    version = host.file(DRIVER_ROOT + "/proc/driver/nvidia/version").content_string
    assert expected.driver_version in version


def test_cdi_spec_is_valid_and_names_every_gpu_by_index_and_uuid(host, expected):
    spec = yaml.safe_load(host.file("/etc/cdi/nvidia.yaml").content_string)
    cdi.validate(spec)
    names = [device["name"] for device in spec["devices"]]
    assert names == [str(g.index) for g in expected.gpus] + [g.uuid for g in expected.gpus] + ["all"]


def test_cdi_spec_mounts_exist_on_the_node(host):
    spec = yaml.safe_load(host.file("/etc/cdi/nvidia.yaml").content_string)
    missing = [m["hostPath"] for m in spec["containerEdits"]["mounts"] if not host.file(m["hostPath"]).exists]
    assert missing == []


def test_tmpfiles_rule_recreates_a_deleted_gpu_node(host):
    # What happens at boot, when /dev is a fresh devtmpfs.
    host.run("rm -f /dev/nvidia0")
    cmd = host.run("systemd-tmpfiles --create /etc/tmpfiles.d/nvidia-mock.conf")
    assert cmd.rc == 0, cmd.stderr
    assert char_device(host, "/dev/nvidia0") == (195, 0, "666")


def test_mock_nvml_in_the_node_reports_the_profiles_gpus(host, expected, probe_in_node):
    cmd = host.run("%s %s/libnvidia-ml.so.1" % (probe_in_node, LIB_DIR))
    assert cmd.rc == 0, cmd.stderr
    seen = parse_probe(cmd.stdout)
    assert seen["driver"] == expected.driver_version
    assert seen["count"] == len(expected.gpus)
    assert seen["gpus"] == [(g.index, g.minor, g.uuid, g.board.name) for g in expected.gpus]
