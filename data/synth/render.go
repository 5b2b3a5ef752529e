package synth

import (
	"math"
)

// Camera is a pinhole camera for rendering (OpenCV convention).
type Camera struct {
	W, H           int
	Fx, Fy, Cx, Cy float64
}

// image is an RGB raster.
type image struct {
	w, h int
	pix  []uint8
}

func (im *image) set(x, y int, c [3]uint8) {
	if x < 0 || y < 0 || x >= im.w || y >= im.h {
		return
	}
	o := (y*im.w + x) * 3
	im.pix[o], im.pix[o+1], im.pix[o+2] = c[0], c[1], c[2]
}

// project maps a world point into pixel coordinates using world←camera ext.
func project(cam Camera, ext [16]float64, p vec) (u, v, z float64) {
	d := vec{p[0] - ext[3], p[1] - ext[7], p[2] - ext[11]}
	x := ext[0]*d[0] + ext[4]*d[1] + ext[8]*d[2]
	y := ext[1]*d[0] + ext[5]*d[1] + ext[9]*d[2]
	z = ext[2]*d[0] + ext[6]*d[1] + ext[10]*d[2]
	if z <= 1e-6 {
		return math.NaN(), math.NaN(), z
	}
	return cam.Fx*x/z + cam.Cx, cam.Fy*y/z + cam.Cy, z
}

// fillPoly fills a convex polygon by scanlines.
func (im *image) fillPoly(pts [][2]float64, c [3]uint8) {
	if len(pts) < 3 {
		return
	}
	y0, y1 := math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		y0, y1 = math.Min(y0, p[1]), math.Max(y1, p[1])
	}
	ys, ye := max(0, int(math.Ceil(y0))), min(im.h-1, int(math.Floor(y1)))
	for y := ys; y <= ye; y++ {
		fy := float64(y)
		xl, xr := math.Inf(1), math.Inf(-1)
		for i := range pts {
			a, b := pts[i], pts[(i+1)%len(pts)]
			if (a[1] <= fy && b[1] > fy) || (b[1] <= fy && a[1] > fy) {
				x := a[0] + (fy-a[1])/(b[1]-a[1])*(b[0]-a[0])
				xl, xr = math.Min(xl, x), math.Max(xr, x)
			}
		}
		if xl > xr {
			continue
		}
		xs, xe := max(0, int(math.Ceil(xl))), min(im.w-1, int(math.Floor(xr)))
		o := (y*im.w + xs) * 3
		for x := xs; x <= xe; x++ {
			im.pix[o], im.pix[o+1], im.pix[o+2] = c[0], c[1], c[2]
			o += 3
		}
	}
}

func (im *image) disc(cx, cy, r float64, c [3]uint8) {
	if math.IsNaN(cx) || math.IsNaN(cy) {
		return
	}
	for y := int(cy - r - 1); y <= int(cy+r+1); y++ {
		for x := int(cx - r - 1); x <= int(cx+r+1); x++ {
			dx, dy := float64(x)-cx, float64(y)-cy
			if dx*dx+dy*dy <= r*r {
				im.set(x, y, c)
			}
		}
	}
}

func (im *image) line(x0, y0, x1, y1, r float64, c [3]uint8) {
	if math.IsNaN(x0 + y0 + x1 + y1) {
		return
	}
	n := int(math.Max(math.Abs(x1-x0), math.Abs(y1-y0))) + 1
	if n > 4*(im.w+im.h) {
		return
	}
	for i := 0; i <= n; i++ {
		t := float64(i) / float64(n)
		im.disc(x0+(x1-x0)*t, y0+(y1-y0)*t, r, c)
	}
}

// quadOnTable projects an axis-aligned rectangle on the table plane; nil when any corner
// is behind the camera.
func quadOnTable(cam Camera, ext [16]float64, cx, cz, hx, hz, y float64) [][2]float64 {
	var out [][2]float64
	for _, d := range [][2]float64{{-1, -1}, {1, -1}, {1, 1}, {-1, 1}} {
		u, v, z := project(cam, ext, vec{cx + d[0]*hx, y, cz + d[1]*hz})
		if z <= 0.05 {
			return nil
		}
		out = append(out, [2]float64{u, v})
	}
	return out
}

