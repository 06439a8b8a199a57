"""NVIDIA's own CDI generator, `nvidia-ctk cdi generate`, accepts every built-in profile's mock node
and describes it with the same devices as the spec the nvidia_cdi_spec module wrote for it.

nvidia-ctk is pointed at the node the way the GPU Operator points it at a driver container:
--driver-root R (libraries, tools, firmware under R) and --dev-root R (device nodes in R/dev).
It loads the mock NVML from R's library directory and must find real character devices there.
Differences that remain between the two specs are listed in docs/conformance.md.
"""
import os
import subprocess

import pytest
import yaml

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import cdi

from mocknodes import MIG_NODE, run, tool, with_proc_driver

PROFILES = profiles.PROFILE_NAMES
NODES = PROFILES + (MIG_NODE,)
# Links nvidia-ctk's create-symlinks hook makes that our spec does not (docs/conformance.md):
# the GBM loader's name for the allocator and GLVND's indirect-rendering alias. Graphics only.
GRAPHICS_ALIASES = {
    "/usr/lib/x86_64-linux-gnu/gbm/nvidia-drm_gbm.so",
    "/usr/lib/x86_64-linux-gnu/libGLX_indirect.so.0",
}


def our_spec(node, path=None):
    with open(path or node.spec_path) as handle:
        return yaml.safe_load(handle)


def common_hooks(spec):
    return spec["containerEdits"].get("hooks", [])


def hooks(spec):
    """{hook command: [its arguments]} of the common edits' hooks (ctk splits create-symlinks in two)."""
    by_command = {}
    for hook in common_hooks(spec):
        assert hook["hookName"] == "createContainer"
        by_command.setdefault(hook["args"][1], []).extend(hook["args"][2:])
    return by_command


def device_nodes(edits):
    """(path, hostPath, major, minor) of each device node, sorted.

    nvidia-ctk leaves out a minor of 0 (Go's omitempty): the same node as an explicit 0.
    Order is not compared here (CDI gives it no meaning); docs/conformance.md lists where it differs.
    """
    return sorted((n["path"], n.get("hostPath", n["path"]), n.get("major"), n.get("minor", 0))
                  for n in (edits or {}).get("deviceNodes", []))


def devices_by_name(spec):
    return {d["name"]: device_nodes(d["containerEdits"]) for d in spec["devices"]}


# Our spec also mounts the mock NVML's config next to the library (nvidia-ctk has no such file).
NVML_CONFIG_PATH = "/etc/nvidia-mock/nvml.conf"


def mounts(spec):
    return sorted((m["hostPath"], m["containerPath"], tuple(m["options"])) for m in spec["containerEdits"]["mounts"]
                  if m["containerPath"] != NVML_CONFIG_PATH)


_PRIVATE_PROC_DRIVER = {}


def generate_argv(node, out, *options):
    """nvidia-ctk cdi generate for ``node``. On a node in MIG mode nvidia-ctk reads the MIG
    capabilities' minors from the host's /proc/driver/nvidia-caps/mig-minors (not from the driver
    root), so it runs with the node's proc/driver mounted there, as on a real node; where this
    machine cannot make the private mount namespace for that, the test says so and skips."""
    argv = [tool("nvidia-ctk"), "cdi", "generate", "--driver-root", node.root, "--dev-root", node.root,
            "--output", out] + list(options)
    if node.name != MIG_NODE:
        return argv
    if "error" not in _PRIVATE_PROC_DRIVER:
        proc = subprocess.run(with_proc_driver(node, ["true"]), capture_output=True, text=True, check=False)
        _PRIVATE_PROC_DRIVER["error"] = proc.stderr.strip() if proc.returncode != 0 else None
    if _PRIVATE_PROC_DRIVER["error"] is not None:
        pytest.skip("mounting the node's proc/driver over /proc/driver in a private mount namespace failed: %s"
                    % _PRIVATE_PROC_DRIVER["error"])
    return with_proc_driver(node, argv)


@pytest.fixture(scope="session")
def ctk_specs(mock_nodes, tmp_path_factory):
    """name -> the spec nvidia-ctk generated for that node (each node generated once)."""
    out_dir = tmp_path_factory.mktemp("nvidia-ctk")
    cache = {}

    def generate(name, with_hook_path=False):
        key = (name, with_hook_path)
        if key not in cache:
            node = mock_nodes[name]
            out = os.path.join(str(out_dir), "%s%s.yaml" % (name, "-hooks" if with_hook_path else ""))
            options = ["--nvidia-cdi-hook-path", node.hook_path] if with_hook_path else []
            run(generate_argv(node, out, *options), env=node.env())
            with open(out) as handle:
                cache[key] = yaml.safe_load(handle)
        return cache[key]
    return generate


