package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
	"github.com/thinkjepa/thinkjepa/weights"
)

func init() {
	register(&command{
		name:    "weights inspect",
		summary: "list the tensors of a .pt, HF .safetensors or thinkjepa checkpoint",
		usage:   "[flags] FILE",
		setup: func(fs *flag.FlagSet) func([]string) error {
			asJSON := fs.Bool("json", false, "print as JSON")
			return func(args []string) error {
				file, err := oneArg(args, "FILE")
				if err != nil {
					return err
				}
				inv, err := weights.Inspect(file)
				if err != nil {
					return err
				}
				if *asJSON {
					return printWeightsJSON(os.Stdout, inv)
				}
				printWeightsInventory(os.Stdout, inv)
				return nil
			}
		},
	})
	register(&command{
		name:    "weights import",
		summary: "import V-JEPA 2 (.pt or HF safetensors) or ThinkJEPA weights into our checkpoint format",
		usage:   "--from FILE --out FILE [--arch PRESET|config.json] [flags]",
		setup: func(fs *flag.FlagSet) func([]string) error {
			var o weightsImportFlags
			fs.StringVar(&o.from, "from", "", "source weights: released .pt, HF .safetensors, ThinkJEPA checkpoint .pt")
			fs.StringVar(&o.out, "out", "", "output checkpoint (.safetensors)")
			fs.StringVar(&o.arch, "arch", "", "architecture: an encoder preset ("+strings.Join(weightsPresetNames(arch.Encoders), ", ")+
				"), a thinkjepa preset ("+strings.Join(weightsPresetNames(arch.ThinkPredictors), ", ")+
				") or a JSON config; inferred from the tensor shapes when empty")
			fs.StringVar(&o.which, "which", "encoder", "encoder of a released V-JEPA 2 file: encoder or target_encoder")
			fs.IntVar(&o.heads, "heads", 0, "encoder heads when inferring a non-preset architecture")
			fs.IntVar(&o.predHeads, "predictor-heads", 0, "V-JEPA predictor heads when inferring a non-preset architecture")
			fs.IntVar(&o.predImg, "predictor-img-size", 256, "img_size the V-JEPA predictor's RoPE grid was built for (when inferring)")
			fs.IntVar(&o.tjHeads, "tj-heads", 0, "ThinkJEPA predictor heads when inferring a non-preset architecture")
			fs.IntVar(&o.tjTokens, "tokens-per-frame", 0, "ThinkJEPA tokens per frame P when inferring (default 256)")
			fs.BoolVar(&o.tjCausal, "causal", true, "ThinkJEPA predictor uses frame-causal attention (when inferring)")
			fs.StringVar(&o.report, "report", "", "also write the import report as JSON to this file")
			fs.BoolVar(&o.overwrite, "overwrite", false, "replace an existing output file")
			return func(args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if err := requireFlags(fs, "from", "out"); err != nil {
					return err
				}
				return runWeightsImport(o, os.Stdout)
			}
		},
	})
	register(&command{
		name:    "weights convert",
		summary: "convert our checkpoint to HF safetensors or back, or change the float width of a safetensors file",
		usage:   "--from FILE --out FILE --to hf|ours|fp32|fp16 [-overwrite]",
		setup: func(fs *flag.FlagSet) func([]string) error {
			from := fs.String("from", "", "input file")
			out := fs.String("out", "", "output file")
			to := fs.String("to", "", "hf: our checkpoint -> HF VJEPA2 names; ours: HF -> our format (as import); fp32/fp16: rewrite any safetensors with F32/F16 data, metadata kept")
			archName := fs.String("arch", "", "--to ours: architecture preset or JSON config, as for weights import (default: inferred)")
			heads := fs.Int("heads", 0, "--to ours: encoder heads when inferring a non-preset architecture")
			overwrite := fs.Bool("overwrite", false, "replace an existing output file")
			return func(args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				if err := requireFlags(fs, "from", "out", "to"); err != nil {
					return err
				}
				if err := fsutil.CheckNoClobber(*out, *overwrite); err != nil {
					return err
				}
				switch *to {
				case "hf":
					c, err := weights.Load(*from)
					if err != nil {
						return err
					}
					hf, skipped, err := weights.ExportHF(c)
					if err != nil {
						return fmt.Errorf("%s: %w", *from, err)
					}
					if len(skipped) > 0 {
						fmt.Printf("not in the HF layout, left out: %d tensors (%s ...)\n", len(skipped), skipped[0])
					}
					if err := weights.WriteSafetensors(*out, hf, map[string]string{"format": "pt"}, false); err != nil {
						return err
					}
					fmt.Printf("wrote %s: %d tensors\n", *out, len(hf))
				case "ours":
					return runWeightsImport(weightsImportFlags{from: *from, out: *out, arch: *archName, heads: *heads, which: "encoder", predImg: 256, tjCausal: true, overwrite: true}, os.Stdout)
				case "fp32", "fp16":
					f, err := weights.ReadSafetensors(*from)
					if err != nil {
						return err
					}
					if err := weights.WriteSafetensors(*out, f.Tensors, f.Metadata, *to == "fp16"); err != nil {
						return err
					}
					fmt.Printf("wrote %s: %d tensors as %s\n", *out, len(f.Tensors), strings.ToUpper(*to))
				default:
					return usageErrorf("--to must be hf, ours, fp32 or fp16, got %q", *to)
				}
				return nil
			}
		},
	})
}

