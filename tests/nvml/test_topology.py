"""Topology, NVLink, P2P, processes, events and MIG as NVML clients read them."""
import itertools
import os
import time

import pytest

from conftest import build_node
from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles

LEVELS = {0, 10, 20, 30, 40, 50}


def start(pynvml, use_config, profile, **kw):
    node = build_node(profile, **kw)
    use_config(node)
    pynvml.nvmlInit()
    return node, [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(len(node.gpus))]


@pytest.mark.parametrize("profile", profiles.PROFILE_NAMES)
def test_common_ancestor_succeeds_for_every_pair(pynvml, use_config, profile):
    handles = start(pynvml, use_config, profile)[1]
    for a, b in itertools.product(handles, repeat=2):
        level = pynvml.nvmlDeviceGetTopologyCommonAncestor(a, b)
        assert level in LEVELS
        assert level == pynvml.nvmlDeviceGetTopologyCommonAncestor(b, a)
        assert (level == 0) == (a is b or pynvml.nvmlDeviceGetIndex(a) == pynvml.nvmlDeviceGetIndex(b))


def test_gpus_on_one_numa_node_meet_at_node_level_others_at_system(pynvml, use_config):
    node, handles = start(pynvml, use_config, "dgxa100")
    for a, b in itertools.combinations(range(8), 2):
        same = node.gpus[a].numa_node == node.gpus[b].numa_node
        want = pynvml.NVML_TOPOLOGY_NODE if same else pynvml.NVML_TOPOLOGY_SYSTEM
        assert pynvml.nvmlDeviceGetTopologyCommonAncestor(handles[a], handles[b]) == want


def test_nearest_gpus_at_system_level_are_all_the_others(pynvml, use_config):
    handles = start(pynvml, use_config, "dgxh100")[1]
    near = pynvml.nvmlDeviceGetTopologyNearestGpus(handles[0], pynvml.NVML_TOPOLOGY_SYSTEM)
    assert sorted(pynvml.nvmlDeviceGetIndex(h) for h in near) == list(range(1, 8))


def test_nearest_gpus_at_internal_level_is_invalid_argument(pynvml, use_config):
    handles = start(pynvml, use_config, "dgxh100")[1]
    with pytest.raises(pynvml.NVMLError) as err:
        pynvml.nvmlDeviceGetTopologyNearestGpus(handles[0], pynvml.NVML_TOPOLOGY_INTERNAL)
    assert err.value.value == pynvml.NVML_ERROR_INVALID_ARGUMENT


def expected_cpu_mask(numa_node, numa_nodes):
    """The host's online CPUs shared out evenly among the NUMA nodes that hold GPUs."""
    cpus = os.sysconf("SC_NPROCESSORS_ONLN")
    per = cpus // numa_nodes
    first, count = (numa_node * per, per) if per else (0, cpus)
    return sum(1 << c for c in range(first, first + count))


def test_cpu_affinity_shares_the_hosts_cpus_among_numa_nodes(pynvml, use_config):
    node, handles = start(pynvml, use_config, "dgxa100")
    numa_nodes = max(g.numa_node for g in node.gpus) + 1
    for gpu, h in zip(node.gpus, handles):
        words = pynvml.nvmlDeviceGetCpuAffinity(h, 4)
        mask = sum(w << (64 * i) for i, w in enumerate(words))
        assert mask == expected_cpu_mask(gpu.numa_node, numa_nodes)


def test_memory_affinity_is_the_gpus_numa_node(pynvml, use_config):
    node, handles = start(pynvml, use_config, "dgxa100")
    for gpu, h in zip(node.gpus, handles):
        mask = pynvml.nvmlDeviceGetMemoryAffinity(h, 1, pynvml.NVML_AFFINITY_SCOPE_NODE)
        assert mask[0] == 1 << gpu.numa_node


def test_nvlink_p2p_is_ok_between_dgx_gpus(pynvml, use_config):
    handles = start(pynvml, use_config, "dgxh100")[1]
    status = pynvml.nvmlDeviceGetP2PStatus(handles[0], handles[7], pynvml.NVML_P2P_CAPS_INDEX_NVLINK)
    assert status == pynvml.NVML_P2P_STATUS_OK


def test_nvlink_p2p_is_not_supported_on_pcie_boards(pynvml, use_config):
    handles = start(pynvml, use_config, "l40s")[1]
    status = pynvml.nvmlDeviceGetP2PStatus(handles[0], handles[1], pynvml.NVML_P2P_CAPS_INDEX_NVLINK)
    assert status == pynvml.NVML_P2P_STATUS_NOT_SUPPORTED


def test_every_nvlink_of_the_board_is_active(pynvml, use_config):
    node, handles = start(pynvml, use_config, "dgxa100")
    for link in range(node.board.nvlink_count):
        assert pynvml.nvmlDeviceGetNvLinkState(handles[0], link) == pynvml.NVML_FEATURE_ENABLED


