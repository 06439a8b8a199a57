"""Every module against generated options: hostile text, wrong types, huge numbers, odd paths.

Each module's argument spec (captured from its own main()) drives a Hypothesis strategy: every
option is left out, given a usable value, or given a hostile one (control characters, characters
beyond the basic plane, wrong types, numbers past any limit, nested junk). Path options always
name places inside a fresh sandbox directory, so no example touches the host.

What must hold for every example:

* the module ends with its JSON result: no traceback, whatever the input;
* a failure's message is one non-empty line;
* a failed run leaves the sandbox exactly as it was;
* check mode predicts the real run's ``changed``, and a second real run changes nothing.

FUZZ_EXAMPLES sets the examples per module (default: about two minutes for all six on 2 cores).
"""
import collections
import json
import os
import shutil
import stat
import tempfile
import time

import pytest
from ansible.module_utils.testing import patch_module_args
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.modules import (
    nvidia_cdi_spec, nvidia_mock_containerd, nvidia_mock_devnodes, nvidia_mock_driver_tree, nvidia_mock_node,
    nvidia_mock_node_labels)

MODULES = [nvidia_cdi_spec, nvidia_mock_containerd, nvidia_mock_devnodes, nvidia_mock_driver_tree,
           nvidia_mock_node, nvidia_mock_node_labels]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "480"))
# FUZZ_SHRINK=0 reports the first failing example as found (shrinking a node run takes minutes).
PHASES = [p for p in Phase if p != Phase.shrink or os.environ.get("FUZZ_SHRINK", "1") != "0"]

# Options whose usable values need more than their type says.
USABLE = {
    "profile": st.sampled_from(profiles.PROFILE_NAMES),
    "gpu_count": st.integers(1, 8),
    "node_id": st.sampled_from(["fuzz-node", "n1", "a.b-c_d"]),
    "uvm_major": st.integers(200, 260),
    "caps_major": st.integers(261, 300),
    "mode": st.sampled_from(["0666", "0640", 0o600, "644"]),
    "kind": st.sampled_from(["nvidia.com/gpu", "example.com/device"]),
    "driver_version": st.sampled_from(["550.54.15", "580.159.04", "535.104.05"]),
    "mig_enabled": st.sampled_from([False, False, True]),
    "mig_layout": st.sampled_from([None, None, None, ["1g.10gb"], ["3g.40gb", "2g.20gb"], {"0": ["7g.80gb"]}]),
    "mig_strategy": st.sampled_from(["none", "none", "single", "mixed"]),
}
# Path options that name an input file (made once, outside the sandbox) or a file of one kind.
INPUT_FILES = {"nvml_library": b"\x7fELF fuzz nvml", "mock_ctl": b"\x7fELF fuzz ctl", "hook_path": b"#!/bin/sh\n"}
FILE_SUFFIX = {"nvidia_cdi_spec": {"path": ".yaml"}, "nvidia_mock_node": {"cdi_path": ".yaml"}}

HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x9f), max_size=20),
    st.sampled_from(["", " ", "\n", "a\nb", "\x00", "x" * 1000, "\U0001F600", "\u2028", "%h", "#", '"', "\\",
                     "..", "//", "0x10", "1e9", "-1", "١٢٣", "٥٨٠.١٢.٠٤", "true", "None"]),
)
JUNK = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True), HOSTILE_TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(HOSTILE_TEXT, inner, max_size=3)),
    max_leaves=8)


def path_in(sandbox, odd=False):
    """A path inside ``sandbox``; ``odd``: odd segments, '.', '//' and '..' (never above the sandbox)."""
    segment = st.sampled_from(["a", "b", "dev", "etc", "cfg.toml", "x.yaml", "x.json", "a b", "\u00e9"])
    if odd:
        segment = st.one_of(segment, st.sampled_from([".", "", "..", "%%", "#1", "\U0001F600", "\n", "\x01"]),
                            st.text(alphabet=st.characters(blacklist_characters="/\x00"), min_size=1, max_size=8))

    def build(segments):
        parts, depth = [], 0
        for seg in segments:
            if seg == "..":
                if depth == 0:
                    continue
                depth -= 1
            elif seg not in ("", "."):
                depth += 1
            parts.append(seg)
        return sandbox + "/" + "/".join(parts)
    return st.lists(segment, min_size=1, max_size=4).map(build)


def option_value(name, spec, sandbox, hostile, inputs, suffix):
    kind = spec.get("type", "str")
    if kind == "path" and name in INPUT_FILES:
        usable = st.just(os.path.join(inputs, name))
    elif kind == "path":
        # Each option under its own folder, so usable values never overlap; hostile ones may.
        usable = path_in(os.path.join(sandbox, name)).map(lambda p: p + suffix.get(name, ""))
    elif name in USABLE:
        usable = USABLE[name]
    elif spec.get("choices"):
        choices = list(spec["choices"])
        usable = st.lists(st.sampled_from(choices), min_size=1, max_size=3, unique=True) if kind == "list" \
            else st.sampled_from(choices)
    elif kind == "list" and spec.get("elements") == "path":
        usable = st.lists(path_in(sandbox), min_size=1, max_size=3)
    elif kind == "bool":
        usable = st.booleans()
    elif kind == "int":
        usable = st.integers(0, 300)
    else:
        usable = HOSTILE_TEXT
    if not hostile:
        return usable
    if kind == "path":
        return st.one_of(path_in(sandbox, odd=True), st.sampled_from(["", "relative/x", "//", "/"]))
    return JUNK


