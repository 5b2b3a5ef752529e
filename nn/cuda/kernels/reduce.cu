// reduce.cu: column and whole-tensor reductions. Every sum has a fixed order (no atomics),
// so results are deterministic run to run.

// Column sums over rows, added into the output: for j < N, out[j] += Σ_{i<M} f(i, j).
// Block (32, 8): 32 columns, 8 row-strided partial sums combined in order through shared
// memory. grid.x = ceil(N/32), grid.y = groups (a batch of independent [M, N] problems,
// stride M·N in, N out).

// dB[j] += Σ_i dOut[i, j].
KERNEL tj_col_sum(float *out, const float *x, int M, int N) {
	__shared__ float part[8][33];
	const int j = blockIdx.x * 32 + threadIdx.x;
	const i64 base = (i64)blockIdx.y * M * N;
	float s = 0.f;
	if (j < N)
		for (int i = threadIdx.y; i < M; i += 8) s += x[base + (i64)i * N + j];
	part[threadIdx.y][threadIdx.x] = s;
	__syncthreads();
	if (threadIdx.y == 0 && j < N) {
		float t = 0.f;
		for (int r = 0; r < 8; r++) t += part[r][threadIdx.x];
		out[(i64)blockIdx.y * N + j] += t;
	}
}

// FiLM backward for γ and β: for each sample b (grid.y), dγ[b, c] += Σ_n dOut·x and
// dβ[b, c] += Σ_n dOut over the N tokens; either output may be null.
KERNEL tj_film_bwd_gb(float *dgamma, float *dbeta, const float *dout, const float *x, int N, int C) {
	__shared__ float pg[8][33], pb[8][33];
	const int c = blockIdx.x * 32 + threadIdx.x;
	const i64 base = (i64)blockIdx.y * N * C;
	float sg = 0.f, sb = 0.f;
	if (c < C)
		for (int n = threadIdx.y; n < N; n += 8) {
			float d = dout[base + (i64)n * C + c];
			sg += d * x[base + (i64)n * C + c];
			sb += d;
		}
	pg[threadIdx.y][threadIdx.x] = sg;
	pb[threadIdx.y][threadIdx.x] = sb;
	__syncthreads();
	if (threadIdx.y == 0 && c < C) {
		float tg = 0.f, tb = 0.f;
		for (int r = 0; r < 8; r++) {
			tg += pg[r][threadIdx.x];
			tb += pb[r][threadIdx.x];
		}
		if (dgamma) dgamma[(i64)blockIdx.y * C + c] += tg;
		if (dbeta) dbeta[(i64)blockIdx.y * C + c] += tb;
	}
}

// LayerNorm backward for the affine parameters: dW[j] += Σ_i dOut[i,j]·x̂[i,j],
// dB[j] += Σ_i dOut[i,j] with x̂ = (x − mean)·rstd; either output may be null.
KERNEL tj_layernorm_bwd_wb(float *dw, float *db, const float *dout, const float *in, const float *mean,
                           const float *rstd, int M, int C) {
	__shared__ float pw[8][33], pb[8][33];
	const int j = blockIdx.x * 32 + threadIdx.x;
	float sw = 0.f, sb = 0.f;
	if (j < C)
		for (int i = threadIdx.y; i < M; i += 8) {
			float g = dout[(i64)i * C + j];
			float n = (in[(i64)i * C + j] - mean[i]) * rstd[i];
			sw += g * n;
			sb += g;
		}
	pw[threadIdx.y][threadIdx.x] = sw;
	pb[threadIdx.y][threadIdx.x] = sb;
	__syncthreads();
	if (threadIdx.y == 0 && j < C) {
		float tw = 0.f, tb = 0.f;
		for (int r = 0; r < 8; r++) {
			tw += pw[r][threadIdx.x];
			tb += pb[r][threadIdx.x];
		}
		if (dw) dw[j] += tw;
		if (db) db[j] += tb;
	}
}

// Per-block partial sums in double for SumSquares (b == null: Σ a²) and MSE (Σ (a−b)²):
// partial[blockIdx.x]; the host adds the partials in block order.
KERNEL tj_sq_partial(double *partial, const float *a, const float *b, i64 n) {
	__shared__ double red[33];
	double s = 0.0;
	GRID_LOOP(i, n) {
		double d = b ? (double)a[i] - (double)b[i] : (double)a[i];
		s += d * d;
	}
	s = block_sum(s, red);
	if (threadIdx.x == 0) partial[blockIdx.x] = s;
}
