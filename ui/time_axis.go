package ui

import (
	"fmt"
	"time"
)

// axisTick is one mark of a timeline's time axis.
type axisTick struct {
	// Left is its place, in percent of the axis.
	Left  float64
	Label string
}

// tickSteps are the intervals an axis marks, the first that makes at most
// maxTicks marks winning.
var tickSteps = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
	15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour,
	6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour,
}

const maxTicks = 6

// timeAxis marks the span from start to end at a round interval, each
// mark labelled with the time since start ("+0s", "+1.5s", "+2m"): two
// runs of a flow read the same, and no two marks share a label.
func timeAxis(start, end time.Time) []axisTick {
	span := end.Sub(start)
	if span <= 0 {
		return []axisTick{{Left: 0, Label: "+0s"}}
	}
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span/s <= maxTicks {
			step = s
			break
		}
	}
	var ticks []axisTick
	for d := time.Duration(0); d <= span; d += step {
		ticks = append(ticks, axisTick{Left: float64(d) / float64(span) * 100, Label: offsetLabel(d)})
	}
	return ticks
}

// offsetLabel is a time since the start of a timeline.
func offsetLabel(d time.Duration) string {
	if d == 0 {
		return "+0s"
	}
	if d < time.Second {
		return fmt.Sprintf("+%dms", d.Milliseconds())
	}
	return "+" + formatDuration(d)
}
