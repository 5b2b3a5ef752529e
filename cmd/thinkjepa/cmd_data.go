package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/thinkjepa/thinkjepa/data"
)

func init() {
	register(&command{
		name:    "data inspect",
		summary: "summarise a dataset root, a manifest, one EgoDex .hdf5 or a clip .npz",
		usage:   "[flags] PATH",
		setup: func(fs *flag.FlagSet) func([]string) error {
			asJSON := fs.Bool("json", false, "print the full report (per episode) as JSON")
			video := fs.Bool("video", true, "count MP4 frames with ffprobe and compare with the pose rows")
			limit := fs.Int("limit", 0, "inspect at most this many episodes (0: all)")
			automatic := addAutomaticFlag(fs)
			noJointCheck := addNoJointCheckFlag(fs)
			return func(args []string) error {
				path, err := oneArg(args, "PATH")
				if err != nil {
					return err
				}
				if *limit < 0 {
					return usageErrorf("--limit must be ≥ 0, got %d", *limit)
				}
				r, err := data.Inspect(path, data.InspectOptions{CountVideo: *video, Limit: *limit, NoJointCheck: *noJointCheck,
					Dataset: data.DatasetOptions{EgoExo: data.EgoExoOptions{Automatic: *automatic}}})
				if err != nil {
					return err
				}
				if *asJSON {
					b, err := json.MarshalIndent(r, "", "  ")
					if err != nil {
						return err
					}
					fmt.Println(string(b))
				} else {
					printReport(r)
				}
				// A dataset reports its unreadable episodes among the problems; one
				// episode file that cannot be read is a failure (the report above says why).
				if len(r.PerEpisode) == 1 && r.PerEpisode[0].Frames == 0 && r.Clip == nil && len(r.PerEpisode[0].Problems) > 0 &&
					(strings.HasSuffix(path, ".hdf5") || strings.HasSuffix(path, ".h5")) {
					return fmt.Errorf("%s is not a usable episode: %s", path, r.PerEpisode[0].Problems[0])
				}
				return nil
			}
		},
	})
	register(&command{
		name:    "data clip",
		summary: "sample one episode into a clip .npz (frames, xyz_world, xyz_cam, cam_ext, conf, valid, frame_indices, …)",
		usage:   "[flags] EPISODE   (an .hdf5 path, or an episode id / Ego-Exo4D take uid or name with --root)",
		setup: func(fs *flag.FlagSet) func([]string) error {
			root := fs.String("root", "", "dataset root or manifest in which to look EPISODE up by id")
			smp := addSamplerFlags(fs, "episode64", "frames")
			size := fs.Int("size", 256, "output frame size (square)")
			crop := fs.Bool("crop", false, "centre-crop instead of squashing (ThinkJEPA squashes)")
			skipVideo := fs.Bool("skip-video", false, "poses only (no frames)")
			automatic := addAutomaticFlag(fs)
			noJointCheck := addNoJointCheckFlag(fs)
			out := addOutFile(fs, "output .npz")
			return func(args []string) error {
				id, err := oneArg(args, "EPISODE")
				if err != nil {
					return err
				}
				if err := out.check(); err != nil {
					return err
				}
				s, err := smp.sampler()
				if err != nil {
					return err
				}
				if *size < 1 || *size > data.MaxVideoSide {
					return usageErrorf("--size must be in 1..%d, got %d", data.MaxVideoSide, *size)
				}
				ep, err := findEpisode(*root, id, data.DatasetOptions{EgoExo: data.EgoExoOptions{Automatic: *automatic}})
				if err != nil {
					return err
				}
				c, err := data.LoadClip(ep, s, data.LoadOptions{SkipVideo: *skipVideo, NoJointCheck: *noJointCheck, Video: data.VideoOptions{W: *size, H: *size, Crop: *crop}})
				if err != nil {
					return err
				}
				if err := c.WriteNPZ(out.path); err != nil {
					return err
				}
				slog.Info("data clip: wrote", "out", out.path, "episode", c.Episode, "sampler", s.Name(), "T", c.T, "frames", fmt.Sprintf("%dx%d", c.W, c.H),
					"indices", fmt.Sprintf("%d..%d", c.FrameIndices[0], c.FrameIndices[c.T-1]), "instruction", c.Instruction, "warnings", len(c.Warnings))
				return nil
			}
		},
	})
	register(&command{
		name:    "data split",
		summary: "write a split manifest (official, or ThinkJEPA-style grouped by task)",
		usage:   "[flags] ROOT",
		setup: func(fs *flag.FlagSet) func([]string) error {
			method := fs.String("method", "grouped", "official (dataset's own splits) or grouped (by task, seeded)")
			seed := fs.Uint64("seed", 42, "grouped: random seed")
			ratio := fs.Float64("train-ratio", 0.9, "grouped: fraction of task groups in train")
			subset := fs.Int("subset", 0, "grouped: first pick this many episodes round-robin across tasks (0: all)")
			groupBy := fs.String("group-by", "task", "grouped: task or take")
			sampler := fs.String("sampler", "episode64", "sampler name recorded in the manifest")
			only := fs.String("splits", "", "official: keep only these comma-separated splits (e.g. train,test)")
			automatic := addAutomaticFlag(fs)
			out := addOutFile(fs, "output manifest .json")
			return func(args []string) error {
				root, err := oneArg(args, "ROOT")
				if err != nil {
					return err
				}
				if err := out.check(); err != nil {
					return err
				}
				if *subset < 0 {
					return usageErrorf("--subset must be ≥ 0, got %d", *subset)
				}
				d, err := data.OpenDatasetWith(root, data.DatasetOptions{EgoExo: data.EgoExoOptions{Automatic: *automatic}})
				if err != nil {
					return err
				}
				var m *data.Manifest
				switch *method {
				case "official":
					m, err = data.SplitOfficial(d, *sampler)
					if err == nil && *only != "" {
						m, err = keepSplits(m, strings.Split(*only, ","))
					}
				case "grouped":
					m, err = data.SplitGrouped(d, data.GroupedOptions{Seed: *seed, TrainRatio: *ratio, Subset: *subset, GroupBy: *groupBy, Sampler: *sampler})
				default:
					return usageErrorf("unknown --method %q, expected official or grouped", *method)
				}
				if err != nil {
					return err
				}
				if err := data.WriteManifest(out.path, m); err != nil {
					return err
				}
				counts := map[string]int{}
				for _, e := range m.Episodes {
					counts[e.Split]++
				}
				slog.Info("data split: wrote", "out", out.path, "method", m.Method, "episodes", len(m.Episodes), "splits", fmt.Sprint(counts))
				return nil
			}
		},
	})
}

