"""The GPU count limit is a fact of profiles.py (MIN_GPU_COUNT, MAX_GPU_COUNT); the texts that a
user reads repeat it, and these tests hold them to it."""
import pathlib

from ansible_collections.gpumock.nvidia.plugins.module_utils import profiles

REPO = pathlib.Path(__file__).resolve().parents[2]
LIMIT = "%d to %d" % (profiles.MIN_GPU_COUNT, profiles.MAX_GPU_COUNT)


def test_the_node_doc_fragment_states_the_gpu_count_limit():
    assert LIMIT in (REPO / "plugins" / "doc_fragments" / "node.py").read_text(encoding="utf-8")


def test_the_role_argument_spec_states_the_gpu_count_limit():
    assert LIMIT in (REPO / "roles" / "gpu_mock" / "meta" / "argument_specs.yml").read_text(encoding="utf-8")
