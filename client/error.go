package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/loomhq/loom"
)

// ErrNoRequest is returned by the methods that send a request value
// (Submit, CreateSchedule, Backfill, PutTrigger, PutNotifier) when it is
// nil, before anything is sent.
var ErrNoRequest = errors.New("client: no request given")

// Error is an error answer of the server. Code is the API's error code
// ("invalid", "not_found", "conflict", "too_large", "method_not_allowed",
// "unavailable", "internal"), which callers branch on.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Code is the API's error code.
	Code string
	// Message says what went wrong, for people.
	Message string
	// RequestID is the server's id of the request, to quote when asking
	// about a failure.
	RequestID string
}

// Error gives the message with the HTTP status and the error code.
func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code)
}

// Is makes errors.Is(err, loom.ErrNotFound) true for a not_found answer, so
// that callers check for a missing task the same way in-process and over
// HTTP.
func (e *Error) Is(target error) bool {
	return target == loom.ErrNotFound && e.Code == "not_found"
}

// IsCode reports whether err is (or wraps) an *Error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// decodeError reads the server's error object; an answer that is not one
// (a proxy's page) becomes an *Error with code "http_<status>" and the
// start of the body as message.
func decodeError(resp *http.Response, data []byte) error {
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-ID")}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &body); err == nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
		return e
	}
	e.Code = fmt.Sprintf("http_%d", resp.StatusCode)
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e.Message = msg
	return e
}
