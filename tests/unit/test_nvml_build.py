"""nvml_src/nvml_build.py: which mock NVML each node architecture gets on the controller.

Prebuilt files of the collection while they match the sources, else a cached build, else a build
here (native, or with <arch>-linux-gnu-gcc), else a problem the role turns into its sentence. The
sources are a small tree of their own here; make and the compilers are scripts that record calls.
"""
import json
import os
import sys
import subprocess
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "nvml_src"))
import nvml_build  # noqa: E402  (nvml_src/ is not a package)

# A make that "builds" BUILD=<dir> as nvml_src/Makefile does, and logs its arguments.
FAKE_MAKE = """#!/bin/sh
PATH=/usr/bin:/bin
echo "$@" >> "$(dirname "$0")/make.log"
[ -z "$FAIL" ] || { echo "$FAIL"; exit 2; }
for arg in "$@"; do case "$arg" in BUILD=*) build="${arg#BUILD=}";; ARCH=*) arch="${arg#ARCH=}";; esac; done
mkdir -p "$build"
echo "library for $arch" > "$build/libnvidia-ml.so.550.54.15"
ln -s libnvidia-ml.so.550.54.15 "$build/libnvidia-ml.so.1"
echo "ctl for $arch" > "$build/nvidia-mock-ctl"
"""


@pytest.fixture
def root(tmp_path):
    """A collection root with nvml_src/ and one Python file its list names."""
    base = tmp_path / "collection"
    (base / "nvml_src" / "src").mkdir(parents=True)
    (base / "nvml_src" / "src" / "init.c").write_text("int x;\n")
    (base / "nvml_src" / "python-sources.txt").write_text("# read by the generators\nplugins/module_utils/facts/profiles.py\n")
    (base / "plugins" / "module_utils" / "facts").mkdir(parents=True)
    (base / "plugins" / "module_utils" / "facts" / "profiles.py").write_text("PROFILES = {}\n")
    return base


