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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import node_args, node_jobs

MODULE = "gpumock.nvidia.nvidia_mock_node"


class ActionModule(ActionBase):

    # No temporary directory up front: with pipelining a node that is already right costs one command.
    TRANSFERS_FILES = False

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

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        prefix = args.pop("option_prefix", None) or ""
        sources = self._sources(args)
        self._check(args, prefix)
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
