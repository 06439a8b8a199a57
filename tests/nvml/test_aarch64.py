"""The mock NVML cross-built for aarch64 (arm64 nodes: GH200, GB200, kind on an arm64 laptop).

`make test-nvml` builds it (`make nvml-aarch64`: nvml_src/build/arch/aarch64/) and an aarch64
nvml_probe; the probe runs here under qemu-aarch64 user emulation with Debian's aarch64 libc.
"""
import struct

import pytest

from conftest import ARM_LIB, LIB, SYMBOLS, build_node, in_private_etc, probe, write_config
from test_symbols import dynamic_section, dynamic_symbols
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import driver_tree, nvml_config

ARM_PROBE = LIB.parent / "tests" / "aarch64" / "nvml_probe"
QEMU = ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"]
EM_AARCH64 = 183


@pytest.fixture(scope="module")
def arm_lib():
    assert ARM_LIB.exists() and ARM_PROBE.exists(), "build them with `make nvml-test-bins` (make nvml-aarch64)"
    return ARM_LIB


def arm_probe(lib, private_etc=False):
    """nvml_probe's fields for ``lib``, the aarch64 probe run under qemu (with an empty /etc)."""
    def wrap(cmd):
        cmd = QEMU + [str(ARM_PROBE)] + cmd[1:]
        return in_private_etc("true")(cmd) if private_etc else cmd
    return probe(lib=lib, wrap=wrap)[0]


def test_is_a_64_bit_aarch64_elf(arm_lib):
    header = arm_lib.resolve().read_bytes()[:20]
    assert header[:5] == b"\x7fELF\x02"
    assert struct.unpack("<H", header[18:20])[0] == EM_AARCH64


def test_exports_exactly_the_404_functions_of_real_nvml_580(arm_lib):
    want = sorted(s.strip() for s in SYMBOLS.read_text().splitlines() if s.strip())
    assert len(want) == 404
    assert dynamic_symbols(arm_lib) == want


def test_has_the_soname_and_needs_no_library_but_libc(arm_lib):
    section = dynamic_section(arm_lib)
    assert "Library soname: [libnvidia-ml.so.1]" in section
    assert [line.split("[")[1].rstrip("]") for line in section.splitlines() if "(NEEDED)" in line] == ["libc.so.6"]


def test_without_any_config_it_reports_the_built_in_default(arm_lib):
    node = build_node("dgxa100", node_id="gpumock-default")
    fields = arm_probe(arm_lib, private_etc=True)
    assert (fields["init"], fields["count"], fields["uuid"]) == ("0", "8", node.gpus[0].uuid)


def test_in_an_aarch64_driver_tree_it_reads_the_config_beside_it(arm_lib, tmp_path):
    root = tmp_path / "root"
    libdir = root / driver_tree.lib_dir("aarch64")
    libdir.mkdir(parents=True)
    (libdir / "libnvidia-ml.so.1").write_bytes(arm_lib.resolve().read_bytes())
    (root / driver_tree.NVML_CONFIG).parent.mkdir(parents=True)
    node = build_node("l40s", gpu_count=2)
    write_config((root / driver_tree.NVML_CONFIG).parent, node)
    fields = arm_probe(libdir / "libnvidia-ml.so.1")
    assert (fields["count"], fields["name"], fields["uuid"]) == ("2", "NVIDIA L40S", node.gpus[0].uuid)


def test_alone_it_reads_the_config_embedded_in_its_file(arm_lib, tmp_path):
    node = build_node("dgxh100", gpu_count=3)
    library = tmp_path / "libnvidia-ml.so.550.54.15"
    library.write_bytes(driver_tree.embed_nvml_config(arm_lib.resolve().read_bytes(),
                                                      nvml_config.render(node, visibility="all")))
    fields = arm_probe(library)
    assert (fields["count"], fields["uuid"]) == ("3", node.gpus[0].uuid)
