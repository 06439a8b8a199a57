"""Values from scripts/deps/versions.sh (pinned versions, cache folders) for the tests."""
import os
import subprocess

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "scripts", "deps", "versions.sh")


def pinned(name):
    """The value of ``name`` (the environment's, else the one versions.sh sets)."""
    if os.environ.get(name):
        return os.environ[name]
    return subprocess.run(["bash", "-c", '. "$0" && printf %s "${!1}"', SCRIPT, name],
                          capture_output=True, text=True, check=True).stdout
