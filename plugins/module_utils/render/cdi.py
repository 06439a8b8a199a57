# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""The CDI (Container Device Interface) spec of a mock NVIDIA node: model, rules, YAML.

* ``build_spec()`` makes the spec of a node as ``nvidia-ctk cdi generate`` would: one device per
  GPU, one per MIG device of the layout (its GPU's node and its GPU- and compute-instance access
  capabilities), each once per naming strategy, plus ``all``; control nodes, env, hooks and
  mounts in the common edits. It takes the device nodes from ``devnodes.device_nodes()`` and the
  mounts from ``driver_tree.driver_files()``, so the spec names exactly what the other modules
  create. Unlike nvidia-ctk it keeps the full-GPU devices of GPUs in MIG mode (a node in MIG
  mode without a layout still has devices; the device plugin's ``none`` strategy hands out
  full GPUs), and ``all`` also holds the MIG config and monitor capabilities.
* ``minimum_version()`` is the CDI rule "the lowest cdiVersion whose features the content
  uses" (each version's requirement, checked from the newest down; 0.3.0 when none applies).
* ``validate()`` applies the checks a CDI loader makes at load time (strict fields, version,
  kind, device names, edits) and raises ``CdiError`` with one sentence.
* ``to_yaml()`` writes block YAML deterministically without PyYAML (targets may lack it);
  ``spec_text()`` is the file: that YAML after the collection's marker comment, or JSON.
* ``written_by_us`` is the fsstate adoption rule of a spec file: ours when it carries the marker
  comment (YAML) or mounts the mock's own NVML config (``/etc/nvidia-mock/nvml.conf``, a file
  no other CDI generator mounts; the only mark JSON, which has no comments, can carry).

A spec is a plain ``dict`` in the key order of the CDI Go structs (cdiVersion, kind, devices,
containerEdits), so JSON/YAML output is stable.

Standard library only (shipped to targets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import stat

from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import devnodes, driver_tree

KNOWN_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0")
EARLIEST_VERSION = "0.3.0"
NAME_STRATEGIES = ("index", "uuid", "type-index")
DEFAULT_KIND = "nvidia.com/gpu"
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
MOUNT_OPTIONS = ("ro", "nosuid", "nodev", "rbind", "rprivate")
# Read by the mock NVML at init: where the container's GPU device nodes are (see docs/nvml-config.md).
NVML_DEV_ROOT_ENV = "MOCK_NVML_DEV_ROOT"
# The first line of a YAML spec file: the collection's marker (fsstate.MARKER).
YAML_HEADER = "# Written by gpumock.nvidia: the CDI spec of a mock NVIDIA node.\n"
ANNOTATIONS_MAX_BYTES = 256 * 1024

# Fields a strict loader knows, per object (the CDI Go structs, all versions up to 1.1.0).
FIELDS = {
    "spec": ("cdiVersion", "kind", "annotations", "devices", "containerEdits"),
    "device": ("name", "annotations", "containerEdits"),
    "containerEdits": ("env", "deviceNodes", "netDevices", "hooks", "mounts", "intelRdt", "additionalGids"),
    "deviceNode": ("path", "hostPath", "type", "major", "minor", "fileMode", "permissions", "uid", "gid"),
    "mount": ("hostPath", "containerPath", "options", "type"),
    "hook": ("hookName", "path", "args", "env", "timeout"),
    "netDevice": ("hostInterfaceName", "name"),
    "intelRdt": ("closID", "l3CacheSchema", "memBwSchema", "schemata", "enableCMT", "enableMBM",
                 "enableMonitoring"),
}

_VENDOR_CLASS_RE = re.compile(r"^[A-Za-z]([A-Za-z0-9_.-]*[A-Za-z0-9])?$")
_DEVICE_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.:-]*[A-Za-z0-9])?$")


class CdiError(ValueError):
    """An invalid spec or option; the message is one sentence."""


def _version_key(version):
    return tuple(int(p) for p in version.lstrip("v").split("."))


def _all_edits(spec):
    edits = [spec.get("containerEdits") or {}]
    edits.extend((d.get("containerEdits") or {}) for d in spec.get("devices") or [])
    return edits


