#!/usr/bin/env bash
# Builds gpumock/kind-node:<kubernetes version>: ONE node image that real kind boots
# (`kind create cluster --image`) and that carries what gpu_mock nodes need. No container
# registry is used: kind's base files come from the kind module in the Go module cache, the
# Kubernetes pieces from scripts/deps/install.d/kubernetes.sh (Go module proxy), the OS from
# Debian (debootstrap trixie).
#
# What is in it (docs/kind.md has the whole list and why):
#   - kind's base image, file by file (its entrypoint, units, containerd config, scripts), on
#     Debian trixie with systemd, containerd 1.7 and runc from Debian;
#   - kubeadm, kubelet, kubectl, crictl, and the control-plane images kubeadm asks for
#     (`kubeadm config images list`) preloaded in containerd's k8s.io namespace, each a static
#     binary alone in an image (kube-proxy's with iptables);
#   - gpumock-pod-network (kindnetd's job: kindnetd's image is on no reachable registry);
#   - python3 (Ansible's modules run on the node) and nvidia-cdi-hook (the hooks in the CDI
#     spec NVIDIA's device plugin writes run it on the node);
#   - two changes these machines need, harmless elsewhere: gpumock-node-entrypoint hides
#     unmounted cgroup v1 controllers from systemd, and containerd restricts oom_score_adj
#     (runc cannot lower it without CAP_SYS_RESOURCE).
#
# Usage: images/kind-node/build.sh          build it unless current (prints the image name last)
#        images/kind-node/build.sh rootfs   only make the cached debootstrap trees
# Cached: the image carries gpumock.build-inputs=<hash of every input>; an image whose label
# matches is not rebuilt (IMAGE_REBUILD=1 forces it). debootstrap trees are kept under
# $GPUMOCK_CACHE/rootfs, keyed by suite, package list and mirror.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=scripts/deps/versions.sh
. "$ROOT/scripts/deps/versions.sh"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
IMAGE=$KIND_NODE_IMAGE
PIECES=$KUBE_PIECES_DIR/bin
CDI_HOOK=$CONFORMANCE_BIN/nvidia-cdi-hook
WORK=$GPUMOCK_CACHE/work/kind-node
NODE_PACKAGES=systemd,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,fuse-overlayfs,e2fsprogs,bash,ca-certificates,curl,jq,procps,containerd,runc,containernetworking-plugins,socat,ebtables,python3
PROXY_PACKAGES=iptables,nftables,conntrack,ipset,kmod
say() { echo "kind-node: $*" >&2; }

if [ "${1:-}" = rootfs ]; then
  ROOTFS_ONLY=1
