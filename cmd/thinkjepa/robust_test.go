package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/thinkjepa/thinkjepa/weights"
)

// Kill -9, full disks and concurrent shards, on the commands that write the pipeline's
// files: `data clip` over a folder (the demo's loop), `encode`, `train` and `forecast`.
//
// For each stage an uninterrupted reference run is made first. Then, per trial, the stage's
// output is removed, the command started and killed (SIGKILL, whole process group) after a
// random delay in [0, 1.2 × the reference's duration]; every file left under a final name
// must be complete (identical to the reference's, or for train's rolling checkpoints and
// log, a valid checkpoint and a prefix of the log); then the command is rerun and its
// outputs must equal the reference's. Training outputs carry wall-clock fields
// (metrics.jsonl time_s, checkpoint train_state.elapsed_s and provenance.time): they are
// compared with those fields blanked, everything else byte for byte (tensor data included).
//
// THINKJEPA_KILL_TRIALS sets the number of kill trials per stage (default 10).

type robustStage struct {
	name string
	out  string   // output path under the work folder (a folder)
	args []string // thinkjepa arguments, or nil for the clip loop
	// rolling marks files a run rewrites as it goes (train's checkpoints and log): after
	// a kill they must be valid, not equal to the final ones.
	rolling map[string]bool
}

type robustEnv struct {
	t    *testing.T
	bin  string
	work string
	ids  []string
	ref  map[string]time.Duration
}

// clipLoop is the demo's loop: one `data clip` per episode, skipping finished clips.
func (env *robustEnv) clipLoop() *exec.Cmd {
	var sb strings.Builder
	sb.WriteString("set -e\n")
	for _, id := range env.ids {
		f := "clips/" + strings.ReplaceAll(id, "/", "_") + ".npz"
		fmt.Fprintf(&sb, "[ -f %s ] || %q data clip --root split.json --size 64 --out %s %s\n", f, env.bin, f, id)
	}
	return exec.Command("bash", "-c", sb.String())
}

func (env *robustEnv) command(s robustStage, fsizeKB int) *exec.Cmd {
	var c *exec.Cmd
	if s.args == nil {
		c = env.clipLoop()
	} else {
		c = exec.Command(env.bin, s.args...)
	}
	if fsizeKB > 0 { // a file-size limit: writes past it fail with EFBIG, as on a full disk
		c = exec.Command("bash", append([]string{"-c", fmt.Sprintf("ulimit -f %d && exec \"$@\"", fsizeKB), "bash"}, c.Args...)...)
	}
	c.Dir = env.work
	c.Env = append(os.Environ(), "THINKJEPA_NO_PROGRESS=1")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c
}

func (env *robustEnv) run(s robustStage, fsizeKB int) (string, error) {
	c := env.command(s, fsizeKB)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.String(), err
}

// killAfter starts the stage and SIGKILLs its process group after d.
func (env *robustEnv) killAfter(s robustStage, d time.Duration) {
	c := env.command(s, 0)
	if err := c.Start(); err != nil {
		env.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// finalFiles lists the files under dir that carry a final name (not a writer's temp
// file, which is dot-prefixed), relative to dir.
func finalFiles(t *testing.T, dir string) (final []string, temps int) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			temps++
			return nil
		}
		r, _ := filepath.Rel(dir, p)
		final = append(final, r)
		return nil
	})
	sort.Strings(final)
	return final, temps
}

// blankWallClock removes the wall-clock fields of training outputs (see the file comment).
func blankWallClock(t *testing.T, name string, b []byte) []byte {
	t.Helper()
	switch {
	case strings.HasSuffix(name, ".jsonl"):
		var out bytes.Buffer
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				out.WriteString("INVALID LINE: " + sc.Text() + "\n")
				continue
			}
			delete(m, "time_s")
			l, _ := json.Marshal(m)
			out.Write(append(l, '\n'))
		}
		return out.Bytes()
	case strings.HasSuffix(name, ".safetensors"):
		if len(b) < 8 {
			return b
		}
		n := int(uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24)
		if 8+n > len(b) {
			return b
		}
		var h map[string]json.RawMessage
		if json.Unmarshal(b[8:8+n], &h) != nil {
			return b
		}
		var meta map[string]string
		json.Unmarshal(h["__metadata__"], &meta)
		for key, field := range map[string][]string{"config": {"train_state", "elapsed_s"}, "provenance": {"time"}} {
			var m map[string]any
			if json.Unmarshal([]byte(meta[key]), &m) != nil {
				continue
			}
			if len(field) == 2 {
				if ts, ok := m[field[0]].(map[string]any); ok {
					delete(ts, field[1])
				}
			} else {
				delete(m, field[0])
			}
			s, _ := json.Marshal(m)
			meta[key] = string(s)
		}
		mb, _ := json.Marshal(meta)
		h["__metadata__"] = mb
		hb, _ := json.Marshal(h)
		return append(hb, b[8+n:]...)
	}
	return b
}

