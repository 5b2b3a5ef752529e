package anomaly

import (
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
)

// jointP is the symmetric t-SNE P of rows at the given perplexity.
func jointP(t testing.TB, rows [][]float64, perplexity float64) ([]float64, int) {
	t.Helper()
	x, n, d, err := zscore(rows)
	if err != nil {
		t.Fatal(err)
	}
	P := sqDistances(x, n, d)
	calibrate(P, n, perplexity)
	symmetrize(P, n)
	return P, n
}

func randRows(r *rand.Rand, n, d int, scale float64) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, d)
		for j := range rows[i] {
			rows[i][j] = scale * r.NormFloat64()
		}
	}
	return rows
}

// The analytic gradient equals float64 central differences of the objective: KL(P‖Q) at
// α = 1, and the exaggerated objective at α = 12.
func TestTSNEGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	P, n := jointP(t, randRows(r, 9, 4, 1), 3)
	var sum float64
	for _, v := range P {
		sum += v
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Fatalf("Σ P = %v", sum)
	}
	y := make([]float64, 2*n)
	for i := range y {
		y[i] = r.NormFloat64()
	}
	g := newGradWork(n)
	grad := make([]float64, 2*n)
	for _, alpha := range []float64{1, 12} {
		g.gradient(P, y, n, alpha, grad)
		const h = 1e-5
		for k := range y {
			keep := y[k]
			y[k] = keep + h
			up := tsneObjective(P, y, n, alpha)
			y[k] = keep - h
			down := tsneObjective(P, y, n, alpha)
			y[k] = keep
			num := (up - down) / (2 * h)
			if math.Abs(num-grad[k]) > 1e-7*math.Max(1, math.Abs(num)) {
				t.Errorf("α=%v ∂/∂y[%d]: analytic %.10g, central difference %.10g", alpha, k, grad[k], num)
			}
		}
	}
	// At α = 1 the objective is KL(P‖Q) computed directly.
	var Z, kl float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i != j {
				d0, d1 := y[2*i]-y[2*j], y[2*i+1]-y[2*j+1]
				Z += 1 / (1 + d0*d0 + d1*d1)
			}
		}
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i != j {
				d0, d1 := y[2*i]-y[2*j], y[2*i+1]-y[2*j+1]
				q := 1 / (1 + d0*d0 + d1*d1) / Z
				kl += P[i*n+j] * math.Log(P[i*n+j]/q)
			}
		}
	}
	if got := tsneObjective(P, y, n, 1); math.Abs(got-kl) > 1e-12*math.Max(1, kl) {
		t.Errorf("objective %v, KL %v", got, kl)
	}
}

// Each conditional distribution has entropy log(perplexity) nats and sums to 1, for
// inputs at ordinary scale and at a scale whose raw exp(−d) would underflow.
func TestTSNEPerplexityCalibration(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, scale := range []float64{1, 300} {
		rows := randRows(r, 60, 6, scale)
		x := make([]float64, 0, 60*6)
		for _, row := range rows {
			x = append(x, row...) // raw, not z-scored: the distances keep the scale
		}
		for _, perp := range []float64{2, 5, 19.5} {
			n := 60
			P := sqDistances(x, n, 6)
			betas := calibrate(P, n, perp)
			for i := 0; i < n; i++ {
				var sum, h float64
				for j := 0; j < n; j++ {
					p := P[i*n+j]
					if j == i {
						if p != 0 {
							t.Fatalf("p_{%d|%d} = %v", i, i, p)
						}
						continue
					}
					sum += p
					if p > 0 {
						h -= p * math.Log(p)
					}
				}
				if math.Abs(sum-1) > 1e-12 || math.Abs(h-math.Log(perp)) > 1e-8 || !(betas[i] > 0) {
					t.Fatalf("scale %v perplexity %v row %d: Σp %v, entropy %v want %v, β %v", scale, perp, i, sum, h, math.Log(perp), betas[i])
				}
			}
		}
	}
}

// blobs are k Gaussian clusters of m points in d dimensions, centres 10σ apart per
// coordinate, with their cluster labels.
func blobs(seed uint64, k, m, d int) ([][]float64, []int) {
	r := rand.New(rand.NewPCG(seed, 5))
	var rows [][]float64
	var lab []int
	for c := 0; c < k; c++ {
		centre := make([]float64, d)
		for j := range centre {
			centre[j] = 10 * r.NormFloat64()
		}
		for i := 0; i < m; i++ {
			row := make([]float64, d)
			for j := range row {
				row[j] = centre[j] + r.NormFloat64()
			}
			rows = append(rows, row)
			lab = append(lab, c)
		}
	}
	return rows, lab
}

// nnAgreement is the fraction of points whose nearest other point (2-D) shares its label.
func nnAgreement(xy [][2]float64, lab []int) float64 {
	agree := 0
	for i := range xy {
		best, bj := math.Inf(1), -1
		for j := range xy {
			if j == i {
				continue
			}
			d := math.Hypot(xy[i][0]-xy[j][0], xy[i][1]-xy[j][1])
			if d < best {
				best, bj = d, j
			}
		}
		if lab[bj] == lab[i] {
			agree++
		}
	}
	return float64(agree) / float64(len(xy))
}

