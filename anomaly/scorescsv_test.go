package anomaly

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// scores.csv written by ClipResult.CSV reads back exactly: scores bit for bit (NaN for
// uncovered frames), valid, source frames, labels or none; malformed files fail naming
// the line.
func TestParseScoresCSV(t *testing.T) {
	third := 1.0 / 3
	for _, c := range []*ClipResult{
		{ID: "a", T: 4, Frame: []float64{math.NaN(), third, 1e-300, 7}, Covered: []bool{false, true, true, true},
			Source: []int64{0, 4, 8, 12}, Labels: []bool{false, true, false, true}},
		{ID: "b", T: 3, Frame: []float64{math.NaN(), 2.5, math.NaN()}, Covered: []bool{false, true, false}},
	} {
		got, err := ParseScoresCSV(c.ID, c.CSV())
		if err != nil {
			t.Fatal(err)
		}
		if got.T != c.T || !reflect.DeepEqual(got.Labels, c.Labels) || !reflect.DeepEqual(got.Covered, c.Covered) {
			t.Errorf("%s: %+v", c.ID, got)
		}
		for i := range c.Frame {
			if math.Float64bits(got.Frame[i]) != math.Float64bits(c.Frame[i]) && !(math.IsNaN(got.Frame[i]) && math.IsNaN(c.Frame[i])) {
				t.Errorf("%s frame %d: %v, wrote %v", c.ID, i, got.Frame[i], c.Frame[i])
			}
			if got.SourceFrame(i) != c.SourceFrame(i) {
				t.Errorf("%s frame %d: source %d, wrote %d", c.ID, i, got.SourceFrame(i), c.SourceFrame(i))
			}
		}
		if string(got.CSV()) != string(c.CSV()) {
			t.Errorf("%s: CSV does not round-trip", c.ID)
		}
	}
	h := ScoresHeader + "\n"
	for body, want := range map[string]string{
		"frame,score\n0,1\n":        "header",
		h:                           "no frames",
		h + "0,0,1,1,0,9\n":         "line 2: 6 fields",
		h + "1,0,1,1,0\n":           "line 2: latent_frame",
		h + "0,0,x,1,0\n":           "line 2: score",
		h + "0,0,NaN,1,0\n":         "valid frame with score NaN",
		h + "0,0,1,2,0\n":           "valid",
		h + "0,0,1,1,0.5\n":         "gt",
		h + "0,0,1,1,0\n1,1,1,1,\n": "line 3: gt is empty on some rows",
	} {
		if _, err := ParseScoresCSV("x", []byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

// FuzzParseScoresCSV: the reader never panics, and whatever it accepts writes back to a
// file it reads the same way.
func FuzzParseScoresCSV(f *testing.F) {
	for _, s := range []string{ScoresHeader + "\n0,0,NaN,0,\n1,3,0.5,1,\n", ScoresHeader + "\n0,0,1,1,1\n", ScoresHeader + "\r\n0,0,1,1,0\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseScoresCSV("f", b)
		if err != nil {
			return
		}
		again, err := ParseScoresCSV("f", c.CSV())
		if err != nil {
			t.Fatalf("rewritten file does not parse: %v", err)
		}
		if string(again.CSV()) != string(c.CSV()) {
			t.Fatal("CSV round trip differs")
		}
	})
}