func keepSplits(m *data.Manifest, names []string) (*data.Manifest, error) {
	var eps []data.Episode
	for _, n := range names {
		sel, err := m.Select(strings.TrimSpace(n))
		if err != nil {
			return nil, err
		}
		eps = append(eps, sel...)
	}
	m.Episodes = eps
	return m, nil
}

func findEpisode(root, id string, o data.DatasetOptions) (data.Episode, error) {
	if root == "" {
		if o.EgoExo.Automatic {
			return data.Episode{}, usageErrorf("--automatic needs --root, an Ego-Exo4D root to look the take %q up in", id)
		}
		if st, err := os.Stat(id); err == nil && !st.IsDir() && (strings.HasSuffix(id, ".hdf5") || strings.HasSuffix(id, ".h5")) {
			return data.EpisodeFromPath(id), nil
		}
		return data.Episode{}, usageErrorf("EPISODE %q is not an .hdf5 file; pass --root to look an id up", id)
	}
	d, err := data.OpenDatasetWith(root, o)
	if err != nil {
		return data.Episode{}, err
	}
	return d.Find(id)
}

func printReport(r *data.Report) {
	if r.HandAnnots != "" {
		fmt.Printf("%s (%s, %s hand annotations)\n", r.Path, r.Dataset, r.HandAnnots)
	} else {
		fmt.Printf("%s (%s)\n", r.Path, r.Dataset)
	}
	if c := r.Clip; c != nil {
		fmt.Printf("  clip: episode %s, T=%d (past %d), frames %dx%d, valid %.1f%%\n  instruction: %q\n  frame indices: %v\n",
			c.Episode, c.T, c.Past, c.W, c.H, 100*c.ValidFrac, c.Instruction, c.FrameIndices)
	}
	fmt.Printf("  episodes: %d   %s\n", r.Episodes, fmtCounts("splits", r.PerSplit))
	if len(r.PerTask) > 0 {
		fmt.Printf("  %s\n", fmtCounts("tasks", r.PerTask))
	}
	fmt.Printf("  frames: total %d, min %d, max %d\n", r.FramesTotal, r.FramesMin, r.FramesMax)
	fmt.Printf("  hand joints present: %d of %d\n", r.JointsPresent, data.NumJoints)
	fmt.Printf("  confidence: mean %.3f, min %.3f, zero %.2f%% (%d values)\n", r.Confidence.Mean, r.Confidence.Min, 100*r.Confidence.ZeroFrac, r.Confidence.Count)
	fmt.Printf("  problems: %d\n", len(r.Problems))
	for i, p := range r.Problems {
		if i == 20 {
			fmt.Printf("    … %d more (use --json)\n", len(r.Problems)-20)
			break
		}
		fmt.Printf("    %s\n", p)
	}
}

func fmtCounts(name string, m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return name + ": " + strings.Join(parts, " ")
}
