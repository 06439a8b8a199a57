"""The NVML config schema (plugins/module_utils/facts/nvml_schema.py) is the one list of its keys.

Every place that names the keys is derived from it: profiles.Board / MigProfile, the renderer,
the C structs and parser tables (generated at build time by nvml_src/gen_schema.py) and the
tables of docs/nvml-config.md. A key added to any of them but not to the schema fails here.
"""
import dataclasses
import os
import re
import subprocess
import sys

import pytest

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import nvml_schema, profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NVML_SRC = os.path.join(ROOT, "nvml_src")
DOCS = os.path.join(ROOT, "docs", "nvml-config.md")
sys.path.insert(0, NVML_SRC)
import gen_schema  # noqa: E402  (nvml_src/ is not a package)
import nvml_build  # noqa: E402
import pysources  # noqa: E402

SECTIONS = {section.name: section for section in nvml_schema.SECTIONS}


def rendered_sections(text):
    """[(section, [keys in file order])] of a rendered config."""
    out = []
    for line in text.splitlines():
        if line.startswith("["):
            out.append((line.strip("[]"), []))
        elif "=" in line and out:
            out[-1][1].append(line.split("=", 1)[0].strip())
    return out


def test_board_fields_are_the_board_keys_plus_its_mig_profiles():
    names = [f.name for f in dataclasses.fields(profiles.Board)]
    assert names == list(nvml_schema.BOARD.names) + ["mig_profiles"]


def test_mig_profile_fields_are_the_mig_profile_keys():
    assert [f.name for f in dataclasses.fields(profiles.MigProfile)] == list(nvml_schema.MIG_PROFILE.names)


def test_overridable_board_fields_are_the_board_keys_with_their_types():
    assert profiles.OVERRIDABLE_FIELDS == {k.name: k.python_type for k in nvml_schema.BOARD.keys}


@pytest.mark.parametrize("profile", profiles.PROFILE_NAMES)
def test_the_renderer_writes_exactly_the_schemas_keys_in_its_order(profile):
    node = profiles.build_node(profile, node_id="n", gpu_count=2)
    got = rendered_sections(nvml_config.render(node))
    assert [name for name, _keys in got][:2] == ["system", "board"]
    for name, keys in got:
        assert keys == list(SECTIONS[name].names), name


def test_the_docs_tables_are_the_schemas():
    with open(DOCS) as f:
        text = f.read()
    wanted = gen_schema.splice_docs(text, gen_schema.docs_tables(nvml_schema, "docs/nvml-config.md"))
    assert text == wanted, "run: python3 nvml_src/gen_schema.py --docs docs/nvml-config.md"


def test_the_docs_name_no_key_outside_the_schema():
    with open(DOCS) as f:
        text = f.read()
    documented = set(re.findall(r"^\| `(\w+)` \|", text, re.M))
    assert documented == {key.name for section in nvml_schema.SECTIONS for key in section.keys}


def test_the_generated_c_structs_have_a_member_for_every_key_and_no_other():
    header = gen_schema.header(nvml_schema)
    for section in nvml_schema.SECTIONS:
        body = re.search(r"struct mock_%s \{\n(.*?)\n\};" % section.name, header, re.S).group(1)
        members = re.findall(r"^    [\w ]+?(\w+)(?:\[\w+\])?;", body, re.M)
        assert members == list(section.names), section.name


def test_the_generated_parser_tables_have_every_key_and_no_other():
    tables = gen_schema.tables(nvml_schema)
    for section in nvml_schema.SECTIONS:
        body = re.search(r"%s_keys\[\] = \{\n(.*?)\n\};" % section.name, tables, re.S).group(1)
        assert re.findall(r'^    \{ "(\w+)"', body, re.M) == list(section.names), section.name


def test_the_c_sources_define_no_config_struct_or_key_table_of_their_own():
    pattern = re.compile(r"struct mock_(?:%s)\s*\{|\{\s*\"\w+\",\s*KIND_" % "|".join(SECTIONS))
    for directory, _dirs, files in os.walk(os.path.join(NVML_SRC, "src")):
        for name in files:
            with open(os.path.join(directory, name)) as f:
                assert not pattern.search(f.read()), name


def test_the_buffer_limits_fit_the_nvml_buffers_the_schema_names():
    sizes = {}
    with open(os.path.join(NVML_SRC, "include", "nvml_types.h")) as f:
        for m in re.finditer(r"^#define (NVML_\w+_SIZE) (\d+)$", f.read(), re.M):
            sizes[m.group(1)] = int(m.group(2))
    for section in nvml_schema.SECTIONS:
        for key in section.keys:
            if key.c_buffer:
                assert sizes[key.c_buffer] == key.max_len + 1, (section.name, key.name)


