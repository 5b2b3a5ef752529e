// Package data is the project's data layer: the clip contract shared by every later stage,
// the EgoDex and Ego-Exo4D readers, samplers, video decoding, splits and manifests.
// The formats follow shared/docs/data-spec.md; section numbers below refer to it.
package data

// NumJoints is the number of hand joints in a clip (26 per hand, data-spec §1.3).
const NumJoints = 52

// fingerParts are the ARKit finger joint suffixes in canonical order (§1.3).
var fingerParts = []string{
	"LittleFingerMetacarpal", "LittleFingerKnuckle", "LittleFingerIntermediateBase", "LittleFingerIntermediateTip", "LittleFingerTip",
	"RingFingerMetacarpal", "RingFingerKnuckle", "RingFingerIntermediateBase", "RingFingerIntermediateTip", "RingFingerTip",
	"MiddleFingerMetacarpal", "MiddleFingerKnuckle", "MiddleFingerIntermediateBase", "MiddleFingerIntermediateTip", "MiddleFingerTip",
	"IndexFingerMetacarpal", "IndexFingerKnuckle", "IndexFingerIntermediateBase", "IndexFingerIntermediateTip", "IndexFingerTip",
	"ThumbKnuckle", "ThumbIntermediateBase", "ThumbIntermediateTip", "ThumbTip",
}

// JointNames is the canonical 52-joint order: right fingers (24), rightHand, rightForearm,
// left fingers (24), leftHand, leftForearm.
var JointNames = func() [NumJoints]string {
	var out [NumJoints]string
	i := 0
	for _, side := range []string{"right", "left"} {
		for _, p := range fingerParts {
			out[i] = side + p
			i++
		}
		out[i] = side + "Hand"
		out[i+1] = side + "Forearm"
		i += 2
	}
	return out
}()

// Reference joint indices used by later stages.
const (
	RightWrist            = 24
	RightForearm          = 25
	LeftWrist             = 50
	LeftForearm           = 51
	RightMiddleMetacarpal = 10
	LeftMiddleMetacarpal  = 36
	jointsPerSide         = 26
	fingerJointsPerSide   = 24
)

// WristOf returns the wrist index of the hand that joint j belongs to.
func WristOf(j int) int {
	if j < jointsPerSide {
		return RightWrist
	}
	return LeftWrist
}

// IsFinger reports whether joint j is a finger joint (not wrist or forearm).
func IsFinger(j int) bool { return j%jointsPerSide < fingerJointsPerSide }

// SkeletonJoints68 lists all 68 EgoDex skeleton transforms (§1.3); with "camera" there are 69.
var SkeletonJoints68 = func() []string {
	var out []string
	for _, side := range []string{"left", "right"} {
		for _, p := range []string{"Shoulder", "Arm", "Forearm", "Hand"} {
			out = append(out, side+p)
		}
		for _, p := range fingerParts {
			out = append(out, side+p)
		}
	}
	out = append(out, "hip")
	for i := 1; i <= 7; i++ {
		out = append(out, "spine"+string(rune('0'+i)))
	}
	for i := 1; i <= 4; i++ {
		out = append(out, "neck"+string(rune('0'+i)))
	}
	return out
}()

// JointIndex returns the canonical index of an ARKit joint name, or -1.
func JointIndex(name string) int {
	for i, n := range JointNames {
		if n == name {
			return i
		}
	}
	return -1
}
