package train

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/nn/cpu"
	"github.com/thinkjepa/thinkjepa/weights"
)

// FuzzRunConfig: any bytes as run.json never panic ParseRunConfig, and a config it accepts
// has a predictor config that validates or is refused with an error.
func FuzzRunConfig(f *testing.F) {
	dir := f.TempDir()
	rc := toyRun(f, dir, ModeThinkJEPA, 1)
	b, err := json.Marshal(rc)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"mode": "jepa-only", "predictor": {"depth": 1000000000, "predictor_embed_dim": 1e9, "drop_rate": NaN}}`))
	f.Add([]byte(`{"mode": "thinkjepa", "head": {"dropout": -0}, "loop": {"epochs": -1, "batch_size": 0}, "film": {"hidden": -5}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rc, err := ParseRunConfig(b)
		if err != nil {
			return
		}
		rc.Predictor.Validate()
	})
}

// FuzzTrainCheckpoint: a training checkpoint whose stored config (run + dims) is replaced
// by arbitrary JSON never panics LoadModel, and a config asking for more parameters than
// the file holds is refused before anything is allocated (a width of 10⁹ would otherwise
// kill the process).
func FuzzTrainCheckpoint(f *testing.F) {
	dir := f.TempDir()
	rc := toyRun(f, dir, ModeThinkJEPA, 1)
	e := cpu.New()
	if err := Train(e, rc, false, false); err != nil {
		f.Fatal(err)
	}
	seed, err := weights.Load(filepath.Join(rc.Out, BestName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(seed.Config))
	var cfg map[string]any
	if err := json.Unmarshal(seed.Config, &cfg); err != nil {
		f.Fatal(err)
	}
	run := cfg["run"].(map[string]any)
	pred := run["predictor"].(map[string]any)
	for _, mut := range []func(){
		func() { pred["predictor_embed_dim"] = 1 << 30 },
		func() { pred["depth"] = 1000 },
		func() { run["head"].(map[string]any)["hidden"] = 1 << 30 },
		func() { cfg["dims"] = map[string]any{"vlm_dim": 1 << 40} },
	} {
		mut()
		b, _ := json.Marshal(cfg)
		f.Add(b)
	}
	p := filepath.Join(dir, "f.safetensors")
	f.Fuzz(func(t *testing.T, config []byte) {
		if !json.Valid(config) {
			return // Save refuses it; Load's own check is covered by weights.FuzzSafetensors
		}
		c := &weights.Checkpoint{Tensors: seed.Tensors, Config: config, Provenance: seed.Provenance}
		if err := c.Save(p); err != nil {
			t.Fatal(err)
		}
		LoadModel(e, p)
	})
}

// TestLoadModelRefusesOversizedConfig: widths and depths in a checkpoint's config that the
// stored tensors cannot back are an error naming the file, before any allocation.
func TestLoadModelRefusesOversizedConfig(t *testing.T) {
	dir := t.TempDir()
	rc := toyRun(t, dir, ModeThinkJEPA, 1)
	e := cpu.New()
	if err := Train(e, rc, false, false); err != nil {
		t.Fatal(err)
	}
	seed, err := weights.Load(filepath.Join(rc.Out, BestName))
	if err != nil {
		t.Fatal(err)
	}
	for i, mut := range []func(run, dims map[string]any){
		func(run, dims map[string]any) { run["predictor"].(map[string]any)["predictor_embed_dim"] = 1 << 20 },
		func(run, dims map[string]any) { run["predictor"].(map[string]any)["depth"] = 1000 },
		func(run, dims map[string]any) { run["head"].(map[string]any)["hidden"] = 1 << 20 },
		func(run, dims map[string]any) { dims["vlm_dim"] = 1 << 30 },
	} {
		var cfg map[string]any
		if err := json.Unmarshal(seed.Config, &cfg); err != nil {
			t.Fatal(err)
		}
		mut(cfg["run"].(map[string]any), cfg["dims"].(map[string]any))
		b, _ := json.Marshal(cfg)
		p := filepath.Join(dir, "big.safetensors")
		c := &weights.Checkpoint{Tensors: seed.Tensors, Config: b, Provenance: seed.Provenance}
		if err := c.Save(p); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadModel(e, p)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("mutation %d: err = %v, want an error naming %s", i, err, p)
		}
	}
	if _, _, err := LoadModel(e, filepath.Join(rc.Out, BestName)); err != nil {
		t.Errorf("the real checkpoint: %v", err)
	}
}
