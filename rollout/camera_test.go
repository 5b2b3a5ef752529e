package rollout

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/nn/cpu"
)

// randomPose is a rigid world←camera transform (rotation from a random unit quaternion).
func randomPose(rng *rand.Rand) []float32 {
	q := [4]float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
	n := math.Sqrt(q[0]*q[0] + q[1]*q[1] + q[2]*q[2] + q[3]*q[3])
	w, x, y, z := q[0]/n, q[1]/n, q[2]/n, q[3]/n
	R := [9]float64{1 - 2*(y*y+z*z), 2 * (x*y - z*w), 2 * (x*z + y*w),
		2 * (x*y + z*w), 1 - 2*(x*x+z*z), 2 * (y*z - x*w),
		2 * (x*z - y*w), 2 * (y*z + x*w), 1 - 2*(x*x+y*y)}
	E := make([]float32, 16)
	for r := 0; r < 3; r++ {
		for k := 0; k < 3; k++ {
			E[r*4+k] = float32(R[r*3+k])
		}
		E[r*4+3] = float32(rng.NormFloat64())
	}
	E[15] = 1
	return E
}

func TestCamToWorld(t *testing.T) {
	e := cpu.New()
	rng := rand.New(rand.NewPCG(1, 1))
	B, T, J := 2, 3, 52
	ext := make([]float32, 0, B*T*16)
	for i := 0; i < B*T; i++ {
		ext = append(ext, randomPose(rng)...)
	}
	cam := randVec(rng, B*T*J*3, 0.3)
	c := &CamToWorld{B: B, T: T, J: J, Ext: ext}
	world := e.Zeros(B, T, J, 3)
	if err := c.Forward(e, world, e.FromHost(cam, B, T, J, 3)); err != nil {
		t.Fatal(err)
	}
	got := e.ToHost(world)
	for i := 0; i < B*T; i++ {
		E := ext[i*16:]
		for j := 0; j < J; j++ {
			p := cam[(i*J+j)*3:]
			for r := 0; r < 3; r++ {
				want := float64(E[r*4+3])
				for k := 0; k < 3; k++ {
					want += float64(E[r*4+k]) * float64(p[k])
				}
				if d := math.Abs(float64(got[(i*J+j)*3+r]) - want); d > 1e-5 {
					t.Fatalf("step %d joint %d axis %d: %v, want %v", i, j, r, got[(i*J+j)*3+r], want)
				}
			}
		}
	}
	// Backward is the transpose: <dWorld, J·dCam> = <Jᵀ dWorld, dCam> for the linear part.
	dW, v := randVec(rng, B*T*J*3, 1), randVec(rng, B*T*J*3, 1)
	dCam := e.Zeros(B, T, J, 3)
	c.Backward(e, dCam, e.FromHost(dW, B, T, J, 3))
	lin := e.Zeros(B, T, J, 3)
	zero := &CamToWorld{B: B, T: T, J: J, Ext: ext}
	if err := zero.Forward(e, lin, e.FromHost(v, B, T, J, 3)); err != nil {
		t.Fatal(err)
	}
	base := e.Zeros(B, T, J, 3)
	if err := zero.Forward(e, base, e.Zeros(B, T, J, 3)); err != nil {
		t.Fatal(err)
	}
	lv, bv := e.ToHost(lin), e.ToHost(base)
	var lhs, rhs float64
	for i := range dW {
		lhs += float64(dW[i]) * float64(lv[i]-bv[i])
		rhs += float64(e.ToHost(dCam)[i]) * float64(v[i])
	}
	if math.Abs(lhs-rhs) > 1e-3*math.Abs(lhs) {
		t.Errorf("adjoint mismatch: %v vs %v", lhs, rhs)
	}
}

