"""Specification of the machine profiles: values, identities and custom nodes."""
import re

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles as P

UUID_RE = re.compile(r"^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_default_profile_is_eight_a100_40gb_on_driver_550_54_15_cuda_12_4():
    node = P.build_node(node_id="n")
    assert node.profile == "dgxa100" == P.DEFAULT_PROFILE
    assert len(node.gpus) == 8
    assert node.board.name == "NVIDIA A100-SXM4-40GB"
    assert node.driver_version == "550.54.15"
    assert node.cuda_driver_version == 12040
    assert node.nvml_version == "12.550.54.15"


def test_built_in_profiles_are_the_eight_documented_machines():
    assert set(P.PROFILE_NAMES) == {"dgxa100", "dgxh100", "dgxh200", "dgxb200", "gh200", "gb200", "l40s", "t4"}


def test_gh200_is_one_grace_hopper_gpu_as_a_real_gh200_480gb_reports_it():
    node = P.build_node("gh200", node_id="n")
    board = node.board
    assert len(node.gpus) == 1 and node.gpus[0].pci_bus_id == "00000000:DD:00.0"
    assert board.name == "NVIDIA GH200 480GB" and board.architecture == P.ARCH_HOPPER
    assert (board.pci_device_id, board.pci_subsystem_id) == (0x234210DE, 0x180910DE)
    assert board.memory_total_bytes == 97871 * P.MIB and board.memory_reserved_bytes == 1103 * P.MIB
    assert (board.power_min_limit_mw, board.power_default_limit_mw, board.power_max_limit_mw) == (
        100000, 900000, 900000)
    assert (board.pcie_max_gen, board.pcie_max_width) == (4, 1)
    assert (node.driver_version, node.cuda_driver_version) == ("550.127.05", 12040)


def test_gb200_is_a_compute_tray_of_four_gpus_each_in_its_own_pci_domain():
    node = P.build_node("gb200", node_id="n")
    assert node.board.name == "NVIDIA GB200" and node.board.architecture == P.ARCH_BLACKWELL
    assert node.board.pci_device_id == 0x294110DE and node.board.memory_total_bytes == 189471 * P.MIB
    assert node.board.power_max_limit_mw == 1200000
    assert [g.pci_bus_id for g in node.gpus] == [
        "00000008:01:00.0", "00000009:01:00.0", "00000018:01:00.0", "00000019:01:00.0"]
    assert [g.numa_node for g in node.gpus] == [0, 0, 1, 1]         # two GPUs per Grace


def test_a_larger_gb200_node_repeats_the_tray_in_the_next_domains():
    gpus = P.build_node("gb200", gpu_count=8, node_id="n").gpus
    assert [g.pci_bus_id_legacy for g in gpus[4:]] == ["0028:01:00.0", "0029:01:00.0", "0038:01:00.0", "0039:01:00.0"]


def test_a_larger_gh200_node_puts_each_further_gpu_in_the_next_domain():
    gpus = P.build_node("gh200", gpu_count=3, node_id="n").gpus
    assert [g.pci_bus_id for g in gpus] == ["00000000:DD:00.0", "00000001:DD:00.0", "00000002:DD:00.0"]


@pytest.mark.parametrize("profile", P.PROFILE_NAMES)
def test_128_gpus_of_every_profile_have_distinct_bus_ids(profile):
    gpus = P.build_node(profile, gpu_count=128, node_id="n").gpus
    assert len({g.pci_bus_id for g in gpus}) == 128


@pytest.mark.parametrize("profile", P.PROFILE_NAMES)
def test_the_grace_machines_are_aarch64_with_nvlink_c2c_and_the_others_x86_64_without(profile):
    grace = profile in ("gh200", "gb200")
    assert P.PROFILES[profile].architecture == ("aarch64" if grace else "x86_64")
    assert P.PROFILES[profile].board.c2c_mode is grace


@pytest.mark.parametrize("profile", P.PROFILE_NAMES)
def test_every_profiles_machine_architecture_is_one_a_driver_tree_has(profile):
    from ansible_collections.gpumock.nvidia.plugins.module_utils.render import driver_tree
    assert P.PROFILES[profile].architecture in driver_tree.ARCHITECTURES


@pytest.mark.parametrize("profile", ["gh200", "gb200"])
def test_the_grace_boards_mig_memory_fits_the_board_and_grows_with_the_memory_slices(profile):
    board = P.PROFILES[profile].board
    whole = max(m.memory_size_mb for m in board.mig_profiles)
    assert whole * P.MIB <= board.memory_total_bytes
    assert all(m.memory_size_mb % 128 == 0 for m in board.mig_profiles)
    for a in board.mig_profiles:
        for b in board.mig_profiles:
            if a.placement_size < b.placement_size:
                assert a.memory_size_mb < b.memory_size_mb, (a.name, b.name)


def test_dgxh100_matches_the_real_h100_board_capture():
    board = P.build_node("dgxh100", node_id="n").board
    assert board.name == "NVIDIA H100 80GB HBM3"
    assert board.pci_device_id == 0x233010DE
    assert (board.cc_major, board.cc_minor) == (9, 0)
    assert board.cuda_cores == 16896 and board.memory_bus_width == 5120
    assert board.memory_total_bytes == 85520809984
    assert board.power_default_limit_mw == 700000
    assert [m.name for m in board.mig_profiles][:5] == [
        "MIG 1g.10gb", "MIG 2g.20gb", "MIG 3g.40gb", "MIG 4g.40gb", "MIG 7g.80gb"]


@pytest.mark.parametrize("profile", P.PROFILE_NAMES)
def test_every_profile_has_mig_profiles_exactly_when_the_board_has_mig(profile):
    board = P.build_node(profile, node_id="n").board
    assert bool(board.mig_profiles) == board.mig_capable


def test_dgxa100_bus_ids_follow_the_real_chassis_in_both_nvml_formats():
    gpus = P.build_node("dgxa100", node_id="n").gpus
    assert [g.pci_bus_id for g in gpus] == [
        "00000000:%s:00.0" % b for b in ("07", "0F", "47", "4E", "87", "90", "B7", "BD")]
    assert gpus[0].pci_bus_id_legacy == "0000:07:00.0"


@pytest.mark.parametrize("profile", P.PROFILE_NAMES)
def test_uuids_are_lowercase_hex_in_nvml_form(profile):
    for gpu in P.build_node(profile, node_id="n").gpus:
        assert UUID_RE.match(gpu.uuid), gpu.uuid
        assert re.match(r"^\d{13}$", gpu.serial)


def test_the_same_node_always_gets_the_same_identities():
    assert P.build_node(node_id="node-a").to_dict() == P.build_node(node_id="node-a").to_dict()


def test_two_nodes_never_share_a_uuid():
    seen = set()
    for i in range(64):
        for gpu in P.build_node(node_id="node-%d" % i).gpus:
            assert gpu.uuid not in seen
            seen.add(gpu.uuid)


def test_gpu_count_override_to_128_gives_unique_uuids_and_bus_ids():
    gpus = P.build_node(gpu_count=128, node_id="big").gpus
    assert len({g.uuid for g in gpus}) == 128
    assert len({g.pci_bus_id for g in gpus}) == 128
    assert gpus[8].pci_bus_id == "00000001:07:00.0"


@pytest.mark.parametrize("count", [0, 129, -1, True, "8"])
def test_gpu_count_outside_1_to_128_is_refused_naming_the_option(count):
    with pytest.raises(P.ProfileError, match="gpu_count"):
        P.build_node(gpu_count=count, node_id="n")


def test_unknown_profile_is_refused_naming_the_option():
    with pytest.raises(P.ProfileError, match="profile must be one of"):
        P.build_node("dgx9000", node_id="n")


def test_per_field_overrides_change_only_that_field():
    base = P.build_node(node_id="n").board
    custom = P.build_node(node_id="n", overrides={"name": "NVIDIA A100-SXM4-80GB",
                                                  "memory_total_bytes": 81920 * P.MIB}).board
    assert custom.name == "NVIDIA A100-SXM4-80GB"
    assert custom.memory_total_bytes == 81920 * P.MIB
    assert custom.cuda_cores == base.cuda_cores


def test_unknown_override_field_is_refused_naming_the_field():
    with pytest.raises(P.ProfileError, match="unknown field 'colour'"):
        P.build_node(node_id="n", overrides={"colour": "green"})


def test_mig_on_a_board_without_mig_is_refused():
    with pytest.raises(P.ProfileError, match="mig_enabled"):
        P.build_node("t4", node_id="n", mig_enabled=True)


def test_driver_version_override_changes_nvml_version():
    node = P.build_node(node_id="n", driver_version="535.261.03")
    assert node.nvml_version == "12.535.261.03"


def test_malformed_driver_version_is_refused():
    with pytest.raises(P.ProfileError, match="driver_version"):
        P.build_node(node_id="n", driver_version="latest")


def test_default_node_id_prefers_machine_id(tmp_path):
    mid = tmp_path / "machine-id"
    mid.write_text("abc123\n")
    assert P.default_node_id(str(mid)) == "abc123"
    assert P.default_node_id(str(tmp_path / "missing"), hostname="h1") == "h1"


def test_t4_sits_where_a_cloud_vm_puts_it_clear_of_the_low_virtio_slots():
    gpus = P.build_node("t4", gpu_count=26, node_id="n").gpus
    assert gpus[0].pci_bus_id == "00000000:00:1E.0"
    assert gpus[1].pci_bus_id == "00000000:00:1D.0"
    assert min(g.pci_device for g in gpus) >= 0x07
    assert len({g.pci_bus_id for g in gpus}) == 26


def test_the_driver_version_limit_is_the_tightest_of_its_consumers():
    from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import nvml_schema
    system = nvml_schema.SYSTEM
    assert P.DRIVER_VERSION_MAX_LEN == min(system.key("driver_version").max_len,
                                           system.key("nvml_version").max_len - len("99."),
                                           P.LABEL_VALUE_MAX_LEN)


def test_the_longest_driver_version_gives_a_config_the_mock_nvml_takes():
    from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config
    version = "1." + "2" * (P.DRIVER_VERSION_MAX_LEN - 2)
    node = P.build_node(node_id="n", driver_version=version, cuda_driver_version=P.CUDA_DRIVER_VERSION_MAX)
    assert nvml_config.problem(nvml_config.render(node)) == ""


def test_the_longest_node_id_gives_a_config_the_mock_nvml_takes():
    from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config
    node_id = "\u00e9" * (P.NODE_ID_MAX_BYTES // 2) + "n" * (P.NODE_ID_MAX_BYTES % 2)
    node = P.build_node(node_id=node_id)
    assert nvml_config.problem(nvml_config.render(node)) == ""


def test_a_node_id_is_taken_without_its_surrounding_spaces():
    assert P.build_node(node_id="  n1 ").node_id == "n1"


def test_an_empty_driver_version_is_the_profiles():
    assert P.build_node("t4", node_id="n", driver_version="").driver_version == "535.261.03"


def test_a_gpu_index_of_the_layout_may_be_its_digits_or_an_integer():
    node = P.build_node(node_id="n", gpu_count=2, mig_enabled=True, mig_layout={"0": ["7g.40gb"], 1: ["1g.5gb"]})
    assert [len(g.mig_instances) for g in node.gpus] == [1, 1]
