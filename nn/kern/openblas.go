//go:build !noopenblas

package kern

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int num_threads);
import "C"

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
)

// BLASName says which BLAS the GEMMs run on.
const BLASName = "openblas"

func init() {
	blas32.Use(netlib.Implementation{})
	blas64.Use(netlib.Implementation{})
	setBLASThreads(Threads())
}

func setBLASThreads(n int) { C.openblas_set_num_threads(C.int(n)) }
