#!/usr/bin/env bash
# Builds the GPU bundle (make gpu-bundle): everything scripts/gpu-check.sh needs on a GPU
# machine that has no Go, no OpenBLAS and no HDF5 — statically linked cuda-tagged
# binaries (only libc, libm, libdl stay dynamic; libcuda and cuBLAS are loaded at run
# time), the cuda-tagged test binaries, the golden fixtures, the PyTorch reference —
# into gpu-bundle/ and gpu-bundle.tar.xz (the part that travels).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
root=$(scripts/cuda-toolkit.sh)
out=gpu-bundle
rm -rf "$out" gpu-bundle.tar.xz
mkdir -p "$out/bin" "$out/scripts" "$out/tools/gpu" "$out/tools/reference" "$out/testdata"
# Static archives first on the library path (the linker takes a directory's .so over its .a).
static=$(mktemp -d)
trap 'rm -rf "$static"' EXIT
L=/usr/lib/x86_64-linux-gnu
ln -s "$L/libopenblas.a" "$static/libopenblas.a"
ln -s "$L/libhdf5_serial.a" "$static/libhdf5.a"
ln -s "$L/libhdf5_serial_hl.a" "$static/libhdf5_hl.a"
for l in sz aec z; do ln -s "$L/lib$l.a" "$static/lib$l.a"; done
export CGO_CFLAGS="-I$root/usr/include"
export CGO_LDFLAGS="-L$static"
ext="-L$static -lhdf5 -lsz -laec -lz -lm -ldl -lpthread -static-libstdc++ -static-libgcc"
ldf="-s -w -X github.com/thinkjepa/thinkjepa/internal/buildinfo.Version=$(git describe --always --dirty 2>/dev/null || echo dev)"
$GO build -tags cuda -ldflags "$ldf -extldflags '$ext'" -o "$out/bin/thinkjepa" ./cmd/thinkjepa
for p in nn/cuda jepa film rollout train; do
	mkdir -p "$out/$p"
	$GO test -c -tags cuda -ldflags "-s -w -extldflags '$ext'" -o "$out/$p/$(basename $p).test" "./$p"
done
cp -r testdata/golden "$out/testdata/"
cp tools/gpu/torch_bench.py "$out/tools/gpu/"
cp tools/reference/reference.py "$out/tools/reference/"
cp scripts/gpu-check.sh "$out/scripts/"
echo "dynamic dependencies of bin/thinkjepa:"
ldd "$out/bin/thinkjepa" | sed 's/^/  /'
if ldd "$out/bin/thinkjepa" | grep -vE 'linux-vdso|libc\.so|libm\.so|libdl\.so|libpthread\.so|ld-linux' | grep -q '=>'; then
	echo "gpu-bundle: bin/thinkjepa needs more than libc/libm/libdl" >&2
	exit 1
fi
tar -cJf gpu-bundle.tar.xz -C "$out" .
du -sh "$out" | sed 's/^/unpacked: /'
ls -l gpu-bundle.tar.xz | awk '{printf "gpu-bundle.tar.xz: %.1f MiB\n", $5/1048576}'
size=$(stat -c %s gpu-bundle.tar.xz)
if [ "$size" -gt $((40 * 1024 * 1024)) ]; then
	echo "gpu-bundle: the archive is over 40 MiB" >&2
	exit 1
fi
