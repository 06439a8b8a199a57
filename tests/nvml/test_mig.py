"""MIG through NVML: the node's layout, GPU and compute instances, MIG device handles, and
instances created or destroyed in one process being what every later process sees."""
import ctypes
import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import LIB, build_node

LAYOUT = ["3g.20gb", "2g.10gb", "1g.5gb"]   # on dgxa100: GI ids 1 (0:4), 5 (4:2), 13 (6:1)


@pytest.fixture
def mig_node():
    return build_node("dgxa100", gpu_count=2, mig_enabled=True, mig_layout=LAYOUT)


@pytest.fixture
def mig(pynvml, use_config, mig_node):
    """pynvml initialised on a 2-GPU A100 node in MIG mode with LAYOUT on each GPU."""
    use_config(mig_node)
    pynvml.nvmlInit()
    return pynvml


def gpu(nvml, index=0):
    return nvml.nvmlDeviceGetHandleByIndex(index)


def code(call, *args):
    import pynvml
    with pytest.raises(pynvml.NVMLError) as exc:
        call(*args)
    return exc.value.value


def gpu_instances(nvml, device, profile_id):
    refs = (nvml.c_nvmlGpuInstance_t * 7)()
    count = ctypes.c_uint(0)
    nvml.nvmlDeviceGetGpuInstances(device, profile_id, refs, ctypes.byref(count))
    return list(refs[:count.value])


def compute_instances(nvml, gi, profile):
    refs = (nvml.c_nvmlComputeInstance_t * 8)()
    count = ctypes.c_uint(0)
    nvml.nvmlGpuInstanceGetComputeInstances(gi, profile, refs, ctypes.byref(count))
    return list(refs[:count.value])


def gi_info(nvml, gi):
    info = nvml.nvmlGpuInstanceGetInfo(gi)
    return info.id, info.profileId, info.placement.start, info.placement.size


def mig_devices(nvml, device):
    found = []
    for index in range(nvml.nvmlDeviceGetMaxMigDeviceCount(device)):
        try:
            found.append(nvml.nvmlDeviceGetMigDeviceHandleByIndex(device, index))
        except nvml.NVMLError_NotFound:
            break
    return found


def in_other_process(config, *bodies):
    """Run ``bodies`` (Python using `nvml` and `out`) in a fresh process on the config; its `out`."""
    script = textwrap.dedent("""
        import ctypes, json, sys
        ctypes.CDLL(%r, mode=ctypes.RTLD_GLOBAL)
        import pynvml as nvml
        nvml.nvmlInit()
        out = {}
    """) % str(LIB) + "".join(textwrap.dedent(body) for body in bodies) + "\nprint(json.dumps(out))\n"
    env = dict(os.environ, MOCK_NVML_CONFIG=str(config))
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


LIST_MIG_UUIDS = """
    dev = nvml.nvmlDeviceGetHandleByIndex(0)
    uuids = []
    for i in range(7):
        try:
            uuids.append(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetMigDeviceHandleByIndex(dev, i)))
        except nvml.NVMLError_NotFound:
            break
    out["uuids"] = uuids
"""


# --- the layout -------------------------------------------------------------------------------

def test_migmode_is_current_and_pending(mig):
    assert mig.nvmlDeviceGetMigMode(gpu(mig)) == [1, 1]


def test_layout_gpu_instances_sit_at_their_placements(mig):
    found = sorted(gi_info(mig, gi) for pid in (9, 14, 19) for gi in gpu_instances(mig, gpu(mig), pid))
    assert found == [(1, 9, 0, 4), (5, 14, 4, 2), (13, 19, 6, 1)]


def test_gpu_instance_info_names_its_parent_device(mig):
    gi = gpu_instances(mig, gpu(mig, 1), 9)[0]
    assert mig.nvmlDeviceGetIndex(mig.nvmlGpuInstanceGetInfo(gi).device) == 1


def test_each_layout_gpu_instance_has_one_compute_instance_spanning_it(mig):
    gi = gpu_instances(mig, gpu(mig), 9)[0]                       # 3g: full CI profile 2 (3 slices)
    cis = compute_instances(mig, gi, mig.NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE)
    info = mig.nvmlComputeInstanceGetInfo(cis[0])
    assert (len(cis), info.id, info.profileId, info.placement.start, info.placement.size) == (1, 0, 2, 0, 3)


