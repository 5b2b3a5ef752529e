// elementwise.cu: one thread per element, grid-stride loops, no barriers (TJ_NOSYNC in list.h).
// Forward kernels overwrite their outputs; backward kernels accumulate (+=), as in nn.Engine.

KERNEL tj_fill(float *x, float v, i64 n) {
	GRID_LOOP(i, n) x[i] = v;
}

KERNEL tj_add(float *out, const float *a, const float *b, i64 n) {
	GRID_LOOP(i, n) out[i] = a[i] + b[i];
}

KERNEL tj_scale(float *out, const float *a, float s, i64 n) {
	GRID_LOOP(i, n) out[i] = a[i] * s;
}

KERNEL tj_add_inplace(float *dst, const float *src, i64 n) {
	GRID_LOOP(i, n) dst[i] += src[i];
}

KERNEL tj_mul(float *out, const float *a, const float *b, i64 n) {
	GRID_LOOP(i, n) out[i] = a[i] * b[i];
}

KERNEL tj_abs(float *out, const float *a, i64 n) {
	GRID_LOOP(i, n) out[i] = fabsf(a[i]);
}

// sign(0) = 0, as PyTorch.
KERNEL tj_abs_bwd(float *din, const float *dout, const float *in, i64 n) {
	GRID_LOOP(i, n) {
		float x = in[i];
		if (x > 0.f) din[i] += dout[i];
		else if (x < 0.f) din[i] -= dout[i];
	}
}

KERNEL tj_tanh(float *out, const float *a, i64 n) {
	GRID_LOOP(i, n) out[i] = tanhf(a[i]);
}

KERNEL tj_tanh_bwd(float *din, const float *dout, const float *out, i64 n) {
	GRID_LOOP(i, n) {
		float y = out[i];
		din[i] += (1.f - y * y) * dout[i];
	}
}

// GELU, the exact erf form: x·Φ(x).
KERNEL tj_gelu(float *out, const float *in, i64 n) {
	GRID_LOOP(i, n) {
		float x = in[i];
		out[i] = 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
	}
}

// dIn += dOut·(Φ(x) + x·φ(x)).
KERNEL tj_gelu_bwd(float *din, const float *dout, const float *in, i64 n) {
	GRID_LOOP(i, n) {
		float x = in[i];
		float d = 0.5f * (1.f + erff(x * 0.70710678118654752f)) + x * 0.39894228040143268f * expf(-0.5f * x * x);
		din[i] += d * dout[i];
	}
}

// dA += f·(a−b) with f = scale·2/n computed by the caller.
KERNEL tj_mse_bwd(float *da, const float *a, const float *b, float f, i64 n) {
	GRID_LOOP(i, n) da[i] += f * (a[i] - b[i]);
}

// The dropout hash of kern.DropoutKeep: SplitMix64's finaliser of seed + (i+1)·golden
// ratio; element i is kept iff the hash is at least the threshold 2^64·p. The same
// function of (seed, i) on every device, so the CPU and GPU draw the same mask.
static __device__ __forceinline__ u64 dropout_hash(u64 seed, i64 i) {
	u64 z = seed + (u64)(i + 1) * 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

KERNEL tj_dropout(float *out, const float *in, u64 seed, u64 threshold, float scale, i64 n) {
	GRID_LOOP(i, n) out[i] = dropout_hash(seed, i) >= threshold ? in[i] * scale : 0.f;
}

KERNEL tj_dropout_bwd(float *din, const float *dout, u64 seed, u64 threshold, float scale, i64 n) {
	GRID_LOOP(i, n) if (dropout_hash(seed, i) >= threshold) din[i] += dout[i] * scale;
}

// AdamW (PyTorch semantics); step = lr/(1−β1ᵗ), sbc2 = √(1−β2ᵗ), decay = 1 − lr·wd are
// computed once on the host.
KERNEL tj_adamw(float *param, const float *grad, float *m, float *v, float beta1, float beta2, float eps,
                float decay, float step, float sbc2, i64 n) {
	GRID_LOOP(i, n) {
		float g = grad[i];
		float p = param[i] * decay;
		float mi = beta1 * m[i] + (1.f - beta1) * g;
		float vi = beta2 * v[i] + (1.f - beta2) * g * g;
		m[i] = mi;
		v[i] = vi;
		param[i] = p - step * mi / (sqrtf(vi) / sbc2 + eps);
	}
}

// FiLM: out[b,n,c] = x·(1+γ[b,c]) + β[b,c]; out may alias x.
KERNEL tj_film(float *out, const float *x, const float *gamma, const float *beta, int N, int C, i64 total) {
	GRID_LOOP(i, total) {
		i64 b = i / ((i64)N * C);
		int c = (int)(i % C);
		out[i] = x[i] * (1.f + gamma[b * C + c]) + beta[b * C + c];
	}
}

KERNEL tj_film_bwd_dx(float *dx, const float *dout, const float *gamma, int N, int C, i64 total) {
	GRID_LOOP(i, total) {
		i64 b = i / ((i64)N * C);
		int c = (int)(i % C);
		dx[i] += dout[i] * (1.f + gamma[b * C + c]);
	}
}
