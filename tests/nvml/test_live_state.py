"""nvidia-mock-ctl against the library: faults and live values reach running processes.

Each test renders its own node into tmp_path (use_config), so its state file is
tmp_path/nvml.state and no two tests share one.
"""
import hashlib
import os
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import LIB, build_node
from live import CTL, ctl


@pytest.fixture
def node_config(use_config):
    return use_config(build_node(gpu_count=4))


def handle(pynvml, index):
    return pynvml.nvmlDeviceGetHandleByIndex(index)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_set_values_reach_a_running_process_without_restart(pynvml, node_config):
    pynvml.nvmlInit()
    gpu = handle(pynvml, 1)
    idle = pynvml.nvmlDeviceGetTemperature(gpu, pynvml.NVML_TEMPERATURE_GPU)
    ctl("set", 1, "temperature.gpu=77", "utilization.gpu=93", "utilization.memory=41",
        "power.draw=312.5", "clocks.sm=1305", "clocks.mem=1100", "memory.used=2048")
    assert idle != 77
    assert pynvml.nvmlDeviceGetTemperature(gpu, pynvml.NVML_TEMPERATURE_GPU) == 77
    rates = pynvml.nvmlDeviceGetUtilizationRates(gpu)
    assert (rates.gpu, rates.memory) == (93, 41)
    assert pynvml.nvmlDeviceGetPowerUsage(gpu) == 312500
    assert pynvml.nvmlDeviceGetClockInfo(gpu, pynvml.NVML_CLOCK_SM) == 1305
    assert pynvml.nvmlDeviceGetClockInfo(gpu, pynvml.NVML_CLOCK_MEM) == 1100
    assert pynvml.nvmlDeviceGetMemoryInfo(gpu, version=pynvml.nvmlMemory_v2).used == 2048 << 20


def test_set_values_touch_only_the_gpu_named(pynvml, node_config):
    pynvml.nvmlInit()
    before = pynvml.nvmlDeviceGetTemperature(handle(pynvml, 0), pynvml.NVML_TEMPERATURE_GPU)
    ctl("set", 1, "temperature.gpu=77")
    assert pynvml.nvmlDeviceGetTemperature(handle(pynvml, 0), pynvml.NVML_TEMPERATURE_GPU) == before


def test_ecc_counters_are_set_per_kind(pynvml, node_config):
    pynvml.nvmlInit()
    gpu = handle(pynvml, 0)
    ctl("set", 0, "ecc.errors.corrected.volatile.total=5",
        "ecc.errors.uncorrected.aggregate.total=2")
    total = pynvml.nvmlDeviceGetTotalEccErrors
    assert total(gpu, pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED, pynvml.NVML_VOLATILE_ECC) == 5
    assert total(gpu, pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_AGGREGATE_ECC) == 2
    assert total(gpu, pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_VOLATILE_ECC) == 0


def test_gpu_can_be_named_by_uuid(pynvml, node_config):
    pynvml.nvmlInit()
    gpu = handle(pynvml, 2)
    ctl("set", pynvml.nvmlDeviceGetUUID(gpu).upper(), "utilization.gpu=55")
    assert pynvml.nvmlDeviceGetUtilizationRates(gpu).gpu == 55


def test_processes_are_listed_with_pid_name_and_memory(pynvml, node_config):
    pynvml.nvmlInit()
    gpu = handle(pynvml, 0)
    ctl("set", 0, "processes=4242:trainer:1024,4343:evaluator:512")
    procs = pynvml.nvmlDeviceGetComputeRunningProcesses(gpu)
    assert [(p.pid, p.usedGpuMemory) for p in procs] == [(4242, 1024 << 20), (4343, 512 << 20)]
    assert pynvml.nvmlSystemGetProcessName(4343) == "evaluator"
    # memory.used follows the processes unless it is given.
    assert pynvml.nvmlDeviceGetMemoryInfo(gpu, version=pynvml.nvmlMemory_v2).used == 1536 << 20


