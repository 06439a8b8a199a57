"""Nothing N/A that a real board shows: `nvidia-smi -q` on the mock dgxh100 against a real H100.

The reference is `nvidia-smi -q` of a real H100 80GB HBM3 (driver 580.159.04, copied from
shared/reference/h100-80gb-hbm3). Every field that shows a value there must show a value, not
N/A and not nothing, when the real 535 and 550 nvidia-smi (the Debian builds test_nvidia_smi.py
runs) query the mock's dgxh100 profile. Values themselves may differ (a timestamp, a UUID, a
reading); what each command needs from the library is in docs/nvidia-smi.md.

Two kinds of field are exempt, each listed with its reason:

- a field whose label does not occur anywhere in that nvidia-smi binary: that build cannot print
  it (the 580 tool added GPU PDI, Platform Info, Clocks Event Reasons Counters, ...);
- a field the older builds print under another label (RENAMED), which is compared under that label.
"""
import re
from pathlib import Path

import pytest

import test_nvidia_smi
from test_nvidia_smi import NVIDIA_SMI, _ok

# The module-scoped fixtures of test_nvidia_smi.py: one config and one nvidia-smi run per node.
configs = test_nvidia_smi.configs
smi = test_nvidia_smi.smi

CAPTURE = Path(__file__).resolve().parent / "reference" / "h100-80gb-hbm3-nvidia-smi-q.txt"

# Capture path -> the path the 535/550 builds print the same field under.
RENAMED = {
    # 580 groups it under "Platform Info"; 535/550 print it at the top level.
    ("Platform Info", "Module Id"): ("Module ID",),
    # Only the capitalisation changed.
    ("Utilization", "GPU"): ("Utilization", "Gpu"),
}
RENAMED_535 = {
    # 535 has one "Power Draw" line, nvmlDeviceGetPowerUsage: the instantaneous reading.
    ("GPU Power Readings", "Instantaneous Power Draw"): ("GPU Power Readings", "Power Draw"),
}


def parse_query(text):
    """`nvidia-smi -q` text of the first GPU -> {(section, ..., label): value}.

    Sections are lines without " : ", nested by indentation; the GPU's own header line
    ("GPU 00000000:18:00.0") starts the fields of that GPU, and a second one ends them.
    """
    fields, stack, gpus = {}, [], 0
    for line in text.splitlines():
        if not line.strip() or line.startswith("="):
            continue
        if re.match(r"^GPU [0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.[0-9A-F]$", line):
            gpus += 1
            if gpus > 1:
                break
            stack = []
            continue
        indent = len(line) - len(line.lstrip(" "))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        label, sep, value = line.strip().partition(" : ")
        if sep:
            fields[tuple(name for _indent, name in stack) + (label.strip(),)] = value.strip()
        else:
            stack.append((indent, label.strip()))
    return fields


def test_parse_query_nests_fields_under_their_sections():
    text = ("Attached GPUs : 1\nGPU 00000000:18:00.0\n    Temperature\n"
            "        GPU Current Temp          : 35 C\n    Fan Speed   : N/A\n")
    assert parse_query(text) == {("Attached GPUs",): "1", ("Temperature", "GPU Current Temp"): "35 C",
                                 ("Fan Speed",): "N/A"}


def _shown_by_the_capture():
    return {path: value for path, value in parse_query(CAPTURE.read_text()).items() if value != "N/A"}


def _printable_by(version):
    binary = NVIDIA_SMI[version]
    if not binary.exists():
        pytest.fail("%s is missing: run scripts/deps/install.d/nvidia-debs.sh" % binary)
    data = binary.read_bytes()
    return lambda path: all(label.encode() in data for label in path)


def _renamed(version):
    return {**RENAMED, **(RENAMED_535 if version == "535" else {})}


@pytest.mark.parametrize("version", sorted(NVIDIA_SMI))
def test_query_shows_a_value_wherever_the_real_h100_does(smi, version):
    mock = parse_query(_ok(smi(version, "dgxh100", "-q")))
    printable = _printable_by(version)
    renamed = _renamed(version)
    missing = {}
    for path, real in _shown_by_the_capture().items():
        path = renamed.get(path, path)
        if not printable(path):
            continue
        if mock.get(path, "N/A") == "N/A":
            missing[" / ".join(path)] = "real: %s, mock: %s" % (real, mock.get(path, "(missing)"))
    assert missing == {}


@pytest.mark.parametrize("version", sorted(NVIDIA_SMI))
def test_every_renamed_field_is_one_that_build_prints(version):
    printable = _printable_by(version)
    capture = _shown_by_the_capture()
    for old, new in _renamed(version).items():
        assert old in capture, old
        assert printable(new), new


@pytest.mark.parametrize("version", sorted(NVIDIA_SMI))
def test_only_fields_newer_than_the_build_are_exempt(version):
    # The exemption is for fields the build cannot print at all; today those are all fields of
    # the 580 tool, so nothing the 535/550 tools know is excused.
    printable = _printable_by(version)
    renamed = _renamed(version)
    exempt = sorted(" / ".join(p) for p in _shown_by_the_capture() if not printable(renamed.get(p, p)))
    assert exempt == sorted(EXEMPT_580_ONLY + (EXEMPT_535_ONLY if version == "535" else []))


# Fields of the reference capture (580) that the Debian builds do not have, with what they are.
EXEMPT_580_ONLY = [
    "Display Attached",                       # 580: display attached state
    "GPU PDI",                                # 580: nvmlDeviceGetPdi
    "GPU Recovery Action",                    # 580: the action a GPU error asks for
    "Clocks Event Reasons Counters / SW Power Capping",   # 580: clock event durations
    "Clocks Event Reasons Counters / Sync Boost",
    "Clocks Event Reasons Counters / SW Thermal Slowdown",
    "Clocks Event Reasons Counters / HW Thermal Slowdown",
    "Clocks Event Reasons Counters / HW Power Braking",
    "ECC Errors / Channel Repair Pending",    # 580: nvmlDeviceGetRepairStatus
    "ECC Errors / TPC Repair Pending",
    "ECC Errors / Unrepairable Memory",       # 580: nvmlDeviceGetUnrepairableMemoryFlag
    "Remapped Rows / Inactive Correctable Error",     # 580: inactive remapped-row counters
    "Remapped Rows / Inactive Uncorrectable Error",
    "Capabilities / EGM",                     # 580: extended GPU memory capability
]
EXEMPT_535_ONLY = [
    "GPU C2C Mode",                           # 550: nvmlDeviceGetC2cModeInfoV
    "PCI / Base Classcode",                   # 550: PCI class of nvmlDeviceGetPciInfoExt
    "PCI / Sub Classcode",
    "GPU Power Readings / Average Power Draw",        # 550: power fields with a scope
    "GPU Memory Power Readings / Average Power Draw",
]
