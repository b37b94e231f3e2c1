package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/store"
)

// RunTokens runs the conformance suite of store.TokenStore against the
// store newStore returns, under the same rules as Run.
//
// Beyond the interface's documentation it expects errors matching
// store.ErrNotFound, store.ErrDuplicate and store.ErrInvalid, and times
// read back equal (time.Time.Equal) to those written.
func RunTokens(t *testing.T, newStore func(t *testing.T) store.TokenStore) {
	t.Helper()
	for _, tc := range tokenTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t))
		})
	}
}

var tokenTests = []struct {
	name string
	run  func(t *testing.T, s store.TokenStore)
}{
	{"CreateAndLookUp", func(t *testing.T, s store.TokenStore) {
		tok, err := s.CreateToken(ctx(t), &store.CreateTokenParams{Name: "ci", Role: "operator", Hash: "h1", Now: base})
		require.NoError(t, err)
		require.Equal(t, "ci", tok.Name)
		requireTime(t, base, tok.Created, "created")

		got, err := s.GetTokenByHash(ctx(t), &store.GetTokenByHashParams{Hash: "h1"})
		require.NoError(t, err)
		require.Equal(t, "ci", got.Name)
		require.Equal(t, "operator", got.Role)
		require.Equal(t, "h1", got.Hash)
		requireTime(t, base, got.Created, "created")
		require.Nil(t, got.LastUsed)
		require.Nil(t, got.Revoked)

		_, err = s.GetTokenByHash(ctx(t), &store.GetTokenByHashParams{Hash: "nope"})
		require.ErrorIs(t, err, store.ErrNotFound)
	}},
	{"CreateRefusesDuplicatesAndEmpty", func(t *testing.T, s store.TokenStore) {
		_, err := s.CreateToken(ctx(t), &store.CreateTokenParams{Name: "a", Role: "admin", Hash: "h1"})
		require.NoError(t, err)
		_, err = s.CreateToken(ctx(t), &store.CreateTokenParams{Name: "a", Role: "viewer", Hash: "h2"})
		require.ErrorIs(t, err, store.ErrDuplicate, "same name")
		_, err = s.CreateToken(ctx(t), &store.CreateTokenParams{Name: "b", Role: "viewer", Hash: "h1"})
		require.Error(t, err, "same hash")
		// A revoked token's name stays taken.
		_, err = s.RevokeToken(ctx(t), &store.RevokeTokenParams{Name: "a"})
		require.NoError(t, err)
		_, err = s.CreateToken(ctx(t), &store.CreateTokenParams{Name: "a", Role: "viewer", Hash: "h3"})
		require.ErrorIs(t, err, store.ErrDuplicate, "revoked name")

		for _, p := range []store.CreateTokenParams{
			{Role: "admin", Hash: "x"}, {Name: "x", Hash: "x"}, {Name: "x", Role: "admin"},
		} {
			_, err := s.CreateToken(ctx(t), &p)
			require.ErrorIs(t, err, store.ErrInvalid, "%+v", p)
		}
	}},
	{"ListAndRevoke", func(t *testing.T, s store.TokenStore) {
		for _, n := range []string{"b", "a", "c"} {
			_, err := s.CreateToken(ctx(t), &store.CreateTokenParams{Name: n, Role: "viewer", Hash: "h" + n, Now: base})
			require.NoError(t, err)
		}
		rev, err := s.RevokeToken(ctx(t), &store.RevokeTokenParams{Name: "b", Now: at(time.Hour)})
		require.NoError(t, err)
		require.NotNil(t, rev.Revoked)
		requireTime(t, at(time.Hour), *rev.Revoked, "revoked")
		// A second revocation keeps the first time.
		rev, err = s.RevokeToken(ctx(t), &store.RevokeTokenParams{Name: "b", Now: at(2 * time.Hour)})
		require.NoError(t, err)
		requireTime(t, at(time.Hour), *rev.Revoked, "revoked again")
		_, err = s.RevokeToken(ctx(t), &store.RevokeTokenParams{Name: "nope"})
		require.ErrorIs(t, err, store.ErrNotFound)

		all, err := s.ListTokens(ctx(t), &store.ListTokensParams{})
		require.NoError(t, err)
		require.Equal(t, []string{"a", "b", "c"}, tokenNames(all))
		require.NotNil(t, all[1].Revoked)
		active, err := s.ListTokens(ctx(t), &store.ListTokensParams{Active: true})
		require.NoError(t, err)
		require.Equal(t, []string{"a", "c"}, tokenNames(active))

		got, err := s.GetTokenByHash(ctx(t), &store.GetTokenByHashParams{Hash: "hb"})
		require.NoError(t, err, "a revoked token is still found")
		require.NotNil(t, got.Revoked)
	}},
	{"Touch", func(t *testing.T, s store.TokenStore) {
		_, err := s.CreateToken(ctx(t), &store.CreateTokenParams{Name: "w", Role: "worker", Hash: "hw", Now: base})
		require.NoError(t, err)
		require.NoError(t, s.TouchToken(ctx(t), &store.TouchTokenParams{Name: "w", Now: at(time.Minute)}))
		require.NoError(t, s.TouchToken(ctx(t), &store.TouchTokenParams{Name: "w", Now: at(time.Second)}))
		got, err := s.GetTokenByHash(ctx(t), &store.GetTokenByHashParams{Hash: "hw"})
		require.NoError(t, err)
		require.NotNil(t, got.LastUsed)
		requireTime(t, at(time.Minute), *got.LastUsed, "last used never moves back")
		require.ErrorIs(t, s.TouchToken(ctx(t), &store.TouchTokenParams{Name: "nope", Now: base}), store.ErrNotFound)
	}},
}

func tokenNames(ts []*store.Token) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}
