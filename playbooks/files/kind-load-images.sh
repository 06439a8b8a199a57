#!/usr/bin/env bash
# Loads local Docker images into the nodes of a kind cluster that lack them (same image ID), as
# `kind load docker-image` does, so a second run loads nothing. Prints "IMAGE -> NODE" for each
# load (made, or only planned with --check).
# usage: kind-load-images.sh [--check] KIND CLUSTER "NODE..." IMAGE...
set -u
check=false
if [ "${1:-}" = --check ]; then check=true; shift; fi
kind=$1 cluster=$2 nodes=$3
shift 3
status=0
for image in "$@"; do
  if ! want=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null); then
    echo "gpumock_kind_images names $image, which is not an image of the local Docker engine." >&2
    exit 2
  fi
  for node in $nodes; do
    have=$(docker exec "$node" crictl inspecti --output go-template --template '{{.status.id}}' "$image" 2>/dev/null || true)
    [ "$have" = "$want" ] && continue
    echo "$image -> $node"
    if ! $check; then
      "$kind" load docker-image --name "$cluster" --nodes "$node" "$image" >&2 || status=1
    fi
  done
done
exit $status
