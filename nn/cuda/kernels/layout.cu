// layout.cu: index moves (heads, columns, rows, patches) and RoPE, one thread per
// element, no barriers (TJ_NOSYNC in list.h).

// out[i, :] = b for every row i of [M, N] (the bias before a beta=1 GEMM).
KERNEL tj_bias_rows(float *out, const float *b, int N, i64 total) {
	GRID_LOOP(i, total) out[i] = b[i % N];
}

// qkv [B,N,3,H,hd] → q, k, v [B,H,N,hd]; i runs over one of q/k/v.
KERNEL tj_split_heads(float *q, float *k, float *v, const float *qkv, int N, int H, int hd, i64 total) {
	GRID_LOOP(i, total) {
		int c = (int)(i % hd);
		i64 r = i / hd;
		int n = (int)(r % N);
		r /= N;
		int h = (int)(r % H);
		i64 b = r / H;
		const float *row = qkv + ((b * N + n) * 3) * (i64)H * hd + (i64)h * hd + c;
		q[i] = row[0];
		k[i] = row[(i64)H * hd];
		v[i] = row[2 * (i64)H * hd];
	}
}

// dqkv [B,N,3,H,hd] += dq/dk/dv [B,H,N,hd] (nil ones skipped); i runs over dqkv.
KERNEL tj_split_heads_bwd(float *dqkv, const float *dq, const float *dk, const float *dv, int N, int H, int hd,
                          i64 total) {
	GRID_LOOP(i, total) {
		int c = (int)(i % hd);
		i64 r = i / hd;
		int h = (int)(r % H);
		r /= H;
		int s = (int)(r % 3);
		r /= 3;
		int n = (int)(r % N);
		i64 b = r / N;
		const float *src = s == 0 ? dq : (s == 1 ? dk : dv);
		if (src) dqkv[i] += src[((b * H + h) * N + n) * hd + c];
	}
}

// x [B,H,N,hd] → out [B,N,H·hd]; i runs over out.
KERNEL tj_merge_heads(float *out, const float *x, int N, int H, int hd, i64 total) {
	GRID_LOOP(i, total) {
		int c = (int)(i % hd);
		i64 r = i / hd;
		int h = (int)(r % H);
		r /= H;
		int n = (int)(r % N);
		i64 b = r / N;
		out[i] = x[((b * H + h) * N + n) * hd + c];
	}
}

// dx [B,H,N,hd] += dOut [B,N,H·hd]; i runs over dx.
KERNEL tj_merge_heads_bwd(float *dx, const float *dout, int N, int H, int hd, i64 total) {
	GRID_LOOP(i, total) {
		int c = (int)(i % hd);
		i64 r = i / hd;
		int n = (int)(r % N);
		r /= N;
		int h = (int)(r % H);
		i64 b = r / H;
		dx[i] += dout[((b * N + n) * H + h) * hd + c];
	}
}

// RoPE-3D of V-JEPA 2, in place on x [B,H,N,hd]; one thread per channel pair (k, k+1)
// of the 3·dsub rotated channels. omega [dsub/2] comes from the host, rounded to float32
// as upstream computes it; θ = p·ω in float32, cos/sin in double then rounded, as the CPU
// kernel does. The tables are tiled, not interleaved (the upstream quirk): channel k uses
// ω[k mod dsub/2], so the two elements of a pair use different angles. transpose applies
// the transposed map (the backward pass).
KERNEL tj_rope(float *x, const int *pos, const float *omega, int dsub, int H, int N, int hd, int transpose,
               i64 total) {
	const int R = 3 * dsub, half = R / 2, M = dsub / 2;
	GRID_LOOP(i, total) {
		int pr = (int)(i % half);
		i64 r = i / half; // (b·H + h)·N + n
		int n = (int)(r % N);
		i64 b = r / ((i64)N * H);
		int k = 2 * pr;
		int a = k / dsub, kk = k % dsub;
		float p = (float)pos[3 * (b * N + n) + a];
		float t0 = p * omega[kk % M], t1 = p * omega[(kk + 1) % M];
		float c0 = (float)cos((double)t0), s0 = (float)sin((double)t0);
		float c1 = (float)cos((double)t1), s1 = (float)sin((double)t1);
		float *v = x + r * hd + k;
		float a0 = v[0], a1 = v[1];
		if (transpose) {
			v[0] = a0 * c0 + a1 * s1;
			v[1] = a1 * c1 - a0 * s0;
		} else {
			v[0] = a0 * c0 - a1 * s0;
			v[1] = a1 * c1 + a0 * s1;
		}
	}
}

