"""Per-container visibility: only GPUs whose <dev_root>/nvidia<minor> exists are enumerated."""
import os

import pytest

from conftest import build_node


def give(dev_root, *minors):
    for m in minors:
        (dev_root / ("nvidia%d" % m)).touch()


def test_only_gpus_with_a_device_node_are_enumerated(use_config, pynvml, dev_root):
    node = build_node("dgxa100")
    give(dev_root, 2, 5)
    use_config(node, visibility="devnodes", dev_root=str(dev_root))
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetCount() == 2


def test_indexes_renumber_from_zero_keeping_identity(use_config, pynvml, dev_root):
    node = build_node("dgxa100")
    give(dev_root, 2, 5)
    use_config(node, visibility="devnodes", dev_root=str(dev_root))
    pynvml.nvmlInit()
    seen = []
    for i in range(2):
        h = pynvml.nvmlDeviceGetHandleByIndex(i)
        seen.append((pynvml.nvmlDeviceGetIndex(h), pynvml.nvmlDeviceGetMinorNumber(h),
                     pynvml.nvmlDeviceGetUUID(h)))
    assert seen == [(0, 2, node.gpus[2].uuid), (1, 5, node.gpus[5].uuid)]


def test_hidden_gpu_is_not_found_by_uuid(use_config, pynvml, dev_root):
    node = build_node("dgxa100")
    give(dev_root, 0)
    use_config(node, visibility="devnodes", dev_root=str(dev_root))
    pynvml.nvmlInit()
    with pytest.raises(pynvml.NVMLError) as err:
        pynvml.nvmlDeviceGetHandleByUUID(node.gpus[1].uuid)
    assert err.value.value == pynvml.NVML_ERROR_NOT_FOUND


def test_no_device_nodes_means_no_gpus(use_config, pynvml, dev_root):
    use_config(build_node("dgxh100"), visibility="devnodes", dev_root=str(dev_root))
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetCount() == 0


def test_directories_and_odd_names_do_not_count_as_gpus(use_config, pynvml, dev_root):
    (dev_root / "nvidia3").mkdir()
    (dev_root / "nvidia01").touch()
    (dev_root / "nvidia4x").touch()
    use_config(build_node("dgxh100"), visibility="devnodes", dev_root=str(dev_root))
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetCount() == 0


def test_visibility_all_enumerates_every_gpu(use_config, pynvml, dev_root):
    use_config(build_node("dgxh100"), visibility="all", dev_root=str(dev_root))
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetCount() == 8


def test_devices_are_checked_once_at_init(use_config, pynvml, dev_root):
    give(dev_root, 0, 1)
    use_config(build_node("dgxh100"), visibility="devnodes", dev_root=str(dev_root))
    pynvml.nvmlInit()
    os.unlink(dev_root / "nvidia1")
    assert pynvml.nvmlDeviceGetCount() == 2
    pynvml.nvmlShutdown()
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetCount() == 1


def test_real_character_devices_count_like_files(use_config, pynvml, dev_root):
    os.mknod(dev_root / "nvidia7", 0o666 | 0o020000, os.makedev(195, 7))
    use_config(build_node("dgxh100"), visibility="devnodes", dev_root=str(dev_root))
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    assert (pynvml.nvmlDeviceGetCount(), pynvml.nvmlDeviceGetMinorNumber(h)) == (1, 7)


def test_mock_nvml_dev_root_env_overrides_the_configs_dev_root(use_config, pynvml, dev_root, tmp_path,
                                                               monkeypatch):
    # As in a container given GPU 3 through CDI: the config names the host's dev root, the
    # container's nodes are elsewhere and the spec's env says where.
    node = build_node("dgxa100")
    give(dev_root, 0, 1, 2, 3)
    container_dev = tmp_path / "container-dev"
    container_dev.mkdir()
    (container_dev / "nvidia3").touch()
    monkeypatch.setenv("MOCK_NVML_DEV_ROOT", str(container_dev))
    use_config(node, visibility="devnodes", dev_root=str(dev_root))
    pynvml.nvmlInit()
    assert pynvml.nvmlDeviceGetCount() == 1
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    assert pynvml.nvmlDeviceGetUUID(handle) == node.gpus[3].uuid
