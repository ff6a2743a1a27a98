# Lambent's commands. `make help` lists them; CI runs `make test` (see .ci/run).

GO        ?= go
ARGS      ?=
# honnef.co/go/tools, fetched through the Go module proxy by `go run`.
STATICCHECK ?= v0.8.2
BENCH     ?= .
BENCHTIME ?= 1s
# Each test binary's limit; the whole suite takes a few minutes on 2 cores.
TESTFLAGS ?= -timeout 10m
# The AWS CLI v2 the tests drive: Debian's awscli package puts it here.
AWS_CLI   ?= /usr/bin/aws

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install what the tests need and is missing (Debian's awscli, for the AWS CLI v2 at /usr/bin/aws)
	@if [ -x $(AWS_CLI) ]; then exit 0; fi; \
	sudo=""; if [ "$$(id -u)" -ne 0 ]; then sudo=sudo; fi; \
	echo "$(AWS_CLI) is missing: installing Debian's awscli"; \
	$$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y awscli

.PHONY: test
test: deps ## Install missing test dependencies, then vet, staticcheck, check formatting and run every test
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK) ./...
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then \
		echo "gofmt -l: these files need gofmt -w:"; echo "$$unformatted"; exit 1; fi
	$(GO) test $(TESTFLAGS) ./...

.PHONY: bench
bench: ## Run the benchmarks in bench/ and the linux sandbox cold start (BENCH=regexp, BENCHTIME=1s)
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) ./bench/... ./internal/sandbox/linux/

.PHONY: build
build: ## Build bin/lambent
	$(GO) build -o bin/lambent ./cmd/lambent

.PHONY: run
run: ## Run `lambent server` with embedded defaults (ARGS="--listen ..." to change them)
	$(GO) run ./cmd/lambent server $(ARGS)
