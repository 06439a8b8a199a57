"""Specification of node MIG layouts (mig_layout): placement on the board, and each impossible layout."""
import re
from dataclasses import replace

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import node_args
from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles as P


def layout(profile, names, gpu_count=1):
    node = P.build_node(profile, gpu_count=gpu_count, node_id="n", mig_enabled=True, mig_layout=names)
    return [(m.profile_id, m.start) for m in node.gpus[0].mig_instances]


def error(names, profile="dgxa100", mig_enabled=True):
    with pytest.raises(P.ProfileError) as exc:
        P.build_node(profile, gpu_count=2, node_id="n", mig_enabled=mig_enabled, mig_layout=names)
    return str(exc.value)


def test_a100_mixed_layout_is_placed_largest_first_and_listed_by_start():
    assert layout("dgxa100", ["1g.5gb", "2g.10gb", "3g.20gb"]) == [(9, 0), (14, 4), (19, 6)]


def test_a100_seven_1g_instances_take_slices_0_to_6():
    assert layout("dgxa100", ["1g.5gb"] * 7) == [(19, s) for s in range(7)]


def test_a100_4g_and_3g_share_the_gpu_at_0_and_4():
    assert layout("dgxa100", ["3g.20gb", "4g.20gb"]) == [(5, 0), (9, 4)]


def test_small_instances_listed_first_still_leave_room_for_a_3g():
    assert layout("dgxa100", ["1g.5gb"] * 4 + ["3g.20gb"]) == [(19, 0), (19, 1), (19, 2), (19, 3), (9, 4)]


@pytest.mark.parametrize("profile,names,expected", [
    ("dgxh100", ["7g.80gb"], [(0, 0)]),
    ("dgxh100", ["1g.20gb"] * 4, [(15, 0), (15, 2), (15, 4), (15, 6)]),
    ("dgxh200", ["3g.71gb", "2g.35gb", "1g.18gb+me"], [(9, 0), (14, 4), (20, 6)]),
    ("dgxb200", ["4g.90gb", "3g.90gb"], [(5, 0), (9, 4)]),
    ("gh200", ["7g.96gb"], [(0, 0)]),
    ("gh200", ["3g.48gb", "2g.24gb", "1g.12gb", "1g.12gb+me"], [(14, 0), (19, 2), (20, 3), (9, 4)]),
    ("gh200", ["1g.24gb"] * 4, [(15, 0), (15, 2), (15, 4), (15, 6)]),
    ("gb200", ["7g.186gb"], [(0, 0)]),
    ("gb200", ["3g.93gb", "2g.47gb", "1g.23gb", "1g.23gb"], [(14, 0), (19, 2), (19, 3), (9, 4)]),
    ("gb200", ["1g.23gb"] * 7, [(19, s) for s in range(7)]),
])
def test_valid_layouts_of_each_mig_board(profile, names, expected):
    assert layout(profile, names) == expected


def test_profile_names_may_keep_nvidias_mig_prefix():
    assert layout("dgxa100", ["MIG 7g.40gb"]) == [(0, 0)]


def test_a_list_applies_to_every_gpu():
    node = P.build_node("dgxa100", gpu_count=3, node_id="n", mig_enabled=True, mig_layout=["7g.40gb"])
    assert [len(g.mig_instances) for g in node.gpus] == [1, 1, 1]


def test_a_dictionary_applies_to_the_gpus_it_names_only():
    node = P.build_node("dgxa100", gpu_count=3, node_id="n", mig_enabled=True, mig_layout={"1": ["2g.10gb"]})
    assert [[(m.gpu, m.profile_id) for m in g.mig_instances] for g in node.gpus] == [[], [(1, 14)], []]


def test_layout_without_mig_enabled_fails():
    assert error(["1g.5gb"], mig_enabled=False) == "mig_layout requires mig_enabled."


def test_unknown_profile_fails_naming_gpu_and_profile():
    assert error(["1g.10gb", "5g.30gb"]).startswith("mig_layout: GPU 0 cannot have '5g.30gb': NVIDIA A100")


