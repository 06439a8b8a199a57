# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""The device nodes of a mock NVIDIA node: which ones, with which numbers and modes.

Shared by the devnodes module (which creates them) and the CDI spec module (which lists them),
so the spec always names exactly the nodes that were made.

Numbers follow the real driver:

* ``nvidia<minor>`` is ``195:<minor>``; ``nvidiactl`` is ``195:255``; ``nvidia-modeset`` is
  ``195:254`` (195 is the fixed ``nvidia`` major);
* ``nvidia-uvm`` and ``nvidia-uvm-tools`` are minors 0 and 1 of the dynamic ``nvidia-uvm``
  major, ``nvidia-caps/nvidia-cap<n>`` are minors of the dynamic ``nvidia-caps`` major. When
  the host's ``/proc/devices`` has these names their majors are used; otherwise the defaults
  are the ones a real H100 node shows (238 and 241, see shared/reference node.txt);
* MIG capability minors (``mig_capabilities()``, the table the driver writes to
  ``/proc/driver/nvidia-caps/mig-minors``; minor 0 is NVLink's ``fabric-mgmt``): 1 is the ``config``
  capability (mode 0400), 2 the ``monitor`` capability (0444), then for each of the 32 GPU minors
  the driver has room for, 135 minors: for each of 15 GPU instances its ``access`` capability
  followed by the ``access`` capabilities of its 8 compute instances (``gpu0/gi0/access`` is 3,
  ``gpu0/gi0/ci0/access`` 4, ``gpu0/gi1/access`` 12, ``gpu1/gi0/access`` 138, the last
  ``gpu31/gi14/ci7/access`` 4322).
  A node in MIG mode has the config and monitor capability nodes, and one ``access`` node (0444)
  for each GPU instance and each compute instance of its layout, as ``nvidia-smi mig -cgi … -C``
  leaves them on a real node. Instances NVML creates later get none.

Whose a node is: a character device whose major belongs to an NVIDIA driver the running kernel
has loaded (a ``nvidia*`` line under "Character devices" of ``/proc/devices``) is that driver's
device, never the mock's: it is never replaced, removed or given another mode or owner. Any other
character device at a node's path, and an empty regular file (a stand-in), is the mock's; a
non-empty regular file is somebody else's and is refused.

Standard library only (shipped to targets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate

NVIDIA_MAJOR = 195
NVIDIACTL_MINOR = 255
MODESET_MINOR = 254
UVM_MINOR = 0
UVM_TOOLS_MINOR = 1
DEFAULT_UVM_MAJOR = 238
DEFAULT_CAPS_MAJOR = 241
MAJOR_MIN = 1
MAJOR_MAX = 4095          # Linux device majors are 12 bits
MIG_CONFIG_MINOR = 1
MIG_MONITOR_MINOR = 2
MIG_FIRST_GPU_MINOR = 3
MIG_CONFIG_MODE = 0o400
MIG_ACCESS_MODE = 0o444     # monitor, and every GPU- and compute-instance access capability
CAPS_DIR = "nvidia-caps"
PROC_DEVICES = "/proc/devices"


class DevnodesError(ValueError):
    """Bad device-node input; the message is one sentence naming the option."""


class DevNode:
    """One device node: ``name`` is relative to the dev root (``nvidia0``, ``nvidia-caps/nvidia-cap1``).

    ``capability`` is the MIG capability a ``cap`` node is, as mig-minors names it (``config``,
    ``gpu0/gi1/access``, ``gpu0/gi1/ci0/access``).
    """

    __slots__ = ("name", "major", "minor", "mode", "role", "gpu_index", "capability")

    def __init__(self, name, major, minor, mode, role, gpu_index=None, capability=None):
        self.name = name
        self.major = major
        self.minor = minor
        self.mode = mode
        self.role = role            # "gpu", "control" or "cap"
        self.gpu_index = gpu_index
        self.capability = capability

    def __repr__(self):
        return "DevNode(%r, %d:%d)" % (self.name, self.major, self.minor)


def _char_drivers(path=None):
    """``[(major, name)]`` of the character drivers in /proc/devices (empty when it cannot be read)."""
    try:
        with open(PROC_DEVICES if path is None else path) as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError):
        return []
    drivers = []
    in_char = False
    for line in lines:
        if line.startswith("Character devices"):
            in_char = True
            continue
        if line.startswith("Block devices"):
            in_char = False
            continue
        parts = line.split()
        if in_char and len(parts) == 2 and parts[0].isdigit():
            drivers.append((int(parts[0]), parts[1]))
    return drivers


def proc_devices_major(name, path=None):
    """The major of the character driver ``name`` in /proc/devices, or None."""
    for major, driver in _char_drivers(path):
        if driver == name:
            return major
    return None


def loaded_driver_majors(path=None):
    """The majors of the NVIDIA drivers the running kernel has loaded (their nodes are never the mock's)."""
    return frozenset(major for major, driver in _char_drivers(path) if driver.startswith("nvidia"))


def default_uvm_major(proc_devices=None):
    major = proc_devices_major("nvidia-uvm", proc_devices)
    return DEFAULT_UVM_MAJOR if major is None else major


def default_caps_major(proc_devices=None):
    major = proc_devices_major("nvidia-caps", proc_devices)
    return DEFAULT_CAPS_MAJOR if major is None else major


def check_major(option, value):
    """Return ``value`` if it is a usable dynamic major, else raise naming ``option``."""
    if isinstance(value, bool) or not isinstance(value, int) or not MAJOR_MIN <= value <= MAJOR_MAX \
            or value == NVIDIA_MAJOR:
        raise DevnodesError("%s must be a device major from %d to %d other than %d, got %r."
                            % (option, MAJOR_MIN, MAJOR_MAX, NVIDIA_MAJOR, value))
    return value


_OCTAL_MODE_RE = re.compile(r"[0-7]{1,4}")


def check_mode(option, value):
    """Accept '0666' or '666' (octal text) or an integer (YAML's 0666 is already 438); return the int.

    Anything else (a float such as 6.6, a bool, '0o666', ' 666', '0x1b6') raises naming ``option``.
    """
    if isinstance(value, str) and _OCTAL_MODE_RE.fullmatch(value):
        mode = int(value, 8)
    elif isinstance(value, int) and not isinstance(value, bool):
        mode = value
    else:
        raise DevnodesError("%s must be an octal file mode such as 0666 (text of octal digits or an "
                            "integer), got %r." % (option, value))
    if not 0 <= mode <= 0o777:
        raise DevnodesError("%s must be an octal file mode from 0000 to 0777, got %r." % (option, value))
    return mode


def mig_cap_minor(gpu_minor, gpu_instance, compute_instance=None):
    """The nvidia-caps minor of a GPU instance (or of one of its compute instances)."""
    per_gi = 1 + profiles.MIG_COMPUTE_INSTANCE_IDS
    base = MIG_FIRST_GPU_MINOR + (gpu_minor * profiles.MIG_GPU_INSTANCE_IDS + gpu_instance) * per_gi
    return base if compute_instance is None else base + 1 + compute_instance


def gpu_instance_capability(gpu_minor, gpu_instance):
    return "gpu%d/gi%d/access" % (gpu_minor, gpu_instance)


def compute_instance_capability(gpu_minor, gpu_instance, compute_instance):
    return "gpu%d/gi%d/ci%d/access" % (gpu_minor, gpu_instance, compute_instance)


def mig_capabilities():
    """(name, minor) of every MIG capability the driver has, in the order of its mig-minors table."""
    table = [("config", MIG_CONFIG_MINOR), ("monitor", MIG_MONITOR_MINOR)]
    for gpu in range(profiles.MIG_CAPS_MAX_GPUS):
        for gi in range(profiles.MIG_GPU_INSTANCE_IDS):
            table.append((gpu_instance_capability(gpu, gi), mig_cap_minor(gpu, gi)))
            table.extend((compute_instance_capability(gpu, gi, ci), mig_cap_minor(gpu, gi, ci))
                         for ci in range(profiles.MIG_COMPUTE_INSTANCE_IDS))
    return table


def has_mig_capabilities(node):
    """Whether the node has the config and monitor capabilities (its GPUs are in MIG mode)."""
    return any(gpu.mig_enabled for gpu in node.gpus)


def node_capabilities(node):
    """(capability, minor, mode) of every MIG capability the node has: config and monitor, then the
    access capability of each GPU instance and compute instance of its layout, by minor."""
    if not has_mig_capabilities(node):
        return []
    caps = [("config", MIG_CONFIG_MINOR, MIG_CONFIG_MODE), ("monitor", MIG_MONITOR_MINOR, MIG_ACCESS_MODE)]
    for gpu in node.gpus:
        for mig in gpu.mig_devices:
            caps.append((gpu_instance_capability(gpu.minor, mig.gpu_instance),
                         mig_cap_minor(gpu.minor, mig.gpu_instance), MIG_ACCESS_MODE))
            caps.append((compute_instance_capability(gpu.minor, mig.gpu_instance, mig.compute_instance),
                         mig_cap_minor(gpu.minor, mig.gpu_instance, mig.compute_instance), MIG_ACCESS_MODE))
    return sorted(set(caps), key=lambda cap: cap[1])


def cap_node_name(minor):
    return CAPS_DIR + "/nvidia-cap%d" % minor


def device_nodes(node, uvm_major, caps_major, mode=0o666):
    """Every device node of ``node`` (a profiles.Node), GPUs first, then control nodes, then caps."""
    nodes = [DevNode("nvidia%d" % gpu.minor, NVIDIA_MAJOR, gpu.minor, mode, "gpu", gpu.index)
             for gpu in node.gpus]
    nodes.append(DevNode("nvidiactl", NVIDIA_MAJOR, NVIDIACTL_MINOR, mode, "control"))
    nodes.append(DevNode("nvidia-modeset", NVIDIA_MAJOR, MODESET_MINOR, mode, "control"))
    nodes.append(DevNode("nvidia-uvm", uvm_major, UVM_MINOR, mode, "control"))
    nodes.append(DevNode("nvidia-uvm-tools", uvm_major, UVM_TOOLS_MINOR, mode, "control"))
    nodes.extend(DevNode(cap_node_name(minor), caps_major, minor, cap_mode, "cap", capability=capability)
                 for capability, minor, cap_mode in node_capabilities(node))
    return nodes


def entries(nodes, as_files, uid=None, gid=None, driver_majors=None):
    """fsstate entries for ``nodes`` (relative to the dev root): char devices or file stand-ins.

    ``driver_majors``: the majors of loaded NVIDIA drivers (default: ``loaded_driver_majors()``),
    whose nodes are not the mock's.
    """
    if driver_majors is None:
        driver_majors = loaded_driver_majors()
    adopt = (fsstate.empty_file, fsstate.device_not_of(driver_majors))
    result = []
    if any(n.name.startswith(CAPS_DIR + "/") for n in nodes):
        result.append(fsstate.Entry(CAPS_DIR, fsstate.DIRECTORY, mode=0o755, uid=uid, gid=gid))
    for n in nodes:
        if as_files:
            result.append(fsstate.Entry(n.name, fsstate.DEVFILE, mode=n.mode, uid=uid, gid=gid,
                                        major=n.major, minor=n.minor, adopt=adopt))
        else:
            result.append(fsstate.Entry(n.name, fsstate.CHARDEV, mode=n.mode, uid=uid, gid=gid,
                                        major=n.major, minor=n.minor, adopt=adopt))
    return result