type weightsImportFlags struct {
	from, out, arch, which, report string
	heads, predHeads, predImg      int
	tjHeads, tjTokens              int
	tjCausal, overwrite            bool
}

func runWeightsImport(o weightsImportFlags, w io.Writer) error {
	if err := fsutil.CheckNoClobber(o.out, o.overwrite); err != nil {
		return err
	}
	c, rep, err := weights.Import(o.from, weights.ImportOptions{Which: o.which})
	if err != nil {
		return err
	}
	cfg, err := resolveImportConfig(c, o, rep)
	if err != nil {
		printImportReport(w, rep)
		return err
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	c.Config = raw
	c.Provenance.Notes = rep.Notes
	printImportReport(w, rep)
	if o.report != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := fsutil.WriteFileAtomic(o.report, append(b, '\n')); err != nil {
			return err
		}
	}
	if err := c.Save(o.out); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s: %d tensors\n", o.out, len(c.Tensors))
	return nil
}

// resolveConfig builds the config of every model part present in c, from --arch or
// inferred from the shapes, and checks every tensor's shape against it.
func resolveImportConfig(c *weights.Checkpoint, o weightsImportFlags, rep *weights.Report) (weights.ModelConfig, error) {
	var mc weights.ModelConfig
	given := map[string]json.RawMessage{} // part -> config JSON from --arch
	if o.arch != "" {
		if err := importArchConfigs(o.arch, given); err != nil {
			return mc, err
		}
	}
	var errs []string
	check := func(prefix string, expected map[string][]int) {
		if err := weights.CheckShapes(c, prefix, expected, rep); err != nil {
			errs = append(errs, err.Error())
		}
	}
	enc := c.Sub(weights.PrefixEncoder)
	var encCfg arch.EncoderConfig
	if len(enc) > 0 {
		raw := given["encoder"]
		if raw == nil {
			m, notes, err := weights.InferEncoder(enc, o.heads)
			if err != nil {
				return mc, err
			}
			rep.Notes = append(rep.Notes, notes...)
			raw, _ = json.Marshal(m)
		}
		cfg, err := arch.ParseEncoder(raw)
		if err != nil {
			return mc, fmt.Errorf("encoder architecture: %w", err)
		}
		encCfg = cfg
		check(weights.PrefixEncoder, cfg.ExpectedShapes())
		mc.Encoder, _ = json.Marshal(cfg)
	}
	if pred := c.Sub(weights.PrefixPredictor); len(pred) > 0 {
		raw := given["predictor"]
		if raw == nil {
			patch, tub := 16, 2
			if encCfg.PatchSize > 0 {
				patch, tub = encCfg.PatchSize, encCfg.TubeletSize
			}
			m, notes, err := weights.InferPredictor(pred, o.predHeads, o.predImg, patch, tub)
			if err != nil {
				return mc, err
			}
			rep.Notes = append(rep.Notes, notes...)
			raw, _ = json.Marshal(m)
		}
		cfg, err := arch.ParsePredictor(raw)
		if err != nil {
			return mc, fmt.Errorf("predictor architecture: %w", err)
		}
		exp := cfg.ExpectedShapes()
		if cfg.NumMaskTokens != rep.MaskTokens && rep.MaskTokens > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("architecture says %d mask tokens, the file has %d: keeping the file's count", cfg.NumMaskTokens, rep.MaskTokens))
			cfg.NumMaskTokens = rep.MaskTokens
			exp = cfg.ExpectedShapes()
		}
		check(weights.PrefixPredictor, exp)
		mc.Predictor, _ = json.Marshal(cfg)
	}
	if tj := c.Sub(weights.PrefixThinkJEPA); len(tj) > 0 {
		raw := given["tj_predictor"]
		if raw == nil {
			m, notes, err := weights.InferThinkJEPA(tj, o.tjHeads, o.tjTokens, o.tjCausal)
			if err != nil {
				return mc, err
			}
			rep.Notes = append(rep.Notes, notes...)
			raw, _ = json.Marshal(m)
		}
		cfg, err := arch.ParseThink(raw)
		if err != nil {
			return mc, fmt.Errorf("thinkjepa predictor architecture: %w", err)
		}
		exp := cfg.ExpectedShapes()
		// The guidance bank (guidance_*) belongs to package film; its shapes are carried
		// over unchecked here.
		for k, t := range tj {
			if strings.HasPrefix(k, "guidance_") {
				exp[k] = t.Shape
			}
		}
		check(weights.PrefixThinkJEPA, exp)
		mc.ThinkJEPA, _ = json.Marshal(cfg)
	}
	if head := c.Sub(weights.PrefixTrajectHead); len(head) > 0 {
		rep.Notes = append(rep.Notes, "trajectory head shapes are not checked (no head architecture config)")
		if raw := given["head"]; raw != nil {
			mc.TrajectHead = raw
		}
	}
	if len(errs) > 0 {
		return mc, fmt.Errorf("%s does not match the architecture: %s (see the report above)", o.from, strings.Join(errs, "; "))
	}
	return mc, nil
}

