//go:build !noopenblas

package kern

// #cgo CFLAGS: -O3 -fopenmp-simd
// #cgo LDFLAGS: -lm
// #include <stdint.h>
// void tj_exp_f32(float *x, int n);
// void tj_erf_f32(float *x, int n);
// void tj_attn_fwd_tile(float *s, int nq, int nk, double *m, double *l, float *o, int hd, const int32_t *qg, const int32_t *kg);
// void tj_attn_bwd_p(float *s, int nq, int nk, const float *lse, const int32_t *qg, const int32_t *kg);
// void tj_attn_bwd_ds(float *dp, const float *p, int nq, int nk, const float *d, float scale);
// void tj_gelu_f32(float *out, const float *in, long n);
// void tj_gelu_bwd_f32(float *din, const float *dout, const float *in, long n);
import "C"

import "unsafe"

// haveFast reports whether the vectorised C loops are linked.
const haveFast = true

func fp(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func ip(s []int32) *C.int32_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int32_t)(unsafe.Pointer(&s[0]))
}

func fastExp32(x []float32) { C.tj_exp_f32(fp(x), C.int(len(x))) }
func fastErf32(x []float32) { C.tj_erf_f32(fp(x), C.int(len(x))) }

func fastAttnFwdTile(s []float32, nq, nk int, m, l []float64, o []float32, hd int, qg, kg []int32) {
	C.tj_attn_fwd_tile(fp(s), C.int(nq), C.int(nk), (*C.double)(unsafe.Pointer(&m[0])), (*C.double)(unsafe.Pointer(&l[0])), fp(o), C.int(hd), ip(qg), ip(kg))
}

func fastAttnBwdP(s []float32, nq, nk int, lse []float32, qg, kg []int32) {
	C.tj_attn_bwd_p(fp(s), C.int(nq), C.int(nk), fp(lse), ip(qg), ip(kg))
}

func fastAttnBwdDS(dp, p []float32, nq, nk int, d []float32, scale float32) {
	C.tj_attn_bwd_ds(fp(dp), fp(p), C.int(nq), C.int(nk), fp(d), C.float(scale))
}

func fastGELU32(out, in []float32) { C.tj_gelu_f32(fp(out), fp(in), C.long(len(in))) }
func fastGELUBwd32(din, dout, in []float32) {
	C.tj_gelu_bwd_f32(fp(din), fp(dout), fp(in), C.long(len(in)))
}
