"""nvml_config.render: the config file the driver tree ships, written from a profiles Node."""
import pytest

from conftest import build_node
from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import nvml_schema, profiles
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config


def sections(text):
    out = []
    for line in text.splitlines():
        if line.startswith("["):
            out.append((line.strip("[]"), {}))
        elif "=" in line and out:
            key, value = (part.strip() for part in line.split("=", 1))
            out[-1][1][key] = value
    return out


def test_file_starts_with_comments_then_the_format_version():
    text = nvml_config.render(build_node("dgxh100"))
    first = [line for line in text.splitlines() if line and not line.startswith("#")][0]
    assert first == "format = 1"


def test_sections_are_system_board_mig_profiles_then_one_per_gpu():
    node = build_node("dgxh100")
    names = [name for name, _body in sections(nvml_config.render(node))]
    assert names == (["system", "board"] + ["mig_profile"] * len(node.board.mig_profiles)
                     + ["gpu"] * len(node.gpus))


def test_every_board_field_is_written_under_its_own_name():
    node = build_node("dgxa100")
    board = dict(sections(nvml_config.render(node)))["board"]
    assert list(board) == list(nvml_schema.BOARD.names)
    assert board["name"] == node.board.name
    assert int(board["pci_device_id"], 16) == node.board.pci_device_id
    assert board["mig_capable"] == "1"


def test_gpu_sections_carry_each_gpus_identity():
    node = build_node("dgxa100")
    gpus = [values for name, values in sections(nvml_config.render(node)) if name == "gpu"]
    for gpu, values in zip(node.gpus, gpus):
        assert values == {"index": str(gpu.index), "minor": str(gpu.minor), "uuid": gpu.uuid,
                          "serial": gpu.serial, "pci_bus_id": gpu.pci_bus_id,
                          "numa_node": str(gpu.numa_node), "mig_mode": "0"}


def test_visibility_and_dev_root_are_written_to_system():
    text = nvml_config.render(build_node("t4"), visibility="all", dev_root="/host/dev")
    system = dict(sections(text))["system"]
    assert (system["visibility"], system["dev_root"]) == ("all", "/host/dev")


def test_default_visibility_is_devnodes_under_dev():
    system = dict(sections(nvml_config.render(build_node("t4"))))["system"]
    assert (system["visibility"], system["dev_root"]) == ("devnodes", "/dev")


def test_boards_without_mig_have_no_mig_profile_sections():
    assert "[mig_profile]" not in nvml_config.render(build_node("l40s"))


def test_a_128_gpu_node_renders_128_gpu_sections():
    text = nvml_config.render(build_node("dgxh100", gpu_count=profiles.MAX_GPU_COUNT))
    assert text.count("[gpu]") == 128


def test_rendering_is_deterministic():
    assert nvml_config.render(build_node("dgxb200")) == nvml_config.render(build_node("dgxb200"))


def test_unknown_visibility_is_refused_naming_the_option():
    with pytest.raises(nvml_config.NvmlConfigError, match="visibility must be one of devnodes, all"):
        nvml_config.render(build_node("t4"), visibility="some")


def test_relative_dev_root_is_refused_naming_the_option():
    with pytest.raises(nvml_config.NvmlConfigError, match="dev_root must be an absolute path"):
        nvml_config.render(build_node("t4"), dev_root="dev")


def test_a_multi_line_value_is_refused_naming_the_key():
    node = build_node("t4", overrides={"vbios_version": "90.04"})
    board = node.board.__class__(**dict(vars(node.board), vbios_version="90\n04"))
    bad = node.__class__(**dict(vars(node), board=board))
    with pytest.raises(nvml_config.NvmlConfigError, match="'vbios_version'"):
        nvml_config.render(bad)
