"""Our NVML declarations (nvml_src/include) agree with NVIDIA's own nvml.h.

The project carries its own NVML header so it builds anywhere; these tests hold it to NVIDIA's
header 12.4 (Debian trixie non-free `libnvidia-ml-dev`, fetched by
scripts/deps/install.d/nvidia-debs.sh) and, for functions newer than that header, to the
signatures NVIDIA documents (DOCUMENTED_SIGNATURES below).

How: clang's JSON AST lists what our headers declare (functions, enum constants, record
typedefs and their fields) and `clang -dM -E` their object-like macros. A small program built
against OUR headers prints our values (enum constants, integer macros, sizeof/offsetof). Then a
translation unit that includes only NVIDIA's header states, one line per item,
  * `static <our function pointer type> const p = &nvmlFunc;`  (gcc -Werror: any difference in
    return or parameter types is an incompatible-pointer error), and
  * `_Static_assert(<NVIDIA's value> == <ours>)` for enum constants, macros, struct sizes,
    field offsets and field sizes,
and every compiler error is mapped back to the item on its line.
"""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUR_INCLUDE = ROOT / "nvml_src" / "include"
NVIDIA_HEADER = ROOT / ".build" / "nvidia" / "trixie" / "nvml.h"
FETCH_HINT = "run scripts/deps/install.d/nvidia-debs.sh (or make deps)"

