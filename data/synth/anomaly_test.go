package synth

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/anomaly"
	"github.com/thinkjepa/thinkjepa/data"
)

func sameFrame(a, b *Motion, i, j int) bool {
	return slices.Equal(a.Joints[i], b.Joints[j]) && a.Cam[i] == b.Cam[j] && a.Obj[i] == b.Obj[j] && slices.Equal(a.Conf[i], b.Conf[j])
}

// Each event changes exactly its frames, in the way its kind says.
func TestEventsApply(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, task := range Tasks {
		for _, kind := range AllEventKinds {
			for rep := 0; rep < 5; rep++ {
				s := RandomSpec(rng, task)
				ev, err := RandomEvent(rng, kind, s.N)
				if err != nil {
					t.Fatal(err)
				}
				if ev.Start < int(0.35*float64(s.N))-1 || ev.End > s.N || ev.End-ev.Start < 2 {
					t.Fatalf("%s %s: event [%d,%d) in %d frames", task, kind, ev.Start, ev.End, s.N)
				}
				orig, m := Generate(s), Generate(s)
				if err := ev.Apply(m); err != nil {
					t.Fatal(err)
				}
				// The event's own changes plus, for repeat, nothing before Start.
				for i := 0; i < s.N; i++ {
					if (i < ev.Start || i >= ev.End) && !sameFrame(orig, m, i, i) {
						t.Fatalf("%s %s [%d,%d): frame %d outside the event changed", task, kind, ev.Start, ev.End, i)
					}
				}
				switch kind {
				case EventJump:
					sides := activeSides(s)
					for i := ev.Start; i < ev.End; i++ {
						if d := m.Obj[i].sub(orig.Obj[i]).norm(); math.Abs(d-vec(ev.Offset).norm()) > 1e-12 || d < 0.25 {
							t.Fatalf("%s jump: object moved %.3f m at frame %d, offset %v", task, d, i, ev.Offset)
						}
						if !heldAt(m, i) {
							t.Fatalf("%s jump at frame %d of %d: the object is not held", task, i, s.N)
						}
						// The hands holding it jump with it; the other hand and the arms stay.
						for j, name := range data.SkeletonJoints68 {
							active := strings.HasPrefix(name, sides[0]) || (len(sides) > 1 && strings.HasPrefix(name, sides[1]))
							moves := active && !strings.HasSuffix(name, "Shoulder") && !strings.HasSuffix(name, "Arm")
							d := m.Joints[i][j].sub(orig.Joints[i][j])
							if moves && d.sub(vec(ev.Offset)).norm() > 1e-12 || !moves && d.norm() != 0 {
								t.Fatalf("%s jump: joint %s moved by %v at frame %d (offset %v)", task, name, d, i, ev.Offset)
							}
						}
						if m.Cam[i] == orig.Cam[i] {
							t.Fatalf("%s jump: the gaze did not follow the hands at frame %d", task, i)
						}
					}
				case EventFreeze:
					sides := activeSides(s)
					moved := 0.0
					for i := ev.Start; i < ev.End; i++ {
						for j, name := range data.SkeletonJoints68 {
							active := strings.HasPrefix(name, sides[0]) || (len(sides) > 1 && strings.HasPrefix(name, sides[1]))
							if active && !strings.HasSuffix(name, "Shoulder") {
								if m.Joints[i][j] != orig.Joints[ev.Start-1][j] {
									t.Fatalf("%s freeze: %s moves at frame %d", task, name, i)
								}
							} else if m.Joints[i][j] != orig.Joints[i][j] {
								t.Fatalf("%s freeze: passive joint %s changed at frame %d", task, name, i)
							}
						}
						w := jointIdx(sides[0] + "Hand")
						moved = math.Max(moved, orig.Joints[i][w].sub(orig.Joints[ev.Start-1][w]).norm())
					}
					// The gaze follows the frozen hands: the head still sways, so the camera
					// differs from the normal episode's but not by a pan to the moving hand.
					if m.Cam[ev.End-1] == orig.Cam[ev.End-1] {
						t.Errorf("%s freeze: the camera still follows the moving hand", task)
					}
					// A freeze is only surprising where the hand was going to move.
					if moved < 0.03 {
						t.Errorf("%s freeze [%d,%d) of %d: the hand would have moved only %.3f m", task, ev.Start, ev.End, s.N, moved)
					}
				case EventSwap:
					for k := 0; k < ev.Len; k++ {
						if !sameFrame(m, orig, ev.Start+k, ev.Start+ev.Len+k) || !sameFrame(m, orig, ev.Start+ev.Len+k, ev.Start+k) {
							t.Fatalf("%s swap: frame %d not swapped", task, ev.Start+k)
						}
					}
				case EventRepeat:
					for k := 0; k < ev.Len; k++ {
						if !sameFrame(m, orig, ev.Start+k, ev.Start-ev.Len+k) {
							t.Fatalf("%s repeat: frame %d is not a replay of %d", task, ev.Start+k, ev.Start-ev.Len+k)
						}
					}
				case EventStall:
					for i := ev.Start; i < ev.End; i++ {
						if !sameFrame(m, orig, i, ev.Start-1) {
							t.Fatalf("%s stall: frame %d does not show frame %d", task, i, ev.Start-1)
						}
					}
				default:
					t.Fatalf("kind %s is not checked", kind)
				}
			}
		}
	}
	if _, err := RandomEvent(rng, "wobble", 100); err == nil {
		t.Error("an unknown kind was accepted")
	}
	m := Generate(RandomSpec(rng, TaskWipe))
	for _, ev := range []Event{{Kind: EventJump, Start: 10, End: m.Spec.N + 1, Len: 3}, {Kind: EventRepeat, Start: 4, End: 9, Len: 5}, {Kind: EventStall, Start: 0, End: 7, Len: 7}, {Kind: EventSwap, Start: 10, End: 15, Len: 2}} {
		if err := ev.Apply(m); err == nil {
			t.Errorf("%+v was applied to an episode of %d frames", ev, m.Spec.N)
		}
	}
}

