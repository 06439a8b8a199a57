"""playbooks/group_vars/all/kind.yml ships in the collection without scripts/deps/versions.sh, so its
default images name their versions again; these tests hold them to the pins the project builds
and tests (tests/kind runs the pinned builds)."""
import yaml

from pins import pinned
import pathlib

KIND_VARS = pathlib.Path(__file__).resolve().parents[2] / "playbooks" / "group_vars" / "all" / "kind.yml"


def kind_vars():
    return yaml.safe_load(KIND_VARS.read_text(encoding="utf-8"))


def test_default_device_plugin_image_is_the_pinned_release():
    version = pinned("NVIDIA_DEVICE_PLUGIN_MODULE").rsplit("@", 1)[1]
    assert ("'nvcr.io/nvidia/k8s-device-plugin:%s'" % version) in kind_vars()["gpumock_kind__device_plugin_image"]


def test_default_node_feature_discovery_version_is_the_pinned_release():
    version = pinned("NODE_FEATURE_DISCOVERY_MODULE").rsplit("@", 1)[1]
    assert ("default('%s')" % version) in kind_vars()["gpumock_kind__node_feature_discovery_version"]
