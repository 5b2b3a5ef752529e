//go:build !noopenblas

// Vectorisable float32 inner loops of the attention softmax and of GELU. gcc builds
// AVX-512, AVX2 and baseline clones and picks one at load time.
#include <math.h>
#include <stdint.h>
#include <string.h>

// No floating-point traps are relied on here; telling gcc so lets it if-convert the clamps
// in tj_expf/tj_erff. Without it most loops calling them stayed scalar and GELU backward
// ran 25x slower than forward. (A pragma, because cgo rejects -fno-trapping-math in CFLAGS.)
#pragma GCC optimize("no-trapping-math")

#define TJ_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

// Cephes-style expf: range reduction by ln2, degree-6 polynomial, 2^n through the
// exponent bits. Relative error about 1e-7; arguments below -87 give exactly 0.
static inline float tj_expf(float x) {
	float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
	float fn = floorf(xc * 1.44269504088896341f + 0.5f);
	float r = xc - fn * 0.693359375f;
	r = r + fn * 2.12194440e-4f;
	float p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	int32_t bits = ((int32_t)fn + 127) << 23;
	float scale;
	memcpy(&scale, &bits, 4);
	return x < -87.0f ? 0.0f : p * scale;
}

// erf for float32 via an odd/even rational approximation on [-4, 4] (|erf| saturates
// to 1 within float32 beyond that).
static inline float tj_erff(float x) {
	float xc = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
	float x2 = xc * xc;
	float p = -2.72614225801306e-10f;
	p = p * x2 + 2.77068142495902e-08f;
	p = p * x2 + -2.10102402082508e-06f;
	p = p * x2 + -5.69250639462346e-05f;
	p = p * x2 + -7.34990630326855e-04f;
	p = p * x2 + -2.95459980854025e-03f;
	p = p * x2 + -1.60960333262415e-02f;
	p = p * xc;
	float q = -1.45660718464996e-05f;
	q = q * x2 + -2.13374055278905e-04f;
	q = q * x2 + -1.68282697438203e-03f;
	q = q * x2 + -7.37332916720468e-03f;
	q = q * x2 + -1.42647390514189e-02f;
	return p / q;
}

TJ_CLONES void tj_exp_f32(float *x, int n) {
	for (int i = 0; i < n; i++) x[i] = tj_expf(x[i]);
}

TJ_CLONES void tj_erf_f32(float *x, int n) {
	for (int i = 0; i < n; i++) x[i] = tj_erff(x[i]);
}

// One forward tile of online softmax: s [nq×nk] scores (scaled) becomes exp(s − m_new);
// running max m and sum l are updated and the output rows o [nq×hd] rescaled.
// qg/kg (may be NULL) mask key j for query i when kg[j] > qg[i].
TJ_CLONES void tj_attn_fwd_tile(float *s, int nq, int nk, double *m, double *l, float *o, int hd,
                                const int32_t *qg, const int32_t *kg) {
	for (int i = 0; i < nq; i++) {
		float *row = s + (long)i * nk;
		if (qg) {
			int32_t q = qg[i];
			for (int j = 0; j < nk; j++) row[j] = kg[j] > q ? -INFINITY : row[j];
		}
		float mx = (float)m[i];
#pragma omp simd reduction(max : mx)
		for (int j = 0; j < nk; j++) mx = row[j] > mx ? row[j] : mx;
		if (isinf(mx) && mx < 0) {
			memset(row, 0, sizeof(float) * nk);
			continue;
		}
		if ((double)mx != m[i]) {
			float alpha = isinf(m[i]) ? 0.0f : tj_expf((float)(m[i] - (double)mx));
			l[i] *= alpha;
			float *orow = o + (long)i * hd;
			for (int c = 0; c < hd; c++) orow[c] *= alpha;
			m[i] = mx;
		}
		float sum = 0;
#pragma omp simd reduction(+ : sum)
		for (int j = 0; j < nk; j++) {
			float e = tj_expf(row[j] - mx);
			row[j] = e;
			sum += e;
		}
		l[i] += sum;
	}
}

// Backward tile: s [nq×nk] scores (scaled) become probabilities exp(s − lse), masked → 0.
TJ_CLONES void tj_attn_bwd_p(float *s, int nq, int nk, const float *lse, const int32_t *qg, const int32_t *kg) {
	for (int i = 0; i < nq; i++) {
		float *row = s + (long)i * nk;
		float li = lse[i];
		if (isinf(li) && li < 0) {
			memset(row, 0, sizeof(float) * nk);
			continue;
		}
		if (qg) {
			int32_t q = qg[i];
			for (int j = 0; j < nk; j++) row[j] = kg[j] > q ? 0.0f : tj_expf(row[j] - li);
		} else {
			for (int j = 0; j < nk; j++) row[j] = tj_expf(row[j] - li);
		}
	}
}

// dS = P ∘ (dP − D_i) · scale, written over dp.
TJ_CLONES void tj_attn_bwd_ds(float *dp, const float *p, int nq, int nk, const float *d, float scale) {
	for (int i = 0; i < nq; i++) {
		float di = d[i];
		float *dr = dp + (long)i * nk;
		const float *pr = p + (long)i * nk;
		for (int j = 0; j < nk; j++) dr[j] = pr[j] * (dr[j] - di) * scale;
	}
}

// GELU forward and backward (exact erf form) in float32.
TJ_CLONES void tj_gelu_f32(float *out, const float *in, long n) {
	for (long i = 0; i < n; i++) {
		float x = in[i];
		out[i] = 0.5f * x * (1.0f + tj_erff(x * 0.70710678118654752f));
	}
}

TJ_CLONES void tj_gelu_bwd_f32(float *din, const float *dout, const float *in, long n) {
	for (long i = 0; i < n; i++) {
		float x = in[i];
		float cdf = 0.5f * (1.0f + tj_erff(x * 0.70710678118654752f));
		float pdf = 0.3989422804014327f * tj_expf(-0.5f * x * x);
		din[i] += dout[i] * (cdf + x * pdf);
	}
}
