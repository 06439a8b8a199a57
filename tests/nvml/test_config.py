"""Config lookup order, the built-in default, and refusal of bad config files."""
import shlex
import shutil

import pytest

from conftest import LIB, build_node, in_private_etc, probe, write_config
from ansible_collections.gpumock.nvidia.plugins.module_utils import nvml_config

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


def test_duplicate_minor_is_refused(tmp_path):
    text = nvml_config.render(build_node("dgxa100"), visibility="all")
    text = text.replace("minor = 1\n", "minor = 0\n", 1)
    path = tmp_path / "nvml.conf"
    path.write_text(text)
    fields, stderr = probe(env_extra={"MOCK_NVML_CONFIG": str(path)})
    assert fields["init"] == UNKNOWN
    assert "GPU 1 reuses minor 0" in stderr


def test_missing_config_file_named_by_env_fails_init(tmp_path):
    path = tmp_path / "absent.conf"
    fields, stderr = probe(env_extra={"MOCK_NVML_CONFIG": str(path)})
    assert fields["init"] == UNKNOWN
    assert stderr.startswith("mock NVML: %s: cannot read the NVML config" % path)


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
