#!/usr/bin/env bash
# Builds the locally made test images from Debian's packages (no container registry is reachable):
#
#   gpumock/bookworm-systemd   Debian 12, systemd as PID 1, NO python3 — its .debs are preseeded in
#                              the apt cache, so the role's python bootstrap works offline
#   gpumock/trixie-systemd     Debian 13, systemd, python3, containerd 1.7 + runc, podman + crun,
#                              the podman config a node container needs, and gcc + make (the
#                              role's gpu_mock_nvml_build: target builds the NVML on the node)
#   gpumock/gpu-probe          tiny-nvml-probe plus NVIDIA's real nvidia-smi (Debian trixie non-free,
#                              .build/nvidia) in /usr/local/bin: what tests/kind's pods run
#   gpumock/k8s-device-plugin:<version>
#                              NVIDIA's nvidia-device-plugin and gpu-feature-discovery (built from the
#                              Go module proxy by scripts/deps/install.d/conformance.sh) with the
#                              glibc they link against, in /usr/bin as in NVIDIA's own image
#   gpumock/node-feature-discovery:<version>
#                              nfd-master and nfd-worker (built the same way) in /usr/bin, as in the
#                              project's own image: they turn GPU feature discovery's file into labels
#   gpumock/tiny-nvml-probe    busybox, the glibc loader and libc, and /usr/bin/nvml-probe: the inner
#                              image for CDI tests; NVML itself comes from the node through CDI
#
# Usage: images/build.sh IMAGE...   (or "all")
# Cached: each image carries the label gpumock.build-inputs=<sha256 of its build inputs>; an image
# whose label matches is not rebuilt. IMAGE_REBUILD=1 forces a build.
# Rootfs trees and the debootstrap package cache live under .build/images/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/deps/versions.sh
. "$ROOT/scripts/deps/versions.sh"
WORK=$ROOT/.build/images
NVIDIA_SMI=$ROOT/.build/nvidia/trixie/nvidia-smi
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$WORK"

# Packages every systemd node image gets. python3 is not in the list: bookworm must start without it.
BASE_PACKAGES=systemd,systemd-sysv,dbus,iproute2,procps,kmod
TRIXIE_PACKAGES=python3,containerd,runc,podman,crun,conmon,fuse-overlayfs,netavark,gcc,libc6-dev,make

inputs_hash() {
  # The image's build inputs: this script, the files copied into it, the probe source.
  local image=$1
  {
    echo "$image $MIRROR"
    sha256sum "$ROOT/images/build.sh"
    case $image in
      gpumock/trixie-systemd) find "$ROOT/images/files/trixie-systemd" -type f -print0 | sort -z | xargs -0 sha256sum ;;
      gpumock/tiny-nvml-probe) sha256sum "$ROOT/images/nvml-probe/nvml_probe.c" /bin/busybox ;;
      gpumock/gpu-probe) sha256sum "$ROOT/images/nvml-probe/nvml_probe.c" /bin/busybox "$NVIDIA_SMI" ;;
      "$DEVICE_PLUGIN_IMAGE"|"$NODE_FEATURE_DISCOVERY_IMAGE")
        go_tools_of "$image" | sed "s|^|$CONFORMANCE_BIN/|" | xargs sha256sum | cut -d' ' -f1 ;;
    esac
  } | sed "s|$ROOT/||" | sha256sum | cut -c1-16
}

is_current() {
  local image=$1 want=$2 have
  have=$(docker image inspect "$image" --format '{{ index .Config.Labels "gpumock.build-inputs" }}' 2>/dev/null) || return 1
  [ "$have" = "$want" ] && [ -z "${IMAGE_REBUILD:-}" ]
}

