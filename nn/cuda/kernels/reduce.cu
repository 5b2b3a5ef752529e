// reduce.cu: column and whole-tensor reductions. Every sum has a fixed order (no atomics),
// so results are deterministic run to run.
//
// Column sums over many rows (bias gradients, LayerNorm's dW/dB) run in two passes so
// that a tall matrix keeps the whole GPU busy: tj_col_partial-style kernels give each
// (32-column, row-chunk) pair its own block (block (32, 8): 32 columns, 8 row-strided
// partial sums combined in order through shared memory) and write one partial per chunk;
// tj_col_finish adds the chunks' partials in chunk order into the output.

// part[chunk, j] = Σ_{i in chunk} x[i, j] for x [M, N]; chunk = blockIdx.y of rows
// [chunk·rows, (chunk+1)·rows).
KERNEL tj_col_partial(float *part, const float *x, int M, int N, int rows) {
	__shared__ float red[8][33];
	const int j = blockIdx.x * 32 + threadIdx.x;
	const int r0 = blockIdx.y * rows, r1 = imin(M, r0 + rows);
	float s = 0.f;
	if (j < N)
		for (int i = r0 + threadIdx.y; i < r1; i += 8) s += x[(i64)i * N + j];
	red[threadIdx.y][threadIdx.x] = s;
	__syncthreads();
	if (threadIdx.y == 0 && j < N) {
		float t = 0.f;
		for (int r = 0; r < 8; r++) t += red[r][threadIdx.x];
		part[(i64)blockIdx.y * N + j] = t;
	}
}

// out[j] += Σ_c part[c, j] over chunks c in order (out null: nothing to do).
KERNEL tj_col_finish(float *out, const float *part, int chunks, int N) {
	GRID_LOOP(j, N) {
		float t = 0.f;
		for (int c = 0; c < chunks; c++) t += part[(i64)c * N + j];
		out[j] += t;
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

// LayerNorm backward for the affine parameters, first pass: per row chunk (blockIdx.y),
// pw[chunk, j] = Σ dOut[i,j]·x̂[i,j] and pb[chunk, j] = Σ dOut[i,j] with x̂ = (x − mean)·rstd.
KERNEL tj_layernorm_bwd_wb_partial(float *pw, float *pb, const float *dout, const float *in, const float *mean,
                                   const float *rstd, int M, int C, int rows) {
	__shared__ float rw[8][33], rb[8][33];
	const int j = blockIdx.x * 32 + threadIdx.x;
	const int r0 = blockIdx.y * rows, r1 = imin(M, r0 + rows);
	float sw = 0.f, sb = 0.f;
	if (j < C)
		for (int i = r0 + threadIdx.y; i < r1; i += 8) {
			float g = dout[(i64)i * C + j];
			float n = (in[(i64)i * C + j] - mean[i]) * rstd[i];
			sw += g * n;
			sb += g;
		}
	rw[threadIdx.y][threadIdx.x] = sw;
	rb[threadIdx.y][threadIdx.x] = sb;
	__syncthreads();
	if (threadIdx.y == 0 && j < C) {
		float tw = 0.f, tb = 0.f;
		for (int r = 0; r < 8; r++) {
			tw += rw[r][threadIdx.x];
			tb += rb[r][threadIdx.x];
		}
		pw[(i64)blockIdx.y * C + j] = tw;
		pb[(i64)blockIdx.y * C + j] = tb;
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
