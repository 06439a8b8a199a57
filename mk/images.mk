# Docker engine + locally built test images (owner: images/molecule area).
IMAGE_NAMES := bookworm-systemd trixie-systemd tiny-nvml-probe

.PHONY: dockerd images $(addprefix image-,$(IMAGE_NAMES))
dockerd: ## start the Docker engine if it is not answering
	bash scripts/dockerd.sh

images: $(addprefix image-,$(IMAGE_NAMES)) ## Docker engine up + the locally built base images (cached)

$(addprefix image-,$(IMAGE_NAMES)): image-%: dockerd
	bash images/build.sh $*