def test_gpu_instance_by_id_finds_a_layout_instance(mig):
    gi = mig.nvmlDeviceGetGpuInstanceById(gpu(mig), 5)
    assert gi_info(mig, gi) == (5, 14, 4, 2)


def test_gpu_instance_by_id_that_does_not_exist_is_not_found(mig):
    assert code(mig.nvmlDeviceGetGpuInstanceById, gpu(mig), 7) == mig.NVML_ERROR_NOT_FOUND


def test_compute_instance_by_id_that_does_not_exist_is_not_found(mig):
    gi = mig.nvmlDeviceGetGpuInstanceById(gpu(mig), 1)
    assert code(mig.nvmlGpuInstanceGetComputeInstanceById, gi, 1) == mig.NVML_ERROR_NOT_FOUND


def test_gpu_without_mig_mode_has_no_gpu_instances(pynvml, use_config):
    use_config(build_node("dgxa100", gpu_count=1))
    pynvml.nvmlInit()
    assert code(pynvml.nvmlDeviceGetGpuInstanceById, gpu(pynvml), 1) == pynvml.NVML_ERROR_NOT_SUPPORTED


# --- MIG devices ------------------------------------------------------------------------------

def test_mig_devices_are_listed_by_gpu_instance_id(mig):
    names = [mig.nvmlDeviceGetName(m) for m in mig_devices(mig, gpu(mig))]
    assert names == ["NVIDIA A100-SXM4-40GB MIG 3g.20gb", "NVIDIA A100-SXM4-40GB MIG 2g.10gb",
                     "NVIDIA A100-SXM4-40GB MIG 1g.5gb"]


def test_mig_device_index_past_the_last_is_not_found(mig):
    assert code(mig.nvmlDeviceGetMigDeviceHandleByIndex, gpu(mig), 3) == mig.NVML_ERROR_NOT_FOUND


def test_max_mig_device_count_is_seven_on_an_a100_in_mig_mode(mig):
    assert mig.nvmlDeviceGetMaxMigDeviceCount(gpu(mig)) == 7


def test_mig_device_memory_is_its_gpu_instances(mig):
    memory = mig.nvmlDeviceGetMemoryInfo(mig.nvmlDeviceGetMigDeviceHandleByIndex(gpu(mig), 1))
    assert (memory.total, memory.used, memory.free) == (9856 << 20, 0, 9856 << 20)


def test_mig_device_memory_v2_checks_the_version(mig, libnvml):
    class Memory(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint), ("total", ctypes.c_ulonglong), ("reserved", ctypes.c_ulonglong),
                    ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]
    memory = Memory(version=1)
    handle = mig.nvmlDeviceGetMigDeviceHandleByIndex(gpu(mig), 0)
    assert libnvml.nvmlDeviceGetMemoryInfo_v2(handle, ctypes.byref(memory)) == mig.NVML_ERROR_ARGUMENT_VERSION_MISMATCH


def test_mig_device_uuid_has_the_mig_form(mig):
    uuid = mig.nvmlDeviceGetUUID(mig.nvmlDeviceGetMigDeviceHandleByIndex(gpu(mig), 0))
    assert uuid.startswith("MIG-") and [len(p) for p in uuid[4:].split("-")] == [8, 4, 4, 4, 12]


def test_mig_device_uuids_differ_between_gpus(mig):
    first = [mig.nvmlDeviceGetUUID(m) for m in mig_devices(mig, gpu(mig, 0))]
    second = [mig.nvmlDeviceGetUUID(m) for m in mig_devices(mig, gpu(mig, 1))]
    assert len(set(first + second)) == 6


def test_mig_device_uuids_are_the_same_in_another_process(mig, use_config, mig_node):
    ours = [mig.nvmlDeviceGetUUID(m) for m in mig_devices(mig, gpu(mig))]
    assert in_other_process(os.environ["MOCK_NVML_CONFIG"], LIST_MIG_UUIDS)["uuids"] == ours


