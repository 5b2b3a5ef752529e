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
	// EventJump: the object leaves its place for a few frames (20–30 cm across the
	// table) and comes back, whether or not a hand holds it.
	EventJump = "jump"
	// EventFreeze: the active hand(s), and the object if it is held, stop mid-motion
	// while the rest of the scene goes on, then snap to where they should be.
	EventFreeze = "freeze"
	// EventSwap: two adjacent runs of frames play in swapped order.
	EventSwap = "swap"
	// EventRepeat: the video jumps back and replays a run of frames it just showed,
	// then jumps forward again.
	EventRepeat = "repeat"
)

// EventKinds in the order anomalous episodes cycle through them.
var EventKinds = []string{EventJump, EventFreeze, EventSwap, EventRepeat}

// Event is one labelled anomaly in an episode; frames [Start, End) are labelled.
type Event struct {
	Kind  string `json:"kind"`
	Start int    `json:"start"` // first labelled frame
	End   int    `json:"end"`   // one past the last labelled frame
	// Len is the length of the run of frames the event moves (swap: each of the two
	// runs; repeat: the replayed run); Start..End is what a viewer sees as wrong.
	Len    int        `json:"len"`
	Offset [3]float64 `json:"offset,omitempty"` // jump: the object's displacement (m)
}

// RandomEvent draws an event of the given kind for an episode of n frames. Events start
// between 35% and 80% of the episode, where the hands move (reach end, lift, transport):
// a hand that freezes while it rests would not be surprising. That also keeps them after
// the first quarter, which is context in every window of the anomaly demo.
func RandomEvent(rng *rand.Rand, kind string, n int) (Event, error) {
	frac := func(lo, hi float64) int { return int(math.Round((lo + (hi-lo)*rng.Float64()) * float64(n))) }
	ev := Event{Kind: kind}
	switch kind {
	case EventJump:
		ev.Len = max(3, frac(0.08, 0.12))
		ev.Start = frac(0.35, 0.78)
		ev.End = ev.Start + ev.Len
		// Across the table, away from the middle, so the object lands on the table.
		dx := 0.20 + 0.10*rng.Float64()
		if rng.IntN(2) == 0 {
			dx = -dx
		}
		ev.Offset = [3]float64{dx, 0, 0.10 * (rng.Float64() - 0.5)}
	case EventFreeze:
		// In the lift or the transport: the hands are sure to move then.
		ev.Len = max(3, frac(0.10, 0.14))
		ev.Start = frac(0.53, 0.72)
		ev.End = ev.Start + ev.Len
	case EventSwap:
		ev.Len = max(2, frac(0.05, 0.07))
		ev.Start = frac(0.35, 0.72)
		ev.End = ev.Start + 2*ev.Len
	case EventRepeat:
		ev.Len = max(3, frac(0.08, 0.12))
		// The replayed run is [Start−Len, Start); the labelled frames are the replay.
		ev.Start = frac(0.40, 0.78)
		ev.End = ev.Start + ev.Len
	default:
		return Event{}, fmt.Errorf("synth: unknown anomaly kind %q (want one of %s)", kind, strings.Join(EventKinds, ", "))
	}
	if ev.End > n || ev.Start < ev.Len {
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
		for t := ev.Start; t < ev.End; t++ {
			m.Obj[t] = m.Obj[t].add(vec(ev.Offset))
		}
	case EventFreeze:
		a := ev.Start - 1 // the last normal frame: the pose the hand stops in
		sides := activeSides(m.Spec)
		held := heldAt(m, a)
		for t := ev.Start; t < ev.End; t++ {
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
			return fmt.Errorf("synth: repeat event at %d replays %d frames before it", ev.Start, ev.Len)
		}
		src := make([]int, 0, ev.Len)
		for t := ev.Start - ev.Len; t < ev.Start; t++ {
			src = append(src, t)
		}
		m.remap(ev.Start, src)
	default:
		return fmt.Errorf("synth: unknown anomaly kind %q", ev.Kind)
	}
	return nil
}

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
