package anomaly

import (
	"math"
	"reflect"
	"testing"
)

func TestWindowStarts(t *testing.T) {
	w := DefaultWindows
	for _, c := range []struct {
		T    int
		want []int
	}{
		{47, nil}, {48, []int{0}}, {63, []int{0}}, {64, []int{0, 16}}, {100, []int{0, 16, 32, 48}},
	} {
		if got := w.Starts(c.T); !reflect.DeepEqual(got, c.want) {
			t.Errorf("T=%d: starts %v, want %v", c.T, got, c.want)
		}
	}
	// stride 0 means future (upstream's --anomaly_stride 0)
	if got := (Windows{Past: 2, Future: 3}).Starts(10); !reflect.DeepEqual(got, []int{0, 3}) {
		t.Errorf("stride 0: %v, want [0 3]", got)
	}
	for _, bad := range []Windows{{0, 1, 1}, {1, 0, 1}, {1, 1, -1}} {
		if bad.Check() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestWindowScore(t *testing.T) {
	// two tokens, D=2: ‖(3,4)‖ = 5 and ‖(0,0)‖ = 0 → mean 2.5
	s, err := WindowScore([]float32{3, 4, 1, 1}, []float32{0, 0, 1, 1}, 2)
	if err != nil || s != 2.5 {
		t.Errorf("score %v %v, want 2.5", s, err)
	}
	s, _ = WindowScore([]float32{float32(math.NaN()), 0}, []float32{0, 0}, 2)
	if !math.IsNaN(s) {
		t.Errorf("NaN prediction scored %v", s)
	}
	s, _ = WindowScore([]float32{float32(math.Inf(1)), 0}, []float32{0, 0}, 2)
	if !math.IsNaN(s) {
		t.Errorf("Inf prediction scored %v, want NaN (dropped)", s)
	}
	for _, c := range []struct {
		p, q []float32
		d    int
	}{{[]float32{1}, []float32{1, 2}, 1}, {[]float32{1, 2, 3}, []float32{1, 2, 3}, 2}, {nil, nil, 1}, {[]float32{1}, []float32{1}, 0}} {
		if _, err := WindowScore(c.p, c.q, c.d); err == nil {
			t.Errorf("bad shapes %d/%d D=%d accepted", len(c.p), len(c.q), c.d)
		}
	}
}

func TestFrameScores(t *testing.T) {
	// T=9, past 2, future 3, stride 2: windows at 0 (frames 2-4), 2 (4-6), 4 (6-8)
	w := Windows{Past: 2, Future: 3, Stride: 2}
	starts := w.Starts(9)
	if !reflect.DeepEqual(starts, []int{0, 2, 4}) {
		t.Fatalf("starts %v", starts)
	}
	frame, covered, err := w.FrameScores(9, starts, []float64{1, 4, 10})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{math.NaN(), math.NaN(), 1, 1, 2.5, 4, 7, 10, 10}
	for i := range want {
		if covered[i] != !math.IsNaN(want[i]) || (covered[i] && frame[i] != want[i]) || (!covered[i] && !math.IsNaN(frame[i])) {
			t.Errorf("frame %d: %v (covered %v), want %v", i, frame[i], covered[i], want[i])
		}
	}
	// an uncovered tail: T=10 leaves frame 9 out
	_, covered, _ = w.FrameScores(10, w.Starts(10), []float64{1, 1, 1})
	if covered[9] || !covered[8] {
		t.Errorf("tail coverage %v", covered)
	}
	// a NaN window poisons only its frames
	frame, _, _ = w.FrameScores(9, starts, []float64{1, math.NaN(), 10})
	if !math.IsNaN(frame[4]) || !math.IsNaN(frame[6]) || frame[3] != 1 || frame[7] != 10 {
		t.Errorf("NaN window: %v", frame)
	}
	if _, _, err := w.FrameScores(9, starts, []float64{1}); err == nil {
		t.Error("scores/windows mismatch accepted")
	}
	if _, _, err := w.FrameScores(6, []int{3}, []float64{1}); err == nil {
		t.Error("window past the clip accepted")
	}
	if got := w.WindowLabels(starts, bools(0, 1, 0, 0, 0, 0, 0, 0, 1)); !reflect.DeepEqual(got, bools(0, 0, 1)) {
		t.Errorf("window labels %v, want [false false true] (context frames do not count)", got)
	}
}
