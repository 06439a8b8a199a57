#!/usr/bin/env bash
# Applies the playbook's workloads: first the CRDs they need, waited for until the API server
# serves them (a controller started before its CRDs exist crash-loops into a growing back-off),
# then the manifest on stdin. Prints kubectl apply's lines ("... unchanged" for what matched), or
# nothing when kind-workloads-current.py finds every object applied as given and rolled out (a
# re-run then costs one read of the objects). With --check it changes nothing: it prints
# kubectl diff's differences, or nothing when the workloads are current.
# usage: kind-apply.sh [--check] PYTHON KUBECTL CONTEXT TIMEOUT-SECONDS [CRD-FILE-OR-URL...] < MANIFEST
set -euo pipefail
check=false
if [ "${1:-}" = --check ]; then check=true; shift; fi
python=$1 kubectl=$2 context=$3 timeout=$4
shift 4
here=$(dirname "$0")
manifest=$(cat)
if "$python" "$here/kind-workloads-current.py" "$kubectl" "$context" "$@" <<<"$manifest" >&2; then
  exit 0
fi
if $check; then
  # kubectl diff: 0 no difference, 1 differences, more an error.
  files=()
  for crds in "$@"; do files+=(--filename "$crds"); done
  status=0
  "$kubectl" --context "$context" diff --filename - "${files[@]}" <<<"$manifest" || status=$?
  [ "$status" -le 1 ] || exit "$status"
  exit 0
fi
for crds in "$@"; do
  "$kubectl" --context "$context" apply --filename "$crds"
  "$kubectl" --context "$context" wait --for condition=Established --timeout "${timeout}s" \
    --filename "$crds" >/dev/null
done
"$kubectl" --context "$context" apply --filename - <<<"$manifest"
