package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/thinkjepa/thinkjepa/data"
)

// Anomalous events a world model should find surprising (model-spec §4.12). Each one
// edits an episode's motion over a run of frames, after Generate, so the video and the
// HDF5 poses both show it; the frames it touches are the episode's anomaly labels.
const (
	// EventJump: the held object, with the hand(s) holding it, jumps 25–35 cm sideways
	// for a run of frames and comes back (the gaze, which follows the hands, jumps with
	// them).
	EventJump = "jump"
	// EventFreeze: the active hand(s), and the object if it is held, stop mid-motion
	// (the gaze, which follows the hands, stops with them; the head still sways), then
	// snap to where they should be.
	EventFreeze = "freeze"
	// EventSwap: two adjacent runs of frames play in swapped order.
	EventSwap = "swap"
	// EventRepeat: the video jumps back and plays a run of frames it has just shown
	// again, then jumps forward to where it would have been.
	EventRepeat = "repeat"
	// EventStall: the video stalls: one frame is shown for a run of frames, then the
	// video goes on where it would have been. Not in the default rotation: a predictor
	// whose context fills with the stalled frame stops being surprised by it (the note in
	// RandomEvent).
	EventStall = "stall"
)

// EventKinds are the kinds anomalous episodes cycle through by default, in order.
var EventKinds = []string{EventJump, EventFreeze, EventSwap, EventRepeat}

// AllEventKinds are every kind RandomEvent draws.
var AllEventKinds = []string{EventJump, EventFreeze, EventSwap, EventRepeat, EventStall}

// Event is one labelled anomaly in an episode; frames [Start, End) are labelled.
type Event struct {
	Kind  string `json:"kind"`
	Start int    `json:"start"` // first labelled frame
	End   int    `json:"end"`   // one past the last labelled frame
	// Len is the length of the run of frames the event changes (swap: each of the two
	// runs); Start..End is what a viewer sees as wrong.
	Len    int        `json:"len"`
	Offset [3]float64 `json:"offset,omitempty"` // jump: the object's displacement (m)
}

// RandomEvent draws an event of the given kind for an episode of n frames. Events start
// between 52% and 70% of the episode and end by 90%: in the lift and the transport, where
// the hands carry the object and the gaze follows them. Elsewhere they would not be
// anomalies anyone could see: a hand that freezes while it rests, or two runs of frames
// swapped while nothing moves, look normal. (Measured in the anomaly demo: swaps and
// stalls that started from 35% of the episode, partly in the grasp where little moves,
// scored ROC AUC 0.46 and 0.54 with the ThinkJEPA predictor, 0.81 and 0.77 here.) That
// also keeps them after the first quarter, which is context in every demo window.
func RandomEvent(rng *rand.Rand, kind string, n int) (Event, error) {
	frac := func(lo, hi float64) int { return int(math.Round((lo + (hi-lo)*rng.Float64()) * float64(n))) }
	ev := Event{Kind: kind}
	switch kind {
	case EventJump:
		// While the object is held (lift and transport).
		ev.Len = max(3, frac(0.18, 0.24))
		ev.Start = frac(0.53, 0.64)
		ev.End = ev.Start + ev.Len
		dx := 0.25 + 0.10*rng.Float64()
		if rng.IntN(2) == 0 {
			dx = -dx
		}
		ev.Offset = [3]float64{dx, 0, 0.10 * (rng.Float64() - 0.5)}
	case EventFreeze:
		// In the lift or the transport: the hands are sure to move then.
		ev.Len = max(3, frac(0.20, 0.26))
		ev.Start = frac(0.53, 0.62)
		ev.End = ev.Start + ev.Len
	case EventSwap:
		ev.Len = max(2, frac(0.12, 0.14))
		ev.Start = frac(0.52, 0.60)
		ev.End = ev.Start + 2*ev.Len
	case EventRepeat:
		// Frames [Start, End) replay [Start−Len, Start).
		ev.Len = max(3, frac(0.12, 0.16))
		ev.Start = frac(0.60, 0.72)
		ev.End = ev.Start + ev.Len
	case EventStall:
		ev.Len = max(3, frac(0.20, 0.26))
		// Frames [Start, End) show frame Start−1.
		ev.Start = frac(0.53, 0.62)
		ev.End = ev.Start + ev.Len
	default:
		return Event{}, fmt.Errorf("synth: unknown anomaly kind %q (want one of %s)", kind, strings.Join(AllEventKinds, ", "))
	}
	if ev.End > n || ev.Start < 1 {
		return Event{}, fmt.Errorf("synth: %s event [%d,%d) does not fit an episode of %d frames", kind, ev.Start, ev.End, n)
	}
	return ev, nil
}

