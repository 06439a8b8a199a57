#!/usr/bin/env bash
# Builds what a real kind cluster needs, with no container registry, from the Go module proxy:
#   kind                      sigs.k8s.io/kind
#   kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy
#                             k8s.io/kubernetes, through a small wrapper module (below)
#   etcd                      go.etcd.io/etcd/server/v3
#   coredns                   github.com/coredns/coredns
#   crictl                    sigs.k8s.io/cri-tools
#   pause                     images/pause/pause.c (ours, static)
# into $GPUMOCK_CACHE/kubernetes/<stamp>/bin, where <stamp> names every pinned version, so a new
# pin builds into a new folder and an old one is never half-replaced. The Go module and build
# caches (GOMODCACHE, GOCACHE) are Go's own, outside the checkout. Idempotent: a folder whose
# `complete` file exists is not rebuilt. Prints the folder on its last line. The cold build's
# time per piece is kept in <folder>/build-seconds (tests/kind prints it).
#
# Why a wrapper module for Kubernetes: k8s.io/kubernetes replaces its staging modules with
# relative paths, which `go install pkg@version` refuses. A module of ours that requires it and
# replaces each staging module with its published version builds the same code.
# Why the version ldflags: kubeadm picks the control-plane image tags from its own version.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
# shellcheck source=scripts/deps/versions.sh
. "$ROOT/scripts/deps/versions.sh"
OUT=$KUBE_PIECES_DIR
BIN=$OUT/bin
if [ -e "$OUT/complete" ] && [ "${1:-}" != --force ]; then
  echo "$OUT"
  exit 0
fi
GO=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$GO" ] || { echo "kubernetes: no go found (PATH, /usr/local/go/bin)" >&2; exit 1; }
mkdir -p "$BIN" "$OUT/src"
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -trimpath" GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
LDFLAGS="-s -w"
say() { echo "kubernetes: $(date +%T) $*" >&2; }
timed() {  # timed NAME COMMAND...: runs it, prints its wall time and records it in build-seconds
  local start=$SECONDS
  "${@:2}"
  say "$1 built in $((SECONDS - start)) s"
  echo "$1 $((SECONDS - start))" >>"$OUT/build-seconds"
}

build_kind() {
  [ -x "$BIN/kind" ] && return 0
  GOBIN=$BIN "$GO" install -ldflags "$LDFLAGS" "sigs.k8s.io/kind@$KIND_VERSION"
}

build_kubernetes() {
  local want=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
  local have=1 c gomod src=$OUT/src/kubernetes minor ld
  for c in "${want[@]}"; do [ -x "$BIN/$c" ] || have=0; done
  [ $have = 1 ] && return 0
  mkdir -p "$src"
  gomod=$("$GO" mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  # Each staging module k8s.io/X => ./staging/src/k8s.io/X becomes k8s.io/X v0.<minor>.<patch>.
  python3 - "$gomod" "$KUBERNETES_VERSION" >"$src/go.mod" <<'PY'
import re, sys
gomod, version = sys.argv[1], sys.argv[2]
staging = "v0." + version.split(".", 1)[1]
names = re.findall(r"^\s*(k8s\.io/\S+)\s+=>\s+\./staging/", open(gomod).read(), re.M)
print("module gpumock.local/kubebuild\n\ngo 1.24.0\n")
print(f"require k8s.io/kubernetes {version}\n")
print("replace (")
for name in names:
    print(f"\t{name} => {name} {staging}")
print(")")
PY
  {
    printf '//go:build tools\n\npackage kubebuild\n\nimport (\n'
    for c in "${want[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
    printf ')\n'
  } >"$src/tools.go"
  (cd "$src" && "$GO" mod tidy)
  minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  ld=$LDFLAGS
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld="$ld -X $p.gitTreeState=clean -X $p.gitCommit=0000000000000000000000000000000000000000"
    ld="$ld -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$src" && "$GO" build -ldflags "$ld" -o "$BIN/" "${want[@]/#/k8s.io/kubernetes/cmd/}")
}

build_etcd() {
  local src=$OUT/src/etcd
  [ -x "$BIN/etcd" ] && return 0
  mkdir -p "$src"
  printf 'module gpumock.local/etcdbuild\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
    "$ETCD_VERSION" >"$src/go.mod"
  printf '//go:build tools\n\npackage etcdbuild\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$src/tools.go"
  (cd "$src" && "$GO" mod tidy && "$GO" build -ldflags "$LDFLAGS" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
}

build_coredns() {
  [ -x "$BIN/coredns" ] && return 0
  GOBIN=$BIN "$GO" install -ldflags "$LDFLAGS" "github.com/coredns/coredns@$COREDNS_VERSION"
}

build_crictl() {
  [ -x "$BIN/crictl" ] && return 0
  GOBIN=$BIN "$GO" install -ldflags "$LDFLAGS" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
}

build_pause() {
  gcc -std=c11 -Wall -Wextra -Werror -O2 -static -s -o "$BIN/pause" "$ROOT/images/pause/pause.c"
}

say "building into $OUT"
: >"$OUT/build-seconds"
timed kind build_kind
timed kubernetes build_kubernetes
timed etcd build_etcd
timed coredns build_coredns
timed crictl build_crictl
build_pause
rm -rf "$OUT/src"
touch "$OUT/complete"
echo "$OUT"
