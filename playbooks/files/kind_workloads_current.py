"""Tells whether the playbook's workloads are already applied and rolled out, so that a re-run can
skip kubectl apply and the rollout wait (seconds of API calls) after one read of the objects.

Current means: every object of the manifest (stdin) and of the CRD files exists, was last applied
(kubectl.kubernetes.io/last-applied-configuration) with exactly the content given now, and every
DaemonSet and Deployment among them has rolled that content out. Anything else, a CRD given by
URL included, is "not current" and the caller applies as before: the answer can cost an apply,
never skip a needed one.

usage: python3 kind_workloads_current.py KUBECTL CONTEXT [CRD-FILE-OR-URL...] < MANIFEST
exit status 0: current; 1: not current (the reason on stdout); 2: the check itself failed.
"""
import json
import subprocess
import sys

import yaml

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# libyaml's loader where PyYAML has it: the CRD files are tens of KiB, ten times slower in pure Python.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def documents(text):
    return [doc for doc in yaml.load_all(text, Loader=SAFE_LOADER) if doc]


def without_empty_annotations(obj):
    """kubectl records an object without annotations with an empty annotations map."""
    obj = json.loads(json.dumps(obj))
    metadata = obj.get("metadata") or {}
    if not metadata.get("annotations"):
        metadata.pop("annotations", None)
    return obj


def key(obj):
    metadata = obj.get("metadata") or {}
    return (obj.get("kind"), metadata.get("namespace") or "", metadata.get("name"))


def rolled_out(obj):
    status, generation = obj.get("status") or {}, (obj.get("metadata") or {}).get("generation")
    if obj["kind"] in ("DaemonSet", "Deployment") and status.get("observedGeneration") != generation:
        return False
    if obj["kind"] == "DaemonSet":
        want = status.get("desiredNumberScheduled")
        return want == status.get("updatedNumberScheduled", 0) == status.get("numberAvailable", 0)
    if obj["kind"] == "Deployment":
        want = (obj.get("spec") or {}).get("replicas", 1)
        return want == status.get("updatedReplicas", 0) == status.get("availableReplicas", 0)
    return True


def not_current(kubectl, context, crd_files, manifest):
    if any("://" in name for name in crd_files):
        return "CRDs given by URL are applied every run"
    wanted = []
    for name in crd_files:
        with open(name) as stream:
            wanted.extend(documents(stream.read()))
    wanted.extend(documents(manifest))
    argv = [kubectl, "--context", context, "get", "--ignore-not-found", "--output", "json", "--filename", "-"]
    # One v1 List in JSON: kubectl reads every object of it, and JSON is written in a fraction of YAML's time.
    listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": wanted})
    proc = subprocess.run(argv, input=listed, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip() or "kubectl get failed")
    have = {}
    for obj in json.loads(proc.stdout or '{"items": []}').get("items", []):
        have[(obj.get("kind"), obj["metadata"].get("namespace") or "", obj["metadata"]["name"])] = obj
    for obj in wanted:
        found = have.get(key(obj))
        if found is None:
            return "%s %s does not exist" % (obj.get("kind"), key(obj)[2])
        applied = (found["metadata"].get("annotations") or {}).get(LAST_APPLIED)
        if applied is None or without_empty_annotations(json.loads(applied)) != without_empty_annotations(obj):
            return "%s %s differs from what was last applied" % (obj.get("kind"), key(obj)[2])
        if not rolled_out(found):
            return "%s %s is not rolled out" % (obj.get("kind"), key(obj)[2])
    return None


def main(argv):
    kubectl, context, crd_files = argv[1], argv[2], argv[3:]
    try:
        reason = not_current(kubectl, context, crd_files, sys.stdin.read())
    except (OSError, ValueError, RuntimeError, yaml.YAMLError) as exc:
        print("cannot tell whether the workloads are current: %s" % exc)
        return 2
    if reason:
        print(reason)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
