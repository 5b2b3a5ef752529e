package anomaly

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestWindowVector(t *testing.T) {
	// two tokens, D=2: Δ = (1,−2), (3,0); target = (0,0), (2,4)
	pred := []float32{1, -2, 5, 4}
	tgt := []float32{0, 0, 2, 4}
	for mode, want := range map[string][]float64{
		"abs_error":    {2, 1},
		"signed_error": {2, -1},
		"target":       {1, 2},
		"concat":       {2, -1, 1, 2},
	} {
		got, err := WindowVector(pred, tgt, 2, mode)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v %v, want %v", mode, got, err, want)
		}
	}
	if _, err := WindowVector(pred, tgt, 2, "tsne"); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := WindowVector(pred, tgt[:2], 2, "target"); err == nil {
		t.Error("length mismatch accepted")
	}
}

func TestPCA2(t *testing.T) {
	// points on the line y = 2x (plus a constant column): one component carries all the
	// variance, the second is zero, and PC 1 keeps the points' order.
	var rows [][]float64
	for i := 0; i < 6; i++ {
		rows = append(rows, []float64{float64(i), 2 * float64(i), 7})
	}
	xy, err := PCA2(rows)
	if err != nil {
		t.Fatal(err)
	}
	for i := range xy {
		if math.Abs(xy[i][1]) > 1e-9 {
			t.Errorf("point %d: PC 2 = %v, want 0", i, xy[i][1])
		}
		if i > 0 && !(xy[i][0] > xy[i-1][0]) && !(xy[i][0] < xy[i-1][0]) {
			t.Errorf("PC 1 does not separate points %d and %d", i-1, i)
		}
	}
	// z-scored: both varying columns are (i − 2.5)/1.7078, so PC 1 = √2·that (up to sign)
	if want := math.Sqrt2 * 2.5 / math.Sqrt(35.0/12); math.Abs(math.Abs(xy[0][0])-want) > 1e-9 {
		t.Errorf("PC 1 of point 0 = %v, want ±%v", xy[0][0], want)
	}
	again, _ := PCA2(rows)
	if !reflect.DeepEqual(xy, again) {
		t.Error("PCA is not deterministic")
	}
	for _, bad := range [][][]float64{{{1, 2}}, {{1, 2}, {1}}, {{1, math.NaN()}, {1, 2}}} {
		if _, err := PCA2(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	p := filepath.Join(t.TempDir(), "e.png")
	meta := map[string]string{"method": "t-SNE", "perplexity": "1.5", "note": "naïve → x"}
	if err := PlotEmbedding(xy, []int8{-1, 0, 0, 1, 1, -1}, "t", "PC", meta, p); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p); err != nil || st.Size() < 1000 {
		t.Errorf("embedding PNG: %v", err)
	}
	// The metadata reads back, and the file is still a PNG that decodes.
	b, _ := os.ReadFile(p)
	got, err := PNGText(b)
	if err != nil || got["method"] != "t-SNE" || got["perplexity"] != "1.5" || got["note"] != "naïve ? x" {
		t.Errorf("PNG text %q %v", got, err)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Errorf("PNG with text chunks does not decode: %v", err)
	}
	if err := PlotEmbedding(xy, []int8{1}, "t", "PC", nil, p); err == nil {
		t.Error("label count mismatch accepted")
	}
}
