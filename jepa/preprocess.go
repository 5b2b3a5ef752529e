package jepa

import (
	"fmt"
	"math"
)

// ImageNet normalisation used by V-JEPA 2 (model-spec §1.1).
var (
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// ResizeMode selects how frames reach the crop size.
type ResizeMode int

const (
	// Crop is V-JEPA 2's eval transform: bilinear resize of the short side to
	// int(crop·256/224) (292 for 256), then a centre crop.
	Crop ResizeMode = iota
	// Squash resizes directly to crop×crop, changing the aspect ratio (ThinkJEPA v1's
	// decord decode at 256×256).
	Squash
)

// Preprocess turns uint8 RGB frames [T][H][W][3] into the encoder input [3,T,S,S]
// (S = crop), scaled to [0,1] and normalised with the ImageNet mean and std.
// Resizing is bilinear with half-pixel centres (PyTorch align_corners=False, no
// antialiasing), computed in float32 without intermediate rounding to uint8.
func Preprocess(frames []uint8, T, H, W, crop int, mode ResizeMode) ([]float32, error) {
	if T <= 0 || H <= 0 || W <= 0 || crop <= 0 {
		return nil, fmt.Errorf("preprocess: sizes must be positive, got T=%d H=%d W=%d crop=%d", T, H, W, crop)
	}
	if len(frames) != T*H*W*3 {
		return nil, fmt.Errorf("preprocess: %d bytes, want T·H·W·3 = %d·%d·%d·3 = %d", len(frames), T, H, W, T*H*W*3)
	}
	var rh, rw, top, left int
	switch mode {
	case Crop:
		short := crop * 256 / 224
		if H <= W {
			rh, rw = short, int(float64(short)*float64(W)/float64(H))
		} else {
			rw, rh = short, int(float64(short)*float64(H)/float64(W))
		}
		top = int(math.Round(float64(rh-crop) / 2))
		left = int(math.Round(float64(rw-crop) / 2))
	case Squash:
		rh, rw = crop, crop
	default:
		return nil, fmt.Errorf("preprocess: unknown resize mode %d", mode)
	}
	ys := axis(H, rh, top, crop)
	xs := axis(W, rw, left, crop)
	S := crop
	out := make([]float32, 3*T*S*S)
	var scale, bias [3]float32
	for c := 0; c < 3; c++ {
		scale[c] = 1 / (255 * ImageNetStd[c])
		bias[c] = -ImageNetMean[c] / ImageNetStd[c]
	}
	for t := 0; t < T; t++ {
		fr := frames[t*H*W*3 : (t+1)*H*W*3]
		for oy, ay := range ys {
			r0, r1 := fr[ay.i0*W*3:], fr[ay.i1*W*3:]
			for ox, ax := range xs {
				for c := 0; c < 3; c++ {
					v00, v01 := float32(r0[ax.i0*3+c]), float32(r0[ax.i1*3+c])
					v10, v11 := float32(r1[ax.i0*3+c]), float32(r1[ax.i1*3+c])
					top := v00 + (v01-v00)*ax.f
					bot := v10 + (v11-v10)*ax.f
					v := top + (bot-top)*ay.f
					out[((c*T+t)*S+oy)*S+ox] = v*scale[c] + bias[c]
				}
			}
		}
	}
	return out, nil
}

// tap is one output coordinate's two source indices and the weight of the second.
type tap struct {
	i0, i1 int
	f      float32
}

// axis computes the bilinear taps of outputs off..off+n-1 when resizing in → out
// (align_corners=False: src = (dst+0.5)·in/out − 0.5, clamped at 0).
func axis(in, out, off, n int) []tap {
	taps := make([]tap, n)
	r := float64(in) / float64(out)
	for i := range taps {
		src := (float64(i+off)+0.5)*r - 0.5
		if src < 0 {
			src = 0
		}
		i0 := int(src)
		if i0 > in-1 {
			i0 = in - 1
		}
		i1 := i0 + 1
		if i1 > in-1 {
			i1 = in - 1
		}
		taps[i] = tap{i0, i1, float32(src - float64(i0))}
	}
	return taps
}

// THWCToCTHW reorders an already-normalised float32 clip [T,H,W,C] to the encoder's
// [C,T,H,W] layout (for --no-preprocess inputs).
func THWCToCTHW(x []float32, T, H, W, C int) ([]float32, error) {
	if len(x) != T*H*W*C {
		return nil, fmt.Errorf("clip has %d values, want T·H·W·C = %d", len(x), T*H*W*C)
	}
	out := make([]float32, len(x))
	for t := 0; t < T; t++ {
		for h := 0; h < H; h++ {
			for w := 0; w < W; w++ {
				for c := 0; c < C; c++ {
					out[((c*T+t)*H+h)*W+w] = x[((t*H+h)*W+w)*C+c]
				}
			}
		}
	}
	return out, nil
}
