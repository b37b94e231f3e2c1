package loom

import (
	"context"
	"time"
	"unicode/utf8"
)

// Progress is how far a running attempt has got, as its handler last
// reported it (ReportProgress): Done units of work out of Total, with a
// short Message. The engine keeps it on the task, from the first report of
// an attempt until the next attempt starts, so that it stays visible once
// the task has ended.
type Progress struct {
	// Done is how many units of work the attempt has finished.
	Done int64 `json:"done"`
	// Total is how many units there are in all; zero when unknown (a bar
	// cannot be drawn, only the count).
	Total int64 `json:"total"`
	// Message says in words what the attempt is doing.
	Message string `json:"message,omitempty"`
	// UpdatedAt is when the handler reported it.
	UpdatedAt time.Time `json:"updated_at"`
}

// MaxProgressMessage bounds Progress.Message in bytes: a longer message is
// cut, since a progress line is a status, not a log.
const MaxProgressMessage = 200

// Fraction is Done/Total in [0, 1], and false when Total is unknown.
func (p *Progress) Fraction() (float64, bool) {
	if p == nil || p.Total <= 0 {
		return 0, false
	}
	f := float64(p.Done) / float64(p.Total)
	return min(max(f, 0), 1), true
}

// ProgressFunc receives an attempt's progress reports: what an executor or
// worker puts in a handler's context (ContextWithProgress).
type ProgressFunc func(done, total int64, msg string)

type progressKey struct{}

// ContextWithProgress returns a context whose progress reports
// (ReportProgress) go to f. Workers use it to keep each attempt's progress.
func ContextWithProgress(ctx context.Context, f ProgressFunc) context.Context {
	return context.WithValue(ctx, progressKey{}, f)
}

// ReportProgress tells the engine how far the attempt running in ctx has
// got: done units of work out of total (zero when unknown), and what it is
// doing in a few words. It is cheap enough to call for every item: reports
// are coalesced, and at most a few per second of each attempt are stored
// or sent, the last one always. Outside an attempt run by a worker it does
// nothing. A negative done or total counts as zero, and a message longer
// than MaxProgressMessage is cut.
//
//	func resize(ctx context.Context, in loom.Values) (loom.Values, error) {
//		files := in["files"].([]any)
//		for i, f := range files {
//			if err := resizeOne(ctx, f.(string)); err != nil {
//				return nil, err
//			}
//			loom.ReportProgress(ctx, int64(i+1), int64(len(files)), "resized "+f.(string))
//		}
//		return loom.Values{"resized": len(files)}, nil
//	}
func ReportProgress(ctx context.Context, done, total int64, msg string) {
	f, ok := ctx.Value(progressKey{}).(ProgressFunc)
	if !ok || f == nil {
		return
	}
	f(max(done, 0), max(total, 0), TrimProgressMessage(msg))
}

// TrimProgressMessage cuts msg to at most MaxProgressMessage bytes, on a
// character boundary.
func TrimProgressMessage(msg string) string {
	if len(msg) <= MaxProgressMessage {
		return msg
	}
	cut := MaxProgressMessage
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut]
}