else
  ROOTFS_ONLY=
  [ -e "$KUBE_PIECES_DIR/complete" ] \
  || { say "the Kubernetes pieces are not built; run scripts/deps/install.d/kubernetes.sh"; exit 1; }
  [ -x "$CDI_HOOK" ] || { say "$CDI_HOOK is missing; run scripts/deps/install.d/conformance.sh"; exit 1; }
  KIND_FILES=$(go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')/images/base/files
fi

inputs_hash() {
  {
    echo "$IMAGE $MIRROR $NODE_PACKAGES $PROXY_PACKAGES $KUBE_PIECES_DIR"
    (cd "$HERE" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    (cd "$KIND_FILES" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    sha256sum "$CDI_HOOK" | cut -d' ' -f1
  } | sha256sum | cut -c1-16
}

# debootstrap_cached SUITE PACKAGES: a pristine tree, made once per suite, package list, mirror.
debootstrap_cached() {
  local key dir
  key=$(echo "$1 $2 $MIRROR" | sha256sum | cut -c1-12)
  dir=$GPUMOCK_CACHE/rootfs/$1-$key
  if [ ! -e "$dir.complete" ]; then
    say "debootstrap $1 into $dir"
    rm -rf "$dir"
    mkdir -p "$GPUMOCK_CACHE/rootfs/debcache"
    debootstrap --variant=minbase --cache-dir="$GPUMOCK_CACHE/rootfs/debcache" --include="$2" \
      "$1" "$dir" "$MIRROR" >"$dir.log" 2>&1 || { tail -n 30 "$dir.log" >&2; return 1; }
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    touch "$dir.complete"
  fi
  echo "$dir"
}

# kind's images/base/Dockerfile, step by step, on a copy of the pristine tree.
assemble_node() {
  local r=$1 f=$KIND_FILES
  install -m 0755 "$f"/usr/local/bin/* "$r/usr/local/bin/"
  mkdir -p "$r/kind/bin" "$r/kind/manifests" "$r/LICENSES" "$r/etc/kubernetes/manifests" \
    "$r/etc/systemd/system/kubelet.service.d" "$r/opt/cni/bin"
  install -m 0644 "$f/kind/README.txt" "$r/kind/"
  install -m 0755 "$f"/kind/bin/* "$r/kind/bin/"
  install -m 0644 "$f"/LICENSES/* "$r/LICENSES/"
  install -m 0644 "$f/etc/crictl.yaml" "$r/etc/"
  install -m 0644 "$f"/etc/containerd/* "$r/etc/containerd/"
  install -m 0644 "$f"/etc/default/* "$r/etc/default/"
  install -m 0644 "$f"/etc/sysctl.d/* "$r/etc/sysctl.d/"
  install -m 0644 "$f"/etc/systemd/system/*.service "$f"/etc/systemd/system/*.slice "$r/etc/systemd/system/"
  install -m 0644 "$f"/etc/systemd/system/kubelet.service.d/* "$r/etc/systemd/system/kubelet.service.d/"
  find "$r/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
  rm -f "$r"/lib/systemd/system/multi-user.target.wants/* "$r"/etc/systemd/system/*.wants/* \
    "$r"/lib/systemd/system/local-fs.target.wants/* "$r"/lib/systemd/system/sockets.target.wants/*udev* \
    "$r"/lib/systemd/system/sockets.target.wants/*initctl* "$r"/lib/systemd/system/basic.target.wants/*
  grep -q '^ReadKMsg=no' "$r/etc/systemd/journald.conf" || echo ReadKMsg=no >>"$r/etc/systemd/journald.conf"
  ln -sf /usr/lib/systemd/systemd "$r/sbin/init"
  # kind's containerd unit runs /usr/local/bin/containerd; Debian's is in /usr/bin.
  ln -sf /usr/bin/containerd "$r/usr/local/bin/containerd"
  for plugin in host-local loopback ptp portmap bridge; do ln -sf "/usr/lib/cni/$plugin" "$r/opt/cni/bin/$plugin"; done
  sed -i 's/^\(\s*restrict_oom_score_adj\s*=\s*\)false/\1true/' "$r/etc/containerd/config.toml"
  grep -q 'restrict_oom_score_adj = true' "$r/etc/containerd/config.toml"
  cp -a "$HERE/files/." "$r/"
  install -m 0755 "$PIECES/kubeadm" "$PIECES/kubelet" "$PIECES/kubectl" "$r/usr/bin/"
  install -m 0755 "$PIECES/crictl" "$r/usr/local/bin/"
  install -m 0755 "$CDI_HOOK" "$r/usr/bin/nvidia-cdi-hook"
  chroot "$r" systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
    gpumock-pod-network.service >/dev/null 2>&1
  chroot "$r" systemctl mask systemd-binfmt.service >/dev/null 2>&1
  chroot "$r" ctr oci spec \
    | python3 -c 'import json,sys
spec = json.load(sys.stdin)
spec["hooks"] = {"createContainer": [{"path": "/kind/bin/mount-product-files.sh"}]}
spec["process"].pop("rlimits", None)
json.dump(spec, sys.stdout, indent=2)' >"$r/etc/containerd/cri-base.json"
  printf '%s' "$KUBERNETES_VERSION" >"$r/kind/version"
  : >"$r/etc/machine-id"
}

# One image per control-plane binary: a static binary (or kube-proxy with iptables) alone.
component_images() {
  local out=$1 proxy_root=$2 image name dir
  local -a names=()
  while read -r image; do
    name=${image##*/}; name=${name%%:*}
    dir=$WORK/component-$name
    rm -rf "$dir"
    case $name in
      kube-proxy) cp -a "$proxy_root" "$dir"; mkdir -p "$dir/usr/local/bin" ;;
      *) mkdir -p "$dir/usr/local/bin" "$dir/etc" "$dir/tmp"; chmod 1777 "$dir/tmp"
         echo 'root:x:0:0:root:/root:/sbin/nologin' >"$dir/etc/passwd" ;;
    esac
    install -m 0755 "$PIECES/$name" "$dir/usr/local/bin/$name"
    local -a change=(--change 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
    # kubeadm's manifests name the command for the control plane; these two run on the image's.
    case $name in coredns|pause) change+=(--change "ENTRYPOINT [\"/usr/local/bin/$name\"]") ;; esac
    tar -C "$dir" -c . | docker import "${change[@]}" - "$image" >/dev/null
    rm -rf "$dir"
    names+=("$image")
  done < <("$PIECES/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION" 2>/dev/null)
  # kind's containerd config names its own sandbox image; it is the same pause.
  local sandbox
  sandbox=$(sed -n 's/^\s*sandbox_image\s*=\s*"\(.*\)"/\1/p' "$KIND_FILES/etc/containerd/config.toml")
  docker tag "$(printf '%s\n' "${names[@]}" | grep /pause:)" "$sandbox"
  names+=("$sandbox")
  docker save -o "$out" "${names[@]}"
  docker rmi "${names[@]}" >/dev/null
}

