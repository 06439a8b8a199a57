"""NVIDIA's device plugin run against a mock node, driven by the suite's test kubelet.

The test kubelet (tests/conformance/testkubelet, built into $CONFORMANCE_BIN by
`make conformance-tools`) serves the kubelet's Registration service on DIR/kubelet.sock, dials
every plugin that registers, and prints what it sees as JSON lines (see its main.go).

Where the plugin looks (k8s-device-plugin v0.19.0):

- its own socket is always /var/lib/kubelet/device-plugins/nvidia-<resource>.sock
  (internal/plugin/server.go, no flag); only the kubelet's socket has a flag (--kubelet-socket);
- with a CDI device-list strategy it writes its CDI spec to /var/run/cdi (internal/cdi/cdi.go);
- MIG devices come from /proc/driver/nvidia-caps/mig-minors (internal/mig/mig.go), the
  kernel's file, never from the driver root;
- each GPU's NUMA node comes from /sys/bus/pci/devices/<bus id>/numa_node.

So the plugin runs in a private mount namespace (`unshare --mount`, private propagation) where
/var/lib and /run are overlays whose writes land in a tmpfs, the test's own directories are
bound over /var/lib/kubelet/device-plugins and /run/cdi, the node's R/proc/driver over
/proc/driver (as the kernel shows a real node's), and a directory with the node's PCI
`numa_node` files over /sys/bus/pci/devices (which also hides the host's own devices). Nothing
of the host's /var/lib/kubelet, /run or /proc is touched; everything goes when the plugin exits.
The test kubelet runs outside the namespace on the same directory.
"""
import json
import os
import queue
import signal
import subprocess
import threading
import time

import pytest

from mocknodes import tool

RESOURCE_GPU = "nvidia.com/gpu"
# The XIDs v0.19.0 always ignores as application errors (internal/rm/health.go, ignoredXids).
IGNORED_XIDS = (13, 31, 43, 45, 68, 109)
# The vendor the plugin names its CDI devices with (cmd/nvidia-device-plugin/plugin-manager.go).
CDI_VENDOR = "k8s.device-plugin.nvidia.com"
START_TIMEOUT = 60   # plugin start to the first ListAndWatch update, on a loaded 2-core machine
WAIT_TIMEOUT = 30    # any later answer or update
STOP_TIMEOUT = 10
# The test kubelet's own limit: past it, it exits even if this process has died.
KUBELET_TIMEOUT = "1800s"

# Run by `unshare --mount -- sh -c NAMESPACE_SCRIPT sh SCRATCH KUBELET_DIR CDI_DIR PROC_DRIVER PCI CMD...`.
NAMESPACE_SCRIPT = r'''
set -eu
scratch=$1 kubelet_dir=$2 cdi_dir=$3 proc_driver=$4 pci=$5
shift 5
mount -t tmpfs -o mode=0700 gpumock-device-plugin "$scratch"
for dir in /var/lib /run; do
    name=$(echo "$dir" | tr / _)
    mkdir "$scratch/upper$name" "$scratch/work$name"
    mount -t overlay gpumock-device-plugin \
        -o "lowerdir=$dir,upperdir=$scratch/upper$name,workdir=$scratch/work$name" "$dir"
done
mkdir -p /var/lib/kubelet/device-plugins /run/cdi
mount --bind "$kubelet_dir" /var/lib/kubelet/device-plugins
mount --bind "$cdi_dir" /run/cdi
mount --bind "$proc_driver" /proc/driver
mount --bind "$pci" /sys/bus/pci/devices
exec "$@"
'''


def namespace_argv(workdir, node, argv):
    """argv run in the plugin's private mount namespace, for node, with workdir's directories."""
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", NAMESPACE_SCRIPT, "sh",
            str(workdir / "scratch"), str(workdir / "kubelet"), str(workdir / "cdi"),
            os.path.join(node.root, "proc", "driver"), str(workdir / "pci")] + list(argv)


def prepare(workdir, node):
    """The directories namespace_argv binds: empty ones, and the PCI tree of the node's GPUs."""
    for name in ("scratch", "kubelet", "cdi", "pci"):
        (workdir / name).mkdir(parents=True)
    for gpu in node.node.gpus:
        # sysfs names a device by its 4-digit-domain bus id, in lower case.
        entry = workdir / "pci" / gpu.pci_bus_id[4:].lower()
        entry.mkdir()
        (entry / "numa_node").write_text("%d\n" % gpu.numa_node)


def strategy_flags(node, device_list_strategy="envvar", mig_strategy="none"):
    """The plugin's flags for node, as a driver container would run it with the driver at R."""
    return ["--driver-root", node.root, "--driver-root-ctr-path", node.root, "--dev-root", node.root,
            "--device-list-strategy", device_list_strategy, "--mig-strategy", mig_strategy,
            "--fail-on-init-error=true", "--nvidia-cdi-hook-path", node.hook_path]


