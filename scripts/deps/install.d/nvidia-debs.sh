#!/usr/bin/env bash
# Fetches NVIDIA's real nvidia-smi and nvml.h from Debian non-free, for testing the mock NVML:
#   bookworm: nvidia-smi 535.x + libnvidia-ml-dev 11.8 (nvml.h)
#   trixie:   nvidia-smi 550.x + libnvidia-ml-dev 12.4 (nvml.h)
# The packages are unpacked with `dpkg -x` into .build/nvidia/<suite>/root and never installed:
# the real libnvidia-ml.so.1 must not be on this machine, so nvidia-smi can only load the mock.
# The host's apt sources stay untouched (they carry only bookworm main); a private apt
# configuration per suite lives under .build/nvidia/apt/<suite>.
# Result, per suite:
#   .build/nvidia/<suite>/nvidia-smi   -> root/usr/lib/nvidia/current/nvidia-smi
#   .build/nvidia/<suite>/nvml.h       -> root/usr/include/nvml.h
#   .build/nvidia/<suite>/versions     "package version" lines of what was unpacked
# Idempotent: a suite whose versions file exists is not fetched again (delete it to refresh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BASE=${NVIDIA_DEBS_DIR:-$ROOT/.build/nvidia}
MIRROR=${NVIDIA_DEBS_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# shellcheck source=scripts/deps/private-apt.sh
. "$ROOT/scripts/deps/private-apt.sh"
PACKAGES=(nvidia-smi libnvidia-ml-dev)

fetch_suite() {
  local suite=$1 want_smi_major=$2
  local out=$BASE/$suite apt=$BASE/apt/$suite
  if [ -s "$out/versions" ] && [ -x "$out/nvidia-smi" ] && [ -f "$out/nvml.h" ]; then
    return 0
  fi
  echo "nvidia-debs: fetching ${PACKAGES[*]} from $suite non-free"
  rm -rf "$apt" "$out"
  mkdir -p "$out/root"
  private_apt "$apt" amd64 "deb [signed-by=$KEYRING] $MIRROR $suite non-free"
  apt-get -qq "${APT_OPTS[@]}" update
  local pkg deb ver
  (
    cd "$apt/cache/archives"
    apt-get -qq "${APT_OPTS[@]}" download "${PACKAGES[@]}"
  )
  : > "$out/versions.tmp"
  for pkg in "${PACKAGES[@]}"; do
    deb=$(ls "$apt/cache/archives/${pkg}"_*_amd64.deb)
    dpkg -x "$deb" "$out/root"
    ver=$(dpkg-deb -f "$deb" Version)
    echo "$pkg $ver" >> "$out/versions.tmp"
  done
  case "$(awk '$1=="nvidia-smi"{print $2}' "$out/versions.tmp")" in
    "$want_smi_major".*) ;;
    *) echo "nvidia-debs: $suite non-free no longer carries nvidia-smi $want_smi_major" >&2; exit 1 ;;
  esac
  ln -sfn root/usr/lib/nvidia/current/nvidia-smi "$out/nvidia-smi"
  ln -sfn root/usr/include/nvml.h "$out/nvml.h"
  if [ ! -x "$out/nvidia-smi" ] || [ ! -f "$out/nvml.h" ]; then
    echo "nvidia-debs: $suite packages lack nvidia-smi or nvml.h where expected" >&2
    exit 1
  fi
  mv "$out/versions.tmp" "$out/versions"
}

fetch_suite bookworm 535
fetch_suite trixie 550
