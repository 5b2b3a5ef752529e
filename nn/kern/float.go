// Package kern holds the compute kernels of thinkjepa's CPU engine as llm.c-style
// forward/backward pairs. Every kernel is generic over float32 and float64: the engine
// runs them in float32, and the tests run the very same code in float64 to check each
// backward pass against central differences.
//
// Conventions follow nn.Engine: row-major dense slices, forward kernels overwrite their
// outputs, backward kernels accumulate (+=) into every gradient and skip nil ones.
package kern

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Float is the element type of every kernel.
type Float interface{ ~float32 | ~float64 }

var threads atomic.Int32

func init() { threads.Store(int32(max(1, runtime.GOMAXPROCS(0)))) }

// SetThreads sets how many goroutines the kernels use and how many threads OpenBLAS
// uses (when linked). n < 1 means 1.
func SetThreads(n int) {
	if n < 1 {
		n = 1
	}
	threads.Store(int32(n))
	setBLASThreads(n)
}

// Threads is the current thread count.
func Threads() int { return int(threads.Load()) }

// parallelFor splits [0,n) into at most Threads() contiguous chunks of at least minChunk
// items and runs fn on each chunk, the last one on the calling goroutine.
func parallelFor(n, minChunk int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	t := Threads()
	if minChunk < 1 {
		minChunk = 1
	}
	if c := n / minChunk; c < t {
		t = c
	}
	if t <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < t-1; i++ {
		lo, hi := i*n/t, (i+1)*n/t
		wg.Add(1)
		go func() { defer wg.Done(); fn(lo, hi) }()
	}
	fn((t-1)*n/t, n)
	wg.Wait()
}

// parallelItems runs fn(i) for every i in [0,n), items handed out dynamically to
// Threads() workers (for uneven work such as masked attention heads).
func parallelItems(n int, fn func(worker, i int)) {
	t := min(Threads(), n)
	if t <= 1 {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < t; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(w, i)
			}
		}()
	}
	wg.Wait()
}
