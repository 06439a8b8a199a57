# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""The plan of the mock driver tree: a directory shaped like the root file system of a node
with the NVIDIA driver installed (as the GPU Operator's driver container root is).

``driver_files()`` is the one answer to "which files does the driver tree contain": the tree
module creates them and the CDI spec module mounts them, so the spec mounts exactly what the
tree has.

Layout below the tree root R, for driver version V on a node of architecture A (``uname -m``:
x86_64, aarch64):

* ``usr/lib/A-linux-gnu/lib*.so.V`` (``lib_dir``): every library the real driver installs (the
  list a real 580 node shows), with its SONAME link and its ``.so`` development link where the real
  driver has them; ``vdpau/libvdpau_nvidia.so.V`` in the ``vdpau`` subdirectory, where Debian and
  NVIDIA's installer put it and where nvidia-ctk looks. The same files on every architecture,
  in Debian's multiarch directory of A, where nvidia-ctk looks on such a node. ``libnvidia-ml.so.V`` is the mock NVML
  (copied from ``nvml_library``); the others are empty placeholders.
* ``usr/bin/nvidia-*``: the driver's tools as executable placeholder scripts, created only
  where no file exists yet, so that a real binary installed later is left alone.
* ``usr/bin/nvidia-mock-ctl``: the mock's own control tool (faults and live values at run time,
  docs/faults-and-live-values.md), copied from ``mock_ctl``. It is not a driver file: the CDI
  spec does not mount it (``driver_files()`` does not list it).
* ``lib/firmware/nvidia/V/gsp_*.bin``: GSP firmware placeholders (nvidia-ctk mounts them).
* ``proc/driver/nvidia/{version,params,registry,gpus/<bus>/information}`` in the real format.
* ``proc/driver/nvidia-caps/mig-minors``: the driver's table of MIG capability minors (every node
  has it, as every node with the driver loaded does). In MIG mode also the capability files
  ``proc/driver/nvidia/capabilities/mig/{config,monitor}`` and, for each GPU instance and compute
  instance of the layout, ``capabilities/gpu<minor>/mig/gi<id>/access`` and
  ``.../gi<id>/ci<id>/access``, each naming its ``/dev/nvidia-caps`` minor as the driver does.
* ``etc/nvidia-mock/nvml.conf``: the NVML config (``nvml_config.render``).
* ``etc/nvidia-container-runtime/config.toml``: the container toolkit's config, pointing the
  toolkit at R as its driver root and at CDI mode.

