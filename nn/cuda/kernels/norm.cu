// norm.cu: LayerNorm over the last dim, one block per row.

// out = (x − mean)·rstd·w + b over rows of width C; saves mean and rstd [M]. w and b may
// be null. Two passes over the row (mean, then the centred sum of squares) as the CPU
// kernel does, in float32.
KERNEL tj_layernorm(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b, int C,
                    float eps) {
	__shared__ float red[33];
	const i64 row = blockIdx.x;
	const float *x = in + row * C;
	float s = 0.f;
	for (int j = threadIdx.x; j < C; j += blockDim.x) s += x[j];
	const float m = block_sum(s, red) / (float)C;
	float ss = 0.f;
	for (int j = threadIdx.x; j < C; j += blockDim.x) {
		float d = x[j] - m;
		ss += d * d;
	}
	const float rs = 1.f / sqrtf(block_sum(ss, red) / (float)C + eps);
	if (threadIdx.x == 0) {
		mean[row] = m;
		rstd[row] = rs;
	}
	float *o = out + row * C;
	for (int j = threadIdx.x; j < C; j += blockDim.x) {
		float v = (x[j] - m) * rs;
		if (w) v *= w[j];
		if (b) v += b[j];
		o[j] = v;
	}
}

// dIn[i, :] += (dn − mean(dn) − x̂·mean(dn·x̂))·rstd with dn = dOut·w (w may be null).
KERNEL tj_layernorm_bwd_dx(float *din, const float *dout, const float *in, const float *w, const float *mean,
                           const float *rstd, int C) {
	__shared__ float red[33];
	const i64 row = blockIdx.x;
	const float *x = in + row * C, *g = dout + row * C;
	const float m = mean[row], rs = rstd[row];
	float sd = 0.f, sdn = 0.f;
	for (int j = threadIdx.x; j < C; j += blockDim.x) {
		float n = (x[j] - m) * rs;
		float dn = w ? g[j] * w[j] : g[j];
		sd += dn;
		sdn += dn * n;
	}
	const float md = block_sum(sd, red) / (float)C;
	const float mdn = block_sum(sdn, red) / (float)C;
	float *d = din + row * C;
	for (int j = threadIdx.x; j < C; j += blockDim.x) {
		float n = (x[j] - m) * rs;
		float dn = w ? g[j] * w[j] : g[j];
		d[j] += (dn - md - n * mdn) * rs;
	}
}
