package server

import (
	_ "embed"
	"net/http"
	"slices"
	"time"

	"github.com/loomhq/loom/store"
)

// openAPIDocument is the API's OpenAPI 3 description, written by hand and
// kept in step with the routes by TestOpenAPIMatchesRoutes.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3 document the server serves at
// /api/v1/openapi.json, for tools that generate clients from it.
func OpenAPI() []byte { return slices.Clone(openAPIMerged()) }

// queueList is the answer of GET /queues.
type queueList struct {
	Queues []store.QueueInfo `json:"queues"`
}

func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) error {
	qs, err := s.engine.Queues(r.Context())
	if err != nil {
		return err
	}
	if qs == nil {
		qs = []store.QueueInfo{}
	}
	writeJSON(w, http.StatusOK, queueList{Queues: qs})
	return nil
}

// typeList is the answer of GET /types.
type typeList struct {
	Types []string `json:"types"`
}

func (s *Server) listTypes(w http.ResponseWriter, _ *http.Request) error {
	types := slices.Clone(s.engine.Types())
	slices.Sort(types)
	if types == nil {
		types = []string{}
	}
	writeJSON(w, http.StatusOK, typeList{Types: types})
	return nil
}

// health is the answer of GET /healthz.
type health struct {
	Status string `json:"status"`
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, health{Status: "ok"})
	return nil
}

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIMerged())
	return nil
}

// workerEntry is one worker in the answer of GET /workers: what the
// store knows of it, and whether it counts as alive.
type workerEntry struct {
	store.WorkerInfo
	// Alive is whether the worker's last heartbeat is at most one lease
	// old: a worker silent for longer has lost its tasks.
	Alive bool `json:"alive"`
}

// workerList is the answer of GET /workers.
type workerList struct {
	Workers []workerEntry `json:"workers"`
}

// workerListWindow is how far back GET /workers looks: workers silent for
// longer are left out (the store forgets a worker that stopped cleanly at
// once).
const workerListWindow = 24 * time.Hour

// listWorkers answers GET /workers: the workers seen in the last day,
// most recently seen first: workers on the bus that announce themselves,
// HTTP workers that called lately and the servers' own.
func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request) error {
	now := time.Now()
	ws, err := s.engine.Workers(r.Context(), now.Add(-workerListWindow))
	if err != nil {
		return err
	}
	out := workerList{Workers: make([]workerEntry, 0, len(ws))}
	for _, wk := range ws {
		if wk.Queues == nil {
			wk.Queues = []string{}
		}
		if wk.Running == nil {
			wk.Running = []string{}
		}
		out.Workers = append(out.Workers, workerEntry{WorkerInfo: wk, Alive: now.Sub(wk.LastHeartbeat) <= s.engine.WorkerTimeout()})
	}
	slices.SortStableFunc(out.Workers, func(a, b workerEntry) int { return b.LastHeartbeat.Compare(a.LastHeartbeat) })
	writeJSON(w, http.StatusOK, out)
	return nil
}
