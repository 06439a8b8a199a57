"""What playbooks/kind.yml leaves on each kind-like node: identity, GPUs, containerd, labels.

Every test taking ``host`` runs on all three nodes (control plane and both workers).
"""
import json
import tomllib

from conftest import (
    CLUSTER, DRIVER_ROOT, FEATURES_FILE, GFD, LIBRARY_DIR, NODE_NAMES, all_nodes, cdi_spec, cdi_uuids,
    copy_into_node, device, docker, expected_node, labels, node_name, nvml_on_node, proc_uuids)


def test_node_container_is_named_and_labelled_as_kind_does(host):
    name = node_name(host)
    info = json.loads(docker("inspect", name))[0]
    role = "control-plane" if name.endswith("-control-plane") else "worker"
    assert name in NODE_NAMES
    assert info["Config"]["Labels"]["io.x-k8s.kind.cluster"] == CLUSTER
    assert info["Config"]["Labels"]["io.x-k8s.kind.role"] == role
    assert host.check_output("hostname") == name


def test_systemd_is_pid_1_and_no_unit_failed(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"
    assert host.run("systemctl is-system-running").stdout.strip() == "running"


def test_python3_was_installed_without_a_network(host):
    info = json.loads(docker("inspect", node_name(host)))[0]
    assert info["HostConfig"]["NetworkMode"] == "none"
    assert host.exists("python3")
    assert host.run("ls /var/cache/apt/archives/python3_*.deb").rc == 0


def test_every_gpu_has_a_character_device(host):
    count = len(expected_node(node_name(host)).gpus)
    for minor in range(count):
        assert device(host, "/dev/nvidia%d" % minor) == ("char", 195, minor)
    assert device(host, "/dev/nvidia%d" % count) is None


def test_control_device_nodes_exist(host):
    assert device(host, "/dev/nvidiactl") == ("char", 195, 255)
    assert device(host, "/dev/nvidia-modeset") == ("char", 195, 254)
    uvm = device(host, "/dev/nvidia-uvm")
    assert uvm[0] == "char" and uvm[2] == 0
    assert device(host, "/dev/nvidia-uvm-tools") == ("char", uvm[1], 1)


def test_driver_root_holds_the_mock_nvml_and_the_proc_tree(host):
    node = expected_node(node_name(host))
    library = host.file("%s/libnvidia-ml.so.%s" % (LIBRARY_DIR, node.driver_version))
    assert library.is_file and library.size > 0
    assert host.file(LIBRARY_DIR + "/libnvidia-ml.so.1").linked_to == library.path
    version = host.file(DRIVER_ROOT + "/proc/driver/nvidia/version").content_string
    assert node.driver_version in version


def test_cdi_spec_names_every_gpu_by_index_and_by_uuid(host):
    node = expected_node(node_name(host))
    names = {device["name"] for device in cdi_spec(host)["devices"]}
    assert {str(gpu.index) for gpu in node.gpus} <= names
    assert {gpu.uuid for gpu in node.gpus} <= names
    assert "all" in names


def test_uuids_are_equal_in_nvml_proc_and_cdi(host):
    node = expected_node(node_name(host))
    want = {gpu.minor: gpu.uuid for gpu in node.gpus}
    nvml = {gpu["minor"]: gpu["uuid"] for gpu in nvml_on_node(host)["gpus"]}
    assert nvml == want
    assert proc_uuids(host) == want
    assert cdi_uuids(cdi_spec(host)) == want


def test_no_two_nodes_share_a_gpu_uuid():
    uuids = [uuid for node in all_nodes() for uuid in cdi_uuids(cdi_spec(node)).values()]
    assert len(uuids) == 3 * len(expected_node(NODE_NAMES[0]).gpus)
    assert len(set(uuids)) == len(uuids)


def _cri_config_line(host):
    """containerd's own account of its CRI config at its latest start."""
    lines = host.check_output("journalctl -u containerd -o cat --no-pager | grep 'Start cri plugin with config'")
    return lines.splitlines()[-1]


def test_containerd_runs_with_cdi_enabled(host):
    config = tomllib.loads(host.file("/etc/containerd/config.toml").content_string)
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["enable_cdi"] is True
    assert "/etc/cdi" in cri["cdi_spec_dirs"]
    assert "EnableCDI:true" in _cri_config_line(host)
    assert host.service("containerd").is_running


def test_kind_entrypoint_managed_lines_are_kept(host):
    text = host.file("/etc/containerd/config.toml").content_string
    lines = [line.strip() for line in text.splitlines()]
    assert 'snapshotter = "overlayfs"' in lines
    assert "restrict_oom_score_adj = true" in lines
    assert 'sandbox_image = "docker.io/gpumock/pause:3.10"' in lines
    assert "SystemdCgroup = false" in lines
    assert tomllib.loads(text)["version"] == 2


def test_labels_file_holds_the_profiles_labels(host):
    node = expected_node(node_name(host))
    written = labels.parse_features_file(host.file(FEATURES_FILE).content_string)
    assert written == labels.node_labels(node, mig_strategy="single")


def test_labels_agree_with_what_nvml_reports(host):
    written = labels.parse_features_file(host.file(FEATURES_FILE).content_string)
    nvml = nvml_on_node(host)
    first = nvml["gpus"][0]
    assert written["nvidia.com/gpu.count"] == str(len(nvml["gpus"]))
    assert written["nvidia.com/gpu.product"] == labels.sanitize_product(first["name"])
    assert written["nvidia.com/gpu.memory"] == str(first["memory_total"] // (1024 * 1024))
    assert [written["nvidia.com/gpu.compute.major"], written["nvidia.com/gpu.compute.minor"]] == \
        [str(v) for v in first["compute"]]
    assert written["nvidia.com/cuda.driver-version.full"] == nvml["driver"]


def test_labels_equal_what_real_gpu_feature_discovery_computes(host):
    """NVIDIA's own GFD, run once in the node against the mock NVML, labels it the same way.

    gpu.mode and gpu.machine are left out: GFD reads them from PCI sysfs and DMI, which these nodes
    do not imitate (it says "unknown"); gpu.present comes from the GPU Operator, not from GFD.
    """
    copy_into_node(node_name(host), GFD, "/usr/local/bin/gpu-feature-discovery")
    out = host.run("LD_LIBRARY_PATH=%s gpu-feature-discovery --oneshot --output-file= "
                   "--use-node-feature-api=false --no-timestamp --mig-strategy=single", LIBRARY_DIR)
    assert out.rc == 0, out.stderr
    from_gfd = labels.parse_features_file(out.stdout)
    for derived_elsewhere in ("nvidia.com/gpu.mode", "nvidia.com/gpu.machine"):
        from_gfd.pop(derived_elsewhere, None)
    written = labels.parse_features_file(host.file(FEATURES_FILE).content_string)
    written.pop("nvidia.com/gpu.present")
    assert written == from_gfd
