#!/usr/bin/env bash
# Loads local Docker images into the nodes of a kind cluster that lack them (same image ID under
# the same name), as `kind load docker-image` does, so a second run loads nothing. One look into
# each node (crictl images), one `kind load` per set of nodes that lack the same images. Prints
# "IMAGE -> NODE" for each load (made, or only planned with --check).
# usage: kind-load-images.sh [--check] KIND CLUSTER "NODE..." IMAGE...
set -u
check=false
if [ "${1:-}" = --check ]; then check=true; shift; fi
kind=$1 cluster=$2 nodes=$3
shift 3
status=0
declare -A want
for image in "$@"; do
  if ! want[$image]=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null); then
    echo "gpumock_kind_images names $image, which is not an image of the local Docker engine." >&2
    exit 2
  fi
done
# missing IMAGES-JSON IMAGE=ID...: the images the node's containerd lacks (by ID under that name).
missing() {
  python3 - "$@" <<'PY'
import json, sys

have = {(tag, image["id"]) for image in json.loads(sys.argv[1] or '{"images": []}')["images"]
        for tag in image.get("repoTags") or []}


def reference(name):
    """The name containerd keeps for a Docker image name (docker.io/library/..., :latest)."""
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    if ":" not in name.rsplit("/", 1)[1]:
        name += ":latest"
    return name


for pair in sys.argv[2:]:
    image, image_id = pair.rsplit("=", 1)
    if (reference(image), image_id) not in have:
        print(image)
PY
}
# Which images each node lacks; then one `kind load` per set of nodes that lack the same images
# (kind saves those images once and loads them into the nodes in parallel).
declare -A lacking   # image -> "node,node"
for node in $nodes; do
  pairs=()
  for image in "$@"; do pairs+=("$image=${want[$image]}"); done
  have=$(docker exec "$node" crictl images --output json 2>/dev/null || true)
  for image in $(missing "$have" "${pairs[@]}"); do
    echo "$image -> $node"
    lacking[$image]=${lacking[$image]:+${lacking[$image]},}$node
  done
done
$check && exit 0
declare -A group     # "node,node" -> "image image"
for image in "${!lacking[@]}"; do
  group[${lacking[$image]}]="${group[${lacking[$image]}]:-} $image"
done
for targets in "${!group[@]}"; do
  # shellcheck disable=SC2086 # the image names are words
  "$kind" load docker-image --name "$cluster" --nodes "$targets" ${group[$targets]} >&2 || status=1
done
exit $status
