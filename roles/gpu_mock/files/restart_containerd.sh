#!/usr/bin/env bash
# Runs on the node after containerd's config changed (tasks/containerd_restart.yml), as one
# command: a converge that changed the config costs one visit for all of this.
# 1. Where systemd runs the node (/run/systemd/system, as sd_booted() checks; a root being baked
#    through chroot has none) restart containerd and wait up to CONTAINERD_TIMEOUT seconds until
#    it answers; then drop BACKUP, the config before the change. Where it does not come back, put
#    BACKUP back (or remove CONFIG when CREATED is true: there was none), restart containerd with
#    it and exit 1 with one sentence. Without systemd only BACKUP is dropped.
# 2. Then wait until this node's Kubernetes is healthy again: for SETTLE seconds without a break,
#    within TIMEOUT seconds, the kubelet's /healthz answers, each pod's newest sandbox is ready
#    with its containers running, and on a control-plane node the API server's /readyz answers.
#    Without a running kubelet it is done at once. Prints what it did; exits 1 naming the last
#    failing check.
set -uo pipefail
drop_backup() { if [ -n "$BACKUP" ]; then rm -f -- "$BACKUP"; fi; }
if [ ! -d /run/systemd/system ]; then
  drop_backup
  echo "containerd not restarted: systemd does not run this root"
  exit 0
fi
answered=false
if systemctl restart containerd; then
  for _ in $(seq "$CONTAINERD_TIMEOUT"); do
    if ctr version >/dev/null 2>&1; then answered=true; break; fi
    sleep 1
  done
fi
if ! $answered; then
  if [ -n "$BACKUP" ]; then
    cp -p -- "$BACKUP" "$CONFIG" && rm -f -- "$BACKUP"
  elif [ "$CREATED" = true ]; then
    rm -f -- "$CONFIG"
  fi
  systemctl restart containerd >/dev/null 2>&1
  echo "containerd did not answer within $CONTAINERD_TIMEOUT s after its config $CONFIG changed, so the previous config was put back." >&2
  exit 1
fi
drop_backup
echo "containerd restarted"

systemctl is-active --quiet kubelet || { echo "no kubelet"; exit 0; }
apiserver=false
if [ -f /etc/kubernetes/manifests/kube-apiserver.yaml ] && [ -f /etc/kubernetes/admin.conf ]; then
  apiserver=true
fi
# argv: crictl pods -o json, crictl ps -a -o json. Exit 0 when each pod's newest sandbox is
# ready and the newest attempt of each of its containers runs (or exited, as init containers do).
read -r -d '' PODS_SETTLED <<'PY' || true
import json, sys
newest = {}
for pod in json.loads(sys.argv[1])["items"]:
    uid = pod["metadata"]["uid"]
    if uid not in newest or int(pod["metadata"]["attempt"]) > int(newest[uid]["metadata"]["attempt"]):
        newest[uid] = pod
sandboxes = {pod["id"] for pod in newest.values()}
if any(pod["state"] != "SANDBOX_READY" for pod in newest.values()):
    sys.exit(1)
latest = {}
for c in json.loads(sys.argv[2])["containers"]:
    key = (c["podSandboxId"], c["metadata"]["name"])
    attempt = int(c["metadata"]["attempt"])
    if c["podSandboxId"] in sandboxes and (key not in latest or attempt > int(latest[key]["metadata"]["attempt"])):
        latest[key] = c
sys.exit(0 if all(c["state"] in ("CONTAINER_RUNNING", "CONTAINER_EXITED") for c in latest.values()) else 1)
PY

healthy() {
  curl -sf --max-time 3 http://127.0.0.1:10248/healthz >/dev/null || { why="kubelet /healthz"; return 1; }
  if $apiserver; then
    kubectl --kubeconfig /etc/kubernetes/admin.conf get --raw /readyz --request-timeout 3s >/dev/null 2>&1 \
      || { why="API server /readyz"; return 1; }
  fi
  # Each pod's newest sandbox ready, and the newest attempt of each of its containers
  # running (or exited, as init containers do): a pod the kubelet is re-making fails this.
  python3 -c "$PODS_SETTLED" "$(crictl pods -o json 2>/dev/null)" "$(crictl ps -a -o json 2>/dev/null)" \
    || { why="a pod is being re-made"; return 1; }
}
deadline=$((SECONDS + TIMEOUT)); stable_since=; why="not yet settled"
while [ "$SECONDS" -lt "$deadline" ]; do
  if healthy; then
    stable_since=${stable_since:-$SECONDS}
    if [ $((SECONDS - stable_since)) -ge "$SETTLE" ]; then
      echo "healthy for ${SETTLE} s after $((SECONDS - SETTLE)) s"
      exit 0
    fi
  else
    stable_since=
  fi
  sleep 1
done
echo "the node's Kubernetes was not healthy for ${SETTLE} s within ${TIMEOUT} s after containerd restarted (last: $why)" >&2
exit 1
