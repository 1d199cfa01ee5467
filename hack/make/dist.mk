# dist: release archives, the images and the krew manifest.
#   make dist            archives for every platform + sha256 files + multi-arch probe and
#                        plugin images (OCI layout tarballs, hack/ociimage); the plugins
#                        name the probe image by the digest of the one built here
#   make image           single-arch probe image for this host (ctr -n k8s.io images import)
#   make krew-manifest VERSION=vX.Y.Z   fill krew-manifest.yaml from dist/
#   make krew-verify     build krew, install offline from dist/, run through kubectl

DIST ?= dist
# krew wants v-prefixed semver; git describe without a tag gives a bare hash.
ifeq ($(origin DIST_VERSION),undefined)
DIST_VERSION := $(if $(shell echo '$(VERSION)' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+'),$(VERSION),v0.0.0-$(or $(VERSION),dev))
endif
# Every timestamp in archives and images (reproducible builds).
SOURCE_DATE_EPOCH := $(or $(SOURCE_DATE_EPOCH),$(shell git log -1 --format=%ct 2>/dev/null || echo 0))
# Where a release publishes its images (make release pushes there).
REGISTRY ?= ghcr.io/kubectl-pixie/kubectl-pixie
PROBE_REPO ?= $(REGISTRY)/kubectl-pixie-probe
PLUGIN_REPO ?= $(REGISTRY)/kubectl-pixie
DIST_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
DIST_AGENT_ARCHES ?= amd64 arm64
HOST_ARCH := $(shell $(GO) env GOARCH)
# make image: one arch, named like the default of a `make build` plugin.
IMAGE ?= localhost/kubectl-pixie/probe:dev
IMAGE_ARCH ?= $(HOST_ARCH)
IMAGE_TAR ?= $(BIN)/probe-image_linux_$(IMAGE_ARCH).tar

AGENT_LDFLAGS = -s -w -buildid= -X $(PKG)/internal/version.Version=$(DIST_VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT) -X $(PKG)/internal/version.Date=$(DATE)
# The probe image by digest: read when the plugins are linked, after the image is built.
DIST_LDFLAGS = $(AGENT_LDFLAGS) -X $(PKG)/internal/version.ProbeImage=$(PROBE_REPO):$(DIST_VERSION)@$(shell cat $(DIST_PROBE_DIGEST))
DIST_SRC := go.mod go.sum $(shell find cmd plugin probes bpf -type f \( -name '*.go' -o -name '*.o' -o -name 'kubectl_complete-*' \) -not -name '*_test.go' 2>/dev/null)
DIST_BUILD := $(DIST)/build

dist_bin = $(DIST_BUILD)/$(subst /,_,$(1))/kubectl-pixie$(if $(filter windows/%,$(1)),.exe)
dist_archive = $(DIST)/kubectl-pixie_$(DIST_VERSION)_$(subst /,_,$(1)).tar.gz
DIST_BINS := $(foreach p,$(DIST_PLATFORMS),$(call dist_bin,$(p)))
DIST_ARCHIVES := $(foreach p,$(DIST_PLATFORMS),$(call dist_archive,$(p)))
DIST_AGENTS := $(foreach a,$(DIST_AGENT_ARCHES),$(DIST_BUILD)/linux_$(a)/pixie-agent)
DIST_IMAGE := $(DIST)/kubectl-pixie-probe_$(DIST_VERSION).oci.tar
DIST_PROBE_DIGEST := $(DIST_BUILD)/probe.digest
DIST_PLUGIN_IMAGE := $(DIST)/kubectl-pixie_$(DIST_VERSION).oci.tar
DIST_PLUGIN_DIGEST := $(DIST_BUILD)/plugin.digest
DIST_CHECKSUMS := $(DIST)/kubectl-pixie_$(DIST_VERSION)_SHA256SUMS
DIST_SBOM := $(DIST)/kubectl-pixie_$(DIST_VERSION).spdx.json
OCIIMAGE_SRC := $(wildcard hack/ociimage/*.go plugin/image/*.go)

.PHONY: dist
dist: $(DIST_ARCHIVES) $(DIST_ARCHIVES:=.sha256) $(DIST_IMAGE) $(DIST_IMAGE).sha256 $(DIST_PLUGIN_IMAGE) $(DIST_PLUGIN_IMAGE).sha256 $(DIST_SBOM) $(DIST_CHECKSUMS) ## release archives, sha256 files, the multi-arch probe and plugin images, an SPDX SBOM into dist/
	@ls -l $(DIST)/*.tar.gz $(DIST)/*.tar
	@echo "probe image: $(PROBE_REPO):$(DIST_VERSION)@$$(cat $(DIST_PROBE_DIGEST))"

# Rebuilt only when a flag value changes (version, commit, image), so
# binaries are built once and reused by every target below.
$(DIST_BUILD)/ldflags: $(DIST_PROBE_DIGEST) FORCE
	@mkdir -p $(@D)
	@echo '$(DIST_LDFLAGS)' | cmp -s - $@ || echo '$(DIST_LDFLAGS)' > $@
$(DIST_BUILD)/agent-ldflags: FORCE
	@mkdir -p $(@D)
	@echo '$(AGENT_LDFLAGS)' | cmp -s - $@ || echo '$(AGENT_LDFLAGS)' > $@

# One build and one archive rule per platform (os/arch -> os_arch).
define dist_platform_rules
$(call dist_bin,$(1)): $(DIST_SRC) $(DIST_BUILD)/ldflags
	CGO_ENABLED=0 GOOS=$(word 1,$(subst /, ,$(1))) GOARCH=$(word 2,$(subst /, ,$(1))) \
	  $$(GO) build -trimpath -ldflags "$$(DIST_LDFLAGS)" -o $$@ ./cmd/kubectl-pixie

# Linux archives carry the agent: --local runs it rather than the plugin.
$(call dist_archive,$(1)): $(call dist_bin,$(1)) LICENSE $(DIST_HELPERS) hack/dist/archive.sh $(call dist_agent,$(1))
	SOURCE_DATE_EPOCH=$$(SOURCE_DATE_EPOCH) bash hack/dist/archive.sh $$@ $$< LICENSE plugin/completion/kubectl_complete-pixie \
	  $(if $(filter windows/%,$(1)),plugin/completion/kubectl_complete-pixie.cmd) $(call dist_agent,$(1))
endef
dist_agent = $(if $(filter linux/%,$(1)),$(DIST_BUILD)/$(subst /,_,$(1))/pixie-agent)
DIST_HELPERS := plugin/completion/kubectl_complete-pixie plugin/completion/kubectl_complete-pixie.cmd
$(foreach p,$(DIST_PLATFORMS),$(eval $(call dist_platform_rules,$(p))))

$(DIST_BUILD)/linux_%/pixie-agent: $(DIST_SRC) $(DIST_BUILD)/agent-ldflags
	CGO_ENABLED=0 GOOS=linux GOARCH=$* $(GO) build -trimpath -ldflags "$(AGENT_LDFLAGS)" -o $@ ./cmd/pixie-agent

$(DIST)/%.sha256: $(DIST)/%
	cd $(@D) && sha256sum $* > $*.sha256

$(DIST_CHECKSUMS): $(DIST_ARCHIVES) $(DIST_IMAGE) $(DIST_PLUGIN_IMAGE) $(DIST_SBOM)
	cd $(@D) && sha256sum $(notdir $^) > $(@F)

# Every Go module each released binary links (SPDX 2.3, from debug/buildinfo).
$(DIST_SBOM): $(DIST_BINS) $(DIST_AGENTS) hack/sbom/main.go
	$(GO) run ./hack/sbom -o $@ -version $(DIST_VERSION) -epoch $(SOURCE_DATE_EPOCH) $(DIST_BINS) $(DIST_AGENTS)

# The probe image: the agent alone, both arches; its digest goes into the plugins.
$(DIST_IMAGE) $(DIST_PROBE_DIGEST) &: $(DIST_AGENTS) $(OCIIMAGE_SRC)
	$(GO) run ./hack/ociimage -o $(DIST_IMAGE) -name $(PROBE_REPO):$(DIST_VERSION) -digest-file $(DIST_PROBE_DIGEST) \
	  -epoch $(SOURCE_DATE_EPOCH) $(foreach a,$(DIST_AGENT_ARCHES),-bin $(a)=$(DIST_BUILD)/linux_$(a)/pixie-agent)

# The plugin image: the plugin binary alone (in-cluster use such as CronJobs).
$(DIST_PLUGIN_IMAGE) $(DIST_PLUGIN_DIGEST) &: $(foreach a,$(DIST_AGENT_ARCHES),$(call dist_bin,linux/$(a))) $(OCIIMAGE_SRC)
	$(GO) run ./hack/ociimage -o $(DIST_PLUGIN_IMAGE) -name $(PLUGIN_REPO):$(DIST_VERSION) -digest-file $(DIST_PLUGIN_DIGEST) \
	  -entrypoint /kubectl-pixie -title kubectl-pixie -epoch $(SOURCE_DATE_EPOCH) \
	  $(foreach a,$(DIST_AGENT_ARCHES),-bin $(a)=$(call dist_bin,linux/$(a)))

.PHONY: image
image: ## single-arch probe image for this host: bin/probe-image_linux_ARCH.tar (ctr -n k8s.io images import)
	@mkdir -p $(BIN)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/pixie-agent_linux_$(IMAGE_ARCH) ./cmd/pixie-agent
	$(GO) run ./hack/ociimage -o $(IMAGE_TAR) -name $(IMAGE) -epoch $(SOURCE_DATE_EPOCH) -bin $(IMAGE_ARCH)=$(BIN)/pixie-agent_linux_$(IMAGE_ARCH)
	@echo "$(IMAGE_TAR): $(IMAGE) (linux/$(IMAGE_ARCH))"

.PHONY: krew-manifest
krew-manifest: ## write version, uri and sha256 into krew-manifest.yaml from dist/ (VERSION=vX.Y.Z)
	bash hack/dist/krew-manifest.sh -version $(DIST_VERSION) -dist $(DIST) -o krew-manifest.yaml

.PHONY: krew-verify
krew-verify: $(DIST_ARCHIVES) $(DIST_ARCHIVES:=.sha256) ## validate the manifest, install offline with krew for every platform, run kubectl pixie through kubectl
	GO=$(GO) BIN=$(abspath $(BIN)) DIST=$(DIST) DIST_VERSION=$(DIST_VERSION) bash hack/dist/krew-verify.sh

.PHONY: FORCE
FORCE:
