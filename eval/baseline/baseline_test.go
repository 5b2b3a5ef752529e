package baseline

import (
	"math"
	"testing"
)

// line builds a clip where every joint j moves along x as x = 0.01·frame + j, with the
// given source frame index per step.
func line(frames []float64, past int) *Clip {
	c := &Clip{ID: "c", Past: past, FrameIdx: frames,
		XYZWorld: make([][nj][3]float32, len(frames)), CamExt: make([][4][4]float32, len(frames))}
	for s, f := range frames {
		for j := range nj {
			c.XYZWorld[s][j] = [3]float32{float32(0.01*f + float64(j)), 1, 2}
		}
	}
	return c
}

func TestConstantVelocityInSourceFrameTime(t *testing.T) {
	// Steps at source frames 0,4,8 observed (uneven: next 12, 20). Velocity .01/frame.
	c := line([]float64{0, 4, 8, 12, 20}, 3)
	p, err := Extrapolate(ConstantVelocity, c)
	if err != nil {
		t.Fatal(err)
	}
	// joint 5 at frame 12: .12 + 5 = 5.12; at frame 20: 5.20.
	if math.Abs(float64(p[0][5][0])-5.12) > 1e-5 || math.Abs(float64(p[1][5][0])-5.20) > 1e-5 || p[1][5][1] != 1 {
		t.Errorf("cv: got %v %v, want x=5.12, 5.20", p[0][5], p[1][5])
	}
	s, _ := Extrapolate(Stationary, c)
	// stationary: last observed x = .08 + 5.
	if math.Abs(float64(s[1][5][0])-5.08) > 1e-6 {
		t.Errorf("stationary: %v, want 5.08", s[1][5])
	}
}

func TestRepeatedFrameIndexAndMask(t *testing.T) {
	// linspace on a short episode repeats indices: 0,2,2 observed, future 4.
	c := line([]float64{0, 2, 2, 4}, 3)
	p, err := Extrapolate(ConstantVelocity, c)
	if err != nil {
		t.Fatal(err)
	}
	// uses frames 2 and 0: v = .01/frame → x(4) = .04 + j.
	if math.Abs(float64(p[0][0][0])-0.04) > 1e-6 {
		t.Errorf("repeated index: %v, want .04", p[0][0])
	}
	// Joint 3 invalid at the last observed step: extrapolate from steps 1 and 0.
	c = line([]float64{0, 1, 2, 3}, 3)
	c.Valid = make([][nj]bool, 4)
	for s := range c.Valid {
		for j := range nj {
			c.Valid[s][j] = true
		}
	}
	c.Valid[2][3] = false
	c.XYZWorld[2][3][0] = float32(math.NaN())
	p, err = Extrapolate(ConstantVelocity, c)
	if err != nil {
		t.Fatal(err)
	}
	// from step 1 (x=3.01) with v=.01: frame 3 → 3.03.
	if math.Abs(float64(p[0][3][0])-3.03) > 1e-5 {
		t.Errorf("masked joint: %v, want 3.03", p[0][3])
	}
	pr, err := Forecast(Stationary, c)
	if err != nil || len(pr.GT) != 1 || pr.Mask == nil || len(pr.Past) != 3 || pr.Meta.Model != "baseline-stationary" {
		t.Fatalf("forecast %+v %v", pr, err)
	}
}

func TestBadClips(t *testing.T) {
	c := line([]float64{0, 1}, 2)
	if _, err := Extrapolate(Stationary, c); err == nil {
		t.Error("no future steps accepted")
	}
	c = line([]float64{0, 2, 1}, 2)
	if _, err := Extrapolate(Stationary, c); err == nil {
		t.Error("decreasing frame indices accepted")
	}
	c = line([]float64{0, 1, 2}, 2)
	c.XYZWorld[1][0][0] = float32(math.Inf(1))
	if _, err := Extrapolate(Stationary, c); err == nil {
		t.Error("Inf observation accepted")
	}
	if _, err := ParseKind("linear"); err == nil {
		t.Error("unknown kind accepted")
	}
}
