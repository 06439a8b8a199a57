"""NVLink-C2C mode (nvmlDeviceGetC2cModeInfoV): what the board's c2c_mode says, for every GPU."""
import pytest

from conftest import build_node
from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles


@pytest.mark.parametrize("profile", profiles.PROFILE_NAMES)
def test_every_gpu_reports_c2c_enabled_exactly_on_the_grace_boards(profile, use_config, pynvml):
    node = build_node(profile)
    use_config(node)
    pynvml.nvmlInit()
    got = [pynvml.nvmlDeviceGetC2cModeInfoV(pynvml.nvmlDeviceGetHandleByIndex(i)).isC2cEnabled
           for i in range(len(node.gpus))]
    assert got == [1 if profile in ("gh200", "gb200") else 0] * len(node.gpus)


def test_an_overridden_board_follows_its_c2c_mode(use_config, pynvml):
    use_config(profiles.build_node("dgxh100", gpu_count=1, node_id="n", overrides={"c2c_mode": True}))
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetC2cModeInfoV(pynvml.nvmlDeviceGetHandleByIndex(0)).isC2cEnabled == 1
