package server

import (
	"errors"
	"net/http"
)

// errNoCluster: the server was built without Config.Cluster, so it knows
// of no servers sharing its database.
var errNoCluster = errors.New("this server does not take part in a cluster")

func init() {
	errorTable = append(errorTable, struct {
		target error
		status int
		code   string
	}{errNoCluster, http.StatusServiceUnavailable, CodeUnavailable})
}

// listServers answers GET /servers: the servers sharing the database,
// and which one leads since when.
func (s *Server) listServers(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Cluster == nil {
		return errNoCluster
	}
	st, err := s.cfg.Cluster.Status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
