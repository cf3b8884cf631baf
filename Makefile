# zabcheck: a Jepsen-style linearizability harness for Zab.
# `make run` and `make test` do all the set-up on a machine with Go, git and a
# running Docker engine. `make help` lists the targets.

SHELL := /bin/bash
GO ?= go
BIN := bin
export TESTCONTAINERS_RYUK_DISABLED := true
export CGO_ENABLED ?= 0

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install the Debian packages the harness needs (debootstrap, iptables), if missing
	@missing=""; for p in debootstrap iptables; do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

.PHONY: build
build: ## build zabcheck and zabnode into bin/
	$(GO) build -o $(BIN)/ ./cmd/...

.PHONY: vet
vet: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: unit
unit: ## unit tests (no Docker)
	CGO_ENABLED=1 $(GO) test -race -short ./...

.PHONY: test
test: deps vet ## everything CI runs: unit tests, then the Docker end-to-end suite
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...