def test_empty_processes_value_removes_the_processes(pynvml, node_config):
    pynvml.nvmlInit()
    ctl("set", 0, "processes=4242:trainer:1024")
    ctl("set", 0, "processes=")
    assert pynvml.nvmlDeviceGetComputeRunningProcesses(handle(pynvml, 0)) == []


def test_lost_gpu_returns_gpu_is_lost(pynvml, node_config):
    pynvml.nvmlInit()
    gpu = handle(pynvml, 3)
    ctl("lost", 3)
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        pynvml.nvmlDeviceGetTemperature(gpu, pynvml.NVML_TEMPERATURE_GPU)
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        pynvml.nvmlDeviceGetUUID(gpu)
    # Another GPU still answers.
    assert pynvml.nvmlDeviceGetUUID(handle(pynvml, 2))


def test_lost_gpu_gives_no_handle_by_index(pynvml, node_config):
    pynvml.nvmlInit()
    ctl("lost", 3)
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        handle(pynvml, 3)


def test_clear_restores_a_lost_gpu_and_its_profile_values(pynvml, node_config):
    pynvml.nvmlInit()
    gpu = handle(pynvml, 3)
    idle = pynvml.nvmlDeviceGetTemperature(gpu, pynvml.NVML_TEMPERATURE_GPU)
    ctl("set", 3, "temperature.gpu=80")
    ctl("lost", 3)
    ctl("clear", 3)
    assert pynvml.nvmlDeviceGetTemperature(gpu, pynvml.NVML_TEMPERATURE_GPU) == idle


def test_clear_without_gpu_clears_every_gpu(pynvml, node_config):
    pynvml.nvmlInit()
    ctl("lost", 0)
    ctl("set", 1, "utilization.gpu=9")
    ctl("clear")
    assert pynvml.nvmlDeviceGetUUID(handle(pynvml, 0))
    assert pynvml.nvmlDeviceGetUtilizationRates(handle(pynvml, 1)).gpu == 0


def test_xid_is_delivered_to_an_event_set_of_the_same_process(pynvml, node_config):
    pynvml.nvmlInit()
    gpu = handle(pynvml, 0)
    events = pynvml.nvmlEventSetCreate()
    pynvml.nvmlDeviceRegisterEvents(gpu, pynvml.nvmlEventTypeXidCriticalError, events)
    ctl("xid", 0, 48)
    data = pynvml.nvmlEventSetWait_v2(events, 5000)
    assert (data.eventType, data.eventData) == (pynvml.nvmlEventTypeXidCriticalError, 48)
    assert pynvml.nvmlDeviceGetIndex(data.device) == 0
    pynvml.nvmlEventSetFree(events)


def test_xid_for_another_gpu_is_not_delivered(pynvml, node_config):
    pynvml.nvmlInit()
    events = pynvml.nvmlEventSetCreate()
    pynvml.nvmlDeviceRegisterEvents(handle(pynvml, 0), pynvml.nvmlEventTypeXidCriticalError, events)
    ctl("xid", 1, 79)
    with pytest.raises(pynvml.NVMLError_Timeout):
        pynvml.nvmlEventSetWait_v2(events, 200)
    pynvml.nvmlEventSetFree(events)


WAITER = textwrap.dedent("""
    import ctypes, sys
    ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)
    import pynvml
    pynvml.nvmlInit()
    gpu = pynvml.nvmlDeviceGetHandleByIndex(int(sys.argv[2]))
    events = pynvml.nvmlEventSetCreate()
    pynvml.nvmlDeviceRegisterEvents(gpu, pynvml.nvmlEventTypeXidCriticalError, events)
    print("ready", flush=True)
    data = pynvml.nvmlEventSetWait_v2(events, 20000)
    print(pynvml.nvmlDeviceGetIndex(data.device), data.eventType, data.eventData, flush=True)
""")


