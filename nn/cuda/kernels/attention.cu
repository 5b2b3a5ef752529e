// attention.cu: flash-style attention over q [BH,Nq,hd], k and v [BH,Nk,hd].
//
// Forward: one block per (query tile, head); the key/value tiles stream through shared
// memory and an online softmax keeps a running max m and sum l per query row, so the
// Nq×Nk score matrix never exists. The output tile lives in registers: thread t owns the
// elements t, t+T, t+2T, … of the [bq, hd] tile (T = blockDim.x = 128, at most TJ_ATTN_R
// each, so bq·hd ≤ 128·TJ_ATTN_R; the host picks bq and bk). lse = m + log l is saved.
//
// Backward (recomputing the probabilities from lse, as the CPU kernel does): D = rowdot(dOut,
// out) first (tj_rowdot), then one kernel per key tile accumulating dK and dV over all
// query tiles, and one per query tile accumulating dQ over all key tiles. No atomics: each
// gradient element has one owner, so the result is deterministic.
//
// Mask (self-attention only): query i sees key j iff kg[j] <= qg[i], groups per batch row
// b = bh / H (qg, kg [B, N]; null for full attention). Tiles masked for every pair are
// skipped. A query that sees no key gets out = 0 and lse = −inf.

#define TJ_ATTN_R 16

// Shared memory (floats): Qs [bq·hd], Ks [bk·(hd+1)], Vs [bk·hd], S [bq·bk], m, l, alpha [bq].
KERNEL tj_attn_fwd(float *out, float *lse, const float *q, const float *k, const float *v, const int *qg,
                   const int *kg, int H, int Nq, int Nk, int hd, float scale, int bq, int bk) {
	TJ_SMEM(float, sm);
	float *Qs = sm, *Ks = Qs + bq * hd, *Vs = Ks + bk * (hd + 1), *S = Vs + bk * hd;
	float *rm = S + bq * bk, *rl = rm + bq, *ra = rl + bq;
	const int tid = threadIdx.x, nt = blockDim.x;
	const i64 bh = blockIdx.y;
	const int q0 = blockIdx.x * bq, nq = imin(bq, Nq - q0);
	const i64 b = bh / H;
	const int *QG = qg ? qg + b * Nq : nullptr, *KG = kg ? kg + b * Nk : nullptr;
	const float *Q = q + (bh * Nq + q0) * hd, *K = k + bh * Nk * hd, *V = v + bh * Nk * hd;

	for (int e = tid; e < bq * hd; e += nt) Qs[e] = e / hd < nq ? Q[e] : 0.f;
	for (int i = tid; i < bq; i += nt) {
		rm[i] = TJ_NEG_INF;
		rl[i] = 0.f;
	}
	float acc[TJ_ATTN_R];
	for (int r = 0; r < TJ_ATTN_R; r++) acc[r] = 0.f;
	__syncthreads();

	for (int k0 = 0; k0 < Nk; k0 += bk) {
		const int nk = imin(bk, Nk - k0);
		if (tile_masked(QG, KG, q0, q0 + nq, k0, k0 + nk)) continue;
		for (int e = tid; e < bk * hd; e += nt) {
			int r = e / hd, c = e % hd;
			Ks[r * (hd + 1) + c] = r < nk ? K[(i64)(k0 + r) * hd + c] : 0.f;
			Vs[e] = r < nk ? V[(i64)(k0 + r) * hd + c] : 0.f;
		}
		TJ_PLANTABLE_SYNC(); // the tile must be complete before anyone reads it
		for (int e = tid; e < bq * bk; e += nt) {
			int i = e / bk, j = e % bk;
			float s = TJ_NEG_INF;
			if (i < nq && j < nk && !(QG && KG[k0 + j] > QG[q0 + i])) {
				float dot = 0.f;
				const float *qi = Qs + i * hd, *kj = Ks + j * (hd + 1);
				for (int c = 0; c < hd; c++) dot += qi[c] * kj[c];
				s = dot * scale;
			}
			S[e] = s;
		}
		__syncthreads();
		for (int i = tid; i < bq; i += nt) {
			float *row = S + i * bk;
			float mx = rm[i];
			for (int j = 0; j < bk; j++) mx = fmaxf(mx, row[j]);
			if (mx == TJ_NEG_INF) { // nothing visible yet in this row
				for (int j = 0; j < bk; j++) row[j] = 0.f;
				ra[i] = 1.f;
				continue;
			}
			float alpha = expf(rm[i] - mx), sum = 0.f;
			for (int j = 0; j < bk; j++) {
				float p = expf(row[j] - mx);
				row[j] = p;
				sum += p;
			}
			rl[i] = rl[i] * alpha + sum;
			rm[i] = mx;
			ra[i] = alpha;
		}
		__syncthreads();
		for (int r = 0; r < TJ_ATTN_R; r++) {
			int e = tid + r * nt;
			if (e >= bq * hd) break;
			int i = e / hd, c = e % hd;
			const float *p = S + i * bk;
			float o = acc[r] * ra[i];
			for (int j = 0; j < bk; j++) o += p[j] * Vs[j * hd + c];
			acc[r] = o;
		}
		__syncthreads(); // before the next tile overwrites Ks, Vs, S
	}
	for (int r = 0; r < TJ_ATTN_R; r++) {
		int e = tid + r * nt;
		if (e >= bq * hd) break;
		int i = e / hd;
		if (i < nq) out[(bh * Nq + q0) * hd + e] = rl[i] == 0.f ? 0.f : acc[r] / rl[i];
	}
	for (int i = tid; i < nq; i += nt) lse[bh * Nq + q0 + i] = rl[i] == 0.f ? TJ_NEG_INF : rm[i] + logf(rl[i]);
}

