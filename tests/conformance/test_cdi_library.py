"""The CDI project's own Go library (tags.cncf.io/container-device-interface, what containerd,
Docker, podman and CRI-O load specs with) accepts the nvidia_cdi_spec module's spec for every
built-in profile, and injects its devices the way a runtime would.

tests/conformance/cdicheck wraps the library: `validate` is what `cdi validate` does (load the
spec directories, report every spec's errors), `inject` applies devices to an empty OCI spec,
which stats every device node on the host as runtimes do.
"""
import json
import os

import jsonschema
import pytest
import referencing
import referencing.jsonschema
import yaml

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import cdi

from mocknodes import BIN, MIG_NODE, run, tool

PROFILES = profiles.PROFILE_NAMES
NODES = PROFILES + (MIG_NODE,)


def validate(node):
    return json.loads(run([tool("cdicheck"), "validate", os.path.dirname(node.spec_path)], check=False).stdout)


def inject(node, *devices):
    proc = run([tool("cdicheck"), "inject", os.path.dirname(node.spec_path)]
               + ["nvidia.com/gpu=%s" % d for d in devices], check=False)
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", NODES)
def test_cdi_library_loads_our_spec_without_errors(name, mock_nodes):
    report = validate(mock_nodes[name])
    assert report["errors"] == {}
    assert [s["path"] for s in report["specs"]] == [mock_nodes[name].spec_path]


@pytest.mark.parametrize("name", NODES)
def test_our_spec_declares_the_lowest_cdi_version_its_content_needs(name, mock_nodes):
    (spec,) = validate(mock_nodes[name])["specs"]
    assert spec["cdi_version"] == spec["minimum_required_version"]


@pytest.mark.parametrize("profile", PROFILES)
def test_cdi_library_finds_a_device_per_gpu_index_and_uuid_and_all(profile, mock_nodes):
    gpus = mock_nodes[profile].node.gpus
    expected = [str(g.index) for g in gpus] + [g.uuid for g in gpus] + ["all"]
    assert validate(mock_nodes[profile])["devices"] == sorted("nvidia.com/gpu=%s" % n for n in expected)


@pytest.mark.parametrize("profile", PROFILES)
def test_injecting_all_gives_a_container_every_gpu_and_control_node(profile, mock_nodes):
    node = mock_nodes[profile]
    edits = inject(node, "all")
    assert edits["error"] == ""
    seen = sorted((d["path"], d["type"], d["major"], d["minor"]) for d in edits["devices"])
    uvm = os.stat(os.path.join(node.root, "dev", "nvidia-uvm")).st_rdev
    expected = [("/dev/nvidia%d" % g.minor, "c", 195, g.minor) for g in node.node.gpus] + [
        ("/dev/nvidia-modeset", "c", 195, 254),
        ("/dev/nvidia-uvm", "c", os.major(uvm), 0),
        ("/dev/nvidia-uvm-tools", "c", os.major(uvm), 1),
        ("/dev/nvidiactl", "c", 195, 255),
    ]
    assert seen == sorted(expected)


@pytest.mark.parametrize("profile", PROFILES)
def test_injecting_one_gpu_by_uuid_gives_only_that_gpu(profile, mock_nodes):
    node = mock_nodes[profile]
    last = node.node.gpus[-1]
    edits = inject(node, last.uuid)
    gpu_nodes = [d["path"] for d in edits["devices"] if d["path"][len("/dev/nvidia"):].isdigit()]
    assert gpu_nodes == ["/dev/nvidia%d" % last.minor]


@pytest.mark.parametrize("profile", PROFILES)
def test_injecting_mounts_every_driver_library_read_only(profile, mock_nodes):
    node = mock_nodes[profile]
    mounts = inject(node, "0")["mounts"]
    libs = sorted(m["destination"] for m in mounts if ".so." in m["destination"])
    assert "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.%s" % node.node.driver_version in libs
    assert "/usr/lib/x86_64-linux-gnu/libcuda.so.%s" % node.node.driver_version in libs
    for mount in mounts:
        assert os.path.exists(mount["source"]), mount
        assert "ro" in mount["options"], mount


