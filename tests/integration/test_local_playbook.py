"""playbooks/local.yml on this machine, in check mode into a scratch root (this host stays as it is)."""
import json
import os
import stat
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def local_check(tmp_path):
    """Runs local.yml --check with these role variables (and PATH first); returns the process."""
    root = tmp_path / "root"

    def run(variables=None, path_first=None):
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "collections"),
                   ANSIBLE_NOCOLOR="1")
        if path_first:
            env["PATH"] = "%s:%s" % (path_first, env["PATH"])
        values = {"gpu_mock_driver_root": str(root / "driver"), "gpu_mock_dev_root": str(root / "dev"),
                  "gpu_mock_cdi_path": str(root / "cdi.yaml"), "gpu_mock_stage_dir": str(root / "stage"),
                  "gpu_mock_containerd": False, "gpu_mock_tmpfiles": False}
        values.update(variables or {})
        done = subprocess.run(
            [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", "localhost,", "-c", "local",
             os.path.join(REPO, "playbooks", "local.yml"), "--check", "-e", json.dumps(values)],
            env=env, capture_output=True, text=True, timeout=600, check=False)
        assert not root.exists()
        return done

    return run


def test_local_playbook_runs_where_discovery_would_find_a_broken_python(local_check, tmp_path):
    # What pyenv leaves for versions that are not installed: shims that fail when run.
    shims = tmp_path / "shims"
    shims.mkdir()
    for minor in range(8, 15):
        shim = shims / ("python3.%d" % minor)
        shim.write_text("#!/bin/sh\necho \"pyenv: python3.%d: command not found\" >&2\nexit 127\n" % minor)
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    done = local_check(path_first=shims)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "failed=0" in done.stdout


def test_a_mig_layout_the_board_can_place_passes(local_check):
    done = local_check({"gpu_mock_profile": "dgxa100", "gpu_mock_mig_enabled": True,
                        "gpu_mock_mig_layout": ["3g.20gb", "2g.10gb", "1g.5gb"]})
    assert done.returncode == 0, done.stdout[-3000:]


def test_an_impossible_mig_layout_stops_the_role_naming_the_variable(local_check):
    done = local_check({"gpu_mock_profile": "dgxa100", "gpu_mock_mig_enabled": True,
                        "gpu_mock_mig_layout": ["7g.40gb", "1g.5gb"]})
    assert done.returncode != 0
    assert "gpu_mock_mig_layout" in done.stdout
    assert "1g.5gb" in done.stdout
