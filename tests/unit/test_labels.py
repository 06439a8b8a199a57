"""Specification of module_utils.render.labels: GPU feature discovery's labels computed from a profile."""
import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import labels


def node(profile="dgxh100", **kwargs):
    kwargs.setdefault("node_id", "node-a")
    return profiles.build_node(profile=profile, **kwargs)


def test_h100_labels_carry_the_values_of_a_real_h100_node():
    got = labels.node_labels(node("dgxh100"))
    assert got["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert got["nvidia.com/gpu.memory"] == "81559"
    assert got["nvidia.com/gpu.family"] == "hopper"
    assert (got["nvidia.com/gpu.compute.major"], got["nvidia.com/gpu.compute.minor"]) == ("9", "0")


def test_gpu_count_follows_the_requested_count():
    assert labels.node_labels(node(gpu_count=3))["nvidia.com/gpu.count"] == "3"


def test_driver_version_is_split_into_major_minor_rev():
    got = labels.node_labels(node(driver_version="535.161.08"))
    assert [got["nvidia.com/cuda.driver." + k] for k in ("major", "minor", "rev")] == ["535", "161", "08"]
    assert got["nvidia.com/cuda.driver-version.full"] == "535.161.08"


def test_two_part_driver_version_gives_an_empty_rev():
    assert labels.node_labels(node(driver_version="550.54"))["nvidia.com/cuda.driver.rev"] == ""


def test_cuda_runtime_labels_come_from_the_cuda_driver_version():
    got = labels.node_labels(node(cuda_driver_version=12080))
    assert (got["nvidia.com/cuda.runtime.major"], got["nvidia.com/cuda.runtime.minor"]) == ("12", "8")


def test_mig_capable_follows_the_board():
    assert labels.node_labels(node("dgxa100"))["nvidia.com/mig.capable"] == "true"
    assert labels.node_labels(node("l40s"))["nvidia.com/mig.capable"] == "false"


def test_mig_strategy_none_is_not_labelled():
    assert "nvidia.com/mig.strategy" not in labels.node_labels(node(), mig_strategy="none")
    assert labels.node_labels(node(), mig_strategy="mixed")["nvidia.com/mig.strategy"] == "mixed"


def test_unknown_mig_strategy_is_refused_by_name():
    with pytest.raises(labels.LabelError, match="mig_strategy"):
        labels.node_labels(node(), mig_strategy="double")


def test_single_refuses_gpus_in_mig_mode_without_mig_devices():
    with pytest.raises(labels.LabelError, match="mig_strategy single"):
        labels.node_labels(node(mig_enabled=True), mig_strategy="single")
    assert labels.node_labels(node(mig_enabled=True), mig_strategy="none")["nvidia.com/gpu.count"] == "8"


def test_every_label_is_in_the_nvidia_namespace_and_a_string():
    got = labels.node_labels(node("t4"))
    assert all(k.startswith("nvidia.com/") and isinstance(v, str) for k, v in got.items())


def test_gpu_present_is_set():
    assert labels.node_labels(node("t4"))["nvidia.com/gpu.present"] == "true"


@pytest.mark.parametrize("name, product", [
    ("NVIDIA H100 80GB HBM3", "NVIDIA-H100-80GB-HBM3"),
    ("Tesla T4", "Tesla-T4"),
    ("NVIDIA A100-SXM4-40GB", "NVIDIA-A100-SXM4-40GB"),
    ("NVIDIA  RTX (tm)  6000", "NVIDIA-RTX-tm-6000"),
])
def test_product_is_sanitised_as_gfd_does(name, product):
    assert labels.sanitize_product(name) == product


@pytest.mark.parametrize("major, minor, family", [
    (7, 0, "volta"), (7, 5, "turing"), (8, 0, "ampere"), (8, 6, "ampere"), (8, 9, "ada-lovelace"),
    (9, 0, "hopper"), (10, 0, "blackwell"), (12, 0, "blackwell"), (4, 0, "undefined"),
])
def test_family_table_matches_gfd(major, minor, family):
    assert labels.arch_family(major, minor) == family


@pytest.mark.parametrize("profile, family", [
    ("dgxa100", "ampere"), ("dgxh100", "hopper"), ("dgxh200", "hopper"), ("dgxb200", "blackwell"),
    ("gh200", "hopper"), ("gb200", "blackwell"), ("l40s", "ada-lovelace"), ("t4", "turing"),
])
def test_family_label_of_every_profile_is_its_architectures(profile, family):
    assert labels.node_labels(node(profile))["nvidia.com/gpu.family"] == family


def test_the_cuda_runtime_labels_are_the_nodes_cuda_version():
    got = labels.node_labels(node())
    assert (got["nvidia.com/cuda.runtime.major"], got["nvidia.com/cuda.runtime.minor"],
            got["nvidia.com/cuda.runtime-version.full"]) == ("12", "4", "12.4")


def test_feature_file_round_trips():
    got = labels.node_labels(node())
    text = labels.features_file_text(got)
    assert text.startswith("#")
    assert labels.parse_features_file(text) == got


def test_node_is_not_a_vgpu_guest():
    assert labels.node_labels(node())["nvidia.com/vgpu.present"] == "false"


def test_gpus_in_mig_mode_offer_no_replicas_as_gfd_reports():
    assert labels.node_labels(node(mig_enabled=True), mig_strategy="none")["nvidia.com/gpu.replicas"] == "0"
    assert labels.node_labels(node(), mig_strategy="none")["nvidia.com/gpu.replicas"] == "1"


def test_a_label_value_kubernetes_refuses_is_refused_naming_the_label():
    big = node("t4", overrides={"name": "Tesla T4 (" + "x" * 70 + ")"})
    with pytest.raises(labels.LabelError, match=r"^The label nvidia.com/gpu.product cannot be 'Tesla-T4-x"):
        labels.node_labels(big, mig_strategy="none")


def test_the_longest_driver_version_a_node_takes_is_a_label_value():
    version = "1." + "2" * (profiles.DRIVER_VERSION_MAX_LEN - 2)
    assert labels.node_labels(node("t4", driver_version=version))["nvidia.com/cuda.driver-version.full"] == version


def test_single_labels_uniform_mig_devices_as_the_gpus():
    node = profiles.build_node("dgxa100", 2, "n", mig_enabled=True, mig_layout=["3g.20gb", "3g.20gb"])
    got = labels.node_labels(node, "single")
    assert got["nvidia.com/gpu.count"] == "4"
    assert got["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-40GB-MIG-3g.20gb"
    assert got["nvidia.com/gpu.slices.gi"] == "3" and got["nvidia.com/gpu.replicas"] == "1"


def test_single_refuses_mig_devices_of_several_profiles_naming_them():
    node = profiles.build_node("dgxa100", 1, "n", mig_enabled=True, mig_layout=["3g.20gb", "1g.5gb"])
    with pytest.raises(labels.LabelError, match=r"^mig_strategy single needs .* are 1g\.5gb, 3g\.20gb\); use"):
        labels.node_labels(node, "single")


def test_mixed_labels_each_mig_profile_beside_the_full_gpus():
    node = profiles.build_node("dgxh100", 1, "n", mig_enabled=True, mig_layout=["1g.10gb", "1g.10gb", "1g.10gb+me"])
    got = labels.node_labels(node, "mixed")
    assert got["nvidia.com/gpu.count"] == "1"
    assert got["nvidia.com/mig-1g.10gb.count"] == "2"
    assert got["nvidia.com/mig-1g.10gb.me.count"] == "1"
    assert got["nvidia.com/mig-1g.10gb.me.product"] == "NVIDIA-H100-80GB-HBM3-MIG-1g.10gb.me"