def test_xid_is_delivered_to_an_event_set_in_another_process(node_config):
    waiter = subprocess.Popen([sys.executable, "-c", WAITER, str(LIB), "2"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert waiter.stdout.readline().strip() == "ready"
        ctl("xid", 2, 79)
        out, err = waiter.communicate(timeout=30)
    finally:
        waiter.kill()
    assert waiter.returncode == 0, err
    import pynvml
    assert out.split() == ["2", str(pynvml.nvmlEventTypeXidCriticalError), "79"]


def test_timed_script_applies_values_in_order(pynvml, node_config, tmp_path):
    script = tmp_path / "load.play"
    script.write_text("# warm up, then load\n"
                      "+0 0 utilization.gpu=10\n"
                      "+0.4 set 0 utilization.gpu=20 temperature.gpu=50\n"
                      "\n"
                      "+0.8 0 utilization.gpu=30\n")
    pynvml.nvmlInit()
    gpu = handle(pynvml, 0)
    start = time.monotonic()
    player = subprocess.Popen([str(CTL), "play", str(script)], stderr=subprocess.PIPE, text=True)
    seen = []
    while player.poll() is None or not seen or seen[-1] != 30:
        value = pynvml.nvmlDeviceGetUtilizationRates(gpu).gpu
        if not seen or seen[-1] != value:
            seen.append(value)
        time.sleep(0.01)
        assert time.monotonic() - start < 20
    assert player.wait() == 0, player.stderr.read()
    assert [v for v in seen if v] == [10, 20, 30]
    assert time.monotonic() - start >= 0.8
    assert pynvml.nvmlDeviceGetTemperature(gpu, pynvml.NVML_TEMPERATURE_GPU) == 50


def test_two_nodes_never_share_live_state(pynvml, tmp_path, monkeypatch):
    a = tmp_path / "a"
    b = tmp_path / "b"
    for directory in (a, b):
        directory.mkdir()
        from conftest import write_config
        write_config(directory, build_node(gpu_count=2))
    env_a = dict(os.environ, MOCK_NVML_CONFIG=str(a / "nvml.conf"))
    ctl("set", 0, "utilization.gpu=66", env=env_a)
    monkeypatch.setenv("MOCK_NVML_CONFIG", str(b / "nvml.conf"))
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetUtilizationRates(handle(pynvml, 0)).gpu == 0
    assert (a / "nvml.state").exists()


def test_mock_nvml_state_names_the_state_file(pynvml, node_config, tmp_path, monkeypatch):
    state = tmp_path / "elsewhere.state"
    monkeypatch.setenv("MOCK_NVML_STATE", str(state))
    ctl("set", 0, "utilization.gpu=12")
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetUtilizationRates(handle(pynvml, 0)).gpu == 12
    assert state.exists() and not (tmp_path / "nvml.state").exists()


def test_ctl_installed_in_a_driver_root_uses_that_roots_config(tmp_path, monkeypatch):
    root = tmp_path / "driver"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "etc" / "nvidia-mock").mkdir(parents=True)
    from conftest import write_config
    write_config(root / "etc" / "nvidia-mock", build_node(gpu_count=2))
    installed = root / "usr" / "bin" / "nvidia-mock-ctl"
    installed.write_bytes(CTL.read_bytes())
    installed.chmod(0o755)
    monkeypatch.delenv("MOCK_NVML_CONFIG", raising=False)
    res = subprocess.run([str(installed), "lost", "1"], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert (root / "etc" / "nvidia-mock" / "nvml.state").exists()


def test_root_option_names_the_driver_root(tmp_path, monkeypatch):
    root = tmp_path / "driver"
    (root / "etc" / "nvidia-mock").mkdir(parents=True)
    from conftest import write_config
    write_config(root / "etc" / "nvidia-mock", build_node(gpu_count=2))
    monkeypatch.setenv("MOCK_NVML_CONFIG", str(tmp_path / "missing.conf"))
    ctl("--root", root, "set", 1, "temperature.gpu=60")
    assert "temperature.gpu=60" in ctl("--root", root, "show").stdout


@pytest.fixture
def state(node_config, tmp_path):
    """A state file with a value in it, to show that a refused command changes nothing."""
    ctl("set", 0, "temperature.gpu=50")
    return tmp_path / "nvml.state"


@pytest.mark.parametrize("args, named", [
    (["set", "0", "fan.speed=10"], "fan.speed=10"),
    (["set", "0", "utilization.gpu=101"], "utilization.gpu=101"),
    (["set", "0", "temperature.gpu=-3"], "temperature.gpu=-3"),
    (["set", "0", "power.draw=1.0005"], "power.draw=1.0005"),
    (["set", "0", "temperature.gpu=60", "memory.used=99999999"], "memory.used=99999999"),
    (["set", "0", "processes=12:a b:1"], "processes=12:a b:1"),
    (["set", "0", "processes=0:init:1"], "processes=0:init:1"),
    (["set", "9", "utilization.gpu=1"], "9"),
    (["set", "GPU-00000000-0000-0000-0000-000000000000", "utilization.gpu=1"],
     "GPU-00000000-0000-0000-0000-000000000000"),
    (["xid", "0", "0"], "0"),
    (["xid", "0", "many"], "many"),
    (["lost"], "lost"),
    (["reboot", "0"], "reboot"),
    (["--bogus", "show"], "--bogus"),
])
def test_bad_input_gives_one_line_naming_it_and_changes_nothing(state, args, named):
    before = digest(state)
    res = ctl(*args, check=False)
    assert res.returncode != 0
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nvidia-mock-ctl: "), res.stderr
    assert named in lines[0]
    assert digest(state) == before


def test_bad_script_line_names_file_and_line_and_changes_nothing(state, tmp_path):
    script = tmp_path / "bad.play"
    script.write_text("+0 0 utilization.gpu=10\n+1 0 utilization.gpu=500\n")
    before = digest(state)
    res = ctl("play", script, check=False)
    assert res.returncode != 0
    assert res.stderr.strip().startswith("nvidia-mock-ctl: %s:2: utilization.gpu=500:" % script)
    assert digest(state) == before


def test_script_going_back_in_time_is_refused(state, tmp_path):
    script = tmp_path / "back.play"
    script.write_text("+2 0 utilization.gpu=10\n+1 0 utilization.gpu=20\n")
    res = ctl("play", script, check=False)
    assert res.returncode != 0 and "%s:2: +1: earlier" % script in res.stderr


def test_missing_config_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("MOCK_NVML_CONFIG", str(tmp_path / "nope.conf"))
    res = ctl("set", 0, "utilization.gpu=1", check=False)
    assert res.returncode != 0
    assert res.stderr.strip() == ("nvidia-mock-ctl: %s: cannot read the NVML config: "
                                  "No such file or directory" % (tmp_path / "nope.conf"))


def test_state_in_a_missing_directory_is_named(node_config, tmp_path, monkeypatch):
    state = tmp_path / "no-such-dir" / "nvml.state"
    monkeypatch.setenv("MOCK_NVML_STATE", str(state))
    res = ctl("lost", 0, check=False)
    assert res.returncode != 0
    assert res.stderr.strip() == ("nvidia-mock-ctl: %s: cannot open the live state: "
                                  "No such file or directory" % state)


def test_foreign_state_file_is_refused_and_kept(pynvml, node_config, tmp_path):
    state = tmp_path / "nvml.state"
    state.write_text("not ours\n")
    res = ctl("lost", 0, check=False)
    assert res.returncode != 0 and "not a live state file" in res.stderr
    assert state.read_text() == "not ours\n"
    # The library ignores it: every GPU answers with its profile's values.
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetUUID(handle(pynvml, 0))


def test_keys_lists_every_settable_key_with_this_nodes_range(node_config):
    out = ctl("keys").stdout
    assert "utilization.gpu" in out and "0..100" in out
    assert "power.draw" in out and "processes" in out
