package train

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/thinkjepa/thinkjepa/nn"
	"github.com/thinkjepa/thinkjepa/weights"
)

// Training checkpoints are our weight format (package weights: one safetensors file,
// written atomically, with config and provenance in its metadata):
//
//	tj_predictor.<name>            predictor and guidance-bank tensors (PyTorch names)
//	head.<name>                    trajectory-head tensors
//	opt.<group>.m.<prefixed name>  AdamW first moments (group: head, pred, film when
//	                               film_lr gives the guidance bank its own group)
//	opt.<group>.v.<prefixed name>  AdamW second moments
//	latent_whitening.{mean,w}      the latent whitening (runs with sample.whiten)
//	latent_standardization.*       μ and 1/σ per token and channel (sample.standardize)
//
// and the config JSON {"kind": "thinkjepa_train", "run", "dims", "train_state"}, where
// train_state holds the position (epoch, batch, step, group steps, running loss sums,
// best ADE, seed). That is everything needed to continue exactly; the clip order is a
// pure function of (seed, epoch).
type ckptState struct {
	State
	GroupSteps map[string]int `json:"group_steps"`
	BestADE    *float64       `json:"best_ade"`
}

type ckptConfig struct {
	Kind       string          `json:"kind"`
	Run        json.RawMessage `json:"run"`
	Dims       Dims            `json:"dims"`
	TrainState *ckptState      `json:"train_state"`
}

const ckptKind = "thinkjepa_train"

// Checkpoint keys of the latent whitening (runs with sample.whiten).
const (
	whitenMeanKey   = "latent_whitening.mean"
	whitenWKey      = "latent_whitening.w"
	standardMeanKey = "latent_standardization.mean"
	standardInvKey  = "latent_standardization.inv_std"
)

func groupPrefix(g *Group) string {
	if g.Name == "head" {
		return weights.PrefixTrajectHead
	}
	return weights.PrefixThinkJEPA
}

func (t *Trainer) save(name string) error {
	c := &weights.Checkpoint{Tensors: map[string]*weights.Tensor{}}
	add := func(name string, shape []int, data []float32) error {
		if _, dup := c.Tensors[name]; dup {
			return fmt.Errorf("checkpoint: tensor %q appears twice", name)
		}
		c.Tensors[name] = &weights.Tensor{Name: name, Shape: append([]int(nil), shape...), Data: data}
		return nil
	}
	steps := map[string]int{}
	for _, g := range t.groups() {
		steps[g.Name] = g.Step
		pre := groupPrefix(g)
		for i, p := range g.Params {
			if err := add(pre+p.Name, p.Shape, t.E.ToHost(p.W)); err != nil {
				return err
			}
			if err := add("opt."+g.Name+".m."+pre+p.Name, p.Shape, t.E.ToHost(g.M[i])); err != nil {
				return err
			}
			if err := add("opt."+g.Name+".v."+pre+p.Name, p.Shape, t.E.ToHost(g.V[i])); err != nil {
				return err
			}
		}
	}
	switch lm := t.Model.LatentMap.(type) {
	case *LatentWhitening:
		if err := add(whitenMeanKey, []int{lm.D}, lm.Mean); err != nil {
			return err
		}
		if err := add(whitenWKey, []int{lm.D, lm.D}, lm.W); err != nil {
			return err
		}
	case *LatentStandardization:
		if err := add(standardMeanKey, []int{lm.P, lm.D}, lm.Mean); err != nil {
			return err
		}
		if err := add(standardInvKey, []int{lm.P, lm.D}, lm.Inv); err != nil {
			return err
		}
	}
	cs := &ckptState{State: t.state, GroupSteps: steps}
	if !math.IsInf(t.state.BestADE, 0) {
		v := t.state.BestADE
		cs.BestADE = &v
	}
	cs.State.BestADE = 0 // JSON has no +Inf; carried by the pointer
	cc := ckptConfig{Kind: ckptKind, TrainState: cs}
	if sr, ok := t.RunConfig.(savedRun); ok {
		run, err := json.Marshal(sr.Run)
		if err != nil {
			return err
		}
		cc.Run, cc.Dims = run, sr.Dims
	}
	raw, err := json.Marshal(cc)
	if err != nil {
		return fmt.Errorf("checkpoint config: %w", err)
	}
	c.Config = raw
	c.Provenance = weights.NewProvenance("thinkjepa train", "", "train")
	c.Provenance.Notes = []string{fmt.Sprintf("seed %d, epoch %d, step %d", t.state.Seed, t.state.Epoch, t.state.Step)}
	path := filepath.Join(t.OutDir, name)
	if err := c.Save(path); err != nil {
		return fmt.Errorf("writing checkpoint %s: %w", path, err)
	}
	return nil
}

func readCkpt(path string) (*weights.Checkpoint, *ckptConfig, error) {
	c, err := weights.Load(path)
	if err != nil {
		return nil, nil, err
	}
	var cc ckptConfig
	if err := json.Unmarshal(c.Config, &cc); err != nil || cc.Kind != ckptKind {
		return nil, nil, fmt.Errorf("%s: not a thinkjepa training checkpoint (config kind %q, %v)", path, cc.Kind, err)
	}
	return c, &cc, nil
}