debootstrap_rootfs() {
  # debootstrap_rootfs SUITE DIR PACKAGES
  local suite=$1 dir=$2 packages=$3
  rm -rf "$dir"
  mkdir -p "$WORK/debcache/$suite"
  debootstrap --variant=minbase --cache-dir="$WORK/debcache/$suite" --include="$packages" \
    "$suite" "$dir" "$MIRROR" >"$dir.log" 2>&1 || { tail -n 30 "$dir.log" >&2; return 1; }
  # Empty machine-id: systemd generates one at first boot, so two nodes never share it.
  : >"$dir/etc/machine-id"
  # A container cannot load kernel modules; containerd ships a modules-load.d entry that would
  # otherwise leave systemd "degraded". A privileged container sees the host's /dev/tty1, where
  # a getty fails: masked as in kind's node image.
  local unit
  for unit in systemd-modules-load.service getty@tty1.service console-getty.service; do
    ln -sf /dev/null "$dir/etc/systemd/system/$unit"
  done
}

import_rootfs() {
  # import_rootfs DIR IMAGE HASH CMD
  local dir=$1 image=$2 hash=$3 cmd=$4
  tar -C "$dir" -c . | docker import \
    --change "CMD $cmd" \
    --change 'ENV container=docker' \
    --change "LABEL gpumock.build-inputs=$hash" \
    - "$image" >/dev/null
}

build_bookworm() {
  local image=$1 hash=$2 dir=$WORK/rootfs-bookworm
  debootstrap_rootfs bookworm "$dir" "$BASE_PACKAGES"
  # Preseed python3 in the apt cache without installing it: the role's bootstrap installs it
  # from there with no network, as an air-gapped image would have to.
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  chroot "$dir" apt-get install --download-only -y -q --no-install-recommends python3 >>"$dir.log" 2>&1 \
    || { tail -n 30 "$dir.log" >&2; return 1; }
  : >"$dir/etc/resolv.conf"
  if chroot "$dir" sh -c 'command -v python3' >/dev/null; then
    echo "images: python3 must not be installed in $image" >&2
    return 1
  fi
  ls "$dir"/var/cache/apt/archives/python3_*.deb >/dev/null
  import_rootfs "$dir" "$image" "$hash" '["/sbin/init"]'
}

