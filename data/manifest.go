package data

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
)

// Manifest is a written split: the exact episode list every later stage reads.
// Episode paths are stored relative to Root when they lie under it.
type Manifest struct {
	Dataset    string         `json:"dataset"`
	Root       string         `json:"root"`
	Sampler    string         `json:"sampler"`
	Method     string         `json:"method"` // "official" or "grouped"
	GroupBy    string         `json:"group_by,omitempty"`
	Seed       uint64         `json:"seed"`
	TrainRatio float64        `json:"train_ratio,omitempty"`
	Subset     int            `json:"subset,omitempty"`
	Counts     map[string]int `json:"counts"`
	Episodes   []Episode      `json:"episodes"`
	Build      buildinfo.Info `json:"build"`

	// HandAnnotations: Ego-Exo4D "manual" or "automatic" (the episodes' paths point at them).
	HandAnnotations string `json:"hand_annotations,omitempty"`
}

// Splits lists the split names present, sorted.
func (m *Manifest) Splits() []string {
	seen := map[string]bool{}
	for _, e := range m.Episodes {
		seen[e.Split] = true
	}
	var out []string
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Select returns the episodes of one split; an unknown split name is an error listing
// the names the manifest has.
func (m *Manifest) Select(split string) ([]Episode, error) {
	var out []Episode
	for _, e := range m.Episodes {
		if e.Split == split {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("manifest (%s): unknown split name %q, expected one of %s", m.Root, split, strings.Join(m.Splits(), ", "))
	}
	return out, nil
}

// WriteManifest writes m atomically as indented JSON, with an absolute root and episode
// paths made relative to it. Relative paths in m (root or episodes) are relative to the
// working directory, as OpenDataset returns them for a relative root.
func WriteManifest(path string, m *Manifest) error {
	c := *m
	c.Root = absRoot(m.Root)
	c.Build = buildinfo.Get()
	c.Counts = map[string]int{}
	c.Episodes = make([]Episode, len(m.Episodes))
	r := func(p string) string { return rel(c.Root, p) }
	for i, e := range m.Episodes {
		e.Path, e.Video, e.CameraPose, e.BodyPath = r(e.Path), r(e.Video), r(e.CameraPose), r(e.BodyPath)
		c.Episodes[i] = e
		c.Counts[e.Split]++
	}
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, append(b, '\n'))
}

// ReadManifest reads a manifest and resolves its paths against Root. A relative (or
// empty) root is relative to the manifest file's directory, so a folder holding its data
// and a hand-written manifest can move; the returned Root and paths are absolute.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: malformed JSON: %w", path, err)
	}
	if m.Dataset != EgoDex && m.Dataset != EgoExo4D {
		return nil, fmt.Errorf("manifest %s: field dataset is %q, expected %q or %q", path, m.Dataset, EgoDex, EgoExo4D)
	}
	if len(m.Episodes) == 0 {
		return nil, fmt.Errorf("manifest %s: field episodes is empty", path)
	}
	if !filepath.IsAbs(m.Root) {
		m.Root = absRoot(filepath.Join(filepath.Dir(path), filepath.FromSlash(m.Root)))
	}
	for i := range m.Episodes {
		e := &m.Episodes[i]
		if e.ID == "" || e.Path == "" {
			return nil, fmt.Errorf("manifest %s: episodes[%d] lacks id or path", path, i)
		}
		e.Path, e.Video, e.CameraPose, e.BodyPath = abs(m.Root, e.Path), abs(m.Root, e.Video), abs(m.Root, e.CameraPose), abs(m.Root, e.BodyPath)
		if e.Dataset == "" {
			e.Dataset = m.Dataset
		}
	}
	return &m, nil
}

// rel makes p (absolute, or relative to the working directory) relative to the absolute
// root when it lies under it; otherwise p is kept, made absolute.
func rel(root, p string) string {
	if p == "" {
		return p
	}
	p = absRoot(p)
	r, err := filepath.Rel(root, p)
	if err != nil || strings.HasPrefix(r, "..") {
		return p
	}
	return filepath.ToSlash(r)
}

func abs(root, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, filepath.FromSlash(p))
}

