package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
	"github.com/thinkjepa/thinkjepa/internal/progress"
	"github.com/thinkjepa/thinkjepa/thinker"
)

func init() {
	register(&command{
		name:    "thinker check",
		summary: "validate a folder of thinker (VLM feature) cache .npz files, v1 or v2 layout; exits non-zero when any file fails",
		usage:   "[flags] DIR",
		setup: func(fs *flag.FlagSet) func([]string) error {
			layers := fs.String("layers", "0,4,8,12,16,20,24,27", "expected cached layer list (empty: any)")
			hidden := fs.Int("hidden", 2048, "expected hidden size (0: any)")
			capacity := fs.String("capacity", "1280,16", "vlm_old,vlm_new capacity (v2 1280,16; v1 480,15; 0,0: none)")
			truncate := fs.Bool("truncate", false, "v1 mode: lengths over capacity are truncated with a warning, not an error")
			return func(args []string) error {
				if len(args) != 1 {
					return usageErrorf("expected one DIR")
				}
				e := thinker.Expect{Hidden: *hidden, Truncate: *truncate}
				if *layers != "" {
					var err error
					if e.Layers, err = thinker.ParseInts(*layers); err != nil {
						return usageErrorf("--layers: %v", err)
					}
				}
				cp, err := thinker.ParseInts(*capacity)
				if err != nil || len(cp) != 2 {
					return usageErrorf("--capacity %q: expected OLD,NEW", *capacity)
				}
				e.OldCapacity, e.NewCapacity = cp[0], cp[1]
				r, err := thinker.CheckDir(args[0], e)
				if err != nil {
					return err
				}
				r.Print(os.Stdout)
				if len(r.Problems) > 0 {
					return fmt.Errorf("%d of %d cache files failed", len(r.Problems), r.Files)
				}
				return nil
			}
		},
	})
	register(&command{
		name: "thinker standin",
		summary: "write STAND-IN thinker caches (v2 layout) derived only from each clip's instruction text; " +
			"no VLM runs here, so these carry the instruction's information and nothing from the video",
		usage: "--data (MANIFEST.json | DATASET_ROOT | CLIP.npz | DIR of clip .npz) --out DIR [flags]",
		setup: func(fs *flag.FlagSet) func([]string) error {
			dataPath := fs.String("data", "", "clips: a data manifest .json, an EgoDex root, a clip .npz or a folder of clip .npz files")
			out := fs.String("out", "", "output folder; one <clip id>.npz per clip")
			layers := fs.String("layers", "0,4,8,12,16,20,24,27", "layer ids to write")
			hidden := fs.Int("hidden", 64, "feature size of the stand-in")
			seed := fs.Uint64("seed", 1, "seed of the fixed per-layer projections and embeddings")
			overwrite := fs.Bool("overwrite", false, "replace existing cache files (default: skip them)")
			return func(args []string) error {
				if len(args) != 0 {
					return usageErrorf("unexpected arguments %v", args)
				}
				if *dataPath == "" || *out == "" {
					return usageErrorf("--data and --out are required")
				}
				lay, err := thinker.ParseInts(*layers)
				if err != nil || len(lay) == 0 {
					return usageErrorf("--layers %q: expected a comma-separated list", *layers)
				}
				if *hidden <= 0 {
					return usageErrorf("--hidden must be positive")
				}
				return runStandIn(*dataPath, *out, lay, *hidden, *seed, *overwrite)
			}
		},
	})
}

// standInItem is one clip to process: where it comes from and its output id.
type standInItem struct {
	clipPath string        // a clip .npz, or
	episode  *data.Episode // an episode read through the data layer
	id       string
}

func listStandIn(path string) ([]standInItem, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	var items []standInItem
	switch {
	case !st.IsDir() && strings.HasSuffix(path, ".npz"):
		items = append(items, standInItem{clipPath: path, id: strings.TrimSuffix(filepath.Base(path), ".npz")})
	case st.IsDir():
		err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".npz") {
				return err
			}
			rel, _ := filepath.Rel(path, p)
			items = append(items, standInItem{clipPath: p, id: strings.TrimSuffix(rel, ".npz")})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("--data %s: %w", path, err)
		}
	}
	if len(items) == 0 {
		d, err := data.OpenDataset(path)
		if err != nil {
			return nil, fmt.Errorf("--data %s: no clip .npz files and not a dataset: %w", path, err)
		}
		for i := range d.Episodes {
			ep := d.Episodes[i]
			items = append(items, standInItem{episode: &ep, id: filepath.FromSlash(ep.ID)})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].id < items[j].id })
	return items, nil
}

func runStandIn(dataPath, out string, layers []int, hidden int, seed uint64, overwrite bool) error {
	items, err := listStandIn(dataPath)
	if err != nil {
		return err
	}
	s := thinker.NewStandIn(layers, hidden, seed)
	bi := buildinfo.Get()
	bar := progress.New(len(items), "thinker standin")
	written, skipped := 0, 0
	for _, it := range items {
		dst := filepath.Join(out, it.id+".npz")
		if _, err := os.Stat(dst); err == nil && !overwrite {
			skipped++
			bar.Add(1)
			continue
		}
		var clip *data.Clip
		if it.clipPath != "" {
			clip, err = data.ReadClipNPZ(it.clipPath)
		} else {
			clip, err = data.LoadClip(*it.episode, nil, data.LoadOptions{SkipVideo: true})
		}
		if err != nil {
			return fmt.Errorf("clip %s: %w", it.id, err)
		}
		c := s.Cache(clip.Instruction)
		for t, fi := range clip.FrameIndices {
			if t < clip.Past {
				c.PastIndices = append(c.PastIndices, int64(fi))
			} else {
				c.TargetIndices = append(c.TargetIndices, int64(fi))
			}
		}
		c.QwenIndices = c.PastIndices
		c.Provenance["episode"] = clip.Episode
		c.Provenance["task"] = clip.Task
		c.Provenance["seed"] = strconv.FormatUint(seed, 10)
		c.Provenance["thinkjepa_version"] = bi.Version
		c.Provenance["go_version"] = bi.GoVersion
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := c.Write(dst); err != nil {
			return err
		}
		written++
		bar.Add(1)
	}
	bar.Finish()
	slog.Info("thinker standin done", "written", written, "skipped_existing", skipped, "out", out,
		"note", "stand-in features derived from instruction text only")
	return nil
}
