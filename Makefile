# Herald's tasks. CI runs .ci/run, which runs the same test command as `make test`.

GO ?= go

# protoc comes from Debian's protobuf-compiler; the plugins are pinned here and
# installed into bin/tools so that whatever is on PATH does not matter.
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
TOOLS := $(CURDIR)/bin/tools

FUZZTIME ?= 10s

# golangci-lint, pinned, built from the Go module proxy into bin/tools.
GOLANGCI_LINT_VERSION := v2.15.0

.PHONY: build test test-short test-browser lint proto proto-check bench fuzz run

build:
	$(GO) build -o bin/herald ./cmd/herald

test:
	$(GO) test -race ./...

test-short:
	$(GO) test -short ./...

# The dashboard in headless Chromium (Debian's chromium); they skip without it.
# HERALD_SCREENSHOTS=docs/dashboard also refreshes the README's screenshots.
test-browser:
	$(GO) test -race -run '^TestBrowser' ./internal/dashboard/

lint:
	$(GO) vet ./...
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt:"; echo "$$out"; exit 1; fi
	@test -x $(TOOLS)/golangci-lint && $(TOOLS)/golangci-lint version 2>/dev/null | grep -q "$(GOLANGCI_LINT_VERSION:v%=%)" || \
		GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	$(TOOLS)/golangci-lint run ./...

proto:
	@command -v protoc >/dev/null 2>&1 || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	cd api/kubemq && PATH="$(TOOLS):$$PATH" $(GO) generate

proto-check: proto
	git diff --exit-code -- api/kubemq
	@out="$$(git ls-files --others --exclude-standard -- 'api/kubemq/*.go')"; \
	if [ -n "$$out" ]; then echo "make proto created untracked files:"; echo "$$out"; exit 1; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Runs each fuzz target for FUZZTIME, one after the other, and stops at the
# first failure (the failing input is saved under the package's
# testdata/fuzz). The targets are found in the sources, so a new Fuzz
# function is run without changing this file; go test -fuzz takes one
# target of one package at a time, hence the loops. CI: make fuzz FUZZTIME=5s.
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		pkg=$$(dirname $$f); \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

run:
	$(GO) run ./cmd/herald server