// sameAsRef compares one output file with the reference's.
func sameAsRef(t *testing.T, s robustStage, rel, got, want string) error {
	t.Helper()
	a, err1 := os.ReadFile(got)
	b, err2 := os.ReadFile(want)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("%s: %v %v", rel, err1, err2)
	}
	if s.name == "train" {
		a, b = blankWallClock(t, rel, a), blankWallClock(t, rel, b)
	}
	if !bytes.Equal(a, b) {
		return fmt.Errorf("%s differs from the uninterrupted run's (%d vs %d bytes)", rel, len(a), len(b))
	}
	return nil
}

// complete checks a file that a killed run left under a final name.
func complete(t *testing.T, s robustStage, dir, ref, rel string) error {
	t.Helper()
	p := filepath.Join(dir, rel)
	if !s.rolling[filepath.Base(rel)] {
		if _, err := os.Stat(filepath.Join(ref, rel)); err != nil {
			return fmt.Errorf("%s: not in the reference output", rel)
		}
		return sameAsRef(t, s, rel, p, filepath.Join(ref, rel))
	}
	switch {
	case strings.HasSuffix(rel, ".safetensors"):
		if _, err := weights.Load(p); err != nil {
			return fmt.Errorf("%s: a killed run left an unreadable checkpoint: %v", rel, err)
		}
	case strings.HasSuffix(rel, ".jsonl"):
		a := blankWallClock(t, rel, mustRead(t, p))
		b := blankWallClock(t, rel, mustRead(t, filepath.Join(ref, rel)))
		if !bytes.HasPrefix(b, a) {
			return fmt.Errorf("%s: a killed run left a log that is not a prefix of the full one:\n%s", rel, a)
		}
	}
	return nil
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkDir checks every final-named file under the stage's output; after a finished run
// (final) the set of files and their contents must equal the reference's.
func (env *robustEnv) checkDir(s robustStage, final bool) (temps int, err error) {
	dir, ref := filepath.Join(env.work, s.out), filepath.Join(env.work, "ref", s.name)
	got, temps := finalFiles(env.t, dir)
	if final {
		want, _ := finalFiles(env.t, ref)
		if !reflect.DeepEqual(got, want) {
			return temps, fmt.Errorf("files %v, want %v", got, want)
		}
	}
	for _, rel := range got {
		if final {
			err = sameAsRef(env.t, s, rel, filepath.Join(dir, rel), filepath.Join(ref, rel))
		} else {
			err = complete(env.t, s, dir, ref, rel)
		}
		if err != nil {
			return temps, err
		}
	}
	return temps, nil
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp %s %s: %v\n%s", src, dst, err, out)
	}
}

