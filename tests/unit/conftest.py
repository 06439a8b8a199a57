"""Fixtures of the unit tests: a module run through Ansible's module harness."""
import json

import pytest
from ansible.module_utils.testing import patch_module_args


@pytest.fixture
def run(request, capsys):
    """Run the test file's MODULE with these arguments (over its MODULE_DEFAULTS, if any).

    check and diff set check and diff mode. Returns the module's JSON result, whether it
    exited or failed.
    """
    module = request.module.MODULE
    defaults = getattr(request.module, "MODULE_DEFAULTS", {})

    def _run(check=False, diff=False, **args):
        args = dict(defaults, **args)
        args.update(_ansible_check_mode=check, _ansible_diff=diff)
        with patch_module_args(args), pytest.raises(SystemExit):
            module.main()
        return json.loads(capsys.readouterr().out)

    return _run
