package server

import (
	"net/http"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
)

// bulkRequest is the body of POST /tasks:retry and /tasks:cancel:
// the filter of the tasks to act on, all fields optional.
type bulkRequest struct {
	Status        []loom.Status `json:"status"`
	Type          string        `json:"type"`
	Queue         string        `json:"queue"`
	CreatedAfter  *time.Time    `json:"created_after"`
	CreatedBefore *time.Time    `json:"created_before"`
	Limit         int           `json:"limit"`
	DryRun        bool          `json:"dry_run"`
	Reason        string        `json:"reason"`
}

// params turns the request into the engine's parameters.
func (req *bulkRequest) params() *engine.BulkParams {
	p := &engine.BulkParams{Status: req.Status, Type: req.Type, Queue: req.Queue, Limit: req.Limit, DryRun: req.DryRun, Reason: req.Reason}
	if req.CreatedAfter != nil {
		p.CreatedAfter = *req.CreatedAfter
	}
	if req.CreatedBefore != nil {
		p.CreatedBefore = *req.CreatedBefore
	}
	return p
}

func (s *Server) bulkRetry(w http.ResponseWriter, r *http.Request) error {
	var req bulkRequest
	if err := s.decodeBody(w, r, &req, true); err != nil {
		return err
	}
	res, err := s.engine.BulkRetry(r.Context(), req.params())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) bulkCancel(w http.ResponseWriter, r *http.Request) error {
	var req bulkRequest
	if err := s.decodeBody(w, r, &req, true); err != nil {
		return err
	}
	if req.Reason == "" {
		req.Reason = "cancelled in bulk through the API"
	}
	res, err := s.engine.BulkCancel(r.Context(), req.params())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
