package cuda

// #cgo CXXFLAGS: -std=c++20 -O2
// #include <stdlib.h>
// #include <string.h>
// #include "emu_api.h"
// // Device addresses travel as integers (uintptr) through the backend interface; these
// // turn them back into C pointers on the C side, where that is legal.
// static void *tj_p(uintptr_t p) { return (void *)p; }
// static void tj_free(uintptr_t p) { free((void *)p); }
// static void tj_up(uintptr_t dst, const void *src, size_t n) { memcpy((void *)dst, src, n); }
// static void tj_down(void *dst, uintptr_t src, size_t n) { memcpy(dst, (const void *)src, n); }
// static void tj_dd(uintptr_t dst, uintptr_t src, size_t n) { memmove((void *)dst, (const void *)src, n); }
// static void tj_zero(uintptr_t p, size_t n) { memset((void *)p, 0, n); }
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/thinkjepa/thinkjepa/nn/kern"
)

// emu is the CPU emulator backend: device memory is C heap memory, kernels are the .cu
// sources compiled as C++ through kernels/emu.h (emu.cc), GEMMs run on the CPU BLAS
// (OpenBLAS, or gonum under the noopenblas tag) through nn/kern.
type emu struct {
	planted bool // launch the planted-bug kernel variants (tests only)
	mu      sync.Mutex
	ids     map[string]C.int
}

func newEmu() *emu { return &emu{ids: map[string]C.int{}} }

func (*emu) name() string { return "emu" }

func (*emu) alloc(bytes int) uintptr {
	// 64-byte alignment like the CPU engine's buffers (and like cudaMalloc's 256).
	p := C.aligned_alloc(64, C.size_t((max(bytes, 1)+63)/64*64))
	if p == nil {
		panic(fmt.Sprintf("cuda/emu: out of memory allocating %d bytes", bytes))
	}
	return uintptr(p)
}

func (*emu) free(p uintptr, _ int) { C.tj_free(C.uintptr_t(p)) }

func (*emu) upload(dst uintptr, src unsafe.Pointer, bytes int) {
	if bytes > 0 {
		C.tj_up(C.uintptr_t(dst), src, C.size_t(bytes))
	}
}

func (*emu) download(dst unsafe.Pointer, src uintptr, bytes int) {
	if bytes > 0 {
		C.tj_down(dst, C.uintptr_t(src), C.size_t(bytes))
	}
}

func (*emu) copyDD(dst, src uintptr, bytes int) {
	if bytes > 0 {
		C.tj_dd(C.uintptr_t(dst), C.uintptr_t(src), C.size_t(bytes))
	}
}

func (*emu) zero(p uintptr, bytes int) {
	if bytes > 0 {
		C.tj_zero(C.uintptr_t(p), C.size_t(bytes))
	}
}

func (e *emu) launch(kernel string, grid, block dim3, smem int, args []uint64) {
	planted := C.int(0)
	if e.planted {
		planted = 1
	}
	e.mu.Lock()
	id, ok := e.ids[kernel]
	if !ok {
		cs := C.CString(kernel)
		id = C.tj_emu_find(planted, cs)
		C.free(unsafe.Pointer(cs))
		if id < 0 && e.planted { // kernels without a planted variant run as usual
			e.mu.Unlock()
			(&emu{ids: map[string]C.int{}}).launch(kernel, grid, block, smem, args)
			return
		}
		if id < 0 {
			e.mu.Unlock()
			panic("cuda/emu: no kernel " + kernel)
		}
		e.ids[kernel] = id
	}
	e.mu.Unlock()
	var slots *C.uint64_t
	if len(args) > 0 {
		slots = (*C.uint64_t)(unsafe.Pointer(&args[0]))
	}
	msg := C.tj_emu_launch(planted, id, C.uint(grid.x), C.uint(grid.y), C.uint(grid.z), C.uint(block.x), C.uint(block.y), C.uint(block.z),
		C.ulong(smem), slots, C.int(len(args)))
	if msg != nil {
		panic("cuda/emu: " + C.GoString(msg))
	}
}

// f32 views device (C heap) memory as a Go slice of n floats.
func f32(p uintptr, n int) []float32 {
	if n <= 0 {
		return nil
	}
	return unsafe.Slice((*float32)(C.tj_p(C.uintptr_t(p))), n)
}

// span is the number of elements a rows×cols row-major matrix with leading dimension ld
// touches.
func span(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

func (*emu) gemm(g *gemmArgs) {
	ar, ac := g.m, g.k
	if g.transA {
		ar, ac = g.k, g.m
	}
	br, bc := g.k, g.n
	if g.transB {
		br, bc = g.n, g.k
	}
	for i := 0; i < g.batch; i++ {
		a := f32(g.a+uintptr(int64(i)*g.strideA*4), span(ar, ac, g.lda))
		b := f32(g.b+uintptr(int64(i)*g.strideB*4), span(br, bc, g.ldb))
		c := f32(g.c+uintptr(int64(i)*g.strideC*4), span(g.m, g.n, g.ldc))
		kern.Gemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, c, g.ldc)
	}
}

func (*emu) sync() error { return nil }

// newPlantedEmu is the emulator with the planted-bug kernel variants of emu_planted.cc
// (for the test that proves a missing barrier is caught).
func newPlantedEmu() *emu { return &emu{planted: true, ids: map[string]C.int{}} }
