package data

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
)

// VideoOptions controls decoding.
type VideoOptions struct {
	W, H int  // output size (default 256×256)
	Crop bool // centre-crop to the output aspect before scaling; default squash (ThinkJEPA)
}

func (o VideoOptions) size() (int, int) {
	w, h := o.W, o.H
	if w <= 0 {
		w = 256
	}
	if h <= 0 {
		h = 256
	}
	return w, h
}

// Limits of DecodeFrames: the decoded clip is held in memory as uint8 RGB.
const (
	MaxVideoSide = 4096
	MaxClipBytes = 4 << 30
)

// VideoFrames is the result of DecodeFrames.
type VideoFrames struct {
	Frames  []uint8 // [len(indices)][H][W][3]
	Decoded int     // frames present in the video (counted up to the last wanted index)
	Clamped int     // wanted indices beyond the video's end, filled with its last frame
}

// DecodeFrames decodes the frames at indices (any order, repeats allowed) from an MP4
// through an ffmpeg subprocess (rawvideo rgb24), scaled to W×H. The video is decoded
// sequentially and only the wanted frames kept. Indices past the end of the video are
// clamped to its last frame, as ThinkJEPA does; Clamped counts them so the caller can warn.
func DecodeFrames(path string, indices []int, opt VideoOptions) (*VideoFrames, error) {
	W, H := opt.size()
	if len(indices) == 0 {
		return &VideoFrames{}, nil
	}
	// Refuse sizes that cannot fit in memory rather than dying in make (a runtime
	// out-of-memory is a crash with a stack trace, not an error).
	if W > MaxVideoSide || H > MaxVideoSide {
		return nil, fmt.Errorf("video %s: output size %dx%d, expected at most %d px a side", path, W, H, MaxVideoSide)
	}
	if need := int64(len(indices)) * int64(W) * int64(H) * 3; need > MaxClipBytes {
		return nil, fmt.Errorf("video %s: %d frames of %dx%d need %.1f GiB, expected at most %d GiB per clip", path, len(indices), W, H,
			float64(need)/(1<<30), MaxClipBytes>>30)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("video %s: %w", path, err)
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return nil, fmt.Errorf("video %s: ffmpeg not found on PATH (install the ffmpeg package): %w", path, err)
	}
	maxIdx := 0
	want := map[int][]int{} // source index → clip positions
	for pos, i := range indices {
		if i < 0 {
			return nil, fmt.Errorf("video %s: negative frame index %d", path, i)
		}
		want[i] = append(want[i], pos)
		maxIdx = max(maxIdx, i)
	}
	vf := fmt.Sprintf("scale=%d:%d:flags=bilinear", W, H)
	if opt.Crop {
		ar := strconv.FormatFloat(float64(W)/float64(H), 'f', 6, 64)
		vf = fmt.Sprintf("crop='min(iw,ih*%s)':'min(ih,iw/%s)',", ar, ar) + vf
	}
	// Frames after the last wanted one are never decoded: -frames:v stops ffmpeg there.
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-an", "-vf", vf,
		"-frames:v", strconv.Itoa(maxIdx+1), "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("video %s: start ffmpeg: %w", path, err)
	}
	fs := W * H * 3
	out := &VideoFrames{Frames: make([]uint8, len(indices)*fs)}
	r := bufio.NewReaderSize(stdout, fs)
	buf := make([]byte, fs)
	n := 0
	var readErr error
	for n <= maxIdx {
		if _, err := io.ReadFull(r, buf); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				readErr = err
			}
			break
		}
		for _, pos := range want[n] {
			copy(out.Frames[pos*fs:], buf)
		}
		n++
	}
	_, _ = io.Copy(io.Discard, r)
	waitErr := cmd.Wait()
	if readErr != nil {
		return nil, fmt.Errorf("video %s: read decoded frames: %w", path, readErr)
	}
	if n == 0 {
		msg := bytes.TrimSpace(stderr.Bytes())
		if waitErr != nil {
			return nil, fmt.Errorf("video %s: ffmpeg could not decode it (%v): %s", path, waitErr, msg)
		}
		return nil, fmt.Errorf("video %s: contains no video frames", path)
	}
	out.Decoded = n
	if n <= maxIdx {
		// buf still holds the last decoded frame.
		keys := make([]int, 0, len(want))
		for i := range want {
			if i >= n {
				keys = append(keys, i)
			}
		}
		sort.Ints(keys)
		for _, i := range keys {
			for _, pos := range want[i] {
				copy(out.Frames[pos*fs:], buf)
				out.Clamped++
			}
		}
	}
	return out, nil
}

// ScaleIntrinsics maps K of a w0×h0 image to the W×H output of VideoOptions (squash or
// centre crop). Like ThinkJEPA, w0 = 2·cx and h0 = 2·cy when the source size is unknown.
func ScaleIntrinsics(K [9]float32, w0, h0 float64, opt VideoOptions) [9]float32 {
	W, H := opt.size()
	if w0 <= 0 || h0 <= 0 {
		w0, h0 = 2*float64(K[2]), 2*float64(K[5])
	}
	x0, y0, cw, ch := 0.0, 0.0, w0, h0
	if opt.Crop {
		ar := float64(W) / float64(H)
		cw = min(w0, h0*ar)
		ch = min(h0, w0/ar)
		x0, y0 = (w0-cw)/2, (h0-ch)/2
	}
	sx, sy := float64(W)/cw, float64(H)/ch
	out := K
	out[0] = float32(float64(K[0]) * sx)
	out[1] = float32(float64(K[1]) * sx)
	out[2] = float32((float64(K[2]) - x0) * sx)
	out[4] = float32(float64(K[4]) * sy)
	out[5] = float32((float64(K[5]) - y0) * sy)
	return out
}
