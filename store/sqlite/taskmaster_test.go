package sqlite_test

import (
	"testing"

	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/storetest"
)

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