def _requires_1_1_0(spec):
    for e in _all_edits(spec):
        rdt = e.get("intelRdt") or {}
        if rdt.get("schemata") is not None or rdt.get("enableMonitoring") or e.get("netDevices"):
            return True
    return False


def _requires_0_7_0(spec):
    return any(e.get("intelRdt") is not None or e.get("additionalGids") for e in _all_edits(spec))


def _requires_0_6_0(spec):
    if spec.get("annotations") or any(d.get("annotations") for d in spec.get("devices") or []):
        return True
    kind = spec.get("kind") or ""
    return "." in kind.partition("/")[2]


def _requires_0_5_0(spec):
    for d in spec.get("devices") or []:
        if (d.get("name") or "")[:1].isdigit():
            return True
    return any(n.get("hostPath") for e in _all_edits(spec) for n in e.get("deviceNodes") or [])


def _requires_0_4_0(spec):
    return any(m.get("type") for e in _all_edits(spec) for m in e.get("mounts") or [])


# Newest first: the first version whose requirement the spec meets is its minimum.
_REQUIREMENTS = (
    ("1.1.0", _requires_1_1_0),
    ("0.7.0", _requires_0_7_0),
    ("0.6.0", _requires_0_6_0),
    ("0.5.0", _requires_0_5_0),
    ("0.4.0", _requires_0_4_0),
)


def minimum_version(spec):
    """The lowest cdiVersion that can express ``spec`` (CDI's MinimumRequiredVersion rule)."""
    for version, requires in _REQUIREMENTS:
        if requires(spec):
            return version
    return EARLIEST_VERSION


def _check_fields(obj, what, where):
    if not isinstance(obj, dict):
        raise CdiError("%s must be a mapping." % where)
    unknown = sorted(set(obj) - set(FIELDS[what]))
    if unknown:
        raise CdiError("%s has the unknown field %s, which a strict CDI loader rejects." % (where, unknown[0]))


def validate_kind(kind):
    """Check ``vendor/class`` as CDI's parser does; return it or raise naming ``kind``."""
    if not isinstance(kind, str) or kind.count("/") < 1:
        raise CdiError("kind must look like vendor.com/class, got %r." % (kind,))
    vendor, cls = kind.split("/", 1)
    for part, label in ((vendor, "vendor"), (cls, "class")):
        if not _VENDOR_CLASS_RE.match(part):
            raise CdiError("kind %r has an invalid %s part %r: it must start with a letter, end with a "
                           "letter or digit and contain only letters, digits, '_', '.' and '-'."
                           % (kind, label, part))
    return kind


def validate_device_name(name):
    if not isinstance(name, str) or not _DEVICE_NAME_RE.match(name):
        raise CdiError("The device name %r is invalid: it must start with a letter or digit, end with a "
                       "letter or digit and contain only letters, digits, '_', '.', ':' and '-'." % (name,))
    return name


def _validate_edits(edits, where, device_level):
    _check_fields(edits, "containerEdits", where)
    if device_level and not any(edits.get(k) for k in FIELDS["containerEdits"]):
        raise CdiError("%s is empty; every device needs at least one edit." % where)
    for env in edits.get("env") or []:
        if not isinstance(env, str) or env.find("=") <= 0:
            raise CdiError("%s has the env entry %r, which is not NAME=value." % (where, env))
    for i, node in enumerate(edits.get("deviceNodes") or []):
        label = "%s.deviceNodes[%d]" % (where, i)
        _check_fields(node, "deviceNode", label)
        if not node.get("path"):
            raise CdiError("%s has no path." % label)
        if node.get("type", "") not in ("", "b", "c", "u", "p"):
            raise CdiError("%s has the type %r; it must be b, c, u or p." % (label, node.get("type")))
        perms = node.get("permissions", "")
        if perms and perms != "none" and (set(perms) - set("rwm")):
            raise CdiError("%s has the permissions %r; only r, w and m are allowed." % (label, perms))
    for i, hook in enumerate(edits.get("hooks") or []):
        label = "%s.hooks[%d]" % (where, i)
        _check_fields(hook, "hook", label)
        if hook.get("hookName") not in HOOK_NAMES:
            raise CdiError("%s has the hook name %r; it must be one of %s."
                           % (label, hook.get("hookName"), ", ".join(HOOK_NAMES)))
        if not hook.get("path"):
            raise CdiError("%s has no path." % label)
        for env in hook.get("env") or []:
            if not isinstance(env, str) or env.find("=") <= 0:
                raise CdiError("%s has the env entry %r, which is not NAME=value." % (label, env))
    for i, mount in enumerate(edits.get("mounts") or []):
        label = "%s.mounts[%d]" % (where, i)
        _check_fields(mount, "mount", label)
        if not mount.get("hostPath") or not mount.get("containerPath"):
            raise CdiError("%s needs both hostPath and containerPath." % label)
    for i, net in enumerate(edits.get("netDevices") or []):
        _check_fields(net, "netDevice", "%s.netDevices[%d]" % (where, i))
    if edits.get("intelRdt") is not None:
        _check_fields(edits["intelRdt"], "intelRdt", where + ".intelRdt")


