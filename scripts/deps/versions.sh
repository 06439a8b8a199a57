# Pinned versions of what the project builds from the Go module proxy, and where the built
# pieces are cached. One place: the build scripts, the Makefile and the tests source or read it.
# shellcheck shell=bash disable=SC2034
KIND_VERSION=v0.33.0
KUBERNETES_VERSION=v1.34.4
ETCD_VERSION=v3.6.5
COREDNS_VERSION=v1.14.7
CRICTL_VERSION=v1.34.0
NVIDIA_DEVICE_PLUGIN_MODULE=github.com/NVIDIA/k8s-device-plugin@v0.19.0
NVIDIA_CONTAINER_TOOLKIT_MODULE=github.com/NVIDIA/nvidia-container-toolkit@v1.20.1
# The release GPU feature discovery's own go.mod requires: it publishes GFD's feature files as
# node labels (nfd-worker reads features.d, nfd-master labels the node).
NODE_FEATURE_DISCOVERY_MODULE=sigs.k8s.io/node-feature-discovery@v0.18.3

# Heavy caches live outside the checkout (a fresh clone reuses them), one folder per set of
# pins, so a changed pin never mixes old and new pieces.
GPUMOCK_CACHE=${GPUMOCK_CACHE:-/var/cache/gpumock}
# The real NVIDIA clients and the conformance suite's Go probes (install.d/conformance.sh).
CONFORMANCE_BIN=${CONFORMANCE_BIN:-$GPUMOCK_CACHE/go-tools/bin}
# kind, Kubernetes, etcd, CoreDNS, crictl, pause (install.d/kubernetes.sh).
KUBE_PIECES_DIR=$GPUMOCK_CACHE/kubernetes/kind-$KIND_VERSION-k8s-$KUBERNETES_VERSION-etcd-$ETCD_VERSION-coredns-$COREDNS_VERSION-crictl-$CRICTL_VERSION

# The locally built images of the real-cluster path (images/kind-node/build.sh, images/build.sh),
# tagged with the version of what they carry.
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:-gpumock/kind-node:$KUBERNETES_VERSION}
DEVICE_PLUGIN_IMAGE=gpumock/k8s-device-plugin:${NVIDIA_DEVICE_PLUGIN_MODULE##*@}
NODE_FEATURE_DISCOVERY_IMAGE=gpumock/node-feature-discovery:${NODE_FEATURE_DISCOVERY_MODULE##*@}
