package eval

import (
	"strings"
	"testing"
)

// canonicalNames spells out data-spec §1.3's 52-slot order independently of subsets.go.
func canonicalNames() []string {
	var names []string
	for _, side := range []string{"right", "left"} {
		for _, f := range []string{"Little", "Ring", "Middle", "Index"} {
			for _, p := range []string{"Metacarpal", "Knuckle", "IntermediateBase", "IntermediateTip", "Tip"} {
				names = append(names, side+f+"Finger"+p)
			}
		}
		for _, p := range []string{"Knuckle", "IntermediateBase", "IntermediateTip", "Tip"} {
			names = append(names, side+"Thumb"+p)
		}
		names = append(names, side+"Hand", side+"Forearm")
	}
	return names
}

func TestSubsetsMatchCanonicalNames(t *testing.T) {
	names := canonicalNames()
	if len(names) != 52 || names[10] != "rightMiddleFingerMetacarpal" || names[36] != "leftMiddleFingerMetacarpal" {
		t.Fatalf("name table wrong: %d, %s, %s", len(names), names[10], names[36])
	}
	check := func(subset string, n int, keep func(string) bool) {
		idx, err := Subset(subset)
		if err != nil {
			t.Fatal(err)
		}
		if len(idx) != n {
			t.Errorf("%s has %d joints, want %d", subset, len(idx), n)
		}
		in := map[int]bool{}
		for _, j := range idx {
			in[j] = true
		}
		for j, name := range names {
			if in[j] != keep(name) {
				t.Errorf("%s: joint %d %s included=%v", subset, j, name, in[j])
			}
		}
	}
	check("all52", 52, func(string) bool { return true })
	check("wrists", 2, func(s string) bool { return strings.HasSuffix(s, "Hand") })
	check("tips12", 12, func(s string) bool {
		return strings.HasSuffix(s, "Tip") && !strings.HasSuffix(s, "IntermediateTip") || strings.HasSuffix(s, "Hand")
	})
	check("egoexo42", 42, func(s string) bool {
		return !strings.HasSuffix(s, "Metacarpal") && !strings.HasSuffix(s, "Forearm")
	})
	if w := Wrists(); w[0] != 24 || w[1] != 50 {
		t.Errorf("wrists %v, want [24 50]", w)
	}
	if _, err := Subset("hands"); err == nil {
		t.Error("unknown subset accepted")
	}
}
