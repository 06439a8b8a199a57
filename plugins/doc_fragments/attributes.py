# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Attributes the modules of this collection share, worded once.

    A module that differs (an extra attribute, another platform) adds or overrides that attribute in
    its own DOCUMENTATION: the module's entries win over the fragment's.
    """

    # gpumock.nvidia.attributes: check mode and diff mode.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: In check mode the module reports whether anything would change, and writes nothing on the target.
    support: full
  diff_mode:
    description: With C(--diff) the module returns what it changed (in check mode, what it would change) as before and after.
    support: full
"""

    # gpumock.nvidia.attributes.platform: the modules make files of a Linux node, through POSIX calls only.
    PLATFORM = r"""
attributes:
  platform:
    description: Targets the module can run against.
    support: full
    platforms: posix
"""
