package server

import "github.com/loomhq/loom/auth"

// RouteRoles returns "METHOD /path" → the role each route declares, for
// the route × role matrix test.
func RouteRoles(s *Server) map[string]auth.Role {
	out := map[string]auth.Role{}
	for _, rt := range s.routes {
		out[rt.method+" "+rt.path] = rt.role
	}
	return out
}
