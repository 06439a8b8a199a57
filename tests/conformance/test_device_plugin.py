"""NVIDIA's device plugin (k8s-device-plugin v0.19.0, cmd/nvidia-device-plugin), unmodified,
against mock nodes, driven by the suite's test kubelet over the device-plugin gRPC API:
registration, GetDevicePluginOptions, ListAndWatch, GetPreferredAllocation and Allocate.

How the plugin is run (a private mount namespace standing in for the node's /var/lib/kubelet,
/run/cdi, /proc/driver and PCI sysfs): deviceplugin.py. The plugin finds the mock NVML as it finds
a driver container's: --driver-root and --driver-root-ctr-path at the node's root R.
"""
import collections
import json
import sys

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles

from deviceplugin import CDI_VENDOR, IGNORED_XIDS, RESOURCE_GPU, health, mock_ctl
from mocknodes import MIG_NODE, run

PROFILES = profiles.PROFILE_NAMES
NODE = "dgxh100"


def uuids(node):
    return [gpu.uuid for gpu in node.node.gpus]


def ids(devices):
    return sorted(d["id"] for d in devices)


# Registration and ListAndWatch on every built-in profile

@pytest.mark.parametrize("profile", PROFILES)
def test_plugin_registers_nvidia_gpu_with_the_kubelet(profile, mock_nodes, shared_device_plugin):
    plugin = shared_device_plugin(mock_nodes[profile])
    plugin.devices()
    assert [(r["resource"], r["version"], r["endpoint"]) for r in plugin.registered()] == \
        [(RESOURCE_GPU, "v1beta1", "nvidia-gpu.sock")]


@pytest.mark.parametrize("profile", PROFILES)
def test_listandwatch_lists_every_gpu_uuid_of_the_node_healthy(profile, mock_nodes, shared_device_plugin):
    node = mock_nodes[profile]
    devices = shared_device_plugin(node).devices()
    assert sorted((d["id"], d["health"]) for d in devices) == sorted((u, "Healthy") for u in uuids(node))


def test_listandwatch_gives_each_gpu_the_numa_node_sysfs_shows_for_its_bus_id(mock_nodes, shared_device_plugin):
    """The plugin looks NVML's PCI bus id up in /sys/bus/pci/devices (here the node's, see
    deviceplugin.prepare): it finds each GPU, so NVML's bus id is the one the node declares."""
    node = mock_nodes[NODE]
    devices = shared_device_plugin(node).devices()
    assert {d["id"]: d["topology"] for d in devices} == {g.uuid: [g.numa_node] for g in node.node.gpus}


def test_plugin_offers_get_preferred_allocation(mock_nodes, shared_device_plugin):
    plugin = shared_device_plugin(mock_nodes[NODE])
    plugin.devices()
    options = [e["options"] for e in plugin.events if e["event"] == "options"]
    assert options == [{"get_preferred_allocation_available": True, "pre_start_required": False}]


# Allocate under each device-list strategy

def allocate_under(strategy, mock_nodes, shared_device_plugin, indices):
    """(the UUIDs of the node's GPUs at indices, the plugin's Allocate answer for them)."""
    node = mock_nodes[NODE]
    plugin = shared_device_plugin(node, device_list_strategy=strategy)
    plugin.devices()
    chosen = [uuids(node)[i] for i in indices]
    return chosen, plugin.allocate(RESOURCE_GPU, chosen)


def test_allocate_under_envvar_sets_nvidia_visible_devices_to_that_uuid(mock_nodes, shared_device_plugin):
    (chosen,), response = allocate_under("envvar", mock_nodes, shared_device_plugin, [3])
    assert (response["envs"].get("NVIDIA_VISIBLE_DEVICES"), response["annotations"], response["cdi_devices"]) == \
        (chosen, {}, [])


def test_allocate_under_envvar_lists_every_allocated_uuid(mock_nodes, shared_device_plugin):
    chosen, response = allocate_under("envvar", mock_nodes, shared_device_plugin, [1, 2])
    assert response["envs"]["NVIDIA_VISIBLE_DEVICES"].split(",") == chosen


def test_allocate_under_cdi_annotations_names_that_device_in_a_cdi_annotation(mock_nodes, shared_device_plugin):
    (chosen,), response = allocate_under("cdi-annotations", mock_nodes, shared_device_plugin, [5])
    annotations = response["annotations"]
    assert [k.startswith("cdi.k8s.io/") for k in annotations] == [True]
    assert (list(annotations.values()), response["cdi_devices"], "NVIDIA_VISIBLE_DEVICES" in response["envs"]) == \
        (["%s/gpu=%s" % (CDI_VENDOR, chosen)], [], False)


