# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""Options every node module shares (which node, where) and their checks.

Standard library only (shipped to targets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import driver_tree


# The options that name a node, in every node module (doc fragment gpumock.nvidia.node), in the
# action group gpumock.nvidia.node (meta/runtime.yml) and in the node_problem filter.
NODE_OPTIONS = ("profile", "gpu_count", "node_id", "mig_enabled", "driver_version", "mig_layout")


# The longest message node_problem passes on from Ansible's validator (which quotes values whole).
MAX_MESSAGE = 400


def node_argument_spec():
    """argument_spec entries naming the node (NODE_OPTIONS)."""
    return dict(
        profile=dict(type="str", default=profiles.DEFAULT_PROFILE, choices=list(profiles.PROFILE_NAMES)),
        gpu_count=dict(type="int"),
        node_id=dict(type="str"),
        mig_enabled=dict(type="bool", default=False),
        driver_version=dict(type="str"),
        mig_layout=dict(type="raw"),
    )


def build_node(params, driver_version=None):
    """The profiles.Node the module's params describe; raises profiles.ProfileError.

    Every node option is checked, also by a module that does not use one (the device nodes do
    not depend on driver_version): a value no consumer could carry is refused everywhere.
    """
    if driver_version is None:
        driver_version = params.get("driver_version")
    node_id = params.get("node_id")
    if node_id is None:
        node_id = profiles.default_node_id()
    return profiles.build_node(profile=params["profile"], gpu_count=params.get("gpu_count"),
                               node_id=node_id, driver_version=driver_version,
                               mig_enabled=params.get("mig_enabled") or None,
                               mig_layout=params.get("mig_layout"))


class ArchitectureError(ValueError):
    """The node's architecture is none a driver tree knows; the message is one sentence naming the option."""


def architecture_argument_spec():
    """The option ``architecture`` of the modules that lay out or mount a driver tree (doc fragment
    gpumock.nvidia.node.architecture)."""
    return dict(architecture=dict(type="str", choices=list(driver_tree.ARCHITECTURES)))


def node_architecture(value):
    """``value`` (checked by the argument spec), or when it is None this machine's, as uname -m names it."""
    if value is not None:
        return value
    machine = os.uname()[4]
    if machine not in driver_tree.ARCHITECTURES:
        raise ArchitectureError("architecture must be set on this %s node: a driver tree has the layout of %s."
                                % (machine, " or ".join(driver_tree.ARCHITECTURES)))
    return machine


class NodeOptionsError(ValueError):
    """node_problem() was called with something other than node options (a caller's mistake)."""


def _prefixed(option, prefix, names=NODE_OPTIONS):
    return prefix + option if option in names else option


def _build(params):
    build_node(params, driver_version=params.get("driver_version"))


def node_problem(options, prefix="", spec=None, check=None, errors=(profiles.ProfileError,)):
    """What is wrong with these node options, in the modules' own sentence; "" when nothing is.

    The check the node modules make (their argument spec's conversions, then build_node), for a
    controller that must stop before any node changes. ``prefix`` goes before the option's name
    (a role names its own variables); null options take the modules' defaults.
    A module with more options passes its whole ``spec`` and its ``check(params)``, which raises
    one of ``errors`` with a sentence that starts with the option's name.
    """
    spec = node_argument_spec() if spec is None else spec
    check = _build if check is None else check
    if not isinstance(options, dict):
        raise NodeOptionsError("expected a dictionary of node options, got %r." % (options,))
    unknown = sorted(set(options) - set(spec))
    if unknown:
        raise NodeOptionsError("unknown node options %s (known: %s)." % (", ".join(unknown), ", ".join(spec)))
    checked = ArgumentSpecValidator(spec).validate(
        dict((name, value) for name, value in options.items() if value is not None))
    if checked.error_messages:
        # The validator's sentence names the option ("value of profile must be one of ...") and
        # may quote the value as it is: escaped here, so that the message stays one line.
        names = sorted(spec, key=len, reverse=True)
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in checked.error_messages[0])
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE - 3] + "..."
        return re.sub(r"\b(%s)\b" % "|".join(names),
                      lambda match: _prefixed(match.group(1), prefix, spec), message, count=1)
    try:
        check(checked.validated_parameters)
    except errors as exc:
        # The sentence starts with the option's name ("gpu_count must ...", "mig_layout: GPU 0 ...").
        option, rest = (str(exc).split(" ", 1) + [""])[:2]
        colon = ":" if option.endswith(":") else ""
        return "%s%s %s" % (_prefixed(option.rstrip(":"), prefix, spec), colon, rest)
    return ""


class PathError(ValueError):
    """A path option that cannot be used; the message is one sentence naming the option."""


# What no path option may contain: control characters (C0, DEL, C1) and unpaired surrogates
# (undecodable bytes). The files that carry paths (the CDI spec, nvml.conf, the containerd TOML,
# tmpfiles and ld.so.conf lines) cannot hold them, or their readers refuse them.
_UNWRITABLE_IN_PATH = re.compile(u"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def check_abs_path(option, value):
    """Return ``value`` normalised if it is absolute, has no ``..`` and no character that the
    files naming it cannot hold; else raise PathError."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise PathError("%s must be an absolute path, got %r." % (option, value))
    if ".." in value.split("/"):
        raise PathError("%s must not contain '..', got %r." % (option, value))
    bad = _UNWRITABLE_IN_PATH.search(value)
    if bad:
        raise PathError("%s must not contain control characters or undecodable bytes, got %r (%r at "
                        "position %d)." % (option, value, bad.group(), bad.start()))
    # POSIX keeps a leading '//' apart from '/'; Linux does not.
    return "/" + os.path.normpath(value).lstrip("/")


def check_file_path(option, value):
    """An absolute path that names a file (not / or //); else PathError naming ``option``."""
    path = check_abs_path(option, value)
    if path.strip("/") == "":
        raise PathError("%s must name a file, got %r." % (option, value))
    return path


def file_target(path):
    """The file a single-file option edits: ``path``, or the file its symlink points to.

    A module that writes one file named by its user follows a symlink there (to any directory:
    the user chose the link) and replaces the target atomically, so the link stays a link.
    """
    if os.path.islink(path):
        return os.path.realpath(path)
    return path


def owner_ids():
    """(uid, gid) to enforce: root's when running as root, else None (not managed)."""
    if os.geteuid() == 0:
        return 0, 0
    return None, None
