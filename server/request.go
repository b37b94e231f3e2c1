package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/loomhq/loom/internal/jsondepth"
)

// MaxJSONDepth is how deeply a request body may nest JSON arrays and
// objects; a deeper body is answered 400 before it is decoded.
const MaxJSONDepth = jsondepth.Max

// decodeBody decodes the request's JSON body into v, strictly: a field v
// does not have, a second JSON value after the first, malformed JSON, a
// body over the size limit and one nesting deeper than MaxJSONDepth are
// errors. An empty body is an error unless optional, in which case v is
// left as it is.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
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

// readBody reads the request's body, refusing one over the size limit or
// nesting JSON deeper than MaxJSONDepth. The depth is checked on the raw
// bytes, before anything is decoded.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	defer rd.Close()
	body, err := io.ReadAll(rd)
	if err != nil {
		return nil, bodyError(err)
	}
	if err := jsondepth.Check(body, MaxJSONDepth); err != nil {
		return nil, errorf(errMalformed, "request body: %v", err)
	}
	return body, nil
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
