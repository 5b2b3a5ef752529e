package eval

import (
	"fmt"
	"sort"
	"strings"
)

// Canonical 52-slot layout (data-spec §1.3): per side 24 finger joints, then the wrist
// (Hand) and the forearm. Fingers in the order Little, Ring, Middle, Index (Metacarpal,
// Knuckle, IntermediateBase, IntermediateTip, Tip) then Thumb (Knuckle,
// IntermediateBase, IntermediateTip, Tip). Right side at 0, left side at 26.
const (
	sideStride   = 26
	wristOffset  = 24
	forearmOfset = 25
)

// Finger bases within a side: Little 0, Ring 5, Middle 10, Index 15 (5 joints each,
// metacarpal first, tip last), Thumb 20 (4 joints, tip at 23).
var (
	fingerBases = []int{0, 5, 10, 15}
	thumbTip    = 23
)

// Wrists are rightHand (24) and leftHand (50).
func Wrists() []int { return []int{wristOffset, sideStride + wristOffset} }

// Tips12 is the EgoDex keypoint set: both wrists and the 10 fingertips.
func Tips12() []int {
	var out []int
	for side := 0; side < 2; side++ {
		o := side * sideStride
		for _, f := range fingerBases {
			out = append(out, o+f+4)
		}
		out = append(out, o+thumbTip, o+wristOffset)
	}
	sort.Ints(out)
	return out
}

// EgoExo42 are the slots with their own Ego-Exo4D joint (data-spec §3.3): everything
// except the 8 finger metacarpals (which duplicate the knuckles' `_1` annotation) and
// the 2 forearms (no hand joint; filled from the body elbow).
func EgoExo42() []int {
	skip := map[int]bool{}
	for side := 0; side < 2; side++ {
		o := side * sideStride
		for _, f := range fingerBases {
			skip[o+f] = true
		}
		skip[o+forearmOfset] = true
	}
	var out []int
	for j := 0; j < 2*sideStride; j++ {
		if !skip[j] {
			out = append(out, j)
		}
	}
	return out
}

// All52 is every slot.
func All52() []int {
	out := make([]int, 2*sideStride)
	for j := range out {
		out[j] = j
	}
	return out
}

// SubsetNames lists the names Subset accepts.
var SubsetNames = []string{"all52", "wrists", "tips12", "egoexo42"}

// Subset returns the joint indices of a named subset.
func Subset(name string) ([]int, error) {
	switch name {
	case "all52", "":
		return All52(), nil
	case "wrists":
		return Wrists(), nil
	case "tips12":
		return Tips12(), nil
	case "egoexo42":
		return EgoExo42(), nil
	}
	return nil, fmt.Errorf("unknown joint subset %q (want one of %s)", name, strings.Join(SubsetNames, ", "))
}
