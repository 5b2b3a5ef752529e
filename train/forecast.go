package train

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"

	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/eval/predfile"
	"github.com/thinkjepa/thinkjepa/film"
	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
	"github.com/thinkjepa/thinkjepa/internal/progress"
	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/rollout"
)

// ForecastOptions configures `thinkjepa forecast`.
type ForecastOptions struct {
	Ckpt      string
	Data      DataConfig
	Out       string
	Shard     int // this shard, 0-based
	NumShards int // ≥ 1
	BatchSize int
	// Horizons (recursive models only): future frames to roll out; the longest decides
	// the number of steps. Empty: rollout.Horizons.
	Horizons []int
	Model    string // model name recorded in the predictions (default: the run's mode)
}

// Forecast writes one prediction per clip of the shard into Out (eval/predfile
// layout); clips already done are skipped, so a rerun finishes an interrupted job.
func Forecast(e nn.Engine, o ForecastOptions) error {
	if o.NumShards < 1 || o.Shard < 0 || o.Shard >= o.NumShards {
		return fmt.Errorf("shard %d/%d is out of range", o.Shard, o.NumShards)
	}
	if o.BatchSize < 1 {
		o.BatchSize = 8
	}
	m, rc, err := LoadModel(e, o.Ckpt)
	if err != nil {
		return err
	}
	name := o.Model
	if name == "" {
		name = string(rc.Mode)
	}
	sc := rc.Data
	recursive := sc.Recursive
	sc.Recursive = 0 // one sample per clip; the rollout slides over its latents
	fs, err := OpenFileSet(o.Data, sc)
	if err != nil {
		return err
	}
	fs.LatentMap = m.LatentMap
	// Batches are fixed groups of BatchSize consecutive clips of the whole folder, and a
	// shard takes whole batches: batched GEMMs round differently for different batch
	// compositions (~1e-7), so a clip's prediction must not depend on how the folder was
	// sharded or on which clips an interrupted run had finished. A batch with any clip
	// missing is recomputed whole (its finished clips are rewritten with the same bytes).
	var todo [][]int
	nTodo := 0
	for b0 := 0; b0 < fs.Len(); b0 += o.BatchSize {
		if (b0/o.BatchSize)%o.NumShards != o.Shard {
			continue
		}
		var batch []int
		done := true
		for i := b0; i < min(b0+o.BatchSize, fs.Len()); i++ {
			batch = append(batch, i)
			done = done && predfile.Done(o.Out, predfile.SafeID(fs.ClipID(i)))
		}
		if !done {
			todo = append(todo, batch)
			nTodo += len(batch)
		}
	}
	horizons := append([]int(nil), o.Horizons...)
	if len(horizons) == 0 && recursive > 0 {
		horizons = append(horizons, rollout.Horizons...)
	}
	sort.Ints(horizons)
	if err := predfile.WriteRun(o.Out, predfile.Run{Model: name, Config: rc, Seed: int64(rc.Loop.Seed), Versions: buildinfo.Get(),
		// No shard here: every shard writes run.json, and it must be the single-process one.
		Extra: map[string]any{"checkpoint": o.Ckpt, "recursive": recursive, "horizons": horizons}}); err != nil {
		return err
	}
	slog.Info("forecast", "clips", fs.Len(), "shard", fmt.Sprintf("%d/%d", o.Shard, o.NumShards), "todo", nTodo, "recursive", recursive)
	bar := progress.New(nTodo, "forecast")
	defer bar.Finish()
	for _, idx := range todo {
		b, err := fs.Batch(idx)
		if err != nil {
			return err
		}
		var world []float32
		var steps int
		var gt []float32
		if recursive > 0 {
			world, gt, steps, err = recursiveForecast(e, m, b, recursive, horizons)
		} else {
			world, _, err = m.Predict(e, b)
			steps, gt = b.Steps(), b.World
		}
		if err != nil {
			return fmt.Errorf("clips %v: %w", b.IDs, err)
		}
		for bi, i := range idx {
			if err := writeClipPrediction(o.Out, name, fs, i, world, gt, bi, steps, recursive, horizons); err != nil {
				return err
			}
			bar.Add(1)
		}
	}
	return nil
}

// recursiveForecast rolls a past-w/future-w model over a clip's latents (model-spec
// §4.8): context = the first w latent frames; each step predicts w frames; world joints
// use each future frame's own extrinsics. Returns world [B,steps·w,J,3] and the matching
// ground truth.
func recursiveForecast(e nn.Engine, m *Model, b *Batch, w int, horizons []int) (world, gt []float32, frames int, err error) {
	T := b.Tc + b.Tf
	maxH := horizons[len(horizons)-1]
	steps := (maxH + w - 1) / w
	if w+steps*w > T {
		return nil, nil, 0, fmt.Errorf("horizon %d needs %d frames after the first %d, the clips have %d", maxH, steps*w, w, T)
	}
	frame := b.P * b.D
	full := make([]float32, 0, b.B*T*frame)
	for i := 0; i < b.B; i++ {
		full = append(full, b.Ctx[i*b.Tc*frame:(i+1)*b.Tc*frame]...)
		full = append(full, b.Target[i*b.Tf*frame:(i+1)*b.Tf*frame]...)
	}
	ctx0 := make([]float32, 0, b.B*w*frame)
	for i := 0; i < b.B; i++ {
		ctx0 = append(ctx0, full[i*T*frame:(i*T+w)*frame]...)
	}
	gp := &guidedPredictor{m: m, b: b, w: w}
	defer gp.release(e)
	ct := e.FromHost(ctx0, b.B, w, b.P, b.D)
	defer e.Free(ct)
	cam, _, err := rollout.Recursive(e, gp, m.Head, ct, b.B, w, b.P, steps)
	if err != nil {
		return nil, nil, 0, err
	}
	frames = steps * w
	// Supervision of frames w..w+frames and their own extrinsics (§4.8 step 5).
	if len(b.WorldAll) != b.B*T*b.J*3 || len(b.ExtAll) != b.B*T*16 {
		return nil, nil, 0, fmt.Errorf("recursive forecast needs the clips' full supervision")
	}
	ext := make([]float32, 0, b.B*frames*16)
	for i := 0; i < b.B; i++ {
		ext = append(ext, b.ExtAll[(i*T+w)*16:(i*T+w+frames)*16]...)
		gt = append(gt, b.WorldAll[(i*T+w)*b.J*3:(i*T+w+frames)*b.J*3]...)
	}
	c2w := &rollout.CamToWorld{B: b.B, T: frames, J: b.J, Ext: ext}
	defer c2w.Release(e)
	camT := e.FromHost(cam, b.B, frames, b.J, 3)
	defer e.Free(camT)
	wt := e.Zeros(b.B, frames, b.J, 3)
	defer e.Free(wt)
	if err := c2w.Forward(e, wt, camT); err != nil {
		return nil, nil, 0, err
	}
	return e.ToHost(wt), gt, frames, nil
}

