"""The NVML config embedded in the library file: the trailer's round trip, and one layout
shared by the Python writer (driver_tree) and the C reader (nvml_src/src/config_load.c)."""
import os
import re
import struct

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.render import driver_tree

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_LOAD = os.path.join(ROOT, "nvml_src", "src", "config_load.c")
LIBRARY = b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 4
CONFIG = "format = 1\n# a config\n"


def c_defines():
    with open(CONFIG_LOAD) as handle:
        return dict(re.findall(r"^#define (EMBED_\w+) (.+)$", handle.read(), re.M))


def test_the_c_reader_uses_the_same_magic():
    assert c_defines()["EMBED_MAGIC"] == '"%s"' % driver_tree.EMBED_MAGIC.decode("ascii")


def test_the_c_reader_uses_the_same_trailer_size():
    defines = c_defines()
    magic_len = int(defines["EMBED_MAGIC_LEN"])
    assert magic_len == len(driver_tree.EMBED_MAGIC) == 16
    assert defines["EMBED_TRAILER_LEN"] == "(EMBED_MAGIC_LEN + 8)"
    assert driver_tree.EMBED_TRAILER_LEN == magic_len + 8


def test_the_length_is_a_little_endian_uint64_after_the_magic():
    data = driver_tree.embed_nvml_config(LIBRARY, CONFIG)
    assert data == LIBRARY + CONFIG.encode() + driver_tree.EMBED_MAGIC + struct.pack("<Q", len(CONFIG))


def test_the_trailer_round_trips():
    data = driver_tree.embed_nvml_config(LIBRARY, CONFIG)
    assert driver_tree.split_embedded_config(data) == (LIBRARY, CONFIG.encode())


def test_embedding_into_an_embedded_library_replaces_the_old_config():
    once = driver_tree.embed_nvml_config(LIBRARY, "format = 1\n# old\n")
    assert driver_tree.embed_nvml_config(once, CONFIG) == driver_tree.embed_nvml_config(LIBRARY, CONFIG)


def test_embedding_is_idempotent():
    once = driver_tree.embed_nvml_config(LIBRARY, CONFIG)
    assert driver_tree.embed_nvml_config(once, CONFIG) == once


def test_stripping_removes_every_embedded_config():
    twice = driver_tree.embed_nvml_config(LIBRARY, "a") + b"b" + driver_tree.EMBED_MAGIC + struct.pack("<Q", 1)
    assert driver_tree.strip_embedded_config(twice) == LIBRARY


@pytest.mark.parametrize("case, data", [
    ("no trailer", LIBRARY),
    ("empty", b""),
    ("shorter than a trailer", driver_tree.EMBED_MAGIC),
    ("another magic", LIBRARY + b"x" * 16 + struct.pack("<Q", 0)),
    ("length beyond the file", LIBRARY + driver_tree.EMBED_MAGIC + struct.pack("<Q", len(LIBRARY) + 1)),
    ("huge length", LIBRARY + driver_tree.EMBED_MAGIC + struct.pack("<Q", 2 ** 64 - 1)),
])
def test_a_file_without_a_valid_trailer_is_all_library(case, data):
    assert driver_tree.split_embedded_config(data) == (data, None)