def test_allocate_under_cdi_cri_names_that_device_in_cdi_devices(mock_nodes, shared_device_plugin):
    (chosen,), response = allocate_under("cdi-cri", mock_nodes, shared_device_plugin, [7])
    assert (response["cdi_devices"], response["annotations"], "NVIDIA_VISIBLE_DEVICES" in response["envs"]) == \
        (["%s/gpu=%s" % (CDI_VENDOR, chosen)], {}, False)


def test_cdi_device_the_plugin_names_is_that_gpus_device_node_in_its_spec(mock_nodes, shared_device_plugin):
    """Under a CDI strategy the plugin writes a spec (to /run/cdi, here the test's directory) with
    one device per GPU; the device it hands out is the GPU's /dev/nvidia<minor> of the node."""
    node = mock_nodes[NODE]
    plugin = shared_device_plugin(node, device_list_strategy="cdi-cri")
    plugin.devices()
    gpu = node.node.gpus[7]
    name = plugin.allocate(RESOURCE_GPU, [gpu.uuid])["cdi_devices"][0]
    spec = json.loads((plugin.workdir / "cdi" / ("%s-gpu.json" % CDI_VENDOR)).read_text())
    devices = {"%s=%s" % (spec["kind"], d["name"]): d for d in spec["devices"]}
    nodes = [(n["path"], n["hostPath"]) for n in devices[name]["containerEdits"]["deviceNodes"]]
    assert nodes == [("/dev/nvidia%d" % gpu.minor, "%s/dev/nvidia%d" % (node.root, gpu.minor))]


def test_allocate_of_an_unknown_device_is_refused(mock_nodes, shared_device_plugin):
    plugin = shared_device_plugin(mock_nodes[NODE])
    plugin.devices()
    answer = plugin.command("allocate %s GPU-00000000-0000-0000-0000-000000000000" % RESOURCE_GPU)
    assert answer["event"] == "error" and "unknown device" in answer["error"]


# GetPreferredAllocation

def test_preferred_allocation_has_the_size_asked_from_the_available_devices(mock_nodes, shared_device_plugin):
    node = mock_nodes[NODE]
    plugin = shared_device_plugin(node)
    plugin.devices()
    available = uuids(node)[:6]
    chosen = plugin.preferred(RESOURCE_GPU, 2, available)
    assert len(chosen) == 2 and set(chosen) <= set(available)


def test_preferred_allocation_includes_the_devices_that_must_be_included(mock_nodes, shared_device_plugin):
    node = mock_nodes[NODE]
    plugin = shared_device_plugin(node)
    plugin.devices()
    available = uuids(node)
    must = [available[6]]
    chosen = plugin.preferred(RESOURCE_GPU, 3, available, must)
    assert len(chosen) == 3 and must[0] in chosen and set(chosen) <= set(available)


# Health: XIDs posted with nvidia-mock-ctl while the plugin runs, on a node of their own (4 GPUs)

ARM_TRIES = 30


def armed(node, device_plugin):
    """A fresh plugin whose health check is known to be listening: its event set exists only some
    time after registration, and an XID posted before that reaches nobody. The last GPU takes
    XID 79 until the plugin marks it unhealthy; the tests use the other GPUs."""
    plugin = device_plugin(node)
    plugin.devices()
    marker = node.node.gpus[-1].uuid
    for _attempt in range(ARM_TRIES):
        start = len(plugin.events)
        mock_ctl(node, "xid", len(node.node.gpus) - 1, 79)
        update = plugin.poll(lambda e: e["event"] == "devices" and health(e["devices"])[marker] == "Unhealthy",
                             "GPU %s unhealthy after XID 79" % marker, timeout=1, start=start)
        if update is not None:
            return plugin, plugin.events.index(update) + 1
    pytest.fail("the device plugin never marked GPU %s unhealthy after XID 79 (%d tries, 1 s apart)"
                % (marker, ARM_TRIES), pytrace=False)


def test_xid_79_makes_that_gpu_unhealthy_and_leaves_the_others_healthy(fault_node, device_plugin):
    node = fault_node
    plugin, start = armed(node, device_plugin)
    mock_ctl(node, "xid", 0, 79)
    update = health(plugin.wait(lambda e: e["event"] == "devices" and health(e["devices"])[uuids(node)[0]] ==
                                "Unhealthy", "GPU 0 unhealthy after XID 79", start=start)["devices"])
    assert {u: update[u] for u in uuids(node)[:-1]} == \
        dict([(uuids(node)[0], "Unhealthy")] + [(u, "Healthy") for u in uuids(node)[1:-1]])


