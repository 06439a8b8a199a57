"""NVIDIA's real nvidia-smi, unmodified, against the mock NVML.

Both Debian non-free builds (bookworm 535.261.03, trixie 550.163.01; fetched by
scripts/deps/install.d/nvidia-debs.sh) run `nvidia-smi`, `-L`, `-q`, `-q -x`, `topo -m` and a
CSV query for every built-in profile and a 128-GPU custom node, and must exit 0 printing the
profile's names, UUIDs, bus ids, memory, driver version and compute capability.

nvidia-smi dlopens libnvidia-ml.so.1 through the normal search path, so LD_LIBRARY_PATH points
at the built mock and MOCK_NVML_CONFIG at a config rendered from the profile (visibility "all":
this host has no /dev/nvidia*). What nvidia-smi needs from the library: docs/nvidia-smi.md.
"""
import collections
import ctypes
import csv
import functools
import io
import re
import signal
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import LIB, build_node, write_config
from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles

ROOT = Path(__file__).resolve().parents[2]
NVIDIA_SMI = {
    "535": ROOT / ".build" / "nvidia" / "bookworm" / "nvidia-smi",
    "550": ROOT / ".build" / "nvidia" / "trixie" / "nvidia-smi",
}
QUERY_FIELDS = ("index,name,uuid,pci.bus_id,memory.total,memory.used,driver_version,"
                "compute_cap,temperature.gpu,power.draw")
# nvidia-smi's own `topo -m` keeps GPUs (and NICs) in a 64-entry array.
TOPO_MAX_GPUS = 64
PCIE_PATHS = {"PIX", "PXB", "PHB", "NODE", "SYS"}


def _custom_node(gpu_count):
    """A custom node: a board that no profile has, in numbers no chassis holds."""
    return build_node("dgxh100", gpu_count=gpu_count, node_id="smi-custom-%d" % gpu_count,
                      driver_version="550.163.01",
                      overrides={"name": "NVIDIA H100 NVL", "memory_total_bytes": 95830 * profiles.MIB,
                                 "temp_idle_c": 41, "power_idle_mw": 61234})


NODES = {name: functools.partial(build_node, name, node_id="smi-" + name)
         for name in profiles.PROFILE_NAMES}
NODES["custom-128"] = functools.partial(_custom_node, 128)

NodeConfig = collections.namedtuple("NodeConfig", "node path")


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    """Node name -> NodeConfig(Node, rendered config path), built once per module."""
    cache = {}

    def get(name, factory=None):
        if name not in cache:
            node = (factory or NODES[name])()
            cache[name] = NodeConfig(node, write_config(tmp_path_factory.mktemp(name), node))
        return cache[name]

    return get


@pytest.fixture(scope="module")
def smi(configs):
    """Run one nvidia-smi version on one node's config; results are cached per module."""
    results = {}

    def run(version, node_name, *args, factory=None):
        key = (version, node_name, args)
        if key not in results:
            binary = NVIDIA_SMI[version]
            if not binary.exists():
                pytest.fail("%s is missing: run scripts/deps/install.d/nvidia-debs.sh" % binary)
            env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "LD_LIBRARY_PATH": str(LIB.parent),
                   "MOCK_NVML_CONFIG": str(configs(node_name, factory).path)}
            results[key] = subprocess.run([str(binary), *args], env=env, capture_output=True,
                                          text=True, timeout=120, check=False)
        return results[key]

    return run


