# shellcheck shell=bash
# Sourced by the scripts that fetch Debian packages without installing them (install.d/
# nvidia-debs.sh, install.d/arm64-rootfs.sh).
# private_apt DIR ARCH SOURCES-LINE: makes DIR an apt configuration, state and cache of its own
# for ARCH (amd64, arm64) with SOURCES-LINE as its only source, and sets APT_OPTS, the options
# that point every path apt reads or writes into DIR: the host's sources, installed-package
# state, extra index targets, update hooks and architecture neither leak in nor change. Network
# and date policy still come from the host (a proxy, a clock behind the archive).
private_apt() {
  local dir=$1 arch=$2 source=$3 key value
  mkdir -p "$dir/etc/apt.conf.d" "$dir/etc/preferences.d" "$dir/etc/sources.list.d" \
    "$dir/lists/partial" "$dir/cache/archives/partial"
  echo "$source" > "$dir/etc/sources.list"
  : > "$dir/status"
  APT_OPTS=(
    -o "Dir::Etc::SourceList=$dir/etc/sources.list"
    -o "Dir::Etc::SourceParts=$dir/etc/sources.list.d"
    -o "Dir::Etc::Parts=$dir/etc/apt.conf.d"
    -o "Dir::Etc::PreferencesParts=$dir/etc/preferences.d"
    -o "Dir::State::Lists=$dir/lists"
    -o "Dir::State::status=$dir/status"
    -o "Dir::Cache=$dir/cache"
    -o "APT::Architecture=$arch"
    -o "APT::Architectures=$arch"
    -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=root"
  )
  for key in Acquire::http::Proxy Acquire::https::Proxy Acquire::Check-Valid-Until Acquire::Check-Date; do
    value=$(apt-config dump --no-empty "$key" | sed -n "s/^$key \"\(.*\)\";$/\1/p")
    if [ -n "$value" ]; then APT_OPTS+=(-o "$key=$value"); fi
  done
}