def test_mig_devices_are_those_the_node_model_lists_for_the_cdi_spec(mig, mig_node):
    """profiles.Gpu.mig_devices (what the CDI spec and the capability nodes are made from) names
    each MIG device as NVML does: index, GPU- and compute-instance ids, and its UUID."""
    for g in mig_node.gpus:
        seen = [(mig.nvmlDeviceGetGpuInstanceId(m), mig.nvmlDeviceGetComputeInstanceId(m), mig.nvmlDeviceGetUUID(m))
                for m in mig_devices(mig, gpu(mig, g.index))]
        assert seen == [(m.gpu_instance, m.compute_instance, m.uuid) for m in g.mig_devices]


def test_handle_by_mig_uuid_is_that_mig_device(mig):
    handle = mig.nvmlDeviceGetMigDeviceHandleByIndex(gpu(mig, 1), 2)
    found = mig.nvmlDeviceGetHandleByUUID(mig.nvmlDeviceGetUUID(handle))
    assert ctypes.cast(found, ctypes.c_void_p).value == ctypes.cast(handle, ctypes.c_void_p).value


def test_handle_by_unknown_mig_uuid_is_not_found(mig):
    assert code(mig.nvmlDeviceGetHandleByUUID, "MIG-00000000-0000-0000-0000-000000000000") == \
        mig.NVML_ERROR_NOT_FOUND


def test_mig_device_handle_is_a_mig_device_handle(mig):
    assert mig.nvmlDeviceIsMigDeviceHandle(mig.nvmlDeviceGetMigDeviceHandleByIndex(gpu(mig), 0)).value == 1


def test_whole_gpu_handle_is_not_a_mig_device_handle(mig):
    assert mig.nvmlDeviceIsMigDeviceHandle(gpu(mig)).value == 0


def test_mig_device_parent_is_its_gpu(mig):
    parent = mig.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig.nvmlDeviceGetMigDeviceHandleByIndex(gpu(mig, 1), 0))
    assert mig.nvmlDeviceGetIndex(parent) == 1


def test_parent_of_a_whole_gpu_is_an_invalid_argument(mig):
    assert code(mig.nvmlDeviceGetDeviceHandleFromMigDeviceHandle, gpu(mig)) == mig.NVML_ERROR_INVALID_ARGUMENT


def test_mig_device_names_its_gpu_and_compute_instance_ids(mig):
    handle = mig.nvmlDeviceGetMigDeviceHandleByIndex(gpu(mig), 2)
    assert (mig.nvmlDeviceGetGpuInstanceId(handle), mig.nvmlDeviceGetComputeInstanceId(handle)) == (13, 0)


def test_whole_gpu_has_no_gpu_instance_id(mig):
    assert code(mig.nvmlDeviceGetGpuInstanceId, gpu(mig)) == mig.NVML_ERROR_INVALID_ARGUMENT


def test_mig_device_minor_number_is_its_gpus(mig):
    assert mig.nvmlDeviceGetMinorNumber(mig.nvmlDeviceGetMigDeviceHandleByIndex(gpu(mig, 1), 0)) == 1


def test_mig_device_attributes_describe_its_instances(mig):
    a = mig.nvmlDeviceGetAttributes(mig.nvmlDeviceGetMigDeviceHandleByIndex(gpu(mig), 0))
    assert (a.multiprocessorCount, a.sharedCopyEngineCount, a.sharedDecoderCount, a.gpuInstanceSliceCount,
            a.computeInstanceSliceCount, a.memorySizeMB) == (42, 3, 2, 3, 3, 19968)


def test_whole_gpu_attributes_are_not_supported(mig):
    assert code(mig.nvmlDeviceGetAttributes, gpu(mig)) == mig.NVML_ERROR_NOT_SUPPORTED


# --- profiles and placements ------------------------------------------------------------------

def test_gpu_instance_placements_are_the_profiles(mig):
    refs = (mig.c_nvmlGpuInstancePlacement_t * 8)()
    count = ctypes.c_uint(8)
    mig.nvmlDeviceGetGpuInstancePossiblePlacements(gpu(mig), 14, refs, ctypes.byref(count))
    assert [(p.start, p.size) for p in refs[:count.value]] == [(0, 2), (2, 2), (4, 2)]


