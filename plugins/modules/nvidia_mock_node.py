#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: gpumock.nvidia contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nvidia_mock_node
short_description: Converge a whole mock NVIDIA node in one run
version_added: "0.3.0"
description:
  - Makes, in one module run, what M(gpumock.nvidia.nvidia_mock_devnodes),
    M(gpumock.nvidia.nvidia_mock_driver_tree) and M(gpumock.nvidia.nvidia_cdi_spec) make, from the same
    code, plus the node's boot rule, its loader entry and, when asked, the node-feature-discovery feature
    file of M(gpumock.nvidia.nvidia_mock_node_labels). A node that is already right costs one visit.
  - The device nodes under O(dev_root) (regular files stand in where C(mknod) is refused), the driver tree
    under O(driver_root) with the mock NVML and C(nvidia-mock-ctl), and the CDI spec at O(cdi_path).
  - With O(tmpfiles=true), a C(systemd-tmpfiles) rule at O(tmpfiles_path) that re-creates the device nodes at
    boot, where the node has C(systemd-tmpfiles) and the nodes are real character devices; otherwise that
    file is removed.
  - With O(register_ldconfig=true), an entry at O(ld_so_conf_path) naming the tree's library directory, and
    C(ldconfig) run when it changed; otherwise that file is removed (and C(ldconfig) run when it was there).
  - Returns what the node has (RV(host)), so a role needs no fact gathering.
  - The action plugin of the same name takes the built library and tool on the controller (O(nvml_library_src),
    O(mock_ctl_src)), sends the module only their sha256, and transfers them to the node (into the task's
    temporary directory, removed afterwards) only when the installed copies differ, in check mode too, so that
    check mode and diff mode report exactly what a real run changes.
  - Without O(architecture) the action plugin first looks at the node, with one command through the connection
    alone (no Python needed there), for its C(uname -m), its C(python3), and whether it has C(gcc) and C(make)
    (RV(look)). With O(nvml_source) it then finds or builds, on the controller, the mock NVML and
    C(nvidia-mock-ctl) of the node's architecture and sends them as with O(nvml_library_src) (RV(nvml)).
  - A node without C(python3), or one that is to build the mock NVML itself, gets no module run. The task fails in
    one sentence, or, with O(report_needs=true), changes nothing and names what the node needs (RV(needs)); the
    C(gpu_mock) role then installs C(python3) or builds the mock NVML on the node and runs the task again with
    O(architecture) set.
  - With O(state=absent) removes all of it, in the reverse order.
author:
  - gpumock maintainers (@gpumock)
