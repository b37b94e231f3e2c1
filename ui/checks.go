package ui

import (
	"context"
	"net/http"
	"time"

	"github.com/loomhq/loom/store"
)

// Check states, as the checks page shows them.
const (
	// checkNew: never pinged, and not late yet.
	checkNew = "new"
	// checkUp: pinged within its period and grace.
	checkUp = "up"
	// checkLate: no ping for longer than its period and grace.
	checkLate = "late"
)

// checkRow is a heartbeat check with its state.
type checkRow struct {
	*store.Check
	// State is checkNew, checkUp or checkLate.
	State string
	// Expected is when the next ping is expected (a period after the
	// last, or after the check's creation); Due is when the check turns
	// late without it.
	Expected, Due time.Time
	// Alert is the check's open alert, if any.
	Alert *store.Alert
}

// checkRowOf gives c its state at now. A check is late from its due time
// on, or while its check_late alert is open (the watcher raised it and no
// ping has come since).
func checkRowOf(c *store.Check, open map[string]*store.Alert, now time.Time) checkRow {
	row := checkRow{Check: c, Due: c.Due(), Alert: open[store.AlertCheckLate+":"+c.Name]}
	row.Expected = row.Due.Add(-c.Grace)
	switch {
	case !now.Before(row.Due) || row.Alert != nil:
		row.State = checkLate
	case c.LastPing == nil:
		row.State = checkNew
	default:
		row.State = checkUp
	}
	return row
}

// checkRows returns every check with its state, and how many are late.
func (u *UI) checkRows(ctx context.Context, open map[string]*store.Alert) ([]checkRow, int, error) {
	cs, err := u.tm.Checks(ctx)
	if err != nil {
		return nil, 0, err
	}
	now := u.cfg.Now()
	rows := make([]checkRow, len(cs))
	late := 0
	for i, c := range cs {
		rows[i] = checkRowOf(c, open, now)
		if rows[i].State == checkLate {
			late++
		}
	}
	return rows, late, nil
}

type checksData struct {
	Checks []checkRow
	Late   int
}

func (u *UI) checks(w http.ResponseWriter, r *http.Request) error {
	open, err := u.openAlerts(r.Context())
	if err != nil {
		return err
	}
	rows, late, err := u.checkRows(r.Context(), open)
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "checks", "", page{Title: "Checks", Nav: "checks", Data: checksData{Checks: rows, Late: late}})
}
