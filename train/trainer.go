package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/thinkjepa/thinkjepa/eval"
	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
	"github.com/thinkjepa/thinkjepa/internal/progress"
	"github.com/thinkjepa/thinkjepa/nn"
)

// Dataset serves batches by clip index.
type Dataset interface {
	Len() int
	Batch(idx []int) (*Batch, error)
}

// LoopConfig is the optimisation part of a run (model-spec §4.7 defaults in Defaults).
type LoopConfig struct {
	Seed      uint64  `json:"seed"`
	Epochs    int     `json:"epochs"`
	BatchSize int     `json:"batch_size"`
	HeadLR    float64 `json:"head_lr"`
	// HeadMilestones are the head's MultiStepLR milestones (×0.1 at each) as fractions of
	// the epochs. Unset: upstream's ⌊E/3⌋ and ⌊2E/3⌋; [] keeps the lr constant. Short
	// runs in the future layout, where the head reads predicted latents that carry little
	// until the predictor has learned, want them late (or none).
	HeadMilestones *[]float64 `json:"head_milestones,omitempty"`
	PredLR         float64    `json:"pred_lr"`
	// FilmLR > 0 gives the guidance bank (FiLM MLPs, VLM adapters, gates) its own AdamW
	// group with this constant lr; 0 keeps it in the predictor group (upstream). The
	// zero-initialised tanh gate starts FiLM at the identity and holds back the MLPs'
	// gradients (∝ tanh g), so short runs may give the bank a larger lr.
	FilmLR      float64 `json:"film_lr,omitempty"`
	WeightDecay float64 `json:"weight_decay"`
	ClipNorm    float64 `json:"clip_norm"` // ≤ 0: no clipping (upstream does not clip)
	// ClipPerGroup clips each optimiser group's gradient norm to ClipNorm on its own
	// instead of the global norm over all groups: with one global norm, a large head
	// gradient (early trajectory loss) scales down the predictor's and the guidance
	// bank's steps too.
	ClipPerGroup bool    `json:"clip_per_group,omitempty"`
	LambdaTraj   float64 `json:"lambda_traj"`
	LambdaPred   float64 `json:"lambda_pred"`
	// CheckpointEvery also writes "latest" every so many steps (0: only at epoch ends).
	CheckpointEvery int `json:"checkpoint_every"`
	// LatentOnly is the latent_anomaly objective (set from RunConfig.Task, never read from
	// JSON): no trajectory loss, the head is not updated, and the best checkpoint is the
	// lowest validation latent MSE instead of the lowest ADE.
	LatentOnly bool `json:"-"`
}

// Defaults fills unset fields with ThinkJEPA's values.
func (c *LoopConfig) Defaults() {
	if c.Seed == 0 {
		c.Seed = 42
	}
	if c.Epochs == 0 {
		c.Epochs = 200
	}
	if c.BatchSize == 0 {
		c.BatchSize = 8
	}
	if c.HeadLR == 0 {
		c.HeadLR = 1e-3
	}
	if c.PredLR == 0 {
		c.PredLR = 1e-4
	}
	if c.WeightDecay == 0 {
		c.WeightDecay = 1e-4
	}
	if c.LambdaTraj == 0 {
		c.LambdaTraj = 1
	}
	if c.LambdaPred == 0 {
		c.LambdaPred = 1
	}
}

// Trainer runs the optimisation of one Model.
type Trainer struct {
	E      nn.Engine
	Model  *Model
	Cfg    LoopConfig
	OutDir string
	// RunConfig is recorded verbatim in checkpoints and metrics (the whole run.json).
	RunConfig any
	// StopAfter, when > 0, stops after that many global steps (used to test resume).
	StopAfter int

	head, pred *Group
	film       *Group // nil unless Cfg.FilmLR > 0 (then the bank is not in pred)
	state      State
}

// State is the resumable position of a run.
type State struct {
	Epoch     int     `json:"epoch"`      // current epoch (0-based)
	Batch     int     `json:"batch"`      // batches of this epoch already done
	Step      int     `json:"step"`       // global optimiser steps done
	BestADE   float64 `json:"best_ade"`   // best validation ADE so far (+Inf none)
	BestEpoch int     `json:"best_epoch"` // epoch of BestADE (-1 none)
	Seed      uint64  `json:"seed"`
	ElapsedS  float64 `json:"elapsed_s"`
	// Running sums of the current epoch's training losses (so a resumed epoch logs the
	// same averages as an uninterrupted one).
	SumLoss   float64 `json:"sum_loss"`
	SumTraj   float64 `json:"sum_traj"`
	SumLatent float64 `json:"sum_latent"`
	NumLoss   int     `json:"num_loss"`
}

