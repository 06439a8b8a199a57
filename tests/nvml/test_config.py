"""Config lookup order, the built-in default, and refusal of bad config files."""
import dataclasses
import os
import shlex
import shutil
import socket

import pytest

from conftest import LIB, build_node, in_private_etc, probe, write_config
from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import nvml_schema
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config

UNKNOWN = "999"


def test_env_variable_selects_the_config(tmp_path):
    node = build_node("t4")
    path = write_config(tmp_path, node)
    fields = probe(env_extra={"MOCK_NVML_CONFIG": str(path)})[0]
    assert (fields["init"], fields["count"], fields["uuid"]) == ("0", "1", node.gpus[0].uuid)


def test_config_next_to_the_library_in_a_driver_root_is_found(tmp_path):
    root = tmp_path / "root"
    libdir = root / "usr" / "lib" / "x86_64-linux-gnu"
    libdir.mkdir(parents=True)
    shutil.copy(LIB.resolve(), libdir / "libnvidia-ml.so.1")
    (root / "etc" / "nvidia-mock").mkdir(parents=True)
    node = build_node("l40s")
    write_config(root / "etc" / "nvidia-mock", node)
    fields = probe(lib=libdir / "libnvidia-ml.so.1")[0]
    assert (fields["count"], fields["name"], fields["uuid"]) == (
        "4", "NVIDIA L40S", node.gpus[0].uuid)


def test_env_variable_wins_over_the_driver_root_config(tmp_path):
    root = tmp_path / "root"
    libdir = root / "usr" / "lib" / "x86_64-linux-gnu"
    libdir.mkdir(parents=True)
    shutil.copy(LIB.resolve(), libdir / "libnvidia-ml.so.1")
    (root / "etc" / "nvidia-mock").mkdir(parents=True)
    write_config(root / "etc" / "nvidia-mock", build_node("l40s"))
    env_node = build_node("t4")
    env_path = write_config(tmp_path, env_node, name="env.conf")
    fields = probe(lib=libdir / "libnvidia-ml.so.1",
                   env_extra={"MOCK_NVML_CONFIG": str(env_path)})[0]
    assert fields["uuid"] == env_node.gpus[0].uuid


def test_system_config_in_etc_is_used_when_nothing_closer_exists(tmp_path):
    node = build_node("dgxb200")
    path = write_config(tmp_path, node)
    setup = "mkdir /etc/nvidia-mock && cp %s /etc/nvidia-mock/nvml.conf" % shlex.quote(str(path))
    fields = probe(wrap=in_private_etc(setup))[0]
    assert (fields["count"], fields["uuid"]) == ("8", node.gpus[0].uuid)


def test_without_any_config_the_built_in_default_is_dgxa100(tmp_path):
    node = build_node("dgxa100", node_id="gpumock-default")
    fields = probe(wrap=in_private_etc("true"))[0]
    assert fields["init"] == "0"
    assert fields["count"] == "8"
    assert fields["uuid"] == node.gpus[0].uuid
    assert "A100" in fields["name"]


GOOD = nvml_config.render(build_node("t4"), visibility="all")


def replace_line(text, old, new):
    assert old in text
    return text.replace(old, new, 1)


def line_of(text, needle):
    return text[:text.index(needle)].count("\n") + 1