// With the perhand reference, a zero camera-frame prediction maps to each hand's
// reference joint (the middle metacarpal at the last observed frame) in world space.
func TestPerHandRef(t *testing.T) {
	e := cpu.New()
	rng := rand.New(rand.NewPCG(2, 2))
	B, T, J := 2, 2, 52
	last := randVec(rng, B*J*3, 0.5)
	ext := make([]float32, 0, B*T*16)
	for i := 0; i < B*T; i++ {
		ext = append(ext, randomPose(rng)...)
	}
	ref, err := PerHandRef(last, ext, B, T, J)
	if err != nil {
		t.Fatal(err)
	}
	c := &CamToWorld{B: B, T: T, J: J, Ext: ext, Ref: ref}
	world := e.Zeros(B, T, J, 3)
	if err := c.Forward(e, world, e.Zeros(B, T, J, 3)); err != nil {
		t.Fatal(err)
	}
	got := e.ToHost(world)
	for b := 0; b < B; b++ {
		for tt := 0; tt < T; tt++ {
			for j := 0; j < J; j++ {
				rj := RightRefJoint
				if j >= HandJoints {
					rj = LeftRefJoint
				}
				for k := 0; k < 3; k++ {
					g, w := got[((b*T+tt)*J+j)*3+k], last[(b*J+rj)*3+k]
					if math.Abs(float64(g-w)) > 1e-5 {
						t.Fatalf("sample %d step %d joint %d: %v, want %v", b, tt, j, g, w)
					}
				}
			}
		}
	}
	if _, err := PerHandRef(last, ext, B, T, 21); err == nil {
		t.Error("non-52 layout accepted")
	}
}

// shiftPredictor "predicts" the next window as the context plus one: a stand-in whose
// recursion is easy to follow.
type shiftPredictor struct{ calls int }

func (s *shiftPredictor) PredictNext(e nn.Engine, ctx *nn.Tensor, B int) (*nn.Tensor, error) {
	s.calls++
	v := e.ToHost(ctx)
	for i := range v {
		v[i]++
	}
	return e.FromHost(v, ctx.Shape...), nil
}

func TestRecursiveSlidesWindow(t *testing.T) {
	e := cpu.New()
	rng := rand.New(rand.NewPCG(4, 4))
	cfg := HeadConfig{Dim: 4, Hidden: 4, Heads: 2, Joints: 2}
	h, _ := NewHead(e, cfg)
	h.Init(e, rng)
	B, Tc, P, steps := 2, 2, 3, 3
	ctx := randVec(rng, B*Tc*P*cfg.Dim, 1)
	sp := &shiftPredictor{}
	joints, lat, err := Recursive(e, sp, h, e.FromHost(ctx, B, Tc, P, cfg.Dim), B, Tc, P, steps)
	if err != nil {
		t.Fatal(err)
	}
	if sp.calls != steps || len(joints) != B*steps*Tc*cfg.Joints*3 {
		t.Fatalf("%d calls, %d joint values", sp.calls, len(joints))
	}
	frame := Tc * P * cfg.Dim
	for b := 0; b < B; b++ {
		for s := 0; s < steps; s++ {
			for i := 0; i < frame; i++ {
				if got, want := lat[(b*steps+s)*frame+i], ctx[b*frame+i]+float32(s+1); math.Abs(float64(got-want)) > 1e-5 {
					t.Fatalf("sample %d step %d: latent %v, want %v", b, s, got, want)
				}
			}
		}
	}
	// Step s's joints are the head applied to [window s-1, window s].
	win := func(b, s int) []float32 {
		v := make([]float32, frame)
		for i := range v {
			v[i] = ctx[b*frame+i] + float32(s)
		}
		return v
	}
	for b := 0; b < B; b++ {
		for s := 0; s < steps; s++ {
			x := append(win(b, s), win(b, s+1)...)
			o, err := h.Forward(e, e.FromHost(x, 1, 2*Tc, P, cfg.Dim), 1, 2*Tc, P)
			if err != nil {
				t.Fatal(err)
			}
			want := e.ToHost(o.Out)
			o.Release(e)
			n := Tc * cfg.Joints * 3
			got := joints[(b*steps+s)*n : (b*steps+s+1)*n]
			for i := range want {
				if math.Abs(float64(got[i]-want[i])) > 1e-5 {
					t.Fatalf("sample %d step %d: joint value %d = %v, want %v", b, s, i, got[i], want[i])
				}
			}
		}
	}
}
