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

# [board] key -> attribute of profiles.Board. Every attribute is required: a missing one is a
# bug in the mapping, not something to paper over with a default.
BOARD_KEYS = (
    ("name", "name"),
    ("brand", "nvml_brand"),
    ("architecture", "nvml_architecture"),
    ("cuda_compute_capability", "compute_capability"),
    ("pci_device_id", "pci_device_id"),
    ("pci_subsystem_id", "pci_subsystem_id"),
    ("memory_total_mib", "memory_total_mib"),
    ("memory_reserved_mib", "memory_reserved_mib"),
    ("bar1_total_mib", "bar1_total_mib"),
    ("memory_bus_width", "memory_bus_width"),
    ("cuda_cores", "cuda_cores"),
    ("multiprocessor_count", "sm_count"),
    ("clock_graphics_mhz", "clock_graphics_mhz"),
    ("clock_graphics_max_mhz", "clock_graphics_max_mhz"),
    ("clock_memory_mhz", "clock_memory_mhz"),
    ("clock_video_mhz", "clock_video_mhz"),
    ("clock_video_max_mhz", "clock_video_max_mhz"),
    ("supported_memory_clocks_mhz", "supported_memory_clocks_mhz"),
    ("power_usage_mw", "power_usage_mw"),
    ("power_limit_mw", "power_limit_mw"),
    ("power_limit_min_mw", "power_limit_min_mw"),
    ("power_limit_max_mw", "power_limit_max_mw"),
    ("temperature_c", "temperature_c"),
    ("temperature_slowdown_c", "temperature_slowdown_c"),
    ("temperature_shutdown_c", "temperature_shutdown_c"),
    ("temperature_memory_max_c", "temperature_memory_max_c"),
    ("pcie_generation", "pcie_generation"),
    ("pcie_width", "pcie_width"),
    ("vbios_version", "vbios_version"),
    ("inforom_image_version", "inforom_image_version"),
    ("board_part_number", "board_part_number"),
    ("nvlink_links", "nvlink_links"),
    ("nvlink_version", "nvlink_version"),
    ("mig_capable", "mig_capable"),
)

# [mig_profile] key -> attribute of one entry of Board.mig_profiles.
MIG_PROFILE_KEYS = (
    ("profile", "nvml_profile"),
    ("id", "id"),
    ("name", "name"),
    ("slice_count", "slice_count"),
    ("instance_count", "instance_count"),
    ("multiprocessor_count", "sm_count"),
    ("copy_engine_count", "copy_engine_count"),
    ("decoder_count", "decoder_count"),
    ("encoder_count", "encoder_count"),
    ("jpeg_count", "jpeg_count"),
    ("ofa_count", "ofa_count"),
    ("memory_size_mb", "memory_mib"),
)


class NvmlConfigError(ValueError):
    """A node or option that cannot be written as an NVML config; the message names it."""


def _value(key, value):
    """One value in the file's syntax: ints in decimal, bools as 0/1, lists comma-separated."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
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
    board_pairs = []
    for key, attr in BOARD_KEYS:
        value = _attr(board, attr, "Board")
        if key == "cuda_compute_capability" and isinstance(value, (list, tuple)):
            value = "%d.%d" % tuple(value)
        board_pairs.append((key, value))
    _section(lines, "board", board_pairs)
    for profile in _attr(board, "mig_profiles", "Board"):
        _section(lines, "mig_profile",
                 [(key, _attr(profile, attr, "MIG profile")) for key, attr in MIG_PROFILE_KEYS])
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