// MetricsLine is one line of metrics.jsonl (one per epoch).
type MetricsLine struct {
	Epoch           int     `json:"epoch"`
	Step            int     `json:"step"`
	TrainLoss       float64 `json:"train_loss"`
	TrainTrajLoss   float64 `json:"train_traj_loss"`
	TrainLatentLoss float64 `json:"train_latent_loss"`
	ValADE          float64 `json:"val_ade"`
	ValFDE          float64 `json:"val_fde"`
	ValAcc          float64 `json:"val_acc"`
	ValLatent       float64 `json:"val_latent_loss"`
	// ValLatentCopyLast is the latent MSE of repeating the last observed frame, and
	// ValLatentSpread the predictions' within-clip variation relative to the targets'
	// (LatentHealth); Collapse says why the epoch looks collapsed (DetectCollapse).
	ValLatentCopyLast float64 `json:"val_latent_copy_last,omitempty"`
	ValLatentSpread   float64 `json:"val_latent_spread,omitempty"`
	Collapse          string  `json:"collapse,omitempty"`
	LRHead            float64 `json:"lr_head"`
	LRPred            float64 `json:"lr_pred"`
	LRFilm            float64 `json:"lr_film,omitempty"`
	// Gates are tanh(g_l) of the FiLM bank per block at the end of the epoch (guided
	// modes): how far guidance has opened from the identity.
	Gates []float64 `json:"film_gates,omitempty"`
	TimeS float64   `json:"time_s"`
}

// Checkpoint file names inside OutDir.
const (
	LatestName  = "latest.safetensors"
	BestName    = "best.safetensors"
	MetricsName = "metrics.jsonl"
)

// NewTrainer builds the optimiser groups: head, and predictor + guidance bank.
func NewTrainer(e nn.Engine, m *Model, cfg LoopConfig, outDir string) *Trainer {
	cfg.Defaults()
	t := &Trainer{E: e, Model: m, Cfg: cfg, OutDir: outDir}
	wd := float32(cfg.WeightDecay)
	t.head = NewGroup(e, "head", m.Head.Params.List(), wd)
	predParams := append([]*nn.Param(nil), m.Pred.Params().List()...)
	if m.Film != nil {
		if cfg.FilmLR > 0 {
			t.film = NewGroup(e, "film", m.Film.Params.List(), wd)
		} else {
			predParams = append(predParams, m.Film.Params.List()...)
		}
	}
	t.pred = NewGroup(e, "pred", predParams, wd)
	t.state = State{BestADE: math.Inf(1), BestEpoch: -1, Seed: cfg.Seed}
	return t
}

// groups lists the optimiser groups in a fixed order (checkpoint layout, clipping).
func (t *Trainer) groups() []*Group {
	gs := []*Group{t.head, t.pred}
	if t.film != nil {
		gs = append(gs, t.film)
	}
	return gs
}

// State returns the current position.
func (t *Trainer) State() State { return t.state }

// perm is the epoch's clip order: a function of (seed, epoch) only, so a resumed run
// visits the same batches in the same order.
func perm(seed uint64, epoch, n int) []int {
	r := rand.New(rand.NewPCG(seed, uint64(epoch)+0x9e3779b97f4a7c15))
	return r.Perm(n)
}

// stepSeed is the dropout seed of global step: a function of (run seed, step) only, so
// a run resumed at any step draws the same masks as an uninterrupted one.
func stepSeed(seed uint64, step int) uint64 {
	z := seed*0x9e3779b97f4a7c15 + uint64(step+1)*0xbf58476d1ce4e5b9
	z = (z ^ (z >> 31)) * 0x94d049bb133111eb
	return z ^ (z >> 29)
}