// --anomalies adds labelled anomalous episodes to the test split without touching the
// normal ones, and every test episode gets a label file upstream's loader can read.
func TestWriteAnomalies(t *testing.T) {
	plain, anom := t.TempDir(), t.TempDir()
	opts := Options{Episodes: 3, Seed: 9, W: 96, H: 54, TestEvery: 1}
	if err := Write(plain, opts); err != nil {
		t.Fatal(err)
	}
	opts.Anomalies = 1.0 // 3 anomalous episodes
	if err := Write(anom, opts); err != nil {
		t.Fatal(err)
	}
	for _, task := range Tasks {
		rel := filepath.Join("test", task, "0.mp4")
		a, err1 := os.ReadFile(filepath.Join(plain, rel))
		b, err2 := os.ReadFile(filepath.Join(anom, rel))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Fatalf("normal episode %s differs with --anomalies (%v %v)", rel, err1, err2)
		}
	}
	if _, err := os.Stat(filepath.Join(plain, LabelsDir)); !os.IsNotExist(err) {
		t.Errorf("a set without anomalies has a labels folder (%v)", err)
	}
	var meta Meta
	b, err := os.ReadFile(filepath.Join(anom, "synth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	if len(meta.Anomalies) != 3 {
		t.Fatalf("%d anomalous episodes recorded, want 3", len(meta.Anomalies))
	}
	idx, err := anomaly.IndexLabels(filepath.Join(anom, LabelsDir))
	if err != nil {
		t.Fatal(err)
	}
	if idx.Len() != 6 {
		t.Errorf("%d label files, want 6 (3 normal + 3 anomalous test episodes)", idx.Len())
	}
	for _, task := range Tasks {
		id := "test/" + task + "/0"
		l, err := anomaly.ReadLabels(idx.Lookup(LabelStem(id)))
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(l, true) {
			t.Errorf("normal episode %s has anomalous frames", id)
		}
	}
	for _, a := range meta.Anomalies {
		if !strings.HasSuffix(a.ID, "/1") || len(a.Events) != 1 {
			t.Fatalf("anomalous episode %+v: want the test split's second episode of its task with one event", a)
		}
		l, err := anomaly.ReadLabels(idx.Lookup(LabelStem(a.ID)))
		if err != nil {
			t.Fatal(err)
		}
		ev := a.Events[0]
		if len(l) != a.Frames {
			t.Fatalf("%s: %d labels for %d frames", a.ID, len(l), a.Frames)
		}
		for i, v := range l {
			if v != (i >= ev.Start && i < ev.End) {
				t.Fatalf("%s: label %v at frame %d, event [%d,%d)", a.ID, v, i, ev.Start, ev.End)
			}
		}
		f, err := data.ReadEgoDexFile(filepath.Join(anom, a.ID+".hdf5"))
		if err != nil {
			t.Fatal(err)
		}
		if f.N != a.Frames {
			t.Errorf("%s: %d pose frames, %d recorded", a.ID, f.N, a.Frames)
		}
	}
	// The kinds cycle as asked (one per round of the three tasks).
	kd := t.TempDir()
	if err := Write(kd, Options{Episodes: 6, Seed: 9, W: 96, H: 54, TestEvery: 1, Anomalies: 1, AnomalyKinds: []string{EventStall, EventSwap}}); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(filepath.Join(kd, "synth.json"))
	if err != nil {
		t.Fatal(err)
	}
	meta = Meta{}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range meta.Anomalies {
		got = append(got, a.Events[0].Kind)
	}
	if want := []string{"stall", "stall", "stall", "swap", "swap", "swap"}; !slices.Equal(got, want) {
		t.Errorf("event kinds %v, want %v", got, want)
	}
	if err := Write(t.TempDir(), Options{Episodes: 1, Anomalies: math.NaN()}); err == nil {
		t.Error("a NaN anomaly rate was accepted")
	}
}
