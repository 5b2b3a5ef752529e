//go:build cuda

package cuda

// #cgo LDFLAGS: -ldl
// #include <stdlib.h>
// #include "cu_api.h"
import "C"

import (
	_ "embed"
	"fmt"
	"sync"
	"unsafe"
)

// The kernels as PTX (make ptx), JIT-compiled by the driver for the GPU at hand: compute_90
// for Hopper and newer, compute_80 for Ampere.
var (
	//go:embed ptx/kernels.sm_80.ptx
	ptx80 string
	//go:embed ptx/kernels.sm_90.ptx
	ptx90 string
)

// Built reports whether this binary has the GPU backend (build tag cuda).
const Built = true

func cerr(msg *C.char) error {
	if msg == nil {
		return nil
	}
	return fmt.Errorf("cuda: %s", C.GoString(msg))
}

// Probe reports what the driver sees, without creating a context. It fails with a clear
// error on a machine without an NVIDIA driver.
func Probe(device int) (Info, error) {
	var ci C.struct_tj_cu_info
	if err := cerr(C.tj_cu_info(C.int(device), &ci)); err != nil {
		return Info{Built: true}, err
	}
	inf := Info{Built: true, Driver: fmt.Sprintf("%d.%d", ci.driver/1000, (ci.driver%1000)/10), Devices: int(ci.count),
		Device: C.GoString(&ci.name[0]), Capability: fmt.Sprintf("%d.%d", ci.major, ci.minor), SMs: int(ci.sms), Memory: int64(ci.mem), major: int(ci.major)}
	if err := cerr(C.tj_cublas_load()); err != nil {
		inf.CUBLAS = err.Error()
	} else {
		inf.CUBLAS = C.GoString(C.tj_cublas_name())
	}
	return inf, nil
}

// gpu is the GPU backend: one device's primary context, the kernel module, cuBLAS, and a
// caching allocator.
type gpu struct {
	label  string
	blas   C.uint64_t // this engine's cuBLAS handle (its math mode is the precision)
	module C.uint64_t
	mu     sync.Mutex
	fns    map[string]C.uint64_t
	// Freed blocks by size, reused before asking the driver: a training step frees and
	// allocates the same shapes every iteration, and cuMemFree synchronises the device.
	pool map[int][]uintptr
}

var openMu sync.Mutex

// New opens the GPU engine on device o.Device with o.Precision GEMMs.
func New(o Options) (*Engine, error) {
	tf32, err := o.tf32()
	if err != nil {
		return nil, err
	}
	openMu.Lock()
	defer openMu.Unlock()
	inf, err := Probe(o.Device)
	if err != nil {
		return nil, err
	}
	var ver C.int
	var blas C.uint64_t
	if err := cerr(C.tj_cu_open(C.int(o.Device), boolInt(tf32), &ver, &blas)); err != nil {
		return nil, err
	}
	ptx := ptx80
	if inf.major >= 9 {
		ptx = ptx90
	}
	if inf.major < 8 {
		return nil, fmt.Errorf("cuda: %s has compute capability %s; the kernels need 8.0 or newer", inf.Device, inf.Capability)
	}
	cs := C.CString(ptx)
	defer C.free(unsafe.Pointer(cs))
	g := &gpu{blas: blas, fns: map[string]C.uint64_t{}, pool: map[int][]uintptr{}}
	if err := cerr(C.tj_cu_module(cs, &g.module)); err != nil {
		return nil, err
	}
	prec := "fp32"
	if tf32 {
		prec = "tf32"
	}
	g.label = fmt.Sprintf("gpu %s, %s GEMMs", inf.Device, prec)
	return &Engine{b: g}, nil
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func (g *gpu) name() string { return g.label }

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func poolKey(bytes int) int { return (max(bytes, 1) + 255) / 256 * 256 }

func (g *gpu) alloc(bytes int) uintptr {
	k := poolKey(bytes)
	g.mu.Lock()
	if l := g.pool[k]; len(l) > 0 {
		p := l[len(l)-1]
		g.pool[k] = l[:len(l)-1]
		g.mu.Unlock()
		return p
	}
	g.mu.Unlock()
	var p C.uint64_t
	if err := cerr(C.tj_cu_alloc(C.size_t(k), &p)); err != nil {
		// Out of memory with blocks parked in the pool: give them back and retry once.
		g.trim()
		must(cerr(C.tj_cu_alloc(C.size_t(k), &p)))
	}
	return uintptr(p)
}

// trim returns every pooled block to the driver.
func (g *gpu) trim() {
	g.mu.Lock()
	pool := g.pool
	g.pool = map[int][]uintptr{}
	g.mu.Unlock()
	for _, l := range pool {
		for _, p := range l {
			must(cerr(C.tj_cu_free(C.uint64_t(p))))
		}
	}
}

// free parks the block for reuse. Work queued on the (single, in-order) stream that still
// reads it runs before any later use of the block, so no synchronisation is needed.
func (g *gpu) free(p uintptr, bytes int) {
	k := poolKey(bytes)
	g.mu.Lock()
	g.pool[k] = append(g.pool[k], p)
	g.mu.Unlock()
}

func (g *gpu) upload(dst uintptr, src unsafe.Pointer, bytes int) {
	if bytes > 0 {
		must(cerr(C.tj_cu_htod(C.uint64_t(dst), src, C.size_t(bytes))))
	}
}

func (g *gpu) download(dst unsafe.Pointer, src uintptr, bytes int) {
	if bytes > 0 {
		must(cerr(C.tj_cu_dtoh(dst, C.uint64_t(src), C.size_t(bytes))))
	}
}

func (g *gpu) copyDD(dst, src uintptr, bytes int) {
	if bytes > 0 && dst != src {
		must(cerr(C.tj_cu_dtod(C.uint64_t(dst), C.uint64_t(src), C.size_t(bytes))))
	}
}

func (g *gpu) zero(p uintptr, bytes int) {
	if bytes > 0 {
		must(cerr(C.tj_cu_zero(C.uint64_t(p), C.size_t(bytes))))
	}
}

func (g *gpu) function(name string) C.uint64_t {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.fns[name]; ok {
		return f
	}
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var f C.uint64_t
	must(cerr(C.tj_cu_function(g.module, cs, &f)))
	g.fns[name] = f
	return f
}

func (g *gpu) launch(kernel string, grid, block dim3, smem int, args []uint64) {
	f := g.function(kernel)
	var slots *C.uint64_t
	if len(args) > 0 {
		slots = (*C.uint64_t)(unsafe.Pointer(&args[0]))
	}
	if err := cerr(C.tj_cu_launch(f, C.uint(grid.x), C.uint(grid.y), C.uint(grid.z), C.uint(block.x), C.uint(block.y), C.uint(block.z),
		C.uint(smem), slots, C.int(len(args)))); err != nil {
		panic(fmt.Errorf("%s: %w", kernel, err))
	}
}

func (g *gpu) gemm(a *gemmArgs) {
	must(cerr(C.tj_cu_gemm(g.blas, boolInt(a.transA), boolInt(a.transB), C.int(a.m), C.int(a.n), C.int(a.k), C.float(a.alpha),
		C.uint64_t(a.a), C.int(a.lda), C.longlong(a.strideA), C.uint64_t(a.b), C.int(a.ldb), C.longlong(a.strideB),
		C.float(a.beta), C.uint64_t(a.c), C.int(a.ldc), C.longlong(a.strideC), C.int(a.batch))))
}

func (g *gpu) sync() error { return cerr(C.tj_cu_sync()) }
