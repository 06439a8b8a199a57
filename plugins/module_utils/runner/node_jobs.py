# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""The parts of a mock node as runner jobs (``_runner.Job``), from checked values.

Each single-purpose module (nvidia_mock_devnodes, nvidia_mock_driver_tree, nvidia_cdi_spec,
nvidia_mock_node_labels) checks its options and runs one of these jobs; nvidia_mock_node runs
them all, plus the boot rule and the loader entry, as one ``_runner.Parts`` job (``node_job``),
so one module run converges a whole node. ``node_problem`` makes nvidia_mock_node's checks that
need no disk, for a controller that must stop before any node changes.

Standard library only (shipped to targets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import os
import shutil
import stat
import sys

from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import cdi, devnodes, driver_tree, labels, nvml_config
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import _runner, containerd_job, module_code_cache, node_args

TMPFILES_PATH = "/etc/tmpfiles.d/nvidia-mock.conf"
LD_SO_CONF_PATH = "/etc/ld.so.conf.d/nvidia-mock.conf"
# The built files nvidia_mock_node can be given as a path on the node or, through its action
# plugin, as a controller path whose sha256 the module compares with the installed copy.
BUILT_FILES = ("nvml_library", "mock_ctl")


# Device nodes

def _report(dev_root, nodes, as_files, check_mode):
    report = []
    for n in nodes:
        path = os.path.join(dev_root, n.name)
        try:
            st = os.lstat(path)
            is_char = stat.S_ISCHR(st.st_mode)
        except OSError:
            st, is_char = None, False
        if check_mode or st is None:
            # What the run would leave: an existing real node is kept, otherwise the planned kind.
            is_char = is_char or not as_files
        report.append(dict(path=path, major=n.major, minor=n.minor, mode="%04o" % n.mode, char_device=is_char))
    return report


class DevnodesJob(_runner.Job):
    """Device nodes, or regular-file stand-ins where mknod is refused (fallback)."""

    def __init__(self, dev_root, nodes, as_files, fallback, state, option="dev_root"):
        self.dev_root = dev_root
        self.nodes = nodes
        self.as_files = as_files
        self.fallback = fallback
        self.owner = node_args.owner_ids()
        super(DevnodesJob, self).__init__(dev_root, self.node_entries(), state,
                                          report_actions=True, warn_kept=True, option=option)

    def node_entries(self):
        return devnodes.entries(self.nodes, self.as_files, *self.owner)

    def apply(self, module, plan):
        try:
            fsstate.apply(plan)
            return plan
        except fsstate.MknodError as exc:
            if self.fallback != "auto":
                raise
            # Refused although the probe passed (e.g. a seccomp rule on this directory's device):
            # redo the remainder with stand-ins.
            self.as_files = True
            self.warnings.append("%s Falling back to regular files (fallback=auto)." % exc)
            plan = self.plan(self.node_entries())
            fsstate.apply(plan)
            return plan

    def results(self, plan, check_mode):
        result = super(DevnodesJob, self).results(plan, check_mode)
        present = self.state == "present"
        result["nodes"] = _report(self.dev_root, self.nodes, self.as_files, check_mode) if present else []
        result["fallback_used"] = self.as_files and present
        return result


def devnodes_job(node, dev_root, mode, uvm_major, caps_major, fallback="auto", state="present"):
    """The device nodes of ``node`` under ``dev_root``; probes mknod (in a private temp dir) when needed."""
    nodes = devnodes.device_nodes(node, uvm_major, caps_major, mode)
    as_files = fallback == "files"
    warning = None
    if state == "present" and not as_files and not fsstate.can_mknod():
        if fallback == "never":
            raise devnodes.DevnodesError(
                "fallback=never: this host refuses mknod (no CAP_MKNOD or a user namespace), "
                "so character devices cannot be created under %s." % dev_root)
        as_files = True
        warning = "mknod is refused here; the device nodes under %s are regular files (fallback=auto)." % dev_root
    job = DevnodesJob(dev_root, nodes, as_files, fallback, state)
    if warning:
        job.warnings.append(warning)
    return job


def majors(params):
    """(uvm_major, caps_major) of the options, each checked, /proc/devices' or the default when unset."""
    uvm_major = devnodes.check_major(
        "uvm_major", devnodes.default_uvm_major() if params["uvm_major"] is None else params["uvm_major"])
    caps_major = devnodes.check_major(
        "caps_major", devnodes.default_caps_major() if params["caps_major"] is None else params["caps_major"])
    if uvm_major == caps_major:
        # Two drivers cannot share a major: the nodes nvidia-uvm and nvidia-caps/nvidia-cap1
        # would be the same device.
        raise devnodes.DevnodesError("uvm_major and caps_major must differ, both are %d." % uvm_major)
    return uvm_major, caps_major


# Driver tree

def _read_regular(path):
    """The bytes of the regular file ``path`` (not through a link), or None."""
    if os.path.islink(path):
        return None
    try:
        return fsstate.read_file(path)
    except (IOError, OSError):
        return None


def installed_library(root, version, arch):
    """The bytes of the tree's NVML library file, or None when there is no regular file."""
    return _read_regular(os.path.join(root, driver_tree.nvml_library_path(version, arch)))


def installed_library_with_config(root, version, arch):
    """The bytes of the tree's NVML library if it embeds a config (so the config can follow the
    node while the library is kept), else None."""
    data = installed_library(root, version, arch)
    if data is None or driver_tree.split_embedded_config(data)[1] is None:
        return None
    return data


def read_source(option, value):
    """The bytes of the built file an option names, or None when it is unset.

    Only a regular file is read: a FIFO, a device (``/dev/zero``) or a directory is refused in one
    sentence naming the option, without being opened for reading.
    """
    if value is None:
        return None
    source = node_args.check_abs_path(option, value)
    try:
        return fsstate.read_file(source)
    except (IOError, OSError) as exc:
        raise node_args.PathError("%s %s cannot be read: %s." % (option, source, exc.strerror))


def built_file_sha256(option, data):
    """The sha256 that ``<option>_sha256`` compares: the library without any embedded config, else the bytes."""
    if option == "nvml_library":
        data = driver_tree.strip_embedded_config(data)
    return hashlib.sha256(data).hexdigest()


def installed_built_file(option, root, version, arch):
    """The bytes of the built file ``option`` as the tree has it (the library without its config), or None."""
    if option == "nvml_library":
        data = installed_library(root, version, arch)
        return None if data is None else driver_tree.strip_embedded_config(data)
    return _read_regular(os.path.join(root, driver_tree.MOCK_CTL))


def driver_tree_job(node, root, dev_root, library=None, mock_ctl=None, state="present", option="root",
                    arch=driver_tree.DEFAULT_ARCHITECTURE):
    """The driver tree of ``node``, a node of ``arch``, under ``root``; ``library`` / ``mock_ctl``: bytes, or
    None to keep what is there."""
    config_text = nvml_config.render(node, visibility="devnodes", dev_root=dev_root)
    version = node.driver_version
    if library is None and state == "present":
        library = installed_library_with_config(root, version, arch)
    uid, gid = node_args.owner_ids()
    entries = driver_tree.tree_entries(node, version, root, config_text, library, uid, gid, mock_ctl, arch)
    if state == "absent":
        entries.append(fsstate.Entry(driver_tree.LIVE_STATE, fsstate.FILE, uid=uid, gid=gid,
                                     adopt=driver_tree.adopt_rules(root)["live_state"]))
    result = dict(
        root=root,
        driver_version=version,
        nvml_library="%s/%s" % (root.rstrip("/"), driver_tree.nvml_library_path(version, arch)),
        nvml_config="%s/%s" % (root.rstrip("/"), driver_tree.NVML_CONFIG),
        mock_ctl="%s/%s" % (root.rstrip("/"), driver_tree.MOCK_CTL),
        files=[f.path for f in driver_tree.driver_files(version, arch)],
        architecture=arch,
    )
    return _runner.Job(root, entries, state, result=result, report_actions=True, warn_kept=True, option=option)


# One file named by an option

def check_input_file(option, path, missing):
    """Refuse ``path`` unless it is a regular file (links followed), in one sentence naming ``option``.

    ``missing``: what to tell the user when nothing is there. Nothing is opened.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise node_args.PathError("%s %s does not exist; %s." % (option, path, missing))
        raise node_args.PathError("%s %s cannot be used: %s." % (option, path, exc.strerror))
    if not stat.S_ISREG(st.st_mode):
        raise node_args.PathError("%s %s is %s, not a regular file." % (option, path, fsstate.kind_words(st)))
    return path


# CDI spec

def check_spec_path(option, value):
    """The spec's path, checked: absolute, ending in .yaml or .json; else PathError naming ``option``."""
    path = node_args.check_abs_path(option, value)
    if not (path.endswith(".yaml") or path.endswith(".json")):
        raise node_args.PathError("%s must end in .yaml or .json (CDI runtimes read no other files), got %r."
                                  % (option, value))
    return path


def cdi_spec_job(node, path, driver_root, dev_root, uvm_major, caps_major, strategies,
                 kind=cdi.DEFAULT_KIND, hook_path=None, state="present", option="path",
                 arch=driver_tree.DEFAULT_ARCHITECTURE):
    """The CDI spec file of ``node``, a node of ``arch``, at ``path`` (checked by ``check_spec_path``; a
    symlink there is followed)."""
    directory, name = os.path.split(node_args.file_target(path))
    adopt = (cdi.written_by_us,)
    if state == "absent":
        return _runner.Job(directory, [fsstate.Entry(name, fsstate.FILE, adopt=adopt)], "absent",
                           result=dict(path=path), diff_file=path, warn_kept=True, option=option)
    spec = cdi.build_spec(node, node.driver_version, kind=kind, strategies=strategies,
                          driver_root=driver_root, dev_root=dev_root, hook_path=hook_path,
                          uvm_major=uvm_major, caps_major=caps_major, arch=arch)
    text = cdi.spec_text(spec, path)
    result = dict(path=path, cdi_version=spec["cdiVersion"], spec=spec,
                  devices=["%s=%s" % (spec["kind"], d["name"]) for d in spec["devices"]])
    return _runner.Job(directory, [fsstate.Entry(name, fsstate.FILE, mode=0o644, content=text, adopt=adopt)],
                       result=result, diff_file=path, diff_after=text, warn_kept=True, option=option)


# One whole file (labels, boot rule, loader entry)

def file_job(path, text, state="present", result=None, option="path"):
    """One file at ``path`` (mode 0644) holding ``text``, or removed; missing parents are created.

    Planned relative to / so the engine creates the parents (features.d, tmpfiles.d may be missing).
    The file is ours when it carries the collection's marker line (every text written here does);
    a symlink at ``path`` is followed (``file_target``).
    """
    relpath = node_args.file_target(path).lstrip("/")
    adopt = (fsstate.marked,)
    if state == "present":
        entry = fsstate.Entry(relpath, fsstate.FILE, mode=0o644, content=text, adopt=adopt)
    else:
        text = ""
        entry = fsstate.Entry(relpath, fsstate.FILE, adopt=adopt)
    return _runner.Job("/", [entry], state, result=dict(result or {}, path=path), diff_file=path, diff_after=text,
                       warn_kept=True, option=option)


# The module code cache (module_cache_dir)

class ModuleCacheJob(_runner.Job):
    """``module_cache_dir``: the launcher (module_code_cache), run by ``interpreter``, and, when this
    run writes it, the entry of this module's own code; with state=absent the launcher, the entries
    and the directory once nothing else is in it."""

    def __init__(self, directory, interpreter, state="present"):
        self.directory = directory
        path = os.path.join(directory, module_code_cache.LAUNCHER)
        text = module_code_cache.launcher_text(interpreter) if state == "present" else ""
        entry = fsstate.Entry(path.lstrip("/"), fsstate.FILE, mode=0o755, content=text, adopt=(fsstate.marked,))
        super(ModuleCacheJob, self).__init__("/", [entry], state, report_actions=True, diff_file=path,
                                             diff_after=text, warn_kept=True, option="module_cache_dir")

    def plan(self, entries=None):
        plan = super(ModuleCacheJob, self).plan(entries)
        # With absent, what the launcher made goes too: its entries, then the directory once empty.
        self.cache_removals = []
        if self.state == "absent" and os.path.isdir(self.directory):
            relative = self.directory.lstrip("/")
            names = module_code_cache.entries(self.directory)
            self.cache_removals = [fsstate.Action("remove", os.path.join(relative, name)) for name in names]
            # A launcher that is not ours stays (no action of the base plan), and so does the directory.
            launcher_goes = set([module_code_cache.LAUNCHER]) if plan.actions else set()
            if set(os.listdir(self.directory)) - set(names) - launcher_goes:
                plan.kept.append(relative)
            else:
                self.cache_removals.append(fsstate.Action("rmdir", relative))
            plan.actions.extend(self.cache_removals)
        return plan

    def apply(self, module, plan):
        launcher = [action for action in plan.actions if action not in self.cache_removals]
        fsstate.apply(fsstate.Plan(plan.root, plan.state, launcher, plan.diffs, plan.kept))
        if self.state == "present":
            try:
                module_code_cache.keep_own_code(self.directory)
            except (OSError, ValueError) as exc:
                self.warnings.append("module_cache_dir: the module's code was not kept: %s" % exc)
        for action in self.cache_removals:
            path = os.path.join("/", action.path)
            if action.op == "rmdir":
                os.rmdir(path)
                continue
            # Out of the way first, so that a removal cut short leaves no entry that would be used.
            os.rename(path, path + ".gone")
            shutil.rmtree(path + ".gone")
        return plan


def labels_job(node_labels, path, state="present", option="path"):
    """The node-feature-discovery feature file holding ``node_labels`` at ``path``."""
    return file_job(path, labels.features_file_text(node_labels), state, result=dict(labels=node_labels),
                    option=option)


def managed_header(node):
    """The first line of the boot rule and the loader entry: it names the collection (fsstate.marked)."""
    return "Managed by gpumock.nvidia (nvidia_mock_node): profile %s, node %s." % (node.profile, node.node_id)


def tmpfiles_text(nodes, dev_root, header):
    """A tmpfiles.d rule that re-creates ``nodes`` (devnodes.DevNode) under ``dev_root`` at boot."""
    lines = ["# %s" % header,
             "# /dev is a fresh devtmpfs after every boot: systemd-tmpfiles re-creates the mock NVIDIA device",
             "# nodes from these lines (type path mode user group age major:minor)."]
    dirs = []
    for n in nodes:
        directory = os.path.dirname(os.path.join(dev_root, n.name))
        if directory != dev_root and directory not in dirs:
            dirs.append(directory)
    lines.extend("d %s 0755 root root -" % tmpfiles_path_field(d) for d in dirs)
    lines.extend("c %s %04o root root - %d:%d" % (tmpfiles_path_field(os.path.join(dev_root, n.name)), n.mode,
                                                  n.major, n.minor)
                 for n in nodes)
    return "\n".join(lines) + "\n"


def tmpfiles_path_field(path):
    """``path`` as tmpfiles.d's path field: '%' starts a specifier there, so it is doubled; a path
    with a blank, quote or backslash is quoted (the field splitter unquotes and unescapes)."""
    field = path.replace("%", "%%")
    if any(char in field for char in " \t\"'\\"):
        field = '"%s"' % field.replace("\\", "\\\\").replace('"', '\\"')
    return field


def ld_so_conf_text(driver_root, header, arch=driver_tree.DEFAULT_ARCHITECTURE):
    """An ld.so.conf.d entry naming the tree's library directory."""
    return "# %s\n%s\n" % (header, os.path.join(driver_root, driver_tree.lib_dir(arch)))


# The whole node (nvidia_mock_node)

def node_module_argument_spec():
    """nvidia_mock_node's argument_spec (its documentation describes each option)."""
    spec = node_args.node_argument_spec()
    spec.update(
        dev_root=dict(type="path", default="/dev"),
        driver_root=dict(type="path", default="/var/lib/nvidia-mock/driver"),
        cdi_path=dict(type="path", default="/etc/cdi/nvidia.yaml"),
        device_name_strategy=dict(type="list", elements="str", default=["index", "uuid"],
                                  choices=list(cdi.NAME_STRATEGIES)),
        nvml_library=dict(type="path"),
        nvml_library_sha256=dict(type="str"),
        nvml_library_src=dict(type="path"),
        mock_ctl=dict(type="path"),
        mock_ctl_sha256=dict(type="str"),
        mock_ctl_src=dict(type="path"),
        tmpfiles=dict(type="bool", default=True),
        tmpfiles_path=dict(type="path", default=TMPFILES_PATH),
        register_ldconfig=dict(type="bool", default=False),
        ld_so_conf_path=dict(type="path", default=LD_SO_CONF_PATH),
        features_file=dict(type="path"),
        mig_strategy=dict(type="str", default="single", choices=list(labels.MIG_STRATEGIES)),
        nvml_source=dict(type="path"),
        nvml_cache_dir=dict(type="path"),
        nvml_build=dict(type="str", default="auto", choices=["auto", "controller", "target"]),
        module_cache_dir=dict(type="path"),
        report_needs=dict(type="bool", default=False),
        option_prefix=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    spec.update(node_args.architecture_argument_spec())
    spec.update(containerd_job.node_argument_spec())
    return spec


# Pairs of options that name the same built file two ways.
NODE_MODULE_EXCLUSIVE = [[option, option + "_sha256"] for option in BUILT_FILES]


def check_options(params):
    """nvidia_mock_node's options checked without looking at the disk: a dict of the checked values.

    Raises a domain error (``_runner.DOMAIN_ERRORS``) whose sentence starts with the option's name.
    """
    p = params
    checked = dict(
        node=node_args.build_node(p, driver_version=p.get("driver_version")),
        dev_root=node_args.check_abs_path("dev_root", p["dev_root"]),
        driver_root=node_args.check_abs_path("driver_root", p["driver_root"]),
        cdi_path=check_spec_path("cdi_path", p["cdi_path"]),
        tmpfiles_path=node_args.check_file_path("tmpfiles_path", p["tmpfiles_path"]),
        ld_so_conf_path=node_args.check_file_path("ld_so_conf_path", p["ld_so_conf_path"]),
        features_file=None,
        labels=None,
        module_cache_dir=None,
    )
    if p.get("module_cache_dir") is not None:
        checked["module_cache_dir"] = node_args.check_abs_path("module_cache_dir", p["module_cache_dir"])
    if p.get("features_file") is not None:
        checked["features_file"] = node_args.check_file_path("features_file", p["features_file"])
        checked["labels"] = labels.node_labels(checked["node"], mig_strategy=p["mig_strategy"])
    containerd = containerd_job.node_options(p)
    if containerd is not None:
        containerd_job.check_options(containerd, containerd_job.NODE_OPTION_NAMES)
    return checked


def node_problem(options, prefix=""):
    """What is wrong with these nvidia_mock_node options (node options among them), in the module's
    own sentence with ``prefix`` before the option's name; "" when nothing is."""
    return node_args.node_problem(options, prefix, spec=node_module_argument_spec(), check=check_options,
                                  errors=_runner.DOMAIN_ERRORS)


class NodeJob(_runner.Parts):
    """Every part of a node in one run; the boot rule follows the device nodes, the loader cache the entry."""

    def __init__(self, parts, rule, result, ldconfig):
        super(NodeJob, self).__init__(parts, result=result)
        self.rule = rule              # (devnodes job, as_files planned with, function: as_files -> job)
        self.ldconfig = ldconfig      # the ldconfig binary, or None

    def replan(self, name, job, plan, done):
        devnodes_job, planned_as_files, make = self.rule
        if name != "tmpfiles" or devnodes_job.as_files == planned_as_files:
            return plan
        # The device nodes fell back to regular files while they were made: no boot rule then.
        job = make(devnodes_job.as_files)
        job.with_diff = self.with_diff
        self.parts = [(n, job if n == name else j) for n, j in self.parts]
        return job.plan()

    def apply(self, module, plan):
        plan = super(NodeJob, self).apply(module, plan)
        changed = dict((name, part_plan.changed) for name, _job, part_plan in plan.parts)
        if changed.get("ld_so_conf") and self.ldconfig is not None:
            rc, dummy, err = module.run_command([self.ldconfig])
            if rc != 0:
                raise fsstate.FsStateError("ldconfig failed after the loader entry changed (rc %d): %s."
                                           % (rc, err.strip()))
        return plan


def node_job(params, host, read=read_source, module=None):
    """The job of nvidia_mock_node: ``host`` is what the node has (systemd_booted, systemd_tmpfiles, ldconfig);
    ``module`` finds and asks containerd when ``containerd_config`` is set.

    With ``<file>_sha256`` set and ``<file>`` not, the built file is taken from the tree when the
    installed copy has that sha256; when it has not, the job changes nothing and returns
    ``transfer`` naming the files the action plugin must send.
    """
    p = params
    o = check_options(p)
    node, state = o["node"], p["state"]
    version = node.driver_version
    arch = node_args.node_architecture(p.get("architecture"))
    built = dict((option, read(option, p[option]) if state == "present" else None) for option in BUILT_FILES)
    transfer = []
    for option in BUILT_FILES:
        want = p.get(option + "_sha256")
        if state != "present" or p[option] is not None or want is None:
            continue
        have = installed_built_file(option, o["driver_root"], version, arch)
        if have is not None and hashlib.sha256(have).hexdigest() == want.lower():
            built[option] = have
        else:
            transfer.append(option)
    if transfer:
        return _runner.Job(o["driver_root"], [], result=dict(transfer=transfer, host=host))
    uvm_major = devnodes.default_uvm_major()
    caps_major = devnodes.default_caps_major()
    nodes_job = devnodes_job(node, o["dev_root"], 0o666, uvm_major, caps_major, "auto", state)
    header = managed_header(node)

    def rule_job(as_files):
        wanted = state == "present" and p["tmpfiles"] and host["systemd_tmpfiles"] is not None and not as_files
        return file_job(o["tmpfiles_path"], tmpfiles_text(nodes_job.nodes, o["dev_root"], header),
                        "present" if wanted else "absent", option="tmpfiles_path")

    parts = [
        ("devnodes", nodes_job),
        ("driver_tree", driver_tree_job(node, o["driver_root"], o["dev_root"], built["nvml_library"],
                                        built["mock_ctl"], state, option="driver_root", arch=arch)),
        ("cdi_spec", cdi_spec_job(node, o["cdi_path"], o["driver_root"], o["dev_root"], uvm_major, caps_major,
                                  p["device_name_strategy"], state=state, option="cdi_path", arch=arch)),
    ]
    if o["features_file"] is not None:
        parts.append(("features_file", labels_job(o["labels"], o["features_file"], state, option="features_file")))
    parts.append(("tmpfiles", rule_job(nodes_job.as_files)))
    ldconfig_wanted = state == "present" and p["register_ldconfig"]
    if ldconfig_wanted and "#" in o["driver_root"]:
        # ldconfig cuts every line at '#': it would read a shorter, wrong directory.
        raise node_args.PathError("driver_root must not contain '#' when register_ldconfig is true "
                                  "(ld.so.conf reads the rest of a line as a comment), got %r." % o["driver_root"])
    parts.append(("ld_so_conf", file_job(o["ld_so_conf_path"], ld_so_conf_text(o["driver_root"], header, arch),
                                         "present" if ldconfig_wanted else "absent", option="ld_so_conf_path")))
    if o["module_cache_dir"] is not None:
        parts.append(("module_cache", ModuleCacheJob(o["module_cache_dir"], sys.executable, state)))
    if state == "absent":
        # The reverse order: what uses the device nodes and the tree goes first.
        parts = parts[2:] + [parts[1], parts[0]]
    containerd = containerd_job.node_options(p)
    if containerd is not None:
        # First either way: a config that cannot be edited fails before any other part changes,
        # and containerd stops naming the spec before the spec goes.
        parts.insert(0, ("containerd", containerd_job.containerd_job(module, containerd, state,
                                                                     containerd_job.NODE_OPTION_NAMES)))
    result = dict(host=host, transfer=[], labels=o["labels"])
    return NodeJob(parts, (nodes_job, nodes_job.as_files, rule_job), result, host["ldconfig"])
