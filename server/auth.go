package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/loomhq/loom/auth"
)

// anonymous is who acts while authentication is off.
var anonymous = &auth.Principal{Name: auth.Anonymous, Role: auth.Admin}

// wwwAuthenticate is the challenge of a 401: the API takes bearer tokens.
const wwwAuthenticate = `Bearer realm="loom"`

// authorize wraps rt's handler with its role check: a Public route is
// served to anyone; any other needs, while authentication is on, a valid
// token whose role allows rt.role. The request's context carries the
// caller (auth.FromContext), so that what it does is recorded as its.
// A route without a role is a programming error, caught when the server
// is built.
func (s *Server) authorize(rt route) func(http.ResponseWriter, *http.Request) error {
	if rt.role == "" {
		panic(fmt.Sprintf("server: route %s %s declares no role", rt.method, rt.path))
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		if rt.role == auth.Public {
			return rt.handler(w, r)
		}
		if s.cfg.Auth == nil {
			return rt.handler(w, r.WithContext(auth.WithPrincipal(r.Context(), anonymous)))
		}
		p, err := s.cfg.Auth.Authenticate(r.Context(), auth.BearerToken(r.Header.Get("Authorization")))
		if errors.Is(err, auth.ErrUnauthenticated) {
			w.Header().Set("WWW-Authenticate", wwwAuthenticate)
			return errorf(err, "a valid token is required: send \"Authorization: Bearer <token>\" (loom: --token or LOOM_TOKEN)")
		}
		if err != nil {
			return err
		}
		if !p.Role.Allows(rt.role) {
			return errorf(errForbidden, "token %s has role %s; %s %s needs %s", p.Name, p.Role, rt.method, APIPrefix+rt.path, rt.role)
		}
		return rt.handler(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	}
}