def test_compute_instance_profile_inside_a_3g_has_its_share_of_multiprocessors(mig):
    gi = mig.nvmlDeviceGetGpuInstanceById(gpu(mig), 1)
    info = mig.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, mig.NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE, 0)
    assert (info.id, info.sliceCount, info.instanceCount, info.multiprocessorCount, info.name) == (
        0, 1, 3, 14, b"MIG 1c.3g.20gb" if isinstance(info.name, bytes) else "MIG 1c.3g.20gb")


def test_compute_instance_profile_v1_matches_v2(mig):
    gi = mig.nvmlDeviceGetGpuInstanceById(gpu(mig), 1)
    v1 = mig.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, 1, 0, version=1)
    assert (v1.id, v1.sliceCount, v1.instanceCount, v1.multiprocessorCount) == (1, 2, 1, 28)


def test_three_slice_compute_instance_in_a_2g_is_not_supported(mig):
    gi = mig.nvmlDeviceGetGpuInstanceById(gpu(mig), 5)
    assert code(mig.nvmlGpuInstanceGetComputeInstanceProfileInfo, gi,
                mig.NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE, 0) == mig.NVML_ERROR_NOT_SUPPORTED


def test_three_slice_compute_instances_of_a_7g_start_at_0_and_4(pynvml, use_config):
    use_config(build_node("dgxa100", gpu_count=1, mig_enabled=True, mig_layout=["7g.40gb"]))
    pynvml.nvmlInit()
    gi = pynvml.nvmlDeviceGetGpuInstanceById(gpu(pynvml), 0)
    refs = (pynvml.c_nvmlComputeInstancePlacement_t * 8)()
    count = ctypes.c_uint(8)
    pynvml.nvmlGpuInstanceGetComputeInstancePossiblePlacements(gi, 2, refs, ctypes.byref(count))
    assert [(p.start, p.size) for p in refs[:count.value]] == [(0, 3), (4, 3)]


def test_compute_instance_placements_in_a_3g(mig):
    gi = mig.nvmlDeviceGetGpuInstanceById(gpu(mig), 1)
    refs = (mig.c_nvmlComputeInstancePlacement_t * 8)()
    count = ctypes.c_uint(8)
    mig.nvmlGpuInstanceGetComputeInstancePossiblePlacements(gi, 0, refs, ctypes.byref(count))
    assert [(p.start, p.size) for p in refs[:count.value]] == [(0, 1), (1, 1), (2, 1)]


# --- create and destroy -----------------------------------------------------------------------

def test_remaining_capacity_counts_the_free_placements(mig):
    # Memory slice 7 is the only one free, and no 1g.5gb starts there; no 2g.10gb fits at all.
    assert mig.nvmlDeviceGetGpuInstanceRemainingCapacity(gpu(mig), 19) == 0
    assert mig.nvmlDeviceGetGpuInstanceRemainingCapacity(gpu(mig), 14) == 0


def test_created_gpu_instance_takes_the_first_free_placement(pynvml, use_config):
    use_config(build_node("dgxa100", gpu_count=1, mig_enabled=True, mig_layout=["3g.20gb"]))
    pynvml.nvmlInit()
    gi = pynvml.nvmlDeviceCreateGpuInstance(gpu(pynvml), 14)
    assert gi_info(pynvml, gi) == (5, 14, 4, 2)


def test_created_gpu_instance_has_no_compute_instance_nor_mig_device(pynvml, use_config):
    use_config(build_node("dgxa100", gpu_count=1, mig_enabled=True))
    pynvml.nvmlInit()
    pynvml.nvmlDeviceCreateGpuInstance(gpu(pynvml), 0)
    assert mig_devices(pynvml, gpu(pynvml)) == []


def test_gpu_instance_created_in_one_process_is_enumerated_in_another(pynvml, use_config):
    config = use_config(build_node("dgxa100", gpu_count=1, mig_enabled=True))
    pynvml.nvmlInit()
    gi = pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(gpu(pynvml), 9, ctypes.byref(pynvml.c_nvmlGpuInstancePlacement_t(4, 4)))
    pynvml.nvmlGpuInstanceCreateComputeInstance(gi, pynvml.NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE)
    seen = in_other_process(config, """
        gi = nvml.nvmlDeviceGetGpuInstanceById(nvml.nvmlDeviceGetHandleByIndex(0), 2)
        info = nvml.nvmlGpuInstanceGetInfo(gi)
        out["gi"] = [info.profileId, info.placement.start]
    """, LIST_MIG_UUIDS)
    ours = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetMigDeviceHandleByIndex(gpu(pynvml), 0))
    assert seen == {"gi": [9, 4], "uuids": [ours]}


