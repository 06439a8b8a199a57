"""OCI runtime wrapper for the project's Docker engine: runc, minus capabilities it cannot grant.

Some machines (these CI machines among them) run every process without CAP_SYS_RESOURCE in its
bounding set. A privileged container asks runc for every capability, and runc then fails with
"unable to apply caps: operation not permitted". kind starts every node, and runs every
`docker exec` into it, privileged. This wrapper removes from the container's config (create,
run: <bundle>/config.json) or from the exec's process spec (exec --process FILE) each capability
outside its own bounding set, then replaces itself with the real runc. On a machine with a full
bounding set it changes nothing.

dockerd runs it as `python3 runc-capfix.py <runc arguments>` through a two-line shell stub that
scripts/dockerd.sh writes (dockerd wants a runtime path, not a command line).
"""
import json
import os
import sys

# Linux capability numbers, in order (linux/capability.h).
CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
REAL_RUNC = os.environ.get("GPUMOCK_REAL_RUNC", "/usr/sbin/runc")


def ungrantable():
    """Names (CAP_*) of the capabilities outside this process's bounding set."""
    with open("/proc/self/status", encoding="ascii") as status:
        mask = next(int(line.split()[1], 16) for line in status if line.startswith("CapBnd:"))
    return {"CAP_" + name for bit, name in enumerate(CAPABILITIES) if not mask >> bit & 1}


def spec_to_fix(argv):
    """The JSON file this runc call reads capabilities from, or None."""
    command = next((a for a in argv if a in ("create", "run", "exec")), None)
    options = {}
    for i, arg in enumerate(argv):
        for flag in ("--bundle", "-b", "--process", "-p"):
            if arg == flag and i + 1 < len(argv):
                options[flag.lstrip("-")[0]] = argv[i + 1]
            elif arg.startswith(flag + "="):
                options[flag.lstrip("-")[0]] = arg.split("=", 1)[1]
    if command in ("create", "run"):
        return os.path.join(options.get("b", os.getcwd()), "config.json")
    if command == "exec":
        return options.get("p")
    return None


def drop_capabilities(path, drop):
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    process = spec.get("process", spec)        # a bundle config, or an exec process spec
    sets = process.get("capabilities") or {}
    changed = False
    for name, caps in sets.items():
        if isinstance(caps, list) and drop.intersection(caps):
            sets[name] = [c for c in caps if c not in drop]
            changed = True
    if changed:
        tmp = path + ".capfix"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(spec, f)
        os.replace(tmp, path)


def main(argv):
    path = spec_to_fix(argv)
    if path and os.path.isfile(path):
        drop = ungrantable()
        if drop:
            drop_capabilities(path, drop)
    os.execv(REAL_RUNC, [REAL_RUNC] + argv)


if __name__ == "__main__":
    main(sys.argv[1:])
