"""Every getter pynvml (nvidia-ml-py) offers, on every built-in profile and a 128-GPU node.

A getter may succeed or raise NVMLError; anything else (a crash, a ctypes error, a value pynvml
cannot decode) fails. On dgxh100 each getter must end as it did on a real H100 80GB HBM3
(tests/nvml/reference): the same success or the same error code, values of the same shape, and
the board's own values where they are properties of the board.
"""
import inspect
import json
import re

import pytest

from conftest import REFERENCE, build_node
from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles

# pynvml helpers that are not single-handle getters even though their names look like one, or
# that block (event waits), or that need arguments the sweep cannot invent.
NOT_GETTERS = {"nvmlDeviceGetHandleByIndex", "nvmlDeviceGetHandleByUUID",
               "nvmlDeviceGetHandleBySerial", "nvmlDeviceGetHandleByPciBusId",
               "nvmlDeviceGetCount"}


def single_handle_getters(pynvml):
    names = []
    for name, fn in sorted(vars(pynvml).items()):
        if not name.startswith("nvmlDeviceGet") or name in NOT_GETTERS or not callable(fn):
            continue
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            continue
        required = [p for p in params if p.default is inspect.Parameter.empty
                    and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(required) == 1:
            names.append(name)
    return names


def system_getters(pynvml):
    out = []
    for name, fn in sorted(vars(pynvml).items()):
        if name.startswith("nvmlSystemGet") and callable(fn):
            try:
                params = inspect.signature(fn).parameters.values()
            except (TypeError, ValueError):
                continue
            if all(p.default is not inspect.Parameter.empty for p in params):
                out.append(name)
    return out


def outcome(pynvml, fn, *args):
    try:
        return ("ok", fn(*args))
    except pynvml.NVMLError as err:
        return ("err", err.value)


NODES = {name: dict(profile=name) for name in profiles.PROFILE_NAMES}
NODES["custom-128"] = dict(profile="dgxh100", gpu_count=128)


@pytest.fixture(params=sorted(NODES))
def node(request, use_config, pynvml):
    node = build_node(**NODES[request.param])
    use_config(node)
    pynvml.nvmlInit()
    return node


def test_every_single_handle_getter_succeeds_or_raises_an_nvml_error(node, pynvml):
    getters = single_handle_getters(pynvml)
    assert len(getters) > 120
    handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(len(node.gpus))]
    # Every GPU of a small node; the first, a middle and the last of the 128-GPU one.
    if len(handles) > 8:
        handles = [handles[0], handles[len(handles) // 2], handles[-1]]
    ok = 0
    for h in handles:
        for name in getters:
            ok += outcome(pynvml, getattr(pynvml, name), h)[0] == "ok"
    assert ok >= 100 * len(handles)


def test_every_system_getter_succeeds_or_raises_an_nvml_error(node, pynvml):
    results = {name: outcome(pynvml, getattr(pynvml, name)) for name in system_getters(pynvml)}
    assert results["nvmlSystemGetDriverVersion"] == ("ok", node.driver_version)


def test_128_gpu_node_enumerates_every_gpu_in_order(use_config, pynvml):
    node = build_node("dgxh100", gpu_count=128)
    use_config(node)
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetCount() == 128
    for gpu in node.gpus:
        h = pynvml.nvmlDeviceGetHandleByIndex(gpu.index)
        assert pynvml.nvmlDeviceGetUUID(h) == gpu.uuid
        assert pynvml.nvmlDeviceGetPciInfo(h).busId == gpu.pci_bus_id


# --- dgxh100 against the real H100 -------------------------------------------------------

REFERENCE_DATA = json.loads(REFERENCE.read_text())

# Where the mock knowingly differs from that capture, and why.
DEVIATIONS = {
    # The reference GPU was passed through to a VM with no NVLink fabric; a DGX H100 has 18
    # active NVLinks per GPU.
    "nvmlDeviceGetNvLinkState": "DGX H100 NVLinks are active; the reference VM had none",
    # The capture asked pynvml for a struct version it does not know; pynvml raised
    # FUNCTION_NOT_FOUND itself without calling the library.
    "nvmlDeviceGetGpuInstanceProfileInfoV": "pynvml raised before reaching the library",
    # pynvml.nvmlDeviceGetBBXTimeData_v1 asks for a symbol NVML 580 does not export.
    "nvmlDeviceGetBBXTimeData_v1": "not an NVML 580 export",
}

# Getters whose value is a property of the board: the mock must give the real board's value.
BOARD_VALUES = {
    "nvmlDeviceGetName", "nvmlDeviceGetBrand", "nvmlDeviceGetArchitecture",
    "nvmlDeviceGetCudaComputeCapability", "nvmlDeviceGetNumGpuCores",
    "nvmlDeviceGetMemoryBusWidth", "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetBAR1MemoryInfo",
    "nvmlDeviceGetBoardPartNumber", "nvmlDeviceGetVbiosVersion",
    "nvmlDeviceGetInforomImageVersion", "nvmlDeviceGetPowerManagementLimit",
    "nvmlDeviceGetPowerManagementDefaultLimit", "nvmlDeviceGetEnforcedPowerLimit",
    "nvmlDeviceGetPowerManagementLimitConstraints", "nvmlDeviceGetMaxClockInfo",
    "nvmlDeviceGetApplicationsClock", "nvmlDeviceGetMaxPcieLinkGeneration",
    "nvmlDeviceGetMaxPcieLinkWidth", "nvmlDeviceGetCurrPcieLinkGeneration",
    "nvmlDeviceGetCurrPcieLinkWidth", "nvmlDeviceGetPcieSpeed", "nvmlDeviceGetPcieLinkMaxSpeed",
    "nvmlDeviceGetGpuInstanceProfileInfo", "nvmlDeviceGetEccMode", "nvmlDeviceGetNumFans",
    "nvmlDeviceGetSupportedEventTypes", "nvmlDeviceGetSupportedClocksEventReasons",
    "nvmlDeviceGetAccountingBufferSize", "nvmlDeviceGetConfComputeMemSizeInfo",
    "nvmlDeviceGetMarginTemperature", "nvmlDeviceGetTemperature", "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetRowRemapperHistogram", "nvmlDeviceGetMigMode",
}

SKIP_KEYS = {"latency", "byUUID_same", "byPci_same"}


def reference_calls():
    calls = [("system", k, v) for k, v in REFERENCE_DATA["system"].items()]
    calls += [("device", k, v) for k, v in REFERENCE_DATA["devices"][0].items()
              if k not in SKIP_KEYS]
    return calls


def call_like_the_capture(pynvml, handle, kind, key):
    m = re.fullmatch(r"(\w+)(?:\((.*)\))?", key)
    name, args = m.group(1), m.group(2)
    fn = getattr(pynvml, name)
    args = [int(a) for a in args.split(",")] if args else []
    return outcome(pynvml, fn, *args) if kind == "system" else outcome(pynvml, fn, handle, *args)


def plain(value):
    """A pynvml result as JSON-like data, the way the capture recorded it."""
    if isinstance(value, (bytes, str, int, float)) or value is None:
        return value.decode() if isinstance(value, bytes) else value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "_fields_"):
        return {f[0]: plain(getattr(value, f[0])) for f in value._fields_}
    try:
        return [plain(v) for v in value]
    except TypeError:
        return str(value)


def shape(value):
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return ["list"]
    return type(value).__name__


@pytest.fixture
def h100(use_config, pynvml):
    use_config(build_node("dgxh100"))
    pynvml.nvmlInit()
    return pynvml.nvmlDeviceGetHandleByIndex(0)


def compared_calls():
    return [pytest.param(kind, key, real, id=key) for kind, key, real in reference_calls()
            if key.split("(")[0] not in DEVIATIONS]


def without_versions(value):
    """Struct version fields are what the caller passed in, not an answer."""
    if isinstance(value, dict):
        return {k: without_versions(v) for k, v in value.items() if k != "version"}
    return value


@pytest.mark.parametrize("kind,key,real", compared_calls())
def test_dgxh100_getter_ends_as_on_a_real_h100(pynvml, h100, kind, key, real):
    name = key.split("(")[0]
    status, value = call_like_the_capture(pynvml, h100, kind, key)
    if "err" in real:
        assert (status, value) == ("err", real["code"])
        return
    assert status == "ok", "real H100 succeeded, mock raised %s" % value
    mock = without_versions(plain(value))
    want = without_versions(real["ok"])
    if isinstance(want, dict) and isinstance(mock, dict):
        assert set(want) <= set(mock)
        mock = {k: mock[k] for k in want}
    assert shape(mock) == shape(want)
    if name in BOARD_VALUES:
        assert mock == want


def test_dgxh100_nvlinks_are_all_active(pynvml, h100):
    for link in range(18):
        assert pynvml.nvmlDeviceGetNvLinkState(h100, link) == pynvml.NVML_FEATURE_ENABLED


def test_dgxh100_gpu_instance_profiles_v2_carry_their_names(pynvml, h100):
    info = pynvml.nvmlDeviceGetGpuInstanceProfileInfo(h100, 0)
    assert (info.id, info.name) == (19, "MIG 1g.10gb")