def _ok(result):
    assert result.returncode == 0, "nvidia-smi %s exited %d:\n%s%s" % (
        " ".join(result.args[1:]), result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    return result.stdout


def _fits(shown, value):
    """The summary table cuts a value too wide for its column and marks the cut with '...'."""
    return shown == value or (shown.endswith("...") and value.startswith(shown[:-3]))


versions = pytest.mark.parametrize("version", sorted(NVIDIA_SMI))
nodes = pytest.mark.parametrize("node_name", sorted(NODES))


@versions
@nodes
def test_summary_table_shows_every_gpu(smi, configs, version, node_name):
    node = configs(node_name).node
    out = _ok(smi(version, node_name))
    assert "Driver Version: %s " % node.driver_version in out
    assert "CUDA Version: %s " % node.cuda_version_string in out
    rows = re.findall(r"^\|\s+(\d+)\s+(.+?)\s+(?:On|Off)\s+\|\s+([0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.[0-9A-F])",
                      out, re.M)
    memory = re.findall(r"(\d+)MiB /\s+(\d+(?:MiB|\.\.\.))", out)
    assert len(rows) == len(node.gpus) == len(memory)
    for gpu, (index, name, bus_id), (used, total) in zip(node.gpus, rows, memory):
        assert int(index) == gpu.index
        assert _fits(name, gpu.board.name)
        assert bus_id == gpu.pci_bus_id
        assert used == "0"
        assert _fits(total, "%dMiB" % (gpu.board.memory_total_bytes // profiles.MIB))


@versions
@nodes
def test_list_names_every_gpu_with_its_uuid(smi, configs, version, node_name):
    node = configs(node_name).node
    out = _ok(smi(version, node_name, "-L"))
    assert out.splitlines() == ["GPU %d: %s (UUID: %s)" % (gpu.index, gpu.board.name, gpu.uuid)
                                for gpu in node.gpus]


def _query_sections(out):
    """-q output: (header lines, {bus id: section text})."""
    parts = re.split(r"^GPU ([0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.[0-9A-F])$", out, flags=re.M)
    return parts[0], dict(zip(parts[1::2], parts[2::2]))


def _field(text, label):
    m = re.search(r"^\s*%s\s+: (.*)$" % re.escape(label), text, re.M)
    assert m, "no %r in:\n%s" % (label, text[:3000])
    return m.group(1)


@versions
@nodes
def test_query_describes_every_gpu(smi, configs, version, node_name):
    node = configs(node_name).node
    header, sections = _query_sections(_ok(smi(version, node_name, "-q")))
    assert _field(header, "Driver Version") == node.driver_version
    assert _field(header, "CUDA Version") == node.cuda_version_string
    assert _field(header, "Attached GPUs") == str(len(node.gpus))
    assert list(sections) == [gpu.pci_bus_id for gpu in node.gpus]
    for gpu in node.gpus:
        section = sections[gpu.pci_bus_id]
        assert _field(section, "Product Name") == gpu.board.name
        assert _field(section, "GPU UUID") == gpu.uuid
        assert _field(section, "Serial Number") == gpu.serial
        assert _field(section, "Minor Number") == str(gpu.minor)
        assert _field(section, "VBIOS Version") == gpu.board.vbios_version
        assert _field(section, "Board Part Number") == gpu.board.board_part_number
        # Served by the mock's export table, not by a public NVML function.
        assert _field(section, "GPU Part Number") == gpu.board.gpu_part_number
        fb_memory = section.split("FB Memory Usage", 1)[1]
        assert _field(fb_memory, "Total") == "%d MiB" % (gpu.board.memory_total_bytes // profiles.MIB)


@nodes
def test_query_shows_c2c_mode_enabled_exactly_on_the_grace_boards(smi, configs, node_name):
    # 550 is the first nvidia-smi that asks (nvmlDeviceGetC2cModeInfoV); 535 has no such field.
    node = configs(node_name).node
    _header, sections = _query_sections(_ok(smi("550", node_name, "-q")))
    want = "Enabled" if node.board.c2c_mode else "Disabled"
    assert [_field(sections[gpu.pci_bus_id], "GPU C2C Mode") for gpu in node.gpus] == [want] * len(node.gpus)


@versions
@nodes
def test_query_leaves_no_field_uninitialized(smi, version, node_name):
    # A field whose export-table entry lies beyond the table's size reads "Uninitialized";
    # the mock's table is as long as the real driver's, so every field is a value or N/A.
    out = _ok(smi(version, node_name, "-q"))
    assert not re.findall(r"^.*: (?:Uninitialized|Unknown Error)$", out, re.M)


@versions
@nodes
def test_xml_query_describes_every_gpu(smi, configs, version, node_name):
    node = configs(node_name).node
    root = ET.fromstring(_ok(smi(version, node_name, "-q", "-x")))
    assert root.findtext("driver_version") == node.driver_version
    assert root.findtext("cuda_version") == node.cuda_version_string
    assert root.findtext("attached_gpus") == str(len(node.gpus))
    gpus = root.findall("gpu")
    assert [g.get("id") for g in gpus] == [gpu.pci_bus_id for gpu in node.gpus]
    for gpu, element in zip(node.gpus, gpus):
        assert element.findtext("product_name") == gpu.board.name
        assert element.findtext("uuid") == gpu.uuid
        assert element.findtext("serial") == gpu.serial
        assert element.findtext("minor_number") == str(gpu.minor)
        assert element.findtext("pci/pci_bus_id") == gpu.pci_bus_id
        assert element.findtext("board_part_number") == gpu.board.board_part_number
        assert element.findtext("gpu_part_number") == gpu.board.gpu_part_number
        assert element.findtext("fb_memory_usage/total") == "%d MiB" % (
            gpu.board.memory_total_bytes // profiles.MIB)


@versions
@nodes
def test_csv_query_reports_the_profiles_values(smi, configs, version, node_name):
    node = configs(node_name).node
    out = _ok(smi(version, node_name, "--query-gpu=" + QUERY_FIELDS, "--format=csv"))
    rows = list(csv.reader(io.StringIO(out), skipinitialspace=True))
    assert rows[0] == ["index", "name", "uuid", "pci.bus_id", "memory.total [MiB]",
                       "memory.used [MiB]", "driver_version", "compute_cap", "temperature.gpu",
                       "power.draw [W]"]
    board = node.board
    # An idle board: nothing allocated (the driver's reservation is not "used"), idle
    # temperature and power, as the reference H100 reports them.
    assert rows[1:] == [[str(gpu.index), board.name, gpu.uuid, gpu.pci_bus_id,
                         "%d MiB" % (board.memory_total_bytes // profiles.MIB), "0 MiB",
                         node.driver_version, "%d.%d" % (board.cc_major, board.cc_minor),
                         str(board.temp_idle_c), "%.2f W" % (board.power_idle_mw / 1000.0)]
                        for gpu in node.gpus]


def _topology(out):
    """topo -m: (column names, {row name: [cells]}) of the GPU matrix."""
    lines = out.splitlines()
    header = re.sub(r"\x1b\[[0-9;]*m", "", lines[0]).split("\t")
    columns = [h for h in header if re.fullmatch(r"GPU\d+", h)]
    rows = {}
    for line in lines[1:]:
        cells = line.split("\t")
        if re.fullmatch(r"GPU\d+", cells[0]):
            rows[cells[0]] = [c.strip() for c in cells[1:]]
    return columns, header, rows


def _check_topology(node, out):
    columns, header, rows = _topology(out)
    names = ["GPU%d" % gpu.index for gpu in node.gpus]
    assert columns == names and list(rows) == names
    numa_column = header.index("NUMA Affinity") - 1
    # NVLink boards are NVSwitch baseboards: every pair is joined by all of a GPU's links, as a
    # real DGX H100 prints NV18 in every cell.
    nvlinked = "NV%d" % node.board.nvlink_count
    for gpu in node.gpus:
        cells = rows["GPU%d" % gpu.index]
        for peer in node.gpus:
            cell = cells[peer.index]
            if peer.index == gpu.index:
                assert cell == "X"
            elif node.board.nvlink_count:
                assert cell == nvlinked, (gpu.index, peer.index, cell)
            else:
                assert cell in PCIE_PATHS, (gpu.index, peer.index, cell)
        assert cells[numa_column] == str(gpu.numa_node)


@versions
@pytest.mark.parametrize("node_name", sorted(profiles.PROFILE_NAMES))
def test_topology_matrix_has_a_path_for_every_pair(smi, configs, version, node_name):
    node = configs(node_name).node
    _check_topology(node, _ok(smi(version, node_name, "topo", "-m")))


@versions
def test_topology_matrix_covers_nvidia_smis_maximum_of_64_gpus(smi, configs, version):
    factory = functools.partial(_custom_node, TOPO_MAX_GPUS)
    out = _ok(smi(version, "custom-64", "topo", "-m", factory=factory))
    _check_topology(configs("custom-64", factory).node, out)


@versions
def test_topology_matrix_beyond_64_gpus_overruns_nvidia_smi_itself(smi, version):
    # nvidia-smi copies every GPU into its 64-entry matrix array without a bound check: with
    # 128 GPUs it draws the first 64 columns and then dies on its own smashed stack (what it
    # printed is lost with its stdio buffer when stdout is a pipe). No real driver enumerates
    # that many GPUs, so this is a limit of the tool; the test shows when a fixed one arrives.
    result = smi(version, "custom-128", "topo", "-m")
    assert result.returncode == -signal.SIGSEGV


@versions
def test_every_nvml_function_nvidia_smi_looks_up_is_exported(version):
    binary = NVIDIA_SMI[version]
    if not binary.exists():
        pytest.fail("%s is missing: run scripts/deps/install.d/nvidia-debs.sh" % binary)
    wanted = set(re.findall(rb"\b(nvml[A-Z]\w+)\x00", binary.read_bytes()))
    exported = set(subprocess.run(["nm", "-D", "--defined-only", "--format=just-symbols",
                                   str(LIB)], capture_output=True, check=True).stdout.split())
    assert len(wanted) > 200
    assert sorted(wanted - exported) == []


# nvmlInternalGetExportTable, as nvidia-smi calls it and as the real 535/550 libraries answer.
SMI_TABLE_ID = bytes.fromhex("c4fe3e6cc98f6c4ea327ee696e12f7c4")
SUCCESS, INVALID_ARGUMENT = 0, 2


def _export_table(libnvml, table_id):
    table = ctypes.c_void_p(0x1)
    ret = libnvml.nvmlInternalGetExportTable(ctypes.byref(table), table_id)
    return ret, table.value


def test_export_table_for_nvidia_smis_id_is_as_long_as_the_550_drivers(libnvml):
    # No nvmlInit first: nvidia-smi may ask before init succeeded, the real library answers.
    ret, table = _export_table(libnvml, SMI_TABLE_ID)
    assert ret == SUCCESS
    assert ctypes.c_size_t.from_address(table).value == 2008


def test_export_table_for_an_unknown_id_is_invalid_argument_and_null(libnvml):
    assert _export_table(libnvml, bytes(16)) == (INVALID_ARGUMENT, None)


def test_export_table_without_an_id_is_invalid_argument_and_untouched(libnvml):
    assert _export_table(libnvml, None) == (INVALID_ARGUMENT, 0x1)
    assert libnvml.nvmlInternalGetExportTable(None, SMI_TABLE_ID) == INVALID_ARGUMENT


MIG_ROW = re.compile(r"^\|\s+(\d+)\s+(MIG \S+)\s+(\d+)\s+(\d+)/(\d+)\s+([\d.]+)\s+(?:Yes|No)\s+"
                     r"(\d+)\s+(\d+)\s+(\d+)\s+\|\n\|\s+(\d+)\s+(\d+)\s+(\d+)\s+\|$", re.M)


@versions
@pytest.mark.parametrize("node_name", sorted(p for p in profiles.PROFILE_NAMES
                                             if profiles.PROFILES[p].board.mig_capable))
def test_mig_profile_list_shows_the_boards_gpu_instance_profiles(smi, configs, version, node_name):
    # `nvidia-smi mig -lgip` with MIG mode on and no instance created: every profile free.
    factory = functools.partial(build_node, node_name, node_id="smi-mig-" + node_name,
                                mig_enabled=True)
    out = _ok(smi(version, "mig-" + node_name, "mig", "-lgip", factory=factory))
    node = configs("mig-" + node_name, factory).node
    expected = {(profile.name, profile.profile_id, profile.instance_count,
                 "%.2f" % (profile.memory_size_mb / 1024.0), profile.multiprocessor_count,
                 profile.decoder_count, profile.encoder_count, profile.copy_engine_count,
                 profile.jpeg_count, profile.ofa_count)
                for profile in node.board.mig_profiles}
    shown = {}
    for row in MIG_ROW.findall(out):
        gpu, name, profile_id, free, total, memory, sms, dec, enc, ce, jpeg, ofa = row
        assert free == total
        shown.setdefault(int(gpu), set()).add(
            (name, int(profile_id), int(total), memory, int(sms), int(dec), int(enc), int(ce),
             int(jpeg), int(ofa)))
    assert shown == {gpu.index: expected for gpu in node.gpus}