# Functions that NVIDIA's nvml.h 12.4 does not declare, with their signatures as NVIDIA
# documents them (NVML API reference and nvml.h of CUDA 12.5 - 13.0, driver 555 - 580).
# nvmlGetBlacklistDevice* are the pre-11 names of nvmlGetExcludedDevice*; 12.x headers alias
# nvmlBlacklistDeviceInfo_t to nvmlExcludedDeviceInfo_t.
DOCUMENTED_SIGNATURES = {
    "nvmlDeviceGetAddressingMode": "nvmlReturn_t (nvmlDevice_t, nvmlDeviceAddressingMode_t *)",
    "nvmlDeviceGetCapabilities": "nvmlReturn_t (nvmlDevice_t, nvmlDeviceCapabilities_t *)",
    "nvmlDeviceGetClockOffsets": "nvmlReturn_t (nvmlDevice_t, nvmlClockOffset_t *)",
    "nvmlDeviceGetCoolerInfo": "nvmlReturn_t (nvmlDevice_t, nvmlCoolerInfo_t *)",
    "nvmlDeviceGetCurrentClockFreqs":
        "nvmlReturn_t (nvmlDevice_t, nvmlDeviceCurrentClockFreqs_t *)",
    "nvmlDeviceGetDramEncryptionMode":
        "nvmlReturn_t (nvmlDevice_t, nvmlDramEncryptionInfo_t *, nvmlDramEncryptionInfo_t *)",
    "nvmlDeviceGetDriverModel_v2":
        "nvmlReturn_t (nvmlDevice_t, nvmlDriverModel_t *, nvmlDriverModel_t *)",
    "nvmlDeviceGetFanSpeedRPM": "nvmlReturn_t (nvmlDevice_t, nvmlFanSpeedInfo_t *)",
    "nvmlDeviceGetGpuInstanceProfileInfoByIdV":
        "nvmlReturn_t (nvmlDevice_t, unsigned int, nvmlGpuInstanceProfileInfo_v2_t *)",
    "nvmlDeviceGetHandleByUUIDV": "nvmlReturn_t (const nvmlUUID_t *, nvmlDevice_t *)",
    "nvmlDeviceGetHostname_v1": "nvmlReturn_t (nvmlDevice_t, nvmlHostname_v1_t *)",
    "nvmlDeviceGetMarginTemperature": "nvmlReturn_t (nvmlDevice_t, nvmlMarginTemperature_t *)",
    "nvmlDeviceGetNvlinkBwMode": "nvmlReturn_t (nvmlDevice_t, nvmlNvlinkGetBwMode_t *)",
    "nvmlDeviceGetNvLinkInfo": "nvmlReturn_t (nvmlDevice_t, nvmlNvLinkInfo_t *)",
    "nvmlDeviceGetNvlinkSupportedBwModes":
        "nvmlReturn_t (nvmlDevice_t, nvmlNvlinkSupportedBwModes_t *)",
    "nvmlDeviceGetPdi": "nvmlReturn_t (nvmlDevice_t, nvmlPdi_t *)",
    "nvmlDeviceGetPerformanceModes": "nvmlReturn_t (nvmlDevice_t, nvmlDevicePerfModes_t *)",
    "nvmlDeviceGetPlatformInfo": "nvmlReturn_t (nvmlDevice_t, nvmlPlatformInfo_t *)",
    "nvmlDeviceGetPowerMizerMode_v1":
        "nvmlReturn_t (nvmlDevice_t, nvmlDevicePowerMizerModes_v1_t *)",
    "nvmlDeviceGetRemappedRows_v2": "nvmlReturn_t (nvmlDevice_t, nvmlRemappedRowsInfo_v2_t *)",
    "nvmlDeviceGetRepairStatus": "nvmlReturn_t (nvmlDevice_t, nvmlRepairStatus_t *)",
    "nvmlDeviceGetSramUniqueUncorrectedEccErrorCounts":
        "nvmlReturn_t (nvmlDevice_t, nvmlEccSramUniqueUncorrectedErrorCounts_t *)",
    "nvmlDeviceGetTemperatureV": "nvmlReturn_t (nvmlDevice_t, nvmlTemperature_t *)",
    "nvmlDeviceGetUnrepairableMemoryFlag_v1":
        "nvmlReturn_t (nvmlDevice_t, nvmlUnrepairableMemoryStatus_v1_t *)",
    "nvmlDevicePowerSmoothingActivatePresetProfile":
        "nvmlReturn_t (nvmlDevice_t, nvmlPowerSmoothingProfile_t *)",
    "nvmlDevicePowerSmoothingSetState": "nvmlReturn_t (nvmlDevice_t, nvmlPowerSmoothingState_t *)",
    "nvmlDevicePowerSmoothingUpdatePresetProfileParam":
        "nvmlReturn_t (nvmlDevice_t, nvmlPowerSmoothingProfile_t *)",
    "nvmlDeviceReadPRMCounters_v1": "nvmlReturn_t (nvmlDevice_t, nvmlPRMCounterList_v1_t *)",
    "nvmlDeviceReadWritePRM_v1": "nvmlReturn_t (nvmlDevice_t, nvmlPRMTLV_v1_t *)",
    "nvmlDeviceSetClockOffsets": "nvmlReturn_t (nvmlDevice_t, nvmlClockOffset_t *)",
    "nvmlDeviceSetDramEncryptionMode":
        "nvmlReturn_t (nvmlDevice_t, const nvmlDramEncryptionInfo_t *)",
    "nvmlDeviceSetHostname_v1": "nvmlReturn_t (nvmlDevice_t, nvmlHostname_v1_t *)",
    "nvmlDeviceSetNvlinkBwMode": "nvmlReturn_t (nvmlDevice_t, nvmlNvlinkSetBwMode_t *)",
    "nvmlDeviceSetPowerMizerMode_v1":
        "nvmlReturn_t (nvmlDevice_t, nvmlDevicePowerMizerModes_v1_t *)",
    "nvmlDeviceWorkloadPowerProfileClearRequestedProfiles":
        "nvmlReturn_t (nvmlDevice_t, nvmlWorkloadPowerProfileRequestedProfiles_t *)",
    "nvmlDeviceWorkloadPowerProfileGetCurrentProfiles":
        "nvmlReturn_t (nvmlDevice_t, nvmlWorkloadPowerProfileCurrentProfiles_t *)",
    "nvmlDeviceWorkloadPowerProfileGetProfilesInfo":
        "nvmlReturn_t (nvmlDevice_t, nvmlWorkloadPowerProfileProfilesInfo_t *)",
    "nvmlDeviceWorkloadPowerProfileSetRequestedProfiles":
        "nvmlReturn_t (nvmlDevice_t, nvmlWorkloadPowerProfileRequestedProfiles_t *)",
    "nvmlGetBlacklistDeviceCount": "nvmlReturn_t (unsigned int *)",
    "nvmlGetBlacklistDeviceInfoByIndex": "nvmlReturn_t (unsigned int, nvmlExcludedDeviceInfo_t *)",
    "nvmlGpuInstanceGetActiveVgpus":
        "nvmlReturn_t (nvmlGpuInstance_t, nvmlActiveVgpuInstanceInfo_t *)",
    "nvmlGpuInstanceGetCreatableVgpus": "nvmlReturn_t (nvmlGpuInstance_t, nvmlVgpuTypeIdInfo_t *)",
    "nvmlGpuInstanceGetVgpuHeterogeneousMode":
        "nvmlReturn_t (nvmlGpuInstance_t, nvmlVgpuHeterogeneousMode_t *)",
    "nvmlGpuInstanceGetVgpuSchedulerLog":
        "nvmlReturn_t (nvmlGpuInstance_t, nvmlVgpuSchedulerLogInfo_t *)",
    "nvmlGpuInstanceGetVgpuSchedulerState":
        "nvmlReturn_t (nvmlGpuInstance_t, nvmlVgpuSchedulerStateInfo_t *)",
    "nvmlGpuInstanceGetVgpuTypeCreatablePlacements":
        "nvmlReturn_t (nvmlGpuInstance_t, nvmlVgpuCreatablePlacementInfo_t *)",
    "nvmlGpuInstanceSetVgpuHeterogeneousMode":
        "nvmlReturn_t (nvmlGpuInstance_t, const nvmlVgpuHeterogeneousMode_t *)",
    "nvmlGpuInstanceSetVgpuSchedulerState":
        "nvmlReturn_t (nvmlGpuInstance_t, nvmlVgpuSchedulerState_t *)",
    "nvmlSystemEventSetCreate": "nvmlReturn_t (nvmlSystemEventSetCreateRequest_t *)",
    "nvmlSystemEventSetFree": "nvmlReturn_t (nvmlSystemEventSetFreeRequest_t *)",
    "nvmlSystemEventSetWait": "nvmlReturn_t (nvmlSystemEventSetWaitRequest_t *)",
    "nvmlSystemGetDriverBranch": "nvmlReturn_t (nvmlSystemDriverBranchInfo_t *, unsigned int)",
    "nvmlSystemRegisterEvents": "nvmlReturn_t (nvmlSystemRegisterEventRequest_t *)",
    "nvmlVgpuInstanceGetRuntimeStateSize":
        "nvmlReturn_t (nvmlVgpuInstance_t, nvmlVgpuRuntimeState_t *)",
    "nvmlVgpuTypeGetBAR1Info": "nvmlReturn_t (nvmlVgpuTypeId_t, nvmlVgpuTypeBar1Info_t *)",
    "nvmlVgpuTypeGetMaxInstancesPerGpuInstance": "nvmlReturn_t (nvmlVgpuTypeMaxInstance_t *)",
}

