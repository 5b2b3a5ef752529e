package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// scripts/demo-anomaly.sh end to end at toy size (18 episodes, 9 anomalous, one epoch):
// every stage runs, the table has a row per scorer with finite numbers, every clip has
// its scores and plot, and a rerun skips the finished stages and prints the same table.
// The numbers themselves are the demo's business (README); this guards the plumbing.
func TestDemoAnomalyScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole anomaly demo at toy size")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not found (make deps installs it)")
	}
	bin, _ := thinkjepaBin(t)
	out := filepath.Join(t.TempDir(), "demo")
	run := func() string {
		cmd := exec.Command("bash", "../../scripts/demo-anomaly.sh")
		cmd.Env = append(os.Environ(), "THINKJEPA_BIN="+bin, "DEMO_DIR="+out, "DEMO_EPISODES=18",
			"DEMO_ANOMALY_RATE=0.5", "DEMO_EPOCHS=1", "GOMAXPROCS=2")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("demo-anomaly.sh: %v\n%s", err, b)
		}
		return string(b)
	}
	first := run()
	table := func(s string) string {
		i := strings.Index(s, "| score | ROC AUC")
		j := strings.Index(s, "Goal checks:")
		if i < 0 || j < i {
			t.Fatalf("no table in the output:\n%s", s)
		}
		return s[i:j]
	}
	tb := table(first)
	for _, row := range []string{"ThinkJEPA predictor", "JEPA-only predictor", "frame difference", "copy last frame", "chance"} {
		re := regexp.MustCompile(`\| ` + row + ` \| (0\.\d{3}|1\.000) \| (0\.\d{3}|1\.000) \|`)
		if !re.MatchString(tb) {
			t.Errorf("no finite %q row in\n%s", row, tb)
		}
	}
	if !strings.Contains(first, "Held-out episodes: 3 normal + 9 anomalous") {
		t.Errorf("held-out line missing:\n%s", first)
	}
	if !strings.Contains(first, "goal met") && !strings.Contains(first, "goal NOT met") {
		t.Errorf("no goal verdict:\n%s", first)
	}
	clips, err := filepath.Glob(filepath.Join(out, "scores", "thinkjepa-s42", "clips", "*", "scores.png"))
	if err != nil || len(clips) != 12 {
		t.Errorf("%d clip plots, want 12 (%v)", len(clips), err)
	}
	for _, f := range []string{"synth/labels/test_basic_pick_place_1.npy", "scores/frame-diff/summary.json", "scores/thinkjepa-s42/embedding.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	// A rerun resumes: nothing is regenerated and the table is the same.
	if second := run(); table(second) != tb {
		t.Errorf("rerun table differs:\n%s\nvs\n%s", table(second), tb)
	}
}
