#!/usr/bin/env bash
# Lets this x86_64 machine run the programs of an arm64 root filesystem inside `chroot`: registers
# Debian's static qemu-aarch64-static (qemu-user-static) as the binfmt_misc interpreter of aarch64
# ELF files. tests/integration/test_arm64_chroot.py needs it: the role provisions an arm64 rootfs
# through the community.general.chroot connection, which runs the rootfs's own /bin/sh, uname,
# python3 and ldconfig there, as when an arm64 image is baked on an x86_64 machine.
#
# This is a KERNEL-WIDE registration: binfmt_misc entries belong to the kernel, not to this
# container or checkout, so from now on every aarch64 program exec'd on this machine (in any
# container) runs under this qemu, until the entry is removed
# (`echo -1 > /proc/sys/fs/binfmt_misc/qemu-aarch64`) or the machine reboots. Hence: nothing is
# registered when an aarch64 entry exists already, and no other entry is ever changed or removed.
# Flag F (fix binary): the kernel opens the interpreter now, so it runs inside a chroot that has
# no qemu; and it is the static build, since the chroot has no x86_64 loader or libc either.
# usage: arm64-binfmt.sh         mount binfmt_misc if needed, register unless an aarch64 entry exists
#        arm64-binfmt.sh check   only say whether an aarch64 entry with F is there (exit 0) or not (1)
# ARM64_BINFMT_DIR replaces /proc/sys/fs/binfmt_misc (tests/integration/test_arm64_binfmt_script.py).
set -euo pipefail
BINFMT=${ARM64_BINFMT_DIR:-/proc/sys/fs/binfmt_misc}
QEMU=/usr/bin/qemu-aarch64-static
NAME=qemu-aarch64
# An ELF file for aarch64: e_ident class 64-bit (02), little-endian (01), version 1 (01), any
# OS ABI (masked), e_type EXEC or DYN (02/03: mask fe), e_machine EM_AARCH64 (183 = b7 00).
MAGIC='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'

# The registered entry that matches aarch64 ELF files, by its magic (whatever its name): prints
# "<name> <enabled|disabled> <flags>", or nothing.
aarch64_entry() {
  local entry magic
  for entry in "$BINFMT"/*; do
    case ${entry##*/} in register | status) continue ;; esac
    [ -f "$entry" ] || continue
    magic=$(sed -n 's/^magic //p' "$entry")
    # Bytes 0-4 and 18-19 of the magic (hex): "\x7fELF", 64-bit, and e_machine 183.
    if [ "${magic:0:10}" = 7f454c4602 ] && [ "${magic:36:4}" = b700 ]; then
      echo "${entry##*/} $(head -n1 "$entry") $(sed -n 's/^flags: *//p' "$entry")"
      return
    fi
  done
}

# Exit 0 when the entry ($1: aarch64_entry's line) serves a chroot, else say why and exit 1.
usable() {
  local name state flags
  read -r name state flags <<< "$1"
  if [ "$(cat "$BINFMT/status")" != enabled ]; then
    echo "arm64-binfmt: binfmt_misc is disabled on this machine ($BINFMT/status); not changed" >&2
    return 1
  fi
  if [ "$state" != enabled ] || [[ $flags != *F* ]]; then
    echo "arm64-binfmt: the aarch64 entry $BINFMT/$name is $state with flags '$flags'; a chroot needs it enabled with F; not changed" >&2
    return 1
  fi
}

if [ ! -e "$BINFMT/register" ]; then
  if [ "${1:-}" = check ]; then
    echo "arm64-binfmt: binfmt_misc is not mounted at $BINFMT" >&2
    exit 1
  fi
  mount -t binfmt_misc binfmt_misc "$BINFMT"
  echo "arm64-binfmt: mounted binfmt_misc at $BINFMT"
fi

found=$(aarch64_entry)
if [ -n "$found" ]; then
  if [ "${1:-}" != check ]; then echo "arm64-binfmt: an aarch64 entry is registered already: $found"; fi
  usable "$found"
  exit
fi
if [ "${1:-}" = check ]; then
  echo "arm64-binfmt: no aarch64 entry in $BINFMT" >&2
  exit 1
fi
if [ ! -x "$QEMU" ]; then
  echo "arm64-binfmt: $QEMU is missing: install qemu-user-static (make deps)" >&2
  exit 1
fi
# The kernel reads the \x escapes of the magic and mask itself.
printf '%s' ":$NAME:M:0:$MAGIC:$MASK:$QEMU:F" > "$BINFMT/register"
echo "arm64-binfmt: registered $QEMU for aarch64 ELF files as $BINFMT/$NAME (flags F)"
found=$(aarch64_entry)
if [ -z "$found" ]; then
  echo "arm64-binfmt: the kernel shows no aarch64 entry after the registration" >&2
  exit 1
fi
usable "$found"
