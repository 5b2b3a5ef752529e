package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/thinkjepa/thinkjepa/anomaly"
	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/film"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/rollout"
)

// RunConfig is the whole of run.json (`thinkjepa train --config run.json`). A small
// example (demo sizes; unset fields take ThinkJEPA's values, see LoopConfig.Defaults):
//
//	{"mode": "thinkjepa", "out": "runs/tj", "layout": "joint",
//	 "train": {"clips": "d/train/clips", "features": "d/train/feats", "thinker": "d/train/thinker"},
//	 "val":   {"clips": "d/val/clips", "features": "d/val/feats", "thinker": "d/val/thinker"},
//	 "sample": {"camera": "last", "ref_mode": "none"},
//	 "predictor": {"predictor_embed_dim": 64, "depth": 4, "num_heads": 4, "mlp_ratio": 2, "causal": true},
//	 "film": {"hidden": 64}, "head": {"hidden": 64, "heads": 4},
//	 "loop": {"seed": 42, "epochs": 12, "batch_size": 4, "head_lr": 1e-2, "pred_lr": 1e-3, "clip_norm": 5}}
//
// Full ThinkJEPA v2 sizes: predictor {"predictor_embed_dim": 384, "depth": 12,
// "num_heads": 6, "causal": true}, film {"hidden": 512}, head {"heads": 8}, sample
// {"new_capacity": 16, "old_capacity": 1280}; v1: film {"last_only": true,
// "batch_mean": true}, sample {"camera": "future", "old_capacity": 480, "new_capacity": 15,
// "truncate": true}, "detach_head": true.
type RunConfig struct {
	Mode Mode `json:"mode"`
	// Task: trajectory (default) or latent_anomaly (model-spec §4.12): the latent MSE
	// averaged over sliding windows (Anomaly), the predictor and FiLM bank optimised, the
	// head left as initialised, the best checkpoint the lowest validation latent MSE.
	Task Task `json:"task,omitempty"`
	// Anomaly sizes the latent_anomaly windows in frames (past, future, stride; defaults
	// 32/16/16 as upstream's visualisers; stride 0 = future).
	Anomaly *AnomalyWindows `json:"anomaly,omitempty"`
	// Layout: joint (default, TJ2), future or track (model-spec §4.6; see Layout).
	Layout Layout       `json:"layout,omitempty"`
	Out    string       `json:"out"`
	Train  DataConfig   `json:"train"`
	Val    *DataConfig  `json:"val,omitempty"`
	Data   SampleConfig `json:"sample"`
	// Predictor: architecture fields (embed_dim, predictor_embed_dim, depth, num_heads,
	// mlp_ratio, causal, …). tokens_per_frame, num_frames and past_frames are taken from
	// the data when zero. drop_rate and drop_path_rate (training-time dropout and the last
	// block's stochastic-depth rate) default to upstream's 0.1 when absent; 0 turns them off.
	Predictor arch.ThinkPredictorConfig `json:"predictor"`
	Film      FilmConfig                `json:"film"`
	Head      HeadConfig                `json:"head"`
	Loop      LoopConfig                `json:"loop"`
	// DetachHead is v1's y_future.detach() (the trajectory loss does not reach the predictor).
	DetachHead bool `json:"detach_head"`
}

// Task is the training objective.
type Task string

// Tasks.
const (
	TaskTrajectory    Task = "trajectory"
	TaskLatentAnomaly Task = "latent_anomaly"
)

// AnomalyWindows is the latent_anomaly part of run.json.
type AnomalyWindows struct {
	Past   int `json:"past"`
	Future int `json:"future"`
	Stride int `json:"stride"`
}

// FilmConfig is the guidance-bank part of run.json (sizes come from the predictor and
// the thinker caches).
type FilmConfig struct {
	Hidden    int  `json:"hidden"` // fusion MLP hidden (512)
	LastOnly  bool `json:"last_only"`
	BatchMean bool `json:"batch_mean"`
}

// HeadConfig is the head part of run.json (Dim = the latent channels).
type HeadConfig struct {
	Hidden int `json:"hidden"` // 0: = latent channels (upstream)
	Heads  int `json:"heads"`  // 8
	// Dropout is the training-time dropout after the head's GELUs (unset: 0.1 as
	// upstream; 0: off). Inference never drops.
	Dropout *float64 `json:"dropout,omitempty"`
}

