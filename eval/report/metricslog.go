package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sort"
	"strings"
)

// LogLine is one line of a training metrics log (metrics.jsonl): numeric fields only,
// any of which may be absent.
type LogLine map[string]float64

// ReadMetricsLog reads a JSON-lines training log. Blank lines are skipped; a malformed
// last line (a run killed mid-write) is dropped with a warning; any other malformed
// line is an error naming the file and line.
func ReadMetricsLog(path string) ([]LogLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []LogLine
	var pending error
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if pending != nil {
			return nil, pending
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(text), &obj); err != nil {
			pending = fmt.Errorf("%s:%d: %w", path, n, err)
			continue
		}
		l := LogLine{}
		for k, v := range obj {
			if x, ok := v.(float64); ok && !math.IsNaN(x) {
				l[k] = x
			}
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if pending != nil {
		slog.Warn("dropping malformed last line of metrics log", "err", pending)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: no metrics lines", path)
	}
	return lines, nil
}

// EpochSeries reduces a log to one value per epoch for key: the mean of the lines of
// that epoch that carry key (training loss is logged per step, validation once).
// Lines without "epoch" are ignored. Epochs come back in increasing order.
func EpochSeries(lines []LogLine, key string) (epochs, values []float64) {
	sum := map[float64]float64{}
	cnt := map[float64]int{}
	for _, l := range lines {
		e, ok := l["epoch"]
		v, has := l[key]
		if !ok || !has {
			continue
		}
		sum[e] += v
		cnt[e]++
	}
	for e := range sum {
		epochs = append(epochs, e)
	}
	sort.Float64s(epochs)
	for _, e := range epochs {
		values = append(values, sum[e]/float64(cnt[e]))
	}
	return epochs, values
}

// TrainingSummary is what results.json records per training log.
type TrainingSummary struct {
	Path          string  `json:"path"`
	Epochs        int     `json:"epochs"`
	BestEpoch     float64 `json:"best_epoch,omitempty"`
	BestValADE    float64 `json:"best_val_ade,omitempty"`
	ValFDEAtBest  float64 `json:"val_fde_at_best,omitempty"`
	ValAccAtBest  float64 `json:"val_acc_at_best,omitempty"`
	LastTrainLoss float64 `json:"last_train_loss,omitempty"`
}

// Summarise picks the lowest-val-ADE epoch (ThinkJEPA's checkpoint rule) and reports
// FDE and Acc from that same epoch.
func Summarise(path string, lines []LogLine) TrainingSummary {
	s := TrainingSummary{Path: path}
	ep, ade := EpochSeries(lines, "val_ade")
	fe, fde := EpochSeries(lines, "val_fde")
	ae, acc := EpochSeries(lines, "val_acc")
	best := -1
	for i := range ade {
		if best < 0 || ade[i] < ade[best] {
			best = i
		}
	}
	if best >= 0 {
		s.BestEpoch, s.BestValADE = ep[best], ade[best]
		for i, e := range fe {
			if e == ep[best] {
				s.ValFDEAtBest = fde[i]
			}
		}
		for i, e := range ae {
			if e == ep[best] {
				s.ValAccAtBest = acc[i]
			}
		}
	}
	_, loss := EpochSeries(lines, "train_loss")
	if len(loss) > 0 {
		s.LastTrainLoss = loss[len(loss)-1]
	}
	seen := map[float64]bool{}
	for _, l := range lines {
		if e, ok := l["epoch"]; ok {
			seen[e] = true
		}
	}
	s.Epochs = len(seen)
	return s
}
