"""Write seed inputs for the config fuzzer: every built-in profile rendered, and small edits."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", ".build", "collections"))

from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles  # noqa: E402
from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config  # noqa: E402


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name in profiles.PROFILE_NAMES:
        node = profiles.build_node(profile=name, node_id="seed", gpu_count=2)
        text = nvml_config.render(node, visibility="all")
        with open(os.path.join(out_dir, name + ".conf"), "w") as f:
            f.write(text)
        with open(os.path.join(out_dir, name + "-devnodes.conf"), "w") as f:
            f.write(text.replace("visibility = all", "visibility = devnodes"))
    with open(os.path.join(out_dir, "minimal-broken.conf"), "w") as f:
        f.write("format = 1\n[system]\ndriver_version = 1\n[gpu]\nindex = 0\n")


if __name__ == "__main__":
    main(sys.argv[1])
