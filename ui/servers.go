package ui

import (
	"net/http"
)

// servers shows the servers sharing the database, and which one leads
// (runs schedules, backfills, checks, the reaper and alert delivery)
// since when.
func (u *UI) servers(w http.ResponseWriter, r *http.Request) error {
	if u.cfg.Cluster == nil {
		return errNotFound
	}
	st, err := u.cfg.Cluster.Status(r.Context())
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "servers", "", page{Title: "Servers", Nav: "servers", Data: st})
}