// out[i, :] = in[idx[i], :] for rows of width C.
KERNEL tj_gather_rows(float *out, const float *in, const int *idx, int C, i64 total) {
	GRID_LOOP(i, total) out[i] = in[(i64)idx[i / C] * C + i % C];
}

// dIn[idx[i], :] += dOut[i, :]. The host groups the sources by target row (targets
// [nt], sources in CSR form starts [nt+1], srcs): one thread per (target, column) adds
// its sources in ascending i, so duplicates need no atomics and the sum order is the
// CPU's.
KERNEL tj_scatter_rows(float *din, const float *dout, const int *targets, const int *starts, const int *srcs, int C,
                       i64 total) {
	GRID_LOOP(i, total) {
		i64 t = i / C;
		int c = (int)(i % C);
		float *d = din + (i64)targets[t] * C + c;
		float acc = *d;
		for (int j = starts[t]; j < starts[t + 1]; j++) acc += dout[(i64)srcs[j] * C + c];
		*d = acc;
	}
}

// out[i, off:off+w] = part[i, :] for out [M, W].
KERNEL tj_copy_cols(float *out, const float *part, int W, int off, int w, i64 total) {
	GRID_LOOP(i, total) out[(i / w) * W + off + i % w] = part[i];
}

// dPart[i, :] += dOut[i, off:off+w].
KERNEL tj_add_cols(float *dpart, const float *dout, int W, int off, int w, i64 total) {
	GRID_LOOP(i, total) dpart[i] += dout[(i / w) * W + off + i % w];
}

// out[g, c] = Σ_s w[g·S+s]·in[g, s, c], summed in s order from zero.
KERNEL tj_wrowsum(float *out, const float *in, const float *w, int S, int C, i64 total) {
	GRID_LOOP(i, total) {
		i64 g = i / C;
		int c = (int)(i % C);
		float acc = 0.f;
		for (int s = 0; s < S; s++) acc += w[g * S + s] * in[(g * S + s) * C + c];
		out[i] = acc;
	}
}

// dIn[g, s, c] += w[g·S+s]·dOut[g, c]; i runs over dIn.
KERNEL tj_wrowsum_bwd(float *din, const float *dout, const float *w, int S, int C, i64 total) {
	GRID_LOOP(i, total) {
		i64 gs = i / C;
		int c = (int)(i % C);
		din[i] += w[gs] * dout[(gs / S) * C + c];
	}
}

// im2col of the tubelet embedding: video [B,3,T,Hh,Ww] → cols [B·N, 3·tt·p·p], tokens in
// time → row → column order, columns in Conv3d weight order (c, dt, dy, dx).
KERNEL tj_im2col3d(float *cols, const float *video, int T, int Hh, int Ww, int tt, int p, i64 total) {
	const int Tp = T / tt, Hp = Hh / p, Wp = Ww / p;
	const int K = 3 * tt * p * p, N = Tp * Hp * Wp;
	GRID_LOOP(i, total) {
		int col = (int)(i % K);
		i64 r = i / K;
		i64 b = r / N;
		int n = (int)(r % N);
		int ti = n / (Hp * Wp), hi = (n / Wp) % Hp, wi = n % Wp;
		int dx = col % p, dy = (col / p) % p, dt = (col / (p * p)) % tt, c = col / (p * p * tt);
		cols[i] = video[(((b * 3 + c) * T + ti * tt + dt) * Hh + hi * p + dy) * (i64)Ww + wi * p + dx];
	}
}

// D[r] = Σ_c dOut[r, c]·out[r, c] for the attention backward pass (rows of width hd).
KERNEL tj_rowdot(float *D, const float *dout, const float *out, int hd, i64 rows) {
	GRID_LOOP(r, rows) {
		const float *a = dout + r * hd, *b = out + r * hd;
		float s = 0.f;
		for (int c = 0; c < hd; c++) s += a[c] * b[c];
		D[r] = s;
	}
}