// P and dS of one (query tile, key tile) pair from the tiles in shared memory:
// P = exp(q·k·scale − lse) (0 where masked or outside the tiles), dS = P·(dO·v − D)·scale.
static __device__ __forceinline__ void attn_bwd_tile(float *P, float *dS, const float *Qs, const float *dOs,
                                                     const float *Ks, const float *Vs, const float *Ls,
                                                     const float *Ds, const int *QG, const int *KG, int q0,
                                                     int k0, int nq, int nk, int hd, int bq, int bk, float scale) {
	const int ld = hd + 1;
	for (int e = threadIdx.x; e < bq * bk; e += blockDim.x) {
		int i = e / bk, j = e % bk;
		float p = 0.f, ds = 0.f;
		if (i < nq && j < nk && Ls[i] != TJ_NEG_INF && !(QG && KG[k0 + j] > QG[q0 + i])) {
			float s = 0.f, dp = 0.f;
			const float *qi = Qs + i * ld, *kj = Ks + j * ld, *gi = dOs + i * ld, *vj = Vs + j * ld;
			for (int c = 0; c < hd; c++) {
				s += qi[c] * kj[c];
				dp += gi[c] * vj[c];
			}
			p = expf(s * scale - Ls[i]);
			ds = p * (dp - Ds[i]) * scale;
		}
		P[e] = p;
		dS[e] = ds;
	}
}

// Loads rows [r0, r0+n) of a [*, hd] matrix into a tile of rows padded to hd+1 (zeros past n).
static __device__ __forceinline__ void load_tile(float *dst, const float *src, int r0, int n, int rows, int hd) {
	for (int e = threadIdx.x; e < rows * hd; e += blockDim.x) {
		int r = e / hd, c = e % hd;
		dst[r * (hd + 1) + c] = r < n ? src[(i64)(r0 + r) * hd + c] : 0.f;
	}
}

// dK, dV of one key tile (grid.x) of one head (grid.y), accumulated over all query tiles.
// Shared memory (floats): Ks, Vs [bk·(hd+1)], Qs, dOs [bq·(hd+1)], P, dS [bq·bk], Ls, Ds [bq].
KERNEL tj_attn_bwd_kv(float *dk, float *dv, const float *dout, const float *lse, const float *D, const float *q,
                      const float *k, const float *v, const int *qg, const int *kg, int H, int Nq, int Nk, int hd,
                      float scale, int bq, int bk) {
	TJ_SMEM(float, sm);
	const int ld = hd + 1;
	float *Ks = sm, *Vs = Ks + bk * ld, *Qs = Vs + bk * ld, *dOs = Qs + bq * ld, *P = dOs + bq * ld;
	float *dS = P + bq * bk, *Ls = dS + bq * bk, *Ds = Ls + bq;
	const int tid = threadIdx.x, nt = blockDim.x;
	const i64 bh = blockIdx.y;
	const int k0 = blockIdx.x * bk, nk = imin(bk, Nk - k0);
	const i64 b = bh / H;
	const int *QG = qg ? qg + b * Nq : nullptr, *KG = kg ? kg + b * Nk : nullptr;
	const float *Q = q + bh * Nq * hd, *G = dout + bh * Nq * hd;
	load_tile(Ks, k + bh * Nk * hd, k0, nk, bk, hd);
	load_tile(Vs, v + bh * Nk * hd, k0, nk, bk, hd);
	float accK[TJ_ATTN_R], accV[TJ_ATTN_R];
	for (int r = 0; r < TJ_ATTN_R; r++) accK[r] = accV[r] = 0.f;
	for (int q0 = 0; q0 < Nq; q0 += bq) {
		const int nq = imin(bq, Nq - q0);
		if (tile_masked(QG, KG, q0, q0 + nq, k0, k0 + nk)) continue;
		load_tile(Qs, Q, q0, nq, bq, hd);
		load_tile(dOs, G, q0, nq, bq, hd);
		for (int i = tid; i < bq; i += nt) {
			Ls[i] = i < nq ? lse[bh * Nq + q0 + i] : TJ_NEG_INF;
			Ds[i] = i < nq ? D[bh * Nq + q0 + i] : 0.f;
		}
		__syncthreads();
		attn_bwd_tile(P, dS, Qs, dOs, Ks, Vs, Ls, Ds, QG, KG, q0, k0, nq, nk, hd, bq, bk, scale);
		__syncthreads();
		for (int r = 0; r < TJ_ATTN_R; r++) {
			int e = tid + r * nt;
			if (e >= bk * hd) break;
			int j = e / hd, c = e % hd;
			float sv = 0.f, sk = 0.f;
			for (int i = 0; i < bq; i++) {
				sv += P[i * bk + j] * dOs[i * ld + c];
				sk += dS[i * bk + j] * Qs[i * ld + c];
			}
			accV[r] += sv;
			accK[r] += sk;
		}
		__syncthreads(); // before the next query tile overwrites Qs, dOs, P, dS
	}
	for (int r = 0; r < TJ_ATTN_R; r++) {
		int e = tid + r * nt;
		if (e >= bk * hd) break;
		if (e / hd >= nk) break;
		i64 o = (bh * Nk + k0) * hd + e;
		if (dk) dk[o] += accK[r];
		if (dv) dv[o] += accV[r];
	}
}

