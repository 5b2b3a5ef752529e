package report

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/thinkjepa/thinkjepa/eval"
	"github.com/thinkjepa/thinkjepa/eval/predfile"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
)

// savePNG renders p atomically into path.
func savePNG(p *plot.Plot, w, h vg.Length, path string) error {
	wt, err := p.WriterTo(w, h, "png")
	if err != nil {
		return fmt.Errorf("rendering %s: %w", path, err)
	}
	return fsutil.WriteAtomic(path, func(out io.Writer) error {
		_, err := wt.WriteTo(out)
		return err
	})
}

// Series is one named line of (x, y) points.
type Series struct {
	Name string
	X, Y []float64
}

// linePlot draws several series with points and a legend.
func linePlot(title, xlabel, ylabel string, series []Series, path string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), vg.Points(-4)
	p.Y.Min = 0 // errors and losses are non-negative; start the axis at zero
	drawn := 0
	for i, s := range series {
		if len(s.X) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(s.X))
		for k := range s.X {
			xys[k].X, xys[k].Y = s.X[k], s.Y[k]
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("%s: series %s: %w", path, s.Name, err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		l.Dashes = plotutil.Dashes(i)
		pts.Color = plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(s.Name, l, pts)
		drawn++
	}
	if drawn == 0 {
		return fmt.Errorf("%s: nothing to plot", path)
	}
	// Headroom above the data for the legend.
	top := math.Inf(-1)
	for _, s := range series {
		for _, y := range s.Y {
			top = math.Max(top, y)
		}
	}
	if top > 0 {
		p.Y.Max = top * (1.15 + 0.08*float64(drawn))
	}
	return savePNG(p, 6*vg.Inch, 4*vg.Inch, path)
}

// ADEvsHorizon plots ADE on the first H steps against H, one line per model.
func ADEvsHorizon(results map[string]*eval.Result, order []string, path string) error {
	var series []Series
	for _, name := range order {
		r := results[name]
		s := Series{Name: name}
		for _, h := range r.Horizons {
			s.X = append(s.X, float64(h.H))
			s.Y = append(s.Y, h.ADE*100)
		}
		series = append(series, s)
	}
	return linePlot("ADE against horizon", "horizon H (future steps)", "ADE (cm)", series, path)
}

// projector maps world points into the pixels of the last observed frame.
type projector struct {
	camFromWorld *mat.Dense // inv(cam_ext_last), 4×4
	k            [3][3]float64
	w, h         float64
}

// newProjector inverts world←camera and scales K to the frame's pixel grid the way
// ThinkJEPA's renderer does: the original size is taken as (2·cx, 2·cy), so K that is
// already in the frame's pixels is left unchanged.
func newProjector(p *predfile.Prediction) (*projector, error) {
	e := mat.NewDense(4, 4, nil)
	for i := range 4 {
		for j := range 4 {
			e.Set(i, j, float64(p.CamExtLast[i][j]))
		}
	}
	var inv mat.Dense
	if err := inv.Inverse(e); err != nil {
		return nil, fmt.Errorf("cam_ext_last is not invertible: %w", err)
	}
	pr := &projector{camFromWorld: &inv}
	for i := range 3 {
		for j := range 3 {
			pr.k[i][j] = float64(p.Intrinsics[i][j])
		}
	}
	cx, cy := pr.k[0][2], pr.k[1][2]
	if cx <= 0 || cy <= 0 || pr.k[0][0] == 0 || pr.k[1][1] == 0 {
		return nil, fmt.Errorf("intrinsics %v have no usable focal length / principal point", p.Intrinsics)
	}
	pr.w, pr.h = 2*cx, 2*cy
	if p.FrameLast != nil {
		sx, sy := float64(p.FrameW)/(2*cx), float64(p.FrameH)/(2*cy)
		for j := range 3 {
			pr.k[0][j] *= sx
			pr.k[1][j] *= sy
		}
		pr.w, pr.h = float64(p.FrameW), float64(p.FrameH)
	}
	return pr, nil
}

// project returns pixel (u, v) and whether the point lies in front of the camera.
func (pr *projector) project(x [3]float32) (u, v float64, ok bool) {
	var c [3]float64
	for i := range 3 {
		c[i] = pr.camFromWorld.At(i, 0)*float64(x[0]) + pr.camFromWorld.At(i, 1)*float64(x[1]) +
			pr.camFromWorld.At(i, 2)*float64(x[2]) + pr.camFromWorld.At(i, 3)
	}
	if c[2] <= 1e-6 {
		return 0, 0, false
	}
	var q [3]float64
	for i := range 3 {
		q[i] = pr.k[i][0]*c[0] + pr.k[i][1]*c[1] + pr.k[i][2]*c[2]
	}
	return q[0] / q[2], q[1] / q[2], true
}

// flipTicks labels the plot's y axis with image rows (v grows downwards) while the
// plot itself uses y = h − v.
type flipTicks struct{ h float64 }

func (f flipTicks) Ticks(min, max float64) []plot.Tick {
	// Choose round values of v, then place them at y = h − v.
	ts := plot.DefaultTicks{}.Ticks(f.h-max, f.h-min)
	for i := range ts {
		v := ts[i].Value
		ts[i].Value = f.h - v
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(v, 'g', 4, 64)
		}
	}
	return ts
}

