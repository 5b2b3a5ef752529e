package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/thinkjepa/thinkjepa/internal/npy"
)

// TestBadInputSweep runs every subcommand on a missing file, a file of the wrong type and
// bad flag values. Each must fail with a non-zero exit and a one-line error naming the
// file, flag or field, and never crash (panic, runtime fatal error, stack trace).
func TestBadInputSweep(t *testing.T) {
	_, synth := thinkjepaBin(t)
	F := t.TempDir()
	f := func(name string) string { return filepath.Join(F, name) }
	for name, body := range map[string]string{
		"bad.json": "not json", "empty.json": "{}", "arr.json": "[1, 2]", "garbage.npz": "PK\x03\x04 truncated",
		"garbage.hdf5": "garbage", "garbage.npy": "garbage", "garbage.safetensors": "garbage", "garbage.pt": "garbage",
		"metrics.jsonl": "not json\n",
	} {
		if err := os.WriteFile(f(name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(f("emptydir"), 0o755)
	if err := npy.WriteNPYFile(f("wrongshape.npy"), npy.FromFloat32(make([]float32, 6), 2, 3)); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteNPYFile(f("gt.npy"), npy.FromFloat32(make([]float32, 2*8*52*3), 2, 8, 52, 3)); err != nil {
		t.Fatal(err)
	}
	episode := filepath.Join(synth, "part1", "basic_pick_place", "0.hdf5")
	// Well-formed files of the wrong kind for most commands.
	for _, args := range [][]string{
		{"weights", "init", "--arch", "demo", "--out", f("enc.safetensors")},
		{"data", "clip", episode, "--size", "32", "--frames", "8", "--out", f("clips/c.npz")},
		{"thinker", "standin", "--data", f("clips"), "--out", f("thinker"), "--hidden", "8"},
		{"baseline", "--kind", "stationary", "--data", f("clips"), "--out", f("preds")},
	} {
		if args[1] == "clip" {
			os.MkdirAll(f("clips"), 0o755)
		}
		if _, e, rc := runBin(t, F, args...); rc != 0 {
			t.Fatalf("fixture %q: rc %d\n%s", args, rc, e)
		}
	}
	cache := f("thinker/c.npz")
	tiny := filepath.Join("..", "..", "testdata", "golden", "released_tiny", "vjepa2_tiny.pt")
	tiny, _ = filepath.Abs(tiny)

	type tc struct {
		args []string
		want string // must appear on one line of the output
	}
	cases := []tc{
		{[]string{"help", "nope"}, `unknown command "nope"`},
		{[]string{"version", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"version", "--json=maybe"}, `invalid boolean value "maybe" for -json`},

		{[]string{"data", "inspect"}, "expected one PATH"},
		{[]string{"data", "inspect", f("missing")}, "missing: no such file"},
		{[]string{"data", "inspect", f("garbage.hdf5")}, "garbage.hdf5: not a readable HDF5 file"},
		{[]string{"data", "inspect", f("garbage.npz")}, "garbage.npz: not a readable .npz"},
		{[]string{"data", "inspect", f("bad.json")}, "bad.json: malformed JSON"},
		{[]string{"data", "inspect", f("empty.json")}, "empty.json: field dataset"},
		{[]string{"data", "inspect", cache}, `c.npz: missing key "frames"`},
		{[]string{"data", "inspect", f("emptydir")}, "emptydir: no episodes found"},
		{[]string{"data", "inspect", synth, "--limit", "x"}, `invalid value "x" for flag -limit`},
		{[]string{"data", "inspect", synth, "--limit", "-1"}, "--limit must be ≥ 0"},

		{[]string{"data", "clip", f("missing.hdf5"), "--out", f("o.npz")}, "missing.hdf5"},
		{[]string{"data", "clip", f("garbage.hdf5"), "--out", f("o.npz")}, "garbage.hdf5: not a readable HDF5 file"},
		{[]string{"data", "clip", "--root", f("bad.json"), "x", "--out", f("o.npz")}, "bad.json: malformed JSON"},
		{[]string{"data", "clip", "--root", synth, "nope", "--out", f("o.npz")}, `episode "nope" not found`},
		{[]string{"data", "clip", episode}, "--out is required"},
		{[]string{"data", "clip", episode, "--out", f("clips/c.npz")}, "clips/c.npz"}, // exists, no --overwrite
		{[]string{"data", "clip", episode, "--out", f("o.npz"), "--frames", "1"}, "--frames must be in 2..4096"},
		{[]string{"data", "clip", episode, "--out", f("o.npz"), "--frames", "9999999"}, "--frames must be in 2..4096"},
		{[]string{"data", "clip", episode, "--out", f("o.npz"), "--stride", "0"}, "--stride must be ≥ 1"},
		{[]string{"data", "clip", episode, "--out", f("o.npz"), "--sampler", "nope"}, `unknown sampler "nope"`},
		{[]string{"data", "clip", episode, "--out", f("o.npz"), "--size", "99999"}, "--size must be in 1..4096"},
		{[]string{"data", "clip", episode, "--out", f("o.npz"), "--sampler", "window", "--start", "100000"}, "needs frames 100000"},

		{[]string{"data", "split", f("missing"), "--out", f("s.json")}, "missing: no such file"},
		{[]string{"data", "split", f("bad.json"), "--out", f("s.json")}, "bad.json: malformed JSON"},
		{[]string{"data", "split", f("arr.json"), "--out", f("s.json")}, "arr.json: malformed JSON"},
		{[]string{"data", "split", f("garbage.npz"), "--out", f("s.json")}, "expected a directory or a manifest .json"},
		{[]string{"data", "split", synth, "--out", f("s.json"), "--train-ratio", "2"}, "train ratio 2, expected 0 < r < 1"},
		{[]string{"data", "split", synth, "--out", f("s.json"), "--train-ratio", "NaN"}, "train ratio NaN"},
		{[]string{"data", "split", synth, "--out", f("s.json"), "--method", "x"}, `unknown --method "x"`},
		{[]string{"data", "split", synth, "--out", f("s.json"), "--group-by", "x"}, `unknown group_by "x"`},
		{[]string{"data", "split", synth, "--out", f("s.json"), "--seed", "-1"}, `invalid value "-1" for flag -seed`},

		{[]string{"synth"}, "--out is required"},
		{[]string{"synth", "--out", f("syn"), "--episodes", "0"}, "--episodes must be ≥ 1"},
		{[]string{"synth", "--out", f("syn"), "--width", "15"}, "--width and --height must be even"},
		{[]string{"synth", "--out", f("syn"), "--egoexo", "-1"}, "--egoexo must be ≥ 0"},
		{[]string{"synth", "--out", f("syn"), "--workers", "0"}, "--workers must be ≥ 1"},
		{[]string{"synth", "--out", synth}, "already holds a synthetic set"},
		{[]string{"synth", "--out", f("syn"), "--anomalies", "-0.5"}, "--anomalies must be a rate in [0, 10]"},
		{[]string{"synth", "--out", f("syn"), "--anomalies", "0.1", "--anomaly-kinds", "jump,wobble"}, `unknown kind "wobble"`},
		{[]string{"synth", "--out", f("syn"), "--anomalies", "0.1", "--anomaly-kinds", " , "}, "--anomaly-kinds is empty"},

		{[]string{"encode", "--input", f("clips"), "--out", f("feats")}, "--weights is required"},
		{[]string{"encode", "--weights", f("missing"), "--input", f("clips"), "--out", f("feats")}, "missing: no such file"},
		{[]string{"encode", "--weights", f("garbage.safetensors"), "--input", f("clips"), "--out", f("feats")}, "garbage.safetensors"},
		{[]string{"encode", "--weights", f("clips/c.npz"), "--input", f("clips"), "--out", f("feats")}, "c.npz"},
		{[]string{"encode", "--weights", f("enc.safetensors"), "--input", f("missing"), "--out", f("feats")}, "--input: stat"},
		{[]string{"encode", "--weights", f("enc.safetensors"), "--input", cache, "--out", f("f.npy")}, `c.npz: missing key "frames"`},
		{[]string{"encode", "--weights", f("enc.safetensors"), "--input", f("wrongshape.npy"), "--out", f("f.npy")}, "wrongshape.npy: shape [2 3], expected [T,H,W,3]"},
		{[]string{"encode", "--weights", f("enc.safetensors"), "--input", f("garbage.npy"), "--out", f("f.npy")}, "garbage.npy"},
		{[]string{"encode", "--weights", f("enc.safetensors"), "--input", f("bad.json"), "--out", f("feats")}, "bad.json: malformed JSON"},
		{[]string{"encode", "--weights", f("enc.safetensors"), "--input", f("clips"), "--out", f("feats"), "--shard", "2/2"}, `invalid value "2/2" for flag -shard`},
		{[]string{"encode", "--weights", f("enc.safetensors"), "--input", f("clips"), "--out", f("feats"), "--batch", "0"}, "--batch must be ≥ 1"},
		{[]string{"encode", "--weights", f("enc.safetensors"), "--input", f("clips"), "--out", f("feats"), "--frames", "3"}, "--frames must be even"},

		{[]string{"weights", "inspect"}, "expected one FILE"},
		{[]string{"weights", "inspect", f("missing")}, "missing: no such file"},
		{[]string{"weights", "inspect", f("garbage.pt")}, "garbage.pt: not a PyTorch zip checkpoint"},
		{[]string{"weights", "inspect", f("garbage.safetensors")}, "garbage.safetensors"},
		{[]string{"weights", "import", "--from", f("missing"), "--out", f("w.safetensors")}, "missing: no such file"},
		{[]string{"weights", "import", "--from", f("garbage.pt"), "--out", f("w.safetensors")}, "garbage.pt"},
		{[]string{"weights", "import", "--from", f("clips/c.npz"), "--out", f("w.safetensors")}, "c.npz"},
		{[]string{"weights", "import", "--from", tiny, "--out", f("w.safetensors"), "--arch", f("bad.json")}, "bad.json"},
		{[]string{"weights", "import", "--from", tiny, "--out", f("w.safetensors"), "--arch", f("missing")}, "--arch"},
		{[]string{"weights", "import", "--from", tiny, "--out", f("w.safetensors"), "--heads", "x"}, `invalid value "x" for flag -heads`},
		{[]string{"weights", "convert", "--from", f("enc.safetensors"), "--out", f("c.safetensors"), "--to", "zz"}, `--to must be hf, ours, fp32 or fp16, got "zz"`},
		{[]string{"weights", "convert", "--from", f("missing"), "--out", f("c.safetensors"), "--to", "fp16"}, "missing"},
		{[]string{"weights", "convert", "--from", f("garbage.safetensors"), "--out", f("c.safetensors"), "--to", "hf"}, "garbage.safetensors"},
		{[]string{"weights", "init", "--arch", f("empty.json"), "--out", f("i.safetensors")}, "embed_dim must be positive, got 0"},
		{[]string{"weights", "init", "--arch", f("arr.json"), "--out", f("i.safetensors")}, "arr.json"},
		{[]string{"weights", "init", "--arch", f("missing"), "--out", f("i.safetensors")}, "missing"},
		{[]string{"weights", "init", "--out", f("enc.safetensors")}, "enc.safetensors"}, // exists

		{[]string{"train"}, "--config is required"},
		{[]string{"train", "--config", f("missing")}, "missing: no such file"},
		{[]string{"train", "--config", f("bad.json")}, "bad.json"},
		{[]string{"train", "--config", f("arr.json")}, "arr.json"},
		{[]string{"train", "--config", f("clips/c.npz")}, "c.npz"},
		{[]string{"train", "--config", f("empty.json"), "--epochs", "x"}, `invalid value "x" for flag -epochs`},
		{[]string{"train", "--config", f("empty.json")}, `empty.json: "out" (the run folder) is empty`},
		{[]string{"train", "--config", f("empty.json"), "--task", "nope"}, `empty.json: run config: unknown task "nope"`},
		{[]string{"train", "--config", f("arr.json"), "--task", "latent_anomaly"}, "arr.json: run config"},

		{[]string{"forecast", "--data", f("clips"), "--out", f("p")}, "--ckpt is required"},
		{[]string{"forecast", "--ckpt", f("missing"), "--data", f("clips"), "--out", f("p")}, "missing"},
		{[]string{"forecast", "--ckpt", f("garbage.safetensors"), "--data", f("clips"), "--out", f("p")}, "garbage.safetensors"},
		{[]string{"forecast", "--ckpt", f("enc.safetensors"), "--data", f("clips"), "--out", f("p")}, "enc.safetensors: not a thinkjepa training checkpoint"},
		{[]string{"forecast", "--ckpt", f("enc.safetensors"), "--data", f("clips"), "--out", f("p"), "--shard", "x"}, `invalid value "x" for flag -shard`},
		{[]string{"forecast", "--ckpt", f("enc.safetensors"), "--data", f("clips"), "--out", f("p"), "--horizons", "4,x"}, `--horizons: horizon "x"`},
		{[]string{"forecast", "--ckpt", f("enc.safetensors"), "--data", f("clips"), "--out", f("p"), "--batch", "0"}, "--batch must be ≥ 1"},

		{[]string{"anomaly", "--features", f("clips"), "--out", f("an")}, "--ckpt is required"},
		{[]string{"anomaly", "--baseline", "mean", "--features", f("clips"), "--out", f("an")}, `--baseline must be frame-diff or copy-last, got "mean"`},
		{[]string{"anomaly", "--baseline", "frame-diff", "--features", f("clips"), "--out", f("an")}, "--baseline without --ckpt needs --past and --future ≥ 1"},
		{[]string{"anomaly", "--baseline", "frame-diff", "--ckpt", f("enc.safetensors"), "--past", "4", "--features", f("clips"), "--out", f("an")}, "--past/--future are taken from --ckpt"},
		{[]string{"anomaly", "--ckpt", f("missing"), "--features", f("clips"), "--out", f("an")}, "missing"},
		{[]string{"anomaly", "--ckpt", f("enc.safetensors"), "--features", f("clips"), "--out", f("an")}, "enc.safetensors: not a thinkjepa training checkpoint"},
		{[]string{"anomaly", "--ckpt", f("enc.safetensors"), "--features", f("clips"), "--out", f("an"), "--fpr", "1"}, "--fpr must be in [0, 1)"},
		{[]string{"anomaly", "--ckpt", f("enc.safetensors"), "--features", f("clips"), "--out", f("an"), "--stride", "-1"}, "--stride must be ≥ 0"},
		{[]string{"anomaly", "--ckpt", f("enc.safetensors"), "--features", f("clips"), "--out", f("an"), "--threshold", "NaN"}, "--threshold must be finite"},
		{[]string{"anomaly", "--ckpt", f("enc.safetensors"), "--features", f("clips"), "--out", f("an"), "--batch", "0"}, "--batch must be ≥ 1"},
		{[]string{"anomaly", "--ckpt", f("enc.safetensors"), "--features", f("clips"), "--out", f("an"), "--embed", "tsne"}, `--embed must be abs_error, signed_error, target, concat or none, got "tsne"`},
		{[]string{"anomaly", "--ckpt", f("enc.safetensors"), "--features", f("clips"), "--out", f("an"), "--shard", "1/1"}, `invalid value "1/1" for flag -shard`},
		{[]string{"anomaly", "--ckpt", f("enc.safetensors"), "--features", f("clips"), "--out", f("an"), "--embed-method", "umap"}, `--embed-method must be tsne or pca, got "umap"`},
		{[]string{"anomaly", "--ckpt", f("enc.safetensors"), "--features", f("clips"), "--out", f("an"), "--perplexity", "0"}, "--perplexity must be positive and finite"},
		{[]string{"anomaly", "--ckpt", f("enc.safetensors"), "--features", f("clips"), "--out", f("an"), "--embed-max", "1"}, "--embed-max must be ≥ 2"},
		{[]string{"anomaly", "merge"}, "--out is required"},
		{[]string{"anomaly", "merge", "--out", f("missing")}, "missing"},
		{[]string{"anomaly", "merge", "--out", f("emptydir")}, "no shard summaries"},

		{[]string{"baseline", "--kind", "stationary", "--out", f("bp")}, "--data is required"},
		{[]string{"baseline", "--kind", "nope", "--data", f("clips"), "--out", f("bp")}, `unknown baseline "nope"`},
		{[]string{"baseline", "--kind", "stationary", "--data", f("missing"), "--out", f("bp")}, "missing: no such file"},
		{[]string{"baseline", "--kind", "stationary", "--data", f("thinker"), "--out", f("bp")}, `c.npz: missing key "frames"`},
		{[]string{"baseline", "--kind", "stationary", "--data", f("bad.json"), "--out", f("bp")}, "bad.json: malformed JSON"},
		{[]string{"baseline", "--kind", "stationary", "--data", f("clips"), "--out", f("bp"), "--T", "1"}, "--T must be in 2..4096"},
		{[]string{"baseline", "--kind", "constant-velocity", "--data", f("clips"), "--out", f("preds")}, `holds predictions of "baseline-stationary"`},

		{[]string{"eval"}, "--pred is required"},
		{[]string{"eval", "--pred", f("missing")}, "missing: no such file"},
		{[]string{"eval", "--pred", f("clips")}, "clips: no predictions"},
		{[]string{"eval", "--pred", f("bad.json")}, "bad.json is neither a prediction folder nor a .npy file"},
		{[]string{"eval", "--pred", f("wrongshape.npy"), "--gt", f("gt.npy")}, "wrongshape.npy (pred): shape [2 3]"},
		{[]string{"eval", "--pred", f("gt.npy"), "--gt", f("garbage.npy")}, "garbage.npy"},
		{[]string{"eval", "--pred", f("preds"), "--thr", "-1"}, "--thr must be positive"},
		{[]string{"eval", "--pred", f("preds"), "--thr", "NaN"}, "--thr must be positive"},
		{[]string{"eval", "--pred", f("preds"), "--horizons", "x"}, `--horizons: horizon "x"`},
		{[]string{"eval", "--pred", f("preds"), "--subset", "x"}, `unknown joint subset "x"`},

		{[]string{"report", "--out", f("r")}, "at least one --run and --out are required"},
		{[]string{"report", "--run", "bad", "--out", f("r")}, `invalid value "bad" for flag -run: want NAME=PATH`},
		{[]string{"report", "--run", "a=" + f("missing"), "--out", f("r")}, "missing: no such file"},
		{[]string{"report", "--run", "a=" + f("clips"), "--out", f("r")}, "clips: no predictions"},
		{[]string{"report", "--run", "a=" + f("preds"), "--metrics", "m=" + f("clips/c.npz"), "--out", f("r")}, "c.npz"},
		{[]string{"report", "--run", "a=" + f("preds"), "--out", f("r"), "--clips", "-1"}, "--clips non-negative"},

		{[]string{"thinker", "check", f("missing")}, "missing: no such file"},
		{[]string{"thinker", "check", f("clips")}, `missing key "vlm_old"`},
		{[]string{"thinker", "check", f("garbage.npz")}, "garbage.npz: not a readable .npz"},
		{[]string{"thinker", "check", f("thinker"), "--capacity", "5"}, `--capacity "5": expected OLD,NEW`},
		{[]string{"thinker", "standin", "--data", f("missing"), "--out", f("th")}, "missing: no such file"},
		{[]string{"thinker", "standin", "--data", f("garbage.npz"), "--out", f("th")}, "garbage.npz: not a readable .npz"},
		{[]string{"thinker", "standin", "--data", f("clips"), "--out", f("th"), "--hidden", "0"}, "--hidden must be positive"},

		{[]string{"bench", "--threads", "0"}, `--threads "0"`},
		{[]string{"bench", "--configs", "nope"}, `unknown config "nope"`},
		{[]string{"bench", "--repeats", "0"}, "--repeats must be ≥ 1"},
	}

	covered := map[string]bool{}
	for _, c := range cases {
		if cmd, _ := lookup(c.args); cmd != nil {
			covered[cmd.name] = true
		}
	}
	var missing []string
	for name := range commands {
		if !covered[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("commands without a bad-input case: %v", missing)
	}

	for _, c := range cases {
		stdout, stderr, rc := runBin(t, F, c.args...)
		all := stdout + stderr
		name := strings.Join(c.args, " ")
		for _, crash := range []string{"panic:", "goroutine ", "fatal error:", "runtime error", "[signal "} {
			if strings.Contains(all, crash) {
				t.Errorf("thinkjepa %s: crashed (%q):\n%s", name, crash, all)
			}
		}
		if rc == 0 {
			t.Errorf("thinkjepa %s: exit 0, want a failure\n%s", name, all)
			continue
		}
		found := false
		for _, line := range strings.Split(all, "\n") {
			if strings.Contains(line, c.want) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("thinkjepa %s: rc %d, no line contains %q:\n%s", name, rc, c.want, all)
		}
	}
}