def test_more_instances_of_a_profile_than_the_board_allows_fails():
    assert error(["3g.20gb"] * 3) == (
        "mig_layout: GPU 0 cannot have 3 instances of 3g.20gb: NVIDIA A100-SXM4-40GB allows at most 2.")


def test_more_compute_slices_than_the_gpu_has_fails():
    assert error(["4g.20gb", "2g.10gb", "2g.10gb"]) == (
        "mig_layout: GPU 0 has no room for 2g.10gb: the layout needs more than the 7 compute slices of a GPU.")


def test_more_memory_slices_than_the_gpu_has_fails():
    assert error(["1g.10gb"] * 4 + ["1g.5gb"]) == (
        "mig_layout: GPU 0 has no room for 1g.5gb: the layout needs more than the 8 memory slices of a GPU.")


def test_overlapping_placements_fail_naming_the_profile_left_without_one():
    board = replace(P.A100_SXM4_40GB, mig_profiles=(
        replace(P.A100_SXM4_40GB.mig_profiles[1], placement_starts=0x01),))   # 2g.10gb only at 0
    with pytest.raises(P.ProfileError) as exc:
        P.mig_instances(board, 3, ["2g.10gb", "2g.10gb"])
    assert str(exc.value) == ("mig_layout: GPU 3 has no placement left for 2g.10gb: its starts (memory slice 0) "
                              "overlap the other instances of the layout.")


def test_dictionary_naming_a_missing_gpu_fails():
    assert error({8: ["1g.5gb"]}) == "mig_layout: GPU 8 does not exist (the node has GPUs 0 to 1)."


def test_layout_that_is_not_a_list_or_dictionary_fails():
    assert error("1g.5gb").startswith("mig_layout must be a list of MIG profile names or a dictionary")


def test_layout_on_a_board_without_mig_fails_on_mig_enabled_first():
    assert error(["1g.5gb"], profile="l40s").startswith("mig_enabled is not possible")


def test_node_problem_reports_an_impossible_layout_before_anything_is_written():
    problem = node_args.node_problem({"profile": "dgxa100", "mig_enabled": True, "mig_layout": ["3g.20gb"] * 3})
    assert problem.startswith("mig_layout: GPU 0 cannot have 3 instances of 3g.20gb")


def test_nvml_config_lists_each_gpu_instance_of_the_layout():
    node = P.build_node("dgxa100", gpu_count=1, node_id="n", mig_enabled=True, mig_layout=["4g.20gb", "3g.20gb"])
    text = nvml_config.render(node)
    assert text.endswith("[mig_instance]\ngpu = 0\nprofile_id = 5\nstart = 0\n\n"
                         "[mig_instance]\ngpu = 0\nprofile_id = 9\nstart = 4\n")


@pytest.mark.parametrize("start, size, gi", [
    (0, 8, 0), (0, 4, 1), (4, 4, 2), (0, 2, 3), (6, 2, 6), (0, 1, 7), (6, 1, 13), (7, 1, 14)])
def test_gpu_instance_ids_number_the_placements_as_the_driver_does(start, size, gi):
    assert P.gpu_instance_id(start, size) == gi


def test_mig_devices_are_listed_by_gpu_instance_id_each_with_the_layouts_compute_instance_0():
    gpu = P.build_node("dgxa100", gpu_count=2, node_id="n", mig_enabled=True,
                       mig_layout=["1g.5gb", "2g.10gb", "3g.20gb"]).gpus[1]
    assert [(m.gpu_index, m.index, m.gpu_instance, m.compute_instance, m.profile.name) for m in gpu.mig_devices] == [
        (1, 0, 1, 0, "MIG 3g.20gb"), (1, 1, 5, 0, "MIG 2g.10gb"), (1, 2, 13, 0, "MIG 1g.5gb")]


def test_a_gpu_without_instances_has_no_mig_devices():
    node = P.build_node("dgxa100", gpu_count=2, node_id="n", mig_enabled=True, mig_layout={1: ["7g.40gb"]})
    assert node.gpus[0].mig_devices == ()