// OfficialSplitName maps an EgoDex release folder to its split (data-spec §1.7):
// part1…part5 → train, test → test, extra → extra. Ego-Exo4D splits pass through.
func OfficialSplitName(folder string) (string, error) {
	f := strings.ToLower(folder)
	switch {
	case strings.HasPrefix(f, "part"):
		return "train", nil
	case f == "train", f == "test", f == "val", f == "extra":
		return f, nil
	}
	return "", fmt.Errorf("unknown split name %q, expected part1…part5, train, val, test or extra", folder)
}

// SplitOfficial returns a manifest that keeps the dataset's own splits.
func SplitOfficial(d *Dataset, sampler string) (*Manifest, error) {
	m := &Manifest{Dataset: d.Name, Root: absRoot(d.Root), Sampler: sampler, Method: "official", HandAnnotations: d.HandAnnotations}
	for _, e := range d.Episodes {
		s, err := OfficialSplitName(e.Split)
		if err != nil {
			return nil, fmt.Errorf("episode %s: %w", e.ID, err)
		}
		e.Split = s
		m.Episodes = append(m.Episodes, e)
	}
	return m, nil
}

// GroupedOptions configures SplitGrouped.
type GroupedOptions struct {
	Seed       uint64
	TrainRatio float64 // fraction of groups in train (ThinkJEPA: 0.9)
	Subset     int     // >0: first pick this many episodes round-robin across groups
	GroupBy    string  // "task" (default) or "take"
	Sampler    string
}

// SplitGrouped is ThinkJEPA's split (data-spec §1.7): optionally a round-robin subset
// across groups, then whole groups (tasks) to train or test so they never overlap.
func SplitGrouped(d *Dataset, o GroupedOptions) (*Manifest, error) {
	if !(o.TrainRatio > 0 && o.TrainRatio < 1) { // also NaN
		return nil, fmt.Errorf("grouped split: train ratio %v, expected 0 < r < 1", o.TrainRatio)
	}
	groupOf := func(e Episode) string { return e.Task }
	switch o.GroupBy {
	case "", "task":
		o.GroupBy = "task"
	case "take":
		groupOf = func(e Episode) string { return e.TakeUID + e.ID }
	default:
		return nil, fmt.Errorf("grouped split: unknown group_by %q, expected task or take", o.GroupBy)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x7468696e6b))
	groups := map[string][]Episode{}
	var names []string
	for _, e := range d.Episodes {
		g := groupOf(e)
		if _, ok := groups[g]; !ok {
			names = append(names, g)
		}
		groups[g] = append(groups[g], e)
	}
	sort.Strings(names)
	for _, n := range names {
		eps := groups[n]
		rng.Shuffle(len(eps), func(i, j int) { eps[i], eps[j] = eps[j], eps[i] })
	}
	if o.Subset > 0 && o.Subset < len(d.Episodes) {
		picked := map[string][]Episode{}
		total := 0
		for round := 0; total < o.Subset; round++ {
			for _, n := range names {
				if round < len(groups[n]) && total < o.Subset {
					picked[n] = append(picked[n], groups[n][round])
					total++
				}
			}
		}
		groups = picked
		names = names[:0]
		for n := range picked {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	if len(names) < 2 {
		return nil, fmt.Errorf("grouped split: %d %s group(s), need at least 2 so train and test do not overlap", len(names), o.GroupBy)
	}
	order := append([]string(nil), names...)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	nTrain := int(math.Round(o.TrainRatio * float64(len(order))))
	nTrain = min(max(nTrain, 1), len(order)-1)
	m := &Manifest{Dataset: d.Name, Root: absRoot(d.Root), Sampler: o.Sampler, Method: "grouped", GroupBy: o.GroupBy, HandAnnotations: d.HandAnnotations,
		Seed: o.Seed, TrainRatio: o.TrainRatio, Subset: o.Subset}
	for gi, n := range order {
		split := "test"
		if gi < nTrain {
			split = "train"
		}
		for _, e := range groups[n] {
			e.Split = split
			m.Episodes = append(m.Episodes, e)
		}
	}
	sortEpisodes(m.Episodes)
	return m, nil
}

func absRoot(r string) string {
	if a, err := filepath.Abs(r); err == nil {
		return a
	}
	return r
}
