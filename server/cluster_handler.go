package server

import (
	"net/http"

	"github.com/loomhq/loom/cluster"
)

// listServers answers GET /servers: the servers sharing the database,
// and which one leads since when. A server built without Config.Cluster
// (embedded in a program, say) knows of none: it answers an empty list
// with no leader.
func (s *Server) listServers(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Cluster == nil {
		writeJSON(w, http.StatusOK, cluster.Status{Servers: []cluster.ServerStatus{}})
		return nil
	}
	st, err := s.cfg.Cluster.Status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
