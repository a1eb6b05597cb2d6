# faultline — the two commands a new machine needs: `make demo` and `make test`.
# Everything installs itself: the system packages (scripts/system-deps: nftables, qemu, iproute2,
# GNU time, ...), the venv with moto and cargo-lambda (scripts/local-aws install) and, for the
# tests, checkov's venv.
# Each command builds every crate once: one `cargo build` (or nextest's build) per command, and
# the demo runs the binary it built (a `cargo run -p` would compile the SDKs again with another
# feature set).
SHELL := /bin/bash
CARGO ?= cargo
# make package: the Lambda/layer architecture (Terraform's `architecture`, default arm64) and the
# EC2 instances' one for faultline-agent (Terraform's `agent_architecture`).
ARCH ?= arm64
AGENT_ARCH ?= x86_64

.PHONY: help demo test build deps venv checkov lint bench clean layer package

help:
	@echo "make demo   deploy faultline into a local AWS with terraform, run one scheduled round, show recovery, email and Slack"
	@echo "make test   build everything and run every test (unit + end to end against moto)"
	@echo "make lint   cargo fmt --check and clippy -D warnings"
	@echo "make layer  build the failure-injection Lambda layer zip (target/layer/)"
	@echo "make package [ARCH=arm64|x86_64] [AGENT_ARCH=...]  build what terraform/ deploys into dist/<arch>/"
	@echo "make bench  one round per fleet size (1,000 to 10,000 instances; SIZES=...), side by side with Chaos Toolkit"

deps:
	@scripts/system-deps

venv:
	@scripts/local-aws install

# checkov, for the Terraform tests only (the demo does not need it).
checkov:
	@scripts/local-aws install-checkov

build:
	$(CARGO) build --workspace --bins

# The end-to-end tests run the built binaries: one build of every target (binaries and tests
# together, so the SDKs are compiled once with one feature set), then the run.
test: deps venv checkov
	$(CARGO) build --workspace --all-targets
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  echo "cargo-nextest not found; using cargo test"; $(CARGO) test --workspace --no-fail-fast; \
	fi

demo: deps venv build
	"$${CARGO_TARGET_DIR:-target}/debug/demo"

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The failure-injection Lambda layer zip(s) under target/layer/ (x86_64; arm64 when the
# toolchain has that target, otherwise it says so).
layer:
	layer/package

# What terraform/ deploys: dist/$(ARCH)/{monkey,recovery-timer,notifier,faultline-layer}.zip and
# dist/$(AGENT_ARCH)/faultline-agent (release builds; fails up front when ARCH can't be built here).
package:
	ARCH=$(ARCH) AGENT_ARCH=$(AGENT_ARCH) CARGO=$(CARGO) scripts/package

bench: venv
	scripts/bench

clean:
	$(CARGO) clean
