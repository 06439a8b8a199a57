"""The mock NVML and nvidia-mock-ctl for each node architecture, found or built on the controller.

The node module's action plugin (gpumock.nvidia.nvidia_mock_node, option nvml_source) runs
``select`` for the architecture of its node, in its own process; several nodes at once build an
architecture once (a lock per architecture). For every architecture it is given it takes, in this
order:

1. ``prebuilt``: ``<root>/files/prebuilt/<arch>/`` when ``files/prebuilt/SOURCE_HASH`` holds the
   hash of the sources beside it (a collection installed from the tarball of ``make collection``);
2. ``cache``: ``<cache>/<hash>/<arch>/`` from an earlier build of the same sources;
3. ``built``: built here by nvml_src/Makefile with ``<arch>-linux-gnu-gcc`` (Debian's cross
   compiler, or the native one under that name) or, on a Linux controller of that architecture,
   with ``cc``; then kept as 2;
4. else a ``problem``: what this controller lacks, for the role's sentence (it then builds on the
   node, or stops).

Each directory holds ``libnvidia-ml.so`` and ``nvidia-mock-ctl``. The source hash covers nvml_src/
(without build output) and the collection's Python files that its generators read
(python-sources.txt): the built-in default config comes from the profiles. ``hash`` prints it
(``make collection`` writes it into SOURCE_HASH). When a node is to build them (mode ``target``,
or an architecture with a problem), ``select`` also writes ``<cache>/<hash>/nvml_src.tar.gz``:
those files, for the build on the node.

Prints one JSON object. Standard library only.
"""

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile

import pysources

HERE = os.path.dirname(os.path.abspath(__file__))
BUILT = ("libnvidia-ml.so", "nvidia-mock-ctl")
PREBUILT_DIR = "files/prebuilt"
STAMP = PREBUILT_DIR + "/SOURCE_HASH"
# Output of a checkout's own builds and of Python imports: never part of the source.
SKIPPED_DIRS = ("build", "__pycache__")
# Hex digits of the hash (names the cache directory).
HASH_LENGTH = 16


def source_files(root):
    """The files, relative to ``root``, that the library is built from, sorted."""
    found = []
    for directory, subdirs, files in os.walk(os.path.join(root, "nvml_src")):
        subdirs[:] = [d for d in subdirs if d not in SKIPPED_DIRS]
        relative = os.path.relpath(directory, root)
        found.extend(os.path.join(relative, f).replace(os.sep, "/") for f in files if not f.endswith(".pyc"))
    found.extend(pysources.listed(os.path.join(root, "nvml_src", "python-sources.txt")))
    return sorted(set(found))


def source_hash(root):
    """The hash of the sources' paths and contents."""
    digest = hashlib.sha256()
    for path in source_files(root):
        with open(os.path.join(root, path), "rb") as handle:
            content = hashlib.sha256(handle.read()).hexdigest()
        digest.update(("%s\0%s\n" % (path, content)).encode("utf-8"))
    return digest.hexdigest()[:HASH_LENGTH]


def _complete(directory):
    return all(os.path.isfile(os.path.join(directory, name)) for name in BUILT)


def _found(directory, origin):
    return dict(origin=origin, library=os.path.join(directory, BUILT[0]), mock_ctl=os.path.join(directory, BUILT[1]))


def prebuilt(root, arch, wanted_hash):
    """The collection's prebuilt files of ``arch`` when they were built from these sources, else None."""
    directory = os.path.join(root, PREBUILT_DIR, arch)
    try:
        with open(os.path.join(root, STAMP)) as handle:
            stamp = handle.read().strip()
    except (IOError, OSError):
        return None
    return _found(directory, "prebuilt") if stamp == wanted_hash and _complete(directory) else None


def machine():
    """This controller's architecture as Linux's uname -m names it (macOS says arm64)."""
    name = platform.machine()
    return "aarch64" if name == "arm64" else name


def compiler(arch):
    """(C compiler for Linux on ``arch``, None) or (None, what is missing)."""
    cross = shutil.which("%s-linux-gnu-gcc" % arch)
    if cross:
        return cross, None
    if platform.system() == "Linux" and machine() == arch:
        native = shutil.which("cc") or shutil.which("gcc")
        if native:
            return native, None
        return None, "this %s Linux controller has no cc" % arch
    return None, ("this controller (%s %s) has no %s-linux-gnu-gcc to build Linux code for %s"
                  % (platform.system(), machine(), arch, arch))


