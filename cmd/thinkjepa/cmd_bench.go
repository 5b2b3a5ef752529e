package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/thinkjepa/thinkjepa/arch"
	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
	"github.com/thinkjepa/thinkjepa/jepa"
	"github.com/thinkjepa/thinkjepa/nn"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "time the encoder forward and ThinkJEPA predictor forward+backward (optionally against PyTorch)",
		usage:   "[--configs small,vitl_width] [--threads 1,2] [--repeats 3] [--pytorch] [--json FILE]",
		setup: func(fs *flag.FlagSet) func([]string) error {
			configs := fs.String("configs", "small,vitl_width", "benchmark configs (tools/reference/README.md): "+strings.Join(jepa.BenchConfigNames(), ", "))
			threads := fs.String("threads", "1,2", "thread counts to time")
			repeats := fs.Int("repeats", 3, "timed repeats after one warm-up (the median is reported)")
			pytorch := fs.Bool("pytorch", false, "also run tools/reference/bench.py with the same settings and print Go/PyTorch ratios")
			python := fs.String("python", "/usr/bin/python3", "Python interpreter with torch, for --pytorch")
			script := fs.String("script", "tools/reference/bench.py", "the PyTorch benchmark script, for --pytorch")
			jsonOut := fs.String("json", "", "also write the results as JSON to this file")
			dev := addDeviceFlags(fs)
			gpuTable := fs.Bool("gpu-workloads", false, "instead: the GPU check's workloads (ViT-L encoder forward, 8×16×256²; predictor fwd+bwd at ViT-L width, batch 16) on --device; with --json")
			gpuSmall := fs.Bool("gpu-workloads-small", false, "with --gpu-workloads: tiny shapes (a dry run of the tooling)")
			vitl := fs.Bool("vitl-clip", false, "instead: one full ViT-L (vit_large) inference forward on a 16-frame 256² clip (random weights), reporting time and peak RSS")
			return func(args []string) error {
				if err := noArgs(args); err != nil {
					return err
				}
				var ths []int
				for _, s := range strings.Split(*threads, ",") {
					n, err := strconv.Atoi(strings.TrimSpace(s))
					if err != nil || n < 1 {
						return usageErrorf("--threads %q: want a list of positive integers", *threads)
					}
					ths = append(ths, n)
				}
				names := strings.Split(*configs, ",")
				for _, n := range names {
					if _, ok := jepa.BenchConfigs[n]; !ok {
						return usageErrorf("unknown config %q (known: %s)", n, strings.Join(jepa.BenchConfigNames(), ", "))
					}
				}
				e, err := dev.engine()
				if err != nil {
					return err
				}
				if *vitl {
					return runVitLClip(e)
				}
				if *gpuTable {
					return runGPUBench(e, *repeats, *gpuSmall, *jsonOut)
				}
				if *repeats < 1 {
					return usageErrorf("--repeats must be ≥ 1")
				}
				return runBench(e, names, ths, *repeats, *pytorch, *python, *script, *jsonOut)
			}
		},
	})
}

// benchResult maps "<config>.<workload>" → threads → seconds (bench.py's format).
type benchResult map[string]map[string]float64

func runBench(e nn.Engine, names []string, threads []int, repeats int, pytorch bool, python, script, jsonOut string) error {
	goRes := benchResult{}
	var keys []string
	old := nn.Threads()
	defer nn.SetThreads(old)
	for _, name := range names {
		wl, fns, err := jepa.Workloads(e, jepa.BenchConfigs[name], 1)
		if err != nil {
			return err
		}
		for i, w := range wl {
			key := name + "." + w
			keys = append(keys, key)
			goRes[key] = map[string]float64{}
			for _, th := range threads {
				nn.SetThreads(th)
				s, err := jepa.TimeMedian(fns[i], repeats)
				if err != nil {
					return fmt.Errorf("%s: %w", key, err)
				}
				goRes[key][strconv.Itoa(th)] = s
				fmt.Fprintf(os.Stderr, "go %s threads=%d: %.4f s\n", key, th, s)
			}
		}
	}
	var ptRes benchResult
	if pytorch {
		var ts []string
		for _, t := range threads {
			ts = append(ts, strconv.Itoa(t))
		}
		cmd := exec.Command(python, script, "--configs", strings.Join(names, ","), "--threads", strings.Join(ts, ","), "--repeats", strconv.Itoa(repeats))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("running %s %s: %w", python, script, err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ptRes); err != nil {
			return fmt.Errorf("%s: last output line is not the result JSON: %w", script, err)
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "workload\tthreads\tgo s")
	if pytorch {
		fmt.Fprint(tw, "\tpytorch s\tgo/pytorch")
	}
	fmt.Fprintln(tw)
	for _, k := range keys {
		for _, th := range threads {
			t := strconv.Itoa(th)
			fmt.Fprintf(tw, "%s\t%s\t%.4f", k, t, goRes[k][t])
			if pytorch {
				if p, ok := ptRes[k][t]; ok && p > 0 {
					fmt.Fprintf(tw, "\t%.4f\t%.2f", p, goRes[k][t]/p)
				} else {
					fmt.Fprint(tw, "\t-\t-")
				}
			}
			fmt.Fprintln(tw)
		}
	}
	tw.Flush()
	all := map[string]any{"go": goRes, "engine": e.Name(), "repeats": repeats, "build": buildinfo.Get()}
	if pytorch {
		all["pytorch"] = ptRes
	}
	b, err := json.Marshal(all)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	if jsonOut != "" {
		if err := fsutil.WriteFileAtomic(jsonOut, append(b, '\n')); err != nil {
			return fmt.Errorf("writing %s: %w", jsonOut, err)
		}
	}
	return nil
}

// runVitLClip times one vit_large inference forward on a random 16×256×256 clip and
// reports the process's peak resident memory (VmHWM).
func runVitLClip(e nn.Engine) error {
	cfg, err := arch.Lookup("vit_large")
	if err != nil {
		return err
	}
	f, err := jepa.EncoderBench(e, cfg, 1)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := f(); err != nil {
		return err
	}
	sec := time.Since(t0).Seconds()
	hwm := vmHWM()
	fmt.Printf("vit_large forward, 1×3×16×256×256 (2048 tokens), %d threads, %s: %.2f s, peak RSS %.2f GiB\n",
		nn.Threads(), e.Name(), sec, float64(hwm)/(1<<30))
	b, _ := json.Marshal(map[string]any{"workload": "vit_large_fwd_16x256", "seconds": sec, "peak_rss_bytes": hwm,
		"threads": nn.Threads(), "engine": e.Name(), "build": buildinfo.Get()})
	fmt.Println(string(b))
	return nil
}

// vmHWM reads the peak resident set size from /proc/self/status (0 when unavailable).
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
