#!/usr/bin/env bash
# Fetches Debian bookworm's CUDA 11.8 toolkit pieces that thinkjepa needs without a GPU
# (nvcc + ptxas to make and assemble PTX; cuda.h + the libcuda/libcublas link stubs to
# compile the cuda-tagged build) into a private directory, without touching the
# system's apt sources: the packages sit in Debian's contrib/non-free components, which
# a stock bookworm machine has not enabled. Downloads are cached, so a rerun is fast.
#
#   scripts/cuda-toolkit.sh            # prints the toolkit root (default /var/cache/thinkjepa/cuda-11.8)
#   CUDA_CACHE=/some/dir scripts/cuda-toolkit.sh
#
# After it: $root/bin/nvcc (wrapper), $root/usr/bin/ptxas, $root/usr/include/cuda.h,
# $root/usr/lib/x86_64-linux-gnu/stubs/libcuda.so.
set -euo pipefail
CACHE=${CUDA_CACHE:-/var/cache/thinkjepa}
ROOT=$CACHE/cuda-11.8
STAMP=$ROOT/.complete
if [ -f "$STAMP" ]; then echo "$ROOT"; exit 0; fi

APT=$CACHE/apt
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$CACHE/debs"
echo "deb http://deb.debian.org/debian bookworm main contrib non-free non-free-firmware" > "$APT/sources.list"
touch "$APT/status"
APTO=(-o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$APT/lists" -o Dir::State::Status="$APT/status" -o Dir::Cache="$APT/cache"
      -o APT::Sandbox::User=root)
PKGS=(nvidia-cuda-toolkit nvidia-cuda-dev libnvvm4)
have=1
for p in "${PKGS[@]}"; do ls "$CACHE/debs/${p}_"*.deb >/dev/null 2>&1 || have=0; done
if [ $have = 0 ]; then
	echo "cuda-toolkit: downloading ${PKGS[*]} (about 870 MB) into $CACHE/debs" >&2
	apt-get "${APTO[@]}" update -q >&2
	(cd "$CACHE/debs" && apt-get "${APTO[@]}" download "${PKGS[@]}" >&2)
fi
rm -rf "$ROOT.tmp" && mkdir -p "$ROOT.tmp"
echo "cuda-toolkit: extracting into $ROOT" >&2
dpkg-deb -x "$CACHE/debs/"nvidia-cuda-toolkit_*.deb "$ROOT.tmp"
dpkg-deb -x "$CACHE/debs/"libnvvm4_*.deb "$ROOT.tmp"
# Of the 2.8 GB nvidia-cuda-dev, only the headers and the link stubs.
dpkg-deb --fsys-tarfile "$CACHE/debs/"nvidia-cuda-dev_*.deb | tar -x -C "$ROOT.tmp" --wildcards './usr/include/*' './usr/lib/x86_64-linux-gnu/stubs/*'
# nvcc reads nvcc.profile beside its binary; Debian's points at /usr. Make it relative.
cat > "$ROOT.tmp/usr/lib/nvidia-cuda-toolkit/bin/nvcc.profile" <<'PROFILE'
NVVMIR_LIBRARY_DIR = $(_HERE_)/../libdevice
PATH += $(_HERE_):
INCLUDES += "-I$(_HERE_)/../../../include" $(_SPACE_)
LIBRARIES =+ $(_SPACE_) "-L$(_HERE_)/../../x86_64-linux-gnu/stubs"
PROFILE
mkdir -p "$ROOT.tmp/bin"
# CUDA 11.8 wants gcc ≤ 11; bookworm has 12. For PTX generation the host compiler only
# preprocesses, which gcc 12 does fine.
cat > "$ROOT.tmp/bin/nvcc" <<'WRAP'
#!/bin/sh
here=$(cd "$(dirname "$0")/.." && pwd)
LD_LIBRARY_PATH="$here/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
	exec "$here/usr/lib/nvidia-cuda-toolkit/bin/nvcc" -ccbin /usr/bin/g++ -allow-unsupported-compiler "$@"
WRAP
chmod +x "$ROOT.tmp/bin/nvcc"
ln -sf ../usr/bin/ptxas "$ROOT.tmp/bin/ptxas"
rm -rf "$ROOT" && mv "$ROOT.tmp" "$ROOT"
touch "$STAMP"
echo "$ROOT"