def test_links_the_board_lacks_are_not_supported_up_to_the_nvml_maximum(pynvml, use_config):
    node, handles = start(pynvml, use_config, "dgxa100")
    for link, code in ((node.board.nvlink_count, pynvml.NVML_ERROR_NOT_SUPPORTED),
                       (17, pynvml.NVML_ERROR_NOT_SUPPORTED),
                       (18, pynvml.NVML_ERROR_INVALID_ARGUMENT)):
        with pytest.raises(pynvml.NVMLError) as err:
            pynvml.nvmlDeviceGetNvLinkState(handles[0], link)
        assert err.value.value == code


def test_nvlink_remote_ends_are_the_other_gpus(pynvml, use_config):
    node, handles = start(pynvml, use_config, "dgxh100")
    remotes = {pynvml.nvmlDeviceGetNvLinkRemotePciInfo(handles[0], link).busId
               for link in range(node.board.nvlink_count)}
    assert remotes == {g.pci_bus_id for g in node.gpus[1:]}


def _nvlink_peers(pynvml, node, handle):
    """Bus id -> number of this GPU's links that reach that GPU."""
    peers = {}
    for link in range(node.board.nvlink_count):
        try:
            bus_id = pynvml.nvmlDeviceGetNvLinkRemotePciInfo(handle, link).busId
        except pynvml.NVMLError_NotSupported:
            continue
        peers[bus_id] = peers.get(bus_id, 0) + 1
    return peers


NVLINK_NODES = [(p, None) for p in profiles.PROFILE_NAMES if profiles.PROFILES[p].board.nvlink_count] \
    + [("dgxa100", 3), ("dgxh100", 5), ("dgxb200", 2)]


@pytest.mark.parametrize("profile,gpu_count", NVLINK_NODES)
def test_nvlink_link_counts_agree_from_both_ends(pynvml, use_config, profile, gpu_count):
    node, handles = start(pynvml, use_config, profile, gpu_count=gpu_count)
    peers = {gpu.pci_bus_id: _nvlink_peers(pynvml, node, handle)
             for gpu, handle in zip(node.gpus, handles)}
    for a, b in itertools.permutations(peers, 2):
        assert peers[a].get(b, 0) == peers[b].get(a, 0) > 0, (a, b)


def test_boards_without_nvlink_report_not_supported(pynvml, use_config):
    handles = start(pynvml, use_config, "t4")[1]
    with pytest.raises(pynvml.NVMLError) as err:
        pynvml.nvmlDeviceGetNvLinkState(handles[0], 0)
    assert err.value.value == pynvml.NVML_ERROR_NOT_SUPPORTED


@pytest.mark.parametrize("getter", ["nvmlDeviceGetComputeRunningProcesses",
                                    "nvmlDeviceGetGraphicsRunningProcesses",
                                    "nvmlDeviceGetMPSComputeRunningProcesses"])
def test_no_processes_run_on_a_mock_gpu(pynvml, use_config, getter):
    handles = start(pynvml, use_config, "dgxh100")[1]
    assert getattr(pynvml, getter)(handles[0]) == []


def test_event_wait_blocks_for_its_timeout_then_times_out(pynvml, use_config):
    handles = start(pynvml, use_config, "dgxh100")[1]
    events = pynvml.nvmlEventSetCreate()
    pynvml.nvmlDeviceRegisterEvents(handles[0], pynvml.nvmlEventTypeXidCriticalError, events)
    began = time.monotonic()
    with pytest.raises(pynvml.NVMLError) as err:
        pynvml.nvmlEventSetWait(events, 300)
    waited = time.monotonic() - began
    pynvml.nvmlEventSetFree(events)
    assert err.value.value == pynvml.NVML_ERROR_TIMEOUT
    assert waited >= 0.29


def test_registering_an_unsupported_event_type_is_not_supported(pynvml, use_config):
    handles = start(pynvml, use_config, "dgxh100")[1]
    events = pynvml.nvmlEventSetCreate()
    try:
        with pytest.raises(pynvml.NVMLError) as err:
            pynvml.nvmlDeviceRegisterEvents(handles[0], 1 << 40, events)
        assert err.value.value == pynvml.NVML_ERROR_NOT_SUPPORTED
    finally:
        pynvml.nvmlEventSetFree(events)


def test_mig_mode_follows_the_profile(pynvml, use_config):
    node, handles = start(pynvml, use_config, "dgxh100", mig_enabled=True)
    assert node.gpus[0].mig_enabled
    assert pynvml.nvmlDeviceGetMigMode(handles[0]) == [1, 1]
    assert pynvml.nvmlDeviceGetMaxMigDeviceCount(handles[0]) == 7


def test_mig_profiles_are_the_boards(pynvml, use_config):
    node, handles = start(pynvml, use_config, "dgxa100")
    for mp in node.board.mig_profiles:
        info = pynvml.nvmlDeviceGetGpuInstanceProfileInfo(handles[0], mp.index)
        assert (info.id, info.name, info.sliceCount, info.instanceCount, info.memorySizeMB) == (
            mp.profile_id, mp.name, mp.slice_count, mp.instance_count, mp.memory_size_mb)


def test_mig_queries_are_not_supported_on_boards_without_mig(pynvml, use_config):
    handles = start(pynvml, use_config, "l40s")[1]
    with pytest.raises(pynvml.NVMLError) as err:
        pynvml.nvmlDeviceGetMigMode(handles[0])
    assert err.value.value == pynvml.NVML_ERROR_NOT_SUPPORTED
