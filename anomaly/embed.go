package anomaly

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/thinkjepa/thinkjepa/internal/fsutil"
)

// EmbedModes are the per-window vectors the embedding can show (upstream's
// visualize_latent_anomaly_tsne.py modes). Each is a mean over the window's future
// tokens, so a window is one D-vector (2D for concat) whatever its size.
var EmbedModes = []string{"abs_error", "signed_error", "target", "concat"}

// WindowVector is one window's embedding input: the mean over tokens of |pred − target|
// (abs_error), of pred − target (signed_error), of target (target), or signed_error
// followed by target (concat). pred and target are flat [tokens, D].
func WindowVector(pred, target []float32, D int, mode string) ([]float64, error) {
	if D <= 0 || len(pred) != len(target) || len(pred) == 0 || len(pred)%D != 0 {
		return nil, fmt.Errorf("window vector: %d/%d values with D=%d", len(pred), len(target), D)
	}
	n := len(pred) / D
	abs, signed, tgt := make([]float64, D), make([]float64, D), make([]float64, D)
	for i := range pred {
		d := float64(pred[i]) - float64(target[i])
		abs[i%D] += math.Abs(d) / float64(n)
		signed[i%D] += d / float64(n)
		tgt[i%D] += float64(target[i]) / float64(n)
	}
	switch mode {
	case "abs_error":
		return abs, nil
	case "signed_error":
		return signed, nil
	case "target":
		return tgt, nil
	case "concat":
		return append(signed, tgt...), nil
	}
	return nil, fmt.Errorf("unknown embedding mode %q (want abs_error, signed_error, target or concat)", mode)
}

// PCA2 z-scores each column of rows (constant columns become 0) and projects the rows
// onto their first two principal components (SVD; deterministic, unlike upstream's
// t-SNE). Fewer than two rows, or rows of different lengths, are an error; a second
// component that does not exist (one row direction) is 0.
func PCA2(rows [][]float64) ([][2]float64, error) {
	n := len(rows)
	if n < 2 {
		return nil, fmt.Errorf("embedding: %d windows, need at least 2", n)
	}
	d := len(rows[0])
	x := mat.NewDense(n, d, nil)
	for i, r := range rows {
		if len(r) != d {
			return nil, fmt.Errorf("embedding: window %d has %d values, window 0 %d", i, len(r), d)
		}
		for j, v := range r {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("embedding: window %d value %d is %v", i, j, v)
			}
			x.Set(i, j, v)
		}
	}
	for j := 0; j < d; j++ {
		var m, s float64
		for i := 0; i < n; i++ {
			m += x.At(i, j)
		}
		m /= float64(n)
		for i := 0; i < n; i++ {
			s += (x.At(i, j) - m) * (x.At(i, j) - m)
		}
		s = math.Sqrt(s / float64(n))
		for i := 0; i < n; i++ {
			v := 0.0
			if s > 1e-12 {
				v = (x.At(i, j) - m) / s
			}
			x.Set(i, j, v)
		}
	}
	var svd mat.SVD
	if !svd.Factorize(x, mat.SVDThin) {
		return nil, fmt.Errorf("embedding: SVD did not converge")
	}
	var u mat.Dense
	svd.UTo(&u)
	sv := svd.Values(nil)
	out := make([][2]float64, n)
	for k := 0; k < 2 && k < len(sv); k++ {
		// Sign convention: the largest-magnitude coordinate is positive, so the picture
		// does not flip between runs or machines.
		big := 0
		for i := 0; i < n; i++ {
			if math.Abs(u.At(i, k)) > math.Abs(u.At(big, k)) {
				big = i
			}
		}
		sign := 1.0
		if u.At(big, k) < 0 {
			sign = -1
		}
		for i := 0; i < n; i++ {
			out[i][k] = sign * u.At(i, k) * sv[k]
		}
	}
	return out, nil
}

// PlotEmbedding scatters the 2-D window embedding, coloured by window label (1
// anomalous, 0 normal, −1 unlabelled), and writes the PNG atomically.
func PlotEmbedding(xy [][2]float64, labels []int8, title, path string) error {
	if len(xy) != len(labels) {
		return fmt.Errorf("plot %s: %d points, %d labels", path, len(xy), len(labels))
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "PC 1"
	p.Y.Label.Text = "PC 2"
	groups := []struct {
		label int8
		name  string
		col   color.Color
		shape draw.GlyphDrawer
	}{
		{-1, "unlabelled", color.Gray{Y: 150}, draw.RingGlyph{}},
		{0, "normal", color.RGBA{B: 200, A: 255}, draw.CircleGlyph{}},
		{1, "anomalous", color.RGBA{R: 220, A: 255}, draw.TriangleGlyph{}},
	}
	for _, g := range groups {
		var pts plotter.XYs
		for i, l := range labels {
			if l == g.label {
				pts = append(pts, plotter.XY{X: xy[i][0], Y: xy[i][1]})
			}
		}
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		sc.GlyphStyle.Color = g.col
		sc.GlyphStyle.Shape = g.shape
		sc.GlyphStyle.Radius = vg.Points(3)
		p.Add(sc)
		p.Legend.Add(fmt.Sprintf("%s (%d)", g.name, len(pts)), sc)
	}
	p.Legend.Top = true
	wt, err := p.WriterTo(6*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("rendering %s: %w", path, err)
	}
	return fsutil.WriteAtomic(path, func(out io.Writer) error {
		_, err := wt.WriteTo(out)
		return err
	})
}
