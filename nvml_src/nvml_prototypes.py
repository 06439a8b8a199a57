"""The NVML functions declared in include/nvml.h, as the build and the tests read them.

One prototype per line, ``<return type> DECLDIR nvmlName(<parameters>);`` with the return type
nvmlReturn_t or const char *. gen_api.py (the export list and the unsupported stubs) and
tests/nvml/gen_garbage_calls.py (a call of every function with garbage) both read the header
through read_prototypes().
"""

import re

PROTOTYPE = re.compile(
    r"^(?P<ret>nvmlReturn_t|const char \*)\s*DECLDIR (?P<name>nvml\w+)\((?P<args>[^)]*)\);$")
PARAMETER = re.compile(r"^(?P<type>.*?[\s*])(?P<name>\w+)$")


class PrototypeError(ValueError):
    """The header has a line this reader cannot take apart; the message names it."""


def split_args(args):
    """[(type, name)] of a parameter list, the type's spaces normalised; [] for (void)."""
    args = args.strip()
    if args in ("", "void"):
        return []
    out = []
    for part in args.split(","):
        m = PARAMETER.match(part.strip())
        if not m:
            raise PrototypeError("cannot split parameter %r" % part)
        out.append((" ".join(m.group("type").split()), m.group("name")))
    return out


def read_prototypes(header):
    """{name: (return type, parameter text, [(type, name)])} in declaration order.

    Raises PrototypeError for a function declared twice or a parameter it cannot split.
    """
    protos = {}
    with open(header) as f:
        for number, line in enumerate(f, 1):
            m = PROTOTYPE.match(line.strip())
            if not m:
                continue
            name, args = m.group("name"), m.group("args").strip()
            if name in protos:
                raise PrototypeError("%s:%d: %s is declared twice" % (header, number, name))
            try:
                protos[name] = (m.group("ret"), args, split_args(args))
            except PrototypeError as exc:
                raise PrototypeError("%s:%d: %s" % (header, number, exc))
    return protos
