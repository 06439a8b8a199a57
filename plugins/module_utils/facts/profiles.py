# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""Machine profiles: who the mock GPUs of a node are.

One ``Node`` describes every GPU of a node. NVML's config, ``/proc``, ``/dev``, the CDI spec and
node labels are all derived from it, so they cannot disagree. Identities (UUID, serial, bus id)
are derived deterministically from a ``node_id``: the same node always gets the same GPUs, and
two nodes never share a UUID.

Standard library only: this file is shipped to targets with every module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re
from dataclasses import asdict, dataclass, field, fields, make_dataclass, replace

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import nvml_schema

MIN_GPU_COUNT = 1
CLOUD_SLOTS_PER_BUS = 24
MAX_GPU_COUNT = 128
MIB = 1024 * 1024

# NVML enum values (nvml.h facts).
BRAND_TESLA = 2
BRAND_NVIDIA = 14
ARCH_TURING = 6
ARCH_AMPERE = 7
ARCH_ADA = 8
ARCH_HOPPER = 9
ARCH_BLACKWELL = 10
BUS_TYPE_PCIE = 2


class ProfileError(ValueError):
    """Bad profile input; the message is one sentence naming the offending option."""


def shown(value, limit=60):
    """``value`` as a message quotes it: its repr (one line whatever it holds), cut to ``limit``."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


# The limits of the node options, from every consumer of what they become (checked by
# build_node, so by every node module, the node_problem filter and the role, before anything is
# written):
# * node_id goes into comment lines of nvml.conf, the boot rule and the loader entry, and seeds
#   the GPU identities: one line of printable characters, as long as an NVML config string.
NODE_ID_MAX_BYTES = nvml_schema.MAX_STRING
# * driver_version is what nvmlSystemGetDriverVersion returns, the tail of the NVML version
#   ("<CUDA major>.<driver version>"), the name of the driver tree's files and Kubernetes label
#   values (cuda.driver-version.full carries it whole; labels.py checks what it writes against
#   LABEL_VALUE_MAX_LEN): ASCII digits in dot-separated groups, as NVIDIA numbers its drivers.
LABEL_VALUE_MAX_LEN = 63
CUDA_DRIVER_VERSION_MIN = 1000
CUDA_DRIVER_VERSION_MAX = 99999
DRIVER_VERSION_MAX_LEN = min(
    nvml_schema.SYSTEM.key("driver_version").max_len,
    nvml_schema.SYSTEM.key("nvml_version").max_len - len("%d." % (CUDA_DRIVER_VERSION_MAX // 1000)),
    LABEL_VALUE_MAX_LEN)
_DRIVER_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+){1,2}")


# A board and its MIG profiles are exactly what the NVML config says about them: their fields are
# the keys of the [board] and [mig_profile] sections (nvml_schema, the one list of them).
MigProfile = make_dataclass(
    "MigProfile", nvml_schema.dataclass_fields(nvml_schema.MIG_PROFILE), frozen=True,
    namespace={"__doc__": "One GPU-instance profile as nvmlDeviceGetGpuInstanceProfileInfo reports it.",
               "__module__": __name__})

Board = make_dataclass(
    "Board", nvml_schema.dataclass_fields(nvml_schema.BOARD) + [("mig_profiles", tuple, field(default=()))],
    frozen=True,
    namespace={"__doc__": "Everything that is the same for every GPU of one board model.",
               "__module__": __name__})


MigInstance = make_dataclass(
    "MigInstance", nvml_schema.dataclass_fields(nvml_schema.MIG_INSTANCE), frozen=True,
    namespace={"__doc__": "One GPU instance of a node's MIG layout (with the compute instance spanning it).",
               "__module__": __name__})

MIG_MEMORY_SLICES = 8       # memory slices of a MIG-capable GPU (placement starts 0..7)
MIG_COMPUTE_SLICES = 7      # compute slices of one
# The driver numbers GPU instances by placement: the whole GPU is 0, the halves 1-2, the quarters
# 3-6, the eighths 7-14 (placement size in memory slices: its first id). The mock NVML numbers
# them alike (nvml_src/src/mig.c, mock_mig_gi_id).
MIG_GPU_INSTANCE_FIRST_ID = {8: 0, 4: 1, 2: 3, 1: 7}
MIG_GPU_INSTANCE_IDS = 15
MIG_COMPUTE_INSTANCE_IDS = 8    # compute-instance ids 0..7 of one GPU instance
MIG_LAYOUT_CI_ID = 0            # the compute instance a layout gives each GPU instance
# The driver's nvidia-caps table has MIG capabilities for GPU minors 0 to 31 only
# (NV_CAP_MAX_GPUS in the open kernel modules' nv-caps.c): a GPU past them has no GPU- or
# compute-instance capability, so no MIG device a container could be given.
MIG_CAPS_MAX_GPUS = 32


@dataclass(frozen=True)
class MigDevice:
    """One MIG device (a compute instance) of a GPU, as NVML and the driver's capabilities name it."""

    gpu_index: int
    gpu_minor: int
    index: int                      # among its GPU's MIG devices (nvmlDeviceGetMigDeviceHandleByIndex)
    gpu_instance: int               # GPU-instance id
    compute_instance: int           # compute-instance id
    uuid: str                       # MIG-...
    profile: MigProfile             # its GPU instance's profile


