// Package cluster lets several loom servers share one database: each
// records its heartbeat in the store's servers table, and they elect one
// leader through a lease the store keeps (store.ClusterStore). The leader
// runs the work that must run once however many servers there are: cron
// schedules, backfills, heartbeat checks, the reaper and alert delivery.
// Every server serves the API and the UI and runs workers.
//
// The leader renews its lease every third of the lease period. When it
// dies, its lease lapses within one period of its last renewal, and the
// others, which look again right when the lease they last saw ends, take
// over then: within one lease period of the death. A leader that cannot
// renew in time stops its work before its lease lapses. A server shutting
// down cleanly resigns, so another takes over at once.
//
// One server alone on SQLite runs the same code and simply wins.
package cluster
