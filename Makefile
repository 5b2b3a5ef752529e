# thinkjepa — build, test, demo.
# `make demo` and `make test` do all the set-up on a fresh Debian/Ubuntu machine.

GO        ?= go
BIN       := bin/thinkjepa
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/thinkjepa/thinkjepa/internal/buildinfo.Version=$(VERSION)
# Debian packages the build and the tests need: OpenBLAS (GEMM), libhdf5 (EgoDex files),
# ffmpeg (video), h5py/numpy (independent checkers used by some tests).
DEB_PKGS  := build-essential pkg-config libopenblas-dev libhdf5-dev hdf5-tools ffmpeg python3 python3-numpy python3-h5py
# Only for regenerating golden fixtures and timing the PyTorch reference.
DEB_REF   := python3-torch
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_DIR  ?= demo-out

.PHONY: all deps deps-ref build test demo bench lint clean purego

all: build

# Installs only the packages that are missing; idempotent.
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; fi
	@command -v $(GO) >/dev/null || { echo "Go 1.26 is required (https://go.dev/dl)"; exit 1; }
	$(GO) mod download

deps-ref: deps
	@dpkg-query -W -f='$${Status}' $(DEB_REF) 2>/dev/null | grep -q "ok installed" || { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(DEB_REF); }

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/thinkjepa

# Pure-Go build (no OpenBLAS): slower GEMMs, same results.
purego:
	$(GO) build -tags noopenblas -ldflags "$(LDFLAGS)" -o bin/thinkjepa-purego ./cmd/thinkjepa

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -tags noopenblas ./nn/... ./train/...

demo: build
	THINKJEPA_BIN=$(BIN) DEMO_DIR=$(DEMO_DIR) ./scripts/demo.sh

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin $(DEMO_DIR)