build_trixie() {
  local image=$1 hash=$2 dir=$WORK/rootfs-trixie
  debootstrap_rootfs trixie "$dir" "$BASE_PACKAGES,$TRIXIE_PACKAGES"
  cp -a "$ROOT/images/files/trixie-systemd/." "$dir/"
  rm -f "$dir"/var/cache/apt/archives/*.deb
  import_rootfs "$dir" "$image" "$hash" '["/sbin/init"]'
}

build_tiny() {
  local image=$1 hash=$2 dir=$WORK/rootfs-tiny
  rm -rf "$dir"
  mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,etc,tmp,lib64,lib/x86_64-linux-gnu}
  cp /bin/busybox "$dir/bin/busybox"
  chroot "$dir" /bin/busybox --install -s
  # The probe is built against this host's glibc, so that glibc goes with it.
  gcc -std=c11 -Wall -Wextra -Werror -O2 -o "$dir/usr/bin/nvml-probe" "$ROOT/images/nvml-probe/nvml_probe.c"
  cp -L /lib64/ld-linux-x86-64.so.2 "$dir/lib64/"
  cp -L /lib/x86_64-linux-gnu/libc.so.6 "$dir/lib/x86_64-linux-gnu/"
  import_rootfs "$dir" "$image" "$hash" '["/bin/sh"]'
}

# copy_with_libs BINARY ROOT DEST: the binary at ROOT/DEST and every shared library it links,
# at the same paths as on this host (where it was built).
copy_with_libs() {
  local binary=$1 root=$2 dest=$3 lib
  install -D -m 0755 "$binary" "$root/$dest"
  for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
    install -D -m 0755 "$(readlink -f "$lib")" "$root/$lib"
  done
}

build_gpu_probe() {
  local image=$1 hash=$2 dir=$WORK/rootfs-gpu-probe
  [ -x "$NVIDIA_SMI" ] || { echo "images: $NVIDIA_SMI is missing (scripts/install-deps.sh nvidia-debs)" >&2; return 1; }
  rm -rf "$dir"
  mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,etc,tmp}
  cp /bin/busybox "$dir/bin/busybox"
  chroot "$dir" /bin/busybox --install -s
  gcc -std=c11 -Wall -Wextra -Werror -O2 -o "$WORK/nvml-probe" "$ROOT/images/nvml-probe/nvml_probe.c"
  copy_with_libs "$WORK/nvml-probe" "$dir" usr/bin/nvml-probe
  # /usr/local/bin: NVIDIA's CDI specs mount the driver's own nvidia-smi at /usr/bin.
  copy_with_libs "$NVIDIA_SMI" "$dir" usr/local/bin/nvidia-smi
  import_rootfs "$dir" "$image" "$hash" '["/bin/sh"]'
}

# go_tools_of IMAGE: the Go programs (scripts/deps/install.d/conformance.sh) an image carries;
# the first is its command.
go_tools_of() {
  case $1 in
    "$DEVICE_PLUGIN_IMAGE") printf '%s\n' nvidia-device-plugin gpu-feature-discovery ;;
    "$NODE_FEATURE_DISCOVERY_IMAGE") printf '%s\n' nfd-worker nfd-master ;;
  esac
}

build_go_tools() {
  local image=$1 hash=$2 dir=$WORK/rootfs-go-tools tool tools
  mapfile -t tools < <(go_tools_of "$image")
  rm -rf "$dir"
  mkdir -p "$dir"/{etc,tmp} && chmod 1777 "$dir/tmp"
  echo 'root:x:0:0:root:/root:/sbin/nologin' >"$dir/etc/passwd"
  for tool in "${tools[@]}"; do
    [ -x "$CONFORMANCE_BIN/$tool" ] || { echo "images: $CONFORMANCE_BIN/$tool is missing (make conformance-tools)" >&2; return 1; }
    copy_with_libs "$CONFORMANCE_BIN/$tool" "$dir" "usr/bin/$tool"
  done
  import_rootfs "$dir" "$image" "$hash" "[\"/usr/bin/${tools[0]}\"]"
}

build_one() {
  local image=$1 hash start
  hash=$(inputs_hash "$image")
  if is_current "$image" "$hash"; then
    echo "images: $image is current ($hash)"
    return 0
  fi
  start=$SECONDS
  case $image in
    gpumock/bookworm-systemd) build_bookworm "$image" "$hash" ;;
    gpumock/trixie-systemd) build_trixie "$image" "$hash" ;;
    gpumock/tiny-nvml-probe) build_tiny "$image" "$hash" ;;
    gpumock/gpu-probe) build_gpu_probe "$image" "$hash" ;;
    "$DEVICE_PLUGIN_IMAGE"|"$NODE_FEATURE_DISCOVERY_IMAGE") build_go_tools "$image" "$hash" ;;
    *) echo "images: unknown image '$image' (bookworm-systemd, trixie-systemd, tiny-nvml-probe, gpu-probe, k8s-device-plugin, node-feature-discovery)" >&2; return 2 ;;
  esac
  echo "images: built $image ($hash) in $((SECONDS - start))s, $(docker image inspect "$image" --format '{{.Size}}' | numfmt --to=si)B"
}

[ $# -gt 0 ] || set -- all
for arg in "$@"; do
  case $arg in
    all) for i in bookworm-systemd trixie-systemd tiny-nvml-probe; do build_one "gpumock/$i"; done ;;
    k8s-device-plugin) build_one "$DEVICE_PLUGIN_IMAGE" ;;
    node-feature-discovery) build_one "$NODE_FEATURE_DISCOVERY_IMAGE" ;;
    gpumock/*) build_one "$arg" ;;
    *) build_one "gpumock/$arg" ;;
  esac
done
