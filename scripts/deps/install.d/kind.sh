#!/usr/bin/env bash
# Builds tools/cri-probe (the CRI v1 client molecule/kind uses to run pods in the kind-like
# nodes) into .build/kind/cri-probe: a static binary, copied into node containers by the tests.
# Dependencies come from the Go module proxy as pinned by tools/cri-probe/go.sum; nothing is
# vendored. Idempotent: rebuilt only when the sources change (stamp = hash of go.mod, go.sum, *.go).
# Needs Go 1.21 or later (it fetches the toolchain go.mod asks for by itself); install.d/conformance.sh
# runs first and leaves one in .build/conformance/go when the machine has none.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
SRC=$ROOT/tools/cri-probe
OUT=$ROOT/.build/kind
mkdir -p "$OUT"

GO=
for candidate in "$(command -v go || true)" /usr/local/go/bin/go "$ROOT/.build/conformance/go/bin/go"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    v=$("$candidate" env GOVERSION 2>/dev/null || true)
    v=${v#go}
    if [ -n "$v" ] && { [ "${v%%.*}" -gt 1 ] || [ "$(echo "$v" | cut -d. -f2)" -ge 21 ]; }; then
      GO=$candidate
      break
    fi
  fi
done
if [ -z "$GO" ]; then
  echo "kind: no Go 1.21+ found (PATH, /usr/local/go, .build/conformance/go); run scripts/deps/install.d/conformance.sh first" >&2
  exit 1
fi

export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -trimpath -mod=readonly"
if [ "${1:-}" = test ]; then
  (cd "$SRC" && "$GO" test ./...)
fi

want=$(cd "$SRC" && cat go.mod go.sum ./*.go | sha256sum | cut -d' ' -f1)
if [ -x "$OUT/cri-probe" ] && [ "$(cat "$OUT/cri-probe.stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "kind: building cri-probe"
(cd "$SRC" && "$GO" build -ldflags='-s -w' -o "$OUT/cri-probe.tmp" .)
mv "$OUT/cri-probe.tmp" "$OUT/cri-probe"
echo "$want" > "$OUT/cri-probe.stamp"
