#!/usr/bin/env bash
# Applies the playbook's workloads (kind-converge.py runs it when they are not current): first the
# CRDs they need, waited for until the API server serves them (a controller started before its CRDs
# exist crash-loops into a growing back-off), then the manifest on stdin. Prints kubectl apply's
# lines ("... unchanged" for what matched). With --check it changes nothing: it prints kubectl
# diff's differences.
# usage: kind-apply.sh [--check] KUBECTL CONTEXT TIMEOUT-SECONDS [CRD-FILE-OR-URL...] < MANIFEST
set -euo pipefail
check=false
if [ "${1:-}" = --check ]; then check=true; shift; fi
kubectl=$1 context=$2 timeout=$3
shift 3
manifest=$(cat)
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
