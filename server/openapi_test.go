package server

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/cluster"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/store"
)

// openAPIDoc is the part of the OpenAPI document the tests check.
type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Servers []struct{ URL string }                `json:"servers"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
	Comps   struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q, want 3.x", doc.OpenAPI)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != APIPrefix {
		t.Errorf("servers %+v, want one at %s", doc.Servers, APIPrefix)
	}
	return doc
}

func newTestServer(t *testing.T) *Server {
	t.Helper()
	e, err := engine.New(engine.Config{Store: struct{ store.Store }{}})
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Engine: e})
}

// TestOpenAPIMatchesRoutes keeps the document in step with the mux: every
// registered (method, path) is documented, and every documented operation
// is registered.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	s := newTestServer(t)
	registered := map[string]bool{}
	for _, rt := range s.routes {
		registered[strings.ToLower(rt.method)+" "+rt.path] = true
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				documented[method+" "+path] = true
			}
		}
	}
	for op := range registered {
		if !documented[op] {
			t.Errorf("route %q is not in openapi.json", op)
		}
	}
	for op := range documented {
		if !registered[op] {
			t.Errorf("openapi.json documents %q, which no route serves", op)
		}
	}
}

// jsonFields returns the JSON names of v's struct fields.
func jsonFields(v any) []string {
	var names []string
	typ := reflect.TypeOf(v)
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func schemaProperties(t *testing.T, doc openAPIDoc, name string) []string {
	t.Helper()
	s, ok := doc.Comps.Schemas[name]
	if !ok {
		t.Fatalf("openapi.json has no schema %q", name)
	}
	return slices.Sorted(maps.Keys(s.Properties))
}

// TestOpenAPISchemasMatchTypes keeps the documented objects in step with
// the Go types the server encodes and decodes.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for schema, v := range map[string]any{
		"Task":          loom.TaskInfo{},
		"TaskRetry":     loom.TaskRetry{},
		"SubmitRequest": submitRequest{},
		"CancelRequest": cancelRequest{},
		"RetryRequest":  retryRequest{},
		"BulkRequest":   bulkRequest{},
		"BulkResult":    engine.BulkResult{},
		"TaskList":      taskList{},
		"LogChunk":      store.LogChunk{},
		"LogList":       logList{},
		"Event":         store.Event{},
		"EventList":     eventList{},
		"QueueList":     queueList{},
		"TypeList":      typeList{},
		"ServerList":    cluster.Status{},
		"Leader":        store.Leader{},
		"Health":        health{},
		"Error":         errorBody{},
	} {
		got, want := schemaProperties(t, doc, schema), jsonFields(v)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has properties %v, the Go type has fields %v", schema, got, want)
		}
	}
	queue := append(jsonFields(store.QueueConfig{}), "pending", "running", "completed", "failed", "cancelled")
	slices.Sort(queue)
	if got := schemaProperties(t, doc, "Queue"); !slices.Equal(got, queue) {
		t.Errorf("schema Queue has properties %v, want %v", got, queue)
	}
	server := append(jsonFields(store.ServerInfo{}), "leader", "leader_since")
	slices.Sort(server)
	if got := schemaProperties(t, doc, "Server"); !slices.Equal(got, server) {
		t.Errorf("schema Server has properties %v, want %v", got, server)
	}
}

// TestErrorCodesDocumented checks that every code the error table can
// answer is listed in the Error schema.
func TestErrorCodesDocumented(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Error struct {
							Properties struct {
								Code struct {
									Enum []string `json:"enum"`
								} `json:"code"`
							} `json:"properties"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"Error"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	enum := doc.Components.Schemas.Error.Properties.Error.Properties.Code.Enum
	codes := []string{CodeInternal}
	for _, e := range errorTable {
		codes = append(codes, e.code)
	}
	for _, c := range codes {
		if !slices.Contains(enum, c) {
			t.Errorf("error code %q is not in the Error schema's enum %v", c, enum)
		}
	}
}