// checkCkptFits refuses a checkpoint whose stored config asks for more parameters than
// the checkpoint holds, before BuildModel allocates them: the config is read from the
// file, and a corrupt width or depth must be an error, not an out-of-memory kill. The
// counts are lower bounds of what each part allocates, so a real checkpoint always fits.
func checkCkptFits(c *weights.Checkpoint, rc *RunConfig, dims Dims) error {
	var pred, film, head float64
	for name, t := range c.Tensors {
		n := float64(len(t.Data))
		switch {
		case strings.HasPrefix(name, weights.PrefixThinkJEPA+"guidance_"):
			film += n
		case strings.HasPrefix(name, weights.PrefixThinkJEPA):
			pred += n
		case strings.HasPrefix(name, weights.PrefixTrajectHead):
			head += n
		}
	}
	p := rc.Predictor
	d, hd := float64(p.PredictorEmbedDim), float64(rc.Head.Hidden)
	if hd == 0 {
		hd = float64(p.EmbedDim)
	}
	for _, part := range []struct {
		what        string
		need, store float64
	}{
		{"predictor (depth × 4·predictor_embed_dim²)", float64(p.Depth) * 4 * d * d, pred},
		{"trajectory head (hidden × embed_dim + 2·hidden²)", hd*float64(p.EmbedDim) + 2*hd*hd, head},
	} {
		if part.need > part.store {
			return fmt.Errorf("run config asks for at least %.0f %s parameters but the checkpoint holds %.0f: corrupt config?", part.need, part.what, part.store)
		}
	}
	if rc.Mode.Guided() {
		if need := 2 * d * float64(dims.VLMDim); need > film || float64(rc.Film.Hidden) > film {
			return fmt.Errorf("run config asks for a guidance bank of at least %.0f parameters (vlm_dim %d, film hidden %d) but the checkpoint holds %.0f: corrupt config?",
				need, dims.VLMDim, rc.Film.Hidden, film)
		}
	}
	return nil
}

func loadInto(e nn.Engine, c *weights.Checkpoint, path, key string, dst *nn.Tensor, shape []int) error {
	t, err := c.Get(key, shape...)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for i, v := range t.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s: %s is not finite at element %d", path, key, i)
		}
	}
	src := e.FromHost(t.Data, shape...)
	e.CopyInto(dst, src)
	e.Free(src)
	return nil
}

// LoadModelParams copies the weights of a training checkpoint into a model.
func LoadModelParams(e nn.Engine, path string, m *Model) error {
	c, _, err := readCkpt(path)
	if err != nil {
		return err
	}
	sets := map[string]*nn.ParamSet{weights.PrefixThinkJEPA: m.Pred.Params(), weights.PrefixTrajectHead: m.Head.Params}
	if m.Film != nil {
		if err := loadSet(e, c, path, weights.PrefixThinkJEPA, m.Film.Params); err != nil {
			return err
		}
	}
	for pre, ps := range sets {
		if err := loadSet(e, c, path, pre, ps); err != nil {
			return err
		}
	}
	return nil
}

func loadSet(e nn.Engine, c *weights.Checkpoint, path, pre string, ps *nn.ParamSet) error {
	for _, p := range ps.List() {
		if err := loadInto(e, c, path, pre+p.Name, p.W, p.Shape); err != nil {
			return err
		}
	}
	return nil
}

// Resume restores weights, optimiser moments and position from a checkpoint written by
// this trainer (normally OutDir/latest.safetensors).
func (t *Trainer) Resume(path string) error {
	c, cc, err := readCkpt(path)
	if err != nil {
		return err
	}
	if cc.TrainState == nil {
		return fmt.Errorf("%s: no training state", path)
	}
	for _, g := range t.groups() {
		if _, ok := cc.TrainState.GroupSteps[g.Name]; !ok {
			return fmt.Errorf("%s: no optimiser group %q (was the run started with a different film_lr?)", path, g.Name)
		}
		pre := groupPrefix(g)
		for i, p := range g.Params {
			for _, kv := range []struct {
				key string
				dst *nn.Tensor
			}{{pre + p.Name, p.W}, {"opt." + g.Name + ".m." + pre + p.Name, g.M[i]}, {"opt." + g.Name + ".v." + pre + p.Name, g.V[i]}} {
				if err := loadInto(t.E, c, path, kv.key, kv.dst, p.Shape); err != nil {
					return err
				}
			}
		}
	}
	cs := cc.TrainState
	if cs.Seed != t.Cfg.Seed {
		return fmt.Errorf("%s: checkpoint seed %d differs from the configured seed %d", path, cs.Seed, t.Cfg.Seed)
	}
	t.state = cs.State
	t.state.BestADE = math.Inf(1)
	if cs.BestADE != nil {
		t.state.BestADE = *cs.BestADE
	}
	for _, g := range t.groups() {
		g.Step = cs.GroupSteps[g.Name]
	}
	return nil
}