def _annotations_size(spec):
    total = 0
    for annotations in [spec.get("annotations") or {}] + [d.get("annotations") or {} for d in spec.get("devices") or []]:
        total += sum(len(k) + len(v) for k, v in annotations.items())
    return total


def validate(spec):
    """Raise CdiError unless ``spec`` loads in a CDI runtime of its declared version."""
    _check_fields(spec, "spec", "The spec")
    version = spec.get("cdiVersion")
    if not isinstance(version, str) or version.lstrip("v") not in KNOWN_VERSIONS:
        raise CdiError("cdiVersion %r is not a known CDI version (%s)." % (version, ", ".join(KNOWN_VERSIONS)))
    need = minimum_version(spec)
    if _version_key(version) < _version_key(need):
        raise CdiError("cdiVersion %s is too low for this content: the spec version must be at least %s."
                       % (version, need))
    validate_kind(spec.get("kind"))
    if _annotations_size(spec) > ANNOTATIONS_MAX_BYTES:
        raise CdiError("The spec's annotations exceed %d bytes in total." % ANNOTATIONS_MAX_BYTES)
    devices = spec.get("devices")
    if not devices:
        raise CdiError("The spec has no devices; a CDI spec needs at least one.")
    seen = set()
    for i, device in enumerate(devices):
        _check_fields(device, "device", "devices[%d]" % i)
        name = validate_device_name(device.get("name"))
        if name in seen:
            raise CdiError("The device name %r appears twice; device names must be unique." % name)
        seen.add(name)
        _validate_edits(device.get("containerEdits") or {}, "The containerEdits of device %r" % name, True)
    if spec.get("containerEdits") is not None:
        _validate_edits(spec["containerEdits"], "The spec's containerEdits", False)
    return spec


def _name(strategy, index, uuid, type_prefix):
    if strategy == "index":
        return index
    if strategy == "uuid":
        return uuid
    if strategy == "type-index":
        return type_prefix + index
    raise CdiError("device_name_strategy must contain only %s, got %r." % (", ".join(NAME_STRATEGIES), strategy))


def device_names(gpu, strategies):
    """The CDI names of one full GPU, one per naming strategy (nvidia-ctk's namer: 0, GPU-..., gpu0)."""
    return [_name(strategy, "%d" % gpu.index, gpu.uuid, "gpu") for strategy in strategies]


def mig_device_names(mig, strategies):
    """The CDI names of one MIG device (a profiles.MigDevice), one per naming strategy, as nvidia-ctk
    names them: ``<GPU index>:<MIG device index>``, its ``MIG-...`` UUID, ``mig<GPU index>:<index>``."""
    return [_name(strategy, "%d:%d" % (mig.gpu_index, mig.index), mig.uuid, "mig") for strategy in strategies]


def _join(root, relpath):
    return "/" + relpath if root == "/" else root.rstrip("/") + "/" + relpath


def _device_node(node, dev_root):
    entry = {"path": "/dev/" + node.name}
    if dev_root.rstrip("/") != "/dev":
        entry["hostPath"] = _join(dev_root, node.name)
    entry["type"] = "c"
    entry["major"] = node.major
    entry["minor"] = node.minor
    return entry