func TestKillDiskFullAndShards(t *testing.T) {
	if testing.Short() {
		t.Skip("kill trials run whole commands")
	}
	bin, _ := thinkjepaBin(t)
	trials := 10
	if v, err := strconv.Atoi(os.Getenv("THINKJEPA_KILL_TRIALS")); err == nil && v >= 0 {
		trials = v
	}
	work := t.TempDir()
	env := &robustEnv{t: t, bin: bin, work: work, ref: map[string]time.Duration{}}
	setup := [][]string{
		{"synth", "--out", "syn", "--episodes", "3", "--egoexo", "0", "--width", "64", "--height", "48", "--seed", "3"},
		{"data", "split", "--method", "official", "--out", "split.json", "syn"},
		{"weights", "init", "--arch", "demo", "--seed", "1", "--out", "enc.safetensors"},
	}
	for _, a := range setup {
		c := exec.Command(bin, a...)
		c.Dir = work
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", a, err, out)
		}
	}
	var m struct{ Episodes []struct{ ID string } }
	if err := json.Unmarshal(mustRead(t, filepath.Join(work, "split.json")), &m); err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Episodes {
		env.ids = append(env.ids, e.ID)
	}
	runCfg := `{"mode": "thinkjepa", "out": "runs/tj",
 "train": {"clips": "clips", "features": "feats", "thinker": "thinker"},
 "val":   {"clips": "clips", "features": "feats", "thinker": "thinker"},
 "predictor": {"predictor_embed_dim": 32, "depth": 2, "num_heads": 2, "mlp_ratio": 2, "causal": true, "drop_rate": 0, "drop_path_rate": 0},
 "film": {"hidden": 16}, "head": {"hidden": 32, "heads": 2},
 "loop": {"seed": 42, "epochs": 4, "batch_size": 2, "head_lr": 5e-3, "pred_lr": 5e-3, "clip_norm": 5}}`
	if err := os.WriteFile(filepath.Join(work, "run.json"), []byte(runCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	stages := []robustStage{
		{name: "clips", out: "clips"},
		{name: "encode", out: "feats", args: []string{"encode", "--weights", "enc.safetensors", "--input", "clips", "--out", "feats", "--split-clips", "--batch", "2"}},
		{name: "thinker", out: "thinker", args: []string{"thinker", "standin", "--data", "clips", "--out", "thinker"}},
		{name: "train", out: "runs/tj", args: []string{"train", "--config", "run.json"},
			rolling: map[string]bool{"latest.safetensors": true, "best.safetensors": true, "metrics.jsonl": true}},
		{name: "forecast", out: "pred", args: []string{"forecast", "--ckpt", "runs/tj/best.safetensors", "--data", "clips",
			"--features", "feats", "--thinker", "thinker", "--out", "pred", "--batch", "2"}},
	}
	// Reference: the whole chain, uninterrupted, twice for train (its outputs must be
	// reproducible for the comparison to mean anything).
	os.MkdirAll(filepath.Join(work, "ref"), 0o755)
	for _, s := range stages {
		t0 := time.Now()
		if out, err := env.run(s, 0); err != nil {
			t.Fatalf("reference %s: %v\n%s", s.name, err, out)
		}
		env.ref[s.name] = time.Since(t0)
		copyTree(t, filepath.Join(work, s.out), filepath.Join(work, "ref", s.name))
	}
	rng := rand.New(rand.NewPCG(13, 0))
	for _, s := range stages {
		if s.name == "thinker" {
			continue // not one of the commands; it is rebuilt only as an input
		}
		t.Run(s.name, func(t *testing.T) {
			env.t = t
			dir := filepath.Join(work, s.out)
			killed, tempsLeft := 0, 0
			for i := 0; i < trials; i++ {
				os.RemoveAll(dir)
				d := time.Duration(rng.Float64() * 1.2 * float64(env.ref[s.name]))
				env.killAfter(s, d)
				temps, err := env.checkDir(s, false)
				if err != nil {
					t.Fatalf("trial %d (kill after %v): %v", i, d, err)
				}
				if f, _ := finalFiles(t, dir); len(f) < len(mustList(t, filepath.Join(work, "ref", s.name))) {
					killed++
				}
				tempsLeft += temps
				if out, err := env.run(s, 0); err != nil {
					t.Fatalf("trial %d: rerun after the kill: %v\n%s", i, err, out)
				}
				if _, err := env.checkDir(s, true); err != nil {
					t.Fatalf("trial %d (kill after %v): after the rerun: %v", i, d, err)
				}
			}
			t.Logf("%s: %d kill trials (%d interrupted before all outputs existed; reference %v), %d writer temp files left by kills",
				s.name, trials, killed, env.ref[s.name].Round(time.Millisecond), tempsLeft)

			// A full disk: a file-size limit below the largest output.
			os.RemoveAll(dir)
			limit := largestKB(t, filepath.Join(work, "ref", s.name)) / 2
			out, err := env.run(s, limit)
			if err == nil {
				t.Fatalf("with a %d KB file-size limit the run succeeded", limit)
			}
			if !strings.Contains(out, "file too large") || !strings.Contains(out, filepath.Base(s.out)) {
				t.Errorf("disk-full error does not name the file and the cause:\n%s", lastLines(out, 5))
			}
			if _, err := env.checkDir(s, false); err != nil {
				t.Fatalf("after the disk-full failure: %v", err)
			}
			if out, err := env.run(s, 0); err != nil {
				t.Fatalf("rerun after the disk-full failure: %v\n%s", err, out)
			}
			if _, err := env.checkDir(s, true); err != nil {
				t.Fatalf("after the disk-full rerun: %v", err)
			}
			t.Logf("%s: disk full at %d KB: %s", s.name, limit, lastLines(out, 1))
		})
	}
	// Concurrent shards: n processes over one folder produce the single-process output.
	for _, s := range []robustStage{stages[1], stages[4]} {
		t.Run("shards-"+s.name, func(t *testing.T) {
			env.t = t
			os.RemoveAll(filepath.Join(work, s.out))
			const n = 3
			var wg sync.WaitGroup
			errs := make([]error, n)
			outs := make([]string, n)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					sh := s
					sh.args = append(append([]string(nil), s.args...), "--shard", fmt.Sprintf("%d/%d", i, n))
					outs[i], errs[i] = env.run(sh, 0)
				}(i)
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("shard %d/%d: %v\n%s", i, n, err, outs[i])
				}
			}
			if _, err := env.checkDir(s, true); err != nil {
				t.Fatalf("%d concurrent shards: %v", n, err)
			}
		})
	}
}

func mustList(t *testing.T, dir string) []string {
	f, _ := finalFiles(t, dir)
	return f
}

func largestKB(t *testing.T, dir string) int {
	t.Helper()
	var max int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if st, err := d.Info(); err == nil && st.Size() > max {
				max = st.Size()
			}
		}
		return nil
	})
	return int(max / 1024)
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
