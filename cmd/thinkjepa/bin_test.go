package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The tests in this file and its neighbours that run whole commands use the built binary:
// a panic, a runtime fatal error or an os.Exit then shows up as output and an exit code
// instead of ending the test process.

var (
	binOnce  sync.Once
	binDir   string
	binPath  string
	binErr   error
	synthDir string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// thinkjepaBin builds the command once per test run, and writes a small synthetic set
// (2 EgoDex episodes, 2 Ego-Exo4D takes) next to it.
func thinkjepaBin(t *testing.T) (bin, synth string) {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "thinkjepa-cmd-test-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "thinkjepa")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = errors.New("go build: " + err.Error() + "\n" + string(out))
			return
		}
		synthDir = filepath.Join(binDir, "synth")
		out, err = exec.Command(binPath, "synth", "--out", synthDir, "--episodes", "2", "--egoexo", "2",
			"--width", "64", "--height", "48").CombinedOutput()
		if err != nil {
			binErr = errors.New("synth: " + err.Error() + "\n" + string(out))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath, synthDir
}

// runBin runs the binary in dir and returns stdout, stderr and the exit code.
func runBin(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	bin, _ := thinkjepaBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	rc := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("thinkjepa %q: %v", args, err)
		}
		rc = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), rc
}
