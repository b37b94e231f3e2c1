package server

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"
)

// openAPITaskmaster documents the taskmaster routes: paths and schemas
// that openAPIMerged adds to the main document.
//
//go:embed openapi_taskmaster.json
var openAPITaskmaster []byte

// openAPITokens documents the token routes, merged like
// openAPITaskmaster.
//
//go:embed openapi_tokens.json
var openAPITokens []byte

// openAPIWorkers documents the HTTP worker protocol, merged like
// openAPITaskmaster.
//
//go:embed openapi_workers.json
var openAPIWorkers []byte

// openAPIMerged is the served document: openapi.json with the
// taskmaster's, the tokens' and the worker protocol's paths and schemas
// added.
var openAPIMerged = sync.OnceValue(func() []byte {
	b, err := mergeOpenAPI(openAPIDocument, openAPITaskmaster)
	if err == nil {
		b, err = mergeOpenAPI(b, openAPITokens)
	}
	if err == nil {
		b, err = mergeOpenAPI(b, openAPIWorkers)
	}
	if err != nil {
		panic(fmt.Sprintf("server: embedded OpenAPI documents do not merge: %v", err))
	}
	return b
})

// mergeOpenAPI adds part's paths and component schemas to doc; a path or
// schema in both is an error, so neither document silently shadows the
// other.
func mergeOpenAPI(doc, part []byte) ([]byte, error) {
	var d, p map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	if err := json.Unmarshal(part, &p); err != nil {
		return nil, fmt.Errorf("openapi_taskmaster.json: %w", err)
	}
	if err := mergeMap(d, p, "paths"); err != nil {
		return nil, err
	}
	dc, _ := d["components"].(map[string]any)
	pc, _ := p["components"].(map[string]any)
	if dc == nil || pc == nil {
		return nil, fmt.Errorf("openapi: components missing")
	}
	if err := mergeMap(dc, pc, "schemas"); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return b, nil
}

func mergeMap(dst, src map[string]any, key string) error {
	d, _ := dst[key].(map[string]any)
	s, _ := src[key].(map[string]any)
	if d == nil {
		return fmt.Errorf("openapi: %s missing", key)
	}
	for k, v := range s {
		if _, ok := d[k]; ok {
			return fmt.Errorf("openapi: %s %q documented twice", key, k)
		}
		d[k] = v
	}
	return nil
}
