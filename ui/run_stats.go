package ui

import (
	"fmt"
	"slices"
	"time"

	"github.com/loomhq/loom"
)

// statsRuns is how many of a type's latest runs its page measures.
const statsRuns = 100

// runStats sums up a type's recent runs: how many ended and how, how long
// they took, and a bar per run for the page's small chart.
type runStats struct {
	// Ended counts the runs that ended; Completed those that completed.
	Ended, Completed int
	// SuccessPct is Completed of Ended, in percent.
	SuccessPct float64
	// P50 and P95 are run durations, from start to end, of ended runs.
	P50, P95 time.Duration
	// Bars are the ended runs, oldest first, as the chart draws them.
	Bars []runBar
	// ChartW and ChartH size the chart's SVG.
	ChartW, ChartH float64
}

// runBar is one run on the chart.
type runBar struct {
	X, Y, W, H float64
	Class      string
	Href       string
	Title      string
}

// Sizes of the runs chart, in SVG units.
const (
	barW   = 6.0
	barGap = 2.0
	chartH = 48.0
)

// statsOf measures runs, newest first as the task list returns them.
func statsOf(base string, runs []*loom.TaskInfo) *runStats {
	st := &runStats{ChartH: chartH}
	var durs []time.Duration
	var ended []*loom.TaskInfo
	for _, t := range runs {
		if !t.Status.Terminal() || t.Started == nil || t.Ended == nil {
			continue
		}
		ended = append(ended, t)
		st.Ended++
		if t.Status == loom.StatusCompleted {
			st.Completed++
		}
		durs = append(durs, t.Ended.Sub(*t.Started))
	}
	if st.Ended == 0 {
		return st
	}
	st.SuccessPct = float64(st.Completed) / float64(st.Ended) * 100
	sorted := slices.Clone(durs)
	slices.Sort(sorted)
	st.P50 = percentile(sorted, 50)
	st.P95 = percentile(sorted, 95)
	longest := max(sorted[len(sorted)-1], time.Millisecond)
	st.ChartW = float64(len(ended))*(barW+barGap) - barGap
	for i := range ended {
		// Oldest on the left.
		t, d := ended[len(ended)-1-i], durs[len(ended)-1-i]
		h := max(float64(d)/float64(longest)*chartH, 2)
		st.Bars = append(st.Bars, runBar{
			X: float64(i) * (barW + barGap), Y: chartH - h, W: barW, H: h,
			Class: statusClass(string(t.Status)), Href: base + "/tasks/" + t.ID,
			Title: fmt.Sprintf("%s %s in %s", shortID(t.ID), t.Status, formatDuration(d)),
		})
	}
	return st
}

// percentile is the p-th percentile of sorted durations, by the nearest
// rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := (p*len(sorted) + 99) / 100
	return sorted[min(max(k-1, 0), len(sorted)-1)]
}
