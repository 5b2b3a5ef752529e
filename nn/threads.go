package nn

import "github.com/thinkjepa/thinkjepa/nn/kern"

// SetThreads sets how many threads the CPU kernels use: the kernels' own goroutines
// and OpenBLAS's thread pool. n < 1 means 1.
func SetThreads(n int) { kern.SetThreads(n) }

// Threads is the current CPU kernel thread count.
func Threads() int { return kern.Threads() }
