// Package progress gives long-running stages one kind of progress bar: on a terminal it
// draws a bar with rate and ETA on stderr; when stderr is not a terminal (CI, logs, job
// arrays) it stays silent and lets log/slog lines carry the news.
package progress

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Bar counts finished units of work.
type Bar struct {
	pb *progressbar.ProgressBar
}

// Enabled reports whether bars are drawn (stderr is a terminal and THINKJEPA_NO_PROGRESS is unset).
func Enabled() bool {
	return os.Getenv("THINKJEPA_NO_PROGRESS") == "" && term.IsTerminal(int(os.Stderr.Fd()))
}

// New makes a bar for total units described by desc.
func New(total int, desc string) *Bar {
	var w io.Writer = io.Discard
	if Enabled() {
		w = os.Stderr
	}
	pb := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)
	return &Bar{pb: pb}
}

// Add marks n more units done.
func (b *Bar) Add(n int) { _ = b.pb.Add(n) }

// Describe replaces the description (e.g. to show the current loss).
func (b *Bar) Describe(s string) { b.pb.Describe(s) }

// Finish completes and clears the bar.
func (b *Bar) Finish() { _ = b.pb.Finish() }