// Apply edits m in place so that it shows ev.
func (ev Event) Apply(m *Motion) error {
	n := len(m.Joints)
	if ev.Start < 0 || ev.End > n || ev.Start >= ev.End || ev.Len < 1 {
		return fmt.Errorf("synth: %s event [%d,%d) len %d outside an episode of %d frames", ev.Kind, ev.Start, ev.End, ev.Len, n)
	}
	switch ev.Kind {
	case EventJump:
		sides := activeSides(m.Spec)
		for t := ev.Start; t < ev.End; t++ {
			m.Obj[t] = m.Obj[t].add(vec(ev.Offset))
			if heldAt(m, t) {
				for j, name := range data.SkeletonJoints68 {
					for _, s := range sides {
						if strings.HasPrefix(name, s) && !strings.HasSuffix(name, "Shoulder") && !strings.HasSuffix(name, "Arm") {
							m.Joints[t][j] = m.Joints[t][j].add(vec(ev.Offset))
						}
					}
				}
				m.Cam[t] = headCamera(m.Spec, float64(t)/float64(n-1), activeWrist(m, t))
			}
		}
	case EventFreeze:
		a := ev.Start - 1 // the last normal frame: the pose the hand stops in
		sides := activeSides(m.Spec)
		held := heldAt(m, a)
		act := activeWrist(m, a)
		for t := ev.Start; t < ev.End; t++ {
			m.Cam[t] = headCamera(m.Spec, float64(t)/float64(n-1), act)
			for j, name := range data.SkeletonJoints68 {
				for _, s := range sides {
					if strings.HasPrefix(name, s) && !strings.HasSuffix(name, "Shoulder") {
						m.Joints[t][j], m.Rot[t][j] = m.Joints[a][j], m.Rot[a][j]
					}
				}
			}
			if held {
				m.Obj[t] = m.Obj[a]
			}
		}
	case EventSwap:
		if ev.End-ev.Start != 2*ev.Len {
			return fmt.Errorf("synth: swap event [%d,%d) is not two runs of %d", ev.Start, ev.End, ev.Len)
		}
		src := make([]int, 0, 2*ev.Len)
		for t := ev.Start + ev.Len; t < ev.End; t++ {
			src = append(src, t)
		}
		for t := ev.Start; t < ev.Start+ev.Len; t++ {
			src = append(src, t)
		}
		m.remap(ev.Start, src)
	case EventRepeat:
		if ev.Start < ev.Len {
			return fmt.Errorf("synth: repeat event at frame %d replays %d frames before it", ev.Start, ev.Len)
		}
		src := make([]int, 0, ev.Len)
		for t := ev.Start - ev.Len; t < ev.Start; t++ {
			src = append(src, t)
		}
		m.remap(ev.Start, src)
	case EventStall:
		if ev.Start < 1 {
			return fmt.Errorf("synth: stall event at frame 0 has no frame to repeat")
		}
		src := make([]int, ev.End-ev.Start)
		for k := range src {
			src[k] = ev.Start - 1
		}
		m.remap(ev.Start, src)
	default:
		return fmt.Errorf("synth: unknown anomaly kind %q", ev.Kind)
	}
	return nil
}

var jointIndex = func() map[string]int {
	idx := map[string]int{}
	for i, n := range data.SkeletonJoints68 {
		idx[n] = i
	}
	return idx
}()

// remap makes frames at, at+1, … show the original frames src[0], src[1], … (every
// per-frame field: poses, camera, object, confidences).
func (m *Motion) remap(at int, src []int) {
	j := append([][]vec(nil), m.Joints...)
	r := append([][][9]float64(nil), m.Rot...)
	c := append([][16]float64(nil), m.Cam...)
	o := append([]vec(nil), m.Obj...)
	f := append([][]float64(nil), m.Conf...)
	for k, s := range src {
		m.Joints[at+k], m.Rot[at+k], m.Cam[at+k], m.Obj[at+k], m.Conf[at+k] = j[s], r[s], c[s], o[s], f[s]
	}
}

// activeWrist is the mean wrist of the active hands at frame t (what the gaze follows).
func activeWrist(m *Motion, t int) vec {
	act := vec{}
	sides := activeSides(m.Spec)
	for _, s := range sides {
		act = act.add(m.Joints[t][jointIndex[s+"Hand"]])
	}
	return act.mul(1 / float64(len(sides)))
}

// activeSides are the joint-name prefixes of the hands that do the task.
func activeSides(s Spec) []string {
	switch {
	case s.Task == TaskCarry:
		return []string{"right", "left"}
	case s.Right:
		return []string{"right"}
	}
	return []string{"left"}
}

// heldAt reports whether the object moves with the hands at frame t: from the lift
// until the release (Generate's phases), to the end for the wiping sponge.
func heldAt(m *Motion, t int) bool {
	tf := float64(t) / float64(len(m.Obj)-1)
	return tf >= 0.52 && (tf <= 0.91 || m.Spec.Task == TaskWipe)
}

// Labels are the per-frame anomaly labels of an episode of n frames with events evs:
// 1 inside any event's [Start, End), else 0.
func Labels(n int, evs []Event) []uint8 {
	l := make([]uint8, n)
	for _, ev := range evs {
		for t := max(0, ev.Start); t < min(n, ev.End); t++ {
			l[t] = 1
		}
	}
	return l
}
