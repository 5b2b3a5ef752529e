package golden

import (
	"strings"
	"testing"
)

func TestLowVar(t *testing.T) {
	lv, err := ReadLowVar([]byte(`{"kind": "x", "batch": 2}`))
	if err != nil || lv != nil {
		t.Fatalf("no lowvar entry: got %v, %v; want nil, nil", lv, err)
	}
	lv, err = ReadLowVar([]byte(`{"lowvar": {"scale": 0.0078125, "scaled_weights": ["a"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	w := map[string][]float32{"a": {1, -3, 0.1}, "b": {5}}
	s, err := lv.Apply(w)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float32{1.0 / 128, -3.0 / 128, 0.1 / 128} {
		if s["a"][i] != want {
			t.Errorf("a[%d] = %g, want %g", i, s["a"][i], want)
		}
	}
	if s["b"][0] != 5 || w["a"][0] != 1 {
		t.Errorf("unlisted weight changed or input modified: b %v, a %v", s["b"], w["a"])
	}
	if _, err := ReadLowVar([]byte(`{"lowvar": {"scale": 0.01, "scaled_weights": []}}`)); err == nil ||
		!strings.Contains(err.Error(), "power of two") {
		t.Errorf("scale 0.01: got %v, want a power-of-two error", err)
	}
	lv.ScaledWeights = []string{"missing"}
	if _, err := lv.Apply(w); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("missing key: got %v, want an error naming it", err)
	}
}