class DevicePluginRun:
    """One plugin process under one test kubelet; every wait is bounded and fails the test."""

    def __init__(self, node, workdir, flags):
        self.node = node
        self.workdir = workdir
        self.flags = list(flags)
        self.events = []
        self._lines = queue.Queue()
        self._kubelet = None
        self._plugin = None
        self._plugin_log = workdir / "plugin.log"

    def start(self):
        """Start the test kubelet, then the plugin (which registers at once, or retries only after 30 s)."""
        prepare(self.workdir, self.node)
        kubelet_dir = self.workdir / "kubelet"
        with open(self.workdir / "kubelet.stderr", "w") as err:
            self._kubelet = subprocess.Popen(
                [tool("testkubelet"), "--dir", str(kubelet_dir), "--timeout", KUBELET_TIMEOUT],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()
        self.wait(lambda e: e["event"] == "listening", "the test kubelet to listen")
        argv = [tool("nvidia-device-plugin"), "--kubelet-socket", str(kubelet_dir / "kubelet.sock")] + self.flags
        with open(self._plugin_log, "w") as log:
            self._plugin = subprocess.Popen(namespace_argv(self.workdir, self.node, argv), env=self.node.env(),
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        return self

    def _read(self):
        for line in self._kubelet.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def plugin_log(self):
        return self._plugin_log.read_text(errors="replace") if self._plugin_log.exists() else ""

    def plugin_error(self):
        """What the plugin reported on its way out: its klog error lines."""
        return "\n".join(line for line in self.plugin_log().splitlines() if line.startswith(("E", "F")))

    def _fail(self, why):
        pytest.fail("%s\n--- device plugin log (last lines)\n%s" % (why, self.plugin_log()[-4000:]), pytrace=False)

    def wait(self, predicate, what, timeout=WAIT_TIMEOUT, start=0):
        """The first event from index start on that satisfies predicate; the test fails past timeout,
        when the plugin exits, or when the test kubelet does."""
        event = self.poll(predicate, what, timeout, start)
        if event is None:
            self._fail("no %s within %d s" % (what, timeout))
        return event

    def poll(self, predicate, what, timeout, start=0):
        """As wait, but None past timeout."""
        deadline = time.monotonic() + timeout
        index = start
        while True:
            while index < len(self.events):
                if predicate(self.events[index]):
                    return self.events[index]
                index += 1
            if self._plugin is not None and self._plugin.poll() is not None:
                self._fail("the device plugin exited with status %d while waiting for %s:\n%s"
                           % (self._plugin.returncode, what, self.plugin_error()))
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self._lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line is None:
                self._fail("the test kubelet exited (status %s) while waiting for %s"
                           % (self._kubelet.wait(), what))
            self.events.append(json.loads(line))

    def devices(self, resource=RESOURCE_GPU, timeout=START_TIMEOUT, start=0):
        """The devices of resource's first ListAndWatch update from event index start on."""
        return self.wait(lambda e: e["event"] == "devices" and e["resource"] == resource,
                         "ListAndWatch update of %s" % resource, timeout, start)["devices"]

    def updates(self, resource=RESOURCE_GPU):
        return [e["devices"] for e in self.events if e["event"] == "devices" and e["resource"] == resource]

    def registered(self):
        return [e for e in self.events if e["event"] == "registered"]

    def command(self, line):
        """Send one command to the test kubelet; its answer (allocate, preferred or error)."""
        start = len(self.events)
        self._kubelet.stdin.write(line + "\n")
        self._kubelet.stdin.flush()
        return self.wait(lambda e: e["event"] in ("allocate", "preferred") or "command" in e,
                         "answer to %r" % line, start=start)

    def allocate(self, resource, ids):
        answer = self.command("allocate %s %s" % (resource, ",".join(ids)))
        if answer["event"] != "allocate":
            self._fail("Allocate %s failed: %s" % (ids, answer["error"]))
        return answer["response"]

    def preferred(self, resource, size, available, must=()):
        answer = self.command("preferred %s %d %s %s" % (resource, size, ",".join(available), ",".join(must)))
        if answer["event"] != "preferred":
            self._fail("GetPreferredAllocation failed: %s" % answer["error"])
        return answer["device_ids"]

    def stop(self):
        """Stop the plugin (SIGTERM, as the kubelet's pod would be, then SIGKILL) and the kubelet."""
        for proc, stop in ((self._plugin, signal.SIGTERM), (self._kubelet, None)):
            if proc is None or proc.poll() is not None:
                continue
            if stop is None:
                try:
                    proc.stdin.write("quit\n")
                    proc.stdin.close()
                except (BrokenPipeError, ValueError):
                    pass
            else:
                proc.send_signal(stop)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        if self._kubelet is not None and self._kubelet.stdout:
            self._kubelet.stdout.close()


def mock_ctl(node, *args):
    """The node's own nvidia-mock-ctl (R/usr/bin), which finds the node from where it is installed."""
    ctl = os.path.join(node.root, "usr", "bin", "nvidia-mock-ctl")
    proc = subprocess.run([ctl] + [str(a) for a in args], env=node.env(), capture_output=True, text=True,
                          timeout=30, check=False)
    if proc.returncode != 0:
        pytest.fail("nvidia-mock-ctl %s exited %d: %s"
                    % (" ".join(map(str, args)), proc.returncode, proc.stderr.strip()), pytrace=False)


def health(devices):
    """device id -> Healthy / Unhealthy of one ListAndWatch update."""
    return {d["id"]: d["health"] for d in devices}