// ParseRunConfig reads run.json strictly (unknown fields are errors, so typos do not
// silently fall back to defaults).
func ParseRunConfig(b []byte) (*RunConfig, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rc RunConfig
	if err := dec.Decode(&rc); err != nil {
		return nil, fmt.Errorf("run config: %w", err)
	}
	if rc.Mode == "" {
		rc.Mode = ModeThinkJEPA
	}
	if err := rc.Mode.Validate(); err != nil {
		return nil, fmt.Errorf("run config: %w", err)
	}
	switch rc.Task {
	case "":
		rc.Task = TaskTrajectory
	case TaskTrajectory:
	case TaskLatentAnomaly:
		if err := rc.anomalyTask(); err != nil {
			return nil, fmt.Errorf("run config: %w", err)
		}
	default:
		return nil, fmt.Errorf("run config: unknown task %q (want trajectory or latent_anomaly)", rc.Task)
	}
	if rc.Anomaly != nil && rc.Task != TaskLatentAnomaly {
		return nil, fmt.Errorf("run config: anomaly windows are set but the task is %s", rc.Task)
	}
	if rc.Layout == "" {
		rc.Layout = LayoutJoint
	}
	if err := rc.Layout.Validate(); err != nil {
		return nil, fmt.Errorf("run config: %w", err)
	}
	if rc.Layout == LayoutTrack && rc.Data.RefMode == "perhand" {
		return nil, fmt.Errorf("run config: layout track with ref_mode perhand: TJ1 takes that reference from each step's own ground truth (an oracle); use ref_mode none")
	}
	rc.Predictor.Track = rc.Layout == LayoutTrack
	rc.Data.Track = rc.Layout == LayoutTrack
	if rc.Layout != LayoutJoint && rc.Data.Recursive > 0 {
		return nil, fmt.Errorf("run config: the recursive rollout (sample.recursive) reads [context | prediction] windows: it needs layout joint, not %s", rc.Layout)
	}
	if rc.Film.Hidden == 0 {
		rc.Film.Hidden = 512
	}
	if rc.Head.Heads == 0 {
		rc.Head.Heads = 8
	}
	if rc.Head.Dropout == nil {
		p := 0.1
		rc.Head.Dropout = &p
	} else if d := *rc.Head.Dropout; !(d >= 0 && d < 1) {
		return nil, fmt.Errorf("run config: head dropout %v, expected 0 ≤ p < 1", d)
	}
	if ms := rc.Loop.HeadMilestones; ms != nil {
		for _, f := range *ms {
			if !(f > 0 && f <= 1) {
				return nil, fmt.Errorf("run config: loop head_milestones %v, expected fractions of the epochs in (0, 1]", *ms)
			}
		}
	}
	if rc.Loop.FilmLR < 0 {
		return nil, fmt.Errorf("run config: loop film_lr %v, expected ≥ 0 (0: the guidance bank trains with the predictor)", rc.Loop.FilmLR)
	}
	p := &rc.Predictor
	// A missing key and an explicit 0 decode alike; look at the keys to tell them apart.
	var keys struct {
		Predictor map[string]json.RawMessage `json:"predictor"`
	}
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, fmt.Errorf("run config: %w", err)
	}
	for _, r := range []struct {
		name string
		v    *float64
	}{{"drop_rate", &p.DropRate}, {"drop_path_rate", &p.DropPathRate}} {
		if _, ok := keys.Predictor[r.name]; !ok {
			*r.v = 0.1
		} else if !(*r.v >= 0 && *r.v < 1) {
			return nil, fmt.Errorf("run config: predictor %s %v, expected 0 ≤ p < 1", r.name, *r.v)
		}
	}
	if p.MLPRatio == 0 {
		p.MLPRatio = 4
	}
	if p.NormEps == 0 {
		p.NormEps = 1e-6
	}
	if p.NumQueryTemplates == 0 {
		p.NumQueryTemplates = 2
		p.QueryIndex = 1
	}
	p.Kind = "thinkjepa_predictor"
	rc.Loop.Defaults()
	return &rc, nil
}

// Complete fills the data-dependent sizes from a dataset's first sample.
func (rc *RunConfig) Complete(ds *FileSet) error {
	b, err := ds.Batch([]int{0})
	if err != nil {
		return err
	}
	p := &rc.Predictor
	set := func(name string, field *int, v int) error {
		if *field == 0 {
			*field = v
		} else if *field != v {
			hint := ""
			if name == "tokens_per_frame" {
				hint = tokensHint(v, *field)
			}
			return fmt.Errorf("run config: predictor %s = %d but the data has %d%s", name, *field, v, hint)
		}
		return nil
	}
	if err := set("embed_dim", &p.EmbedDim, b.D); err != nil {
		return err
	}
	if err := set("tokens_per_frame", &p.TokensPerFrame, b.P); err != nil {
		return err
	}
	if err := set("past_frames", &p.PastFrames, b.Tc); err != nil {
		return err
	}
	frames := b.Tc + b.Tf
	if p.Track {
		frames = b.Tc // every frame is context and target
	}
	if err := set("num_frames", &p.NumFrames, frames); err != nil {
		return err
	}
	if rc.Mode.Guided() && b.OldX == nil {
		return fmt.Errorf("mode %s needs thinker caches (train.thinker)", rc.Mode)
	}
	return nil
}