def test_destroyed_instances_are_gone_for_later_processes(mig):
    gi = mig.nvmlDeviceGetGpuInstanceById(gpu(mig), 13)
    mig.nvmlComputeInstanceDestroy(mig.nvmlGpuInstanceGetComputeInstanceById(gi, 0))
    mig.nvmlGpuInstanceDestroy(gi)
    seen = in_other_process(os.environ["MOCK_NVML_CONFIG"], LIST_MIG_UUIDS)
    assert len(seen["uuids"]) == 2


def test_destroying_a_gpu_instance_with_a_compute_instance_is_in_use(mig):
    gi = mig.nvmlDeviceGetGpuInstanceById(gpu(mig), 1)
    assert code(mig.nvmlGpuInstanceDestroy, gi) == mig.NVML_ERROR_IN_USE


def test_destroyed_gpu_instance_handle_is_an_invalid_argument(mig):
    gi = mig.nvmlDeviceGetGpuInstanceById(gpu(mig), 13)
    mig.nvmlComputeInstanceDestroy(mig.nvmlGpuInstanceGetComputeInstanceById(gi, 0))
    mig.nvmlGpuInstanceDestroy(gi)
    assert code(mig.nvmlGpuInstanceGetInfo, gi) == mig.NVML_ERROR_INVALID_ARGUMENT


def test_destroyed_mig_device_handle_is_an_invalid_argument(mig):
    handle = mig.nvmlDeviceGetMigDeviceHandleByIndex(gpu(mig), 0)
    gi = mig.nvmlDeviceGetGpuInstanceById(gpu(mig), 1)
    mig.nvmlComputeInstanceDestroy(mig.nvmlGpuInstanceGetComputeInstanceById(gi, 0))
    assert code(mig.nvmlDeviceGetName, handle) == mig.NVML_ERROR_INVALID_ARGUMENT


def test_gpu_instance_at_a_taken_placement_is_insufficient_resources(mig):
    assert code(mig.nvmlDeviceCreateGpuInstanceWithPlacement, gpu(mig), 19,
                ctypes.byref(mig.c_nvmlGpuInstancePlacement_t(6, 1))) == mig.NVML_ERROR_INSUFFICIENT_RESOURCES


def test_gpu_instance_at_a_placement_the_profile_lacks_is_an_invalid_argument(mig):
    assert code(mig.nvmlDeviceCreateGpuInstanceWithPlacement, gpu(mig), 9,
                ctypes.byref(mig.c_nvmlGpuInstancePlacement_t(2, 4))) == mig.NVML_ERROR_INVALID_ARGUMENT


def test_gpu_instance_of_an_unknown_profile_id_is_an_invalid_argument(mig):
    assert code(mig.nvmlDeviceCreateGpuInstance, gpu(mig), 3) == mig.NVML_ERROR_INVALID_ARGUMENT


def test_gpu_instance_on_a_gpu_without_mig_mode_is_not_supported(pynvml, use_config):
    use_config(build_node("dgxa100", gpu_count=1))
    pynvml.nvmlInit()
    assert code(pynvml.nvmlDeviceCreateGpuInstance, gpu(pynvml), 19) == pynvml.NVML_ERROR_NOT_SUPPORTED


def test_full_gpu_has_no_room_for_another_gpu_instance(pynvml, use_config):
    use_config(build_node("dgxa100", gpu_count=1, mig_enabled=True, mig_layout=["7g.40gb"]))
    pynvml.nvmlInit()
    assert code(pynvml.nvmlDeviceCreateGpuInstance, gpu(pynvml), 19) == pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES


