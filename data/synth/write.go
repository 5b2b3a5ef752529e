package synth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/thinkjepa/thinkjepa/data"
	"github.com/thinkjepa/thinkjepa/data/h5"
	"github.com/thinkjepa/thinkjepa/internal/buildinfo"
	"github.com/thinkjepa/thinkjepa/internal/fsutil"
	"github.com/thinkjepa/thinkjepa/internal/npy"
)

// Options configures Write.
type Options struct {
	Episodes  int    // EgoDex-layout episodes
	EgoExo    int    // Ego-Exo4D-layout takes (0: none)
	Seed      uint64 //
	W, H      int    // EgoDex video size (default 384×216; K is the 1920×1080 K scaled by W/1920, H/1080)
	Workers   int    // parallel episodes (default 2)
	TestEvery int    // every TestEvery-th episode goes to the test split (default 6)
	// Anomalies > 0 adds ceil(Anomalies × Episodes) episodes with one labelled anomalous
	// event each (jump, freeze, swap, repeat in turn) to the test split, after the
	// normal ones, which stay exactly as without it; every test episode then gets a
	// frame-label file in DIR/labels (see LabelsDir).
	Anomalies float64 `json:"anomalies,omitempty"`
	// AnomalyKinds are the event kinds the anomalous episodes cycle through (default
	// EventKinds).
	AnomalyKinds []string `json:"anomaly_kinds,omitempty"`
}

// LabelsDir is the folder under a synthetic set that holds the anomaly labels: one
// <split>_<task>_<k>.npy per test episode (uint8 [N], 1 = anomalous frame), named by the
// episode id with "/" → "_", the clip-file name scripts/demo-anomaly.sh gives each
// episode, so `thinkjepa anomaly --labels` (and upstream's --frame_gt_dir) match them
// by stem.
const LabelsDir = "labels"

// LabelStem is the label-file stem (and clip-file stem) of an episode id.
func LabelStem(id string) string { return strings.ReplaceAll(id, "/", "_") }

// EgoDexK is the real EgoDex intrinsic for 1920×1080 (data-spec §1.2).
var EgoDexK = [9]float64{736.6339, 0, 960, 0, 736.6339, 540, 0, 0, 1}

// Meta is written to DIR/synth.json next to the data.
type Meta struct {
	Options Options `json:"options"`
	// Anomalies lists the anomalous episodes and their events (with Options.Anomalies).
	Anomalies []AnomalousEpisode `json:"anomalies,omitempty"`
	Build     buildinfo.Info     `json:"build"`
	Note      string             `json:"note"`
}

// AnomalousEpisode records where the events of one anomalous episode are.
type AnomalousEpisode struct {
	ID     string  `json:"id"` // episode id (<split>/<task>/<k>)
	Frames int     `json:"frames"`
	Events []Event `json:"events"`
}

type job struct {
	k, idx int
	split  string
	spec   Spec
	events []Event
}

func (j job) id() string { return j.split + "/" + j.spec.Task + "/" + strconv.Itoa(j.k) }

