package anomaly

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/thinkjepa/thinkjepa/internal/fsutil"
)

// PlotClip draws a clip's frame scores against latent frames: the score line (scored
// frames only), anomalous ground-truth frames shaded, and a horizontal line at each
// finite threshold (the given one dashed, the calibrated one solid). The PNG is written
// atomically.
func PlotClip(c *ClipResult, threshold float64, calibrated *float64, path string) error {
	p := plot.New()
	p.Title.Text = "anomaly score: " + c.ID
	p.X.Label.Text = "latent frame"
	p.Y.Label.Text = "score (mean ‖pred − target‖₂)"
	p.X.Min, p.X.Max = 0, float64(max(c.T-1, 1))
	var xys plotter.XYs
	lo, hi := math.Inf(1), math.Inf(-1)
	for t := 0; t < c.T; t++ {
		if c.Covered[t] && !math.IsNaN(c.Frame[t]) {
			xys = append(xys, plotter.XY{X: float64(t), Y: c.Frame[t]})
			lo, hi = math.Min(lo, c.Frame[t]), math.Max(hi, c.Frame[t])
		}
	}
	thrs := []float64{threshold}
	if calibrated != nil {
		thrs = append(thrs, *calibrated)
	}
	for _, v := range thrs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	if hi <= lo {
		hi = lo + 1
	}
	pad := 0.05 * (hi - lo)
	lo, hi = lo-pad, hi+pad
	p.Y.Min, p.Y.Max = lo, hi
	if c.Labels != nil {
		// one shaded band per run of anomalous frames, each frame covering [t−½, t+½]
		for t := 0; t < c.T; {
			if !c.Labels[t] {
				t++
				continue
			}
			u := t
			for u < c.T && c.Labels[u] {
				u++
			}
			x0, x1 := float64(t)-0.5, float64(u)-0.5
			poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: lo}, {X: x1, Y: lo}, {X: x1, Y: hi}, {X: x0, Y: hi}})
			if err != nil {
				return fmt.Errorf("plot %s: %w", path, err)
			}
			poly.Color = color.RGBA{R: 240, G: 160, B: 160, A: 255}
			poly.LineStyle.Width = 0
			p.Add(poly)
			if t == firstAnomalous(c.Labels) {
				p.Legend.Add("ground truth anomalous", poly)
			}
			t = u
		}
	}
	if len(xys) > 0 {
		l, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		l.Color = color.RGBA{B: 200, A: 255}
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add("frame score", l)
	}
	for i, v := range thrs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		l, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: v}, {X: p.X.Max, Y: v}})
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		l.Width = vg.Points(1)
		if i == 0 {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Legend.Add(fmt.Sprintf("threshold %.4g", v), l)
		} else {
			l.Color = color.RGBA{R: 200, A: 255}
			p.Legend.Add(fmt.Sprintf("calibrated %.4g", v), l)
		}
		p.Add(l)
	}
	p.Legend.Top = true
	wt, err := p.WriterTo(7*vg.Inch, 3*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("rendering %s: %w", path, err)
	}
	return fsutil.WriteAtomic(path, func(out io.Writer) error {
		_, err := wt.WriteTo(out)
		return err
	})
}

func firstAnomalous(l []bool) int {
	for t, v := range l {
		if v {
			return t
		}
	}
	return -1
}