// guidedPredictor is the model's predictor with the batch's fixed guidance (§4.8 step 3).
type guidedPredictor struct {
	m    *Model
	b    *Batch
	w    int
	fout *film.Output
	xs   []*nn.Tensor
}

func (g *guidedPredictor) PredictNext(e nn.Engine, ctx *nn.Tensor, B int) (*nn.Tensor, error) {
	var gamma, beta []*nn.Tensor
	if g.m.Mode.Guided() {
		if g.fout == nil {
			in := &film.Input{B: B}
			if g.b.OldX != nil {
				x := e.FromHost(g.b.OldX, B, g.b.L, g.b.So, g.b.Dv)
				g.xs = append(g.xs, x)
				in.Old = &film.Stream{X: x, Mask: g.b.OldMask, L: g.b.L, S: g.b.So}
			}
			if g.b.NewX != nil {
				x := e.FromHost(g.b.NewX, B, g.b.L, g.b.Sn, g.b.Dv)
				g.xs = append(g.xs, x)
				in.New = &film.Stream{X: x, Mask: g.b.NewMask, L: g.b.L, S: g.b.Sn}
			}
			out, err := g.m.Film.Forward(e, in)
			if err != nil {
				return nil, err
			}
			g.fout = out
		}
		gamma, beta = g.fout.Gamma, g.fout.Beta
	}
	in := ctx
	if g.m.Mode == ModeVLMOnly {
		in = e.Zeros(ctx.Shape...)
		defer e.Free(in)
	}
	fwd := g.m.Pred.Forward
	if inf, ok := g.m.Pred.(Inferer); ok {
		fwd = inf.Infer
	}
	pp, err := fwd(e, in, B, g.w, g.w, g.b.P, gamma, beta)
	if err != nil {
		return nil, err
	}
	defer pp.Release(e)
	y := e.Zeros(B, g.w, g.b.P, g.b.D)
	e.CopyInto(y, pp.Out())
	return y, nil
}

func (g *guidedPredictor) release(e nn.Engine) {
	if g.fout != nil {
		g.fout.Release(e)
	}
	for _, x := range g.xs {
		e.Free(x)
	}
}

func writeClipPrediction(out, model string, fs *FileSet, i int, world, gt []float32, bi, steps, recursive int, horizons []int) error {
	c := &fs.clips[fs.samps[i].clip]
	J := data.NumJoints
	clip, err := data.ReadClipNPZ(filepath.Join(fs.Cfg.Clips, c.id+".npz"))
	if err != nil {
		return err
	}
	toJ := func(v []float32, n int) [][predfile.NumJoints][3]float32 {
		r := make([][predfile.NumJoints][3]float32, n)
		for t := 0; t < n; t++ {
			for j := 0; j < J; j++ {
				copy(r[t][j][:], v[(t*J+j)*3:(t*J+j)*3+3])
			}
		}
		return r
	}
	base := bi * steps * J * 3
	p := &predfile.Prediction{
		Pred: toJ(world[base:], steps),
		GT:   toJ(gt[base:], steps),
		Past: toJ(c.world, c.past),
		Meta: predfile.Meta{ClipID: predfile.SafeID(c.id), Model: model, Dataset: clip.Dataset, Split: clip.Split, Task: clip.Task,
			Extra: map[string]any{"episode": clip.Episode}},
	}
	if fs.Sample.Track {
		// Track layout: every frame of the clip is predicted (and was context), so the
		// prediction covers frames 0..T−1, not the future half.
		p.Meta.Extra["layout"] = "track"
		p.Meta.Extra["first_frame"] = 0
	}
	if recursive > 0 {
		p.Meta.Extra["recursive_window"] = recursive
		p.Meta.Extra["horizons"] = horizons
		p.Meta.Extra["first_frame"] = recursive
	}
	last := c.past - 1
	for r := 0; r < 4; r++ {
		for k := 0; k < 4; k++ {
			p.CamExtLast[r][k] = c.ext[last*16+r*4+k]
		}
	}
	for r := 0; r < 3; r++ {
		for k := 0; k < 3; k++ {
			p.Intrinsics[r][k] = clip.Intrinsics[r*3+k]
		}
	}
	if clip.H > 0 && clip.W > 0 {
		n := clip.H * clip.W * 3
		p.FrameLast = clip.Frames[last*n : (last+1)*n]
		p.FrameH, p.FrameW = clip.H, clip.W
	}
	return predfile.Write(out, predfile.SafeID(c.id), p)
}