@pytest.mark.parametrize("xid", IGNORED_XIDS)
def test_xid_on_the_plugins_ignore_list_leaves_the_gpu_healthy(xid, fault_node, device_plugin):
    """XID 79 on GPU 1 right after the ignored one on GPU 0 marks the end: the plugin reads a set's
    events in order, so when GPU 1 turns unhealthy it has already judged the XID on GPU 0."""
    node = fault_node
    plugin, start = armed(node, device_plugin)
    mock_ctl(node, "xid", 0, xid)
    mock_ctl(node, "xid", 1, 79)
    gpu0, gpu1 = uuids(node)[:2]
    plugin.wait(lambda e: e["event"] == "devices" and health(e["devices"])[gpu1] == "Unhealthy",
                "GPU 1 unhealthy after XID 79", start=start)
    assert [health(devices)[gpu0] for devices in plugin.updates()] == ["Healthy"] * len(plugin.updates())


# MIG

MIG_DEVICES = r'''
import json
import pynvml as nvml
nvml.nvmlInit()
found = []
for i in range(nvml.nvmlDeviceGetCount()):
    gpu = nvml.nvmlDeviceGetHandleByIndex(i)
    for j in range(nvml.nvmlDeviceGetMaxMigDeviceCount(gpu)):
        try:
            mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(gpu, j)
        except nvml.NVMLError_NotFound:
            continue
        found.append([nvml.nvmlDeviceGetUUID(mig), nvml.nvmlDeviceGetName(mig)])
print(json.dumps(found))
'''


def mig_devices(node):
    """MIG UUID -> profile name ('3g.40gb') of every MIG device NVML shows on the node."""
    found = json.loads(run([sys.executable, "-c", MIG_DEVICES], env=node.env()).stdout)
    return {uuid: name.rsplit("MIG ", 1)[1] for uuid, name in found}


def layout_counts(node):
    """profile name -> how many GPU instances of it the node's layout has."""
    names = {p.profile_id: profiles.mig_profile_name(p) for p in node.node.board.mig_profiles}
    return collections.Counter(names[m.profile_id] for g in node.node.gpus for m in g.mig_instances)


def test_mig_strategy_none_advertises_the_full_gpus_of_a_mig_node(mig_layout_nodes, shared_device_plugin):
    node = mig_layout_nodes["dgxh100-mig-mixed"]
    plugin = shared_device_plugin(node, mig_strategy="none")
    assert (ids(plugin.devices()), [r["resource"] for r in plugin.registered()]) == (sorted(uuids(node)), [RESOURCE_GPU])


def test_mig_strategy_none_advertises_the_gpus_of_a_mig_mode_node_without_instances(mock_nodes, shared_device_plugin):
    node = mock_nodes[MIG_NODE]
    assert ids(shared_device_plugin(node, mig_strategy="none").devices()) == sorted(uuids(node))


def test_mig_strategy_single_advertises_the_mig_devices_as_nvidia_gpu(mig_layout_nodes, shared_device_plugin):
    node = mig_layout_nodes["dgxh100-mig-uniform"]
    plugin = shared_device_plugin(node, mig_strategy="single")
    devices = plugin.devices()
    assert (ids(devices), [r["resource"] for r in plugin.registered()]) == (sorted(mig_devices(node)), [RESOURCE_GPU])


def test_mig_strategy_mixed_advertises_one_resource_per_profile_with_the_layouts_count(
        mig_layout_nodes, shared_device_plugin):
    node = mig_layout_nodes["dgxh100-mig-mixed"]
    plugin = shared_device_plugin(node, mig_strategy="mixed")
    expected = {"nvidia.com/mig-%s" % name: count for name, count in layout_counts(node).items()}
    assert {resource: len(plugin.devices(resource)) for resource in expected} == expected
    assert sorted(r["resource"] for r in plugin.registered()) == sorted(expected)


def test_mig_strategy_mixed_advertises_each_mig_device_uuid_under_its_profile(mig_layout_nodes, shared_device_plugin):
    node = mig_layout_nodes["dgxh100-mig-mixed"]
    plugin = shared_device_plugin(node, mig_strategy="mixed")
    by_profile = collections.defaultdict(list)
    for uuid, name in mig_devices(node).items():
        by_profile["nvidia.com/mig-%s" % name].append(uuid)
    assert {resource: ids(plugin.devices(resource)) for resource in by_profile} == \
        {resource: sorted(found) for resource, found in by_profile.items()}


def test_allocate_of_a_mig_device_under_envvar_sets_its_mig_uuid(mig_layout_nodes, shared_device_plugin):
    node = mig_layout_nodes["dgxh100-mig-mixed"]
    plugin = shared_device_plugin(node, mig_strategy="mixed")
    chosen = ids(plugin.devices("nvidia.com/mig-1g.10gb"))[0]
    response = plugin.allocate("nvidia.com/mig-1g.10gb", [chosen])
    assert response["envs"]["NVIDIA_VISIBLE_DEVICES"] == chosen