// Dims are the sizes BuildModel needs beyond the config: the VLM hidden size.
type Dims struct {
	VLMDim int `json:"vlm_dim"`
}

// BuildModel allocates and initialises (seeded) the model described by rc.
func BuildModel(e nn.Engine, rc *RunConfig, dims Dims) (*Model, error) {
	rng := rand.New(rand.NewPCG(rc.Loop.Seed, 0x7468696e6b))
	pred, err := NewThinkPred(e, rc.Predictor, rng)
	if err != nil {
		return nil, err
	}
	if err := rc.Layout.Validate(); err != nil {
		return nil, err
	}
	hc := rollout.HeadConfig{Dim: rc.Predictor.EmbedDim, Hidden: rc.Head.Hidden, Heads: rc.Head.Heads, Joints: 52,
		NoPool: !rc.Layout.Pooled()}
	if hc.Hidden == 0 {
		hc.Hidden = hc.Dim
	}
	head, err := rollout.NewHead(e, hc)
	if err != nil {
		return nil, err
	}
	head.Init(e, rng)
	m := &Model{Mode: rc.Mode, Layout: rc.Layout, Pred: pred, Head: head, DetachHead: rc.DetachHead}
	if rc.Head.Dropout != nil {
		m.HeadDropout = float32(*rc.Head.Dropout)
	}
	if rc.Mode.Guided() {
		bank, err := film.New(e, film.Config{VLMDim: dims.VLMDim, Width: rc.Predictor.PredictorEmbedDim,
			Hidden: rc.Film.Hidden, NumBlocks: rc.Predictor.Depth, LastOnly: rc.Film.LastOnly, BatchMean: rc.Film.BatchMean})
		if err != nil {
			return nil, err
		}
		bank.Init(e, rng)
		m.Film = bank
	}
	return m, nil
}

// savedRun is what a checkpoint's "config" entry holds.
type savedRun struct {
	Run  *RunConfig `json:"run"`
	Dims Dims       `json:"dims"`
}

