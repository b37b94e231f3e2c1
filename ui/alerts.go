package ui

import (
	"net/http"
	"net/url"

	"github.com/loomhq/loom/store"
)

// alertsShown is how many alerts, newest first, the alerts page lists.
const alertsShown = 100

// deliveriesShown is how many deliveries of one alert it lists.
const deliveriesShown = 50

// alertRow is an alert with its delivery log, newest first.
type alertRow struct {
	*store.Alert
	Deliveries []*store.Delivery
	// Failed counts deliveries that gave up; Pending those still trying.
	Failed, Pending int
	// TaskID is the task the alert is about, when there is one.
	TaskID string
}

// notifierRow is a notifier as the alerts page lists it: its URL is shown
// only up to the host, since a webhook URL's path often is its secret.
type notifierRow struct {
	*store.Notifier
	Target string
}

type alertsData struct {
	Open, Resolved []alertRow
	Notifiers      []notifierRow
	// Filter is "open" to list only open alerts, else "".
	Filter string
}

func (u *UI) alerts(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	d := alertsData{}
	if r.URL.Query().Get("show") == "open" {
		d.Filter = "open"
	}
	as, err := u.tm.Alerts(ctx, d.Filter == "open", alertsShown)
	if err != nil {
		return err
	}
	for _, a := range as {
		row := alertRow{Alert: a}
		if row.Deliveries, err = u.tm.Deliveries(ctx, a.ID, deliveriesShown); err != nil {
			return err
		}
		for _, dl := range row.Deliveries {
			switch dl.Status {
			case store.DeliveryFailed:
				row.Failed++
			case store.DeliveryPending:
				row.Pending++
			}
		}
		if id, ok := a.Data["task_id"].(string); ok {
			row.TaskID = id
		}
		if a.Resolved == nil {
			d.Open = append(d.Open, row)
		} else {
			d.Resolved = append(d.Resolved, row)
		}
	}
	ns, err := u.tm.Notifiers(ctx)
	if err != nil {
		return err
	}
	for _, n := range ns {
		d.Notifiers = append(d.Notifiers, notifierRow{Notifier: n, Target: urlHost(n.URL)})
	}
	return u.render(w, r, http.StatusOK, "alerts", "", page{Title: "Alerts", Nav: "alerts", Data: d})
}

// urlHost is a URL's scheme and host, with "/…" when it has more.
func urlHost(s string) string {
	p, err := url.Parse(s)
	if err != nil || p.Host == "" {
		return "(unreadable URL)"
	}
	out := p.Scheme + "://" + p.Host
	if (p.Path != "" && p.Path != "/") || p.RawQuery != "" {
		out += "/…"
	}
	return out
}
