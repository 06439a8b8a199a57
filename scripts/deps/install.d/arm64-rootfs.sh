#!/usr/bin/env bash
# An arm64 userland for the mock NVML's aarch64 build, run on this x86_64 machine under
# qemu-aarch64 user emulation (tests/nvml/test_arm64_userland.py): Debian bookworm's arm64
# python3 (with ctypes, for pynvml) and NVIDIA's arm64 nvidia-smi from bookworm non-free.
# The packages are fetched one by one (no dependencies: never the real libnvidia-ml) with a
# private apt configuration and unpacked with `dpkg -x`; nothing is installed and nothing needs
# binfmt: the test runs `qemu-aarch64 -L <rootfs> <rootfs>/usr/bin/python3.11`.
# Result: $GPUMOCK_CACHE/arm64-rootfs-<stamp>/ (outside the checkout; the stamp changes with the
# suite and the package list), with a `versions` file of what it holds.
# usage: arm64-rootfs.sh          fetch unless it is there (idempotent)
#        arm64-rootfs.sh path     print the directory (whether or not it is there)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
# shellcheck source=scripts/deps/versions.sh
. "$ROOT/scripts/deps/versions.sh"
SUITE=bookworm
MIRROR=${ARM64_ROOTFS_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# The dynamic loader and libc; python3.11 and the stdlib with ctypes (libffi8), the libraries its
# extension modules need at start; nvidia-smi.
PACKAGES=(libc6 python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libffi8 zlib1g libexpat1
          nvidia-smi)
STAMP=$(printf '%s\n' "$SUITE" "${PACKAGES[@]}" | sha256sum | cut -c1-12)
OUT=$GPUMOCK_CACHE/arm64-rootfs-$STAMP

if [ "${1:-}" = path ]; then
  echo "$OUT"
  exit 0
fi
if [ -s "$OUT/versions" ]; then
  exit 0
fi

echo "arm64-rootfs: fetching ${PACKAGES[*]} (arm64, $SUITE) into $OUT"
mkdir -p "$GPUMOCK_CACHE"
WORK=$(mktemp -d "$GPUMOCK_CACHE/.arm64-rootfs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
apt=$WORK/apt
mkdir -p "$apt/etc/apt.conf.d" "$apt/etc/preferences.d" "$apt/etc/sources.list.d" \
  "$apt/lists/partial" "$apt/cache/archives/partial" "$WORK/root"
echo "deb [signed-by=$KEYRING] $MIRROR $SUITE main non-free" > "$apt/etc/sources.list"
: > "$apt/status"
# Every path apt reads or writes points into $apt: the host's sources, state and architecture
# neither leak in nor change.
opts=(
  -o "Dir::Etc::SourceList=$apt/etc/sources.list"
  -o "Dir::Etc::SourceParts=$apt/etc/sources.list.d"
  -o "Dir::Etc::Parts=$apt/etc/apt.conf.d"
  -o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
  -o "Dir::State::Lists=$apt/lists"
  -o "Dir::State::status=$apt/status"
  -o "Dir::Cache=$apt/cache"
  -o "APT::Architecture=arm64"
  -o "APT::Architectures=arm64"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root"
)
for key in Acquire::http::Proxy Acquire::https::Proxy Acquire::Check-Valid-Until Acquire::Check-Date; do
  value=$(apt-config dump --no-empty "$key" | sed -n "s/^$key \"\(.*\)\";$/\1/p")
  if [ -n "$value" ]; then opts+=(-o "$key=$value"); fi
done
apt-get -qq "${opts[@]}" update
(cd "$apt/cache/archives" && apt-get -qq "${opts[@]}" download "${PACKAGES[@]}")
: > "$WORK/versions"
for pkg in "${PACKAGES[@]}"; do
  deb=$(ls "$apt/cache/archives/${pkg}"_*_arm64.deb)
  dpkg -x "$deb" "$WORK/root"
  echo "$pkg $(dpkg-deb -f "$deb" Version)" >> "$WORK/versions"
done
# Debian's arm64 nvidia-smi sits in the driver's private directory; the alternatives would link it.
if [ ! -x "$WORK/root/usr/lib/nvidia/current/nvidia-smi" ] || [ ! -x "$WORK/root/usr/bin/python3.11" ]; then
  echo "arm64-rootfs: the packages lack usr/lib/nvidia/current/nvidia-smi or usr/bin/python3.11" >&2
  exit 1
fi
mv "$WORK/versions" "$WORK/root/versions"
rm -rf "$OUT"
mv "$WORK/root" "$OUT"
echo "arm64-rootfs: ok"
