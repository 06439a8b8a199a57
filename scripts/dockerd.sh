#!/usr/bin/env bash
# Starts the Docker engine the molecule scenarios, image builds and the bake test use, if it is
# not answering already. Idempotent: when `docker info` answers, nothing is started.
#
# The engine is Debian's docker.io (20.10). It runs without a bridge and without iptables rules
# because the test containers use `network_mode: none` and Ansible reaches them by `docker exec`;
# the machines this runs on must not send traffic to private address ranges.
#
# Environment:
#   DOCKERD_LOG      log file of the engine (default: .build/dockerd.log under the repository)
#   DOCKERD_TIMEOUT  seconds to wait for `docker info` (default: 60)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOG=${DOCKERD_LOG:-$ROOT/.build/dockerd.log}
TIMEOUT=${DOCKERD_TIMEOUT:-60}

if docker info >/dev/null 2>&1; then
  echo "dockerd: already answering"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "dockerd: not installed; install the Debian package docker.io (make deps)" >&2
  exit 1
fi

# Another caller may be starting the engine right now (parallel make, another area's target):
# take a lock so only one dockerd is launched, then re-check under the lock.
mkdir -p "$(dirname "$LOG")"
exec 9>/run/gpumock-dockerd.lock
flock 9
if ! docker info >/dev/null 2>&1; then
  if pgrep -x dockerd >/dev/null 2>&1; then
    echo "dockerd: a dockerd process exists but does not answer yet; waiting for it"
  else
    echo "dockerd: starting (log: $LOG)"
    setsid dockerd --bridge=none --iptables=false >>"$LOG" 2>&1 </dev/null &
  fi
fi

deadline=$((SECONDS + TIMEOUT))
until docker info >/dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "dockerd: no answer from 'docker info' after ${TIMEOUT}s; last log lines:" >&2
    tail -n 20 "$LOG" >&2 || true
    exit 1
  fi
  sleep 0.5
done
echo "dockerd: answering ($(docker version --format '{{.Server.Version}}'))"