@pytest.fixture
def tools(tmp_path, monkeypatch):
    """An empty PATH directory; tools(name, ...) puts a recording make or a compiler there."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(nvml_build.platform, "system", lambda: "Linux")
    monkeypatch.setattr(nvml_build.platform, "machine", lambda: "x86_64")

    def add(*names):
        for name in names:
            path = bin_dir / name
            path.write_text(FAKE_MAKE if name == "make" else "#!/bin/sh\nexit 0\n")
            path.chmod(0o755)
        return bin_dir
    add.log = bin_dir / "make.log"
    return add


def select(capsys, root, tmp_path, *arches, mode="auto"):
    argv = ["select", "--root", str(root), "--cache", str(tmp_path / "cache"), "--mode", mode]
    assert nvml_build.main(argv + ["--arch=" + arch for arch in arches]) == 0
    return json.loads(capsys.readouterr().out)


def prebuild(root, stamp, arch="aarch64"):
    directory = root / "files" / "prebuilt" / arch
    directory.mkdir(parents=True)
    (directory / "libnvidia-ml.so").write_text("prebuilt library")
    (directory / "nvidia-mock-ctl").write_text("prebuilt ctl")
    (root / "files" / "prebuilt" / "SOURCE_HASH").write_text(stamp + "\n")


def test_the_hash_changes_with_every_c_source_and_every_python_file_the_build_reads(root):
    before = nvml_build.source_hash(str(root))
    (root / "nvml_src" / "src" / "init.c").write_text("int y;\n")
    after_c = nvml_build.source_hash(str(root))
    (root / "plugins" / "module_utils" / "facts" / "profiles.py").write_text("PROFILES = {'gh200': 1}\n")
    assert len({before, after_c, nvml_build.source_hash(str(root))}) == 3


def test_build_output_python_caches_and_unlisted_python_do_not_change_the_hash(root):
    before = nvml_build.source_hash(str(root))
    for path in ("nvml_src/build/arch/aarch64/libnvidia-ml.so.1", "nvml_src/__pycache__/pysources.cpython-311.pyc",
                 "nvml_src/gen_api.pyc", "plugins/module_utils/render/labels.py", "files/prebuilt/SOURCE_HASH"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("output")
    assert nvml_build.source_hash(str(root)) == before


def test_prebuilt_files_whose_stamp_is_the_source_hash_are_taken_without_any_tool(capsys, root, tmp_path, tools):
    prebuild(root, nvml_build.source_hash(str(root)))
    picked = select(capsys, root, tmp_path, "aarch64")["architectures"]["aarch64"]
    assert picked == {"origin": "prebuilt", "library": str(root / "files/prebuilt/aarch64/libnvidia-ml.so"),
                      "mock_ctl": str(root / "files/prebuilt/aarch64/nvidia-mock-ctl")}


def test_prebuilt_files_of_other_sources_are_not_taken(capsys, root, tmp_path, tools):
    prebuild(root, "0123456789abcdef")
    tools("make", "aarch64-linux-gnu-gcc")
    assert select(capsys, root, tmp_path, "aarch64")["architectures"]["aarch64"]["origin"] == "built"


def test_prebuilt_files_of_one_architecture_are_not_taken_for_another(capsys, root, tmp_path, tools):
    prebuild(root, nvml_build.source_hash(str(root)), arch="aarch64")
    tools("make", "x86_64-linux-gnu-gcc")
    assert select(capsys, root, tmp_path, "x86_64")["architectures"]["x86_64"]["origin"] == "built"


def test_the_cross_compiler_builds_once_and_the_cache_serves_the_next_run(capsys, root, tmp_path, tools):
    tools("make", "aarch64-linux-gnu-gcc")
    first = select(capsys, root, tmp_path, "aarch64")
    picked = first["architectures"]["aarch64"]
    assert picked["origin"] == "built" and picked["library"] == str(
        tmp_path / "cache" / first["hash"] / "aarch64" / "libnvidia-ml.so")
    assert open(picked["library"]).read() == "library for aarch64\n"
    assert open(picked["mock_ctl"]).read() == "ctl for aarch64\n"
    assert select(capsys, root, tmp_path, "aarch64")["architectures"]["aarch64"]["origin"] == "cache"
    (call,) = tools.log.read_text().splitlines()
    assert "ARCH=aarch64" in call.split() and "CC=%s" % (tools() / "aarch64-linux-gnu-gcc") in call.split()
    assert first["pack"] is None


def test_each_architecture_of_the_play_gets_its_own_build(capsys, root, tmp_path, tools):
    tools("make", "aarch64-linux-gnu-gcc", "x86_64-linux-gnu-gcc")
    picked = select(capsys, root, tmp_path, "x86_64", "aarch64")["architectures"]
    assert open(picked["x86_64"]["library"]).read() == "library for x86_64\n"
    assert open(picked["aarch64"]["library"]).read() == "library for aarch64\n"


def test_a_linux_controller_of_the_nodes_architecture_builds_with_cc(capsys, root, tmp_path, tools, monkeypatch):
    monkeypatch.setattr(nvml_build.platform, "machine", lambda: "aarch64")
    tools("make", "cc")
    assert select(capsys, root, tmp_path, "aarch64")["architectures"]["aarch64"]["origin"] == "built"
    assert "CC=%s" % (tools() / "cc") in tools.log.read_text().split()


def test_a_controller_without_a_compiler_for_the_architecture_names_it_and_packs_the_source(
        capsys, root, tmp_path, tools):
    tools("make", "cc")
    result = select(capsys, root, tmp_path, "x86_64", "aarch64")
    assert result["architectures"]["aarch64"] == {
        "problem": "this controller (Linux x86_64) has no aarch64-linux-gnu-gcc to build Linux code for aarch64"}
    assert result["architectures"]["x86_64"]["origin"] == "built"
    with tarfile.open(result["pack"]) as tar:
        assert sorted(tar.getnames()) == nvml_build.source_files(str(root))


def test_a_macos_controller_cannot_build_linux_code_without_a_cross_compiler(
        capsys, root, tmp_path, tools, monkeypatch):
    monkeypatch.setattr(nvml_build.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(nvml_build.platform, "machine", lambda: "arm64")
    tools("make", "cc")
    assert select(capsys, root, tmp_path, "aarch64")["architectures"]["aarch64"] == {
        "problem": "this controller (Darwin aarch64) has no aarch64-linux-gnu-gcc to build Linux code for aarch64"}
    assert not tools.log.exists()


def test_a_controller_without_make_says_so(capsys, root, tmp_path, tools):
    tools("x86_64-linux-gnu-gcc")
    assert select(capsys, root, tmp_path, "x86_64")["architectures"]["x86_64"] == {
        "problem": "this controller has no make"}


def test_mode_target_builds_nothing_and_packs_the_source(capsys, root, tmp_path, tools):
    tools("make", "x86_64-linux-gnu-gcc")
    prebuild(root, nvml_build.source_hash(str(root)), arch="x86_64")
    result = select(capsys, root, tmp_path, "x86_64", mode="target")
    assert result["architectures"] == {} and os.path.isfile(result["pack"]) and not tools.log.exists()


def test_a_failing_build_fails_with_makes_output_and_caches_nothing(capsys, root, tmp_path, tools, monkeypatch):
    tools("make", "aarch64-linux-gnu-gcc")
    monkeypatch.setenv("FAIL", "init.c:1: error: boom")
    argv = ["select", "--root", str(root), "--cache", str(tmp_path / "cache"), "--arch=aarch64"]
    assert nvml_build.main(argv) == 1
    err = capsys.readouterr().err
    assert "building the mock NVML for aarch64" in err and "init.c:1: error: boom" in err
    (hash_dir,) = (tmp_path / "cache").iterdir()
    # Only the lock that keeps two builds of one architecture apart.
    assert os.listdir(hash_dir) == ["aarch64.lock"]


def test_nodes_selecting_one_architecture_at_once_build_it_once(root, tmp_path, tools):
    # Each node's action plugin selects for itself: three at once must not build three times.
    tools("make", "aarch64-linux-gnu-gcc")
    argv = [sys.executable, os.path.join(ROOT, "nvml_src", "nvml_build.py"), "select", "--root", str(root),
            "--cache", str(tmp_path / "cache"), "--arch=aarch64"]
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for dummy in range(3)]
    picked = [json.loads(run.communicate()[0])["architectures"]["aarch64"] for run in runs]
    assert sorted(p["origin"] for p in picked) == ["built", "cache", "cache"]
    assert len({p["library"] for p in picked}) == 1
    assert len(tools.log.read_text().splitlines()) == 1