@dataclass(frozen=True)
class Gpu:
    index: int
    minor: int
    uuid: str
    serial: str
    pci_domain: int
    pci_bus: int
    pci_device: int
    pci_function: int
    numa_node: int
    mig_enabled: bool
    board: Board
    mig_instances: tuple = ()       # MigInstance, by start: the GPU instances it is provisioned with

    @property
    def pci_bus_id(self):
        """NVML busId: 8-digit domain, upper-case hex."""
        return "%08X:%02X:%02X.%X" % (self.pci_domain, self.pci_bus, self.pci_device, self.pci_function)

    @property
    def pci_bus_id_legacy(self):
        """4-digit domain, lower-case hex: the sysfs and /proc/driver/nvidia/gpus form.

        NVML's busIdLegacy has the same digits in upper case."""
        return "%04x:%02x:%02x.%x" % (self.pci_domain, self.pci_bus, self.pci_device, self.pci_function)

    @property
    def mig_devices(self):
        """The MIG devices of the layout (MigDevice), in NVML's order: by GPU-instance id."""
        by_id = dict((p.profile_id, p) for p in self.board.mig_profiles)
        placed = sorted(((gpu_instance_id(m.start, by_id[m.profile_id].placement_size), by_id[m.profile_id])
                         for m in self.mig_instances), key=lambda pair: pair[0])
        return tuple(MigDevice(self.index, self.minor, index, gi, MIG_LAYOUT_CI_ID,
                               mig_device_uuid(self.uuid, gi, MIG_LAYOUT_CI_ID), profile)
                     for index, (gi, profile) in enumerate(placed))

    def to_dict(self):
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "board"}
        data["mig_instances"] = [asdict(m) for m in self.mig_instances]
        data["pci_bus_id"] = self.pci_bus_id
        data["pci_bus_id_legacy"] = self.pci_bus_id_legacy
        return data


