#!/usr/bin/env bash
# The project's own Docker engine: a dockerd and its containerd on sockets of their own, started
# and stopped by PID. Every image build, molecule scenario, bake test and kind cluster of this
# project uses it through DOCKER_HOST (the Makefile exports it; `scripts/dockerd.sh host`
# prints it). Any other engine on the machine, on any other socket, is neither waited for nor touched.
#
#   scripts/dockerd.sh [start]   start it unless its socket answers (idempotent)
#   scripts/dockerd.sh stop      stop it (dockerd, then containerd), by the PIDs it recorded
#   scripts/dockerd.sh host      print the engine's DOCKER_HOST value (unix://...)
#
# Engine: Debian's docker.io (dockerd 20.10, containerd 1.6+, runc). Its settings and why:
# - default runtime runc-capfix (scripts/docker/runc-capfix.py): `--privileged` (kind's nodes,
#   and every `docker exec` into them) works where CAP_SYS_RESOURCE is outside the bounding set;
# - no default bridge, no iptables rules: containers either have no network or a user-defined
#   bridge network of their own (kind's), and nothing is NATed to the outside;
# - its containerd runs without the CRI plugin, on its own socket, with its own state.
# Images and containers persist under $GPUMOCK_CACHE/docker (outside the checkout, so a fresh
# clone reuses them); sockets and PID files live under /run/gpumock-docker.
#
# Environment: DOCKERD_LOG (default .build/dockerd.log), DOCKERD_TIMEOUT (seconds, default 60).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/deps/versions.sh
. "$ROOT/scripts/deps/versions.sh"
RUN=${GPUMOCK_DOCKER_RUN:-/run/gpumock-docker}
DATA=$GPUMOCK_CACHE/docker-engine
SOCK=$RUN/docker.sock
LOG=${DOCKERD_LOG:-$ROOT/.build/dockerd.log}
TIMEOUT=${DOCKERD_TIMEOUT:-60}
export DOCKER_HOST=unix://$SOCK

answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
containerd_answers() { ctr --address "$RUN/containerd.sock" version >/dev/null 2>&1; }

# alive PIDFILE PROGRAM: the recorded process exists and is that program (a reused PID is not).
alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(command -v "$2")" ]
}

stop_pid() {  # stop_pid PIDFILE PROGRAM SECONDS
  local pid i
  alive "$1" "$2" || { rm -f "$1"; return 0; }
  pid=$(cat "$1")
  kill "$pid"
  for ((i = 0; i < $3 * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$1"; return 0; }
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$1"
}

write_configs() {
  mkdir -p "$RUN" "$DATA" "$(dirname "$LOG")"
  # dockerd wants a runtime path; the stub runs the engine's own copy of the wrapper with the
  # system's python3 (not whatever python3 the caller's PATH finds first, such as a project venv
  # that a rebuild may remove while the engine runs). A copy, because the engine outlives the
  # checkout that started it: a CI clone removed afterwards must not take every container start
  # with it. -I -S: it needs only the standard library, and it starts for every container and
  # every docker exec.
  local python
  python=$(PATH=/usr/bin:/bin command -v python3) || { echo "dockerd: python3 is missing in /usr/bin" >&2; return 1; }
  cp "$ROOT/scripts/docker/runc-capfix.py" "$RUN/.runc-capfix.py.new"
  mv -f "$RUN/.runc-capfix.py.new" "$RUN/runc-capfix.py"
  printf '#!/bin/sh\nexec %s -I -S %s "$@"\n' "$python" "$RUN/runc-capfix.py" >"$RUN/.runc-capfix.new"
  chmod 0755 "$RUN/.runc-capfix.new"
  mv -f "$RUN/.runc-capfix.new" "$RUN/runc-capfix"
  cat >"$RUN/containerd.toml" <<EOF
version = 2
root = "$DATA/containerd"
state = "$RUN/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$RUN/containerd.sock"
[ttrpc]
  address = "$RUN/containerd.sock.ttrpc"
[debug]
  address = "$RUN/containerd-debug.sock"
[metrics]
  address = ""
EOF
  python3 - "$RUN/daemon.json" <<EOF
import json, sys
json.dump({
    "data-root": "$DATA/docker",
    "exec-root": "$RUN/exec",
    "pidfile": "$RUN/dockerd.pid",
    "hosts": ["unix://$SOCK"],
    "containerd": "$RUN/containerd.sock",
    "bridge": "none",
    "iptables": False,
    "ip6tables": False,
    "runtimes": {"runc-capfix": {"path": "$RUN/runc-capfix"}},
    "default-runtime": "runc-capfix",
    "storage-driver": "overlay2",
}, open(sys.argv[1], "w"), indent=2)
EOF
}

wait_for() {  # wait_for WHAT COMMAND...
  local deadline=$((SECONDS + TIMEOUT))
  until "${@:2}"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "dockerd: $1 did not answer within ${TIMEOUT}s; last log lines:" >&2
      tail -n 20 "$LOG" >&2 || true
      exit 1
    fi
    sleep 0.3
  done
}

start() {
  if answers; then
    echo "dockerd: answering on $SOCK"
    return 0
  fi
  for tool in dockerd containerd runc; do
    PATH=$PATH:/usr/sbin command -v "$tool" >/dev/null \
      || { echo "dockerd: $tool is not installed; install Debian's docker.io (make deps)" >&2; exit 1; }
  done
  mkdir -p "$RUN"
  # Two callers at once (parallel make) start one engine: the second waits under the lock.
  exec 9>"$RUN/start.lock"
  flock 9
  answers && return 0
  write_configs
  # kind mounts /lib/modules read-only into every node.
  mkdir -p /lib/modules
  if ! alive "$RUN/containerd.pid" containerd; then
    # Sockets left by an engine that was killed (a machine's session ended) answer nobody.
    rm -f "$RUN"/containerd.sock* "$RUN/containerd-debug.sock"
    echo "dockerd: starting containerd (log: $LOG)"
    setsid containerd --config "$RUN/containerd.toml" >>"$LOG" 2>&1 </dev/null &
    echo $! >"$RUN/containerd.pid"
    wait_for containerd containerd_answers
  fi
  if ! alive "$RUN/dockerd.pid" dockerd; then
    echo "dockerd: starting dockerd on $SOCK (log: $LOG)"
    setsid dockerd --config-file "$RUN/daemon.json" >>"$LOG" 2>&1 </dev/null &
  fi
  wait_for dockerd answers
  echo "dockerd: answering on $SOCK ($(docker version --format '{{.Server.Version}}'))"
}

stop() {
  stop_pid "$RUN/dockerd.pid" dockerd 30
  stop_pid "$RUN/containerd.pid" containerd 15
  echo "dockerd: stopped"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  host) echo "$DOCKER_HOST" ;;
  *) echo "usage: $0 [start|stop|host]" >&2; exit 2 ;;
esac
