package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/auth"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/internal/errtext"
	"github.com/loomhq/loom/store"
)

// Error codes of the API's error object. Clients branch on the code, not on
// the message, which is for people.
const (
	CodeInvalid          = "invalid"
	CodeNotFound         = "not_found"
	CodeConflict         = "conflict"
	CodeTooLarge         = "too_large"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

// Error codes of requests refused for how or where they were sent.
const (
	// CodeUnsupportedMediaType: a write whose Content-Type is not
	// application/json (415).
	CodeUnsupportedMediaType = "unsupported_media_type"
	// CodeUnauthorized: the request has no token, or one that is unknown
	// or revoked (401).
	CodeUnauthorized = "unauthorized"
	// CodeForbidden: a request refused for where it came from (a page of
	// another origin, a Host that is not the server's) or because the
	// token's role may not do it (403).
	CodeForbidden = "forbidden"
)

// Errors of the HTTP layer itself, matched in errorTable like the engine's.
var (
	// errMalformed: the request is not well-formed (bad JSON, unknown
	// field, trailing data, a query parameter that does not parse).
	errMalformed = errors.New("malformed request")
	// errUnprocessable: the request is well-formed but cannot be done as
	// asked (a missing type, an expiry in the past).
	errUnprocessable = errors.New("invalid request")
	// errTooLarge: the body is over the size limit.
	errTooLarge = errors.New("request body too large")
	// errMethodNotAllowed: the path exists, not for this method.
	errMethodNotAllowed = errors.New("method not allowed")
	// errRouteNotFound: no such path.
	errRouteNotFound = errors.New("no such path")
	// errUnsupportedMediaType: a write without Content-Type
	// application/json.
	errUnsupportedMediaType = errors.New("unsupported media type")
	// errForbidden: refused for where the request came from, or for the
	// caller's role being below the route's.
	errForbidden = errors.New("forbidden")
)

// errorTable is the one mapping from an error to the HTTP status and code
// the API answers it with; the first entry the error matches (errors.Is)
// wins. Anything unmatched is a 500 "internal" whose detail is logged, not
// sent.
var errorTable = []struct {
	target error
	status int
	code   string
}{
	{errMalformed, http.StatusBadRequest, CodeInvalid},
	{errTooLarge, http.StatusRequestEntityTooLarge, CodeTooLarge},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, CodeMethodNotAllowed},
	{errRouteNotFound, http.StatusNotFound, CodeNotFound},
	{errUnsupportedMediaType, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType},
	{errForbidden, http.StatusForbidden, CodeForbidden},
	{auth.ErrUnauthenticated, http.StatusUnauthorized, CodeUnauthorized},
	{engine.ErrNotFound, http.StatusNotFound, CodeNotFound},
	{engine.ErrConflict, http.StatusConflict, CodeConflict},
	{errUnprocessable, http.StatusUnprocessableEntity, CodeInvalid},
	{engine.ErrInvalid, http.StatusUnprocessableEntity, CodeInvalid},
	{engine.ErrUnknownType, http.StatusUnprocessableEntity, CodeInvalid},
	{engine.ErrRefused, http.StatusUnprocessableEntity, CodeInvalid},
	{store.ErrInvalid, http.StatusUnprocessableEntity, CodeInvalid},
	{loom.ErrInvalidFlow, http.StatusUnprocessableEntity, CodeInvalid},
	{engine.ErrClosed, http.StatusServiceUnavailable, CodeUnavailable},
}

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorf wraps kind (one of the errors in errorTable) with a message for
// the client.
func errorf(kind error, format string, args ...any) error {
	return &httpError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// httpError carries a message written for the client and the kind that
// picks its status.
type httpError struct {
	kind error
	msg  string
}

func (e *httpError) Error() string { return e.msg }
func (e *httpError) Unwrap() error { return e.kind }

// classify looks err up in errorTable.
func classify(err error) (status int, code string, ok bool) {
	for _, e := range errorTable {
		if errors.Is(err, e.target) {
			return e.status, e.code, true
		}
	}
	return http.StatusInternalServerError, CodeInternal, false
}

// writeError answers err through errorTable, logging what the client is
// not told.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, ok := classify(err)
	msg := errtext.Clean(err.Error())
	if !ok {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			// The client went away; nobody reads the answer.
			status, code, msg = 499, "cancelled", "request cancelled"
		} else {
			s.logger.LogAttrs(r.Context(), slog.LevelError, "internal error",
				slog.String("request_id", RequestID(r.Context())),
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("error", err.Error()))
			msg = "internal error; request id " + RequestID(r.Context())
		}
	}
	writeJSON(w, status, errorBody{Error: errorObject{Code: code, Message: msg}})
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the status is sent; a failed write has no one to tell
}
