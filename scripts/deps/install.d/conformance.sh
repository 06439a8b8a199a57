#!/usr/bin/env bash
# Builds the real NVIDIA clients that tests/conformance and tests/kind run against the mock,
# plus the small Go programs of that suite, into $CONFORMANCE_BIN (scripts/deps/versions.sh:
# outside the checkout, so a fresh clone reuses them):
#   nvidia-ctk              github.com/NVIDIA/nvidia-container-toolkit   (cmd/nvidia-ctk)
#   nvidia-cdi-hook         github.com/NVIDIA/nvidia-container-toolkit   (cmd/nvidia-cdi-hook)
#   gpu-feature-discovery   github.com/NVIDIA/k8s-device-plugin          (cmd/gpu-feature-discovery)
#   nvidia-device-plugin    github.com/NVIDIA/k8s-device-plugin          (cmd/nvidia-device-plugin)
#   nfd-master, nfd-worker  sigs.k8s.io/node-feature-discovery           (cmd/nfd-master, cmd/nfd-worker)
#   gonvml-probe            tests/conformance/gonvml   (go-nvml, pinned in its go.mod)
#   gonvlib-probe           tests/conformance/gonvlib  (go-nvlib's MIG devices, pinned in its go.mod)
#   cdicheck                tests/conformance/cdicheck (the CDI project's Go library)
#   testkubelet             tests/conformance/testkubelet (the kubelet's side of the device-plugin
#                           API, k8s.io/kubelet and gRPC at the versions the device plugin pins)
# and the CDI project's JSON schema (schema.json, defs.json) into cdi-schema/ next to bin/, and
# node-feature-discovery's CRDs into nfd-crds/.
# Upstream tools are built from their release's own go.mod and go.sum, as fetched from the Go
# module proxy (`go mod download`, then `go build` inside the module): `go install mod@ver`
# would also ask the proxy for the module's version list, which the proxy here refuses for
# k8s-device-plugin. All of them use cgo and dlopen libnvidia-ml.so.1 at run time, so gcc is
# needed and no NVIDIA library is.
# Idempotent: a binary is rebuilt only when its stamp (module@version, or a hash of the
# sources) differs. Without a usable `go` (1.21 or later, which fetches newer toolchains
# itself), Go's own toolchain module is fetched from the Go module proxy.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
# shellcheck source=scripts/deps/versions.sh
. "$ROOT/scripts/deps/versions.sh"
OUT=$CONFORMANCE_BIN
TOOLCHAIN_DIR=$GPUMOCK_CACHE/go-toolchain
FALLBACK_GO=go1.25.5
# The newest CDI release on the proxy whose module still carries schema/ (later releases moved
# it, and cmd/cdi, into modules the proxy does not serve). It describes cdiVersion up to 0.6.0.
CDI_SCHEMA=github.com/container-orchestrated-devices/container-device-interface@v0.6.2
PROXY=${GOPROXY:-https://proxy.golang.org}
PROXY=${PROXY%%,*}

mkdir -p "$OUT"
export GOFLAGS="-buildvcs=false -trimpath"
# go-nvml's cgo prologue calls functions nvml.h marks deprecated; the warnings are noise.
export CGO_ENABLED=1 CGO_CFLAGS="-O2 -Wno-deprecated-declarations"

go_is_usable() {
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  [ "${v%%.*}" -gt 1 ] || [ "$(echo "$v" | cut -d. -f2)" -ge 21 ]
}

find_go() {
  local candidate
  for candidate in "$(command -v go || true)" /usr/local/go/bin/go "$TOOLCHAIN_DIR/bin/go"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && go_is_usable "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

fetch_toolchain() {
  # The Go command's own toolchain downloads come from this module (golang.org/toolchain).
  local zip=$GPUMOCK_CACHE/toolchain.zip
  local url=$PROXY/golang.org/toolchain/@v/v0.0.1-$FALLBACK_GO.linux-amd64.zip
  echo "conformance: no Go 1.21+ found; fetching $FALLBACK_GO from $url"
  python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$url" "$zip"
  rm -rf "$TOOLCHAIN_DIR" "$TOOLCHAIN_DIR.tmp"
  python3 - "$zip" "$TOOLCHAIN_DIR.tmp" "golang.org/toolchain@v0.0.1-$FALLBACK_GO.linux-amd64/" <<'PY'
import os, sys, zipfile
# zipfile drops the permission bits; Go's zip keeps them in the upper half of external_attr.
src, dest, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(src) as archive:
    for info in archive.infolist():
        if not info.filename.startswith(prefix) or info.filename.endswith("/"):
            continue
        name = info.filename[len(prefix):]
        path = os.path.join(dest, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with archive.open(info) as fin, open(path, "wb") as fout:
            fout.write(fin.read())
        mode = (info.external_attr >> 16) & 0o777
        os.chmod(path, mode or 0o644)
PY
  mv "$TOOLCHAIN_DIR.tmp" "$TOOLCHAIN_DIR"
  rm -f "$zip"
}

GO=$(find_go) || { fetch_toolchain; GO=$(find_go); }

stamp_ok() {  # stamp_ok BINARY WANT
  [ -x "$OUT/$1" ] && [ "$(cat "$OUT/$1.stamp" 2>/dev/null)" = "$2" ]
}

module_dir() {  # module_dir MODULE@VERSION: where `go mod download` unpacked it
  "$GO" mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'
}

fetch_cdi_schema() {
  local dest dir
  dest=$(dirname "$OUT")/cdi-schema  # next to the binaries, where the tests look
  [ "$(cat "$dest/stamp" 2>/dev/null)" = "$CDI_SCHEMA" ] && return 0
  dir=$(module_dir "$CDI_SCHEMA")
  rm -rf "$dest" && mkdir -p "$dest"
  cp "$dir/schema/schema.json" "$dir/schema/defs.json" "$dest/"
  echo "$CDI_SCHEMA" > "$dest/stamp"
}

fetch_nfd_crds() {
  # The CRDs of the node-feature-discovery release, which tests/kind applies (no GitHub here).
  local dest dir
  dest=$(dirname "$OUT")/nfd-crds
  [ "$(cat "$dest/stamp" 2>/dev/null)" = "$NODE_FEATURE_DISCOVERY_MODULE" ] && return 0
  dir=$(module_dir "$NODE_FEATURE_DISCOVERY_MODULE")
  rm -rf "$dest" && mkdir -p "$dest"
  cp "$dir/deployment/base/nfd-crds/nfd-api-crds.yaml" "$dest/"
  echo "$NODE_FEATURE_DISCOVERY_MODULE" > "$dest/stamp"
}

build_upstream() {  # build_upstream BINARY MODULE@VERSION PACKAGE-DIR [NESTED-MODULE...]
  local bin=$1 modver=$2 pkg=$3 dir start nested
  shift 3
  stamp_ok "$bin" "$modver" && return 0
  echo "conformance: building $bin from $modver"
  start=$SECONDS
  dir=$(module_dir "$modver")
  if [ $# -gt 0 ]; then
    # A module that replaces its nested modules with their folders (./api/...) builds from a
    # copy in which they come from the proxy at the same version: module zips leave them out.
    rm -rf "$GPUMOCK_CACHE/work/$bin-src"
    mkdir -p "$GPUMOCK_CACHE/work"
    cp -r "$dir" "$GPUMOCK_CACHE/work/$bin-src" && chmod -R u+w "$GPUMOCK_CACHE/work/$bin-src"
    dir=$GPUMOCK_CACHE/work/$bin-src
    for nested in "$@"; do
      (cd "$dir" && "$GO" mod edit -replace "${modver%@*}/$nested=${modver%@*}/$nested@${modver#*@}")
    done
  fi
  # The module's own go.mod/go.sum pin every dependency; -mod=mod fetches them (module zips
  # carry no vendor directory).
  (cd "$dir" && "$GO" build -mod=mod -o "$OUT/$bin.tmp" "./$pkg")
  mv "$OUT/$bin.tmp" "$OUT/$bin"
  echo "$modver" > "$OUT/$bin.stamp"
  # What tests/kind prints as this tool's cold build time.
  echo "$((SECONDS - start))" > "$OUT/$bin.build-seconds"
  echo "conformance: $bin built in $((SECONDS - start)) s"
}

build_local() {  # build_local BINARY SOURCE-DIR
  local bin=$1 src=$ROOT/$2 want start
  want=$(cd "$src" && cat go.mod go.sum ./*.go | sha256sum | cut -d' ' -f1)
  stamp_ok "$bin" "$want" && return 0
  echo "conformance: building $bin from $2"
  start=$SECONDS
  (cd "$src" && "$GO" build -mod=readonly -o "$OUT/$bin.tmp" .)
  mv "$OUT/$bin.tmp" "$OUT/$bin"
  echo "$want" > "$OUT/$bin.stamp"
  echo "conformance: $bin built in $((SECONDS - start)) s"
}

build_upstream nvidia-ctk "$NVIDIA_CONTAINER_TOOLKIT_MODULE" cmd/nvidia-ctk
build_upstream nvidia-cdi-hook "$NVIDIA_CONTAINER_TOOLKIT_MODULE" cmd/nvidia-cdi-hook
build_upstream gpu-feature-discovery "$NVIDIA_DEVICE_PLUGIN_MODULE" cmd/gpu-feature-discovery
build_upstream nvidia-device-plugin "$NVIDIA_DEVICE_PLUGIN_MODULE" cmd/nvidia-device-plugin
build_upstream nfd-master "$NODE_FEATURE_DISCOVERY_MODULE" cmd/nfd-master api/nfd
build_upstream nfd-worker "$NODE_FEATURE_DISCOVERY_MODULE" cmd/nfd-worker api/nfd
build_local gonvml-probe tests/conformance/gonvml
build_local gonvlib-probe tests/conformance/gonvlib
build_local cdicheck tests/conformance/cdicheck
build_local testkubelet tests/conformance/testkubelet
fetch_cdi_schema
fetch_nfd_crds