Standard library only (shipped to targets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import devnodes

# The architectures of a node, as Linux's uname -m names them; the first is a tree's when none is named.
ARCHITECTURES = ("x86_64", "aarch64")
DEFAULT_ARCHITECTURE = ARCHITECTURES[0]
BIN_DIR = "usr/bin"
PROC_DIR = "proc/driver/nvidia"
CAPS_PROC_DIR = "proc/driver/nvidia-caps"
MIG_MINORS = CAPS_PROC_DIR + "/mig-minors"
CAPABILITIES_DIR = PROC_DIR + "/capabilities"
NVML_CONFIG = "etc/nvidia-mock/nvml.conf"
MOCK_CTL = "usr/bin/nvidia-mock-ctl"
# The live state that nvidia-mock-ctl (and the library) create beside the NVML config, by the
# library's rule nvml.conf -> nvml.state (nvml_src/src/live_state.c, mock_live_path). Never
# planned while present (its content is run-time state); removed with the tree.
LIVE_STATE = "etc/nvidia-mock/nvml.state"
TOOLKIT_CONFIG = "etc/nvidia-container-runtime/config.toml"
# The first bytes of the live state file (MOCK_LIVE_MAGIC of nvml_src/src/live_state.h).
LIVE_STATE_MAGIC = b"GPUMOCK-LIVE"
# The build host of /proc/driver/nvidia/version: the mock's signature in a file of the real format.
VERSION_SIGNATURE = "(gpumock@nvidia-mock)"

# The NVML config embedded in the library file, for containers that get the library and their
# device nodes but not the node's nvml.conf (NVIDIA's device plugin writes its own CDI spec).
# Layout of the file's end, read by nvml_src/src/config_load.c (EMBED_MAGIC, EMBED_TRAILER_LEN):
#   <library (ELF) bytes> <config bytes> <EMBED_MAGIC, 16 bytes> <config length, uint64 little-endian>
# The dynamic loader and ldconfig go by the ELF headers and ignore bytes after the image.
EMBED_MAGIC = b"GPUMOCK-NVMLCFG1"
EMBED_LENGTH_FORMAT = "<Q"
EMBED_TRAILER_LEN = len(EMBED_MAGIC) + struct.calcsize(EMBED_LENGTH_FORMAT)

# (library, SONAME suffix or None, has a .so development link, subdirectory of lib_dir()).
# Read off a real 580.159.04 node (shared/reference/h100-80gb-hbm3/node.txt).
LIBRARIES = (
    ("libcuda", "1", True, ""),
    ("libcudadebugger", "1", True, ""),
    ("libEGL_nvidia", "0", True, ""),
    ("libGLESv1_CM_nvidia", "1", True, ""),
    ("libGLESv2_nvidia", "2", True, ""),
    ("libGLX_nvidia", "0", True, ""),
    ("libnvcuvid", "1", True, ""),
    ("libnvidia-allocator", "1", True, ""),
    ("libnvidia-cfg", "1", True, ""),
    ("libnvidia-eglcore", None, True, ""),
    ("libnvidia-encode", "1", True, ""),
    ("libnvidia-fbc", "1", True, ""),
    ("libnvidia-glcore", None, True, ""),
    ("libnvidia-glsi", None, True, ""),
    ("libnvidia-glvkspirv", None, True, ""),
    ("libnvidia-gpucomp", None, True, ""),
    ("libnvidia-ml", "1", True, ""),
    ("libnvidia-nvvm", "4", True, ""),
    ("libnvidia-opencl", "1", True, ""),
    ("libnvidia-opticalflow", "1", True, ""),
    ("libnvidia-pkcs11-openssl3", None, True, ""),
    ("libnvidia-ptxjitcompiler", "1", True, ""),
    ("libnvidia-rtcore", None, True, ""),
    ("libnvidia-tls", None, True, ""),
    ("libnvoptix", "1", True, ""),
    ("libvdpau_nvidia", "1", False, "vdpau"),
)
NVML_LIBRARY = "libnvidia-ml"

TOOLS = ("nvidia-smi", "nvidia-debugdump", "nvidia-persistenced", "nvidia-cuda-mps-control",
         "nvidia-cuda-mps-server")
FIRMWARE = ("gsp_ga10x.bin", "gsp_tu10x.bin")

# /proc/driver/nvidia/params of the real node, in its order and with its values.
PARAMS = (
    ("ResmanDebugLevel", "4294967295"), ("RmLogonRC", "1"), ("ModifyDeviceFiles", "1"),
    ("DeviceFileUID", "0"), ("DeviceFileGID", "0"), ("DeviceFileMode", "438"),
    ("InitializeSystemMemoryAllocations", "1"), ("UsePageAttributeTable", "4294967295"),
    ("EnableMSI", "1"), ("EnablePCIeGen3", "0"), ("MemoryPoolSize", "0"), ("KMallocHeapMaxSize", "0"),
    ("VMallocHeapMaxSize", "0"), ("IgnoreMMIOCheck", "0"), ("EnableStreamMemOPs", "0"),
    ("EnableUserNUMAManagement", "1"), ("NvLinkDisable", "1"), ("RmProfilingAdminOnly", "0"),
    ("PreserveVideoMemoryAllocations", "0"), ("EnableS0ixPowerManagement", "0"),
    ("S0ixPowerManagementVideoMemoryThreshold", "256"), ("DynamicPowerManagement", "3"),
    ("DynamicPowerManagementVideoMemoryThreshold", "200"), ("RegisterPCIDriver", "1"),
    ("EnablePCIERelaxedOrderingMode", "0"), ("EnableResizableBar", "0"), ("EnableGpuFirmware", "18"),
    ("EnableGpuFirmwareLogs", "2"), ("RmNvlinkBandwidthLinkCount", "0"), ("EnableDbgBreakpoint", "0"),
    ("OpenRmEnableUnsupportedGpus", "1"), ("DmaRemapPeerMmio", "1"), ("ImexChannelCount", "2048"),
    ("CreateImexChannel0", "0"), ("GrdmaPciTopoCheckOverride", "0"), ("CoherentGPUMemoryMode", '""'),
    ("RegistryDwords", '""'), ("RegistryDwordsPerDevice", '""'), ("RmMsg", '""'), ("GpuBlacklist", '""'),
    ("TemporaryFilePath", '""'), ("ExcludedGpus", '""'),
)

# Architectures (NVML enum values) whose GPUs address 52 bits of DMA; older ones use 47.
_DMA52_ARCHITECTURES = (9, 10)
_FIRST_IRQ = 41


class DriverFile:
    """A regular file of the tree that consumers mount: ``role`` is library, tool or firmware."""

    __slots__ = ("path", "role", "links")

    def __init__(self, path, role, links=()):
        self.path = path
        self.role = role
        self.links = tuple(links)   # (link path, link target) pairs that belong to this file

    def __repr__(self):
        return "DriverFile(%r, %r)" % (self.path, self.role)


def lib_dir(arch=DEFAULT_ARCHITECTURE):
    """The driver's library directory on a node of ``arch``: Debian's multiarch directory."""
    return "usr/lib/%s-linux-gnu" % arch


def driver_files(driver_version, arch=DEFAULT_ARCHITECTURE):
    """Every library, tool and firmware file of the tree for ``driver_version``, in tree order."""
    files = []
    for name, soname, devlink, subdir in LIBRARIES:
        directory = lib_dir(arch) + ("/" + subdir if subdir else "")
        real = "%s.so.%s" % (name, driver_version)
        links = []
        if soname is not None:
            links.append(("%s/%s.so.%s" % (directory, name, soname), real))
        if devlink:
            links.append(("%s/%s.so" % (directory, name), "%s.so.%s" % (name, soname) if soname else real))
        files.append(DriverFile("%s/%s" % (directory, real), "library", links))
    for tool in TOOLS:
        files.append(DriverFile("%s/%s" % (BIN_DIR, tool), "tool"))
    for blob in FIRMWARE:
        files.append(DriverFile("lib/firmware/nvidia/%s/%s" % (driver_version, blob), "firmware"))
    return files


def library_dirs(driver_version, arch=DEFAULT_ARCHITECTURE):
    """The directories holding ``lib*.so.V`` (what update-ldcache and NVIDIA_CTK_LIBCUDA_DIR name)."""
    dirs = []
    for f in driver_files(driver_version, arch):
        d = f.path.rsplit("/", 1)[0]
        if f.role == "library" and d not in dirs:
            dirs.append(d)
    return dirs


def nvml_library_path(driver_version, arch=DEFAULT_ARCHITECTURE):
    return "%s/%s.so.%s" % (lib_dir(arch), NVML_LIBRARY, driver_version)


def split_embedded_config(data):
    """``(library bytes, embedded config bytes or None)`` of a library file's content.

    Without a valid trailer (no magic, or a length that does not fit in the file) the whole
    content is the library.
    """
    data = bytes(data)
    trailer_at = len(data) - EMBED_TRAILER_LEN
    length_at = trailer_at + len(EMBED_MAGIC)
    if trailer_at < 0 or data[trailer_at:length_at] != EMBED_MAGIC:
        return data, None
    (length,) = struct.unpack(EMBED_LENGTH_FORMAT, data[length_at:])
    if length > trailer_at:
        return data, None
    return data[:trailer_at - length], data[trailer_at - length:trailer_at]


def strip_embedded_config(data):
    """The library without any embedded config (several, should a file carry them)."""
    library, config = split_embedded_config(data)
    while config is not None:
        library, config = split_embedded_config(library)
    return library


def embed_nvml_config(library, config_text):
    """The library file's content: ``library`` (any config it embeds replaced) + config + trailer."""
    config = config_text.encode("utf-8") if not isinstance(config_text, bytes) else config_text
    return (strip_embedded_config(library) + config + EMBED_MAGIC
            + struct.pack(EMBED_LENGTH_FORMAT, len(config)))


def version_text(driver_version, arch=DEFAULT_ARCHITECTURE):
    """/proc/driver/nvidia/version as the open kernel module writes it (trailing spaces included)."""
    return ("NVRM version: NVIDIA UNIX Open Kernel Module for %s  %s  Release Build  %s  \n"
            "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14) \n" % (arch, driver_version, VERSION_SIGNATURE))


def params_text():
    return "".join("%s: %s\n" % pair for pair in PARAMS)


def gpu_information_text(gpu, driver_version):
    """/proc/driver/nvidia/gpus/<bus>/information of one GPU, field for field as the driver writes it."""
    board = gpu.board
    dma_bits = 52 if board.architecture in _DMA52_ARCHITECTURES else 47
    firmware = driver_version if board.gsp_firmware else "N/A"
    return ("Model: \t\t %s\n"
            "IRQ:   \t\t %d\n"
            "GPU UUID: \t %s\n"
            "Video BIOS: \t %s\n"
            "Bus Type: \t PCIe\n"
            "DMA Size: \t %d bits\n"
            "DMA Mask: \t 0x%x\n"
            "Bus Location: \t %s\n"
            "Device Minor: \t %d\n"
            "GPU Firmware: \t %s\n"
            "GPU Excluded:\t No\n"
            % (board.name, _FIRST_IRQ + gpu.index, gpu.uuid, board.vbios_version.lower(), dma_bits,
               (1 << dma_bits) - 1, gpu.pci_bus_id_legacy, gpu.minor, firmware))


def mig_minors_text():
    """/proc/driver/nvidia-caps/mig-minors: "<capability> <minor>" per line, the driver's whole table."""
    return "".join("%s %d\n" % pair for pair in devnodes.mig_capabilities())


def capability_path(capability):
    """Where the driver's procfs has a MIG capability: config and monitor under ``mig/``, the others
    under their GPU (``gpu0/gi1/access`` is ``capabilities/gpu0/mig/gi1/access``)."""
    gpu, slash, rest = capability.partition("/")
    return "%s/%s" % (CAPABILITIES_DIR, "gpu%s/mig/%s" % (gpu[3:], rest) if slash else "mig/" + capability)


def capability_text(minor, mode):
    """A capability file as the driver prints it: its device minor, file mode (decimal) and modify flag."""
    return "DeviceFileMinor: %d\nDeviceFileMode: %d\nDeviceFileModify: 1\n" % (minor, mode)


def toolkit_config_text(root):
    """The container toolkit's config: CDI mode, this tree as the driver root."""
    return ("# Written by gpumock.nvidia: the NVIDIA Container Toolkit config of a mock GPU node.\n"
            "[nvidia-container-cli]\n"
            "root = \"%s\"\n"
            "path = \"/usr/bin/nvidia-container-cli\"\n"
            "ldconfig = \"@/sbin/ldconfig\"\n"
            "\n"
            "[nvidia-container-runtime]\n"
            "mode = \"cdi\"\n"
            "runtimes = [\"runc\", \"crun\"]\n"
            "\n"
            "[nvidia-container-runtime.modes.cdi]\n"
            "default-kind = \"nvidia.com/gpu\"\n"
            "spec-dirs = [\"/etc/cdi\", \"/var/run/cdi\"]\n"
            "\n"
            "[nvidia-ctk]\n"
            "path = \"/usr/bin/nvidia-ctk\"\n" % root)


def tool_placeholder_text(tool):
    return ("#!/bin/sh\n"
            "# A placeholder of the mock NVIDIA driver (gpumock.nvidia): replace it with the real tool.\n"
            "echo \"%s: placeholder of the gpumock.nvidia mock driver\" >&2\n"
            "exit 0\n" % tool)


def mock_ctl_placeholder_text():
    return ("#!/bin/sh\n"
            "# A placeholder of gpumock.nvidia: the driver tree was made without a built nvidia-mock-ctl.\n"
            "echo \"nvidia-mock-ctl: not installed (build nvml_src and give its path to the driver tree)\" >&2\n"
            "exit 1\n")


# What in the tree is ours (fsstate adoption rules), besides what the entry itself would write.
# Placeholders (libraries, firmware) are ours while empty; the mock NVML when it carries the
# embedded-config trailer (a real libnvidia-ml.so.V does not); tool scripts and generated configs
# when they carry the collection's marker line; nvidia-mock-ctl when it is empty, the placeholder
# or a program naming itself so; a library link when what it points to is missing or ours;
# /proc/driver/nvidia/version when it has the mock's build signature, and the other files of the
# real /proc format (which has no room for a comment) when that version file has it.
NVML_TRAILER = fsstate.trailer(EMBED_MAGIC, EMBED_TRAILER_LEN)


def _built_mock_ctl(path, st):
    return fsstate.starts_with(b"\x7fELF")(path, st) and \
        fsstate.contains(MOCK_CTL.rsplit("/", 1)[1].encode())(path, st)


def adopt_rules(root):
    """``{what: adoption rules}`` of the tree's files below ``root`` (see the comment above)."""
    version_file = "%s/%s/version" % (root.rstrip("/"), PROC_DIR)
    signed = fsstate.contains(VERSION_SIGNATURE.encode())
    return {
        "library": (fsstate.empty_file,),
        "nvml_library": (fsstate.empty_file, NVML_TRAILER),
        "library_link": (fsstate.through_link(fsstate.empty_file, NVML_TRAILER),),
        "tool": (fsstate.empty_file, fsstate.marked),
        "firmware": (fsstate.empty_file,),
        "mock_ctl": (fsstate.empty_file, fsstate.marked, _built_mock_ctl),
        "proc_version": (signed,),
        "proc": (fsstate.anchored(version_file, signed),),
        "config": (fsstate.marked,),
        "live_state": (fsstate.empty_file, fsstate.starts_with(LIVE_STATE_MAGIC)),
    }


def tree_entries(node, driver_version, root, nvml_config_text, nvml_library=None, uid=None, gid=None,
                 mock_ctl=None, arch=DEFAULT_ARCHITECTURE):
    """fsstate entries of the whole tree (relative to ``root``) on a node of ``arch``, each with its
    adoption rules.

    ``nvml_library`` is the mock NVML's bytes, installed with ``nvml_config_text`` embedded
    (``embed_nvml_config``), or None to leave whatever library is there (an empty placeholder
    is created only if none is). ``mock_ctl`` is nvidia-mock-ctl's bytes, or None to leave
    whatever is at ``MOCK_CTL`` (a placeholder that says so is created only if nothing is).
    """
    rules = adopt_rules(root)
    dirs = set()
    entries = []

    def add_dirs(path):
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = parent.rsplit("/", 1)[0] if "/" in parent else ""

    def add(path, kind, what, **kw):
        add_dirs(path)
        entries.append(fsstate.Entry(path, kind, uid=uid, gid=gid, adopt=rules[what], **kw))

    nvml_path = nvml_library_path(driver_version, arch)
    for f in driver_files(driver_version, arch):
        if f.role == "library":
            if f.path == nvml_path:
                if nvml_library is None:
                    add(f.path, fsstate.FILE, "nvml_library", mode=0o755, content=b"", keep_content=True)
                else:
                    add(f.path, fsstate.FILE, "nvml_library", mode=0o755,
                        content=embed_nvml_config(nvml_library, nvml_config_text))
            else:
                add(f.path, fsstate.FILE, "library", mode=0o755, content=b"")
            for link, target in f.links:
                add(link, fsstate.LINK, "library_link", target=target)
        elif f.role == "tool":
            name = f.path.rsplit("/", 1)[1]
            add(f.path, fsstate.FILE, "tool", mode=0o755, content=tool_placeholder_text(name), keep_content=True)
        else:
            add(f.path, fsstate.FILE, "firmware", mode=0o644, content=b"")
    if mock_ctl is None:
        add(MOCK_CTL, fsstate.FILE, "mock_ctl", mode=0o755, content=mock_ctl_placeholder_text(), keep_content=True)
    else:
        add(MOCK_CTL, fsstate.FILE, "mock_ctl", mode=0o755, content=mock_ctl)
    add(PROC_DIR + "/version", fsstate.FILE, "proc_version", mode=0o444, content=version_text(driver_version, arch))
    add(PROC_DIR + "/params", fsstate.FILE, "proc", mode=0o444, content=params_text())
    add(PROC_DIR + "/registry", fsstate.FILE, "proc", mode=0o644, content='Binary: ""\n')
    for gpu in node.gpus:
        add("%s/gpus/%s/information" % (PROC_DIR, gpu.pci_bus_id_legacy), fsstate.FILE, "proc", mode=0o444,
            content=gpu_information_text(gpu, driver_version))
    add(MIG_MINORS, fsstate.FILE, "proc", mode=0o444, content=mig_minors_text())
    for capability, minor, mode in devnodes.node_capabilities(node):
        add(capability_path(capability), fsstate.FILE, "proc", mode=mode, content=capability_text(minor, mode))
    add(NVML_CONFIG, fsstate.FILE, "config", mode=0o644, content=nvml_config_text)
    add(TOOLKIT_CONFIG, fsstate.FILE, "config", mode=0o644, content=toolkit_config_text(root))
    owned = owned_directories(driver_version)
    dir_entries = [fsstate.Entry(d, fsstate.DIRECTORY, mode=0o755, uid=uid, gid=gid)
                   for d in sorted(dirs) if any(d == o or d.startswith(o + "/") for o in owned)]
    return dir_entries + entries


def owned_directories(driver_version):
    """Directories that belong to the mock driver alone (removed with it when empty).

    Shared system directories on the way (``lib_dir()`` such as ``usr/lib/x86_64-linux-gnu``,
    ``lib/firmware``, ``etc``; ``lib`` may be a symlink on merged-/usr systems) are only parents: created if
    missing, never changed or removed, so installing into ``/`` is safe.
    """
    return ("lib/firmware/nvidia/%s" % driver_version, PROC_DIR, CAPS_PROC_DIR, "etc/nvidia-mock",
            "etc/nvidia-container-runtime")
