"""Write the configs bench/nvml_bench.c times: an 8-GPU dgxh100 node and a 128-GPU one."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build",
                                "collections"))

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles  # noqa: E402
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config  # noqa: E402


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for count in (8, 128):
        node = profiles.build_node(profile="dgxh100", node_id="bench", gpu_count=count)
        with open(os.path.join(out_dir, "gpus%d.conf" % count), "w") as f:
            f.write(nvml_config.render(node, visibility="all"))


if __name__ == "__main__":
    main(sys.argv[1])
