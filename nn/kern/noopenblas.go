//go:build noopenblas

package kern

// BLASName says which BLAS the GEMMs run on.
const BLASName = "gonum"

func setBLASThreads(int) {}
