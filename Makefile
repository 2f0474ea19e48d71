# kiln's build, test and judge targets. `make` alone builds the CLI.
#
# The judges that come from Go modules (Quadlet, the Ignition validator and the
# Ignition engine) are built from the separate module in tools/ into bin/,
# where internal/testutil.Tool finds them.

GO       ?= go
# A count of inputs, not a duration: Go 1.26's fuzz coordinator can report
# a spurious "context deadline exceeded" failure when a wall-clock -fuzztime
# expires while a starved worker is mid-input (golang/go#75804, fixed in
# Go 1.27); a count has no deadline to race. 300000 inputs take 30-60 s here.
FUZZTIME ?= 300000x
# CI must finish every test well under 20 minutes; a hung test fails here
# instead of eating the whole CI budget.
TEST_TIMEOUT ?= 15m

BIN   := bin
TOOLS := $(BIN)/quadlet $(BIN)/ignition-validate $(BIN)/ignition
# A judge is rebuilt when the versions pinned in tools/ change.
TOOLS_DEPS := tools/go.mod tools/go.sum tools/tools.go

# These flags turn off what only makes sense inside a real initramfs, so the
# engine can apply a config to a scratch directory.
IGNITION_LDFLAGS := -X github.com/coreos/ignition/v2/internal/distro.selinuxRelabel=false \
	-X github.com/coreos/ignition/v2/internal/distro.writeAuthorizedKeysFragment=false

.DEFAULT_GOAL := build
.PHONY: build tools test fuzz bench golden clean testos vmtest

# The version kiln reports; `make build VERSION=1.2.3` for a release.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/kiln ./cmd/kiln

tools: $(TOOLS)

# Quadlet needs no C library; building it without cgo keeps it independent
# of the host's headers.
$(BIN)/quadlet: $(TOOLS_DEPS)
	cd tools && CGO_ENABLED=0 $(GO) build -o ../$@ github.com/containers/podman/v5/cmd/quadlet

$(BIN)/ignition-validate: $(TOOLS_DEPS)
	cd tools && CGO_ENABLED=0 $(GO) build -o ../$@ github.com/coreos/ignition/v2/validate

# The engine looks users up and probes filesystems through libblkid: cgo is
# required (package libblkid-dev).
$(BIN)/ignition: $(TOOLS_DEPS)
	cd tools && CGO_ENABLED=1 $(GO) build -ldflags "$(IGNITION_LDFLAGS)" -o ../$@ github.com/coreos/ignition/v2/internal

# go test hides skipped tests unless -v, and a skipped judge judges
# nothing: internal/testreport prints go test's usual lines, then every
# skipped test grouped by its reason and where the missing judges come from.
test: tools
	@echo "$(GO) test -timeout $(TEST_TIMEOUT) -json ./... | $(GO) run ./internal/testreport"
	@bash -o pipefail -c '$(GO) test -timeout $(TEST_TIMEOUT) -json ./... | $(GO) run ./internal/testreport'

# `go test -fuzz` takes one package, so the target finds the package that
# declares FuzzLoad and fails loudly when there is none: a fuzz run that
# silently fuzzes nothing cannot find anything.
fuzz:
	@pkgs=$$(grep -rlE --include='*_test.go' '^func FuzzLoad\(' builder 2>/dev/null | xargs -r -n1 dirname | sort -u); \
	if [ -z "$$pkgs" ]; then echo "make fuzz: no FuzzLoad target in any builder/ package" >&2; exit 1; fi; \
	for p in $$pkgs; do \
		echo "$(GO) test ./$$p -run='^\$$' -fuzz='^FuzzLoad\$$' -fuzztime=$(FUZZTIME)"; \
		$(GO) test ./$$p -run='^$$' -fuzz='^FuzzLoad$$' -fuzztime=$(FUZZTIME) || exit 1; \
	done

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	@if [ -f images/bench.sh ]; then echo "bash images/bench.sh"; bash images/bench.sh; fi

# Only test binaries that link internal/testutil define -update; passing it to
# any other package would fail with "flag provided but not defined".
golden:
	@pkgs=$$($(GO) list -test -f '{{.ImportPath}} {{join .Deps " "}}' ./... | \
		awk '$$1 ~ /\.test$$/ && / github\.com\/kiln-dev\/kiln\/internal\/testutil( |$$)/ { sub(/\.test$$/, "", $$1); print $$1 }'); \
	if [ -z "$$pkgs" ]; then echo "make golden: no package uses golden files yet"; exit 0; fi; \
	echo "$(GO) test" $$pkgs "-update"; \
	$(GO) test $$pkgs -update

# The FCOS-shaped test OS that the VM tests boot (Debian 13 packages; needs
# root, mmdebstrap and a loop device). Reused while its inputs are unchanged,
# also from /var/cache/kiln-testos.
testos:
	bash testos/build.sh

# The whole-appliance VM test: Clipper, built on the test OS, booted in QEMU
# (TCG unless KILN_VM_ACCEL=kvm). Behind a build tag because one boot takes
# minutes; `make test` does not run it. Its own bounds (login 15 min from
# power-on, healthy 20 min after, Prometheus 4, the backup run 10, the port
# probes a few) fail it with a diagnosis before this timeout, which only
# catches a hang; a passing boot takes 12-25 min. KILN_VM_KEY=FILE and
# KILN_VM_HOLD=10m let a person log in to the machine while it runs
# (testos/README.md).
VMTEST_TIMEOUT ?= 60m
vmtest: testos
	$(GO) test -tags vmtest -timeout $(VMTEST_TIMEOUT) -v -run TestClipperBoots ./testos/

# `kiln test-boot` itself, on a small appliance built on the test OS. Run it
# under the machine's VM lock: flock /tmp/kiln-vm.lock make vmtest-testboot.
.PHONY: vmtest-testboot
vmtest-testboot: testos
	$(GO) test -tags vmtest -timeout 30m -v -run TestTestBootOnTestOS ./cmd/kiln/

# Rebuild to upgrade, proven: v1 of a small appliance booted, data written,
# the OS replaced by v2 (data.mode partition, then volume) and booted again;
# the data and secrets must carry over. Four boots; `-run
# TestUpgradeKeepsData/partition` for one mode.
.PHONY: vmtest-upgrade
VMTEST_UPGRADE_TIMEOUT ?= 45m
vmtest-upgrade: testos
	$(GO) test -tags vmtest -timeout $(VMTEST_UPGRADE_TIMEOUT) -v -run TestUpgradeKeepsData ./testos/

# Live boots on the test OS: the PXE bundle (QEMU -kernel/-initrd, the
# rootfs fetched over HTTP from the host) and the live ISO (-cdrom) of a
# small appliance, each checked as test-boot checks a disk boot. Two boots;
# `-run TestLiveBoots/pxe` or `/iso` for one. Run it under the machine's VM
# lock: flock /tmp/kiln-vm.lock make vmtest-live.
.PHONY: vmtest-live
VMTEST_LIVE_TIMEOUT ?= 45m
vmtest-live: testos
	$(GO) test -tags vmtest -timeout $(VMTEST_LIVE_TIMEOUT) -v -run TestLiveBoots ./testos/

clean:
	rm -rf $(BIN) out kiln
