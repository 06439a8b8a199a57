#!/usr/bin/env bash
# Applies the playbook's workloads: first the CRDs they need, waited for until the API server
# serves them (a controller started before its CRDs exist crash-loops into a growing back-off),
# then the manifest on stdin. Prints kubectl apply's lines ("... unchanged" for what matched).
# usage: kind-apply.sh KUBECTL CONTEXT TIMEOUT-SECONDS [CRD-FILE-OR-URL...] < MANIFEST
set -euo pipefail
kubectl=$1 context=$2 timeout=$3
shift 3
for crds in "$@"; do
  "$kubectl" --context "$context" apply --filename "$crds"
  "$kubectl" --context "$context" wait --for condition=Established --timeout "${timeout}s" \
    --filename "$crds" >/dev/null
done
"$kubectl" --context "$context" apply --filename -
