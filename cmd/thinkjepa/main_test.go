package main

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		pos     []string
		out     string
		n       int
		v       bool
		wantErr string
	}{
		{args: []string{"a", "-out", "x", "b"}, pos: []string{"a", "b"}, out: "x"},
		{args: []string{"a", "--out=x", "b", "-n", "3"}, pos: []string{"a", "b"}, out: "x", n: 3},
		{args: []string{"-out", "x", "a"}, pos: []string{"a"}, out: "x"},
		// A value that looks like a flag is still the value, as in package flag.
		{args: []string{"a", "--out", "-x"}, pos: []string{"a"}, out: "-x"},
		{args: []string{"a", "-n", "-3"}, pos: []string{"a"}, n: -3},
		{args: []string{"--out", "--"}, pos: nil, out: "--"},
		// Boolean flags take no separate value.
		{args: []string{"a", "-v", "b"}, pos: []string{"a", "b"}, v: true},
		{args: []string{"a", "-v=false", "b"}, pos: []string{"a", "b"}},
		{args: []string{"-v", "false"}, pos: []string{"false"}, v: true},
		// "--" ends the flags; a lone "-" is positional.
		{args: []string{"a", "--", "-out", "y", "-v"}, pos: []string{"a", "-out", "y", "-v"}},
		{args: []string{"-", "-v"}, pos: []string{"-"}, v: true},
		{args: []string{"--", "--"}, pos: []string{"--"}},
		{args: nil, pos: nil},
		{args: []string{"a", "-nope"}, wantErr: "flag provided but not defined: -nope"},
		{args: []string{"a", "-out"}, wantErr: "flag needs an argument: -out"},
		{args: []string{"a", "-n", "abc"}, wantErr: `invalid value "abc" for flag -n`},
		{args: []string{"---x"}, wantErr: "bad flag syntax: ---x"},
		{args: []string{"a", "-h"}, wantErr: flag.ErrHelp.Error()},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		out := fs.String("out", "", "")
		n := fs.Int("n", 0, "")
		v := fs.Bool("v", false, "")
		pos, err := parseInterspersed(fs, tc.args)
		name := strings.Join(tc.args, " ")
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want %q", name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", name, err)
			continue
		}
		if len(pos) == 0 && len(tc.pos) == 0 {
			pos = tc.pos
		}
		if !reflect.DeepEqual(pos, tc.pos) || *out != tc.out || *n != tc.n || *v != tc.v {
			t.Errorf("%q: pos %q out %q n %d v %v, want %q %q %d %v", name, pos, *out, *n, *v, tc.pos, tc.out, tc.n, tc.v)
		}
	}
}

// TestFlagsAfterPositionals: the dispatcher, not each command, lets flags follow
// positionals; a command without its own handling (weights inspect) gets it too.
func TestFlagsAfterPositionals(t *testing.T) {
	var stderr strings.Builder
	// The flag after FILE is parsed: --json is accepted and FILE is the only positional,
	// so the error is about the missing file, not about extra arguments.
	rc := run([]string{"weights", "inspect", "/nonexistent/w.safetensors", "--json"}, io.Discard, &stderr)
	if rc != 1 || !strings.Contains(stderr.String(), "/nonexistent/w.safetensors") || strings.Contains(stderr.String(), "unexpected") {
		t.Errorf("rc %d, %s", rc, stderr.String())
	}
	stderr.Reset()
	rc = run([]string{"weights", "inspect", "a", "--nope"}, io.Discard, &stderr)
	if rc != 2 || !strings.Contains(stderr.String(), "flag provided but not defined: -nope") {
		t.Errorf("unknown flag after positional: rc %d, %s", rc, stderr.String())
	}
	stderr.Reset()
	if rc := run([]string{"version", "--", "--json"}, io.Discard, &stderr); rc != 2 || !strings.Contains(stderr.String(), `unexpected arguments ["--json"]`) {
		t.Errorf("after --: rc %d, %s", rc, stderr.String())
	}
}

func TestShardFlag(t *testing.T) {
	for in, want := range map[string]string{"0/1": "0/1", "2/3": "2/3", " 1 / 2 ": "1/2"} {
		var s shard
		if err := s.Set(in); err != nil || s.String() != want {
			t.Errorf("%q: %v %s", in, err, s.String())
		}
	}
	for _, bad := range []string{"", "1", "2/2", "-1/2", "a/b", "0/0", "1/2/3"} {
		var s shard
		if err := s.Set(bad); err == nil {
			t.Errorf("%q accepted as %s", bad, s.String())
		}
	}
	s := shard{I: 1, N: 3}
	var mine []int
	for k := range 7 {
		if s.Mine(k) {
			mine = append(mine, k)
		}
	}
	if !reflect.DeepEqual(mine, []int{1, 4}) {
		t.Errorf("shard 1/3 of 7: %v", mine)
	}
}

func TestRequireFlags(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("a", "", "")
	fs.String("b", "set", "")
	fs.String("c", "", "")
	err := requireFlags(fs, "a", "b", "c")
	if err == nil || !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--a and --c are required") {
		t.Errorf("got %v", err)
	}
	if err := requireFlags(fs, "b"); err != nil {
		t.Error(err)
	}
}
