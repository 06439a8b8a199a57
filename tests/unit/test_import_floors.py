"""plugins/module_utils is sorted into four import floors (docs/dev/contracts.md): a file imports
only from its own floor or the floors above it, never from one below."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE_UTILS = os.path.join(ROOT, "plugins", "module_utils")
PACKAGE = "ansible_collections.gpumock.nvidia.plugins.module_utils"
FLOORS = ("facts", "files", "render", "runner")


def collection_imports(path):
    """(floor, name) of every module_utils file the file at path imports."""
    with open(path) as f:
        tree = ast.parse(f.read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            parts = node.module[len(PACKAGE):].strip(".").split(".")
            if len(parts) == 1:
                found.extend((parts[0], alias.name) for alias in node.names)
            else:
                found.append((parts[0], parts[1]))
    return found


def files():
    for floor in FLOORS:
        for name in sorted(os.listdir(os.path.join(MODULE_UTILS, floor))):
            if name.endswith(".py") and name != "__init__.py":
                yield floor, name[:-3]


def test_every_module_util_lives_in_a_floor():
    loose = [name for name in os.listdir(MODULE_UTILS) if name.endswith(".py")]
    assert loose == []
    assert sorted(d for d in os.listdir(MODULE_UTILS) if not d.startswith("__")) == sorted(FLOORS)


@pytest.mark.parametrize("floor,name", list(files()))
def test_a_module_util_imports_only_from_its_floor_or_above(floor, name):
    below = [(f, n) for f, n in collection_imports(os.path.join(MODULE_UTILS, floor, name + ".py"))
             if FLOORS.index(f) > FLOORS.index(floor)]
    assert below == []


def test_the_floors_are_the_ones_the_contracts_page_lists():
    with open(os.path.join(ROOT, "docs", "dev", "contracts.md")) as f:
        text = f.read()
    for floor in FLOORS:
        assert "| `%s/` |" % floor in text
