package ui

import (
	"net/http"
	"slices"
	"strings"

	"github.com/loomhq/loom/store"
)

// triggerRow is a trigger as the triggers page lists it. Its secret is
// never shown, only whether it takes webhooks.
type triggerRow struct {
	*store.Trigger
	// Mapping lists "input key ← event path", by key.
	Mapping []string
	Webhook bool
}

func (u *UI) triggers(w http.ResponseWriter, r *http.Request) error {
	trs, err := u.tm.Triggers(r.Context())
	if err != nil {
		return err
	}
	rows := make([]triggerRow, len(trs))
	for i, tr := range trs {
		rows[i] = triggerRow{Trigger: tr, Webhook: tr.Secret != "" && tr.Kind == store.TriggerEvent}
		for k, path := range tr.Mapping {
			rows[i].Mapping = append(rows[i].Mapping, k+" ← "+path)
		}
		slices.SortFunc(rows[i].Mapping, strings.Compare)
	}
	return u.render(w, r, http.StatusOK, "triggers", "", page{Title: "Triggers", Nav: "triggers", Data: rows})
}
