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
DEMO_ANOMALY_DIR ?= demo-anomaly-out

.PHONY: all deps deps-ref build test demo demo-anomaly bench lint clean purego ptx cuda-check gpu-bundle fuzz

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
	GO=$(GO) FUZZTIME=$(CI_FUZZTIME) ./scripts/fuzz.sh

# Every fuzz target for FUZZTIME each (make test runs them for CI_FUZZTIME).
CI_FUZZTIME ?= 6s
FUZZTIME    ?= 60s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

demo: build
	THINKJEPA_BIN=$(BIN) DEMO_DIR=$(DEMO_DIR) ./scripts/demo.sh

# The second demo: latent anomaly detection on synthetic episodes with labelled events.
demo-anomaly: build
	THINKJEPA_BIN=$(BIN) DEMO_DIR=$(DEMO_ANOMALY_DIR) ./scripts/demo-anomaly.sh

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin $(DEMO_DIR) $(DEMO_ANOMALY_DIR)

# ---- CUDA (nn/cuda) ----
# The CUDA 11.8 pieces come from Debian's contrib/non-free, fetched into a cache directory
# by scripts/cuda-toolkit.sh (the system's apt sources stay as they are).
CUDA_KERNELS := nn/cuda/kernels
CUDA_PTX     := nn/cuda/ptx

# Regenerates the committed PTX (compute_80 for A100-class GPUs, compute_90 for H100/H200)
# and the hash of the sources it came from; `make test` fails while the PTX is stale.
ptx:
	@root=$$(scripts/cuda-toolkit.sh) && mkdir -p $(CUDA_PTX) && \
	for a in 80 90; do \
		$$root/bin/nvcc -arch=compute_$$a -ptx $(CUDA_KERNELS)/all.cu -o $(CUDA_PTX)/kernels.sm_$$a.ptx || exit 1; \
	done && scripts/ptx-hash.sh > $(CUDA_PTX)/SOURCES.sha256 && \
	echo "PTX for sources $$(cat $(CUDA_PTX)/SOURCES.sha256) in $(CUDA_PTX)"

# What CI checks of the GPU path without a GPU: ptxas assembles the committed PTX for
# sm_80 and sm_90, and the cuda-tagged build compiles against CUDA's headers (no libcuda
# or cuBLAS is linked: both are loaded at run time).
cuda-check:
	@root=$$(scripts/cuda-toolkit.sh) && tmp=$$(mktemp -d) && \
	for a in 80 90; do \
		$$root/bin/ptxas -arch=sm_$$a $(CUDA_PTX)/kernels.sm_$$a.ptx -o $$tmp/k.cubin || exit 1; \
		echo "ptxas sm_$$a: $$(grep -c '^.visible .entry' $(CUDA_PTX)/kernels.sm_$$a.ptx) kernels assembled"; \
	done && rm -rf $$tmp && \
	CGO_CFLAGS="-I$$root/usr/include" $(GO) vet -tags cuda ./nn/cuda/ ./cmd/... && \
	CGO_CFLAGS="-I$$root/usr/include" $(GO) build -tags cuda -o /dev/null ./cmd/thinkjepa && echo "cuda-tagged build: ok"

# The GPU bundle (gpu-bundle/ and gpu-bundle.tar.xz, ignored): static cuda-tagged binaries,
# test binaries, fixtures and scripts/gpu-check.sh for a GPU machine without Go. Check it
# here with gpu-bundle/scripts/gpu-check.sh --dry-run.
gpu-bundle: deps
	scripts/gpu-bundle.sh
