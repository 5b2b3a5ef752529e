package rollout

import (
	"fmt"

	"github.com/thinkjepa/thinkjepa/nn"
)

// Right and left middle-finger metacarpals in the 52-joint layout (data-spec §1.3):
// the per-hand reference points of the "perhand" reference mode.
const (
	RightRefJoint = 10
	LeftRefJoint  = 36
	HandJoints    = 26 // joints 0..25 are the right hand (+ wrist, forearm), 26..51 the left
)

// CamToWorld maps camera-frame predictions to the world frame with 4×4 world←camera
// extrinsics: world = R·(cam + ref) + t. Ext holds one matrix per (sample, output step),
// row-major, [B·T·16] on the host; v2 repeats the last observed pose for every step, v1
// uses each future frame's own pose. Ref (optional, [B·T·J·3] host, camera frame) is
// the per-hand reference offset added before the mapping.
type CamToWorld struct {
	B, T, J int
	Ext     []float32
	Ref     []float32

	rot, trans *nn.Tensor
}

// ReplicateLast builds the v2 extrinsics list: ext [B,16] (last observed pose) repeated
// over T steps.
func ReplicateLast(ext []float32, B, T int) []float32 {
	out := make([]float32, 0, B*T*16)
	for b := 0; b < B; b++ {
		for t := 0; t < T; t++ {
			out = append(out, ext[b*16:b*16+16]...)
		}
	}
	return out
}

// Forward writes world [B,T,J,3] from cam [B,T,J,3].
func (c *CamToWorld) Forward(e nn.Engine, world, cam *nn.Tensor) error {
	n := c.B * c.T
	if len(c.Ext) != n*16 {
		return fmt.Errorf("camera extrinsics: %d values, want B·T·16 = %d", len(c.Ext), n*16)
	}
	if c.Ref != nil && len(c.Ref) != n*c.J*3 {
		return fmt.Errorf("reference offsets: %d values, want B·T·J·3 = %d", len(c.Ref), n*c.J*3)
	}
	rot := make([]float32, n*9)
	trans := make([]float32, n*c.J*3)
	for i := 0; i < n; i++ {
		E := c.Ext[i*16 : i*16+16]
		for r := 0; r < 3; r++ {
			for k := 0; k < 3; k++ {
				rot[i*9+r*3+k] = E[r*4+k]
			}
		}
		for j := 0; j < c.J; j++ {
			for r := 0; r < 3; r++ {
				v := E[r*4+3]
				if c.Ref != nil {
					base := (i*c.J + j) * 3
					for k := 0; k < 3; k++ {
						v += E[r*4+k] * c.Ref[base+k]
					}
				}
				trans[(i*c.J+j)*3+r] = v
			}
		}
	}
	c.Release(e)
	c.rot = e.FromHost(rot, n, 3, 3)
	c.trans = e.FromHost(trans, n, c.J, 3)
	// world[i] = cam[i] (J×3) · R[i]ᵀ + t
	e.CopyInto(world, c.trans)
	e.BatchedMatMul(world, cam, c.rot, n, c.J, 3, 3, false, true, 1, 1)
	return nil
}

// Backward accumulates dCam += dWorld · R.
func (c *CamToWorld) Backward(e nn.Engine, dCam, dWorld *nn.Tensor) {
	e.BatchedMatMul(dCam, dWorld, c.rot, c.B*c.T, c.J, 3, 3, false, false, 1, 1)
}

// Release frees the engine copies.
func (c *CamToWorld) Release(e nn.Engine) {
	if c.rot != nil {
		e.Free(c.rot)
		e.Free(c.trans)
		c.rot, c.trans = nil, nil
	}
}

// PerHandRef computes camera-frame reference offsets for the "perhand" mode: for each
// sample, the right (joint 10) and left (joint 36) middle metacarpal at the last
// observed frame, given in world coordinates lastWorld [B,J,3], are expressed in each
// step's camera frame (inverse of Ext) and assigned to every joint of that hand.
func PerHandRef(lastWorld, ext []float32, B, T, J int) ([]float32, error) {
	if J != 2*HandJoints {
		return nil, fmt.Errorf("perhand reference needs the %d-joint layout, got %d joints", 2*HandJoints, J)
	}
	if len(lastWorld) != B*J*3 || len(ext) != B*T*16 {
		return nil, fmt.Errorf("perhand reference: got %d joints values and %d extrinsics values, want %d and %d", len(lastWorld), len(ext), B*J*3, B*T*16)
	}
	ref := make([]float32, B*T*J*3)
	for b := 0; b < B; b++ {
		for t := 0; t < T; t++ {
			E := ext[(b*T+t)*16:]
			for hand, rj := range []int{RightRefJoint, LeftRefJoint} {
				w := lastWorld[(b*J+rj)*3:]
				// cam = Rᵀ (w − t) for a rigid world←camera transform.
				var d [3]float32
				for r := 0; r < 3; r++ {
					d[r] = w[r] - E[r*4+3]
				}
				var cam [3]float32
				for k := 0; k < 3; k++ {
					for r := 0; r < 3; r++ {
						cam[k] += E[r*4+k] * d[r]
					}
				}
				for j := hand * HandJoints; j < (hand+1)*HandJoints; j++ {
					copy(ref[((b*T+t)*J+j)*3:], cam[:])
				}
			}
		}
	}
	return ref, nil
}
