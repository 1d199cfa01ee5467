# release: publish a version.
#   make release VERSION=vX.Y.Z REGISTRY=host/path
# builds everything `make dist` builds (the plugins name the probe image by
# the digest built here), pushes REGISTRY/kubectl-pixie-probe:VERSION and
# REGISTRY/kubectl-pixie:VERSION (the same manifest bytes, so the same
# digests), and writes the filled krew manifest dist/pixie.yaml, whose
# archive URLs are under RELEASE_URL/VERSION/. Registry credentials are the
# docker/podman ones (go-containerregistry's default keychain).
#
# Signing (cosign, pinned below): with COSIGN_KEY=cosign.key (its password
# in COSIGN_PASSWORD) or COSIGN_KEYLESS=1 (Sigstore: the OIDC identity of
# the environment, as in .github/workflows/release.yml), make release signs
# both images by digest and attaches each image's SPDX SBOM as a signed
# attestation (cosign attest --type spdxjson). COSIGN_TLOG=false keeps a
# key-based signature out of the public transparency log (the tests, which
# run offline). Without either variable the images are pushed unsigned.

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

COSIGN_VERSION ?= v2.6.5
COSIGN := $(TOOLS_DIR)/cosign-$(COSIGN_VERSION)/cosign
COSIGN_TLOG ?= true
RELEASE_SIGN := $(if $(COSIGN_KEY),--key $(COSIGN_KEY) --tlog-upload=$(COSIGN_TLOG),$(if $(filter 1,$(COSIGN_KEYLESS)),keyless))
DIST_PROBE_SBOM := $(DIST_BUILD)/probe-image.spdx.json
DIST_PLUGIN_SBOM := $(DIST_BUILD)/plugin-image.spdx.json

.PHONY: release
release: dist $(if $(RELEASE_SIGN),$(COSIGN) $(DIST_PROBE_SBOM) $(DIST_PLUGIN_SBOM)) ## VERSION=vX.Y.Z REGISTRY=host/path [COSIGN_KEY=F | COSIGN_KEYLESS=1]: make dist, push (and sign) both images, write dist/pixie.yaml (krew)
	$(GO) run ./hack/ociimage -from $(DIST_IMAGE) -push $(PROBE_REPO):$(DIST_VERSION)
	$(GO) run ./hack/ociimage -from $(DIST_PLUGIN_IMAGE) -push $(PLUGIN_REPO):$(DIST_VERSION)
ifneq ($(RELEASE_SIGN),)
	$(call release_sign,$(PROBE_REPO)@$(shell cat $(DIST_PROBE_DIGEST)),$(DIST_PROBE_SBOM))
	$(call release_sign,$(PLUGIN_REPO)@$(shell cat $(DIST_PLUGIN_DIGEST)),$(DIST_PLUGIN_SBOM))
else
	@echo "release: images NOT signed (set COSIGN_KEY=cosign.key or COSIGN_KEYLESS=1)"
endif
	bash hack/dist/krew-manifest.sh -version $(DIST_VERSION) -dist $(DIST) -url $(RELEASE_URL) -platforms "$(DIST_PLATFORMS)" -o $(RELEASE_MANIFEST)
	printf 'probe  %s\nplugin %s\n' '$(PROBE_REPO):$(DIST_VERSION)@$(shell cat $(DIST_PROBE_DIGEST))' \
	  '$(PLUGIN_REPO):$(DIST_VERSION)@$(shell cat $(DIST_PLUGIN_DIGEST))' > $(RELEASE_IMAGES)
	@cat $(RELEASE_IMAGES)
	printf '%s\n' $(RELEASE_ASSETS) > $(RELEASE_ASSET_LIST)
	@echo "release $(DIST_VERSION): archives, $(notdir $(DIST_CHECKSUMS)), $(notdir $(RELEASE_MANIFEST)) in $(DIST)/"

# Sign an image by digest and attach its SBOM as a signed SPDX attestation.
release_sign = $(COSIGN) sign --yes $(filter-out keyless,$(RELEASE_SIGN)) $(1) && \
  $(COSIGN) attest --yes $(filter-out keyless,$(RELEASE_SIGN)) --type spdxjson --predicate $(2) $(1)

# One SBOM per image: the binaries it holds (hack/sbom; the release asset
# covers every binary).
$(DIST_PROBE_SBOM): $(DIST_AGENTS) hack/sbom/main.go
	$(GO) run ./hack/sbom -o $@ -name kubectl-pixie-probe -version $(DIST_VERSION) -epoch $(SOURCE_DATE_EPOCH) $(DIST_AGENTS)
$(DIST_PLUGIN_SBOM): $(foreach a,$(DIST_AGENT_ARCHES),$(call dist_bin,linux/$(a))) hack/sbom/main.go
	$(GO) run ./hack/sbom -o $@ -name kubectl-pixie-image -version $(DIST_VERSION) -epoch $(SOURCE_DATE_EPOCH) $(foreach a,$(DIST_AGENT_ARCHES),$(call dist_bin,linux/$(a)))

# Built once per version into the tool cache, outside our go.mod (its
# dependency tree is large and never mixes with the plugin's): ~3.5 min on a
# cold 2-core machine, then instant.
.PHONY: cosign
cosign: $(COSIGN) ## the pinned cosign (built once into the tool cache); prints its path
	@echo $(COSIGN)

# The tests sign with the real cosign (test/release, plugin/cmd doctor
# --verify): build it before them rather than inside a test's timeout.
test: $(COSIGN)

$(COSIGN):
	GOBIN=$(@D) GOFLAGS= $(GO) install github.com/sigstore/cosign/v2/cmd/cosign@$(COSIGN_VERSION)

# The workflows cannot run here; actionlint checks them in make lint.
ACTIONLINT_VERSION ?= v1.7.12
ACTIONLINT := $(TOOLS_DIR)/actionlint-$(ACTIONLINT_VERSION)/actionlint

.PHONY: actionlint
actionlint: $(ACTIONLINT) ## lint .github/workflows (installs the pinned actionlint once)
	$(ACTIONLINT) -color=false .github/workflows/*.yml

$(ACTIONLINT):
	GOBIN=$(@D) GOFLAGS= $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
