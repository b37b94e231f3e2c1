package server

import (
	"net/http"
	"path"
	"strings"
)

// withCanonicalPath answers an API path that is not in canonical form
// (with ".", ".." or empty segments), and the bare prefix, 404 in the
// API's JSON shape where ServeMux would redirect to the cleaned path: the
// API documents no redirects, and a client's ".." should not land on
// another route.
func (s *Server) withCanonicalPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == APIPrefix || strings.HasPrefix(p, APIPrefix+"/") && cleanPath(p) != p {
			s.writeError(w, r, errorf(errRouteNotFound, `no such API path; API paths have no ".", ".." or empty segments`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath is path.Clean keeping a trailing slash, as ServeMux cleans.
func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}
