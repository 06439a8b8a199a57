"""nvmlInit*/nvmlShutdown reference counting and nvmlErrorString, as the real library."""
import ctypes

import pytest

from conftest import build_node

SUCCESS, UNINITIALIZED, INVALID_ARGUMENT = 0, 1, 2


@pytest.fixture
def lib(libnvml, use_config):
    use_config(build_node("dgxh100"))
    yield libnvml
    while libnvml.nvmlShutdown() == SUCCESS:
        pass


def count(lib):
    n = ctypes.c_uint(12345)
    rc = lib.nvmlDeviceGetCount_v2(ctypes.byref(n))
    return rc, n.value


def test_calls_before_init_are_uninitialized(lib):
    assert count(lib)[0] == UNINITIALIZED


@pytest.mark.parametrize("init", ["nvmlInit", "nvmlInit_v2"])
def test_every_init_entry_point_initializes(lib, init):
    assert getattr(lib, init)() == SUCCESS
    assert count(lib) == (SUCCESS, 8)


def test_init_with_flags_initializes(lib):
    assert lib.nvmlInitWithFlags(ctypes.c_uint(1)) == SUCCESS
    assert count(lib) == (SUCCESS, 8)


def test_two_inits_need_two_shutdowns(lib):
    assert lib.nvmlInit_v2() == SUCCESS
    assert lib.nvmlInit_v2() == SUCCESS
    assert lib.nvmlShutdown() == SUCCESS
    assert count(lib) == (SUCCESS, 8)
    assert lib.nvmlShutdown() == SUCCESS
    assert count(lib)[0] == UNINITIALIZED


def test_shutdown_without_init_is_uninitialized(lib):
    assert lib.nvmlShutdown() == UNINITIALIZED


def test_init_after_full_shutdown_works_again(lib):
    for cycle in range(3):
        assert lib.nvmlInit_v2() == SUCCESS, cycle
        assert count(lib) == (SUCCESS, 8), cycle
        assert lib.nvmlShutdown() == SUCCESS, cycle


ERROR_STRINGS = {
    0: "Success", 1: "Uninitialized", 2: "Invalid Argument", 3: "Not Supported",
    4: "Insufficient Permissions", 5: "Already Initialized", 6: "Not Found",
    7: "Insufficient Size", 8: "Insufficient External Power", 9: "Driver Not Loaded",
    10: "Timeout", 13: "Function Not Found", 14: "Corrupted infoROM", 15: "GPU is lost",
    20: "Insufficient Memory", 21: "No data", 27: "System is not in ready state",
    999: "Unknown Error",
}


@pytest.mark.parametrize("code,text", sorted(ERROR_STRINGS.items()))
def test_error_string_matches_the_real_library(libnvml, code, text):
    libnvml.nvmlErrorString.restype = ctypes.c_char_p
    assert libnvml.nvmlErrorString(code).decode() == text


def test_error_string_exists_for_every_code_and_unknown_values(libnvml):
    libnvml.nvmlErrorString.restype = ctypes.c_char_p
    for code in list(range(0, 31)) + [999, 1000, -1]:
        assert libnvml.nvmlErrorString(code)


def event_set(lib):
    """A new event set, or the error nvmlEventSetCreate returned."""
    handle = ctypes.c_void_p()
    rc = lib.nvmlEventSetCreate(ctypes.byref(handle))
    return handle if rc == SUCCESS else rc


def test_event_sets_never_freed_do_not_use_up_the_pool_over_init_cycles(lib):
    for cycle in range(1000):
        assert lib.nvmlInit_v2() == SUCCESS
        assert isinstance(event_set(lib), ctypes.c_void_p), cycle
        assert lib.nvmlShutdown() == SUCCESS
    assert lib.nvmlInit_v2() == SUCCESS
    assert isinstance(event_set(lib), ctypes.c_void_p)


def test_the_last_shutdown_invalidates_the_event_sets_left_open(lib):
    assert lib.nvmlInit_v2() == SUCCESS
    left_open = event_set(lib)
    assert lib.nvmlShutdown() == SUCCESS
    assert lib.nvmlInit_v2() == SUCCESS
    assert lib.nvmlEventSetFree(left_open) == INVALID_ARGUMENT


def test_a_shutdown_that_leaves_a_reference_keeps_the_event_sets(lib):
    assert lib.nvmlInit_v2() == SUCCESS
    assert lib.nvmlInit_v2() == SUCCESS
    events = event_set(lib)
    assert lib.nvmlShutdown() == SUCCESS
    assert lib.nvmlEventSetFree(events) == SUCCESS
