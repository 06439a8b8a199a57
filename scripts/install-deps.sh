#!/usr/bin/env bash
# Installs everything `make test` needs on a Debian bookworm host: Debian packages, the Python
# virtualenv (.venv) and Go tools. Idempotent: a second run only checks.
# usage: install-deps.sh [AREA...]   (AREA: a script name in scripts/deps/install.d; default all)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

mapfile -t pkgs < <(awk '{ sub(/#.*/, ""); if (NF) print $1 }' scripts/deps/apt.txt)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=.venv/.requirements.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "install-deps: python venv from requirements-dev.txt"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# Per-area installs: all of them, or only those named on the command line (make demo needs
# just nvidia-debs, not the Go builds of the conformance tools).
for f in scripts/deps/install.d/*.sh; do
  [ -e "$f" ] || continue
  if [ $# -gt 0 ]; then
    name=$(basename "$f" .sh)
    case " $* " in *" $name "*) ;; *) continue ;; esac
  fi
  bash "$f"
done
echo "install-deps: ok"
