package linspace

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const goldenPath = "testdata/numpy_linspace.txt"

// golden is testdata/numpy_linspace.txt (tools/linspace/golden.py): the N range, each
// num's sha256 of NumPy's full table, and where NumPy is one below the exact floor.
type golden struct {
	lo, hi int
	sha    map[int]string        // num → hex
	below  map[int]map[int][]int // num → N → indices i
}

func readGolden(t *testing.T) golden {
	t.Helper()
	f, err := os.Open(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := golden{sha: map[int]string{}, below: map[int]map[int][]int{}}
	atoi := func(s string) int {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s: %v", goldenPath, err)
		}
		return v
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) == 0 || strings.HasPrefix(w[0], "#") {
			continue
		}
		switch {
		case w[0] == "range" && len(w) == 3:
			g.lo, g.hi = atoi(w[1]), atoi(w[2])
		case w[0] == "sha256" && len(w) == 3:
			g.sha[atoi(w[1])] = w[2]
		case w[0] == "below" && len(w) >= 4:
			num, n := atoi(w[1]), atoi(w[2])
			if g.below[num] == nil {
				g.below[num] = map[int][]int{}
			}
			for _, s := range w[3:] {
				g.below[num][n] = append(g.below[num][n], atoi(s))
			}
		default:
			t.Fatalf("%s: unexpected line %q", goldenPath, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if g.lo != 1 || g.hi < 20000 || len(g.sha) == 0 {
		t.Fatalf("%s: range %d..%d, %d tables", goldenPath, g.lo, g.hi, len(g.sha))
	}
	return g
}

// exactFloor is floor(i·(n−1)/(num−1)) in integers, the rule data.Episode64 used to take.
func exactFloor(n, num int) []int {
	out := make([]int, num)
	for i := range out {
		if num > 1 {
			out[i] = i * (n - 1) / (num - 1)
		}
	}
	return out
}

// Ints against NumPy for every N in 1..20000 and num 16, 32, 48, 64: NumPy's table is
// rebuilt from the golden's exceptions, checked against its sha256, and compared row by row.
func TestNumPyGolden(t *testing.T) {
	g := readGolden(t)
	for _, num := range []int{16, 32, 48, 64} {
		want, ok := g.sha[num]
		if !ok {
			t.Fatalf("%s: no table for num %d", goldenPath, num)
		}
		h := sha256.New()
		var row []byte
		bad := 0
		for n := g.lo; n <= g.hi; n++ {
			np := exactFloor(n, num)
			for _, i := range g.below[num][n] {
				np[i]--
			}
			row = row[:0]
			for i, v := range np {
				if i > 0 {
					row = append(row, ',')
				}
				row = strconv.AppendInt(row, int64(v), 10)
			}
			h.Write(append(row, '\n'))
			if got := Ints(n-1, num); !slices.Equal(got, np) {
				if bad++; bad <= 5 {
					t.Errorf("linspace(0, %d, %d): ours %v, numpy %v", n-1, num, got, np)
				}
			}
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("num %d: rebuilt NumPy table hashes to %s, golden %s (testdata out of date?)", num, got, want)
		}
		if bad > 0 {
			t.Errorf("num %d: %d lengths differ from NumPy", num, bad)
		}
	}
	// The case that motivated the package, and how often the exact floor is wrong.
	if b := g.below[64][154]; !slices.Equal(b, []int{21, 42, 49}) {
		t.Errorf("golden: N=154, num=64 differs at %v, want [21 42 49]", b)
	}
	if got := Ints(153, 64); got[21] != 50 || got[22] != 53 || got[63] != 153 {
		t.Errorf("linspace(0, 153, 64): [21]=%d [22]=%d [63]=%d, want 50 53 153", got[21], got[22], got[63])
	}
	if len(g.below[64]) != 679 {
		t.Errorf("golden: %d lengths where num 64 is not the exact floor, want 679", len(g.below[64]))
	}
}

func TestEdges(t *testing.T) {
	if got := Ints(5, 0); got != nil {
		t.Errorf("num 0: %v", got)
	}
	if got := Ints(2, 1); !slices.Equal(got, []int{0}) {
		t.Errorf("linspace(0, 2, 1) = %v", got)
	}
	if got := Ints(0, 4); !slices.Equal(got, []int{0, 0, 0, 0}) {
		t.Errorf("linspace(0, 0, 4) = %v", got)
	}
	if got := Ints(4, 8); !slices.Equal(got, []int{0, 0, 1, 1, 2, 2, 3, 4}) {
		t.Errorf("linspace(0, 4, 8) = %v", got)
	}
	// i = 49 of linspace(0, 2, 99) is 0.9999999999999999 in float64.
	if got := Ints(2, 99); got[49] != 0 || got[50] != 1 || got[98] != 2 {
		t.Errorf("linspace(0, 2, 99)[49:51] = %v, [98] = %d", got[49:51], got[98])
	}
}

// The golden file against the NumPy installed here, when there is one: rerunning
// tools/linspace/golden.py must give the committed lines (comments aside).
func TestNumPyLive(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the committed golden is checked by TestNumPyGolden")
	}
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		if py, err = exec.LookPath("python3"); err != nil {
			t.Skip("python3 not found; the committed golden is checked by TestNumPyGolden")
		}
	}
	if exec.Command(py, "-c", "import numpy").Run() != nil {
		t.Skipf("%s has no numpy; the committed golden is checked by TestNumPyGolden", py)
	}
	cmd := exec.Command(py, filepath.Join("..", "..", "tools", "linspace", "golden.py"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("golden.py: %v\n%s", err, stderr.String())
	}
	committed, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	data := func(b []byte) []string {
		var l []string
		for _, s := range strings.Split(string(b), "\n") {
			if s != "" && !strings.HasPrefix(s, "#") {
				l = append(l, s)
			}
		}
		return l
	}
	if got, want := data(out), data(committed); !slices.Equal(got, want) {
		t.Errorf("tools/linspace/golden.py with this NumPy gives %d lines, %s has %d, and they differ: regenerate it", len(got), goldenPath, len(want))
	}
}
