package kern

import (
	"math"
	"sync"
)

// Attention block sizes: a query block of attnBQ rows meets key blocks of attnBK rows;
// the score tile (attnBQ×attnBK) and the output rows stay in cache while the key/value
// tile streams through. Only tiles are ever materialised, never the Nq×Nk matrix.
// They are variables so tests can shrink them to exercise many blocks at small sizes.
var (
	attnBQ = 128
	attnBK = 256
)

// AttnGroups is the block-causal mask of one batch row: query i may attend key j iff
// K[j] <= Q[i]. Nil means full attention.
type AttnGroups struct{ Q, K []int32 }

type attnWork[T Float] struct {
	s, dp []T
	m, l  []float64
	d     []T
}

// Scratch tiles are reused across calls (one attention call per layer and direction
// would otherwise allocate, fault in and garbage-collect 2·attnBQ·attnBK floats per worker).
var attnWork32, attnWork64 sync.Pool

func newAttnWork[T Float]() *attnWork[T] {
	pool := &attnWork64
	if is32[T]() {
		pool = &attnWork32
	}
	if w, ok := pool.Get().(*attnWork[T]); ok && len(w.s) == attnBQ*attnBK && len(w.m) == attnBQ {
		return w
	}
	return &attnWork[T]{s: make([]T, attnBQ*attnBK), dp: make([]T, attnBQ*attnBK),
		m: make([]float64, attnBQ), l: make([]float64, attnBQ), d: make([]T, attnBQ)}
}

func releaseAttnWork[T Float](works []*attnWork[T]) {
	pool := &attnWork64
	if is32[T]() {
		pool = &attnWork32
	}
	for _, w := range works {
		if w != nil {
			pool.Put(w)
		}
	}
}

// blockSkip reports whether every key in [k0,k1) is masked for every query in [q0,q1).
func blockSkip(g *AttnGroups, q0, q1, k0, k1 int) bool {
	if g == nil {
		return false
	}
	qmax := g.Q[q0]
	for _, v := range g.Q[q0+1 : q1] {
		qmax = max(qmax, v)
	}
	kmin := g.K[k0]
	for _, v := range g.K[k0+1 : k1] {
		kmin = min(kmin, v)
	}
	return kmin > qmax
}

// blockFull reports whether no key in [k0,k1) is masked for any query in [q0,q1), so
// the tile can skip the per-element mask test.
func blockFull(g *AttnGroups, q0, q1, k0, k1 int) bool {
	if g == nil {
		return true
	}
	qmin := g.Q[q0]
	for _, v := range g.Q[q0+1 : q1] {
		qmin = min(qmin, v)
	}
	kmax := g.K[k0]
	for _, v := range g.K[k0+1 : k1] {
		kmax = max(kmax, v)
	}
	return kmax <= qmin
}

// Attention runs softmax(q·kᵀ·scale + mask)·v over B·H heads: q [BH,Nq,hd], k and v
// [BH,Nk,hd], out [BH,Nq,hd], lse [BH,Nq]. groups (nil, or one per batch row, head
// index bh/H) gives the mask. Heads run in parallel.
func Attention[T Float](out, lse, q, k, v []T, BH, H, Nq, Nk, hd int, scale T, groups []AttnGroups) {
	works := make([]*attnWork[T], Threads())
	defer releaseAttnWork(works)
	defer blasSerial(BH)()
	parallelItems(BH, func(w, bh int) {
		if works[w] == nil {
			works[w] = newAttnWork[T]()
		}
		var g *AttnGroups
		if groups != nil {
			g = &groups[bh/H]
		}
		attnHead(works[w], out[bh*Nq*hd:][:Nq*hd], lse[bh*Nq:][:Nq], q[bh*Nq*hd:][:Nq*hd],
			k[bh*Nk*hd:][:Nk*hd], v[bh*Nk*hd:][:Nk*hd], Nq, Nk, hd, scale, g)
	})
}

