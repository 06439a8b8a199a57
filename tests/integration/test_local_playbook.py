"""playbooks/local.yml on this machine does not depend on Python interpreter discovery."""
import json
import os
import stat
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_local_playbook_runs_where_discovery_would_find_a_broken_python(tmp_path):
    # What pyenv leaves for versions that are not installed: shims that fail when run.
    shims = tmp_path / "shims"
    shims.mkdir()
    for minor in range(8, 15):
        shim = shims / ("python3.%d" % minor)
        shim.write_text("#!/bin/sh\necho \"pyenv: python3.%d: command not found\" >&2\nexit 127\n" % minor)
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    root = tmp_path / "root"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "collections"),
               ANSIBLE_NOCOLOR="1", PATH="%s:%s" % (shims, os.environ["PATH"]))
    # Check mode into a scratch driver root, so that this host stays as it is.
    done = subprocess.run(
        [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", "localhost,", "-c", "local",
         os.path.join(REPO, "playbooks", "local.yml"), "--check",
         "-e", json.dumps({"gpu_mock_driver_root": str(root / "driver"), "gpu_mock_dev_root": str(root / "dev"),
                           "gpu_mock_cdi_path": str(root / "cdi.yaml"), "gpu_mock_stage_dir": str(root / "stage"),
                           "gpu_mock_containerd": False, "gpu_mock_tmpfiles": False})],
        env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "failed=0" in done.stdout
    assert not root.exists()