// Train runs `thinkjepa train`: opens the data, builds or resumes the model, trains.
// With resume, an existing OUT/latest.safetensors is continued; without it, a run folder
// that already has a checkpoint is refused unless overwrite.
func Train(e nn.Engine, rc *RunConfig, resume, overwrite bool) error {
	if rc.Out == "" {
		return errors.New("run config: out is empty")
	}
	trainSet, err := OpenFileSet(rc.Train, rc.Data)
	if err != nil {
		return fmt.Errorf("training data: %w", err)
	}
	var valSet *FileSet
	if rc.Val != nil {
		if valSet, err = OpenFileSet(*rc.Val, rc.Data); err != nil {
			return fmt.Errorf("validation data: %w", err)
		}
	}
	if err := rc.Complete(trainSet); err != nil {
		return err
	}
	// A latent map is a deterministic function of the training data, so a resumed run
	// refits the same one.
	var lm LatentMap
	switch {
	case rc.Data.Whiten && rc.Data.Standardize:
		return errors.New("sample config: whiten and standardize are exclusive")
	case rc.Data.Whiten:
		w, err := FitWhitening(trainSet)
		if err != nil {
			return err
		}
		lm = w
		slog.Info("latent whitening fitted on the training split", "channels", w.D)
	case rc.Data.Standardize:
		st, err := FitStandardization(trainSet)
		if err != nil {
			return err
		}
		lm = st
		slog.Info("latent standardization fitted on the training split", "tokens", st.P, "channels", st.D)
	}
	if lm != nil {
		trainSet.LatentMap = lm
		if valSet != nil {
			valSet.LatentMap = lm
		}
	}
	dims := Dims{}
	if rc.Mode.Guided() {
		b, err := trainSet.Batch([]int{0})
		if err != nil {
			return err
		}
		dims.VLMDim = b.Dv
	}
	m, err := BuildModel(e, rc, dims)
	if err != nil {
		return err
	}
	m.LatentMap = lm
	t := NewTrainer(e, m, rc.Loop, rc.Out)
	t.RunConfig = savedRun{Run: rc, Dims: dims}
	latest := filepath.Join(rc.Out, LatestName)
	switch {
	case fsutil.Exists(latest) && resume:
		if err := t.Resume(latest); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		s := t.State()
		slog.Info("resuming", "checkpoint", latest, "epoch", s.Epoch, "step", s.Step)
	case fsutil.Exists(latest) && !overwrite:
		return fmt.Errorf("%s already holds a run (%s); pass -resume to continue it or -overwrite to start again", rc.Out, LatestName)
	case fsutil.Exists(latest):
		for _, f := range []string{LatestName, BestName, MetricsName} {
			if err := os.Remove(filepath.Join(rc.Out, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	if err := os.MkdirAll(rc.Out, 0o755); err != nil {
		return err
	}
	if b, err := json.MarshalIndent(map[string]any{"run": rc, "dims": dims, "versions": versions(),
		"params":        map[string]int{"predictor": m.Pred.Params().Count(), "head": m.Head.Params.Count(), "film": filmCount(m)},
		"train_samples": trainSet.Len()}, "", "  "); err == nil {
		if err := fsutil.WriteFileAtomic(filepath.Join(rc.Out, "run.meta.json"), append(b, '\n')); err != nil {
			return err
		}
	}
	slog.Info("training", "mode", rc.Mode, "train_samples", trainSet.Len(), "val_samples", lenOf(valSet),
		"predictor_params", m.Pred.Params().Count(), "head_params", m.Head.Params.Count(), "film_params", filmCount(m),
		"engine", e.Name(), "seed", rc.Loop.Seed)
	var val Dataset
	if valSet != nil {
		val = valSet
	}
	return t.Run(trainSet, val)
}

func filmCount(m *Model) int {
	if m.Film == nil {
		return 0
	}
	return m.Film.Params.Count()
}

func lenOf(fs *FileSet) int {
	if fs == nil {
		return 0
	}
	return fs.Len()
}

// LoadModel rebuilds a trained model from a training checkpoint (its stored run
// config) and loads its weights.
func LoadModel(e nn.Engine, ckpt string) (*Model, *RunConfig, error) {
	c0, cc, err := readCkpt(ckpt)
	if err != nil {
		return nil, nil, err
	}
	rc, err := ParseRunConfig(cc.Run)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ckpt, err)
	}
	if err := checkCkptFits(c0, rc, cc.Dims); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ckpt, err)
	}
	m, err := BuildModel(e, rc, cc.Dims)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ckpt, err)
	}
	if err := LoadModelParams(e, ckpt, m); err != nil {
		return nil, nil, err
	}
	if rc.Data.Whiten || rc.Data.Standardize {
		c, _, err := readCkpt(ckpt)
		if err != nil {
			return nil, nil, err
		}
		D, P := rc.Predictor.EmbedDim, rc.Predictor.TokensPerFrame
		if rc.Data.Whiten {
			mt, err1 := c.Get(whitenMeanKey, D)
			wt, err2 := c.Get(whitenWKey, D, D)
			if err := errors.Join(err1, err2); err != nil {
				return nil, nil, fmt.Errorf("%s: the run whitens latents but: %w", ckpt, err)
			}
			if m.LatentMap, err = NewLatentWhitening(mt.Data, wt.Data); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", ckpt, err)
			}
		} else {
			mt, err1 := c.Get(standardMeanKey, P, D)
			it, err2 := c.Get(standardInvKey, P, D)
			if err := errors.Join(err1, err2); err != nil {
				return nil, nil, fmt.Errorf("%s: the run standardizes latents but: %w", ckpt, err)
			}
			if m.LatentMap, err = NewLatentStandardization(P, D, mt.Data, it.Data); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", ckpt, err)
			}
		}
	}
	return m, rc, nil
}

// anomalyTask applies the latent_anomaly task: window defaults, a layout the head can
// run with any past/future split (future, unless set), and the latent-only objective.
func (rc *RunConfig) anomalyTask() error {
	if rc.Anomaly == nil {
		rc.Anomaly = &AnomalyWindows{Past: 32, Future: 16, Stride: 16}
	}
	w := anomaly.Windows{Past: rc.Anomaly.Past, Future: rc.Anomaly.Future, Stride: rc.Anomaly.Stride}
	if err := w.Check(); err != nil {
		return err
	}
	if rc.Data.Recursive > 0 {
		return fmt.Errorf("task latent_anomaly has its own windows; sample.recursive must be 0")
	}
	switch rc.Layout {
	case "":
		// The head is not trained, but it still runs: the future layout reads the Tf
		// predicted frames without pooling, so any past/future split works.
		rc.Layout = LayoutFuture
	case LayoutTrack:
		return fmt.Errorf("task latent_anomaly needs a forecasting layout (future or joint), not track")
	case LayoutJoint:
		if w.Past != w.Future {
			return fmt.Errorf("task latent_anomaly with layout joint needs past == future (the head pools frame pairs), got %d and %d; use layout future", w.Past, w.Future)
		}
	}
	rc.Data.Windows = w
	rc.Loop.LatentOnly = true
	return nil
}
