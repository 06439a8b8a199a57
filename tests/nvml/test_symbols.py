"""The mock exports exactly what the real NVML 580 exports, under the real SONAME."""
import os
import re
import subprocess

from conftest import LIB, SYMBOLS


def dynamic_symbols(path):
    out = subprocess.run(["nm", "-D", "--defined-only", str(path)], check=True,
                         capture_output=True, text=True).stdout
    return sorted(line.split()[-1] for line in out.splitlines() if line.strip())


def dynamic_section(path):
    return subprocess.run(["readelf", "-d", str(path)], check=True, capture_output=True,
                          text=True).stdout


def test_exports_exactly_the_404_functions_of_real_nvml_580():
    want = sorted(s.strip() for s in SYMBOLS.read_text().splitlines() if s.strip())
    assert len(want) == 404
    assert dynamic_symbols(LIB) == want


def test_soname_is_libnvidia_ml_so_1():
    assert "Library soname: [libnvidia-ml.so.1]" in dynamic_section(LIB)


def test_needs_no_library_but_libc():
    needed = [line.split("[")[1].rstrip("]") for line in dynamic_section(LIB).splitlines()
              if "(NEEDED)" in line]
    assert needed == ["libc.so.6"]


def test_so_1_and_so_links_point_at_the_versioned_library():
    build = LIB.parent
    target = os.readlink(build / "libnvidia-ml.so.1")
    assert re.fullmatch(r"libnvidia-ml\.so\.\d+\.\d+(\.\d+)?", target)
    assert os.readlink(build / "libnvidia-ml.so") == target
    assert (build / target).is_file()