@dataclass(frozen=True)
class Node:
    profile: str
    node_id: str
    system_name: str
    driver_version: str
    cuda_driver_version: int
    board: Board
    gpus: tuple = field(default_factory=tuple)

    @property
    def nvml_version(self):
        """NVML's version string: CUDA major + driver version, e.g. 12.550.54.15."""
        return "%d.%s" % (self.cuda_driver_version // 1000, self.driver_version)

    @property
    def cuda_version(self):
        """(12, 4) for 12040: the CUDA version the driver supports."""
        major, rest = divmod(self.cuda_driver_version, 1000)
        return major, rest // 10

    @property
    def cuda_version_string(self):
        """'12.4' for 12040, as nvidia-smi prints it."""
        return "%d.%d" % self.cuda_version

    def to_dict(self):
        board = asdict(self.board)
        board["mig_profiles"] = [asdict(p) for p in self.board.mig_profiles]
        return {
            "profile": self.profile,
            "node_id": self.node_id,
            "system_name": self.system_name,
            "driver_version": self.driver_version,
            "cuda_driver_version": self.cuda_driver_version,
            "nvml_version": self.nvml_version,
            "gpu_count": len(self.gpus),
            "board": board,
            "gpus": [g.to_dict() for g in self.gpus],
        }


@dataclass(frozen=True)
class Profile:
    """A built-in machine: a board, how many, where they sit, and the driver that came with it."""

    key: str
    system_name: str
    board: Board
    gpu_count: int
    bus_layout: tuple               # PCI bus numbers of the chassis, in NVML index order
    pci_device: int                 # device number on that bus (0 on DGX baseboards)
    gpus_per_numa_node: int
    driver_version: str
    cuda_driver_version: int
    # PCI domain of each bus_layout slot, where the chassis puts its GPUs in domains of their own
    # (Grace machines: one PCIe root per GPU); empty: domain 0. A larger custom count repeats the
    # layout, each repetition domain_step domains further on.
    pci_domains: tuple = ()
    domain_step: int = 1
    # The CPU architecture of the real machine, as uname -m names it. Only documentation: a node of
    # any architecture may have any profile's GPUs (mock GPUs are data), and its driver tree and
    # libraries are always laid out for the node's own architecture (the modules' option).
    architecture: str = "x86_64"


# index, profile_id, name, slice_count, instance_count, multiprocessor_count, memory_size_mb,
# copy_engine_count, decoder_count, encoder_count, jpeg_count, ofa_count, placement_size, placement_starts
# (the [mig_profile] keys). Placements are NVIDIA's (MIG user guide, `nvidia-smi mig -lgipp`), the same on
# A100, H100, H200 and B200: 1g at memory slice 0..6; 1g with twice the memory and 2g on two slices at
# 0, 2, 4 (and 6 for the 1g); 3g on four slices at 0 or 4; 4g on four slices at 0; 7g on all 8 at 0.
_mig = MigProfile


# Published board values; the H100 ones are read off a real board (shared/reference/h100-80gb-hbm3).
# Idle readings no data sheet gives (memory temperature, memory power) and the T.Limit offsets of
# the other boards are estimates in the H100's pattern: T.Limit slowdown = slowdown - GPU max, and
# shutdown = shutdown - GPU max (the real H100 shuts down 3 C further, at -8 C).
A100_SXM4_40GB = Board(
    name="NVIDIA A100-SXM4-40GB", brand=BRAND_NVIDIA, architecture=ARCH_AMPERE,
    cc_major=8, cc_minor=0, cuda_cores=6912, memory_bus_width=5120,
    memory_total_bytes=40960 * MIB, memory_reserved_bytes=420 * MIB, bar1_total_bytes=65536 * MIB,
    pci_device_id=0x20B010DE, pci_subsystem_id=0x134F10DE, pcie_max_gen=4, pcie_max_width=16,
    bus_type=BUS_TYPE_PCIE,
    power_default_limit_mw=400000, power_min_limit_mw=100000, power_max_limit_mw=400000, power_idle_mw=52340,
    power_average_supported=False, power_memory_idle_mw=0,
    clock_graphics_max_mhz=1410, clock_sm_max_mhz=1410, clock_mem_max_mhz=1215, clock_video_max_mhz=1290,
    clock_graphics_idle_mhz=210, clock_mem_idle_mhz=1215, clock_video_idle_mhz=585,
    temp_idle_c=31, temp_shutdown_c=92, temp_slowdown_c=89, temp_gpu_max_c=85,
    temp_mem_max_c=95, temp_mem_idle_c=40, tlimit_shutdown_c=7, tlimit_slowdown_c=4,
    vbios_version="92.00.25.00.08", board_part_number="692-2G506-0200-003", gpu_part_number="20B0-884-A1",
    inforom_image_version="G506.0200.00.04", num_fans=0, nvlink_count=12, gsp_firmware=False,
    ecc_supported=True, mig_capable=True, c2c_mode=False,
    mig_profiles=(
        _mig(0, 19, "MIG 1g.5gb", 1, 7, 14, 4864, 1, 0, 0, 0, 0, 1, 0x7F),
        _mig(1, 14, "MIG 2g.10gb", 2, 3, 28, 9856, 2, 1, 0, 0, 0, 2, 0x15),
        _mig(2, 9, "MIG 3g.20gb", 3, 2, 42, 19968, 3, 2, 0, 0, 0, 4, 0x11),
        _mig(3, 5, "MIG 4g.20gb", 4, 1, 56, 19968, 4, 2, 0, 0, 0, 4, 0x01),
        _mig(4, 0, "MIG 7g.40gb", 7, 1, 98, 40192, 7, 5, 0, 1, 1, 8, 0x01),
        _mig(7, 20, "MIG 1g.5gb+me", 1, 1, 14, 4864, 1, 1, 0, 1, 1, 1, 0x7F),
        _mig(9, 15, "MIG 1g.10gb", 1, 4, 14, 9856, 1, 1, 0, 0, 0, 2, 0x55),
    ),
)

H100_SXM5_80GB = Board(
    name="NVIDIA H100 80GB HBM3", brand=BRAND_NVIDIA, architecture=ARCH_HOPPER,
    cc_major=9, cc_minor=0, cuda_cores=16896, memory_bus_width=5120,
    memory_total_bytes=85520809984, memory_reserved_bytes=503316480, bar1_total_bytes=137438953472,
    pci_device_id=0x233010DE, pci_subsystem_id=0x16C110DE, pcie_max_gen=5, pcie_max_width=16,
    bus_type=BUS_TYPE_PCIE,
    power_default_limit_mw=700000, power_min_limit_mw=200000, power_max_limit_mw=700000, power_idle_mw=72864,
    power_average_supported=True, power_memory_idle_mw=43350,
    clock_graphics_max_mhz=1980, clock_sm_max_mhz=1980, clock_mem_max_mhz=2619, clock_video_max_mhz=1545,
    clock_graphics_idle_mhz=345, clock_mem_idle_mhz=2619, clock_video_idle_mhz=765,
    temp_idle_c=35, temp_shutdown_c=92, temp_slowdown_c=89, temp_gpu_max_c=87,
    temp_mem_max_c=95, temp_mem_idle_c=38, tlimit_shutdown_c=8, tlimit_slowdown_c=2,
    vbios_version="96.00.DA.00.0C", board_part_number="692-2G520-0200-000", gpu_part_number="2330-885-A1",
    inforom_image_version="G520.0200.00.05", num_fans=0, nvlink_count=18, gsp_firmware=True,
    ecc_supported=True, mig_capable=True, c2c_mode=False,
    mig_profiles=(
        _mig(0, 19, "MIG 1g.10gb", 1, 7, 16, 9984, 1, 1, 0, 1, 0, 1, 0x7F),
        _mig(1, 14, "MIG 2g.20gb", 2, 3, 32, 20096, 2, 2, 0, 2, 0, 2, 0x15),
        _mig(2, 9, "MIG 3g.40gb", 3, 2, 60, 40448, 3, 3, 0, 3, 0, 4, 0x11),
        _mig(3, 5, "MIG 4g.40gb", 4, 1, 64, 40448, 4, 4, 0, 4, 0, 4, 0x01),
        _mig(4, 0, "MIG 7g.80gb", 7, 1, 132, 81152, 8, 7, 0, 7, 1, 8, 0x01),
        _mig(7, 20, "MIG 1g.10gb+me", 1, 1, 16, 9984, 1, 1, 0, 1, 1, 1, 0x7F),
        _mig(9, 15, "MIG 1g.20gb", 1, 4, 26, 20096, 1, 1, 0, 1, 0, 2, 0x55),
    ),
)

H200_SXM5_141GB = replace(
    H100_SXM5_80GB,
    name="NVIDIA H200", memory_total_bytes=150754820096, memory_reserved_bytes=587202560,
    bar1_total_bytes=262144 * MIB, pci_device_id=0x233510DE, pci_subsystem_id=0x18BE10DE,
    memory_bus_width=6144, clock_mem_max_mhz=3201, clock_mem_idle_mhz=3201,
    vbios_version="96.00.AF.00.05", board_part_number="692-2G520-0280-000", gpu_part_number="2335-885-A1",
    inforom_image_version="G520.0280.00.01",
    mig_profiles=(
        _mig(0, 19, "MIG 1g.18gb", 1, 7, 16, 16384, 1, 1, 0, 1, 0, 1, 0x7F),
        _mig(1, 14, "MIG 2g.35gb", 2, 3, 32, 32768, 2, 2, 0, 2, 0, 2, 0x15),
        _mig(2, 9, "MIG 3g.71gb", 3, 2, 60, 69632, 3, 3, 0, 3, 0, 4, 0x11),
        _mig(3, 5, "MIG 4g.71gb", 4, 1, 64, 69632, 4, 4, 0, 4, 0, 4, 0x01),
        _mig(4, 0, "MIG 7g.141gb", 7, 1, 132, 143360, 8, 7, 0, 7, 1, 8, 0x01),
        _mig(7, 20, "MIG 1g.18gb+me", 1, 1, 16, 16384, 1, 1, 0, 1, 1, 1, 0x7F),
        _mig(9, 15, "MIG 1g.35gb", 1, 4, 26, 32768, 1, 1, 0, 1, 0, 2, 0x55),
    ),
)

B200_SXM6_180GB = Board(
    name="NVIDIA B200", brand=BRAND_NVIDIA, architecture=ARCH_BLACKWELL,
    cc_major=10, cc_minor=0, cuda_cores=18944, memory_bus_width=8192,
    memory_total_bytes=183359 * MIB, memory_reserved_bytes=610 * MIB, bar1_total_bytes=262144 * MIB,
    pci_device_id=0x290110DE, pci_subsystem_id=0x199910DE, pcie_max_gen=5, pcie_max_width=16,
    bus_type=BUS_TYPE_PCIE,
    power_default_limit_mw=1000000, power_min_limit_mw=200000, power_max_limit_mw=1000000,
    power_idle_mw=140000, power_average_supported=True, power_memory_idle_mw=0,
    clock_graphics_max_mhz=1965, clock_sm_max_mhz=1965, clock_mem_max_mhz=3996, clock_video_max_mhz=1965,
    clock_graphics_idle_mhz=120, clock_mem_idle_mhz=3996, clock_video_idle_mhz=675,
    temp_idle_c=30, temp_shutdown_c=94, temp_slowdown_c=91, temp_gpu_max_c=87,
    temp_mem_max_c=95, temp_mem_idle_c=36, tlimit_shutdown_c=7, tlimit_slowdown_c=4,
    vbios_version="97.00.52.00.01", board_part_number="692-2G525-0220-000", gpu_part_number="2901-886-A1",
    inforom_image_version="G525.0220.00.02", num_fans=0, nvlink_count=18, gsp_firmware=True,
    ecc_supported=True, mig_capable=True, c2c_mode=False,
    mig_profiles=(
        _mig(0, 19, "MIG 1g.23gb", 1, 7, 18, 23296, 1, 1, 0, 1, 0, 1, 0x7F),
        _mig(1, 14, "MIG 2g.45gb", 2, 3, 36, 45824, 2, 2, 0, 2, 0, 2, 0x15),
        _mig(2, 9, "MIG 3g.90gb", 3, 2, 68, 91648, 3, 3, 0, 3, 0, 4, 0x11),
        _mig(3, 5, "MIG 4g.90gb", 4, 1, 72, 91648, 4, 4, 0, 4, 0, 4, 0x01),
        _mig(4, 0, "MIG 7g.180gb", 7, 1, 148, 182784, 8, 7, 0, 7, 1, 8, 0x01),
        _mig(7, 20, "MIG 1g.23gb+me", 1, 1, 18, 23296, 1, 1, 0, 1, 1, 1, 0x7F),
        _mig(9, 15, "MIG 1g.45gb", 1, 4, 26, 45824, 1, 1, 0, 1, 0, 2, 0x55),
    ),
)

L40S_48GB = Board(
    name="NVIDIA L40S", brand=BRAND_NVIDIA, architecture=ARCH_ADA,
    cc_major=8, cc_minor=9, cuda_cores=18176, memory_bus_width=384,
    memory_total_bytes=46068 * MIB, memory_reserved_bytes=485 * MIB, bar1_total_bytes=65536 * MIB,
    pci_device_id=0x26B910DE, pci_subsystem_id=0x185110DE, pcie_max_gen=4, pcie_max_width=16,
    bus_type=BUS_TYPE_PCIE,
    power_default_limit_mw=350000, power_min_limit_mw=100000, power_max_limit_mw=350000, power_idle_mw=33000,
    power_average_supported=True, power_memory_idle_mw=0,
    clock_graphics_max_mhz=2520, clock_sm_max_mhz=2520, clock_mem_max_mhz=9001, clock_video_max_mhz=1965,
    clock_graphics_idle_mhz=210, clock_mem_idle_mhz=405, clock_video_idle_mhz=1185,
    temp_idle_c=29, temp_shutdown_c=95, temp_slowdown_c=92, temp_gpu_max_c=89,
    temp_mem_max_c=0, temp_mem_idle_c=0, tlimit_shutdown_c=6, tlimit_slowdown_c=3,
    vbios_version="95.02.66.00.02", board_part_number="900-2G133-0080-000", gpu_part_number="26B9-896-A1",
    inforom_image_version="G133.0242.00.01", num_fans=0, nvlink_count=0, gsp_firmware=True,
    ecc_supported=True, mig_capable=False, c2c_mode=False,
)

T4_16GB = Board(
    name="Tesla T4", brand=BRAND_TESLA, architecture=ARCH_TURING,
    cc_major=7, cc_minor=5, cuda_cores=2560, memory_bus_width=256,
    memory_total_bytes=15360 * MIB, memory_reserved_bytes=255 * MIB, bar1_total_bytes=256 * MIB,
    pci_device_id=0x1EB810DE, pci_subsystem_id=0x12A210DE, pcie_max_gen=3, pcie_max_width=16,
    bus_type=BUS_TYPE_PCIE,
    power_default_limit_mw=70000, power_min_limit_mw=60000, power_max_limit_mw=70000, power_idle_mw=9000,
    power_average_supported=False, power_memory_idle_mw=0,
    clock_graphics_max_mhz=1590, clock_sm_max_mhz=1590, clock_mem_max_mhz=5001, clock_video_max_mhz=1470,
    clock_graphics_idle_mhz=300, clock_mem_idle_mhz=405, clock_video_idle_mhz=540,
    temp_idle_c=34, temp_shutdown_c=96, temp_slowdown_c=93, temp_gpu_max_c=85,
    temp_mem_max_c=0, temp_mem_idle_c=0, tlimit_shutdown_c=11, tlimit_slowdown_c=8,
    vbios_version="90.04.96.00.02", board_part_number="900-2G183-0000-001", gpu_part_number="1EB8-895-A1",
    inforom_image_version="G183.0200.00.02", num_fans=0, nvlink_count=0, gsp_firmware=False,
    ecc_supported=True, mig_capable=False, c2c_mode=False,
)

# Grace Hopper: one H100-class GPU with 96 GB of HBM3 per superchip, attached to its Grace CPU by
# NVLink-C2C. Read off a real "NVIDIA GH200 480GB" (nvidia-smi -q, driver 550.127.05): name, ids,
# part numbers, VBIOS, InfoROM, memory, PCIe link (gen 4, x1: the data path is C2C), power limits
# and draw, clocks, idle and memory temperature, T.Limit offsets. Derived from the H100 SXM (same
# GH100 die, 132 SMs): thresholds, memory maximum, BAR1 (the real board reports BAR1 as N/A), and
# the MIG table: the H100's SMs and engines, the memory of each profile scaled by 97871/81559 (the
# boards' totals) and rounded down to 128 MiB; the names are NVIDIA's (mig-parted, device 0x2342).
GH200_96GB = Board(
    name="NVIDIA GH200 480GB", brand=BRAND_NVIDIA, architecture=ARCH_HOPPER,
    cc_major=9, cc_minor=0, cuda_cores=16896, memory_bus_width=6144,
    memory_total_bytes=97871 * MIB, memory_reserved_bytes=1103 * MIB, bar1_total_bytes=131072 * MIB,
    pci_device_id=0x234210DE, pci_subsystem_id=0x180910DE, pcie_max_gen=4, pcie_max_width=1,
    bus_type=BUS_TYPE_PCIE,
    power_default_limit_mw=900000, power_min_limit_mw=100000, power_max_limit_mw=900000, power_idle_mw=87880,
    power_average_supported=True, power_memory_idle_mw=18510,
    clock_graphics_max_mhz=1980, clock_sm_max_mhz=1980, clock_mem_max_mhz=2619, clock_video_max_mhz=1545,
    clock_graphics_idle_mhz=345, clock_mem_idle_mhz=2619, clock_video_idle_mhz=765,
    temp_idle_c=31, temp_shutdown_c=92, temp_slowdown_c=89, temp_gpu_max_c=86,
    temp_mem_max_c=95, temp_mem_idle_c=39, tlimit_shutdown_c=8, tlimit_slowdown_c=2,
    vbios_version="96.00.8D.00.03", board_part_number="900-2G530-0060-000", gpu_part_number="2342-888-A1",
    inforom_image_version="G530.0206.00.02", num_fans=0, nvlink_count=18, gsp_firmware=True,
    ecc_supported=True, mig_capable=True, c2c_mode=True,
    mig_profiles=(
        _mig(0, 19, "MIG 1g.12gb", 1, 7, 16, 11904, 1, 1, 0, 1, 0, 1, 0x7F),
        _mig(1, 14, "MIG 2g.24gb", 2, 3, 32, 24064, 2, 2, 0, 2, 0, 2, 0x15),
        _mig(2, 9, "MIG 3g.48gb", 3, 2, 60, 48512, 3, 3, 0, 3, 0, 4, 0x11),
        _mig(3, 5, "MIG 4g.48gb", 4, 1, 64, 48512, 4, 4, 0, 4, 0, 4, 0x01),
        _mig(4, 0, "MIG 7g.96gb", 7, 1, 132, 97280, 8, 7, 0, 7, 1, 8, 0x01),
        _mig(7, 20, "MIG 1g.12gb+me", 1, 1, 16, 11904, 1, 1, 0, 1, 1, 1, 0x7F),
        _mig(9, 15, "MIG 1g.24gb", 1, 4, 26, 24064, 1, 1, 0, 1, 0, 2, 0x55),
    ),
)

# Grace Blackwell: two B200-class GPUs per Grace CPU, attached by NVLink-C2C; a compute tray of the
# GB200 NVL72 has two of those, four GPUs. Public: name, device id 0x2941 with subsystem 0x2046
# (NVIDIA's supported-GPU list), 189471 MiB, the 1200 W limit, idle readings of 156-181 W at
# 36-38 C (nvidia-smi of GB200 trays), 18 NVLink 5 links, the MIG profile names (mig-parted).
# Derived from the B200: everything else (SMs, clocks, thresholds, BAR1, PCIe, firmware strings,
# the GPU part number with the GB200's device id), and the MIG table: the B200's SMs and engines,
# the memory of each profile scaled by 189471/183359 and rounded down to 128 MiB.
GB200_186GB = replace(
    B200_SXM6_180GB,
    name="NVIDIA GB200", memory_total_bytes=189471 * MIB,
    pci_device_id=0x294110DE, pci_subsystem_id=0x204610DE,
    power_default_limit_mw=1200000, power_max_limit_mw=1200000, power_idle_mw=165000,
    temp_idle_c=37, gpu_part_number="2941-886-A1", c2c_mode=True,
    mig_profiles=(
        _mig(0, 19, "MIG 1g.23gb", 1, 7, 18, 24064, 1, 1, 0, 1, 0, 1, 0x7F),
        _mig(1, 14, "MIG 2g.47gb", 2, 3, 36, 47232, 2, 2, 0, 2, 0, 2, 0x15),
        _mig(2, 9, "MIG 3g.93gb", 3, 2, 68, 94592, 3, 3, 0, 3, 0, 4, 0x11),
        _mig(3, 5, "MIG 4g.93gb", 4, 1, 72, 94592, 4, 4, 0, 4, 0, 4, 0x01),
        _mig(4, 0, "MIG 7g.186gb", 7, 1, 148, 188800, 8, 7, 0, 7, 1, 8, 0x01),
        _mig(7, 20, "MIG 1g.23gb+me", 1, 1, 18, 24064, 1, 1, 0, 1, 1, 1, 0x7F),
        _mig(9, 15, "MIG 1g.47gb", 1, 4, 26, 47232, 1, 1, 0, 1, 0, 2, 0x55),
    ),
)

# Chassis layouts: PCI bus numbers of the GPUs in NVML index order.
_DGX_A100_BUSES = (0x07, 0x0F, 0x47, 0x4E, 0x87, 0x90, 0xB7, 0xBD)
_DGX_H100_BUSES = (0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB)
_DGX_B200_BUSES = (0x1B, 0x43, 0x52, 0x61, 0x9D, 0xC3, 0xD1, 0xDF)
_PCIE_SERVER_BUSES = (0x01, 0x21, 0x41, 0x61, 0x81, 0xA1, 0xC1, 0xE1)
# A GH200 server's one GPU (the real reading above: 0000:DD:00.0).
_GH200_BUSES = (0xDD,)
# A GB200 compute tray: each GPU on bus 01 of a PCI domain of its own, two per Grace
# (0008/0009 on the first, 0018/0019 on the second, as nvidia-smi on the trays shows them).
_GB200_BUSES = (0x01, 0x01, 0x01, 0x01)
_GB200_DOMAINS = (0x0008, 0x0009, 0x0018, 0x0019)

PROFILES = {
    p.key: p for p in (
        Profile("dgxa100", "NVIDIA DGX A100", A100_SXM4_40GB, 8, _DGX_A100_BUSES, 0, 2, "550.54.15", 12040),
        Profile("dgxh100", "NVIDIA DGX H100", H100_SXM5_80GB, 8, _DGX_H100_BUSES, 0, 4, "550.54.15", 12040),
        Profile("dgxh200", "NVIDIA DGX H200", H200_SXM5_141GB, 8, _DGX_H100_BUSES, 0, 4, "550.54.15", 12040),
        Profile("dgxb200", "NVIDIA DGX B200", B200_SXM6_180GB, 8, _DGX_B200_BUSES, 0, 4, "570.124.06", 12080),
        Profile("l40s", "L40S PCIe server", L40S_48GB, 4, _PCIE_SERVER_BUSES, 0, 2, "550.54.15", 12040),
        Profile("t4", "T4 cloud instance", T4_16GB, 1, (0x00,), 0x1E, 1, "535.261.03", 12020),
        Profile("gh200", "NVIDIA GH200 Grace Hopper Superchip server", GH200_96GB, 1, _GH200_BUSES, 0, 1,
                "550.127.05", 12040, architecture="aarch64"),
        Profile("gb200", "NVIDIA GB200 NVL72 compute tray", GB200_186GB, 4, _GB200_BUSES, 0, 2,
                "570.124.06", 12080, pci_domains=_GB200_DOMAINS, domain_step=0x20, architecture="aarch64"),
    )
}
PROFILE_NAMES = tuple(sorted(PROFILES))
DEFAULT_PROFILE = "dgxa100"

# Board fields a user may override for a custom node, with the type each must have.
OVERRIDABLE_FIELDS = dict(nvml_schema.dataclass_fields(nvml_schema.BOARD))


def _digest(node_id, profile, index, purpose):
    material = "gpumock/%s/%s/%d/%s" % (node_id, profile, index, purpose)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def gpu_uuid(node_id, profile, index):
    """GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, lower-case hex, stable for (node, profile, index)."""
    h = _digest(node_id, profile, index, "uuid")[:32]
    return "GPU-%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


def gpu_serial(node_id, profile, index):
    """A 13-digit board serial, stable for (node, profile, index)."""
    return "1%012d" % (int(_digest(node_id, profile, index, "serial")[:15], 16) % 10 ** 12)


def pci_location(profile, index):
    """(domain, bus, device, function) of GPU ``index``.

    The first GPUs sit where the real chassis puts them; a larger custom count repeats the
    chassis layout in the next PCI domains, as a multi-segment host numbers them.
    """
    layout = profile.bus_layout
    if len(layout) == 1 and profile.pci_device:
        # One-bus layouts of a VM (cloud VMs, e.g. AWS g4dn: 00:1E.0, then 1D, 1C…) fill device
        # slots downwards from the top, clear of the low slots where a VM's own virtio devices sit.
        domain, slot = divmod(index, CLOUD_SLOTS_PER_BUS)
        return domain, layout[0], profile.pci_device - slot, 0
    repeat, slot = divmod(index, len(layout))
    base = profile.pci_domains[slot] if profile.pci_domains else 0
    return base + repeat * profile.domain_step, layout[slot], profile.pci_device, 0


def _coerce_override(name, value):
    want = OVERRIDABLE_FIELDS.get(name)
    if want is None:
        raise ProfileError(
            "overrides: unknown field '%s'; known fields are %s." % (name, ", ".join(sorted(OVERRIDABLE_FIELDS))))
    want_type = {"int": int, "str": str, "bool": bool}.get(getattr(want, "__name__", want), None)
    if want_type is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ProfileError("overrides: field '%s' must be a boolean, got %r." % (name, value))
    if want_type is int:
        if isinstance(value, bool):
            raise ProfileError("overrides: field '%s' must be an integer, got %r." % (name, value))
        try:
            return int(value, 0) if isinstance(value, str) else int(value)
        except (TypeError, ValueError):
            raise ProfileError("overrides: field '%s' must be an integer, got %r." % (name, value))
    if not isinstance(value, str) or not value or "\n" in value:
        raise ProfileError("overrides: field '%s' must be a non-empty single-line string." % name)
    return value


def _check_driver_version(version):
    # Not str.isdigit: it takes digits of every script ('٥٨٠'), which no consumer reads.
    if not isinstance(version, str) or len(version) > DRIVER_VERSION_MAX_LEN \
            or not _DRIVER_VERSION.fullmatch(version):
        raise ProfileError(
            "driver_version must be 2 or 3 groups of ASCII digits separated by dots, at most %d characters, "
            "like 550.54.15; got %s." % (DRIVER_VERSION_MAX_LEN, shown(version)))
    return version


def _check_node_id(node_id):
    """The node id, stripped; ProfileError unless it is one line of printable characters that fits."""
    if not isinstance(node_id, str):
        raise ProfileError("node_id must be a string, got %s." % shown(node_id))
    stripped = node_id.strip()
    try:
        size = len(stripped.encode("utf-8"))
    except UnicodeError:            # lone surrogates: bytes that were not UTF-8
        size = None
    if not stripped or size is None or size > NODE_ID_MAX_BYTES or not stripped.isprintable():
        raise ProfileError("node_id must be one line of printable characters, 1 to %d bytes in UTF-8, got %s."
                           % (NODE_ID_MAX_BYTES, shown(node_id)))
    return stripped


def gpu_instance_id(start, placement_size):
    """The id the driver gives the GPU instance at memory slice ``start`` of ``placement_size`` slices."""
    return MIG_GPU_INSTANCE_FIRST_ID[placement_size] + start // placement_size


def _fnv1a64(value, text):
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def mig_device_uuid(gpu_uuid, gpu_instance, compute_instance):
    """MIG-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx of a MIG device: the mock NVML's hash of its GPU's UUID
    and the instance ids (nvml_src/src/mig_device.c, mig_uuid), so the CDI spec names what NVML does."""
    material = "%s/gi%d/ci%d" % (gpu_uuid, gpu_instance, compute_instance)
    high = _fnv1a64(0xCBF29CE484222325, material)
    low = _fnv1a64(high ^ 0x9E3779B97F4A7C15, material)
    return "MIG-%08x-%04x-%04x-%04x-%04x%08x" % (high >> 32, high >> 16 & 0xFFFF, high & 0xFFFF, low >> 48,
                                                 low >> 32 & 0xFFFF, low & 0xFFFFFFFF)


def mig_profile_name(profile):
    """'3g.20gb' for 'MIG 3g.20gb': how mig_layout names a profile."""
    return profile.name[4:] if profile.name.startswith("MIG ") else profile.name


def _layout_profiles(board, gpu_index, names):
    """The board's MigProfile of each name, checked against its instance counts and slices."""
    known = dict((mig_profile_name(p), p) for p in board.mig_profiles)
    if not isinstance(names, (list, tuple)):
        raise ProfileError("mig_layout for GPU %d must be a list of MIG profile names, got %s."
                           % (gpu_index, shown(names)))
    # A GPU holds at most one GPU instance per compute slice: a longer list cannot be placed.
    if len(names) > MIG_COMPUTE_SLICES:
        raise ProfileError("mig_layout: GPU %d cannot have %d GPU instances: a GPU holds at most %d."
                           % (gpu_index, len(names), MIG_COMPUTE_SLICES))
    chosen = []
    for name in names:
        key = name[4:] if isinstance(name, str) and name.startswith("MIG ") else name
        if not isinstance(key, str) or key not in known:
            raise ProfileError("mig_layout: GPU %d cannot have %s: %s has the MIG profiles %s."
                               % (gpu_index, shown(name), board.name, ", ".join(known)))
        chosen.append(known[key])
    for profile in chosen:
        wanted = chosen.count(profile)
        if wanted > profile.instance_count:
            raise ProfileError("mig_layout: GPU %d cannot have %d instances of %s: %s allows at most %d."
                               % (gpu_index, wanted, mig_profile_name(profile), board.name, profile.instance_count))
    _check_room(chosen, gpu_index, "slice_count", MIG_COMPUTE_SLICES, "compute")
    _check_room(chosen, gpu_index, "placement_size", MIG_MEMORY_SLICES, "memory")
    return chosen


def _check_room(chosen, gpu_index, field_name, limit, kind):
    """ProfileError naming the first profile that takes the layout past ``limit`` slices of a kind."""
    total = 0
    for profile in chosen:
        total += getattr(profile, field_name)
        if total > limit:
            raise ProfileError("mig_layout: GPU %d has no room for %s: the layout needs more than the %d %s "
                               "slices of a GPU." % (gpu_index, mig_profile_name(profile), limit, kind))


def _starts(profile):
    return [s for s in range(MIG_MEMORY_SLICES) if profile.placement_starts >> s & 1]


def _place(profiles, used):
    """Starts for ``profiles`` (in order) on memory slices not in the bit mask ``used``; None if none fit."""
    if not profiles:
        return []
    first = profiles[0]
    for start in _starts(first):
        span = ((1 << first.placement_size) - 1) << start
        if start + first.placement_size > MIG_MEMORY_SLICES or used & span:
            continue
        rest = _place(profiles[1:], used | span)
        if rest is not None:
            return [start] + rest
    return None


def mig_instances(board, gpu_index, names):
    """The GPU instances of one GPU's layout (MigInstance, by start); ProfileError if it cannot exist."""
    chosen = _layout_profiles(board, gpu_index, names)
    # Largest first, as the driver's own placement favours: small instances then fill the gaps.
    order = sorted(chosen, key=lambda p: (-p.placement_size, -p.slice_count, p.profile_id))
    starts = _place(order, 0)
    if starts is None:
        stuck = order[-1]
        for count in range(1, len(order) + 1):
            if _place(order[:count], 0) is None:
                stuck = order[count - 1]
                break
        raise ProfileError("mig_layout: GPU %d has no placement left for %s: its starts (memory slice %s) "
                           "overlap the other instances of the layout."
                           % (gpu_index, mig_profile_name(stuck), ", ".join(str(s) for s in _starts(stuck))))
    placed = sorted(zip(starts, order), key=lambda pair: pair[0])
    return tuple(MigInstance(gpu=gpu_index, profile_id=p.profile_id, start=start) for start, p in placed)


def _layout_by_gpu(mig_layout, gpu_count, mig_enabled):
    """{GPU index: list of names} for every GPU the option names."""
    if mig_layout is None:
        return {}
    if not mig_enabled:
        raise ProfileError("mig_layout requires mig_enabled.")
    if isinstance(mig_layout, (list, tuple)):
        return dict((index, mig_layout) for index in range(gpu_count))
    if not isinstance(mig_layout, dict):
        raise ProfileError("mig_layout must be a list of MIG profile names or a dictionary from GPU index to "
                           "such a list, got %s." % shown(mig_layout))
    layout = {}
    for key, names in mig_layout.items():
        # An index is an integer or its ASCII digits (YAML keys are often strings); not 1.5, not true.
        if isinstance(key, str) and re.match(r"[0-9]{1,9}\Z", key):
            index = int(key)
        elif isinstance(key, int) and not isinstance(key, bool):
            index = key
        else:
            index = -1
        if not 0 <= index < gpu_count:
            raise ProfileError("mig_layout: GPU %s does not exist (the node has GPUs 0 to %d)."
                               % (shown(key), gpu_count - 1))
        if index in layout:
            raise ProfileError("mig_layout: GPU %d is given twice." % index)
        layout[index] = names
    return layout


def _check_caps_table(instances):
    """ProfileError naming the first GPU with instances that the driver's capability table does not
    cover (``instances``: {GPU index: its MigInstances}; a GPU's minor is its index)."""
    for index in sorted(instances):
        if instances[index] and index >= MIG_CAPS_MAX_GPUS:
            raise ProfileError("mig_layout: GPU %d cannot have MIG instances: the driver's MIG capabilities cover "
                               "GPU minors 0 to %d only." % (index, MIG_CAPS_MAX_GPUS - 1))


def build_node(profile=DEFAULT_PROFILE, gpu_count=None, node_id="localhost", driver_version=None,
               overrides=None, mig_enabled=None, cuda_driver_version=None, mig_layout=None):
    """Build the Node for a profile, a node identity and optional custom values.

    Raises ProfileError with one sentence naming the offending option.
    """
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ProfileError("profile must be one of %s, got %s." % (", ".join(PROFILE_NAMES), shown(profile)))
    spec = PROFILES[profile]
    if gpu_count is None:
        gpu_count = spec.gpu_count
    if isinstance(gpu_count, bool) or not isinstance(gpu_count, int) \
            or not MIN_GPU_COUNT <= gpu_count <= MAX_GPU_COUNT:
        raise ProfileError("gpu_count must be an integer from %d to %d, got %s."
                           % (MIN_GPU_COUNT, MAX_GPU_COUNT, shown(gpu_count)))
    node_id = _check_node_id(node_id)
    # Unset (None, or "" from a template of an unset variable): the profile's.
    driver_version = _check_driver_version(driver_version if driver_version not in (None, "") else spec.driver_version)
    if cuda_driver_version is None:
        cuda_driver_version = spec.cuda_driver_version
    if isinstance(cuda_driver_version, bool) or not isinstance(cuda_driver_version, int) \
            or not CUDA_DRIVER_VERSION_MIN <= cuda_driver_version <= CUDA_DRIVER_VERSION_MAX:
        raise ProfileError("cuda_driver_version must be an integer from %d to %d like 12040, got %s."
                           % (CUDA_DRIVER_VERSION_MIN, CUDA_DRIVER_VERSION_MAX, shown(cuda_driver_version)))

    board = spec.board
    if overrides:
        if not isinstance(overrides, dict):
            raise ProfileError("overrides must be a dictionary of board fields.")
        board = replace(board, **{k: _coerce_override(k, v) for k, v in overrides.items()})
    if mig_enabled and not board.mig_capable:
        raise ProfileError("mig_enabled is not possible: %s has no MIG support." % board.name)
    layout = _layout_by_gpu(mig_layout, gpu_count, mig_enabled)
    instances = dict((index, mig_instances(board, index, names)) for index, names in sorted(layout.items()))
    _check_caps_table(instances)

    gpus = []
    for index in range(gpu_count):
        domain, bus, device, function = pci_location(spec, index)
        gpus.append(Gpu(
            index=index,
            minor=index,
            uuid=gpu_uuid(node_id, profile, index),
            serial=gpu_serial(node_id, profile, index),
            pci_domain=domain, pci_bus=bus, pci_device=device, pci_function=function,
            numa_node=(index // spec.gpus_per_numa_node) % max(1, (spec.gpu_count // spec.gpus_per_numa_node)),
            mig_enabled=bool(mig_enabled),
            board=board,
            mig_instances=instances.get(index, ()),
        ))
    return Node(profile=profile, node_id=node_id, system_name=spec.system_name,
                driver_version=driver_version, cuda_driver_version=cuda_driver_version,
                board=board, gpus=tuple(gpus))


def default_node_id(machine_id_path="/etc/machine-id", hostname=None):
    """The machine id if there is one, else the host name (what modules use when node_id is unset)."""
    try:
        with open(machine_id_path) as handle:
            value = handle.read().strip()
        if value:
            return value
    except (IOError, OSError):
        pass
    if hostname is None:
        import socket
        hostname = socket.gethostname()
    return hostname
