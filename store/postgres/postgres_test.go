package postgres_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/postgres"
	"github.com/loomhq/loom/store/postgres/pgtest"
	"github.com/loomhq/loom/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testURL(t *testing.T) string { return pgtest.URL(t) }

func newSchema(t *testing.T) string { return pgtest.Schema(t) }

func setup(t *testing.T) (*postgres.Store, postgres.Config) { return pgtest.Open(t) }

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := setup(t)
		return s
	})
}

func TestTaskmasterConformance(t *testing.T) {
	t.Parallel()
	storetest.RunTaskmaster(t, func(t *testing.T) store.TaskmasterStore {
		s, _ := setup(t)
		return s
	})
}

func TestTokenConformance(t *testing.T) {
	t.Parallel()
	storetest.RunTokens(t, func(t *testing.T) store.TokenStore {
		s, _ := setup(t)
		return s
	})
}

func TestClusterConformance(t *testing.T) {
	t.Parallel()
	storetest.RunCluster(t, func(t *testing.T) storetest.ClusterStore {
		s, _ := setup(t)
		return s
	})
}
