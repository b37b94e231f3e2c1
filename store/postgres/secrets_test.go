package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/internal/secretbox"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/postgres"
)

const (
	triggerSecret  = "trigger-secret-4f1c9a"
	notifierSecret = "notifier-secret-77b2e0"
)

func openWithKey(t *testing.T, cfg postgres.Config, key []byte) *postgres.Store {
	t.Helper()
	cfg.SecretKey = key
	st, err := postgres.Open(t.Context(), cfg)
	require.NoError(t, err)
	return st
}

func putSecrets(t *testing.T, st *postgres.Store) {
	t.Helper()
	_, err := st.PutTrigger(t.Context(), &store.Trigger{Name: "gh", Kind: store.TriggerEvent, Secret: triggerSecret, Task: store.TaskTemplate{Type: "x"}})
	require.NoError(t, err)
	_, err = st.PutNotifier(t.Context(), &store.Notifier{Name: "ops", URL: "https://example.com/hook", Secret: notifierSecret})
	require.NoError(t, err)
}

func requireSecrets(t *testing.T, st *postgres.Store) {
	t.Helper()
	tr, err := st.GetTrigger(t.Context(), "gh")
	require.NoError(t, err)
	require.Equal(t, triggerSecret, tr.Secret)
	trs, err := st.ListTriggers(t.Context())
	require.NoError(t, err)
	require.Equal(t, triggerSecret, trs[0].Secret)
	n, err := st.GetNotifier(t.Context(), "ops")
	require.NoError(t, err)
	require.Equal(t, notifierSecret, n.Secret)
	ns, err := st.ListNotifiers(t.Context())
	require.NoError(t, err)
	require.Equal(t, notifierSecret, ns[0].Secret)
}

// tablesHold reports whether a stored definition of the schema's triggers
// or notifiers holds s.
func tablesHold(t *testing.T, cfg postgres.Config, s string) bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), cfg.URL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM `+pgx.Identifier{cfg.Schema, "triggers"}.Sanitize()+` WHERE strpos(def, $1) > 0) +
		(SELECT count(*) FROM `+pgx.Identifier{cfg.Schema, "notifiers"}.Sanitize()+` WHERE strpos(def, $1) > 0)`, s).Scan(&n))
	return n > 0
}

// TestSecretsSealed: with a key, the tables hold no secret in plain text,
// and the secrets read back after a restart; without the key, or with
// another, they do not.
func TestSecretsSealed(t *testing.T) {
	t.Parallel()
	_, cfg := setup(t)
	key := bytes.Repeat([]byte{1}, 32)
	st := openWithKey(t, cfg, key)
	putSecrets(t, st)
	requireSecrets(t, st)
	require.False(t, tablesHold(t, cfg, triggerSecret) || tablesHold(t, cfg, notifierSecret), "a secret is stored in plain text")
	require.NoError(t, st.Close())

	st = openWithKey(t, cfg, key)
	requireSecrets(t, st)
	require.NoError(t, st.Close())

	st = openWithKey(t, cfg, nil)
	_, err := st.GetTrigger(t.Context(), "gh")
	require.ErrorIs(t, err, postgres.ErrNoSecretKey)
	require.NoError(t, st.Close())
	st = openWithKey(t, cfg, bytes.Repeat([]byte{2}, 32))
	_, err = st.GetNotifier(t.Context(), "ops")
	require.True(t, errors.Is(err, secretbox.ErrOpen), "%v", err)
	require.NoError(t, st.Close())

	_, err = postgres.Open(t.Context(), postgres.Config{URL: cfg.URL, Schema: cfg.Schema, SecretKey: []byte("short")})
	require.ErrorIs(t, err, store.ErrInvalid)
}

// TestPlainSecretsSealedAtOpen: secrets stored before the store had a
// key are sealed when it opens with one.
func TestPlainSecretsSealedAtOpen(t *testing.T) {
	t.Parallel()
	st, cfg := setup(t)
	putSecrets(t, st)
	require.True(t, tablesHold(t, cfg, triggerSecret), "without a key the secret is stored as it is")

	key := bytes.Repeat([]byte{3}, 32)
	sealed := openWithKey(t, cfg, key)
	requireSecrets(t, sealed)
	require.NoError(t, sealed.Close())
	require.False(t, tablesHold(t, cfg, triggerSecret) || tablesHold(t, cfg, notifierSecret), "a plain secret survived sealing")
	sealed = openWithKey(t, cfg, key)
	requireSecrets(t, sealed)
	require.NoError(t, sealed.Close())
}
