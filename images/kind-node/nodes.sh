#!/usr/bin/env bash
# Starts (or removes) kind-like node containers from gpumock/kind-node, named and labelled the way
# kind names and labels its nodes, so playbooks/kind.yml finds them exactly as it finds a real
# kind cluster's nodes.
#
# Usage: images/kind-node/nodes.sh create CLUSTER [WORKERS]   (default 2 workers)
#        images/kind-node/nodes.sh delete CLUSTER
#        images/kind-node/nodes.sh list CLUSTER
# create is idempotent: a node container that already runs is left alone. It returns once systemd
# in every node reports running (containerd up, preloaded images imported).
#
# Flags: kind runs nodes with --privileged; that fails on these hosts (CAP_SYS_RESOURCE is outside
# dockerd's bounding set), so every other capability is added, with seccomp/apparmor unconfined, the
# host cgroup namespace with /sys/fs/cgroup rw, and a device cgroup rule that lets the node (and the
# containers containerd starts in it) open any character device - as --privileged would.
# /var is an anonymous volume as in kind: containerd's overlayfs snapshotter cannot work on
# Docker's overlay2 root. Environment: KIND_NODE_IMAGE (default gpumock/kind-node:trixie).
set -euo pipefail
IMAGE=${KIND_NODE_IMAGE:-gpumock/kind-node:trixie}
CAPABILITIES="DAC_READ_SEARCH LINUX_IMMUTABLE NET_BROADCAST NET_ADMIN IPC_LOCK IPC_OWNER SYS_MODULE
SYS_RAWIO SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_TIME SYS_TTY_CONFIG LEASE AUDIT_CONTROL
MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ"

usage() {
  echo "usage: $0 create CLUSTER [WORKERS] | delete CLUSTER | list CLUSTER" >&2
  exit 2
}

check_cluster() {
  [[ $1 =~ ^[a-z0-9]([-a-z0-9.]{0,48}[a-z0-9])?$ ]] \
    || { echo "nodes.sh: CLUSTER must be a kind cluster name (lower-case letters, digits, - and .), got '$1'" >&2; exit 2; }
}

node_names() {
  # kind's naming: <cluster>-control-plane, then <cluster>-worker, <cluster>-worker2, ...
  local cluster=$1 workers=$2 i
  echo "$cluster-control-plane control-plane"
  for ((i = 1; i <= workers; i++)); do
    if [ "$i" -eq 1 ]; then echo "$cluster-worker worker"; else echo "$cluster-worker$i worker"; fi
  done
}

start_node() {
  local cluster=$1 name=$2 role=$3 caps=() c
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = "true" ]; then
    return 0
  fi
  docker rm -fv "$name" >/dev/null 2>&1 || true
  for c in $CAPABILITIES; do caps+=(--cap-add "$c"); done
  docker run -d --name "$name" --hostname "$name" \
    --label "io.x-k8s.kind.cluster=$cluster" --label "io.x-k8s.kind.role=$role" \
    "${caps[@]}" \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    --device-cgroup-rule 'c *:* rwm' \
    --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
    -v /var -v /lib/modules:/lib/modules:ro \
    --network none --stop-signal SIGRTMIN+3 \
    "$IMAGE" >/dev/null
}

wait_running() {
  local name=$1 state deadline=$((SECONDS + 60))
  while :; do
    state=$(docker exec "$name" systemctl is-system-running --wait 2>/dev/null || true)
    case $state in
      running) return 0 ;;
      degraded) docker exec "$name" systemctl --failed --no-legend >&2; echo "nodes.sh: $name is degraded" >&2; return 1 ;;
    esac
    # Right after start systemd may not answer yet ("Failed to connect to system scope bus").
    [ "$SECONDS" -lt "$deadline" ] || { echo "nodes.sh: $name did not finish booting in 60s (state '$state')" >&2; return 1; }
    sleep 0.2
  done
}

[ $# -ge 2 ] || usage
cmd=$1 cluster=$2
check_cluster "$cluster"
case $cmd in
  create)
    workers=${3:-2}
    [[ $workers =~ ^[0-9]+$ ]] || { echo "nodes.sh: WORKERS must be a whole number, got '$workers'" >&2; exit 2; }
    docker image inspect "$IMAGE" >/dev/null 2>&1 \
      || { echo "nodes.sh: image $IMAGE is missing; build it with images/kind-node/build.sh" >&2; exit 1; }
    while read -r name role; do start_node "$cluster" "$name" "$role"; done < <(node_names "$cluster" "$workers")
    while read -r name _; do wait_running "$name"; done < <(node_names "$cluster" "$workers")
    ;;
  delete)
    mapfile -t ids < <(docker ps -aq --filter "label=io.x-k8s.kind.cluster=$cluster")
    # -v: the anonymous /var volumes go with their nodes.
    [ ${#ids[@]} -eq 0 ] || docker rm -fv "${ids[@]}" >/dev/null
    ;;
  list)
    docker ps -a --filter "label=io.x-k8s.kind.cluster=$cluster" \
      --format '{{.Names}} {{.Label "io.x-k8s.kind.role"}} {{.Status}}'
    ;;
  *) usage ;;
esac
