# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options naming the mock node, shared by the node modules.

    These document plugins/module_utils/runner/node_args.node_argument_spec(); the profile choices must be
    profiles.PROFILE_NAMES (ansible-test sanity's validate-modules compares each module's docs with
    its argument_spec, so a drift fails there).
    """

    # The modules that lay out or mount a driver tree (node_args.architecture_argument_spec(); the
    # choices must be driver_tree.ARCHITECTURES).
    ARCHITECTURE = r"""
options:
  architecture:
    description:
      - The node's architecture, as C(uname -m) names it. The driver's libraries are in its Debian multiarch
        directory, C(usr/lib/<architecture>-linux-gnu) of the driver tree, and the CDI spec, the loader entry
        and C(proc/driver/nvidia/version) name that.
      - Defaults to the target's own; a target whose C(uname -m) is neither choice must set it.
      - It does not follow O(profile). The C(gh200) and C(gb200) machines are aarch64 ones, but their mock GPUs
        are data that any node can have; an x86_64 node with them gets an x86_64 driver tree, as its own
        programs need.
    type: str
    choices: [x86_64, aarch64]
"""

    DOCUMENTATION = r"""
options:
  profile:
    description: Built-in machine profile that decides the GPUs.
    type: str
    default: dgxa100
    choices: [dgxa100, dgxb200, dgxh100, dgxh200, gb200, gh200, l40s, t4]
  gpu_count:
    description: Number of GPUs (1 to 128); the profile's count when unset.
    type: int
  node_id:
    description:
      - Identity of the node that the GPU identities derive from.
      - One line of printable characters, at most 255 bytes in UTF-8; spaces around it are dropped.
      - Defaults to the content of C(/etc/machine-id), else the host name.
    type: str
  mig_enabled:
    description: Whether the GPUs are in MIG mode; the board must support MIG.
    type: bool
    default: false
  mig_layout:
    description:
      - GPU instances every GPU is provisioned with, as a list of MIG profile names of the board such as
        V([3g.20gb, 2g.10gb, 1g.5gb]) on dgxa100; or a dictionary from GPU index to such a list for some GPUs.
      - Each GPU instance gets the compute instance that spans it. NVML sees them until it destroys them.
      - Requires O(mig_enabled); a layout the board cannot place fails naming the GPU and the profile, and so
        does one on GPU 32 or later (the driver's MIG capabilities cover 32 GPUs).
    type: raw
  driver_version:
    description:
      - Driver version the node imitates, the profile's when unset. NVIDIA's form, 2 or 3 groups of ASCII digits
        separated by dots such as V(550.54.15), at most 63 characters (a Kubernetes label carries it whole).
      - It names the driver tree's files and what NVML, the CDI spec and the labels report; the device nodes do not
        depend on it.
    type: str
"""