def argument_spec(module):
    """The argument spec the module's main() passes to AnsibleModule."""
    captured = {}

    class Captured(Exception):
        pass

    class Recorder:
        def __init__(self, argument_spec, **kwargs):
            captured.update(argument_spec)
            raise Captured()

    real = module.AnsibleModule
    module.AnsibleModule = Recorder
    try:
        module.main()
    except Captured:
        pass
    finally:
        module.AnsibleModule = real
    return captured


# Options that would reach outside the sandbox (a host command) or stand for files only the
# action plugin provides; the fuzz leaves them at safe values.
FIXED = {"register_ldconfig": False, "backup": False, "nvml_library_src": None, "mock_ctl_src": None,
         "nvml_library_sha256": None, "mock_ctl_sha256": None}


def options_strategy(module, sandbox, inputs):
    """Options with usable values or left out, and at most two of them hostile."""
    spec = argument_spec(module)
    fixed = dict((k, v) for k, v in FIXED.items() if k in spec and v is not None)
    names = sorted(n for n in spec if n not in FIXED)
    suffix = FILE_SUFFIX.get(module.__name__.rsplit(".", 1)[-1], {})

    @st.composite
    def options(draw):
        args = dict(fixed)
        # Half the examples all usable (they reach the writes), half with one or two hostile options.
        count = draw(st.sampled_from([0, 0, 1, 2]))
        hostile = set(draw(st.lists(st.sampled_from(names), min_size=count, max_size=count)))
        for name in names:
            option = spec[name]
            is_path = option.get("type") == "path" or option.get("elements") == "path"
            # A path option is never left to its default: defaults name host paths (/dev, /etc).
            if not is_path and name not in hostile and draw(st.booleans()):
                continue
            args[name] = draw(option_value(name, option, sandbox, name in hostile, inputs, suffix))
        return args
    return options()


_OMIT = object()


def snapshot(root):
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            st_ = os.lstat(path)
            content = None
            if stat.S_ISREG(st_.st_mode):
                with open(path, "rb") as handle:
                    content = handle.read()
            elif stat.S_ISLNK(st_.st_mode):
                content = os.readlink(path)
            found[os.path.relpath(path, root)] = (stat.S_IFMT(st_.st_mode), stat.S_IMODE(st_.st_mode),
                                                  st_.st_rdev, content)
    return found


def execute(module, capsys, args, check):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=False)
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    out = capsys.readouterr().out
    return json.loads(out)


@pytest.fixture
def host_commands(monkeypatch):
    """The modules' host commands (systemd-tmpfiles, ldconfig, containerd) are not run."""
    for module in MODULES:
        monkeypatch.setattr(module.AnsibleModule, "run_command", lambda self, argv, **k: (0, "", ""))
        monkeypatch.setattr(module.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_any_options_end_in_a_result_and_a_failure_changes_nothing(module, capsys, host_commands):
    sandbox = tempfile.mkdtemp(prefix="gpumock-fuzz-")
    inputs = tempfile.mkdtemp(prefix="gpumock-fuzz-inputs-")
    for name, content in INPUT_FILES.items():
        with open(os.path.join(inputs, name), "wb") as handle:
            handle.write(content)
    started = time.monotonic()
    counts = {"ok": 0, "failed": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=PHASES)
    @given(options_strategy(module, sandbox, inputs))
    def check_options(args):
        for entry in os.listdir(sandbox):
            path = os.path.join(sandbox, entry)
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
        before = snapshot(sandbox)
        predicted = execute(module, capsys, args, check=True)
        assert_result_shape(predicted)
        assert snapshot(sandbox) == before, "check mode wrote something"
        first = execute(module, capsys, args, check=False)
        assert_result_shape(first)
        if first.get("failed"):
            counts["failed"] += 1
            counts.setdefault("msgs", []).append(first["msg"])
            assert snapshot(sandbox) == before, "a failed run changed the sandbox: %s" % first["msg"]
            return
        counts["ok"] += 1
        assert not predicted.get("failed"), "check mode failed where the run succeeded: %s" % predicted["msg"]
        assert predicted["changed"] == first["changed"]
        second = execute(module, capsys, args, check=False)
        assert not second.get("failed"), second.get("msg")
        assert second["changed"] is False, "a second run changed something"

    try:
        check_options()
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)
        shutil.rmtree(inputs, ignore_errors=True)
    with capsys.disabled():
        if os.environ.get("FUZZ_SHOW"):
            print("\n".join("%4d %s" % (n, m) for m, n in collections.Counter(m[:110] for m in counts.get("msgs", [])).most_common()))
        print("\n  fuzz %-26s %4d examples: %4d ran, %4d refused, %5.1f s"
              % (module.__name__.rsplit(".", 1)[-1], EXAMPLES, counts["ok"], counts["failed"],
                 time.monotonic() - started))


def assert_result_shape(result):
    if result.get("failed"):
        msg = result.get("msg")
        assert isinstance(msg, str) and msg.strip(), result
        assert "\n" not in msg, "a failure message of more than one line: %r" % msg
        assert "Traceback" not in msg and "exception" not in result, result