def full_gpu_names(node, strategies=("index", "uuid")):
    return {name for gpu in node.gpus for name in cdi.device_names(gpu, strategies)}


def mig_names(node, strategies=("index", "uuid")):
    return {name for gpu in node.gpus for mig in gpu.mig_devices for name in cdi.mig_device_names(mig, strategies)}


@pytest.mark.parametrize("profile", PROFILES)
def test_nvidia_ctk_generates_a_spec_for_the_node(profile, ctk_specs):
    spec = ctk_specs(profile)
    assert spec["kind"] == "nvidia.com/gpu"
    assert spec["devices"]


@pytest.mark.parametrize("profile", PROFILES)
def test_nvidia_ctk_names_the_devices_our_spec_names(profile, mock_nodes, ctk_specs):
    ours = [d["name"] for d in our_spec(mock_nodes[profile])["devices"]]
    theirs = [d["name"] for d in ctk_specs(profile)["devices"]]
    assert sorted(theirs) == sorted(ours)


@pytest.mark.parametrize("profile", PROFILES)
def test_nvidia_ctk_gives_each_device_the_device_nodes_our_spec_gives(profile, mock_nodes, ctk_specs):
    assert devices_by_name(ctk_specs(profile)) == devices_by_name(our_spec(mock_nodes[profile]))


@pytest.mark.parametrize("profile", NODES)
def test_nvidia_ctk_puts_the_control_nodes_of_our_spec_in_the_common_edits(profile, mock_nodes, ctk_specs):
    ours = device_nodes(our_spec(mock_nodes[profile])["containerEdits"])
    assert device_nodes(ctk_specs(profile)["containerEdits"]) == ours


@pytest.mark.parametrize("profile", NODES)
def test_nvidia_ctk_declares_the_cdi_version_of_our_spec(profile, mock_nodes, ctk_specs):
    assert ctk_specs(profile)["cdiVersion"] == our_spec(mock_nodes[profile])["cdiVersion"]


@pytest.mark.parametrize("profile", NODES)
def test_nvidia_ctk_sets_the_environment_of_our_spec(profile, mock_nodes, ctk_specs):
    ours = [e for e in our_spec(mock_nodes[profile])["containerEdits"]["env"]
            if not e.startswith("MOCK_NVML_DEV_ROOT=")]
    assert ctk_specs(profile)["containerEdits"]["env"] == ours


@pytest.mark.parametrize("profile", NODES)
def test_nvidia_ctk_mounts_the_driver_files_our_spec_mounts(profile, mock_nodes, ctk_specs):
    assert mounts(ctk_specs(profile)) == mounts(our_spec(mock_nodes[profile]))


@pytest.mark.parametrize("profile", PROFILES)
def test_nvidia_ctk_runs_every_hook_our_spec_runs_from_the_same_binary(profile, mock_nodes, ctk_specs):
    node = mock_nodes[profile]
    ours = our_spec(node, node.spec_with_hooks_path)
    theirs = ctk_specs(profile, with_hook_path=True)
    assert {h["path"] for h in common_hooks(ours)} == {h["path"] for h in common_hooks(theirs)} == {node.hook_path}
    assert set(hooks(ours)) <= set(hooks(theirs))


@pytest.mark.parametrize("profile", PROFILES)
def test_nvidia_ctk_gives_cuda_compat_and_ldcache_hooks_our_arguments(profile, mock_nodes, ctk_specs):
    node = mock_nodes[profile]
    ours = hooks(our_spec(node, node.spec_with_hooks_path))
    theirs = hooks(ctk_specs(profile, with_hook_path=True))
    for command in ("enable-cuda-compat", "update-ldcache", "disable-device-node-modification"):
        assert theirs[command] == ours[command], command


@pytest.mark.parametrize("profile", PROFILES)
def test_nvidia_ctk_links_nothing_our_spec_does_not_link_but_the_graphics_aliases(profile, mock_nodes, ctk_specs):
    node = mock_nodes[profile]
    ours = hooks(our_spec(node, node.spec_with_hooks_path))["create-symlinks"]
    theirs = hooks(ctk_specs(profile, with_hook_path=True))["create-symlinks"]
    missing = {link for link in set(theirs) - set(ours) if link != "--link"}
    assert {link.split("::")[1] for link in missing} <= GRAPHICS_ALIASES


