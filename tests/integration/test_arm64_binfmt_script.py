"""scripts/deps/install.d/arm64-binfmt.sh against a stand-in binfmt_misc directory
(ARM64_BINFMT_DIR): the registration is kernel-wide, so the script adds the aarch64 entry only where
none is registered, and never writes another entry. A plain file stands in for the kernel's
`register`: what the script writes there stays readable, and no entry appears from it.
"""
import os
import subprocess

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "scripts", "deps", "install.d", "arm64-binfmt.sh")
AARCH64_MAGIC = "7f454c460201010000000000000000000200b700"
PYTHON_ENTRY = "enabled\ninterpreter /usr/bin/python3.13\nflags: \nextension .pyc\n"


def entry(magic, flags, state="enabled"):
    return "%s\ninterpreter /usr/bin/qemu-aarch64-static\nflags: %s\noffset 0\nmagic %s\nmask ff\n" % (
        state, flags, magic)


@pytest.fixture
def binfmt(tmp_path):
    """Runs the script on a binfmt_misc stand-in holding ``entries``; returns (process, directory)."""
    def run(entries, *args):
        (tmp_path / "register").write_text("")
        (tmp_path / "status").write_text("enabled\n")
        for name, text in entries.items():
            (tmp_path / name).write_text(text)
        done = subprocess.run(["bash", SCRIPT] + list(args), env=dict(os.environ, ARM64_BINFMT_DIR=str(tmp_path)),
                              capture_output=True, text=True, timeout=60, check=False)
        return done, tmp_path
    return run


@pytest.mark.skipif(not os.access("/usr/bin/qemu-aarch64-static", os.X_OK), reason="needs qemu-user-static")
def test_without_an_aarch64_entry_it_registers_qemu_static_with_flag_f_and_leaves_the_others(binfmt):
    done, where = binfmt({"python3.13": PYTHON_ENTRY})
    assert (where / "register").read_text() == (
        ":qemu-aarch64:M:0:\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
        "\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff"
        "\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:F")
    assert "registered /usr/bin/qemu-aarch64-static" in done.stdout
    assert (where / "python3.13").read_text() == PYTHON_ENTRY


def test_an_aarch64_entry_with_flag_f_under_any_name_is_kept_and_reported(binfmt):
    done, where = binfmt({"arm64": entry(AARCH64_MAGIC, "OCF")})
    assert done.returncode == 0
    assert "registered already: arm64 enabled OCF" in done.stdout
    assert (where / "register").read_text() == ""


def test_an_aarch64_entry_without_flag_f_is_left_alone_and_the_script_says_why_it_fails(binfmt):
    done, where = binfmt({"qemu-aarch64": entry(AARCH64_MAGIC, "P")})
    assert done.returncode == 1
    assert "qemu-aarch64 is enabled with flags 'P'; a chroot needs it enabled with F; not changed" in done.stderr
    assert (where / "register").read_text() == ""


def test_a_disabled_aarch64_entry_is_left_alone_and_the_script_fails(binfmt):
    done, where = binfmt({"qemu-aarch64": entry(AARCH64_MAGIC, "F", state="disabled")})
    assert done.returncode == 1
    assert "is disabled with flags 'F'" in done.stderr
    assert (where / "register").read_text() == ""


def test_an_entry_for_another_machine_is_not_taken_for_aarch64(binfmt):
    # The aarch64 magic with e_machine 40 (EM_ARM) instead of 183.
    done, _where = binfmt({"other": entry("7f454c4602010100000000000000000002002800", "F")}, "check")
    assert done.returncode == 1
    assert "no aarch64 entry" in done.stderr


def test_check_registers_nothing(binfmt):
    done, where = binfmt({}, "check")
    assert done.returncode == 1
    assert (where / "register").read_text() == ""
