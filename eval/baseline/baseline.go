// Package baseline makes the non-learned forecasts that every model is compared with:
// stationary hands (repeat the last observed pose) and constant velocity (extrapolate
// each joint with the velocity between its last two observations, measured in
// source-frame time). Their outputs are ordinary prediction files, scored by eval.
package baseline

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/thinkjepa/thinkjepa/eval/predfile"
)

const nj = predfile.NumJoints

// Kind names a baseline.
type Kind string

const (
	Stationary       Kind = "stationary"
	ConstantVelocity Kind = "constant-velocity"
)

// Kinds lists the baselines.
var Kinds = []Kind{ConstantVelocity, Stationary}

// ParseKind checks a baseline name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return "", fmt.Errorf("unknown baseline %q (want %s)", s, strings.Join(names, "|"))
}

// Clip is what a baseline needs from a data clip: the whole window in world frame,
// which steps are observed, and the camera for plots. The future part of XYZWorld is
// used only as the ground truth written next to the forecast, never by the forecast.
type Clip struct {
	ID         string
	Past       int              // observed steps 0..Past-1; future Past..T-1
	XYZWorld   [][nj][3]float32 // [T] world joints, metres
	Valid      [][nj]bool       // [T] or nil (all valid)
	FrameIdx   []float64        // [T] source frame index of each step, or nil (uniform steps)
	CamExt     [][4][4]float32  // [T] world←camera
	Intrinsics [3][3]float32    // pixel K
	FrameLast  []uint8          // last observed RGB frame [FrameH][FrameW][3], optional
	FrameH     int
	FrameW     int
	Dataset    string
	Split      string
	Task       string
	Extra      map[string]any // copied into the prediction metadata
}

func (c *Clip) check() error {
	t := len(c.XYZWorld)
	switch {
	case c.Past < 1 || c.Past >= t:
		return fmt.Errorf("clip %s: %d observed of %d steps; need at least 1 observed and 1 future", c.ID, c.Past, t)
	case c.Valid != nil && len(c.Valid) != t:
		return fmt.Errorf("clip %s: valid has %d steps, xyz_world %d", c.ID, len(c.Valid), t)
	case c.FrameIdx != nil && len(c.FrameIdx) != t:
		return fmt.Errorf("clip %s: frame indices have %d steps, xyz_world %d", c.ID, len(c.FrameIdx), t)
	case len(c.CamExt) != t:
		return fmt.Errorf("clip %s: cam_ext has %d steps, xyz_world %d", c.ID, len(c.CamExt), t)
	}
	for i := 1; i < len(c.FrameIdx); i++ {
		if c.FrameIdx[i] < c.FrameIdx[i-1] {
			return fmt.Errorf("clip %s: source frame indices decrease at step %d (%g after %g)", c.ID, i, c.FrameIdx[i], c.FrameIdx[i-1])
		}
	}
	for s := 0; s < c.Past; s++ {
		for j := range nj {
			for _, v := range c.XYZWorld[s][j] {
				if (c.Valid == nil || c.Valid[s][j]) && (math.IsNaN(float64(v)) || math.IsInf(float64(v), 0)) {
					return fmt.Errorf("clip %s: observed joint %d at step %d is %v", c.ID, j, s, v)
				}
			}
		}
	}
	return nil
}

// frameTime is the source-frame time of step s (uniform when indices are unknown).
func (c *Clip) frameTime(s int) float64 {
	if c.FrameIdx == nil {
		return float64(s)
	}
	return c.FrameIdx[s]
}

// Extrapolate forecasts the future steps of joint positions. For each joint it uses its
// last valid observation a; stationary repeats it, constant velocity adds
// v·(time(t) − time(a)) with v measured against the previous valid observation at an
// earlier source time (episode64 frame indices repeat on short episodes).
// A joint with no earlier distinct observation gets zero velocity; a joint never validly
// observed falls back to its last observed value.
func Extrapolate(kind Kind, c *Clip) ([][nj][3]float32, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if kind != Stationary && kind != ConstantVelocity {
		return nil, fmt.Errorf("unknown baseline %q", kind)
	}
	valid := func(s, j int) bool { return c.Valid == nil || c.Valid[s][j] }
	out := make([][nj][3]float32, len(c.XYZWorld)-c.Past)
	for j := range nj {
		a := -1
		for s := c.Past - 1; s >= 0; s-- {
			if valid(s, j) {
				a = s
				break
			}
		}
		if a < 0 {
			a = c.Past - 1
		}
		var vel [3]float64
		if kind == ConstantVelocity {
			for s := a - 1; s >= 0; s-- {
				dt := c.frameTime(a) - c.frameTime(s)
				if valid(s, j) && dt > 0 {
					for d := range 3 {
						vel[d] = (float64(c.XYZWorld[a][j][d]) - float64(c.XYZWorld[s][j][d])) / dt
					}
					break
				}
			}
		}
		for t := range out {
			dt := c.frameTime(c.Past+t) - c.frameTime(a)
			for d := range 3 {
				out[t][j][d] = float32(float64(c.XYZWorld[a][j][d]) + vel[d]*dt)
			}
		}
	}
	return out, nil
}

// Forecast runs a baseline on a clip and returns a complete prediction file: the
// forecast, the true future with its validity, the observed past and the camera of the
// last observed frame.
func Forecast(kind Kind, c *Clip) (*predfile.Prediction, error) {
	pred, err := Extrapolate(kind, c)
	if err != nil {
		return nil, err
	}
	if c.ID == "" {
		return nil, errors.New("clip without id")
	}
	p := &predfile.Prediction{
		Pred:       pred,
		GT:         append([][nj][3]float32(nil), c.XYZWorld[c.Past:]...),
		Past:       append([][nj][3]float32(nil), c.XYZWorld[:c.Past]...),
		CamExtLast: c.CamExt[c.Past-1],
		Intrinsics: c.Intrinsics,
		FrameLast:  c.FrameLast,
		FrameH:     c.FrameH,
		FrameW:     c.FrameW,
		Meta: predfile.Meta{ClipID: c.ID, Model: "baseline-" + string(kind), Dataset: c.Dataset,
			Split: c.Split, Task: c.Task, Extra: c.Extra},
	}
	if c.Valid != nil {
		p.Mask = append([][nj]bool(nil), c.Valid[c.Past:]...)
	}
	return p, nil
}