// archConfigs reads --arch: a preset name, a single-part JSON config (by its kind), or a
// JSON object with encoder / predictor / tj_predictor / head parts.
func importArchConfigs(a string, out map[string]json.RawMessage) error {
	if _, ok := arch.Encoders[a]; ok {
		cfg, err := arch.Lookup(a)
		if err != nil {
			return err
		}
		out["encoder"], _ = json.Marshal(cfg)
		if p, ok := arch.Predictors[a]; ok {
			out["predictor"], _ = json.Marshal(p)
		}
		return nil
	}
	if _, ok := arch.ThinkPredictors[a]; ok {
		cfg, err := arch.LookupThink(a)
		if err != nil {
			return err
		}
		out["tj_predictor"], _ = json.Marshal(cfg)
		return nil
	}
	b, err := os.ReadFile(a)
	if err != nil {
		return usageErrorf("--arch %q is neither a preset nor a readable JSON file: %v", a, err)
	}
	kind, err := arch.Kind(b)
	if err != nil {
		return fmt.Errorf("%s: %w", a, err)
	}
	switch kind {
	case "vjepa_encoder":
		out["encoder"] = b
	case "vjepa_predictor":
		out["predictor"] = b
	case "thinkjepa_predictor":
		out["tj_predictor"] = b
	case "trajectory_head":
		out["head"] = b
	default: // a multi-part object
		var parts map[string]json.RawMessage
		if err := json.Unmarshal(b, &parts); err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
		found := false
		for _, p := range []string{"encoder", "predictor", "tj_predictor", "head"} {
			if parts[p] != nil {
				out[p] = parts[p]
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s: kind %q is no known architecture and there are no encoder/predictor/tj_predictor/head parts", a, kind)
		}
	}
	return nil
}

func printImportReport(w io.Writer, rep *weights.Report) {
	fmt.Fprintf(w, "source %s (layout %s", rep.Source, rep.Layout)
	if rep.Which != "" {
		fmt.Fprintf(w, ", %s", rep.Which)
	}
	fmt.Fprintf(w, "): %d tensors imported\n", rep.Imported)
	for d, n := range rep.DTypes {
		fmt.Fprintf(w, "  stored dtype %s: %d tensors\n", d, n)
	}
	list := func(title string, xs []string) {
		if len(xs) == 0 {
			return
		}
		fmt.Fprintf(w, "%s (%d):\n", title, len(xs))
		for _, x := range xs {
			fmt.Fprintf(w, "  %s\n", x)
		}
	}
	list("renamed", rep.Renamed)
	list("unused", rep.Unused)
	list("missing", rep.Missing)
	list("wrong shape", rep.Mismatched)
	list("notes", rep.Notes)
}

func printWeightsInventory(w io.Writer, inv *weights.Inventory) {
	fmt.Fprintf(w, "%s: layout %s\n", inv.Path, inv.Layout)
	for _, k := range []string{"format", "config", "provenance"} {
		if v, ok := inv.Metadata[k]; ok {
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}
	for _, g := range inv.Groups {
		fmt.Fprintf(w, "\n[%s] %d tensors, %d parameters\n", g.Name, len(g.Tensors), g.Params)
		for _, t := range g.Tensors {
			fmt.Fprintf(w, "  %-60s %-5s %v\n", t.Name, t.DType, t.Shape)
		}
	}
	if len(inv.Other) > 0 {
		fmt.Fprintf(w, "\nother entries: %s\n", strings.Join(inv.Other, ", "))
	}
}

func printWeightsJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func weightsPresetNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