@pytest.mark.parametrize("strategy", cdi.NAME_STRATEGIES)
def test_nvidia_ctk_names_devices_as_our_spec_for_each_naming_strategy(strategy, mock_nodes, tmp_path):
    node = mock_nodes["dgxa100"]
    out = str(tmp_path / "nvidia.yaml")
    run([tool("nvidia-ctk"), "cdi", "generate", "--driver-root", node.root, "--dev-root", node.root,
         "--device-name-strategy", strategy, "--output", out], env=node.env())
    # The module's own spec builder, as nvidia_cdi_spec calls it for device_name_strategy: [strategy].
    ours = cdi.build_spec(node.node, node.node.driver_version, strategies=(strategy,),
                          driver_root=node.root, dev_root=os.path.join(node.root, "dev"))
    assert sorted(d["name"] for d in our_spec(node, out)["devices"]) == sorted(d["name"] for d in ours["devices"])


def test_nvidia_ctk_names_the_mig_devices_our_spec_names(mock_nodes, ctk_specs):
    """Every MIG device of the layout, as <GPU>:<MIG device> and MIG-<uuid>; nvidia-ctk skips the
    full GPUs of GPUs in MIG mode, which our spec keeps (docs/conformance.md)."""
    node = mock_nodes[MIG_NODE]
    theirs = {d["name"] for d in ctk_specs(MIG_NODE)["devices"]} - {"all"}
    assert theirs == mig_names(node.node)
    assert {d["name"] for d in our_spec(node)["devices"]} == theirs | full_gpu_names(node.node) | {"all"}


def test_nvidia_ctk_gives_each_mig_device_its_gpu_and_its_instances_capability_nodes_as_our_spec(
        mock_nodes, ctk_specs):
    theirs = devices_by_name(ctk_specs(MIG_NODE))
    ours = devices_by_name(our_spec(mock_nodes[MIG_NODE]))
    assert {name: ours[name] for name in theirs if name != "all"} == {
        name: nodes for name, nodes in theirs.items() if name != "all"}
    assert len(theirs["0:1"]) == 3


def test_nvidia_ctk_all_device_has_nothing_our_all_lacks(mock_nodes, ctk_specs):
    """Ours also holds the config and monitor capabilities and the GPU in MIG mode without MIG
    devices (GPU 7 of the layout), which nvidia-ctk's leaves out (docs/conformance.md)."""
    node = mock_nodes[MIG_NODE]
    theirs = set(devices_by_name(ctk_specs(MIG_NODE))["all"])
    ours = set(devices_by_name(our_spec(node))["all"])
    dev = os.path.join(node.root, "dev")
    assert theirs <= ours
    assert sorted(path for path, _host, _major, _minor in ours - theirs) == [
        "/dev/nvidia-caps/nvidia-cap1", "/dev/nvidia-caps/nvidia-cap2", "/dev/nvidia7"]
    assert all(host == os.path.join(dev, path[len("/dev/"):]) for path, host, _major, _minor in ours)


@pytest.mark.parametrize("strategy", cdi.NAME_STRATEGIES)
def test_nvidia_ctk_names_mig_devices_as_our_spec_for_each_naming_strategy(strategy, mock_nodes, tmp_path):
    node = mock_nodes[MIG_NODE]
    out = str(tmp_path / "nvidia.yaml")
    run(generate_argv(node, out, "--device-name-strategy", strategy), env=node.env())
    ours = cdi.build_spec(node.node, node.node.driver_version, strategies=(strategy,),
                          driver_root=node.root, dev_root=os.path.join(node.root, "dev"))
    theirs = {d["name"] for d in our_spec(node, out)["devices"]}
    assert theirs == {d["name"] for d in ours["devices"]} - full_gpu_names(node.node, (strategy,))


@pytest.mark.parametrize("profile", NODES)
def test_nvidia_ctk_lists_the_devices_of_our_spec(profile, mock_nodes):
    node = mock_nodes[profile]
    proc = run([tool("nvidia-ctk"), "cdi", "list", "--spec-dir", os.path.dirname(node.spec_path)], env=node.env())
    names = ["nvidia.com/gpu=%s" % d["name"] for d in our_spec(node)["devices"]]
    assert sorted(proc.stdout.split()) == sorted(names)