build() {
  local hash=$1 start=$SECONDS node proxy root cid
  node=$(debootstrap_cached trixie "$NODE_PACKAGES")
  proxy=$(debootstrap_cached trixie "$PROXY_PACKAGES")
  rm -rf "$WORK" && mkdir -p "$WORK"
  root=$WORK/proxy-rootfs
  cp -a "$proxy" "$root"
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
  install -m 0755 "$HERE/kube-proxy/iptables-wrapper" "$root/usr/sbin/iptables-wrapper"
  for tool in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf iptables-wrapper "$root/usr/sbin/$tool"
  done
  say "component images"
  component_images "$WORK/images.tar" "$root"
  rm -rf "$root"
  root=$WORK/node-rootfs
  cp -a "$node" "$root"
  assemble_node "$root"
  say "importing the node tree and preloading the images into its containerd"
  tar -C "$root" -c . | docker import - gpumock/kind-node-stage:build >/dev/null
  rm -rf "$root"
  cid=$(docker run -d --privileged --entrypoint sleep gpumock/kind-node-stage:build infinity)
  # shellcheck disable=SC2064
  trap "docker rm -f -v $cid >/dev/null 2>&1 || true" EXIT
  docker exec "$cid" sh -c 'containerd >/tmp/containerd.log 2>&1 & echo $! >/tmp/containerd.pid'
  for _ in $(seq 60); do docker exec "$cid" ctr version >/dev/null 2>&1 && break; sleep 0.5; done
  docker exec -i "$cid" ctr --namespace=k8s.io images import --all-platforms --no-unpack \
    - <"$WORK/images.tar" >/dev/null
  # Pinned, as kind pins its preloaded images: the kubelet's image GC never removes them.
  docker exec "$cid" sh -c 'ctr --namespace=k8s.io images list -q | grep -v "^sha256:" \
    | xargs -r -I{} ctr --namespace=k8s.io images label {} io.cri-containerd.pinned=pinned >/dev/null'
  docker exec "$cid" ctr --namespace=k8s.io images list -q | grep -v '^sha256:' | sed 's/^/kind-node: preloaded /' >&2
  # Stopped cleanly so its metadata is flushed; `sleep` (PID 1 here) reaps nobody, so the
  # stopped containerd stays a zombie: wait for that state, not for the PID to vanish.
  docker exec "$cid" sh -c 'pid=$(cat /tmp/containerd.pid); kill "$pid"
    while [ -e "/proc/$pid" ] && ! grep -q "^State:.*Z" "/proc/$pid/status"; do sleep 0.2; done
    rm -f /tmp/containerd.pid /tmp/containerd.log'
  docker commit \
    --change 'ENTRYPOINT ["/usr/local/bin/gpumock-node-entrypoint", "/usr/local/bin/entrypoint", "/sbin/init"]' \
    --change 'ENV container=docker' \
    --change "LABEL gpumock.build-inputs=$hash" "$cid" "$IMAGE" >/dev/null
  docker rm -f -v "$cid" >/dev/null
  trap - EXIT
  docker rmi gpumock/kind-node-stage:build >/dev/null
  rm -rf "$WORK"
  say "built $IMAGE ($hash) in $((SECONDS - start)) s, $(docker image inspect "$IMAGE" --format '{{.Size}}' | numfmt --to=si)B"
  # Kept for tests/kind's timing table: the cold build time of the image with this label.
  mkdir -p "$GPUMOCK_CACHE/kind-node" && echo "$((SECONDS - start))" >"$GPUMOCK_CACHE/kind-node/$hash.build-seconds"
}

if [ -n "$ROOTFS_ONLY" ]; then
  debootstrap_cached trixie "$NODE_PACKAGES"
  debootstrap_cached trixie "$PROXY_PACKAGES"
  exit 0
fi
hash=$(inputs_hash)
have=$(docker image inspect "$IMAGE" --format '{{ index .Config.Labels "gpumock.build-inputs" }}' 2>/dev/null || true)
if [ "$have" = "$hash" ] && [ -z "${IMAGE_REBUILD:-}" ]; then
  say "$IMAGE is current ($hash)"
else
  build "$hash"
fi
echo "$IMAGE"
