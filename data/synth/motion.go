// Package synth generates the built-in synthetic data set: seeded, deterministic bimanual
// reach / grasp / place / wipe episodes written in the exact EgoDex on-disk layout (and a
// small Ego-Exo4D-layout set). The goal location is named only in the instruction and the
// hands carry the object toward it only in the last third of the episode (after a hold),
// so the past motion alone cannot tell where the future goes: language guidance can help.
package synth

import (
	"math"
	"math/rand/v2"

	"github.com/thinkjepa/thinkjepa/data"
)

type vec [3]float64

func (a vec) add(b vec) vec        { return vec{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func (a vec) sub(b vec) vec        { return vec{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func (a vec) mul(s float64) vec    { return vec{a[0] * s, a[1] * s, a[2] * s} }
func (a vec) dot(b vec) float64    { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func (a vec) norm() float64        { return math.Sqrt(a.dot(a)) }
func (a vec) unit() vec            { return a.mul(1 / a.norm()) }
func lerp(a, b vec, s float64) vec { return a.add(b.sub(a).mul(s)) }
func cross(a, b vec) vec {
	return vec{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

// minJerk is the minimum-jerk profile 10τ³−15τ⁴+6τ⁵ on [0,1] (clamped outside).
func minJerk(tau float64) float64 {
	tau = math.Max(0, math.Min(1, tau))
	return tau * tau * tau * (10 - 15*tau + 6*tau*tau)
}

// Scene constants (world frame: ARKit-like, +Y up, metres; the person faces −Z).
const (
	tableY   = 0.75
	tableZ0  = -0.15
	tableZ1  = -0.95
	tableX   = 0.65
	objectR  = 0.035
	trayHalf = 0.08
)

// Goal is a named place location on the table.
type Goal struct {
	Name string
	Pos  vec
}

// Goals are the places an instruction can name; trays are drawn identical, so only the
// instruction tells which is meant.
var Goals = []Goal{
	{"left", vec{-0.32, tableY, -0.52}},
	{"right", vec{0.32, tableY, -0.52}},
	{"front", vec{0.0, tableY, -0.28}},
}

// Colours of the movable object, named in instructions.
var objectColours = []struct {
	Name string
	RGB  [3]uint8
}{{"red", [3]uint8{210, 40, 40}}, {"blue", [3]uint8{40, 80, 210}}, {"green", [3]uint8{40, 170, 60}}, {"yellow", [3]uint8{225, 200, 40}}}

// Task kinds (EgoDex task directory names).
const (
	TaskPickPlace = "basic_pick_place"
	TaskWipe      = "wipe_table"
	TaskCarry     = "bimanual_carry"
)

// Tasks in generation order.
var Tasks = []string{TaskPickPlace, TaskWipe, TaskCarry}

// Spec fixes everything random about one episode. Two specs differing only in Goal give
// identical first halves.
type Spec struct {
	Task     string
	N        int // frames
	Goal     int // index into Goals
	Colour   int
	Right    bool // active hand for one-handed tasks
	Object   vec  // object start position
	Head     vec  // head (camera) base position
	Sway     [4]float64
	ReachEnd float64 // fraction of N where the reach ends
	Which2   bool    // store the instruction as llm_description2 with which_llm_description "2"
	Occlude  [2]float64
}

// RandomSpec draws a spec from rng.
func RandomSpec(rng *rand.Rand, task string) Spec {
	s := Spec{
		Task:   task,
		N:      120 + rng.IntN(111), // long enough that the late transport stays smooth
		Goal:   rng.IntN(len(Goals)),
		Colour: rng.IntN(len(objectColours)),
		Right:  rng.IntN(2) == 0,
		Object: vec{-0.08 + 0.16*rng.Float64(), tableY, -0.45 - 0.08*rng.Float64()},
		Head:   vec{-0.03 + 0.06*rng.Float64(), 1.42 + 0.08*rng.Float64(), 0.02 * rng.Float64()},
		Sway:   [4]float64{rng.Float64() * 6.28, rng.Float64() * 6.28, 0.5 + rng.Float64(), 0.3 + 0.5*rng.Float64()},
		// The reach ends between 30% and 40%; the grasp closes before 48%.
		ReachEnd: 0.30 + 0.10*rng.Float64(),
		Which2:   rng.IntN(2) == 0,
		Occlude:  [2]float64{rng.Float64(), 0.15 + 0.2*rng.Float64()},
	}
	return s
}

// Instruction returns the instruction text and its reverse (llm_description2), and whether
// the task is reversible.
func (s Spec) Instruction() (main, reverse string, reversible bool) {
	c, g := objectColours[s.Colour].Name, Goals[s.Goal].Name
	switch s.Task {
	case TaskWipe:
		return "wipe the " + g + " side of the table with the " + c + " sponge", "", false
	case TaskCarry:
		return "carry the " + c + " box with both hands to the " + g + " tray", "carry the " + c + " box from the " + g + " tray back to the middle", true
	}
	return "place the " + c + " cup on the " + g + " tray", "pick the " + c + " cup up from the " + g + " tray and put it in the middle", true
}

// Motion is an episode's ground truth: per frame, the 68 skeleton joints' positions and
// hand orientations, the camera pose and the object position.
type Motion struct {
	Spec   Spec
	Joints [][]vec        // [N][68] positions in data.SkeletonJoints68 order
	Rot    [][][9]float64 // [N][68] joint rotations (row-major), hand frames for hand joints
	Cam    [][16]float64  // [N] world←camera, OpenCV axes (x right, y down, z forward)
	Obj    []vec
	Conf   [][]float64 // [N][68]
}

// hand holds one hand's state at one frame.
type hand struct {
	wrist vec
	grip  float64 // 0 open … 1 closed
	pitch float64 // fingers tilt down (rad)
}

func restPos(right bool) vec {
	if right {
		return vec{0.2, 0.86, -0.2}
	}
	return vec{-0.2, 0.86, -0.2}
}

// Generate computes the motion for a spec.
func Generate(s Spec) *Motion {
	m := &Motion{Spec: s}
	N := s.N
	goal := Goals[s.Goal].Pos
	reachEnd := s.ReachEnd
	graspEnd := reachEnd + 0.08
	// Phases after the grasp (by 48%): a lift (52%→64%) that never depends on the goal,
	// then the goal-directed transport (66%→86%), release and return. Why: the episode64
	// sampler observes the first half, so the lift is future motion that a world model
	// can learn from the training episodes alone (every grasp is followed by it), while
	// where the transport goes is named only in the instruction. Without the lift the
	// hands held still until 70% and "the hands stay still" was close to the best any
	// model could do without the instruction. The transport still ends in the last third:
	// in the joint head layout future steps 0–15 are read from observed latents
	// (model-spec §4.6).
	liftStart, liftEnd := 0.52, 0.64
	moveStart, moveEnd := 0.66, 0.86
	if s.Task == TaskWipe {
		moveEnd = 0.82 // leave time for unhurried strokes
	}
	lift := vec{0, 0.10, 0.07} // up and toward the body
	if s.Task == TaskWipe {
		lift = vec{0, 0.05, 0.06}
	}
	releaseEnd := 0.91
	for i := 0; i < N; i++ {
		tf := float64(i) / float64(N-1)
		var hs [2]hand // 0 right, 1 left
		for k := 0; k < 2; k++ {
			r := restPos(k == 0)
			// Idle breathing motion, smooth.
			hs[k] = hand{wrist: r.add(vec{0.01 * math.Sin(2*math.Pi*tf*s.Sway[2]+s.Sway[k]), 0.008 * math.Sin(2*math.Pi*tf*s.Sway[3]+s.Sway[1-k]), 0}), grip: 0.1, pitch: 0.35}
		}

		active := []int{1}
		if s.Right {
			active = []int{0}
		}
		grasp := vec{}
		if s.Task == TaskCarry {
			active = []int{0, 1}
		}
		reachPh := minJerk(tf / reachEnd)
		gripPh := minJerk((tf - reachEnd) / (graspEnd - reachEnd))
		movePh := minJerk((tf - moveStart) / (moveEnd - moveStart))
		relPh := minJerk((tf - moveEnd) / (releaseEnd - moveEnd))
		retPh := minJerk((tf - releaseEnd) / (1 - releaseEnd))
		// Where the object travels: the goal; for wiping, to the goal side then strokes.
		dst := goal
		if s.Task == TaskWipe {
			dst = vec{goal[0] * 0.9, tableY, goal[2]}
		}
		liftPh := minJerk((tf - liftStart) / (liftEnd - liftStart))
		lifted := s.Object.add(lift.mul(liftPh))
		objNow := lerp(lifted, dst, movePh)
		arc := 0.06 * math.Sin(math.Pi*movePh)
		if s.Task == TaskWipe {
			arc = 0.03 * math.Sin(math.Pi*movePh)
			if tf > moveEnd {
				// Wiping strokes across the goal side, with a smooth envelope.
				w := (tf - moveEnd) / (1 - moveEnd)
				env := math.Sin(math.Pi * w)
				objNow = objNow.add(vec{0.06 * env * math.Sin(2*math.Pi*1.5*w), 0, 0.025 * env * math.Sin(2*math.Pi*0.75*w)})
			}
		}
		objNow[1] += arc
		for ai, k := range active {
			off := vec{0, 0.045, 0.03} // wrist sits above and behind the object's grasp point
			if s.Task == TaskCarry {
				side := -1.0
				if k == 0 {
					side = 1
				}
				off = vec{side * 0.12, 0.05, 0.02}
			} else if k == 0 {
				off[0] = 0.03
			} else {
				off[0] = -0.03
			}
			_ = ai
			start := hs[k].wrist
			approach := s.Object.add(off)
			pre := approach.add(vec{0, 0.06, 0})
			var w vec
			switch {
			case tf <= reachEnd:
				w = lerp(start, pre, reachPh)
				w[1] += 0.04 * math.Sin(math.Pi*reachPh)
			case tf <= graspEnd:
				w = lerp(pre, approach, minJerk((tf-reachEnd)/(graspEnd-reachEnd)))
			case tf <= moveEnd || s.Task == TaskWipe:
				w = objNow.add(off)
			case tf <= releaseEnd:
				w = objNow.add(off).add(vec{0, 0.03 * relPh, 0})
			default:
				base := objNow.add(off).add(vec{0, 0.03, 0})
				w = lerp(base, base.add(vec{0, 0.08, 0.12}), retPh)
			}
			hs[k].wrist = w
			g := 0.1 + 0.75*gripPh
			if s.Task != TaskWipe && tf > moveEnd {
				g = 0.85 - 0.75*relPh
			}
			hs[k].grip = g
			hs[k].pitch = 0.35 + 0.35*reachPh
			grasp = w
		}
		_ = grasp
		if tf < liftStart {
			objNow = s.Object
		}
		m.Obj = append(m.Obj, objNow)
		pos, rot := skeleton(hs)
		m.Joints = append(m.Joints, pos)
		m.Rot = append(m.Rot, rot)
		// Head camera: base position with slow sway; gaze follows a smooth blend of the
		// table centre and the active hands.
		act := vec{}
		for _, k := range active {
			act = act.add(hs[k].wrist)
		}
		m.Cam = append(m.Cam, headCamera(s, tf, act.mul(1/float64(len(active)))))
	}
	m.fillConf()
	return m
}

// headCamera is the head camera at episode time tf (0…1) when the active hands' mean
// wrist is at act: the head sways slowly about its base position and the gaze follows a
// blend of the table centre and the hands.
func headCamera(s Spec, tf float64, act vec) [16]float64 {
	eye := s.Head.add(vec{0.02 * math.Sin(2*math.Pi*tf*0.7+s.Sway[0]), 0.01 * math.Sin(2*math.Pi*tf*0.9+s.Sway[1]), 0.015 * math.Sin(2*math.Pi*tf*0.5)})
	look := lerp(vec{0, tableY, -0.5}, act, 0.45)
	return lookAt(eye, look)
}

// lookAt builds world←camera with OpenCV axes: z toward target, x right, y down.
func lookAt(eye, target vec) [16]float64 {
	z := target.sub(eye).unit()
	x := cross(z, vec{0, 1, 0}).unit()
	y := cross(z, x)
	return [16]float64{
		x[0], y[0], z[0], eye[0],
		x[1], y[1], z[1], eye[1],
		x[2], y[2], z[2], eye[2],
		0, 0, 0, 1,
	}
}

var fingerSpread = map[string]float64{"Index": 0.024, "Middle": 0.004, "Ring": -0.015, "Little": -0.032}
var phalanx = [3]float64{0.044, 0.027, 0.022}

// skeleton places the 68 joints from the two hands' states.
func skeleton(hs [2]hand) ([]vec, [][9]float64) {
	idx := map[string]int{}
	for i, n := range data.SkeletonJoints68 {
		idx[n] = i
	}
	pos := make([]vec, len(data.SkeletonJoints68))
	rot := make([][9]float64, len(data.SkeletonJoints68))
	for i := range rot {
		rot[i] = [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}
	}
	set := func(name string, p vec, r [9]float64) { pos[idx[name]], rot[idx[name]] = p, r }
	// Body: hip, spine, neck on a vertical line behind the hands.
	set("hip", vec{0, 0.95, 0.12}, rot[0])
	for i := 1; i <= 7; i++ {
		set("spine"+string(rune('0'+i)), vec{0, 0.95 + 0.05*float64(i), 0.12 - 0.005*float64(i)}, rot[0])
	}
	for i := 1; i <= 4; i++ {
		set("neck"+string(rune('0'+i)), vec{0, 1.33 + 0.03*float64(i), 0.08}, rot[0])
	}
	for k, side := range []string{"right", "left"} {
		h := hs[k]
		sgn := 1.0
		if k == 1 {
			sgn = -1
		}
		shoulder := vec{sgn * 0.19, 1.32, 0.06}
		w := h.wrist
		// Elbow: below and outside the shoulder–wrist midpoint.
		mid := lerp(shoulder, w, 0.5)
		elbow := mid.add(vec{sgn * 0.07, -0.12, 0.04})
		forearm := lerp(w, elbow, 0.3)
		// Hand frame: f = finger direction (forward, tilted down by pitch), u = back of hand.
		f := vec{0, -math.Sin(h.pitch), -math.Cos(h.pitch)}
		u := vec{0, math.Cos(h.pitch), -math.Sin(h.pitch)}
		l := cross(f, u).mul(sgn) // toward the thumb side (midline)
		l = l.mul(-1)
		R := [9]float64{f[0], u[0], l[0], f[1], u[1], l[1], f[2], u[2], l[2]}
		set(side+"Shoulder", shoulder, rot[0])
		set(side+"Arm", elbow, rot[0])
		set(side+"Forearm", forearm, R)
		set(side+"Hand", w, R)
		curl := h.grip * 0.55
		for fname, spread := range fingerSpread {
			base := w.add(l.mul(spread * 0.6)).add(f.mul(0.015))
			knuck := w.add(l.mul(spread)).add(f.mul(0.085 - 0.012*math.Abs(spread)/0.03))
			set(side+fname+"FingerMetacarpal", base, R)
			set(side+fname+"FingerKnuckle", knuck, R)
			p := knuck
			names := []string{"IntermediateBase", "IntermediateTip", "Tip"}
			for s := 0; s < 3; s++ {
				a := curl * float64(s+1)
				dir := f.mul(math.Cos(a)).add(u.mul(-math.Sin(a)))
				p = p.add(dir.mul(phalanx[s] * (1 - 0.15*math.Abs(spread)/0.03)))
				set(side+fname+"Finger"+names[s], p, R)
			}
		}
		// Thumb: from the wrist toward the thumb side and forward, curling toward the palm.
		tb := w.add(l.mul(0.025)).add(f.mul(0.02)).add(u.mul(-0.01))
		set(side+"ThumbKnuckle", tb, R)
		p := tb
		for s, n := range []string{"IntermediateBase", "IntermediateTip", "Tip"} {
			a := 0.6 - h.grip*0.35*float64(s+1)
			dir := f.mul(math.Cos(0.7)).add(l.mul(math.Sin(0.7) * math.Cos(0.6-a))).add(u.mul(-0.5 * h.grip))
			p = p.add(dir.unit().mul([3]float64{0.04, 0.032, 0.027}[s]))
			set(side+"Thumb"+n, p, R)
		}
	}
	return pos, rot
}

// fillConf sets confidences: high, dropping smoothly to 0 for fingertips of the passive
// hand in one occlusion interval (so the masks are exercised).
func (m *Motion) fillConf() {
	N := m.Spec.N
	c0, w := m.Spec.Occlude[0], m.Spec.Occlude[1]
	for i := 0; i < N; i++ {
		tf := float64(i) / float64(N-1)
		row := make([]float64, len(data.SkeletonJoints68))
		for j, name := range data.SkeletonJoints68 {
			c := 0.92 + 0.06*math.Sin(float64(j)+tf*5)
			passive := "left"
			if !m.Spec.Right {
				passive = "right"
			}
			if len(name) > len(passive) && name[:len(passive)] == passive && (hasSuffix(name, "Tip")) && math.Abs(tf-c0) < w/2 {
				c = 0
			}
			row[j] = c
		}
		m.Conf = append(m.Conf, row)
	}
}

func hasSuffix(s, t string) bool { return len(s) >= len(t) && s[len(s)-len(t):] == t }
