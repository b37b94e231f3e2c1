package server

import (
	"slices"
	"testing"

	"github.com/loomhq/loom/store"
)

// TestOpenAPITokenSchemasMatchTypes keeps the token schemas in step with
// the Go types the token routes encode and decode.
func TestOpenAPITokenSchemasMatchTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	token := jsonFields(store.Token{})
	created := append(slices.Clone(token), "token")
	slices.Sort(created)
	for schema, want := range map[string][]string{
		"Token":        token,
		"CreatedToken": created,
		"TokenRequest": jsonFields(tokenRequest{}),
		"TokenList":    jsonFields(tokenList{}),
	} {
		if got := schemaProperties(t, doc, schema); !slices.Equal(got, want) {
			t.Errorf("schema %s has properties %v, the Go type has fields %v", schema, got, want)
		}
	}
}