def test_the_build_imports_exactly_the_python_files_its_list_names():
    script = (
        "import sys; sys.path.insert(0, %r)\n"
        "import pysources\n"
        "for name in ('facts.nvml_schema', 'facts.profiles', 'render.nvml_config'):\n"
        "    pysources.import_module_util(name)\n"
        "loaded = sorted(m.__file__ for n, m in sys.modules.items()\n"
        "                if n.startswith(pysources.PACKAGE + '.') and getattr(m, '__file__', None))\n"
        "print('\\n'.join(loaded))\n" % NVML_SRC)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={"PATH": os.environ.get("PATH", "")}).stdout.split()
    assert sorted(os.path.relpath(p, ROOT) for p in out) == sorted(pysources.listed())


def test_a_module_util_the_list_does_not_name_cannot_be_imported_by_the_build():
    script = ("import sys; sys.path.insert(0, %r)\n"
              "import pysources\n"
              "pysources.import_module_util('render.labels')\n" % NVML_SRC)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert res.returncode != 0
    assert "plugins/module_utils/render/labels.py, which nvml_src/python-sources.txt does not list" in res.stderr


def test_the_source_hash_reads_the_list_instead_of_repeating_it():
    for path in (os.path.join(ROOT, "roles", "gpu_mock", "vars", "main.yml"), nvml_build.__file__):
        with open(path) as f:
            assert "plugins/module_utils/" not in f.read()
    assert set(pysources.listed()) <= set(nvml_build.source_files(ROOT))


def test_a_string_key_needs_a_limit_and_a_choice_its_words():
    with pytest.raises(ValueError, match="max_len"):
        nvml_schema._key("x", nvml_schema.STRING, "doc")
    with pytest.raises(ValueError, match="choices"):
        nvml_schema._key("x", nvml_schema.CHOICE, "doc")


def test_a_value_the_parser_would_refuse_is_refused_at_render_time_naming_the_key():
    node = profiles.build_node("t4", node_id="n", overrides={"name": "x" * 96})
    with pytest.raises(nvml_config.NvmlConfigError, match=r"'name' in \[board\].* 1 to 95 characters"):
        nvml_config.render(node)
    node = profiles.build_node("t4", node_id="n", overrides={"num_fans": -1})
    with pytest.raises(nvml_config.NvmlConfigError, match=r"'num_fans' in \[board\] must be an integer"):
        nvml_config.render(node)


def test_a_number_beyond_what_its_nvml_field_holds_is_refused_at_render_time_naming_the_key():
    node = profiles.build_node("t4", node_id="n", overrides={"cuda_cores": 1 << 32})
    with pytest.raises(nvml_config.NvmlConfigError,
                       match=r"'cuda_cores' in \[board\] must be an integer from 0 to 4294967295"):
        nvml_config.render(node)


def test_a_board_value_above_the_one_that_bounds_it_is_refused_at_render_time():
    node = profiles.build_node("t4", node_id="n", overrides={"memory_reserved_bytes": 1 << 40})
    with pytest.raises(nvml_config.NvmlConfigError,
                       match=r"would refuse .*: line \d+: \[board\] memory_reserved_bytes \d+ is above "
                             r"memory_total_bytes"):
        nvml_config.render(node)


def test_every_built_in_profile_keeps_the_boards_bounds():
    for name, profile in profiles.PROFILES.items():
        for key, limit in nvml_schema.BOARD.not_above:
            assert getattr(profile.board, key) <= getattr(profile.board, limit), (name, key, limit)


def test_the_generated_parser_tables_carry_each_sections_rules():
    tables = gen_schema.tables(nvml_schema)
    for section in nvml_schema.SECTIONS:
        if section.unique:
            positions = ", ".join(str(section.names.index(k)) for k in section.unique)
            assert "%s_unique[] = { %s };" % (section.name, positions) in tables
        if section.not_above:
            pairs = ", ".join("{ %d, %d }" % (section.names.index(a), section.names.index(b))
                              for a, b in section.not_above)
            assert "%s_not_above[] = { %s };" % (section.name, pairs) in tables


def test_the_parsers_file_limits_are_generated_from_the_schema():
    header = gen_schema.header(nvml_schema)
    assert "#define MOCK_CONFIG_MAX_LINE %d" % nvml_schema.MAX_LINE in header
    assert "#define MOCK_CONFIG_MAX_BYTES %d" % nvml_schema.MAX_CONFIG_BYTES in header


def test_a_rule_naming_a_key_the_section_does_not_have_is_refused():
    keys = (nvml_schema.uint("a", "doc"), nvml_schema.string("s", "doc", 9))
    with pytest.raises(ValueError, match="unique key b"):
        nvml_schema.section("x", keys, 1, True, "doc", unique=("b",))
    with pytest.raises(ValueError, match="s in not_above is not an uint key"):
        nvml_schema.section("x", keys, 1, True, "doc", not_above=(("a", "s"),))


def test_only_an_uint_key_has_a_maximum_and_it_fits_64_bits():
    with pytest.raises(ValueError, match="only an uint key has a maximum"):
        nvml_schema._key("x", nvml_schema.BOOL, "doc", maximum=1)
    with pytest.raises(ValueError, match="maximum must be"):
        nvml_schema.uint("x", "doc", maximum=1 << 64)