// Write generates the synthetic set under dir: dir/<split>/<task>/<k>.hdf5 + .mp4 and, if
// o.EgoExo > 0, dir/egoexo4d/… in the Ego-Exo4D layout.
func Write(dir string, o Options) error {
	if o.W <= 0 || o.H <= 0 {
		o.W, o.H = 384, 216
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.TestEvery <= 0 {
		o.TestEvery = 6
	}
	if !(o.Anomalies >= 0 && o.Anomalies <= 10) { // also NaN
		return fmt.Errorf("synth: anomaly rate %v, want 0 ≤ rate ≤ 10", o.Anomalies)
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return fmt.Errorf("synth: ffmpeg not found on PATH (needed to encode MP4): %w", err)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	var jobs []job
	counters := map[string]int{}
	for i := 0; i < o.Episodes; i++ {
		task := Tasks[i%len(Tasks)]
		split := "part1"
		if (i/len(Tasks))%o.TestEvery == o.TestEvery-1 {
			split = "test"
		}
		key := split + "/" + task
		jobs = append(jobs, job{k: counters[key], idx: i, split: split, spec: RandomSpec(rng, task)})
		counters[key]++
	}
	// Anomalous episodes draw from their own stream, so the normal episodes and the
	// Ego-Exo4D takes are the same with and without them.
	var anomalous []AnomalousEpisode
	if o.Anomalies > 0 {
		arng := rand.New(rand.NewPCG(o.Seed, 0xa40a1))
		na := int(math.Ceil(o.Anomalies * float64(o.Episodes)))
		if len(o.AnomalyKinds) == 0 {
			o.AnomalyKinds = EventKinds
		}
		for i := 0; i < na; i++ {
			task := Tasks[i%len(Tasks)]
			key := "test/" + task
			spec := RandomSpec(arng, task)
			ev, err := RandomEvent(arng, o.AnomalyKinds[(i/len(Tasks))%len(o.AnomalyKinds)], spec.N)
			if err != nil {
				return err
			}
			j := job{k: counters[key], idx: o.Episodes + i, split: "test", spec: spec, events: []Event{ev}}
			counters[key]++
			jobs = append(jobs, j)
			anomalous = append(anomalous, AnomalousEpisode{ID: j.id(), Frames: spec.N, Events: j.events})
		}
	}
	cam := Camera{W: o.W, H: o.H, Fx: EgoDexK[0] * float64(o.W) / 1920, Fy: EgoDexK[4] * float64(o.H) / 1080,
		Cx: EgoDexK[2] * float64(o.W) / 1920, Cy: EgoDexK[5] * float64(o.H) / 1080}
	if err := runParallel(len(jobs), o.Workers, func(i int) error {
		j := jobs[i]
		d := filepath.Join(dir, j.split, j.spec.Task)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		m := Generate(j.spec)
		for _, ev := range j.events {
			if err := ev.Apply(m); err != nil {
				return fmt.Errorf("episode %s: %w", j.id(), err)
			}
		}
		if err := writeEgoDexEpisode(filepath.Join(d, strconv.Itoa(j.k)), m, cam, j.idx); err != nil {
			return err
		}
		if o.Anomalies > 0 && j.split == "test" {
			ld := filepath.Join(dir, LabelsDir)
			if err := os.MkdirAll(ld, 0o755); err != nil {
				return err
			}
			return writeNPYAtomic(filepath.Join(ld, LabelStem(j.id())+".npy"), npy.FromUint8(Labels(j.spec.N, j.events), j.spec.N))
		}
		return nil
	}); err != nil {
		return err
	}
	if o.EgoExo > 0 {
		if err := writeEgoExo(filepath.Join(dir, "egoexo4d"), o, rng); err != nil {
			return err
		}
	}
	b, _ := json.MarshalIndent(Meta{Options: o, Anomalies: anomalous, Build: buildinfo.Get(),
		Note: "synthetic EgoDex layout; video W×H with K = the 1920×1080 EgoDex K scaled by W/1920, H/1080"}, "", "  ")
	return fsutil.WriteFileAtomic(filepath.Join(dir, "synth.json"), append(b, '\n'))
}

func writeNPYAtomic(path string, a *npy.Array) error {
	var b bytes.Buffer
	if err := npy.Write(&b, a); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, b.Bytes())
}

func runParallel(n, workers int, fn func(int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	ch := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				errs[i] = fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		ch <- i
	}
	close(ch)
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// writeEgoDexEpisode writes stem.hdf5 and stem.mp4 (each atomically).
func writeEgoDexEpisode(stem string, m *Motion, cam Camera, idx int) error {
	N := m.Spec.N
	tmp := stem + ".hdf5.tmp"
	w, err := h5.Create(tmp)
	if err != nil {
		return err
	}
	w.Deflate = 4 // chunked + gzip, so readers exercise that layout
	err = func() error {
		for j, name := range data.SkeletonJoints68 {
			tf := make([]float32, N*16)
			for t := 0; t < N; t++ {
				R, p := m.Rot[t][j], m.Joints[t][j]
				M := [16]float64{R[0], R[1], R[2], p[0], R[3], R[4], R[5], p[1], R[6], R[7], R[8], p[2], 0, 0, 0, 1}
				for e := range M {
					tf[t*16+e] = float32(M[e])
				}
			}
			if err := w.WriteFloat32("/transforms/"+name, tf, N, 4, 4); err != nil {
				return err
			}
			conf := make([]float32, N)
			for t := range conf {
				conf[t] = float32(m.Conf[t][j])
			}
			if err := w.WriteFloat32("/confidences/"+name, conf, N); err != nil {
				return err
			}
		}
		ct := make([]float32, N*16)
		for t := 0; t < N; t++ {
			for e := 0; e < 16; e++ {
				ct[t*16+e] = float32(m.Cam[t][e])
			}
		}
		if err := w.WriteFloat32("/transforms/camera", ct, N, 4, 4); err != nil {
			return err
		}
		K := []float32{float32(cam.Fx), 0, float32(cam.Cx), 0, float32(cam.Fy), float32(cam.Cy), 0, 0, 1}
		if err := w.WriteFloat32("/camera/intrinsic", K, 3, 3); err != nil {
			return err
		}
		main, rev, reversible := m.Spec.Instruction()
		attrs := map[string]string{"task": m.Spec.Task, "environment": "synthetic_table", "object": objectColours[m.Spec.Colour].Name + " object",
			"session_name": fmt.Sprintf("synth_session_%03d", idx/10), "llm_description": main, "llm_type": "irreversible", "which_llm_description": "1"}
		if reversible {
			attrs["llm_type"] = "reversible"
			attrs["llm_description2"] = rev
			if m.Spec.Which2 { // the true direction stored second (§1.5 rule)
				attrs["llm_description"], attrs["llm_description2"], attrs["which_llm_description"] = rev, main, "2"
			}
		}
		for k, v := range attrs {
			// session_name fixed-length (numpy bytes style), the rest variable-length UTF-8.
			if err := w.StringAttr(k, v, k == "session_name"); err != nil {
				return err
			}
		}
		return nil
	}()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := encodeVideo(stem+".mp4", m, cam); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, stem+".hdf5")
}

// encodeVideo renders m and encodes it as H.264 through ffmpeg (rawvideo on stdin).
func encodeVideo(path string, m *Motion, cam Camera) error {
	tmp := path + ".tmp.mp4"
	cmd := exec.Command("ffmpeg", "-nostdin", "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
		"-s", fmt.Sprintf("%dx%d", cam.W, cam.H), "-r", "30", "-i", "-", "-c:v", "libx264", "-preset", "ultrafast",
		"-crf", "20", "-threads", "1", "-pix_fmt", "yuv420p", "-bitexact", "-map_metadata", "-1", "-f", "mp4", tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("synth: start ffmpeg: %w", err)
	}
	idx := map[string]int{}
	for i, n := range data.SkeletonJoints68 {
		idx[n] = i
	}
	buf := make([]uint8, cam.W*cam.H*3)
	var werr error
	for i := 0; i < m.Spec.N && werr == nil; i++ {
		renderFrame(m, i, cam, idx, buf)
		_, werr = in.Write(buf)
	}
	in.Close()
	if err := cmd.Wait(); err != nil || werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("synth: ffmpeg encode %s: %v %v: %s", path, err, werr, stderr.String())
	}
	return os.Rename(tmp, path)
}
