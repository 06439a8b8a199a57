#!/usr/bin/env bash
# Builds the kind-like node image and the pause image it runs pod sandboxes with:
#
#   gpumock/kind-node:trixie   Debian trixie (debootstrap minbase), systemd as PID 1, containerd 1.7
#                              with a kind-shaped version 2 config (CDI left off), NO python3 but
#                              python3's .debs and apt lists preseeded for an offline bootstrap,
#                              /kind/images/{pause,tiny-nvml-probe}.tar imported at boot
#   gpumock/pause:3.10         a static pause binary alone in an image (the CRI sandbox image)
#
# Usage: images/kind-node/build.sh
# Cached like images/build.sh: the image carries gpumock.build-inputs=<hash of its inputs> and is
# not rebuilt while that matches; IMAGE_REBUILD=1 forces a build. Work trees: .build/kind-node/.
# Needs the Docker engine and gpumock/tiny-nvml-probe (make image-tiny-nvml-probe).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$ROOT/.build/kind-node
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
NODE_IMAGE=${KIND_NODE_IMAGE:-gpumock/kind-node:trixie}
PAUSE_IMAGE=gpumock/pause:3.10
PROBE_IMAGE=gpumock/tiny-nvml-probe:latest
# kindest/node's package set, less what needs a network or a kubelet (iptables, conntrack, CNI,
# nfs/iscsi clients), plus containerd and runc from Debian instead of kind's own builds.
NODE_PACKAGES=systemd,systemd-sysv,containerd,runc,iproute2,procps,kmod,util-linux,mount,ca-certificates,libseccomp2,e2fsprogs
mkdir -p "$WORK"

label_of() {
  docker image inspect "$1" --format '{{ index .Config.Labels "gpumock.build-inputs" }}' 2>/dev/null || true
}

pause_inputs() {
  { echo "$PAUSE_IMAGE"; sha256sum "$ROOT/images/pause/pause.c"; gcc --version | head -n1; } \
    | sed "s|$ROOT/||" | sha256sum | cut -c1-16
}

node_inputs() {
  {
    echo "$NODE_IMAGE $MIRROR $NODE_PACKAGES"
    sha256sum "$HERE/build.sh"
    (cd "$HERE/files" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    # The preloaded images are part of the node: a rebuilt probe or pause means a new node.
    docker image inspect "$PAUSE_IMAGE" "$PROBE_IMAGE" --format '{{.Id}}'
  } | sha256sum | cut -c1-16
}

build_pause() {
  local hash dir=$WORK/pause-rootfs
  hash=$(pause_inputs)
  if [ "$(label_of "$PAUSE_IMAGE")" = "$hash" ] && [ -z "${IMAGE_REBUILD:-}" ]; then
    echo "kind-node: $PAUSE_IMAGE is current ($hash)"
    return 0
  fi
  rm -rf "$dir" && mkdir -p "$dir"
  gcc -std=c11 -Wall -Wextra -Werror -O2 -static -s -o "$dir/pause" "$ROOT/images/pause/pause.c"
  tar -C "$dir" -c . | docker import \
    --change 'ENTRYPOINT ["/pause"]' \
    --change "LABEL gpumock.build-inputs=$hash" \
    - "$PAUSE_IMAGE" >/dev/null
  echo "kind-node: built $PAUSE_IMAGE ($hash)"
}

build_node() {
  local hash dir=$WORK/rootfs start=$SECONDS
  hash=$(node_inputs)
  if [ "$(label_of "$NODE_IMAGE")" = "$hash" ] && [ -z "${IMAGE_REBUILD:-}" ]; then
    echo "kind-node: $NODE_IMAGE is current ($hash)"
    return 0
  fi
  rm -rf "$dir"
  mkdir -p "$WORK/debcache"
  debootstrap --variant=minbase --cache-dir="$WORK/debcache" --include="$NODE_PACKAGES" \
    trixie "$dir" "$MIRROR" >"$dir.log" 2>&1 || { tail -n 30 "$dir.log" >&2; return 1; }

  # python3 goes into the apt cache, not onto the node: kindest/node has no python, and the
  # playbook's bootstrap must work with no network. The package lists stay so apt can resolve
  # the install offline.
  # Lists are kept gzip-compressed and without translations (88 MB less in every node's /var).
  rm -f "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*_*
  printf '%s\n' 'Acquire::GzipIndexes "true";' 'Acquire::CompressionTypes::Order:: "gz";' \
    'Acquire::Languages "none";' >"$dir/etc/apt/apt.conf.d/90gpumock-small-lists"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  chroot "$dir" apt-get update -q >>"$dir.log" 2>&1 || { tail -n 30 "$dir.log" >&2; return 1; }
  chroot "$dir" apt-get install --download-only -y -q --no-install-recommends python3 >>"$dir.log" 2>&1 \
    || { tail -n 30 "$dir.log" >&2; return 1; }
  : >"$dir/etc/resolv.conf"
  # apt rebuilds its binary caches on demand (about a second); shipping them costs 80 MB.
  rm -f "$dir"/var/cache/apt/*.bin
  if [ -e "$dir/usr/bin/python3" ]; then
    echo "kind-node: python3 must not be installed in $NODE_IMAGE" >&2
    return 1
  fi
  ls "$dir"/var/cache/apt/archives/python3_*.deb >/dev/null

  cp -a "$HERE/files/." "$dir/"
  # Empty machine-id: systemd makes one at first boot, so no two nodes share it.
  : >"$dir/etc/machine-id"
  # Containers cannot load kernel modules; containerd's modules-load.d entry would leave systemd
  # "degraded". The same reason masks the udev and console units kind masks in its image.
  for unit in systemd-modules-load.service systemd-udevd.service systemd-udev-trigger.service \
      getty@tty1.service console-getty.service; do
    ln -sf /dev/null "$dir/etc/systemd/system/$unit"
  done
  mkdir -p "$dir/etc/systemd/system/multi-user.target.wants"
  ln -sf /etc/systemd/system/kind-node-images.service \
    "$dir/etc/systemd/system/multi-user.target.wants/kind-node-images.service"

  mkdir -p "$dir/kind/images"
  docker save -o "$dir/kind/images/pause.tar" "$PAUSE_IMAGE"
  docker save -o "$dir/kind/images/tiny-nvml-probe.tar" "$PROBE_IMAGE"

  tar -C "$dir" -c . | docker import \
    --change 'CMD ["/sbin/init"]' \
    --change 'ENV container=docker' \
    --change "LABEL gpumock.build-inputs=$hash" \
    - "$NODE_IMAGE" >/dev/null
  echo "kind-node: built $NODE_IMAGE ($hash) in $((SECONDS - start))s," \
    "$(docker image inspect "$NODE_IMAGE" --format '{{.Size}}' | numfmt --to=si)B"
}

if ! docker image inspect "$PROBE_IMAGE" >/dev/null 2>&1; then
  echo "kind-node: $PROBE_IMAGE is missing; build it first (make image-tiny-nvml-probe)" >&2
  exit 1
fi
build_pause
build_node