# nvmlInternalGetExportTable is exported by every driver but appears in no NVIDIA header or
# document; its shape is the one observed in nvidia-smi (docs/nvidia-smi.md): a pointer to the
# table pointer, then a pointer to a 16-byte table id.
OBSERVED_SIGNATURES = {
    "nvmlInternalGetExportTable": "nvmlReturn_t (const void **, const void *)",
}

# Errors inside macro expansions are reported at the line that uses the macro, so that each
# error maps to its check.
# Fields of ours that NVIDIA's 12.4 header lacks, added by later NVML versions.
NEWER_FIELDS = {
    # nvmlValue_t gained an unsigned short member together with NVML_VALUE_TYPE_UNSIGNED_SHORT.
    "nvmlValue_t.usVal",
}

# Sentinels that count an enum's members or bound its values grow as NVIDIA adds members, and
# our header follows a newer NVML (580) than the reference header (12.4, driver 550): for these
# ours must be at least NVIDIA's value instead of equal to it.
GROWING = re.compile(r"(_COUNT|_MAX|_LAST)$|^NVML_API_VERSION$")

COMPILE = ["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fmax-errors=0",
           "-ftrack-macro-expansion=0"]
PRELUDE = "#define NVML_NO_UNVERSIONED_FUNC_DEFS\n"