func attnHead[T Float](ws *attnWork[T], out, lse, q, k, v []T, Nq, Nk, hd int, scale T, g *AttnGroups) {
	negInf := math.Inf(-1)
	for q0 := 0; q0 < Nq; q0 += attnBQ {
		q1 := min(q0+attnBQ, Nq)
		nq := q1 - q0
		o := out[q0*hd : q1*hd]
		clear(o)
		m, l := ws.m[:nq], ws.l[:nq]
		for i := range m {
			m[i], l[i] = negInf, 0
		}
		for k0 := 0; k0 < Nk; k0 += attnBK {
			k1 := min(k0+attnBK, Nk)
			nk := k1 - k0
			if blockSkip(g, q0, q1, k0, k1) {
				continue
			}
			s := ws.s[:nq*nk]
			Gemm(false, true, nq, nk, hd, scale, q[q0*hd:], hd, k[k0*hd:], hd, 0, s, nk)
			if haveFast && is32[T]() {
				var qg, kg []int32
				if !blockFull(g, q0, q1, k0, k1) {
					qg, kg = g.Q[q0:q1], g.K[k0:k1]
				}
				fastAttnFwdTile(as32(s), nq, nk, m, l, as32(o), hd, qg, kg)
				Gemm(false, false, nq, hd, nk, 1, s, nk, v[k0*hd:], hd, 1, o, hd)
				continue
			}
			for i := 0; i < nq; i++ {
				row := s[i*nk : (i+1)*nk]
				if g != nil {
					qg := g.Q[q0+i]
					for j := range row {
						if g.K[k0+j] > qg {
							row[j] = T(negInf)
						}
					}
				}
				mx := m[i]
				for _, x := range row {
					mx = max(mx, float64(x))
				}
				if math.IsInf(mx, -1) {
					clear(row)
					continue
				}
				if mx != m[i] {
					alpha := T(math.Exp(m[i] - mx))
					l[i] *= float64(alpha)
					orow := o[i*hd : (i+1)*hd]
					for c := range orow {
						orow[c] *= alpha
					}
					m[i] = mx
				}
				row64 := T(mx)
				var sum T
				for j, x := range row {
					e := expT(x - row64)
					row[j] = e
					sum += e
				}
				l[i] += float64(sum)
			}
			Gemm(false, false, nq, hd, nk, 1, s, nk, v[k0*hd:], hd, 1, o, hd)
		}
		for i := 0; i < nq; i++ {
			orow := o[i*hd : (i+1)*hd]
			if l[i] == 0 {
				clear(orow)
				lse[q0+i] = T(negInf)
				continue
			}
			inv := T(1 / l[i])
			for c := range orow {
				orow[c] *= inv
			}
			lse[q0+i] = T(m[i] + math.Log(l[i]))
		}
	}
}

// AttentionBackward accumulates dq, dk, dv (nil ones skipped) from dOut, recomputing the
// probabilities tile by tile from lse.
func AttentionBackward[T Float](dq, dk, dv, dOut, out, lse, q, k, v []T, BH, H, Nq, Nk, hd int, scale T, groups []AttnGroups) {
	works := make([]*attnWork[T], Threads())
	sl := func(t []T, bh, n int) []T {
		if t == nil {
			return nil
		}
		return t[bh*n*hd:][:n*hd]
	}
	defer releaseAttnWork(works)
	defer blasSerial(BH)()
	parallelItems(BH, func(w, bh int) {
		if works[w] == nil {
			works[w] = newAttnWork[T]()
		}
		var g *AttnGroups
		if groups != nil {
			g = &groups[bh/H]
		}
		attnHeadBackward(works[w], sl(dq, bh, Nq), sl(dk, bh, Nk), sl(dv, bh, Nk), sl(dOut, bh, Nq), sl(out, bh, Nq),
			lse[bh*Nq:][:Nq], sl(q, bh, Nq), sl(k, bh, Nk), sl(v, bh, Nk), Nq, Nk, hd, scale, g)
	})
}