// frameImage wraps frame_last as an image.Image.
func frameImage(p *predfile.Prediction) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, p.FrameW, p.FrameH))
	for y := range p.FrameH {
		for x := range p.FrameW {
			o := (y*p.FrameW + x) * 3
			img.SetRGBA(x, y, color.RGBA{p.FrameLast[o], p.FrameLast[o+1], p.FrameLast[o+2], 255})
		}
	}
	return img
}

// TrajRun is one model's prediction for the clip being drawn.
type TrajRun struct {
	Name string
	Pred *predfile.Prediction
}

// Trajectories draws, in the last observed frame, the past (white), the true future
// (green) and each model's predicted future of the given joints. The reference
// prediction supplies past, gt, camera and frame.
func Trajectories(ref *predfile.Prediction, runs []TrajRun, joints []int, path string) error {
	pr, err := newProjector(ref)
	if err != nil {
		return fmt.Errorf("clip %s: %w", ref.Meta.ClipID, err)
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s (%s) — wrists and fingertips", ref.Meta.ClipID, ref.Meta.Split)
	p.X.Label.Text = "u (px)"
	p.Y.Label.Text = "v (px)"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, pr.w, 0, pr.h
	p.Y.Tick.Marker = flipTicks{pr.h}
	p.Legend.Top = true
	if ref.FrameLast != nil {
		p.Add(plotter.NewImage(frameImage(ref), 0, 0, pr.w, pr.h))
	}
	track := func(seq [][predfile.NumJoints][3]float32, j int, anchor *[3]float32) plotter.XYs {
		var xys plotter.XYs
		if anchor != nil {
			if u, v, ok := pr.project(*anchor); ok {
				xys = append(xys, plotter.XY{X: u, Y: pr.h - v})
			}
		}
		for t := range seq {
			if u, v, ok := pr.project(seq[t][j]); ok {
				xys = append(xys, plotter.XY{X: u, Y: pr.h - v})
			}
		}
		return xys
	}
	type layer struct {
		name  string
		seq   [][predfile.NumJoints][3]float32
		col   color.Color
		width vg.Length
		dash  []vg.Length
	}
	var layers []layer
	if ref.Past != nil {
		layers = append(layers, layer{"past", ref.Past, color.RGBA{255, 255, 255, 255}, 1.5, nil})
	}
	if ref.GT != nil {
		layers = append(layers, layer{"true future", ref.GT, color.RGBA{0, 200, 0, 255}, 2, nil})
	}
	palette := []color.Color{color.RGBA{230, 30, 30, 255}, color.RGBA{30, 120, 255, 255},
		color.RGBA{255, 160, 0, 255}, color.RGBA{200, 0, 200, 255}, color.RGBA{0, 200, 200, 255}}
	for i, r := range runs {
		layers = append(layers, layer{r.Name, r.Pred.Pred, palette[i%len(palette)], 1.5, []vg.Length{vg.Points(4), vg.Points(2)}})
	}
	drawn := 0
	for _, ly := range layers {
		var legendLine *plotter.Line
		for _, j := range joints {
			var anchor *[3]float32
			if ly.name != "past" && ref.Past != nil {
				// Futures start from the last observed position so the tracks connect.
				anchor = &ref.Past[len(ref.Past)-1][j]
			}
			xys := track(ly.seq, j, anchor)
			if len(xys) < 2 {
				continue
			}
			l, err := plotter.NewLine(xys)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			l.Color, l.Width, l.Dashes = ly.col, vg.Points(float64(ly.width)), ly.dash
			p.Add(l)
			legendLine = l
			drawn++
		}
		if legendLine != nil {
			p.Legend.Add(ly.name, legendLine)
		}
		if ly.name == "past" {
			continue
		}
		// Mark each future's last step, so that a forecast that barely moves (the
		// stationary baseline) is still visible.
		var ends plotter.XYs
		for _, j := range joints {
			if u, v, ok := pr.project(ly.seq[len(ly.seq)-1][j]); ok {
				ends = append(ends, plotter.XY{X: u, Y: pr.h - v})
			}
		}
		if len(ends) > 0 {
			sc, err := plotter.NewScatter(ends)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			sc.Shape, sc.Color, sc.Radius = draw.CrossGlyph{}, ly.col, vg.Points(3)
			p.Add(sc)
			if legendLine == nil {
				p.Legend.Add(ly.name, sc)
			}
			drawn++
		}
	}
	if drawn == 0 {
		return fmt.Errorf("clip %s: no joint projects in front of the camera", ref.Meta.ClipID)
	}
	// Mark the wrists' last observed position.
	if ref.Past != nil {
		var pts plotter.XYs
		for _, j := range eval.Wrists() {
			if u, v, ok := pr.project(ref.Past[len(ref.Past)-1][j]); ok {
				pts = append(pts, plotter.XY{X: u, Y: pr.h - v})
			}
		}
		if len(pts) > 0 {
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return err
			}
			sc.Shape = draw.CircleGlyph{}
			sc.Color = color.RGBA{255, 255, 0, 255}
			sc.Radius = vg.Points(4)
			p.Add(sc)
		}
	}
	aspect := pr.h / pr.w
	if math.IsNaN(aspect) || aspect <= 0 {
		return errors.New("degenerate image size")
	}
	w := 7 * vg.Inch
	return savePNG(p, w, vg.Length(float64(w)*math.Min(math.Max(aspect, 0.4), 1.5))+0.6*vg.Inch, path)
}