def test_compute_instances_with_placement_split_a_gpu_instance(pynvml, use_config):
    use_config(build_node("dgxa100", gpu_count=1, mig_enabled=True))
    pynvml.nvmlInit()
    gi = pynvml.nvmlDeviceCreateGpuInstance(gpu(pynvml), 0)
    ci = pynvml.nvmlGpuInstanceCreateComputeInstanceWithPlacement(gi, 2, ctypes.byref(pynvml.c_nvmlComputeInstancePlacement_t(4, 3)))
    pynvml.nvmlGpuInstanceCreateComputeInstance(gi, 3)
    info = pynvml.nvmlComputeInstanceGetInfo(ci)
    names = [pynvml.nvmlDeviceGetName(m) for m in mig_devices(pynvml, gpu(pynvml))]
    assert (info.placement.start, names) == (4, ["NVIDIA A100-SXM4-40GB MIG 3c.7g.40gb",
                                                 "NVIDIA A100-SXM4-40GB MIG 4c.7g.40gb"])


def test_overlapping_compute_instance_is_insufficient_resources(mig):
    gi = mig.nvmlDeviceGetGpuInstanceById(gpu(mig), 1)          # its 3-slice CI fills it
    assert code(mig.nvmlGpuInstanceCreateComputeInstance, gi, 0) == mig.NVML_ERROR_INSUFFICIENT_RESOURCES


def test_compute_instance_remaining_capacity_in_an_empty_7g_is_seven_1c(pynvml, use_config):
    use_config(build_node("dgxa100", gpu_count=1, mig_enabled=True))
    pynvml.nvmlInit()
    gi = pynvml.nvmlDeviceCreateGpuInstance(gpu(pynvml), 0)
    assert pynvml.nvmlGpuInstanceGetComputeInstanceRemainingCapacity(gi, 0) == 7


def test_a_new_layout_in_the_config_replaces_what_nvml_changed(pynvml, use_config, tmp_path):
    use_config(build_node("dgxa100", gpu_count=1, mig_enabled=True, mig_layout=["7g.40gb"]))
    pynvml.nvmlInit()
    gi = pynvml.nvmlDeviceGetGpuInstanceById(gpu(pynvml), 0)
    pynvml.nvmlComputeInstanceDestroy(pynvml.nvmlGpuInstanceGetComputeInstanceById(gi, 0))
    pynvml.nvmlShutdown()
    config = use_config(build_node("dgxa100", gpu_count=1, mig_enabled=True, mig_layout=["1g.5gb"]))
    assert len(in_other_process(config, LIST_MIG_UUIDS)["uuids"]) == 1


# --- setting the MIG mode ---------------------------------------------------------------------

MIG_MODE = """
    out["mode"] = nvml.nvmlDeviceGetMigMode(nvml.nvmlDeviceGetHandleByIndex(0))
"""


@pytest.fixture
def plain(pynvml, use_config):
    """pynvml initialised on a 2-GPU A100 node out of MIG mode (with a state file beside it)."""
    use_config(build_node("dgxa100", gpu_count=2))
    pynvml.nvmlInit()
    return pynvml


def test_enabling_mig_mode_makes_it_current_and_pending_with_a_successful_activation(plain):
    status = plain.nvmlDeviceSetMigMode(gpu(plain), plain.NVML_DEVICE_MIG_ENABLE)
    assert (status, plain.nvmlDeviceGetMigMode(gpu(plain))) == (plain.NVML_SUCCESS, [1, 1])


def test_mig_mode_set_in_one_process_is_what_a_later_process_sees(plain):
    config = os.environ["MOCK_NVML_CONFIG"]
    in_other_process(config, "nvml.nvmlDeviceSetMigMode(nvml.nvmlDeviceGetHandleByIndex(0), 1)\n")
    assert in_other_process(config, MIG_MODE)["mode"] == [1, 1]


def test_mig_mode_set_on_one_gpu_leaves_the_others(plain):
    plain.nvmlDeviceSetMigMode(gpu(plain), plain.NVML_DEVICE_MIG_ENABLE)
    assert plain.nvmlDeviceGetMigMode(gpu(plain, 1)) == [0, 0]


def test_gpu_put_in_mig_mode_takes_gpu_instances_in_a_later_process(plain):
    config = os.environ["MOCK_NVML_CONFIG"]
    plain.nvmlDeviceSetMigMode(gpu(plain), plain.NVML_DEVICE_MIG_ENABLE)
    seen = in_other_process(config, """
        dev = nvml.nvmlDeviceGetHandleByIndex(0)
        gi = nvml.nvmlDeviceCreateGpuInstance(dev, 19)
        nvml.nvmlGpuInstanceCreateComputeInstance(gi, 0)
    """, LIST_MIG_UUIDS)
    assert (len(seen["uuids"]), plain.nvmlDeviceGetMaxMigDeviceCount(gpu(plain))) == (1, 7)


