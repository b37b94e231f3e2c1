package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// decodeBody decodes the request's JSON body into v, strictly: a field v
// does not have, a second JSON value after the first, malformed JSON and a
// body over the size limit are errors. An empty body is an error unless
// optional, in which case v is left as it is.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	defer body.Close()
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			if optional {
				return nil
			}
			return errorf(errMalformed, "request body: a JSON object is required")
		}
		return bodyError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return bodyError(err)
		}
		return errorf(errMalformed, "request body: unexpected data after the JSON object")
	}
	return nil
}

// bodyError says what is wrong with a body that did not decode.
func bodyError(err error) error {
	var (
		tooLarge  *http.MaxBytesError
		syntax    *json.SyntaxError
		typeError *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return errorf(errTooLarge, "request body is larger than %d bytes", tooLarge.Limit)
	case errors.As(err, &syntax):
		return errorf(errMalformed, "request body: malformed JSON at offset %d: %v", syntax.Offset, err)
	case errors.As(err, &typeError):
		if typeError.Field != "" {
			return errorf(errMalformed, "request body: field %q: %s is not a valid %s", typeError.Field, typeError.Value, typeError.Type)
		}
		return errorf(errMalformed, "request body: a JSON object is required, not %s", typeError.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(errMalformed, "request body: JSON ends early")
	default:
		// Unknown fields ("json: unknown field \"x\"") and the rest.
		return errorf(errMalformed, "request body: %v", err)
	}
}

// queryInt parses the query parameter name as an integer >= 0; absent is
// def.
func queryInt(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(errMalformed, "query parameter %q: %q is not a whole number >= 0", name, v)
	}
	return n, nil
}
