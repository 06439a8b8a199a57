"""Helpers for the tests of nvidia-mock-ctl and the live state (docs/faults-and-live-values.md)."""
import os
import subprocess
from pathlib import Path

from conftest import LIB

# Built beside the library under test (nvml_src/Makefile).
CTL = Path(os.environ.get("MOCK_NVML_CTL", LIB.parent / "nvidia-mock-ctl"))


def ctl(*args, env=None, check=True):
    """Run nvidia-mock-ctl; returns the CompletedProcess (text)."""
    res = subprocess.run([str(CTL)] + [str(a) for a in args], capture_output=True, text=True,
                         timeout=60, env=env, check=False)
    if check:
        assert res.returncode == 0, res.stderr
    return res
