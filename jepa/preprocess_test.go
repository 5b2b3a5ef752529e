package jepa

import (
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/internal/npy"
)

func TestPreprocessIdentityAndConstant(t *testing.T) {
	// Squash at the same size is the identity resize: every value is (v/255−mean)/std.
	T, S := 2, 8
	rng := rand.New(rand.NewPCG(1, 2))
	fr := make([]uint8, T*S*S*3)
	for i := range fr {
		fr[i] = uint8(rng.IntN(256))
	}
	out, err := Preprocess(fr, T, S, S, S, Squash)
	if err != nil {
		t.Fatal(err)
	}
	for tt := 0; tt < T; tt++ {
		for y := 0; y < S; y++ {
			for x := 0; x < S; x++ {
				for c := 0; c < 3; c++ {
					want := (float32(fr[((tt*S+y)*S+x)*3+c])/255 - ImageNetMean[c]) / ImageNetStd[c]
					got := out[((c*T+tt)*S+y)*S+x]
					if math.Abs(float64(got-want)) > 1e-5 {
						t.Fatalf("(%d,%d,%d,%d): %g want %g", c, tt, y, x, got, want)
					}
				}
			}
		}
	}
	// Crop of a 480×640 constant clip gives the constant, at the crop size.
	H, W := 48, 64
	fr = make([]uint8, H*W*3)
	for i := range fr {
		fr[i] = 200
	}
	out, err = Preprocess(fr, 1, H, W, 32, Crop)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3*32*32 {
		t.Fatalf("crop output has %d values", len(out))
	}
	for c := 0; c < 3; c++ {
		want := (200.0/255 - ImageNetMean[c]) / ImageNetStd[c]
		if math.Abs(float64(out[c*32*32+17]-want)) > 1e-5 {
			t.Errorf("channel %d: %g want %g", c, out[c*32*32+17], want)
		}
	}
	if _, err := Preprocess(fr[:10], 1, H, W, 32, Crop); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("short input: %v", err)
	}
}

// TestPreprocessTorch compares with torch.nn.functional.interpolate(bilinear,
// align_corners=False) + centre crop when Debian's PyTorch is installed.
func TestPreprocessTorch(t *testing.T) {
	py := "/usr/bin/python3"
	if exec.Command(py, "-c", "import torch").Run() != nil {
		t.Skip("no PyTorch")
	}
	T, H, W, crop := 2, 30, 52, 16
	rng := rand.New(rand.NewPCG(3, 4))
	fr := make([]uint8, T*H*W*3)
	for i := range fr {
		fr[i] = uint8(rng.IntN(256))
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.npy")
	if err := npy.WriteNPYFile(in, npy.FromUint8(fr, T, H, W, 3)); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(dir, "ref.npy")
	script := `
import sys, numpy as np, torch, torch.nn.functional as F
x = torch.from_numpy(np.load(sys.argv[1]).astype(np.float32)).permute(3,0,1,2)  # C,T,H,W
C,T,H,W = x.shape; crop = int(sys.argv[3]); short = crop*256//224
if H <= W: nh, nw = short, int(short*W/H)
else: nw, nh = short, int(short*H/W)
y = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
top = int(round((nh-crop)/2)); left = int(round((nw-crop)/2))
y = y[:, :, top:top+crop, left:left+crop] / 255
m = torch.tensor([0.485,0.456,0.406]).view(3,1,1,1); s = torch.tensor([0.229,0.224,0.225]).view(3,1,1,1)
np.save(sys.argv[2], ((y-m)/s).numpy())
`
	cmd := exec.Command(py, "-c", script, in, ref, "16")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, b)
	}
	a, err := npy.ReadNPYFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := a.Float32s()
	got, err := Preprocess(fr, T, H, W, crop, Crop)
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
	}
	if worst > 1e-4 {
		t.Errorf("max abs difference from torch %.3g", worst)
	}
	_ = os.Remove(ref)
}
