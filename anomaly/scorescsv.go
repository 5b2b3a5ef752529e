package anomaly

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ScoresHeader is the first line of scores.csv.
const ScoresHeader = "latent_frame,source_frame,score,valid,gt"

// ParseScoresCSV reads a scores.csv written by ClipResult.CSV back into a ClipResult with
// ID, T, Frame, Covered, Source and Labels (nil when the gt column is empty throughout:
// an unlabelled clip). Scores round-trip exactly (shortest float64 formatting). A file
// that is not one (header, column count, latent frames 0..T−1 in order, valid 0/1, gt
// 0/1 or empty in every row) is an error naming the line.
func ParseScoresCSV(id string, b []byte) (*ClipResult, error) {
	lines := strings.Split(strings.TrimRight(string(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))), "\n"), "\n")
	if len(lines) == 0 || lines[0] != ScoresHeader {
		return nil, fmt.Errorf("header %q, want %q", lines[0], ScoresHeader)
	}
	c := &ClipResult{ID: id}
	labelled := -1 // unknown until the first row
	for k, l := range lines[1:] {
		line := k + 2
		f := strings.Split(l, ",")
		if len(f) != 5 {
			return nil, fmt.Errorf("line %d: %d fields, want 5", line, len(f))
		}
		if t, err := strconv.Atoi(f[0]); err != nil || t != k {
			return nil, fmt.Errorf("line %d: latent_frame %q, want %d", line, f[0], k)
		}
		src, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: source_frame %q", line, f[1])
		}
		s, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: score %q", line, f[2])
		}
		var valid bool
		switch f[3] {
		case "0":
		case "1":
			valid = true
			if math.IsNaN(s) {
				return nil, fmt.Errorf("line %d: valid frame with score NaN", line)
			}
		default:
			return nil, fmt.Errorf("line %d: valid %q, want 0 or 1", line, f[3])
		}
		has := 0
		if f[4] != "" {
			has = 1
			if f[4] != "0" && f[4] != "1" {
				return nil, fmt.Errorf("line %d: gt %q, want 0, 1 or empty", line, f[4])
			}
		}
		if labelled == -1 {
			labelled = has
		} else if labelled != has {
			return nil, fmt.Errorf("line %d: gt is empty on some rows and not on others", line)
		}
		c.Frame = append(c.Frame, s)
		c.Covered = append(c.Covered, valid)
		c.Source = append(c.Source, src)
		if has == 1 {
			c.Labels = append(c.Labels, f[4] == "1")
		}
	}
	c.T = len(c.Frame)
	if c.T == 0 {
		return nil, fmt.Errorf("no frames")
	}
	return c, nil
}