options:
  dev_root:
    description: Absolute directory that holds the device nodes (C(/dev) on a real node).
    type: path
    default: /dev
  driver_root:
    description: Absolute directory of the driver tree (V(/) installs into the host itself).
    type: path
    default: /var/lib/nvidia-mock/driver
  cdi_path:
    description: Absolute path of the CDI spec; must end in C(.yaml) or C(.json).
    type: path
    default: /etc/cdi/nvidia.yaml
  device_name_strategy:
    description:
      - How the CDI spec names devices, one device per GPU and strategy (the spec always has C(all)).
      - V(index) gives C(0), V(uuid) gives C(GPU-...), V(type-index) gives C(gpu0).
    type: list
    elements: str
    choices: [index, uuid, type-index]
    default: [index, uuid]
  nvml_library:
    description:
      - Path of a built mock NVML on the target, installed as
        C(usr/lib/<architecture>-linux-gnu/libnvidia-ml.so.<driver_version>) with the node's NVML config embedded;
        it must be built for O(architecture).
      - When neither this, O(nvml_library_sha256) nor O(nvml_library_src) is set, an installed library is kept
        and an empty placeholder is created if there is none.
    type: path
  nvml_library_sha256:
    description:
      - The sha256 of the built library (without any embedded config). When the installed library has it, it is
        kept; when not, the module changes nothing and returns V(nvml_library) in RV(transfer).
      - The action plugin sets it from O(nvml_library_src).
    type: str
  nvml_library_src:
    description:
      - Path of the built mock NVML on the controller (the action plugin's option). The action plugin hashes it,
        and transfers it only when the node's copy differs.
    type: path
  mock_ctl:
    description:
      - Path of a built C(nvidia-mock-ctl) on the target, installed as C(usr/bin/nvidia-mock-ctl) of the tree.
      - When neither this, O(mock_ctl_sha256) nor O(mock_ctl_src) is set, an installed file is kept and a
        placeholder that says it is missing is created if there is none.
    type: path
  mock_ctl_sha256:
    description:
      - The sha256 of the built C(nvidia-mock-ctl); as O(nvml_library_sha256), for the tool.
    type: str
  mock_ctl_src:
    description: Path of the built C(nvidia-mock-ctl) on the controller (the action plugin's option), as O(nvml_library_src).
    type: path
  tmpfiles:
    description: Keep a C(systemd-tmpfiles) rule that re-creates the device nodes at boot (where it can work).
    type: bool
    default: true
  tmpfiles_path:
    description: Absolute path of the boot rule.
    type: path
    default: /etc/tmpfiles.d/nvidia-mock.conf
  register_ldconfig:
    description:
      - Register the tree's library directory with the dynamic loader, so that processes of the node itself
        load the mock NVML. It changes what every process of the node loads.
    type: bool
    default: false
  ld_so_conf_path:
    description: Absolute path of the loader entry.
    type: path
    default: /etc/ld.so.conf.d/nvidia-mock.conf
  features_file:
    description:
      - Absolute path of a node-feature-discovery feature file to hold GPU feature discovery's labels of these GPUs
        (as M(gpumock.nvidia.nvidia_mock_node_labels) writes). When unset, no such file is managed.
    type: path
  mig_strategy:
    description:
      - The MIG strategy the labels of O(features_file) describe (see M(gpumock.nvidia.nvidia_mock_node_labels)).
    type: str
    default: single
    choices: [none, single, mixed]
  containerd_config:
    description:
      - Absolute path of containerd's config file. When set, the run also sets CDI in it (with O(state=absent), unsets
        it), as M(gpumock.nvidia.nvidia_mock_containerd) does, in the same run and before any other part, so that a
        config that cannot be edited fails before anything else changes. When unset, containerd's config is left alone.
      - The module does not restart containerd; RV(containerd.changed) tells whether the config changed.
    type: path
  containerd_cdi_spec_dirs:
    description: Directories containerd reads CDI specs from (with O(containerd_config)).
    type: list
    elements: path
    default: [/etc/cdi, /var/run/cdi]
  containerd_new_file_version:
    description: Config version of a file that has to be created (when not set, C(containerd --version) decides).
    type: int
    choices: [2, 3]
  containerd_if_missing:
    description:
      - What to do on a node that has neither the file at O(containerd_config) nor a C(containerd) binary.
      - V(create) writes the config; V(skip) leaves containerd alone and returns RV(containerd.found=false); V(fail)
        fails before any part changes (with O(state=absent) it leaves containerd alone, as V(skip)).
    type: str
    choices: [create, skip, fail]
    default: create
  containerd_backup:
    description: Keep a timestamped copy of the config before changing it (returned as RV(containerd.backup_file)).
    type: bool
    default: false
  nvml_source:
    description:
      - The collection's C(nvml_src) directory on the controller (the action plugin's option). When set, with
        O(state=present) and no built library given (O(nvml_library), O(nvml_library_sha256), O(nvml_library_src)),
        the action plugin takes the mock NVML and C(nvidia-mock-ctl) for the node's architecture from
        C(nvml_src/nvml_build.py), which takes the collection's prebuilt files while they match its sources, else a
        build in O(nvml_cache_dir), else builds there (native, or with C(<arch>-linux-gnu-gcc)).
      - Where O(nvml_build) or the controller leaves that to the node, the node needs V(nvml_build) (see
        O(report_needs)), and RV(nvml.pack) holds the packed sources.
    type: path
  nvml_cache_dir:
    description: The controller's directory for the builds of O(nvml_source), one per source hash (the action plugin's
      option); required with O(nvml_source).
    type: path
  nvml_build:
    description:
      - Where the mock NVML of O(nvml_source) is built (the action plugin's option). V(auto) takes the prebuilt or
        cached files, else builds on the controller, else leaves the build to the node; V(controller) never leaves it
        to the node; V(target) always does.
    type: str
    default: auto
    choices: [auto, controller, target]
  module_cache_dir:
    description:
      - Absolute path of a directory on the node, used by this module alone, that keeps the module's code compiled
        between runs. Python imports a module's code from its payload's zip and compiles it again on every run, which
        is more than half of a run on a node that is already right.
      - The module writes a launcher there (V(<module_cache_dir>/launcher), run by the module's Python); once the
        action plugin's look finds it current, the module runs through it and takes its code from an entry in the
        directory, one per version of the code, the four used last kept. The run that writes the launcher makes the
        entry of its own code. Check mode, and a node whose interpreter is not yet known, run without it.
      - With O(state=absent), the launcher, the entries and the directory, once nothing else is in it, are removed.
      - When unset, nothing is kept. Meant for nodes that are converged again and again (kind); a node baked into an
        image needs none.
    type: path
  report_needs:
    description:
      - What a node that cannot run the module yet gets (the action plugin's option, with the look at the node). V(false)
        fails the task in one sentence; V(true) changes nothing and returns RV(needs), for a caller that prepares the
        node and runs the task again.
    type: bool
    default: false
  option_prefix:
    description:
      - Put before an option's name in an error about its value (the action plugin's option). A role that sets the
        options from variables named V(gpu_mock_) plus the option passes V(gpu_mock_), so the error names the variable.
      - The action plugin checks the options before the node is visited; a bad value fails the task and changes
        nothing.
    type: str
  state:
    description: Whether the node's mock GPUs should exist.
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - gpumock.nvidia.node
  - gpumock.nvidia.node.architecture
  - gpumock.nvidia.attributes
  - gpumock.nvidia.attributes.platform
attributes:
  action:
    description: An action plugin transfers the built files from the controller when, and only when, they changed.
    support: full
notes:
  - To learn whether C(mknod) works the module creates and removes one device node in a private temporary
    directory, also in check mode.
  - O(nvml_library) and O(nvml_library_sha256) exclude each other, and so do O(mock_ctl) and O(mock_ctl_sha256).
  - Each part follows the rules of its module (M(gpumock.nvidia.nvidia_mock_devnodes),
    M(gpumock.nvidia.nvidia_mock_driver_tree), M(gpumock.nvidia.nvidia_cdi_spec)), so a path holding something this
    collection did not write makes the whole run fail before any part is written, in check mode too. The boot rule
    and the loader entry are replaced or removed only when they carry the collection's marker line.
  - Symlinks at O(cdi_path), O(tmpfiles_path), O(ld_so_conf_path) and O(features_file) are followed, and the files they
    point to are replaced atomically and the links stay.
  - A failure names the parts this run made before the failing one.
  - Writes are staged at temporary names beside their targets and renamed into place, so a failed run changes
    nothing (or says which changes it made) and a killed one leaves every file old or new; the next run removes
    the temporary files a killed run left. Errors are one line naming the option. See docs/what-the-modules-touch.md in the collection.
seealso:
  - module: gpumock.nvidia.nvidia_mock_devnodes
  - module: gpumock.nvidia.nvidia_mock_driver_tree
  - module: gpumock.nvidia.nvidia_cdi_spec
  - module: gpumock.nvidia.nvidia_mock_node_labels
"""

EXAMPLES = r"""
- name: A DGX H100 node with the NVML built on the controller
  gpumock.nvidia.nvidia_mock_node:
    profile: dgxh100
    node_id: "{{ inventory_hostname }}"
    nvml_library_src: /home/me/gpumock/nvml_src/build/libnvidia-ml.so.550.54.15
    mock_ctl_src: /home/me/gpumock/nvml_src/build/nvidia-mock-ctl
  register: gpu_node

- name: The same node, and GPU feature discovery's labels for node-feature-discovery
  gpumock.nvidia.nvidia_mock_node:
    profile: dgxh100
    node_id: "{{ inventory_hostname }}"
    features_file: /etc/kubernetes/node-feature-discovery/features.d/gpumock

- name: The same node with CDI on in containerd's config, where the node has containerd
  gpumock.nvidia.nvidia_mock_node:
    profile: dgxh100
    node_id: "{{ inventory_hostname }}"
    containerd_config: /etc/containerd/config.toml
    containerd_if_missing: skip
  register: gpu_node

- name: Restart containerd when its config changed
  ansible.builtin.systemd_service:
    name: containerd
    state: restarted
  when: gpu_node.containerd.changed

- name: Everything in a scratch directory, without a boot rule
  gpumock.nvidia.nvidia_mock_node:
    node_id: example-node
    dev_root: /tmp/gpumock-example/dev
    driver_root: /tmp/gpumock-example/driver
    cdi_path: /tmp/gpumock-example/cdi/nvidia.yaml
    tmpfiles: false

- name: Remove it again
  gpumock.nvidia.nvidia_mock_node:
    node_id: example-node
    dev_root: /tmp/gpumock-example/dev
    driver_root: /tmp/gpumock-example/driver
    cdi_path: /tmp/gpumock-example/cdi/nvidia.yaml
    state: absent
"""

RETURN = r"""
host:
  description: What the node has, found by the module.
  returned: always
  type: dict
  contains:
    systemd_booted:
      description: Whether systemd runs the node (C(/run/systemd/system) exists).
      type: bool
      sample: true
    systemd_tmpfiles:
      description: Path of C(systemd-tmpfiles), or null.
      type: str
      sample: /usr/bin/systemd-tmpfiles
    ldconfig:
      description: Path of C(ldconfig), or null.
      type: str
      sample: /usr/sbin/ldconfig
look:
  description: What the action plugin found on the node, when O(architecture) was not set.
  returned: when O(architecture) is not set
  type: dict
  contains:
    machine:
      description: The node's C(uname -m).
      type: str
      sample: x86_64
    python3:
      description: The node's C(python3), or an empty string when it has none.
      type: str
      sample: /usr/bin/python3
    build:
      description: Whether the node has C(gcc) and C(make).
      type: bool
      sample: false
    launcher:
      description:
        - The sha256 of the node's launcher in O(module_cache_dir), looked at only with that set, in a real run with
          O(state=present); an empty string when it has none. The module ran through it when it was the current one.
      type: str
nvml:
  description:
    - What C(nvml_src/nvml_build.py select) found or built for the node's architecture (O(nvml_source)); the entry of
      an architecture has V(library), V(mock_ctl) and V(origin) (V(prebuilt), V(cache), V(built)) or a V(problem).
  returned: when O(nvml_source) was used
  type: dict
  contains:
    hash:
      description: The hash of the sources, which names the cache directory.
      type: str
      sample: f75d801e6a61a6c0
    pack:
      description: The packed sources for a build on the node, or null.
      type: str
      sample: null
    architectures:
      description: Per architecture, what was found or why nothing could be.
      type: dict
      sample: {"x86_64": {"library": "/root/.cache/gpumock/nvml/f75d801e6a61a6c0/x86_64/libnvidia-ml.so",
               "mock_ctl": "/root/.cache/gpumock/nvml/f75d801e6a61a6c0/x86_64/nvidia-mock-ctl", "origin": "cache"}}
needs:
  description:
    - What the node needs before the module can run, when it did not run (the task then changed nothing), of
      V(python3) (the node has none) and V(nvml_build) (the node is to build the mock NVML).
  returned: when the node needs something and O(report_needs=true)
  type: list
  elements: str
  sample: [python3]
transfer:
  description:
    - The built files (V(nvml_library), V(mock_ctl)) whose sha256 the installed copies do not have. Non-empty only
      when the module ran without the action plugin; it then changed nothing.
  returned: always
  type: list
  elements: str
  sample: []
transferred:
  description: The built files the action plugin sent to the node in this run.
  returned: when the action plugin transferred a file
  type: list
  elements: str
  sample: [nvml_library]
devnodes:
  description: What M(gpumock.nvidia.nvidia_mock_devnodes) returns (RV(devnodes.nodes), RV(devnodes.fallback_used), actions).
  returned: when RV(transfer) is empty
  type: dict
  contains:
    nodes:
      description: Every device node with its path, major, minor, mode and whether it is a character device.
      type: list
      elements: dict
    fallback_used:
      description: Whether regular files stand in for character devices.
      type: bool
driver_tree:
  description: What M(gpumock.nvidia.nvidia_mock_driver_tree) returns (root, driver_version, nvml_library, ...).
  returned: when RV(transfer) is empty
  type: dict
cdi_spec:
  description: What M(gpumock.nvidia.nvidia_cdi_spec) returns (path, cdi_version, devices, spec).
  returned: when RV(transfer) is empty
  type: dict
features_file:
  description: The feature file's path and labels.
  returned: when O(features_file) is set and RV(transfer) is empty
  type: dict
labels:
  description: GPU feature discovery's labels of these GPUs, every value a string.
  returned: when O(features_file) is set
  type: dict
  sample: {"nvidia.com/gpu.count": "8", "nvidia.com/gpu.present": "true"}
containerd:
  description:
    - What M(gpumock.nvidia.nvidia_mock_containerd) returns (path, config_version, section, created, removed, found,
      backup_file), and whether the config changed.
  returned: when O(containerd_config) is set and RV(transfer) is empty
  type: dict
  contains:
    changed:
      description: Whether the config changed (restart containerd then, and only then).
      type: bool
      sample: false
    found:
      description: Whether the node has the config file or a C(containerd) binary.
      type: bool
      sample: true
    backup_file:
      description: The copy made before the change.
      type: str
      sample: /etc/containerd/config.toml.1234.2026-11-23@01:02:03~
tmpfiles:
  description: The boot rule's path.
  returned: when RV(transfer) is empty
  type: dict
ld_so_conf:
  description: The loader entry's path.
  returned: when RV(transfer) is empty
  type: dict
module_cache:
  description: What changed in O(module_cache_dir) (V(actions)).
  returned: when O(module_cache_dir) is set and RV(transfer) is empty
  type: dict
"""

import os


from ansible_collections.gpumock.nvidia.plugins.module_utils.runner import _runner, node_jobs
from ansible_collections.gpumock.nvidia.plugins.module_utils.runner._runner import AnsibleModule


def prepare(module):
    host = dict(
        # /run/systemd/system exists only while systemd runs as the init system (sd_booted()).
        systemd_booted=os.path.isdir("/run/systemd/system"),
        systemd_tmpfiles=module.get_bin_path("systemd-tmpfiles"),
        ldconfig=module.get_bin_path("ldconfig"),
    )
    return node_jobs.node_job(module.params, host, module=module)


def main():
    module = AnsibleModule(argument_spec=node_jobs.node_module_argument_spec(),
                           mutually_exclusive=node_jobs.NODE_MODULE_EXCLUSIVE, supports_check_mode=True)
    _runner.run(module, prepare)


if __name__ == "__main__":
    main()
