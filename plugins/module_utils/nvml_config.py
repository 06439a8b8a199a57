# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the mock NVML configuration file (format: docs/nvml-config.md) from a profiles Node.

Standard library only: this runs on targets, shipped with the modules that write
``<driver root>/etc/nvidia-mock/nvml.conf``. The C library parses the same text, and its
built-in default is this renderer's output for the default profile (nvml_src/gen_default.py),
so the Python profile stays the single source of truth.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

FORMAT_VERSION = 1
VISIBILITY_MODES = ("devnodes", "all")

# The C parser's limits (nvml_src/src/config.c); checked here so a node the library would
# refuse is refused at render time, with the option named.
MAX_GPUS = 254
MAX_VALUE_LEN = 255

# [board] keys, named as the profiles.Board fields they come from (every one required).
BOARD_KEYS = (
    "name", "brand", "architecture", "cc_major", "cc_minor", "cuda_cores", "sm_count",
    "memory_bus_width", "memory_total_bytes", "memory_reserved_bytes", "bar1_total_bytes",
    "pci_device_id", "pci_subsystem_id", "pcie_max_gen", "pcie_max_width", "bus_type",
    "power_default_limit_mw", "power_min_limit_mw", "power_max_limit_mw", "power_idle_mw",
    "clock_graphics_max_mhz", "clock_sm_max_mhz", "clock_mem_max_mhz", "clock_video_max_mhz",
    "clock_graphics_idle_mhz", "clock_mem_idle_mhz", "clock_video_idle_mhz",
    "temp_idle_c", "temp_mem_idle_c", "temp_shutdown_c", "temp_slowdown_c", "temp_gpu_max_c",
    "temp_mem_max_c", "vbios_version", "board_part_number", "gpu_part_number",
    "inforom_image_version", "num_fans", "nvlink_count", "gsp_firmware", "ecc_supported",
    "mig_capable",
)

# [mig_profile] keys, named as the profiles.MigProfile fields.
MIG_PROFILE_KEYS = (
    "index", "profile_id", "name", "slice_count", "instance_count", "multiprocessor_count",
    "memory_size_mb", "copy_engine_count", "decoder_count", "encoder_count", "jpeg_count",
    "ofa_count",
)


class NvmlConfigError(ValueError):
    """A node or option that cannot be written as an NVML config; the message names it."""


# Written in hexadecimal because that is how NVIDIA tools print them.
HEX_KEYS = frozenset(("pci_device_id", "pci_subsystem_id"))


def _value(key, value):
    """One value in the file's syntax: ints in decimal, bools as 0/1, lists comma-separated."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return ("0x%08X" % value) if key in HEX_KEYS else str(value)
    if isinstance(value, (list, tuple)):
        return ",".join(_value(key, v) for v in value)
    text = str(value)
    if "\n" in text or "\r" in text or len(text) > MAX_VALUE_LEN or text != text.strip():
        raise NvmlConfigError(
            "NVML config value for %r must be one line of at most %d characters without "
            "leading or trailing spaces, got %r." % (key, MAX_VALUE_LEN, text))
    return text


def _section(lines, name, pairs):
    lines.append("")
    lines.append("[%s]" % name)
    for key, value in pairs:
        lines.append("%s = %s" % (key, _value(key, value)))


def _attr(obj, attr, where):
    try:
        return getattr(obj, attr)
    except AttributeError:
        raise NvmlConfigError("%s has no attribute %r needed by the NVML config." % (where, attr))


def render(node, visibility="devnodes", dev_root="/dev"):
    """Return the text of nvml.conf describing ``node`` (a profiles.Node).

    ``visibility`` is "devnodes" (enumerate only GPUs whose <dev_root>/nvidia<minor> exists, as
    real NVML does in a container) or "all"; ``dev_root`` is where those device nodes live.
    """
    if visibility not in VISIBILITY_MODES:
        raise NvmlConfigError("visibility must be one of %s, got %r."
                              % (", ".join(VISIBILITY_MODES), visibility))
    if not isinstance(dev_root, str) or not dev_root.startswith("/"):
        raise NvmlConfigError("dev_root must be an absolute path, got %r." % (dev_root,))
    gpus = list(node.gpus)
    if not 1 <= len(gpus) <= MAX_GPUS:
        raise NvmlConfigError("gpu_count must be between 1 and %d for the mock NVML, got %d."
                              % (MAX_GPUS, len(gpus)))
    board = node.board

    lines = [
        "# Mock NVML configuration for node %s (profile %s)." % (node.node_id, node.profile),
        "# Written by gpumock.nvidia; format: docs/nvml-config.md.",
        "format = %d" % FORMAT_VERSION,
    ]
    _section(lines, "system", (
        ("driver_version", node.driver_version),
        ("nvml_version", node.nvml_version),
        ("cuda_driver_version", node.cuda_driver_version),
        ("visibility", visibility),
        ("dev_root", dev_root),
    ))
    _section(lines, "board", [(key, _attr(board, key, "Board")) for key in BOARD_KEYS])
    for profile in _attr(board, "mig_profiles", "Board"):
        _section(lines, "mig_profile",
                 [(key, _attr(profile, key, "MigProfile")) for key in MIG_PROFILE_KEYS])
    for gpu in gpus:
        _section(lines, "gpu", (
            ("index", gpu.index),
            ("minor", gpu.minor),
            ("uuid", gpu.uuid),
            ("serial", gpu.serial),
            ("pci_bus_id", gpu.pci_bus_id),
            ("numa_node", gpu.numa_node),
            ("mig_mode", bool(gpu.mig_enabled)),
        ))
    return "\n".join(lines) + "\n"