// Run trains until the configured epochs are done (or StopAfter steps), validating
// after each epoch. Resume first with Resume to continue a run.
func (t *Trainer) Run(trainSet, valSet Dataset) error {
	if trainSet.Len() == 0 {
		return errors.New("training set is empty")
	}
	if err := os.MkdirAll(t.OutDir, 0o755); err != nil {
		return err
	}
	bs := t.Cfg.BatchSize
	nb := (trainSet.Len() + bs - 1) / bs
	total := t.Cfg.Epochs * nb
	bar := progress.New(total, "train")
	defer bar.Finish()
	bar.Add(t.state.Epoch*nb + t.state.Batch)
	start := time.Now()
	elapsed0 := t.state.ElapsedS
	stepsThisRun := 0
	w := LossWeights{Traj: float32(t.Cfg.LambdaTraj), Pred: float32(t.Cfg.LambdaPred)}
	if t.Cfg.LatentOnly {
		w.Traj = 0
	}
	for t.state.Epoch < t.Cfg.Epochs {
		ep := t.state.Epoch
		order := perm(t.Cfg.Seed, ep, trainSet.Len())
		lrHead := HeadLR(t.Cfg.HeadLR, ep, t.Cfg.Epochs)
		if t.Cfg.HeadMilestones != nil {
			lrHead = MultiStepLR(t.Cfg.HeadLR, ep, t.Cfg.Epochs, *t.Cfg.HeadMilestones)
		}
		lrPred := t.Cfg.PredLR
		for t.state.Batch < nb {
			if t.StopAfter > 0 && t.state.Step >= t.StopAfter {
				t.state.ElapsedS = elapsed0 + time.Since(start).Seconds()
				return t.save(LatestName)
			}
			i := t.state.Batch
			idx := order[i*bs : min((i+1)*bs, len(order))]
			b, err := trainSet.Batch(idx)
			if err != nil {
				return fmt.Errorf("epoch %d batch %d: %w", ep, i, err)
			}
			for _, g := range t.groups() {
				g.ZeroGrad(t.E)
			}
			ls, err := t.Model.TrainStep(t.E, b, w, stepSeed(t.Cfg.Seed, t.state.Step))
			if err != nil {
				return fmt.Errorf("epoch %d batch %d: %w", ep, i, err)
			}
			if math.IsNaN(ls.Total) || math.IsInf(ls.Total, 0) {
				return fmt.Errorf("epoch %d batch %d (clips %v): loss is %v", ep, i, b.IDs, ls.Total)
			}
			if err := t.clip(); err != nil {
				return fmt.Errorf("epoch %d batch %d: %w", ep, i, err)
			}
			if !t.Cfg.LatentOnly {
				t.head.Update(t.E, float32(lrHead))
			}
			t.pred.Update(t.E, float32(lrPred))
			if t.film != nil {
				t.film.Update(t.E, float32(t.Cfg.FilmLR))
			}
			t.state.Batch++
			t.state.Step++
			stepsThisRun++
			t.state.SumLoss += ls.Total
			t.state.SumTraj += ls.Traj
			t.state.SumLatent += ls.Latent
			t.state.NumLoss++
			bar.Describe(fmt.Sprintf("ep %d/%d loss %.4g (traj %.3g lat %.3g)", ep+1, t.Cfg.Epochs, ls.Total, ls.Traj, ls.Latent))
			bar.Add(1)
			if t.Cfg.CheckpointEvery > 0 && t.state.Step%t.Cfg.CheckpointEvery == 0 {
				t.state.ElapsedS = elapsed0 + time.Since(start).Seconds()
				if err := t.save(LatestName); err != nil {
					return err
				}
			}
		}
		// Epoch done: validate, log, checkpoint.
		line := MetricsLine{Epoch: ep, Step: t.state.Step, LRHead: lrHead, LRPred: lrPred, LRFilm: t.Cfg.FilmLR}
		if t.Model.Film != nil {
			line.Gates = t.Model.Film.Gates(t.E)
		}
		if n := float64(t.state.NumLoss); n > 0 {
			line.TrainLoss, line.TrainTrajLoss, line.TrainLatentLoss = t.state.SumLoss/n, t.state.SumTraj/n, t.state.SumLatent/n
		}
		t.state.SumLoss, t.state.SumTraj, t.state.SumLatent, t.state.NumLoss = 0, 0, 0, 0
		line.ValADE, line.ValFDE, line.ValAcc = math.NaN(), math.NaN(), math.NaN()
		if valSet != nil && valSet.Len() > 0 {
			m, h, err := ValidateHealth(t.E, t.Model, valSet, bs)
			if err != nil {
				return fmt.Errorf("validation after epoch %d: %w", ep, err)
			}
			line.ValADE, line.ValFDE, line.ValAcc, line.ValLatent = m.ADE, m.FDE, m.Acc, h.MSE
			line.ValLatentCopyLast, line.ValLatentSpread = h.CopyLastMSE, h.Spread
			if why := DetectCollapse(ep, h); why != "" {
				line.Collapse = why
				slog.Warn("the predictor looks collapsed", "epoch", ep+1, "why", why)
			}
		}
		t.state.Epoch++
		t.state.Batch = 0
		t.state.ElapsedS = elapsed0 + time.Since(start).Seconds()
		line.TimeS = t.state.ElapsedS
		// State.BestADE holds the selection metric: the ADE, or the latent MSE for the
		// latent_anomaly task.
		sel := line.ValADE
		if t.Cfg.LatentOnly {
			sel = math.NaN()
			if valSet != nil && valSet.Len() > 0 {
				sel = line.ValLatent
			}
		}
		improved := !math.IsNaN(sel) && sel < t.state.BestADE
		if improved {
			t.state.BestADE, t.state.BestEpoch = sel, ep
		}
		if err := t.appendMetrics(line); err != nil {
			return err
		}
		if improved {
			if err := t.save(BestName); err != nil {
				return err
			}
		}
		if err := t.save(LatestName); err != nil {
			return err
		}
		slog.Info("epoch", "epoch", ep+1, "train_loss", line.TrainLoss, "train_traj", line.TrainTrajLoss, "train_latent", line.TrainLatentLoss, "val_latent", line.ValLatent, "val_ade", line.ValADE, "val_fde", line.ValFDE, "val_acc", line.ValAcc, "steps", stepsThisRun)
	}
	return nil
}

