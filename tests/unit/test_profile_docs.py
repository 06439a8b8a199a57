"""The built-in profiles are facts of profiles.py (PROFILES); the texts that list them for a user
repeat them, and these tests hold them to it."""
import pathlib
import re

import pytest
import yaml

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles

REPO = pathlib.Path(__file__).resolve().parents[2]


def readme_profile_rows():
    """{profile: [GPUs, board, machine, driver / CUDA]} of the README's table of machine profiles."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text.split("## Machine profiles", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[re.match(r"`(\w+)`", cells[0]).group(1)] = cells[1:]
    return rows


def test_the_readme_table_lists_every_profile_once():
    assert sorted(readme_profile_rows()) == sorted(profiles.PROFILE_NAMES)


@pytest.mark.parametrize("name", profiles.PROFILE_NAMES)
def test_the_readme_row_of_each_profile_is_its_count_board_machine_and_driver(name):
    spec = profiles.PROFILES[name]
    node = profiles.build_node(name, node_id="n")
    gpus, board, machine, driver = readme_profile_rows()[name]
    assert int(gpus) == spec.gpu_count
    assert board == spec.board.name or board.startswith(spec.board.name + " (")
    assert machine == spec.architecture
    assert driver == "%s / %s" % (spec.driver_version, node.cuda_version_string)


def test_the_readme_marks_the_default_profile():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "| `%s` (default) |" % profiles.DEFAULT_PROFILE in text


def test_the_node_doc_fragment_offers_every_profile():
    text = (REPO / "plugins" / "doc_fragments" / "node.py").read_text(encoding="utf-8")
    doc = yaml.safe_load(text.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0])
    assert doc["options"]["profile"]["choices"] == sorted(profiles.PROFILE_NAMES)


def test_the_role_argument_spec_offers_every_profile():
    spec = yaml.safe_load((REPO / "roles" / "gpu_mock" / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    assert spec["argument_specs"]["main"]["options"]["gpu_mock_profile"]["choices"] == sorted(profiles.PROFILE_NAMES)
