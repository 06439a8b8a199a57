# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""The mock NVML's configuration schema: every section and key of nvml.conf, defined once.

Everything else that names these keys is derived from this file:

* ``profiles.Board`` and ``profiles.MigProfile`` are dataclasses made from ``BOARD`` and
  ``MIG_PROFILE`` (``dataclass_fields``);
* ``nvml_config.render`` writes every section and key in the order given here, with these value
  syntaxes and limits;
* at build time ``nvml_src/gen_schema.py`` writes the C library's config structs and the
  parser's key tables from it (``config_schema.h``, ``config_tables.h`` in the build directory);
* the key tables of ``docs/nvml-config.md`` are written from the ``doc`` sentences here
  (``python3 nvml_src/gen_schema.py --docs docs/nvml-config.md``); a unit test holds the page to them.

So a new NVML config value is one new ``Key`` here, plus the C getter that reads it.

Standard library only: shipped to targets with the modules (the renderer and profiles import it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

FORMAT_VERSION = 1

# Value kinds, each with one syntax in the file (docs/nvml-config.md, "Syntax") and one C type.
UINT = "uint"           # decimal or 0x hexadecimal (written in hex where hexadecimal); C unsigned long long
BOOL = "bool"           # 0 or 1; C unsigned char
STRING = "string"       # 1 to max_len bytes, one line; C char[max_len + 1]
CHOICE = "choice"       # one of choices; C unsigned (the choice's position)
BUS_ID = "bus_id"       # DDDDDDDD:BB:DD.F; C struct mock_bus_id (parsed once, by the parser)
KINDS = (UINT, BOOL, STRING, CHOICE, BUS_ID)
PYTHON_TYPES = {UINT: int, BOOL: bool, STRING: str, CHOICE: str, BUS_ID: str}

# The longest string any key may hold (well inside MAX_LINE with its key).
MAX_STRING = 255
# The parser's limits on the file itself: bytes of one line (without its newline), and of the
# whole file (also of a config embedded in the library file). Generated into config_schema.h.
MAX_LINE = 1023
MAX_CONFIG_BYTES = 4 * 1024 * 1024
# The largest value of a UINT key: what the NVML field it is returned in holds (unsigned int),
# or for byte counts unsigned long long (``uint(..., maximum=MAX_UINT64)``).
MAX_INT32 = (1 << 31) - 1
MAX_UINT32 = (1 << 32) - 1
MAX_UINT64 = (1 << 64) - 1


class Key(namedtuple("Key", "name kind doc max_len c_buffer choices default hexadecimal attr maximum")):
    """One ``key = value`` of a section.

    name      the key, the C struct member, and (unless ``attr``) the Python attribute it comes from
    kind      one of KINDS
    doc       the sentence of the docs table (Markdown)
    max_len   STRING: the longest value accepted
    c_buffer  STRING: the NVML buffer macro the value is copied into; the C build checks that
              it is max_len + 1 bytes
    choices   CHOICE: the words accepted, in the order of their C values
    default   the value of an optional key (keys without a default are required)
    hexadecimal  UINT: written as 0x%08X, because that is how NVIDIA tools print it
    attr      the Python attribute the renderer reads, where it is not ``name``
    maximum   UINT: the largest value accepted (MAX_UINT32 unless the key says otherwise)
    """

    __slots__ = ()

    @property
    def python_type(self):
        return PYTHON_TYPES[self.kind]


def _key(name, kind, doc, max_len=None, c_buffer=None, choices=(), default=None,
         hexadecimal=False, attr=None, maximum=None):
    if kind not in KINDS:
        raise ValueError("%s: unknown kind %r" % (name, kind))
    if (kind == STRING) != (max_len is not None) or (max_len or 0) > MAX_STRING:
        raise ValueError("%s: a string key needs a max_len of at most %d, other kinds none"
                         % (name, MAX_STRING))
    if (kind == CHOICE) != bool(choices):
        raise ValueError("%s: a choice key needs its choices, other kinds none" % name)
    if kind == UINT:
        maximum = MAX_UINT32 if maximum is None else maximum
        if not 0 < maximum <= MAX_UINT64:
            raise ValueError("%s: the maximum must be from 1 to %d" % (name, MAX_UINT64))
    elif maximum is not None:
        raise ValueError("%s: only an uint key has a maximum" % name)
    return Key(name, kind, doc, max_len, c_buffer, tuple(choices), default, hexadecimal, attr, maximum)


def uint(name, doc, **kw):
    return _key(name, UINT, doc, **kw)


def boolean(name, doc, **kw):
    return _key(name, BOOL, doc, **kw)


def string(name, doc, max_len, c_buffer=None, **kw):
    return _key(name, STRING, doc, max_len=max_len, c_buffer=c_buffer, **kw)


class Section(namedtuple("Section", "name keys max_count required doc unique not_above")):
    """One ``[name]`` section: its keys in file order.

    max_count  how often it may appear (1: once); the C library's table size
    required   whether a file without it is refused
    doc        what the section holds (the sentence above its docs table)
    unique     keys whose value no two sections of this name may share (lookups by them must
               find one GPU)
    not_above  ``(key, limit)`` pairs of UINT keys: the value of key must not exceed that of limit
               in the same section (what the library subtracts or bounds by must hold)
    """

    __slots__ = ()

    @property
    def names(self):
        return tuple(key.name for key in self.keys)

    def key(self, name):
        for key in self.keys:
            if key.name == name:
                return key
        raise KeyError(name)


def section(name, keys, max_count, required, doc, unique=(), not_above=()):
    """A Section, refusing limits that name keys it does not have (or not UINT ones)."""
    names = [key.name for key in keys]
    for key in unique:
        if key not in names:
            raise ValueError("[%s]: unique key %s is not a key of the section" % (name, key))
    for pair in not_above:
        for key in pair:
            if key not in names or keys[names.index(key)].kind != UINT:
                raise ValueError("[%s]: %s in not_above is not an uint key of the section" % (name, key))
    return Section(name, tuple(keys), max_count, required, doc, tuple(unique), tuple(not_above))


SYSTEM = section("system", (
    string("driver_version", "`nvmlSystemGetDriverVersion`, e.g. `550.54.15`",
           79, "NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE"),
    string("nvml_version", "`nvmlSystemGetNVMLVersion`, e.g. `12.550.54.15`",
           79, "NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE"),
    uint("cuda_driver_version", "`nvmlSystemGetCudaDriverVersion(_v2)`, e.g. `12040`",
         maximum=MAX_INT32),
    _key("visibility", CHOICE,
         "`devnodes`: enumerate only GPUs whose `<dev_root>/nvidia<minor>` exists, "
         "renumbering indexes, as real NVML does in a container; `all`: every `[gpu]`",
         choices=("devnodes", "all"), default="devnodes"),
    string("dev_root",
           "directory holding the device nodes. The environment variable "
           "`MOCK_NVML_DEV_ROOT`, when set and not empty, wins: the CDI spec sets it to `/dev` for "
           "containers of a node whose dev root is elsewhere, because a runtime always puts the "
           "injected nodes under the container's `/dev`",
           MAX_STRING, default="/dev"),
), 1, True, "The driver and how GPUs are enumerated.")

BOARD = section("board", (
    string("name", "`nvmlDeviceGetName`", 95, "NVML_DEVICE_NAME_V2_BUFFER_SIZE"),
    uint("brand", "`nvmlBrandType_t` (`nvmlDeviceGetBrand`; 2 Tesla, 14 NVIDIA)"),
    uint("architecture",
         "`nvmlDeviceArchitecture_t` (6 Turing, 7 Ampere, 8 Ada, 9 Hopper, 10 Blackwell)"),
    uint("cc_major", "`nvmlDeviceGetCudaComputeCapability` major", maximum=MAX_INT32),
    uint("cc_minor", "`nvmlDeviceGetCudaComputeCapability` minor", maximum=MAX_INT32),
    uint("cuda_cores", "`nvmlDeviceGetNumGpuCores`"),
    uint("memory_bus_width", "bits (`nvmlDeviceGetMemoryBusWidth`)"),
    uint("memory_total_bytes", "framebuffer (`nvmlDeviceGetMemoryInfo` total)", maximum=MAX_UINT64),
    uint("memory_reserved_bytes", "what an idle board reports as used (driver reservations)",
         maximum=MAX_UINT64),
    uint("bar1_total_bytes", "`nvmlDeviceGetBAR1MemoryInfo` total", maximum=MAX_UINT64),
    uint("pci_device_id", "`nvmlPciInfo_t.pciDeviceId` (device << 16 \\| vendor, e.g. `0x233010DE`)",
         hexadecimal=True),
    uint("pci_subsystem_id", "`nvmlPciInfo_t.pciSubSystemId` (e.g. `0x16C110DE`)", hexadecimal=True),
    uint("pcie_max_gen", "PCIe link generation (current = max)"),
    uint("pcie_max_width", "PCIe link width (current = max)"),
    uint("bus_type", "`nvmlBusType_t` (2 = PCIe)"),
    uint("power_default_limit_mw", "default = current = enforced power limit"),
    uint("power_min_limit_mw", "`nvmlDeviceGetPowerManagementLimitConstraints` minimum"),
    uint("power_max_limit_mw", "`nvmlDeviceGetPowerManagementLimitConstraints` maximum"),
    uint("power_idle_mw", "`nvmlDeviceGetPowerUsage`; also the GPU's instantaneous and (where "
                          "supported) average power fields"),
    boolean("power_average_supported",
            "`NVML_FI_DEV_POWER_AVERAGE` of the GPU is supported (Ampere but GA100, and newer) "
            "and reports `power_idle_mw`; otherwise NOT_SUPPORTED"),
    uint("power_memory_idle_mw",
         "`NVML_FI_DEV_POWER_AVERAGE` of the memory (`NVML_POWER_SCOPE_MEMORY`; 0: NOT_SUPPORTED)"),
    uint("clock_graphics_max_mhz",
         "`nvmlDeviceGetMaxClockInfo` graphics; also the graphics applications clock"),
    uint("clock_sm_max_mhz", "`nvmlDeviceGetMaxClockInfo` SM"),
    uint("clock_mem_max_mhz",
         "`nvmlDeviceGetMaxClockInfo` memory; also the memory applications clock"),
    uint("clock_video_max_mhz", "`nvmlDeviceGetMaxClockInfo` video"),
    uint("clock_graphics_idle_mhz", "`nvmlDeviceGetClockInfo` graphics and SM"),
    uint("clock_mem_idle_mhz", "`nvmlDeviceGetClockInfo` memory"),
    uint("clock_video_idle_mhz", "`nvmlDeviceGetClockInfo` video"),
    uint("temp_idle_c", "`nvmlDeviceGetTemperature` (GPU)"),
    uint("temp_shutdown_c", "`nvmlDeviceGetTemperatureThreshold` shutdown"),
    uint("temp_slowdown_c", "`nvmlDeviceGetTemperatureThreshold` slowdown"),
    uint("temp_gpu_max_c", "`nvmlDeviceGetTemperatureThreshold` GPU max"),
    uint("temp_mem_max_c",
         "`nvmlDeviceGetTemperatureThreshold` memory max (0: no memory sensor, NOT_SUPPORTED)"),
    uint("temp_mem_idle_c",
         "`NVML_FI_DEV_MEMORY_TEMP` (0: no memory sensor, NOT_SUPPORTED)"),
    uint("tlimit_shutdown_c",
         "degrees C past T.Limit (margin 0) at which the GPU shuts down: "
         "`NVML_FI_DEV_TEMPERATURE_SHUTDOWN_TLIMIT` reports it negated (H100: 8, shown as -8 C)",
         maximum=MAX_INT32),
    uint("tlimit_slowdown_c",
         "degrees C past T.Limit at which hardware slowdown starts: "
         "`NVML_FI_DEV_TEMPERATURE_SLOWDOWN_TLIMIT` reports it negated (H100: 2, shown as -2 C)",
         maximum=MAX_INT32),
    string("vbios_version", "`nvmlDeviceGetVbiosVersion`", 31,
           "NVML_DEVICE_VBIOS_VERSION_BUFFER_SIZE"),
    string("board_part_number", "`nvmlDeviceGetBoardPartNumber`", 79,
           "NVML_DEVICE_PART_NUMBER_BUFFER_SIZE"),
    string("gpu_part_number", "GPU part number (`nvidia-smi -q`)", 79,
           "NVML_DEVICE_PART_NUMBER_BUFFER_SIZE"),
    string("inforom_image_version", "`nvmlDeviceGetInforomImageVersion`", 15,
           "NVML_DEVICE_INFOROM_VERSION_BUFFER_SIZE"),
    uint("num_fans", "`nvmlDeviceGetNumFans` (0: fan queries are NOT_SUPPORTED)"),
    uint("nvlink_count", "NVLinks per GPU (0: `nvmlDeviceGetNvLinkState` is NOT_SUPPORTED)"),
    boolean("gsp_firmware", "`nvmlDeviceGetGspFirmwareMode`"),
    boolean("ecc_supported", "ECC mode queries succeed (enabled) or are NOT_SUPPORTED"),
    boolean("mig_capable", "`nvmlDeviceGetMigMode` and the MIG profile queries are supported"),
    boolean("c2c_mode",
            "the GPU is attached to its CPU by NVLink-C2C (Grace Hopper, Grace Blackwell): "
            "`nvmlDeviceGetC2cModeInfoV` reports it enabled; otherwise disabled"),
), 1, True, "Values shared by every GPU of the node, named as the fields of `profiles.Board`; "
            "all required.",
    # Free memory is total - reserved - used; nvidia-mock-ctl bounds live power, clocks and
    # temperature by the maxima; a board's readings sit below its limits.
    not_above=(("memory_reserved_bytes", "memory_total_bytes"),
               ("power_min_limit_mw", "power_default_limit_mw"),
               ("power_default_limit_mw", "power_max_limit_mw"),
               ("power_idle_mw", "power_max_limit_mw"),
               ("clock_graphics_idle_mhz", "clock_graphics_max_mhz"),
               ("clock_graphics_idle_mhz", "clock_sm_max_mhz"),
               ("clock_mem_idle_mhz", "clock_mem_max_mhz"),
               ("clock_video_idle_mhz", "clock_video_max_mhz"),
               ("temp_idle_c", "temp_slowdown_c"),
               ("temp_slowdown_c", "temp_shutdown_c"),
               ("temp_mem_idle_c", "temp_mem_max_c"),
               ("tlimit_slowdown_c", "tlimit_shutdown_c")))

MIG_PROFILE = section("mig_profile", (
    uint("index", "the NVML profile argument (`NVML_GPU_INSTANCE_PROFILE_1_SLICE` = 0, …, "
                  "`_1_SLICE_REV1` = 7, `_1_SLICE_REV2` = 9)"),
    uint("profile_id", "`nvmlGpuInstanceProfileInfo_t.id`"),
    string("name", "e.g. `MIG 1g.10gb`", 95, "NVML_DEVICE_NAME_V2_BUFFER_SIZE"),
    uint("slice_count", "`sliceCount`"),
    uint("instance_count", "`instanceCount`"),
    uint("multiprocessor_count", "`multiprocessorCount`"),
    uint("memory_size_mb", "`memorySizeMB`", maximum=MAX_UINT64),
    uint("copy_engine_count", "`copyEngineCount`"),
    uint("decoder_count", "`decoderCount`"),
    uint("encoder_count", "`encoderCount`"),
    uint("jpeg_count", "`jpegCount`"),
    uint("ofa_count", "`ofaCount`"),
    uint("placement_size",
         "memory slices an instance occupies (`nvmlGpuInstancePlacement_t.size`; 8 for the whole GPU)"),
    uint("placement_starts",
         "bit mask of the memory slices an instance may start at "
         "(`nvmlDeviceGetGpuInstancePossiblePlacements_v2`; bit n: start n)", hexadecimal=True),
), 16, False, "One GPU-instance profile as `nvmlDeviceGetGpuInstanceProfileInfo(_v2/_v3)` "
              "reports it; keys are the fields of `profiles.MigProfile`.")

GPU = section("gpu", (
    uint("index", "index on a node that sees every GPU (0, 1, …, in file order)"),
    uint("minor", "`/dev/nvidia<minor>`, 0 to 253 (`nvmlDeviceGetMinorNumber`)"),
    string("uuid", "`GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`", 95,
           "NVML_DEVICE_UUID_V2_BUFFER_SIZE"),
    string("serial", "`nvmlDeviceGetSerial`", 29, "NVML_DEVICE_SERIAL_BUFFER_SIZE"),
    _key("pci_bus_id", BUS_ID, "`DDDDDDDD:BB:DD.F` (8-digit domain, NVML `busId`)"),
    uint("numa_node", "NUMA node of the GPU's PCIe root (CPU/memory affinity, topology)"),
    boolean("mig_mode", "current and pending MIG mode (until `nvmlDeviceSetMigMode` sets another)",
            attr="mig_enabled"),
), 254, True, "One per GPU.",
    # NVML finds a GPU by each of them; a shared one would find the first GPU that has it.
    unique=("minor", "uuid", "serial", "pci_bus_id"))

MIG_INSTANCE = section("mig_instance", (
    uint("gpu", "the `[gpu]` (its `index`) the GPU instance is on; that GPU must have `mig_mode = 1`"),
    uint("profile_id", "the `[mig_profile]` (its `profile_id`) the GPU instance has"),
    uint("start", "first memory slice (one of the profile's `placement_starts`; instances of a GPU "
                  "must not overlap)"),
), 254 * 7, False, "The node's MIG layout: one GPU instance, with the compute instance that spans it, "
                   "that exists from provisioning until NVML destroys it (`docs/mig.md`); "
                   "fields of `profiles.MigInstance`.")

SECTIONS = (SYSTEM, BOARD, MIG_PROFILE, GPU, MIG_INSTANCE)


def dataclass_fields(section):
    """``(name, type)`` of every key, for ``dataclasses.make_dataclass``."""
    return [(key.name, key.python_type) for key in section.keys]
