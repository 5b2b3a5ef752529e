package main

// Flag helpers shared by the subcommands, so that the same flag reads, checks and fails
// the same way everywhere.

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
)

// shard is a "--shard i/n" value: the inputs k with k mod n == i, for job arrays. It is
// checked when the flag is parsed, so a bad value fails before any work starts.
type shard struct{ I, N int }

func (s *shard) String() string {
	if s == nil || s.N == 0 {
		return "0/1"
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}

func (s *shard) Set(v string) error {
	a, b, ok := strings.Cut(v, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return fmt.Errorf("want i/n with 0 ≤ i < n, got %q", v)
	}
	s.I, s.N = i, n
	return nil
}

// Mine reports whether input k belongs to this shard.
func (s *shard) Mine(k int) bool { return k%s.N == s.I }

// addShardFlag declares --shard (default 0/1: everything).
func addShardFlag(fs *flag.FlagSet, what string) *shard {
	s := &shard{I: 0, N: 1}
	fs.Var(s, "shard", "i/n: only "+what+" with index k ≡ i (mod n), for job arrays")
	return s
}

// parseHorizons reads a comma-separated list of positive integers (horizons in steps or
// frames); empty entries are skipped, so "" is no list.
func parseHorizons(s string) ([]int, error) {
	var hs []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		h, err := strconv.Atoi(f)
		if err != nil || h <= 0 {
			return nil, fmt.Errorf("horizon %q is not a positive integer", f)
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// stringList collects a repeated string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// requireFlags fails with a usage error naming every listed flag left empty (a flag is
// empty when its value prints as "").
func requireFlags(fs *flag.FlagSet, names ...string) error {
	var missing []string
	for _, n := range names {
		f := fs.Lookup(n)
		if f == nil {
			panic("requireFlags: no flag " + n) // a programming error, not user input
		}
		if f.Value.String() == "" {
			missing = append(missing, "--"+n)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return usageErrorf("%s is required", missing[0])
	}
	return usageErrorf("%s and %s are required", strings.Join(missing[:len(missing)-1], ", "), missing[len(missing)-1])
}

// noArgs refuses positional arguments for commands that take flags only.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usageErrorf("unexpected arguments %q", args)
	}
	return nil
}

// oneArg returns the single positional argument, named what in the error.
func oneArg(args []string, what string) (string, error) {
	if len(args) != 1 {
		return "", usageErrorf("expected one %s, got %d arguments %q", what, len(args), args)
	}
	return args[0], nil
}

// outFile is --out and --overwrite for a command that writes one file.
type outFile struct {
	path      string
	overwrite bool
}

func addOutFile(fs *flag.FlagSet, what string) *outFile {
	o := &outFile{}
	fs.StringVar(&o.path, "out", "", what+" (required)")
	fs.BoolVar(&o.overwrite, "overwrite", false, "replace an existing --out")
	return o
}

// check fails when --out is missing, or names an existing file and --overwrite is not set.
func (o *outFile) check() error {
	if o.path == "" {
		return usageErrorf("--out is required")
	}
	return fsutil.CheckNoClobber(o.path, o.overwrite)
}

// maxClipFrames bounds a clip's length (ThinkJEPA uses 64); far longer clips only come
// from a typo and would exhaust memory.
const maxClipFrames = 4096

// samplerFlags are the clip sampler's flags: --sampler, the clip length, --stride, --start.
type samplerFlags struct {
	name, lengthFlag string
	T, stride, start int
}

// addSamplerFlags declares the sampler flags; lengthFlag names the clip-length flag
// ("frames" for data clip, "T" for baseline, kept for their existing users). An empty
// defaultName means "the manifest's sampler, else episode64".
func addSamplerFlags(fs *flag.FlagSet, defaultName, lengthFlag string) *samplerFlags {
	s := &samplerFlags{lengthFlag: lengthFlag}
	usage := "episode64 or window"
	if defaultName == "" {
		usage += " (default: the manifest's, else episode64)"
	}
	fs.StringVar(&s.name, "sampler", defaultName, usage)
	fs.IntVar(&s.T, lengthFlag, 64, "clip length T in frames (past = T/2)")
	fs.IntVar(&s.stride, "stride", 1, "window sampler: stride in source frames")
	fs.IntVar(&s.start, "start", 0, "window sampler: first source frame")
	return s
}

// check validates the numbers (the samplers would otherwise replace a bad length by 64).
func (s *samplerFlags) check() error {
	if s.T < 2 || s.T > maxClipFrames {
		return usageErrorf("--%s must be in 2..%d (past = T/2 must hold a frame), got %d", s.lengthFlag, maxClipFrames, s.T)
	}
	if s.stride < 1 {
		return usageErrorf("--stride must be ≥ 1, got %d", s.stride)
	}
	if s.start < 0 {
		return usageErrorf("--start must be ≥ 0, got %d", s.start)
	}
	return nil
}

// sampler builds the sampler named by --sampler.
func (s *samplerFlags) sampler() (data.Sampler, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	smp, err := data.ParseSampler(s.name, s.T, s.stride, s.start)
	if err != nil {
		return nil, usageErrorf("--sampler: %v", err)
	}
	return smp, nil
}

// addAutomaticFlag declares --automatic, Ego-Exo4D's machine-generated hand annotations.
func addAutomaticFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("automatic", false, "Ego-Exo4D root: read the automatic (machine-generated, every frame) hand annotations "+
		"under annotations/ego_pose/<split>/hand/automatic instead of the manual ones (sparser)")
}

func addNoJointCheckFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("no-joint-check", false, "Ego-Exo4D: keep joints that fail the official bone-length/joint-angle plausibility check "+
		"(joint_dist_angle_check; on by default)")
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