def _need(path, what):
    if not path.exists():
        pytest.fail(f"{what} missing at {path}: {FETCH_HINT}")


def _our_headers():
    headers = sorted(p.name for p in OUR_INCLUDE.glob("*.h"))
    if not headers:
        pytest.fail(f"no headers in {OUR_INCLUDE}")
    return "".join(f'#include "{h}"\n' for h in headers)


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)


def _clang_ast(workdir, source, include_dir):
    src = workdir / "ast_probe.c"
    src.write_text(PRELUDE + source)
    res = _run(["clang", "-std=c11", "-fsyntax-only", "-fno-color-diagnostics",
                "-Xclang", "-ast-dump=json", "-I", str(include_dir), str(src)])
    assert res.returncode == 0, f"clang cannot parse {include_dir}:\n{res.stderr[-3000:]}"
    return json.loads(res.stdout)["inner"]


def _is_nvml(name):
    return name.startswith(("nvml", "NVML"))


class Declarations:
    """What one header set declares: functions, enum constants, record typedefs, macros."""

    def __init__(self, nodes, macros):
        self.functions = {}      # name -> clang type spelling, e.g. "nvmlReturn_t (unsigned int *)"
        self.enum_constants = []
        self.records = {}        # typedef name -> [field names]
        self.macros = macros     # object-like macro name -> body
        record_fields = {}
        for node in nodes:
            kind, name = node.get("kind"), node.get("name", "")
            if kind == "FunctionDecl" and _is_nvml(name):
                self.functions[name] = node["type"]["qualType"]
            elif kind == "EnumDecl":
                for item in node.get("inner", []):
                    if item.get("kind") == "EnumConstantDecl" and _is_nvml(item["name"]):
                        self.enum_constants.append(item["name"])
            elif kind == "RecordDecl" and node.get("completeDefinition"):
                record_fields[node["id"]] = [
                    f["name"] for f in node.get("inner", [])
                    if f.get("kind") == "FieldDecl" and f.get("name")]
        for node in nodes:
            if node.get("kind") != "TypedefDecl" or not _is_nvml(node.get("name", "")):
                continue
            decl_id = _record_decl_id(node)
            if decl_id in record_fields:
                self.records[node["name"]] = record_fields[decl_id]


def _record_decl_id(typedef_node):
    """The id of the struct/union a typedef names, following clang's sugar nodes."""
    stack = list(typedef_node.get("inner", []))
    while stack:
        node = stack.pop(0)
        for key in ("ownedTagDecl", "decl"):
            ref = node.get(key)
            if ref and ref.get("kind") == "RecordDecl":
                return ref["id"]
        stack.extend(node.get("inner", []))
    return None


def _macros(workdir, source, include_dir):
    src = workdir / "macro_probe.c"
    src.write_text(PRELUDE + source)
    res = _run(["clang", "-std=c11", "-dM", "-E", "-I", str(include_dir), str(src)])
    assert res.returncode == 0, res.stderr[-3000:]
    macros = {}
    for line in res.stdout.splitlines():
        m = re.match(r"#define (\w+)(.*)$", line)
        if not m or not _is_nvml(m.group(1)) or m.group(2).startswith("("):
            continue  # not ours, or function-like
        body = m.group(2).strip()
        if body and '"' not in body and "'" not in body:
            macros[m.group(1)] = body
    return macros


def _declarations(workdir, source, include_dir):
    return Declarations(_clang_ast(workdir, source, include_dir),
                        _macros(workdir, source, include_dir))


def _compile_errors(workdir, name, lines, include_dir, extra=()):
    """Compile `lines` (one check per line) and return {line number: first error text}."""
    src = workdir / f"{name}.c"
    src.write_text("".join(line + "\n" for line in lines))
    res = _run(COMPILE + list(extra) + ["-fsyntax-only", "-I", str(include_dir), str(src)])
    errors = {}
    for diag in res.stderr.splitlines():
        m = re.match(re.escape(str(src)) + r":(\d+):\d+: error: (.*)", diag)
        if m:
            errors.setdefault(int(m.group(1)), m.group(2))
    assert res.returncode == 0 or errors, res.stderr[-3000:]
    return errors


