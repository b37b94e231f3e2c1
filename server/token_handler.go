package server

import (
	"errors"
	"net/http"

	"github.com/loomhq/loom/auth"
	"github.com/loomhq/loom/store"
)

func init() {
	errorTable = append(errorTable, struct {
		target error
		status int
		code   string
	}{auth.ErrNoStore, http.StatusServiceUnavailable, CodeUnavailable})
}

// tokenRoutes manage API tokens; only an admin may.
func (s *Server) tokenRoutes() []route {
	return []route{
		{http.MethodPost, "/tokens", auth.Admin, s.createToken},
		{http.MethodGet, "/tokens", auth.Admin, s.listTokens},
		{http.MethodPost, "/tokens/{name}/revoke", auth.Admin, s.revokeToken},
		{http.MethodDelete, "/tokens/{name}", auth.Admin, s.revokeToken},
	}
}

// tokenRequest is the body of POST /tokens.
type tokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// createdToken answers POST /tokens: the stored token and, this once, its
// secret.
type createdToken struct {
	store.Token
	Secret string `json:"token"`
}

// tokenList answers GET /tokens.
type tokenList struct {
	Tokens []*store.Token `json:"tokens"`
}

// authenticator returns the server's Authenticator, or ErrNoStore when
// it has none.
func (s *Server) authenticator() (*auth.Authenticator, error) {
	if s.cfg.Auth == nil || s.cfg.Auth.Tokens() == nil {
		return nil, errorf(auth.ErrNoStore, "tokens are not enabled on this server")
	}
	return s.cfg.Auth, nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticator()
	if err != nil {
		return err
	}
	var req tokenRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		return errorf(errUnprocessable, "%s", err.Error())
	}
	secret, tok, err := a.CreateToken(r.Context(), req.Name, role)
	if errors.Is(err, store.ErrInvalid) {
		return errorf(errUnprocessable, "%s", err.Error())
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, createdToken{Token: *tok, Secret: secret})
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticator()
	if err != nil {
		return err
	}
	toks, err := a.Tokens().ListTokens(r.Context(), &store.ListTokensParams{})
	if err != nil {
		return err
	}
	if toks == nil {
		toks = []*store.Token{}
	}
	writeJSON(w, http.StatusOK, tokenList{Tokens: toks})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authenticator()
	if err != nil {
		return err
	}
	tok, err := a.RevokeToken(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tok)
	return nil
}
