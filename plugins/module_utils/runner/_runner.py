# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# Apache License 2.0 (see LICENSE)
"""The tail every node module shares (private to this collection).

A module reads its options and turns them into a ``Job``: the entries to converge below a root
(``fsstate``), the state, and what to return. ``run(module, prepare)`` does the rest:

* calls ``prepare(module)``; a domain error it raises (``DOMAIN_ERRORS``), or one raised while
  planning or applying, ends the run with ``fail_json`` and the error's one sentence;
* an engine error or an OS error (a read-only or full file system, a path under a regular file)
  while planning or applying a job is one sentence too, after the name of the option the job's
  root or file came from (``Job.option``): ``root: Could not create /x/usr: Read-only file
  system; nothing was changed.``; an OS error that escapes ``prepare`` is one sentence naming
  its file;
* plans, and applies the plan unless it changes nothing or the run is in check mode, so check
  mode reports exactly the ``changed`` of a real run and writes nothing;
* builds a diff only when the run asked for one (``--diff``): without it no file is read just
  to describe it;
* warns, and exits with the job's result plus ``changed`` (and ``diff``).

Standard library only (shipped to targets with every module).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.module_utils.basic import AnsibleModule as _AnsibleModule
from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.files import fsstate
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import cdi, containerd_config, devnodes, labels, nvml_config
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import node_args

# Every error of the collection's own logic: its message is one sentence for the user.
DOMAIN_ERRORS = (
    profiles.ProfileError, node_args.PathError, node_args.ArchitectureError, devnodes.DevnodesError, cdi.CdiError,
    labels.LabelError, nvml_config.NvmlConfigError, containerd_config.ContainerdConfigError,
    fsstate.FsStateError)

_CONTROL = re.compile(u"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(msg):
    """``msg`` with every control character (a newline in a value it quotes) written as an escape."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], msg)


class AnsibleModule(_AnsibleModule):
    """Ansible's module whose failure message is always one line, Ansible's own argument checks
    included (they quote the value as given: "value of state must be one of: ..., got: a<newline>b")."""

    def fail_json(self, msg, **kwargs):
        super(AnsibleModule, self).fail_json(msg=one_line(msg), **kwargs)


KEPT_WARNING = "Left as they are (not made by this collection, or holding files it did not make): %s."


class Job:
    """What one module run converges and returns.

    ``root``, ``entries``, ``state``: what ``fsstate.plan`` gets. ``result``: the module's return
    values (``changed`` and ``diff`` are added). ``report_actions`` adds ``actions`` (the plan's
    summary). ``diff_file``: for a module that manages one file and shows it whole, its path;
    the diff is then that file's text before (``diff_before``, else read from the file) and
    ``diff_after``; otherwise the diff is the engine's item per changed path. ``warn_kept`` warns
    about paths left in place because they are not ours. ``option``: the module option that
    gave ``root`` (or the file), named before any engine or OS error of the job.
    ``warnings`` are issued as they are.

    A module with more to do subclasses it: ``apply`` (it may replan and return the plan it
    carried out) and ``results``.
    """

    def __init__(self, root, entries, state="present", result=None, report_actions=False,
                 diff_file=None, diff_after="", diff_before=None, warn_kept=False, option=None):
        self.root = root
        self.option = option
        self.entries = list(entries)
        self.state = state
        self.result = dict(result or {})
        self.report_actions = report_actions
        self.diff_file = diff_file
        self.diff_after = diff_after
        self.diff_before = diff_before
        self.warn_kept = warn_kept
        self.warnings = []
        self.with_diff = False

    def plan(self, entries=None):
        """Plan ``entries`` (by default the job's), with diff items only when the run wants a diff."""
        if self.with_diff and self.diff_file is not None and self.diff_before is None:
            self.diff_before = fsstate.read_text(self.diff_file) if os.path.isfile(self.diff_file) else ""
        return fsstate.plan(self.root, self.entries if entries is None else entries, self.state,
                            diff=self.with_diff and self.diff_file is None)

    def apply(self, module, plan):
        """Carry out ``plan`` (not in check mode); return the plan that was carried out."""
        fsstate.apply(plan)
        return plan

    def results(self, plan, check_mode):
        """The module's return values but ``changed`` and ``diff``."""
        result = dict(self.result)
        if self.report_actions:
            result["actions"] = plan.summary()
        return result

    def diff(self, plan):
        if self.diff_file is None:
            return plan.diffs
        return dict(before_header=self.diff_file, after_header=self.diff_file,
                    before=self.diff_before, after=self.diff_after)


class JobError(fsstate.FsStateError):
    """An engine or OS error of a job, its sentence already after the job's option."""


def os_error_sentence(exc):
    """One sentence of an OSError: its file and the system's words for the error."""
    reason = exc.strerror or str(exc)
    if exc.filename is not None:
        return "Could not use %s: %s." % (exc.filename, reason)
    return "%s." % reason.rstrip(".")


