"""How the NVML build imports the collection's Python: only the files python-sources.txt lists.

The code generators run with a bare python3 (on a target node, from an unpacked tarball of
nvml_src/ and the listed files), where the collection is not installed. import_module_util()
imports a module_utils file under its real name
(ansible_collections.gpumock.nvidia.plugins.module_utils.<floor>.<name>), so the imports between those
files work unchanged; a module_utils file that the list does not name cannot be imported, so a
new dependency of the build fails it here, naming the list, instead of going unnoticed.
"""

import importlib
import importlib.abc
import importlib.util
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
LIST = os.path.join(HERE, "python-sources.txt")
PACKAGE = "ansible_collections.gpumock.nvidia.plugins.module_utils"


def listed(list_path=LIST):
    """The paths python-sources.txt names, relative to the collection root, in its order."""
    with open(list_path) as f:
        lines = (line.split("#", 1)[0].strip() for line in f)
        return [line for line in lines if line]


class _ListedModuleUtils(importlib.abc.MetaPathFinder):
    def __init__(self, root, paths):
        self.root = root
        self.paths = set(paths)

    def find_spec(self, fullname, path=None, target=None):
        prefix = PACKAGE + "."
        if not fullname.startswith(prefix):
            return None
        relative = "plugins/module_utils/" + fullname[len(prefix):].replace(".", "/")
        if any(path.startswith(relative + "/") for path in self.paths):
            # A floor folder (facts, render...) that holds listed files: a package without code.
            return importlib.util.spec_from_loader(fullname, None, is_package=True)
        relative += ".py"
        if relative not in self.paths:
            raise ImportError("the NVML build imports %s, which %s does not list"
                              % (relative, os.path.relpath(LIST, self.root)), name=fullname)
        return importlib.util.spec_from_file_location(fullname, os.path.join(self.root, relative))


def import_module_util(name, root=None):
    """The module_utils module ``name`` (e.g. "facts.profiles"), loaded from root/plugins/module_utils."""
    root = root or os.path.dirname(HERE)
    if not any(isinstance(finder, _ListedModuleUtils) for finder in sys.meta_path):
        parts = PACKAGE.split(".")
        for depth in range(1, len(parts) + 1):
            package = types.ModuleType(".".join(parts[:depth]))
            package.__path__ = []
            sys.modules[package.__name__] = package
        sys.meta_path.insert(0, _ListedModuleUtils(root, listed()))
    return importlib.import_module("%s.%s" % (PACKAGE, name))
