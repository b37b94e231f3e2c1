package schedule_test

import (
	"fmt"
	"time"

	"github.com/loomhq/loom/schedule"
)

func ExampleSpec_NextN() {
	s, err := schedule.Parse("30 2 * * *", "Europe/Berlin")
	if err != nil {
		panic(err)
	}
	from := time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC)
	for _, t := range s.NextN(from, 3) {
		fmt.Println(t.In(s.Location()).Format("2006-01-02 15:04 MST"))
	}
	// Output:
	// 2026-03-28 02:30 CET
	// 2026-03-29 03:30 CEST
	// 2026-03-30 02:30 CEST
}

func ExamplePlan() {
	s := schedule.Schedule{
		Name:    "hourly-sync",
		Cron:    "@hourly",
		CatchUp: schedule.CatchUp{Mode: schedule.CatchUpRunAll, Limit: 2},
		Overlap: schedule.OverlapQueue,
	}
	last := time.Date(2026, 6, 1, 6, 0, 0, 0, time.UTC)  // stored cursor
	now := time.Date(2026, 6, 1, 10, 20, 0, 0, time.UTC) // back after downtime
	d, err := schedule.Plan(s, last, now, 0)
	if err != nil {
		panic(err)
	}
	for _, f := range d.Fires {
		fmt.Println(f.Key, "queued:", f.Queued)
	}
	for _, sk := range d.Skipped {
		fmt.Println(sk.Scheduled.Format("15:04"), sk.Reason)
	}
	fmt.Println("next:", d.Next.Format("15:04"))
	// Output:
	// hourly-sync@2026-06-01T09:00:00Z queued: false
	// hourly-sync@2026-06-01T10:00:00Z queued: true
	// 07:00 missed
	// 08:00 missed
	// next: 11:00
}
