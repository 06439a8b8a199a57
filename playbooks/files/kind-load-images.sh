#!/usr/bin/env bash
# Loads local Docker images into the nodes of a kind cluster that lack them (same image ID under
# the same name), as `kind load docker-image` does, so a second run loads nothing. One look into
# each node (crictl images, all nodes at once), one `kind load` per set of nodes that lack the same images. Prints
# "IMAGE -> NODE" for each load (made, or only planned with --check).
# usage: kind-load-images.sh [--check] KIND CLUSTER "NODE..." IMAGE...
set -u
check=false
if [ "${1:-}" = --check ]; then check=true; shift; fi
kind=$1 cluster=$2 nodes=$3
shift 3
status=0
declare -A want
# One docker call for all IDs; only when one is missing, one call per image finds which.
if ids=$(docker image inspect --format '{{.Id}}' "$@" 2>/dev/null); then
  mapfile -t listed <<<"$ids"
  for i in "${!listed[@]}"; do want[${*:i+1:1}]=${listed[$i]}; done
else
  for image in "$@"; do
    if ! want[$image]=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null); then
      echo "gpumock_kind_images names $image, which is not an image of the local Docker engine." >&2
      exit 2
    fi
  done
fi
# What every node has, read from all nodes at once (one crictl call each, in parallel).
seen=$(mktemp -d)
trap 'rm -rf "$seen"' EXIT
pids=()
for node in $nodes; do
  { docker exec "$node" crictl images --output json 2>/dev/null || true; } >"$seen/$node" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
pairs=()
for image in "$@"; do pairs+=("$image=${want[$image]}"); done
# One line "IMAGE NODE" for each image (by ID under that name) a node's containerd lacks.
lacks=$(python3 - "$seen" "$nodes" "${pairs[@]}" <<'PY'
import json, os, sys

seen, nodes, pairs = sys.argv[1], sys.argv[2].split(), sys.argv[3:]


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


for node in nodes:
    with open(os.path.join(seen, node)) as stream:
        listed = json.loads(stream.read() or '{"images": []}')
    have = {(tag, image["id"]) for image in listed["images"] for tag in image.get("repoTags") or []}
    for pair in pairs:
        image, image_id = pair.rsplit("=", 1)
        if (reference(image), image_id) not in have:
            print(image, node)
PY
)
# Then one `kind load` per set of nodes that lack the same images (kind saves those images once
# and loads them into the nodes in parallel).
declare -A lacking   # image -> "node,node"
while read -r image node; do
  [ -n "$image" ] || continue
  echo "$image -> $node"
  lacking[$image]=${lacking[$image]:+${lacking[$image]},}$node
done <<<"$lacks"
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