def test_disabling_mig_mode_while_gpu_instances_exist_is_in_use(mig):
    assert code(mig.nvmlDeviceSetMigMode, gpu(mig), mig.NVML_DEVICE_MIG_DISABLE) == mig.NVML_ERROR_IN_USE
    assert (mig.nvmlDeviceGetMigMode(gpu(mig)), len(mig_devices(mig, gpu(mig)))) == ([1, 1], 3)


def test_disabling_mig_mode_after_destroying_the_instances_leaves_no_mig_devices(mig):
    for gi_id in (1, 5, 13):
        gi = mig.nvmlDeviceGetGpuInstanceById(gpu(mig), gi_id)
        mig.nvmlComputeInstanceDestroy(mig.nvmlGpuInstanceGetComputeInstanceById(gi, 0))
        mig.nvmlGpuInstanceDestroy(gi)
    mig.nvmlDeviceSetMigMode(gpu(mig), mig.NVML_DEVICE_MIG_DISABLE)
    seen = in_other_process(os.environ["MOCK_NVML_CONFIG"], MIG_MODE, """
        out["max"] = nvml.nvmlDeviceGetMaxMigDeviceCount(nvml.nvmlDeviceGetHandleByIndex(0))
    """)
    assert seen == {"mode": [0, 0], "max": 0}


def test_gpu_taken_out_of_mig_mode_refuses_gpu_instances(plain):
    plain.nvmlDeviceSetMigMode(gpu(plain), plain.NVML_DEVICE_MIG_ENABLE)
    plain.nvmlDeviceSetMigMode(gpu(plain), plain.NVML_DEVICE_MIG_DISABLE)
    assert code(plain.nvmlDeviceCreateGpuInstance, gpu(plain), 19) == plain.NVML_ERROR_NOT_SUPPORTED


def test_setting_the_mode_the_gpu_has_succeeds(mig):
    assert mig.nvmlDeviceSetMigMode(gpu(mig), mig.NVML_DEVICE_MIG_ENABLE) == mig.NVML_SUCCESS
    assert len(mig_devices(mig, gpu(mig))) == 3


def test_mig_mode_on_a_board_without_mig_is_not_supported(pynvml, use_config):
    use_config(build_node("t4", gpu_count=1))
    pynvml.nvmlInit()
    assert code(pynvml.nvmlDeviceSetMigMode, gpu(pynvml), 1) == pynvml.NVML_ERROR_NOT_SUPPORTED


@pytest.mark.parametrize("mode", [2, 0xffffffff])
def test_mig_mode_other_than_enable_or_disable_is_an_invalid_argument(plain, mode):
    assert code(plain.nvmlDeviceSetMigMode, gpu(plain), mode) == plain.NVML_ERROR_INVALID_ARGUMENT


def test_mig_mode_without_an_activation_status_is_an_invalid_argument(plain, libnvml):
    assert libnvml.nvmlDeviceSetMigMode(gpu(plain), 1, None) == plain.NVML_ERROR_INVALID_ARGUMENT


def test_mig_mode_on_a_mig_device_handle_is_an_invalid_argument(mig):
    handle = mig.nvmlDeviceGetMigDeviceHandleByIndex(gpu(mig), 0)
    assert code(mig.nvmlDeviceSetMigMode, handle, 0) == mig.NVML_ERROR_INVALID_ARGUMENT


def test_mig_mode_without_a_state_file_is_no_permission(pynvml, use_config, monkeypatch, tmp_path):
    use_config(build_node("dgxa100", gpu_count=1))
    monkeypatch.setenv("MOCK_NVML_STATE", str(tmp_path / "missing" / "nvml.state"))
    pynvml.nvmlInit()
    assert code(pynvml.nvmlDeviceSetMigMode, gpu(pynvml), 1) == pynvml.NVML_ERROR_NO_PERMISSION
    assert pynvml.nvmlDeviceGetMigMode(gpu(pynvml)) == [0, 0]