def _function_type_parts(spelling):
    """'nvmlReturn_t (nvmlDevice_t, char *)' -> ('nvmlReturn_t', '(nvmlDevice_t, char *)')."""
    cut = spelling.index("(")
    return spelling[:cut].strip(), spelling[cut:]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    for tool in ("clang", "gcc"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: run make deps")
    return tmp_path_factory.mktemp("prototypes")


@pytest.fixture(scope="module")
def ours(workdir):
    _need(OUR_INCLUDE, "our NVML headers")
    return _declarations(workdir, _our_headers(), OUR_INCLUDE)


@pytest.fixture(scope="module")
def nvidia(workdir):
    _need(NVIDIA_HEADER, "NVIDIA's nvml.h 12.4")
    return _declarations(workdir, '#include "nvml.h"\n', NVIDIA_HEADER.parent)


@pytest.fixture(scope="module")
def our_values(workdir, ours):
    """Our enum constants, integer macros, record sizes, field offsets/sizes, as numbers."""
    head = (PRELUDE + _our_headers() + "#include <stddef.h>\n").splitlines()
    # Drop macros that are not integer constant expressions (e.g. casts to float, aliases of
    # function names): _Static_assert accepts only integer constant expressions.
    probe = head + [f"_Static_assert(({m}) == ({m}), \"{m}\");" for m in ours.macros]
    errors = _compile_errors(workdir, "macro_kinds", probe, OUR_INCLUDE,
                             extra=["-Wno-tautological-compare"])
    integer_macros = [m for i, m in enumerate(ours.macros, start=len(head) + 1) if i not in errors]

    body = ["#include <stdio.h>"] + head + ["int main(void) {"]
    for name in ours.enum_constants:
        body.append(f'  printf("E %s %lld\\n", "{name}", (long long)({name}));')
    for name in integer_macros:
        body.append(f'  printf("M %s %lld\\n", "{name}", (long long)({name}));')
    for rec, fields in ours.records.items():
        body.append(f'  printf("S %s %zu\\n", "{rec}", sizeof({rec}));')
        for field in fields:
            body.append(f'  printf("O %s.%s %zu\\n", "{rec}", "{field}", offsetof({rec}, {field}));')
            body.append(f'  printf("Z %s.%s %zu\\n", "{rec}", "{field}", sizeof((({rec} *)0)->{field}));')
    body.append("  return 0;\n}")
    src = workdir / "our_values.c"
    exe = workdir / "our_values"
    src.write_text("\n".join(body) + "\n")
    res = _run(COMPILE + ["-I", str(OUR_INCLUDE), "-o", str(exe), str(src)])
    assert res.returncode == 0, f"our headers do not compile:\n{res.stderr[-3000:]}"
    out = _run([str(exe)])
    assert out.returncode == 0, out.stderr
    values = {}
    for line in out.stdout.splitlines():
        kind, key, value = line.split(" ")
        values[(kind, key)] = int(value)
    return values


def _check_against_nvidia(workdir, name, checks):
    """checks: [(label, C line)] compiled after NVIDIA's header; returns {label: error}."""
    head = (PRELUDE + '#include "nvml.h"\n#include <stddef.h>\n').splitlines()
    lines = head + [check[1] for check in checks]
    errors = _compile_errors(workdir, name, lines, NVIDIA_HEADER.parent)
    return {checks[line - len(head) - 1][0]: err for line, err in errors.items()
            if line > len(head)}


def _value_check(name, expr, ours):
    relation = ">=" if GROWING.search(name) else "=="
    return f'_Static_assert({ours}LL {relation} {expr}, "{name}");'


def _report(mismatches, what):
    return f"{len(mismatches)} {what} differ from NVIDIA's nvml.h 12.4:\n" + "\n".join(
        f"  {label}: {err}" for label, err in sorted(mismatches.items()))


def test_our_headers_declare_functions(ours):
    assert len(ours.functions) >= 300, sorted(ours.functions)


def test_functions_in_nvidias_header_have_nvidias_signature(workdir, ours, nvidia):
    common = sorted(set(ours.functions) & set(nvidia.functions))
    assert common, "no function declared by both headers"
    checks = []
    for fn in common:
        ret, params = _function_type_parts(ours.functions[fn])
        checks.append((f"{fn} {ours.functions[fn]}",
                       f"static {ret} (*const check_{fn}){params} = &{fn};"))
    # Unused static pointers are fine: the check is the initialisation.
    mismatches = _check_against_nvidia(workdir, "function_checks",
                                       [(label, f"__attribute__((unused)) {line}")
                                        for label, line in checks])
    assert not mismatches, _report(mismatches, "function signatures")


def test_functions_newer_than_the_header_have_documented_signatures(workdir, ours, nvidia):
    expected = {**DOCUMENTED_SIGNATURES, **OBSERVED_SIGNATURES}
    newer = sorted(set(ours.functions) - set(nvidia.functions))
    unknown = [fn for fn in newer if fn not in expected]
    assert not unknown, ("declared by us, absent from nvml.h 12.4 and from the documented "
                         f"signature table: {unknown}")
    # Redeclaring a function with the documented type next to our declaration is an error
    # ("conflicting types") exactly when the two differ, or when we lack a type it names.
    head = (PRELUDE + _our_headers()).splitlines()
    checks = []
    for fn in newer:
        ret, params = _function_type_parts(expected[fn])
        checks.append((f"{fn} documented {expected[fn]}, ours {ours.functions[fn]}",
                       f"{ret} {fn}{params};"))
    errors = _compile_errors(workdir, "documented_checks", head + [check[1] for check in checks],
                             OUR_INCLUDE)
    mismatches = {checks[line - len(head) - 1][0]: err for line, err in errors.items()
                  if line > len(head)}
    assert not mismatches, _report(mismatches, "signatures of newer functions")


def test_enum_constants_have_nvidias_values(workdir, ours, nvidia, our_values):
    common = sorted(set(ours.enum_constants) & set(nvidia.enum_constants))
    assert common, "no enum constant in both headers"
    checks = [(f"{name} = {our_values[('E', name)]}",
               _value_check(name, name, our_values[("E", name)])) for name in common]
    mismatches = _check_against_nvidia(workdir, "enum_checks", checks)
    assert not mismatches, _report(mismatches, "enum constants")


def test_integer_constants_have_nvidias_values(workdir, ours, nvidia, our_values):
    common = sorted(name for name in set(ours.macros) & set(nvidia.macros)
                    if ("M", name) in our_values)
    assert common, "no integer macro in both headers"
    checks = [(f"{name} = {our_values[('M', name)]}",
               _value_check(name, f"(long long)({name})", our_values[("M", name)]))
              for name in common]
    mismatches = _check_against_nvidia(workdir, "macro_checks", checks)
    assert not mismatches, _report(mismatches, "constants")


def test_structs_have_nvidias_size_and_field_layout(workdir, ours, nvidia, our_values):
    common = sorted(set(ours.records) & set(nvidia.records))
    assert common, "no struct typedef in both headers"
    checks = []
    for rec in common:
        size = our_values[("S", rec)]
        checks.append((f"sizeof({rec}) = {size}",
                       f'_Static_assert(sizeof({rec}) == {size}, "{rec}");'))
        for field in ours.records[rec]:
            key = f"{rec}.{field}"
            if field not in nvidia.records[rec] and key in NEWER_FIELDS:
                continue
            off, fsize = our_values[("O", key)], our_values[("Z", key)]
            checks.append((f"offsetof({rec}, {field}) = {off}",
                           f'_Static_assert(offsetof({rec}, {field}) == {off}, "{key}");'))
            checks.append((f"sizeof({rec}.{field}) = {fsize}",
                           f'_Static_assert(sizeof((({rec} *)0)->{field}) == {fsize}, "{key}");'))
    mismatches = _check_against_nvidia(workdir, "struct_checks", checks)
    assert not mismatches, _report(mismatches, "struct layouts")
