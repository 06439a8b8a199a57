# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""Options every node module shares (which node, where) and their checks.

Standard library only (shipped to targets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.gpumock.nvidia.plugins.module_utils import profiles


def node_argument_spec():
    """argument_spec entries naming the node: profile, gpu_count, node_id, mig_enabled."""
    return dict(
        profile=dict(type="str", default=profiles.DEFAULT_PROFILE, choices=list(profiles.PROFILE_NAMES)),
        gpu_count=dict(type="int"),
        node_id=dict(type="str"),
        mig_enabled=dict(type="bool", default=False),
    )


def build_node(params, driver_version=None):
    """The profiles.Node the module's params describe; raises profiles.ProfileError."""
    node_id = params.get("node_id")
    if node_id is None:
        node_id = profiles.default_node_id()
    return profiles.build_node(profile=params["profile"], gpu_count=params.get("gpu_count"),
                               node_id=node_id, driver_version=driver_version,
                               mig_enabled=params.get("mig_enabled") or None)


class PathError(ValueError):
    """A path option that cannot be used; the message is one sentence naming the option."""


def check_abs_path(option, value):
    """Return ``value`` normalised if it is absolute and has no ``..``; else raise PathError."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise PathError("%s must be an absolute path, got %r." % (option, value))
    if ".." in value.split("/"):
        raise PathError("%s must not contain '..', got %r." % (option, value))
    return os.path.normpath(value)


def owner_ids():
    """(uid, gid) to enforce: root's when running as root, else None (not managed)."""
    if os.geteuid() == 0:
        return 0, 0
    return None, None
