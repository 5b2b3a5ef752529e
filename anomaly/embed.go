package anomaly

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image/color"
	"math"
	"sort"
	"strings"

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
// onto their first two principal components (SVD; deterministic). Fewer than two
// rows, or rows of different lengths, are an error; a second component that does not exist (one row direction) is 0.
func PCA2(rows [][]float64) ([][2]float64, error) {
	z, n, d, err := zscore(rows)
	if err != nil {
		return nil, err
	}
	x := mat.NewDense(n, d, z)
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
// anomalous, 0 normal, −1 unlabelled), with axes named axis + " 1" and axis + " 2", and
// writes the PNG atomically. meta goes into the PNG as tEXt chunks (keys in sorted
// order, Latin-1 keywords of 1–79 bytes), so the method and its settings travel with the
// picture (PNGText reads them back).
func PlotEmbedding(xy [][2]float64, labels []int8, title, axis string, meta map[string]string, path string) error {
	if len(xy) != len(labels) {
		return fmt.Errorf("plot %s: %d points, %d labels", path, len(xy), len(labels))
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = axis + " 1"
	p.Y.Label.Text = axis + " 2"
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
	var png bytes.Buffer
	if _, err := wt.WriteTo(&png); err != nil {
		return fmt.Errorf("rendering %s: %w", path, err)
	}
	b, err := pngWithText(png.Bytes(), meta)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, b)
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// pngWithText inserts one tEXt chunk per meta entry after the IHDR chunk.
func pngWithText(b []byte, meta map[string]string) ([]byte, error) {
	const ihdrEnd = 8 + 4 + 4 + 13 + 4
	if len(b) < ihdrEnd || !bytes.Equal(b[:8], pngSignature) || string(b[12:16]) != "IHDR" {
		return nil, fmt.Errorf("not a PNG with a leading IHDR")
	}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		if len(k) < 1 || len(k) > 79 || strings.ContainsRune(k, 0) {
			return nil, fmt.Errorf("PNG text keyword %q", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := append([]byte(nil), b[:ihdrEnd]...)
	for _, k := range keys {
		data := append(append([]byte(k), 0), latin1(meta[k])...)
		var hdr [8]byte
		binary.BigEndian.PutUint32(hdr[:4], uint32(len(data)))
		copy(hdr[4:], "tEXt")
		out = append(out, hdr[:]...)
		out = append(out, data...)
		crc := crc32.NewIEEE()
		crc.Write(hdr[4:])
		crc.Write(data)
		out = binary.BigEndian.AppendUint32(out, crc.Sum32())
	}
	return append(out, b[ihdrEnd:]...), nil
}

// latin1 maps s to Latin-1, '?' for what it cannot hold.
func latin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0 && r < 256 {
			out = append(out, byte(r))
		} else {
			out = append(out, '?')
		}
	}
	return out
}

// PNGText reads a PNG's tEXt chunks (keyword → text, Latin-1 decoded).
func PNGText(b []byte) (map[string]string, error) {
	if len(b) < 8 || !bytes.Equal(b[:8], pngSignature) {
		return nil, fmt.Errorf("not a PNG")
	}
	m := map[string]string{}
	for off := 8; off+12 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[off : off+4]))
		typ := string(b[off+4 : off+8])
		if n < 0 || off+12+n > len(b) {
			return nil, fmt.Errorf("PNG chunk %q at %d overruns the file", typ, off)
		}
		data := b[off+8 : off+8+n]
		if crc32.ChecksumIEEE(b[off+4:off+8+n]) != binary.BigEndian.Uint32(b[off+8+n:]) {
			return nil, fmt.Errorf("PNG chunk %q at %d: bad CRC", typ, off)
		}
		if typ == "tEXt" {
			if k, v, ok := bytes.Cut(data, []byte{0}); ok {
				r := make([]rune, len(v))
				for i, c := range v {
					r[i] = rune(c)
				}
				m[string(k)] = string(r)
			}
		}
		if typ == "IEND" {
			break
		}
		off += 12 + n
	}
	return m, nil
}