def named(job, call, *args):
    """``call(*args)``, with an engine or OS error raised again as a JobError naming ``job.option``."""
    try:
        return call(*args)
    except JobError:
        raise
    except (fsstate.FsStateError, IOError, OSError) as exc:
        sentence = str(exc) if isinstance(exc, fsstate.FsStateError) else os_error_sentence(exc)
        raise JobError(sentence if job.option is None else "%s: %s" % (job.option, sentence))


class PartsPlan:
    """The plans of a ``Parts`` job: one ``(name, job, plan)`` per part, in order."""

    def __init__(self, parts):
        self.parts = parts

    @property
    def changed(self):
        return any(plan.changed for _name, _job, plan in self.parts)

    @property
    def kept(self):
        """Paths ``absent`` left in place, absolute (the parts have different roots)."""
        return [os.path.join(plan.root, path) for _name, job, plan in self.parts if job.warn_kept
                for path in plan.kept]


class Parts(Job):
    """A job made of named jobs with roots of their own, planned and applied in order as one run.

    ``parts``: ``(name, job)`` pairs. The result has each part's result under its name; the diff
    is the diff of every part that changes, in order; ``changed`` is whether any part changed. A part's ``apply``
    may replan it (device nodes falling back to files); ``replan(name, plans)`` lets a later part
    follow what an earlier one did.
    """

    def __init__(self, parts, result=None):
        super(Parts, self).__init__("/", [], result=result, warn_kept=True)
        self.parts = list(parts)

    def plan(self, entries=None):
        self.check_overlap()
        planned = []
        for name, job in self.parts:
            job.with_diff = self.with_diff
            planned.append((name, job, named(job, job.plan)))
        return PartsPlan(planned)

    def check_overlap(self):
        """Refuse parts that would write the same path, or a file where another needs a directory:
        they would undo each other on every run, or fail halfway through."""
        owners = {}

        def claim(path, name, kind):
            other = owners.setdefault(path, (name, kind))
            if other != (name, kind) and (kind != fsstate.DIRECTORY or other[1] != fsstate.DIRECTORY):
                raise fsstate.FsStateError(
                    "%s and %s both need %s (one as a %s, one as a %s); they must not overlap."
                    % (option_of[other[0]], option_of[name], path, other[1], kind))

        option_of = dict((name, job.option or name) for name, job in self.parts)

        for name, job in self.parts:
            if job.state != "present":
                continue
            for entry in job.entries:
                path = os.path.join(job.root, entry.path)
                claim(path, name, entry.kind)
                parent = os.path.dirname(path)
                while len(parent) > 1 and owners.get(parent) != (name, fsstate.DIRECTORY):
                    claim(parent, name, fsstate.DIRECTORY)
                    parent = os.path.dirname(parent)

    def replan(self, name, job, plan, done):
        """The plan of part ``name`` once the parts in ``done`` were applied (by default its own)."""
        return plan

    def apply(self, module, plan):
        done = []
        for name, job, part_plan in plan.parts:
            try:
                part_plan = named(job, self.replan, name, job, part_plan, done)
                if part_plan.changed:
                    part_plan = named(job, job.apply, module, part_plan)
            except JobError as exc:
                made = [n for n, _j, p in done if p.changed]
                if not made:
                    raise
                # The earlier parts stay made: say which.
                text = str(exc).rstrip(".").replace("; nothing was changed", "; nothing was changed by this part")
                raise JobError("%s; before it this run made %s." % (text, ", ".join(made)))
            done.append((name, job, part_plan))
        return PartsPlan(done)

    def results(self, plan, check_mode):
        result = dict(self.result)
        for name, job, part_plan in plan.parts:
            result[name] = job.results(part_plan, check_mode)
            self.warnings.extend(job.warnings)
        return result

    def diff(self, plan):
        diffs = []
        for _name, job, part_plan in plan.parts:
            if not part_plan.changed:
                continue
            part_diff = job.diff(part_plan)
            diffs.extend(part_diff if isinstance(part_diff, list) else [part_diff])
        return diffs


def run(module, prepare, fail_result=None):
    """Run the module: ``prepare(module)`` returns its Job; never returns (exit_json or fail_json).

    ``fail_result``: extra values of a failure caused by a domain error.
    """
    try:
        job = prepare(module)
        job.with_diff = bool(module._diff)
        plan = named(job, job.plan)
        if plan.changed and not module.check_mode:
            plan = named(job, job.apply, module, plan)
        result = job.results(plan, module.check_mode)
    except DOMAIN_ERRORS as exc:
        module.fail_json(msg=str(exc), **(fail_result or {}))
    except (IOError, OSError) as exc:
        module.fail_json(msg=os_error_sentence(exc), **(fail_result or {}))
    warnings = list(job.warnings)
    kept = plan.kept if isinstance(plan, PartsPlan) else [os.path.join(plan.root, path) for path in plan.kept]
    if job.warn_kept and kept:
        warnings.append(KEPT_WARNING % ", ".join(kept))
    for warning in warnings:
        module.warn(warning)
    result["changed"] = plan.changed
    if job.with_diff:
        result["diff"] = job.diff(plan)
    module.exit_json(**result)
