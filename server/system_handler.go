package server

import (
	_ "embed"
	"net/http"
	"slices"

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