def _hook(hook_path, name, args=()):
    if os.path.basename(hook_path) == "nvidia-ctk":
        argv = ["nvidia-ctk", "hook", name]
    else:
        argv = [os.path.basename(hook_path), name]
    return {"hookName": "createContainer", "path": hook_path, "args": argv + list(args),
            "env": ["NVIDIA_CTK_DEBUG=false"]}


def _hooks(hook_path, driver_version, arch):
    files = driver_tree.driver_files(driver_version, arch)
    links = []
    for f in files:
        for link, target in f.links:
            links.append("%s::/%s" % (target, link))
    hooks = [_hook(hook_path, "create-symlinks", [a for link in links for a in ("--link", link)]),
             _hook(hook_path, "enable-cuda-compat", ["--host-driver-version=%s" % driver_version])]
    folders = []
    for d in driver_tree.library_dirs(driver_version, arch):
        folders += ["--folder", "/" + d]
    hooks.append(_hook(hook_path, "update-ldcache", folders))
    hooks.append(_hook(hook_path, "disable-device-node-modification"))
    return hooks


def build_spec(node, driver_version, kind=DEFAULT_KIND, strategies=("index", "uuid"),
               driver_root="/", dev_root="/dev", hook_path=None,
               uvm_major=devnodes.DEFAULT_UVM_MAJOR, caps_major=devnodes.DEFAULT_CAPS_MAJOR,
               arch=driver_tree.DEFAULT_ARCHITECTURE):
    """The CDI spec (a dict) of ``node``, a node of ``arch``, with the lowest cdiVersion its content needs."""
    validate_kind(kind)
    if not strategies:
        raise CdiError("device_name_strategy must name at least one of %s." % ", ".join(NAME_STRATEGIES))
    nodes = devnodes.device_nodes(node, uvm_major, caps_major)
    gpu_nodes = dict((n.gpu_index, n) for n in nodes if n.role == "gpu")
    cap_nodes = dict((n.capability, n) for n in nodes if n.role == "cap")
    # (names function, the device, its nodes): full GPUs, then MIG devices, as nvidia-ctk lists them.
    units = [(device_names, gpu, [gpu_nodes[gpu.index]]) for gpu in node.gpus]
    for gpu in node.gpus:
        for mig in gpu.mig_devices:
            # nvidia-ctk's MIG device: its GPU's node, then the GPU instance's and the compute
            # instance's access capability.
            units.append((mig_device_names, mig, [
                gpu_nodes[gpu.index],
                cap_nodes[devnodes.gpu_instance_capability(gpu.minor, mig.gpu_instance)],
                cap_nodes[devnodes.compute_instance_capability(gpu.minor, mig.gpu_instance,
                                                               mig.compute_instance)]]))
    devices = {}
    order = []
    for strategy in strategies:
        for names, unit, unit_nodes in units:
            name = names(unit, [strategy])[0]
            if name not in devices:
                order.append(name)
            devices[name] = {"name": name,
                             "containerEdits": {"deviceNodes": [_device_node(n, dev_root) for n in unit_nodes]}}
    # Every GPU's node and every capability node: the union of the devices, and config and monitor.
    all_nodes = [_device_node(gpu_nodes[gpu.index], dev_root) for gpu in node.gpus]
    all_nodes += [_device_node(n, dev_root) for n in nodes if n.role == "cap"]
    device_list = [devices[name] for name in order]
    device_list.append({"name": "all", "containerEdits": {"deviceNodes": all_nodes}})

    control_order = ("nvidia-modeset", "nvidia-uvm-tools", "nvidia-uvm", "nvidiactl")
    by_name = dict((n.name, n) for n in nodes)
    env = ["NVIDIA_CTK_LIBCUDA_DIR=/" + driver_tree.lib_dir(arch), "NVIDIA_VISIBLE_DEVICES=void"]
    if os.path.normpath(dev_root) != "/dev":
        # The node's config names the host's dev root; in a container the nodes are under /dev.
        env.append("%s=/dev" % NVML_DEV_ROOT_ENV)
    common = {
        "env": env,
        "deviceNodes": [_device_node(by_name[name], dev_root) for name in control_order],
    }
    if hook_path:
        common["hooks"] = _hooks(hook_path, driver_version, arch)
    # The mock NVML finds its config relative to itself (lib dir/../../../etc/nvidia-mock), so
    # the config travels with the library; nvidia-ctk has no such file to mount.
    mounted = [f.path for f in driver_tree.driver_files(driver_version, arch)] + [driver_tree.NVML_CONFIG]
    common["mounts"] = [{"hostPath": _join(driver_root, path), "containerPath": "/" + path,
                         "options": list(MOUNT_OPTIONS)}
                        for path in mounted]
    spec = {"cdiVersion": EARLIEST_VERSION, "kind": kind, "devices": device_list, "containerEdits": common}
    spec["cdiVersion"] = minimum_version(spec)
    return validate(spec)