def build(root, arch, cache):
    """Builds ``arch``'s files into ``cache`` (a directory made whole or not at all); a problem sentence or None."""
    cc, problem = compiler(arch)
    if problem is None and shutil.which("make") is None:
        problem = "this controller has no make"
    if problem is not None:
        return problem
    parent = os.path.dirname(cache)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".%s-" % arch, dir=parent)
    try:
        done = subprocess.run(["make", "-s", "-j%d" % (os.cpu_count() or 1), "-C", os.path.join(root, "nvml_src"), "ARCH=" + arch, "CC=" + cc,
                               "BUILD=" + os.path.join(work, "build"), "PYTHON=" + sys.executable],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              check=False)
        if done.returncode != 0:
            raise BuildError("building the mock NVML for %s with %s failed (make rc %d):\n%s"
                             % (arch, cc, done.returncode, done.stdout[-4000:]))
        out = os.path.join(work, "out")
        os.mkdir(out)
        build_dir = os.path.join(work, "build")
        (library,) = [n for n in os.listdir(build_dir) if n.startswith("libnvidia-ml.so.") and n.count(".") > 3]
        shutil.copy2(os.path.join(build_dir, library), os.path.join(out, BUILT[0]))
        shutil.copy2(os.path.join(build_dir, BUILT[1]), os.path.join(out, BUILT[1]))
        try:
            os.rename(out, cache)
        except OSError:
            # Another play built the same sources meanwhile: its copy is as good.
            if not _complete(cache):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return None


class BuildError(Exception):
    """The build ran and failed (a broken source, not a missing tool)."""


def pack(root, destination):
    """The sources as a gzipped tar (paths relative to ``root``), written whole or not at all."""
    if os.path.isfile(destination):
        return
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=".nvml_src-", dir=os.path.dirname(destination))
    try:
        with os.fdopen(handle, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for path in source_files(root):
                with open(os.path.join(root, path), "rb") as source:
                    data = source.read()
                info = tarfile.TarInfo(path)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
        os.rename(partial, destination)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


@contextlib.contextmanager
def _held(lock_path):
    """An exclusive lock on ``lock_path`` (made when missing) for the duration of the block."""
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_or_built(root, arch, cache):
    """``arch``'s files in ``cache``, built there first when they are not (one build at a time per
    architecture: another process that waited finds them); the found files, or a problem sentence."""
    if not _complete(cache):
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with _held(cache + ".lock"):
            if not _complete(cache):
                problem = build(root, arch, cache)
                return dict(problem=problem) if problem else _found(cache, "built")
    return _found(cache, "cache")


def select(root, cache_dir, architectures, mode):
    wanted = source_hash(root)
    cache_root = os.path.join(cache_dir, wanted)
    result = dict(hash=wanted, pack=None, architectures={})
    for arch in architectures:
        if mode == "target":
            continue
        found = prebuilt(root, arch, wanted) or cached_or_built(root, arch, os.path.join(cache_root, arch))
        result["architectures"][arch] = found
    if mode == "target" or any("problem" in v for v in result["architectures"].values()):
        result["pack"] = os.path.join(cache_root, "nvml_src.tar.gz")
        pack(root, result["pack"])
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command")
    commands.required = True
    hashing = commands.add_parser("hash", help="print the source hash of a collection root")
    hashing.add_argument("--root", default=os.path.dirname(HERE))
    selecting = commands.add_parser("select", help="find or build the files of each architecture (JSON)")
    selecting.add_argument("--root", default=os.path.dirname(HERE))
    selecting.add_argument("--cache", required=True)
    selecting.add_argument("--arch", action="append", default=[])
    selecting.add_argument("--mode", choices=("auto", "controller", "target"), default="auto")
    args = parser.parse_args(argv)
    root = os.path.abspath(args.root)
    if args.command == "hash":
        print(source_hash(root))
        return 0
    try:
        print(json.dumps(select(root, os.path.abspath(args.cache), args.arch, args.mode), sort_keys=True))
    except BuildError as exc:
        sys.stderr.write("%s\n" % exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
