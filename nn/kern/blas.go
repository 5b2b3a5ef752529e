package kern

import (
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

func is32[T Float]() bool { var z T; return unsafe.Sizeof(z) == 4 }

func as32[T Float](s []T) []float32 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&s[0])), len(s))
}

func as64[T Float](s []T) []float64 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(&s[0])), len(s))
}

func tr(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// Gemm computes C[m,n] = alpha·op(A)·op(B) + beta·C on row-major matrices with leading
// dimensions lda, ldb, ldc, through gonum's BLAS (OpenBLAS unless built with noopenblas).
func Gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if beta != 1 {
			for i := 0; i < m; i++ {
				row := c[i*ldc : i*ldc+n]
				for j := range row {
					row[j] *= beta
				}
			}
		}
		return
	}
	if is32[T]() {
		blas32.Implementation().Sgemm(tr(transA), tr(transB), m, n, k, float32(alpha), as32(a), lda, as32(b), ldb, float32(beta), as32(c), ldc)
		return
	}
	blas64.Implementation().Dgemm(tr(transA), tr(transB), m, n, k, float64(alpha), as64(a), lda, as64(b), ldb, float64(beta), as64(c), ldc)
}

// BatchedMatMul: for each of batch, C[M,N] = α·op(A)·op(B) + β·C over contiguous stacks.
func BatchedMatMul[T Float](c, a, b []T, batch, M, N, K int, transA, transB bool, alpha, beta T) {
	lda, ldb := K, N
	if transA {
		lda = M
	}
	if transB {
		ldb = K
	}
	for i := 0; i < batch; i++ {
		Gemm(transA, transB, M, N, K, alpha, a[i*M*K:(i+1)*M*K], lda, b[i*K*N:(i+1)*K*N], ldb, beta, c[i*M*N:(i+1)*M*N], N)
	}
}
