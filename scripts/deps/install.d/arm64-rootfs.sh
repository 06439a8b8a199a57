#!/usr/bin/env bash
# An arm64 userland for the mock NVML's aarch64 build, run on this x86_64 machine under
# qemu-aarch64 user emulation: Debian bookworm's arm64 python3 (with ctypes, for pynvml) and
# NVIDIA's arm64 nvidia-smi from bookworm non-free, and what makes it a node the role can provision
# through the community.general.chroot connection: /bin/sh (dash), coreutils (the connection's and
# Ansible's shell commands, the role's `uname -m`), python3 for the modules, ldconfig (libc-bin).
# The packages are fetched one by one (no dependencies: never the real libnvidia-ml) with a
# private apt configuration and unpacked with `dpkg -x`; nothing is installed and no maintainer
# script runs (the few directories and files those would make are made here).
# tests/nvml/test_arm64_userland.py runs `qemu-aarch64 -L <rootfs> <rootfs>/usr/bin/python3.11`
# (no binfmt); tests/integration/test_arm64_chroot.py provisions a copy of it with
# playbooks/local.yml through chroot, which needs the aarch64 binfmt entry of arm64-binfmt.sh.
# Result: $GPUMOCK_CACHE/arm64-rootfs-<stamp>/ (outside the checkout; the stamp changes with the
# suite and the package list), with a `versions` file of what it holds. Users of it copy it first.
# usage: arm64-rootfs.sh          fetch unless it is there (idempotent)
#        arm64-rootfs.sh path     print the directory (whether or not it is there)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
# shellcheck source=scripts/deps/versions.sh
. "$ROOT/scripts/deps/versions.sh"
# shellcheck source=scripts/deps/private-apt.sh
. "$ROOT/scripts/deps/private-apt.sh"
SUITE=bookworm
MIRROR=${ARM64_ROOTFS_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# The dynamic loader and libc; python3.11 and the stdlib with ctypes (libffi8), the libraries its
# extension modules need at start; nvidia-smi. For a chroot node: dash, coreutils and the libraries
# it links, /usr/bin/python3 (python3-minimal), ldconfig (libc-bin); base-passwd's root user and
# group (Python's pwd and grp answer from them).
PACKAGES=(libc6 python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libffi8 zlib1g libexpat1
          nvidia-smi
          dash coreutils libacl1 libattr1 libgmp10 libselinux1 libpcre2-8-0 libssl3 python3-minimal libc-bin
          base-passwd)
# What this script makes besides the packages (below): a new value makes a new directory.
LAYOUT=chroot-1
STAMP=$(printf '%s\n' "$SUITE" "${PACKAGES[@]}" "$LAYOUT" | sha256sum | cut -c1-12)
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
mkdir -p "$WORK/root"
private_apt "$apt" arm64 "deb [signed-by=$KEYRING] $MIRROR $SUITE main non-free"
apt-get -qq "${APT_OPTS[@]}" update
(cd "$apt/cache/archives" && apt-get -qq "${APT_OPTS[@]}" download "${PACKAGES[@]}")
: > "$WORK/versions"
for pkg in "${PACKAGES[@]}"; do
  deb=$(ls "$apt/cache/archives/${pkg}"_*_arm64.deb)
  dpkg -x "$deb" "$WORK/root"
  echo "$pkg $(dpkg-deb -f "$deb" Version)" >> "$WORK/versions"
done
# What maintainer scripts would have made: /bin/sh (dash's postinst; the chroot connection runs
# it), /etc/passwd and /etc/group (base-passwd's), /tmp, /root and /dev/null (debootstrap's;
# without it the shell's `>/dev/null` would leave a plain file there).
r=$WORK/root
[ -e "$r/bin/sh" ] || ln -s dash "$r/bin/sh"
[ -e "$r/etc/passwd" ] || cp "$r/usr/share/base-passwd/passwd.master" "$r/etc/passwd"
[ -e "$r/etc/group" ] || cp "$r/usr/share/base-passwd/group.master" "$r/etc/group"
install -d -m 1777 "$r/tmp"
install -d -m 0700 "$r/root"
install -d -m 0755 "$r/dev"
mknod -m 666 "$r/dev/null" c 1 3 || echo "arm64-rootfs: no dev/null (mknod not permitted); a chroot there lacks it"
# Debian's arm64 nvidia-smi sits in the driver's private directory; the alternatives would link it.
for f in usr/lib/nvidia/current/nvidia-smi usr/bin/python3.11 usr/bin/python3 bin/sh bin/uname sbin/ldconfig; do
  if [ ! -x "$r/$f" ]; then
    echo "arm64-rootfs: the root filesystem lacks $f" >&2
    exit 1
  fi
done
mv "$WORK/versions" "$WORK/root/versions"
rm -rf "$OUT"
mv "$WORK/root" "$OUT"
echo "arm64-rootfs: ok"