def test_mig_mode_of_a_lost_gpu_is_gpu_is_lost(plain):
    from live import ctl
    handle = gpu(plain)
    ctl("lost", "0")
    assert code(plain.nvmlDeviceSetMigMode, handle, 1) == plain.NVML_ERROR_GPU_IS_LOST


def test_mig_mode_before_init_is_uninitialized(plain, libnvml):
    handle = gpu(plain)
    plain.nvmlShutdown()
    status = ctypes.c_uint(0)
    assert libnvml.nvmlDeviceSetMigMode(handle, 1, ctypes.byref(status)) == plain.NVML_ERROR_UNINITIALIZED


def test_a_config_with_another_mig_mode_replaces_what_nvml_changed(pynvml, use_config):
    use_config(build_node("dgxa100", gpu_count=1, mig_enabled=True))
    pynvml.nvmlInit()
    pynvml.nvmlDeviceCreateGpuInstance(gpu(pynvml), 19)
    pynvml.nvmlShutdown()
    config = use_config(build_node("dgxa100", gpu_count=1))
    assert in_other_process(config, MIG_MODE)["mode"] == [0, 0]


def test_ctl_clear_brings_back_the_configs_mig_mode(plain):
    from live import ctl
    plain.nvmlDeviceSetMigMode(gpu(plain), plain.NVML_DEVICE_MIG_ENABLE)
    ctl("clear", "0")
    assert plain.nvmlDeviceGetMigMode(gpu(plain)) == [0, 0]


# --- bad handles ------------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["nvmlGpuInstanceGetInfo", "nvmlGpuInstanceDestroy"])
def test_garbage_gpu_instance_handle_is_an_invalid_argument(mig, libnvml, call):
    buf = ctypes.create_string_buffer(64)
    fn = getattr(libnvml, call)
    args = (ctypes.c_void_p(ctypes.addressof(buf)),) + ((ctypes.byref(buf),) if call.endswith("Info") else ())
    assert fn(*args) == mig.NVML_ERROR_INVALID_ARGUMENT


def test_garbage_compute_instance_handle_is_an_invalid_argument(mig, libnvml):
    buf = ctypes.create_string_buffer(64)
    assert libnvml.nvmlComputeInstanceGetInfo_v2(ctypes.c_void_p(ctypes.addressof(buf)), ctypes.byref(buf)) == \
        mig.NVML_ERROR_INVALID_ARGUMENT


def test_gpu_instance_calls_before_init_are_uninitialized(mig, libnvml):
    gi = mig.nvmlDeviceGetGpuInstanceById(gpu(mig), 1)
    mig.nvmlShutdown()
    info = ctypes.create_string_buffer(64)
    assert libnvml.nvmlGpuInstanceGetInfo(gi, ctypes.byref(info)) == mig.NVML_ERROR_UNINITIALIZED


# --- the config -------------------------------------------------------------------------------

def test_config_instance_on_a_gpu_without_mig_mode_fails_init(pynvml, use_config):
    text = build_node("dgxa100", gpu_count=1)
    from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config
    use_config(nvml_config.render(text, visibility="all") + "\n[mig_instance]\ngpu = 0\nprofile_id = 19\nstart = 0\n")
    with pytest.raises(pynvml.NVMLError):
        pynvml.nvmlInit()


def test_config_instances_that_overlap_fail_init(pynvml, use_config):
    from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config
    node = build_node("dgxa100", gpu_count=1, mig_enabled=True, mig_layout=["3g.20gb"])
    use_config(nvml_config.render(node, visibility="all") + "\n[mig_instance]\ngpu = 0\nprofile_id = 19\nstart = 2\n")
    with pytest.raises(pynvml.NVMLError):
        pynvml.nvmlInit()


def test_ctl_clear_brings_back_the_configs_layout(mig):
    from live import ctl
    gi = mig.nvmlDeviceGetGpuInstanceById(gpu(mig), 13)
    mig.nvmlComputeInstanceDestroy(mig.nvmlGpuInstanceGetComputeInstanceById(gi, 0))
    ctl("clear", "0")
    assert len(mig_devices(mig, gpu(mig))) == 3


def test_remaining_capacity_of_an_empty_gpu_is_the_profiles_instance_count(pynvml, use_config):
    use_config(build_node("dgxa100", gpu_count=1, mig_enabled=True))
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity(gpu(pynvml), 19) == 7
