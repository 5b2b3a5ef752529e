#!/usr/bin/env bash
# The hash of the CUDA kernel sources that the committed PTX was generated from: sha256
# over "kernels/<name>\n<content>" of every .cu and .cuh file in nn/cuda/kernels, in byte
# order of the names. nn/cuda's TestPTXUpToDate computes the same over the embedded
# sources and fails when the PTX is stale (run make ptx).
set -euo pipefail
cd "$(dirname "$0")/../nn/cuda"
for f in $(LC_ALL=C ls kernels/*.cu kernels/*.cuh | LC_ALL=C sort); do
	printf '%s\n' "$f"
	cat "$f"
done | sha256sum | cut -d' ' -f1