// Three well-separated blobs stay separated in the embedding (nearest-neighbour label
// agreement ≥ 0.95, and every cluster's centroid farther from the others than its own
// spread); a seed gives bit-identical output whatever GOMAXPROCS, and another seed a
// different picture.
func TestTSNESeparatesClusters(t *testing.T) {
	rows, lab := blobs(7, 3, 50, 10)
	cfg := TSNEConfig{Perplexity: 30, Seed: 42}
	xy, info, err := TSNE(rows, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if info.Perplexity != 30 || info.LearningRate != 50 || info.Iterations != 1000 || !(info.KL > 0 && info.KL < 2) {
		t.Errorf("info %+v", info)
	}
	a := nnAgreement(xy, lab)
	t.Logf("KL %.4f, nearest-neighbour agreement %.3f", info.KL, a)
	if a < 0.95 {
		t.Errorf("nearest-neighbour label agreement %.3f, want ≥ 0.95", a)
	}
	var cx [3][2]float64
	var spread [3]float64
	for i, p := range xy {
		cx[lab[i]][0] += p[0] / 50
		cx[lab[i]][1] += p[1] / 50
	}
	for i, p := range xy {
		spread[lab[i]] = math.Max(spread[lab[i]], math.Hypot(p[0]-cx[lab[i]][0], p[1]-cx[lab[i]][1]))
	}
	for a := 0; a < 3; a++ {
		for b := a + 1; b < 3; b++ {
			if d := math.Hypot(cx[a][0]-cx[b][0], cx[a][1]-cx[b][1]); d < spread[a]+spread[b] {
				t.Errorf("clusters %d and %d overlap: centroids %.3g apart, radii %.3g and %.3g", a, b, d, spread[a], spread[b])
			}
		}
	}
	prev := runtime.GOMAXPROCS(1)
	again, _, err := TSNE(rows, cfg)
	runtime.GOMAXPROCS(max(prev, 3))
	again3, _, err3 := TSNE(rows, cfg)
	runtime.GOMAXPROCS(prev)
	if err != nil || err3 != nil || !reflect.DeepEqual(xy, again) || !reflect.DeepEqual(xy, again3) {
		t.Error("the same seed gave a different embedding (GOMAXPROCS 1 or ≥ 3)")
	}
	other, _, _ := TSNE(rows, TSNEConfig{Perplexity: 30, Seed: 43})
	if reflect.DeepEqual(xy, other) {
		t.Error("seeds 42 and 43 gave identical embeddings")
	}
}

func TestTSNESmallAndBad(t *testing.T) {
	for _, c := range []struct {
		p    float64
		n    int
		want float64
	}{{30, 1000, 30}, {30, 31, 10}, {30, 5, 2}, {1.5, 100, 1.5}} {
		if got := EffectivePerplexity(c.p, c.n); got != c.want {
			t.Errorf("EffectivePerplexity(%v, %d) = %v, want %v", c.p, c.n, got, c.want)
		}
	}
	if got := SubsampleIndices(10, 4); !reflect.DeepEqual(got, []int{0, 2, 5, 7}) {
		t.Errorf("SubsampleIndices(10, 4) = %v", got)
	}
	if got := SubsampleIndices(3, 4); !reflect.DeepEqual(got, []int{0, 1, 2}) {
		t.Errorf("SubsampleIndices(3, 4) = %v", got)
	}
	// Two points, identical points, a constant column: finite output.
	for _, rows := range [][][]float64{{{0, 1}, {2, 3}}, {{1, 1}, {1, 1}, {1, 1}}, {{1, 5}, {2, 5}, {3, 5}, {9, 5}}} {
		xy, _, err := TSNE(rows, TSNEConfig{Seed: 1, Iterations: 50})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range xy {
			if math.IsNaN(p[0]) || math.IsNaN(p[1]) || math.IsInf(p[0], 0) || math.IsInf(p[1], 0) {
				t.Errorf("%v: embedding %v", rows, xy)
			}
		}
	}
	for _, bad := range [][][]float64{{{1, 2}}, {{1, 2}, {1}}, {{1, math.Inf(1)}, {1, 2}}} {
		if _, _, err := TSNE(bad, TSNEConfig{}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, _, err := TSNE([][]float64{{1}, {2}}, TSNEConfig{Perplexity: math.NaN()}); err == nil {
		t.Error("NaN perplexity accepted")
	}
}

// BenchmarkTSNE1000 times the exact t-SNE of 1000 windows of 64 values (the full
// 1000 iterations).
func BenchmarkTSNE1000(b *testing.B) {
	rows, _ := blobs(9, 5, 200, 64)
	for b.Loop() {
		if _, _, err := TSNE(rows, TSNEConfig{Seed: 42}); err != nil {
			b.Fatal(err)
		}
	}
}
