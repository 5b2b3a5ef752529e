package anomaly

import (
	"math"
	"testing"
)

// frames builds [T, P·D] latents from per-frame values: frame t's every element is v[t]
// plus the element's index times 0.01 (so tokens and channels differ).
func frames(v []float32, P, D int) []float32 {
	out := make([]float32, 0, len(v)*P*D)
	for _, x := range v {
		for i := 0; i < P*D; i++ {
			out = append(out, x+0.01*float32(i))
		}
	}
	return out
}

func TestTubeletRepeat(t *testing.T) {
	for _, c := range []struct {
		v    []float32
		want int
	}{
		{[]float32{1, 1, 2, 2, 3, 3}, 2},
		{[]float32{1, 1, 2, 2, 3, 4}, 1}, // the last pair differs: no repeat
		{[]float32{1, 1, 1, 2, 2, 2}, 3},
		{[]float32{1, 2, 3, 4}, 1},
		{[]float32{1, 1, 1, 1, 5, 5, 5, 5}, 4},
		{[]float32{7}, 1},
	} {
		if got := TubeletRepeat(frames(c.v, 2, 3), len(c.v), 6); got != c.want {
			t.Errorf("TubeletRepeat(%v) = %d, want %d", c.v, got, c.want)
		}
	}
}

// Frame difference by hand: latents repeated per tubelet compare consecutive tubelets;
// a frozen stretch of distinct tubelets scores 0.
func TestFrameDifference(t *testing.T) {
	const P, D = 2, 3
	// Tubelets 0, 1, 1 (frozen), 4, repeated twice each.
	v := []float32{0, 0, 1, 1, 1, 1, 4, 4}
	got, err := FrameDifference(frames(v, P, D), len(v), P, D)
	if err != nil {
		t.Fatal(err)
	}
	// Each token differs by Δ in all D channels: L2 = |Δ|·√D.
	want := []float64{math.NaN(), math.NaN(), math.Sqrt(D), math.Sqrt(D), 0, 0, 3 * math.Sqrt(D), 3 * math.Sqrt(D)}
	for i := range want {
		if math.IsNaN(want[i]) != math.IsNaN(got[i]) || (!math.IsNaN(want[i]) && math.Abs(got[i]-want[i]) > 1e-5) {
			t.Fatalf("frame difference %v, want %v", got, want)
		}
	}
	// Not repeated: every frame but the first against its predecessor.
	got, _ = FrameDifference(frames([]float32{0, 2, 2, 5}, P, D), 4, P, D)
	if !math.IsNaN(got[0]) || math.Abs(got[1]-2*math.Sqrt(D)) > 1e-5 || got[2] != 0 || math.Abs(got[3]-3*math.Sqrt(D)) > 1e-5 {
		t.Fatalf("unrepeated frame difference %v", got)
	}
	if _, err := FrameDifference(make([]float32, 5), 2, P, D); err == nil {
		t.Error("a wrong-sized input was accepted")
	}
}

func TestCopyLast(t *testing.T) {
	// B=2 windows of Tc=2 context frames of 3 values; Tf=2.
	ctx := []float32{1, 2, 3, 4, 5, 6 /* window 1 */, 7, 8, 9, 10, 11, 12}
	got := CopyLast(ctx, 2, 2, 2, 3)
	want := []float32{4, 5, 6, 4, 5, 6, 10, 11, 12, 10, 11, 12}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("CopyLast = %v, want %v", got, want)
		}
	}
}