def test_mig_device_uuids_are_mig_uuids_of_the_mock_nvmls_form_and_differ_per_instance():
    node = P.build_node("dgxa100", gpu_count=2, node_id="n", mig_enabled=True, mig_layout=["1g.5gb"] * 7)
    uuids = [m.uuid for g in node.gpus for m in g.mig_devices]
    assert all(re.fullmatch(r"MIG-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", u) for u in uuids)
    assert len(set(uuids)) == 14


def test_a_mig_device_uuid_is_the_mock_nvmls_hash_of_the_gpu_uuid_and_the_instance_ids():
    # What the mock NVML (nvml_src/src/mig_device.c, mig_uuid) answers for GPU 0's GPU instance 1
    # of a dgxh100 node "demo"; tests/nvml checks the two agree on every MIG device of a node.
    assert P.mig_device_uuid(P.gpu_uuid("demo", "dgxh100", 0), 1, 0) == "MIG-5ff1ee67-d1dc-3b8f-04f5-7eada2c33a28"


def test_a_layout_on_a_gpu_past_the_drivers_32_capability_slots_fails():
    with pytest.raises(P.ProfileError) as exc:
        P.build_node("dgxa100", gpu_count=40, node_id="n", mig_enabled=True, mig_layout={"32": ["7g.40gb"]})
    assert str(exc.value) == ("mig_layout: GPU 32 cannot have MIG instances: the driver's MIG capabilities cover "
                              "GPU minors 0 to 31 only.")


def test_gpus_past_the_drivers_capability_slots_may_be_in_mig_mode_without_instances():
    node = P.build_node("dgxa100", gpu_count=40, node_id="n", mig_enabled=True, mig_layout={"31": ["7g.40gb"]})
    assert [len(g.mig_devices) for g in node.gpus[30:33]] == [0, 1, 0]


def test_every_board_placement_fits_the_eight_memory_slices():
    for board in {p.board.name: p.board for p in P.PROFILES.values()}.values():
        for mig in board.mig_profiles:
            last = max(s for s in range(8) if mig.placement_starts >> s & 1)
            assert last + mig.placement_size <= P.MIG_MEMORY_SLICES, mig.name


@pytest.mark.parametrize("profile,names,message", [
    ("gh200", ["7g.80gb"], "mig_layout: GPU 0 cannot have '7g.80gb': NVIDIA GH200 480GB has the MIG profiles "
                           "1g.12gb, 2g.24gb, 3g.48gb, 4g.48gb, 7g.96gb, 1g.12gb+me, 1g.24gb."),
    ("gh200", ["1g.12gb+me"] * 2, "mig_layout: GPU 0 cannot have 2 instances of 1g.12gb+me: NVIDIA GH200 480GB "
                                  "allows at most 1."),
    ("gh200", ["4g.48gb", "3g.48gb", "1g.12gb"], "mig_layout: GPU 0 has no room for 1g.12gb: the layout needs "
                                                 "more than the 7 compute slices of a GPU."),
    ("gb200", ["1g.23gb"] * 8, "mig_layout: GPU 0 cannot have 8 GPU instances: a GPU holds at most 7."),
    ("gb200", ["3g.90gb"], "mig_layout: GPU 0 cannot have '3g.90gb': NVIDIA GB200 has the MIG profiles "
                           "1g.23gb, 2g.47gb, 3g.93gb, 4g.93gb, 7g.186gb, 1g.23gb+me, 1g.47gb."),
    ("gb200", ["3g.93gb"] * 3, "mig_layout: GPU 0 cannot have 3 instances of 3g.93gb: NVIDIA GB200 allows at "
                               "most 2."),
    ("gb200", ["1g.47gb"] * 4 + ["1g.23gb"], "mig_layout: GPU 0 has no room for 1g.23gb: the layout needs more "
                                             "than the 8 memory slices of a GPU."),
])
def test_impossible_layouts_of_the_grace_boards_fail_naming_the_gpu_and_the_profile(profile, names, message):
    assert error(names, profile=profile) == message