// clip applies the configured gradient clipping (global or per group).
func (t *Trainer) clip() error {
	if !t.Cfg.ClipPerGroup {
		_, err := ClipGradNorm(t.E, t.Cfg.ClipNorm, t.groups()...)
		return err
	}
	for _, g := range t.groups() {
		if _, err := ClipGradNorm(t.E, t.Cfg.ClipNorm, g); err != nil {
			return fmt.Errorf("group %s: %w", g.Name, err)
		}
	}
	return nil
}

// Validate scores the model on a dataset with ThinkJEPA's metrics (package eval).
func Validate(e nn.Engine, m *Model, ds Dataset, bs int) (eval.Metrics, error) {
	met, _, err := ValidateWithLatent(e, m, ds, bs)
	return met, err
}

// ValidateWithLatent is Validate plus the latent loss on the dataset: the MSE of the
// predicted future latents against the encoder's (model-spec §4.7, the training loss's
// latent term, in the units the model is trained in).
func ValidateWithLatent(e nn.Engine, m *Model, ds Dataset, bs int) (eval.Metrics, float64, error) {
	met, h, err := ValidateHealth(e, m, ds, bs)
	return met, h.MSE, err
}

// ValidateHealth is Validate plus the latent health of the predictions (latent MSE,
// the copy-last-frame MSE and the within-clip spread; see DetectCollapse).
func ValidateHealth(e nn.Engine, m *Model, ds Dataset, bs int) (eval.Metrics, LatentHealth, error) {
	var all eval.Batch
	var st latentStats
	for i := 0; i < ds.Len(); i += bs {
		idx := make([]int, 0, bs)
		for j := i; j < min(i+bs, ds.Len()); j++ {
			idx = append(idx, j)
		}
		b, err := ds.Batch(idx)
		if err != nil {
			return eval.Metrics{}, LatentHealth{}, err
		}
		world, lat, err := m.Predict(e, b)
		if err != nil {
			return eval.Metrics{}, LatentHealth{}, err
		}
		st.add(lat, b.Target, b.Ctx, b.B, b.Tc, b.Tf, b.P, b.D)
		all.B += b.B
		all.T, all.J = b.Steps(), b.J
		all.Pred = append(all.Pred, world...)
		all.GT = append(all.GT, b.World...)
	}
	met, err := eval.Compute(all, eval.Options{})
	return met, st.health(), err
}

// appendMetrics rewrites metrics.jsonl atomically with the lines of completed epochs
// before this one plus the new line (so a run killed mid-epoch and resumed never logs
// an epoch twice).
func (t *Trainer) appendMetrics(line MetricsLine) error {
	path := filepath.Join(t.OutDir, MetricsName)
	var keep [][]byte
	if data, err := os.ReadFile(path); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var l MetricsLine
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Epoch < line.Epoch {
				keep = append(keep, append([]byte(nil), sc.Bytes()...))
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	b, err := marshalLine(line)
	if err != nil {
		return err
	}
	keep = append(keep, b)
	return fsutil.WriteFileAtomic(path, append(bytes.Join(keep, []byte("\n")), '\n'))
}

// marshalLine writes NaN (no validation set) as JSON null.
func marshalLine(l MetricsLine) ([]byte, error) {
	m := map[string]any{}
	raw, err := json.Marshal(struct {
		MetricsLine
		ValADE, ValFDE, ValAcc any `json:"-"`
	}{MetricsLine: sanitize(l)})
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for k, v := range map[string]float64{"val_ade": l.ValADE, "val_fde": l.ValFDE, "val_acc": l.ValAcc} {
		if math.IsNaN(v) {
			m[k] = nil
		} else {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

func sanitize(l MetricsLine) MetricsLine {
	if math.IsNaN(l.ValADE) {
		l.ValADE, l.ValFDE, l.ValAcc = 0, 0, 0
	}
	return l
}

// versions is recorded in every checkpoint.
func versions() buildinfo.Info { return buildinfo.Get() }
