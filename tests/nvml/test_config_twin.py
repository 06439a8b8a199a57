"""nvml_config.problem, the Python twin of the C config parser, says what the library says.

render() checks every file it writes with problem(), so a config the modules write can never be
one nvmlInit refuses. These tests hold the twin to the C parser: for every config below, both
accept it, or both refuse it on the same line with the same message.
"""
import random

import pytest

from conftest import build_node
from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import nvml_schema
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config

SUCCESS = 0

# Two MIG-mode A100s with a layout: every section of the format is there.
BASE = nvml_config.render(build_node("dgxa100", gpu_count=2, mig_enabled=True,
                                     mig_layout={0: ["3g.20gb", "2g.10gb"], 1: ["7g.40gb"]}),
                          visibility="all")
VALUES = ["", "0", "1", "2", "7", "8", "253", "254", "-1", "0x", "0x1F", "0xFFFFFFFF", "4294967295",
          "4294967296", "2147483648", "18446744073709551615", "18446744073709551616", "1e3", "abc",
          "all", "devnodes", "some", "00000000:07:00.0", "0:7:0.0", "07:00.0", "0:7:20.0", "0:7:0.8",
          "GPU-0", "x" * 30, "x" * 96, "x" * 300, "MIG 1g.5gb", " padded ", "#", "[gpu]", "="]


def c_parser_says(libnvml, capfd, monkeypatch, tmp_path, text):
    """What nvmlInit says of text: "" when it succeeds, else its stderr line's message."""
    path = tmp_path / "nvml.conf"
    path.write_bytes(text.encode())
    monkeypatch.setenv("MOCK_NVML_CONFIG", str(path))
    capfd.readouterr()
    rc = libnvml.nvmlInit_v2()
    err = capfd.readouterr().err
    if rc == SUCCESS:
        assert libnvml.nvmlShutdown() == SUCCESS
        return ""
    prefix = "mock NVML: %s:" % path
    assert err.startswith(prefix) and err.endswith("\n"), err
    return "line " + err[len(prefix):-1]


def mutations(count, seed):
    """count configs made from BASE by one random edit each: a line dropped, doubled, moved, or
    given another value, or a value copied from one GPU to the other."""
    rng = random.Random(seed)
    lines = BASE.split("\n")
    out = []
    while len(out) < count:
        edited = list(lines)
        i = rng.randrange(len(lines))
        how = rng.choice(("drop", "double", "swap", "value", "value", "value", "copy"))
        if how == "drop":
            del edited[i]
        elif how == "double":
            edited.insert(i, lines[i])
        elif how == "swap" and i + 1 < len(lines):
            edited[i], edited[i + 1] = edited[i + 1], edited[i]
        elif how == "value" and " = " in lines[i]:
            edited[i] = lines[i].split(" = ")[0] + " = " + rng.choice(VALUES)
        elif how == "copy" and lines[i].split(" = ")[0] in nvml_schema.GPU.names:
            key = lines[i].split(" = ")[0]
            values = [line for line in lines if line.startswith(key + " = ")]
            edited[i] = rng.choice(values)
        else:
            continue
        out.append("\n".join(edited))
    return out


@pytest.fixture
def c_parser(libnvml, capfd, monkeypatch, tmp_path):
    def says(text):
        return c_parser_says(libnvml, capfd, monkeypatch, tmp_path, text)
    return says


def test_both_accept_what_render_writes(c_parser):
    assert c_parser(BASE) == nvml_config.problem(BASE) == ""


@pytest.mark.parametrize("seed", range(8))
def test_both_say_the_same_of_edited_configs(c_parser, seed):
    for text in mutations(60, seed):
        assert nvml_config.problem(text) == c_parser(text), text


@pytest.mark.parametrize("text", [
    "", "\n", "format = 1\n", "format = 2\n", "[system]\n", "format = 1\n[]\n", "format = 1\n[x\n",
    "format = 1\nkey = 1\n", "format = 1\n= 1\n", "# only a comment", "format=1\n\0\n",
    "format = 1\n" + "x" * 1024 + "\n",
], ids=repr)
def test_both_say_the_same_of_small_broken_files(c_parser, text):
    assert nvml_config.problem(text) == c_parser(text)


def test_both_refuse_a_value_above_the_one_that_bounds_it_on_the_same_line(c_parser):
    text = BASE.replace("memory_reserved_bytes = 440401920", "memory_reserved_bytes = 42949672961")
    said = nvml_config.problem(text)
    assert "memory_reserved_bytes 42949672961 is above memory_total_bytes 42949672960" in said
    assert said == c_parser(text)


def test_a_file_over_the_size_limit_is_refused():
    text = BASE + "#" * nvml_schema.MAX_CONFIG_BYTES
    assert nvml_config.problem(text) == "it is larger than %d bytes" % nvml_schema.MAX_CONFIG_BYTES
