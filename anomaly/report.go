package anomaly

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/thinkjepa/thinkjepa/internal/fsutil"
)

// ClipResult is one scored clip.
type ClipResult struct {
	ID           string
	T            int
	Starts       []int     // window starts
	WindowScores []float64 // one per window
	Frame        []float64 // [T] frame scores, NaN where not covered
	Covered      []bool    // [T]
	Source       []int64   // [T] source frames, nil: the latent frame index
	// Labels are the aligned frame labels [T], nil when the clip has none.
	Labels    []bool
	LabelPath string
	Alignment Alignment
	// Vectors are the windows' embedding inputs (WindowVector), when asked for.
	Vectors [][]float64
}

// SourceFrame is latent frame t's frame in the source video.
func (c *ClipResult) SourceFrame(t int) int64 {
	if c.Source != nil {
		return c.Source[t]
	}
	return int64(t)
}

// CSV renders scores.csv: latent_frame, source_frame, score, valid, gt (upstream's
// columns). score is "nan" and valid 0 for frames no window covers; gt is empty for an
// unlabelled clip.
func (c *ClipResult) CSV() []byte {
	var b bytes.Buffer
	b.WriteString("latent_frame,source_frame,score,valid,gt\n")
	for t := 0; t < c.T; t++ {
		valid := 0
		if c.Covered[t] && !math.IsNaN(c.Frame[t]) {
			valid = 1
		}
		gt := ""
		if c.Labels != nil {
			gt = "0"
			if c.Labels[t] {
				gt = "1"
			}
		}
		fmt.Fprintf(&b, "%d,%d,%s,%d,%s\n", t, c.SourceFrame(t), strconv.FormatFloat(c.Frame[t], 'g', -1, 64), valid, gt)
	}
	return b.Bytes()
}

// validPairs are the clip's scored frames with their labels (labelled clips only).
func (c *ClipResult) validPairs() (s []float64, l []bool) {
	for t := 0; t < c.T; t++ {
		if c.Covered[t] && !math.IsNaN(c.Frame[t]) {
			s = append(s, c.Frame[t])
			if c.Labels != nil {
				l = append(l, c.Labels[t])
			}
		}
	}
	return s, l
}

// ClipSummary is one clip's line in the summary.
type ClipSummary struct {
	ID           string    `json:"id"`
	Frames       int       `json:"frames"`
	Windows      int       `json:"windows"`
	ScoredFrames int       `json:"scored_frames"`
	MeanScore    *float64  `json:"mean_score"`
	Labels       string    `json:"labels,omitempty"` // label file; empty: unlabelled
	Alignment    Alignment `json:"alignment,omitempty"`
	Anomalous    int       `json:"anomalous_frames"` // scored frames labelled anomalous
	ROCAUC       *float64  `json:"roc_auc"`          // nil: unlabelled or one class only
}

// Summary pools every labelled clip's scored frames.
type Summary struct {
	Clips      int      `json:"clips"`
	Labelled   int      `json:"labelled_clips"`
	Unlabelled []string `json:"unlabelled_clips"`
	// Frames and Anomalous count the scored frames of labelled clips.
	Frames    int      `json:"frames"`
	Anomalous int      `json:"anomalous_frames"`
	ROCAUC    *float64 `json:"roc_auc"` // nil: undefined (no labels, or one class only)
	AP        *float64 `json:"average_precision"`
	BestF1    *F1      `json:"best_f1"`
	// Threshold is the given flag threshold (score > threshold); FlagRate is over every
	// scored frame, labelled or not; TPR and FPR over labelled anomalous/normal frames.
	Threshold float64  `json:"threshold"`
	FlagRate  *float64 `json:"flag_rate"`
	TPR       *float64 `json:"tpr"`
	FPR       *float64 `json:"fpr"`
	// TargetFPR and the threshold calibrated for it on normal data (Calibration says which:
	// "normal clips" = labelled clips without an anomalous frame, else "normal frames" of
	// labelled clips; nil without labels).
	TargetFPR   float64       `json:"target_fpr"`
	Calibration string        `json:"calibration,omitempty"`
	Calibrated  *float64      `json:"calibrated_threshold"`
	CalTPR      *float64      `json:"calibrated_tpr"`
	CalFPR      *float64      `json:"calibrated_fpr"`
	PerClip     []ClipSummary `json:"per_clip"`
}

