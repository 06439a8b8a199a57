# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of gpumock.nvidia.nvidia_mock_node (documented with the module).

The built library and nvidia-mock-ctl live on the controller (``nvml_library_src``,
``mock_ctl_src``). The module gets only their sha256; when the node's installed copies have it
(a node that is already right), that one module run is the whole task. Otherwise the module
changed nothing and names the files in ``transfer``: they are sent into the task's temporary
directory on the node and the module runs again with their paths, in check mode too, so check
and diff mode report exactly what a real run changes. The temporary directory is removed.

Before the node is visited the options get the module's own checks that need no node
(``node_jobs.node_problem``), so a bad value costs no visit and changes nothing; ``option_prefix``
names the options as a role's variables (``gpu_mock_`` + option).

Without ``architecture`` it first looks at the node with one command through the connection
alone (``plugin_utils.node_look``: uname -m, python3, gcc and make) and takes the node's
architecture. With ``nvml_source`` (and no built file given) it then finds or builds the mock NVML
and nvidia-mock-ctl of that architecture on the controller (nvml_src/nvml_build.py) and sends them
as with ``<file>_src``. A node it cannot finish, one without python3 or one that is to build the
mock NVML itself, gets no module run: the task fails in one sentence, or, with ``report_needs``,
changes nothing and names what it ``needs``, with what it found (``look``, ``nvml``), so that the
caller (the gpu_mock role) prepares the node and runs it again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import threading

from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.executor import module_common
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase
from ansible.template import Templar

from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import module_code_cache, node_args, node_jobs
from ansible_collections.gpumock.nvidia.plugins.plugin_utils import node_look

MODULE = "gpumock.nvidia.nvidia_mock_node"
# The action plugin's own options for finding the mock NVML (nvml_build.py select); the module ignores them.
NVML_SELECT_OPTIONS = ("nvml_source", "nvml_cache_dir", "nvml_build")
# Why a node gets no module run, for a caller that did not ask for the needs (report_needs).
NEED_SENTENCES = dict(
    python3="%(host)s has no python3 (command -v python3 finds none), which the module needs; install it there.",
    nvml_build=("%(host)s has no mock NVML for %(machine)s on the controller (%(problem)s); build it on the node and "
                "give its path as nvml_library, or give nvml_library_src."),
)


