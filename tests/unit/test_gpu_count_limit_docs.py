"""The node options' limits are facts of profiles.py (MIN_GPU_COUNT, MAX_GPU_COUNT, NODE_ID_MAX_BYTES,
DRIVER_VERSION_MAX_LEN); the texts that a user reads repeat them, and these tests hold them to it."""
import pathlib

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles

REPO = pathlib.Path(__file__).resolve().parents[2]
LIMIT = "%d to %d" % (profiles.MIN_GPU_COUNT, profiles.MAX_GPU_COUNT)


def test_the_node_doc_fragment_states_the_gpu_count_limit():
    assert LIMIT in (REPO / "plugins" / "doc_fragments" / "node.py").read_text(encoding="utf-8")


def test_the_role_argument_spec_states_the_gpu_count_limit():
    assert LIMIT in (REPO / "roles" / "gpu_mock" / "meta" / "argument_specs.yml").read_text(encoding="utf-8")


NODE_ID_LIMIT = "at most %d bytes in UTF-8" % profiles.NODE_ID_MAX_BYTES
DRIVER_VERSION_LIMIT = "at most %d characters" % profiles.DRIVER_VERSION_MAX_LEN


def test_the_node_doc_fragment_states_the_node_id_and_driver_version_limits():
    text = (REPO / "plugins" / "doc_fragments" / "node.py").read_text(encoding="utf-8")
    assert NODE_ID_LIMIT in text and DRIVER_VERSION_LIMIT in text


def test_the_role_argument_spec_states_the_node_id_and_driver_version_limits():
    text = (REPO / "roles" / "gpu_mock" / "meta" / "argument_specs.yml").read_text(encoding="utf-8")
    assert NODE_ID_LIMIT in text and DRIVER_VERSION_LIMIT in text