func attnHeadBackward[T Float](ws *attnWork[T], dq, dk, dv, dOut, out, lse, q, k, v []T, Nq, Nk, hd int, scale T, g *AttnGroups) {
	needDS := dq != nil || dk != nil
	for q0 := 0; q0 < Nq; q0 += attnBQ {
		q1 := min(q0+attnBQ, Nq)
		nq := q1 - q0
		d := ws.d[:nq]
		for i := range d {
			var s T
			a, b := dOut[(q0+i)*hd:][:hd], out[(q0+i)*hd:][:hd]
			for c := range a {
				s += a[c] * b[c]
			}
			d[i] = s
		}
		for k0 := 0; k0 < Nk; k0 += attnBK {
			k1 := min(k0+attnBK, Nk)
			nk := k1 - k0
			if blockSkip(g, q0, q1, k0, k1) {
				continue
			}
			p := ws.s[:nq*nk]
			Gemm(false, true, nq, nk, hd, scale, q[q0*hd:], hd, k[k0*hd:], hd, 0, p, nk)
			fast := haveFast && is32[T]()
			if fast {
				var qg, kg []int32
				if !blockFull(g, q0, q1, k0, k1) {
					qg, kg = g.Q[q0:q1], g.K[k0:k1]
				}
				fastAttnBwdP(as32(p), nq, nk, as32(lse[q0:q1]), qg, kg)
			}
			for i := 0; i < nq && !fast; i++ {
				row := p[i*nk : (i+1)*nk]
				li := lse[q0+i]
				if math.IsInf(float64(li), -1) {
					clear(row)
					continue
				}
				for j, x := range row {
					if g != nil && g.K[k0+j] > g.Q[q0+i] {
						row[j] = 0
						continue
					}
					row[j] = expT(x - li)
				}
			}
			if dv != nil {
				Gemm(true, false, nk, hd, nq, 1, p, nk, dOut[q0*hd:], hd, 1, dv[k0*hd:], hd)
			}
			if !needDS {
				continue
			}
			dp := ws.dp[:nq*nk]
			Gemm(false, true, nq, nk, hd, 1, dOut[q0*hd:], hd, v[k0*hd:], hd, 0, dp, nk)
			if fast {
				fastAttnBwdDS(as32(dp), as32(p), nq, nk, as32(d), float32(scale))
			}
			for i := 0; i < nq && !fast; i++ {
				prow, drow := p[i*nk:(i+1)*nk], dp[i*nk:(i+1)*nk]
				di := d[i]
				for j := range drow {
					drow[j] = prow[j] * (drow[j] - di) * scale
				}
			}
			if dq != nil {
				Gemm(false, false, nq, hd, nk, 1, dp, nk, k[k0*hd:], hd, 1, dq[q0*hd:], hd)
			}
			if dk != nil {
				Gemm(true, false, nk, hd, nq, 1, dp, nk, q[q0*hd:], hd, 1, dk[k0*hd:], hd)
			}
		}
	}
}

// expT is exp in the kernel's precision.
func expT[T Float](x T) T {
	if is32[T]() {
		return T(exp32(float32(x)))
	}
	return T(math.Exp(float64(x)))
}

// exp32 is math.Exp for float32 arguments (range-reduced polynomial comes later).
func exp32(x float32) float32 { return float32(math.Exp(float64(x))) }

// blasSerial makes OpenBLAS single-threaded while our goroutines run heads in parallel
// (the tile GEMMs are large enough for OpenBLAS to start its own threads otherwise, which
// oversubscribes the cores). It returns the function that restores the setting.
func blasSerial(items int) func() {
	t := Threads()
	if t <= 1 || items <= 1 {
		return func() {}
	}
	setBLASThreads(1)
	return func() { setBLASThreads(t) }
}