class ActionModule(ActionBase):

    # No temporary directory up front: with pipelining a node that is already right costs one command.
    TRANSFERS_FILES = False
    # The module code cache's launcher, where the look found the current one (module_cache_dir).
    _module_interpreter = None

    def _sources(self, args):
        """{option: controller path} of the built files given as ``<option>_src``; sets their sha256 in ``args``."""
        sources = {}
        for option in node_jobs.BUILT_FILES:
            # A null path is no path (a role may pass one): it must not count as set against the sha256.
            for name in (option, option + "_sha256"):
                if name in args and args[name] is None:
                    del args[name]
            src = args.pop(option + "_src", None)
            if src is None:
                continue
            for other in (option, option + "_sha256"):
                if args.get(other) is not None:
                    raise AnsibleActionFail("%s_src and %s exclude each other; set one of them." % (option, other))
            try:
                path = self._find_needle("files", src)
                # Only a regular file: a FIFO would block and /dev/zero never end.
                data = fsstate.read_file(path)
            except (IOError, OSError) as exc:
                raise AnsibleActionFail("%s_src %s cannot be read on the controller: %s."
                                        % (option, src, to_native(exc.strerror or exc)))
            except AnsibleError as exc:   # _find_needle: nothing found
                raise AnsibleActionFail("%s_src %s cannot be found on the controller: %s."
                                        % (option, src, to_native(exc)))
            args[option + "_sha256"] = node_jobs.built_file_sha256(option, data)
            sources[option] = path
        return sources

    def _check(self, args, prefix):
        """The module's checks that need no node, here, before anything runs on the node: a bad
        value fails the task in the module's own sentence and the node is not visited."""
        try:
            architecture = args.get("architecture")
            problem = architecture is not None and node_jobs.node_problem(dict(architecture=architecture))
            if not problem:
                others = dict((name, value) for name, value in args.items() if name != "architecture")
                problem = node_jobs.node_problem(others, prefix)
        except node_args.NodeOptionsError as exc:
            problem = str(exc)
        if problem:
            raise AnsibleActionFail(problem)

    def _start_payload(self, task_vars):
        """Builds the module's payload in a thread while the node is looked at. Ansible keeps a
        built payload for the rest of the run, so the module run that follows takes it as it is:
        the first node waits for the longer of the two, not for both. Anything that goes wrong here
        only leaves the module run to build it, as it always does."""
        def build():
            try:
                found = self._shared_loader_obj.module_loader.find_plugin_with_context(
                    MODULE, ".py", collection_list=self._task.collections)
                module_common.modify_module(
                    module_name=MODULE, module_path=found.plugin_resolved_path, module_args={},
                    templar=Templar(loader=self._loader, variables=task_vars), task_vars=dict(task_vars),
                    module_compression=C.config.get_config_value("DEFAULT_MODULE_COMPRESSION", variables=task_vars))
            except Exception:  # pylint: disable=broad-except  # the module run builds it and reports
                pass
        thread = threading.Thread(target=build)
        thread.start()
        return thread

    def _interpreter(self, task_vars):
        """The Python the module runs with on this node: ansible_python_interpreter, or the one
        discovered; None when not yet known."""
        value = self._templar.template(C.config.get_config_value("INTERPRETER_PYTHON", variables=task_vars))
        if not value or str(value).startswith("auto"):
            value = (task_vars.get("ansible_facts") or {}).get("discovered_interpreter_python")
        return value or None

    def _launcher(self, args, task_vars):
        """The module code cache's launcher on the node, and the sha256 it has when it is the one the
        module writes for this interpreter; (None, None) when the run does not use one."""
        directory = args.get("module_cache_dir")
        interpreter = self._interpreter(task_vars)
        if not directory or not interpreter or self._task.check_mode or (args.get("state") or "present") != "present":
            return None, None
        text = module_code_cache.launcher_text(interpreter).encode("utf-8")
        return os.path.join(directory, module_code_cache.LAUNCHER), hashlib.sha256(text).hexdigest()

    def _look(self, args, select, task_vars, result):
        """Looks at the node; sets ``architecture`` and, with ``nvml_source``, the built files of
        that architecture in ``args``, and runs the module through the node's launcher of the
        module code cache where it is current. What the node needs before the module can run (a
        list), and why the controller has no mock NVML for it (None when it has one)."""
        launcher, launcher_sha256 = self._launcher(args, task_vars)
        done = self._low_level_execute_command(node_look.look_command(launcher))
        if done["rc"] != 0:
            raise AnsibleActionFail("Looking at the node (uname -m, command -v python3) failed with rc %d: %s"
                                    % (done["rc"], (done.get("stderr") or done.get("stdout") or "").strip()))
        look = result["look"] = node_look.parse_look(done["stdout"])
        if launcher is not None and look.get("launcher") == launcher_sha256:
            self._module_interpreter = launcher
        problem = node_jobs.node_problem(dict(architecture=look["machine"]))
        if problem:
            raise AnsibleActionFail("%s is a '%s' node (uname -m): %s"
                                    % (task_vars.get("inventory_hostname", "the node"), look["machine"], problem))
        args["architecture"] = look["machine"]
        needs = [] if look["python3"] else ["python3"]
        given = [name for option in node_jobs.BUILT_FILES for name in (option, option + "_sha256", option + "_src")
                 if args.get(name) is not None]
        if select["nvml_source"] is None or given or (args.get("state") or "present") != "present":
            return needs, None
        if select["nvml_cache_dir"] is None:
            raise AnsibleActionFail("nvml_cache_dir must be set with nvml_source: the directory that keeps the builds.")
        try:
            picked = result["nvml"] = node_look.nvml_select(select["nvml_source"], select["nvml_cache_dir"],
                                                            look["machine"], select["nvml_build"] or "auto")
        except node_look.NvmlSelectError as exc:
            raise AnsibleActionFail(to_native(exc))
        found = picked["architectures"].get(look["machine"]) or {}
        if "library" not in found:
            return needs + ["nvml_build"], found.get("problem") or "nvml_build is target"
        args["nvml_library_src"], args["mock_ctl_src"] = found["library"], found["mock_ctl"]
        return needs, None

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        prefix = args.pop("option_prefix", None) or ""
        select = dict((name, args.pop(name, None)) for name in NVML_SELECT_OPTIONS)
        report_needs = args.pop("report_needs", False)
        self._check(args, prefix)
        if args.get("architecture") is None:
            payload = self._start_payload(task_vars or {})
            try:
                needs, nvml_problem = self._look(args, select, task_vars or {}, result)
            finally:
                # Before any module run of this process: Ansible's build lock keeps processes apart, not threads.
                payload.join()
            if needs and not report_needs:
                raise AnsibleActionFail(NEED_SENTENCES[needs[0]] % dict(
                    host=(task_vars or {}).get("inventory_hostname", "the node"), machine=result["look"]["machine"],
                    problem=nvml_problem))
            if needs:
                result.update(changed=False, needs=needs)
                return result
        sources = self._sources(args)
        if self._module_interpreter is not None:
            task_vars = dict(task_vars or {}, ansible_python_interpreter=self._module_interpreter)
        try:
            done = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
            wanted = [option for option in done.get("transfer") or [] if option in sources]
            if wanted and not done.get("failed"):
                if self._connection._shell.tmpdir is None:
                    self._make_tmp_path()
                tmpdir = self._connection._shell.tmpdir
                remote = []
                for option in wanted:
                    path = self._connection._shell.join_path(tmpdir, option)
                    self._transfer_file(sources[option], path)
                    remote.append(path)
                    del args[option + "_sha256"]
                    args[option] = path
                self._fixup_perms2([tmpdir] + remote, execute=False)
                done = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
                done["transferred"] = wanted
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result.update(done)
        return result