_PLAIN_RE = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./=+:,@-]*$")
_VERSION_LIKE_RE = re.compile(r"^\d+(\.\d+){2,}$")
_RESERVED = frozenset(("y", "n", "yes", "no", "on", "off", "true", "false", "null"))


def _scalar(value):
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return "%d" % value
    text = "%s" % value
    plain = (_PLAIN_RE.match(text) and not text.endswith(":") and text.lower() not in _RESERVED) \
        or _VERSION_LIKE_RE.match(text)
    return text if plain else yaml_double_quoted(text)


def _yaml_escape(char):
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        raise CdiError("The value %r has an unpaired surrogate (an undecodable byte); YAML cannot hold it."
                       % (char,))
    if code < 0x100:
        return "\\x%02X" % code
    if code < 0x10000:
        return "\\u%04X" % code
    return "\\U%08X" % code


def yaml_double_quoted(text):
    """``text`` as a YAML double-quoted scalar in ASCII: printable ASCII as is, every other
    character as YAML's own escape (JSON's surrogate pairs for characters beyond U+FFFF are not
    YAML, and Go's YAML parser, which CDI runtimes use, refuses them)."""
    return '"%s"' % "".join(
        "\\" + char if char in '"\\' else char if " " <= char <= "~" else _yaml_escape(char)
        for char in text)


def _emit(value, indent, lines):
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append("%s%s:" % (pad, _scalar(key)))
                _emit(item, indent + 2, lines)
            else:
                lines.append("%s%s: %s" % (pad, _scalar(key), _empty_or_scalar(item)))
    else:
        for item in value:
            if isinstance(item, (dict, list)) and item:
                # Emit the item one level deeper, then put the dash into its first line's indent.
                sub = []
                _emit(item, indent + 2, sub)
                sub[0] = pad + "- " + sub[0][indent + 2:]
                lines.extend(sub)
            else:
                lines.append("%s- %s" % (pad, _empty_or_scalar(item)))


def _empty_or_scalar(value):
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def to_yaml(spec):
    """Block YAML for ``spec``: ``---`` header, keys in the dict's order, 2-space indent."""
    lines = ["---"]
    _emit(spec, 0, lines)
    return "\n".join(lines) + "\n"


def spec_text(spec, path):
    """The spec file's text: JSON when ``path`` ends in .json, else YAML after ``YAML_HEADER``."""
    if path.endswith(".json"):
        return json.dumps(spec, indent=2) + "\n"
    return YAML_HEADER + to_yaml(spec)


def _mounts_mock_config(data):
    config = "/" + driver_tree.NVML_CONFIG
    try:
        spec = json.loads(data.decode("utf-8"))
    except ValueError:
        # Not JSON: the YAML this module writes lists the mount as a plain line.
        return re.search(r"^\s*(- )?containerPath: %s\s*$" % re.escape(config), data.decode("utf-8", "replace"),
                         re.MULTILINE) is not None
    edits = spec.get("containerEdits") if isinstance(spec, dict) else None
    mounts = edits.get("mounts") if isinstance(edits, dict) else None
    return isinstance(mounts, list) and any(isinstance(m, dict) and m.get("containerPath") == config
                                            for m in mounts)


def written_by_us(path, st):
    """fsstate adoption rule of a spec file (see the module docstring)."""
    if fsstate.marked(path, st):
        return True
    if not stat.S_ISREG(st.st_mode) or st.st_size > fsstate.RULE_READ_LIMIT:
        return False
    try:
        return _mounts_mock_config(fsstate.read_file(path))
    except (IOError, OSError):
        return False
