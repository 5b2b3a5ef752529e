package cuda

import "unsafe"

// dim3 is a CUDA launch dimension.
type dim3 struct{ x, y, z int }

// gemmArgs is one (strided batched) SGEMM in row-major terms:
// C_i[m,n] = alpha·op(A_i)[m,k]·op(B_i)[k,n] + beta·C_i for i < batch, with A_i at
// a + i·strideA elements (likewise B, C).
type gemmArgs struct {
	transA, transB            bool
	m, n, k                   int
	alpha, beta               float32
	a, b, c                   uintptr
	lda, ldb, ldc             int
	strideA, strideB, strideC int64
	batch                     int
}

// backend is a device: memory, kernel launches by name, GEMMs. The engine above it is
// the same for the GPU (cu, build tag cuda) and the CPU emulator (emu).
//
// Kernel arguments travel as 8-byte slots, each holding one value in its low bytes
// (pointers as device addresses, int as int32, i64 as int64, float as float32 bits):
// cuLaunchKernel reads each parameter's own size from its slot, and so does the emulator.
type backend interface {
	name() string
	alloc(bytes int) uintptr
	free(p uintptr, bytes int)
	upload(dst uintptr, src unsafe.Pointer, bytes int)
	download(dst unsafe.Pointer, src uintptr, bytes int)
	copyDD(dst, src uintptr, bytes int)
	zero(p uintptr, bytes int)
	launch(kernel string, grid, block dim3, smem int, args []uint64)
	gemm(g *gemmArgs)
	sync() error
}