def test_cdi_library_finds_each_mig_device_by_index_and_uuid(mock_nodes):
    node = mock_nodes[MIG_NODE].node
    expected = [name for gpu in node.gpus for name in cdi.device_names(gpu, ("index", "uuid"))]
    expected += [name for gpu in node.gpus for mig in gpu.mig_devices
                 for name in cdi.mig_device_names(mig, ("index", "uuid"))] + ["all"]
    assert len(expected) == 2 * 8 + 2 * sum(len(gpu.mig_devices) for gpu in node.gpus) + 1
    assert validate(mock_nodes[MIG_NODE])["devices"] == sorted("nvidia.com/gpu=%s" % n for n in expected)


def test_injecting_a_mig_device_gives_its_gpu_and_its_instances_capability_nodes(mock_nodes):
    node = mock_nodes[MIG_NODE]
    mig = node.node.gpus[0].mig_devices[1]          # the 2g.20gb: GPU instance 5, compute instance 0
    edits = inject(node, mig.uuid)
    assert edits["error"] == ""
    caps = os.stat(os.path.join(node.root, "dev", "nvidia-caps", "nvidia-cap48")).st_rdev
    seen = sorted((d["path"], d["type"], d["major"], d["minor"]) for d in edits["devices"]
                  if d["path"].startswith(("/dev/nvidia0", "/dev/nvidia-caps/")))
    assert seen == [("/dev/nvidia-caps/nvidia-cap48", "c", os.major(caps), 48),
                    ("/dev/nvidia-caps/nvidia-cap49", "c", os.major(caps), 49),
                    ("/dev/nvidia0", "c", 195, 0)]


def test_injecting_an_unknown_device_fails_naming_it(mock_nodes):
    edits = inject(mock_nodes["t4"], "7")
    assert edits["unresolved"] == ["nvidia.com/gpu=7"]
    assert "nvidia.com/gpu=7" in edits["error"]


@pytest.mark.parametrize("name", NODES)
def test_our_spec_matches_the_cdi_projects_json_schema(name, mock_nodes):
    """The schema `cdi validate --schema builtin` checks with (its 0.6.0 edition, the newest published)."""
    schema_dir = os.path.join(os.path.dirname(BIN), "cdi-schema")
    with open(os.path.join(schema_dir, "schema.json")) as handle:
        schema = json.load(handle)
    with open(os.path.join(schema_dir, "defs.json")) as handle:
        defs = referencing.Resource.from_contents(json.load(handle), default_specification=referencing.jsonschema.DRAFT7)
    validator = jsonschema.Draft7Validator(schema, registry=referencing.Registry().with_resource("defs.json", defs))
    with open(mock_nodes[name].spec_path) as handle:
        spec = yaml.safe_load(handle)
    assert [e.message for e in validator.iter_errors(spec)] == []


def test_cdi_library_loads_a_spec_whose_driver_root_has_characters_beyond_the_basic_plane(tmp_path):
    """Go's YAML parser refuses JSON's surrogate-pair escapes; the spec writes YAML's own."""
    from ansible_collections.gpumock.nvidia.plugins.module_utils.render import cdi

    node = profiles.build_node("t4", 1, "conformance")
    driver_root = "/opt/drv-\U0001F600-\u00e9-\u2028"
    spec = cdi.build_spec(node, node.driver_version, driver_root=driver_root, uvm_major=238, caps_major=241)
    (tmp_path / "nvidia.yaml").write_text(cdi.to_yaml(spec))
    report = json.loads(run([tool("cdicheck"), "validate", str(tmp_path)], check=False).stdout)
    assert report["errors"] == {}
    assert "nvidia.com/gpu=0" in report["devices"]