BAD_CONFIGS = {
    "no format line": (GOOD.replace("format = 1\n", ""), "[system]",
                       "the file must start with format = 1"),
    "future format": (replace_line(GOOD, "format = 1", "format = 2"), "format = 2",
                      "format 2 is not supported"),
    "unknown section": (replace_line(GOOD, "[board]", "[boards]"), "[boards]",
                        "unknown section [boards]"),
    "unknown key": (replace_line(GOOD, "num_fans = 0", "fans = 0"), "fans = 0",
                    "[board] has no key fans"),
    "not a number": (replace_line(GOOD, "cuda_cores = 2560", "cuda_cores = many"),
                     "cuda_cores = many", "[board] cuda_cores: expected an unsigned integer"),
    "negative number": (replace_line(GOOD, "cuda_cores = 2560", "cuda_cores = -1"),
                        "cuda_cores = -1", "expected an unsigned integer"),
    "number too large": (replace_line(GOOD, "cuda_cores = 2560",
                                      "cuda_cores = 99999999999999999999999"),
                         "cuda_cores = 9999", "expected an unsigned integer"),
    "key given twice": (replace_line(GOOD, "num_fans = 0", "num_fans = 0\nnum_fans = 1"),
                        "num_fans = 1", "[board] num_fans is given twice"),
    "bad bool": (replace_line(GOOD, "mig_capable = 0", "mig_capable = yes"),
                 "mig_capable = yes", "expected 0 or 1"),
    "bad visibility": (replace_line(GOOD, "visibility = all", "visibility = some"),
                       "visibility = some", "expected devnodes or all"),
    "bad bus id": (replace_line(GOOD, "pci_bus_id = 00000000:00:1E.0", "pci_bus_id = 0:0:zz"),
                   "pci_bus_id = 0:0:zz", "expected a PCI bus id"),
    "missing board key": (replace_line(GOOD, "num_fans = 0\n", ""), "[gpu]",
                          "[board] is missing the required key num_fans"),
    "key outside a section": (replace_line(GOOD, "[system]\n", ""), "driver_version",
                              "every key must be inside a section"),
    "string too long": (replace_line(GOOD, "name = Tesla T4", "name = " + "T" * 200),
                        "name = TTT", "expected a string of 1 to 95 characters"),
    "line too long": (replace_line(GOOD, "name = Tesla T4", "name = " + "T" * 2000),
                      "name = TTT", "line is longer than 1023 characters"),
    "no gpu": (GOOD[:GOOD.index("[gpu]")], None, "there is no [gpu] section"),
    "garbage line": (replace_line(GOOD, "[board]", "[board]\nthis is not a key"),
                     "this is not a key", "expected key = value"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_fails_init_naming_file_and_line(tmp_path, case):
    text, needle, message = BAD_CONFIGS[case]
    path = tmp_path / "nvml.conf"
    path.write_text(text)
    fields, stderr = probe(env_extra={"MOCK_NVML_CONFIG": str(path)})
    assert fields["init"] == UNKNOWN
    assert fields["count"] == "0"
    line = line_of(text, needle) if needle else text.count("\n") + 1
    assert stderr.startswith("mock NVML: %s:%d: " % (path, line)), stderr
    assert message in stderr
    assert stderr.count("\n") == 1


def refusal(tmp_path, text):
    """init's return code and stderr for a config text."""
    path = tmp_path / "nvml.conf"
    path.write_text(text)
    fields, stderr = probe(env_extra={"MOCK_NVML_CONFIG": str(path)})
    return fields["init"], stderr


TWO = nvml_config.render(build_node("dgxa100", gpu_count=2), visibility="all")
TWO_GPUS = build_node("dgxa100", gpu_count=2).gpus


def gpu_1_with(key, value):
    """TWO with GPU 1's line ``key = ...`` saying ``value`` instead."""
    head, gpu1 = TWO.rsplit("[gpu]", 1)
    lines = [("%s = %s" % (key, value)) if line.startswith(key + " =") else line
             for line in gpu1.split("\n")]
    return head + "[gpu]" + "\n".join(lines)


def test_duplicate_minor_is_refused_naming_both_gpus(tmp_path):
    rc, stderr = refusal(tmp_path, gpu_1_with("minor", 0))
    assert rc == UNKNOWN
    assert "[gpu] 1 reuses minor 0 of [gpu] 0" in stderr


def test_duplicate_uuid_is_refused_naming_both_gpus_and_the_uuid(tmp_path):
    rc, stderr = refusal(tmp_path, gpu_1_with("uuid", TWO_GPUS[0].uuid))
    assert rc == UNKNOWN
    assert "[gpu] 1 reuses uuid %s of [gpu] 0" % TWO_GPUS[0].uuid in stderr


def test_duplicate_serial_is_refused_naming_both_gpus_and_the_serial(tmp_path):
    rc, stderr = refusal(tmp_path, gpu_1_with("serial", TWO_GPUS[0].serial))
    assert rc == UNKNOWN
    assert "[gpu] 1 reuses serial %s of [gpu] 0" % TWO_GPUS[0].serial in stderr


def test_duplicate_bus_id_is_refused_even_written_another_way(tmp_path):
    # 0:07:00.0 in lower case is the same PCI location as GPU 0's 00000000:07:00.0.
    gpu0 = TWO_GPUS[0]
    other_form = "%x:%02x:%02x.%x" % (gpu0.pci_domain, gpu0.pci_bus, gpu0.pci_device, gpu0.pci_function)
    rc, stderr = refusal(tmp_path, gpu_1_with("pci_bus_id", other_form))
    assert rc == UNKNOWN
    assert "[gpu] 1 reuses pci_bus_id %s of [gpu] 0" % gpu0.pci_bus_id in stderr


def test_reserved_memory_above_total_is_refused(tmp_path):
    total = build_node("dgxa100").board.memory_total_bytes
    text = replace_line(TWO, "memory_reserved_bytes = ", "memory_reserved_bytes = %d\n#" % (total + 1))
    rc, stderr = refusal(tmp_path, text)
    assert rc == UNKNOWN
    assert "[board] memory_reserved_bytes %d is above memory_total_bytes %d" % (total + 1, total) in stderr


def breaking_only(key, limit):
    """TWO with the board's ``key`` one above its ``limit``, every other bound kept."""
    values = dataclasses.asdict(build_node("dgxa100").board)
    values[key] = values[limit] + 1
    changed = {key}
    others = [pair for pair in nvml_schema.BOARD.not_above if pair != (key, limit)]
    while any(values[a] > values[b] for a, b in others):
        for a, b in others:
            if values[a] > values[b]:
                values[b] = values[a]
                changed.add(b)
    text = TWO
    for name in changed:
        text = replace_line(text, "\n%s = " % name, "\n%s = %d\n#" % (name, values[name]))
    return text, values


@pytest.mark.parametrize("key,limit", nvml_schema.BOARD.not_above,
                         ids=["%s-%s" % pair for pair in nvml_schema.BOARD.not_above])
def test_every_board_value_above_the_value_that_bounds_it_is_refused(tmp_path, key, limit):
    text, values = breaking_only(key, limit)
    rc, stderr = refusal(tmp_path, text)
    assert rc == UNKNOWN
    assert stderr.endswith("[board] %s %d is above %s %d\n" % (key, values[key], limit, values[limit]))


def test_a_number_above_what_its_nvml_field_holds_is_refused(tmp_path):
    rc, stderr = refusal(tmp_path, replace_line(TWO, "cuda_cores = 6912", "cuda_cores = 4294967296"))
    assert rc == UNKNOWN
    assert "[board] cuda_cores: expected an unsigned integer up to 4294967295, got 4294967296" in stderr


def test_memory_sizes_take_64_bit_numbers(tmp_path):
    text = replace_line(TWO, "memory_total_bytes = 42949672960", "memory_total_bytes = %d" % (2 ** 64 - 1))
    rc, stderr = refusal(tmp_path, text)
    assert rc == "0", stderr


def test_missing_config_file_named_by_env_fails_init(tmp_path):
    path = tmp_path / "absent.conf"
    fields, stderr = probe(env_extra={"MOCK_NVML_CONFIG": str(path)})
    assert fields["init"] == UNKNOWN
    assert stderr.startswith("mock NVML: %s: cannot read the NVML config" % path)


def config_path_refusal(path):
    """init's return code and stderr with MOCK_NVML_CONFIG naming path (in a fresh process: a
    hang fails the probe's timeout)."""
    fields, stderr = probe(env_extra={"MOCK_NVML_CONFIG": str(path)})
    return fields["init"], stderr


def test_a_directory_as_config_is_named_as_a_directory(tmp_path):
    rc, stderr = config_path_refusal(tmp_path)
    assert rc == UNKNOWN
    assert stderr == ("mock NVML: %s: cannot read the NVML config that MOCK_NVML_CONFIG names: "
                      "it is a directory, not a regular file\n" % tmp_path)


def test_a_fifo_as_config_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "nvml.conf"
    os.mkfifo(fifo)
    rc, stderr = config_path_refusal(fifo)
    assert rc == UNKNOWN
    assert stderr == ("mock NVML: %s: cannot read the NVML config that MOCK_NVML_CONFIG names: "
                      "it is a FIFO, not a regular file\n" % fifo)


def test_a_device_as_config_is_refused_without_reading_it():
    rc, stderr = config_path_refusal("/dev/zero")
    assert rc == UNKNOWN
    assert stderr == ("mock NVML: /dev/zero: cannot read the NVML config that MOCK_NVML_CONFIG names: "
                      "it is a character device, not a regular file\n")


def test_a_socket_as_config_is_named_as_a_socket(tmp_path):
    path = tmp_path / "nvml.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        rc, stderr = config_path_refusal(path)
    assert rc == UNKNOWN
    assert stderr.endswith("MOCK_NVML_CONFIG names: it is a socket, not a regular file\n")


def test_a_config_larger_than_the_limit_is_refused_unread(tmp_path):
    path = tmp_path / "nvml.conf"
    with open(path, "wb") as f:
        f.truncate(nvml_schema.MAX_CONFIG_BYTES + 1)
    rc, stderr = config_path_refusal(path)
    assert rc == UNKNOWN
    assert stderr.endswith("it is larger than %d bytes\n" % nvml_schema.MAX_CONFIG_BYTES)


def test_a_directory_at_the_driver_roots_config_path_is_named_as_a_directory(tmp_path):
    root = tmp_path / "root"
    libdir = root / "usr" / "lib" / "x86_64-linux-gnu"
    libdir.mkdir(parents=True)
    shutil.copy(LIB.resolve(), libdir / "libnvidia-ml.so.1")
    (root / "etc" / "nvidia-mock" / "nvml.conf").mkdir(parents=True)
    fields, stderr = probe(lib=libdir / "libnvidia-ml.so.1")
    assert fields["init"] == UNKNOWN
    assert stderr.endswith("nvml.conf: cannot read the NVML config: it is a directory, not a regular file\n")


def test_comments_blank_lines_and_spacing_are_accepted(tmp_path):
    text = GOOD.replace("[board]\n", "\n  # a comment\n[board]\n\n").replace(
        "cuda_cores = 2560", "   cuda_cores=2560   ")
    path = tmp_path / "nvml.conf"
    path.write_text(text)
    fields, stderr = probe(env_extra={"MOCK_NVML_CONFIG": str(path)})
    assert fields["init"] == "0", stderr


def test_a_failed_init_leaves_the_library_uninitialized_and_retryable(tmp_path, libnvml,
                                                                      monkeypatch):
    import ctypes
    bad = tmp_path / "bad.conf"
    bad.write_text("format = 7\n")
    monkeypatch.setenv("MOCK_NVML_CONFIG", str(bad))
    assert libnvml.nvmlInit_v2() == 999
    n = ctypes.c_uint()
    assert libnvml.nvmlDeviceGetCount_v2(ctypes.byref(n)) == 1
    monkeypatch.setenv("MOCK_NVML_CONFIG", str(write_config(tmp_path, build_node("t4"))))
    assert libnvml.nvmlInit_v2() == 0
    assert libnvml.nvmlDeviceGetCount_v2(ctypes.byref(n)) == 0 and n.value == 1
    assert libnvml.nvmlShutdown() == 0