var bones = func() [][2]string {
	var out [][2]string
	for _, side := range []string{"right", "left"} {
		out = append(out, [2]string{side + "Arm", side + "Forearm"}, [2]string{side + "Forearm", side + "Hand"})
		for _, f := range []string{"Index", "Middle", "Ring", "Little"} {
			p := side + f + "Finger"
			out = append(out, [2]string{side + "Hand", p + "Metacarpal"}, [2]string{p + "Metacarpal", p + "Knuckle"},
				[2]string{p + "Knuckle", p + "IntermediateBase"}, [2]string{p + "IntermediateBase", p + "IntermediateTip"},
				[2]string{p + "IntermediateTip", p + "Tip"})
		}
		t := side + "Thumb"
		out = append(out, [2]string{side + "Hand", t + "Knuckle"}, [2]string{t + "Knuckle", t + "IntermediateBase"},
			[2]string{t + "IntermediateBase", t + "IntermediateTip"}, [2]string{t + "IntermediateTip", t + "Tip"})
	}
	return out
}()

// Fixed scene colours: trays in Goals order (left, right, front); gloves (right, left).
var (
	trayColours  = [][3]uint8{{240, 240, 245}, {40, 175, 175}, {125, 125, 140}}
	gloveColours = [2][3]uint8{{225, 45, 205}, {20, 20, 20}}
)

// renderFrame draws frame i of m: wall, table, the trays, the object and both hands as
// projected skeletons.
func renderFrame(m *Motion, i int, cam Camera, jointIdx map[string]int, buf []uint8) {
	im := &image{w: cam.W, h: cam.H, pix: buf}
	ext := m.Cam[i]
	// Wall with a vertical gradient.
	for y := 0; y < im.h; y++ {
		g := uint8(150 + 60*y/im.h)
		c := [3]uint8{g, g - 10, g - 25}
		o := y * im.w * 3
		for x := 0; x < im.w; x++ {
			im.pix[o], im.pix[o+1], im.pix[o+2] = c[0], c[1], c[2]
			o += 3
		}
	}
	if q := quadOnTable(cam, ext, 0, (tableZ0+tableZ1)/2, tableX, (tableZ0-tableZ1)/2, tableY); q != nil {
		im.fillPoly(q, [3]uint8{120, 85, 55})
	}
	// Every tray is in every frame of every episode, each with its own fixed colour, so
	// the observed half shows nothing about which one the instruction names; in the
	// future half the object ends on one of them, which the frames then show by colour
	// (not only by position: the encoder has no position embedding).
	for gi, g := range Goals {
		if q := quadOnTable(cam, ext, g.Pos[0], g.Pos[2], trayHalf, trayHalf*0.8, tableY+0.001); q != nil {
			im.fillPoly(q, trayColours[gi%len(trayColours)])
		}
	}
	col := objectColours[m.Spec.Colour].RGB
	o := m.Obj[i]
	if u, v, z := project(cam, ext, o.add(vec{0, objectR, 0})); z > 0.05 {
		// Drawn 1.6× its physical radius so that it still covers a good part of a patch
		// after the demo encoder's downscale to 64 px.
		r := 1.6 * cam.Fx * objectR / z
		if m.Spec.Task == TaskCarry {
			r *= 2.2
		}
		im.disc(u, v, r, col)
	}
	for k, side := range []string{"right", "left"} {
		// Colour-coded gloves, drawn thick (bones 2.5 cm, palm 4.5 cm): at the demo
		// encoder's 64 px a bare 1 px skin-coloured skeleton is nearly invisible, and the
		// glove colour tells which hand moves without relying on token positions.
		glove := gloveColours[k]
		for _, b := range bones {
			if b[0][:len(side)] != side {
				continue
			}
			u0, v0, z0 := project(cam, ext, m.Joints[i][jointIdx[b[0]]])
			u1, v1, z1 := project(cam, ext, m.Joints[i][jointIdx[b[1]]])
			if z0 > 0.05 && z1 > 0.05 {
				im.line(u0, v0, u1, v1, math.Max(1, cam.Fx*0.0125/z0), glove)
			}
		}
		if u, v, z := project(cam, ext, m.Joints[i][jointIdx[side+"Hand"]]); z > 0.05 {
			im.disc(u, v, cam.Fx*0.045/z, glove)
		}
	}
	// Joint markers go on top of both gloves, so that one hand's thick glove never hides
	// the other's markers (tests find the projected wrists by them), and are big enough
	// that their colour survives H.264's 4:2:0 chroma subsampling next to a glove.
	for _, side := range []string{"right", "left"} {
		for _, n := range []string{"Hand", "IndexFingerTip", "MiddleFingerTip", "RingFingerTip", "LittleFingerTip", "ThumbTip"} {
			if u, v, z := project(cam, ext, m.Joints[i][jointIdx[side+n]]); z > 0.05 {
				im.disc(u, v, math.Max(2, cam.Fx*0.012/z), [3]uint8{200, 60, 90})
			}
		}
	}
}