// dQ of one query tile (grid.x) of one head (grid.y), accumulated over all key tiles.
// Shared memory (floats): Qs, dOs [bq·(hd+1)], Ks, Vs [bk·(hd+1)], P, dS [bq·bk], Ls, Ds [bq].
KERNEL tj_attn_bwd_q(float *dq, const float *dout, const float *lse, const float *D, const float *q, const float *k,
                     const float *v, const int *qg, const int *kg, int H, int Nq, int Nk, int hd, float scale, int bq,
                     int bk) {
	TJ_SMEM(float, sm);
	const int ld = hd + 1;
	float *Qs = sm, *dOs = Qs + bq * ld, *Ks = dOs + bq * ld, *Vs = Ks + bk * ld, *P = Vs + bk * ld;
	float *dS = P + bq * bk, *Ls = dS + bq * bk, *Ds = Ls + bq;
	const int tid = threadIdx.x, nt = blockDim.x;
	const i64 bh = blockIdx.y;
	const int q0 = blockIdx.x * bq, nq = imin(bq, Nq - q0);
	const i64 b = bh / H;
	const int *QG = qg ? qg + b * Nq : nullptr, *KG = kg ? kg + b * Nk : nullptr;
	const float *K = k + bh * Nk * hd, *V = v + bh * Nk * hd;
	load_tile(Qs, q + bh * Nq * hd, q0, nq, bq, hd);
	load_tile(dOs, dout + bh * Nq * hd, q0, nq, bq, hd);
	for (int i = tid; i < bq; i += nt) {
		Ls[i] = i < nq ? lse[bh * Nq + q0 + i] : TJ_NEG_INF;
		Ds[i] = i < nq ? D[bh * Nq + q0 + i] : 0.f;
	}
	float acc[TJ_ATTN_R];
	for (int r = 0; r < TJ_ATTN_R; r++) acc[r] = 0.f;
	for (int k0 = 0; k0 < Nk; k0 += bk) {
		const int nk = imin(bk, Nk - k0);
		if (tile_masked(QG, KG, q0, q0 + nq, k0, k0 + nk)) continue;
		load_tile(Ks, K, k0, nk, bk, hd);
		load_tile(Vs, V, k0, nk, bk, hd);
		__syncthreads();
		attn_bwd_tile(P, dS, Qs, dOs, Ks, Vs, Ls, Ds, QG, KG, q0, k0, nq, nk, hd, bq, bk, scale);
		__syncthreads();
		for (int r = 0; r < TJ_ATTN_R; r++) {
			int e = tid + r * nt;
			if (e >= bq * hd) break;
			int i = e / hd, c = e % hd;
			float s = 0.f;
			for (int j = 0; j < bk; j++) s += dS[i * bk + j] * Ks[j * ld + c];
			acc[r] += s;
		}
		__syncthreads(); // before the next key tile overwrites Ks, Vs, P, dS
	}
	for (int r = 0; r < TJ_ATTN_R; r++) {
		int e = tid + r * nt;
		if (e >= bq * hd) break;
		if (e / hd >= nq) break;
		dq[(bh * Nq + q0) * hd + e] += acc[r];
	}
}
