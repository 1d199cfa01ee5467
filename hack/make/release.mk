# release: publish a version.
#   make release VERSION=vX.Y.Z REGISTRY=host/path
# builds everything `make dist` builds (the plugins name the probe image by
# the digest built here), pushes REGISTRY/kubectl-pixie-probe:VERSION and
# REGISTRY/kubectl-pixie:VERSION (the same manifest bytes, so the same
# digests), and writes the filled krew manifest dist/pixie.yaml, whose
# archive URLs are under RELEASE_URL/VERSION/. Registry credentials are the
# docker/podman ones (go-containerregistry's default keychain).

RELEASE_URL ?= https://github.com/kubectl-pixie/kubectl-pixie/releases/download
RELEASE_MANIFEST := $(DIST)/pixie.yaml
RELEASE_IMAGES := $(DIST)/kubectl-pixie_$(DIST_VERSION)_images.txt
# What the GitHub release attaches (.github/workflows/release.yml reads the list).
RELEASE_ASSETS := $(DIST_ARCHIVES) $(DIST_IMAGE) $(DIST_PLUGIN_IMAGE) $(DIST_SBOM) $(DIST_CHECKSUMS) $(RELEASE_MANIFEST) $(RELEASE_IMAGES)
RELEASE_ASSET_LIST := $(DIST)/kubectl-pixie_$(DIST_VERSION)_assets.txt

# Checked before anything is built.
ifneq ($(filter release,$(MAKECMDGOALS)),)
ifeq ($(shell echo '$(VERSION)' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$$'),)
$(error make release needs VERSION=vX.Y.Z (v-prefixed semver), got '$(VERSION)')
endif
ifeq ($(origin REGISTRY),file)
$(error make release needs REGISTRY=host/path, e.g. REGISTRY=ghcr.io/OWNER/REPO)
endif
endif

.PHONY: release
release: dist ## VERSION=vX.Y.Z REGISTRY=host/path: make dist, push both images, write dist/pixie.yaml (krew)
	$(GO) run ./hack/ociimage -from $(DIST_IMAGE) -push $(PROBE_REPO):$(DIST_VERSION)
	$(GO) run ./hack/ociimage -from $(DIST_PLUGIN_IMAGE) -push $(PLUGIN_REPO):$(DIST_VERSION)
	bash hack/dist/krew-manifest.sh -version $(DIST_VERSION) -dist $(DIST) -url $(RELEASE_URL) -platforms "$(DIST_PLATFORMS)" -o $(RELEASE_MANIFEST)
	printf 'probe  %s\nplugin %s\n' '$(PROBE_REPO):$(DIST_VERSION)@$(shell cat $(DIST_PROBE_DIGEST))' \
	  '$(PLUGIN_REPO):$(DIST_VERSION)@$(shell cat $(DIST_PLUGIN_DIGEST))' > $(RELEASE_IMAGES)
	@cat $(RELEASE_IMAGES)
	printf '%s\n' $(RELEASE_ASSETS) > $(RELEASE_ASSET_LIST)
	@echo "release $(DIST_VERSION): archives, $(notdir $(DIST_CHECKSUMS)), $(notdir $(RELEASE_MANIFEST)) in $(DIST)/"

# The workflows cannot run here; actionlint checks them in make lint.
ACTIONLINT_VERSION ?= v1.7.12
ACTIONLINT := $(TOOLS_DIR)/actionlint-$(ACTIONLINT_VERSION)/actionlint

.PHONY: actionlint
actionlint: $(ACTIONLINT) ## lint .github/workflows (installs the pinned actionlint once)
	$(ACTIONLINT) -color=false .github/workflows/*.yml

$(ACTIONLINT):
	GOBIN=$(@D) GOFLAGS= $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