func ptr(v float64, ok bool) *float64 {
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// rates are the fractions of anomalous and of normal frames flagged at thr.
func rates(s []float64, l []bool, thr float64) (tpr, fpr *float64) {
	var pos, neg []float64
	for i, v := range s {
		if l[i] {
			pos = append(pos, v)
		} else {
			neg = append(neg, v)
		}
	}
	r1, n1 := FlagRate(pos, thr)
	r2, n2 := FlagRate(neg, thr)
	return ptr(r1, n1 > 0), ptr(r2, n2 > 0)
}

// Summarise computes the pooled metrics of clips at the given threshold and calibrates a
// threshold for targetFPR.
func Summarise(clips []*ClipResult, threshold, targetFPR float64) (*Summary, error) {
	s := &Summary{Clips: len(clips), Threshold: threshold, TargetFPR: targetFPR, Unlabelled: []string{}}
	var all, ls []float64
	var ll []bool
	var normalClips, normalFrames []float64
	for _, c := range clips {
		cs, cl := c.validPairs()
		all = append(all, cs...)
		line := ClipSummary{ID: c.ID, Frames: c.T, Windows: len(c.Starts), ScoredFrames: len(cs), Labels: c.LabelPath, Alignment: c.Alignment}
		if len(cs) > 0 {
			var m float64
			for _, v := range cs {
				m += v
			}
			line.MeanScore = ptr(m/float64(len(cs)), true)
		}
		if c.Labels == nil {
			s.Unlabelled = append(s.Unlabelled, c.ID)
			s.PerClip = append(s.PerClip, line)
			continue
		}
		s.Labelled++
		ls = append(ls, cs...)
		ll = append(ll, cl...)
		anyPos := false
		for i, v := range cl {
			if v {
				anyPos = true
				line.Anomalous++
			} else {
				normalFrames = append(normalFrames, cs[i])
			}
		}
		if !anyPos {
			normalClips = append(normalClips, cs...)
		}
		auc, ok, err := ROCAUC(cs, cl)
		if err != nil {
			return nil, fmt.Errorf("clip %s: %w", c.ID, err)
		}
		line.ROCAUC = ptr(auc, ok)
		s.PerClip = append(s.PerClip, line)
	}
	s.Frames = len(ls)
	for _, v := range ll {
		if v {
			s.Anomalous++
		}
	}
	auc, ok, err := ROCAUC(ls, ll)
	if err != nil {
		return nil, err
	}
	s.ROCAUC = ptr(auc, ok)
	ap, ok, err := AveragePrecision(ls, ll)
	if err != nil {
		return nil, err
	}
	s.AP = ptr(ap, ok)
	if f1, ok, err := BestF1(ls, ll); err != nil {
		return nil, err
	} else if ok {
		s.BestF1 = &f1
	}
	r, n := FlagRate(all, threshold)
	s.FlagRate = ptr(r, n > 0)
	s.TPR, s.FPR = rates(ls, ll, threshold)
	normal := normalClips
	s.Calibration = "normal clips"
	if len(normal) == 0 {
		normal, s.Calibration = normalFrames, "normal frames"
	}
	if len(normal) == 0 {
		s.Calibration = ""
		return s, nil
	}
	thr, err := CalibrateThreshold(normal, targetFPR)
	if err != nil {
		return nil, err
	}
	s.Calibrated = &thr
	s.CalTPR, s.CalFPR = rates(ls, ll, thr)
	return s, nil
}

// WriteJSON writes the summary atomically.
func (s *Summary) WriteJSON(path string, extra map[string]any) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		for k, v := range extra {
			m[k] = v
		}
		if b, err = json.Marshal(m); err != nil {
			return err
		}
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	return fsutil.WriteFileAtomic(path, out.Bytes())
}

func f4p(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*v, 'f', 4, 64)
}

// Markdown renders the summary for people.
func (s *Summary) Markdown(title string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "%d clips, %d labelled (%d scored frames, %d anomalous)", s.Clips, s.Labelled, s.Frames, s.Anomalous)
	if len(s.Unlabelled) > 0 {
		fmt.Fprintf(&b, "; unlabelled, scored only: %s", strings.Join(s.Unlabelled, ", "))
	}
	b.WriteString(".\n\n| metric | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| ROC AUC | %s |\n| average precision | %s |\n", f4p(s.ROCAUC), f4p(s.AP))
	if s.BestF1 != nil {
		fmt.Fprintf(&b, "| best F1 | %.4f (score > %.6g; precision %.4f, recall %.4f) |\n", s.BestF1.F1, s.BestF1.Threshold, s.BestF1.Precision, s.BestF1.Recall)
	} else {
		b.WriteString("| best F1 | n/a |\n")
	}
	fmt.Fprintf(&b, "| flag rate at score > %.6g | %s (TPR %s, FPR %s) |\n", s.Threshold, f4p(s.FlagRate), f4p(s.TPR), f4p(s.FPR))
	if s.Calibrated != nil {
		fmt.Fprintf(&b, "| threshold for FPR ≤ %.4g (%s) | %.6g (TPR %s, FPR %s) |\n", s.TargetFPR, s.Calibration, *s.Calibrated, f4p(s.CalTPR), f4p(s.CalFPR))
	} else {
		fmt.Fprintf(&b, "| threshold for FPR ≤ %.4g | n/a (no labelled normal frames) |\n", s.TargetFPR)
	}
	b.WriteString("\n| clip | frames | windows | scored | mean score | labels | alignment | anomalous | ROC AUC |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range s.PerClip {
		lab := c.Labels
		if lab == "" {
			lab = "unlabelled"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s | %s | %d | %s |\n", c.ID, c.Frames, c.Windows, c.ScoredFrames, f4p(c.MeanScore), lab, c.Alignment, c.Anomalous, f4p(c.ROCAUC))
	}
	return b.String()
}
