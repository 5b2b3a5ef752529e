package synth

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/thinkjepa/thinkjepa/data"
)

func jointIdx(name string) int {
	for i, n := range data.SkeletonJoints68 {
		if n == name {
			return i
		}
	}
	panic(name)
}

// The goal is named only in the instruction: two episodes that differ only in the goal
// have identical first halves (joints and camera) and clearly different ends.
func TestGoalOnlyInFuture(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, task := range Tasks {
		s := RandomSpec(rng, task)
		s.Goal = 0
		a := Generate(s)
		s.Goal = 1
		b := Generate(s)
		half := s.N / 2
		for i := 0; i < half; i++ {
			for j := range a.Joints[i] {
				if a.Joints[i][j] != b.Joints[i][j] {
					t.Fatalf("%s: frame %d joint %s differs between goals in the past half", task, i, data.SkeletonJoints68[j])
				}
			}
			if a.Cam[i] != b.Cam[i] {
				t.Fatalf("%s: camera differs in the past half", task)
			}
		}
		w := jointIdx("rightHand")
		if !s.Right && task != TaskCarry {
			w = jointIdx("leftHand")
		}
		if d := a.Joints[s.N-1][w].sub(b.Joints[s.N-1][w]).norm(); d < 0.3 {
			t.Errorf("%s: final wrist differs by only %.3f m between left and right goals", task, d)
		}
		ia, _, _ := Spec{Task: task, Goal: 0, Colour: s.Colour}.Instruction()
		ib, _, _ := Spec{Task: task, Goal: 1, Colour: s.Colour}.Instruction()
		if ia == ib {
			t.Errorf("%s: instruction does not name the goal", task)
		}
	}
}

// Hands and camera move smoothly (bounded per-frame acceleration) and fingers close on grasp.
func TestMotionPlausible(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for k := 0; k < 9; k++ {
		s := RandomSpec(rng, Tasks[k%3])
		m := Generate(s)
		side := "left"
		if s.Right || s.Task == TaskCarry {
			side = "right"
		}
		for _, name := range []string{side + "Hand", side + "IndexFingerTip"} {
			j := jointIdx(name)
			for i := 1; i+1 < s.N; i++ {
				acc := m.Joints[i+1][j].add(m.Joints[i-1][j]).sub(m.Joints[i][j].mul(2)).norm()
				if acc > 0.012 { // m/frame² (≈ 11 m/s² at 30 Hz, human reach peaks; a jump would be far larger)
					t.Fatalf("%s %s: acceleration %.4f m/frame² at frame %d", s.Task, name, acc, i)
				}
			}
		}
		cam := func(i int) vec { return vec{m.Cam[i][3], m.Cam[i][7], m.Cam[i][11]} }
		for i := 1; i+1 < s.N; i++ {
			if a := cam(i + 1).add(cam(i - 1)).sub(cam(i).mul(2)).norm(); a > 0.002 {
				t.Fatalf("camera acceleration %.4f at %d", a, i)
			}
		}
		if cam(0).sub(cam(s.N-1)).norm() < 1e-3 && m.Cam[0][2] == m.Cam[s.N-1][2] {
			t.Errorf("camera does not move")
		}
		w, tip := jointIdx(side+"Hand"), jointIdx(side+"MiddleFingerTip")
		open := m.Joints[0][tip].sub(m.Joints[0][w]).norm()
		grasp := int(0.49 * float64(s.N))
		closed := m.Joints[grasp][tip].sub(m.Joints[grasp][w]).norm()
		if closed > open-0.02 {
			t.Errorf("%s: fingertip–wrist %.3f m open, %.3f m at grasp: fingers do not close", s.Task, open, closed)
		}
		// Rotations are orthonormal.
		R := m.Rot[grasp][w]
		for a := 0; a < 3; a++ {
			for b := 0; b < 3; b++ {
				dot := R[a]*R[b] + R[3+a]*R[3+b] + R[6+a]*R[6+b]
				want := 0.0
				if a == b {
					want = 1
				}
				if math.Abs(dot-want) > 1e-9 {
					t.Fatalf("rotation not orthonormal: %v", R)
				}
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if err := Write(d, Options{Episodes: 2, Seed: 11, W: 192, H: 108}); err != nil {
			t.Fatal(err)
		}
	}
	for _, rel := range []string{"part1/basic_pick_place/0.mp4", "part1/wipe_table/0.mp4"} {
		x, err1 := os.ReadFile(filepath.Join(a, rel))
		y, err2 := os.ReadFile(filepath.Join(b, rel))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between runs with the same seed (%v %v)", rel, err1, err2)
		}
	}
	fa, err := data.ReadEgoDexFile(filepath.Join(a, "part1/wipe_table/0.hdf5"))
	if err != nil {
		t.Fatal(err)
	}
	fb, _ := data.ReadEgoDexFile(filepath.Join(b, "part1/wipe_table/0.hdf5"))
	for i := range fa.XYZ {
		if fa.XYZ[i] != fb.XYZ[i] {
			t.Fatal("poses differ between runs")
		}
	}
	if fa.K[0] != float32(EgoDexK[0]*192/1920) || fa.K[2] != 96 || fa.K[5] != 54 {
		t.Errorf("K not scaled to 192×108: %v", fa.K)
	}
	n, err := data.CountVideoFrames(filepath.Join(a, "part1/wipe_table/0.mp4"))
	if err != nil || n != fa.N {
		t.Errorf("video frames %d, poses %d (%v)", n, fa.N, err)
	}
}
