package cuda

import "embed"

// kernelSources are the .cu/.cuh files and the emulator header. Embedding them makes the
// Go build cache see every change to a kernel (cgo's cache key covers only files in the
// package directory, and emu.cc includes these from kernels/), and lets a test check
// that the committed PTX was generated from exactly these sources.
//
//go:embed kernels/*.cu kernels/*.cuh kernels/*.h
var kernelSources embed.FS
